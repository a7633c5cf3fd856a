"""Real data end to end (examples/real_data): German credit -> fit-scm with its DAG -> a small XGBoost model ->
`milp-recourse batch` over 8 denied test people; every OPTIMAL answer re-checked outside the package (XGBoost's own
predict_proba on the counterfactual rebuilt from an independent least-squares fit of the DAG), immutables unchanged.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pandas as pd

from milp_recourse.scm.spec import load_scm
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples" / "real_data"))
from datasets import DATASETS, HERE, data_dir  # noqa: E402
from run_dataset import batch_args, fit_args, keep_in_domain, prepare  # noqa: E402
from verify import check_results, linear_coefficients, read_dag  # noqa: E402

N_PEOPLE = 8


def _cli(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "milp_recourse", *args], text=True, capture_output=True)


@pytest.fixture(scope="module")
def german_run(tmp_path_factory):
    """Prepare German credit, fit the SCM, train a 20-tree XGBoost model, run batch on 8 denied people."""
    if not (data_dir() / DATASETS["german"].file).is_file():
        pytest.skip(f"German credit not found under {data_dir()} (set MILP_RECOURSE_DATA to the datasets folder)")
    if importlib.util.find_spec("xgboost") is None:
        pytest.skip("xgboost is not installed (pip install xgboost-cpu)")
    from xgboost import XGBClassifier

    out = tmp_path_factory.mktemp("german")
    info = prepare("german", out, "xgboost",
                   estimator=XGBClassifier(n_estimators=20, max_depth=3, random_state=0, n_jobs=1))
    fit = _cli(fit_args("german", out))
    assert fit.returncode == 0, fit.stderr
    keep_in_domain(out)
    done = _cli(batch_args(out, "xgboost", N_PEOPLE, 20.0, 1))
    assert done.returncode == 0, done.stderr
    results = pd.read_csv(out / "results-xgboost.csv")
    return out, info, results


def test_every_optimal_answer_is_approved_by_the_model_itself(german_run):
    out, info, results = german_run
    assert len(results) == N_PEOPLE
    assert (results["status"] == "OPTIMAL").sum() >= N_PEOPLE // 2, results["status"].value_counts()
    ds = DATASETS["german"]
    model = joblib.load(out / "xgboost.joblib")
    factual = model.predict_proba(results[info["features"]])[:, 1]
    assert np.all(factual < 0.5)  # batch ran on denied people only
    optimal = results[results["status"] == "OPTIMAL"]
    check = check_results(optimal, model, info["features"], ds.immutable, pd.read_csv(out / "train.csv"),
                          HERE / ds.dag)
    assert check.found == len(optimal)
    assert check.model_valid == check.found, check
    assert check.immutable_violations == 0
    assert check.max_cf_error < 1e-6, check  # the package's counterfactual = the independently rebuilt one
    assert optimal["verified"].map(lambda v: str(v) == "True").all()


def test_counterfactuals_follow_the_fitted_dag(german_run):
    """fit-scm's equations equal numpy's least squares, and a change of credit_amt moves its children."""
    out, info, results = german_run
    train = pd.read_csv(out / "train.csv")
    coefs = linear_coefficients(train, read_dag(HERE / "german.dag"))
    assert coefs["duration"]["credit_amt"] > 0  # larger loans run longer: the DAG's edge has data support
    moved = 0
    for _, row in results[results["status"] == "OPTIMAL"].iterrows():
        action, cf = json.loads(row["action"]), json.loads(row["counterfactual"])
        for v in action:
            assert abs(cf[v] - action[v]) < 1e-9
        if "credit_amt" in action and "duration" not in action:
            expected = row["duration"] + coefs["duration"]["credit_amt"] * (action["credit_amt"] - row["credit_amt"])
            assert cf["duration"] == pytest.approx(expected, rel=1e-6, abs=1e-6)
            moved += 1
    assert moved >= 1, "no answer changed credit_amt alone: the propagation check did not run"


def test_text_columns_become_categorical(tmp_path):
    """A raw table with a text column (Adult's `sex`) gives a categorical node with the observed levels."""
    data = tmp_path / "raw.csv"
    frame = pd.DataFrame({"age": [39, 50, 38], "sex": ["Male", "Female", "Male"], "hours": [40, 13, 40]})
    frame.to_csv(data, index=False)
    spec = tmp_path / "scm.yaml"
    done = _cli(["fit-scm", "--data", str(data), "--independent", "--immutable", "sex", "--out", str(spec)])
    assert done.returncode == 0, done.stderr
    scm = load_scm(spec)
    assert scm.variable("sex").kind == "categorical" and scm.variable("sex").levels == ("Female", "Male")
    bad = _cli(["fit-scm", "--data", str(data), "--independent", "--ordinal", "sex=Male<Other",
                "--out", str(tmp_path / "o.yaml")])
    assert bad.returncode == 2 and "lacks the level(s) ['Female']" in bad.stderr and not (tmp_path / "o.yaml").exists()


def test_a_dag_naming_an_unknown_column_is_refused(tmp_path):
    data = tmp_path / "t.csv"
    pd.DataFrame({"a": [1.0, 2.0, 3.5, 4.0], "b": [2.0, 4.1, 6.0, 8.2]}).to_csv(data, index=False)
    dag = tmp_path / "g.dag"
    dag.write_text("a -> b\nincome -> b  # not a column\n")
    spec = tmp_path / "scm.yaml"
    done = _cli(["fit-scm", "--data", str(data), "--dag", str(dag), "--out", str(spec)])
    assert done.returncode == 2 and "income" in done.stderr and not spec.exists()
