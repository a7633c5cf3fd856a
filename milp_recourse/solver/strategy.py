"""The strategy: which search engines run for one person, in which order, and why each other one does not.

Every rule that picks an engine lives here (the engines only run). The pipeline asks twice: `plan_search`
(incumbent, polish, box search, tighten) after the plain compile, or `box_plan` before any compile where the box
search applies (tighten is then decided by `tighten_reason` if the box search does not settle the person), and
`choose_search` once the incumbent is known (budget schedule, small branch and bound, MILP or outer
approximation). The reasons go into the result's `path_reasons`; the engines that ran, with their counters, into
its `path`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping

from milp_recourse.bounds.relu_bounds import relu_layers
from milp_recourse.encode.compile import CompiledInstance
from milp_recourse.errors import RecourseError
from milp_recourse.mip.scaling import coefficient_span, integer_big_m_span
from milp_recourse.models.adapter import split_model
from milp_recourse.models.trees import is_tree_model
from milp_recourse.problem.recourse_problem import RecourseProblem
from milp_recourse.scm.plan import _has_changing_indicator
from milp_recourse.solver.tighten import is_network_target

# engines, in the order they can run
INCUMBENT, POLISH, BOX_SEARCH, TIGHTEN = "incumbent", "polish", "box-search", "tighten"
BUDGET, SMALL_BNB, MILP, OUTER_APPROX = "budget-schedule", "small-bnb", "milp", "outer-approximation"
ENGINES = (INCUMBENT, POLISH, BOX_SEARCH, TIGHTEN, BUDGET, SMALL_BNB, MILP, OUTER_APPROX)

SMALL_MODEL_INTEGERS = 16        # at most this many integer columns: no heuristic, the small B&B first
SMALL_BNB_SPAN = 1e6             # the small B&B's unscaled LPs only on models whose coefficients span at most this
CHEAP_HEURISTIC_SAMPLES = 256    # tree ensembles: a small random search (every classifier call is expensive)
BOX_SEARCH_SAMPLES = 1024        # before the box search, which improves the incumbent itself
BUDGET_MIN_INTEGERS = 64         # smaller models are searched directly, not by the budget schedule
MAX_PATTERNS = 64                # intervention patterns the box search may enumerate (2^6)
LINEAR_SCM = "linear-scm-exact"  # before everything: linear SCM + linear score + p = 1 (solver/linear_scm_exact.py)
LINEAR_SCM_SHARE = 0.3           # of the time limit; unsettled people then take the MILP pipeline as before
HEURISTIC_SHARE = 0.25           # of the time limit: the random search's deadline (from the person's start)
POLISH_SHARE = 0.5               # of the time limit: the SLSQP polish's deadline (it keeps the incumbent past it)


@dataclass(frozen=True)
class Plan:
    """The engines planned before the search (in order), the incumbent's sample count, and why the others
    are not taken."""

    engines: tuple[str, ...]
    samples: int
    reasons: Mapping[str, str] = field(default_factory=dict)

    def runs(self, engine: str) -> bool:
        return engine in self.engines


def pattern_parts(problem: RecourseProblem, rules: list, changing: frozenset[str]
                  ) -> tuple[list[str], list[str], int]:
    """Features in every intervention pattern, features a pattern may leave out, and the most a pattern holds.

    A feature none of whose parents can change gets the same counterfactual from do(X := x) as from no
    intervention, so without an L0 cost, a change limit or excluded sets it is always in the pattern (theta may
    stay at x) — unless the person's bounds exclude x itself: then leaving it alone is a choice of its own."""
    scm = problem.scm
    m = problem.actionability.max_changes
    limit = len(rules) if m is None else min(int(m), len(rules))
    free_ok = problem.cost.l0 == 0 and limit == len(rules) and not problem.actionability.excluded_sets
    always = [r.name for r in rules if free_ok and not (set(scm.parents(r.name)) & changing)
              and r.lower <= problem.x[scm.index(r.name)] <= r.upper]
    return always, [r.name for r in rules if r.name not in always], limit


def linear_scm_reason(problem: RecourseProblem) -> str | None:
    """Why the linear-SCM search does not run first (None: it may; it checks linearity itself and hands anything
    it does not prove to the MILP pipeline). Small pattern counts keep their MILP (same answers as before)."""
    from milp_recourse.solver.linear_scm_exact import ineligible   # (it imports this module's ENGINES)
    return ineligible(problem)


def box_search_reason(problem: RecourseProblem) -> str | None:
    """Why the box search over actions does not apply to this problem (None: it does)."""
    if not problem.options.box_search:
        return "disabled (box_search=False)"
    if problem.plausibility is not None:
        return f"a plausibility constraint is set ({problem.plausibility.kind}): the boxes do not bound it"
    if getattr(problem, "logic", ()):
        return "logic constraints are set (IF-THEN rules / linkages): the boxes do not bound them"
    if problem.cost.kind != "power" or problem.cost.aggregate != "sum":
        return (f"the cost is not a sum of |d|^p (kind {problem.cost.kind!r}, aggregate "
                f"{problem.cost.aggregate!r}): the boxes bound p = 1 / 2 sums only")
    if any(problem.cost.scale * r.weight / r.divisor <= 0 for r in problem.rules if not r.blocked):
        return "a feature's cost weight is zero"
    if relu_layers(problem.classifier, problem.options.target_class) is None:
        return "the classifier is not a ReLU network"
    rules = [r for r in problem.rules if not r.blocked]
    if not rules:
        return "no feature can change"
    if any(r.integer or r.grid is not None for r in rules):
        return "a feature is integer or on a grid"
    if problem.preferences.preferred_ranges and problem.preferences.range_penalty > 0:
        return "preferred ranges are penalised"
    scm = problem.scm
    names = [r.name for r in rules]
    changing = frozenset(names) | scm.descendants(names)
    if any(_has_changing_indicator(scm.equations[n], changing) for n in changing if n not in names):
        return "an equation jumps (indicator) in a changing variable"
    always, optional, limit = pattern_parts(problem, rules, changing)
    count = sum(math.comb(len(optional), k) for k in range(len(optional) + 1) if 0 < len(always) + k <= limit)
    if count > MAX_PATTERNS:
        return f"too many intervention patterns ({count} > {MAX_PATTERNS})"
    return None


def polish_reason(problem: RecourseProblem) -> str | None:
    """Why the SLSQP polish of the incumbent cannot move anything (None: it can): it needs a p = 2 cost, no
    binding change limit, a continuous free feature and a score that is not piecewise constant."""
    rules = [r for r in problem.rules if not r.blocked]
    m = problem.actionability.max_changes
    if problem.cost.kind != "power":
        return f"the cost is the {problem.cost.kind} shift, not squared (SLSQP polishes p = 2 sums only)"
    if problem.cost.p != 2:
        return "the cost is not squared (p = 1)"
    if problem.plausibility is not None:
        return f"a plausibility constraint is set ({problem.plausibility.kind}): SLSQP does not keep it"
    if getattr(problem, "logic", ()):
        return "logic constraints are set (IF-THEN rules / linkages): SLSQP does not keep them"
    if m is not None and m < len(rules):
        return "a change limit binds (max_changes)"
    if not any(r.grid is None and not r.integer for r in rules):
        return "no continuous feature can change"
    if tree_scored(problem):
        # its central differences are 0 off the splits: on Loan p = 2 it improved 2 of 45 tree / forest / GBT
        # incumbents, for a median 0.03-0.16 s a person, and 3 496 classifier calls (12 s) on one HGB person
        return "the score is a tree ensemble's, piecewise constant: SLSQP has no gradient to follow"
    return None


def tree_scored(problem: RecourseProblem) -> bool:
    """Whether the classifier's final estimator is a tree ensemble (behind any preprocessing)."""
    try:
        _, final, _ = split_model(problem.classifier, len(problem.features))
    except RecourseError:
        return False
    return is_tree_model(final)


def incumbent_samples(compiled: CompiledInstance, requested: int) -> int:
    """How many random actions to try for an upper bound: none for tiny models (solved directly) unless a big-M
    value on a binary exceeds SMALL_BNB_SPAN in its row's units (domains x 1e6, mip/scaling.integer_big_m_span:
    the incumbent's cost radius and LP tightening then bound it; equilibration cannot, as it sits on a binary;
    with an l0 cost and a domain of +-1.6e7 the MILP's binary at 2e-8 switched a change on at no fixed cost);
    the full budget where big-M bounds (ReLU networks, SCM disjunctions) or the p = 2 outer approximation depend
    on it;
    a small one elsewhere (tree ensembles: the box shrink still cuts splits, but every classifier call is
    expensive)."""
    if compiled.model.n_integer <= SMALL_MODEL_INTEGERS and integer_big_m_span(compiled.model) <= SMALL_BNB_SPAN:
        return 0
    if compiled.quadratic or compiled.tighten_targets:
        return requested
    return min(requested, CHEAP_HEURISTIC_SAMPLES)


def box_plan(problem: RecourseProblem) -> Plan | None:
    """The plan of a person the box search applies to: incumbent -> (polish) -> box search, none of which needs the
    MILP model, so it is compiled only if the box search cannot settle the person (None: the box search does not
    apply, or the incumbent is disabled; plan_search then plans from the compile)."""
    requested = problem.options.heuristic_samples
    if requested <= 0 or box_search_reason(problem) is not None:
        return None
    polish = polish_reason(problem)
    engines = (INCUMBENT, BOX_SEARCH) if polish is not None else (INCUMBENT, POLISH, BOX_SEARCH)
    return Plan(engines, min(requested, BOX_SEARCH_SAMPLES), {POLISH: polish} if polish is not None else {})


def tighten_reason(problem: RecourseProblem, compiled: CompiledInstance) -> str | None:
    """Why LP bound tightening does not run once an incumbent is known (None: it does)."""
    if compiled.approx_error > 0.0:
        return "the SCM is piecewise-linear here: its model is searched on its own"
    if problem.options.tighten_passes == 0:
        return "disabled (tighten_passes=0)"
    if not compiled.tighten_targets:
        return "no big-M sources to tighten (no ReLU network or SCM disjunction)"
    return None


def plan_search(problem: RecourseProblem, compiled: CompiledInstance) -> Plan:
    """The engines before the final search, from the person's plain compile, for a person box_plan does not take
    (the pipeline asks box_plan first: where it applies, no compile is needed to plan)."""
    opts = problem.options
    reasons: dict[str, str] = {}
    samples = incumbent_samples(compiled, opts.heuristic_samples)
    engines: list[str] = []
    if samples and compiled.approx_error == 0.0:
        engines.append(INCUMBENT)
    elif opts.heuristic_samples == 0:
        reasons[INCUMBENT] = "disabled (heuristic_samples=0)"
    elif not samples:
        reasons[INCUMBENT] = (f"a small model ({compiled.model.n_integer} <= {SMALL_MODEL_INTEGERS} integer "
                              "columns) is searched directly")
    else:
        reasons[INCUMBENT] = "the SCM is piecewise-linear here: its model is searched on its own"
    box = box_search_reason(problem)
    for engine, why in ((POLISH, polish_reason(problem)), (BOX_SEARCH, box)):
        if INCUMBENT not in engines:
            reasons[engine] = "no incumbent is sought"
        elif why is not None:
            reasons[engine] = why
        else:
            engines.append(engine)
    tighten = tighten_reason(problem, compiled)
    if INCUMBENT not in engines:
        reasons[TIGHTEN] = "no incumbent is sought (bounds come from the domains)"
    elif tighten is not None:
        reasons[TIGHTEN] = tighten
    else:
        engines.append(TIGHTEN)
    return Plan(tuple(engines), samples, reasons)


def budget_reason(compiled: CompiledInstance) -> str | None:
    """Why the cost-budget schedule is not taken (None: it is). It is for big models of a classifier without
    ReLU big-M sources (networks take the tightened path: a stage compiled without its LP-tightened bounds would
    be loose) and of an exact SCM (with a piecewise-linear one an infeasible stage would not be a proof)."""
    if any(is_network_target(name) for name in compiled.tighten_targets):
        return "a ReLU network's model takes the tightened path"
    if compiled.approx_error > 0.0:
        return "the SCM is piecewise-linear here (an infeasible stage would prove nothing)"
    if compiled.model.n_integer <= BUDGET_MIN_INTEGERS:
        return f"a small model ({compiled.model.n_integer} <= {BUDGET_MIN_INTEGERS} integer columns)"
    return None


def small_bnb_reason(problem: RecourseProblem, compiled: CompiledInstance) -> str | None:
    """Why the branch and bound on a kept HiGHS relaxation does not take the model (None: it does)."""
    if problem.options.backend != "highs":
        return f"the backend is {problem.options.backend!r}, not 'highs'"
    if compiled.quadratic:
        return "the cost is squared (p = 2)"
    if compiled.density is not None:
        return "plausibility by log-density needs outer-approximation cuts"
    if compiled.model.n_integer > SMALL_MODEL_INTEGERS:
        return f"a big model ({compiled.model.n_integer} > {SMALL_MODEL_INTEGERS} integer columns)"
    span = coefficient_span(compiled.model.A.data)
    if span > SMALL_BNB_SPAN:
        # a feature in other units (x 9e5, span 5.6e13) or domains x 8.5e5 (span 2.2e8): its LPs met HiGHS's 1e-7
        # tolerances off the optimum, by 0.6 % to 15 % of the cost, and the B&B pruned the optimum (an outside
        # fuzz); HiGHS's MIP solver scales the model first. Shipped models span 2e2 .. 7e3
        return f"a badly scaled model (its coefficients span {span:.0e} > {SMALL_BNB_SPAN:.0e})"
    return None


def choose_search(problem: RecourseProblem, compiled: CompiledInstance, have_incumbent: bool
                  ) -> tuple[tuple[str, ...], dict[str, str]]:
    """The final search engines (in order; a later one runs when an earlier one cannot settle the model) and
    why the others are not taken, once the incumbent is known."""
    reasons: dict[str, str] = {}
    mip = OUTER_APPROX if compiled.quadratic else MILP
    reasons[MILP if compiled.quadratic else OUTER_APPROX] = (
        "the cost is squared (p = 2): outer approximation with QP polish" if compiled.quadratic
        else "the cost is linear (p = 1): one MILP" if problem.cost.kind == "power"
        else f"the cost is the {problem.cost.kind} shift (piecewise linear, exact with binaries): one MILP")
    budget = budget_reason(compiled) if have_incumbent else "no incumbent (its cost sets the budgets)"
    if budget is None:
        reasons[SMALL_BNB] = "the budget schedule searches this model"
        return (BUDGET, mip), reasons
    reasons[BUDGET] = budget
    small = small_bnb_reason(problem, compiled) if not have_incumbent else "an incumbent is known (cutoff search)"
    if small is None:
        return (SMALL_BNB, mip), reasons
    reasons[SMALL_BNB] = small
    return (mip,), reasons


__all__ = ["ENGINES", "Plan", "box_plan", "tighten_reason", "plan_search", "choose_search", "box_search_reason",
           "polish_reason", "tree_scored",
           "budget_reason", "small_bnb_reason", "incumbent_samples", "pattern_parts",
           "SMALL_MODEL_INTEGERS", "BUDGET_MIN_INTEGERS", "MAX_PATTERNS", "BOX_SEARCH_SAMPLES", "LINEAR_SCM",
           "LINEAR_SCM_SHARE", "HEURISTIC_SHARE", "POLISH_SHARE", "linear_scm_reason"]
