"""Cost divisors from reference data: 'mad' (median absolute deviation, DiCE's default) against scipy,
the other kinds against numpy, the fallback for zero spread, bad reference data, and --divisor mad
through the CLI (the reported cost recomputed from the action with the MAD divisors)."""

from __future__ import annotations

import json

import joblib
import numpy as np
import pandas as pd
import pytest
from scipy.stats import median_abs_deviation

from milp_recourse.cli.main import main
from milp_recourse.errors import InputError
from milp_recourse.models.recipes import first_denied, train_recipe
from milp_recourse.problem.options import divisors_from_data
from milp_recourse.scm import load_scm


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"a": rng.normal(3, 2, 501), "b": rng.gamma(2, 3, 501), "c": rng.integers(0, 5, 501)})


def test_mad_matches_scipy(table) -> None:
    got = divisors_from_data(table, ["a", "b", "c"], "mad")
    for n in "abc":
        assert got[n] == pytest.approx(median_abs_deviation(table[n].to_numpy(float), scale=1.0), rel=1e-12)
    # an even number of rows: the median averages the two middle values
    even = table.iloc[:500]
    assert divisors_from_data(even, ["b"], "mad")["b"] == pytest.approx(median_abs_deviation(even["b"]), rel=1e-12)
    # arrays in `names` order work the same way
    arr = divisors_from_data(table[["a", "b"]].to_numpy(), ["a", "b"], "mad")
    assert arr == pytest.approx({n: got[n] for n in "ab"})


def test_mad_by_hand_and_zero_fallback() -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0, 100.0], "y": [5.0, 5.0, 5.0, 1.0, 9.0]})
    got = divisors_from_data(frame, ["x", "y"], "mad")
    assert got["x"] == 1.0          # median 3, deviations 2 1 0 1 97 -> median 1 (robust to the outlier)
    assert got["y"] == 1.0          # MAD 0 (most values equal) -> fallback 1


def test_other_kinds_match_numpy(table) -> None:
    for n in "abc":
        col = table[n].to_numpy(float)
        std, rng = np.std(col, ddof=1), np.ptp(col)
        assert divisors_from_data(table, [n], "std")[n] == pytest.approx(std)
        assert divisors_from_data(table, [n], "range")[n] == pytest.approx(rng)
        assert divisors_from_data(table, [n], "std2-range")[n] == pytest.approx(std * rng)


def test_bad_reference_data(table) -> None:
    with pytest.raises(InputError, match="Unknown divisor kind 'iqr'.*mad"):
        divisors_from_data(table, ["a"], "iqr")
    with pytest.raises(InputError, match="lacks column"):
        divisors_from_data(table, ["zz"], "mad")
    with pytest.raises(InputError, match="'a' is empty or has missing"):
        divisors_from_data(table.assign(a=np.nan), ["a"], "mad")
    with pytest.raises(InputError, match="'s' is not numeric"):
        divisors_from_data(table.assign(s="x"), ["s"], "mad")


def test_cli_divisor_mad(capsys, tmp_path) -> None:
    scm = load_scm("loan")
    model = train_recipe(scm, "logreg")
    person = first_denied(scm, model)
    joblib.dump(model, tmp_path / "m.joblib")
    ref = scm.sample(400, seed=3)
    ref.to_csv(tmp_path / "ref.csv", index=False)
    code = main(["solve", "--scm", "loan", "--classifier", str(tmp_path / "m.joblib"), "--individual",
                 json.dumps({k: float(v) for k, v in person.items()}), "--reference-data", str(tmp_path / "ref.csv"), "--divisor", "mad", "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    d = json.loads(out)
    assert d["status"] == "OPTIMAL" and d["verified"] is True and d["action"]
    mad = {n: median_abs_deviation(ref[n].to_numpy(float)) for n in scm.names}
    factual = d["factual"]
    assert d["cost"] == pytest.approx(sum(abs(v - factual[k]) / mad[k] for k, v in d["action"].items()), rel=1e-6)
    with pytest.raises(SystemExit) as exc:
        main(["solve", "--scm", "loan", "--classifier", str(tmp_path / "m.joblib"), "--individual", "{}",
              "--reference-data", str(tmp_path / "ref.csv"), "--divisor", "mean"])
    out, err = capsys.readouterr()
    assert exc.value.code == 2 and out == "" and "invalid choice: 'mean'" in err
