"""Interval arithmetic, no solver: the range of every counterfactual value and of the classifier's score.

Used by the bound certificate (certify.py): if the score's upper end over every allowed action stays
below the favourable threshold, no recourse exists, and anyone can re-check that with numpy alone.
The intervals are computed from the model's own parameters (SCM equations, sklearn coefficients,
tree arrays), independently of the MILP encoders.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
from milp_recourse.models.adapter import AffineMap, Preprocessing, linear_row, network_layers, split_model
from milp_recourse.models.classifiers import target_index
from milp_recourse.errors import ClassifierError
from milp_recourse.models.registry import score_kind
from milp_recourse.models.trees import is_tree_model
from milp_recourse.problem.logic import Linkage
from milp_recourse.problem.logic import order as logic_order
from milp_recourse.problem.recourse_problem import RecourseProblem
from milp_recourse.scm import expr as ex

Box = list[tuple[float, float]]


def allowed_range(rule) -> tuple[float, float]:
    """Hull of the values a feature may be set to under its rule (grid hull when a grid is given)."""
    if rule.grid is not None:
        return float(min(rule.grid)), float(max(rule.grid))
    return float(rule.lower), float(rule.upper)


def counterfactual_box(problem: RecourseProblem) -> dict[str, tuple[float, float]]:
    """Interval of each variable's counterfactual value over every action the person's constraints allow."""
    scm = problem.scm
    m = problem.actionability.max_changes
    usable = {} if m == 0 else {r.name: r for r in problem.rules if not r.blocked}
    U = problem.noise
    env: dict[str, tuple[float, float]] = {scm.variable(n).noise_name: (float(u), float(u))
                                          for n, u in zip(scm.names, U)}
    links = {c.target: c for c in getattr(problem, "logic", ()) if isinstance(c, Linkage)}  # problem/logic.py
    movers = list(usable) + list(links)
    changing = set(movers) | set(scm.descendants(movers)) if movers else set()
    box: dict[str, tuple[float, float]] = {}
    fx = problem.factual
    for name in logic_order(scm, getattr(problem, "logic", ())):
        xv = fx[name]
        if name not in changing:
            iv = (xv, xv)
        elif name in links:   # x_T + r (x'_S - x_S) over the source's interval
            c = links[name]
            ends = [xv + c.ratio * (v - fx[c.source]) for v in box[c.source]]
            iv = (min(ends), max(ends))
        else:
            iv = ex.interval(scm.equations[name], env)
            if name in usable:
                lo, hi = allowed_range(usable[name])
                iv = (min(iv[0], lo, xv), max(iv[1], hi, xv))
        box[name] = (float(iv[0]), float(iv[1]))
        env[name] = box[name]
    return box


def _affine_interval(w: np.ndarray, c: float, box: Box) -> tuple[float, float]:
    lo = np.array([b[0] for b in box])
    hi = np.array([b[1] for b in box])
    with np.errstate(invalid="ignore"):
        low = c + np.sum(np.where(w > 0, w * lo, w * hi), where=w != 0)
        high = c + np.sum(np.where(w > 0, w * hi, w * lo), where=w != 0)
    return float(low), float(high)


def _layers_interval(layers: Sequence[tuple[np.ndarray, np.ndarray]], box: Box, activation: str) -> tuple[float, float]:
    """Interval propagation through dense layers (W of shape (out, in)); monotone activations only."""
    lo = np.array([b[0] for b in box], float)
    hi = np.array([b[1] for b in box], float)
    act = {"relu": lambda v: np.maximum(v, 0.0), "identity": lambda v: v, "tanh": np.tanh,
           "logistic": lambda v: 1.0 / (1.0 + np.exp(-v))}[activation]
    for k, (W, c) in enumerate(layers):
        Wp, Wn = np.maximum(W, 0.0), np.minimum(W, 0.0)
        nlo = Wp @ lo + Wn @ hi + c
        nhi = Wp @ hi + Wn @ lo + c
        if k < len(layers) - 1:
            nlo, nhi = act(nlo), act(nhi)
        lo, hi = nlo, nhi
    return float(lo[0]), float(hi[0])


def _tree_interval(model: Any, idx: int, box: Box) -> tuple[float, float] | None:
    from milp_recourse.models.trees import to_tree_ensemble

    try:
        ens = to_tree_ensemble(model, idx)
    except ClassifierError:  # not a tree model
        return None
    lo_total = hi_total = float(ens.base)
    for tree in ens.trees:
        vals, stack = [], [0]
        while stack:
            node = stack.pop()
            if tree.is_leaf(node):
                vals.append(float(tree.value[node]))
                continue
            f, L = int(tree.feature[node]), ens.left_max(float(tree.threshold[node]))
            if box[f][0] <= L:          # some value goes left (x <= L: the ensemble's own split rule)
                stack.append(int(tree.left[node]))
            if box[f][1] > L:           # some value goes right
                stack.append(int(tree.right[node]))
        lo_total += min(vals)
        hi_total += max(vals)
    return lo_total, hi_total


def _map_box(m: AffineMap | Preprocessing, box: Box) -> Box:
    """The box around the image of a box under a preprocessing map (codes expanded to indicator intervals)."""
    lo, hi = m.box(np.array([b[0] for b in box], float), np.array([b[1] for b in box], float))
    return list(zip(lo.tolist(), hi.tolist()))


def score_interval(model: Any, box: Box, target_class: object = None) -> tuple[float, float] | None:
    """[min, max] of the model's score (classifiers.reference_score space) over a box of inputs; None if unsupported."""
    idx = target_index(model, target_class)
    pre, final, affine = split_model(model, len(box))
    if not affine:
        return None
    if pre is not None:
        box = _map_box(pre, box)
    sign = 1.0 if idx == 1 else -1.0
    iv: tuple[float, float] | None = None
    net, row = network_layers(final), linear_row(final)
    if net is not None:
        own, layers = net
        iv = _layers_interval(layers, box if own is None else _map_box(own, box), "relu")
    elif is_tree_model(final):
        iv = _tree_interval(final, idx, box)
        if iv is not None:
            return iv                    # the adapter already scores the target class
    elif row is not None and row[0].size == len(box):
        iv = _affine_interval(row[0].reshape(-1), float(row[1][0]), box)
    if iv is None:
        return None
    return (iv[0], iv[1]) if sign > 0 else (-iv[1], -iv[0])


def problem_score_interval(problem: RecourseProblem) -> tuple[Mapping[str, tuple[float, float]],
                                                              tuple[float, float] | None, str]:
    """Counterfactual box, score interval over it (None if the classifier family is unsupported), score kind."""
    box = counterfactual_box(problem)
    inputs = [box[f] for f in problem.features]
    return box, score_interval(problem.classifier, inputs, problem.options.target_class), score_kind(problem.classifier)


__all__ = ["counterfactual_box", "score_interval", "problem_score_interval", "allowed_range"]
