"""The classifier families we can encode exactly, looked up by type: each family's score space ('kind').

This is the models layer's registry: validation and reference scores read it, and the encoders of
`milp_recourse.encode.classifier_registry` register against the same types (a test keeps the two equal).
Score spaces: 'logit' (log-odds of the target class), 'probability', 'decision' (favourable side >= 0).
Families from optional libraries (xgboost, lightgbm) register on first sight of one of their models
(:func:`load_library_family`), so ``import milp_recourse`` never imports them; the scikit-learn families register
at the first lookup after scikit-learn is imported (by anyone), so a process solving for a ReLUNetwork
never imports scikit-learn. Families whose models are not scikit-learn estimators give :class:`LibraryHooks` for
validation, features and their own scores.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from milp_recourse.errors import ClassifierError, InputError

SCORE_KINDS = ("logit", "probability", "decision")
KindSpec = str | Callable[[Any], str]

_KINDS: dict[type, KindSpec] = {}
_HOOKS: dict[type, "LibraryHooks"] = {}
# top-level module of a model's class -> (module registering its families, class names shown in messages)
_LIBRARY_FAMILIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "xgboost": ("milp_recourse.models.xgboost_trees", ("xgboost.XGBClassifier", "xgboost.Booster")),
    "lightgbm": ("milp_recourse.models.lightgbm_trees", ("lightgbm.LGBMClassifier", "lightgbm.Booster")),
}
# libraries whose families register once the library is imported: top-level module -> module registering them
_ON_IMPORT: dict[str, str] = {"sklearn": "milp_recourse.models.sklearn_families"}
_LOADED: set[str] = set()


@dataclass(frozen=True)
class LibraryHooks:
    """How to check and query a family the scikit-learn defaults do not cover (None = the sklearn default).

    X given to the score hooks is a float array whose columns follow the model's own feature order.
    validate runs after the common scikit-learn checks (fitted, two classes) when sklearn_api is True.
    positive_logit: the library's own raw margin (log-odds of the second class); positive_proba: its P(class 1).
    """

    validate: Callable[[Any], None]
    sklearn_api: bool = True   # False: not a scikit-learn estimator; validate then checks everything itself
    n_features: Callable[[Any], int] | None = None
    feature_names: Callable[[Any], tuple[str, ...] | None] | None = None
    positive_logit: Callable[[Any, Any], Any] | None = None
    positive_proba: Callable[[Any, Any], Any] | None = None


def register_hooks(cls: type, hooks: LibraryHooks) -> None:
    """Attach library hooks to a registered family (see LibraryHooks)."""
    _HOOKS[cls] = hooks


def library_hooks(model: object) -> LibraryHooks | None:
    """The hooks of model's family, or None for families with scikit-learn behaviour throughout."""
    load_library_family(type(model))
    return next((_HOOKS[b] for b in type(model).__mro__ if b in _HOOKS), None)


def load_library_family(cls: type | None) -> None:
    """Register the families of cls's library (xgboost, lightgbm) the first time one of its models is seen, and
    the scikit-learn families once scikit-learn is imported (an instance of a subclass of one imported it)."""
    root = str(getattr(cls, "__module__", "")).split(".")[0]
    if root in _LIBRARY_FAMILIES and root not in _LOADED:
        _LOADED.add(root)
        importlib.import_module(_LIBRARY_FAMILIES[root][0])
    import_registrations(_ON_IMPORT)


def import_registrations(on_import: Mapping[str, str]) -> None:
    """Import each registering module whose library (top-level module name -> module) is imported by now: a module
    registers on its first import, and import_module waits for one under way in another thread. The encoders'
    registry (encode/classifier_registry.py) keeps its own table and asks the same."""
    for lib, module in on_import.items():
        if sys.modules.get(lib) is not None:   # None there means blocked
            importlib.import_module(module)


def load_all_families() -> None:
    """Register every built-in family now, importing scikit-learn (for listings such as supported_types)."""
    for lib in _ON_IMPORT:
        importlib.import_module(lib)
    load_library_family(None)


def register_model(cls: type, kind: KindSpec) -> None:
    """Declare cls (and its subclasses) supported, scoring in `kind` (a score kind or a function of the model)."""
    if not isinstance(cls, type):
        raise InputError(f"register_model expects a class. Got {cls!r}.")
    if isinstance(kind, str) and kind not in SCORE_KINDS:
        raise InputError(f"Unknown score kind {kind!r}; expected one of {', '.join(map(repr, SCORE_KINDS))}.")
    _KINDS[cls] = kind


def _kind_entry(cls: type) -> KindSpec | None:
    load_library_family(cls)
    for base in cls.__mro__:
        if base in _KINDS:
            return _KINDS[base]
    return None


def is_supported(cls: type) -> bool:
    """Whether cls or one of its bases is a registered family."""
    return _kind_entry(cls) is not None


def type_name(cls: type) -> str:
    """A class's name in messages: library families outside scikit-learn carry their library ('xgboost.Booster')."""
    root = str(getattr(cls, "__module__", "")).split(".")[0]
    return f"{root}.{cls.__name__}" if root in _LIBRARY_FAMILIES else cls.__name__


def library_family_names() -> tuple[str, ...]:
    """Names of the optional libraries' families, registered or not yet ('xgboost.Booster', ...)."""
    return tuple(n for _, shown in _LIBRARY_FAMILIES.values() for n in shown)


def supported_types() -> list[str]:
    """Names of the registered classifier types and of the optional libraries' families, sorted."""
    load_all_families()
    return sorted({type_name(c) for c in _KINDS} | set(library_family_names()))


def family_kind(cls: type) -> KindSpec | None:
    """The registered score kind (or kind function) of cls or its nearest registered base; None if unsupported."""
    return _kind_entry(cls)


def registered_types() -> tuple[type, ...]:
    """The registered classifier types themselves."""
    load_all_families()
    return tuple(_KINDS)


def score_kind(model: object) -> str:
    """The score space of model's encoding and of its reference score."""
    kind = _kind_entry(type(model))
    if kind is None:
        raise ClassifierError(f"{type(model).__name__} is not supported. Supported classifiers: "
                              f"{', '.join(supported_types())}.")
    return kind if isinstance(kind, str) else kind(model)


def pipeline_kind(model: Any) -> str:
    """A pipeline scores in its final estimator's space."""
    return score_kind(model.steps[-1][1])


__all__ = ["SCORE_KINDS", "register_model", "is_supported", "supported_types", "registered_types", "score_kind",
           "LibraryHooks", "register_hooks", "library_hooks", "load_library_family", "type_name",
           "library_family_names", "family_kind", "pipeline_kind", "load_all_families", "import_registrations"]
