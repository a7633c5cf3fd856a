"""The personalization study: config validation, seeded personalization (group profiles, mean-1 weights,
preferred ranges), the output folder (checked before solving, never half-written), and an end-to-end run
whose tables (summary, paired contrasts, invalidity decomposition) are recomputed from the raw results."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from milp_recourse import SolveOptions, load_scm
from milp_recourse.cli.main import main
from milp_recourse.errors import InputError
from milp_recourse.evaluation import study as study_mod
from milp_recourse.evaluation.study import check_config, personalize
from milp_recourse.evaluation.study_config import Case, Condition, load_study_config, study_config
from milp_recourse.evaluation.study_data import learned_scm, load_case, plausibility, widened_scm
from milp_recourse.evaluation.study_metrics import PARTS, attribution, decomposition, summarize

BASE = {"name": "tiny", "seed": 3, "methods": ["exact", "grid"], "exact": {"heuristic_samples": 0, "time_limit": 20},
        "baselines": {"grid": {"n_values": 7}},
        "conditions": ["universal", {"kind": "hard", "sizes": [1]}, {"kind": "ranking", "mapping": "rank"}],
        "cases": [{"name": "collider", "scm": "collider", "classifier": "recipe:logreg", "data": "sample", "n": 4,
                   "cost_p": 1, "reference_n": 1500}]}


def _has_torch() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.parametrize("patch, message", [
    ({"bogus": 1}, "Unknown key"),
    ({"methods": ["grid"]}, "must list 'exact'"),
    ({"methods": ["exact", "magic"]}, "must list 'exact'"),
    ({"conditions": [{"kind": "fuzzy"}]}, "has kind 'fuzzy'"),
    ({"conditions": [{"kind": "ranking", "mapping": "identity"}]}, "has mapping 'identity'"),
    ({"conditions": [{"kind": "ranking", "sizes": [1]}]}, "takes no 'sizes'"),
    ({"conditions": [{"kind": "hard", "sizes": [0]}]}, "size must be an integer >= 1"),
    ({"conditions": ["universal", {"kind": "universal"}]}, "listed more than once"),
    ({"exact": {"time_limt": 3}}, "time_limt"),
    ({"cases": [{"name": "a", "scm": "chain", "classifier": "recipe:logreg", "data": "web"}]}, "has data 'web'"),
    ({"cases": [{"name": "a", "scm": "chain", "classifier": "recipe:logreg", "cost_p": 3}]}, "expected 1 or 2"),
    ({"baselines": {"exact": {}}}, "'baselines' must map"),
    ({"conditions": [{"kind": "hard", "normalize": True}]}, "takes no 'normalize'"),
    ({"conditions": [{"kind": "ranking", "normalize": "yes"}]}, "normalize 'yes'"),
    ({"conditions": [{"kind": "scores", "group_hardest": ["E"]}]}, "group_hardest"),
    ({"conditions": [{"kind": "ranking", "width": 1}]}, "takes no 'width'"),
    ({"conditions": [{"kind": "preferred", "width": 0}]}, "'width' must be a finite number > 0"),
    ({"conditions": [{"kind": "preferred", "penalty": -1}]}, "'penalty' must be a finite number >= 0"),
    ({"conditions": [{"kind": "ranking", "normalize": "both", "name": "r"}, {"kind": "scores", "name": "r/mean1"}]},
     "listed more than once"),
    ({"support_widen": -1}, "'support_widen'"),
    ({"bootstrap_resamples": 5}, "'bootstrap_resamples'"),
])
def test_bad_configs_are_rejected_with_the_bad_value_named(patch, message):
    with pytest.raises(InputError, match=message):
        study_config({**BASE, **patch})


def test_config_file_roundtrip_and_missing_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(BASE))
    cfg = load_study_config(path)
    assert [c.label for c in cfg.conditions] == ["universal", "hard-1", "ranking"]
    assert cfg.solve_options(cfg.cases[0]).heuristic_samples == 0
    with pytest.raises(InputError, match="does not exist"):
        load_study_config(tmp_path / "none.yaml")


def test_condition_expansion_and_labels():
    cfg = study_config({**BASE, "conditions": [
        {"kind": "ranking", "normalize": "both", "group_hardest": {"xs=0": "x2"}},
        {"kind": "hard+scores", "sizes": [1, 2], "normalize": True}, {"kind": "preferred", "name": "pref"}]})
    assert [c.label for c in cfg.conditions] == ["ranking[xs=0:x2 hardest]", "ranking[xs=0:x2 hardest]/mean1",
                                                 "hard-1+scores/mean1", "hard-2+scores/mean1", "pref"]
    assert cfg.conditions[-1].width == 0.5 and cfg.conditions[-1].penalty == 0.1


def test_output_resolves_against_the_config_folder_and_may_not_escape(tmp_path):
    (tmp_path / "cfg").mkdir()
    path = tmp_path / "cfg" / "c.yaml"
    path.write_text(yaml.safe_dump({**BASE, "output": "results/run1"}))
    assert load_study_config(path).output == str((tmp_path / "cfg" / "results" / "run1").resolve())
    for bad in ("../elsewhere", "results/../../x", str(tmp_path / "abs"), "."):
        path.write_text(yaml.safe_dump({**BASE, "output": bad}))
        with pytest.raises(InputError, match="'output'"):
            load_study_config(path)


def test_check_config_refuses_profiles_on_unknown_groups_or_features():
    cfg = study_config({**BASE, "conditions": [{"kind": "ranking", "group_hardest": {"xs=0": "xs"}}]})
    with pytest.raises(InputError, match="'xs' is not an actionable feature"):
        check_config(cfg)
    cfg = study_config({**BASE, "conditions": [{"kind": "ranking", "group_hardest": {"G=0": "x1"}}]})
    with pytest.raises(InputError, match="group 'G=0' is not a value of a sensitive attribute"):
        check_config(cfg)
    cfg = study_config({**BASE, "cases": [{**BASE["cases"][0], "classifier": "/nonexistent/model.joblib"}]})
    with pytest.raises(InputError, match="does not exist"):
        check_config(cfg)
    # a subset larger than the case's actionable features was clipped to all of them: 'hard-9' equalled universal
    n_act = len(load_scm(BASE["cases"][0]["scm"]).actionable)
    cfg = study_config({**BASE, "conditions": [{"kind": "hard", "sizes": [n_act + 1]}]})
    with pytest.raises(InputError, match=f"a hard subset of {n_act + 1} features, but .* has {n_act} actionable"):
        check_config(cfg)
    check_config(study_config({**BASE, "conditions": [{"kind": "hard", "sizes": [n_act]}]}))


def test_group_profiles_normalized_weights_and_preferred_ranges():
    data = load_case(Case("c", "collider", "recipe:logreg", n=2, reference_n=500), seed=0, case_index=0)
    x = data.individuals.iloc[0][list(data.scm.names)].to_dict()
    opts = SolveOptions()
    prof = Condition("ranking", None, "rank", group_hardest=(("xs=0", "x2"),))
    for seed in range(6):
        w0 = personalize(data, prof, x, np.random.default_rng(seed), opts, "xs=0").preferences.weights
        assert w0["x2"] == max(w0[f] for f in data.actionable) == len(data.actionable)
        w1 = personalize(data, prof, x, np.random.default_rng(seed), opts, "xs=1").preferences.weights
        plain = personalize(data, Condition("ranking", None, "rank"), x, np.random.default_rng(seed), opts,
                            "xs=1").preferences.weights
        assert w1 == plain        # the other group draws its ranking as without a profile
    sc = Condition("scores", None, "identity", group_hardest=(("xs=1", "x1"),))
    w = personalize(data, sc, x, np.random.default_rng(3), opts, "xs=1").preferences.weights
    assert w["x1"] == 5 and all(w[f] <= 4 for f in data.actionable if f != "x1")
    norm = Condition("hard+ranking", 2, "rank", normalize=True)
    p = personalize(data, norm, x, np.random.default_rng(1), opts)
    allowed = p.actionability.actionable
    assert np.mean([p.preferences.weights[f] for f in allowed]) == pytest.approx(1.0)
    assert sorted(p.preferences.weights[f] for f in allowed) == pytest.approx([2 / 3, 4 / 3])
    pref = personalize(data, Condition("preferred", width=0.5, penalty=0.2), x, np.random.default_rng(2), opts)
    ((feat, (lo, hi)),) = pref.preferences.preferred_ranges.items()
    assert feat in data.actionable
    assert (lo, hi) == pytest.approx((x[feat] - 0.5 * data.std[feat], x[feat] + 0.5 * data.std[feat]))
    assert pref.preferences.range_penalty == pytest.approx(0.2 / data.std[feat])


def test_personalization_is_seeded_and_matches_its_condition():
    data = load_case(Case("c", "chain", "recipe:logreg", n=2, reference_n=500), seed=0, case_index=0)
    x = data.individuals.iloc[0][list(data.scm.names)].to_dict()
    opts = SolveOptions()
    for cond in (Condition("hard+ranking", 2, "rank"), Condition("scores", None, "identity")):
        a = personalize(data, cond, x, np.random.default_rng(5), opts)
        b = personalize(data, cond, x, np.random.default_rng(5), opts)
        assert a.actionability == b.actionability and a.preferences == b.preferences
        allowed = a.actionability.actionable or data.actionable
        if cond.hard_size:
            assert len(allowed) == 2 and set(allowed) <= set(data.actionable)
            assert sorted(a.preferences.weights[f] for f in allowed) == [1.0, 2.0]
        else:
            assert all(a.preferences.weights[f] in (1, 2, 3, 4, 5) for f in allowed)


def test_plausibility_against_a_direct_computation():
    data = load_case(Case("c", "chain", "recipe:logreg", n=1, reference_n=400), seed=1, case_index=0)
    ref = data.reference.to_numpy(float)
    row = ref[7]
    inside, pct = plausibility(data, row)
    ld = data.scm.log_density(ref)
    assert inside == 1.0 and pct == pytest.approx(100.0 * np.mean(ld <= ld[7]))
    outside, _ = plausibility(data, row + np.r_[0, 100.0, 0, 0])
    assert outside == 0.0


def test_study_end_to_end_tables_match_raw_results(tmp_path):
    cfg_dict = {**BASE, "bootstrap_resamples": 300, "conditions": [
        "universal", {"kind": "hard", "sizes": [1]}, {"kind": "ranking", "mapping": "rank", "normalize": "both"},
        {"kind": "scores", "group_hardest": {"xs=0": "x2"}}, {"kind": "preferred"}]}
    if _has_torch():
        cfg_dict["methods"] = ["exact", "grid", "causal-gd", "amortized", "amortized-learned"]
        cfg_dict["baselines"] = {**BASE["baselines"], "causal-gd": {"steps": 60},
                                 "amortized": {"epochs": 3, "hidden": 16},
                                 "amortized-learned": {"epochs": 3, "hidden": 16}}
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg_dict))
    out = tmp_path / "out"
    assert main(["study", str(path), "--out", str(out), "--quiet"]) == 0
    for name in ("raw.csv", "summary.csv", "attribution.csv", "invalidity.csv", "contrasts.csv", "group_gaps.csv",
                 "learned_model.csv", "report.md", "config.yaml"):
        assert (out / name).is_file()
    if _has_torch():   # amortized on the learned vs the true SCM, paired per condition
        lm = pd.read_csv(out / "learned_model.csv")
        assert len(lm[lm["metric"] == "validity"]) == 6
        r = pd.read_csv(out / "raw.csv")
        u = r[r["condition"] == "universal"]
        a, b = (u[u["method"] == m].set_index("person")["valid"] for m in ("amortized", "amortized-learned"))
        row = lm[(lm["condition"] == "universal") & (lm["metric"] == "validity")].iloc[0]
        assert row["effect"] == pytest.approx((b.astype(float) - a.astype(float)).mean())
        assert "Learned causal model" in (out / "report.md").read_text()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]   # no staging folder left
    raw = pd.read_csv(out / "raw.csv")
    summary = pd.read_csv(out / "summary.csv")
    n_conds = 6
    assert len(raw) == 4 * n_conds * len(cfg_dict["methods"])
    # hard-1: every valid action touches at most one feature
    assert (raw[(raw["condition"] == "hard-1") & raw["valid"]]["n_changed"] <= 1).all()
    # recompute validity and the baseline/exact cost ratio for one cell from the raw rows
    cell = raw[(raw["condition"] == "ranking")]
    grid = cell[cell["method"] == "grid"].set_index("person")
    exact = cell[cell["method"] == "exact"].set_index("person")
    both = grid["valid"] & exact["valid"]
    ratio = (grid["cost"][both] / exact["cost"][both]).mean()
    row = summary[(summary["case"] == "collider") & (summary["condition"] == "ranking") & (summary["method"] == "grid")
                  & (summary["group"] == "all")].iloc[0]
    assert row["validity"] == pytest.approx(grid["valid"].mean())
    assert row["cost_ratio_mean"] == pytest.approx(ratio)
    assert row["cost_mean"] == pytest.approx(grid["cost"][grid["valid"]].mean())
    assert (grid["cost"][both] >= exact["cost"][both] * (1 - 1e-6)).all()
    # the paired contrast universal -> hard-1 of the grid method, recomputed from the raw rows
    con = pd.read_csv(out / "contrasts.csv")
    g = raw[raw["method"] == "grid"]
    u, h = (g[g["condition"] == c].set_index("person") for c in ("universal", "hard-1"))
    c_val = con[(con["method"] == "grid") & (con["b"] == "hard-1") & (con["metric"] == "validity")].iloc[0]
    assert c_val["n"] == 4 and c_val["effect"] == pytest.approx((h["valid"].astype(float) - u["valid"]).mean())
    vb = u["valid"] & h["valid"]
    c_cost = con[(con["method"] == "grid") & (con["b"] == "hard-1") & (con["metric"] == "cost")].iloc[0]
    assert c_cost["n"] == vb.sum()
    if vb.any():
        assert c_cost["effect"] == pytest.approx((h["cost"][vb] - u["cost"][vb]).mean())
        assert c_cost["lo"] <= c_cost["effect"] <= c_cost["hi"]
    assert set(con["family"]) == {"personalized vs universal", "soft vs hard"}
    # invalidity decomposition: parts add up to n and 'valid' matches the raw rows
    inv = pd.read_csv(out / "invalidity.csv")
    assert (inv[PARTS].sum(axis=1) == inv["n"]).all()
    for _, r in inv.iterrows():
        sub = raw[(raw["condition"] == r["condition"]) & (raw["method"] == r["method"])]
        assert r["valid"] == sub["valid"].sum()
    ex_nr = raw[(raw["method"] == "exact") & (raw["status"] == "NO_RECOURSE")]
    assert set(ex_nr["unclipped"]) <= {"valid outside support", "none", "undecided"}
    # group rows partition the persons; attribution counts match the raw statuses
    groups = summary[(summary["case"] == "collider") & (summary["condition"] == "ranking")
                     & (summary["method"] == "grid") & (summary["group"] != "all")]
    assert groups["n"].sum() == row["n"]
    att = pd.read_csv(out / "attribution.csv")
    for _, a in att.iterrows():
        sub = raw[(raw["condition"] == a["condition"]) & (raw["method"] == a["method"])]
        ex = raw[(raw["condition"] == a["condition"]) & (raw["method"] == "exact")].set_index("person")
        bad = sub[~sub["valid"]]
        assert a["invalid"] == len(bad)
        assert a["exact_no_recourse"] == sum(ex.loc[p, "status"] == "NO_RECOURSE" for p in bad["person"])
    report = (out / "report.md").read_text()
    assert report.index("## Summary: primary case collider") < report.index("## Primary case: collider")
    assert "Hard individual constraints substantially degrade" in report and "Invalidity decomposed" in report
    assert "hard-1 | validity" in report and "[95 % CI]" in report


def _tiny(tmp_path, **patch) -> str:
    path = tmp_path / "t.yaml"
    cfg = {**BASE, "methods": ["exact"], "conditions": ["universal", {"kind": "hard", "sizes": [1]}],
           "cases": [{**BASE["cases"][0], "n": 2}], "bootstrap_resamples": 100, **patch}
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def test_exact_only_study_and_overwrite(tmp_path, capsys):
    """methods: [exact] writes a full report; an existing --out is refused before any solving, then replaced
    only with --overwrite."""
    cfg = _tiny(tmp_path)
    out = tmp_path / "res"
    out.mkdir()
    (out / "old.txt").write_text("keep me")
    assert main(["study", cfg, "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr()
    assert "already exists" in err.err and "--overwrite" in err.err and err.out == ""
    assert (out / "old.txt").read_text() == "keep me"
    assert main(["study", cfg, "--out", str(out), "--quiet", "--overwrite"]) == 0
    assert not (out / "old.txt").exists() and (out / "report.md").is_file()
    assert "Invalidity decomposed" in (out / "report.md").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["res", "t.yaml"]


def test_bad_output_is_refused_before_solving(tmp_path, monkeypatch, capsys):
    def no_solving(*a, **k):
        raise AssertionError("the study started solving before checking --out")

    monkeypatch.setattr(study_mod, "run_study", no_solving)
    cfg = _tiny(tmp_path)
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    for bad in ("/proc/no/such/folder", str(a_file), str(a_file / "sub")):
        assert main(["study", cfg, "--out", bad, "--quiet"]) == 2
        err = capsys.readouterr()
        assert err.err.startswith("error:") and err.out == ""
    assert a_file.read_text() == "x"


def test_a_failed_run_leaves_nothing_behind(tmp_path, monkeypatch, capsys):
    def fail(*a, **k):
        raise InputError("simulated failure half-way")

    monkeypatch.setattr(study_mod, "write_study", fail)
    out = tmp_path / "new" / "deeper" / "res"
    assert main(["study", _tiny(tmp_path), "--out", str(out), "--quiet"]) == 2
    assert "simulated failure" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.yaml"]   # no out, no staging, no created parents


def test_summary_of_a_hand_made_raw_table():
    """Metrics of a tiny raw table computed by hand: NO_RECOURSE attribution and cost ratios."""
    base = {"case": "c", "kind": "universal", "condition": "universal", "hard_size": None, "group": "xs=0",
            "in_box": 1.0, "logdens_pct": 50.0, "n_changed": 1.0, "seconds": 1.0}
    rows = [
        {**base, "method": "exact", "person": 1, "status": "OPTIMAL", "valid": True, "no_recourse": False, "cost": 1.0},
        {**base, "method": "exact", "person": 2, "status": "NO_RECOURSE", "valid": False, "no_recourse": True,
         "cost": np.nan},
        {**base, "method": "grid", "person": 1, "status": "FEASIBLE", "valid": True, "no_recourse": False, "cost": 1.5},
        {**base, "method": "grid", "person": 2, "status": "UNKNOWN", "valid": False, "no_recourse": False,
         "cost": np.nan}]
    s = summarize(pd.DataFrame(rows))
    g = s[(s["case"] == "c") & (s["method"] == "grid") & (s["group"] == "all")].iloc[0]
    e = s[(s["case"] == "c") & (s["method"] == "exact") & (s["group"] == "all")].iloc[0]
    assert g["validity"] == 0.5 and g["invalid_no_recourse"] == 0.5 and g["invalid_failure"] == 0.0
    assert g["cost_ratio_mean"] == 1.5 and e["no_recourse_rate"] == 0.5 and np.isnan(g["no_recourse_rate"])
    att = attribution(pd.DataFrame(rows))
    assert att.iloc[0][["invalid", "exact_no_recourse", "exact_found"]].tolist() == [1, 1, 0]


def test_decomposition_of_a_hand_made_raw_table():
    """Each invalid result lands in exactly one part, decided by what the exact solver proved for that person."""
    base = {"case": "c", "kind": "hard", "condition": "hard-1", "hard_size": 1, "group": "all", "in_box": np.nan,
            "logdens_pct": np.nan, "n_changed": np.nan, "seconds": 0.1, "cost": np.nan, "no_recourse": False,
            "unclipped": ""}
    ex = [("OPTIMAL", True, ""), ("NO_RECOURSE", False, "valid outside support"), ("NO_RECOURSE", False, "none"),
          ("NO_RECOURSE", False, ""), ("UNKNOWN", False, "")]
    gr = [("UNKNOWN", False), ("UNKNOWN", False), ("UNKNOWN", False), ("UNKNOWN", False), ("ERROR", False)]
    rows = [{**base, "method": "exact", "person": i, "status": s, "valid": v, "unclipped": u, "cost": 1.0 if v else
             np.nan} for i, (s, v, u) in enumerate(ex)]
    rows += [{**base, "method": "grid", "person": i, "status": s, "valid": v} for i, (s, v) in enumerate(gr)]
    d = decomposition(pd.DataFrame(rows)).set_index("method")
    assert d.loc["grid", PARTS].tolist() == [0, 1, 1, 1, 1, 0, 1]
    assert d.loc["exact", PARTS].tolist() == [1, 1, 1, 1, 0, 1, 0]
    assert decomposition(pd.DataFrame(columns=list(base) + ["method", "person", "status", "valid"])).empty


def test_ctrl_c_leaves_nothing_and_says_so(tmp_path, monkeypatch, capsys):
    def interrupt(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(study_mod, "run_study", interrupt)
    out = tmp_path / "res"
    assert main(["study", _tiny(tmp_path), "--out", str(out), "--quiet"]) == 130
    err = capsys.readouterr()
    assert "interrupted: nothing was written" in err.err and err.out == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.yaml"]


def test_learned_scm_recovers_a_linear_scm_and_keeps_its_interface():
    """chain is linear with Gaussian noise on x2, x3: the fitted coefficients match the true ones (0.5, 1; 0.5,
    0.25) to sampling error; names, actionability, sensitive attribute and the SCM's name are kept."""
    from milp_recourse.scm.fit import linear_coefficients

    data = load_case(Case("c", "chain", "recipe:logreg", n=1, reference_n=5000), seed=0, case_index=0)
    fitted = learned_scm(data)
    assert (fitted.name, fitted.names, fitted.actionable, fitted.sensitive) == (
        data.scm.name, data.scm.names, data.scm.actionable, data.scm.sensitive)
    c2, c3 = linear_coefficients(fitted, "x2"), linear_coefficients(fitted, "x3")
    assert c2["x1"] == pytest.approx(0.5, abs=0.03) and c2["xs"] == pytest.approx(1.0, abs=0.1)
    assert c3["x2"] == pytest.approx(0.5, abs=0.03) and c3["xs"] == pytest.approx(0.25, abs=0.1)


def test_widened_scm_widens_every_non_binary_domain_by_its_range():
    scm = load_case(Case("c", "chain", "recipe:logreg", n=1, reference_n=300), seed=0, case_index=0).scm
    wide = widened_scm(scm, 1.0)
    for v in scm.variables:
        lo, hi = wide.variable(v.name).domain
        pad = 0.0 if v.kind == "binary" else v.upper - v.lower
        assert (lo, hi) == pytest.approx((v.lower - pad, v.upper + pad))
    x = scm.sample(5, seed=1)[list(scm.names)].to_numpy()
    assert np.allclose(wide.counterfactual(x, {"x1": x[:, 1] + 1}), scm.counterfactual(x, {"x1": x[:, 1] + 1}))
