"""The issue-2 benchmark case on people whose optimal cost is almost zero (CARMA loan rows 27 and 124,
costs ~2e-5 and ~6e-8): the tangent rows of d^2 are normalised, so the proof closes instead of stalling at
the solver's row tolerance (both ended FEASIBLE with the bound stuck above the gap before)."""

from __future__ import annotations

import pytest

from milp_recourse import Status, solve
from milp_recourse.heuristic import random_search
from milp_recourse.local_polish import polish

from carma import carma_problem  # noqa: E402


@pytest.mark.shared_data
@pytest.mark.parametrize("row", [27, 124])
def test_near_zero_cost_people_are_proven_optimal(row):
    pr = carma_problem(row)
    res = solve(pr)
    assert res.status is Status.OPTIMAL and res.verified, res.message
    assert res.objective_bound <= res.cost and res.gap <= pr.options.mip_gap
    local = polish(pr, random_search(pr, 4096, 1))   # an independent upper bound: the proof may not exceed it
    assert res.cost <= local.cost * (1 + pr.options.mip_gap) + 1e-12
