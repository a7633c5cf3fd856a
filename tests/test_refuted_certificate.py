"""A refuted infeasibility claim returns the other solver's verified action (FEASIBLE), not UNKNOWN.

When the primary backend claims no action exists but a second backend with other algorithms finds one that the
independent re-check accepts, the claim is wrong (an outside fuzz met it on XGBoost behind a scaler, before
that rounding was fixed); the person had recourse and got UNKNOWN. The primary's claim is forced here by a
stand-in search. References: the fitted classifier's own predict on the action's counterfactual (the SCM's
abduction and action), and the unforced solve's optimum (no verified action is cheaper).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import milp_recourse as mr
import milp_recourse.solver.pipeline as pipeline
from milp_recourse.backends import available_backends
from milp_recourse.result import SearchState
from milp_recourse.solver.certify import second_backends
from milp_recourse.solver.milp_search import SearchOutcome
from milp_recourse.scm.random_linear import random_linear_scm


def test_a_second_backends_verified_action_is_returned(monkeypatch):
    if not second_backends("highs"):
        pytest.skip(f"no second backend with other algorithms is installed ({available_backends()})")
    scm = random_linear_scm(4, seed=2)
    X = scm.sample(600, seed=1)
    y = (X.to_numpy(float) @ np.array([0.6, -0.4, 0.8, 0.5]) > 0.3).astype(int)
    clf = LogisticRegression().fit(X, y)
    person = X[clf.predict(X) == 0].iloc[0].to_dict()
    opts = mr.SolveOptions(time_limit=30, closed_form=False)
    truth = mr.solve(mr.RecourseProblem(scm, clf, person, cost=mr.CostSpec(p=1), options=opts))
    assert truth.status is mr.Status.OPTIMAL

    real = pipeline.search_person

    def claims_infeasible(problem, *args, **kwargs):
        got = real(problem, *args, **kwargs)
        return pipeline.Searched(got.compiled, SearchOutcome(None, np.inf, -np.inf, SearchState.INFEASIBLE),
                                 got.timings, got.t0)

    monkeypatch.setattr(pipeline, "search_person", claims_infeasible)
    res = mr.solve(mr.RecourseProblem(scm, clf, person, cost=mr.CostSpec(p=1), options=opts))
    assert res.status is mr.Status.FEASIBLE, res.message
    assert res.verified and res.action and res.objective_bound is None
    assert "infeasibility claim is wrong" in res.message
    assert res.certificate["refuting_action"] == pytest.approx(dict(res.action))
    # abduction -> action by the SCM, the prediction by the classifier's own predict
    cf = scm.counterfactual(np.array([person[n] for n in scm.names]), dict(res.action))
    assert clf.predict(pd.DataFrame([cf], columns=list(scm.names)))[0] == 1
    assert res.cost >= truth.cost * (1 - 1e-6) - 1e-9
