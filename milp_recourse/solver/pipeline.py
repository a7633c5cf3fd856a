"""solve(problem): heuristic bound -> compile -> tighten -> search (search.py) -> verify, and the result.

The search itself (branch and bound, MILP, outer approximation for p = 2) is search.py; LP bound tightening
is tighten.py; for big tree-ensemble models the cost-budget schedule of budget.py runs first. ReLU networks
with p = 1 or 2 costs first get the box search over actions (input_bnb.py, no MILP); the MILP pipeline runs when
it does not apply or runs out of boxes.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np

from milp_recourse.backends import get_backend
from milp_recourse.backends.highs_session import HighsSession
from milp_recourse.encode.compile import CompiledInstance, compile_problem
from milp_recourse.models.classifiers import favourable
from milp_recourse.models.threads import classifier_threads
from milp_recourse.errors import InputError
from milp_recourse.problem.recourse_problem import RecourseProblem
from milp_recourse.result import PathStep, RecourseResult, SearchState, Status
from milp_recourse.scm.plan import PlanCache
from milp_recourse.solver import strategy as st
from milp_recourse.solver.answer_rules import (at_the_threshold, nudged_outward, onto_split_edges, tiny_moves,
                                               time_left, without_free_changes, without_no_op_holds)
from milp_recourse.solver.box_search import BOX_ENGINE, BoxSearch, search_boxes
from milp_recourse.solver.budget_schedule import budget_search
from milp_recourse.solver.grid_enumeration import exhaust_grid
from milp_recourse.solver.incumbent import Incumbent, random_search
from milp_recourse.solver.linear_pieces import ENGINE as CLOSED_FORM
from milp_recourse.solver.linear_pieces import NO_MODEL, may_be_linear, settle
from milp_recourse.solver.linear_scm_exact import search_eligible as linear_scm_search
from milp_recourse.solver.milp_search import SearchOutcome, gap_closed, search_compiled
from milp_recourse.solver.polish import polish
from milp_recourse.solver.pwl_repair import stretch_to_valid
from milp_recourse.solver.strategy import choose_search, plan_search
from milp_recourse.solver.tighten import tighten_bounds
from milp_recourse.solver.verify import Verification, verify_action

PWL_REFINEMENTS = 3
TIGHTEN_SHARE = 0.3   # LP bound tightening gets at most this share of the time left


def solve(problem: RecourseProblem, session: HighsSession | None = None) -> RecourseResult:
    """Cheapest verified recourse for one person, with proof of optimality or of infeasibility.

    When the SCM needed a piecewise-linear approximation and the answer fails the re-check on the true
    SCM only on the score, the approximation is refined (4x breakpoints) and the score margin raised by
    twice the shortfall, at most PWL_REFINEMENTS times, before the failure is reported. `session` is a
    HiGHS relaxation to reuse across calls (solve_many passes one; results do not depend on it). The classifier's
    OpenMP runtime runs on `options.threads` threads meanwhile (models/threads.py: spinning OpenMP threads beside
    other processes stalled single predictions for up to 1.9 s).
    """
    if not isinstance(problem, RecourseProblem):
        raise InputError(f"solve takes a RecourseProblem(scm, classifier, individual, ...). Got "
                         f"{type(problem).__name__} {problem!r:.60}.")
    with classifier_threads(problem.options.threads):
        exact = at_the_threshold(problem)
        if exact is not problem:
            res = solve_as_given(exact, session)
            if res.status is not Status.VERIFICATION_FAILED:
                return res
            problem = time_left(problem, res.total_seconds)
        return solve_as_given(problem, session)


def solve_as_given(problem: RecourseProblem, session: HighsSession | None = None) -> RecourseResult:
    """One pass of the pipeline and its piecewise-linear refinement, with the problem's own margin."""
    return refine(problem, _solve_once(problem, session), session)


def refine(problem: RecourseProblem, res: RecourseResult, session: HighsSession | None = None) -> RecourseResult:
    """The answer refined on a finer piecewise-linear SCM (`refine_pwl`), then made exact by enumeration when the
    SCM was approximated and the actions are finitely many (solver/grid_enumeration.py)."""
    t0 = time.perf_counter() - res.total_seconds     # when the first pass started: the limit holds from there
    refined = refine_pwl(problem, res, session, t0)
    return exhaust_grid(problem, refined, time.perf_counter() - t0)


def refine_pwl(problem: RecourseProblem, res: RecourseResult, session: HighsSession | None = None,
               t0: float | None = None) -> RecourseResult:
    """Re-solve with a finer piecewise-linear SCM while the only failure is the score on the true SCM.

    Each re-solve also asks for a score margin of twice the failed answer's deficit. That restricts the model, so
    its optimum bounds nothing, not even approximately (and no bound of an approximated SCM is reported). (On a tree
    ensemble's piecewise-constant score a margin can shut out the cheapest valid cells: an outside fuzz found
    answers up to 7x the optimum.) The first answer stretched onto the true favourable region (pwl_repair.py)
    competes with the re-solves' answer; the cheaper verified one is kept. Answers of an approximated SCM are
    FEASIBLE, never OPTIMAL (finish)."""
    first, original = res, problem
    t0 = time.perf_counter() - res.total_seconds if t0 is None else t0
    for _ in range(PWL_REFINEMENTS):
        if res.status is not Status.VERIFICATION_FAILED or res.approximation_error == 0.0 or res.violations:
            break
        left = original.options.time_limit - (time.perf_counter() - t0)
        if left <= 0.0:   # each re-solve took the whole limit again: 10.5 s at time_limit 5 (an outside fuzz)
            break
        deficit = max(0.0, (res.score_threshold or 0.0) + problem.options.margin - (res.score or 0.0))
        finer = dataclasses.replace(problem.options, pwl_breakpoints=4 * problem.options.pwl_breakpoints - 3,
                                    margin=problem.options.margin + 2.0 * deficit, time_limit=left)
        problem = dataclasses.replace(problem, options=finer)
        res = _solve_once(problem, session)
    if res is first:
        return res
    stretched = stretch_to_valid(original, first.action) if first.action and not first.violations else None
    if stretched is not None and not (res.verified and res.cost is not None and res.cost <= stretched[1].cost):
        action, ver = stretched
        res = dataclasses.replace(first, cost=ver.cost, action=action, counterfactual=ver.counterfactual,
                                  verified=True, score=ver.score, cost_breakdown=ver.cost_breakdown, violations=())
        how = "it was then stretched onto the true SCM's favourable region"
    else:
        how = f"this one was found with the score margin raised to {problem.options.margin:.3g}"
    if res.verified and res.cost is not None:
        res = dataclasses.replace(
            res, status=Status.FEASIBLE, objective_bound=None, gap=None,
            message=(f"Verified on the true SCM, not proven optimal (no bound is reported): the answer of the "
                     f"piecewise-linear SCM (max error {first.approximation_error:.3g}) failed the re-check, and "
                     f"{how}."))
    return res


@dataclass
class Searched:
    """A person's search before the re-check (solve_many verifies many of these in one classifier call)."""

    compiled: CompiledInstance
    search: SearchOutcome
    timings: dict[str, float]
    t0: float


@dataclass(frozen=True)
class Head:
    """The heuristics and box search a person already went through (solve_many's lock-step box search, which did
    not settle them): search_person goes on from here under the same deadline instead of starting again."""

    t0: float
    path: tuple[PathStep, ...]
    timings: dict[str, float]
    incumbent: Incumbent | None


def already_favourable(problem: RecourseProblem, ver: Verification, t0: float) -> RecourseResult:
    """The result for a person the classifier already favours (ver: the re-check of the empty action)."""
    return RecourseResult(Status.ALREADY_FAVOURABLE, 0.0, {}, ver.counterfactual, problem.factual, True, 0.0, 0.0,
                          0.0, time.perf_counter() - t0, problem.options.backend, {}, ver.score, ver.score_kind,
                          ver.score_threshold, message="The factual decision is already favourable.",
                          levels=problem_levels(problem))


def problem_levels(problem: RecourseProblem) -> dict[str, tuple[str, ...]]:
    """The level names of the problem's categorical / ordinal features (for the result's raw values)."""
    return {v.name: v.levels for v in problem.scm.variables if v.levels}


def _solve_once(problem: RecourseProblem, session: HighsSession | None = None) -> RecourseResult:
    """One pass of the pipeline (see the module docstring)."""
    t0 = time.perf_counter()
    opts = problem.options
    get_backend(opts.backend)  # fail fast on an unknown / missing backend
    idx = [problem.scm.index(f) for f in problem.features]
    if favourable(problem.classifier, problem.x[idx].reshape(1, -1), opts.threshold, opts.target_class)[0]:
        return already_favourable(problem, verify_action(problem, {}), t0)
    # a linear score over a piecewise-linear SCM: exact without a MILP (trees and networks skip the check's cost)
    closed = settle([problem]).get(0) if may_be_linear(problem.classifier, len(idx)) else None
    if closed is not None:
        t = time.perf_counter()
        ver = verify_action(problem, closed.action)
        if ver.ok:   # (one that fails the re-check goes on to the MILP pipeline, as in solve_many)
            res = finish(problem, NO_MODEL, closed, {"solve": closed.seconds, "verify": time.perf_counter() - t}, t0,
                         ver)
            return dataclasses.replace(res, backend=CLOSED_FORM)
    s = search_person(problem, session, t0)
    return finish(problem, s.compiled, s.search, s.timings, s.t0)


def search_person(problem: RecourseProblem, session: HighsSession | None = None, t0: float | None = None,
                  plans: PlanCache | None = None, precompiled: tuple[CompiledInstance, float] | None = None,
                  head: Head | None = None) -> Searched:
    """Compile, bound, tighten and search one person whose factual is not favourable (no re-check yet).

    The engines are those strategy.py plans; each one that runs is recorded in the outcome's `path`, and the
    reason each other one was not taken in its `reasons`. `plans` carries the person-independent SCM compile
    across people (solve_many); `precompiled` is this person's plain compile and its seconds when the caller
    already made it (solve_many compiles everyone the box search did not settle, to search people of one model
    structure together). A person of strategy.box_plan is compiled only if its box search does not settle it.
    `head`: that box search already ran (solve_many's lock-step search) and did not settle the person: its
    incumbent is taken on, with its start time, so the deadline stays the person's own.
    """
    if head is not None:
        t0 = head.t0
    if t0 is None:
        t0 = time.perf_counter() - (precompiled[1] if precompiled is not None else 0.0)
    opts = problem.options
    deadline = t0 + opts.time_limit
    timings: dict[str, float] = {}
    # one plan for every compile of this person (the plain one and the recompiles under the incumbent's budget):
    # the plain compile built the SCM's derivatives on its own and the first recompile again (a 200-node linear
    # SCM: 1.6 s each)
    plans = plans if plans is not None else PlanCache()
    start: SearchOutcome | None = None   # the linear-SCM search's unproven outcome: an action and a lower bound
    if st.linear_scm_reason(problem) is None:   # linear SCM + score, p = 1: proven without a MILP when it can
        t = time.perf_counter()
        exact = linear_scm_search(problem, min(deadline, t0 + st.LINEAR_SCM_SHARE * opts.time_limit))
        if exact is not None and exact.state == SearchState.OPTIMAL:
            timings["solve"] = exact.seconds
            return Searched(precompiled[0] if precompiled is not None else NO_MODEL, exact, timings, t0)
        timings["linear_scm"] = time.perf_counter() - t
        start = exact

    def plain_compile() -> CompiledInstance:
        if precompiled is not None:
            timings["compile"] = precompiled[1]
            return precompiled[0]
        t = time.perf_counter()
        model = compile_problem(problem, plans=plans)
        timings["compile"] = time.perf_counter() - t
        return model

    # a person the box search applies to is compiled only when the box search cannot settle it (strategy.box_plan)
    early = st.box_plan(problem)
    compiled: CompiledInstance | None = None
    if early is None:
        compiled = plain_compile()
        plan = plan_search(problem, compiled)
    else:
        plan = early
    reasons = dict(plan.reasons)
    path: list[PathStep] = [] if start is None else list(start.path)
    inc, use_cutoff = None, False
    if head is not None:   # the incumbent, polish and box search ran in solve_many's lock-step search
        path += list(head.path)
        timings.update(head.timings)
        inc = head.incumbent
        if inc is None:
            reasons.setdefault(st.BOX_SEARCH, "no incumbent was found")
    elif plan.runs(st.INCUMBENT):
        # a hard model: a heuristic upper bound shrinks the box, then LP tightening of the big-M sources
        t = t_heuristic = time.perf_counter()
        # the coordinate sweeps are redundant before the SLSQP polish (same costs within 0.5 %, 14 ms less)
        inc = random_search(problem, plan.samples, opts.seed, t0 + st.HEURISTIC_SHARE * opts.time_limit,
                            coordinate_shrink=not plan.runs(st.POLISH))
        path.append(PathStep(st.INCUMBENT, time.perf_counter() - t, "found" if inc is not None else "none",
                             {"samples": plan.samples}))
        if inc is not None and plan.runs(st.POLISH):
            t = time.perf_counter()
            before = inc.cost
            inc = polish(problem, inc, deadline=t0 + st.POLISH_SHARE * opts.time_limit)
            path.append(PathStep(st.POLISH, time.perf_counter() - t,
                                 "improved" if inc.cost < before else "unchanged", {}))
        inc = _cheaper(problem, inc, start)
        timings["heuristic"] = time.perf_counter() - t_heuristic
        if inc is not None and plan.runs(st.BOX_SEARCH):
            # the box search works on the true SCM: no piecewise-linear approximation, so its proof is exact
            boxes = search_boxes(problem, inc, deadline, plans)
            timings["box_search"] = boxes.seconds
            path.append(PathStep(st.BOX_SEARCH, boxes.seconds, boxes.state, {"boxes": boxes.boxes}))
            if boxes.state == "optimal":
                out = box_settled(boxes, path, reasons)
                timings["solve"] = out.seconds
                return Searched(compiled if compiled is not None else NO_MODEL, out, timings, t0)
            inc = Incumbent(boxes.action, boxes.cost)   # never costlier: the MILP pipeline takes over
        elif inc is None:
            reasons.setdefault(st.BOX_SEARCH, "no incumbent was found")
    if compiled is None:   # (box_plan's person, not settled by the box search)
        compiled = plain_compile()
    if plan.runs(st.INCUMBENT):
        # LP tightening, decided on the plain compile (plan_search asked the same of it; box_plan could not)
        why_not = st.tighten_reason(problem, compiled)
        if why_not is not None:
            reasons.setdefault(st.TIGHTEN, why_not)
        if compiled.approx_error > 0.0:
            inc = None   # (a piecewise-linear model is searched on its own, as before the box search)
        if inc is not None:
            t = time.perf_counter()
            compiled = compile_problem(problem, upper_bound=inc.cost, incumbent=inc.action, plans=plans)
            use_cutoff = True
            if why_not is None and compiled.tighten_targets:
                # at most TIGHTEN_SHARE of the time left: on a 100-node linear SCM the tightening LPs took the
                # whole limit and the MILP never ran (bench/bench_scaling.py); what they proved stays valid
                now = time.perf_counter()
                stop = min(deadline, now + TIGHTEN_SHARE * max(deadline - now, 0.0))
                compiled = tighten_bounds(problem, compiled, inc, opts.tighten_passes, plans, deadline=stop)
                path.append(PathStep(st.TIGHTEN, time.perf_counter() - t, "done",
                                     {"passes": opts.tighten_passes}))
            elif why_not is None:
                reasons[st.TIGHTEN] = "the incumbent's budget left no big-M source to tighten"
            timings["tighten"] = time.perf_counter() - t
        else:
            reasons.setdefault(st.TIGHTEN, "no incumbent was found")
    engines, final_reasons = choose_search(problem, compiled, inc is not None)
    for engine, why in final_reasons.items():
        reasons.setdefault(engine, why)
    if engines[0] == st.BUDGET:
        t = time.perf_counter()
        compiled, out, stages = budget_search(problem, compiled, inc, deadline, session, plans)
        timings["budget"] = time.perf_counter() - t - out.seconds
        out.path = path + [PathStep(st.BUDGET, time.perf_counter() - t, out.state, {"rounds": out.rounds, **stages})]
    else:
        # tree ensembles are presolved without probing here too, as in the budget schedule: with one domain x 1e4,
        # probing cut the optimum off a 51-integer forest MILP and its incumbent, 12 % dearer, was called optimal
        out = search_compiled(compiled, problem, inc, use_cutoff, deadline, session,
                              presolve_probing=not st.tree_scored(problem))
        out.path = path + out.path
    for engine in engines[1:]:
        reasons.setdefault(engine, "run inside the budget schedule's stages" if engines[0] == st.BUDGET
                           else f"not needed: {engines[0]} settled the search")
    out.reasons = _not_run(reasons, out.path)
    if start is not None and out.action is not None and start.lower_bound > out.lower_bound:
        out.lower_bound = start.lower_bound   # the effect bound holds for every action
        if out.state == SearchState.LIMIT and gap_closed(out.cost, out.lower_bound, opts.mip_gap):
            out.state = SearchState.OPTIMAL
    timings["solve"] = out.seconds
    return Searched(compiled, out, timings, t0)


def _cheaper(problem: RecourseProblem, inc: Incumbent | None, start: SearchOutcome | None) -> Incumbent | None:
    """The heuristic's incumbent, or the linear-SCM search's unproven action when it passes the re-check and is
    cheaper (on a 100-node random linear SCM ~3.6x cheaper than the MILP pipeline's answer at a 10 s limit)."""
    if start is None or start.action is None or (inc is not None and inc.cost <= start.cost):
        return inc
    ver = verify_action(problem, start.action)
    if not ver.ok or (inc is not None and inc.cost <= ver.cost):
        return inc
    return Incumbent(dict(start.action), float(ver.cost))


def box_settled(boxes: BoxSearch, path: list[PathStep], reasons: dict[str, str]) -> SearchOutcome:
    """The outcome of a person the box search proved optimal: every later engine is not needed (no model is)."""
    for engine in (st.TIGHTEN, st.BUDGET, st.SMALL_BNB, st.MILP, st.OUTER_APPROX):
        reasons.setdefault(engine, "the box search proved the optimum")
    return SearchOutcome(boxes.action, boxes.cost, boxes.lower_bound, SearchState.OPTIMAL, boxes.seconds,
                         rounds=boxes.boxes, engine=BOX_ENGINE, path=path, reasons=_not_run(reasons, path))


def _not_run(reasons: dict[str, str], path: list[PathStep]) -> dict[str, str]:
    """The reasons of the engines that did not run (an engine may be planned, then skipped at run time)."""
    ran = {step.engine for step in path}
    return {engine: reasons[engine] for engine in st.ENGINES if engine in reasons and engine not in ran}


def finish(problem: RecourseProblem, compiled: CompiledInstance, search: SearchOutcome, timings: dict[str, float],
            t0: float, ver: Verification | None = None) -> RecourseResult:
    """The result of a search: certificate when infeasible, else the re-check of its action (`ver` when the
    caller already verified it in a batch)."""
    opts = problem.options
    boxes = search.engine == BOX_ENGINE   # no MILP, no piecewise-linear model: the true SCM throughout
    approx = 0.0 if boxes else compiled.approx_error
    base = dict(factual=problem.factual, solve_seconds=search.seconds, backend=BOX_ENGINE if boxes else opts.backend,
                approximation_error=approx, timings=timings, iterations=search.rounds, path=tuple(search.path),
                path_reasons=search.reasons, levels=problem_levels(problem))
    if search.action is None:
        lb = search.lower_bound if np.isfinite(search.lower_bound) and approx == 0.0 else None
        if search.state == SearchState.INFEASIBLE and approx == 0.0:
            from milp_recourse.solver.certify import (
                certify,  # bound / Farkas / second-backend certificate (see certify.py)
            )

            res = RecourseResult(Status.NO_RECOURSE, None, {}, {}, verified=False, objective_bound=None, gap=None,
                                 total_seconds=time.perf_counter() - t0,
                                 message="No action satisfies this person's constraints.", **base)
            return certify(problem, res, compiled=compiled).apply(res, problem)
        msg = {SearchState.INFEASIBLE: f"The piecewise-linear model (max error {approx:.3g}) is infeasible; "
                                       "this is not a proof for the true SCM.",
               SearchState.ERROR: search.message}.get(search.state,
                                                      "The time limit was reached before any action was found.")
        return RecourseResult(Status.UNKNOWN, None, {}, {}, verified=False, objective_bound=lb, gap=None,
                              total_seconds=time.perf_counter() - t0, message=msg, **base)
    in_time = time.perf_counter() - t0 < opts.time_limit   # (a search the limit stopped is not held up further)
    action, saved = onto_split_edges(problem, search.action) if in_time else (search.action, 0.0)
    if saved:   # the MILP's bound is the banded model's: lowered by what the pull saved
        search = dataclasses.replace(search, lower_bound=search.lower_bound - saved)
    action = without_no_op_holds(problem, action)
    if problem.cost.l0 == 0.0 and (problem.cost.aggregate == "max" or problem.cost.kind == "percentile"):
        # (a power sum charges every change, L0 too; a percentile shift in a flat tail of the CDF is free)
        action = without_free_changes(problem, action)
    if action != search.action:
        search, ver = dataclasses.replace(search, action=action), None
    if ver is None:
        t = time.perf_counter()
        ver = verify_action(problem, search.action)
        timings["verify"] = time.perf_counter() - t
    repaired = False
    if not ver.ok:   # a few floats past a strict comparison's edge: the same action moved outward by a hair
        nudged = nudged_outward(problem, search.action) or tiny_moves(problem, search.action)
        if nudged is not None:
            search, ver, repaired = dataclasses.replace(search, action=nudged[0]), nudged[1], True
    if ver.ok and search.state != SearchState.OPTIMAL and approx == 0 and -np.inf < search.lower_bound <= 1e-9:
        # unproven with a bound of ~0: a person within the MILP's tolerance of an edge, whose stalled search kept a far
        # dearer action (an outside fuzz: p = 2, 1e-12 from 'v0 < 0.001', FEASIBLE at 0.0476 where 2.3e-23 is right)
        near = tiny_moves(problem, {})
        if near is not None and near[1].cost < ver.cost:
            search, ver = dataclasses.replace(search, action=near[0]), near[1]
            if gap_closed(ver.cost, max(search.lower_bound, 0.0), opts.mip_gap):
                search = dataclasses.replace(search, state=SearchState.OPTIMAL)
    lb: float | None = max(search.lower_bound, 0.0) if np.isfinite(search.lower_bound) else 0.0  # costs are >= 0
    if lb is not None and ver.ok and 0.0 < lb - ver.cost <= 1e-9 * max(1.0, abs(ver.cost)):
        lb = ver.cost   # a bound above the verified cost by round-off only (a larger excess stays visible)
    approx_lb = lb
    if approx > 0:   # the bound of a piecewise-linear SCM's model bounds nothing on the true SCM: none is reported
        lb = None
    below_margin = bool(repaired and ver.ok and lb is not None and ver.cost < lb * (1 - 1e-6) - 1e-12)
    if below_margin:   # the repaired action is outside the margin model whose bound this is: it bounds nothing here
        lb = None
    gap = None if lb is None else max(0.0, ver.cost - lb) / max(abs(ver.cost), 1e-12)
    if gap is not None and lb is not None and ver.cost - lb <= 1e-9:
        gap = 0.0
    if not ver.ok:
        why = "; ".join(ver.violations) or f"score {ver.score:.6g} below threshold {ver.score_threshold:.6g}"
        status, msg = Status.VERIFICATION_FAILED, "The solver's action fails the independent re-check: " + why
        if approx > 0:
            msg += f" (the SCM was approximated piecewise-linearly, max error {approx:.3g})"
    elif search.state == SearchState.OPTIMAL and boxes:
        status, msg = Status.OPTIMAL, "Proven optimal by the box search over actions (no MILP) and verified."
    elif below_margin:
        status, msg = Status.FEASIBLE, ("The solver's optimum failed the re-check; a nearby action was verified "
                                        "instead, below the score margin and cheaper than the margin model's bound "
                                        f"({approx_lb:.6g}), so no bound is reported.")
    elif search.state == "optimal" and approx == 0 and repaired and not gap_closed(ver.cost, lb or 0.0,
                                                                                  opts.mip_gap):
        # the search's optimum failed the re-check; the repaired action costs more than its bound proves (an
        # outside fuzz: tiny_moves' answer at 160x the optimum was called OPTIMAL, gap 0.99999)
        status, msg = Status.FEASIBLE, ("The solver's optimum failed the re-check; a nearby action was verified "
                                        "instead, at the gap reported.")
    elif search.state == "optimal" and approx == 0:
        status, msg = Status.OPTIMAL, "Proven optimal and verified."
    elif search.state == "optimal":   # the bound is the approximate model's: no proof for the true SCM
        status, msg = Status.FEASIBLE, (f"Optimal for the piecewise-linear SCM (max error {approx:.3g}; its bound "
                                        f"{approx_lb:.6g}) and verified on the true SCM; not proven optimal for the "
                                        "true SCM, so no bound is reported.")
    else:
        status, msg = Status.FEASIBLE, search.message or "A limit was reached: verified action with a gap."
    return RecourseResult(status, ver.cost, dict(search.action), ver.counterfactual, verified=ver.ok,
                          objective_bound=lb, gap=gap, total_seconds=time.perf_counter() - t0,
                          cost_breakdown=ver.cost_breakdown, score=ver.score, score_kind=ver.score_kind,
                          score_threshold=ver.score_threshold, message=msg, violations=ver.violations, **base)
