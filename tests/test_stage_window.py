"""Budget stages run ahead beside a slow one (solver/stage_window.py): the schedule's answers stay those of one
stage at a time, the stage that settles first wins, the others are cancelled, and HiGHS honours a cancel.

References: the same people solved with stage_threads=1 (one stage at a time); for the window's order and
cancellations, stand-in stage searches whose outcomes and durations the tests set; for HiGHS's cancel, the
same binary program solved to optimality, checked by enumerating every 0/1 point.
"""

from __future__ import annotations

import dataclasses
import itertools
import threading
import time

import numpy as np
import pytest
import scipy.sparse as sp

from milp_recourse import InputError, RecourseProblem, SolveOptions, Status, solve
from milp_recourse.backends import SolverParams, Termination, get_backend
from milp_recourse.mip.ir import MIPModel
from milp_recourse.result import SearchState
from milp_recourse.solver import stage_window
from milp_recourse.solver.milp_search import SearchOutcome
from milp_recourse.solver.verify import verify_action

from budget_forests import forest_people


@pytest.fixture(scope="module")
def forest_problems() -> list[RecourseProblem]:
    return forest_people()


def _with(pr: RecourseProblem, **changes) -> RecourseProblem:
    return dataclasses.replace(pr, options=dataclasses.replace(pr.options, **changes))


def test_stages_run_ahead_give_the_one_at_a_time_answers(forest_problems, monkeypatch):
    """With every stage's successor started beside it at once, each person gets the optimum of the schedule
    that runs one stage at a time (to the gap), a verified action and a valid bound."""
    monkeypatch.setattr(stage_window, "SLOW_STAGE", 0.0)
    monkeypatch.setattr(stage_window, "spare_core", lambda: True)
    ahead = 0
    for pr in forest_problems:
        ref = solve(_with(pr, stage_threads=1))
        got = solve(_with(pr, stage_threads=2))
        assert got.status is ref.status is Status.OPTIMAL
        assert got.cost == pytest.approx(ref.cost, rel=2 * pr.options.mip_gap, abs=1e-9)
        assert verify_action(pr, got.action).ok and got.verified
        assert got.objective_bound <= ref.cost * (1 + 1e-7) + 1e-9
        steps = [s for s in got.path if s.engine == "budget-schedule"]
        ahead += int(steps[0].counters["stages_ahead"]) if steps else 0
        if steps:
            assert [s.counters["stages_ahead"] for s in ref.path if s.engine == "budget-schedule"] == [0]
    assert ahead > 0   # (the window did run stages ahead)


# -- the window's order, with stand-in stage searches ---------------------------------------------------------

def _fake(monkeypatch, plan: list[tuple[float, str]], slow: float) -> dict[int, threading.Event]:
    """Stage k sleeps plan[k][0] seconds (or until cancelled) and ends plan[k][1]; returns the cancel events."""
    events: dict[int, threading.Event] = {}

    def search(stage, problem, deadline, session, probing, cancel):
        k = stage
        events[k] = cancel
        end = time.perf_counter() + plan[k][0]
        while time.perf_counter() < end:
            if cancel is not None and cancel.is_set():
                return SearchOutcome(None, np.inf, -np.inf, SearchState.UNKNOWN)
            time.sleep(0.005)
        state = SearchState(plan[k][1])
        return SearchOutcome({"a": 1.0} if state is SearchState.OPTIMAL else None,
                             float(k) if state is SearchState.OPTIMAL else np.inf, -np.inf, state)

    monkeypatch.setattr(stage_window, "_search", search)
    monkeypatch.setattr(stage_window, "SLOW_STAGE", slow)
    monkeypatch.setattr(stage_window, "spare_core", lambda: True)
    return events


def _settled(forest_problems, plan, threads=2) -> list[tuple[int, str, int]]:
    out = []
    budgets = [float(k) for k in range(len(plan))]
    for res in stage_window.run_stages(forest_problems[0], budgets, lambda b: int(b), time.perf_counter() + 30,
                                       None, False, threads):
        out.append((res.index, res.outcome.state.value, res.ahead))
        if res.outcome.state is not SearchState.INFEASIBLE:
            break
    return out


def test_fast_stages_run_one_at_a_time_in_order(forest_problems, monkeypatch):
    _fake(monkeypatch, [(0.01, "infeasible")] * 3 + [(0.01, "optimal"), (0.01, "optimal")], slow=5.0)
    assert _settled(forest_problems, [None] * 5) == [(0, "infeasible", 0), (1, "infeasible", 0),
                                                     (2, "infeasible", 0), (3, "optimal", 0)]


def test_a_slow_stage_loses_to_the_feasible_stage_beside_it(forest_problems, monkeypatch):
    events = _fake(monkeypatch, [(0.01, "infeasible"), (3.0, "infeasible"), (0.2, "optimal"), (0.01, "optimal")],
                   slow=0.1)
    assert _settled(forest_problems, [None] * 4) == [(0, "infeasible", 0), (2, "optimal", 1)]
    assert events[1].is_set() and not events[2].is_set() and 3 not in events


def test_an_infeasible_stage_ahead_cancels_the_slow_one_below_it(forest_problems, monkeypatch):
    events = _fake(monkeypatch, [(3.0, "infeasible"), (0.2, "infeasible"), (0.01, "optimal")], slow=0.1)
    assert _settled(forest_problems, [None] * 3) == [(1, "infeasible", 1), (2, "optimal", 1)]
    assert events[0].is_set() and not events[1].is_set()


def test_no_stage_runs_ahead_without_an_idle_core(forest_problems, monkeypatch):
    events = _fake(monkeypatch, [(0.3, "infeasible"), (0.01, "optimal")], slow=0.05)
    monkeypatch.setattr(stage_window, "spare_core", lambda: False)
    assert _settled(forest_problems, [None] * 2) == [(0, "infeasible", 0), (1, "optimal", 0)]
    assert not events[0].is_set()


def test_spare_core_reads_the_load_average(monkeypatch):
    import os

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setattr(os, "getloadavg", lambda: (1.2, 0.0, 0.0))
    assert stage_window.spare_core()
    monkeypatch.setattr(os, "getloadavg", lambda: (1.7, 0.0, 0.0))
    assert not stage_window.spare_core()
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert not stage_window.spare_core()

    def unavailable():
        raise OSError("no load average")

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setattr(os, "getloadavg", unavailable)
    assert not stage_window.spare_core()


def test_one_stage_thread_never_runs_ahead(forest_problems, monkeypatch):
    _fake(monkeypatch, [(0.2, "infeasible"), (0.01, "optimal")], slow=0.0)
    assert _settled(forest_problems, [None] * 2, threads=1) == [(0, "infeasible", 0), (1, "optimal", 0)]


def test_a_backend_that_cannot_cancel_runs_stages_in_turn(forest_problems, monkeypatch):
    from milp_recourse.backends.highs import HighsBackend
    from milp_recourse.backends.base import Capabilities

    monkeypatch.setattr(HighsBackend, "capabilities", Capabilities(mip=True, quadratic_lp=True))
    _fake(monkeypatch, [(0.2, "infeasible"), (0.01, "optimal")], slow=0.0)
    assert _settled(forest_problems, [None] * 2) == [(0, "infeasible", 0), (1, "optimal", 0)]


# -- HiGHS stops a solve whose cancel event is set ----------------------------------------------------------------

def _binary_program(n: int = 16, m: int = 6, seed: int = 3) -> tuple[MIPModel, np.ndarray]:
    """max v.x s.t. A x <= b, x binary, written as min -v.x (dense random rows: presolve cannot settle it);
    the model and its dense rows."""
    rng = np.random.default_rng(seed)
    A = rng.integers(1, 30, size=(m, n)).astype(float)
    model = MIPModel(col_names=tuple(f"x{j}" for j in range(n)), col_lb=np.zeros(n), col_ub=np.ones(n),
                     integrality=np.ones(n, bool), A=sp.csr_matrix(A), row_lo=np.full(m, -np.inf),
                     row_hi=A.sum(axis=1) / 3.0, row_groups=("knapsack",) * m,
                     c=-rng.integers(1, 40, size=n).astype(float))
    return model, A


def test_highs_stops_when_the_cancel_event_is_set():
    model, A = _binary_program()
    points = np.array(list(itertools.product((0.0, 1.0), repeat=model.n_cols)))
    best = float((points[(points @ A.T <= model.row_hi + 1e-9).all(axis=1)] @ model.c).min())
    backend = get_backend("highs")
    assert backend.capabilities.cancel
    free = backend.solve(model, SolverParams(time_limit=30, mip_gap=0.0, cancel=threading.Event()))
    assert free.termination is Termination.OPTIMAL and free.objective == pytest.approx(best, abs=1e-6)
    stop = threading.Event()
    stop.set()
    stopped = backend.solve(model, SolverParams(time_limit=30, mip_gap=0.0, cancel=stop))
    assert stopped.termination in (Termination.NO_SOLUTION, Termination.FEASIBLE)


@pytest.mark.parametrize("bad", [0, -1, True, 2.0, "2"])
def test_stage_threads_is_validated(bad):
    with pytest.raises(InputError, match="stage_threads.*integer >= 1.*" + repr(bad).replace("'", ".")):
        SolveOptions(stage_threads=bad)
