"""Refuse constraints that are well-formed but meaningless for this SCM and classifier (issue 14.5).

RecourseProblem checks that names exist and values are numbers; this module checks what they mean:
bounds, directions and grids on features nobody can act on, bounds that miss the feature's domain
(or are infinite), bounds or directions on a categorical feature, grid values outside the domain or
fractional on an integral feature, and a probability threshold for a classifier
that has no probabilities. The CLI, serve and batch call it before any work; RecourseProblem runs it too, without
the 'only on actionable features' part.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from milp_recourse.errors import InputError
from milp_recourse.problem.options import Actionability, check_whole_grid


def _fmt(v: float) -> str:
    return f"{v:g}"


def _domain(scm: Any, name: str) -> tuple[float, float]:
    var = scm.variables[scm.index(name)]
    return float(var.lower), float(var.upper)


def actionable_features(scm: Any, act: Actionability) -> tuple[str, ...]:
    """The features this person may act on: the given list, else the spec's non-immutable ones."""
    spec = tuple(v.name for v in scm.variables if v.actionability != "immutable")
    return tuple(act.actionable) if act.actionable is not None else spec


def _not_actionable(scm: Any, act: Actionability, names: Sequence[str], what: str) -> None:
    allowed = set(actionable_features(scm, act))
    immutable = {v.name for v in scm.variables if v.actionability == "immutable"}
    bad = [n for n in names if n in set(scm.names) and n not in allowed]
    if not bad:
        return
    why = ", ".join(f"{n!r} ({'immutable in the SCM spec' if n in immutable else 'not among the actionable features'})"
                    for n in bad)
    raise InputError(f"{what} on {why} would constrain nothing: nobody intervenes on it. Give {what.lower()} only "
                     f"for actionable features ({', '.join(sorted(allowed)) or 'none'}).")


def check_bounds(scm: Any, act: Actionability, actionable_only: bool = True) -> None:
    """Finite ends, low <= high, and an interval that meets the feature's domain (and, with
    `actionable_only`, bounds only on features this person may act on)."""
    unordered = [n for n in act.bounds if n in set(scm.names) and scm.variable(n).kind == "categorical"]
    if unordered:
        raise InputError(f"Bounds on the categorical feature(s) {', '.join(map(repr, unordered))}: their levels "
                         "have no order, so a range of codes means nothing. Expected bounds only on numeric or "
                         "ordinal features (to restrict the levels, use --grid NAME=LEVEL|LEVEL).")
    for name, (lo, hi) in act.bounds.items():
        if name not in set(scm.names):
            continue  # RecourseProblem names unknown features
        for end, v in (("low", lo), ("high", hi)):
            if v is not None and not math.isfinite(float(v)):
                raise InputError(f"Bounds {name}: the {end} end is {v!r}; expected a finite number (leave it empty "
                                 "for no bound).")
        d_lo, d_hi = _domain(scm, name)
        shown = f"{name}={'' if lo is None else _fmt(lo)}:{'' if hi is None else _fmt(hi)}"
        if lo is not None and hi is not None and lo > hi:
            raise InputError(f"Bounds {shown}: low > high; expected LOW <= HIGH.")
        if (lo is not None and lo > d_hi) or (hi is not None and hi < d_lo):
            raise InputError(f"Bounds {shown} lie outside {name}'s domain [{_fmt(d_lo)}, {_fmt(d_hi)}]; no new value "
                             "can satisfy them. Expected bounds that meet the domain.")
    if actionable_only:
        _not_actionable(scm, act, list(act.bounds), "Bounds")


def check_grids(scm: Any, act: Actionability, actionable_only: bool = True) -> None:
    """Every grid value inside the feature's domain (with `actionable_only`: grids only on actionable features)."""
    for name, values in act.grids.items():
        if name not in set(scm.names):
            continue
        d_lo, d_hi = _domain(scm, name)
        out = [v for v in values if not (math.isfinite(float(v)) and d_lo <= float(v) <= d_hi)]
        if out:
            raise InputError(f"Grid {name}: value(s) {', '.join(_fmt(float(v)) for v in out[:5])} lie outside "
                             f"{name}'s domain [{_fmt(d_lo)}, {_fmt(d_hi)}]; expected values inside it.")
        check_whole_grid(name, scm.variable(name), values)
    if actionable_only:
        _not_actionable(scm, act, list(act.grids), "Grids")


def check_directions(scm: Any, act: Actionability, actionable_only: bool = True) -> None:
    """Directions never on a categorical feature (its levels have no order), and with `actionable_only` only on
    actionable features."""
    unordered = [n for n in act.directions if n in set(scm.names) and scm.variable(n).kind == "categorical"]
    if unordered:
        raise InputError(f"Direction on the categorical feature(s) {', '.join(map(repr, unordered))}: their levels "
                         "have no order. Expected directions only on numeric or ordinal features (to restrict the "
                         "levels, use --grid NAME=LEVEL|LEVEL).")
    if actionable_only:
        _not_actionable(scm, act, list(act.directions), "Directions")


def has_probabilities(model: Any) -> bool:
    """Whether the classifier gives probabilities (so a threshold other than 0.5 means something)."""
    from sklearn.pipeline import Pipeline

    from milp_recourse.models.registry import library_hooks

    final = model.steps[-1][1] if isinstance(model, Pipeline) else model
    hooks = library_hooks(final)   # xgboost / lightgbm Boosters: probabilities through their own predict
    return hasattr(final, "predict_proba") or (hooks is not None and hooks.positive_proba is not None)


def check_threshold(model: Any, threshold: float) -> None:
    """A threshold other than 0.5 needs predict_proba; a decision-function model (LinearSVC) ignores it."""
    if threshold != 0.5 and not has_probabilities(model):
        from sklearn.pipeline import Pipeline

        final = model.steps[-1][1] if isinstance(model, Pipeline) else model
        raise InputError(f"Threshold {threshold:g} cannot apply: {type(final).__name__} gives no probabilities (no "
                         "predict_proba); it approves iff its decision function is >= 0. Expected the default "
                         "threshold 0.5 for this classifier.")


def check_constraints(scm: Any, act: Actionability, classifier: Any = None, threshold: float = 0.5,
                      actionable_only: bool = True) -> None:
    """All of the above: InputError naming the first meaningless constraint.

    `actionable_only=False` skips the 'only on actionable features' checks: a batch profile that drops a
    feature from its actionable set may still inherit everyone's base bound on it, which then just lapses.
    """
    check_bounds(scm, act, actionable_only)
    check_directions(scm, act, actionable_only)
    check_grids(scm, act, actionable_only)
    if classifier is not None:
        check_threshold(classifier, threshold)


__all__ = ["check_constraints", "check_bounds", "check_grids", "check_directions", "check_threshold",
           "has_probabilities", "actionable_features"]
