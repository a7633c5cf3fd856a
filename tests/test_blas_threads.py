"""Answers do not depend on how many threads BLAS may use (the machine's core count).

SciPy's SLSQP routine, behind the local polish of ReLU-network people, rounds differently with more BLAS
threads; before the polish ran on one thread, 41 of the first 60 CARMA people got a different proven bound or
cost (within the gap) with 2 threads than with 1, so solve() in an ordinary process disagreed with batch
workers (one thread each), and recorded answers depended on the machine. Reference: the same solve with BLAS
limited to one thread, compared bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from carma import carma_case
from milp_recourse import RecourseProblem, SolveOptions, solve, solve_many

pytestmark = pytest.mark.shared_data


def _key(res) -> tuple:
    return res.status.value, res.cost, res.objective_bound, tuple(sorted(res.action.items()))


def test_carma_answers_are_the_same_with_one_or_four_blas_threads() -> None:
    scm, net, test, cost = carma_case()
    names = list(scm.names)
    rows = np.flatnonzero(net.predict(test[names].to_numpy(float)) == 0)[:12]
    problems = [RecourseProblem(scm, net, test.iloc[int(i)][names].to_dict(), cost=cost,
                                options=SolveOptions(time_limit=60.0)) for i in rows]
    with threadpool_limits(limits=1):
        one = [_key(solve(p)) for p in problems]
    with threadpool_limits(limits=4):
        four = [_key(solve(p)) for p in problems]
        many, _ = solve_many(problems)
    assert all(k[0] == "OPTIMAL" for k in one)
    assert four == one
    assert [_key(r) for r in many] == one


def test_concurrent_solves_restore_the_thread_count_and_agree_on_one_thread() -> None:
    """Two Python threads solving at once (as the serve API may). The polish's one-thread limit is process-wide,
    so polishes take turns: afterwards the BLAS thread count is what it was (never left at one). With one BLAS
    thread the answers are those of one solve at a time, bit for bit. With several, OpenBLAS serves concurrent
    callers differently and the last digits may move (README: reproducibility), but every answer stays proven
    within the gap of the one-at-a-time answer."""
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_info

    scm, net, test, cost = carma_case()
    names = list(scm.names)
    rows = np.flatnonzero(net.predict(test[names].to_numpy(float)) == 0)[12:20]
    problems = [RecourseProblem(scm, net, test.iloc[int(i)][names].to_dict(), cost=cost,
                                options=SolveOptions(time_limit=60.0)) for i in rows]
    for threads in (1, 3):
        with threadpool_limits(limits=threads):
            alone = [solve(p) for p in problems]
            with ThreadPoolExecutor(max_workers=2) as pool:
                together = list(pool.map(solve, problems))
            after = {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}
        assert after == {threads}
        if threads == 1:
            assert [_key(r) for r in together] == [_key(r) for r in alone]
        for a, t in zip(alone, together):
            assert t.status.value == "OPTIMAL" and t.verified
            assert t.objective_bound <= a.cost * (1 + 1e-12) and a.objective_bound <= t.cost * (1 + 1e-12)


def test_one_blas_thread_blocks_take_turns() -> None:
    """A block of one thread waits for another thread's block to end, so that the second cannot save the first's
    temporary count of one and restore it last; the count is restored at the end either way."""
    import threading
    import time

    from threadpoolctl import threadpool_info

    from milp_recourse.solver.slsqp_steps import one_blas_thread

    inside, events = threading.Event(), []

    def first() -> None:
        with one_blas_thread():
            inside.set()
            time.sleep(0.3)
            events.append("first out")

    def second() -> None:
        inside.wait()
        with one_blas_thread():
            events.append("second in")

    with threadpool_limits(limits=3):
        threads = [threading.Thread(target=first), threading.Thread(target=second)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        after = {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}
    assert events == ["first out", "second in"] and after == {3}
