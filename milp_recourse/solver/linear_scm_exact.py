"""Exact recourse for a linear SCM, a linear score and a p = 1 cost, without a MILP (the big-M LP bound is the wall).

Why it is exact. With equations affine in the changing parents, intervening on the set I with shifts d_I moves
the score by sum_{i in I} g_i(I) d_i, where g_i(I) is i's total effect with the other nodes of I cut from their
parents; the cost is sum_{i in I} c_i |d_i| (a node held at its own value costs 0). So every action of cost C
moves the score by at most C * max_i G_i / c_i, with G_i >= |g_i(I)| over every I: the optimum is at least
r / max_i (G_i / c_i) (r: the score still missing). That bound is reached by one node i moved by r / g_i(H) with
the holds H that make |g_i| largest (hold_search.py), when that shift is within i's bounds. The search: the
effect ranges of every node (bounded branch and bound), the best mover, then a branch and bound per mover whose
bound still beats the incumbent until none does. A person it cannot settle (a better mover whose shift passes
its bound, the proof's budget or the time limit, more than MAX_PROVE changing variables) gets an unproven
outcome (state LIMIT): the best single mover found and the bound r / max_i (G_i / c_i), valid for every action;
the MILP pipeline then starts from that action and keeps the bound. On random linear SCMs of 100 / 200 nodes the
MILP alone ended 3.6x / 20-90x costlier at a 10 s limit, with a bound 50x weaker or 0 (bench/bench_scaling.py).
An ineligible person or a non-linear SCM returns None.
"""

from __future__ import annotations

import time

import numpy as np

from milp_recourse.models.classifiers import reference_score, score_threshold
from milp_recourse.problem.recourse_problem import RecourseProblem
from milp_recourse.result import PathStep, SearchState
from milp_recourse.scm import expr as ex
from milp_recourse.solver import linear_pieces as lp
from milp_recourse.solver import strategy as st
from milp_recourse.solver.hold_search import effect_ranges, local_search, max_effect, shifts
from milp_recourse.solver.milp_search import SearchOutcome
from milp_recourse.solver.pwl_lift import NotPiecewise, Pwl, lift

ENGINE = st.LINEAR_SCM
RANGE_BUDGET = 1000        # states per node and direction for the effect ranges (valid bounds either way)
PROOF_BUDGET = 2_000_000   # states per mover and direction for the proof
MAX_PROVE = 56             # random linear SCMs: 50 nodes proven in ~0.4 s; at 70 nodes 30 M states moved the
#                            bound from 20.5 to 19.2 against 15.0 needed: beyond this, incumbent and bound only
MAX_CHANGING = 250         # past MAX_PROVE the ranges take ~0.3 s at 100 nodes, ~1.1 s at 200 (10 s limit: 3 s)
LOCAL_TOP = 12             # without a proof: the local search runs for this many movers, those of largest bound
PROOF_TOL = 1e-9           # relative: a mover's bound within this of the incumbent's efficiency cannot beat it
REASON = "the linear-SCM search proved the optimum (one mover with holds; effect bounds)"


def ineligible(problem: RecourseProblem) -> str | None:
    """Why this engine does not take the problem (None: it may, if the SCM and score turn out linear)."""
    why = lp.ineligible(problem)
    if why is not None:
        return why
    if problem.cost.p != 1:
        return "the cost is not |shift| (p = 1)"
    scm = problem.scm
    act = [r.name for r in problem.rules if not r.blocked]
    changing = frozenset(act) | scm.descendants(act)
    if len(changing) > MAX_CHANGING:
        return (f"more than {MAX_CHANGING} changing variables: the effect ranges would take most of the time "
                "(the MILP pipeline's time is kept)")
    structural = [k for k in act if ex.names(scm.equations[k]) & changing]
    if 2 ** len(structural) <= lp.MAX_PATTERNS:
        return f"few intervention patterns (<= {lp.MAX_PATTERNS}): the MILP settles these quickly"
    return None


def _linear_system(problem: RecourseProblem, changing: list[str]) -> np.ndarray | None:
    """B over the changing nodes (d_k = sum_j B_kj d_j when k follows its equation), or None when an equation
    is not affine in its changing parents for this person."""
    scm = problem.scm
    m = len(changing)
    consts = {scm.variable(nm).noise_name: np.array([problem.noise[j]]) for j, nm in enumerate(scm.names)}
    consts.update({nm: np.array([problem.x[j]]) for j, nm in enumerate(scm.names) if nm not in changing})
    env = {}
    for k, nm in enumerate(changing):
        piece = np.zeros((1, m + 1))
        piece[0, k] = 1.0
        env[nm] = Pwl.affine(piece)
    B = np.zeros((m, m))
    for k, nm in enumerate(changing):
        if scm.variable(nm).levels:
            return None
        try:
            v = lift(scm.equations[nm], consts, env, 1, m)
        except (NotPiecewise, KeyError):
            return None
        if isinstance(v, Pwl):
            if v.curvature != 0 or len(v.pieces) != 1 or not np.all(np.isfinite(v.pieces[0])):
                return None
            B[k] = v.pieces[0][0, :m]
    if np.any(np.triu(B) != 0.0):
        return None
    return B


def search(problem: RecourseProblem, deadline: float) -> SearchOutcome | None:
    """A proven-optimal outcome (state OPTIMAL), an unproven one (LIMIT: the best single mover and a valid lower
    bound), or None (ineligible, not linear, no single mover reaches the threshold within its bounds, time)."""
    return None if ineligible(problem) is not None else search_eligible(problem, deadline)


def search_eligible(problem: RecourseProblem, deadline: float) -> SearchOutcome | None:
    """`search` for a problem `ineligible` already accepted (the pipeline asks strategy.linear_scm_reason first)."""
    t0 = time.perf_counter()
    scm = problem.scm
    score = lp.linear_score(problem.classifier, len(problem.features), problem.options.target_class)
    if score is None:
        return None
    feat = [scm.index(f) for f in problem.features]
    s0 = float(problem.x[feat] @ score.weights + score.intercept)
    ref, _ = reference_score(problem.classifier, problem.x[feat].reshape(1, -1), problem.options.target_class)
    if abs(s0 - float(ref[0])) > lp.SCORE_CHECK_TOL * (1.0 + abs(float(ref[0]))):
        return None
    rules = {r.name: r for r in problem.rules if not r.blocked}
    act = list(rules)
    moving = set(act) | scm.descendants(act)
    changing = [nm for nm in scm.names if nm in moving]
    B = _linear_system(problem, changing)
    if B is None:
        return None
    x = np.array([problem.x[scm.index(nm)] for nm in changing])
    w_all = dict(zip(problem.features, score.weights))
    w = np.array([w_all.get(nm, 0.0) for nm in changing])
    c = np.array([problem.cost.scale * rules[nm].weight / rules[nm].divisor if nm in rules else np.inf
                  for nm in changing])
    lo = np.array([rules[nm].lower - xk if nm in rules else 0.0 for nm, xk in zip(changing, x)])
    hi = np.array([rules[nm].upper - xk if nm in rules else 0.0 for nm, xk in zip(changing, x)])
    mover = np.array([nm in rules for nm in changing])
    if np.any(mover & ~((c > 0) & np.isfinite(c))) or np.any(lo > 0) or np.any(hi < 0):
        return None   # a zero / non-finite cost, or a factual outside its own bounds (no free hold)
    r = score_threshold(score.kind, problem.options.threshold) + problem.options.margin - s0
    if r <= 0:
        return None
    found = _prove(B, w, c, lo, hi, mover, r, deadline, prove=len(changing) <= MAX_PROVE)
    if found is None:
        return None
    i, sign, g, held, bound_eff, states, proven = found
    shift = r / g
    action = {changing[i]: float(x[i] + shift)}
    d = shifts(B, i, held)
    for k in np.flatnonzero(held):
        if k != i and (B[k] @ d) != 0.0:   # a hold that blocks a response (others change nothing)
            action[changing[k]] = float(x[k])
    cost = float(c[i] * abs(shift))
    lower = min(cost, r / bound_eff) if bound_eff > 0 else cost
    seconds = time.perf_counter() - t0
    state = SearchState.OPTIMAL if proven else SearchState.LIMIT
    step = PathStep(ENGINE, seconds, state if proven else "bound", {"states": states})
    return SearchOutcome(action, cost, lower, state, seconds, rounds=states, engine=ENGINE, path=[step],
                         reasons={e: REASON for e in st.ENGINES} if proven else {})


def _prove(B: np.ndarray, w: np.ndarray, c: np.ndarray, lo: np.ndarray, hi: np.ndarray, mover: np.ndarray,
           r: float, deadline: float, prove: bool = True
           ) -> tuple[int, int, float, np.ndarray, float, int, bool] | None:
    """(mover, sign, its g, holds, proven max efficiency, states, proven) of the best single mover found within
    its bounds; proven: no other action is cheaper. Unproven when a better mover needs a shift past its bound,
    the budget or the deadline ends the proof, or `prove` is False (the efficiency is then the largest bound
    still open, valid for every action). None when the ranges miss the deadline or no mover fits its bounds."""
    ranges = effect_ranges(B, w, mover, RANGE_BUDGET, deadline, local=prove)
    if ranges is None:
        return None
    states = sum(s.states for s in ranges.best_max + ranges.best_min)
    # candidate (node, sign): sign +1 moves up (needs g > 0, room hi), -1 down (g < 0, room lo)
    cands = [(i, s) for i in np.flatnonzero(mover) for s in (1, -1) if (hi[i] if s == 1 else -lo[i]) > 0]
    best: tuple[float, int, int, float, np.ndarray] | None = None   # (efficiency, i, sign, g, holds)
    found = {(i, s): (ranges.best_max[i] if s == 1 else ranges.best_min[i]) for i, s in cands}
    bounds = {(i, s): (ranges.upper[i] if s == 1 else -ranges.lower[i]) for i, s in cands}

    def consider(i: int, s: int, g: float, held: np.ndarray) -> bool:
        """Take (i, held) as the incumbent if better; False when its shift would pass i's bound."""
        nonlocal best
        eff = s * g / c[i]
        if eff <= 0 or (best is not None and eff <= best[0]):
            return True
        if r / abs(g) > (hi[i] if s == 1 else -lo[i]):
            return False
        best = (eff, i, s, g, held)
        return True

    def by_bound(keys) -> list[tuple[int, int]]:
        """The candidates, largest effect bound per unit cost first (those that may still beat the incumbent)."""
        return sorted(keys, key=lambda k: -bounds[k] / c[k[0]])

    # a better mover past its bound cannot be the incumbent, and its action may need others: no proof then
    fits = [consider(i, s, f.best, f.held) for (i, s), f in found.items()]   # every one (no short cut)
    proven = prove and all(fits)
    if not prove:   # the ranges started from no holds: improve the movers that may be best by local search
        for i, s in by_bound(cands)[:LOCAL_TOP]:
            if time.perf_counter() > deadline:
                break
            value, held = local_search(B, s * w, i, mover, found[(i, s)].held)
            consider(i, s, s * value, held)
    if best is None:
        return None
    pending = by_bound(cands) if proven else []
    at_most: dict[tuple[int, int], float] = {}   # what a target search proved, valid when the proof fails
    while pending:
        if time.perf_counter() > deadline:
            proven = False
            break
        i, s = pending.pop(0)
        tau = best[0] * c[i]
        if bounds[(i, s)] <= tau * (1 + PROOF_TOL):
            continue
        ww, L, U = (w, ranges.lower, ranges.upper) if s == 1 else (-w, -ranges.upper, -ranges.lower)
        f = found[(i, s)]
        start = (s * f.best, f.held)
        res = max_effect(B, ww, i, mover, L, U, start, target=tau * (1 + PROOF_TOL), budget=PROOF_BUDGET,
                         deadline=deadline)
        states += res.states
        if res.best > tau * (1 + PROOF_TOL):   # a better mover: its own maximum, then re-prove the others
            res = max_effect(B, ww, i, mover, L, U, (res.best, res.held), budget=PROOF_BUDGET, deadline=deadline)
            states += res.states
            usable = consider(i, s, s * res.best, res.held)
            bounds[(i, s)] = min(bounds[(i, s)], res.bound)
            if not usable or res.bound > best[0] * c[i] * (1 + PROOF_TOL):
                proven = False   # past its bound, or its own maximum not proven within the budget
                break
            pending = by_bound(set(pending) | {k for k in cands if k != (i, s)})
            continue
        # (a search with a target prunes below it: what it proves is max(its bound, the target), not its bound)
        at_most[(i, s)] = min(bounds[(i, s)], max(res.bound, tau * (1 + PROOF_TOL)))
        bounds[(i, s)] = min(bounds[(i, s)], res.bound)
        if res.bound > tau * (1 + PROOF_TOL):
            proven = False   # budget spent without a proof
            break
    eff, i, s, g, held = best
    if not proven:
        bounds.update(at_most)
    bound_eff = max([bounds[k] / c[k[0]] for k in cands] + [eff])
    return i, s, g, held, bound_eff, states, proven


__all__ = ["ENGINE", "REASON", "ineligible", "search", "search_eligible"]
