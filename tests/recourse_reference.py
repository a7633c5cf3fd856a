"""Independent reference for recourse on linear SCMs (test helper, not a test module).

Enumerates every intervention set (respecting max_changes), every combination of grid values, and for
the continuous features of the set solves an LP with scipy: x_cf is affine in theta on a linear SCM
(measured from simulate.counterfactuals at unit steps), the favourable region is an affine half-space
(logistic regression, measured from the estimator's own scores) or a union of leaf boxes (a decision
tree, read from sklearn's tree_ arrays). L1 cost only. Shares no code with compile/encode/exact.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
from scipy.optimize import linprog
from sklearn.pipeline import Pipeline
from sklearn.tree import DecisionTreeClassifier

from milp_recourse.models.classifiers import reference_score, score_threshold
from milp_recourse.scm.simulate import counterfactuals

Region = tuple[np.ndarray, np.ndarray]  # {z : G z <= h} in classifier-input space


_REGIONS: dict[tuple, tuple[Any, list[Region]]] = {}  # the classifier is kept alive so its id stays unique


def _regions(problem) -> list[Region]:
    """Favourable regions of the classifier (cached per classifier object and threshold)."""
    key = (id(problem.classifier), problem.options.threshold, problem.options.margin, problem.options.target_class)
    if key not in _REGIONS:
        _REGIONS[key] = (problem.classifier, _compute_regions(problem))
    return _REGIONS[key][1]


def _compute_regions(problem) -> list[Region]:
    clf, opts = problem.classifier, problem.options
    d = len(problem.features)
    final = clf.steps[-1][1] if isinstance(clf, Pipeline) else clf
    if isinstance(final, DecisionTreeClassifier) and not isinstance(clf, Pipeline):
        t = clf.tree_
        need = opts.threshold + opts.margin
        out: list[Region] = []

        def walk(node: int, rows: list[np.ndarray], rhs: list[float]) -> None:
            if t.children_left[node] == -1:
                v = t.value[node, 0]
                if v[1] / v.sum() >= need:
                    out.append((np.array(rows).reshape(-1, d), np.array(rhs)))
                return
            f, thr = int(t.feature[node]), float(t.threshold[node])
            e = np.zeros(d)
            e[f] = 1.0
            walk(int(t.children_left[node]), rows + [e], rhs + [thr])
            walk(int(t.children_right[node]), rows + [-e], rhs + [-(thr + 1e-7 * max(1.0, abs(thr)))])

        walk(0, [], [])
        return out
    z0 = np.zeros((1, d))
    s0, kind = reference_score(clf, z0, opts.target_class)
    w = np.array([reference_score(clf, np.eye(d)[[j]], opts.target_class)[0][0] - s0[0] for j in range(d)])
    smin = score_threshold(kind, opts.threshold) + opts.margin
    return [(-w.reshape(1, -1), np.array([s0[0] - smin]))]


def reference_optimum(problem) -> tuple[float, dict[str, float] | None]:
    """Cheapest favourable action (L1 cost, l0 = 0) by enumeration + LPs; (inf, None) when there is none."""
    if problem.cost.p != 1 or problem.preferences.preferred_ranges:
        raise ValueError("the reference handles L1 costs without preferred ranges only")
    m = problem.actionability.max_changes
    rules = [] if m == 0 else [r for r in problem.rules if not r.blocked]
    kmax = len(rules) if m is None else min(m, len(rules))
    regions = _regions(problem)
    x = problem.factual
    idx = [problem.scm.index(f) for f in problem.features]
    names = [r.name for r in rules]
    best, best_action = math.inf, None
    for size in range(kmax + 1):
        for subset in itertools.combinations(range(len(rules)), size):
            grid = [k for k in subset if rules[k].grid is not None]
            cont = [k for k in subset if rules[k].grid is None]
            for combo in itertools.product(*[rules[k].grid for k in grid]):
                theta0 = np.array([x[n] for n in names], float)
                for k, v in zip(grid, combo):
                    theta0[k] = v
                mask = np.zeros(len(rules), bool)
                mask[list(subset)] = True
                T = np.repeat(theta0[None, :], len(cont) + 1, axis=0)
                for i, k in enumerate(cont):
                    T[i + 1, k] += 1.0
                X = counterfactuals(problem.scm, problem.x, names, np.repeat(mask[None, :], len(T), 0), T)[:, idx]
                base, J = X[0], (X[1:] - X[0]).T  # z = base + J (theta_c - theta0_c)
                fixed_cost = sum(problem.cost.feature_cost(names[k], v - x[names[k]], rules[k].weight)
                                 for k, v in zip(grid, combo))
                coef = np.array([problem.cost.feature_cost(names[k], 1.0, rules[k].weight) for k in cont])
                for G, h in regions:
                    cost, th = _lp(G, h, base, J, coef, [rules[k] for k in cont], theta0[cont])
                    if cost + fixed_cost < best - 1e-12:
                        best = cost + fixed_cost
                        action = {names[k]: float(v) for k, v in zip(grid, combo)}
                        action.update({names[k]: float(v) for k, v in zip(cont, th)})
                        best_action = action
    return best, best_action


def _knapsack(a: np.ndarray, r: float, coef: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[float, np.ndarray]:
    """Closed form of min coef.|delta| s.t. a.delta >= r, lo <= delta <= hi (fractional knapsack).

    Start at the cheapest point (0 clipped to the box); from there every unit moved in the direction of
    sign(a_k) gains |a_k| and costs coef_k, so taking coordinates by decreasing |a_k| / coef_k is optimal.
    """
    delta = np.clip(0.0, lo, hi)
    cost = float(coef @ np.abs(delta))
    need = r - float(a @ delta)
    if need <= 0:
        return cost, delta
    room = np.where(a > 0, hi - delta, delta - lo)
    ratio = np.where(coef > 0, np.abs(a) / np.where(coef > 0, coef, 1.0), np.inf)
    for k in np.argsort(-ratio):
        if a[k] == 0 or room[k] <= 0:
            continue
        step = min(room[k], need / abs(a[k]))
        delta[k] += np.sign(a[k]) * step
        cost += coef[k] * step
        need -= abs(a[k]) * step
        if need <= 1e-12 * (1.0 + abs(r)):
            return cost, delta
    return math.inf, delta


def _lp(G: np.ndarray, h: np.ndarray, base: np.ndarray, J: np.ndarray, coef: np.ndarray, rules: list[Any],
        x0: np.ndarray) -> tuple[float, np.ndarray]:
    """min coef.|theta - x0| s.t. G (base + J (theta - x0)) <= h, theta in the rules' ranges."""
    n = len(rules)
    if n == 0:
        return (0.0, x0) if np.all(G @ base <= h + 1e-12) else (math.inf, x0)
    if G.shape[0] == 1:  # one half-space (a linear classifier): closed form
        lo = np.array([r.lower for r in rules]) - x0
        hi = np.array([r.upper for r in rules]) - x0
        cost, delta = _knapsack(-(G @ J)[0], float((G @ base)[0] - h[0]), coef, lo, hi)
        return cost, x0 + delta
    # variables: delta (n), t (n); t >= |delta|
    c = np.concatenate([np.zeros(n), coef])
    A = [np.hstack([G @ J, np.zeros((G.shape[0], n))])]
    b = [h - G @ base]
    eye = np.eye(n)
    A += [np.hstack([eye, -eye]), np.hstack([-eye, -eye])]
    b += [np.zeros(n), np.zeros(n)]
    bounds = [(r.lower - v, r.upper - v) for r, v in zip(rules, x0)] + [(0, None)] * n
    res = linprog(c, A_ub=np.vstack(A), b_ub=np.concatenate(b), bounds=bounds, method="highs")
    if res.status != 0:
        return math.inf, x0
    return float(res.fun), x0 + res.x[:n]


def reference_feasible(problem) -> bool:
    return math.isfinite(reference_optimum(problem)[0])
