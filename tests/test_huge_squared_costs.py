"""Squared costs on features measured in millions (dollars): shifts of ~1e6 put terms of ~4e13 in the tangent
rows t >= 2 q d - q^2, whose round-off (2.4e-4) broke HiGHS's absolute 1e-7 row check, so the first
outer-approximation MILP ended in 'Solve error' and the person got UNKNOWN (an outside fuzz's case). Each answer
here is checked against a reference computed outside the package: a scan of the estimator's own predict along
the one free feature, bisected to adjacent floats, or the closed form of a linear score under a weighted L2 cost."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import milp_recourse as mr
from milp_recourse.scm.spec import scm_from_dict

X0, X1 = 330000.00186668517, 638394.1958881093


def _step_scm():
    return scm_from_dict({"name": "dollars", "variables": [
        {"name": "v0", "type": "continuous", "actionability": "actionable", "domain": [-6270000.0, 6930000.0],
         "equation": "U_v0", "noise": {"name": "U_v0", "dist": "normal", "mean": 330000.0, "std": 330000.0}},
        {"name": "v1", "type": "continuous", "actionability": "actionable", "domain": [-66000100.0, 66000100.0],
         "equation": "0.5 * v0 + 660000.0 * (v0 < 330000.0) + U_v1",
         "noise": {"name": "U_v1", "dist": "normal", "mean": 0, "std": 165000.0}}]})


def _step_classifier():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = make_pipeline(StandardScaler(), LogisticRegression()).fit(
            pd.DataFrame({"v0": [0.0, 1.0, 2.0, 3.0], "v1": [0.0, 1.0, 0.0, 1.0]}), [0, 1, 0, 1])
    clf[0].mean_ = np.array([353951.35238439, 474862.33809119])
    clf[0].scale_ = np.array([307404.80878135, 281943.45550133])
    clf[0].var_ = clf[0].scale_ ** 2
    clf[1].coef_ = np.array([[-0.16538143, -6.09355924]])
    clf[1].intercept_ = np.array([-0.42384819])
    return clf


def _nearest_accepted(clf) -> float:
    """do(v0 := theta) nearest the person that the pipeline's own predict accepts, on this SCM's arithmetic."""
    u1 = X1 - (0.5 * X0 + 660000.0 * (X0 < 330000.0))

    def accepted(t: float) -> bool:
        row = pd.DataFrame([[t, 0.5 * t + 660000.0 * (t < 330000.0) + u1]], columns=["v0", "v1"])
        return bool(clf.predict(row)[0] == 1)

    ts = np.linspace(-6270000.0, 6930000.0, 4001)
    best = min((t for t in ts if accepted(t)), key=lambda t: abs(t - X0))
    bad = X0
    while True:
        mid = bad + (best - bad) / 2
        if mid in (bad, best):
            return float(best)
        bad, best = (bad, mid) if accepted(mid) else (mid, best)


@pytest.mark.parametrize("p", [1, 2])
def test_a_million_dollar_shift_is_proven_under_either_cost(p):
    clf = _step_classifier()
    theta = _nearest_accepted(clf)
    problem = mr.RecourseProblem(_step_scm(), clf, {"v0": X0, "v1": X1},
                                 actionability=mr.Actionability(actionable=("v0",)),
                                 preferences=mr.Preferences(weights={"v0": 2.5}), cost=mr.CostSpec(p=p),
                                 options=mr.SolveOptions(time_limit=20))
    r = mr.solve(problem)
    ref = 2.5 * abs(theta - X0) ** p
    assert r.status is mr.Status.OPTIMAL, r.message
    assert r.cost == pytest.approx(ref, rel=1e-6)
    assert r.action["v0"] == pytest.approx(theta, rel=1e-9)


def _linear_scm():
    return scm_from_dict({"name": "wealth", "variables": [
        {"name": "income", "type": "continuous", "actionability": "actionable", "domain": [0.0, 5000000.0],
         "equation": "U_i", "noise": {"name": "U_i", "dist": "normal", "mean": 60000.0, "std": 30000.0}},
        {"name": "savings", "type": "continuous", "actionability": "actionable", "domain": [-1e7, 1e7],
         "equation": "0.3 * income + U_s", "noise": {"name": "U_s", "dist": "normal", "mean": 0, "std": 20000.0}}]})


@pytest.mark.parametrize("closed_form", [True, False])
@pytest.mark.parametrize("need", [2e6, 50.0])
def test_dollar_scale_linear_score_matches_the_weighted_l2_closed_form(closed_form, need):
    """score = a_i * income + a_s * savings + b. do(income) alone moves savings by 0.3 d_i, so the score rises by
    (a_i + 0.3 a_s) d_i; do(savings) sets savings outright, so with it the rise is a_i d_i + a_s d_s. The cheapest
    weighted L2 move to a rise r on a gradient g costs r^2 / sum(g_k^2 / w_k); the reference is the cheapest of the
    three sets of intervened features. A huge and a tiny move are checked, the tiny one inside a domain whose
    tangent rows are scaled for millions."""
    from sklearn.svm import LinearSVC

    xi, xs = 40000.0, 5000.0
    ai, as_, w_i, w_s = 1e-6, 2e-6, 1.0, 3.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = LinearSVC().fit(np.array([[0.0, 0.0], [1.0, 1.0]]), [0, 1])
    clf.coef_ = np.array([[ai, as_]])
    score = ai * xi + as_ * xs
    clf.intercept_ = np.array([-(score + need * 1e-6)])   # the person sits 'need' micro-units below the line
    margin = 1e-6
    rise = need * 1e-6 + margin
    ref = min(rise ** 2 / ((ai + 0.3 * as_) ** 2 / w_i),      # income alone
              rise ** 2 / (as_ ** 2 / w_s),                     # savings alone
              rise ** 2 / (ai ** 2 / w_i + as_ ** 2 / w_s))     # both
    problem = mr.RecourseProblem(_linear_scm(), clf, {"income": xi, "savings": xs},
                                 preferences=mr.Preferences(weights={"income": w_i, "savings": w_s}),
                                 cost=mr.CostSpec(p=2),
                                 options=mr.SolveOptions(time_limit=20, closed_form=closed_form, margin=margin))
    r = mr.solve(problem)
    assert r.status is mr.Status.OPTIMAL, r.message
    assert r.cost == pytest.approx(ref, rel=2e-4)
    cf = np.array([r.action.get("income", xi), r.action.get("savings", xs + 0.3 * (r.action.get("income", xi) - xi))])
    assert float(clf.decision_function(cf[None, :])[0]) >= 0.0
