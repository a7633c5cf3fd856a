"""`batch --resume` refuses an output produced by other inputs (issue 14.1): the results carry a fingerprint."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from milp_recourse import load_scm
from milp_recourse.batch.fingerprint import differences, meta_path
from milp_recourse.cli.main import main


@pytest.fixture(scope="module")
def people(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("fp") / "people.csv"
    load_scm("loan").sample(30, seed=3).to_csv(path, index=False)
    return path


def _batch(people: Path, out: Path, *extra: str) -> list[str]:
    return ["batch", "--scm", "loan", "--classifier", "recipe:logreg", "--data", str(people), "--out", str(out),
            "--limit", "6", "--time-limit", "20", "--no-progress", *extra]


def test_resume_with_other_options_is_refused_and_names_them(people, tmp_path, capsys):
    out = tmp_path / "r.csv"
    assert main(_batch(people, out, "--limit", "3")) == 0
    assert meta_path(out).is_file()  # the fingerprint sits beside the results
    before = out.read_bytes()
    capsys.readouterr()
    code = main(_batch(people, out, "--resume", "--cost-p", "2", "--actionable", "E"))
    err = capsys.readouterr()
    assert code == 2 and err.out == ""
    assert err.err.startswith("error: ") and "cost.p: 1 -> 2" in err.err and "actionability.actionable" in err.err
    assert out.read_bytes() == before  # nothing written
    # the same inputs resume (a longer --limit is the same run continued), and the rows are those of a fresh run
    assert main(_batch(people, out, "--resume")) == 0
    fresh = tmp_path / "fresh.csv"
    assert main(_batch(people, fresh)) == 0
    a, b = pd.read_csv(out), pd.read_csv(fresh)
    assert list(a["id"]) == list(b["id"]) == list(range(6))
    assert list(a["status"]) == list(b["status"])
    pd.testing.assert_series_equal(a["cost"], b["cost"], atol=1e-6)


@pytest.mark.parametrize("extra, name", [
    (("--classifier", "recipe:svm"), "classifier"),
    (("--scm", "loan-original"), "scm"),
    (("--time-limit", "5"), "options.time_limit"),
    (("--profiles", "generator:hard-subsets"), "profiles"),
    (("--weights", "E=2"), "preferences"),
])
def test_each_input_is_part_of_the_fingerprint(people, tmp_path, capsys, extra, name):
    out = tmp_path / "r.csv"
    assert main(_batch(people, out, "--limit", "2")) == 0
    capsys.readouterr()
    assert main(_batch(people, out, "--resume", *extra)) == 2
    assert name in capsys.readouterr().err


def test_an_output_without_fingerprint_is_not_resumed(people, tmp_path, capsys):
    out = tmp_path / "r.csv"
    assert main(_batch(people, out, "--limit", "2")) == 0
    meta_path(out).unlink()
    capsys.readouterr()
    assert main(_batch(people, out, "--resume")) == 2
    assert "no fingerprint" in capsys.readouterr().err


def test_fingerprint_file_and_differences(people, tmp_path):
    out = tmp_path / "r.csv"
    assert main(_batch(people, out, "--limit", "1")) == 0
    fp = json.loads(meta_path(out).read_text())["fingerprint"]
    assert fp["classifier"] == "recipe:logreg" and fp["scm"].startswith("sha256:")
    assert fp["options"]["time_limit"] == 20.0 and fp["cost"]["p"] == 1 and "package_version" in fp
    assert differences(fp, fp) == []
    assert differences({"a": {"b": 1}}, {"a": {"b": 2}, "c": 3}) == ["a.b: 1 -> 2", 'c: "(absent)" -> 3']
