"""The study's plots (PNG; matplotlib imported lazily, object API, no pyplot state) and Markdown report."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from milp_recourse.evaluation.study_metrics import PLAUS_DROP, VALIDITY_DROP, exact_never_costlier, findings

PLOTS = (("validity", "validity", "validity on the true SCM"),
         ("cost_ratio", "cost_ratio_mean", "mean cost / exact cost (both valid)"),
         ("plausibility", "logdens_pct_mean", "SCM log-density percentile (valid)"),
         ("time", "seconds_mean", "seconds per person"))


def write_plots(summary: pd.DataFrame, out: Path) -> dict[str, Path]:
    """Grouped bar charts condition x method of the pooled metrics; none when matplotlib is absent."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return {}
    pooled = summary[(summary["case"] == "all") & (summary["group"] == "all")]
    conds = list(dict.fromkeys(pooled["condition"]))
    methods = list(dict.fromkeys(pooled["method"]))
    paths = {}
    (out / "plots").mkdir(exist_ok=True)
    for name, col, title in PLOTS:
        fig = Figure(figsize=(max(7.0, 1.3 * len(conds) + 1.5), 3.6))
        FigureCanvasAgg(fig)
        ax = fig.add_subplot(111)
        width = 0.8 / max(1, len(methods))
        for j, m in enumerate(methods):
            vals = [pooled[(pooled["condition"] == c) & (pooled["method"] == m)][col].mean() for c in conds]
            ax.bar(np.arange(len(conds)) + j * width, np.nan_to_num(vals), width, label=m)
        ax.set_xticks(np.arange(len(conds)) + 0.4 - width / 2)
        ax.set_xticklabels(conds, rotation=20, ha="right")
        ax.set_title(title)
        if name == "time":
            ax.set_yscale("log")
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
        fig.tight_layout()
        paths[f"plot_{name}"] = out / "plots" / f"{name}.png"
        fig.savefig(paths[f"plot_{name}"], dpi=110)
    return paths


def _fmt(v: Any) -> str:
    if isinstance(v, (float, np.floating)):
        return "–" if not np.isfinite(v) else f"{v:.3g}"
    return str(v)


def md_table(df: pd.DataFrame, cols: list[str] | None = None) -> str:
    cols = cols or list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_fmt(r[c]) for c in cols) + " |" for _, r in df.iterrows()]
    return "\n".join(lines)


HEADLINE = ["condition", "method", "n", "validity", "no_recourse_rate", "invalid_no_recourse", "invalid_failure",
            "cost_mean", "cost_ratio_mean", "cost_ratio_median", "in_box_rate", "logdens_pct_mean", "n_changed_mean",
            "seconds_mean"]


def write_report(run: Any, summary: pd.DataFrame, out: Path, paths: Mapping[str, Path]) -> Path:
    """report.md: setup, headline table, the findings with verdicts and numbers, and the invalid-result attribution."""
    from milp_recourse.evaluation.study_metrics import attribution

    cfg, raw = run.config, run.raw
    lines = [f"# Personalization study: {cfg.name}", ""]
    lines += [f"Seed {cfg.seed}; methods {', '.join(cfg.methods)}; conditions "
              f"{', '.join(c.label for c in cfg.conditions)}; total run time {run.seconds:.0f} s.", ""]
    lines += ["| case | SCM | classifier | data | individuals | cost p | exact options | amortized training s "
              "(train validity) |", "|---|---|---|---|---|---|---|---|"]
    for case in cfg.cases:
        n = raw[(raw["case"] == case.name)]["person"].nunique()
        tr = run.training.get(case.name)
        trs = "–" if tr is None else f"{tr:.1f} ({run.train_validity.get(case.name, float('nan')):.2f})"
        opts = {**cfg.exact, **case.exact}
        lines.append(f"| {case.name} | {case.scm} | {case.classifier} | {case.data} | {n} | {case.cost_p} | "
                     f"{opts or 'defaults'} | {trs} |")
    lines += ["", "Validity is re-checked on the true SCM with the real classifier for every method. Costs are "
              "(1/K)·Σ w_k·|Δ_k/std_k|^p / R_k. Plausibility: share of counterfactuals inside the reference data's "
              "range box, and the percentile of the counterfactual's SCM log-density among the reference rows "
              "(higher = more typical). Time per person excludes the amortized model's one-off training.", ""]
    pooled = summary[(summary["case"] == "all") & (summary["group"] == "all")]
    lines += ["## All cases pooled", "", md_table(pooled, HEADLINE), ""]
    pairs, beat, beat_nonopt = exact_never_costlier(raw)
    lines += [f"Exact vs baselines on persons both solved: {pairs} pairs; a baseline was cheaper than the exact "
              f"solver (by > 1e-6 relative) in {beat}, of which {beat_nonopt} had an exact answer not proven optimal "
              "(time limit, status FEASIBLE).", ""]
    lines += ["## Research findings in our measurements", "",
              f"Thresholds: a 'substantial' validity drop is >= {100 * VALIDITY_DROP:.0f} percentage points; a "
              f"plausibility drop is >= {PLAUS_DROP:.0f} log-density percentile points or >= "
              f"{100 * VALIDITY_DROP:.0f} points of in-box rate. A verdict 'holds' needs at least half of the "
              "methods (or case x method pairs) to show both parts.", ""]
    cell = int(pooled["n"].min()) if len(pooled) else 0
    if cell < 30:
        lines += [f"Caution: only {cell} individuals per condition and method (pooled over cases), and fewer per "
                  "group; group gaps are absolute differences of small-sample means. Treat the verdicts below as "
                  "indicative, not as evidence; the full design (instances/study-full.yaml) is the real test.", ""]
    for i, f in enumerate(findings(raw, summary), start=1):
        lines += [f"### {i}. {f.claim}", "", f"**Verdict: {f.verdict}** — {f.reason}.", ""]
        if not f.table.empty:
            lines += [md_table(f.table), ""]
    att = attribution(raw)
    lines += ["## Was 'invalid' really 'no recourse'?", "",
              "For each baseline, its invalid results split by what the exact solver established for the same "
              "person and condition: a proof that no recourse exists (NO_RECOURSE), a verified recourse the "
              "baseline missed (method failure), or undecided (time limit).", ""]
    tot = att.groupby("method", sort=False)[["n", "invalid", "exact_no_recourse", "exact_found", "exact_undecided",
                                            "verification_failed"]].sum().reset_index()
    lines += [md_table(tot), ""]
    lines += ["Per condition:", "", md_table(att[att["invalid"] > 0]) if (att["invalid"] > 0).any() else
              "(no invalid baseline results)", ""]
    lines += ["## Per case", ""]
    for case in cfg.cases:
        s = summary[(summary["case"] == case.name)]
        lines += [f"### {case.name}", "", md_table(s[s["group"] == "all"], HEADLINE), "",
                  "By group:", "", md_table(s[s["group"] != "all"], ["condition", "method", "group", "n", "validity",
                                                                      "cost_mean", "logdens_pct_mean", "in_box_rate"]),
                  ""]
    lines += ["## Files", ""] + [f"- {k}: `{Path(v).relative_to(out)}`" for k, v in paths.items()] + [""]
    path = out / "report.md"
    path.write_text("\n".join(lines))
    return path
