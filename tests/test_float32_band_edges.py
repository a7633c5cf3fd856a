"""scikit-learn sends x left iff float32(x) <= t, so float64 values up to half a float32 ulp past the float32 t32 go
left; the MILP's regions keep the float32 band (t32, next float32) apart, and an optimum on a split's edge came back
up to half an ulp short of it, reported OPTIMAL: at a split on 51 212.125, a person 1.0 past the edge got a 0.2 %
dearer action, 3x at 0.001. The answer is now pulled onto the edge when a hair toward the person still passes
(solver/answer_rules.edge_beyond).

Reference: the person's one actionable feature, bisected to adjacent floats on the estimator's own predict of our own
counterfactual (the accepted value nearest the person: the cost is monotone in the distance)."""

from __future__ import annotations

import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

import milp_recourse as mr
from milp_recourse.scm.spec import scm_from_dict

SPEC = {"name": "wide", "variables": [
    {"name": "v0", "type": "continuous", "actionability": "actionable", "domain": [0, 100000],
     "equation": "U_v0", "noise": {"name": "U_v0", "dist": "uniform", "low": 0, "high": 100000}},
    {"name": "v1", "type": "continuous", "actionability": "actionable", "domain": [-100000, 400000],
     "equation": "3 * v0 + U_v1", "noise": {"name": "U_v1", "dist": "normal", "mean": 0, "std": 30000}}]}
SCM = scm_from_dict(SPEC)
X = SCM.sample(400, seed=3)


def frame(v0: float, u1: float) -> pd.DataFrame:
    return pd.DataFrame([[v0, 3.0 * v0 + u1]], columns=["v0", "v1"])


def nearest_accepted(model, x: dict[str, float], far: float) -> float:
    """The accepted do(v0 := theta) nearest to x['v0'], between it (refused) and `far` (accepted)."""
    u1 = x["v1"] - 3.0 * x["v0"]
    ok = lambda t: model.predict(frame(t, u1))[0] == 1   # noqa: E731
    bad, good = x["v0"], far
    assert not ok(bad) and ok(good)
    while True:
        mid = (bad + good) / 2
        if mid in (bad, good):
            return good
        bad, good = (bad, mid) if ok(mid) else (mid, good)


def solve(model, x: dict[str, float]) -> mr.RecourseResult:
    return mr.solve(mr.RecourseProblem(SCM, model, x, actionability=mr.Actionability(actionable=("v0",))))


@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize("d", [1e-3, 0.1, 1.0, 10.0])
def test_a_stump_on_the_feature_itself(side, d):
    y = (X["v0"] < 51234.567) if side == "left" else (X["v0"] > 51234.567)
    model = DecisionTreeClassifier(max_depth=1).fit(X, y.astype(int))
    t = float(model.tree_.threshold[0])
    past = t + 0.002 + d if side == "left" else t - d   # (t + half a float32 ulp, 0.00195, still goes left)
    x = {"v0": past, "v1": 3.0 * past + 0.5}
    edge = nearest_accepted(model, x, t - 100.0 if side == "left" else t + 100.0)
    res = solve(model, x)
    assert res.status is mr.Status.OPTIMAL, res.message
    assert res.cost == pytest.approx(abs(edge - x["v0"]), rel=1e-9)
    assert res.action["v0"] == edge


@pytest.mark.parametrize("d", [1e-3, 1.0])
def test_a_split_on_a_descendant_and_behind_a_scaler(d):
    """A forest split on v1 = 3 v0 + U_v1 (the band lies in v1's units) and a StandardScaler in front of a stump."""
    y = (X["v1"] < 153703.7).astype(int)
    for model in (RandomForestClassifier(n_estimators=3, max_depth=2, random_state=0).fit(X, y),
                  make_pipeline(StandardScaler(), DecisionTreeClassifier(max_depth=1)).fit(X, y)):
        far = 0.0
        u1 = 0.25
        lo, hi = 0.0, 100000.0   # the refused side nearest the favourable one: bisection on the model's own predict
        for _ in range(200):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if model.predict(frame(mid, u1))[0] == 1 else (lo, mid)
        x = {"v0": hi + d, "v1": 3.0 * (hi + d) + u1}
        edge = nearest_accepted(model, x, far)
        res = solve(model, x)
        assert res.status is mr.Status.OPTIMAL, (model, res.message)
        assert model.predict(frame(res.action["v0"], u1))[0] == 1
        assert res.cost == pytest.approx(abs(edge - x["v0"]), rel=1e-9), model
