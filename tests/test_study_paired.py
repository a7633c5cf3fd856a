"""Paired statistics of the study: bootstrap CIs against a direct percentile bootstrap and closed forms, the
pairing of people across conditions, group differences in differences, and the verdict rules."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from milp_recourse.evaluation.paired import (Estimate, bootstrap_ci, contrast, contrast_plan, gap_ci, group_rows,
                                             mean_ci, method_contrasts, seed_of)
from milp_recourse.evaluation.study_findings import combine, group_verdicts, hard_verdicts, soft_verdicts


def _direct_percentile(x: np.ndarray, seed: int, n_resamples: int) -> tuple[float, float]:
    """The percentile bootstrap written out: resample indices with the same generator, take the 2.5/97.5 %."""
    idx = np.random.default_rng(seed).integers(0, len(x), (n_resamples, len(x)))
    lo, hi = np.percentile(x[idx].mean(axis=1), [2.5, 97.5])
    return float(lo), float(hi)


def test_mean_ci_equals_a_direct_percentile_bootstrap():
    x = np.random.default_rng(1).normal(0.3, 1.0, 60)
    est = mean_ci(x, seed=11, n_resamples=1000)
    lo, hi = _direct_percentile(x, 11, 1000)
    assert est.effect == pytest.approx(x.mean()) and est.n == 60
    assert (est.lo, est.hi) == pytest.approx((lo, hi), rel=1e-12, abs=1e-12)


def test_mean_ci_matches_the_normal_closed_form_for_a_large_sample():
    """Paired differences ~ N(1, 2^2), n = 2000: the CI is mean +- 1.96 * s / sqrt(n) to within a few percent."""
    d = np.random.default_rng(4).normal(1.0, 2.0, 2000)
    est = mean_ci(d, seed=3, n_resamples=4000)
    half = 1.959964 * d.std(ddof=1) / np.sqrt(len(d))
    assert est.lo == pytest.approx(d.mean() - half, abs=0.08 * half)
    assert est.hi == pytest.approx(d.mean() + half, abs=0.08 * half)
    assert est.excludes_zero


def test_gap_ci_matches_the_two_sample_closed_form():
    rng = np.random.default_rng(8)
    a, b = rng.normal(0.0, 1.0, 1500), rng.normal(0.5, 3.0, 1000)
    est = gap_ci(a, b, seed=2, n_resamples=4000)
    half = 1.959964 * np.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
    assert est.effect == pytest.approx(b.mean() - a.mean())
    assert (est.lo, est.hi) == pytest.approx((est.effect - half, est.effect + half), abs=0.08 * half)
    assert est.n == 2500


def test_degenerate_samples():
    """Constant differences: zero-width CI at the value; one value: no CI; nothing: NaN."""
    assert mean_ci(np.full(7, -1.0), seed=0) == Estimate(-1.0, -1.0, -1.0, 7)
    one = mean_ci([0.5], seed=0)
    assert one.effect == 0.5 and np.isnan(one.lo) and not one.excludes_zero
    assert np.isnan(mean_ci([], seed=0).effect)
    assert np.isnan(gap_ci([], [1.0, 2.0], seed=0).effect)
    est, lo, hi = bootstrap_ci((np.zeros(5), np.zeros(4)), lambda a, b, axis=-1: b.mean(axis) - a.mean(axis), 0)
    assert (est, lo, hi) == (0.0, 0.0, 0.0)


def test_seeds_are_fixed_and_distinct():
    assert seed_of("a", "b") == seed_of("a", "b") and seed_of("a", "b") != seed_of("a", "c")
    x = np.random.default_rng(0).normal(size=30)
    assert mean_ci(x, 5) == mean_ci(x, 5)


def _raw(rows: list[tuple]) -> pd.DataFrame:
    cols = ["condition", "kind", "person", "group", "valid", "cost", "logdens_pct", "in_box"]
    df = pd.DataFrame(rows, columns=cols)
    return df.assign(case="c", method="exact")


RAW = _raw([
    ("universal", "universal", 1, "G=0", True, 1.0, 50.0, 1.0),
    ("universal", "universal", 2, "G=0", True, 2.0, 40.0, 1.0),
    ("universal", "universal", 3, "G=1", True, 1.5, 60.0, 1.0),
    ("universal", "universal", 4, "G=1", True, 0.5, 70.0, 1.0),
    ("hard-1", "hard", 1, "G=0", True, 3.0, 30.0, 1.0),
    ("hard-1", "hard", 2, "G=0", False, np.nan, np.nan, np.nan),   # invalid under hard-1
    ("hard-1", "hard", 3, "G=1", True, 2.5, 50.0, 0.0),
    # person 4 has no hard-1 row at all (missing)
    ("ranking", "ranking", 1, "G=0", True, 2.0, 45.0, 1.0),
    ("ranking", "ranking", 2, "G=0", True, 2.0, 40.0, 1.0),
    ("ranking", "ranking", 3, "G=1", True, 1.5, 65.0, 1.0),
    ("ranking", "ranking", 4, "G=1", True, 1.5, 70.0, 1.0),
])


def test_contrast_pairs_people_validity_over_all_cost_over_valid_in_both():
    rows = {r["metric"]: r for r in contrast(RAW, "c", "exact", "universal", "hard-1", n_resamples=200)}
    v = rows["validity"]
    # persons 1-3 appear in both; person 2 lost validity; person 4 (missing under hard-1) is not paired
    assert v["n"] == 3 and v["effect"] == pytest.approx(-1 / 3) and v["population"] == "all"
    c = rows["cost"]
    # person 2 is invalid under hard-1: excluded from the cost contrast, which pairs persons 1 and 3 only
    assert c["n"] == 2 and c["effect"] == pytest.approx(((3.0 - 1.0) + (2.5 - 1.5)) / 2)
    assert c["mean_a"] == pytest.approx(1.25) and c["mean_b"] == pytest.approx(2.75)
    assert rows["logdens_pct"]["effect"] == pytest.approx(((30 - 50) + (50 - 60)) / 2)
    assert rows["in_box"]["effect"] == pytest.approx(-0.5)
    assert c["lo"] <= c["effect"] <= c["hi"]


def test_group_gap_and_difference_in_differences_by_hand():
    rows = {r["metric"]: r for r in group_rows(RAW, "c", "exact", "ranking", "universal", n_resamples=200)}
    cost = rows["cost"]
    assert cost["groups"] == "G=1 - G=0"
    assert cost["gap"] == pytest.approx(1.5 - 2.0)
    # per-person changes: G=0: +1, 0; G=1: 0, +1  -> DiD = 0.5 - 0.5 = 0
    assert cost["did"] == pytest.approx(0.0) and cost["did_n"] == 4
    ld = rows["logdens_pct"]
    # G=0 changes: -5, 0 (mean -2.5); G=1: +5, 0 (mean +2.5) -> DiD +5
    assert ld["did"] == pytest.approx(5.0)
    assert rows["validity"]["gap"] == 0.0 and rows["validity"]["did"] == 0.0
    assert group_rows(RAW, "c", "exact", "ranking", None)[0]["reference"] == ""


def test_contrast_plan_families():
    conds = pd.DataFrame({"condition": ["universal", "hard-1", "hard-2", "ranking", "hard-2+ranking", "preferred"],
                          "kind": ["universal", "hard", "hard", "ranking", "hard+ranking", "preferred"]})
    plan = contrast_plan(conds)
    assert [(a, b) for f, a, b in plan if f == "personalized vs universal"] == [
        ("universal", c) for c in ["hard-1", "hard-2", "ranking", "hard-2+ranking", "preferred"]]
    assert [(a, b) for f, a, b in plan if f == "soft vs hard"] == [
        ("hard-1", "ranking"), ("hard-1", "preferred"), ("hard-2", "ranking"), ("hard-2", "preferred")]


@pytest.mark.parametrize("parts, verdict", [
    (["shown", "shown"], "holds"), (["shown", "CI includes 0"], "partly holds"),
    (["CI includes 0", "opposite"], "does not hold"), (["CI includes 0", "CI includes 0"], "not shown"),
    (["no data"], "no data"), ([], "no data")])
def test_verdict_rule(parts, verdict):
    assert combine(parts) == verdict


def _contrast_row(family, a, b, metric, effect, lo, hi, n=50):
    return {"family": family, "case": "c", "method": "exact", "a": a, "b": b, "metric": metric, "n": n,
            "effect": effect, "lo": lo, "hi": hi}


def test_verdicts_need_the_ci_to_exclude_zero():
    t = pd.DataFrame([
        _contrast_row("personalized vs universal", "universal", "hard-1", "validity", -0.13, -0.18, -0.08),
        _contrast_row("personalized vs universal", "universal", "hard-1", "logdens_pct", -17, -20, -14),
        _contrast_row("personalized vs universal", "universal", "hard-2", "validity", -0.01, -0.03, 0.0),
        _contrast_row("personalized vs universal", "universal", "hard-2", "logdens_pct", -8, -11, -5),
        _contrast_row("personalized vs universal", "universal", "ranking", "validity", 0, 0, 0),
        _contrast_row("soft vs hard", "hard-1", "ranking", "logdens_pct", -2, -4, -1),
        _contrast_row("soft vs hard", "hard-1", "ranking", "validity", 0.1, 0.05, 0.2)])
    hard = {v.condition: v for v in hard_verdicts(t)}
    assert set(hard) == {"hard-1", "hard-2"}              # ranking is not a hard size
    assert hard["hard-1"].verdict == "holds" and hard["hard-2"].verdict == "partly holds"
    assert "-0.13 [-0.18, -0.08] (n=50)" in hard["hard-1"].reason()
    (soft,) = soft_verdicts(t)
    assert soft.condition == "hard-1 -> ranking" and soft.verdict == "does not hold"


def test_group_widening_is_signed_by_the_universal_gap():
    base = {"case": "c", "method": "exact", "groups": "G=1 - G=0", "gap_lo": np.nan, "gap_hi": np.nan}
    rows = [{**base, "condition": "universal", "metric": "cost", "gap": -0.5, "reference": "", "did": np.nan,
             "did_lo": np.nan, "did_hi": np.nan, "did_n": 0},
            {**base, "condition": "universal", "metric": "logdens_pct", "gap": 3.0, "reference": "", "did": np.nan,
             "did_lo": np.nan, "did_hi": np.nan, "did_n": 0},
            # the negative cost gap grows more negative: widening +0.2; the log-density gap shrinks: -1
            {**base, "condition": "hard-1", "metric": "cost", "gap": -0.7, "reference": "universal", "did": -0.2,
             "did_lo": -0.3, "did_hi": -0.1, "did_n": 40},
            {**base, "condition": "hard-1", "metric": "logdens_pct", "gap": 2.0, "reference": "universal",
             "did": -1.0, "did_lo": -2.0, "did_hi": 0.5, "did_n": 40}]
    (v,) = group_verdicts(pd.DataFrame(rows))
    parts = {name: est for name, _, est in v.parts}
    assert parts["cost gap widening"] == Estimate(0.2, 0.1, 0.3, 40)
    assert parts["log-density gap widening"].effect == -1.0
    assert v.verdict == "partly holds"


def test_round_off_at_zero_is_not_an_effect():
    """A CI bound of -2e-18 (a mean of exact zeros in floating point) does not exclude 0."""
    from milp_recourse.evaluation.study_findings import _judge

    est = Estimate(-0.0033, -0.01, -2.31e-18, 6)
    assert not est.excludes_zero and _judge(est, -1) == "CI includes 0"
    assert _judge(Estimate(-0.0033, -0.01, -1e-4, 6), -1) == "shown"
    assert _judge(Estimate(0.2, 0.1, 0.3, 6), -1) == "opposite"


def test_method_contrast_pairs_two_methods_on_the_same_people():
    other = RAW[RAW["condition"] == "universal"].assign(method="learned")
    other.loc[other["person"] == 2, ["valid", "cost"]] = [False, np.nan]   # person 2 lost under 'learned'
    other.loc[other["person"] == 3, "cost"] = 2.5
    t = method_contrasts(pd.concat([RAW, other]), "exact", "learned", n_resamples=200)
    assert set(t["condition"]) == {"universal"}                # 'learned' has no other condition rows
    v = t[t["metric"] == "validity"].iloc[0]
    assert v["n"] == 4 and v["effect"] == pytest.approx(-0.25) and v["method"] == "exact -> learned"
    c = t[t["metric"] == "cost"].iloc[0]
    assert c["n"] == 3 and c["effect"] == pytest.approx((2.5 - 1.5) / 3)
    assert method_contrasts(RAW, "exact", "learned").empty


def test_exact_methods_are_not_baselines_in_the_costlier_check():
    """exact-plausible solves a more constrained problem to the same 1e-4 gap: a cost below the exact solver's
    within that gap is no 'baseline beat the exact solver'; a real baseline below it is counted."""
    import pandas as pd

    from milp_recourse.evaluation.study_metrics import exact_never_costlier

    base = {"case": "c", "condition": "universal", "person": 0, "status": "OPTIMAL", "valid": True}
    raw = pd.DataFrame([dict(base, method="exact", cost=1.0), dict(base, method="exact-plausible", cost=0.99995),
                        dict(base, method="grid", cost=1.2), dict(base, person=1, method="exact", cost=2.0),
                        dict(base, person=1, method="wachter", cost=1.5)])
    assert exact_never_costlier(raw) == (2, 1, 0)
