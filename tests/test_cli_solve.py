"""`milp-recourse solve` and `demo`: happy paths checked against the Python API, bad input -> exit 2.

Most calls go through milp_recourse.cli.main.main([...]) with capsys (fast); two go through a real
subprocess (`python -m milp_recourse`) to check exit codes and stream separation end to end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier

from milp_recourse import (Actionability, CostSpec, Preferences, RecourseProblem, Status, divisors_from_data,
                           load_scm, solve)
from milp_recourse.models.classifiers import favourable
from milp_recourse.cli.main import main
from milp_recourse.models.recipes import labelled_sample, train_recipe

ROOT = Path(__file__).resolve().parent.parent
JSON_FIELDS = ("status", "cost", "action", "counterfactual", "verified", "objective_bound", "gap", "solve_seconds")

from instance_oracles import oracles  # noqa: E402  (instances/oracles.py)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict:
    """A Loan logreg model file, two denied people (inline JSON, .json, .csv) and a reference-data CSV."""
    tmp = tmp_path_factory.mktemp("cli")
    scm = load_scm("loan")
    model = train_recipe(scm, "logreg", 1000, 0)
    joblib.dump(model, tmp / "logreg.joblib")
    X = scm.sample(400, seed=3)[list(scm.names)]
    denied = X[~favourable(model, X.to_numpy(float))].reset_index(drop=True)
    table = denied.iloc[:4].copy()
    table.insert(0, "id", [101, 102, 103, 104])
    table.to_csv(tmp / "people.csv", index=False)
    person = {k: float(v) for k, v in denied.iloc[0].items()}
    (tmp / "person.json").write_text(json.dumps({"individual": person}))
    scm.sample(500, seed=4).to_csv(tmp / "reference.csv", index=False)
    Xc, yc = labelled_sample(load_scm("chain"), 400, 0)
    joblib.dump(LogisticRegression(), tmp / "unfitted.joblib")
    joblib.dump(KNeighborsClassifier().fit(Xc, yc), tmp / "knn.joblib")
    joblib.dump(LogisticRegression().fit(Xc.rename(columns={"x1": "E"}), yc), tmp / "renamed.joblib")
    return {"dir": tmp, "scm": scm, "model": model, "person": person, "denied": denied,
            "clf": str(tmp / "logreg.joblib")}


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _solve_json(capsys, files, *extra: str, individual: str | None = None) -> dict:
    ind = individual or json.dumps(files["person"])
    code, out, err = _run(capsys, "solve", "--scm", "loan", "--classifier", files["clf"], "--individual", ind,
                          "--format", "json", *extra)
    assert code == 0, err
    d = json.loads(out)
    assert all(k in d for k in JSON_FIELDS)
    assert d["verified"] is True and d["status"] == "OPTIMAL", d["message"]
    return d


def _api(files, **parts) -> float:
    res = solve(RecourseProblem(files["scm"], files["model"], files["person"], **parts))
    assert res.status is Status.OPTIMAL
    return res.cost


def test_json_output_matches_the_api(capsys, files) -> None:
    d = _solve_json(capsys, files)
    assert d["schema_version"] == 2
    assert d["cost"] == pytest.approx(_api(files), rel=1e-6)
    assert d["path"] and all({"engine", "seconds", "outcome", "counters"} <= set(s) for s in d["path"])
    assert set(d["path_reasons"]).isdisjoint(s["engine"] for s in d["path"])
    assert set(d["counterfactual"]) == set(files["scm"].names)
    assert d["gap"] == pytest.approx(0.0, abs=1e-4) and d["objective_bound"] <= d["cost"] + 1e-9
    assert d["solve_seconds"] >= 0


def test_table_output_is_readable(capsys, files) -> None:
    code, out, err = _run(capsys, "solve", "--scm", "loan", "--classifier", files["clf"],
                          "--individual", json.dumps(files["person"]))
    assert code == 0, err
    assert "OPTIMAL" in out and "verified yes" in out and "do(" in out
    for name in files["scm"].names:
        assert name in out


def test_individual_from_json_file_and_csv_row(capsys, files) -> None:
    d = _solve_json(capsys, files, individual=str(files["dir"] / "person.json"))
    assert d["factual"] == pytest.approx(files["person"])
    code, out, err = _run(capsys, "solve", "--scm", "loan", "--classifier", files["clf"], "--individual",
                          str(files["dir"] / "people.csv"), "--row", "2", "--format", "json")
    assert code == 0, err
    row = files["denied"].iloc[2]
    assert json.loads(out)["factual"] == pytest.approx({k: float(v) for k, v in row.items()})


def test_hard_constraint_options(capsys, files) -> None:
    x = files["person"]
    d = _solve_json(capsys, files, "--actionable", "L,I,S", "--bounds", "L=-8:,S=:10",
                    "--direction", "I=up,L=down", "--max-changes", "2")
    act = d["action"]
    assert set(act) <= {"L", "I", "S"} and 1 <= len(act) <= 2
    assert act.get("L", x["L"]) >= -8 - 1e-9 and act.get("L", x["L"]) <= x["L"] + 1e-9
    assert act.get("I", x["I"]) >= x["I"] - 1e-9 and act.get("S", -np.inf) <= 10 + 1e-9
    want = _api(files, actionability=Actionability(actionable=("L", "I", "S"), bounds={"L": (-8, None),
                                                                                          "S": (None, 10)},
                                                    directions={"I": "up", "L": "down"}, max_changes=2))
    assert d["cost"] == pytest.approx(want, rel=1e-6)


def test_grid_option_equals_enumeration(capsys, files) -> None:
    d = _solve_json(capsys, files, "--grid", "E=-0.5:0.5:5,L=-8:4:7,I=-4:8:7,S=-15|-5|0|5|15",
                    "--cost-p", "2")
    grids = {"E": tuple(np.linspace(-0.5, 0.5, 5)), "L": tuple(np.linspace(-8, 4, 7)),
             "I": tuple(np.linspace(-4, 8, 7)), "S": (-15.0, -5.0, 0.0, 5.0, 15.0)}
    ref = oracles.enumerate_grid(RecourseProblem(files["scm"], files["model"], files["person"],
                                                 actionability=Actionability(grids=grids), cost=CostSpec(p=2)))
    assert d["cost"] == pytest.approx(ref.cost, rel=1e-4)  # the CLI uses the default relative gap 1e-4
    for k, v in d["action"].items():
        assert min(abs(v - g) for g in grids[k]) < 1e-9


def test_a_one_value_grid_is_that_value(capsys, files) -> None:
    """--grid S=5 is the grid (5,) (it was refused: 'expected LOW:HIGH:COUNT'), checked against enumeration."""
    from milp_recourse.cli import parse as cp

    assert cp.grids("S=5,E=-0.25") == {"S": (5.0,), "E": (-0.25,)}
    d = _solve_json(capsys, files, "--grid", "S=5,I=-4:8:7,E=0.25,L=-8:4:7")
    grids = {"S": (5.0,), "I": tuple(np.linspace(-4, 8, 7)), "E": (0.25,), "L": tuple(np.linspace(-8, 4, 7))}
    ref = oracles.enumerate_grid(RecourseProblem(files["scm"], files["model"], files["person"],
                                                 actionability=Actionability(grids=grids)))
    assert d["cost"] == pytest.approx(ref.cost, rel=1e-4)
    assert d["action"].get("S", 5.0) == 5.0


@pytest.mark.parametrize("option,value,prefs", [
    ("--ranking", "I,S,L,E", lambda f: Preferences.from_ranking(["I", "S", "L", "E"], f)),
    ("--scores", "E=5,L=3,I=1,S=2", lambda f: Preferences.from_scores({"E": 5, "L": 3, "I": 1, "S": 2}, f)),
    ("--weights", "E=3,L=2", lambda f: Preferences(weights={"E": 3.0, "L": 2.0})),
])
def test_preference_options(capsys, files, option, value, prefs) -> None:
    d = _solve_json(capsys, files, option, value)
    assert d["cost"] == pytest.approx(_api(files, preferences=prefs(["E", "L", "I", "S"])), rel=1e-6)


def test_reference_data_divisor_and_p2(capsys, files) -> None:
    ref = files["dir"] / "reference.csv"
    d = _solve_json(capsys, files, "--reference-data", str(ref), "--divisor", "std", "--cost-p", "2",
                    "--cost-scale", "0.5", "--l0", "0.01")
    div = divisors_from_data(pd.read_csv(ref), list(files["scm"].names), "std")
    want = _api(files, cost=CostSpec(p=2, divisors=div, scale=0.5, l0=0.01))
    assert d["cost"] == pytest.approx(want, rel=2e-4)


def test_demo(capsys) -> None:
    code, out, err = _run(capsys, "demo", "--format", "json")
    assert code == 0, err
    d = json.loads(out)
    for key in ("universal", "personalized"):
        assert d[key]["status"] == "OPTIMAL" and d[key]["verified"] is True and d[key]["action"]
    # the personalized answer honours the person's constraints: no income change, savings only up
    personal = d["personalized"]
    assert "I" not in personal["action"]
    assert personal["action"].get("S", personal["factual"]["S"]) >= personal["factual"]["S"]
    # personal constraints can only make recourse costlier than the universal optimum with unit weights
    assert personal["cost"] >= d["universal"]["cost"] - 1e-9


BAD = [
    (["--individual", '{"G": 0, "A": 1, "E": NaN, "L": 0, "D": 0, "I": 0, "S": 0}'], "Feature 'E' of the individual is nan"),
    (["--individual", '{"G": 0, "A": 1, "E": 3.0, "L": 0, "D": 0, "I": 0, "S": 0}'], "'E' = 3 is outside its domain"),
    (["--individual", '{"G": 0, "A": 1'], "inline JSON is malformed"),
    (["--individual", "no/such/file.csv"], "no such file 'no/such/file.csv'"),
    (["--bounds", "Q=0:1"], "unknown feature(s) 'Q'"),
    (["--bounds", "E=0.4:-0.4"], "lower bound 0.4 is above upper bound -0.4"),
    (["--bounds", "E=0.4"], "expected LOW:HIGH"),
    (["--grid", "E=0:1"], "expected LOW:HIGH:COUNT"),
    (["--direction", "I=sideways"], "Direction for 'I' must be one of up, down. Got 'sideways'"),
    (["--weights", "E=-1"], "weight for 'E' must be a finite number >= 0. Got -1.0"),
    (["--ranking", "E,Z"], "ranking names unknown feature(s) 'Z'"),
    (["--scores", "E=0"], "score for 'E' must be a finite number > 0"),
    (["--actionable", "E,G"], "'G' are immutable in the SCM spec 'loan'"),
    (["--max-changes", "-1"], "max_changes must be an integer >= 0. Got -1"),
    (["--threshold", "1.5"], "'threshold' option must be a float in (0, 1). Got 1.5"),
    (["--time-limit", "-1"], "'time_limit' option must be a float > 0. Got -1"),
    (["--time-limit", "0"], "'time_limit' option must be a float > 0. Got 0"),
    (["--backend", "nosuch"], "Unknown backend 'nosuch'"),
    (["--divisor", "std"], "--reference-data and --divisor go together"),
    (["--divisors", "E=0"], "divisor for 'E' must be a finite number > 0"),
    (["--weights", "G=2"], "--weights on 'G' (immutable in the SCM spec) would price nothing"),
    (["--preferred", "A=0:30"], "--preferred on 'A' (immutable in the SCM spec) would price nothing"),
    (["--classifier", "{dir}/unfitted.joblib"], "LogisticRegression is not fitted"),
    (["--classifier", "{dir}/knn.joblib"], "KNeighborsClassifier is not supported"),
    (["--classifier", "{dir}/missing.joblib"], "does not exist"),
    (["--classifier", "recipe:xgboost"], "Unknown classifier recipe 'xgboost'"),
    (["--scm", "chain", "--individual", '{"xs": 0, "x1": 0, "x2": 0, "x3": 0}', "--classifier", "{dir}/renamed.joblib"],
     "input feature(s) ['E'] are not SCM variables"),
    (["--row", "9", "--individual", "{dir}/people.csv"], "--row 9 is out of range"),
]


@pytest.mark.parametrize("extra,message", BAD, ids=[m[:40] for _, m in BAD])
def test_bad_input_exits_2_with_a_named_error(capsys, files, extra, message) -> None:
    args = {"--scm": "loan", "--classifier": files["clf"], "--individual": json.dumps(files["person"])}
    extra = [e.replace("{dir}", str(files["dir"])) for e in extra]
    rest = []
    for i in range(0, len(extra), 2):
        if extra[i] in args:
            args[extra[i]] = extra[i + 1]
        else:
            rest += extra[i:i + 2]
    argv = ["solve"] + [t for kv in args.items() for t in kv] + rest
    code, out, err = _run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert err.startswith("error: ") and message in err


def test_argparse_rejects_bad_choices(capsys, files) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["solve", "--scm", "loan", "--classifier", files["clf"], "--individual", "{}", "--cost-p", "3"])
    assert exc.value.code == 2
    out, err = capsys.readouterr()
    assert out == "" and "--cost-p" in err and "invalid choice" in err
    # one line, as every other refusal (argparse's own printed the 23-line usage block first)
    assert err == "error: argument --cost-p: invalid choice: 3 (choose from 1, 2) (see 'milp-recourse solve --help')\n"


def _subprocess(*argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-m", "milp_recourse", *argv], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=300)


def test_subprocess_streams_and_exit_codes(files) -> None:
    ok = _subprocess("solve", "--scm", "loan", "--classifier", files["clf"], "--individual",
                     json.dumps(files["person"]), "--format", "json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["status"] == "OPTIMAL"
    bad = _subprocess("solve", "--scm", "loan", "--classifier", files["clf"], "--individual",
                      json.dumps({**files["person"], "S": float("inf")}))  # JSON 'Infinity'
    assert bad.returncode == 2
    assert bad.stdout == "" and "Feature 'S' of the individual is inf" in bad.stderr


def test_no_box_search_option_solves_the_milp_with_the_same_answer(capsys, files) -> None:
    """A ReLU network (.npz) on a denied person: the box search answers by default (backend 'box-search'),
    --no-box-search goes to the MILP (backend highs); both prove the same optimum."""
    from milp_recourse.models.classifiers import ReLUNetwork

    scm = files["scm"]
    mlp = train_recipe(scm, "mlp", 2000, 0)
    scaler, net = mlp.steps[0][1], mlp.steps[-1][1]
    relu = ReLUNetwork(tuple(W.T for W in net.coefs_), tuple(net.intercepts_), scaler_mean=scaler.mean_,
                       scaler_std=scaler.scale_)
    path = files["dir"] / "mlp.npz"
    relu.to_npz(path)
    X = scm.sample(400, seed=9)[list(scm.names)]
    person = X[relu.predict(X.to_numpy(float)) == 0].iloc[0]
    argv = ["solve", "--scm", "loan", "--classifier", str(path), "--individual",
            json.dumps({k: float(v) for k, v in person.items()}), "--cost-p", "2", "--format", "json"]
    outs = []
    for extra in ([], ["--no-box-search"]):
        code, out, err = _run(capsys, *argv, *extra)
        assert code == 0, err
        outs.append(json.loads(out))
    box, milp = outs
    assert box["backend"] == "box-search" and milp["backend"] == "highs"
    assert box["status"] == milp["status"] == "OPTIMAL" and box["verified"] and milp["verified"]
    assert box["cost"] == pytest.approx(milp["cost"], rel=2e-4)


@pytest.mark.parametrize("p", ["1", "2"])
def test_no_closed_form_option_solves_the_milp_with_the_same_answer(capsys, files, p) -> None:
    """Logistic regression: the closed form over the SCM's linear pieces answers by default (backend
    'linear-pieces', no MILP), --no-closed-form runs the MILP pipeline (backend highs); both prove the same
    optimum, and the estimator's own predict_proba favours each counterfactual."""
    outs = [_solve_json(capsys, files, "--cost-p", p, *extra) for extra in ([], ["--no-closed-form"])]
    closed, milp = outs
    assert closed["backend"] == "linear-pieces" and [s["engine"] for s in closed["path"]] == ["linear-pieces"]
    assert milp["backend"] == "highs" and "linear-pieces" not in [s["engine"] for s in milp["path"]]
    assert closed["status"] == milp["status"] == "OPTIMAL" and closed["verified"] and milp["verified"]
    assert closed["cost"] == pytest.approx(milp["cost"], rel=1e-5, abs=1e-9)
    names = list(files["scm"].names)
    for out in outs:
        cf = np.array([[out["counterfactual"][k] for k in names]])
        assert files["model"].predict_proba(pd.DataFrame(cf, columns=names))[0, 1] >= 0.5


def test_repeated_list_options_are_joined_never_dropped(capsys, files):
    """--grid / --bounds / --direction / --weights / --scores given twice mean both lists (before, only the last
    was kept, silently); a feature named in both is refused, as within one list."""
    one = _solve_json(capsys, files, "--grid", "L=-5|0|5,E=-0.2|0|0.2", "--bounds", "E=-0.4:0.4,I=:14",
                      "--weights", "E=3,L=2")
    two = _solve_json(capsys, files, "--grid", "L=-5|0|5", "--grid", "E=-0.2|0|0.2", "--bounds", "E=-0.4:0.4",
                      "--bounds", "I=:14", "--weights", "E=3", "--weights", "L=2")
    assert two["cost"] == pytest.approx(one["cost"], rel=1e-12) and two["action"] == one["action"]
    import argparse

    from milp_recourse.cli.problem_args import add_constraint_args

    parser = argparse.ArgumentParser()
    add_constraint_args(parser)
    ns = parser.parse_args(["--grid", "L=-5|0|5", "--grid", "E=0|1", "--direction", "I=up", "--direction", "S=down",
                            "--scores", "E=5", "--scores", "L=1"])
    assert (ns.grid, ns.direction, ns.scores) == ("L=-5|0|5,E=0|1", "I=up,S=down", "E=5,L=1")
    code, out, err = _run(capsys, "solve", "--scm", "loan", "--classifier", files["clf"], "--individual",
                          json.dumps(files["person"]), "--grid", "L=-5|0|5", "--grid", "L=0|5")
    assert code == 2 and out == "" and "error: --grid: feature 'L' is given twice" in err
