"""explain()'s cheapest relaxation reads a MILP shift within solver tolerance as no change.

A linear SCM + logistic regression person with no recourse (only v3 actionable, up only, at most one change):
the relaxation MILP's action held a root at its factual value up to a 1.4e-9 shift, which counted as changing
it, and the relaxation was reported 'unknown: inconsistent' (an outside fuzz, 2 of 182 such people).
Reference: the closed form, giving up only 'fixed:v0': do(v0) moves the logit by its total effect through the
linear SCM, so the cheapest shift is need / effect and its p = 2 cost the square of it.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import milp_recourse as mr
from milp_recourse.diagnose.explain import explain
from milp_recourse.scm.spec import scm_from_dict

def _node(name: str, domain: list[float], actionability: str, equation: str, std: float) -> dict:
    return {"name": name, "type": "continuous", "domain": domain, "actionability": actionability,
            "equation": equation, "noise": {"name": f"U_{name}", "dist": "normal", "mean": 0, "std": std}}


SPEC = {"name": "fz", "variables": [
    _node("v0", [-5.864, 6.426], "actionable", "0.25 + U_v0", 1.04),
    _node("v1", [-2.865, 3.747], "actionable", "0.61 + U_v1", 0.53),
    _node("v2", [-10.416, 9.938], "immutable", "0.3 - 0.5*v1 + U_v2", 1.68),
    _node("v3", [-5.917, 4.09], "actionable", "-0.86 - 0.59*v0 + 0.38*v1 + 0.8*U_v3", 0.62),
    _node("v4", [-14.832, 17.844], "increase", "-0.64 + 0.91*v0 - 1.0*v2 - 1.09*v3 + U_v4", 1.09)]}
NAMES = ["v0", "v1", "v2", "v3", "v4"]
COEF = [1.7620435183388068, 1.2448700164526063, -1.4741549126768765, -2.8383977799987687, -0.07388437477860918]
INTERCEPT = -1.6863554893701618
X = [-0.2884235500480349, -0.5888400542928601, 3.4795173245086564, -1.0978003602989177, -4.078943643278438]


def test_a_tolerance_sized_shift_is_no_change_in_the_relaxation():
    clf = LogisticRegression().fit(pd.DataFrame(np.random.default_rng(0).normal(size=(20, 5)), columns=NAMES),
                                   [0, 1] * 10)
    clf.coef_, clf.intercept_ = np.array([COEF]), np.array([INTERCEPT])
    act = mr.Actionability(actionable=("v3",), bounds={"v3": (-2.186, None)}, directions={"v3": "up"},
                           max_changes=1)
    prob = mr.RecourseProblem(scm_from_dict(SPEC), clf, dict(zip(NAMES, X)), actionability=act,
                              cost=mr.CostSpec(p=2), options=mr.SolveOptions(threshold=0.9, time_limit=20))
    ex = explain(prob)
    assert ex.result.status is mr.Status.NO_RECOURSE
    rel = ex.relaxation
    assert rel.status == "optimal", rel.message
    assert [g.key for g in rel.groups] == ["fixed:v0"]
    assert set(rel.action) == {"v0"}
    need = math.log(0.9 / 0.1) - (float(np.dot(COEF, X)) + INTERCEPT)
    effect = COEF[0] + COEF[3] * (-0.59) + COEF[4] * (0.91 + (-1.09) * (-0.59))
    assert rel.cost == pytest.approx((need / effect) ** 2, rel=1e-5)
