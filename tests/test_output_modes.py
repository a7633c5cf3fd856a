"""Outputs are created as the user's umask says: batch results, their fingerprint, exported models and fitted specs
came out 0600 (tempfile.mkstemp's mode, kept by the rename), unreadable to the user's group, while the study and
audit reports were 0644 (an outside fuzz). Reference: os.stat against 0666 less the umask the test sets."""

from __future__ import annotations

import json
import os
import stat

import pytest

from milp_recourse import load_scm
from milp_recourse.cli.main import main


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield 0o644
    os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_outputs_follow_the_umask(tmp_path, umask_022, capsys):
    scm = load_scm("chain")
    people = tmp_path / "people.csv"
    sample = scm.sample(12, seed=3)
    sample.to_csv(people, index=False)
    out = tmp_path / "res.csv"
    assert main(["batch", "--scm", "chain", "--classifier", "recipe:logreg", "--data", str(people), "--out", str(out),
                 "--no-progress"]) == 0
    person = json.dumps({k: float(v) for k, v in sample.iloc[0].items()})
    mps = tmp_path / "model.mps"
    assert main(["export", "--scm", "chain", "--classifier", "recipe:logreg", "--individual", person,
                 "--out", str(mps)]) == 0
    spec = tmp_path / "fitted.yaml"
    assert main(["fit-scm", "--data", str(people), "--independent", "--out", str(spec)]) == 0
    capsys.readouterr()
    written = [out, out.parent / (out.name + ".meta.json"), spec, mps]
    for path in written:
        assert _mode(path) == umask_022, (path.name, oct(_mode(path)))
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
