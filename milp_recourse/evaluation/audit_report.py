"""Write an AuditReport as Markdown + HTML with PNG plots (matplotlib, imported lazily, Agg backend).

Files in the output folder: report.md, report.html, groups.csv, disparities.csv, features.csv, and per
grouping column C: cost_by_C.png (cost distributions), validity_by_C.png (validity and plausibility
rates with CIs), features_by_C.png (share of recourses using each feature).
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import numpy as np

from milp_recourse.evaluation.audit import AuditReport
from milp_recourse.evaluation.markdown import markdown_table
from milp_recourse.errors import BackendUnavailableError, InputError

GROUP_COLS = ["group", "n", "denied", "found", "proven_none", "unknown", "verification_failed", "validity",
              "cost_mean", "cost_median", "cost_q25", "cost_q75", "cost_q90", "changed_mean", "plausible_box",
              "plausible_ld1", "plausible_ld5"]
RATES = ("validity", "plausible_box", "plausible_ld1", "plausible_ld5")


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(name)) or "column"


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise BackendUnavailableError("The audit plots need matplotlib: pip install 'milp_recourse[plots]' "
                                      "(or pass plots=False / --no-plots).") from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _plots(report: AuditReport, col: str, folder: Path) -> list[Path]:
    plt = _pyplot()
    groups = report.groups[report.groups["column"] == col]
    labels = groups["group"].tolist()
    ind = report.individuals
    paths = []
    # cost distributions of valid recourses
    fig, ax = plt.subplots(figsize=(6, 4))
    data = [ind.loc[(report.group_labels[col] == g) & ind["valid"], "cost"].to_numpy(float) for g in labels]
    if any(d.size for d in data):
        ax.boxplot([d if d.size else [np.nan] for d in data], showmeans=True)
        ax.set_xticks(range(1, len(labels) + 1), [f"{col}={g}\n(n={d.size})" for g, d in zip(labels, data)])
    ax.set_ylabel("cost of the recourse (valid ones)")
    ax.set_title(f"Recourse cost by {col} (triangle = mean)")
    paths.append(_save(fig, folder / f"cost_by_{_safe(col)}.png", plt))
    # validity and plausibility rates with CIs
    fig, ax = plt.subplots(figsize=(7, 4))
    width = 0.8 / max(1, len(labels))
    x = np.arange(len(RATES))
    for i, (_, g) in enumerate(groups.iterrows()):
        vals = np.array([g[m] for m in RATES], float)
        lo = vals - np.array([g[f"{m}_ci_low"] for m in RATES], float)
        hi = np.array([g[f"{m}_ci_high"] for m in RATES], float) - vals
        ax.bar(x + i * width, np.nan_to_num(vals), width, yerr=np.nan_to_num([lo, hi]), capsize=3,
               label=f"{col}={g['group']}")
    ax.set_xticks(x + width * (len(labels) - 1) / 2, ["validity", "in data box", "log-dens ≥ p1", "log-dens ≥ p5"])
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("share")
    ax.set_title(f"Validity and plausibility by {col} ({100 * report.confidence:.0f}% bootstrap CI)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=min(4, len(labels)), fontsize="small")
    paths.append(_save(fig, folder / f"validity_by_{_safe(col)}.png", plt))
    # which features the recourse uses
    feats = report.features[report.features["column"] == col]
    names = list(dict.fromkeys(feats["feature"]))
    fig, ax = plt.subplots(figsize=(7, 4))
    x = np.arange(len(names))
    for i, g in enumerate(labels):
        share = feats[feats["group"] == g].set_index("feature").reindex(names)["share"].to_numpy(float)
        ax.bar(x + i * width, np.nan_to_num(share), width, label=f"{col}={g}")
    ax.set_xticks(x + width * (len(labels) - 1) / 2, names)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("share of valid recourses intervening on it")
    ax.set_title(f"Features the recourse uses, by {col}")
    ax.legend()
    paths.append(_save(fig, folder / f"features_by_{_safe(col)}.png", plt))
    return paths


def _save(fig, path: Path, plt) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _markdown(report: AuditReport, images: dict[str, list[Path]], title: str) -> str:
    ind = report.individuals
    parts = [f"# {title}", "",
             f"{len(ind)} individuals, {int(ind['denied'].sum())} denied, {int(ind['valid'].sum())} with a valid "
             f"recourse. Plausibility reference: {report.reference_source}. Bootstrap: {report.n_boot} resamples, "
             f"seed {report.seed}, {100 * report.confidence:.0f}% percentile intervals.", "",
             "## Disparities at a glance", ""]
    parts += [f"- {line}" for line in report.headline()] or ["- (only one group: no disparity to report)"]
    for col in report.by:
        g = report.groups[report.groups["column"] == col]
        parts += ["", f"## By {col}", "", "### Groups", "", markdown_table(g[GROUP_COLS]), ""]
        d = report.disparities[report.disparities["column"] == col]
        if len(d):
            parts += ["### Disparities (group − reference)", "",
                      markdown_table(d.drop(columns=["column"])), ""]
        f = report.features[report.features["column"] == col]
        parts += ["### Share of valid recourses using each feature", "",
                  markdown_table(f.pivot(index="feature", columns="group", values="share").reset_index()), ""]
        parts += [f"![{p.stem}]({p.name})" for p in images.get(col, [])]
    parts += ["", "Definitions: see the docstring of milp_recourse/audit.py (validity over denied individuals; "
              "cost, features changed and plausibility over valid recourses)."]
    return "\n".join(parts) + "\n"


def _html(markdown_text: str, report: AuditReport, images: dict[str, list[Path]], title: str) -> str:
    body = [f"<h1>{html.escape(title)}</h1>", "<h2>Disparities at a glance</h2><ul>"]
    body += [f"<li>{html.escape(line)}</li>" for line in report.headline()] + ["</ul>"]
    for col in report.by:
        g = report.groups[report.groups["column"] == col][GROUP_COLS]
        d = report.disparities[report.disparities["column"] == col].drop(columns=["column"])
        body += [f"<h2>By {html.escape(col)}</h2>", "<h3>Groups</h3>", g.to_html(index=False, float_format="%.4g"),
                 "<h3>Disparities (group − reference)</h3>", d.to_html(index=False, float_format="%.4g")]
        body += [f'<img src="{html.escape(p.name)}" alt="{html.escape(p.stem)}">' for p in images.get(col, [])]
    style = "body{font-family:sans-serif;max-width:1100px;margin:auto}table{border-collapse:collapse}" \
            "td,th{border:1px solid #ccc;padding:2px 6px}img{max-width:100%}"
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n")


def check_report_folder(out_dir: str | Path, overwrite: bool = False) -> None:
    """Before any work: the output folder is new (or empty, or `overwrite`) and can be written. No side effects."""
    from milp_recourse.tables import check_writable_folder

    folder = Path(out_dir)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"The audit output {str(folder)!r} exists and is not a folder.")
    if folder.is_dir():
        if any(folder.iterdir()) and not overwrite:
            raise InputError(f"The audit output folder {str(folder)!r} already exists and is not empty; pass "
                             "--overwrite (overwrite=True) to replace its report, or choose another folder. "
                             "Nothing was written.")
        check_writable_folder(folder, "audit output")
        return
    parent = folder.parent
    while not parent.exists() and parent != parent.parent:  # mkdir(parents=True) creates the missing ones
        parent = parent.parent
    check_writable_folder(parent, "audit output")


def write_report(report: AuditReport, out_dir: str | Path, *, plots: bool = True,
                 title: str = "Recourse audit", overwrite: bool = False) -> dict[str, Any]:
    """Write report.md, report.html, the CSV tables and (optionally) the PNG plots; returns their paths.

    A non-empty existing folder is refused unless `overwrite`.
    """
    folder = Path(out_dir)
    check_report_folder(folder, overwrite)
    if plots:
        _pyplot()  # the missing extra is reported before the folder is made
    folder.mkdir(parents=True, exist_ok=True)
    images = {col: _plots(report, col, folder) for col in report.by} if plots else {}
    md = _markdown(report, images, title)
    paths: dict[str, Any] = {"markdown": folder / "report.md", "html": folder / "report.html",
                             "groups": folder / "groups.csv", "disparities": folder / "disparities.csv",
                             "features": folder / "features.csv",
                             "plots": [p for ps in images.values() for p in ps]}
    paths["markdown"].write_text(md, encoding="utf-8")
    paths["html"].write_text(_html(md, report, images, title), encoding="utf-8")
    report.groups.to_csv(paths["groups"], index=False)
    report.disparities.to_csv(paths["disparities"], index=False)
    report.features.to_csv(paths["features"], index=False)
    return paths


__all__ = ["write_report", "check_report_folder", "markdown_table"]
