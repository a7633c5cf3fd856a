"""Per-leaf reachability of tree ensembles: a cost lower bound per leaf, and the budgets no action can use.

A leaf is a box of inputs (the conditions on its path). An action whose counterfactual lands in it moves every
directly actionable feature on the path (counterfactual x_f + d_f) into the box's interval, so it costs at least
``LB_l = sum_f c_f dist(x_f, [lo_f, hi_f])^p`` (the max over f for the max aggregate); a feature that cannot
change makes the leaf unreachable when its value is outside the box, and so does an interval outside the
feature's allowed shifts; any other feature counts 0, which keeps the bound valid. So an action of cost <= B
reaches only leaves with LB_l <= B and scores at most ``base + sum_t max{v_l : LB_l <= B}``: where that is below
the threshold, no action costs <= B. The smallest B where it is not (`reach_bound`) is a lower bound on the
optimum, found without a MILP; the budget schedule skips the stages below it (solver/budget_schedule.py).
Boxes are widened by a relative 1e-6 (plus the split margin): a solver point within tolerance of a split
stays inside its leaf's box. (The same prices, box by box, let the tree encoding leave out the leaves a
budget stage cannot reach: encode/input_prices.py.)
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np

from milp_recourse.encode.compile import CompiledInstance
from milp_recourse.encode.input_prices import BOX_SLACK   # the same widening as the encoding's prices
from milp_recourse.models.classifiers import target_index
from milp_recourse.models.trees import LEAF, TreeEnsemble, is_tree_model, to_tree_ensemble
from milp_recourse.problem.recourse_problem import RecourseProblem



@dataclass(frozen=True)
class LeafBoxes:
    """Every leaf's path conditions, flattened: entry k says leaf entry_leaf[k] needs lo[k] <= x_f <= hi[k]."""

    leaf_tree: np.ndarray     # per leaf: its tree (leaves of a tree are contiguous)
    leaf_value: np.ndarray    # per leaf: its score contribution
    entry_leaf: np.ndarray    # per entry: the leaf's row
    entry_feature: np.ndarray
    entry_lo: np.ndarray
    entry_hi: np.ndarray
    base: float


def leaf_boxes(ens: TreeEnsemble, split_margin: float = 0.0) -> LeafBoxes:
    """The box of every leaf of every tree (conditions on one feature intersected), widened by BOX_SLACK."""
    leaf_tree, leaf_value, e_leaf, e_f, e_lo, e_hi = [], [], [], [], [], []
    for t, tree in enumerate(ens.trees):
        stack: list[tuple[int, dict[int, tuple[float, float]]]] = [(0, {})]
        while stack:
            node, box = stack.pop()
            if int(tree.left[node]) == LEAF:
                k = len(leaf_tree)
                leaf_tree.append(t)
                leaf_value.append(float(tree.value[node]))
                for f, (lo, hi) in box.items():
                    e_leaf.append(k)
                    e_f.append(f)
                    e_lo.append(lo)
                    e_hi.append(hi)
                continue
            f, L = int(tree.feature[node]), ens.left_max(float(tree.threshold[node]))
            lo, hi = box.get(f, (-np.inf, np.inf))
            w = (BOX_SLACK + split_margin) * max(1.0, abs(L))
            stack.append((int(tree.left[node]), {**box, f: (lo, min(hi, L + w))}))
            stack.append((int(tree.right[node]), {**box, f: (max(lo, L - w), hi)}))
    return LeafBoxes(np.asarray(leaf_tree, np.int64), np.asarray(leaf_value, float), np.asarray(e_leaf, np.int64),
                     np.asarray(e_f, np.int64), np.asarray(e_lo, float), np.asarray(e_hi, float), float(ens.base))


_BOXES: "weakref.WeakKeyDictionary[Any, tuple[Any, LeafBoxes]]" = weakref.WeakKeyDictionary()   # a cache


def model_leaf_boxes(model: Any, target: int, split_margin: float) -> LeafBoxes:
    """leaf_boxes of a fitted tree model, built once per model, class and margin while its trees are the same."""
    stamp = (target, split_margin, id(getattr(model, "estimators_", None)), id(getattr(model, "tree_", None)),
             id(getattr(model, "_predictors", None)), id(getattr(model, "_Booster", None)),
             id(getattr(model, "booster_", None)))
    try:
        hit = _BOXES.get(model)
    except TypeError:
        hit = None
    if hit is not None and hit[0] == stamp:
        return hit[1]
    boxes = leaf_boxes(to_tree_ensemble(model, target), split_margin)
    try:
        _BOXES[model] = (stamp, boxes)
    except TypeError:   # a model that cannot be weakly referenced: not kept
        pass
    return boxes


def leaf_lower_bounds(problem: RecourseProblem, compiled: CompiledInstance) -> tuple[LeafBoxes, np.ndarray] | None:
    """Each leaf's cost lower bound for this person (inf: unreachable), or None where the rule does not apply
    (not a bare tree model, a percentile or table cost, a piecewise-linear SCM)."""
    cost, clf = problem.cost, problem.classifier
    if cost.kind != "power" or cost.tables or compiled.approx_error > 0.0 or not is_tree_model(clf):
        return None
    boxes = model_leaf_boxes(clf, target_index(clf, problem.options.target_class),
                             float(problem.options.split_margin))
    feats = list(problem.features)
    if boxes.entry_feature.size and int(boxes.entry_feature.max()) >= len(feats):
        return None
    x = dict(zip(problem.scm.names, map(float, problem.x)))
    changing = set(compiled.d_cols) | set(problem.scm.descendants(list(compiled.d_cols)))
    n = len(feats)
    coef, xf = np.zeros(n), np.array([x[name] for name in feats])
    dlo, dhi = np.full(n, -np.inf), np.full(n, np.inf)   # allowed counterfactual interval, when known
    for i, name in enumerate(feats):
        if name not in changing:
            dlo[i] = dhi[i] = xf[i]                       # a constant: its own value only
        elif name in compiled.d_cols and name not in compiled.xp_cols:   # counterfactual = x + d (compile.py)
            coef[i] = max(float(compiled.cost_coef.get(name, 0.0)), 0.0)
            lo, hi = compiled.d_bounds[name]
            dlo[i], dhi[i] = xf[i] + lo, xf[i] + hi
    f = boxes.entry_feature
    lo_e, hi_e = boxes.entry_lo, boxes.entry_hi
    dist = np.maximum(lo_e - xf[f], 0.0) + np.maximum(xf[f] - hi_e, 0.0)
    part = coef[f] * dist ** cost.p
    tol = 1e-9 * np.maximum(1.0, np.abs(xf[f]))
    out = (lo_e > dhi[f] + tol) | (hi_e < dlo[f] - tol)   # the box misses what the feature can reach
    m = boxes.leaf_tree.size
    if cost.aggregate == "max":
        lb = np.zeros(m)
        np.maximum.at(lb, boxes.entry_leaf, part)
    else:
        lb = np.bincount(boxes.entry_leaf, weights=part, minlength=m)
    lb[np.unique(boxes.entry_leaf[out])] = np.inf
    return boxes, lb


def reach_bound(problem: RecourseProblem, compiled: CompiledInstance, upper: float) -> float | None:
    """The smallest budget B <= upper at which the leaves priced <= B can still reach the threshold (every
    action costs at least that), or None where leaf_lower_bounds does not apply. `upper`: a valid action's cost."""
    got = leaf_lower_bounds(problem, compiled)
    if got is None:
        return None
    boxes, lb = got
    need = compiled.score_min - boxes.base
    trees = boxes.leaf_tree
    starts = np.flatnonzero(np.r_[True, trees[1:] != trees[:-1]])

    def reaches(budget: float) -> bool:
        v = np.where(lb <= budget, boxes.leaf_value, -np.inf)
        return float(np.maximum.reduceat(v, starts).sum()) >= need

    cands = np.unique(lb[np.isfinite(lb) & (lb <= upper)])
    if cands.size == 0 or not reaches(float(cands[-1])):
        return None   # (the incumbent reaches the threshold: only round-off gets here; claim nothing)
    lo, hi = 0, cands.size - 1            # the first candidate where the leaves reach the threshold
    while lo < hi:
        mid = (lo + hi) // 2
        if reaches(float(cands[mid])):
            hi = mid
        else:
            lo = mid + 1
    return float(cands[lo])


__all__ = ["LeafBoxes", "leaf_boxes", "leaf_lower_bounds", "model_leaf_boxes", "reach_bound"]
