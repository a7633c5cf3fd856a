"""Savings measured in other units (S x 1e5: its equation, domain, the tree's thresholds on S, the person's S; its
divisor x 1e10 so that the cost is unchanged): the optimum cannot move. With the squared cost's epigraph in d^2
units, S's cost coefficient of 1e-10 sat below HiGHS's dual tolerance, and the cutoff MILP proved OPTIMAL 7.739 for
a person whose optimum is 1.646 (an outside fuzz: Loan tree, forest and XGBoost, 7-11 of 84 people). Reference:
the base-units optimum, its action checked by the Loan SCM's equations written out here and the rescaled tree's
own predict."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import yaml

from milp_recourse import CostSpec, RecourseProblem, SolveOptions, Status, load_scm, solve
from milp_recourse.models.recipes import train_recipe
from milp_recourse.scm.spec import models_dir, scm_from_dict

NAMES = ["G", "A", "E", "L", "D", "I", "S"]
PEOPLE = [{"G": 1.0, "A": -7.24356144798756, "E": 0.020587675272466077, "L": 0.665493451286294,
           "D": -2.046507811595009, "I": -1.6500681932818189, "S": -4.969832018314208}]


def _sig(z: float) -> float:
    return 1.0 / (1.0 + np.exp(-z))


def _loan_counterfactual(x: dict, action: dict) -> dict:
    """Abduction, action, prediction on the Loan SCM's equations (loan.yaml), base units."""
    G, A, E, L, D, I, S = (x[k] for k in NAMES)
    uE = np.log((E + 0.5) / (0.5 - E)) - (-1 + 0.5 * G + _sig(0.1 * A))
    uL = L - (1 + 0.01 * (A - 5) * (5 - A) + (1 - G))
    uD = D - (-1 + 0.1 * A + 2 * (1 - G) + L)
    uI = I - (-4 + 0.1 * (A + 35) + 2 * G + G * E)
    uS = S - (-4 + 1.5 * max(I, 0))
    c = {"G": G, "A": A}
    c["E"] = action.get("E", -0.5 + _sig(-1 + 0.5 * G + _sig(0.1 * A) + uE))
    c["L"] = action.get("L", 1 + 0.01 * (A - 5) * (5 - A) + (1 - G) + uL)
    c["D"] = action.get("D", -1 + 0.1 * A + 2 * (1 - G) + c["L"] + uD)
    c["I"] = action.get("I", -4 + 0.1 * (A + 35) + 2 * G + G * c["E"] + uI)
    c["S"] = action.get("S", -4 + 1.5 * max(c["I"], 0) + uS)
    return c


@pytest.mark.parametrize("factor", [1e5, 1e-3])
def test_the_squared_optimum_does_not_depend_on_a_features_units(factor):
    base = load_scm("loan")
    tree = train_recipe(base, "tree")
    spec = yaml.safe_load(open(models_dir() / "loan.yaml"))
    spec.pop("label", None)
    for v in spec["variables"]:
        if v["name"] == "S":
            v["equation"] = f"{factor!r}*({v['equation']})"
            v["domain"] = [v["domain"][0] * factor, v["domain"][1] * factor]
    scaled = scm_from_dict(spec)
    tree2 = copy.deepcopy(tree)
    on_s = tree2.tree_.feature == NAMES.index("S")
    tree2.tree_.threshold[on_s] = tree2.tree_.threshold[on_s] * factor
    for person in PEOPLE:
        ref = solve(RecourseProblem(base, tree, person, cost=CostSpec(p=2), options=SolveOptions(time_limit=20)))
        assert ref.status is Status.OPTIMAL
        cf = _loan_counterfactual(person, dict(ref.action))
        assert tree.predict(pd.DataFrame([cf])[NAMES])[0] == 1
        assert tree2.predict(pd.DataFrame([{**cf, "S": cf["S"] * factor}])[NAMES])[0] == 1
        r = solve(RecourseProblem(scaled, tree2, {**person, "S": person["S"] * factor},
                                  cost=CostSpec(p=2, divisors={"S": factor ** 2}), options=SolveOptions(time_limit=20)))
        assert r.status is Status.OPTIMAL, r.message
        assert r.cost == pytest.approx(ref.cost, rel=1e-4)
