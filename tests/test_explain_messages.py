"""What explain says must be true (an outside fuzz): a plausibility box that alone blocks recourse was reported as
"even someone without any personal constraint could not reach a favourable decision"; on a piecewise-linear SCM the
cheapest relaxation was called 'optimal' with an action the true SCM rejects, priced up to 15 % too low; and a
conflict whose removal tests were undecided still said each constraint was needed. References are by hand: the
SCMs' equations computed here, the classifiers' own predict."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit
from sklearn.linear_model import LogisticRegression

import milp_recourse as mr
from milp_recourse.diagnose.explain import explain
from milp_recourse.models.recipes import load_model
from milp_recourse.problem.plausibility import box_plausibility
from milp_recourse.scm.spec import scm_from_dict


def test_a_plausibility_box_that_blocks_recourse_is_named():
    """c = 3 a + U_c, approved iff c >= 2.4: a person at a = c = 0 needs a >= 0.8, which the reference box
    (a <= 2/3, c <= 2) forbids; without the box, do(a := 0.8) works."""
    normal = {"dist": "normal", "mean": 0, "std": 1}
    scm = scm_from_dict({"name": "boxed", "variables": [
        {"name": "a", "type": "continuous", "domain": [-2, 2], "actionability": "actionable", "equation": "U_a",
         "noise": {"name": "U_a", **normal}},
        {"name": "c", "type": "continuous", "domain": [-9, 9], "actionability": "immutable",
         "equation": "3 * a + U_c", "noise": {"name": "U_c", **normal}}]})
    clf = LogisticRegression().fit(pd.DataFrame([[0.0, 0.0], [1.0, 1.0]], columns=["a", "c"]), [0, 1])
    clf.coef_, clf.intercept_ = np.array([[0.0, 1.0]]), np.array([-2.4])
    ref = pd.DataFrame({"a": [-2 / 3, 0.0, 2 / 3], "c": [-2.0, 0.0, 2.0]})
    person = {"a": 0.0, "c": 0.0}
    boxed = mr.RecourseProblem(scm, clf, person, plausibility=box_plausibility(scm, ref))
    expl = explain(boxed)
    assert expl.result.status is mr.Status.NO_RECOURSE and expl.scope == "universal"
    assert "keeps the counterfactual plausible (box)" in expl.message, expl.message
    assert "without the plausibility constraint some action would work" in expl.message
    free = mr.solve(mr.RecourseProblem(scm, clf, person))   # the closed form: a := 0.8 (+ the 1e-6 margin / 3)
    assert free.status is mr.Status.OPTIMAL and free.cost == pytest.approx(0.8, abs=1e-5)


def _chain_nonlinear_cf(x: dict[str, float], action: dict[str, float]) -> list[float]:
    """chain-nonlinear's counterfactual by hand: x1 = xs + u1, x2 = xs + 3 sigmoid(2 x1) + u2, x3 = xs/4 + x2^2 + u3."""
    u1 = x["x1"] - x["xs"]
    u2 = x["x2"] - x["xs"] - 3 * expit(2 * x["x1"])
    u3 = x["x3"] - 0.25 * x["xs"] - x["x2"] ** 2
    x1 = action.get("x1", x["xs"] + u1)
    x2 = action.get("x2", x["xs"] + 3 * expit(2 * x1) + u2)
    x3 = action.get("x3", 0.25 * x["xs"] + x2 ** 2 + u3)
    return [x["xs"], x1, x2, x3]


def test_a_relaxation_on_an_approximated_scm_is_priced_on_the_true_one():
    scm = mr.load_scm("chain-nonlinear")
    model = load_model("recipe:logreg", scm)
    x = {"xs": 0.0, "x1": -2.038, "x2": 0.3334, "x3": -0.4339}
    problem = mr.RecourseProblem(scm, model, x, actionability=mr.Actionability(
        actionable=("x2",), directions={"x2": "down"}, grids={"x2": (-0.35, 0.3334, 0.4)}),
        preferences=mr.Preferences.from_scores({"x2": 2.0}, ("x2", "x1", "x3")), cost=mr.CostSpec(p=2))
    rel = explain(problem).relaxation
    assert rel.approximate and rel.status != "optimal", rel   # not proven on a piecewise-linear model
    assert rel.verified and [g.key for g in rel.groups] == ["fixed:x1"], rel
    cf = _chain_nonlinear_cf(x, rel.action)
    assert model.predict(pd.DataFrame([cf], columns=list(scm.names)))[0] == 1
    assert rel.cost == pytest.approx(sum(2.0 * (v - x[k]) ** 2 for k, v in rel.action.items()), rel=1e-9)
    # the cheapest x1 alone, by bisection on predict (x1 up from the person's value): the price is within the gap
    lo, hi = x["x1"], 8.0
    for _ in range(80):
        mid = (lo + hi) / 2
        ok = model.predict(pd.DataFrame([_chain_nonlinear_cf(x, {"x1": mid})], columns=list(scm.names)))[0] == 1
        lo, hi = (lo, mid) if ok else (mid, hi)
    assert rel.cost <= 2.0 * (hi - x["x1"]) ** 2 * (1 + 1e-4)


def test_an_undecided_conflict_does_not_claim_minimality():
    scm = mr.load_scm("chain-nonlinear")
    model = load_model("recipe:logreg", scm)
    x = {"xs": 1.0, "x1": -3.5667, "x2": 1.2278, "x3": 1.0841}
    grids = {"x1": (-5.39, -5.04, -4.46, -3.44, -3.11), "x2": (-1.63, 0.84, 1.56, 5.17),
             "x3": (1.05, 1.0841, 1.61, 2.49, 2.57, 2.68)}
    problem = mr.RecourseProblem(scm, model, x, actionability=mr.Actionability(
        actionable=("x1", "x2", "x3"), bounds={"x2": (None, 2.72)}, directions={"x1": "up"}, max_changes=2,
        grids=grids))
    conflict = explain(problem).conflict
    assert conflict is not None and conflict.scope == "individual"
    if conflict.proven_minimal:
        assert "Each one is needed" in conflict.message
    else:
        assert "Each one is needed" not in conflict.message and "minimality is not proven" in conflict.message
    # the reference: without direction:x1 no allowed action passes either, so it is not needed in the conflict
    accepted = 0
    for a1, a2, a3 in itertools.product(*[(None,) + grids[k] for k in ("x1", "x2", "x3")]):
        action = {k: v for k, v in zip(("x1", "x2", "x3"), (a1, a2, a3)) if v is not None}
        if len(action) > 2 or ("x2" in action and action["x2"] > 2.72):
            continue
        cf = _chain_nonlinear_cf(x, action)
        accepted += int(model.predict(pd.DataFrame([cf], columns=list(scm.names)))[0] == 1)
    assert accepted == 0
    assert "direction:x1" not in conflict.keys or not conflict.proven_minimal   # named, it is not needed


def test_explain_is_part_of_the_facade():
    """`milp_recourse.explain` (the brief and the README name it) is the diagnose layer's explain, imported on use."""
    import milp_recourse as mr
    from milp_recourse.diagnose.explain import explain

    assert "explain" in mr.__all__ and mr.explain is explain
