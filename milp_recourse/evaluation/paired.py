"""Paired statistics of the study: the same people under two conditions, with percentile-bootstrap 95 % CIs.

Validity contrasts use every person present in both conditions; cost and plausibility contrasts use the
people valid in both (the same people, so a change is never a change of who is counted). Group contrasts
compare two disjoint groups (resampled independently) and their change under a condition (difference in
differences of per-person changes). Every CI comes from scipy.stats.bootstrap with a fixed seed.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pandas as pd

RESAMPLES = 2000
LEVEL = 0.95
METRICS = (("validity", "valid", "all"), ("cost", "cost", "valid in both"),
           ("logdens_pct", "logdens_pct", "valid in both"), ("in_box", "in_box", "valid in both"))


@dataclass(frozen=True)
class Estimate:
    """A point estimate, its bootstrap CI and the number of people behind it."""

    effect: float
    lo: float
    hi: float
    n: int

    @property
    def tol(self) -> float:
        """Round-off allowance: a bound within it of 0 is 0 (a mean of exact zeros can come out as -2e-18)."""
        return 1e-9 * float(np.nanmax(np.abs([self.effect, self.lo, self.hi, 1e-6])))

    @property
    def excludes_zero(self) -> bool:
        return bool(np.isfinite(self.lo) and (self.lo > self.tol or self.hi < -self.tol))

    def text(self, digits: int = 3) -> str:
        if not np.isfinite(self.effect):
            return f"– (n={self.n})"
        return f"{self.effect:+.{digits}g} [{self.lo:+.{digits}g}, {self.hi:+.{digits}g}] (n={self.n})"


NAN = Estimate(np.nan, np.nan, np.nan, 0)


def seed_of(*parts: object, base: int = 0) -> int:
    """A fixed seed per contrast (stable across runs and Python processes, unlike hash())."""
    return (zlib.crc32("|".join(map(str, parts)).encode()) + 7919 * base) % (2 ** 32)


def bootstrap_ci(samples: Sequence[np.ndarray], statistic: Callable[..., np.ndarray], seed: int,
                 n_resamples: int = RESAMPLES, level: float = LEVEL) -> tuple[float, float, float]:
    """(statistic, lo, hi): percentile bootstrap over the last axis of each sample, samples resampled independently.

    `statistic(*samples, axis=-1)` must be vectorized. A sample of fewer than 2 values gives no CI (NaN); samples
    that are each constant (e.g. all differences 0) give the zero-width CI every resample agrees on (scipy
    returns NaN there).
    """
    from scipy.stats import bootstrap

    arrs = [np.asarray(s, float) for s in samples]
    est = float(statistic(*arrs, axis=-1))
    if any(a.shape[-1] < 2 for a in arrs):
        return est, np.nan, np.nan
    if all(np.all(a == a[..., :1]) for a in arrs):
        return est, est, est
    res = bootstrap(tuple(arrs), statistic, n_resamples=n_resamples, vectorized=True, axis=-1,
                    confidence_level=level, method="percentile", rng=np.random.default_rng(seed))
    lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if not (np.isfinite(lo) and np.isfinite(hi)):   # degenerate resampling distribution: zero width
        return est, est, est
    return est, lo, hi


def _mean(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis)


def mean_ci(values: Sequence[float], seed: int, n_resamples: int = RESAMPLES) -> Estimate:
    """Mean of paired differences with its bootstrap CI."""
    v = np.asarray(values, float)
    if len(v) == 0:
        return NAN
    est, lo, hi = bootstrap_ci((v,), _mean, seed, n_resamples)
    return Estimate(est, lo, hi, len(v))


def _gap(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(b, axis=axis) - np.mean(a, axis=axis)


def gap_ci(a: Sequence[float], b: Sequence[float], seed: int, n_resamples: int = RESAMPLES) -> Estimate:
    """mean(b) - mean(a) for two independent groups, each resampled on its own."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) == 0 or len(b) == 0:
        return Estimate(np.nan, np.nan, np.nan, len(a) + len(b))
    est, lo, hi = bootstrap_ci((a, b), _gap, seed, n_resamples)
    return Estimate(est, lo, hi, len(a) + len(b))


def pair(raw: pd.DataFrame, case: str, method: str, cond_a: str, cond_b: str,
         method_b: str | None = None) -> pd.DataFrame:
    """One row per person present under both (condition, method) cells: metrics suffixed _a / _b, and the group.
    method_b (default: method) pairs two methods on the same people and condition."""
    cols = ["person", "group", "valid", "cost", "logdens_pct", "in_box"]
    sel = raw[raw["case"] == case]
    a = sel[(sel["condition"] == cond_a) & (sel["method"] == method)][cols]
    b = sel[(sel["condition"] == cond_b) & (sel["method"] == (method_b or method))][cols].drop(columns="group")
    out = a.merge(b, on="person", suffixes=("_a", "_b"), how="inner")
    for side in ("a", "b"):
        out[f"valid_{side}"] = out[f"valid_{side}"].astype(bool)
    return out


def _values(p: pd.DataFrame, col: str, population: str) -> pd.DataFrame:
    if population == "all":
        return p.assign(va=p[f"{col}_a"].astype(float), vb=p[f"{col}_b"].astype(float))
    both = p[p["valid_a"] & p["valid_b"]]
    both = both.assign(va=both[f"{col}_a"].astype(float), vb=both[f"{col}_b"].astype(float))
    return both[both["va"].notna() & both["vb"].notna()]


def contrast(raw: pd.DataFrame, case: str, method: str, cond_a: str, cond_b: str, seed: int = 0,
             n_resamples: int = RESAMPLES, method_b: str | None = None) -> list[dict]:
    """Rows (one per metric) of the paired contrast cond_a -> cond_b (or method -> method_b under one condition):
    means, effect = b - a, CI, n."""
    p = pair(raw, case, method, cond_a, cond_b, method_b)
    rows = []
    for metric, col, population in METRICS:
        v = _values(p, col, population)
        est = mean_ci((v["vb"] - v["va"]).to_numpy(),
                      seed_of(case, method, cond_a, cond_b, metric, method_b or "", base=seed), n_resamples)
        rows.append({"case": case, "method": method, "a": cond_a, "b": cond_b, "metric": metric,
                     "population": population, "n": est.n, "mean_a": v["va"].mean() if len(v) else np.nan,
                     "mean_b": v["vb"].mean() if len(v) else np.nan, "effect": est.effect, "lo": est.lo,
                     "hi": est.hi})
    return rows


def group_rows(raw: pd.DataFrame, case: str, method: str, cond: str, reference: str | None, seed: int = 0,
               n_resamples: int = RESAMPLES) -> list[dict]:
    """Group gap (second group - first, sorted labels) under `cond`, and, if `reference` is given, the change of
    that gap from `reference` to `cond` on the same people (difference in differences)."""
    rows = []
    sel = raw[(raw["case"] == case) & (raw["method"] == method) & (raw["condition"] == cond)]
    groups = sorted(g for g in sel["group"].unique() if g != "all")
    if len(groups) != 2:
        return rows
    g0, g1 = groups
    p = pair(raw, case, method, reference, cond) if reference is not None else None
    for metric, col, population in METRICS:
        base = {"case": case, "method": method, "condition": cond, "metric": metric, "groups": f"{g1} - {g0}"}
        s = sel if population == "all" else sel[sel["valid"].astype(bool)]
        x0 = s[s["group"] == g0][col].astype(float).dropna().to_numpy()
        x1 = s[s["group"] == g1][col].astype(float).dropna().to_numpy()
        gap = gap_ci(x0, x1, seed_of(case, method, cond, metric, "gap", base=seed), n_resamples)
        row = {**base, "population": population, "n0": len(x0), "n1": len(x1), "mean0": np.mean(x0) if len(x0)
               else np.nan, "mean1": np.mean(x1) if len(x1) else np.nan, "gap": gap.effect, "gap_lo": gap.lo,
               "gap_hi": gap.hi, "reference": reference or "", "did": np.nan, "did_lo": np.nan, "did_hi": np.nan,
               "did_n": 0}
        if p is not None:
            v = _values(p, col, population)
            d = v["vb"] - v["va"]
            did = gap_ci(d[v["group"] == g0].to_numpy(), d[v["group"] == g1].to_numpy(),
                         seed_of(case, method, reference, cond, metric, "did", base=seed), n_resamples)
            row.update(did=did.effect, did_lo=did.lo, did_hi=did.hi, did_n=did.n)
        rows.append(row)
    return rows


def contrast_plan(conditions: pd.DataFrame) -> list[tuple[str, str, str]]:
    """(family, a, b) pairs: universal -> every other condition, and every pure hard size -> every pure soft one.

    `conditions` has one row per condition with columns condition, kind (as in the raw table)."""
    conds = list(dict.fromkeys(conditions["condition"]))
    kinds = dict(zip(conditions["condition"], conditions["kind"]))
    plan: list[tuple[str, str, str]] = []
    if "universal" in conds:
        plan += [("personalized vs universal", "universal", c) for c in conds if c != "universal"]
    hard = [c for c in conds if kinds[c] == "hard"]
    soft = [c for c in conds if kinds[c] not in ("universal", "hard") and "+" not in kinds[c]]
    plan += [("soft vs hard", h, s) for h in hard for s in soft]
    return plan


def all_contrasts(raw: pd.DataFrame, seed: int = 0, n_resamples: int = RESAMPLES) -> pd.DataFrame:
    """Every planned paired contrast for every case and method (long form, one row per metric)."""
    rows: list[dict] = []
    for case in dict.fromkeys(raw["case"]):
        sub = raw[raw["case"] == case]
        plan = contrast_plan(sub[["condition", "kind"]].drop_duplicates("condition"))
        for method in dict.fromkeys(sub["method"]):
            for family, a, b in plan:
                rows += [{"family": family, **r} for r in contrast(sub, case, method, a, b, seed, n_resamples)]
    return pd.DataFrame(rows)


def all_group_gaps(raw: pd.DataFrame, seed: int = 0, n_resamples: int = RESAMPLES) -> pd.DataFrame:
    """Group gaps per case x method x condition, with the change from universal for personalized conditions."""
    rows: list[dict] = []
    for case in dict.fromkeys(raw["case"]):
        sub = raw[raw["case"] == case]
        conds = list(dict.fromkeys(sub["condition"]))
        ref = "universal" if "universal" in conds else None
        for method in dict.fromkeys(sub["method"]):
            for cond in conds:
                rows += group_rows(sub, case, method, cond, ref if cond != ref else None, seed, n_resamples)
    return pd.DataFrame(rows)


def method_contrasts(raw: pd.DataFrame, method_a: str, method_b: str, seed: int = 0,
                     n_resamples: int = RESAMPLES) -> pd.DataFrame:
    """method_a -> method_b on the same people under each condition of each case (e.g. amortized trained on the
    true SCM -> on a learned one: the validity lost to causal-model error)."""
    rows: list[dict] = []
    if not {method_a, method_b} <= set(raw["method"]):
        return pd.DataFrame(rows)
    for case in dict.fromkeys(raw["case"]):
        sub = raw[raw["case"] == case]
        both = set(sub[sub["method"] == method_a]["condition"]) & set(sub[sub["method"] == method_b]["condition"])
        for cond in [c for c in dict.fromkeys(sub["condition"]) if c in both]:
            rows += [{"condition": cond, **r, "method": f"{method_a} -> {method_b}"}
                     for r in contrast(sub, case, method_a, cond, cond, seed, n_resamples, method_b)]
    return pd.DataFrame(rows)
