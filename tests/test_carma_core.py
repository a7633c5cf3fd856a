"""The issue-2 benchmark case (Loan SCM + CARMA ReLU network, p = 2). People whose optimal cost is almost
zero (rows 27 and 124, costs ~2e-5 and ~6e-8) on both paths: the MILP's tangent rows of d^2 are normalised,
so its proof closes instead of stalling at the solver's row tolerance (both ended FEASIBLE with the bound
stuck above the gap before), and the box search proves them too. The first denied people: the box search and
the MILP pipeline prove the same optimum."""

from __future__ import annotations

import dataclasses

import pytest

from milp_recourse import Status, solve
from milp_recourse.solver.incumbent import random_search
from milp_recourse.solver.polish import polish

from carma import carma_problem  # noqa: E402


@pytest.mark.shared_data
@pytest.mark.parametrize("box_search", [False, True])
@pytest.mark.parametrize("row", [27, 124])
def test_near_zero_cost_people_are_proven_optimal(row, box_search):
    pr = carma_problem(row)
    pr = dataclasses.replace(pr, options=dataclasses.replace(pr.options, box_search=box_search))
    res = solve(pr)
    assert ("box-search" in res.engines) == box_search
    assert box_search or res.path_reasons["box-search"] == "disabled (box_search=False)"
    assert res.status is Status.OPTIMAL and res.verified, res.message
    assert res.objective_bound <= res.cost and res.gap <= pr.options.mip_gap
    local = polish(pr, random_search(pr, 4096, 1))   # an independent upper bound: the proof may not exceed it
    assert res.cost <= local.cost * (1 + pr.options.mip_gap) + 1e-12


@pytest.mark.shared_data
def test_box_search_and_milp_prove_the_same_optimum_on_carma_people():
    rows = [0, 1, 2, 3, 5, 7, 8, 9]           # the first denied rows of recourse_test.csv
    for row in rows:
        pr = carma_problem(row)
        box = solve(pr)
        milp = solve(dataclasses.replace(pr, options=dataclasses.replace(pr.options, box_search=False)))
        assert box.status is Status.OPTIMAL and milp.status is Status.OPTIMAL and box.verified
        assert box.engines == ("incumbent", "polish", "box-search") and "tighten" in box.path_reasons
        assert "outer-approximation" in milp.engines and box.path[-1].counters["boxes"] >= 1
        assert box.cost == pytest.approx(milp.cost, rel=2e-4, abs=1e-12)
        assert box.objective_bound <= milp.cost * (1 + 1e-9) + 1e-12
