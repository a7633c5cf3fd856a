"""Aggregation of the study's raw per-person rows: metric tables and the research findings with numbers.

Metrics per case x condition x method x group: validity on the true SCM, proven no-recourse rate,
invalid split into "no recourse exists" (exact: NO_RECOURSE) and "method failed" (exact found one),
cost (mean over valid; ratio to exact on persons both solved), plausibility (reference range box,
SCM log-density percentile), features changed, time per person. Rows with case 'all' pool the cases.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

VALIDITY_DROP = 0.05      # "substantial": at least 5 percentage points
PLAUS_DROP = 5.0          # at least 5 percentile points of SCM log-density
KEYS = ["case", "condition", "method", "person"]


def with_exact(raw: pd.DataFrame) -> pd.DataFrame:
    """raw plus the exact solver's status / validity / cost on the same person and condition, and the ratio."""
    ex = raw[raw["method"] == "exact"][KEYS[:2] + ["person", "status", "valid", "cost"]]
    ex = ex.rename(columns={"status": "exact_status", "valid": "exact_valid", "cost": "exact_cost"})
    out = raw.merge(ex, on=["case", "condition", "person"], how="left")
    both = out["valid"] & out["exact_valid"].fillna(False).astype(bool) & (out["exact_cost"] > 0)
    out["cost_ratio"] = np.where(both, out["cost"] / out["exact_cost"], np.nan)
    out["invalid_no_recourse"] = ~out["valid"] & (out["exact_status"] == "NO_RECOURSE")
    out["invalid_failure"] = ~out["valid"] & out["exact_valid"].fillna(False).astype(bool)
    return out


def _agg(g: pd.DataFrame) -> dict:
    v = g[g["valid"]]
    return {"n": len(g), "validity": g["valid"].mean(),
            "no_recourse_rate": g["no_recourse"].mean() if (g["method"] == "exact").all() else np.nan,
            "invalid_no_recourse": g["invalid_no_recourse"].mean(), "invalid_failure": g["invalid_failure"].mean(),
            "cost_mean": v["cost"].mean(), "cost_ratio_mean": g["cost_ratio"].mean(),
            "cost_ratio_median": g["cost_ratio"].median(), "n_ratio": int(g["cost_ratio"].notna().sum()),
            "in_box_rate": v["in_box"].mean(), "logdens_pct_mean": v["logdens_pct"].mean(),
            "n_changed_mean": v["n_changed"].mean(), "seconds_mean": g["seconds"].mean(),
            "seconds_median": g["seconds"].median()}


def summarize(raw: pd.DataFrame) -> pd.DataFrame:
    """One row per case (and 'all') x condition x method x group (and 'all')."""
    data = with_exact(raw)
    rows = []
    frames = [(c, data[data["case"] == c]) for c in data["case"].unique()] + [("all", data)]
    for case, frame in frames:
        for (cond, method), g in frame.groupby(["condition", "method"], sort=False):
            kind = g["kind"].iloc[0]
            rows.append({"case": case, "condition": cond, "kind": kind, "method": method, "group": "all", **_agg(g)})
            if case == "all":
                continue  # group labels are attribute-specific; pooled rows keep 'all' only
            for grp, gg in g.groupby("group", sort=True):
                if grp != "all":
                    rows.append({"case": case, "condition": cond, "kind": kind, "method": method, "group": grp,
                                 **_agg(gg)})
    return pd.DataFrame(rows)


def attribution(raw: pd.DataFrame) -> pd.DataFrame:
    """Per baseline x case x condition: invalid results split by what the exact solver proved."""
    data = with_exact(raw)
    data = data[data["method"] != "exact"]
    rows = []
    for (case, cond, method), g in data.groupby(["case", "condition", "method"], sort=False):
        bad = g[~g["valid"]]
        rows.append({"case": case, "condition": cond, "method": method, "n": len(g), "invalid": len(bad),
                     "exact_no_recourse": int((bad["exact_status"] == "NO_RECOURSE").sum()),
                     "exact_found": int(bad["exact_valid"].fillna(False).astype(bool).sum()),
                     "exact_undecided": int((~bad["exact_valid"].fillna(False).astype(bool)
                                             & (bad["exact_status"] != "NO_RECOURSE")).sum()),
                     "verification_failed": int((g["status"] == "VERIFICATION_FAILED").sum())})
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class Finding:
    """A research claim, our verdict on it, and the table of numbers behind the verdict."""

    claim: str
    verdict: str          # holds | partly holds | does not hold | inconclusive
    reason: str
    table: pd.DataFrame


def _pooled(summary: pd.DataFrame) -> pd.DataFrame:
    return summary[(summary["case"] == "all") & (summary["group"] == "all")]


def _by_kind(raw: pd.DataFrame, kinds: tuple[str, ...]) -> pd.DataFrame:
    """Validity and plausibility per method over all conditions of the given kinds (pooled over cases)."""
    g = raw[raw["kind"].isin(kinds)]
    out = g.groupby("method", sort=False).agg(validity=("valid", "mean"), logdens=("logdens_pct", "mean"),
                                              in_box=("in_box", "mean"), n=("valid", "size"))
    return out


def _verdict(flags_a: list[bool], flags_b: list[bool]) -> str:
    if not flags_a:
        return "inconclusive"
    a, b = np.mean(flags_a) >= 0.5, np.mean(flags_b) >= 0.5
    return "holds" if a and b else "partly holds" if a or b else "does not hold"


def finding_hard(raw: pd.DataFrame) -> Finding:
    claim = "Hard individual constraints substantially degrade validity and plausibility."
    uni, hard = _by_kind(raw, ("universal",)), _by_kind(raw, ("hard",))
    methods = [m for m in uni.index if m in hard.index]
    t = pd.DataFrame({"validity_universal": uni.loc[methods, "validity"],
                      "validity_hard": hard.loc[methods, "validity"],
                      "logdens_universal": uni.loc[methods, "logdens"], "logdens_hard": hard.loc[methods, "logdens"],
                      "in_box_universal": uni.loc[methods, "in_box"], "in_box_hard": hard.loc[methods, "in_box"]})
    dv = t["validity_hard"] - t["validity_universal"]
    dp = t["logdens_hard"] - t["logdens_universal"]
    db = t["in_box_hard"] - t["in_box_universal"]
    val = [bool(x <= -VALIDITY_DROP) for x in dv]
    pl = [bool((a <= -PLAUS_DROP) or (b <= -VALIDITY_DROP)) for a, b in zip(dp.fillna(0), db.fillna(0))]
    reason = (f"validity fell by >= {100 * VALIDITY_DROP:.0f} points for {sum(val)}/{len(val)} methods; plausibility "
              f"(log-density percentile -{PLAUS_DROP:.0f} or in-box -{100 * VALIDITY_DROP:.0f} points) fell for "
              f"{sum(pl)}/{len(pl)} methods")
    return Finding(claim, _verdict(val, pl), reason, t.reset_index(names="method"))


def finding_soft(raw: pd.DataFrame) -> Finding:
    claim = "Soft preferences cost less in plausibility than hard constraints."
    uni, hard, soft = (_by_kind(raw, k) for k in (("universal",), ("hard",), ("ranking", "scores")))
    methods = [m for m in uni.index if m in hard.index and m in soft.index]
    t = pd.DataFrame({"logdens_universal": uni.loc[methods, "logdens"], "logdens_soft": soft.loc[methods, "logdens"],
                      "logdens_hard": hard.loc[methods, "logdens"], "in_box_soft": soft.loc[methods, "in_box"],
                      "in_box_hard": hard.loc[methods, "in_box"], "validity_soft": soft.loc[methods, "validity"],
                      "validity_hard": hard.loc[methods, "validity"]})
    less_dens = [bool(a > b) for a, b in zip(t["logdens_soft"], t["logdens_hard"])]
    less_box = [bool(a >= b) for a, b in zip(t["in_box_soft"], t["in_box_hard"])]
    reason = (f"log-density percentile higher under soft than hard preferences for {sum(less_dens)}/{len(methods)} "
              f"methods; in-box rate at least as high for {sum(less_box)}/{len(methods)}")
    return Finding(claim, _verdict(less_dens, less_box), reason, t.reset_index(names="method"))


def finding_groups(summary: pd.DataFrame) -> Finding:
    claim = "Personalization reveals group disparities in cost and plausibility."
    s = summary[(summary["case"] != "all") & (summary["group"] != "all")]
    rows = []
    for (case, method), g in s.groupby(["case", "method"], sort=False):
        gaps = {}
        for cond, gc in g.groupby("condition"):
            if gc["group"].nunique() != 2:
                continue
            a, b = gc.sort_values("group").iloc[0], gc.sort_values("group").iloc[1]
            scale = np.nanmean([a["cost_mean"], b["cost_mean"]])
            gaps[cond] = (abs(a["cost_mean"] - b["cost_mean"]) / scale if scale > 0 else np.nan,
                          abs(a["logdens_pct_mean"] - b["logdens_pct_mean"]))
        if "universal" not in gaps or len(gaps) < 2:
            continue
        pers = [v for k, v in gaps.items() if k != "universal"]
        rows.append({"case": case, "method": method, "cost_gap_universal": gaps["universal"][0],
                     "cost_gap_personalized": float(np.nanmean([p[0] for p in pers])),
                     "plaus_gap_universal": gaps["universal"][1],
                     "plaus_gap_personalized": float(np.nanmean([p[1] for p in pers]))})
    t = pd.DataFrame(rows)
    if t.empty:
        return Finding(claim, "inconclusive", "no case has two groups with valid results in universal and "
                       "personalized conditions", t)
    cost = [bool(a > b) for a, b in zip(t["cost_gap_personalized"], t["cost_gap_universal"])]
    plaus = [bool(a > b) for a, b in zip(t["plaus_gap_personalized"], t["plaus_gap_universal"])]
    reason = (f"the relative cost gap between groups is larger under personalization than universally for "
              f"{sum(cost)}/{len(t)} (case, method) pairs; the plausibility gap for {sum(plaus)}/{len(t)}")
    return Finding(claim, _verdict(cost, plaus), reason, t)


def findings(raw: pd.DataFrame, summary: pd.DataFrame) -> list[Finding]:
    return [finding_hard(raw), finding_soft(raw), finding_groups(summary)]


def exact_never_costlier(raw: pd.DataFrame) -> tuple[int, int, int]:
    """(pairs both valid, pairs where a baseline beat the exact cost by > 1e-6 relative, of those exact not OPTIMAL)."""
    d = with_exact(raw)
    d = d[(d["method"] != "exact") & d["cost_ratio"].notna()]
    beat = d[d["cost_ratio"] < 1 - 1e-6]
    return len(d), len(beat), int((beat["exact_status"] != "OPTIMAL").sum())
