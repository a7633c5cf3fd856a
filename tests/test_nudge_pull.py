"""An answer a few floats past a closed SCM edge is nudged outward until the re-check accepts it, then pulled back onto
the edge: solve_many's warm start (another person before) gave a start 3 floats past 'v0 >= -1.3', whose nudge
landed 1.2e-13 inside, while solve's start was on the edge: two answers for one person where nothing ties (an outside
fuzz). Reference: closed form (do(v0 := -1.3) turns the comparison on; the SVM's own predict on our own
counterfactual), and solve itself."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

import milp_recourse as mr
from milp_recourse.scm.spec import scm_from_dict

XY = pd.DataFrame({"v0": [0.0, 1.0, 2.0, 3.0], "v1": [0.0, 1.0, 0.0, 1.0]})


def _scm(c: float, b: float, k: float, s: float, sd: float):
    op = "<=" if c > 0 else ">="
    return scm_from_dict({"name": "cmp", "variables": [
        {"name": "v0", "type": "continuous", "actionability": "actionable", "domain": [c - 20 * s, c + 20 * s],
         "equation": "U_v0", "noise": {"name": "U_v0", "dist": "normal", "mean": c, "std": s}},
        {"name": "v1", "type": "continuous", "actionability": "actionable", "domain": [-200 * s - 100, 200 * s + 100],
         "equation": f"{b!r} * v0 + {k!r} * (v0 {op} {c!r}) + U_v1",
         "noise": {"name": "U_v1", "dist": "normal", "mean": 0, "std": sd}}]})


def test_solve_many_lands_on_the_edge_solve_finds():
    clf_a = make_pipeline(StandardScaler(), LogisticRegression()).fit(XY, [0, 1, 0, 1])
    clf_a[0].mean_, clf_a[0].scale_ = np.array([-0.00132291, 0.99167767]), np.array([0.95960172, 2.40204083])
    clf_a[0].var_ = clf_a[0].scale_ ** 2
    clf_a[1].coef_, clf_a[1].intercept_ = np.array([[2.30522534, -4.39771247]]), np.array([-0.19399381])
    a = mr.RecourseProblem(_scm(0.001, -1.5, 2.0, 1.0, 0.5), clf_a, {"v0": 0.000999998388234318,
                                                                     "v1": 1.9688553081111788},
                           actionability=mr.Actionability(actionable=("v0", "v1")),
                           options=mr.SolveOptions(time_limit=10, closed_form=False))
    clf_b = LinearSVC().fit(XY, [0, 1, 0, 1])
    clf_b.coef_, clf_b.intercept_ = np.array([[0.34567904, 1.91325287]]), np.array([-6.2567204])
    x = {"v0": -1.30000012509743, "v1": 1.8325680005578087}
    b = mr.RecourseProblem(_scm(-1.3, -1.5, 2.6, 1.3, 0.65), clf_b, x,
                           actionability=mr.Actionability(actionable=("v0", "v1")),
                           preferences=mr.Preferences(weights={"v0": 2.5, "v1": 3.0}),
                           options=mr.SolveOptions(time_limit=10))
    u1 = x["v1"] - (-1.5 * x["v0"] + 2.6 * (x["v0"] >= -1.3))
    v1 = -1.5 * -1.3 + 2.6 + u1
    assert clf_b.predict(pd.DataFrame([[-1.3, v1]], columns=["v0", "v1"]))[0] == 1
    one = mr.solve(b)
    many, _ = mr.solve_many([a, b])
    for res in (one, many[1]):
        assert res.status is mr.Status.OPTIMAL, res.message
        assert dict(res.action) == {"v0": -1.3}
        assert res.cost == 2.5 * abs(-1.3 - x["v0"])
