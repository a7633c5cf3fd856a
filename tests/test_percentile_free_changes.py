"""--cost percentile (sum): a change inside a flat tail of the reference data's CDF costs nothing, and the solver
kept such a change that the answer did not need (an outside fuzz: option 1 was option 2 padded with it; the max
aggregate already dropped it). Reference: the linear SCM's counterfactual and the logistic score computed here."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

import milp_recourse as mr
from milp_recourse.problem.data_costs import percentile_cdfs
from milp_recourse.scm.spec import scm_from_dict

NAMES = ["Z", "X1", "X2", "X3", "X4"]
PARENTS = {"Z": {}, "X1": {"Z": 0.3}, "X2": {"X1": 0.6, "Z": -0.2}, "X3": {"X1": -0.4, "X2": 0.7}, "X4": {"X3": 0.5}}


def spec() -> dict:
    def var(name: str, lim: float, act: str) -> dict:
        eq = " + ".join([f"{c!r} * {p}" for p, c in PARENTS[name].items()] + [f"U_{name}"])
        return {"name": name, "type": "continuous", "domain": [-lim, lim], "actionability": act, "equation": eq,
                "noise": {"name": f"U_{name}", "dist": "normal", "mean": 0, "std": 1}}
    return {"name": "lin4", "variables": [var("Z", 6, "immutable"), var("X1", 6, "actionable"),
                                          var("X2", 7, "actionable"), var("X3", 8, "actionable"),
                                          var("X4", 5, "actionable")]}


def score(clf, x: dict[str, float], action: dict[str, float]) -> float:
    u = {k: x[k] - sum(c * x[p] for p, c in PARENTS[k].items()) for k in NAMES}
    cf: dict[str, float] = {}
    for k in NAMES:
        cf[k] = action[k] if k in action else sum(c * cf[p] for p, c in PARENTS[k].items()) + u[k]
    return float(clf.coef_[0] @ [cf[k] for k in NAMES] + clf.intercept_[0])


def test_a_free_percentile_change_the_answer_does_not_need_is_dropped():
    scm = scm_from_dict(spec())
    clf = LogisticRegression().fit(pd.DataFrame(np.eye(5)[:2], columns=NAMES), [0, 1])
    clf.coef_ = np.array([[-1.66476428, 3.40068959, 3.41209132, 1.82133197, 3.43677813]])
    clf.intercept_ = np.array([-2.75095091])
    rng = np.random.default_rng(9)
    n = 300   # X1 constant in the reference (moving it is free), X3 two-valued (its CDF is flat below -0.5)
    ref = pd.DataFrame(dict(Z=rng.normal(size=n), X1=np.full(n, 0.5), X2=rng.choice([-1.0, 0.0, 1.0], n,
                                                                                       p=[.2, .5, .3]),
                            X3=rng.choice([-0.5, 2.0], n), X4=rng.normal(size=n)))
    x = {"Z": 0.7033043786615792, "X1": 1.1238228230966025, "X2": -1.0927287344632723, "X3": -1.2849328379825322,
         "X4": -2.0625513304680494}
    assert score(clf, x, {}) < 0
    problem = mr.RecourseProblem(scm, clf, x, actionability=mr.Actionability(actionable=("X1", "X2", "X3")),
                                 cost=mr.CostSpec(kind="percentile", cdfs=percentile_cdfs(ref, NAMES)))
    for res in mr.solve_options(problem, 3):
        if res.status is not mr.Status.OPTIMAL:
            continue
        assert score(clf, x, res.action) >= 0
        for name in res.action:   # no change the answer could do without at the same cost
            rest = {k: v for k, v in res.action.items() if k != name}
            if rest and problem.action_cost(rest)[0] == problem.action_cost(res.action)[0]:
                assert score(clf, x, rest) < 1e-6, (res.action, name)
