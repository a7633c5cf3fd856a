"""search_compiled: a compiled instance to proven optimality, and decoding a MILP point into an action.

Small linear models on HiGHS: best-first branch and bound on a kept relaxation (small_bnb). Otherwise one
MILP for p = 1; for p = 2 (separable convex) the MILP carries tangent cuts of d_k^2 (a valid lower bound),
each MILP solution's binary pattern is polished by a convex QP (an exact upper bound), and cuts are added at
the QP optimum until the proven gap closes. A tangent at a QP optimum makes that pattern's lower bound exact,
so few rounds are needed.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from milp_recourse.backends import MIPSolution, SolverParams, Termination, get_backend
from milp_recourse.backends.highs_session import HighsSession
from milp_recourse.encode.compile import CompiledInstance, tangent_row_scale
from milp_recourse.encode.plausibility import with_density_cuts
from milp_recourse.errors import BackendError
from milp_recourse.mip.ir import MIPModel
from milp_recourse.mip.scaling import equilibrate, needs_equilibration, objective_factor, scaled_model
from milp_recourse.problem.options import FeatureRule
from milp_recourse.problem.recourse_problem import RecourseProblem
from milp_recourse.result import PathStep, SearchState
from milp_recourse.solver.answer_rules import nudged_outward
from milp_recourse.solver.incumbent import Incumbent
from milp_recourse.solver.interval_costs import interval_rows
from milp_recourse.solver.small_bnb import branch_and_bound
from milp_recourse.solver.strategy import MILP, OUTER_APPROX, SMALL_BNB, small_bnb_reason
from milp_recourse.solver.verify import Verification, verify_action

MAX_OA_ROUNDS = 40
BNB_NODE_LIMIT = 200  # beyond this (~0.05 s) the small branch and bound hands the model to the MILP solver
CONTRADICTION_TOL = 1e-6   # relative: a proven bound this far above a verified action's cost is a solver error
NUMERIC_GAP = 1e-6   # relative: a MILP point may use its 1e-7 feasibility tolerance, and sit this far below the optimum
POLISH_RETRY_TOLS = (1e-5, 1e-4)  # feasibility tolerances of the QP polish's further tries (see _solve_polish)
TIGHT_TOL = 1e-9   # feasibility tolerance of a re-solve whose point met the score margin only within tolerance
STALL_ROUNDS = 4  # stop when the lower bound has not moved (relative 1e-9) for this many rounds
# HiGHS looks at its clock only between root LP / cut rounds and nodes, and on a 1 000-column tree MILP has stopped
# 0.07-0.08 s past its limit: the MILP gets this share of the whole time limit (at most SOLVER_SLACK_MAX s) less
SOLVER_SLACK_SHARE = 0.05
SOLVER_SLACK_MAX = 0.1


@dataclass
class SearchOutcome:
    """Best action found, its recomputed cost, the proven lower bound and why the search stopped."""

    action: dict[str, float] | None
    cost: float
    lower_bound: float
    state: SearchState
    seconds: float = 0.0
    rounds: int = 0
    message: str = ""
    engine: str = "milp"    # 'milp', or box_search.BOX_ENGINE when the box search settled the person
    path: list[PathStep] = field(default_factory=list)     # the engines that ran, in order (result.path)
    reasons: dict[str, str] = field(default_factory=dict)  # engine -> why it was not taken (result.path_reasons)
    verified: bool | None = None   # whether `action` passed verify_action here (None: not checked here)


def decode(compiled: CompiledInstance, problem: RecourseProblem, xvec: np.ndarray) -> dict[str, float]:
    """The action encoded by a MILP point (snapped to grids, integers and the person's bounds)."""
    fx = problem.factual
    action = {}
    for name, a in compiled.a_cols.items():
        if compiled.model.integrality[a] and xvec[a] <= 0.5:
            continue  # (a continuous indicator: the shift alone says whether there is an intervention)
        rule = problem.rule(name)
        if name in compiled.grid_cols:
            cols = compiled.grid_cols[name]
            theta = max(cols, key=lambda cv: xvec[cv[0]])[1]
        else:
            shift = float(xvec[compiled.d_cols[name]])
            if abs(shift) <= _no_shift(rule) and name not in compiled.xp_cols:
                continue  # do(X_k := x_k) on a feature whose parents do not change is no intervention
            theta = fx[name] + shift
            if rule.integer:
                theta = float(round(theta))
            theta = float(min(max(theta, rule.lower), rule.upper))
        action[name] = theta
    return action


def _no_shift(rule: FeatureRule) -> float:
    """A shift this small is no change: 1e-9, or 1e-9 of the feature's range where that is narrower than 1 (a
    feature in units 2^-13: the 1e-9 shift that crosses the threshold is a real one)."""
    width = rule.upper - rule.lower
    return 1e-9 * min(1.0, width) if math.isfinite(width) and width > 0 else 1e-9


def _with_cuts(model: MIPModel, cuts: list[tuple[int, int, float, float]]) -> MIPModel:
    """Append tangent cuts t >= c (2 q d - q^2) as rows (t prices c d^2, in cost units)."""
    if not cuts:
        return model
    rows, cols, vals, lo = [], [], [], []
    for i, (t, d, q, c) in enumerate(cuts):
        norm = tangent_row_scale(min(float(model.col_ub[t]), c * q * q))  # O(1) terms near the tangent point
        rows += [i, i]
        cols += [t, d]
        vals += [norm, -2.0 * q * c * norm]
        lo.append(-q * q * c * norm)
    extra = sp.csr_matrix((vals, (rows, cols)), shape=(len(cuts), model.n_cols))
    return dataclasses.replace(model, A=sp.vstack([model.A, extra], format="csr"),
                               row_lo=np.concatenate([model.row_lo, lo]),
                               row_hi=np.concatenate([model.row_hi, np.full(len(cuts), np.inf)]),
                               row_groups=model.row_groups + ("cost:cut",) * len(cuts))


def _cuts_bite(compiled: CompiledInstance, xvec: np.ndarray, lower: float, mip_gap: float,
               seen: set[tuple[int, float]]) -> bool:
    """Whether the MILP's point prices its shifts below d^2 by more than the gap at tangent points not cut yet: the
    new cuts then cut it off, which is progress even while the bound stays. With wide domains the first tangent
    points sit far apart, the MILP moved through the free region around 0 for rounds at bound 0, and the search
    stopped as 'stalled' at 10x the optimum (an outside fuzz, 15 of ~40 people with domains of +-3.3e5)."""
    short = 0.0
    for name, t in compiled.t_cols.items():
        d = float(xvec[compiled.d_cols[name]])
        if (t, round(d, 12)) not in seen:
            short += max(compiled.cost_coef[name] * d * d - float(xvec[t]), 0.0)
    return short > max(mip_gap * lower, 1e-9)


def _fixed_pattern(model: MIPModel, xvec: np.ndarray) -> MIPModel:
    """The LP left when every integer column is fixed at its rounded value in xvec."""
    lb, ub = model.col_lb.copy(), model.col_ub.copy()
    ints = np.flatnonzero(model.integrality)
    lb[ints] = ub[ints] = np.round(xvec[ints])
    return dataclasses.replace(model, col_lb=lb, col_ub=ub, integrality=np.zeros(model.n_cols, bool))


def _polish_qp(compiled: CompiledInstance, xvec: np.ndarray) -> MIPModel:
    """Fix the integer pattern of xvec and replace the cut epigraphs by the exact quadratic.

    The epigraph columns t_k leave the model with every row that holds one (tangent rows, the cost cutoff):
    the quadratic prices d_k exactly, so those rows only relax, and a tiny-cost person's tangent rows (scaled by
    1 / t_max up to ~1e4) made HiGHS's QP solver end in "solve error" on 1e-4 infeasibilities (CARMA: nearly
    every polish QP, three tries each, before this).
    """
    m = _fixed_pattern(compiled.model, xvec)
    c = m.c.copy()
    q = np.zeros(m.n_cols)
    lb, ub = m.col_lb.copy(), m.col_ub.copy()
    t_cols = np.fromiter(compiled.t_cols.values(), int, len(compiled.t_cols))
    for name, t in compiled.t_cols.items():
        c[t] = 0.0
        lb[t] = ub[t] = 0.0
        q[compiled.d_cols[name]] = 2.0 * compiled.cost_coef[name] * compiled.objective_scale
    A = m.A.tocsr()
    holds_t = np.zeros(m.n_rows, bool)
    if t_cols.size:
        holds_t[A[:, t_cols].nonzero()[0]] = True
    keep = np.flatnonzero(~holds_t)
    return dataclasses.replace(m, c=c, q_diag=q, col_lb=lb, col_ub=ub, A=A[keep], row_lo=m.row_lo[keep],
                               row_hi=m.row_hi[keep], row_groups=tuple(m.row_groups[i] for i in keep))


def _solve_polish(backend, qp: MIPModel, time_limit: float) -> MIPSolution:
    """The pattern's convex QP, tried again at the looser POLISH_RETRY_TOLS while HiGHS's QP solver returns no
    point without proving infeasibility (it claims optimality with 1e-6 infeasibilities when the d_k^2 weights
    span 1e0..1e3, or cycles until its iteration limit: 7 of 10 CARMA people lost their polish and needed
    extra outer-approximation rounds). The point is only a candidate: it is re-checked like any other, and a
    tangent cut is valid wherever it touches."""
    sol = _run_backend(backend, qp, SolverParams(time_limit=time_limit))
    seconds = sol.seconds
    for tol in POLISH_RETRY_TOLS:
        if sol.x is not None or sol.termination is Termination.INFEASIBLE:
            break
        sol = _run_backend(backend, qp, SolverParams(time_limit=time_limit, feasibility_tol=tol))
        seconds += sol.seconds
    return dataclasses.replace(sol, seconds=seconds)


def _search_small(compiled: CompiledInstance, problem: RecourseProblem, deadline: float,
                  session: HighsSession | None) -> SearchOutcome:
    """Branch and bound on a (kept) HiGHS relaxation; state 'limit' when it could not settle the model."""
    t = time.perf_counter()
    session = session if session is not None else HighsSession(threads=problem.options.threads)
    session.load(compiled.model)
    out = branch_and_bound(session, compiled.model, problem.options.mip_gap, BNB_NODE_LIMIT, deadline)
    seconds = time.perf_counter() - t
    if out.state == "infeasible":
        return SearchOutcome(None, np.inf, np.inf, SearchState.INFEASIBLE, seconds, out.nodes)
    if out.state != "optimal":
        return SearchOutcome(None, np.inf, -np.inf, SearchState.LIMIT, seconds, out.nodes)
    action = decode(compiled, problem, out.x)
    cost, _ = problem.action_cost(action)
    lower = out.bound / compiled.objective_scale
    if not gap_closed(cost, lower, problem.options.mip_gap):
        # the decoded action (snapped to grids, integers, bounds) costs more than the relaxation proved: the model
        # and the action disagree, so nothing is proven here; the MILP solver takes over and reports any gap
        return SearchOutcome(None, np.inf, -np.inf, SearchState.LIMIT, seconds, out.nodes)
    return SearchOutcome(action, cost, lower, SearchState.OPTIMAL, seconds, out.nodes)


def _recheck(compiled: CompiledInstance, problem: RecourseProblem,
             xvec: np.ndarray) -> tuple[dict[str, float], Verification]:
    """A MILP point's action and its independent re-check (made once per solve and shared by the rules below)."""
    action = decode(compiled, problem, xvec)
    return action, verify_action(problem, action)


def _verified_at_its_objective(problem: RecourseProblem, sol: MIPSolution, scale: float, action: dict[str, float],
                               ver: Verification) -> bool:
    """Whether a linear MILP's point (decoded to `action`, re-checked as `ver`) passes the re-check at the cost the
    solver saw and with the score margin the model asked for (at least half of it: not met only through the rows'
    tolerance)."""
    if not ver.ok or _short_of_margin(problem, ver):
        return False
    seen = sol.objective / scale
    return problem.action_cost(action)[0] <= seen + max(NUMERIC_GAP * abs(seen), 1e-9)


def _short_of_margin(problem: RecourseProblem, ver: Verification) -> bool:
    """Whether a re-checked action's score falls below the threshold plus half the model's margin: the MILP met
    the margin only within its rows' tolerance (a person 6e-9 from the edge, features in units 2^-13 .. 2^20: the
    point's true score was 3.6e-7 of a 1e-6 margin, and it was called OPTIMAL at half the margin model's optimum)."""
    margin = problem.options.margin
    if margin <= 0.0 or ver.score is None or ver.score_threshold is None:
        return False
    return bool(ver.score < ver.score_threshold + 0.5 * margin)


def gap_closed(cost: float, lower: float, mip_gap: float) -> bool:
    """Whether a verified action's cost is proven optimal by `lower`: within the relative mip_gap, or within
    NUMERIC_GAP (the solver's optimum of a model met to 1e-7 may lie that far below the exact one: a tree MILP's
    bound 1.4e-7 under its decoded optimum, which exhaustive enumeration confirmed, at mip_gap 1e-9)."""
    return cost - lower <= max(max(mip_gap, NUMERIC_GAP) * abs(cost), 1e-9)


def _run_backend(backend, model: MIPModel, params: SolverParams, magnitude: float = np.nan) -> MIPSolution:
    """backend.solve, on the model equilibrated when its coefficients span more than EQUILIBRATE_SPAN (features
    in units far apart: mip/scaling.py), with the point, objective and bound read back in the model's own units.
    A solver's own failure mid-search comes back as Termination.ERROR (SCIP's LP error -6 on CARMA polish QPs
    whose costs are ~2e-5: the polish then has no point; a failed MILP ends the search, reported in the
    result's message with the verified incumbent (FEASIBLE) or no action (UNKNOWN)).
    `magnitude`: the objective's expected value (a verified cost) when known; an equilibrated objective is then
    scaled to about 1 (costs of 1e-5 with coefficients of 1: the LP bound came out 2 % above the optimum)."""
    t = time.perf_counter()
    eq = equilibrate(model) if needs_equilibration(model) else None
    if eq is not None and np.isfinite(magnitude) and magnitude > 0:
        eq = dataclasses.replace(eq, objective=objective_factor(magnitude))
    if eq is not None:
        model = scaled_model(model, eq)
        params = dataclasses.replace(
            params, start=None if params.start is None else eq.scale_point(params.start),
            objective_cutoff=None if params.objective_cutoff is None else params.objective_cutoff * eq.objective)
    try:
        sol = backend.solve(model, params)
    except BackendError as exc:
        return MIPSolution(Termination.ERROR, None, np.inf, -np.inf, time.perf_counter() - t, backend.name, str(exc))
    if eq is None:
        return sol
    return dataclasses.replace(sol, x=None if sol.x is None else eq.unscale_point(sol.x),
                               objective=sol.objective / eq.objective, bound=sol.bound / eq.objective,
                               seconds=time.perf_counter() - t)


def _standing(best: SearchOutcome, best_ok: bool, action: dict[str, float], cost: float,
              problem: RecourseProblem, known_ok: bool | None = None) -> bool | None:
    """None when a candidate does not replace the best action, else whether it passes the re-check.

    A verified action beats an unverified one whatever their costs (a person must never end VERIFICATION_FAILED
    when a valid action was found), then the cheaper wins among actions of the same standing. `known_ok`: the
    re-check's verdict when the caller already has it (not repeated)."""
    cheaper = best.action is None or cost < best.cost - 1e-12
    if best_ok and not cheaper:
        return None
    ok = verify_action(problem, action).ok if known_ok is None else known_ok
    if ok or (cheaper and not best_ok):
        return ok
    return None


def _take_nudged(best: SearchOutcome, best_ok: bool, problem: RecourseProblem, action: dict[str, float]) -> bool:
    """Whether `action` moved outward by a hair (answer_rules.nudged_outward) passes the re-check and replaces the
    best action (then set in `best`). A point on a closed SCM edge decodes a float past it (x + shift rounds), so
    the optimum the MILP found was refused round after round while its bound sat on it: an outside fuzz got the
    incumbent 0.29446, FEASIBLE 'bound stalled', where the MILP's own point, a float inward, costs 0.29424."""
    nudged = nudged_outward(problem, action)
    if nudged is None or _standing(best, best_ok, nudged[0], nudged[1].cost, problem, True) is None:
        return False
    best.action, best.cost = nudged[0], nudged[1].cost
    return True


def _proven(bound: float, cutoff: float | None) -> float:
    """What a MIP run proves about the optimum: its dual bound, but no more than the cutoff (solutions above
    the cutoff were never searched, so a dual bound past it says nothing about them)."""
    return bound if cutoff is None else min(bound, cutoff)


def search_compiled(compiled: CompiledInstance, problem: RecourseProblem, inc: Incumbent | None,
                    use_cutoff: bool, deadline: float, session: HighsSession | None = None,
                    presolve_probing: bool = True, sub_mips: bool = True, restarts: bool = True,
                    cancel: threading.Event | None = None) -> SearchOutcome:
    """_search_compiled, checked: a proven lower bound above the verified action's own cost is a solver error
    (HiGHS 1.16's presolve cut the optimum off a tree MILP: backends/highs.py _rules_off), so such a search runs
    again without presolve, and its last path step counts `presolve_retries` (not for a piecewise-linear SCM,
    whose model's bound is the approximation's and may pass a true cost)."""
    args = (compiled, problem, inc, use_cutoff, deadline, session, presolve_probing, sub_mips, restarts, cancel)
    out = _search_compiled(*args)
    if compiled.approx_error > 0.0 or not _bound_passes_action(out):
        return out
    again = _search_compiled(*args, presolve=False)
    last = again.path[-1]
    again.path[-1] = PathStep(last.engine, last.seconds, last.outcome, {**last.counters, "presolve_retries": 1})
    again.seconds += out.seconds
    if _bound_passes_action(again):
        # still a bound past the search's own verified action: the model is too badly scaled for the solver's
        # tolerances (domains x 1e6: OPTIMAL 0.0025 with bound 11.57, where 9.3e-5 is right). Nothing is proven
        again.state, again.lower_bound = SearchState.LIMIT, -np.inf
        last = again.path[-1]
        again.path[-1] = PathStep(last.engine, last.seconds, SearchState.LIMIT, last.counters)
        again.message = ("The solver's lower bound passed its own verified action's cost (a badly scaled model: "
                         "domains or units far apart); no bound is proven.")
    return again


def _bound_passes_action(out: SearchOutcome) -> bool:
    """Whether a search's proven lower bound lies above its own verified action's cost: a solver error."""
    return bool(out.verified and out.action is not None
                and out.lower_bound > out.cost * (1 + CONTRADICTION_TOL) + 1e-9)


def _search_compiled(compiled: CompiledInstance, problem: RecourseProblem, inc: Incumbent | None,
                     use_cutoff: bool, deadline: float, session: HighsSession | None = None,
                     presolve_probing: bool = True, sub_mips: bool = True, restarts: bool = True,
                     cancel: threading.Event | None = None, presolve: bool = True) -> SearchOutcome:
    """Solve a compiled instance to proven optimality (MILP, or outer approximation + QP polish for p = 2).

    Without an incumbent, small linear models on HiGHS go to the branch and bound over a kept relaxation
    (`session`, reused across people by solve_many; the rule is strategy.small_bnb_reason) and to the MILP
    solver only when that cannot settle them. The outcome's `path` records each engine that ran.
    `presolve_probing` False skips probing in the MILP solver's presolve (budget_schedule.py: tree ensembles);
    `sub_mips` False keeps the solver's sub-MIP heuristics off even without an incumbent (budget stages);
    `restarts` False forbids restarting the MIP search after root reductions (tree-ensemble budget stages).
    `cancel`, once set, stops the backend's solve early (budget_schedule.py's stages running ahead).
    """
    opts = problem.options
    t_small = 0.0
    steps: list[PathStep] = []
    if inc is None and small_bnb_reason(problem, compiled) is None:
        small = _search_small(compiled, problem, deadline, session)
        steps.append(PathStep(SMALL_BNB, small.seconds, small.state, {"nodes": small.rounds}))
        if small.state != "limit":
            small.path = steps
            return small
        t_small = small.seconds  # a big tree: HiGHS's MIP solver (presolve, cuts) takes over
    compiled = interval_rows(problem, compiled)   # tree ensembles: crossing a split costs (interval_costs.py)
    backend = get_backend(opts.backend)
    # the QP polish needs a continuous convex QP solver: HiGHS (a core dependency) when the MILP backend has none
    qp_backend = backend if backend.capabilities.quadratic_lp else get_backend("highs")
    best = SearchOutcome(inc.action if inc else None, inc.cost if inc else np.inf, -np.inf, SearchState.UNKNOWN)
    best_ok = inc is not None   # whether best.action passed the re-check (an incumbent always has)
    cuts: list[tuple[int, int, float, float]] = []
    density_cuts: list = []   # plausibility by log-density: supporting rows of the ball (encode/plausibility.py)
    seen: set[tuple[int, float]] = set()
    t_solve = t_small
    stalled = 0
    rounds = MAX_OA_ROUNDS if (compiled.quadratic or compiled.density is not None) else 1
    for rnd in range(1, rounds + 1):
        left = deadline - time.perf_counter()
        if left <= 0:
            best.state = SearchState.LIMIT if best.action is not None else SearchState.UNKNOWN
            break
        scale = compiled.objective_scale
        cutoff = best.cost * scale * (1 + 1e-7) + 1e-9 if (use_cutoff and np.isfinite(best.cost)) else None
        slack = min(SOLVER_SLACK_SHARE * opts.time_limit, SOLVER_SLACK_MAX, 0.5 * left)
        params = SolverParams(time_limit=left - slack, mip_gap=opts.mip_gap, threads=opts.threads,
                              objective_cutoff=cutoff,
                              sub_mip_heuristics=sub_mips and best.action is None, presolve_probing=presolve_probing,
                              restarts=restarts, cancel=cancel, presolve=presolve)
        model = with_density_cuts(_with_cuts(compiled.model, cuts), density_cuts)
        sol = _run_backend(backend, model, params, best.cost * scale)
        t_solve += sol.seconds
        point = None   # a linear model's MILP point: (its action, its re-check)
        if not compiled.quadratic and sol.x is not None:
            point = _recheck(compiled, problem, sol.x)
            if params.feasibility_tol > TIGHT_TOL and point[1].ok and _short_of_margin(problem, point[1]):
                # the point meets the score margin only within the rows' tolerance (its true score 3.6e-7 of a
                # 1e-6 margin, features in units far apart): the same MILP again at tight tolerances
                tight = _run_backend(backend, model, dataclasses.replace(params, feasibility_tol=TIGHT_TOL),
                                     best.cost * scale)
                t_solve += tight.seconds
                if tight.x is not None:
                    sol, point = tight, _recheck(compiled, problem, tight.x)
        best.rounds = rnd
        if sol.termination is Termination.INFEASIBLE:
            if best.action is not None and (best_ok or compiled.density is None):   # nothing beats the incumbent
                best.lower_bound, best.state = best.cost, SearchState.OPTIMAL
            else:   # (with density cuts, an action failing the re-check is no incumbent: the cuts proved none)
                best.action, best.cost, best.state = None, np.inf, SearchState.INFEASIBLE
            break
        if sol.termination in (Termination.ERROR, Termination.UNBOUNDED):
            best.state, best.message = SearchState.ERROR, f"{sol.backend}: {sol.message}"
            break
        if sol.x is None:                         # limit without a solution
            best.lower_bound = max(best.lower_bound, _proven(sol.bound, cutoff) / scale)
            best.state = SearchState.LIMIT if best.action is not None else SearchState.UNKNOWN
            break
        new_lb = _proven(sol.bound, cutoff) / scale
        stalled = stalled + 1 if new_lb <= best.lower_bound + 1e-9 * abs(best.lower_bound) else 0
        best.lower_bound = max(best.lower_bound, new_lb)
        candidates: list[tuple[np.ndarray, bool | None]] = [(sol.x, None)]   # (point, its re-check if known)
        if compiled.quadratic:
            qp = _solve_polish(qp_backend, _polish_qp(dataclasses.replace(
                compiled, model=with_density_cuts(compiled.model, density_cuts)), sol.x), max(left, 1.0))
            t_solve += qp.seconds
            if qp.x is not None:
                candidates.append((qp.x, None))
        elif point is not None and _verified_at_its_objective(problem, sol, compiled.objective_scale, *point):
            candidates = [(sol.x, True)]
        else:
            # a MIP point is integral only to 1e-7, which a big-M row turns into a 1e-7 * M drift of a
            # counterfactual; and a shift within the solver's tolerance is still a change to the re-check (2e-9 on
            # a feature priced 1e4 per unit: 2.5x the optimum, an outside fuzz): re-solve the point's binary
            # pattern as an LP with integers fixed and a tight tolerance
            lp = _run_backend(qp_backend, _fixed_pattern(with_density_cuts(compiled.model, density_cuts), sol.x),
                              SolverParams(time_limit=max(left, 1.0), feasibility_tol=1e-9))
            t_solve += lp.seconds
            candidates = ([(lp.x, None)] if lp.x is not None else []) + [(sol.x, None)]
            short = point is not None and point[1].ok and _short_of_margin(problem, point[1])
            if short and lp.x is not None and verify_action(problem, decode(compiled, problem, lp.x)).ok:
                candidates = [(lp.x, True)]   # the tight LP's point, not one short of the margin
        if compiled.quadratic and _cuts_bite(compiled, sol.x, best.lower_bound, opts.mip_gap, seen):
            stalled = 0
        for xv, known_ok in candidates:
            action = decode(compiled, problem, xv)
            cost, _ = problem.action_cost(action)
            cheaper = best.action is None or cost < best.cost - 1e-12
            standing = _standing(best, best_ok, action, cost, problem, known_ok)
            if standing is not None:
                best.action, best.cost, best_ok = action, cost, standing
            if standing is not True and cheaper and _take_nudged(best, best_ok, problem, action):
                best_ok = True   # (a cheaper point the re-check refused: a float past a closed edge)
            for name, t in compiled.t_cols.items():
                if compiled.quadratic:
                    d = float(xv[compiled.d_cols[name]])
                    key = (t, round(d, 12))
                    if key not in seen:
                        seen.add(key)
                        cuts.append((t, compiled.d_cols[name], d, compiled.cost_coef[name]))
            cut = compiled.density.cut(xv) if compiled.density is not None else None
            if cut is not None:
                density_cuts.append(cut)
                stalled = 0   # a new cut is progress even where the bound stays (a flat optimal face)
        if gap_closed(best.cost, best.lower_bound, opts.mip_gap) and (best_ok or compiled.density is None):
            best.state = SearchState.OPTIMAL   # (a density cut round goes on while the best action fails the re-check)
            break
        if sol.termination is Termination.FEASIBLE or stalled >= STALL_ROUNDS:  # a limit, or no progress
            best.state = SearchState.LIMIT
            best.message = "" if stalled < STALL_ROUNDS else (
                "The lower bound stalled (solver tolerances); the gap is reported.")
            break
        best.state = SearchState.LIMIT
        if rnd == rounds:   # no limit was hit: the solver's optimum was not verified, or the rounds ran out
            best.message = (f"The outer approximation's {rounds} rounds ran out; the gap is reported."
                            if rounds > 1 else "The solver's optimum failed the independent re-check (solver "
                            "tolerances); the cheapest verified action is reported with its gap.")
    best.seconds = t_solve
    best.verified = best_ok if best.action is not None else None
    engine = OUTER_APPROX if compiled.quadratic else MILP
    steps.append(PathStep(engine, t_solve - t_small, best.state, {"rounds": best.rounds}))
    best.path = steps
    return best


__all__ = ["SearchOutcome", "decode", "search_compiled"]
