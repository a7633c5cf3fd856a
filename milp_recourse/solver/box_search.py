"""Exact recourse for ReLU-network classifiers by branch and bound over boxes of actions (no MILP).

When few features are actionable, the action space is low-dimensional: per intervention pattern (which
features are set), a box of new values theta. On each box, scm_boxes gives the counterfactual as an affine
function of theta up to a proven error, relu_bounds a line g . theta + h above the network's score, and the
cheapest point of the box with g . theta + h >= threshold is a lower bound on the cost of every valid action
in the box (p = 2: a one-multiplier KKT system, piecewise linear in the multiplier; p = 1: a fractional
knapsack; both solved exactly for all boxes at once). Boxes whose bound reaches the incumbent's cost
(1 - gap) are discarded, the others split in half along their widest side in the cost metric; each box's
cheapest relaxed point, checked on the true SCM and classifier, may improve the incumbent. When no box is
left the incumbent is optimal within the gap (relative, or ABS_GAP absolute, as in search.py). As boxes
shrink, ReLUs and SCM kinks become stable and the bounds exact, so on the CARMA loan network a person takes
~50-500 boxes.

Exact under the same conditions as the MILP (every answer is re-checked by verify.py): ReLU networks (alone or
after scalers), p = 1 or 2 costs with positive weights (L0 costs and change limits by enumerating the
intervention patterns, as excluded sets), continuous actionable features without grids or preferred ranges, and
SCMs whose changing equations have no jumps. Anything else, or a box budget exhausted, returns None or 'limit', and
exact.py runs the MILP pipeline as before.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

import numpy as np

from milp_recourse.bounds.relu_bounds import relu_layers, score_upper_bound
from milp_recourse.bounds.scm_boxes import counterfactual_forms
from milp_recourse.models.classifiers import score_threshold
from milp_recourse.models.registry import score_kind
from milp_recourse.problem.recourse_problem import RecourseProblem
from milp_recourse.result import SearchState
from milp_recourse.scm.plan import PlanCache
from milp_recourse.scm.simulate import person_constants
from milp_recourse.solver.answer_rules import without_no_op_holds
from milp_recourse.solver.incumbent import Incumbent, valid_actions
from milp_recourse.solver.strategy import pattern_parts

BOX_ENGINE = "box-search"  # the result's backend when the box search settled the person
MAX_BOXES = 20_000        # boxes bounded before giving up (the MILP pipeline then runs with the incumbent)
BOUND_CHUNK = 512         # boxes bounded per numpy call (memory: see _bound_lines)
ABS_GAP = 1e-9            # absolute optimality tolerance, as the MILP search's (a 6e-8 optimum needs no 1e-12 proof)


@dataclass(frozen=True)
class BoxSearch:
    """Outcome of the box search: the best verified action, its cost, the proven lower bound, why it stopped."""

    action: dict[str, float] | None
    cost: float
    lower_bound: float
    state: SearchState    # OPTIMAL or LIMIT
    boxes: int
    seconds: float


def _patterns(problem: RecourseProblem, rules, changing: frozenset[str]) -> list[tuple[str, ...]]:
    """Intervention patterns to search (see _pattern_parts)."""
    always, optional, limit = pattern_parts(problem, rules, changing)
    out = []
    for k in range(len(optional) + 1):
        for extra in itertools.combinations(optional, k):
            pattern = tuple(r.name for r in rules if r.name in always or r.name in extra)
            # a pattern covering an excluded set is skipped: its actions that leave a feature of the set at x
            # (dropped from the action) are searched in the smaller pattern without it
            if 0 < len(pattern) <= limit and problem.actionability.excluded_by(pattern) is None:
                out.append(pattern)
    return out


def _cheapest(c: np.ndarray, x0: np.ndarray, lo: np.ndarray, hi: np.ndarray, g: np.ndarray, h: np.ndarray,
              t: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per box: min sum c (theta - x0)^2 s.t. g . theta + h >= t, lo <= theta <= hi (inf when no point of the
    box meets it; slightly lowered against round-off, so a valid lower bound), and its minimiser.

    The KKT point for multiplier lam >= 0 is theta(lam) = clip(x0 + lam g / (2 c), lo, hi), and
    phi(lam) = g . theta(lam) is piecewise linear and non-decreasing with breaks where a coordinate reaches
    its bound: phi at every break (2d + 1 per box), then the crossing of t interpolated on its segment.
    c, x0 (d,) and t may also be given per box ((n, d), (n,)): box_batch.py bounds many people's boxes at once."""
    n, d = g.shape
    c, x0, t = np.broadcast_to(c, (n, d)), np.broadcast_to(x0, (n, d)), np.broadcast_to(np.asarray(t, float), (n,))
    with np.errstate(all="ignore"):
        slope = g / (2.0 * c)
        moving = slope != 0.0
        breaks = np.concatenate([np.zeros((n, 1)), np.where(moving, (lo - x0) / slope, 0.0),
                                 np.where(moving, (hi - x0) / slope, 0.0)], axis=1)
        breaks = np.sort(np.where(np.isfinite(breaks) & (breaks > 0.0), breaks, 0.0), axis=1)   # (n, 2d + 1)
        theta = np.clip(x0[:, None, :] + breaks[:, :, None] * slope[:, None, :], lo[:, None, :], hi[:, None, :])
        phi = np.einsum("nkd,nd->nk", theta, g) + h[:, None]
        reached = phi >= t[:, None]
        feasible = reached[:, -1]
        k = np.where(feasible, np.argmax(reached, axis=1), 0)
        rows = np.arange(n)
        km = np.maximum(k - 1, 0)
        dphi = phi[rows, k] - phi[rows, km]
        frac = np.where((k > 0) & (dphi > 0), (t - phi[rows, km]) / np.where(dphi > 0, dphi, 1.0), 0.0)
        lam = breaks[rows, km] + np.clip(frac, 0.0, 1.0) * (breaks[rows, k] - breaks[rows, km])
        lam = np.where(k > 0, lam, 0.0)
        point = np.clip(x0 + lam[:, None] * slope, lo, hi)
        cost = np.sum(c * (point - x0) ** 2, axis=1)
    lower = np.where(feasible, cost * (1.0 - 1e-12), np.inf)
    return _unbounded_rows(np.where(np.isnan(lower), -np.inf, lower), point, c, x0, lo, hi, g, h, 2)


def _cheapest_p1(c: np.ndarray, x0: np.ndarray, lo: np.ndarray, hi: np.ndarray, g: np.ndarray, h: np.ndarray,
                 t: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """_cheapest for p = 1: min sum c |theta - x0| s.t. g . theta + h >= t on the box. From the box point
    nearest x0, each unit of g . theta bought on coordinate k costs c_k / |g_k| up to |g_k| * room_k (a
    fractional knapsack): the cheapest coordinates are filled first, the last one partly."""
    n, d = g.shape
    c, x0, t = np.broadcast_to(c, (n, d)), np.broadcast_to(x0, (n, d)), np.broadcast_to(np.asarray(t, float), (n,))
    base = np.clip(x0, lo, hi)
    with np.errstate(all="ignore"):
        need = t - h - np.einsum("nd,nd->n", g, base)
        room = np.where(g > 0, hi - base, np.where(g < 0, base - lo, 0.0))
        cap = np.abs(g) * room
        price = np.where(cap > 0, c / np.abs(g), np.inf)
        order = np.argsort(price, axis=1)
        rows = np.arange(n)[:, None]
        cap_s = cap[rows, order]
        before = np.cumsum(cap_s, axis=1) - cap_s                    # gain bought before each coordinate
        take = np.clip(need[:, None] - before, 0.0, cap_s)           # gain bought on it
        feasible = before[:, -1] + cap_s[:, -1] >= need
        step = np.zeros_like(g)
        step[rows, order] = np.where(cap_s > 0, take / np.where(cap_s > 0, cap_s, 1.0), 0.0)
        point = base + np.sign(g) * step * room
        cost = np.sum(c * np.abs(point - x0), axis=1)
    lower = np.where(feasible, cost * (1.0 - 1e-12), np.inf)
    return _unbounded_rows(np.where(np.isnan(lower), -np.inf, lower), np.where(np.isnan(point), base, point),
                           c, x0, lo, hi, g, h, 1)


def _unbounded_rows(lower: np.ndarray, point: np.ndarray, c: np.ndarray, x0: np.ndarray, lo: np.ndarray,
                    hi: np.ndarray, g: np.ndarray, h: np.ndarray, p: int) -> tuple[np.ndarray, np.ndarray]:
    """Boxes whose score line is not finite (a slope interval with no bound, e.g. log(2 + A*A)'s over a wide box)
    get the box's own cheapest cost, which ignores the score, as their bound: NaN compared as 'never reaches the
    threshold', so such a box was discarded and the incumbent reported OPTIMAL with a cheaper action inside it."""
    bad = ~(np.isfinite(g).all(axis=1) & np.isfinite(h))
    if not bad.any():
        return lower, point
    base = np.clip(x0, lo, hi)
    with np.errstate(all="ignore"):
        floor = np.sum(c * np.abs(base - x0) ** p, axis=1) * (1.0 - 1e-12)
    return np.where(bad, floor, lower), np.where(bad[:, None], base, point)


@dataclass
class BoxState:
    """One person's box search in progress (mutable: the incumbent, the open boxes per pattern, the counters);
    search_boxes runs it alone, box_batch.py runs many in lock-step with the bounds of all of them in one call."""

    problem: RecourseProblem
    layers: list
    prune_at: float
    aim_at: float
    plan: object
    constants: dict
    inputs: list[int]
    changing: frozenset[str]
    best: float
    best_action: dict[str, float]
    fronts: list      # per pattern: (dims, c, x0, lo, hi[, lower])
    deadline: float
    max_boxes: int
    t0: float
    boxes: int = 0
    pruned_low: float = np.inf    # the smallest lower bound of a discarded box


def start_boxes(problem: RecourseProblem, inc: Incumbent, deadline: float, plans: PlanCache | None = None,
                max_boxes: int | None = None) -> BoxState:
    """The box search's starting state: per intervention pattern, the box of actions within the incumbent's cost."""
    t0 = time.perf_counter()
    opts, scm = problem.options, problem.scm
    layers = relu_layers(problem.classifier, opts.target_class)
    # bounds prune with the favourable threshold itself (less a round-off allowance), so the lower bound holds
    # for every action the re-check accepts; candidates aim a little past threshold + margin, as actions must
    base = score_threshold(score_kind(problem.classifier), opts.threshold)
    rules = [r for r in problem.rules if not r.blocked]
    names = [r.name for r in rules]
    plans = plans if plans is not None else PlanCache()
    changing = plans.changing(scm, names)
    x = np.asarray(problem.x, float)
    coef = {r.name: problem.cost.scale * r.weight / r.divisor for r in rules}
    p = problem.cost.p
    best = float(inc.cost)
    fronts = []
    for dims in _patterns(problem, rules, changing):
        budget = best - problem.cost.l0 * len(dims)
        if budget < 0:
            continue
        c = np.array([coef[k] for k in dims])
        x0 = np.array([x[scm.index(k)] for k in dims])
        radius = (np.maximum(budget, 0.0) / c) ** (1.0 / p)
        lo = np.array([max(problem.rule(k).lower, v - rad) for k, v, rad in zip(dims, x0, radius)])
        hi = np.array([min(problem.rule(k).upper, v + rad) for k, v, rad in zip(dims, x0, radius)])
        if np.all(lo <= hi):
            fronts.append((dims, c, x0, lo[None, :], hi[None, :]))
    return BoxState(problem, layers, base - 1e-9 * (1.0 + abs(base)), base + opts.margin + 1e-9 * (1.0 + abs(base)),
                    plans.get(scm, changing), person_constants(problem, changing),
                    [scm.index(f) for f in problem.features], changing, best, dict(inc.action), fronts, deadline,
                    MAX_BOXES if max_boxes is None else max_boxes, t0)


def stopped(state: BoxState) -> BoxSearch | None:
    """The outcome when the search is over (no box left: optimal; past the deadline or the box budget: limit),
    else None. Checked before every round of fronts."""
    if not state.fronts:
        return BoxSearch(without_no_op_holds(state.problem, state.best_action), state.best,
                         min(state.pruned_low, state.best), SearchState.OPTIMAL, state.boxes,
                         time.perf_counter() - state.t0)
    if time.perf_counter() > state.deadline or state.boxes > state.max_boxes:
        low = min([state.pruned_low] + [float(f[5].min()) if len(f) > 5 else 0.0 for f in state.fronts])
        return BoxSearch(without_no_op_holds(state.problem, state.best_action), state.best,
                         min(low, state.best), SearchState.LIMIT, state.boxes, time.perf_counter() - state.t0)
    return None


def front_bounds(state: BoxState, front) -> tuple[np.ndarray, np.ndarray]:
    """One front's lower bounds (cost of the box's cheapest point reaching the threshold, +L0) and the boxes'
    cheapest points aiming past threshold + margin (box_batch.py computes the same numbers for many fronts)."""
    problem = state.problem
    dims, c, x0, lo, hi = front[:5]
    g, h = _bound_lines(problem, state.plan, state.constants, dims, lo, hi, state.layers, state.inputs)
    cheapest = _cheapest if problem.cost.p == 2 else _cheapest_p1
    lower, _ = cheapest(c, x0, lo, hi, g, h, state.prune_at)
    _, point = cheapest(c, x0, lo, hi, g, h, state.aim_at)
    return lower + problem.cost.l0 * len(dims), point


def candidates(state: BoxState, front, lower: np.ndarray, point: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The cost of each box's point and which points are worth a check on the true SCM (a finite bound, cheaper
    than the incumbent): the rows advance() passes to valid_actions over the pattern's features."""
    dims, c, x0 = front[:3]
    problem = state.problem
    cost = np.sum(c * np.abs(point - x0) ** problem.cost.p, axis=1) + problem.cost.l0 * len(dims)
    return cost, np.flatnonzero(np.isfinite(lower) & (cost < state.best))


def advance(state: BoxState, front, lower: np.ndarray, point: np.ndarray, checked: tuple | None = None
            ) -> tuple | None:
    """Try the front's points on the true SCM, discard the boxes whose bound reaches the incumbent, and split the
    others in half along their widest side in the cost metric: the front of the next round (None: all gone).
    `checked`: (cost, cand, ok) when the caller took candidates() and their valid_actions already (box_batch.py)."""
    problem = state.problem
    dims, c, x0, lo, hi = front[:5]
    state.boxes += len(lo)
    p = problem.cost.p
    cost, cand, ok = checked if checked is not None else (*candidates(state, front, lower, point), None)
    if cand.size:
        if ok is None:
            ok = valid_actions(problem, list(dims), np.ones((cand.size, len(dims)), bool), point[cand])
        state.best, state.best_action = _take(problem, dims, point, cost, cand, ok, state.best, state.best_action)
    best = state.best
    keep = lower < best - max(problem.options.mip_gap * best, ABS_GAP)
    if (~keep).any():
        state.pruned_low = min(state.pruned_low, float(lower[~keep].min()))
    if not keep.any():
        return None
    lo, hi, lower = lo[keep], hi[keep], lower[keep]
    side = np.argmax((hi - lo) * (c ** (1.0 / p))[None, :], axis=1)
    rows = np.arange(len(lo))
    mid = (lo[rows, side] + hi[rows, side]) / 2.0
    lo2, hi1 = lo.copy(), hi.copy()
    lo2[rows, side], hi1[rows, side] = mid, mid
    return (dims, c, x0, np.concatenate([lo, lo2]), np.concatenate([hi1, hi]), np.concatenate([lower, lower]))


def search_boxes(problem: RecourseProblem, inc: Incumbent, deadline: float, plans: PlanCache | None = None,
                 max_boxes: int | None = None) -> BoxSearch:
    """Prove `inc` optimal (or find and prove a cheaper action) by the box search (module docstring); at most
    `max_boxes` boxes (default MAX_BOXES) are bounded before it stops with state 'limit'."""
    state = start_boxes(problem, inc, deadline, plans, max_boxes)
    while (done := stopped(state)) is None:
        nxt = []
        for front in state.fronts:
            lower, point = front_bounds(state, front)
            split = advance(state, front, lower, point)
            if split is not None:
                nxt.append(split)
        state.fronts = nxt
    return done


def _bound_lines(problem: RecourseProblem, plan, constants, dims, lo: np.ndarray, hi: np.ndarray, layers,
                 inputs) -> tuple[np.ndarray, np.ndarray]:
    """The line g . theta + h above the score on each box, BOUND_CHUNK boxes at a time: the back-substitution
    holds boxes x hidden x hidden arrays, so an 8 000-box front peaked at ~900 MB (bench/bench_memory.py); in
    chunks of 512 the same numbers take ~280 MB."""
    gs, hs = [], []
    for k in range(0, len(lo), BOUND_CHUNK):
        part_lo, part_hi = lo[k:k + BOUND_CHUNK], hi[k:k + BOUND_CHUNK]
        S, o, r = counterfactual_forms(problem, plan, constants, dims, part_lo, part_hi)
        bound = score_upper_bound(layers, S[:, inputs], o[:, inputs], r[:, inputs], part_lo, part_hi)
        gs.append(bound.g)
        hs.append(bound.h)
    return np.concatenate(gs), np.concatenate(hs)


def _take(problem: RecourseProblem, dims, point: np.ndarray, cost: np.ndarray, cand: np.ndarray, ok: np.ndarray,
          best: float, best_action: dict[str, float]) -> tuple[float, dict[str, float]]:
    """The cheapest valid candidate point as the new incumbent when its recomputed cost beats `best`."""
    if not ok.any():
        return best, best_action
    i = cand[ok][np.argmin(cost[cand][ok])]
    action = {k: float(v) for k, v in zip(dims, point[i])}
    real, _ = problem.action_cost(action)
    return (real, action) if real < best else (best, best_action)


__all__ = ["BOX_ENGINE", "BoxSearch", "BoxState", "search_boxes", "start_boxes", "stopped", "front_bounds",
           "candidates", "advance", "MAX_BOXES"]
