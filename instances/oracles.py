"""Independent reference optima for recourse problems, computed without the MILP.

Three methods, each over the same problem definition the solver promises to solve
(favourable = the classifier's own score >= threshold + margin, in its score space):

- `enumerate_grid`: exhaustive enumeration of every intervention subset (respecting
  max_changes) and every combination of allowed grid values, counterfactuals from the numpy
  SCM (milp_recourse.scm.simulate), scores from the classifier itself, costs from
  RecourseProblem.action_cost. Exact when every usable feature has a grid; with `grids=` given
  for continuous features it is an upper bound (a grid is a restriction).
- `linear_program`: linear SCM + linear classifier + p = 1. For each intervention subset I the
  counterfactual is affine in theta_I (coefficients probed from the numpy SCM and checked for
  affinity), the score is affine in x (probed from the model's own decision_function), so the
  subset's optimum is an LP in d+ / d- (scipy.optimize.linprog); the optimum is the best subset.
- `closed_form_p2`: the same per-subset structure with p = 2: minimise sum c_k d_k^2 subject to
  g.d >= r and box bounds; KKT gives d_k(lam) = clip(lam g_k / (2 c_k), lo_k, hi_k), and lam is
  found by bisection on the monotone g.d(lam).

Used by instances/generate.py (the `expected` blocks) and tests/test_exact_solver.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations, product
from typing import Iterator, Mapping, Sequence

import numpy as np

from milp_recourse.models.classifiers import favourable, reference_score, score_threshold
from milp_recourse.scm.simulate import counterfactuals

AFFINE_TOL = 1e-8


@dataclass(frozen=True)
class Reference:
    """An independently computed optimum (cost None when there is no recourse)."""

    status: str                      # 'OPTIMAL' | 'NO_RECOURSE' | 'ALREADY_FAVOURABLE'
    cost: float | None
    action: Mapping[str, float] = field(default_factory=dict)
    method: str = ""
    candidates: int = 0              # actions examined (grid points or subsets)
    ambiguous: int = 0               # grid points no costlier than the optimum with a score within 1e-7 of the boundary


def boundary(problem) -> float:
    """The score the solver must reach: threshold (in the score space) + margin."""
    idx = [problem.scm.index(f) for f in problem.features]
    _, kind = reference_score(problem.classifier, problem.x[idx].reshape(1, -1), problem.options.target_class)
    return score_threshold(kind, problem.options.threshold) + problem.options.margin


def scores(problem, X: np.ndarray) -> np.ndarray:
    """The classifier's own score of the target class on full counterfactual rows X (SCM order)."""
    idx = [problem.scm.index(f) for f in problem.features]
    return reference_score(problem.classifier, np.asarray(X)[:, idx], problem.options.target_class)[0]


def already_favourable(problem) -> bool:
    idx = [problem.scm.index(f) for f in problem.features]
    opts = problem.options
    return bool(favourable(problem.classifier, problem.x[idx].reshape(1, -1), opts.threshold, opts.target_class)[0])


def usable_rules(problem) -> list:
    if problem.actionability.max_changes == 0:
        return []
    return [r for r in problem.rules if not r.blocked]


def subsets(names: Sequence[str], max_changes: int | None) -> Iterator[tuple[str, ...]]:
    """Every intervention subset (empty first) of at most max_changes features."""
    top = len(names) if max_changes is None else min(len(names), max_changes)
    for r in range(top + 1):
        yield from combinations(names, r)


def _grid_values(rule, grids: Mapping[str, Sequence[float]] | None) -> tuple[float, ...]:
    if grids is not None and rule.name in grids:
        return tuple(float(v) for v in grids[rule.name] if rule.lower - 1e-12 <= v <= rule.upper + 1e-12)
    if rule.grid is None:
        raise ValueError(f"Feature {rule.name!r} has no grid; exhaustive enumeration needs one per usable feature.")
    return tuple(rule.grid)


def enumerate_grid(problem, grids: Mapping[str, Sequence[float]] | None = None,
                   method: str = "exhaustive grid enumeration") -> Reference:
    """Cheapest favourable action over every subset and every grid combination."""
    if already_favourable(problem):
        return Reference("ALREADY_FAVOURABLE", 0.0, {}, method)
    rules = usable_rules(problem)
    values = {r.name: _grid_values(r, grids) for r in rules}
    names = [r.name for r in rules]
    masks, thetas = [], []
    fx = problem.factual
    for sub in subsets(names, problem.actionability.max_changes):
        if not sub:
            continue
        for combo in product(*(values[n] for n in sub)):
            m = np.zeros(len(names), bool)
            t = np.array([fx[n] for n in names], float)
            for n, v in zip(sub, combo):
                m[names.index(n)] = True
                t[names.index(n)] = v
            masks.append(m)
            thetas.append(t)
    if not masks:
        return Reference("NO_RECOURSE", None, {}, method, 0)
    mask, theta = np.array(masks), np.array(thetas)
    X = counterfactuals(problem.scm, problem.x, names, mask, theta)
    s = scores(problem, X)
    bound = boundary(problem)
    ok = np.flatnonzero(s >= bound)
    if ok.size == 0:
        return Reference("NO_RECOURSE", None, {}, method, len(masks))
    actions = [{n: float(theta[i, k]) for k, n in enumerate(names) if mask[i, k]} for i in range(len(masks))]
    costs = np.full(len(masks), np.inf)
    for i in ok:
        costs[i] = problem.action_cost(actions[i])[0]
    best = int(np.argmin(costs))
    near = np.flatnonzero(np.abs(s - bound) <= 1e-7 * max(1.0, abs(bound)))
    ambiguous = sum(problem.action_cost(actions[i])[0] <= costs[best] + 1e-9 for i in near)
    return Reference("OPTIMAL", float(costs[best]), actions[best], method, len(masks), ambiguous)


def _affine_score(problem) -> tuple[np.ndarray, float]:
    """(w, b) with score(x) = w . x + b over full SCM rows, probed from the model and checked for affinity."""
    x = problem.x
    d = len(x)
    pts = np.vstack([x, x + np.eye(d)])
    s = scores(problem, pts)
    w = s[1:] - s[0]
    b = float(s[0] - w @ x)
    rng = np.random.default_rng(0)
    probe = x + rng.normal(scale=3.0, size=(8, d))
    if not np.allclose(scores(problem, probe), probe @ w + b, rtol=0, atol=AFFINE_TOL * (1 + np.abs(w).sum() * 10)):
        raise ValueError("The classifier's score is not affine in x; the LP / closed-form oracles need a linear model.")
    return w, b


def _affine_counterfactual(problem, names: Sequence[str], sub: Sequence[str]) -> np.ndarray:
    """M with x_cf = x + M (theta_sub - x_sub), probed from the numpy SCM and checked for affinity."""
    fx = problem.factual
    k = len(sub)
    cols = [names.index(n) for n in sub]
    base = np.array([fx[n] for n in names], float)
    mask = np.zeros((k + 9, len(names)), bool)
    mask[:, cols] = True
    theta = np.tile(base, (k + 9, 1))
    for j, c in enumerate(cols):
        theta[j + 1, c] += 1.0
    rng = np.random.default_rng(1)
    theta[k + 1:, cols] += rng.normal(scale=2.0, size=(8, k))
    X = counterfactuals(problem.scm, problem.x, names, mask, theta)
    M = (X[1:k + 1] - X[0]).T
    pred = X[0] + (theta[k + 1:, cols] - base[cols]) @ M.T
    if not np.allclose(X[k + 1:], pred, rtol=0, atol=AFFINE_TOL * (1 + np.abs(M).sum() * 10)):
        raise ValueError(f"The SCM counterfactual is not affine in the intervention on {list(sub)}.")
    if not np.allclose(X[0], problem.x, rtol=0, atol=1e-9):
        raise ValueError("Intervening at the factual values does not reproduce the factual.")
    return M


def _per_subset(problem, solve_subset, method: str) -> Reference:
    if already_favourable(problem):
        return Reference("ALREADY_FAVOURABLE", 0.0, {}, method)
    rules = {r.name: r for r in usable_rules(problem)}
    names = list(rules)
    bad = [n for n, r in rules.items() if r.integer or r.grid is not None]
    if bad:
        raise ValueError(f"Features {bad} are integer or gridded; this oracle handles continuous features only.")
    w, b = _affine_score(problem)
    need = boundary(problem) - float(w @ problem.x + b)
    fx = problem.factual
    best: Reference = Reference("NO_RECOURSE", None, {}, method)
    n_sub = 0
    for sub in subsets(names, problem.actionability.max_changes):
        if not sub:
            continue
        n_sub += 1
        g = w @ _affine_counterfactual(problem, names, sub)
        lo = np.array([rules[n].lower - fx[n] for n in sub])
        hi = np.array([rules[n].upper - fx[n] for n in sub])
        c = np.array([problem.cost.scale * rules[n].weight / rules[n].divisor for n in sub])
        d = solve_subset(problem, sub, g, need, lo, hi, c)
        if d is None:
            continue
        action = {n: fx[n] + float(v) for n, v in zip(sub, d)}
        cost = problem.action_cost(action)[0]
        if best.cost is None or cost < best.cost:
            best = Reference("OPTIMAL", cost, action, method)
    return Reference(best.status, best.cost, best.action, method, n_sub)


def _lp_subset(problem, sub, g, need, lo, hi, c) -> np.ndarray | None:
    """min c.(dp + dm) + penalty.s  s.t.  g.(dp - dm) >= need, lo <= dp - dm <= hi, s >= range violations."""
    from scipy.optimize import linprog

    k = len(sub)
    fx = problem.factual
    prefs = problem.preferences
    eye = np.eye(k)
    # columns: dp (k), dm (k), s (k)
    obj = np.concatenate([c, c, np.full(k, prefs.range_penalty)])
    rows = [np.concatenate([-g, g, np.zeros(k)])]
    rhs = [-need]
    for j, n in enumerate(sub):
        rows.append(np.concatenate([eye[j], -eye[j], np.zeros(k)]))            # d <= hi
        rhs.append(hi[j])
        rows.append(np.concatenate([-eye[j], eye[j], np.zeros(k)]))            # -d <= -lo
        rhs.append(-lo[j])
        rng = prefs.preferred_ranges.get(n)
        if rng is not None:
            rows.append(np.concatenate([-eye[j], eye[j], -eye[j]]))            # lo_p - x - d <= s
            rhs.append(-(rng[0] - fx[n]))
            rows.append(np.concatenate([eye[j], -eye[j], -eye[j]]))            # x + d - hi_p <= s
            rhs.append(rng[1] - fx[n])
    res = linprog(obj, A_ub=np.array(rows), b_ub=np.array(rhs), bounds=[(0, None)] * (3 * k), method="highs")
    if res.status == 2:
        return None
    if res.status != 0:
        raise RuntimeError(f"linprog failed on subset {list(sub)}: {res.message}")
    return res.x[:k] - res.x[k:2 * k]


def linear_program(problem) -> Reference:
    """Exact optimum for a linear SCM, a linear classifier and p = 1 (one LP per intervention subset)."""
    if problem.cost.p != 1:
        raise ValueError("linear_program needs p = 1.")
    return _per_subset(problem, _lp_subset, "scipy linprog per intervention subset")


def _qp_subset(problem, sub, g, need, lo, hi, c) -> np.ndarray | None:
    """min sum c d^2 s.t. g.d >= need, lo <= d <= hi (KKT: d(lam) = clip(lam g / 2c, lo, hi), bisection on lam)."""
    top = np.where(g > 0, hi, np.where(g < 0, lo, np.clip(0.0, lo, hi)))  # the most favourable shift
    zero = np.clip(0.0, lo, hi)

    def d_of(lam: float) -> np.ndarray:
        if lam <= 0:
            return zero
        free = np.divide(lam * g, 2 * c, out=top.copy(), where=c > 0)  # zero-cost features go to their best end
        return np.clip(free, lo, hi)

    if g @ d_of(0.0) >= need:
        return d_of(0.0)
    if g @ top < need:
        return None
    lam_lo, lam_hi = 0.0, 1.0
    while g @ d_of(lam_hi) < need:
        lam_hi *= 2.0
    for _ in range(300):
        mid = 0.5 * (lam_lo + lam_hi)
        if g @ d_of(mid) >= need:
            lam_hi = mid
        else:
            lam_lo = mid
    return d_of(lam_hi)


def closed_form_p2(problem) -> Reference:
    """Exact optimum for a linear SCM, a linear classifier and p = 2 (KKT per intervention subset)."""
    if problem.cost.p != 2:
        raise ValueError("closed_form_p2 needs p = 2.")
    if problem.preferences.preferred_ranges:
        raise ValueError("closed_form_p2 does not handle preferred ranges.")
    return _per_subset(problem, _qp_subset, "closed form (KKT) per intervention subset")


def even_grids(problem, count: int) -> dict[str, tuple[float, ...]]:
    """`count` evenly spaced values over each usable feature's allowed range, plus the factual value."""
    out = {}
    for r in usable_rules(problem):
        vals = set(np.linspace(r.lower, r.upper, count).tolist())
        if r.lower <= problem.factual[r.name] <= r.upper:
            vals.add(problem.factual[r.name])
        out[r.name] = tuple(sorted(vals))
    return out


__all__ = ["Reference", "enumerate_grid", "linear_program", "closed_form_p2", "even_grids", "boundary",
           "scores", "subsets", "usable_rules", "already_favourable"]
