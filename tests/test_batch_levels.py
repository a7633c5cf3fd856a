"""solve_many(frame) and solve_batch read a classifier trained on level names the way solve() does.

A Pipeline(ColumnTransformer(OneHotEncoder on a categorical SCM column, passthrough), forest) is trained on
level strings; RecourseProblem wraps it with with_levels, and the frame / batch paths must too (they refused
it before). References: solve() person by person, and the fitted Pipeline's own predict on each answer's
counterfactual written with level names.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

import milp_recourse as mr
from milp_recourse.models.categorical_input import with_levels
from milp_recourse.scm.spec import scm_from_dict

LEVELS = ["A", "B", "C"]


@pytest.fixture(scope="module")
def case():
    scm = scm_from_dict({"name": "jobs", "variables": [
        {"name": "job", "type": "categorical", "levels": LEVELS, "actionability": "actionable",
         "equation": "U_job", "noise": {"name": "U_job", "dist": "categorical", "probs": [0.4, 0.3, 0.3]}},
        {"name": "h", "type": "continuous", "domain": [0, 10], "actionability": "actionable", "equation": "U_h",
         "noise": {"name": "U_h", "dist": "uniform", "low": 0, "high": 10}}]})
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"job": rng.choice(LEVELS, 1000), "h": rng.uniform(0, 10, 1000)})
    y = ((X.job == "C") | (X.h > 7)).astype(int)
    clf = Pipeline([("pre", ColumnTransformer([("oh", OneHotEncoder(), ["job"]), ("ps", "passthrough", ["h"])])),
                    ("m", RandomForestClassifier(n_estimators=5, max_depth=3, random_state=0))]).fit(X, y)
    people = X[clf.predict(X) == 0].head(6).reset_index(drop=True)
    return scm, clf, people


def _favourable_by_the_pipeline(clf, counterfactual: dict) -> bool:
    row = dict(counterfactual)
    code = row["job"]
    row["job"] = LEVELS[int(round(code))] if not isinstance(code, str) else code
    return bool(clf.predict(pd.DataFrame([row]))[0] == 1)


@pytest.mark.parametrize("path", ["solve_many", "batch-1", "batch-2", "already-wrapped"])
def test_frame_and_batch_paths_take_a_pipeline_trained_on_level_names(case, path):
    scm, clf, people = case
    opts = mr.SolveOptions(time_limit=30)
    ref = [mr.solve(mr.RecourseProblem(scm, clf, people.iloc[i].to_dict(), options=opts)) for i in range(len(people))]
    assert all(r.status is mr.Status.OPTIMAL for r in ref)
    for r in ref:
        assert _favourable_by_the_pipeline(clf, r.counterfactual)
    if path == "solve_many":
        out = mr.solve_many(people, scm=scm, classifier=clf, options=opts)
    elif path == "already-wrapped":
        out = mr.solve_many(people, scm=scm, classifier=with_levels(clf, {"job": tuple(LEVELS)}), options=opts)
    else:
        out = mr.solve_batch(scm, clf, people, options=opts, workers=int(path[-1]))
    assert list(out["status"]) == [r.status.value for r in ref]
    assert np.allclose(out["cost"].to_numpy(float), [r.cost for r in ref], rtol=1e-9, atol=1e-12)
