"""`milp-recourse study CONFIG`: run the personalization study and write tables, plots and a report.

Everything that can be checked without solving (the config, its SCMs and files, the output folder) is
checked first; results are written to a staging folder that replaces --out only when complete.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser("study", help="personalization study: exact vs baselines over conditions and groups",
                       description="Run the exact solver and the gradient / amortized / grid baselines on the same "
                                   "denied individuals under universal, hard and soft personalization, then write "
                                   "CSV tables (raw results, summary, paired contrasts with bootstrap CIs, group "
                                   "gaps, invalidity decomposed), PNG plots and a Markdown report. A config's "
                                   "'classifier:' model file is unpickled, which can run code: use only files you "
                                   "trust.")
    p.add_argument("config", help="study YAML file (e.g. instances/study-small.yaml)")
    p.add_argument("--out", help="output folder (default: the config's 'output', resolved against the config's "
                                 "folder, else study-results/<name>); must not exist unless --overwrite")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder (only once the new "
                                                             "results are complete)")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.set_defaults(func=_cmd_study)


def _terminated(signum: int, frame: object) -> None:
    raise KeyboardInterrupt   # handled like Ctrl-C: the staging folder is removed


def _cmd_study(args: argparse.Namespace) -> int:
    from milp_recourse.evaluation.study import check_config, run_study, write_study
    from milp_recourse.evaluation.study_config import load_study_config
    from milp_recourse.evaluation.study_output import commit, discard, prepare

    config = load_study_config(args.config)
    check_config(config)
    out = Path(args.out or config.output or Path("study-results") / config.name)
    staging = prepare(out, args.overwrite)
    log = (lambda msg: None) if args.quiet else (lambda msg: print(msg, file=sys.stderr))
    # kill PID cleans up like Ctrl-C (SIGKILL cannot be caught: it leaves a hidden .<out>.partial-* folder to delete)
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminated) if main_thread else None
    try:
        run = run_study(config, log)
        paths = write_study(run, staging.folder, Path(args.config).read_text())
        final = commit(staging)
    except KeyboardInterrupt:
        discard(staging)
        print(f"interrupted: nothing was written to {staging.out}.", file=sys.stderr)
        return 130
    except BaseException:
        discard(staging)
        raise
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
    print(f"Study {config.name!r}: {len(run.raw)} results in {run.seconds:.0f} s, written to {final}.")
    for role, path in paths.items():
        print(f"  {role}: {final / Path(path).relative_to(staging.folder)}")
    return 0
