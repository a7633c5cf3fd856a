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
