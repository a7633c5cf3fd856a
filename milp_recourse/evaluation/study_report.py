"""The study's plots (PNG; matplotlib imported lazily, object API, no pyplot state) and Markdown report.

Order: a one-page summary of the findings on the primary case (the first Loan case, exact solver) with paired
effects and 95 % CIs; the Loan case(s), each alone; the other SCMs in an appendix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from milp_recourse.evaluation.study_findings import CLAIMS, Verdict, all_verdicts, verdict_table
from milp_recourse.evaluation.markdown import markdown_table
from milp_recourse.evaluation.study_metrics import exact_never_costlier

PLOTS = (("validity", "validity", "validity on the true SCM"),
         ("cost_ratio", "cost_ratio_mean", "mean cost / exact cost (both valid)"),
         ("plausibility", "logdens_pct_mean", "SCM log-density percentile (valid)"),
         ("time", "seconds_mean", "seconds per person"))
HEADLINE = ["condition", "method", "n", "validity", "no_recourse_rate", "cost_mean", "cost_ratio_mean",
            "cost_ratio_median", "in_box_rate", "logdens_pct_mean", "n_changed_mean", "seconds_mean"]
PRIMARY_METHOD = "exact"


def primary_case(cases: list[Any]) -> str:
    """The first case on a Loan SCM (the study's primary case), else the first case."""
    loan = [c for c in cases if str(c.scm).startswith("loan")]
    return (loan or cases)[0].name


def _bars(summary: pd.DataFrame, case: str, out: Path, FigureCanvasAgg: Any, Figure: Any) -> dict[str, Path]:
    rows = summary[(summary["case"] == case) & (summary["group"] == "all")]
    conds, methods = list(dict.fromkeys(rows["condition"])), list(dict.fromkeys(rows["method"]))
    paths = {}
    for name, col, title in PLOTS:
        fig = Figure(figsize=(max(7.0, 1.3 * len(conds) + 1.5), 3.6))
        FigureCanvasAgg(fig)
        ax = fig.add_subplot(111)
        width = 0.8 / max(1, len(methods))
        for j, m in enumerate(methods):
            vals = [rows[(rows["condition"] == c) & (rows["method"] == m)][col].mean() for c in conds]
            ax.bar(np.arange(len(conds)) + j * width, np.nan_to_num(vals), width, label=m)
        ax.set_xticks(np.arange(len(conds)) + 0.4 - width / 2)
        ax.set_xticklabels(conds, rotation=20, ha="right", fontsize=7)
        ax.set_title(f"{case}: {title}")
        if name == "time":
            ax.set_yscale("log")
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
        fig.tight_layout()
        paths[f"plot_{name}"] = out / "plots" / f"{name}.png"
        fig.savefig(paths[f"plot_{name}"], dpi=110)
    return paths


def _forest(contrasts: pd.DataFrame, case: str, out: Path, FigureCanvasAgg: Any, Figure: Any) -> dict[str, Path]:
    c = contrasts[(contrasts["case"] == case) & (contrasts["family"] == "personalized vs universal")]
    if c.empty:
        return {}
    fig = Figure(figsize=(10, 0.35 * c["b"].nunique() * c["method"].nunique() + 1.5))
    FigureCanvasAgg(fig)
    for k, (metric, title) in enumerate((("validity", "validity change"),
                                         ("logdens_pct", "log-density pct change (valid in both)"))):
        ax = fig.add_subplot(1, 2, k + 1)
        d = c[c["metric"] == metric].reset_index(drop=True)
        y = np.arange(len(d))[::-1]
        ax.errorbar(d["effect"], y, xerr=[d["effect"] - d["lo"], d["hi"] - d["effect"]], fmt="o", ms=3)
        ax.axvline(0, color="grey", lw=0.8)
        ax.set_yticks(y)
        ax.set_yticklabels([f"{m} {b}" for m, b in zip(d["method"], d["b"])] if k == 0 else [], fontsize=6)
        ax.set_title(f"{case}: universal -> condition, {title}", fontsize=8)
    fig.tight_layout()
    path = out / "plots" / "contrasts.png"
    fig.savefig(path, dpi=110)
    return {"plot_contrasts": path}


def write_plots(summary: pd.DataFrame, out: Path, case: str | None = None,
                contrasts: pd.DataFrame | None = None) -> dict[str, Path]:
    """Bar charts condition x method of one case's metrics (default: the first case) and a forest plot of its paired
    contrasts with 95 % CIs; none when matplotlib is absent."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return {}
    if summary.empty:
        return {}
    case = case or str(summary["case"].iloc[0])
    (out / "plots").mkdir(exist_ok=True)
    paths = _bars(summary, case, out, FigureCanvasAgg, Figure)
    if contrasts is not None and not contrasts.empty:
        paths.update(_forest(contrasts, case, out, FigureCanvasAgg, Figure))
    return paths


def md_table(df: pd.DataFrame, cols: list[str] | None = None) -> str:
    """The study's tables: evaluation.markdown with 3 significant digits."""
    return markdown_table(df, cols, digits=3)


def _summary_rows(verdicts: list[Verdict], case: str) -> pd.DataFrame:
    """The one-page table: the primary method's verdicts on one case, with how many methods the verdict holds for."""
    rows = []
    for v in verdicts:
        if v.case != case or v.method != PRIMARY_METHOD:
            continue
        same = [w for w in verdicts if (w.finding, w.case, w.condition) == (v.finding, v.case, v.condition)]
        rows.append({"finding": v.finding, "condition": v.condition,
                     "effects (exact): effect [95 % CI] (n)": "; ".join(f"{n} {e.text()}" for n, _, e in v.parts),
                     "verdict (exact)": f"**{v.verdict}**",
                     "holds for methods": f"{sum(w.verdict == 'holds' for w in same)}/{len(same)}"})
    return pd.DataFrame(rows)


def _summary_notes(tables: Mapping[str, pd.DataFrame], case: str) -> list[str]:
    """Two lines under the summary table: the exact solver's no-recourse share per condition with the part that is
    valid outside the SCM's support, and the validity lost by the amortized model trained on a learned SCM."""
    out = []
    inv = tables["invalidity"]
    ex = inv[(inv["case"] == case) & (inv["method"] == PRIMARY_METHOD)] if not inv.empty else inv
    nr = ex[ex["n"] > ex["valid"]] if not ex.empty else ex
    if not nr.empty:
        out.append("No valid recourse (exact): " + "; ".join(
            f"{r['condition']} {r['n'] - r['valid']}/{r['n']} (valid only outside the support: "
            f"{r['valid_outside_support_only']}, none even unclipped: {r['no_recourse_even_unclipped']}, undecided: "
            f"{r['undecided']})" for _, r in nr.iterrows()) + ".")
    lm = tables.get("learned_model", pd.DataFrame())
    lm = lm[(lm["case"] == case) & (lm["metric"] == "validity")] if not lm.empty else lm
    if not lm.empty:
        out.append("Amortized model trained on a learned SCM vs on the true SCM, validity change: " + "; ".join(
            f"{r['condition']} {r['effect']:+.3g} [{r['lo']:+.3g}, {r['hi']:+.3g}]" for _, r in lm.iterrows()) + ".")
    return [x for line in out for x in (line, "")]


def _setup(run: Any) -> list[str]:
    cfg, raw = run.config, run.raw
    lines = ["| case | SCM | classifier | data | sampling | individuals (by group) | cost p | exact options | "
             "amortized training s (train validity) | same, on the learned SCM |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for case in cfg.cases:
        sub = raw[(raw["case"] == case.name)].drop_duplicates("person")
        groups = ", ".join(f"{g}: {n}" for g, n in sub["group"].value_counts().sort_index().items())
        trs = []
        for key in (case.name, f"{case.name}:amortized-learned"):
            tr = run.training.get(key)
            trs.append("–" if tr is None else f"{tr:.1f} ({run.train_validity.get(key, float('nan')):.2f})")
        opts = {**cfg.exact, **case.exact}
        lines.append(f"| {case.name} | {case.scm} | {case.classifier} | {case.data} | {case.sampling} | "
                     f"{len(sub)} ({groups}) | {case.cost_p} | {opts or 'defaults'} | {trs[0]} | {trs[1]} |")
    return lines


def _case_section(case: str, level: str, tables: Mapping[str, pd.DataFrame], verdicts: list[Verdict]) -> list[str]:
    """Headline metrics, the three findings per method, the group gaps and the invalidity decomposition of a case."""
    s, gaps, inv = tables["summary"], tables["group_gaps"], tables["invalidity"]
    s = s[s["case"] == case]
    lines = [md_table(s[s["group"] == "all"], HEADLINE), ""]
    vt = verdict_table([v for v in verdicts if v.case == case])
    for k in (1, 2, 3):
        t = vt[vt["finding"] == k] if not vt.empty else vt
        lines += [f"{level} Finding {k}: {CLAIMS[k]}", ""]
        lines += [md_table(t.drop(columns=["finding", "case"]).dropna(axis=1, how="all")) if not t.empty
                  else "(no data: the conditions this finding needs are not in the config)", ""]
    g = gaps[gaps["case"] == case] if not gaps.empty else gaps
    if not g.empty:
        g = g[g["method"] == PRIMARY_METHOD].copy()
        g["gap [95 % CI]"] = [f"{x:+.3g} [{lo:+.3g}, {hi:+.3g}]" for x, lo, hi in zip(g["gap"], g["gap_lo"],
                                                                                        g["gap_hi"])]
        g["change from universal [95 % CI]"] = ["" if not np.isfinite(x) else f"{x:+.3g} [{lo:+.3g}, {hi:+.3g}]"
                                                for x, lo, hi in zip(g["did"], g["did_lo"], g["did_hi"])]
        lines += [f"{level} Group gaps (exact solver; second group minus first, signed)", "",
                  "Validity over all people of each group; cost and plausibility over the valid ones. The change "
                  "from universal is a difference in differences of per-person changes (people valid in both "
                  "conditions for cost and plausibility).", "",
                  md_table(g, ["condition", "metric", "groups", "n0", "n1", "mean0", "mean1", "gap [95 % CI]",
                               "change from universal [95 % CI]"]), ""]
    lm = tables.get("learned_model", pd.DataFrame())
    lm = lm[lm["case"] == case] if not lm.empty else lm
    if not lm.empty:
        lm = lm.assign(**{"effect [95 % CI]": [f"{x:+.3g} [{lo:+.3g}, {hi:+.3g}]" for x, lo, hi in
                                               zip(lm["effect"], lm["lo"], lm["hi"])]})
        lines += [f"{level} Learned causal model", "",
                  "The amortized method trained through an SCM fitted to the reference data on the true DAG (linear "
                  "equations, Gaussian noise) against the same method trained through the true SCM, both judged on "
                  "the true SCM; effect = learned - true on the same people (validity: all; cost and plausibility: "
                  "valid under both).", "",
                  md_table(lm[lm["metric"].isin(["validity", "cost"])],
                           ["condition", "metric", "population", "n", "mean_a", "mean_b", "effect [95 % CI]"]), ""]
    d = inv[inv["case"] == case] if not inv.empty else inv
    lines += [f"{level} Invalidity decomposed", "",
              "Counts per condition and method: valid (inside the SCM's support); valid only outside the support "
              "(the exact solver proved no recourse inside the domains, then found a verified action on the SCM with "
              "every domain widened, as an unclipped CARMA-style oracle would); no recourse even unclipped; method "
              "failed while the exact solver found a recourse; undecided (exact solver's limit); errors.", "",
              md_table(d.drop(columns=["case"])) if not d.empty else "(none)", "", "By group:", "",
              md_table(s[s["group"] != "all"], ["condition", "method", "group", "n", "validity", "cost_mean",
                                                "logdens_pct_mean", "in_box_rate"]), ""]
    return lines


def write_report(run: Any, tables: Mapping[str, pd.DataFrame], out: Path, paths: Mapping[str, Path]) -> Path:
    """report.md: summary table of verdicts, setup, the primary (Loan) case alone, other cases in an appendix."""
    cfg, raw = run.config, run.raw
    verdicts = all_verdicts(tables["contrasts"], tables["group_gaps"])
    primary = primary_case(list(cfg.cases))
    lines = [f"# Personalization study: {cfg.name}", ""]
    lines += [f"Seed {cfg.seed}; methods {', '.join(cfg.methods)}; conditions "
              f"{', '.join(c.label for c in cfg.conditions)}; total run time {run.seconds:.0f} s.", ""]
    lines += [f"## Summary: primary case {primary}, exact solver", "",
              "Effects are paired (the same people under both conditions): mean of per-person differences, "
              f"percentile-bootstrap 95 % CI ({cfg.bootstrap_resamples} resamples, fixed seed), n people. Validity "
              "over all denied people; plausibility (SCM log-density percentile) over people valid in both. "
              "Finding 1 compares universal with each hard size; finding 2 each hard size with each soft condition "
              "(soft - hard); finding 3 the change of the group gap from universal, positive = the universal gap "
              "widens. A part is shown only when its CI excludes 0 in the claimed direction; **holds** = every part "
              "shown, **partly holds** = some, **does not hold** = none and a CI excludes 0 the other way, **not "
              "shown** = every CI includes 0. 'holds for methods' counts the methods (not independent: they solve "
              "the same people) where the same verdict holds.", ""]
    st = _summary_rows(verdicts, primary)
    lines += [md_table(st) if not st.empty else "(no findings: the config lacks universal / hard / soft conditions "
              "or groups)", ""]
    lines += _summary_notes(tables, primary)
    pairs, beat, beat_nonopt = exact_never_costlier(raw)
    lines += [f"Exact vs baselines on people both solved: {pairs} pairs; a baseline was cheaper than the exact solver "
              f"(by > 1e-6 relative) in {beat}, of which {beat_nonopt} had an exact answer not proven optimal.", ""]
    lines += ["## Setup", ""] + _setup(run) + ["",
              "Validity is re-checked on the true SCM with the real classifier for every method. Costs are "
              "(1/K)·Σ w_k·|Δ_k/std_k|^p / R_k (+ the preferred-range penalty). Plausibility: share of "
              "counterfactuals inside the reference data's range box, and the percentile of the counterfactual's "
              "SCM log-density among the reference rows (higher = more typical). Conditions ending in /mean1 divide "
              "each person's weights by their mean (soft conditions are then not costlier merely because weights "
              "are >= 1). Time per person excludes the amortized model's one-off training. "
              f"Unclipped re-solve: domains widened by {cfg.support_widen:g} ranges per side "
              f"({'off' if cfg.support_widen == 0 else 'on'}).", ""]
    loan = [c.name for c in cfg.cases if str(c.scm).startswith("loan")]
    others = [c.name for c in cfg.cases if c.name not in loan]
    order = [primary] + [c for c in loan if c != primary]
    for case in order:
        title = "Primary case" if case == primary else "Loan, other case"
        lines += [f"## {title}: {case}", ""] + _case_section(case, "###", tables, verdicts)
    if others:
        lines += ["## Appendix: other SCMs", ""]
        for case in [c for c in others if c != primary]:
            lines += [f"### {case}", ""] + _case_section(case, "####", tables, verdicts)
    lines += ["## Files", ""] + [f"- {k}: `{Path(v).relative_to(out)}`" for k, v in paths.items()] + [""]
    path = out / "report.md"
    path.write_text("\n".join(lines))
    return path

