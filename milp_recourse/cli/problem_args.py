"""The CLI's shared problem options (solve, explain, batch) and their translation to a RecourseProblem."""

from __future__ import annotations

import argparse
import dataclasses
from typing import TYPE_CHECKING, Any

from milp_recourse.cli import parse as cp
from milp_recourse.errors import ClassifierError, InputError, RecourseError, SpecError
from milp_recourse.problem.constraints_check import check_constraints
from milp_recourse.problem.preferences import RANKING_MAPPINGS, SCORE_MAPPINGS, Preferences
from milp_recourse.problem.data_costs import AGGREGATES, COST_KINDS, percentile_cdfs
from milp_recourse.problem.options import Actionability, CostSpec, SolveOptions, divisors_from_data
if TYPE_CHECKING:
    from milp_recourse.problem.recourse_problem import RecourseProblem

# the SCM, the classifier layer and scikit-learn are imported inside the functions that need them, so that
# building the parser (and `milp-recourse --help`) stays light


UNTRUSTED_MODELS = ("WARNING: a .joblib/.pkl/.pickle file runs code when it is loaded (pickle); load only files you "
                    "made or trust. For a model from elsewhere use the .npz route (plain arrays, no pickle).")


def add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scm", required=True, help="SCM spec file (.yaml/.json) or shipped name (loan, chain, ...)")
    p.add_argument("--classifier", required=True,
                   help="joblib/pickle scikit-learn estimator (also XGBoost / LightGBM classifiers and Boosters), "
                        "an XGBoost .json/.ubj or LightGBM .txt model file, .npz ReLU network, or recipe:NAME "
                        "(logreg, svm, mlp, tree, forest, gbt) trained on the SCM with seed 0. " + UNTRUSTED_MODELS)


def load_scm_checked(spec: str):
    """load_scm, with an equation too long / deep for Python's parser reported as a SpecError."""
    from milp_recourse.scm.spec import load_scm

    try:
        return load_scm(spec)
    except RecursionError:
        raise SpecError(f"{spec}: an equation is too long or too deeply nested to parse (Python's recursion limit "
                        "was reached); split it into intermediate variables.") from None


def _nonfinite_variables(scm) -> list[str]:
    import numpy as np

    with np.errstate(all="ignore"):
        sample = scm.sample(200, seed=0)
    return [str(c) for c in sample.columns if not np.all(np.isfinite(sample[c].to_numpy(float)))]


def load_model_checked(spec: str, scm):
    """load_model; a recipe that cannot train on the SCM's samples (inf / NaN from x/0, overflow) -> ClassifierError."""
    from milp_recourse.models.recipes import load_model

    import warnings

    try:
        with warnings.catch_warnings():  # numpy's overflow warnings would precede the error message
            if spec.startswith("recipe:"):
                warnings.simplefilter("ignore", RuntimeWarning)
            return load_model(spec, scm)
    except RecourseError:
        raise
    except (ValueError, ArithmeticError, FloatingPointError) as exc:
        if not spec.startswith("recipe:"):
            raise
        try:
            bad = _nonfinite_variables(scm)
        except Exception:  # noqa: BLE001 - the original failure is what to report
            bad = []
        hint = (f" The SCM gives non-finite values (inf / NaN) for {', '.join(bad)}: check its equations for a "
                "division by zero or an overflow." if bad else "")
        raise ClassifierError(f"Could not train {spec} on samples of the SCM {scm.name!r}: {exc}{hint}") from None


def add_individual_args(p: argparse.ArgumentParser) -> None:
    """--individual and --row, shared by the one-person commands (solve, explain, export)."""
    p.add_argument("--individual", required=True,
                   help="inline JSON {\"E\": 0.1, ...}, a .json file, or a CSV/Parquet file. Lenient on purpose: "
                        "extra keys/columns that are not SCM features are ignored, and numeric strings (\"0.5\") "
                        "are read as numbers")
    p.add_argument("--row", type=int, help="row of a CSV/Parquet --individual (default 0)")


class JoinRepeats(argparse.Action):
    """A NAME=VALUE list option that may be given more than once: the lists are joined (`--grid A=.. --grid B=..`
    is `--grid A=..,B=..`), so no occurrence is silently dropped; a feature named twice is still an error."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        before = getattr(namespace, self.dest, None)
        setattr(namespace, self.dest, values if not before else f"{before},{values}")


def add_constraint_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("hard constraints (per individual)")
    g.add_argument("--actionable", help="features the person can act on, e.g. E,L,I,S (default: the spec's)")
    g.add_argument("--bounds", action=JoinRepeats,
                   help="bounds on new values, e.g. E=-0.4:0.4,L=:5 (either side may be empty; repeatable)")
    g.add_argument("--direction", action=JoinRepeats, help="increase/decrease only, e.g. I=up,S=down (repeatable)")
    g.add_argument("--max-changes", type=int, help="at most this many features intervened on")
    g.add_argument("--grid", action=JoinRepeats,
                   help="allowed values, e.g. E=-0.3:0.3:15 (15 even values) or E=0|0.5|1 (repeatable)")
    g.add_argument("--constraint", action="append", default=None, metavar="TEXT",
                   help="a logic constraint, repeatable: 'if A -> a then B = b' (or <=, >=; when A becomes a) or "
                        "'T += r * S' (T, a root, moves r per unit of S, at no cost); names may be `quoted`")
    g = p.add_argument_group("soft preferences and cost")
    w = g.add_mutually_exclusive_group()
    w.add_argument("--weights", action=JoinRepeats, help="per-feature cost weights, e.g. E=3,L=2 (default 1; repeatable)")
    w.add_argument("--ranking", help="features from easiest to hardest, e.g. E,L,I,S")
    w.add_argument("--scores", action=JoinRepeats, help="difficulty scores (larger = harder), e.g. E=5,L=1 (repeatable)")
    g.add_argument("--ranking-map", choices=RANKING_MAPPINGS, help="ranking -> weight (default rank)")
    g.add_argument("--score-map", choices=SCORE_MAPPINGS, help="scores -> weight (default identity)")
    g.add_argument("--preferred", help="preferred value ranges, penalised outside, e.g. L=-5:0")
    g.add_argument("--range-penalty", type=float, help="cost per unit outside a preferred range (default 1)")
    g.add_argument("--cost-p", type=int, default=1, choices=(1, 2), help="cost exponent p (default 1)")
    g.add_argument("--cost", default="power", choices=COST_KINDS,
                   help="per-feature cost: 'power' = |theta - x|^p (default); 'percentile' = |F(theta) - F(x)|, F "
                        "the piecewise-linear empirical CDF of --reference-data (at most 50 knots), exact in the MILP")
    g.add_argument("--cost-aggregate", default="sum", choices=AGGREGATES,
                   help="sum the feature costs (default) or take their max (p = 1 or percentile; L0 and "
                        "range penalties stay additive)")
    g.add_argument("--divisors", help="per-feature divisors d_k, e.g. E=0.1,L=4.2")
    g.add_argument("--reference-data", help="CSV/Parquet to compute divisors from (with --divisor), the --cost percentile CDFs and the "
                                                "--plausible box / density threshold")
    g.add_argument("--divisor", choices=("std", "range", "std2-range", "mad"),
                   help="divisor kind from --reference-data (mad: median absolute deviation, DiCE's default)")
    g.add_argument("--cost-scale", type=float, default=1.0, help="overall cost scale")
    g.add_argument("--l0", type=float, default=0.0, help="cost per feature intervened on")


def add_solver_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("solving")
    g.add_argument("--threshold", type=float, default=0.5,
                   help="favourable iff P(target) >= threshold (default 0.5; at 0.5 a tie goes as the estimator's "
                   "predict sends it: to the first class)")
    g.add_argument("--target-class", default=None, metavar="LABEL",
                   help="the favourable class, one of the classifier's classes_ as written (default: classes_[1])")
    g.add_argument("--margin", type=float, default=1e-6, help="extra score beyond the threshold (default 1e-6)")
    g.add_argument("--time-limit", type=float, default=60.0, help="seconds per individual (default 60)")
    g.add_argument("--gap", type=float, default=1e-4,
                   help="relative optimality gap (default 1e-4; gaps below 1e-6 count as closed)")
    g.add_argument("--backend", default="highs", help="solver backend (default highs)")
    g.add_argument("--pwl-breakpoints", type=int, default=33, help="breakpoints per smooth SCM nonlinearity")
    g.add_argument("--seed", type=int, default=0, help="seed of the heuristic upper bound (an integer >= 0)")
    g.add_argument("--no-box-search", action="store_true",
                   help="ReLU networks: skip the box search over actions and solve the MILP directly (the result's "
                        "backend then names the MILP solver, not 'box-search')")
    g.add_argument("--no-closed-form", action="store_true",
                   help="linear scores (logistic regression, linear SVM) with p = 1 / 2 costs: skip the exact closed "
                        "form over the SCM's linear pieces and solve the MILP (the backend then names the MILP "
                        "solver, not 'linear-pieces')")


def add_problem_args(p: argparse.ArgumentParser) -> None:
    """Every input of one person's problem: model, individual, constraints and preferences, solver options
    (`solve`, `explain` and `export` take the same)."""
    add_model_args(p)
    add_individual_args(p)
    add_constraint_args(p)
    add_solver_args(p)
    p.add_argument("--plausible", metavar="box|density:Q",
                   help="hard plausibility of the counterfactual: 'box' = every variable inside the range box of "
                        "--reference-data (the SCM's domains without it); 'density:Q' = SCM log-density at least "
                        "the Q-th percentile (0 < Q < 100) of --reference-data's rows (of 10000 SCM samples "
                        "without it); needs additive Gaussian noise on the actionable features")


def plausibility_from_args(args: argparse.Namespace, scm):
    """The --plausible constraint resolved against --reference-data (or the SCM), or None."""
    from milp_recourse.problem.plausibility import parse_plausible

    text = getattr(args, "plausible", None)
    if text is None:
        return None
    data = _read_table(args.reference_data) if args.reference_data else None
    return parse_plausible(text, scm, data)


def _read_table(path: str):
    """The --reference-data table (tables.read_table's checks and messages); refused when it has no rows."""
    from milp_recourse.tables import read_table

    table = read_table(path, "--reference-data")
    if table.empty:
        raise InputError(f"The --reference-data file {path!r} has no data rows (columns: "
                         f"{', '.join(map(str, table.columns)) or 'none'}); expected a table of reference people.")
    return table


def _no_idle_options(args: argparse.Namespace) -> None:
    """InputError for an option that would change nothing (it was accepted in silence: an outside fuzz). A batch
    with --profiles may use the mappings and the penalty for its profiles' rankings, scores and preferred ranges."""
    profiles = getattr(args, "profiles", None) is not None
    for option, value, needs, present in (("--ranking-map", args.ranking_map, "--ranking", args.ranking),
                                          ("--score-map", args.score_map, "--scores", args.scores),
                                          ("--range-penalty", args.range_penalty, "--preferred", args.preferred)):
        if value is not None and not present and not profiles:
            raise InputError(f"{option} applies to {needs}, which was not given; it would change nothing. Give "
                             f"{needs} too, or leave {option} out.")


def problem_parts(args: argparse.Namespace, scm) -> dict[str, Any]:
    """Actionability, Preferences, CostSpec and SolveOptions from parsed arguments (no individual)."""
    from milp_recourse.scm.levels import encode_levels   # (the parser builds without the SCM layer)

    if args.seed < 0:
        raise InputError(f"--seed must be an integer >= 0. Got {args.seed}.")
    act = Actionability(actionable=cp.name_list(args.actionable), bounds=cp.bounds(args.bounds),
                        directions=cp.pairs(args.direction, "--direction"), max_changes=args.max_changes,
                        grids=cp.grids(args.grid, scm), logic=tuple(getattr(args, "constraint", None) or ()))
    spec_actionable = [v.name for v in scm.variables if v.actionability != "immutable"]
    feats = list(act.actionable or spec_actionable)
    _no_idle_options(args)
    if args.ranking:
        prefs = Preferences.from_ranking(cp.name_list(args.ranking), feats, args.ranking_map or "rank")
    elif args.scores:
        prefs = Preferences.from_scores(cp.numbers(args.scores, "--scores"), feats, args.score_map or "identity")
    else:
        prefs = Preferences(weights=cp.numbers(args.weights, "--weights"))
    prefs = dataclasses.replace(prefs, preferred_ranges=cp.ranges(args.preferred, "--preferred"),
                                range_penalty=1.0 if args.range_penalty is None else args.range_penalty)
    immutable = {v.name for v in scm.variables if v.actionability == "immutable"}
    for flag, named in (("--weights", prefs.weights if args.weights else {}), ("--preferred", prefs.preferred_ranges)):
        bad = sorted(n for n in named if n in immutable)
        if bad:
            raise InputError(f"{flag} on {', '.join(map(repr, bad))} (immutable in the SCM spec) would price "
                             f"nothing: nobody intervenes on it. Expected only features a person may act on "
                             f"({', '.join(spec_actionable)}).")
    divisors = cp.numbers(args.divisors, "--divisors")
    percentile = getattr(args, "cost", "power") == "percentile"
    if percentile and not args.reference_data:
        raise InputError("--cost percentile needs --reference-data (the table whose empirical CDFs price the shifts).")
    if args.divisor or (args.reference_data and not getattr(args, "plausible", None) and not percentile):
        if not (args.reference_data and args.divisor):
            raise InputError("--reference-data and --divisor go together (e.g. --reference-data train.csv --divisor std).")
        if divisors:
            raise InputError("Give either --divisors or --reference-data with --divisor, not both.")
        divisors = divisors_from_data(encode_levels(scm, _read_table(args.reference_data)), list(scm.names),
                                      args.divisor)
    cdfs = {}
    if percentile:   # the chosen features must be in the table; the spec's other actionable ones when they are
        table = encode_levels(scm, _read_table(args.reference_data))
        cdfs = percentile_cdfs(table, feats + [n for n in spec_actionable if n not in feats and n in table.columns])
    cost = CostSpec(p=args.cost_p, divisors=divisors, scale=args.cost_scale, l0=args.l0,
                    kind=getattr(args, "cost", "power"), aggregate=getattr(args, "cost_aggregate", "sum"), cdfs=cdfs)
    opts = SolveOptions(threshold=args.threshold, margin=args.margin, time_limit=args.time_limit, mip_gap=args.gap,
                        backend=args.backend, pwl_breakpoints=args.pwl_breakpoints, seed=args.seed,
                        box_search=not args.no_box_search, closed_form=not args.no_closed_form)
    return dict(actionability=act, preferences=prefs, cost=cost, options=opts)


def with_target_class(parts: dict[str, Any], model: Any, label: str | None) -> dict[str, Any]:
    """parts with options.target_class set to the class of `model` written as `label` (classes_ may be numbers or
    text; the command line gives text); InputError listing the classes when none is written so."""
    if label is None:
        return parts
    classes = list(getattr(model, "classes_", [0, 1]))
    hits = [c for c in classes if str(c) == label.strip()]
    if len(hits) != 1:
        raise InputError(f"--target-class {label!r} is not one of the classifier's classes "
                         f"({', '.join(map(str, classes))}).")
    return dict(parts, options=dataclasses.replace(parts["options"], target_class=hits[0]))


def build_problem(args: argparse.Namespace, individual: Any) -> "RecourseProblem":
    """Load SCM and classifier and validate everything before any solving."""
    from milp_recourse.models.classifiers import validate_for_scm
    from milp_recourse.problem.recourse_problem import RecourseProblem

    scm = load_scm_checked(args.scm)
    parts = problem_parts(args, scm)
    model = load_model_checked(args.classifier, scm)
    validate_for_scm(model, scm.names)   # an unsupported model first (else a threshold refusal would speak of it)
    parts = with_target_class(parts, model, args.target_class)
    check_constraints(scm, parts["actionability"], model, args.threshold)
    return RecourseProblem(scm, model, individual, **parts, plausibility=plausibility_from_args(args, scm))
