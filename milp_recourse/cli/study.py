"""`milp-recourse study CONFIG`: run the personalization study and write tables, plots and a report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser("study", help="personalization study: exact vs baselines over conditions and groups",
                       description="Run the exact solver and the gradient / amortized / grid baselines on the same "
                                   "denied individuals under universal, hard and soft personalization, then write "
                                   "CSV tables, PNG plots and a Markdown report.")
    p.add_argument("config", help="study YAML file (e.g. instances/study-small.yaml)")
    p.add_argument("--out", help="output folder (default: the config's 'output', else study-results/<name>)")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.set_defaults(func=_cmd_study)


def _cmd_study(args: argparse.Namespace) -> int:
    from milp_recourse.evaluation.study import run_study, write_study
    from milp_recourse.evaluation.study_config import load_study_config

    config = load_study_config(args.config)
    out = Path(args.out or config.output or Path("study-results") / config.name)
    log = (lambda msg: None) if args.quiet else (lambda msg: print(msg, file=sys.stderr))
    run = run_study(config, log)
    paths = write_study(run, out, Path(args.config).read_text())
    print(f"Study {config.name!r}: {len(run.raw)} results in {run.seconds:.0f} s.")
    for role, path in paths.items():
        print(f"  {role}: {path}")
    return 0
