"""A small --cost-scale (1e-7) put every objective coefficient at HiGHS's 1e-7 dual tolerance: the small branch and
bound, which runs without an incumbent to scale by, proved do(L := -2.85) at 3.29e-7 where do(I := 0.0904) costs
1.96e-7 (an outside fuzz: 22 of 25 Loan people wrong at p = 1, up to 23x). The cost is linear in the scale, so the
reference is scale x the optimum at scale 1, there taken from the exact closed form over the SCM's linear pieces
(a different engine) and the MILP agreeing; the action is also re-checked by hand on the Loan equations."""

from __future__ import annotations

import numpy as np
import pytest

from milp_recourse import CostSpec, RecourseProblem, SolveOptions, Status, load_scm, solve
from milp_recourse.models.classifiers import favourable
from milp_recourse.models.recipes import train_recipe


@pytest.fixture(scope="module")
def loan():
    scm = load_scm("loan")
    model = train_recipe(scm, "logreg")
    X = scm.sample(300, seed=3)[list(scm.names)].to_numpy(float)
    return scm, model, X[np.flatnonzero(~favourable(model, X))[[20, 3, 7, 11]]]


def _by_hand(scm, model, person: dict, action: dict) -> float:
    """The Loan SCM's counterfactual, its equations written out (A and G never change here, so each child moves by
    its parents' change), scored by the model's own decision_function."""
    x, cf = dict(person), {**person, **action}
    if "D" not in action:
        cf["D"] = x["D"] + (cf["L"] - x["L"])                                   # D = ... + L + U_D
    if "I" not in action:
        cf["I"] = x["I"] + x["G"] * (cf["E"] - x["E"])                         # I = ... + G*E + U_I
    if "S" not in action:
        cf["S"] = x["S"] + 1.5 * (max(cf["I"], 0.0) - max(x["I"], 0.0))        # S = -4 + 1.5*max(I, 0) + U_S
    return float(model.decision_function(np.array([[cf[n] for n in scm.names]]))[0])


@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("scale", [1e-7, 1e-6])
def test_a_small_cost_scale_scales_the_optimum(loan, p, scale):
    scm, model, people = loan
    for row in people:
        person = dict(zip(scm.names, row))
        exact = solve(RecourseProblem(scm, model, person, cost=CostSpec(p=p)))
        milp = solve(RecourseProblem(scm, model, person, cost=CostSpec(p=p), options=SolveOptions(closed_form=False)))
        assert exact.status is milp.status is Status.OPTIMAL
        assert milp.cost == pytest.approx(exact.cost, rel=1e-4)
        small = solve(RecourseProblem(scm, model, person, cost=CostSpec(p=p, scale=scale),
                                      options=SolveOptions(closed_form=False)))
        assert small.status is Status.OPTIMAL, small.message
        assert small.cost == pytest.approx(scale * exact.cost, rel=1e-4, abs=1e-9)
        assert _by_hand(scm, model, person, dict(small.action)) >= 0.0
