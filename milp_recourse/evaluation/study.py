"""The personalization study: exact MILP and the baselines on the same individuals and conditions.

For each case (SCM, classifier, data) and condition (universal; hard random actionable subsets;
soft rankings / scores, optionally mean-1 weights or a group-dependent profile; preferred ranges;
hard + soft), every selected denied individual gets one RecourseProblem, solved by every method
(amortized-learned: the amortized model trained through an SCM fitted to the data). One raw row per
(case, condition, person, method) records the status, validity on the true SCM, cost, plausibility,
features changed and time; for people the exact solver proves have no recourse, an exact re-solve on
the SCM with widened domains says whether recourse exists outside its support. study_metrics and
paired aggregate, study_findings judges, study_report writes plots and the Markdown report.
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

from milp_recourse.errors import InputError, RecourseError
from milp_recourse.problem.preferences import Preferences
from milp_recourse.problem.options import Actionability
from milp_recourse.problem.recourse_problem import RecourseProblem
from milp_recourse.result import RecourseResult, Status
from milp_recourse.evaluation.study_config import Condition, StudyConfig
from milp_recourse.evaluation.study_data import CaseData, learned_scm, load_case, plausibility, widened_scm

FOUND = (Status.OPTIMAL, Status.FEASIBLE)


@dataclass(frozen=True)
class StudyRun:
    """Raw per-person results and per-case training times of one study run."""

    config: StudyConfig
    raw: pd.DataFrame
    training: Mapping[str, float] = field(default_factory=dict)   # case (or 'case:amortized-learned') -> seconds
    train_validity: Mapping[str, float] = field(default_factory=dict)
    seconds: float = 0.0


def _weights_profile(cond: Condition, allowed: list[str], group: str, rng: np.random.Generator) -> dict[str, float]:
    """Random ranking / score weights over `allowed`; the group's hardest feature (if any) made hardest."""
    hardest = dict(cond.group_hardest).get(group)
    if cond.soft == "ranking":
        order = [allowed[i] for i in rng.permutation(len(allowed))]
        if hardest in order:
            order = [f for f in order if f != hardest] + [hardest]
        return dict(Preferences.from_ranking(order, allowed, cond.mapping).weights)
    scores = {f: float(s) for f, s in zip(allowed, rng.integers(1, 6, size=len(allowed)))}
    if hardest in scores:
        scores = {f: (5.0 if f == hardest else min(v, 4.0)) for f, v in scores.items()}
    return dict(Preferences.from_scores(scores, allowed, cond.mapping).weights)


def personalize(data: CaseData, cond: Condition, x: Mapping[str, float], rng: np.random.Generator,
                options: Any, group: str = "all") -> RecourseProblem:
    """The problem of one person under one condition (random parts drawn from rng, seeded by the caller)."""
    feats = list(data.actionable)
    act = Actionability()
    allowed = feats
    if cond.hard_size is not None:
        size = min(cond.hard_size, len(feats))
        allowed = [feats[i] for i in sorted(rng.choice(len(feats), size=size, replace=False))]
        act = Actionability(actionable=tuple(allowed))
    prefs = Preferences()
    if cond.soft in ("ranking", "scores"):
        w = _weights_profile(cond, allowed, group, rng)
        if cond.normalize:
            mean = float(np.mean([w[f] for f in allowed]))
            w = {f: v / mean for f, v in w.items()}
        prefs = Preferences(weights=w)
    elif cond.soft == "preferred":
        f = allowed[int(rng.integers(len(allowed)))]
        half = cond.width * data.std[f]
        prefs = Preferences(preferred_ranges={f: (float(x[f]) - half, float(x[f]) + half)},
                            range_penalty=cond.penalty / data.std[f])
    return RecourseProblem(data.scm, data.classifier, x, actionability=act, preferences=prefs, cost=data.cost,
                           options=options)


def check_config(config: StudyConfig) -> None:
    """What can be checked without solving: SCMs load, model files and the CARMA data exist, and each group profile
    entry names a sensitive attribute of some case's SCM and, in those cases, an actionable feature (entries for
    another SCM's attribute are ignored in a case). Raises InputError / SpecError."""
    from milp_recourse.scm import load_scm
    from milp_recourse.evaluation.study_data import carma_files

    scms = {}
    for case in config.cases:
        scms[case.name] = load_scm(case.scm)
        if "carma" in (case.data, case.classifier):
            carma_files()
        elif not case.classifier.startswith("recipe:") and not Path(case.classifier).is_file():
            raise InputError(f"Case {case.name!r}: classifier file {case.classifier!r} does not exist.")
    for cond in config.conditions:
        for name, scm in scms.items():   # a larger subset than the case's features was clipped to all of them in
            n_act = len(scm.actionable)   # silence, a 'hard-9' condition identical to universal (an outside fuzz)
            if cond.hard_size is not None and cond.hard_size > n_act:
                raise InputError(f"Condition {cond.label!r}, case {name!r}: a hard subset of {cond.hard_size} "
                                 f"features, but {scm.name!r} has {n_act} actionable ({', '.join(scm.actionable)}); "
                                 f"expected sizes from 1 to {n_act}.")
        for group, feat in cond.group_hardest:
            attr = group.split("=", 1)[0]
            hits = [(name, scm) for name, scm in scms.items() if attr in scm.sensitive]
            if not hits:
                found = sorted({a for scm in scms.values() for a in scm.sensitive})
                raise InputError(f"Condition {cond.label!r}: group {group!r} is not a value of a sensitive attribute "
                                 f"of any case's SCM ({', '.join(found) or 'none'}).")
            for name, scm in hits:
                if feat not in scm.actionable:
                    raise InputError(f"Condition {cond.label!r}, case {name!r}: {feat!r} is not an actionable "
                                     f"feature of {scm.name!r}; expected one of {', '.join(scm.actionable)}.")


def _methods(config: StudyConfig, data: CaseData) -> tuple[dict[str, Callable[[RecourseProblem], RecourseResult]],
                                                             dict[str, Any]]:
    """Solve functions per method, and the amortized models trained here (once per case) by method name."""
    from milp_recourse.baselines import get_baseline
    from milp_recourse.baselines.grid import ranges_from_data
    from milp_recourse.solver.pipeline import solve

    out: dict[str, Callable[[RecourseProblem], RecourseResult]] = {"exact": solve}
    trained: dict[str, Any] = {}
    if "exact-plausible" in config.methods:
        out["exact-plausible"] = _plausible_exact(config, data)
    for name in [m for m in config.methods if m not in ("exact", "exact-plausible")]:
        opts = dict(config.baselines.get(name, {}))
        if name == "grid":
            opts.setdefault("reference_ranges", ranges_from_data(data.denied_reference, data.actionable))
        elif name in ("causal-gd", "wachter", "amortized", "amortized-learned"):
            from milp_recourse.baselines.torch_clf import TorchClassifier

            TorchClassifier(data.classifier, data.scm.names)   # fail fast: torch missing, or a tree classifier
            opts.setdefault("scales", {k: data.std[k] for k in data.actionable})
        b = get_baseline("amortized" if name == "amortized-learned" else name, **opts)
        if name.startswith("amortized"):
            scm = learned_scm(data) if name == "amortized-learned" else data.scm
            b.fit(scm, data.classifier, data.denied_reference, data.cost, config.solve_options(data.case),
                  data.actionable)
            trained[name] = b
        out[name] = b.solve
    return out, trained


def _plausible_exact(config: StudyConfig, data: CaseData) -> Callable[[RecourseProblem], RecourseResult]:
    """The exact solver with the case's plausibility constraint (box or density:Q over its reference data); a
    density constraint the SCM's noise cannot encode exactly is refused here, naming the case."""
    import dataclasses

    from milp_recourse.problem.plausibility import check_density_noise, parse_plausible
    from milp_recourse.solver.pipeline import solve

    spec = (config.baselines.get("exact-plausible") or {}).get("plausible", "box")
    scm = data.scm
    try:
        pl = parse_plausible(spec, scm, data.reference)
        if pl.kind == "density":
            check_density_noise(scm, data.actionable, [n for n in scm.names if n in data.actionable
                                                       or n in scm.descendants(data.actionable)])
    except InputError as exc:
        raise InputError(f"Case {data.case.name!r}, method 'exact-plausible': {exc}") from None
    return lambda problem: solve(dataclasses.replace(problem, plausibility=pl))


def _row(data: CaseData, cond: Condition, person: Any, group: str, method: str, res: RecourseResult) -> dict:
    valid = res.status in FOUND and res.verified
    row = {"case": data.case.name, "condition": cond.label, "kind": cond.kind, "hard_size": cond.hard_size,
           "method": method, "person": person, "group": group, "status": res.status.value, "valid": valid,
           "no_recourse": res.status is Status.NO_RECOURSE, "cost": res.cost if valid else np.nan,
           "n_changed": len(res.action) if valid else np.nan, "in_box": np.nan, "logdens_pct": np.nan,
           "seconds": res.total_seconds, "action": json.dumps({k: round(float(v), 6) for k, v in res.action.items()}),
           "message": res.message, "unclipped": ""}
    if valid:
        cf = np.array([res.counterfactual[n] for n in data.scm.names])
        row["in_box"], row["logdens_pct"] = plausibility(data, cf)
    return row


def _error(method: str, exc: Exception) -> RecourseResult:
    return RecourseResult(Status.ERROR, None, {}, {}, {}, False, None, None, 0.0, 0.0, method,
                          message=f"{type(exc).__name__}: {exc}")


def _unclipped(wide: Any, problem: RecourseProblem, solve: Callable[[RecourseProblem], RecourseResult]) -> str:
    """The exact solver on the widened SCM for a person with no recourse inside the support: 'valid outside
    support' (a verified action exists outside it), 'none' (no recourse even there) or 'undecided'."""
    p = RecourseProblem(wide, problem.classifier, problem.x, actionability=problem.actionability,
                        preferences=problem.preferences, cost=problem.cost, options=problem.options)
    try:
        res = solve(p)
    except RecourseError:
        return "undecided"
    if res.status in FOUND and res.verified:
        return "valid outside support"
    return "none" if res.status is Status.NO_RECOURSE else "undecided"


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
        methods, trained = _methods(config, data)
        wide = widened_scm(data.scm, config.support_widen) if config.support_widen > 0 else None
        for name, model in trained.items():
            key = case.name if name == "amortized" else f"{case.name}:{name}"
            training[key], train_validity[key] = model.train_seconds, model.train_validity
        say(f"[{case.name}] {len(data.individuals)} denied individuals, {len(config.conditions)} conditions, "
            f"methods {', '.join(methods)} (setup {time.perf_counter() - t:.1f}s)")
        for qi, cond in enumerate(config.conditions):
            tc = time.perf_counter()
            for pi, (idx, row) in enumerate(data.individuals.iterrows()):
                rng = np.random.default_rng([config.seed, ci, qi, pi])
                x = row[list(data.scm.names)].to_dict()
                group = data.group(row)
                problem = personalize(data, cond, x, rng, options, group)
                for name, fn in methods.items():
                    try:
                        res = fn(problem)
                    except RecourseError as exc:
                        res = _error(name, exc)
                    rows.append(_row(data, cond, idx, group, name, res))
                    if name == "exact" and wide is not None and res.status is Status.NO_RECOURSE:
                        rows[-1]["unclipped"] = _unclipped(wide, problem, fn)
            say(f"[{case.name}] {cond.label}: done in {time.perf_counter() - tc:.1f}s")
    return StudyRun(config, pd.DataFrame(rows), training, train_validity, time.perf_counter() - t_start)


def write_study(run: StudyRun, out: Path, config_text: str | None = None) -> dict[str, Path]:
    """Tables (CSV), plots (PNG) and report.md into the folder `out` (the CLI passes a staging folder that it
    moves into place only when everything is written); returns the written paths by role."""
    from milp_recourse.evaluation.paired import all_contrasts, all_group_gaps, method_contrasts
    from milp_recourse.evaluation.study_metrics import attribution, decomposition, summarize
    from milp_recourse.evaluation.study_report import primary_case, write_plots, write_report

    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / f"{name}.csv" for name in ("raw", "summary", "attribution", "invalidity", "contrasts",
                                                   "group_gaps", "learned_model")}
    n_boot = run.config.bootstrap_resamples
    tables = {"raw": run.raw, "summary": summarize(run.raw), "attribution": attribution(run.raw),
              "invalidity": decomposition(run.raw),
              "contrasts": all_contrasts(run.raw, run.config.seed, n_boot),
              "group_gaps": all_group_gaps(run.raw, run.config.seed, n_boot),
              "learned_model": method_contrasts(run.raw, "amortized", "amortized-learned", run.config.seed, n_boot)}
    for name, table in tables.items():
        table.to_csv(paths[name], index=False)
    if config_text is not None:
        (out / "config.yaml").write_text(config_text)
    paths.update(write_plots(tables["summary"], out, primary_case(list(run.config.cases)), tables["contrasts"]))
    paths["report"] = write_report(run, tables, out, paths)
    return paths
