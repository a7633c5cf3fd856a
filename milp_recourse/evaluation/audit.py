"""Group audit of batch results: validity, cost and plausibility of recourse per group, and disparities.

Definitions (per individual, from solve_batch's columns):
- denied: status != ALREADY_FAVOURABLE; every rate below is over the denied individuals of a group.
- found: OPTIMAL or FEASIBLE; proven_none: NO_RECOURSE; unknown: UNKNOWN or ERROR;
  verification_failed: VERIFICATION_FAILED; valid: found and verified.
- validity = share of denied individuals with a valid recourse.
- cost (mean, median, 25/75/90 % quantiles) and changed_mean (features intervened on) over valid ones.
- plausible_box: the counterfactual lies inside the reference data's per-feature [min, max] box.
- plausible_ld1 / plausible_ld5: the SCM log-density of the counterfactual is at least the 1st / 5th
  percentile of the reference data's log-densities. Both over valid recourses.
The reference data is the training data when given, else 10,000 samples of the SCM (seed 0).

Groups: each `by` column separately; a numeric column with more than `max_groups` distinct values is
cut into quartiles (labelled by their intervals). Disparity = metric(group) - metric(reference group),
the reference being the first group in sorted order, with a percentile bootstrap CI: individuals are
resampled within each group (denied ones for validity, valid ones for the conditional metrics),
`n_boot` times, seeded. Each group's own metrics get the same kind of CI.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from milp_recourse.errors import InputError
from milp_recourse.result import Status

FOUND = ("OPTIMAL", "FEASIBLE")
UNKNOWN = ("UNKNOWN", "ERROR")
MAX_BOOT = 1_000_000   # bootstrap resamples (10**400 ran for minutes before any check: an outside fuzz)
NEEDED = ("status", "cost", "verified", "n_changed", "changed", "counterfactual")
# metric -> (per-individual column, population: 'denied' or 'valid', statistic)
METRICS = {"validity": ("valid", "denied", "mean"), "cost_mean": ("cost", "valid", "mean"),
           "cost_median": ("cost", "valid", "median"), "changed_mean": ("n_changed", "valid", "mean"),
           "plausible_box": ("in_box", "valid", "mean"), "plausible_ld1": ("ld1", "valid", "mean"),
           "plausible_ld5": ("ld5", "valid", "mean")}
BOOT_BATCH = 100


@dataclass(frozen=True)
class AuditReport:
    """Tables of a group audit (see the module docstring for every definition)."""

    by: tuple[str, ...]
    groups: pd.DataFrame        # one row per (column, group): counts, rates, cost quantiles, CIs
    disparities: pd.DataFrame   # one row per (column, metric, group vs reference): difference and CI
    features: pd.DataFrame      # one row per (column, group, feature): share of valid recourses using it
    individuals: pd.DataFrame   # per-individual derived columns (denied, valid, in_box, ld1, ld5, ...)
    group_labels: Mapping[str, pd.Series]  # per `by` column: each individual's group label
    reference_source: str
    n_boot: int
    seed: int
    confidence: float

    def headline(self) -> list[str]:
        """One sentence per (column, key metric): the disparity at a glance."""
        out = []
        for _, d in self.disparities.iterrows():
            if d["metric"] not in ("validity", "cost_mean", "plausible_ld5"):
                continue
            sig = " (CI excludes 0)" if (d["ci_low"] > 0 or d["ci_high"] < 0) else ""
            c = d["column"]
            out.append(f"{d['metric']}: {c}={d['group']} {d['value']:.4g} vs {c}={d['reference']} "
                       f"{d['reference_value']:.4g}; difference {d['difference']:+.4g}, "
                       f"{100 * self.confidence:.0f}% CI [{d['ci_low']:.4g}, {d['ci_high']:.4g}]{sig}")
        return out


def reference_rows(scm, reference: Any) -> tuple[np.ndarray, str]:
    """The reference table as codes in SCM order, and where it came from (10 000 SCM samples when None)."""
    from milp_recourse.tables import as_table

    if reference is None:
        return scm.sample(10_000, seed=0)[list(scm.names)].to_numpy(float), "10000 samples of the SCM (seed 0)"
    frame = as_table(reference, "reference data")
    if len(frame) == 0:
        raise InputError("The reference data has no rows (a header only); expected the table of observed people whose "
                         "range and log-densities judge plausibility.")
    missing = [n for n in scm.names if n not in frame.columns]
    if missing:
        raise InputError(f"The reference data lacks feature column(s) {missing}; the SCM needs "
                         f"{', '.join(scm.names)}.")
    src = str(reference) if not isinstance(reference, pd.DataFrame) else "the given reference table"
    from milp_recourse.batch.run import coded_features

    return coded_features(frame[list(scm.names)], scm).to_numpy(float), f"{src} ({len(frame)} rows)"


def check_results(frame: pd.DataFrame, by: str | Sequence[str]) -> list[str]:
    """The grouping columns as a list; InputError unless `frame` is batch output holding all of them."""
    by = [by] if isinstance(by, str) else list(by)
    if not by:
        raise InputError("Give at least one column to group by (e.g. by=['G']).")
    missing = [c for c in NEEDED if c not in frame.columns]
    if missing:
        raise InputError(f"The results lack column(s) {missing}; expected the output of solve_batch / "
                         "`milp-recourse batch`.")
    unknown = [c for c in by if c not in frame.columns]
    if unknown:
        raise InputError(f"Cannot group by {unknown}: not columns of the results (they have "
                         f"{', '.join(map(str, frame.columns))}).")
    twice = sorted({c for c in by if by.count(c) > 1})
    if twice:
        raise InputError(f"The grouping column(s) {', '.join(map(repr, twice))} are given twice; expected each once.")
    if len(frame) == 0:
        raise InputError("The results have no rows (a header only); expected the output of solve_batch / "
                         "`milp-recourse batch` with at least one person.")
    statuses = frame["status"].astype(str)
    known = {s.value for s in Status} | {"ERROR"}   # (batch writes ERROR for a row whose solve raised)
    bad = np.flatnonzero(~statuses.isin(known).to_numpy())
    if bad.size:
        i = int(bad[0])
        raise InputError(f"Row {i} of the results has the status {statuses.iloc[i]!r}; expected one of "
                         f"{', '.join(sorted(known))}.")
    cost = pd.to_numeric(frame["cost"], errors="coerce").to_numpy(float)
    bad = np.flatnonzero(statuses.isin(FOUND).to_numpy() & ~np.isfinite(cost))
    if bad.size:
        i = int(bad[0])
        raise InputError(f"Row {i} of the results ({statuses.iloc[i]}) has the cost {frame['cost'].iloc[i]!r}; "
                         "expected a finite number for an answer that was found.")
    return by


def check_results_match_scm(results: pd.DataFrame, scm) -> None:
    """InputError unless every counterfactual holds the SCM's features (the wrong --scm is caught before work)."""
    names = list(scm.names)
    for i, text in enumerate(results["counterfactual"].fillna("").astype(str)):
        if text in ("", "{}"):
            continue
        try:
            keys = set(json.loads(text))
        except (ValueError, TypeError):
            raise InputError(f"Row {i} of the results has a counterfactual that is not JSON: {text[:60]!r}.") from None
        missing = [n for n in names if n not in keys]
        if missing:
            raise InputError(f"The results do not match the SCM {scm.name!r}: row {i}'s counterfactual lacks its "
                             f"feature(s) {', '.join(missing)} (it has {', '.join(sorted(keys))}); pass the --scm "
                             "the batch was run with.")


def _codes(scm: Any, values: Mapping[str, Any]) -> list[float]:
    """A counterfactual (level names for categorical / ordinal features, as batch writes them) as codes in SCM
    order."""
    from milp_recourse.scm.levels import code_of

    return [float(code_of(scm.variable(n), values[n])) if scm.variable(n).levels else float(values[n])
            for n in scm.names]


def individual_measures(results: pd.DataFrame, scm, ref: np.ndarray) -> pd.DataFrame:
    """Per-individual flags: denied, found, valid, proven_none, unknown, in_box, ld1, ld5 (valid rows only)."""
    status = results["status"].astype(str)
    out = pd.DataFrame(index=results.index)
    out["denied"] = status != "ALREADY_FAVOURABLE"
    out["found"] = status.isin(FOUND)
    out["valid"] = out["found"] & results["verified"].astype(bool)
    out["proven_none"] = status == "NO_RECOURSE"
    out["unknown"] = status.isin(UNKNOWN)
    out["verification_failed"] = status == "VERIFICATION_FAILED"
    out["cost"] = pd.to_numeric(results["cost"], errors="coerce")
    out["n_changed"] = pd.to_numeric(results["n_changed"], errors="coerce")
    out["changed"] = results["changed"].fillna("").astype(str)
    for c in ("in_box", "ld1", "ld5"):
        out[c] = np.nan
    rows = np.flatnonzero(out["valid"].to_numpy())
    if rows.size:
        cf = np.array([_codes(scm, json.loads(results["counterfactual"].iloc[i])) for i in rows], float)
        lo, hi = ref.min(axis=0), ref.max(axis=0)
        in_box = np.all((cf >= lo - 1e-9) & (cf <= hi + 1e-9), axis=1)
        with np.errstate(all="ignore"):
            ref_ld = np.asarray(scm.log_density(ref), float)
            ref_ld = ref_ld[np.isfinite(ref_ld)]
            q1, q5 = np.percentile(ref_ld, [1, 5])
            ld = np.asarray(scm.log_density(cf), float)
        ok = np.isfinite(ld)
        idx = out.index[rows]
        out.loc[idx, "in_box"] = in_box.astype(float)
        out.loc[idx, "ld1"] = (ok & (ld >= q1)).astype(float)
        out.loc[idx, "ld5"] = (ok & (ld >= q5)).astype(float)
    return out


def _group_labels(col: pd.Series, max_groups: int) -> tuple[pd.Series, list[str]]:
    """Each row's group label and the groups in order (quartiles for a many-valued numeric column)."""
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        if col.nunique() > max_groups:
            cut = pd.qcut(col, 4, duplicates="drop")
            names = {c: f"({c.left:.4g}, {c.right:.4g}]" for c in cut.cat.categories}
            labels = cut.map(names).astype(str)
            return labels, [names[c] for c in cut.cat.categories if (cut == c).any()]
        values = sorted(col.dropna().unique())
        integral = all(float(v).is_integer() for v in values)
        fmt = (lambda v: str(int(v))) if integral else str
        return col.map(lambda v: fmt(v) if pd.notna(v) else "nan"), [fmt(v) for v in values] + (
            ["nan"] if col.isna().any() else [])
    labels = col.astype(str)
    return labels, sorted(labels.unique())


def _population(ind: pd.DataFrame, metric: str) -> np.ndarray:
    column, pop, _ = METRICS[metric]
    mask = ind["denied"] if pop == "denied" else ind["valid"]
    return ind.loc[mask, column].astype(float).to_numpy()


def _stat(values: np.ndarray, metric: str) -> float:
    if values.size == 0:
        return float("nan")
    return float(np.median(values) if METRICS[metric][2] == "median" else np.mean(values))


def _boot(values: np.ndarray, metric: str, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """n_boot bootstrap replicates of the metric (NaN when the population is empty)."""
    if values.size == 0:
        return np.full(n_boot, np.nan)
    reps = []
    for start in range(0, n_boot, BOOT_BATCH):
        idx = rng.integers(0, values.size, size=(min(BOOT_BATCH, n_boot - start), values.size))
        sample = values[idx]
        reps.append(np.median(sample, axis=1) if METRICS[metric][2] == "median" else sample.mean(axis=1))
    return np.concatenate(reps)


def audit(results: Any, by: Sequence[str], scm: Any, reference: Any = None, *, n_boot: int = 1000, seed: int = 0,
          confidence: float = 0.95, max_groups: int = 10) -> AuditReport:
    """Per-group recourse validity, cost and plausibility, and disparities with bootstrap CIs.

    Results of `batch --options K` (an `option` column) are audited on each person's option 1, their optimum."""
    from milp_recourse.scm import load_scm
    from milp_recourse.tables import as_table

    frame = as_table(results, "results")
    if "option" in frame.columns:
        frame = frame[pd.to_numeric(frame["option"], errors="coerce") == 1]
    by = check_results(frame, by)
    if not (isinstance(n_boot, int) and 10 <= n_boot <= MAX_BOOT):
        shown = repr(n_boot) if not isinstance(n_boot, int) or n_boot < 10**12 else f"{len(str(n_boot))} digits"
        raise InputError(f"n_boot must be an integer in [10, {MAX_BOOT}]. Got {shown}.")
    if not (0 < confidence < 1):
        raise InputError(f"confidence must be in (0, 1). Got {confidence!r}.")
    scm = load_scm(scm) if isinstance(scm, str) else scm
    check_results_match_scm(frame, scm)
    ref, src = reference_rows(scm, reference)
    ind = individual_measures(frame.reset_index(drop=True), scm, ref)
    frame = frame.reset_index(drop=True)
    rng = np.random.default_rng(seed)
    alpha = (1 - confidence) / 2
    g_rows, d_rows, f_rows = [], [], []
    all_labels = {}
    feats = [v.name for v in scm.variables if v.actionability != "immutable"]
    for col in by:
        labels, groups = _group_labels(frame[col], max_groups)
        all_labels[col] = labels
        boots: dict[tuple[str, str], np.ndarray] = {}
        for g in groups:
            sub = ind[labels == g]
            row: dict[str, Any] = {"column": col, "group": g, "n": len(sub), "denied": int(sub["denied"].sum())}
            for k in ("found", "proven_none", "unknown", "verification_failed"):
                row[k] = int((sub[k] & sub["denied"]).sum())
            costs = sub.loc[sub["valid"], "cost"].to_numpy(float)
            for name, q in (("cost_q25", 25), ("cost_q75", 75), ("cost_q90", 90)):
                row[name] = float(np.percentile(costs, q)) if costs.size else float("nan")
            for metric in METRICS:
                vals = _population(sub, metric)
                row[metric] = _stat(vals, metric)
                boots[(g, metric)] = _boot(vals, metric, n_boot, rng)
                lo, hi = np.nanquantile(boots[(g, metric)], [alpha, 1 - alpha]) if vals.size else (np.nan, np.nan)
                row[f"{metric}_ci_low"], row[f"{metric}_ci_high"] = float(lo), float(hi)
            g_rows.append(row)
            used = sub.loc[sub["valid"], "changed"]
            for f in feats:
                share = float(used.map(lambda s: f in s.split(";")).mean()) if len(used) else float("nan")
                f_rows.append({"column": col, "group": g, "feature": f, "share": share, "n_valid": len(used)})
        ref_g = groups[0]
        stats = {(r["group"], m): r[m] for r in g_rows if r["column"] == col for m in METRICS}
        for g in groups[1:]:
            for metric in METRICS:
                diff = boots[(g, metric)] - boots[(ref_g, metric)]
                diff = diff[np.isfinite(diff)]
                lo, hi = np.quantile(diff, [alpha, 1 - alpha]) if diff.size else (np.nan, np.nan)
                d_rows.append({"column": col, "metric": metric, "group": g, "reference": ref_g,
                               "value": stats[(g, metric)], "reference_value": stats[(ref_g, metric)],
                               "difference": stats[(g, metric)] - stats[(ref_g, metric)],
                               "ci_low": float(lo), "ci_high": float(hi)})
    return AuditReport(tuple(by), pd.DataFrame(g_rows), pd.DataFrame(d_rows, columns=[
        "column", "metric", "group", "reference", "value", "reference_value", "difference", "ci_low", "ci_high"]),
        pd.DataFrame(f_rows), ind, all_labels, src, n_boot, seed, confidence)


__all__ = ["audit", "AuditReport", "individual_measures", "METRICS"]
