"""A person exactly on the decision boundary (a tree leaf holding one sample of each class, a forest whose trees
split evenly, a linear score of exactly 0) is denied by the estimator's own predict (argmax: the first class wins
a tie; decision functions: class 1 only above 0). The package must agree with predict there: such a person is
not ALREADY_FAVOURABLE at the default threshold, and gets an action that predict itself accepts."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC
from sklearn.tree import DecisionTreeClassifier

from milp_recourse import RecourseProblem, SolveOptions, Status, solve
from milp_recourse.solver.many import solve_many
from milp_recourse.models.classifiers import favourable
from milp_recourse.scm.simulate import counterfactuals
from milp_recourse.scm.spec import scm_from_dict

SPEC = {"name": "ties", "variables": [
    {"name": "x1", "type": "continuous", "domain": [-10, 10], "actionability": "actionable", "equation": "u1",
     "noise": {"name": "u1", "dist": "normal", "mean": 0, "std": 1}},
    {"name": "x2", "type": "continuous", "domain": [-10, 10], "actionability": "actionable",
     "equation": "0.5*x1 + u2", "noise": {"name": "u2", "dist": "normal", "mean": 0, "std": 1}}]}


def _tree() -> DecisionTreeClassifier:
    """A stump whose right leaf holds one sample of each class (proba exactly 0.5 / 0.5)."""
    X = np.array([[0.0, 0.0], [0.0, 1.0], [2.0, 0.0], [2.0, 0.0], [5.0, 5.0], [5.0, 5.0]])
    y = np.array([0, 0, 0, 1, 1, 1])
    return DecisionTreeClassifier(max_depth=2, random_state=0).fit(X, y)


def _forest() -> RandomForestClassifier:
    """Two trees that disagree at the person (one says 0, one says 1): the average is exactly 0.5."""
    rng = np.random.default_rng(0)
    X = rng.uniform(-3, 3, (200, 2))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    forest = RandomForestClassifier(n_estimators=2, max_depth=3, random_state=1).fit(X, y)
    return forest


def _linear(kind: str):
    model = LogisticRegression() if kind == "logreg" else LinearSVC()
    model.coef_, model.intercept_ = np.array([[1.0, 1.0]]), np.array([-3.0])
    model.classes_, model.n_features_in_ = np.array([0, 1]), 2
    return model


def _tie_person(model) -> np.ndarray:
    """A point where the model's two classes tie (searched on a grid for the forest)."""
    if isinstance(model, DecisionTreeClassifier):
        return np.array([2.0, 0.0])
    if isinstance(model, RandomForestClassifier):
        g = np.linspace(-3, 3, 121)
        pts = np.array([(a, b) for a in g for b in g])
        p = model.predict_proba(pts)[:, 1]
        return pts[np.flatnonzero(p == 0.5)[0]]
    return np.array([2.0, 1.0])   # score x1 + x2 - 3 = 0 exactly


MODELS = {"tree": _tree, "forest": _forest, "logreg": lambda: _linear("logreg"), "svm": lambda: _linear("svm")}


@pytest.mark.parametrize("name", list(MODELS))
def test_favourable_agrees_with_predict_on_ties_and_around_them(name):
    model = MODELS[name]()
    tie = _tie_person(model)
    rng = np.random.default_rng(1)
    X = np.vstack([tie, tie + rng.normal(0, 0.5, (200, 2))])
    for target in (1, 0):
        assert np.array_equal(favourable(model, X, 0.5, target), model.predict(X) == target), (name, target)
    if hasattr(model, "predict_proba"):
        p = model.predict_proba(tie[None])[0]
        assert p[0] == p[1]   # the person is a real tie
    else:
        assert model.decision_function(tie[None])[0] == 0.0


@pytest.mark.parametrize("name", list(MODELS))
def test_a_tied_person_is_denied_and_gets_an_action_predict_accepts(name):
    model = MODELS[name]()
    tie = _tie_person(model)
    scm = scm_from_dict(SPEC)
    # the person's x2 is what the SCM says for their noise; any u2 is fine, the factual is the tie point itself
    problem = RecourseProblem(scm, model, {"x1": float(tie[0]), "x2": float(tie[1])},
                              options=SolveOptions(time_limit=20))
    assert model.predict(tie[None])[0] == 0
    res = solve(problem)
    assert res.status is Status.OPTIMAL, (res.status, res.message)
    assert res.cost > 0 and res.action
    cf = counterfactuals(scm, problem.x, list(res.action), np.ones((1, len(res.action)), bool),
                         np.array([list(res.action.values())], float))
    assert model.predict(cf)[0] == 1


def _stump(labels_right: list[int]) -> DecisionTreeClassifier:
    """A depth-1 tree on x1: left leaf all class 0, right leaf with the given labels (its P(1) is their mean)."""
    right = len(labels_right)
    X = np.array([[-3.0, 0.0], [-2.0, 0.0], [-1.0, 0.0], [-0.5, 0.0]] + [[1.0 + i, 0.0] for i in range(right)])
    y = np.array([0, 0, 0, 0] + labels_right)
    return DecisionTreeClassifier(max_depth=1, random_state=0).fit(X, y)


@pytest.mark.parametrize("labels, threshold, found", [([1, 1, 1, 0], 0.75, True), ([1, 0], 0.5, False),
                                                      ([1, 1, 0], 2 / 3, True)])
def test_a_leaf_exactly_at_the_threshold_is_recourse_unless_predict_settles_the_tie_against(labels, threshold,
                                                                                            found):
    """P(target) >= threshold is favourable; the MILP's score margin (1e-6) cut off a leaf exactly at the
    threshold, and the person was certified NO_RECOURSE although do(x1 := 1) reaches it. At 0.5 the tie goes to
    class 0, as predict has it, so there is truly none. Checked with the tree's own predict_proba / predict."""
    clf = _stump(labels)
    scm = scm_from_dict(SPEC)
    x = {"x1": -2.0, "x2": -1.0}
    problem = RecourseProblem(scm, clf, x, options=SolveOptions(threshold=threshold, time_limit=20))
    right = np.array([[1.0, 0.0]])
    assert clf.predict_proba(right)[0, 1] == threshold or not found
    for res in (solve(problem), solve_many([problem])[0][0]):
        if not found:
            assert res.status is Status.NO_RECOURSE and clf.predict(right)[0] == 0
            continue
        assert res.status is Status.OPTIMAL and res.verified, (res.status, res.message)
        cf = counterfactuals(scm, problem.x, list(res.action), np.ones((1, len(res.action)), bool),
                             np.array([list(res.action.values())], float))
        assert clf.predict_proba(cf)[0, 1] >= threshold
        # the cheapest such action: x1 just past the split (the tree's threshold), nothing cheaper is favourable
        split = float(clf.tree_.threshold[0])
        assert res.cost == pytest.approx(abs(split - x["x1"]), rel=1e-4, abs=1e-5)


@pytest.mark.parametrize("threshold, cheaper", [(0.75, True), (0.8, False)])
def test_a_cheaper_leaf_exactly_at_the_threshold_is_taken(threshold, cheaper):
    """Leaves P = 0.75 (x1 past the first split) and P = 1 (past the second): at threshold 0.75 the optimum is
    the first split, not the second one the score margin left. The reference is the tree's own splits and
    predict_proba; solve and solve_many agree."""
    X = np.array([[v, 0.0] for v in (-3, -2, -1, -0.5, 1, 2, 3, 4, 6, 7, 8, 9)], float)
    y = np.array([0, 0, 0, 0, 1, 1, 1, 0, 1, 1, 1, 1])
    clf = DecisionTreeClassifier(max_depth=2, random_state=0).fit(X, y)
    scm = scm_from_dict(SPEC)
    x = {"x1": -2.0, "x2": -1.0}
    splits = sorted(float(t) for t, f in zip(clf.tree_.threshold, clf.tree_.feature) if f == 0)
    probs = {v: clf.predict_proba(np.array([[v, 0.0]]))[0, 1] for v in (2.0, 6.5)}
    assert probs == {2.0: 0.75, 6.5: 1.0} and len(splits) == 2
    expected = (splits[0] if cheaper else splits[1]) - x["x1"]
    problem = RecourseProblem(scm, clf, x, options=SolveOptions(threshold=threshold, time_limit=20))
    for res in (solve(problem), solve_many([problem])[0][0]):
        assert res.status is Status.OPTIMAL and res.verified, (res.status, res.message)
        assert res.cost == pytest.approx(expected, rel=1e-4, abs=1e-5)
        cf = counterfactuals(scm, problem.x, list(res.action), np.ones((1, len(res.action)), bool),
                             np.array([list(res.action.values())], float))
        assert clf.predict_proba(cf)[0, 1] >= threshold
