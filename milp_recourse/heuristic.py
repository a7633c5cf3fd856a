"""A cheap valid action before the MILP: random actions on the true SCM, then shrunk towards x.

Its cost is an upper bound on the optimum, which shrinks the MILP's box (tighter big-M, more
stable ReLUs) and serves as an objective cutoff. It proves nothing by itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .classifiers import reference_score, score_threshold
from .recourse_problem import RecourseProblem
from .simulate import counterfactuals


@dataclass(frozen=True)
class Incumbent:
    action: dict[str, float]
    cost: float


def _valid(problem: RecourseProblem, names, mask, theta) -> np.ndarray:
    X = counterfactuals(problem.scm, problem.x, names, mask, theta)
    idx = [problem.scm.index(f) for f in problem.features]
    score, kind = reference_score(problem.classifier, X[:, idx], problem.options.target_class)
    return score >= score_threshold(kind, problem.options.threshold) + problem.options.margin


def _snap(rule, values: np.ndarray) -> np.ndarray:
    if rule.grid is not None:
        grid = np.asarray(rule.grid)
        return grid[np.abs(values[:, None] - grid[None, :]).argmin(axis=1)]
    if rule.integer:
        values = np.round(values)
    return np.clip(values, rule.lower, rule.upper)


def _costs(problem, rules, x, mask, theta) -> np.ndarray:
    c = problem.cost
    total = np.zeros(mask.shape[0])
    for k, r in enumerate(rules):
        part = c.scale * r.weight * np.abs(theta[:, k] - x[k]) ** c.p / r.divisor + c.l0
        rng = problem.preferences.preferred_ranges.get(r.name)
        if rng is not None:
            part = part + problem.preferences.range_penalty * (np.maximum(0, rng[0] - theta[:, k])
                                                               + np.maximum(0, theta[:, k] - rng[1]))
        total += np.where(mask[:, k], part, 0.0)
    return total


def random_search(problem: RecourseProblem, n_samples: int, seed: int = 0) -> Incumbent | None:
    """Best valid action among random ones (shrunk towards x by bisection); None if none found."""
    rules = [r for r in problem.rules if not r.blocked]
    m = problem.actionability.max_changes
    if not rules or n_samples <= 0 or m == 0:
        return None
    names = [r.name for r in rules]
    K = len(rules)
    x = np.array([problem.factual[n] for n in names])
    rng = np.random.default_rng(seed)
    kmax = K if m is None else min(K, m)
    sizes = rng.integers(1, kmax + 1, size=n_samples)
    order = np.argsort(rng.random((n_samples, K)), axis=1)
    mask = np.zeros((n_samples, K), bool)
    for i, s in enumerate(sizes):
        mask[i, order[i, :s]] = True
    theta = np.empty((n_samples, K))
    for k, r in enumerate(rules):
        theta[:, k] = _snap(r, rng.uniform(r.lower, r.upper, n_samples) if r.grid is None
                            else rng.choice(np.asarray(r.grid), n_samples))
    # corners: each single feature at each end of its range
    corners_m, corners_t = [], []
    for k, r in enumerate(rules):
        for end in (r.lower, r.upper):
            mk = np.zeros(K, bool)
            mk[k] = True
            t = x.copy()
            t[k] = end
            corners_m.append(mk)
            corners_t.append(_snap_row(rules, t))
    mask = np.vstack([mask, np.array(corners_m)])
    theta = np.vstack([theta, np.array(corners_t)])
    ok = _valid(problem, names, mask, theta)
    if not ok.any():
        return None
    mask, theta = mask[ok], theta[ok]
    costs = _costs(problem, rules, x, mask, theta)
    top = np.argsort(costs)[:8]
    mask, theta = mask[top], theta[top]
    lo, hi = np.zeros(len(top)), np.ones(len(top))
    for _ in range(30):
        mid = 0.5 * (lo + hi)
        cand = _snap_row(rules, x + mid[:, None] * (theta - x))
        good = _valid(problem, names, mask, cand)
        hi = np.where(good, mid, hi)
        lo = np.where(good, lo, mid)
    final = _snap_row(rules, x + hi[:, None] * (theta - x))
    good = _valid(problem, names, mask, final)
    final = np.where(good[:, None], final, theta)  # fall back to the unshrunk (valid) action
    final, mask = _coordinate_shrink(problem, rules, names, x, mask, final)
    costs = _costs(problem, rules, x, mask, final)
    best = int(np.argmin(costs))
    action = {names[k]: float(final[best, k]) for k in range(K) if mask[best, k]}
    cost, _ = problem.action_cost(action)
    return Incumbent(action, cost)


def _coordinate_shrink(problem, rules, names, x, mask, theta, sweeps: int = 3):
    """Shrink each intervened coordinate alone towards x (bisection), and drop it when that stays valid."""
    theta, mask = theta.copy(), mask.copy()
    for _ in range(sweeps):
        for k in range(len(rules)):
            on = mask[:, k]
            if not on.any():
                continue
            dropped = mask.copy()
            dropped[:, k] = False
            can_drop = on & _valid(problem, names, dropped, theta)
            mask[can_drop, k] = False
            lo, hi = np.zeros(len(theta)), np.ones(len(theta))
            for _ in range(20):
                mid = 0.5 * (lo + hi)
                cand = theta.copy()
                cand[:, k] = x[k] + mid * (theta[:, k] - x[k])
                cand = _snap_row(rules, cand)
                good = _valid(problem, names, mask, cand)
                hi, lo = np.where(good, mid, hi), np.where(good, lo, mid)
            cand = theta.copy()
            cand[:, k] = x[k] + hi * (theta[:, k] - x[k])
            cand = _snap_row(rules, cand)
            good = _valid(problem, names, mask, cand) & mask[:, k]
            theta[good] = cand[good]
    return theta, mask


def _snap_row(rules, theta: np.ndarray) -> np.ndarray:
    """Snap each column of theta (1-D: one action, 2-D: many) to its feature's allowed values."""
    flat = np.ndim(theta) == 1
    arr = np.array(theta, float, ndmin=2)
    out = np.empty_like(arr)
    for k, r in enumerate(rules):
        out[:, k] = _snap(r, arr[:, k])
    return out[0] if flat else out
