"""Classifier encoders looked up by type: one entry per family, each writing the score as IR rows.

An encoder is ``fn(model, b, inputs, target_index, *, split_margin, group) -> Affine`` returning the
score of the target class (``target_index`` into ``model.classes_``) in the space named by its kind.
An encoder registered with ``bounded_below=True`` also takes ``bounded_below: bool``: when True the caller
promises to use the score only in ``score >= t`` rows (or to maximise it), so parts that can only lower it
may be written as their convex relaxation (no binaries) without changing which inputs reach a threshold.
An encoder registered with ``priced=True`` also takes ``prices: InputPrices | None`` (encode/input_prices.py):
it may leave out input regions that no action within the prices' budget reaches (tree leaves).
Families live in their own modules (linear, pipeline, mlp, ensembles); this module only routes.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from milp_recourse.encode.input_prices import InputPrices
from milp_recourse.errors import ClassifierError, InputError
from milp_recourse.mip.ir import Affine, IRBuilder
from milp_recourse.models.registry import (family_kind, import_registrations, library_family_names,
                                           load_all_families, load_library_family, register_model, type_name)
from milp_recourse.models.registry import score_kind as score_kind

EncoderFn = Callable[..., Affine]
KindSpec = str | Callable[[Any], str]


@dataclass(frozen=True)
class ScoreEncoding:
    """The encoded score of the target class and its space ('logit' | 'probability' | 'decision')."""

    score: Affine
    kind: str


@dataclass(frozen=True)
class _Entry:
    fn: EncoderFn
    kind: KindSpec
    bounded_below: bool = False   # fn takes the bounded_below keyword (see the module docstring)
    priced: bool = False          # fn takes the prices keyword


_ENCODERS: dict[type, _Entry] = {}
# encoders registered once their library is imported (by anyone): top-level module -> module registering them
_ON_IMPORT: dict[str, str] = {"sklearn": "milp_recourse.encode.sklearn_encoders"}


def register_encoder(cls: type, fn: EncoderFn, kind: KindSpec, *, bounded_below: bool = False,
                     priced: bool = False) -> None:
    """Register fn for cls (and its subclasses); kind is a score kind or a function of the model;
    bounded_below / priced: fn accepts the bounded_below / prices keyword."""
    if not isinstance(cls, type):
        raise InputError(f"register_encoder expects a class. Got {cls!r}.")
    if isinstance(kind, str) and kind not in ("logit", "probability", "decision"):
        raise InputError(f"Unknown score kind {kind!r}; expected 'logit', 'probability' or 'decision'.")
    _ENCODERS[cls] = _Entry(fn, kind, bool(bounded_below), bool(priced))
    register_model(cls, kind)   # the models layer's registry knows the family too (validation, reference scores)


def find_encoder(cls: type) -> EncoderFn | None:
    """The encoder registered for cls or its nearest base class (None when unsupported)."""
    entry = _entry(cls)
    return None if entry is None else entry.fn


def _entry(cls: type) -> _Entry | None:
    _sync_library_families(cls)
    for base in cls.__mro__:
        if base in _ENCODERS:
            return _ENCODERS[base]
    return None


def _sync_library_families(cls: type) -> None:
    """Optional libraries (xgboost, lightgbm) register their families in the models layer on first sight of one
    of their models; every family with a tree adapter is encoded by encode_trees."""
    from milp_recourse.encode.tree_ensembles import encode_trees
    from milp_recourse.models.trees import tree_adapter_types

    load_library_family(cls)
    import_registrations(_ON_IMPORT)
    for t in tree_adapter_types():
        kind = family_kind(t)
        if t not in _ENCODERS and kind is not None:
            register_encoder(t, encode_trees, kind, priced=True)


def encoder_types() -> tuple[type, ...]:
    """The classes with a registered encoder (a test keeps them equal to models.registry.registered_types)."""
    load_all_families()
    _sync_library_families(object)   # families the models layer has loaded since the last lookup
    return tuple(_ENCODERS)


def supported_types() -> list[str]:
    """Names of the encodable classifier types and of the optional libraries' families, sorted."""
    load_all_families()
    _sync_library_families(object)
    return sorted({type_name(c) for c in _ENCODERS} | set(library_family_names()))


def _require(model: object) -> _Entry:
    entry = _entry(type(model))
    if entry is None:
        raise ClassifierError(f"{type(model).__name__} is not supported. Supported classifiers: "
                              f"{', '.join(supported_types())}.")
    return entry


def encode_score(model: object, b: IRBuilder, inputs: Sequence[Affine], target_index: int, *,
                 split_margin: float, group: str, bounded_below: bool = False,
                 prices: InputPrices | None = None) -> Affine:
    """Dispatch to the family encoder without re-validating (used by composite encoders)."""
    entry = _require(model)
    extra: dict[str, Any] = {"bounded_below": True} if bounded_below and entry.bounded_below else {}
    if prices is not None and entry.priced:
        extra["prices"] = prices
    return entry.fn(model, b, tuple(inputs), target_index, split_margin=split_margin, group=group, **extra)


def encode_classifier(model: object, b: IRBuilder, inputs: Sequence[Affine | float], target_class: object = None,
                      *, split_margin: float = 0.0, group: str = "clf", validated: bool = False,
                      bounded_below: bool = False, prices: InputPrices | None = None) -> ScoreEncoding:
    """Write the target-class score of a validated classifier into b; inputs follow classifier_features order.

    Constant inputs (Affine constants or numbers) are exploited: tree splits on them are decided and
    stable ReLUs get no binary. ``split_margin`` (relative) keeps tree-split regions apart so solver
    round-off cannot land on the wrong side (see ensembles.py). ``validated``: the caller already ran
    validate_classifier on this model (a RecourseProblem does on construction), so it is not repeated.
    ``bounded_below``: the score will only appear in ``score >= t`` rows or be maximised (see the module
    docstring); the encoding is then exact for that use only, not for reading the score's value.
    ``prices``: the least cost of moving each input and a budget; a priced encoder may leave out input regions
    no action within the budget reaches, so the encoding is exact for those actions only.
    """
    from milp_recourse.models.classifiers import n_features, target_index, validate_classifier

    if not validated:
        validate_classifier(model)
    exprs: list[Affine] = []
    for k, e in enumerate(inputs):
        if isinstance(e, Affine):
            exprs.append(e)
        elif isinstance(e, numbers.Real) and not isinstance(e, bool) and math.isfinite(float(e)):
            exprs.append(Affine.constant(float(e)))
        else:
            raise InputError(f"Classifier input {k} is {e!r}; expected an Affine expression or a finite number.")
    n = n_features(model)
    if len(exprs) != n:
        raise ClassifierError(f"{type(model).__name__} expects {n} input features; got {len(exprs)} input "
                              "expressions.")
    if not (isinstance(split_margin, numbers.Real) and math.isfinite(split_margin) and split_margin >= 0):
        raise InputError(f"The 'split_margin' must be a finite float >= 0. Got {split_margin!r}.")
    idx = target_index(model, target_class)
    score = encode_score(model, b, exprs, idx, split_margin=float(split_margin), group=group,
                         bounded_below=bool(bounded_below), prices=prices)
    return ScoreEncoding(score, score_kind(model))


__all__ = ["ScoreEncoding", "register_encoder", "find_encoder", "supported_types", "encoder_types", "score_kind", "encode_score",
           "encode_classifier"]
