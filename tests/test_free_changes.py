"""Under a max cost (no L0), a change below the largest one costs nothing, so the solver may keep one the person
does not need: an outside fuzz got option 1 = {x1, x2} and option 2 = {x1} alone at the same cost. Answers now drop
every change whose removal keeps the cost and the re-check (answer_rules.without_free_changes). References: the
logistic score in closed form and the estimator's own predict."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from milp_recourse import CostSpec, RecourseProblem, Status, solve
from milp_recourse.scm.spec import scm_from_dict
from milp_recourse.solver.answer_rules import without_free_changes
from milp_recourse.solver.options import solve_options

NOISE = {"dist": "normal", "mean": 0, "std": 1}
SPEC = {"name": "free", "variables": [
    {"name": n, "type": "continuous", "domain": [-10, 10], "actionability": "actionable", "equation": f"u{n}",
     "noise": {"name": f"u{n}", **NOISE}} for n in ("x1", "x2", "x3")]}


def _problem(coef: list[float], aggregate: str = "max", l0: float = 0.0) -> RecourseProblem:
    clf = LogisticRegression()
    clf.coef_, clf.intercept_ = np.array([coef]), np.array([-2.0])
    clf.classes_, clf.n_features_in_ = np.array([0, 1]), 3
    return RecourseProblem(scm_from_dict(SPEC), clf, {"x1": 0.0, "x2": 0.0, "x3": 0.0},
                           cost=CostSpec(aggregate=aggregate, l0=l0))


def test_a_change_that_costs_nothing_and_helps_nothing_is_dropped():
    problem = _problem([1.0, 0.0, 0.0])          # x2, x3 do not enter the score
    padded = {"x1": 2.5, "x2": 1.0, "x3": -2.0}  # max cost 2.5 either way
    assert problem.action_cost(padded)[0] == problem.action_cost({"x1": 2.5})[0]
    assert without_free_changes(problem, padded) == {"x1": 2.5}


def test_changes_that_are_needed_or_cost_something_stay():
    both = _problem([1.0, 1.0, 0.0])
    action = {"x1": 1.0 + 1e-3, "x2": 1.0 + 1e-3}   # each alone falls short of the score 2
    assert both.classifier.predict(np.array([[1.001, 1.001, 0.0]]))[0] == 1
    assert without_free_changes(both, action) == action
    summed = _problem([1.0, 0.0, 0.0], aggregate="sum")
    costly = {"x1": 2.5, "x2": 3.0}   # x2 is useless but costs 3 under a sum: the search's to judge, kept here
    assert without_free_changes(summed, costly) == costly


def test_max_cost_options_are_never_padded_copies():
    problem = _problem([1.0, 0.0, 0.5])
    options = solve_options(problem, 3)
    sets = [frozenset(r.action) for r in options if r.action]
    assert len(sets) == len(set(sets))
    for i, a in enumerate(sets):        # no option contains an earlier one's set (README's rule)
        assert not any(b <= a for b in sets[:i])
    first = solve(problem)
    assert first.status is Status.OPTIMAL and set(first.action) <= {"x1", "x3"}
    # the max-cost optimum over x1, x3: d1 + 0.5 d3 >= 2 with max(|d1|, |d3|) minimal: d1 = d3 = 4/3
    assert first.cost == pytest.approx(4 / 3, rel=1e-4)
