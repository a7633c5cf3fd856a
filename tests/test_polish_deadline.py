"""The SLSQP polish keeps to its deadline (solver/polish.py, polish_batch.py) and is not planned for tree
ensembles, whose piecewise-constant score gives it no gradient (strategy.polish_reason): a HistGradientBoosting
person spent 12 s in 3 496 classifier calls of a polish that changed nothing, past a 2 s time limit."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import milp_recourse.solver.polish as polish_mod
from milp_recourse import CostSpec, RecourseProblem, SolveOptions, Status, solve
from milp_recourse.models.recipes import labelled_sample
from milp_recourse.solver.incumbent import random_search
from milp_recourse.solver.polish import polish
from milp_recourse.solver.polish_batch import polish_many
from milp_recourse.solver.strategy import POLISH, polish_reason

from denied import denied_problems  # noqa: E402


@pytest.fixture(scope="module")
def people():
    return denied_problems("loan", "mlp", seed=7, keep=4)


class Ticks:
    """A perf_counter that moves one second per reading, so a deadline is a count of readings."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        self.now += 1.0
        return self.now


def test_polish_answers_no_request_past_its_deadline(people, monkeypatch):
    calls = []
    real_answer = polish_mod.answer
    monkeypatch.setattr(polish_mod, "answer", lambda *a: calls.append(1) or real_answer(*a))
    pr = people[0]
    inc = random_search(pr, 128, 1)
    full = polish(pr, inc)
    n_full = len(calls)
    assert full.cost < inc.cost and n_full > 20   # (the polish has work to do on this person)
    for budget in (0, 3, 10):
        calls.clear()
        ticks = Ticks()
        monkeypatch.setattr(polish_mod, "time", ticks)
        got = polish(pr, inc, deadline=float(budget))
        # one clock reading before each request: at most `budget` requests answered, and the incumbent kept
        # (no pattern finished within so few requests)
        assert len(calls) <= budget
        assert got is inc
    monkeypatch.undo()
    same = polish(pr, inc, deadline=float("inf"))
    assert same.action == full.action and same.cost == full.cost


def test_polish_many_drops_only_the_people_past_their_deadline(people):
    incs = [random_search(pr, 128, 1) for pr in people]
    deadlines = [float("-inf"), float("inf"), float("-inf"), float("inf")]
    got = polish_many(people, incs, deadlines=deadlines)
    for pr, inc, g, d in zip(people, incs, got, deadlines):
        if d < 0:
            assert g is inc
        else:
            alone = polish(pr, inc)
            assert g.action == alone.action and g.cost == alone.cost


def _forest_problems():
    from milp_recourse import load_scm
    from milp_recourse.solver.many import screen

    scm = load_scm("loan")
    X, y = labelled_sample(scm, 2000, 0)
    models = {"hgb": HistGradientBoostingClassifier(max_iter=30, random_state=0).fit(X, y),
              "scaled forest": make_pipeline(StandardScaler(), RandomForestClassifier(
                  n_estimators=10, max_depth=4, random_state=0)).fit(X, y)}
    out = {}
    for name, clf in models.items():
        cands = [RecourseProblem(scm=scm, classifier=clf, individual=x, cost=CostSpec(p=2),
                                 options=SolveOptions(time_limit=30.0))
                 for x in scm.sample(60, seed=3).to_numpy(float)]
        out[name] = [pr for pr, fav in zip(cands, screen(cands)) if not fav][:2]
    return out


@pytest.mark.parametrize("recipe", ["tree", "forest", "gbt"])
def test_tree_recipes_are_not_polished(recipe):
    pr = denied_problems("loan", recipe, seed=7, keep=1)[0]
    assert "piecewise constant" in (polish_reason(pr) or "")


def test_tree_models_behind_preprocessing_are_not_polished_and_still_proven():
    for name, prs in _forest_problems().items():
        assert prs, name
        for pr in prs:
            assert "piecewise constant" in (polish_reason(pr) or ""), name
            res = solve(pr)
            assert POLISH not in [s.engine for s in res.path]
            assert "piecewise constant" in res.path_reasons[POLISH]
            assert res.status == Status.OPTIMAL
            # the estimator's own predict favours the counterfactual
            cf = pd.DataFrame([[res.counterfactual[n] for n in pr.scm.names]], columns=list(pr.scm.names))
            assert int(pr.classifier.predict(cf)[0]) == 1, name


@pytest.mark.parametrize("recipe", ["mlp", "logreg"])
def test_smooth_scores_are_still_polished(recipe):
    pr = denied_problems("loan", recipe, seed=7, keep=1)[0]
    assert polish_reason(pr) is None
    assert polish_reason(dataclasses.replace(pr, cost=CostSpec(p=1))) is not None


def test_pick_best_refuses_a_cheaper_candidate_that_breaks_a_hard_constraint():
    """A polish pattern holds a grid / integer feature at its counterfactual value; a candidate off the grid or
    outside the bounds must not become the incumbent (as the MILP's cutoff it would hide every valid action)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from milp_recourse import Actionability, RecourseProblem
    from milp_recourse.scm.spec import scm_from_dict
    from milp_recourse.solver.incumbent import Incumbent
    from milp_recourse.solver.polish import pick_best
    from milp_recourse.solver.verify import constraint_violations

    noise = {"dist": "normal", "mean": 0, "std": 1}
    scm = scm_from_dict({"name": "pb", "variables": [
        {"name": "x1", "type": "continuous", "domain": [-10, 10], "actionability": "actionable", "equation": "u1",
         "noise": {"name": "u1", **noise}},
        {"name": "x2", "type": "continuous", "domain": [-10, 10], "actionability": "actionable",
         "equation": "0.5*x1 + u2", "noise": {"name": "u2", **noise}}]})
    clf = LogisticRegression()
    clf.coef_, clf.intercept_, clf.classes_, clf.n_features_in_ = np.array([[1.0, 1.0]]), np.array([-3.0]), \
        np.array([0, 1]), 2
    problem = RecourseProblem(scm, clf, {"x1": 0.0, "x2": 0.0},
                              actionability=Actionability(grids={"x2": (0.0, 2.0, 4.0)}, bounds={"x1": (-1, 2)}))
    inc = Incumbent({"x2": 4.0}, problem.action_cost({"x2": 4.0})[0])
    off_grid = Incumbent({"x1": 1.0, "x2": 1.7}, problem.action_cost({"x1": 1.0, "x2": 1.7})[0])
    out_of_bounds = Incumbent({"x1": 2.5}, problem.action_cost({"x1": 2.5})[0])
    valid = Incumbent({"x1": 1.0, "x2": 2.0}, problem.action_cost({"x1": 1.0, "x2": 2.0})[0])
    assert off_grid.cost < inc.cost and out_of_bounds.cost < inc.cost and valid.cost < inc.cost
    assert constraint_violations(problem, off_grid.action) and constraint_violations(problem, out_of_bounds.action)
    assert not constraint_violations(problem, valid.action)
    assert pick_best(problem, inc, [off_grid, out_of_bounds, None]) is inc
    assert pick_best(problem, inc, [off_grid, valid, out_of_bounds]) is valid
