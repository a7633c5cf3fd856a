"""explain's relaxations price a feature they make actionable as the README says an unranked / unscored one is
priced: the hardest rank's or the largest score's weight (Preferences.default_weight), as `solve` on the relaxed
problem does. Before, the freed feature cost weight 1: 'give up fixed:x1, cost 2.249' where solve charged 4.498.
Reference: the README's cost formula on the stated action, and `solve` on the relaxed problem."""

from __future__ import annotations

import numpy as np
import pytest

from milp_recourse import Actionability, Preferences, RecourseProblem, Status, load_scm, solve
from milp_recourse.diagnose.conflicts import relax
from milp_recourse.diagnose.relaxations import cheapest_relaxation
from milp_recourse.models.recipes import train_recipe

PERSON = {"xs": 0.0, "x1": -2.0, "x2": -1.0, "x3": -1.0}
BOUNDS = {"x2": (-1.1, -0.9), "x3": (-1.1, -0.9)}
# every bound group dearer than freeing x1, so the relaxation must be 'fixed:x1'
GROUP_WEIGHTS = {f"{side}:{n}": 5.0 for side in ("lower", "upper") for n in ("x2", "x3")}


@pytest.mark.parametrize("prefs,hardest", [
    (Preferences.from_ranking(["x2", "x3"], ["x2", "x3"]), 2.0),
    (Preferences.from_ranking(["x3", "x2"], ["x2", "x3"], mapping="exponential"), 2.0),
    (Preferences.from_scores({"x2": 1.0, "x3": 4.0}, ["x2", "x3"]), 4.0),
    (Preferences.from_scores({"x2": 1.0, "x3": 3.0}, ["x2", "x3"], mapping="normalized"), 1.5),
    (Preferences(weights={"x2": 1.0, "x3": 3.0}), 1.0),   # plain weights: unnamed features weigh 1
])
def test_a_feature_freed_by_a_relaxation_gets_the_unranked_weight(prefs, hardest):
    scm = load_scm("chain")
    clf = train_recipe(scm, "logreg", 2000, 0)
    problem = RecourseProblem(scm, clf, PERSON, actionability=Actionability(actionable=("x2", "x3"), bounds=BOUNDS),
                              preferences=prefs)
    assert solve(problem).status is Status.NO_RECOURSE
    rel = cheapest_relaxation(problem, weights=GROUP_WEIGHTS)
    assert rel.status == "optimal" and [g.key for g in rel.groups] == ["fixed:x1"], rel
    weights = {"x1": hardest, **prefs.weights}
    stated = sum(weights[n] * abs(v - PERSON[n]) for n, v in rel.action.items())
    assert rel.cost == pytest.approx(stated, rel=1e-9)
    again = solve(relax(problem, rel.groups))
    assert again.status is Status.OPTIMAL and again.cost == pytest.approx(rel.cost, rel=1e-6)
    assert np.isclose(prefs.weight("x1"), hardest)
