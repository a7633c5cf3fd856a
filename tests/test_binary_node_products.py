"""A product of a binary threshold node b (b = (eta(v1) + U_b >= 0)) and its continuous parent v1: with b actionable,
`1.2 * b * v1` was refused as "two changing continuous quantities" (an outside fuzz), since b's counterfactual
column was continuous; it is 0 or 1 either way and now an integer column. Reference: every action enumerated (v1 on
its grid, b kept or set), the SCM by hand (U_b the posterior median given the factual b), the classifier's own
predict."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logit
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

import milp_recourse as mr
from milp_recourse.scm.spec import scm_from_dict

SPEC = {"name": "bprod", "variables": [
    {"name": "v1", "type": "continuous", "actionability": "actionable", "domain": [-3, 3], "equation": "U_v1",
     "noise": {"name": "U_v1", "dist": "normal", "mean": 0, "std": 1}},
    {"name": "b", "type": "binary", "actionability": "actionable", "domain": [0, 1],
     "equation": "(0.3 + 0.4 * v1 + U_b >= 0)", "noise": {"name": "U_b", "dist": "logistic"}},
    {"name": "v3", "type": "continuous", "actionability": "immutable", "domain": [-9, 9],
     "equation": "-0.2 + 1.2 * b * v1 + U_v3", "noise": {"name": "U_v3", "dist": "normal", "mean": 0, "std": 0.5}}]}
GRID = tuple(np.round(np.linspace(-2.5, 2.5, 11), 6))


def reference(model, x: dict[str, float]) -> float:
    eta = lambda v1: 0.3 + 0.4 * v1   # noqa: E731
    p = expit(-eta(x["v1"]))          # P(b = 0 | v1)
    u_b = logit(p + (1 - p) / 2) if x["b"] == 1 else logit(p / 2)
    u_3 = x["v3"] - (-0.2 + 1.2 * x["b"] * x["v1"])
    rows, costs = [], []
    for a1, ab in itertools.product((None,) + GRID, (None, 0.0, 1.0)):
        v1 = x["v1"] if a1 is None else a1
        b = float(eta(v1) + u_b >= 0) if ab is None else ab
        rows.append([v1, b, -0.2 + 1.2 * b * v1 + u_3])
        costs.append((0.0 if a1 is None else abs(a1 - x["v1"])) + (0.0 if ab is None else abs(ab - x["b"])))
    ok = model.predict(pd.DataFrame(rows, columns=["v1", "b", "v3"])) == 1
    return float(np.min(np.asarray(costs)[ok])) if ok.any() else np.inf


@pytest.mark.parametrize("kind", ["logreg", "forest"])
def test_a_product_with_an_actionable_binary_node(kind):
    scm = scm_from_dict(SPEC)
    X = scm.sample(2000, seed=4)
    y = (X["v3"] > 1.0).astype(int)
    model = (LogisticRegression() if kind == "logreg" else
             RandomForestClassifier(n_estimators=15, max_depth=4, random_state=0)).fit(X, y)
    people = [r for r in scm.sample(60, seed=5).to_dict("records") if model.predict(pd.DataFrame([r]))[0] == 0][:6]
    assert len(people) >= 4
    for x in people:
        res = mr.solve(mr.RecourseProblem(scm, model, x, actionability=mr.Actionability(grids={"v1": GRID})))
        ref = reference(model, x)
        if not np.isfinite(ref):
            assert res.status is mr.Status.NO_RECOURSE, (x, res.status, dict(res.action))
        else:
            assert res.status is mr.Status.OPTIMAL and res.cost == pytest.approx(ref, rel=1e-9, abs=1e-12), \
                (x, res.status, res.cost, ref, dict(res.action))
