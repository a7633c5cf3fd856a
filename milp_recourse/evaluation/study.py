"""The personalization study: exact MILP and the four baselines on the same individuals and conditions.

For each case (SCM, classifier, data) and condition (universal; hard random actionable subsets;
soft rankings / scores; hard + soft), every selected denied individual gets one RecourseProblem,
solved by every method. One raw row per (case, condition, person, method) records the status,
validity on the true SCM, cost, plausibility, features changed and time; study_metrics aggregates,
study_report writes tables, plots and the Markdown report.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

from milp_recourse.errors import RecourseError
from milp_recourse.problem.preferences import Preferences
from milp_recourse.problem.options import Actionability
from milp_recourse.problem.recourse_problem import RecourseProblem
from milp_recourse.result import RecourseResult, Status
from milp_recourse.evaluation.study_config import Condition, StudyConfig
from milp_recourse.evaluation.study_data import CaseData, load_case, plausibility

FOUND = (Status.OPTIMAL, Status.FEASIBLE)


@dataclass(frozen=True)
class StudyRun:
    """Raw per-person results and per-case training times of one study run."""

    config: StudyConfig
    raw: pd.DataFrame
    training: Mapping[str, float] = field(default_factory=dict)   # case -> amortized training seconds
    train_validity: Mapping[str, float] = field(default_factory=dict)
    seconds: float = 0.0


def personalize(data: CaseData, cond: Condition, x: Mapping[str, float], rng: np.random.Generator,
                options: Any) -> RecourseProblem:
    """The problem of one person under one condition (random parts drawn from rng, seeded by the caller)."""
    feats = list(data.actionable)
    act = Actionability()
    allowed = feats
    if cond.hard_size is not None:
        size = min(cond.hard_size, len(feats))
        allowed = [feats[i] for i in sorted(rng.choice(len(feats), size=size, replace=False))]
        act = Actionability(actionable=tuple(allowed))
    prefs = Preferences()
    if cond.soft == "ranking":
        order = [allowed[i] for i in rng.permutation(len(allowed))]
        prefs = Preferences.from_ranking(order, allowed, cond.mapping)
    elif cond.soft == "scores":
        scores = {f: float(s) for f, s in zip(allowed, rng.integers(1, 6, size=len(allowed)))}
        prefs = Preferences.from_scores(scores, allowed, cond.mapping)
    return RecourseProblem(data.scm, data.classifier, x, actionability=act, preferences=prefs, cost=data.cost,
                           options=options)


def _methods(config: StudyConfig, data: CaseData) -> tuple[dict[str, Callable[[RecourseProblem], RecourseResult]], Any]:
    """Solve functions per method, and the amortized model (trained here, once per case) or None."""
    from milp_recourse.baselines import get_baseline
    from milp_recourse.baselines.grid import ranges_from_data
    from milp_recourse.solver.pipeline import solve

    out: dict[str, Callable[[RecourseProblem], RecourseResult]] = {"exact": solve}
    amortized = None
    for name in [m for m in config.methods if m != "exact"]:
        opts = dict(config.baselines.get(name, {}))
        if name == "grid":
            opts.setdefault("reference_ranges", ranges_from_data(data.denied_reference, data.actionable))
        elif name in ("causal-gd", "wachter", "amortized"):
            from milp_recourse.baselines.torch_clf import TorchClassifier

            TorchClassifier(data.classifier, data.scm.names)   # fail fast: torch missing, or a tree classifier
            opts.setdefault("scales", {k: data.std[k] for k in data.actionable})
        b = get_baseline(name, **opts)
        if name == "amortized":
            b.fit(data.scm, data.classifier, data.denied_reference, data.cost, config.solve_options(data.case),
                  data.actionable)
            amortized = b
        out[name] = b.solve
    return out, amortized


def _row(data: CaseData, cond: Condition, person: Any, group: str, method: str, res: RecourseResult) -> dict:
    valid = res.status in FOUND and res.verified
    row = {"case": data.case.name, "condition": cond.label, "kind": cond.kind, "hard_size": cond.hard_size,
           "method": method, "person": person, "group": group, "status": res.status.value, "valid": valid,
           "no_recourse": res.status is Status.NO_RECOURSE, "cost": res.cost if valid else np.nan,
           "n_changed": len(res.action) if valid else np.nan, "in_box": np.nan, "logdens_pct": np.nan,
           "seconds": res.total_seconds, "action": json.dumps({k: round(float(v), 6) for k, v in res.action.items()}),
           "message": res.message}
    if valid:
        cf = np.array([res.counterfactual[n] for n in data.scm.names])
        row["in_box"], row["logdens_pct"] = plausibility(data, cf)
    return row


def _error(method: str, exc: Exception) -> RecourseResult:
    return RecourseResult(Status.ERROR, None, {}, {}, {}, False, None, None, 0.0, 0.0, method,
                          message=f"{type(exc).__name__}: {exc}")


def run_study(config: StudyConfig, log: Callable[[str], None] | None = None) -> StudyRun:
    """Run every case x condition x person x method; errors of one method on one person are recorded, not raised."""
    say = log or (lambda msg: print(msg, file=sys.stderr))
    t_start = time.perf_counter()
    rows: list[dict] = []
    training, train_validity = {}, {}
    for ci, case in enumerate(config.cases):
        t = time.perf_counter()
        data = load_case(case, config.seed, ci)
        options = config.solve_options(case)
        methods, amortized = _methods(config, data)
        if amortized is not None:
            training[case.name], train_validity[case.name] = amortized.train_seconds, amortized.train_validity
        say(f"[{case.name}] {len(data.individuals)} denied individuals, {len(config.conditions)} conditions, "
            f"methods {', '.join(methods)} (setup {time.perf_counter() - t:.1f}s)")
        for qi, cond in enumerate(config.conditions):
            tc = time.perf_counter()
            for pi, (idx, row) in enumerate(data.individuals.iterrows()):
                rng = np.random.default_rng([config.seed, ci, qi, pi])
                x = row[list(data.scm.names)].to_dict()
                problem = personalize(data, cond, x, rng, options)
                for name, fn in methods.items():
                    try:
                        res = fn(problem)
                    except RecourseError as exc:
                        res = _error(name, exc)
                    rows.append(_row(data, cond, idx, data.group(row), name, res))
            say(f"[{case.name}] {cond.label}: done in {time.perf_counter() - tc:.1f}s")
    return StudyRun(config, pd.DataFrame(rows), training, train_validity, time.perf_counter() - t_start)


def write_study(run: StudyRun, out: Path, config_text: str | None = None) -> dict[str, Path]:
    """Tables (CSV), plots (PNG) and report.md under `out`; returns the written paths by role."""
    from milp_recourse.evaluation.study_metrics import attribution, summarize
    from milp_recourse.evaluation.study_report import write_plots, write_report

    out.mkdir(parents=True, exist_ok=True)
    paths = {"raw": out / "raw.csv", "summary": out / "summary.csv", "attribution": out / "attribution.csv"}
    run.raw.to_csv(paths["raw"], index=False)
    summary = summarize(run.raw)
    summary.to_csv(paths["summary"], index=False)
    attribution(run.raw).to_csv(paths["attribution"], index=False)
    if config_text is not None:
        (out / "config.yaml").write_text(config_text)
    paths.update(write_plots(summary, out))
    paths["report"] = write_report(run, summary, out, paths)
    return paths
