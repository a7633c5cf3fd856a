"""`--target-class LABEL` (solve, explain, export, batch): the favourable class of a classifier trained on text
labels, written as the classifier's classes_ are. Checked against the API with target_class= and the
estimator's own predict on the counterfactual; an unknown label exits 2 naming the classes."""

from __future__ import annotations

import json
import subprocess
import sys

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from milp_recourse import RecourseProblem, SolveOptions, load_scm, solve
from milp_recourse.models.recipes import labelled_sample


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "milp_recourse", *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    scm = load_scm("loan")
    X, y = labelled_sample(scm, 1000, 0)
    model = LogisticRegression(max_iter=1000).fit(X, np.where(y == 1, "approved", "rejected"))
    path = tmp_path_factory.mktemp("tc") / "model.joblib"
    joblib.dump(model, path)
    return scm, model, path


@pytest.mark.parametrize("target", ["approved", "rejected"])
def test_target_class_matches_the_api_and_predict(labelled, target):
    scm, model, path = labelled
    people = scm.sample(60, seed=2)
    rows = people[model.predict(people[list(scm.names)].to_numpy(float)) != target]
    x = rows.iloc[0].to_dict()
    out = _cli("solve", "--scm", "loan", "--classifier", str(path), "--individual", json.dumps(x),
               "--target-class", target, "--format", "json")
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    ref = solve(RecourseProblem(scm, model, x, options=SolveOptions(target_class=target)))
    assert res["status"] == ref.status.value == "OPTIMAL"
    assert res["cost"] == pytest.approx(ref.cost, rel=1e-9)
    cf = pd.DataFrame([res["counterfactual"]])[list(scm.names)].to_numpy(float)
    assert model.predict(cf)[0] == target


def test_an_unknown_target_class_is_refused_before_any_work(labelled, tmp_path):
    _, _, path = labelled
    out = _cli("solve", "--scm", "loan", "--classifier", str(path), "--individual",
               '{"G":0,"A":0,"E":0.4,"L":3,"D":0,"I":2,"S":1}', "--target-class", "yes")
    assert out.returncode == 2 and not out.stdout
    assert out.stderr.startswith("error: --target-class 'yes' is not one of the classifier's classes") \
        and "approved, rejected" in out.stderr and "Traceback" not in out.stderr
    people = tmp_path / "people.csv"
    pd.DataFrame([{"G": 0, "A": 0, "E": 0.4, "L": 3, "D": 0, "I": 2, "S": 1}]).to_csv(people, index=False)
    out = _cli("batch", "--scm", "loan", "--classifier", str(path), "--data", str(people), "--target-class", "yes",
               "--out", str(tmp_path / "out.csv"))
    assert out.returncode == 2 and "approved, rejected" in out.stderr and not (tmp_path / "out.csv").exists()
