"""A cheap valid action before the MILP: random actions on the true SCM, then shrunk towards x.

Its cost is an upper bound on the optimum, which shrinks the MILP's box (tighter big-M, more
stable ReLUs) and serves as an objective cutoff. It proves nothing by itself.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from milp_recourse.bounds.relu_bounds import relu_forward, relu_layers
from milp_recourse.models.classifiers import reference_score, score_kind, score_threshold, target_index
from milp_recourse.models.adapter import linear_row, split_model
from milp_recourse.models.categorical_input import LeveledModel
from milp_recourse.models.tree_scoring import fast_tree_score
from milp_recourse.problem.data_costs import aggregate_costs
from milp_recourse.problem.logic import counterfactual as linked_counterfactual
from milp_recourse.problem.logic import linked_counterfactuals
from milp_recourse.problem.logic import satisfied as logic_satisfied
from milp_recourse.problem.logic import violations as logic_violations
from milp_recourse.problem.recourse_problem import RecourseProblem

COORDINATE_SHRINK_MAX_FEATURES = 12  # beyond this, per-coordinate shrinking costs more classifier calls than it saves


@dataclass(frozen=True)
class Incumbent:
    action: dict[str, float]
    cost: float


def action_scores(problem: RecourseProblem, names, mask, theta) -> tuple[np.ndarray, float]:
    """The classifier's score of each action's counterfactual (rows of mask / theta over `names`), and the
    threshold in score space: one vectorised SCM pass and one classifier call for all rows."""
    X = linked_counterfactuals(problem, names, mask, theta)   # = scm.simulate.counterfactuals without linkages
    idx = [problem.scm.index(f) for f in problem.features]
    layers = relu_layers(problem.classifier, problem.options.target_class)
    if layers is not None:
        # a ReLU network's logit in numpy: the same numbers as reference_score (tested to 1e-9) without
        # scikit-learn's per-call cost (~5 ms for a Pipeline: the SLSQP polish makes ~1000 calls)
        return relu_forward(layers, X[:, idx]), score_threshold("logit", problem.options.threshold)
    target = target_index(problem.classifier, problem.options.target_class)
    fast = fast_tree_score(problem.classifier, target, X[:, idx])
    if fast is not None:
        # a forest's probability from its stacked tree arrays (the same numbers to 1e-15, tested; ~6x faster)
        return fast, score_threshold("probability", problem.options.threshold)
    linear = linear_score(problem.classifier, target, X[:, idx])
    if linear is not None:
        # a linear model after categorical encoders in numpy (the ColumnTransformer on level strings costs ~25 ms
        # a call; the same numbers as reference_score to 1e-9, tests/test_categorical_scm.py)
        return linear, score_threshold(score_kind(problem.classifier), problem.options.threshold)
    score, kind = reference_score(problem.classifier, X[:, idx], problem.options.target_class)
    return np.asarray(score, float), score_threshold(kind, problem.options.threshold)


def linear_score(model, target: int, X: np.ndarray) -> np.ndarray | None:
    """A LeveledModel whose final estimator is linear (logistic regression, LinearSVC) scored in numpy from its
    adapter (expansion, affine map, linear row); None for every other model (they are scored as before)."""
    if not isinstance(model, LeveledModel):
        return None
    prep, final, affine = split_model(model, X.shape[1])
    row = linear_row(final) if affine else None
    if row is None or prep is None:
        return None
    W, c = row
    z = prep.apply(X) @ W[0] + c[0]
    return z if target == 1 else -z


def valid_actions(problem: RecourseProblem, names, mask, theta) -> np.ndarray:
    """Which actions (rows of mask / theta over `names`) reach the threshold plus margin on the true SCM."""
    score, threshold = action_scores(problem, names, mask, theta)
    ok = score >= threshold + problem.options.margin
    if problem.plausibility is not None:   # a hard constraint on the counterfactual (problem/plausibility.py)
        X = linked_counterfactuals(problem, names, mask, theta)
        ok &= problem.plausibility.satisfied(problem.scm, X)
    if getattr(problem, "logic", ()):   # IF-THEN rules and linkages hold on the counterfactual (problem/logic.py)
        ok &= logic_satisfied(problem, linked_counterfactuals(problem, names, mask, theta))
    return ok


def _snap(rule, values: np.ndarray) -> np.ndarray:
    if rule.grid is not None:
        grid = np.asarray(rule.grid)
        return grid[np.abs(values[:, None] - grid[None, :]).argmin(axis=1)]
    if rule.integer:
        values = np.round(values)
    return np.clip(values, rule.lower, rule.upper)


def _costs(problem, rules, x, mask, theta) -> np.ndarray:
    c = problem.cost
    parts = np.zeros(mask.shape, float)
    extra = np.full(mask.shape, float(c.l0))
    for k, r in enumerate(rules):
        parts[:, k] = c.feature_costs(r.name, x[k], theta[:, k], r.weight, r.divisor)
        rng = problem.preferences.preferred_ranges.get(r.name)
        if rng is not None:
            extra[:, k] += problem.preferences.range_penalty * (np.maximum(0, rng[0] - theta[:, k])
                                                                + np.maximum(0, theta[:, k] - rng[1]))
    return aggregate_costs(c.aggregate, parts, extra, mask)


def random_search(problem: RecourseProblem, n_samples: int, seed: int = 0,
                  deadline: float | None = None, coordinate_shrink: bool = True) -> Incumbent | None:
    """Best valid action among random ones (shrunk towards x); None if none found.

    Past `deadline` (time.perf_counter() seconds) the shrinking phases are skipped. `coordinate_shrink=False`
    skips the per-coordinate sweeps, for callers that polish the result with local_polish anyway (on 40
    CARMA people the polished costs were within 0.5 % either way, and the search took 23 instead of 37 ms).
    """
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
    ok = valid_actions(problem, names, mask, theta)
    if problem.actionability.excluded_sets:   # never a set an earlier option took (shrinking only drops features)
        ok &= np.array([problem.actionability.excluded_by([n for n, on in zip(names, row) if on]) is None
                        for row in mask], bool)
    if not ok.any():
        return None
    mask, theta = mask[ok], theta[ok]
    costs = _costs(problem, rules, x, mask, theta)
    top = np.argsort(costs)[:8]
    mask, theta = mask[top], theta[top]
    if deadline is not None and time.perf_counter() > deadline:
        best = int(np.argmin(costs[top]))
        action = {names[k]: float(theta[best, k]) for k in range(K) if mask[best, k]}
        return _checked(problem, action, problem.action_cost(action)[0])
    alpha = _shrink_factors(problem, rules, names, x, mask, theta, axis=None)
    final = _snap_row(rules, x + alpha[:, None] * (theta - x))
    good = valid_actions(problem, names, mask, final)
    final = np.where(good[:, None], final, theta)  # fall back to the unshrunk (valid) action
    if coordinate_shrink and (deadline is None or time.perf_counter() < deadline) \
            and K <= COORDINATE_SHRINK_MAX_FEATURES:
        final, mask = _coordinate_shrink(problem, rules, names, x, mask, final)
    costs = _costs(problem, rules, x, mask, final)
    best = int(np.argmin(costs))
    action = {names[k]: float(final[best, k]) for k in range(K) if mask[best, k]}
    cost, _ = problem.action_cost(action)
    return _checked(problem, action, cost)


def _checked(problem: RecourseProblem, action: dict[str, float], cost: float) -> Incumbent | None:
    """The incumbent, or None when it breaks a logic constraint: its cost must never become a cutoff."""
    if getattr(problem, "logic", ()) and logic_violations(problem, problem.x, linked_counterfactual(problem, action)):
        return None
    return Incumbent(action, cost)


def _shrink_factors(problem, rules, names, x, mask, theta, axis: int | None, levels: int = 17,
                    refine: int = 6) -> np.ndarray:
    """Smallest alpha in [0, 1] per row with x + alpha (theta - x) still valid (only coordinate `axis` moved
    when given); a grid of alphas in one batched call, then a few batched bisection steps."""
    n = len(theta)
    grid = np.linspace(0.0, 1.0, levels)

    def candidates(alphas: np.ndarray) -> np.ndarray:  # alphas: (n, m) -> (n*m, K)
        a = alphas.reshape(n, -1, 1)
        moved = x + a * (theta[:, None, :] - x)
        if axis is not None:
            keep = np.repeat(theta[:, None, :], a.shape[1], axis=1)
            keep[:, :, axis] = moved[:, :, axis]
            moved = keep
        return _snap_row(rules, moved.reshape(-1, theta.shape[1]))

    m = np.repeat(mask, levels, axis=0)
    ok = valid_actions(problem, names, m, candidates(np.tile(grid, (n, 1)))).reshape(n, levels)
    ok[:, -1] = True  # alpha = 1 is the (valid) action itself
    first = ok.argmax(axis=1)
    hi = grid[first]
    lo = np.where(first > 0, grid[np.maximum(first - 1, 0)], 0.0)
    for _ in range(refine):
        mid = 0.5 * (lo + hi)
        good = valid_actions(problem, names, mask, candidates(mid[:, None]))
        hi, lo = np.where(good, mid, hi), np.where(good, lo, mid)
    return hi


def _coordinate_shrink(problem, rules, names, x, mask, theta, sweeps: int = 2):
    """Shrink each intervened coordinate alone towards x, and drop it when that stays valid."""
    theta, mask = theta.copy(), mask.copy()
    for _ in range(sweeps):
        for k in range(len(rules)):
            on = mask[:, k]
            if not on.any():
                continue
            alpha = _shrink_factors(problem, rules, names, x, mask, theta, axis=k)
            cand = theta.copy()
            cand[:, k] = x[k] + alpha * (theta[:, k] - x[k])
            cand = _snap_row(rules, cand)
            good = valid_actions(problem, names, mask, cand) & on
            theta[good] = cand[good]
            # do(X_k := x_k) is no intervention only when X_k's parents do not move: drop it where the
            # action stays valid without it (holding a mediator at x_k and letting it respond differ)
            drop = on & (np.abs(theta[:, k] - x[k]) <= 1e-12)
            if drop.any():
                without = mask.copy()
                without[:, k] = False
                drop &= valid_actions(problem, names, without, theta)
            mask[drop, k] = False
    return theta, mask


def _snap_row(rules, theta: np.ndarray) -> np.ndarray:
    """Snap each column of theta (1-D: one action, 2-D: many) to its feature's allowed values."""
    flat = np.ndim(theta) == 1
    arr = np.array(theta, float, ndmin=2)
    out = arr.copy()     # one rounding and one clip for all columns (a loop per feature was 13 % of German RF)
    integer = np.array([r.integer and r.grid is None for r in rules], bool)
    if integer.any():
        out[:, integer] = np.round(out[:, integer])
    out = np.clip(out, [r.lower for r in rules], [r.upper for r in rules])
    for k, r in enumerate(rules):
        if r.grid is not None:
            out[:, k] = _snap(r, arr[:, k])
    return out[0] if flat else out
