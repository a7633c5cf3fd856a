"""--plausible with reference data whose categorical / ordinal columns hold level names (as the table fit-scm and
the classifier read): the box is taken over the level codes, not refused with a traceback (a fuzz found
`ValueError: could not convert string to float: 'Tech'`, exit 1)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from milp_recourse import load_scm
from milp_recourse.errors import InputError
from milp_recourse.problem.plausibility import box_plausibility, density_plausibility

JOBS = Path(__file__).resolve().parents[1] / "examples" / "categorical" / "jobs.yaml"


def _table() -> pd.DataFrame:
    return pd.DataFrame({"job": ["Tech", "Admin", "Tech", "Sales"], "edu": ["BSc", "MSc", "BSc", "BSc"],
                         "hours": [3, 7, 5, 4]})


def test_box_over_level_names_is_the_box_of_their_codes():
    scm = load_scm(str(JOBS))
    box = box_plausibility(scm, _table())
    # codes by hand from the spec's level order: job Sales 0, Tech 1, Admin 2, Craft 3; edu HS 0, BSc 1, MSc 2
    assert (box.lower["job"], box.upper["job"]) == (0.0, 2.0)
    assert (box.lower["edu"], box.upper["edu"]) == (1.0, 2.0)
    assert (box.lower["hours"], box.upper["hours"]) == (3.0, 7.0)


def test_the_same_box_from_codes_and_from_names():
    scm = load_scm(str(JOBS))
    codes = pd.DataFrame({"job": [1, 2, 1, 0], "edu": [1, 2, 1, 1], "hours": [3, 7, 5, 4]})
    a, b = box_plausibility(scm, _table()), box_plausibility(scm, codes)
    assert a.lower == b.lower and a.upper == b.upper


def test_density_over_level_names_equals_density_over_codes():
    scm = load_scm(str(JOBS))
    codes = pd.DataFrame({"job": [1, 2, 1, 0], "edu": [1, 2, 1, 1], "hours": [3, 7, 5, 4]})
    try:
        a = density_plausibility(scm, 50, _table())
    except InputError as exc:   # (the jobs SCM's noises are categorical: density may be refused, by name)
        with pytest.raises(InputError):
            density_plausibility(scm, 50, codes)
        assert "Tech" not in str(exc)
        return
    assert a.threshold == density_plausibility(scm, 50, codes).threshold


@pytest.mark.parametrize("bad, word", [("Pilot", "Pilot"), (None, "job")])
def test_an_unknown_level_or_a_gap_is_refused_by_name(bad, word):
    scm = load_scm(str(JOBS))
    t = _table()
    t.loc[2, "job"] = bad
    with pytest.raises(InputError, match=word):
        box_plausibility(scm, t)


def test_a_text_column_that_is_not_a_level_column_is_refused_by_name():
    scm = load_scm(str(JOBS))
    t = _table().astype({"hours": object})
    t.loc[1, "hours"] = "seven"
    with pytest.raises(InputError, match="hours"):
        box_plausibility(scm, t)


def test_cli_box_with_level_names(tmp_path):
    ref = tmp_path / "ref.csv"
    scm = load_scm(str(JOBS))
    sample = scm.sample(300, seed=2)
    named = sample.copy()
    for v in ("job", "edu"):
        named[v] = [scm.variable(v).levels[int(k)] for k in sample[v]]
    named.to_csv(ref, index=False)
    out = subprocess.run([sys.executable, str(JOBS.parent / "train.py"), "--out", str(tmp_path)], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    person = json.dumps({"job": "Sales", "edu": "HS", "hours": 1})
    cmd = [sys.executable, "-m", "milp_recourse", "solve", "--scm", str(JOBS), "--classifier",
           str(tmp_path / "pipeline.joblib"),
           "--individual", person, "--plausible", "box", "--reference-data", str(ref), "--format", "json"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert "Traceback" not in r.stderr
    assert out["status"] in ("OPTIMAL", "NO_RECOURSE"), out
    if out["status"] == "OPTIMAL":
        # every counterfactual value (level names in the JSON) lies in the reference sample's own range
        cf = out["counterfactual"]
        for v in scm.names:
            code = scm.variable(v).levels.index(cf[v]) if isinstance(cf[v], str) else float(cf[v])
            assert float(sample[v].min()) - 1e-9 <= code <= float(sample[v].max()) + 1e-9, (v, cf[v])
