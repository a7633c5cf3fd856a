"""A product of a binary feature and a changing continuous one is exact in every written form.

'1.5*b*c' (parsed (1.5*b)*c) and a person with b = 1 (the intervened b' = 1 + d, d in {-1, 0}) were refused as
"two changing continuous quantities" (an outside fuzz), while '1.5*(b*c)' with b = 0 was solved. A two-valued
factor v0 + (v1 - v0) t, t 0/1, is now encoded as v0 y + (v1 - v0) (t y).
Reference: the closed form. For each value of b' the logit is linear in c' (y' = 0.5 c' - 1.5 b' c' + u), so
the least |c' - c| reaching the threshold is one division; the cost is |b' - b| + |c' - c| (p = 1).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import milp_recourse as mr
from milp_recourse.scm.spec import scm_from_dict


def _spec(term: str) -> dict:
    return {"name": "binprod", "variables": [
        {"name": "b", "type": "binary", "domain": [0, 1], "actionability": "actionable", "equation": "U_b",
         "noise": {"name": "U_b", "dist": "bernoulli", "p": 0.5}},
        {"name": "c", "type": "continuous", "domain": [-10, 10], "actionability": "actionable", "equation": "U_c",
         "noise": {"name": "U_c", "dist": "normal", "mean": 0, "std": 1}},
        {"name": "y", "type": "continuous", "domain": [-30, 30], "actionability": "immutable",
         "equation": f"0.5*c - {term} + U_y", "noise": {"name": "U_y", "dist": "normal", "mean": 0, "std": 1}}]}


def _closed_form(clf, person: dict) -> float:
    (wb, wc, wy), w0 = clf.coef_[0], clf.intercept_[0]
    b, c, y = person["b"], person["c"], person["y"]
    u = y - (0.5 * c - 1.5 * b * c)
    best = np.inf
    for b2 in (0.0, 1.0):
        slope, const = wc + wy * (0.5 - 1.5 * b2), wb * b2 + wy * u + w0     # logit = slope c' + const
        if const + slope * c >= 0:
            c2 = c
        elif slope == 0:
            continue
        else:
            c2 = -const / slope
        if -10 <= c2 <= 10:
            best = min(best, abs(b2 - b) + abs(c2 - c))
    return best


@pytest.mark.parametrize("term", ["1.5*(b*c)", "1.5*b*c", "b*c*1.5", "((1 - b)*c*(-1.5) + 1.5*c)"])
def test_binary_times_continuous_is_exact_whatever_the_form(term):
    X = scm_from_dict(_spec("1.5*(b*c)")).sample(2000, seed=0)
    clf = LogisticRegression().fit(X, (X["y"] + np.random.default_rng(0).normal(0, 1, 2000) > 1).astype(int))
    scm = scm_from_dict(_spec(term))
    checked = 0
    for person in ({"b": 0.0, "c": -1.0, "y": -1.2}, {"b": 1.0, "c": 1.0, "y": -1.2}, {"b": 1.0, "c": -2.0, "y": 0.3},
                   {"b": 0.0, "c": 2.5, "y": -3.0}):
        if clf.predict(pd.DataFrame([person])[["b", "c", "y"]])[0] == 1:
            continue
        res = mr.solve(mr.RecourseProblem(scm, clf, person, cost=mr.CostSpec(p=1),
                                          options=mr.SolveOptions(time_limit=20)))
        assert res.status is mr.Status.OPTIMAL, res.message
        assert res.cost == pytest.approx(_closed_form(clf, person), rel=1e-5, abs=1e-6)
        checked += 1
    assert checked >= 3


def _square_spec(term: str) -> dict:
    return {"name": "sq", "variables": [
        {"name": "a", "type": "continuous", "domain": [-3, 3], "actionability": "actionable", "equation": "U_a",
         "noise": {"name": "U_a", "dist": "normal", "mean": 0, "std": 1}},
        {"name": "y", "type": "continuous", "domain": [-30, 30], "actionability": "immutable",
         "equation": f"0.5*a + {term} + U_y", "noise": {"name": "U_y", "dist": "normal", "mean": 0, "std": 1}}]}


def test_a_product_of_a_changing_quantity_with_itself_is_its_square():
    """'0.3*a*a', '(0.3*a)*a' and 'a*(0.3*a)' were refused as two changing continuous quantities; they are
    0.3*a**2 (piecewise-linear, FEASIBLE with its error). Reference: the true optimum in closed form (the logit
    is quadratic in a'), which every verified answer must cost at least, and the **2 spelling's answer."""
    X = scm_from_dict(_square_spec("0.3*a**2")).sample(1000, seed=0)
    clf = LogisticRegression().fit(X, (X["y"] > 1).astype(int))
    (wa, wy), w0 = clf.coef_[0], clf.intercept_[0]
    person = {"a": 0.2, "y": -0.5}
    u = person["y"] - (0.5 * person["a"] + 0.3 * person["a"] ** 2)
    roots = np.roots([wy * 0.3, wa + wy * 0.5, wy * u + w0])     # logit(a') = 0
    best = min(abs(r.real - person["a"]) for r in roots if abs(r.imag) < 1e-12 and -3 <= r.real <= 3)
    answers = []
    for term in ("0.3*a**2", "0.3*a*a", "(0.3*a)*a", "a*(0.3*a)"):
        res = mr.solve(mr.RecourseProblem(scm_from_dict(_square_spec(term)), clf, person, cost=mr.CostSpec(p=1)))
        assert res.status is mr.Status.FEASIBLE and res.verified and res.approximation_error > 0, res.message
        assert best - 1e-9 <= res.cost <= best * (1 + 1e-3)
        answers.append((res.cost, res.approximation_error))
    for cost, err in answers[1:]:
        assert cost == pytest.approx(answers[0][0], rel=1e-9) and err == pytest.approx(answers[0][1], rel=1e-6)
