"""The research findings judged on paired effects: one verdict per case x method x condition (or pair).

1. Hard constraints degrade validity and plausibility: universal -> each hard size separately; validity over
   all denied people, log-density percentile over people valid in both.
2. Soft preferences cost less plausibility than hard constraints: each hard size -> each pure soft condition,
   log-density percentile (soft - hard) over people valid in both.
3. Personalization reveals group disparities in cost and plausibility: the change of the group gap from
   universal to each personalized condition (difference in differences on the same people), signed so that
   positive = the universal gap widens.
A part is "shown" only when its 95 % CI excludes 0 in the claimed direction; the verdict is "holds" when every
part is shown, "partly holds" when some are, "does not hold" when none is and some CI excludes 0 the other way,
and "not shown" when every CI includes 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from milp_recourse.evaluation.paired import Estimate

CLAIMS = {1: "Hard individual constraints substantially degrade validity and plausibility.",
          2: "Soft preferences cost less in plausibility than hard constraints.",
          3: "Personalization reveals group disparities in cost and plausibility."}


@dataclass(frozen=True)
class Verdict:
    """One judged claim: where (case, method, condition or pair), its parts' estimates and the verdict."""

    finding: int
    case: str
    method: str
    condition: str
    parts: tuple[tuple[str, int, Estimate], ...]    # (part, claimed sign -1 / +1, estimate)
    verdict: str
    extra: tuple[tuple[str, Estimate], ...] = ()    # reported next to the parts, not judged

    def reason(self) -> str:
        text = "; ".join(f"{name} {est.text()} ({_judge(est, sign)})" for name, sign, est in self.parts)
        if self.extra:
            text += "; also " + "; ".join(f"{name} {est.text()}" for name, est in self.extra)
        return text


def _judge(est: Estimate, sign: int) -> str:
    if not np.isfinite(est.effect) or not np.isfinite(est.lo):
        return "no data"
    tol = est.tol
    if (sign < 0 and est.hi < -tol) or (sign > 0 and est.lo > tol):
        return "shown"
    if (sign < 0 and est.lo > tol) or (sign > 0 and est.hi < -tol):
        return "opposite"
    return "CI includes 0"


def combine(judgements: list[str]) -> str:
    """The verdict from its parts' judgements (see the module docstring)."""
    if not judgements or all(j == "no data" for j in judgements):
        return "no data"
    shown = sum(j == "shown" for j in judgements)
    if shown == len(judgements):
        return "holds"
    if shown:
        return "partly holds"
    return "does not hold" if "opposite" in judgements else "not shown"


def _est(row: pd.Series | None, prefix: str = "") -> Estimate:
    if row is None:
        return Estimate(np.nan, np.nan, np.nan, 0)
    if prefix:
        return Estimate(row[prefix], row[f"{prefix}_lo"], row[f"{prefix}_hi"], int(row[f"{prefix}_n"]))
    return Estimate(row["effect"], row["lo"], row["hi"], int(row["n"]))


def _lookup(t: pd.DataFrame, **keys: str) -> pd.Series | None:
    m = np.ones(len(t), bool)
    for k, v in keys.items():
        m &= (t[k] == v).to_numpy()
    hit = t[m]
    return None if hit.empty else hit.iloc[0]


def _verdict(finding: int, case: str, method: str, cond: str, parts: list[tuple[str, int, Estimate]],
             extra: tuple[tuple[str, Estimate], ...] = ()) -> Verdict:
    return Verdict(finding, case, method, cond, tuple(parts), combine([_judge(e, s) for _, s, e in parts]), extra)


def hard_verdicts(contrasts: pd.DataFrame) -> list[Verdict]:
    out = []
    if contrasts.empty:
        return out
    fam = contrasts[(contrasts["family"] == "personalized vs universal") & contrasts["b"].str.match(r"^hard-\d+$")]
    for (case, method, b), g in fam.groupby(["case", "method", "b"], sort=False):
        parts = [("validity", -1, _est(_lookup(g, metric="validity"))),
                 ("log-density pct", -1, _est(_lookup(g, metric="logdens_pct")))]
        out.append(_verdict(1, case, method, b, parts, (("in-box", _est(_lookup(g, metric="in_box"))),)))
    return out


def soft_verdicts(contrasts: pd.DataFrame) -> list[Verdict]:
    out = []
    if contrasts.empty:
        return out
    fam = contrasts[contrasts["family"] == "soft vs hard"]
    for (case, method, a, b), g in fam.groupby(["case", "method", "a", "b"], sort=False):
        parts = [("log-density pct (soft - hard)", +1, _est(_lookup(g, metric="logdens_pct")))]
        out.append(_verdict(2, case, method, f"{a} -> {b}", parts,
                            (("validity (soft - hard)", _est(_lookup(g, metric="validity"))),)))
    return out


def _widening(row: pd.Series | None) -> Estimate:
    """The DiD signed by the universal gap's direction: positive = the existing gap widens."""
    if row is None or not np.isfinite(row["did"]):
        return Estimate(np.nan, np.nan, np.nan, 0 if row is None else int(row["did_n"]))
    sign = -1.0 if (np.isfinite(row["ref_gap"]) and row["ref_gap"] < 0) else 1.0
    lo, hi = sorted((sign * row["did_lo"], sign * row["did_hi"]))
    return Estimate(sign * row["did"], lo, hi, int(row["did_n"]))


def group_verdicts(gaps: pd.DataFrame) -> list[Verdict]:
    out = []
    if gaps.empty:
        return out
    ref = gaps[gaps["reference"] == ""][["case", "method", "condition", "metric", "gap"]]
    ref = ref.rename(columns={"condition": "reference", "gap": "ref_gap"})
    g2 = gaps[gaps["reference"] != ""].merge(ref, on=["case", "method", "reference", "metric"], how="left")
    for (case, method, cond), g in g2.groupby(["case", "method", "condition"], sort=False):
        parts = [("cost gap widening", +1, _widening(_lookup(g, metric="cost"))),
                 ("log-density gap widening", +1, _widening(_lookup(g, metric="logdens_pct")))]
        out.append(_verdict(3, case, method, cond, parts,
                            (("validity gap widening", _widening(_lookup(g, metric="validity"))),)))
    return out


def all_verdicts(contrasts: pd.DataFrame, gaps: pd.DataFrame) -> list[Verdict]:
    return hard_verdicts(contrasts) + soft_verdicts(contrasts) + group_verdicts(gaps)


def verdict_table(verdicts: list[Verdict]) -> pd.DataFrame:
    """One row per verdict: finding, case, method, condition, verdict and each part as 'effect [lo, hi] (n)'."""
    rows = []
    for v in verdicts:
        row = {"finding": v.finding, "case": v.case, "method": v.method, "condition": v.condition,
               "verdict": v.verdict}
        for name, _, est in v.parts:
            row[name] = est.text()
        for name, est in v.extra:
            row[name] = est.text()
        rows.append(row)
    return pd.DataFrame(rows)
