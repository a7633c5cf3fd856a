"""Issue 14: every listed bad input -> `error: ...` + exit 2, no traceback, nothing written; meaningless
constraints refused; clear messages; Ctrl-C during batch -> exit 130 with the resume command; safe temp files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from milp_recourse import load_scm
from milp_recourse.cli.main import main

ROOT = Path(__file__).resolve().parents[1]
LOAN = {"G": 0, "A": 19, "E": 0.0, "L": -3.0, "D": -3.0, "I": 0.4, "S": -11.0}
PERSON = json.dumps(LOAN)
CHAIN_PERSON = json.dumps({"xs": 0, "x1": -3, "x2": -2, "x3": -2})
SOLVE = ["solve", "--scm", "loan", "--classifier", "recipe:logreg", "--individual", PERSON]


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _refused(capsys, *argv: str, match: str) -> str:
    """exit 2, nothing on stdout, one `error:` line naming the problem, no traceback."""
    code, out, err = _run(capsys, *argv)
    assert code == 2, (code, out, err)
    assert out == "" and err.startswith("error: ") and "Traceback" not in err, err
    assert match in err, err
    return err


@pytest.fixture(scope="module")
def chain_csv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "chain.csv"
    load_scm("chain").sample(12, seed=4).to_csv(path, index=False)
    return path


def _chain_spec(tmp_path: Path, equation: str) -> Path:
    text = (ROOT / "models" / "chain.yaml").read_text()
    old = '"0.25*xs + 0.5*x2 + u3"'
    assert old in text
    path = tmp_path / "bad.yaml"
    path.write_text(text.replace(old, json.dumps(equation)))
    return path


# ---- impossible outputs: refused before any work, nothing written ------------------------------------------
@pytest.mark.parametrize("out", ["/proc/milp-recourse-test/x", "/proc/x", "FILE/x"])
def test_impossible_out_is_refused_before_any_work(capsys, tmp_path, chain_csv, out, monkeypatch):
    (tmp_path / "FILE").write_text("a file, not a folder")
    monkeypatch.chdir(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    _refused(capsys, "export", *SOLVE[1:], "--out", out + ".mps", match="--out")
    _refused(capsys, "batch", "--scm", "chain", "--classifier", "recipe:logreg", "--data", str(chain_csv),
             "--out", out + ".csv", "--no-progress", match="output")
    results = tmp_path / "results.csv"
    pd.DataFrame({"status": ["NO_RECOURSE"], "cost": [np.nan], "verified": [False], "n_changed": [0],
                  "changed": [""], "counterfactual": ["{}"], "xs": [0]}).to_csv(results, index=False)
    before.append("results.csv")
    _refused(capsys, "audit", str(results), "--by", "xs", "--scm", "chain", "--out", out, "--no-plots",
             "--n-boot", "20", match="audit output")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(before)


def test_audit_refuses_an_existing_folder_unless_overwrite_and_the_wrong_scm(capsys, tmp_path, chain_csv):
    results = tmp_path / "r.csv"
    assert main(["batch", "--scm", "chain", "--classifier", "recipe:logreg", "--data", str(chain_csv),
                 "--out", str(results), "--no-progress"]) == 0
    folder = tmp_path / "audit"
    folder.mkdir()
    (folder / "keep.txt").write_text("mine")
    capsys.readouterr()
    args = ["audit", str(results), "--by", "xs", "--out", str(folder), "--no-plots", "--n-boot", "20"]
    _refused(capsys, *args, "--scm", "chain", match="--overwrite")
    assert sorted(p.name for p in folder.iterdir()) == ["keep.txt"]
    _refused(capsys, *args[:-5], "--out", str(tmp_path / "new"), "--no-plots", "--n-boot", "20", "--scm", "loan",
             match="do not match the SCM 'loan'")
    assert not (tmp_path / "new").exists()
    code, _, err = _run(capsys, *args, "--scm", "chain", "--overwrite")
    assert code == 0, err
    assert (folder / "report.md").is_file() and (folder / "keep.txt").is_file()


# ---- bad individuals, specs and seeds ----------------------------------------------------------------------
def test_empty_garbage_and_header_only_individual_files(capsys, tmp_path):
    empty, garbage, header = tmp_path / "empty.csv", tmp_path / "garbage.csv", tmp_path / "header.csv"
    empty.write_bytes(b"")
    garbage.write_bytes(b"\x00\x01\x02\xff\xfe binary")
    header.write_text(",".join(LOAN) + "\n")
    base = SOLVE[:-1]
    _refused(capsys, *base, str(empty), match="is empty")
    _refused(capsys, *base, str(garbage), match="Could not read the --individual file")
    _refused(capsys, *base, str(header), match="no data rows")
    listing = tmp_path / "people.json"
    listing.write_text(json.dumps([LOAN]))
    _refused(capsys, *base, str(listing), "--row", "3", match="--row 3 is out of range")


@pytest.mark.parametrize("equation, match", [
    ("+".join(["x2"] * 5000) + " + u3", "too long or too deeply nested"),
    ("x2/0 + u3", "a division by the constant 0 (infinite for every input)"),   # refused by the spec itself
    ("x2**1e308 + u3", "non-finite values (inf / NaN) for x3"),
])
def test_pathological_equations_with_a_recipe(capsys, tmp_path, equation, match):
    spec = _chain_spec(tmp_path, equation)
    _refused(capsys, "solve", "--scm", str(spec), "--classifier", "recipe:logreg", "--individual", CHAIN_PERSON,
             match=match)


def test_negative_seed_in_solve_and_batch(capsys, tmp_path, chain_csv):
    _refused(capsys, *SOLVE, "--seed", "-1", match="--seed must be an integer >= 0. Got -1")
    out = tmp_path / "r.csv"
    _refused(capsys, "batch", "--scm", "chain", "--classifier", "recipe:logreg", "--data", str(chain_csv),
             "--out", str(out), "--seed", "-1", "--no-progress", match="--seed")
    assert not out.exists()


def test_batch_api_refuses_a_negative_seed(chain_csv):
    from milp_recourse import InputError, SolveOptions
    from milp_recourse.batch.run import solve_batch

    with pytest.raises(InputError, match="'seed' option must be an integer >= 0"):
        solve_batch("chain", "recipe:logreg", str(chain_csv), options=SolveOptions(seed=-1))


# ---- meaningless constraints ---------------------------------------------------------------------------------
@pytest.mark.parametrize("extra, match", [
    (("--bounds", "E=5:6"), "lie outside E's domain [-0.5, 0.5]"),
    (("--bounds", "I=1e999:"), "not a finite number"),
    (("--bounds", "G=0:1"), "'G' (immutable in the SCM spec)"),
    (("--actionable", "E,L", "--bounds", "I=0:1"), "'I' (not among the actionable features)"),
    (("--direction", "A=up"), "Directions on 'A'"),
    (("--grid", "I=50|60"), "value(s) 50, 60 lie outside I's domain"),
    (("--grid", "G=0|1"), "Grids on 'G'"),
    (("--preferred", "L=1"), "--preferred L"),
    (("--preferred", "L=:1"), "--preferred L: both ends"),
])
def test_meaningless_constraints_are_refused(capsys, extra, match):
    _refused(capsys, *SOLVE, *extra, match=match)


def test_threshold_on_a_model_without_probabilities(capsys):
    svm = ["solve", "--scm", "loan", "--classifier", "recipe:svm", "--individual", PERSON]
    _refused(capsys, *svm, "--threshold", "0.9", match="LinearSVC gives no probabilities")
    code, _, err = _run(capsys, *svm, "--format", "json")
    assert code == 0, err
    code, _, err = _run(capsys, *SOLVE, "--threshold", "0.9", "--format", "json")  # logreg has probabilities
    assert code == 0, err


def test_constraints_inside_the_domain_still_solve(capsys):
    code, out, err = _run(capsys, *SOLVE, "--bounds", "E=-0.4:0.4,I=:14", "--grid", "L=-5|0|5", "--format", "json")
    assert code == 0, err
    res = json.loads(out)
    assert all(-0.4 - 1e-9 <= v <= 0.4 + 1e-9 for k, v in res["action"].items() if k == "E")
    assert res["action"].get("L", 0.0) in (-5.0, 0.0, 5.0) or "L" not in res["action"]


# ---- clear messages ------------------------------------------------------------------------------------------
def test_text_file_named_npz(capsys, tmp_path):
    fake = tmp_path / "model.npz"
    fake.write_text("this is not a zip archive")
    _refused(capsys, "solve", "--scm", "loan", "--classifier", str(fake), "--individual", PERSON,
             match="is not a valid .npz (zip) file")


def test_pyomo_gurobi_names_the_missing_solver(capsys):
    pytest.importorskip("pyomo")
    from milp_recourse.backends.pyomo_backend import solver_found

    if solver_found("gurobi"):
        pytest.skip("Gurobi is installed here")
    err = _refused(capsys, *SOLVE, "--backend", "pyomo-gurobi", match="Gurobi")
    assert "pip install" not in err


def test_header_only_data_and_empty_ids_in_batch(capsys, tmp_path, chain_csv):
    header = tmp_path / "header.csv"
    header.write_text("xs,x1,x2,x3\n")
    base = ["batch", "--scm", "chain", "--classifier", "recipe:logreg", "--no-progress"]
    _refused(capsys, *base, "--data", str(header), "--out", str(tmp_path / "a.csv"), match="has no rows")
    data = pd.read_csv(chain_csv)
    data.insert(0, "pid", ["p0", "", *[f"p{i}" for i in range(2, len(data))]])
    ids = tmp_path / "ids.csv"
    data.to_csv(ids, index=False)
    _refused(capsys, *base, "--data", str(ids), "--id-column", "pid", "--out", str(tmp_path / "b.csv"),
             match="1 row(s) have none, e.g. row(s) 1")
    assert not (tmp_path / "a.csv").exists() and not (tmp_path / "b.csv").exists()


def test_help_warns_about_pickled_models():
    from milp_recourse.cli.main import build_parser

    sub = build_parser()._subparsers._group_actions[0].choices
    for name in ("solve", "batch"):
        text = " ".join(sub[name].format_help().split())
        assert "runs code when it is loaded" in text and ".npz" in text


# ---- Ctrl-C during batch -------------------------------------------------------------------------------------
def test_ctrl_c_during_batch_says_where_and_how_to_resume(capsys, tmp_path, chain_csv, monkeypatch):
    import milp_recourse.batch.run as run

    real = run.solve_batch

    def interrupted(*a, **kw):
        def stop(done, total):
            if done >= 2:
                raise KeyboardInterrupt
        return real(*a, **{**kw, "progress": stop})

    monkeypatch.setattr(run, "solve_batch", interrupted)
    out = tmp_path / "r.csv"
    argv = ["batch", "--scm", "chain", "--classifier", "recipe:logreg", "--data", str(chain_csv), "--out", str(out),
            "--chunk-size", "1", "--no-progress"]
    code, stdout, err = _run(capsys, *argv)
    assert code == 130 and stdout == "" and "Traceback" not in err
    assert f"the finished rows are in {out}" in err and "--resume" in err
    done = pd.read_csv(out)
    assert 2 <= len(done) < 12
    monkeypatch.setattr(run, "solve_batch", real)
    resume = err.strip().splitlines()[-1].split()[1:]  # the printed command, minus the program name
    assert main(resume) == 0
    assert list(pd.read_csv(out)["id"]) == list(range(12))


def test_sigterm_during_a_two_worker_batch_stops_like_ctrl_c_and_leaves_no_worker(tmp_path):
    """SIGTERM (timeout, docker stop, Slurm) to a batch with 2 workers: exit 143 with the resume command, and no
    process of its session left (before, the batch died at once and its loky workers lived on as orphans)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from milp_recourse import load_scm

    data, out = tmp_path / "d.csv", tmp_path / "o.csv"
    load_scm("loan").sample(200, seed=12).to_csv(data, index=False)
    proc = subprocess.Popen([sys.executable, "-m", "milp_recourse", "batch", "--scm", "loan", "--classifier",
                             "recipe:forest", "--cost-p", "2", "--data", str(data), "--out", str(out), "--no-progress",
                             "--chunk-size", "4", "--workers", "2"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env=dict(os.environ, OMP_NUM_THREADS="1"))
    deadline = time.time() + 120
    while not out.exists() and time.time() < deadline and proc.poll() is None:   # workers up, rows coming
        time.sleep(0.2)
    assert proc.poll() is None, proc.stderr.read()
    proc.send_signal(signal.SIGTERM)
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 143 and "Traceback" not in err, (proc.returncode, err[-2000:])
    assert "--resume" in err and str(out) in err
    for _ in range(50):   # the session's other processes (the workers) go with it
        left = subprocess.run(["ps", "-s", str(proc.pid), "-o", "pid="], capture_output=True, text=True).stdout
        if not left.strip():
            break
        time.sleep(0.2)
    assert not left.strip(), left


def test_a_ray_batch_removes_its_session_folder_at_a_normal_end(tmp_path):
    """Ray keeps /tmp/ray/session_<date>_<driver pid> after ray.shutdown(); the README says a normal end removes the
    scratch folders, so the engine removes its own (an outside fuzz found it left)."""
    import glob
    import subprocess
    import sys

    pytest.importorskip("ray", reason="the ray extra is not installed")
    from milp_recourse import load_scm

    data = tmp_path / "d.csv"
    load_scm("loan").sample(20, seed=1).to_csv(data, index=False)
    proc = subprocess.Popen([sys.executable, "-m", "milp_recourse", "batch", "--scm", "loan", "--classifier",
                             "recipe:logreg", "--data", str(data), "--out", str(tmp_path / "o.csv"), "--no-progress",
                             "--engine", "ray", "--workers", "2"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    err = proc.communicate(timeout=300)[1]
    assert proc.returncode == 0, err
    assert len(pd.read_csv(tmp_path / "o.csv")) == 20
    assert not glob.glob(f"/tmp/ray/session_2*_{proc.pid}")   # the driver's own session folder is gone


# ---- files ---------------------------------------------------------------------------------------------------
def test_atomic_write_does_not_follow_a_planted_symlink(tmp_path):
    from milp_recourse.tables import write_table_atomic

    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "r.csv"
    for name in (f".{out.name}.tmp-{os.getpid()}", f".{out.name}.tmp"):  # the old, predictable names
        (tmp_path / name).symlink_to(victim)
    write_table_atomic(pd.DataFrame({"a": [1, 2]}), out)
    assert victim.read_text() == "precious"
    assert pd.read_csv(out)["a"].tolist() == [1, 2]
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp") and not p.is_symlink()]
    assert leftovers == []


def test_profiles_with_meaningless_bounds_are_refused_before_solving(tmp_path):
    from milp_recourse import InputError
    from milp_recourse.batch.run import solve_batch

    data = load_scm("loan").sample(6, seed=2)
    profiles = pd.DataFrame({"id": [3], "bounds.E": ["5:6"]})
    out = tmp_path / "r.csv"
    with pytest.raises(InputError, match=r"profile of id '3'.*outside E's domain"):
        solve_batch("loan", "recipe:logreg", data, profiles, out=out)
    assert not out.exists()


def test_a_base_bound_lapses_for_a_profile_that_cannot_act_on_that_feature(tmp_path):
    from milp_recourse import Actionability
    from milp_recourse.batch.run import solve_batch

    data = load_scm("loan").sample(30, seed=2)
    profiles = pd.DataFrame({"id": [0], "actionable": ["E;L"]})
    out = solve_batch("loan", "recipe:logreg", data, profiles,
                      actionability=Actionability(bounds={"I": (-12.0, 14.0)}))
    assert len(out) == 30 and (out["status"] != "ERROR").all()


def test_a_pipeline_reading_a_column_the_scm_lacks_is_named_before_its_encoder(capsys, tmp_path):
    """A ColumnTransformer one-hot encoding a column 'C' the chain SCM lacks: solve, explain and batch name 'C' as
    not an SCM variable first (before, the encoder's 'categorical columns are not supported' alone hid the cause)."""
    import joblib
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    rng = np.random.default_rng(0)
    df = pd.DataFrame({"x1": rng.normal(size=80), "x2": rng.normal(size=80), "C": rng.choice(["a", "b"], 80)})
    y = (df.x1 + (df.C == "a") > 0.3).astype(int)
    prep = ColumnTransformer([("num", StandardScaler(), ["x1", "x2"]), ("cat", OneHotEncoder(), ["C"])])
    model = tmp_path / "pipe.joblib"
    joblib.dump(Pipeline([("prep", prep), ("lr", LogisticRegression())]).fit(df, y), model)
    data = tmp_path / "people.csv"
    load_scm("chain").sample(3, seed=1).to_csv(data, index=False)
    out = tmp_path / "out.csv"
    for cmd in (["solve", "--individual", CHAIN_PERSON], ["explain", "--individual", CHAIN_PERSON],
                ["batch", "--data", str(data), "--out", str(out)]):
        err = _refused(capsys, cmd[0], "--scm", "chain", "--classifier", str(model), *cmd[1:],
                       match="['C'] are not SCM variables")
        assert err.startswith("error: The classifier's input feature(s) ['C']"), err
    assert not out.exists()


@pytest.mark.parametrize("uses", [["--divisor", "std"], ["--cost", "percentile"], ["--plausible", "box"]])
def test_empty_or_header_only_reference_data_is_refused(capsys, tmp_path, uses):
    """An empty --reference-data file printed pandas' EmptyDataError traceback (exit 1); a header-only one was
    'column G is not numeric'. Both are now one error line naming the file, for every use of the table."""
    empty, header = tmp_path / "empty.csv", tmp_path / "header.csv"
    empty.write_text("")
    header.write_text(",".join(LOAN) + "\n")
    _refused(capsys, *SOLVE, "--reference-data", str(empty), *uses, match=f"file {str(empty)!r} is empty")
    _refused(capsys, *SOLVE, "--reference-data", str(header), *uses, match="has no data rows")


@pytest.mark.parametrize("text,where", [
    ("name: x\nvariables:\n  - name: a\n    type: [continuous\n", "line 5, column 1"),
    ("a: b: c\n", "line 1, column 5")])
def test_a_broken_yaml_spec_is_one_error_line_with_its_place(capsys, tmp_path, text, where):
    """PyYAML's message spans 7-8 lines with a caret drawing; the refusal is now one line naming line and column."""
    spec = tmp_path / "bad.yaml"
    spec.write_text(text)
    err = _refused(capsys, "solve", "--scm", str(spec), "--classifier", "recipe:logreg", "--individual", "{}",
                   match=f"is not valid YAML: {where}: ")
    assert err.count("\n") == 1, err


def test_an_unexpected_exception_is_one_line_and_exit_1(capsys, monkeypatch):
    """A defect of ours (any exception that is not a refusal of the input) still shows no traceback: one `error:
    internal error (...)` line and exit 1, which tells it apart from bad input (2); MILP_RECOURSE_TRACEBACK=1
    raises it instead, for a bug report."""
    import milp_recourse.cli.main as cli

    def broken(args):
        raise ZeroDivisionError("float division by zero\nsecond line")

    parser = cli.build_parser()
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    sub = parser._subparsers._group_actions[0].choices["demo"]
    sub.set_defaults(func=broken)
    monkeypatch.delenv("MILP_RECOURSE_TRACEBACK", raising=False)
    code, out, err = _run(capsys, "demo")
    assert code == 1 and out == "" and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert err.startswith("error: internal error (ZeroDivisionError: float division by zero second line)")
    monkeypatch.setenv("MILP_RECOURSE_TRACEBACK", "1")
    with pytest.raises(ZeroDivisionError):
        main(["demo"])


def test_an_integer_too_large_for_a_float_is_refused_by_name(capsys):
    """10**400 in the person's JSON or as --max-changes ended in an OverflowError traceback (an outside fuzz)."""
    big = "1" + "0" * 400
    _refused(capsys, *SOLVE[:-1], PERSON.replace('"I": 0.4', f'"I": {big}'),
             match="The individual's 'I' is an integer too large for a float")
    _refused(capsys, *SOLVE, "--max-changes", big,
             match="max_changes must be an integer >= 0. Got an integer too large for a float (100000000000...")


def test_a_grid_of_too_many_values_is_refused_before_any_work(capsys):
    """--grid E=-0.3:0.3:100000 took 32 s and 6.7 GB at a 5 s limit, and 10**8 values ran for minutes (an outside
    fuzz): a grid holds at most MAX_GRID_VALUES values, in the CLI, a profile and the API alike."""
    from milp_recourse import Actionability, InputError
    from milp_recourse.batch.profiles import parse_profiles
    from milp_recourse.problem.options import MAX_GRID_VALUES, Preferences

    _refused(capsys, *SOLVE, "--grid", f"E=-0.3:0.3:{MAX_GRID_VALUES + 1}",
             match=f"--grid E has {MAX_GRID_VALUES + 1} values; expected at most {MAX_GRID_VALUES}")
    with pytest.raises(InputError, match="has 100000000 values; expected at most"):
        parse_profiles(pd.DataFrame([{"id": 1, "grid.E": "-0.3:0.3:100000000"}]), load_scm("loan"), "id",
                       Actionability(), Preferences())
    with pytest.raises(InputError, match="The grid for 'E' has 10001 values"):
        Actionability(grids={"E": tuple(np.linspace(-0.3, 0.3, MAX_GRID_VALUES + 1))})
    assert len(Actionability(grids={"E": tuple(np.linspace(-0.3, 0.3, MAX_GRID_VALUES))}).grids["E"]) == MAX_GRID_VALUES


def test_serve_checks_its_data_and_port_before_serving(capsys, tmp_path):
    """A text cell in --data answered 500 when its row was picked and an empty one gave invalid JSON (NaN); a busy
    port printed the 'Serving ...' banner, then uvicorn's error, exit 3 (an outside fuzz)."""
    import socket

    pytest.importorskip("uvicorn")
    pytest.importorskip("fastapi")
    frame = load_scm("loan").sample(5, seed=1).astype(object)
    bad, empty = frame.copy(), frame.copy()
    bad.loc[2, "I"] = "abc"
    empty.loc[3, "I"] = np.nan
    bad.to_csv(tmp_path / "bad.csv", index=False)
    empty.to_csv(tmp_path / "empty.csv", index=False)
    serve = ["serve", "--scm", "loan", "--classifier", "recipe:logreg", "--port"]
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        _refused(capsys, *serve, port, "--data", str(tmp_path / "bad.csv"),
                 match="--data column 'I', row 2: 'abc' is not a finite number")
        _refused(capsys, *serve, port, "--data", str(tmp_path / "empty.csv"),
                 match="The data column 'I' has 1 missing value(s) (e.g. data row 3)")
        _refused(capsys, *serve, port, match=f"--port {port}: cannot listen on 127.0.0.1:{port}")


def test_messages_name_the_real_problem(capsys, tmp_path):
    """Refusals that named the wrong thing (an outside fuzz): a NaN weight was told to 'leave a bound empty', a
    folder given as fit-scm's --out was reported as a temporary file, a folder given as a study config 'does not
    exist', an unsupported SVC at --threshold 0.7 was told to use 0.5 (then refused as unsupported), a noise named
    like a variable made the spec 'cyclic', individual=None had '1 values', and solve_many on a list of dicts with
    scm= was a TypeError."""
    import joblib
    from sklearn.svm import SVC

    import milp_recourse as mr
    from milp_recourse import InputError, SpecError
    from milp_recourse.scm.spec import scm_from_dict

    err = _refused(capsys, *SOLVE, "--weights", "E=nan", match="--weights E: 'nan' is not a finite number")
    assert "bound" not in err
    _refused(capsys, *SOLVE, "--bounds", "E=nan:", match="leave a bound empty for none")
    folder = tmp_path / "dir.yaml"
    folder.mkdir()
    data = tmp_path / "people.csv"
    load_scm("loan").sample(20, seed=1).to_csv(data, index=False)
    _refused(capsys, "fit-scm", "--data", str(data), "--independent", "--out", str(folder),
             match=f"--out {str(folder)!r} is a folder")
    _refused(capsys, "study", str(tmp_path), match="is a folder; expected a YAML file")
    X = load_scm("loan").sample(300, seed=2)
    joblib.dump(SVC(kernel="linear").fit(X, (X["I"] > 0).astype(int)), tmp_path / "svc.joblib")
    _refused(capsys, *SOLVE[:3], "--classifier", str(tmp_path / "svc.joblib"), *SOLVE[5:], "--threshold", "0.7",
             match="SVC is not supported")
    spec = {"name": "t", "variables": [
        {"name": "X", "type": "continuous", "domain": [-5, 5], "actionability": "actionable", "equation": "Y",
         "noise": {"name": "Y", "dist": "normal", "mean": 0, "std": 1}},
        {"name": "Y", "type": "continuous", "domain": [-9, 9], "actionability": "actionable", "equation": "2 * X + U_Y",
         "noise": {"name": "U_Y", "dist": "normal", "mean": 0, "std": 1}}]}
    with pytest.raises(SpecError, match="Variable 'X': its noise is named 'Y', which is also a variable's name"):
        scm_from_dict(spec)
    loan = load_scm("loan")
    model = joblib.load(tmp_path / "svc.joblib")
    with pytest.raises(InputError, match="The individual must be a dict, .* Got None"):
        mr.RecourseProblem(loan, model, None)
    with pytest.raises(InputError, match=r"solve_many takes classifier=, scm= with a DataFrame of people"):
        mr.solve_many([LOAN], scm=loan, classifier=model)


def test_idle_options_and_runaway_sizes_are_refused(capsys, tmp_path, chain_csv):
    """Accepted in silence before (an outside fuzz): options that change nothing, a divisor that makes a cost
    infinite (HiGHS then said 'Unknown'), and worker / bootstrap counts that ran for minutes."""
    _refused(capsys, *SOLVE, "--row", "5", match="--row 5 applies to a table of people")
    _refused(capsys, *SOLVE, "--range-penalty", "2", match="--range-penalty applies to --preferred")
    _refused(capsys, *SOLVE, "--ranking-map", "exponential", match="--ranking-map applies to --ranking")
    _refused(capsys, *SOLVE, "--score-map", "normalized", match="--score-map applies to --scores")
    _refused(capsys, *SOLVE, "--divisors", "E=1e-320", match="The cost of changing 'E' is inf per unit")
    # unscaled objective terms past 1e12: 'highs: Unknown', or FEASIBLE at 15 000x the optimum (an outside fuzz)
    _refused(capsys, *SOLVE, "--preferred", "L=-5:0", "--range-penalty", "1e20",
             match="The range penalty is 1e+20; expected at most 1e+12")
    _refused(capsys, *SOLVE, "--l0", "1e20", match="The L0 cost is 1e+20; expected at most 1e+12")
    code, out, err = _run(capsys, *SOLVE, "--ranking", "E,L", "--ranking-map", "exponential",
                          "--preferred", "L=-5:0", "--range-penalty", "2", "--format", "json")
    assert code == 0, err
    big = "1" + "0" * 30
    _refused(capsys, "batch", "--scm", "chain", "--classifier", "recipe:logreg", "--data", str(chain_csv),
             "--out", str(tmp_path / "r.csv"), "--workers", big, match="must be an integer in [1, 1024]")
    assert not (tmp_path / "r.csv").exists()
    _refused(capsys, "audit", str(chain_csv), "--by", "xs", "--scm", "chain", "--out", str(tmp_path / "a"),
             "--n-boot", big, match="--n-boot must be in [10, 1000000]")
