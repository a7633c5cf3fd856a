"""`milp-recourse batch` (solve a whole table, resumable) and `milp-recourse audit` (group report)."""

from __future__ import annotations

import argparse
import dataclasses
import signal
import time

from milp_recourse.cli.problem_args import (UNTRUSTED_MODELS, add_constraint_args, add_model_args, add_solver_args, load_model_checked,
                                            load_scm_checked, problem_parts, with_target_class)
from milp_recourse.cli import parse as cp
from milp_recourse.errors import InputError

ENGINES = ("local", "dask", "ray")   # batch.engines.ENGINES (not imported: it loads the batch layer)


def add_batch_parser(sub) -> None:
    p = sub.add_parser("batch", help="recourse for every denied individual of a CSV/Parquet table",
                       description="Solve recourse for every denied individual of --data (others are marked "
                                   "ALREADY_FAVOURABLE), in parallel, writing results incrementally to --out; "
                                   "--resume continues an interrupted run. Per-person constraints come from "
                                   "--profiles (see milp_recourse/profiles.py for the column format); the "
                                   "constraint options below are everyone's base.")
    add_model_args(p)
    p.add_argument("--data", required=True, help="CSV/Parquet with one column per SCM feature (extra columns kept)")
    p.add_argument("--profiles", help="CSV/Parquet profiles table keyed by id, or generator:NAME (universal, "
                                      "hard-subsets, soft-ranking, soft-scores, hard+soft)")
    p.add_argument("--profile-seed", type=int, default=0, help="seed of a profile generator (default 0)")
    p.add_argument("--out", required=True, help="results file (.csv, or .parquet via a JSONL journal)")
    p.add_argument("--workers", type=int, default=1, help="parallel worker processes (default 1)")
    p.add_argument("--engine", choices=ENGINES, default="local", help="local (joblib/loky), dask or ray")
    p.add_argument("--address", help="scheduler address for dask (tcp://host:8786) or ray (host:6379 or auto)")
    p.add_argument("--resume", action="store_true", help="continue an existing --out, skipping finished ids")
    p.add_argument("--id-column", help="column of --data holding unique ids (default: the 0-based row number)")
    p.add_argument("--limit", type=int, help="only the first N rows of --data")
    p.add_argument("--chunk-size", type=int, help="individuals per task (default: about n / (8 x workers), <= 64)")
    p.add_argument("--hard-time-limit", type=float,
                   help="seconds after which one individual is abandoned as UNKNOWN (default 2 x time limit + 30)")
    p.add_argument("--heuristic-samples", type=int, help="random actions tried for an upper bound on hard models (default 4096)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar even on a terminal")
    p.add_argument("--options", default="1", metavar="K",
                   help="up to K ranked actions per person (default 1), one row each with its rank in an 'option' "
                        "column: option j is optimal among the actions whose set of changed features contains none "
                        "of options 1..j-1's sets; the hard time limit then covers K solves")
    add_constraint_args(p)
    add_solver_args(p)
    p.epilog = (UNTRUSTED_MODELS + " The results file --out gets a fingerprint <out>.meta.json (SCM, classifier, "
                "profiles, options, version); --resume refuses to continue a file made by other inputs. Ctrl-C stops "
                "the run (exit 130) and prints the command that resumes it. Scratch folders: the local engine's "
                "joblib/loky pool memory-maps in $JOBLIB_TEMP_FOLDER (default /dev/shm, else the temp folder: "
                "joblib_memmapping_folder_*), Dask's workers in <temp folder>/dask-scratch-space (config "
                "temporary-directory), Ray in /tmp/ray/session_*; a normal end removes them, a SIGKILL leaves them "
                "behind: delete them by hand once no run is active.")
    p.set_defaults(func=cmd_batch)


def cmd_batch(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from milp_recourse.batch.run import result_summary
    from milp_recourse.problem.constraints_check import check_threshold

    from milp_recourse.solver.options import MAX_OPTIONS

    args.n_options = cp.option_count(args.options, MAX_OPTIONS)
    scm = load_scm_checked(args.scm)
    parts = problem_parts(args, scm)
    if args.heuristic_samples is not None:
        parts["options"] = dataclasses.replace(parts["options"], heuristic_samples=args.heuristic_samples)
    model = load_model_checked(args.classifier, scm)
    parts = with_target_class(parts, model, args.target_class)
    check_threshold(model, args.threshold)
    t0 = time.perf_counter()
    previous = signal.signal(signal.SIGTERM, _terminate)   # as Ctrl-C: workers stopped, the resume command printed
    try:
        frame = _run_batch(args, scm, model, parts)
    except KeyboardInterrupt as stop:
        _interrupted(args)
        return 143 if isinstance(stop, Terminated) else 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    secs = time.perf_counter() - t0
    counts = result_summary(frame)
    people = frame.drop_duplicates("id")
    denied = len(people) - int((people["status"] == "ALREADY_FAVOURABLE").sum())
    con = Console()
    rows = f" ({len(frame)} rows: up to {args.n_options} options each)" if args.n_options > 1 else ""
    con.print(f"{len(people)} individuals, {denied} denied{rows}; {secs:.1f} s with engine {args.engine} "
              f"x{args.workers}; results in {args.out}")
    t = Table("status", "count", "mean cost", "mean seconds")
    for status, n in counts.items():
        sub = frame[frame["status"] == status]
        cost = sub["cost"].mean()
        t.add_row(status, str(n), "-" if cost != cost else f"{cost:.4g}", f"{sub['seconds'].mean():.3g}")
    con.print(t)
    return 0


def _run_batch(args: argparse.Namespace, scm, model, parts: dict):
    from milp_recourse.batch.run import solve_batch

    return solve_batch(scm, model, args.data, args.profiles, **parts, engine=args.engine, workers=args.workers,
                       address=args.address, out=args.out, resume=args.resume, id_column=args.id_column,
                       limit=args.limit, chunk_size=args.chunk_size, profile_seed=args.profile_seed,
                       ranking_map=args.ranking_map or "rank", score_map=args.score_map or "identity",
                       hard_time_limit=args.hard_time_limit, progress=False if args.no_progress else None,
                       classifier_source=args.classifier, n_options=args.n_options)


class Terminated(KeyboardInterrupt):
    """SIGTERM (timeout, docker stop, Slurm) during a batch: handled as Ctrl-C, exit 143. Without a handler the
    process died at once and left its loky workers running as orphans (an outside fuzz)."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated()


def _interrupted(args: argparse.Namespace) -> None:
    """Ctrl-C: say where the finished rows are and how to continue (no traceback)."""
    import shlex
    import sys
    from pathlib import Path

    argv = list(getattr(args, "argv", None) or ["batch", "..."])
    if "--resume" not in argv:
        argv.append("--resume")
    out = Path(args.out)
    journal = out.with_name(out.name + ".journal.jsonl")
    where = journal if journal.exists() else out
    kept = f"the finished rows are in {where}" if where.exists() else "no row was finished"
    print(f"interrupted: {kept}. Continue with:\n  milp-recourse {shlex.join(argv)}", file=sys.stderr)


def add_audit_parser(sub) -> None:
    p = sub.add_parser("audit", help="validity, cost and plausibility of recourse by group, with disparities",
                       description="Audit batch results per group of one or more columns (e.g. a sensitive "
                                   "attribute): denied count, recourse found / proven none / unknown, validity, "
                                   "cost, features changed, plausibility, and disparities with bootstrap CIs. "
                                   "Writes report.md, report.html, CSV tables and PNG plots to --out.")
    p.add_argument("results", help="results file of `milp-recourse batch` (.csv or .parquet)")
    p.add_argument("--by", action="append", required=True, help="column to group by (repeat for several)")
    p.add_argument("--scm", required=True, help="SCM spec (for the log-density plausibility check)")
    p.add_argument("--reference-data", help="training data (CSV/Parquet) for the plausibility box and log-density "
                                            "percentiles (default: 10000 samples of the SCM, seed 0)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--confidence", type=float, default=0.95, help="confidence level (default 0.95)")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots (no matplotlib needed)")
    p.add_argument("--overwrite", action="store_true", help="replace the report in an existing, non-empty --out")
    p.set_defaults(func=cmd_audit)


def cmd_audit(args: argparse.Namespace) -> int:
    from milp_recourse.evaluation.audit import MAX_BOOT, audit, check_results, check_results_match_scm, reference_rows
    from milp_recourse.tables import as_table
    from milp_recourse.evaluation.audit_report import check_report_folder, write_report

    if not 10 <= args.n_boot <= MAX_BOOT:
        raise InputError(f"--n-boot must be in [10, {MAX_BOOT}]. Got {args.n_boot if args.n_boot < 10**12 else 'more'}.")
    if args.seed < 0:
        raise InputError(f"--seed must be an integer >= 0. Got {args.seed}.")
    results = as_table(args.results, "results")
    check_results(results, args.by)
    scm = load_scm_checked(args.scm)
    check_results_match_scm(results, scm)
    if args.reference_data is not None:
        reference_rows(scm, args.reference_data)   # (read again by audit; a bad table is refused before any work)
    check_report_folder(args.out, args.overwrite)  # every check before any work
    report = audit(results, args.by, scm, args.reference_data, n_boot=args.n_boot,
                   seed=args.seed, confidence=args.confidence)
    paths = write_report(report, args.out, plots=not args.no_plots, overwrite=args.overwrite)
    print("Disparities at a glance:")
    for line in report.headline() or ["(only one group: no disparity to report)"]:
        print(f"  {line}")
    print(f"Report: {paths['markdown']} and {paths['html']}; {len(paths['plots'])} plot(s) in {args.out}")
    return 0


__all__ = ["add_batch_parser", "add_audit_parser", "cmd_batch", "cmd_audit"]
