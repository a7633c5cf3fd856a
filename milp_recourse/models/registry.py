"""The classifier families we can encode exactly, looked up by type: each family's score space ('kind').

This is the models layer's registry: validation and reference scores read it, and the encoders of
`milp_recourse.encode.classifier_registry` register against the same types (a test keeps the two equal).
Score spaces: 'logit' (log-odds of the target class), 'probability', 'decision' (favourable side >= 0).
"""

from __future__ import annotations

from typing import Any, Callable

from milp_recourse.errors import ClassifierError, InputError

SCORE_KINDS = ("logit", "probability", "decision")
KindSpec = str | Callable[[Any], str]

_KINDS: dict[type, KindSpec] = {}


def register_model(cls: type, kind: KindSpec) -> None:
    """Declare cls (and its subclasses) supported, scoring in `kind` (a score kind or a function of the model)."""
    if not isinstance(cls, type):
        raise InputError(f"register_model expects a class. Got {cls!r}.")
    if isinstance(kind, str) and kind not in SCORE_KINDS:
        raise InputError(f"Unknown score kind {kind!r}; expected one of {', '.join(map(repr, SCORE_KINDS))}.")
    _KINDS[cls] = kind


def _kind_entry(cls: type) -> KindSpec | None:
    for base in cls.__mro__:
        if base in _KINDS:
            return _KINDS[base]
    return None


def is_supported(cls: type) -> bool:
    """Whether cls or one of its bases is a registered family."""
    return _kind_entry(cls) is not None


def supported_types() -> list[str]:
    """Names of the registered classifier types, sorted."""
    return sorted(c.__name__ for c in _KINDS)


def registered_types() -> tuple[type, ...]:
    """The registered classifier types themselves."""
    return tuple(_KINDS)


def score_kind(model: object) -> str:
    """The score space of model's encoding and of its reference score."""
    kind = _kind_entry(type(model))
    if kind is None:
        raise ClassifierError(f"{type(model).__name__} is not supported. Supported classifiers: "
                              f"{', '.join(supported_types())}.")
    return kind if isinstance(kind, str) else kind(model)


def _pipeline_kind(model: Any) -> str:
    """A pipeline scores in its final estimator's space."""
    return score_kind(model.steps[-1][1])


def _register_builtin() -> None:
    from sklearn.ensemble import ExtraTreesClassifier, GradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.svm import LinearSVC
    from sklearn.tree import DecisionTreeClassifier

    from milp_recourse.models.relu_network import ReLUNetwork

    for cls, kind in ((LogisticRegression, "logit"), (LinearSVC, "decision"), (MLPClassifier, "logit"),
                      (ReLUNetwork, "logit"), (DecisionTreeClassifier, "probability"),
                      (RandomForestClassifier, "probability"), (ExtraTreesClassifier, "probability"),
                      (GradientBoostingClassifier, "logit"), (Pipeline, _pipeline_kind)):
        register_model(cls, kind)


_register_builtin()

__all__ = ["SCORE_KINDS", "register_model", "is_supported", "supported_types", "registered_types", "score_kind"]
