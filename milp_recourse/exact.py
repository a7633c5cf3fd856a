"""solve(problem): heuristic bound -> compile -> MILP (outer approximation for p = 2) -> decode -> verify.

For p = 2 the cost is separable and convex per feature: the MILP carries tangent cuts of
d_k^2 (a valid lower bound), each MILP solution's binary pattern is polished by a convex QP
(an exact upper bound), and cuts are added at the QP optimum until the proven gap closes.
A tangent at a QP optimum makes that pattern's lower bound exact, so few rounds are needed.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .backends import SolverParams, Termination, get_backend
from .backends.highs_session import HighsSession
from .compile import CompiledInstance, compile_problem
from .encode.scm_plan import PlanCache
from .heuristic import Incumbent, random_search
from .local_polish import polish
from .ir import MIPModel
from .recourse_problem import RecourseProblem
from .result import RecourseResult, Status
from .small_bnb import branch_and_bound
from .classifiers import favourable
from .verify import Verification, verify_action

MAX_OA_ROUNDS = 40
PWL_REFINEMENTS = 3
SMALL_MODEL_INTEGERS = 16
CHEAP_HEURISTIC_SAMPLES = 256  # below this many integer columns the MILP is solved directly (no heuristic)
BNB_NODE_LIMIT = 200  # beyond this (~0.05 s) the small branch and bound hands the model to the MILP solver
MIN_SHRINK = 0.01  # bound tightening stops once no interval shrinks by this fraction of its width in a pass
STALL_ROUNDS = 4  # stop when the lower bound has not moved (relative 1e-9) for this many rounds


@dataclass
class SearchOutcome:
    """Best action found, its recomputed cost, the proven lower bound and why the search stopped."""

    action: dict[str, float] | None
    cost: float
    lower_bound: float
    state: str              # 'optimal' | 'limit' | 'infeasible' | 'unknown' | 'error'
    seconds: float = 0.0
    rounds: int = 0
    message: str = ""


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
            if abs(shift) <= 1e-9 and name not in compiled.xp_cols:
                continue  # do(X_k := x_k) on a feature whose parents do not change is no intervention
            theta = fx[name] + shift
            if rule.integer:
                theta = float(round(theta))
            theta = float(min(max(theta, rule.lower), rule.upper))
        action[name] = theta
    return action


def _with_cuts(model: MIPModel, cuts: list[tuple[int, int, float]]) -> MIPModel:
    """Append tangent cuts t >= 2 q d - q^2 as rows."""
    if not cuts:
        return model
    rows, cols, vals, lo = [], [], [], []
    for i, (t, d, q) in enumerate(cuts):
        rows += [i, i]
        cols += [t, d]
        vals += [1.0, -2.0 * q]
        lo.append(-q * q)
    extra = sp.csr_matrix((vals, (rows, cols)), shape=(len(cuts), model.n_cols))
    return dataclasses.replace(model, A=sp.vstack([model.A, extra], format="csr"),
                               row_lo=np.concatenate([model.row_lo, lo]),
                               row_hi=np.concatenate([model.row_hi, np.full(len(cuts), np.inf)]),
                               row_groups=model.row_groups + ("cost:cut",) * len(cuts))


def _fixed_pattern(model: MIPModel, xvec: np.ndarray) -> MIPModel:
    """The LP left when every integer column is fixed at its rounded value in xvec."""
    lb, ub = model.col_lb.copy(), model.col_ub.copy()
    ints = np.flatnonzero(model.integrality)
    lb[ints] = ub[ints] = np.round(xvec[ints])
    return dataclasses.replace(model, col_lb=lb, col_ub=ub, integrality=np.zeros(model.n_cols, bool))


def _polish_qp(compiled: CompiledInstance, xvec: np.ndarray) -> MIPModel:
    """Fix the integer pattern of xvec and replace the cut epigraphs by the exact quadratic."""
    m = _fixed_pattern(compiled.model, xvec)
    c = m.c.copy()
    q = np.zeros(m.n_cols)
    for name, t in compiled.t_cols.items():
        c[t] = 0.0
        q[compiled.d_cols[name]] = 2.0 * compiled.cost_coef[name] * compiled.objective_scale
    return dataclasses.replace(m, c=c, q_diag=q)


def small_linear(problem: RecourseProblem, compiled: CompiledInstance) -> bool:
    """Whether the kept-relaxation branch and bound (small_bnb) takes this model: HiGHS, linear, few integers."""
    return (problem.options.backend == "highs" and not compiled.quadratic
            and compiled.model.n_integer <= SMALL_MODEL_INTEGERS)


def _search_small(compiled: CompiledInstance, problem: RecourseProblem, deadline: float,
                  session: HighsSession | None) -> SearchOutcome:
    """Branch and bound on a (kept) HiGHS relaxation; state 'limit' when it could not settle the model."""
    t = time.perf_counter()
    session = session if session is not None else HighsSession(threads=problem.options.threads)
    session.load(compiled.model)
    out = branch_and_bound(session, compiled.model, problem.options.mip_gap, BNB_NODE_LIMIT, deadline)
    seconds = time.perf_counter() - t
    if out.state == "infeasible":
        return SearchOutcome(None, np.inf, np.inf, "infeasible", seconds, out.nodes)
    if out.state != "optimal":
        return SearchOutcome(None, np.inf, -np.inf, "limit", seconds, out.nodes)
    action = decode(compiled, problem, out.x)
    cost, _ = problem.action_cost(action)
    return SearchOutcome(action, cost, out.bound / compiled.objective_scale, "optimal", seconds, out.nodes)


def _proven(bound: float, cutoff: float | None) -> float:
    """What a MIP run proves about the optimum: its dual bound, but no more than the cutoff (solutions above
    the cutoff were never searched, so a dual bound past it says nothing about them)."""
    return bound if cutoff is None else min(bound, cutoff)


def search_compiled(compiled: CompiledInstance, problem: RecourseProblem, inc: Incumbent | None,
                    use_cutoff: bool, deadline: float, session: HighsSession | None = None) -> SearchOutcome:
    """Solve a compiled instance to proven optimality (MILP, or outer approximation + QP polish for p = 2).

    Small linear models on HiGHS go to the branch and bound over a kept relaxation (`session`, reused
    across people by solve_many) and to the MILP solver only when that cannot settle them.
    """
    opts = problem.options
    t_small = 0.0
    if inc is None and small_linear(problem, compiled):
        small = _search_small(compiled, problem, deadline, session)
        if small.state != "limit":
            return small
        t_small = small.seconds  # a big tree: HiGHS's MIP solver (presolve, cuts) takes over
    backend = get_backend(opts.backend)
    # the QP polish needs a continuous convex QP solver: HiGHS (a core dependency) when the MILP backend has none
    qp_backend = backend if backend.capabilities.quadratic_lp else get_backend("highs")
    best = SearchOutcome(inc.action if inc else None, inc.cost if inc else np.inf, -np.inf, "unknown")
    cuts: list[tuple[int, int, float]] = []
    seen: set[tuple[int, float]] = set()
    t_solve = t_small
    stalled = 0
    for rnd in range(1, (MAX_OA_ROUNDS if compiled.quadratic else 1) + 1):
        left = deadline - time.perf_counter()
        if left <= 0:
            best.state = "limit" if best.action is not None else "unknown"
            break
        scale = compiled.objective_scale
        cutoff = best.cost * scale * (1 + 1e-7) + 1e-9 if (use_cutoff and np.isfinite(best.cost)) else None
        params = SolverParams(time_limit=left, mip_gap=opts.mip_gap, threads=opts.threads, objective_cutoff=cutoff)
        sol = backend.solve(_with_cuts(compiled.model, cuts), params)
        t_solve += sol.seconds
        best.rounds = rnd
        if sol.termination is Termination.INFEASIBLE:
            if best.action is not None:          # nothing beats the incumbent
                best.lower_bound, best.state = best.cost, "optimal"
            else:
                best.state = "infeasible"
            break
        if sol.termination in (Termination.ERROR, Termination.UNBOUNDED):
            best.state, best.message = "error", f"{sol.backend}: {sol.message}"
            break
        if sol.x is None:                         # limit without a solution
            best.lower_bound = max(best.lower_bound, _proven(sol.bound, cutoff) / scale)
            best.state = "limit" if best.action is not None else "unknown"
            break
        new_lb = _proven(sol.bound, cutoff) / scale
        stalled = stalled + 1 if new_lb <= best.lower_bound + 1e-9 * abs(best.lower_bound) else 0
        best.lower_bound = max(best.lower_bound, new_lb)
        candidates = [sol.x]
        if compiled.quadratic:
            qp = qp_backend.solve(_polish_qp(compiled, sol.x), SolverParams(time_limit=max(left, 1.0)))
            t_solve += qp.seconds
            if qp.x is not None:
                candidates.append(qp.x)
        elif not verify_action(problem, decode(compiled, problem, sol.x)).ok:
            # a MIP point is integral only to 1e-7, which a big-M row turns into a 1e-7 * M drift of a
            # counterfactual: re-solve its binary pattern as an LP with integers fixed and a tight tolerance
            lp = qp_backend.solve(_fixed_pattern(compiled.model, sol.x),
                                  SolverParams(time_limit=max(left, 1.0), feasibility_tol=1e-9))
            t_solve += lp.seconds
            if lp.x is not None:
                candidates.insert(0, lp.x)
        for xv in candidates:
            action = decode(compiled, problem, xv)
            cost, _ = problem.action_cost(action)
            if best.action is None or (cost < best.cost - 1e-12 and verify_action(problem, action).ok):
                # a verified incumbent is only replaced by a cheaper action that also passes the re-check
                best.action, best.cost = action, cost
            for name, t in compiled.t_cols.items():
                if compiled.quadratic:
                    d = float(xv[compiled.d_cols[name]])
                    key = (t, round(d, 12))
                    if key not in seen:
                        seen.add(key)
                        cuts.append((t, compiled.d_cols[name], d))
        tol = max(opts.mip_gap * abs(best.cost), 1e-9)
        if best.cost - best.lower_bound <= tol:
            best.state = "optimal"
            break
        if sol.termination is Termination.FEASIBLE or stalled >= STALL_ROUNDS:  # a limit, or no progress
            best.state = "limit"
            best.message = "" if stalled < STALL_ROUNDS else (
                "The lower bound stalled (solver tolerances); the gap is reported.")
            break
        best.state = "limit"
    best.seconds = t_solve
    return best


def _interval(model: MIPModel, aff) -> tuple[float, float]:
    """Interval of an affine expression over the model's column bounds."""
    cols = np.fromiter(aff.terms.keys(), int)
    coefs = np.fromiter(aff.terms.values(), float)
    lo, hi = model.col_lb[cols], model.col_ub[cols]
    with np.errstate(invalid="ignore"):
        low = aff.const + np.sum(np.where(coefs > 0, coefs * lo, coefs * hi))
        high = aff.const + np.sum(np.where(coefs > 0, coefs * hi, coefs * lo))
    return (float(low) if not np.isnan(low) else -np.inf, float(high) if not np.isnan(high) else np.inf)


def _layers(names: list[str]) -> list[list[str]]:
    """Tightening targets in stages, in compile (topological) order: the SCM's terms, then each network layer."""
    stages: list[list[str]] = []
    keys: list[str] = []
    for n in names:
        key = n.split("[")[0] if n.startswith("clf") else "scm"
        if not keys or keys[-1] != key:
            keys.append(key)
            stages.append([])
        stages[-1].append(n)
    return stages


def _tighten(compiled: CompiledInstance, names: list[str], hints: dict[str, tuple[float, float]]) -> bool:
    """LP ranges of the named targets over compiled's relaxation, intersected into hints; whether one shrank."""
    from .backends.highs import HighsBackend

    targets = [compiled.tighten_targets[n] for n in names]
    exprs = [(np.fromiter(a.terms.keys(), int), np.fromiter(a.terms.values(), float), a.const) for a in targets]
    shrunk = False
    for n, aff, (lo, hi) in zip(names, targets, HighsBackend().affine_ranges(compiled.model, exprs)):
        pad = 1e-6 * (1.0 + max(abs(lo), abs(hi)) if np.isfinite(lo) and np.isfinite(hi) else 1.0)
        old_lo, old_hi = hints.get(n, _interval(compiled.model, aff))
        new = (max(old_lo, lo - pad), min(old_hi, hi + pad))
        shrunk = shrunk or new[1] - new[0] < (1.0 - MIN_SHRINK) * (old_hi - old_lo)
        hints[n] = new
    return shrunk


def tighten_bounds(problem: RecourseProblem, compiled: CompiledInstance, inc: Incumbent, passes: int,
                   plans: PlanCache | None = None) -> CompiledInstance:
    """LP bound tightening of every big-M source (unstable ReLU inputs, SCM terms) over {cost <= ub}, then
    recompile with the proven bounds.

    The first pass goes layer by layer, recompiling in between, so each layer's ranges are taken over a
    relaxation already tightened upstream (later passes take every target at once). Passes stop when no
    binary went away and no interval shrank by MIN_SHRINK of its width. Valid for every action at least as
    cheap as the incumbent, which is all the search needs.
    """
    hints: dict[str, tuple[float, float]] = {}
    for k in range(passes):
        if not compiled.tighten_targets:
            break
        before, shrunk = compiled.model.n_integer, False
        names = list(compiled.tighten_targets)
        for stage in (_layers(names) if k == 0 else [names]):
            stage = [n for n in stage if n in compiled.tighten_targets]  # upstream tightening may settle some
            if not stage:
                continue
            shrunk = _tighten(compiled, stage, hints) or shrunk
            compiled = compile_problem(problem, upper_bound=inc.cost, bound_hints=hints, incumbent=inc.action,
                                       plans=plans)
        if compiled.model.n_integer >= before and not shrunk:
            break  # no binary went away and no interval shrank materially: another pass will not help
    return compiled


def solve(problem: RecourseProblem, session: HighsSession | None = None) -> RecourseResult:
    """Cheapest verified recourse for one person, with proof of optimality or of infeasibility.

    When the SCM needed a piecewise-linear approximation and the answer fails the re-check on the true
    SCM only on the score, the approximation is refined (4x breakpoints) and the score margin raised by
    twice the shortfall, at most PWL_REFINEMENTS times, before the failure is reported. `session` is a
    HiGHS relaxation to reuse across calls (solve_many passes one; results do not depend on it).
    """
    res = _solve_once(problem, session)
    return refine(problem, res, session)


def refine(problem: RecourseProblem, res: RecourseResult, session: HighsSession | None = None) -> RecourseResult:
    """Re-solve with a finer piecewise-linear SCM while the only failure is the score on the true SCM."""
    for _ in range(PWL_REFINEMENTS):
        if res.status is not Status.VERIFICATION_FAILED or res.approximation_error == 0.0 or res.violations:
            break
        deficit = max(0.0, (res.score_threshold or 0.0) + problem.options.margin - (res.score or 0.0))
        finer = dataclasses.replace(problem.options, pwl_breakpoints=4 * problem.options.pwl_breakpoints - 3,
                                    margin=problem.options.margin + 2.0 * deficit)
        problem = dataclasses.replace(problem, options=finer)
        res = _solve_once(problem, session)
    return res


def _incumbent_samples(compiled: CompiledInstance, requested: int) -> int:
    """How many random actions to try for an upper bound: none for tiny models (solved directly); the full
    budget where big-M bounds (ReLU networks, SCM disjunctions) or the p = 2 outer approximation depend on
    it; a small one elsewhere (tree ensembles: the box shrink still cuts splits, but every classifier call
    is expensive)."""
    if compiled.model.n_integer <= SMALL_MODEL_INTEGERS:
        return 0
    if compiled.quadratic or compiled.tighten_targets:
        return requested
    return min(requested, CHEAP_HEURISTIC_SAMPLES)


@dataclass
class Searched:
    """A person's search before the re-check (solve_many verifies many of these in one classifier call)."""

    compiled: CompiledInstance
    search: SearchOutcome
    timings: dict[str, float]
    t0: float


def already_favourable(problem: RecourseProblem, ver: Verification, t0: float) -> RecourseResult:
    """The result for a person the classifier already favours (ver: the re-check of the empty action)."""
    return RecourseResult(Status.ALREADY_FAVOURABLE, 0.0, {}, ver.counterfactual, problem.factual, True, 0.0, 0.0,
                          0.0, time.perf_counter() - t0, problem.options.backend, {}, ver.score, ver.score_kind,
                          ver.score_threshold, message="The factual decision is already favourable.")


def _solve_once(problem: RecourseProblem, session: HighsSession | None = None) -> RecourseResult:
    """One pass of the pipeline (see the module docstring)."""
    t0 = time.perf_counter()
    opts = problem.options
    get_backend(opts.backend)  # fail fast on an unknown / missing backend
    idx = [problem.scm.index(f) for f in problem.features]
    if favourable(problem.classifier, problem.x[idx].reshape(1, -1), opts.threshold, opts.target_class)[0]:
        return already_favourable(problem, verify_action(problem, {}), t0)
    s = search_person(problem, session, t0)
    return finish(problem, s.compiled, s.search, s.timings, s.t0)


def search_person(problem: RecourseProblem, session: HighsSession | None = None, t0: float | None = None,
                  plans: PlanCache | None = None, precompiled: tuple[CompiledInstance, float] | None = None
                  ) -> Searched:
    """Compile, bound, tighten and search one person whose factual is not favourable (no re-check yet).

    `plans` carries the person-independent SCM compile across people (solve_many); `compiled` is this
    person's plain compile and its seconds when the caller already made it (solve_many compiles everyone first,
    to search people with the same model structure one after another).
    """
    if t0 is None:
        t0 = time.perf_counter() - (precompiled[1] if precompiled is not None else 0.0)
    opts = problem.options
    deadline = t0 + opts.time_limit
    timings: dict[str, float] = {}
    if precompiled is None:
        t = time.perf_counter()
        compiled = compile_problem(problem, plans=plans)
        timings["compile"] = time.perf_counter() - t
    else:
        compiled, timings["compile"] = precompiled
    inc, use_cutoff = None, False
    samples = _incumbent_samples(compiled, opts.heuristic_samples)
    if samples and compiled.approx_error == 0.0:
        # a hard model: a heuristic upper bound shrinks the box, then LP tightening of the big-M sources
        t = time.perf_counter()
        inc = random_search(problem, samples, opts.seed, t0 + 0.25 * opts.time_limit)
        if inc is not None:
            inc = polish(problem, inc)
        timings["heuristic"] = time.perf_counter() - t
        if inc is not None:
            t = time.perf_counter()
            plans = plans if plans is not None else PlanCache()  # shared by this person's recompiles
            compiled = compile_problem(problem, upper_bound=inc.cost, incumbent=inc.action, plans=plans)
            use_cutoff = True
            if compiled.tighten_targets and opts.tighten_passes > 0:
                compiled = tighten_bounds(problem, compiled, inc, opts.tighten_passes, plans)
            timings["tighten"] = time.perf_counter() - t
    out = search_compiled(compiled, problem, inc, use_cutoff, deadline, session)
    timings["solve"] = out.seconds
    return Searched(compiled, out, timings, t0)


def finish(problem: RecourseProblem, compiled: CompiledInstance, search: SearchOutcome, timings: dict[str, float],
            t0: float, ver: Verification | None = None) -> RecourseResult:
    """The result of a search: certificate when infeasible, else the re-check of its action (`ver` when the
    caller already verified it in a batch)."""
    opts = problem.options
    approx = compiled.approx_error
    base = dict(factual=problem.factual, solve_seconds=search.seconds, backend=opts.backend,
                approximation_error=approx, timings=timings, iterations=search.rounds)
    if search.action is None:
        lb = search.lower_bound if np.isfinite(search.lower_bound) else None
        if search.state == "infeasible" and approx == 0.0:
            from .certify import certify  # bound / Farkas / second-backend certificate (see certify.py)

            res = RecourseResult(Status.NO_RECOURSE, None, {}, {}, verified=False, objective_bound=None, gap=None,
                                 total_seconds=time.perf_counter() - t0,
                                 message="No action satisfies this person's constraints.", **base)
            return certify(problem, res, compiled=compiled).apply(res)
        msg = {"infeasible": f"The piecewise-linear model (max error {approx:.3g}) is infeasible; this is not a "
                             "proof for the true SCM.",
               "error": search.message}.get(search.state, "The time limit was reached before any action was found.")
        return RecourseResult(Status.UNKNOWN, None, {}, {}, verified=False, objective_bound=lb, gap=None,
                              total_seconds=time.perf_counter() - t0, message=msg, **base)
    if ver is None:
        t = time.perf_counter()
        ver = verify_action(problem, search.action)
        timings["verify"] = time.perf_counter() - t
    lb = max(search.lower_bound, 0.0) if np.isfinite(search.lower_bound) else 0.0  # costs are >= 0
    gap = None if lb is None else max(0.0, ver.cost - lb) / max(abs(ver.cost), 1e-12)
    if gap is not None and ver.cost - lb <= 1e-9:
        gap = 0.0
    if not ver.ok:
        status, msg = Status.VERIFICATION_FAILED, ("The solver's action fails the independent re-check: "
                                                   + ("; ".join(ver.violations) or
                                                      f"score {ver.score:.6g} below threshold {ver.score_threshold:.6g}"))
        if approx > 0:
            msg += f" (the SCM was approximated piecewise-linearly, max error {approx:.3g})"
    elif search.state == "optimal":
        status, msg = Status.OPTIMAL, "Proven optimal and verified." if approx == 0 else (
            f"Optimal for the piecewise-linear SCM (max error {approx:.3g}); verified on the true SCM.")
    else:
        status, msg = Status.FEASIBLE, search.message or "A limit was reached: verified action with a gap."
    return RecourseResult(status, ver.cost, dict(search.action), ver.counterfactual, verified=ver.ok,
                          objective_bound=lb, gap=gap, total_seconds=time.perf_counter() - t0,
                          cost_breakdown=ver.cost_breakdown, score=ver.score, score_kind=ver.score_kind,
                          score_threshold=ver.score_threshold, message=msg, violations=ver.violations, **base)
