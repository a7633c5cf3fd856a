"""`milp-recourse explain`: same inputs as `solve`; prints the certificate, minimal conflict and cheapest relaxation."""

from __future__ import annotations

import argparse
import json
import math

from milp_recourse.cli import parse as cp
from milp_recourse.cli.problem_args import add_problem_args, build_problem


def add_parser(sub) -> None:
    p = sub.add_parser("explain", help="why an individual has no recourse, and what to give up for one",
                       description="Solve exact recourse; when there is none, print the certificate, whether the "
                                   "SCM's universal actionability or the person's own constraints are to blame, "
                                   "a minimal set of conflicting constraints and the cheapest relaxation.")
    add_problem_args(p)
    p.add_argument("--relax-weights", help="weight of giving up each constraint group, e.g. fixed:E=3,max_changes=0.5 "
                                           "(default 1 each: the fewest groups)")
    p.add_argument("--format", choices=("table", "json"), default="table", help="output format (default table)")
    p.set_defaults(func=_cmd_explain)


def _cmd_explain(args: argparse.Namespace) -> int:
    from milp_recourse.diagnose.conflicts import person_groups
    from milp_recourse.errors import InputError
    from milp_recourse.diagnose.explain import explain, print_explanation

    problem = build_problem(args, cp.load_individual(args.individual, args.row))
    weights = cp.numbers(args.relax_weights, "--relax-weights")
    keys = {g.key for g in person_groups(problem, include_threshold=False)}
    unknown = sorted(set(weights) - keys)
    if unknown:  # checked before any solving
        raise InputError(f"--relax-weights names unknown group(s) {', '.join(map(repr, unknown))}; this person's "
                         f"groups are {', '.join(sorted(keys)) or '(none)'}.")
    bad = {k: v for k, v in weights.items() if not (math.isfinite(v) and v > 0)}
    if bad:
        raise InputError(f"--relax-weights must be finite numbers > 0. Got {bad}.")
    expl = explain(problem, weights=weights or None)
    if args.format == "json":
        print(json.dumps(expl.to_dict(), indent=2))
    else:
        print_explanation(expl)
    return 0


__all__ = ["add_parser"]
