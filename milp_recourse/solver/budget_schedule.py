"""Cost-budget schedule for big models whose box is set by a heuristic incumbent (tree ensembles).

Compiling with a cost budget B shrinks every feature's range to what B can pay for and adds cost <= B, so
the model for a small B has few open splits. The schedule searches {cost <= B} for B = incumbent x 1/8,
then x 1.25 per step: a stage without a solution proves that no action costs <= B (a lower bound), and the
first stage with one holds the global optimum (every cheaper action lies inside it). Past 0.85 x the
incumbent, or when a stage hits a limit, the full model (budget = incumbent, with its cutoff) is searched.
Stages whose budget is below leaf_bounds.reach_bound (no set of leaves priced within it reaches the threshold)
are known to be infeasible without a MILP and are skipped.
A stage stopped by the time limit still hands on what it found: its best verified action (the full model's new
cutoff and the answer if time is out) and its dual bound below its budget.
A random-search incumbent on Taiwan credit RF 100 x 5 cost 2.7-20x the optimum; the model at that budget
had 320-780 binaries against 100-220 at the optimum's. The model grows steeply with B (one person: 326 binaries
at a budget, 568 at 1.25x it), so the first feasible stage is kept close to the optimum: growth 1.25 rather than 1.5
proved 19 / 20 of those people in 10 s against 18 / 20 (median 0.83 vs 1.02 s, bench_tree_scale.py, interleaved).
For tree ensembles every model of the schedule is presolved without HiGHS's probing: it took 2-3x the rest of
presolve and root on hard Taiwan stage models (500-900 binaries, equal optima), and leaving it on for models up to
400 binaries made Taiwan's median 1.07 s against 0.86 s. (Outside the schedule it stays on: without it HiGHS
returned another vertex of two small forest models, feasible only to its 1e-7 tolerance, whose repaired action then
missed a requested 1e-9 gap.)
Stages run without HiGHS's sub-MIP heuristics (RINS, RENS): most stages are infeasible, where they can only search
in vain, and a feasible stage's branch and bound finds the optimum next to its budget itself. On one Taiwan
person's infeasible stage they took 7.7 of 10.5 s (1 node); over the 14 slowest Taiwan RF 100 x 5 stage models
HiGHS took 33.9 s without them against 44.5 s with, and the two unproven RF 500 x 8 stages were proven
infeasible in 29-31 s instead of running past 40 s.
Tree-ensemble models of the schedule (stages and the full model) also run without HiGHS's restarts, which
re-presolve the model each time root reductions fix ~10 % of the integer columns: on the slowest Taiwan RF 100 x 5
stage models they took 36.2 s against 27.1 s without, and one person's full model 11.4 s against 5.3 s; on
RF 500 x 8 stages, 102.0 s against 104.2 s. With both, bench_tree_scale.py proved all 20 Taiwan RF 100 x 5 people
within 10 s in two of four sittings (18 / 20 for the code before, interleaved); the hardest takes 9.5-10.3 s.
That person's time is two stages: the budget at 0.976 x its optimum, proven infeasible in 4.7 s, then the next,
which alone proves the optimum in 3.9 s. So a stage that runs SLOW_STAGE seconds gets the next one started beside
it on an idle core (stage_window.py, `stage_threads`; batch workers run one stage at a time): whichever settles
first ends the wait. Stages that finish within SLOW_STAGE run one at a time as before (the same answers).
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from milp_recourse.backends.highs_session import HighsSession
from milp_recourse.encode.compile import CompiledInstance, compile_problem
from milp_recourse.problem.recourse_problem import RecourseProblem
from milp_recourse.result import SearchState
from milp_recourse.scm.plan import PlanCache
from milp_recourse.solver.incumbent import Incumbent
from milp_recourse.solver.leaf_bounds import reach_bound
from milp_recourse.solver.milp_search import SearchOutcome, search_compiled
from milp_recourse.solver.stage_window import run_stages
from milp_recourse.solver.strategy import tree_scored
from milp_recourse.solver.verify import verify_action

BUDGET_START = 0.125       # first budget, as a fraction of the incumbent's cost
BUDGET_GROWTH = 1.25
BUDGET_LAST = 0.85         # beyond this fraction the full model is searched


def budget_search(problem: RecourseProblem, compiled: CompiledInstance, inc: Incumbent, deadline: float,
                  session: HighsSession | None = None, plans: PlanCache | None = None
                  ) -> tuple[CompiledInstance, SearchOutcome, dict[str, int]]:
    """The optimum by the budget schedule (see the module docstring); the model it was found in, the search, and
    how many stages settled and ran ahead beside a slow one (stage_window.py).

    `compiled` is the model at the incumbent's budget, searched when no stage settles the question.
    """
    # (module docstring; the same rule for restarts). Trees behind a Pipeline too: their MILP has the same shape, and
    # with probing on, an outside fuzz's Pipeline + forest stage (455 integers) ran 0.4-3 s past its limit in probing
    probing = not tree_scored(problem)
    lower, rounds = 0.0, 0
    counts = {"stages": 0, "stages_ahead": 0}
    frac = BUDGET_START
    reach = reach_bound(problem, compiled, inc.cost) if inc.cost > 1e-12 else None
    while reach is not None and frac <= BUDGET_LAST and inc.cost * frac < reach:
        lower = inc.cost * frac   # no leaf set within this budget reaches the threshold: no stage needed
        frac *= BUDGET_GROWTH
    budgets = []
    while inc.cost > 1e-12 and frac <= BUDGET_LAST:
        budgets.append(inc.cost * frac)
        frac *= BUDGET_GROWTH
    t0 = time.perf_counter()
    stages = run_stages(problem, budgets, lambda budget: compile_problem(problem, upper_bound=budget, plans=plans),
                        deadline, session, probing, problem.options.stage_threads)
    try:
        for res in stages:
            out, budget = res.outcome, res.budget
            rounds += out.rounds
            counts = {"stages": counts["stages"] + 1, "stages_ahead": res.ahead}
            if out.state == "infeasible":
                lower = max(lower, budget)   # no action costs <= budget (the stage's SCM is exact: approx_error 0)
                continue
            if out.state == SearchState.OPTIMAL and out.action is not None and (
                    out.verified if out.verified is not None else verify_action(problem, out.action).ok):
                return res.stage, dataclasses.replace(out, seconds=time.perf_counter() - t0, rounds=rounds,
                                                      lower_bound=max(out.lower_bound, lower)), counts
            if out.action is not None and out.verified and out.cost < inc.cost:
                inc = Incumbent(out.action, out.cost)   # the stage's best verified action: a tighter cutoff
            if np.isfinite(out.lower_bound):
                lower = max(lower, min(out.lower_bound, budget))   # the stage's bound holds below its budget
            break  # a limit, or an answer the re-check refuses: the full model, with the verified incumbent
    finally:
        stages.close()   # (cancels a stage still running beside the one that settled)
    spent = time.perf_counter() - t0 if budgets else 0.0
    out = search_compiled(compiled, problem, inc, True, deadline, session, presolve_probing=probing,
                          restarts=probing)
    return compiled, dataclasses.replace(out, seconds=spent + out.seconds, rounds=rounds + out.rounds,
                                         lower_bound=max(out.lower_bound, lower)), counts


__all__ = ["budget_search"]
