"""Binary nodes with parents (threshold models, scm/threshold.py): the solver's optimum through such a node
equals exhaustive enumeration over every integer action, with the SCM's own counterfactual (posterior-median
abduction) and the classifier's own predict_proba as the reference."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import milp_recourse as mr
from milp_recourse.errors import SpecError
from milp_recourse.scm.spec import scm_from_dict

SPEC = {"name": "threshold", "variables": [
    {"name": "A", "type": "integer", "domain": [-5, 5], "actionability": "actionable", "equation": "U_A - 5",
     "noise": {"name": "U_A", "dist": "categorical", "probs": [1 / 11] * 11}},
    {"name": "B", "type": "binary", "actionability": "actionable", "equation": "(-1 + 0.8*A + U_B >= 0)",
     "noise": {"name": "U_B", "dist": "logistic"}},
    {"name": "C", "type": "integer", "domain": [-10, 10], "actionability": "actionable",
     "equation": "3*B + A + U_C - 2", "noise": {"name": "U_C", "dist": "categorical", "probs": [0.2] * 5}},
]}
VALUES = {"A": range(-5, 6), "B": range(2), "C": range(-10, 11)}


def enumerate_best(scm, clf, x, p):
    costs, cfs = [], []
    for subset in itertools.chain.from_iterable(itertools.combinations(scm.names, k) for k in range(4)):
        for values in itertools.product(*(VALUES[n] for n in subset)):
            do = dict(zip(subset, map(float, values)))
            costs.append(sum(abs(v - x[scm.index(n)]) ** p for n, v in do.items()))
            cfs.append(scm.counterfactual(x, do))
    ok = clf.predict_proba(np.array(cfs))[:, 1] >= 0.5 + 1e-6
    return float(np.min(np.where(ok, costs, np.inf)))


@pytest.mark.parametrize("p", [1, 2])
def test_threshold_node_optimum_matches_enumeration(p):
    scm = scm_from_dict(SPEC)
    data = scm.sample(4000, seed=2)
    X = data.to_numpy()
    y = (X[:, 2] + 2 * X[:, 1] + np.random.default_rng(0).normal(0, 1, len(X)) > 4).astype(int)
    clf = LogisticRegression(max_iter=2000).fit(X, y)
    denied = X[clf.predict_proba(X)[:, 1] < 0.5][:8]
    through_b = 0
    for x in denied:
        res = mr.solve(mr.RecourseProblem(scm, clf, x, cost=mr.CostSpec(p=p)))
        best = enumerate_best(scm, clf, x, p)
        assert res.status is mr.Status.OPTIMAL and res.verified
        assert res.cost == pytest.approx(best, abs=1e-6)
        cf = scm.counterfactual(x, dict(res.action))
        assert np.allclose(cf, [res.counterfactual[n] for n in scm.names])
        through_b += "B" not in res.action and cf[1] != x[1]
    if p == 1:   # (with squared costs the cheapest answers here act on B or C directly)
        assert through_b >= 1, "no answer moved B through its parent: the threshold node was not exercised"


def test_threshold_equation_needs_binary_logistic():
    bad = {**SPEC, "variables": [SPEC["variables"][0], {**SPEC["variables"][1], "noise": {"name": "U_B",
                                                                                           "dist": "normal"}}]}
    with pytest.raises(SpecError, match="standard logistic noise"):
        scm_from_dict(bad)
