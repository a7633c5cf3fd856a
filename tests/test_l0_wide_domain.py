"""An l0 cost with a domain widened to +-1.6e7 (Loan's savings S x 4.8e5), logistic regression, the MILP path: the
big-M row |d_S| <= 1.6e7 a_S let the binary a_S sit at 2e-8, inside HiGHS's integrality tolerance, so the
change was made without its fixed cost; decoded, it was no change at all, and the answer came back
VERIFICATION_FAILED with an empty action (an outside fuzz). A small model with such a big-M now seeks an
incumbent first, whose cost radius bounds it. Reference: the score is linear and S has no children, so one
change of S costs |need / w_S| + l0 by hand, L's (which moves D one for one) likewise; the estimator's own predict
approves the answer."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import yaml
from sklearn.linear_model import LogisticRegression

from milp_recourse import Actionability, CostSpec, Preferences, RecourseProblem, SolveOptions, Status, load_scm, solve
from milp_recourse.scm.spec import models_dir, scm_from_dict

NAMES = ["G", "A", "E", "L", "D", "I", "S"]
PERSON = {"G": 0.0, "A": -13.340399344141037, "E": -0.20189128942819745, "L": -0.579418162096537,
          "D": -0.2322101820650977, "I": -1.4408740818833226, "S": 1.9065112360481296}
WEIGHTS = {"E": 0.004594363407148801, "L": 202.56697060067012}
L0 = 0.01


def loan_with_wide_savings(widen: float):
    spec = yaml.safe_load((models_dir() / "loan.yaml").read_text())
    spec = copy.deepcopy(spec)
    spec.pop("label", None)
    for v in spec["variables"]:
        if v["name"] == "S":
            lo, hi = v["domain"]
            c, h = (lo + hi) / 2, (hi - lo) / 2 * widen
            v["domain"] = [c - h, c + h]
    return scm_from_dict(spec)


@pytest.fixture(scope="module")
def classifier() -> LogisticRegression:
    T = load_scm("loan").sample(3000, seed=11)
    L, D, I, S = (T[c].to_numpy() for c in "LDIS")
    y = (-L - D + I + S + np.where((I >= 0) & (S >= 0), 1, -1) * I * S >= 0).astype(int)
    return LogisticRegression(max_iter=2000).fit(T[NAMES].to_numpy(), y)


@pytest.mark.parametrize("actionable", [("S",), ("L", "S")])
@pytest.mark.parametrize("widen", [1.0, 483131.94321780925])
def test_l0_cost_with_a_wide_domain_is_proven(classifier, actionable, widen):
    w = dict(zip(NAMES, classifier.coef_[0]))
    x = np.array([[PERSON[n] for n in NAMES]])
    need = 1e-6 - classifier.decision_function(x)[0]
    options = {"S": abs(need / w["S"]) + L0, "L": WEIGHTS["L"] * abs(need / (w["L"] + w["D"])) + L0}
    ref = min(options[n] for n in actionable)
    r = solve(RecourseProblem(loan_with_wide_savings(widen), classifier, PERSON,
                              actionability=Actionability(actionable=actionable),
                              preferences=Preferences(weights=WEIGHTS), cost=CostSpec(p=1, l0=L0),
                              options=SolveOptions(time_limit=20)))
    assert r.status is Status.OPTIMAL, r.message
    assert r.cost == pytest.approx(ref, rel=1e-6)
    assert set(r.action) == {"S"}
    cf = np.array([[r.counterfactual[n] for n in NAMES]])
    assert classifier.predict(cf)[0] == 1
