"""The personalization study: config validation, seeded personalization, and an end-to-end run whose
tables are recomputed from the raw per-person results."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from milp_recourse import SolveOptions
from milp_recourse.cli.main import main
from milp_recourse.errors import InputError
from milp_recourse.evaluation.study import personalize
from milp_recourse.evaluation.study_config import Case, Condition, load_study_config, study_config
from milp_recourse.evaluation.study_data import load_case, plausibility
from milp_recourse.evaluation.study_metrics import attribution, summarize

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
    cfg_dict = dict(BASE)
    if _has_torch():
        cfg_dict["methods"] = ["exact", "grid", "causal-gd"]
        cfg_dict["baselines"] = {**BASE["baselines"], "causal-gd": {"steps": 60}}
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg_dict))
    out = tmp_path / "out"
    assert main(["study", str(path), "--out", str(out), "--quiet"]) == 0
    for name in ("raw.csv", "summary.csv", "attribution.csv", "report.md", "config.yaml"):
        assert (out / name).is_file()
    raw = pd.read_csv(out / "raw.csv")
    summary = pd.read_csv(out / "summary.csv")
    assert len(raw) == 4 * 3 * len(cfg_dict["methods"])
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
    assert "Hard individual constraints substantially degrade" in report and "**Verdict:" in report
    assert "Was 'invalid' really 'no recourse'?" in report


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
