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
