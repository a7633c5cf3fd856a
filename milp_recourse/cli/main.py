"""`milp-recourse`: solve | demo (and the commands added by later modules)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import NoReturn, Sequence

from milp_recourse.cli import parse as cp
from milp_recourse.cli.problem_args import UNTRUSTED_MODELS, add_problem_args, build_problem
from milp_recourse.cli.explain import add_parser as _explain_parser
from milp_recourse.cli.batch import add_audit_parser, add_batch_parser
from milp_recourse.cli.study import add_parser as _study_parser
from milp_recourse.cli.export import add_parser as _export_parser
from milp_recourse.cli.fit_scm import add_parser as _fit_scm_parser
from milp_recourse.cli.serve import add_parser as _serve_parser  # fastapi/uvicorn imported only when run
from milp_recourse.errors import RecourseError


def _solve_parser(sub) -> None:
    p = sub.add_parser("solve", help="cheapest verified recourse for one individual",
                       description="Solve exact causal recourse for one individual and re-check it on the true SCM.")
    add_problem_args(p)
    p.add_argument("--format", choices=("table", "json"), default="table", help="output format (default table)")
    p.add_argument("--options", default="1", metavar="K",
                   help="up to K ranked actions (default 1): option j is optimal among the actions whose set of "
                        "changed features contains none of options 1..j-1's sets (actionable-recourse's "
                        "flipsets); json output is then a list with an 'option' rank per entry")
    p.epilog = UNTRUSTED_MODELS
    p.set_defaults(func=_cmd_solve)


def _cmd_solve(args: argparse.Namespace) -> int:
    import json

    from milp_recourse.render import print_result
    from milp_recourse.solver.options import MAX_OPTIONS, solve_options
    from milp_recourse.solver.pipeline import solve

    k = cp.option_count(args.options, MAX_OPTIONS)
    problem = build_problem(args, cp.load_individual(args.individual, args.row))
    if k == 1:   # the plain answer, as before --options existed
        res = solve(problem)
        if args.format == "json":
            print(res.to_json())
        else:
            print_result(res)
        return 0
    results = solve_options(problem, k)
    if args.format == "json":
        print(json.dumps([{"option": j, **r.to_dict()} for j, r in enumerate(results, 1)], indent=2))
        return 0
    for j, res in enumerate(results, 1):
        what = f"changes {', '.join(res.action)}" if res.action else res.status.value
        print(f"{'' if j == 1 else chr(10)}Option {j} of up to {k} ({what}):")
        print_result(res)
    return 0


def _demo_parser(sub) -> None:
    p = sub.add_parser("demo", help="the embedded default: Loan SCM, a classifier trained on it, one denied person",
                       description="Train recipe:logreg on 5000 samples of the shipped Loan SCM (seed 0), pick the "
                                   "first denied individual of a fresh sample, and solve recourse twice: with the "
                                   "spec's actionable features (E, L, I, S), and with personal constraints and a "
                                   "ranking of how hard each change is for this person.")
    p.add_argument("--classifier", default="recipe:logreg", help="recipe:NAME or a model file (default recipe:logreg)")
    p.add_argument("--cost-p", type=int, default=1, choices=(1, 2))
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.set_defaults(func=_cmd_demo)


def _cmd_demo(args: argparse.Namespace) -> int:
    import json

    from milp_recourse.problem.preferences import Preferences
    from milp_recourse.problem.options import Actionability, CostSpec
    from milp_recourse.models.recipes import first_denied, load_model
    from milp_recourse.problem.recourse_problem import RecourseProblem
    from milp_recourse.render import print_result
    from milp_recourse.scm import load_scm
    from milp_recourse.solver.pipeline import solve

    scm = load_scm("loan")
    model = load_model(args.classifier, scm)
    person = first_denied(scm, model)
    cost = CostSpec(p=args.cost_p)
    universal = solve(RecourseProblem(scm, model, person, cost=cost))
    personal = solve(RecourseProblem(
        scm, model, person, actionability=Actionability(actionable=("E", "L", "S"), directions={"S": "up"}),
        preferences=Preferences.from_ranking(("S", "L", "E"), ("E", "L", "S")), cost=cost))
    if args.format == "json":
        print(json.dumps({"universal": universal.to_dict(), "personalized": personal.to_dict()}, indent=2))
        return 0
    print(f"Loan SCM, classifier {args.classifier} (trained on 5000 samples, seed 0), "
          "first denied individual of a fresh sample (seed 1).\n")
    print("1) Universal actionability (the spec's: E, L, I, S), equal weights:")
    print_result(universal)
    print("\n2) Personalized: 'I cannot change my income (I); savings (S) only up; "
          "easiest first: S, L, E' (weights 1, 2, 3):")
    print_result(personal)
    return 0


COMMANDS = [_solve_parser, _demo_parser]
COMMANDS.append(_explain_parser)
COMMANDS += [add_batch_parser, add_audit_parser]
COMMANDS.append(_study_parser)
COMMANDS.append(_export_parser)
COMMANDS.append(_fit_scm_parser)
COMMANDS.append(_serve_parser)


class OneLineErrors(argparse.ArgumentParser):
    """argparse whose refusals are one `error: ...` line (and where the options are described), exit 2, as every
    other refusal of the CLI; argparse's own prints the whole usage block first (23 lines for `solve`)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrors(prog="milp-recourse",
                           description="Exact, personalized, causal algorithmic recourse via MILP.")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in COMMANDS:
        add(sub)
    return parser


def _expected_error(err: BaseException) -> str | None:
    """The `error: ...` text of an expected failure (bad input, unwritable file), None for a bug."""
    if isinstance(err, RecourseError):
        return str(err)
    if isinstance(err, RecursionError):
        return ("an input is too long or too deeply nested to process (Python's recursion limit was reached), "
                "e.g. an equation with thousands of terms; split it into intermediate variables.")
    if isinstance(err, MemoryError):
        return "out of memory; the input is too large for this machine."
    if isinstance(err, OSError) and (err.filename or err.strerror):
        name = f" {err.filename!r}" if err.filename else ""
        return f"cannot read or write{name}: {err.strerror or err}."
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand. Every expected error becomes `error: ...` on stderr and exit code 2 (no traceback);
    Ctrl-C exits 130."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted.", file=sys.stderr)
        return 130
    except (RecourseError, RecursionError, MemoryError, OSError) as err:
        text = _expected_error(err)
        if text is None:
            return _internal_error(err)
        print(f"error: {text}", file=sys.stderr)
        return 2
    except Exception as err:   # a defect of ours, not of the input: one line, exit 1 (the traceback on request)
        return _internal_error(err)


def _internal_error(err: BaseException) -> int:
    """An unexpected exception as one `error: internal error ...` line and exit code 1; with MILP_RECOURSE_TRACEBACK=1
    in the environment it is raised instead, traceback and all (for a bug report)."""
    if os.environ.get("MILP_RECOURSE_TRACEBACK") == "1":
        raise err
    text = " ".join(str(err).split())[:300] or "(no message)"
    print(f"error: internal error ({type(err).__name__}: {text}). This is a defect of milp-recourse, not of your "
          "input; please report the command (MILP_RECOURSE_TRACEBACK=1 shows the traceback).", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
