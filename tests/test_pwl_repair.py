"""Tree ensembles over a smooth (piecewise-linear approximated) SCM: answers that fail the first re-check.

The first MILP answer sits on the favourable cell's edge as the piecewise-linear SCM draws it and misses it on
the true SCM. Before, the refinement raised the score margin, which on a piecewise-constant score shut out the
cheapest cells (answers up to 7x the optimum reported OPTIMAL) or every cell (UNKNOWN with recourse at hand).
Reference: the exact 1-D optimum, the smallest move of the one actionable feature whose true counterfactual the
fitted classifier's own predict accepts (bisection on predict), and verify_action on the package's answer.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.tree import DecisionTreeClassifier

import milp_recourse as mr
from milp_recourse.scm.spec import scm_from_dict
from milp_recourse.solver.pwl_repair import MAX_STRETCH, stretch_to_valid
from milp_recourse.solver.verify import verify_action


def _scm(equation: str, a_domain: list[float], b_domain: list[float], a_noise: dict) -> object:
    return scm_from_dict({"name": "smooth", "variables": [
        {"name": "a", "type": "continuous", "domain": a_domain, "actionability": "actionable", "equation": "U_a",
         "noise": {"name": "U_a", **a_noise}},
        {"name": "b", "type": "continuous", "domain": b_domain, "actionability": "immutable", "equation": equation,
         "noise": {"name": "U_b", "dist": "normal", "mean": 0, "std": 0.3}}]})


def _exact_move(clf, f, a0: float, u: float, towards: float) -> float | None:
    """The least |a - a0| along a0 -> towards whose counterfactual b = f(a) + u the classifier favours."""
    def ok(v: float) -> bool:
        return bool(clf.predict(pd.DataFrame({"b": [f(v) + u]}))[0] == 1)
    grid = np.linspace(a0, towards, 20001)
    fav = clf.predict(pd.DataFrame({"b": f(grid) + u})) == 1
    if not fav.any():
        return None
    j = int(np.argmax(fav))
    if j == 0:
        return 0.0
    lo, hi = grid[j - 1], grid[j]
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if ok(mid) else (mid, hi)
    return abs(hi - a0)


@pytest.mark.parametrize("family", ["gradient-boosting", "depth-1 tree"])
def test_smooth_scm_tree_answers_are_the_exact_optimum_and_never_wrongly_optimal(family):
    rng = np.random.default_rng(0)
    if family == "gradient-boosting":
        scm = _scm("0.3 * exp(-0.4 * a) + U_b", [-7, 6.5], [-3, 5], {"dist": "uniform", "low": -3, "high": 3})
        a = rng.uniform(-3, 3, 3000)
        b = 0.3 * np.exp(-0.4 * a) + rng.normal(0, 0.3, 3000)
        y = (b + rng.normal(0, 0.3, 3000) > 0.6).astype(int)
        clf = GradientBoostingClassifier(n_estimators=10, max_depth=2, random_state=0).fit(pd.DataFrame({"b": b}), y)
        f, towards = (lambda v: 0.3 * np.exp(-0.4 * np.asarray(v))), -7.0
    else:
        scm = _scm("-0.7 * exp(0.3 * a) + U_b", [0, 3], [-5, 2], {"dist": "uniform", "low": 0, "high": 3})
        a = rng.uniform(0, 3, 2000)
        b = -0.7 * np.exp(0.3 * a) + rng.normal(0, 0.2, 2000)
        clf = DecisionTreeClassifier(max_depth=1).fit(pd.DataFrame({"b": b}), (b <= -1.3).astype(int))
        f, towards = (lambda v: -0.7 * np.exp(0.3 * np.asarray(v))), 3.0
    checked = 0
    for i in np.flatnonzero(clf.predict(pd.DataFrame({"b": b})) == 0)[:6]:
        person = {"a": float(a[i]), "b": float(b[i])}
        ref = _exact_move(clf, f, a[i], b[i] - float(f(a[i])), towards)
        res = mr.solve(mr.RecourseProblem(scm, clf, person, cost=mr.CostSpec(p=1),
                                          options=mr.SolveOptions(time_limit=30)))
        if ref is None:
            assert res.status is not mr.Status.OPTIMAL or res.cost is None
            continue
        checked += 1
        assert res.status in (mr.Status.OPTIMAL, mr.Status.FEASIBLE), res.message
        if res.approximation_error > 0:   # nothing is proven for the true SCM: no bound, no gap
            assert res.status is mr.Status.FEASIBLE and res.objective_bound is None and res.gap is None
        assert verify_action(mr.RecourseProblem(scm, clf, person), dict(res.action)).ok
        assert res.cost == pytest.approx(ref, rel=1e-6, abs=1e-7)
        if res.status is mr.Status.OPTIMAL:
            assert res.cost <= ref * (1 + 1e-4) + 1e-9
    assert checked >= 4


def _down_exp(v):
    return -0.7 * np.exp(0.3 * np.asarray(v))


def test_stretch_stops_at_a_hard_constraint_and_beyond_its_reach():
    rng = np.random.default_rng(0)
    scm = _scm("-0.7 * exp(0.3 * a) + U_b", [0, 3], [-5, 2], {"dist": "uniform", "low": 0, "high": 3})
    a = rng.uniform(0, 3, 2000)
    b = -0.7 * np.exp(0.3 * a) + rng.normal(0, 0.2, 2000)
    clf = DecisionTreeClassifier(max_depth=1).fit(pd.DataFrame({"b": b}), (b <= -1.3).astype(int))
    i = int(np.flatnonzero((clf.predict(pd.DataFrame({"b": b})) == 0) & (a < 0.5))[0])
    pr = mr.RecourseProblem(scm, clf, {"a": float(a[i]), "b": float(b[i])})
    assert stretch_to_valid(pr, {}) is None
    # a tiny step: even MAX_STRETCH times it stays far from the favourable region
    assert stretch_to_valid(pr, {"a": float(a[i]) + 1e-6}) is None
    # a step whose stretch leaves the domain [0, 3] before it is favourable
    assert stretch_to_valid(pr, {"a": float(a[i]) - 0.2}) is None
    ref = _exact_move(clf, _down_exp, a[i], b[i] - float(_down_exp(a[i])), 3.0)
    assert ref is not None and ref * 0.5 * MAX_STRETCH > ref
    action, ver = stretch_to_valid(pr, {"a": float(a[i]) + 0.5 * ref})   # half-way: t = 2 reaches the edge
    assert ver.ok and verify_action(pr, action).ok
    assert ver.cost == pytest.approx(ref, rel=1e-6, abs=1e-9)
