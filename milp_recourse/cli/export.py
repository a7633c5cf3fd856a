"""`milp-recourse export`: write one person's compiled MILP as MPS and/or LP for reproduction in other tools."""

from __future__ import annotations

import argparse
from pathlib import Path

from milp_recourse.cli import parse as cp
from milp_recourse.cli.problem_args import add_problem_args, build_problem
from milp_recourse.errors import InputError


def add_parser(sub) -> None:
    p = sub.add_parser("export", help="write the compiled MILP of one individual as MPS / LP files",
                       description="Compile one individual's recourse problem (same inputs as `solve`) and write "
                                   "it as an MPS and/or LP file. p = 2 costs are written with their initial "
                                   "tangent cuts (a lower bound); everything else is the exact model.")
    add_problem_args(p)
    p.add_argument("--out", required=True, help="output path; .mps or .lp (or a stem: both are written)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from milp_recourse.backends.export import write_lp, write_mps
    from milp_recourse.encode.compile import compile_problem

    out = Path(args.out)
    if out.suffix.lower() not in ("", ".mps", ".lp"):
        raise InputError(f"--out must end in .mps or .lp, or have no suffix (both are written); got {args.out!r}.")
    targets = [out.with_suffix(ext) for ext in (".mps", ".lp") if out.suffix.lower() in ("", ext)]
    for target in targets:  # an impossible or unwritable --out is refused before any work
        from milp_recourse.tables import check_output_file   # (pandas: not needed to build the parser)

        check_output_file(target, "--out")
    problem = build_problem(args, cp.load_individual(args.individual, args.row))
    compiled = compile_problem(problem)
    written = []
    if out.suffix.lower() in ("", ".mps"):
        written.append(write_mps(compiled.model, out.with_suffix(".mps")))
    if out.suffix.lower() in ("", ".lp"):
        written.append(write_lp(compiled.model, out.with_suffix(".lp")))
    m = compiled.model
    print(f"{m.n_cols} columns ({m.n_integer} integer), {m.n_rows} rows; wrote {', '.join(map(str, written))}")
    return 0
