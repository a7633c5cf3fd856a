"""Group audit: every number recomputed independently from the raw batch results; report files written."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from milp_recourse import InputError, load_scm
from milp_recourse.evaluation.audit import audit
from milp_recourse.evaluation.audit_report import write_report
from milp_recourse.batch.run import solve_batch
from milp_recourse.models.recipes import load_model

SCM = load_scm("loan")


@pytest.fixture(scope="module")
def results() -> pd.DataFrame:
    model = load_model("recipe:logreg", SCM)
    people = SCM.sample(160, seed=8)
    return solve_batch(SCM, model, people, "generator:hard-subsets", profile_seed=2)


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return SCM.sample(3000, seed=99)


@pytest.fixture(scope="module")
def report(results, reference):
    return audit(results, ["G", "A"], SCM, reference, n_boot=400, seed=7)


def expected_group(sub: pd.DataFrame, reference: pd.DataFrame) -> dict:
    """The audit's definitions, recomputed with pandas/numpy from the raw result columns."""
    denied = sub[sub["status"] != "ALREADY_FAVOURABLE"]
    valid = denied[denied["status"].isin(["OPTIMAL", "FEASIBLE"]) & denied["verified"]]
    cf = pd.DataFrame([json.loads(c) for c in valid["counterfactual"]], columns=list(SCM.names))
    ref = reference[list(SCM.names)]
    in_box = ((cf >= ref.min()) & (cf <= ref.max())).all(axis=1)
    ref_ld = SCM.log_density(ref.to_numpy())
    ld = SCM.log_density(cf.to_numpy()) if len(cf) else np.zeros(0)
    return {"n": len(sub), "denied": len(denied), "found": int(denied["status"].isin(["OPTIMAL", "FEASIBLE"]).sum()),
            "proven_none": int((denied["status"] == "NO_RECOURSE").sum()),
            "validity": len(valid) / len(denied), "cost_mean": valid["cost"].mean(),
            "cost_median": valid["cost"].median(), "cost_q90": valid["cost"].quantile(0.9),
            "changed_mean": valid["n_changed"].mean(), "plausible_box": in_box.mean(),
            "plausible_ld1": np.mean(ld >= np.percentile(ref_ld, 1)),
            "plausible_ld5": np.mean(ld >= np.percentile(ref_ld, 5))}


def test_group_numbers_match_an_independent_recomputation(results, reference, report):
    groups = report.groups[report.groups["column"] == "G"].set_index("group")
    assert list(groups.index) == ["0", "1"]
    assert (results["status"] == "NO_RECOURSE").any()  # hard subsets leave some people without recourse
    for g in (0, 1):
        exp = expected_group(results[results["G"] == g], reference)
        got = groups.loc[str(g)]
        for key, value in exp.items():
            assert got[key] == pytest.approx(value, rel=1e-12, abs=1e-12), key
    assert groups["n"].sum() == len(results)


def test_disparities_are_differences_with_cis_around_them(report):
    d = report.disparities[report.disparities["column"] == "G"].set_index("metric")
    groups = report.groups[report.groups["column"] == "G"].set_index("group")
    for metric, row in d.iterrows():
        assert row["group"] == "1" and row["reference"] == "0"
        assert row["difference"] == pytest.approx(groups.loc["1", metric] - groups.loc["0", metric])
        assert row["ci_low"] <= row["difference"] <= row["ci_high"], metric
        assert groups.loc["1", f"{metric}_ci_low"] <= groups.loc["1", metric] <= groups.loc["1", f"{metric}_ci_high"]
    assert any("cost_mean: G=1" in line for line in report.headline())


def test_bootstrap_is_seeded(results, reference, report):
    again = audit(results, ["G", "A"], SCM, reference, n_boot=400, seed=7)
    pd.testing.assert_frame_equal(again.disparities, report.disparities)
    other = audit(results, ["G"], SCM, reference, n_boot=400, seed=8)
    assert not np.allclose(other.disparities["ci_low"], report.disparities.iloc[:len(other.disparities)]["ci_low"])


def test_many_valued_column_is_cut_into_quartiles(results, report):
    a = report.groups[report.groups["column"] == "A"]
    assert len(a) == 4 and a["n"].sum() == len(results) and all(s.startswith("(") for s in a["group"])
    assert (a["n"] - len(results) / 4).abs().max() <= 1


def test_feature_usage_shares(results, report):
    f = report.features[(report.features["column"] == "G") & (report.features["group"] == "0")].set_index("feature")
    valid = results[(results["G"] == 0) & results["status"].isin(["OPTIMAL", "FEASIBLE"]) & results["verified"]]
    for feat in ("E", "L", "I", "S"):
        expected = np.mean([feat in json.loads(a) for a in valid["action"]])
        assert f.loc[feat, "share"] == pytest.approx(expected)


def test_report_files_and_plots_are_written(report, tmp_path):
    pytest.importorskip("matplotlib")
    paths = write_report(report, tmp_path / "out")
    assert len(paths["plots"]) == 6
    for p in paths["plots"]:
        data = p.read_bytes()
        assert len(data) > 1000 and data[:8] == b"\x89PNG\r\n\x1a\n"
    md = paths["markdown"].read_text()
    assert "## Disparities at a glance" in md and "![cost_by_G](cost_by_G.png)" in md
    assert "<table" in paths["html"].read_text()
    assert len(pd.read_csv(paths["groups"])) == len(report.groups)


def test_bad_audit_input(results, tmp_path):
    with pytest.raises(InputError, match="Cannot group by"):
        audit(results, ["colour"], SCM)
    with pytest.raises(InputError, match="lack column"):
        audit(results.drop(columns=["counterfactual"]), ["G"], SCM)
    with pytest.raises(InputError, match="does not exist"):
        audit(tmp_path / "none.csv", ["G"], SCM)
    with pytest.raises(InputError, match="reference data lacks"):
        audit(results, ["G"], SCM, pd.DataFrame({"G": [0, 1]}))
    with pytest.raises(InputError, match="at least one column"):
        audit(results, [], SCM)
    # an outside fuzz: these gave tracebacks, or a report that averaged a text cost as NaN / counted an unknown
    # status as a found answer
    with pytest.raises(InputError, match="no rows"):
        audit(results.head(0), ["G"], SCM)
    with pytest.raises(InputError, match="'G' are given twice"):
        audit(results, ["G", "G"], SCM)
    with pytest.raises(InputError, match="reference data has no rows"):
        audit(results, ["G"], SCM, reference_header_only())
    found = int(np.flatnonzero(results["status"].isin(["OPTIMAL", "FEASIBLE"]).to_numpy())[0])
    bad = results.copy()
    bad["cost"] = bad["cost"].astype(object)
    bad.loc[bad.index[found], "cost"] = "abc"
    with pytest.raises(InputError, match=f"Row {found} of the results .* has the cost 'abc'; expected a finite"):
        audit(bad, ["G"], SCM)
    bad = results.copy()
    bad.loc[bad.index[3], "status"] = "WEIRD"
    with pytest.raises(InputError, match="Row 3 of the results has the status 'WEIRD'; expected one of"):
        audit(bad, ["G"], SCM)


def reference_header_only() -> pd.DataFrame:
    return pd.DataFrame(columns=list(SCM.names))


def test_the_cli_refuses_bad_audit_input_before_writing(results, tmp_path, capsys):
    from milp_recourse.cli.main import main

    path = tmp_path / "res.csv"
    results.to_csv(path, index=False)
    ref = tmp_path / "ref.csv"
    reference_header_only().to_csv(ref, index=False)
    for extra in (["--by", "G", "--by", "G"], ["--by", "G", "--reference-data", str(ref)]):
        out = tmp_path / "report"
        code = main(["audit", str(path), "--scm", "loan", "--out", str(out), "--no-plots", "--n-boot", "20", *extra])
        stdout, err = capsys.readouterr()
        assert code == 2 and stdout == "" and err.startswith("error: ") and len(err.splitlines()) == 1, err
        assert not out.exists()
