"""`milp-recourse batch` / `audit`: a run killed with SIGKILL resumes with no row lost or duplicated; bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from milp_recourse import SolveOptions, load_scm
from milp_recourse.batch.run import solve_batch
from milp_recourse.cli.main import main
from milp_recourse.models.recipes import load_model

ROOT = Path(__file__).resolve().parents[1]
N = 160


@pytest.fixture(scope="module")
def people(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "people.csv"
    data = load_scm("chain").sample(N, seed=21)
    data.insert(0, "pid", [f"c{i:04d}" for i in range(N)])
    data.to_csv(path, index=False)
    return path


def _cmd(people: Path, out: Path, *extra: str) -> list[str]:
    return ["batch", "--scm", "chain", "--classifier", "recipe:logreg", "--data", str(people), "--id-column", "pid",
            "--profiles", "generator:hard+soft", "--profile-seed", "5", "--out", str(out), "--chunk-size", "1",
            "--time-limit", "30", "--no-progress", *extra]


def _solved_rows(path: Path) -> int:
    if not path.exists():
        return 0
    with open(path) as fh:
        return sum(1 for line in fh if ",OPTIMAL," in line or ",NO_RECOURSE," in line)


def test_sigkill_then_resume_loses_and_duplicates_nothing(people, tmp_path):
    out = tmp_path / "res.csv"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "milp_recourse", *_cmd(people, out)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while _solved_rows(out) < 8 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
    partial = pd.read_csv(out)
    assert 8 <= (partial["status"] != "ALREADY_FAVOURABLE").sum() and len(partial) < N  # really killed mid-way
    assert main(_cmd(people, out)) == 2  # existing output without --resume: refused
    assert main(_cmd(people, out, "--resume")) == 0
    resumed = pd.read_csv(out)
    scm = load_scm("chain")
    clean = solve_batch(scm, load_model("recipe:logreg", scm), people, "generator:hard+soft", profile_seed=5,
                        id_column="pid", options=SolveOptions(time_limit=30))
    assert list(resumed["id"]) == list(clean["id"]) and not resumed["id"].duplicated().any()
    assert list(resumed["status"]) == list(clean["status"])
    np.testing.assert_allclose(resumed["cost"], clean["cost"], atol=1e-6, equal_nan=True)
    assert [json.loads(a).keys() for a in resumed["action"]] == [json.loads(a).keys() for a in clean["action"]]
    assert set(clean["status"]) >= {"OPTIMAL", "ALREADY_FAVOURABLE"}


def test_cli_bad_input_exits_2_with_a_clear_message(people, tmp_path, capsys):
    out = tmp_path / "x.csv"
    bad_profiles = tmp_path / "profiles.csv"
    pd.DataFrame({"pid": ["c0001"], "bounds.zz": ["0:1"]}).to_csv(bad_profiles, index=False)
    dup_profiles = tmp_path / "dup.csv"
    pd.DataFrame({"pid": ["c0001", "c0001"]}).to_csv(dup_profiles, index=False)
    base = ["batch", "--scm", "chain", "--classifier", "recipe:logreg", "--out", str(out), "--no-progress"]
    cases = [
        (base + ["--data", str(tmp_path / "nope.csv")], "does not exist"),
        (base + ["--data", str(people), "--id-column", "pid", "--profiles", str(bad_profiles)], "unknown feature"),
        (base + ["--data", str(people), "--id-column", "pid", "--profiles", str(dup_profiles)], "more than once"),
        (base + ["--data", str(people), "--id-column", "who"], "not in the data"),
        (base + ["--data", str(people), "--engine", "local", "--address", "tcp://h:1"], "address"),
    ]
    for argv, message in cases:
        assert main(argv) == 2
        assert message in capsys.readouterr().err
        assert not out.exists()


def test_cli_batch_parquet_then_audit_writes_report_and_plots(people, tmp_path, capsys):
    pytest.importorskip("pyarrow")
    pytest.importorskip("matplotlib")
    out = tmp_path / "res.parquet"
    data = tmp_path / "people.parquet"
    pd.read_csv(people).to_parquet(data)
    argv = ["batch", "--scm", "chain", "--classifier", "recipe:logreg", "--data", str(data), "--limit", "60",
            "--out", str(out), "--workers", "1", "--no-progress", "--profiles", "generator:soft-scores"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "60 individuals" in text and "OPTIMAL" in text
    res = pd.read_parquet(out)
    assert len(res) == 60 and list(res["id"]) == list(range(60))
    assert not Path(str(out) + ".journal.jsonl").exists()
    report = tmp_path / "audit"
    assert main(["audit", str(out), "--by", "xs", "--scm", "chain", "--out", str(report), "--n-boot", "200"]) == 0
    text = capsys.readouterr().out
    assert "validity: xs=1" in text and "cost_mean: xs=1" in text
    for name in ("report.md", "report.html", "groups.csv", "disparities.csv", "cost_by_xs.png",
                 "validity_by_xs.png", "features_by_xs.png"):
        assert (report / name).stat().st_size > 0
    assert main(["audit", str(out), "--by", "nope", "--scm", "chain", "--out", str(report)]) == 2
    assert "Cannot group by" in capsys.readouterr().err
