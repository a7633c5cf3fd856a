"""Issue 14.2 / 14.3: a hard time limit bounds each batch row and keeps the incumbent found before it;
LP bound tightening stops at a deadline (what it proved until then stays valid)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from milp_recourse import RecourseProblem, SolveOptions
from milp_recourse.batch.run import solve_batch
from milp_recourse.models.classifiers import classifier_features, favourable
from milp_recourse.models.recipes import train_recipe
from milp_recourse.scm.random_linear import random_linear_scm


@pytest.fixture(scope="module")
def hard_case():
    """A 50-node random linear SCM whose people the MILP does not close within seconds (issue 14.2)."""
    scm = random_linear_scm(50, seed=50)
    model = train_recipe(scm, "logreg", 3000, 0)
    X = scm.sample(200, seed=3)
    fav = favourable(model, X[list(classifier_features(model, scm.names))].to_numpy(float), 0.5)
    return scm, model, X[~fav].head(2).reset_index(drop=True)


def test_hard_limit_bounds_each_row_and_keeps_the_incumbent(hard_case):
    scm, model, people = hard_case
    t0 = time.perf_counter()
    out = solve_batch(scm, model, people, options=SolveOptions(time_limit=8.0), hard_time_limit=1.0)
    wall = time.perf_counter() - t0
    assert list(out["status"]) == ["FEASIBLE", "FEASIBLE"], out[["status", "message"]]
    assert out["verified"].all() and np.isfinite(out["cost"]).all()
    assert (out["objective_bound"] <= out["cost"] + 1e-9).all()
    assert (out["seconds"] <= 1.0 + 0.25).all(), out["seconds"].tolist()  # not the 8 s solver limit
    assert wall < 8.0


def test_the_hard_limit_guard_is_told_what_each_person_already_spent(hard_case):
    """solve_many enters its guard once per stage of a person (search, finish); the guard gets the seconds the
    person spent before that stage, so batch's hard limit bounds the whole row. Before, every stage got the full
    limit afresh (an outside fuzz: rows of 1.3-1.7 s under a 1 s hard limit). A limit already used up fires at
    once."""
    from contextlib import contextmanager

    from milp_recourse.batch.worker import HardTimeout, hard_limit
    from milp_recourse.solver.many import solve_many

    scm, model, people = hard_case
    problems = [RecourseProblem(scm, model, people.iloc[i], options=SolveOptions(time_limit=0.5)) for i in (0, 1)]
    calls: list[tuple[float, float]] = []

    @contextmanager
    def recording(spent: float):
        t = time.perf_counter()
        yield
        calls.append((spent, time.perf_counter() - t))

    results, _ = solve_many(problems, guard=recording)
    assert all(r.action for r in results)
    n = len(problems)
    assert len(calls) % n == 0 and len(calls) >= 2 * n   # per person, stage by stage: compile, search, finish
    for i in range(n):
        spent_before = 0.0
        for spent, took in calls[i::n]:
            assert spent == pytest.approx(spent_before, rel=0.05, abs=0.02)
            spent_before += took
        assert spent_before > 0.4   # the search ran its 0.5 s limit: later stages were told so
    with pytest.raises(HardTimeout):
        with hard_limit(0.0):
            pass


def _tighten_inputs(hard_case):
    from milp_recourse.encode.compile import compile_problem
    from milp_recourse.solver.incumbent import random_search

    scm, model, people = hard_case
    problem = RecourseProblem(scm, model, people.iloc[0], options=SolveOptions(time_limit=5.0))
    inc = random_search(problem, 2048)
    assert inc is not None
    compiled = compile_problem(problem, upper_bound=inc.cost, incumbent=inc.action)
    return problem, compiled, inc


def test_affine_ranges_stop_at_the_deadline(hard_case):
    from milp_recourse.backends.highs import HighsBackend

    _, compiled, _ = _tighten_inputs(hard_case)
    targets = list(compiled.tighten_targets.values()) or pytest.skip("no tightening targets")
    exprs = [(np.fromiter(a.terms.keys(), int), np.fromiter(a.terms.values(), float), a.const) for a in targets]
    full = HighsBackend().affine_ranges(compiled.model, exprs)
    assert np.isfinite(np.array(full)).all()
    past = HighsBackend().affine_ranges(compiled.model, exprs, deadline=time.perf_counter() - 1.0)
    assert past == [(-np.inf, np.inf)] * len(exprs)  # nothing proven, nothing claimed
    soon = HighsBackend().affine_ranges(compiled.model, exprs, deadline=time.perf_counter() + 0.002)
    for (lo, hi), (flo, fhi) in zip(soon, full):  # what was proven in time is the same; the rest is open
        assert (lo, hi) == (-np.inf, np.inf) or (abs(lo - flo) < 1e-7 and abs(hi - fhi) < 1e-7)


def test_tighten_bounds_returns_at_a_past_deadline(hard_case):
    from milp_recourse.solver.tighten import tighten_bounds

    problem, compiled, inc = _tighten_inputs(hard_case)
    t0 = time.perf_counter()
    out = tighten_bounds(problem, compiled, inc, passes=5, deadline=time.perf_counter())
    assert time.perf_counter() - t0 < 1.0
    assert out.model.n_integer == compiled.model.n_integer  # untightened: the same model


def stuck_or_quick(context, chunk):
    """A chunk solver for the engine test: 'stuck' blocks SIGALRM and sleeps (like a C call that never
    returns); anything else returns at once."""
    import signal

    if chunk[0] == "stuck":
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        time.sleep(120)
    return [{"key": k, "pid": __import__("os").getpid()} for k in chunk]


def test_a_stuck_worker_is_killed_and_replaced():
    from milp_recourse.batch.engines import Abandoned, chunk_budget, run_chunks

    context = {"hard_seconds": 0.5, "chunk_solver": stuck_or_quick}
    chunks = [["a"], ["stuck"], ["b"], ["c"], ["d"]]
    t0 = time.perf_counter()
    got = dict(run_chunks("local", context, chunks, workers=2))
    wall = time.perf_counter() - t0
    assert set(got) == set(range(5))
    assert isinstance(got[1], Abandoned) and "killed and replaced" in str(got[1])
    assert all(got[i] == [{"key": chunks[i][0], "pid": got[i][0]["pid"]}] for i in (0, 2, 3, 4))
    assert chunk_budget(context, chunks[1]) == 3.5
    assert wall < 30  # not the 120 s the stuck call would take


def test_an_abandoned_chunk_becomes_unknown_rows_and_the_rest_is_kept(monkeypatch, tmp_path):
    import milp_recourse.batch.engines as engines
    from milp_recourse import load_scm

    real = engines.run_chunks

    def one_abandoned(engine, context, chunks, workers=1, address=None):
        for i, rows in real(engine, context, chunks, workers, address):
            yield i, (engines.Abandoned("abandoned after 3.5 s; its worker was killed and replaced") if i == 0
                      else rows)

    monkeypatch.setattr(engines, "run_chunks", one_abandoned)
    data = load_scm("loan").sample(40, seed=5)
    out = solve_batch("loan", "recipe:logreg", data, out=tmp_path / "r.csv", chunk_size=1, hard_time_limit=5.0)
    solved = out[out["status"] != "ALREADY_FAVOURABLE"]
    first = solved.iloc[0]
    assert first["status"] == "UNKNOWN" and "killed and replaced" in first["message"]
    assert "hard time limit of 5 s" in first["message"]
    assert (solved["status"].iloc[1:] == "OPTIMAL").all() and len(solved) > 2
