"""Weights from difficulty scores (problem/preferences.weights_from_scores) against the README's formulas, by hand:
identity keeps each score; normalized divides each by their mean, so the weights average 1 whatever the scale; a
feature not scored gets the hardest weight. Huge scores once overflowed the mean to inf and made every weight 0 (an
outside fuzz: every change free, OPTIMAL at cost 0)."""

from __future__ import annotations

import numpy as np
import pytest

import milp_recourse as mr
from milp_recourse.models.recipes import train_recipe
from milp_recourse.problem.preferences import weights_from_scores

FEATURES = ["x1", "x2", "x3"]


@pytest.mark.parametrize("scores", [{"x1": 1.0, "x2": 3.0}, {"x1": 1e308, "x2": 1e308}, {"x1": 1e-300, "x2": 4e-300},
                                    {"x1": 1.7e308, "x2": 0.5e308, "x3": 1e308}, {"x1": 2.0}])
def test_normalized_scores_average_one(scores):
    got = weights_from_scores(scores, FEATURES, "normalized")
    vals = np.array(list(scores.values()), dtype=np.longdouble)   # (the mean, without overflow, by hand)
    mean = vals.mean()
    want = {k: float(np.longdouble(v) / mean) for k, v in scores.items()}
    hardest = max(want.values())
    for f in FEATURES:
        assert got[f] == pytest.approx(want.get(f, hardest), rel=1e-12)
    assert all(np.isfinite(w) and w > 0 for w in got.values())


def test_huge_scores_price_as_equal_scores():
    """The same person under scores {1e308, 1e308} and {1, 1} (normalized): the same optimum, not a free change."""
    scm = mr.load_scm("chain")
    clf = train_recipe(scm, "logreg")
    x = {"xs": 0.0, "x1": -1.318513108630903, "x2": 0.11739592674562627, "x3": 0.2157448450410223}
    costs = []
    for s in (1e308, 1.0):
        prefs = mr.Preferences.from_scores({"x1": s, "x2": s}, FEATURES, "normalized")
        res = mr.solve(mr.RecourseProblem(scm, clf, x, preferences=prefs))
        assert res.status is mr.Status.OPTIMAL, res.message
        costs.append(res.cost)
    assert costs[0] > 0.1 and costs[0] == pytest.approx(costs[1], rel=1e-12)
