"""The budget schedule's stages in order, with the next stage run beside a slow one on a spare thread.

A stage (the model under cost <= budget) either holds the global optimum, when it is feasible (every cheaper
action lies inside it), or proves that no action costs <= its budget, and then that no smaller stage has one
either. So when a stage has searched for SLOW_STAGE seconds, the next, larger stage can be started beside it,
and whichever settles the question first ends the wait: a feasible stage's optimum is the answer, an infeasible
one makes every smaller stage still running pointless (they are cancelled). The stage just below the optimum is
often the hardest of all: it must prove infeasibility with the optimum a few per cent above its budget (Taiwan
RF 100 x 5, person #8: 4.7 s infeasible at 0.976 x the optimum, where the next stage alone proves the optimum in
3.9 s). Stages that each finish within SLOW_STAGE run one at a time as before, so their answers do not change;
which of two concurrent stages settles a slow person can depend on timing (both answers are proven optimal).
Needs the option stage_threads >= 2 and a backend that can cancel a solve (HiGHS); otherwise every stage runs
here, in turn.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Callable, Generator, Sequence

from milp_recourse.backends import get_backend
from milp_recourse.backends.highs_session import HighsSession
from milp_recourse.encode.compile import CompiledInstance
from milp_recourse.problem.recourse_problem import RecourseProblem
from milp_recourse.result import SearchState
from milp_recourse.solver.milp_search import SearchOutcome, search_compiled

SLOW_STAGE = 1.0   # seconds a stage runs alone before the next one is started beside it


def spare_core() -> bool:
    """Whether this process may use a second core now: it may run on two, and the 1-minute load average (which
    counts the stage already running) leaves one idle. On a busy machine a stage run ahead would only take time
    from the stage it should help (a Taiwan person at ~1 free core: 5.2 s alone, 10.1 s with a stage beside it)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):   # no load average (Windows): do not guess
        return False
    return cores >= 2 and load <= cores - 0.5


@dataclass(frozen=True)
class StageResult:
    """One settled stage: its place in the schedule, budget, model and search outcome; `ahead` counts the stages
    started beside a slower one so far."""

    index: int
    budget: float
    stage: CompiledInstance
    outcome: SearchOutcome
    ahead: int


def run_stages(problem: RecourseProblem, budgets: Sequence[float], build: Callable[[float], CompiledInstance],
               deadline: float, session: HighsSession | None, probing: bool, threads: int
               ) -> Generator[StageResult, None, None]:
    """Each decisive stage result, in the order it settles; the caller stops at the first that is not
    infeasible (closing the iterator cancels and joins what still runs). After an infeasible result the next
    stage is started unless one above it already runs. `build(budget)` compiles a stage (on this thread)."""
    if threads < 2 or not get_backend(problem.options.backend).capabilities.cancel:
        for k, budget in enumerate(budgets):
            if time.perf_counter() >= deadline:
                return
            stage = build(budget)
            yield StageResult(k, budget, stage, _search(stage, problem, deadline, session, probing, None), 0)
        return
    yield from _window(problem, budgets, build, deadline, session, probing, threads)


def _search(stage: CompiledInstance, problem: RecourseProblem, deadline: float, session: HighsSession | None,
            probing: bool, cancel: threading.Event | None) -> SearchOutcome:
    """One stage's search, as budget_schedule.py runs it (no sub-MIPs; restarts as probing)."""
    return search_compiled(stage, problem, None, False, deadline, session, presolve_probing=probing,
                           sub_mips=False, restarts=probing, cancel=cancel)


def _window(problem: RecourseProblem, budgets: Sequence[float], build: Callable[[float], CompiledInstance],
            deadline: float, session: HighsSession | None, probing: bool, threads: int
            ) -> Generator[StageResult, None, None]:
    running: dict[int, tuple[Future[SearchOutcome], threading.Event, CompiledInstance]] = {}
    nxt, ahead, check_at = 0, 0, 0.0   # check_at: when the newest stage counts as slow (or the next look)
    lent: list[Future[SearchOutcome]] = []   # the stage holding the session (one HiGHS instance: one stage at a time)
    pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="budget-stage")

    def start() -> None:
        nonlocal nxt, check_at
        stage, cancel = build(budgets[nxt]), threading.Event()
        free = not lent or lent[-1].done()
        future = pool.submit(_search, stage, problem, deadline, session if free else None, probing, cancel)
        if free:
            lent[:] = [future]
        running[nxt] = (future, cancel, stage)
        nxt, check_at = nxt + 1, time.perf_counter() + SLOW_STAGE

    try:
        while True:
            if not running:
                if nxt >= len(budgets) or time.perf_counter() >= deadline:
                    return
                start()
            spare = len(running) < threads and nxt < len(budgets) and time.perf_counter() < deadline
            wait_for = max(0.0, check_at - time.perf_counter()) if spare else None
            done, _ = wait([f for f, _, _ in running.values()], timeout=wait_for, return_when=FIRST_COMPLETED)
            if not done:          # the newest stage is slow: the next one beside it, if a core is idle
                if spare_core():
                    start()
                    ahead += 1
                else:
                    check_at = time.perf_counter() + SLOW_STAGE
                continue
            for k in sorted(k for k, (f, _, _) in running.items() if f in done):
                if k not in running:           # cancelled by an infeasible stage above it, settled in this round
                    continue
                future, _, stage = running.pop(k)
                out = future.result()
                if out.state == SearchState.INFEASIBLE:
                    for j in [j for j in running if j < k]:   # a smaller stage is infeasible too
                        running.pop(j)[1].set()
                yield StageResult(k, budgets[k], stage, out, ahead)
    finally:
        for _, cancel, _ in running.values():
            cancel.set()
        pool.shutdown(wait=True)


__all__ = ["SLOW_STAGE", "StageResult", "run_stages"]
