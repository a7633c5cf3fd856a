"""A person's hard constraints as named groups, and a minimal set of them that rules out recourse.

Groups are what the person said: each feature they cannot change (spec-actionable but left out of their
actionable list), each lower / upper bound, each direction, the max-changes limit, each grid, each IF-THEN rule of
their own (`--constraint`; the spec's rules, and linkages, which say how the world moves, are background), plus the
favourable threshold itself. The SCM spec's own immutability, domains and directions are the universal
background, never a group; so is a plausibility constraint (problem/plausibility.py). Dropping groups only
enlarges the set of allowed actions (monotone), so a deletion filter yields a conflict that is minimal (an
irreducible infeasible subset): the conflict's groups alone leave no recourse, and dropping any one of them
from it makes recourse possible (each such test keeps the verified action that shows it). What to give up
in the full problem is relaxation.py's job.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from milp_recourse.backends import SolverParams, Termination, get_backend
from milp_recourse.models.classifiers import favourable
from milp_recourse.encode.compile import compile_problem
from milp_recourse.encode.plausibility import solve_with_density_cuts
from milp_recourse.errors import InputError
from milp_recourse.problem.logic import IfThen, links
from milp_recourse.problem.logic import counterfactual as logic_counterfactual
from milp_recourse.problem.options import Actionability
from milp_recourse.problem.recourse_problem import RecourseProblem
from milp_recourse.scm.simulate import counterfactuals
from milp_recourse.solver.verify import verify_action

THRESHOLD = "threshold"
DELETION_ORDER = ("lower", "upper", "grid", "max_changes", "rule", "direction", "fixed")  # tried first = dropped first


@dataclass(frozen=True)
class ConstraintGroup:
    """One hard constraint the person stated, with a key ('fixed:E', 'lower:L', ...) and a sentence."""

    key: str
    kind: str   # 'fixed' | 'lower' | 'upper' | 'direction' | 'max_changes' | 'grid' | 'rule' | 'threshold'
    feature: str | None
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "kind": self.kind, "feature": self.feature, "text": self.text}


def _grid_text(values: Iterable[float]) -> str:
    vals = sorted(set(float(v) for v in values))
    shown = ", ".join(f"{v:g}" for v in vals[:6]) + (", ..." if len(vals) > 6 else "")
    return f"{{{shown}}}"


def person_groups(problem: RecourseProblem, include_threshold: bool = True) -> tuple[ConstraintGroup, ...]:
    """The person's constraint groups (features immutable in the SCM spec carry none: they never matter)."""
    act = problem.actionability
    linked = {c.target for c in links(problem.logic)}   # moved by their linkage only, never by the person
    spec = [v.name for v in problem.scm.variables if v.actionability != "immutable" and v.name not in linked]
    out: list[ConstraintGroup] = []
    if act.actionable is not None:
        out += [ConstraintGroup(f"fixed:{n}", "fixed", n, f"you cannot change {n}")
                for n in spec if n not in act.actionable]
    for n in spec:
        lo, hi = act.bounds.get(n, (None, None))
        if lo is not None:
            out.append(ConstraintGroup(f"lower:{n}", "lower", n, f"{n} may not go below {float(lo):g}"))
        if hi is not None:
            out.append(ConstraintGroup(f"upper:{n}", "upper", n, f"{n} may not go above {float(hi):g}"))
        if n in act.directions:
            word = {"up": "increase", "down": "decrease"}[act.directions[n]]
            out.append(ConstraintGroup(f"direction:{n}", "direction", n, f"{n} may only {word}"))
        if n in act.grids:
            out.append(ConstraintGroup(f"grid:{n}", "grid", n, f"{n} must take one of {_grid_text(act.grids[n])}"))
    if act.max_changes is not None:
        k = act.max_changes
        out.append(ConstraintGroup("max_changes", "max_changes", None,
                                   f"at most {k} feature{'s' if k != 1 else ''} may change"))
    out += [ConstraintGroup(f"rule:{k}", "rule", None, f"your rule '{c}'") for k, c in own_rules(act).items()]
    if include_threshold:
        out.append(ConstraintGroup(THRESHOLD, THRESHOLD, None,
                                   f"the decision must be favourable (P >= {problem.options.threshold:g})"))
    return tuple(out)


def own_rules(act: Actionability) -> dict[int, IfThen]:
    """The person's own IF-THEN rules by their 1-based place among the person's constraints (`rule:K` groups)."""
    return {k: c for k, c in enumerate(act.logic, 1) if isinstance(c, IfThen)}


def _keys(groups: Iterable[ConstraintGroup | str]) -> set[str]:
    return {g.key if isinstance(g, ConstraintGroup) else str(g) for g in groups}


def relax(problem: RecourseProblem, dropped: Iterable[ConstraintGroup | str]) -> RecourseProblem:
    """The same person with the given groups given up (the threshold cannot be given up)."""
    drop = _keys(dropped)
    known = {g.key for g in person_groups(problem, include_threshold=False)}
    bad = sorted(drop - known)
    if bad:
        raise InputError(f"Cannot relax {', '.join(map(repr, bad))}: this person's relaxable constraint groups are "
                         f"{', '.join(sorted(known)) or '(none)'}.")
    act = problem.actionability
    actionable = act.actionable
    if actionable is not None:
        actionable = tuple(actionable) + tuple(k.split(":", 1)[1] for k in sorted(drop) if k.startswith("fixed:"))
    bounds = {}
    for n, (lo, hi) in act.bounds.items():
        lo = None if f"lower:{n}" in drop else lo
        hi = None if f"upper:{n}" in drop else hi
        if lo is not None or hi is not None:
            bounds[n] = (lo, hi)
    new = Actionability(actionable=actionable, bounds=bounds,
                        directions={n: d for n, d in act.directions.items() if f"direction:{n}" not in drop},
                        max_changes=None if "max_changes" in drop else act.max_changes,
                        grids={n: g for n, g in act.grids.items() if f"grid:{n}" not in drop},
                        logic=tuple(c for k, c in enumerate(act.logic, 1) if f"rule:{k}" not in drop))
    return dataclasses.replace(problem, actionability=new)


def universal(problem: RecourseProblem, own_rules_too: bool = False) -> RecourseProblem:
    """The same person under the SCM spec's universal actionability only: no personal constraint, but the spec's
    rules and the person's linkages (how the world moves); with `own_rules_too` the person's IF-THEN rules as well
    (the relaxation MILP is built on that model and gives the rules up by indicator)."""
    act = problem.actionability
    keep = act.logic if own_rules_too else tuple(c for c in act.logic if not isinstance(c, IfThen))
    return dataclasses.replace(problem, actionability=Actionability(logic=keep))


def violated_groups(problem: RecourseProblem, action: Mapping[str, float],
                    tol: float = 1e-6) -> tuple[ConstraintGroup, ...]:
    """The person's groups an action breaks (so the groups it would take to give up for that action)."""
    act, fx = problem.actionability, problem.factual
    out = []
    groups = person_groups(problem, include_threshold=False)
    broken: set[int] = set()   # the person's own IF-THEN rules the action's counterfactual breaks
    if any(g.kind == "rule" for g in groups):
        cf = logic_counterfactual(problem, action)
        broken = {k for k, c in own_rules(act).items() if not c.holds(
            problem.x[problem.scm.index(c.feature)], cf[problem.scm.index(c.feature)], cf[problem.scm.index(c.target)])}
    for g in groups:
        n = g.feature
        if g.kind == "rule":
            if int(g.key.split(":", 1)[1]) in broken:
                out.append(g)
            continue
        if g.kind == "max_changes":
            if len(action) > act.max_changes:
                out.append(g)
            continue
        if n not in action:
            continue
        theta = float(action[n])
        slack = tol * max(1.0, abs(theta))
        integer = problem.scm.variable(n).is_integral
        if g.kind == "fixed":
            out.append(g)
        elif g.kind == "lower":
            lo = float(act.bounds[n][0])
            if theta < (math.ceil(lo - 1e-9) if integer else lo) - slack:
                out.append(g)
        elif g.kind == "upper":
            hi = float(act.bounds[n][1])
            if theta > (math.floor(hi + 1e-9) if integer else hi) + slack:
                out.append(g)
        elif g.kind == "direction":
            up = act.directions[n] == "up"
            if (theta < fx[n] - slack) if up else (theta > fx[n] + slack):
                out.append(g)
        elif g.kind == "grid" and not any(abs(theta - float(v)) <= slack for v in act.grids[n]):
            out.append(g)
    return tuple(out)


def snap_to_grids(problem: RecourseProblem, action: Mapping[str, float], tol: float = 1e-6) -> dict[str, float]:
    """Values within solver tolerance of one of the feature's grid values are set to it exactly."""
    out = {}
    for n, theta in action.items():
        grid = problem.actionability.grids.get(n)
        if grid is not None:
            v = min(grid, key=lambda g: abs(g - theta))
            if abs(v - theta) <= tol * max(1.0, abs(theta)):
                theta = float(v)
        out[n] = float(theta)
    return out


@dataclass(frozen=True)
class Feasibility:
    """Whether some allowed action gets the favourable decision: True (with a verified action), False, None."""

    feasible: bool | None
    action: Mapping[str, float] | None
    how: str  # 'factual' | 'sampled' | 'milp' | 'milp-infeasible' | 'approximate' | 'limit' | 'unverified' | 'error'


def sampled_action(problem: RecourseProblem, n: int = 256) -> dict[str, float] | None:
    """A favourable action among n random allowed ones (one vectorised pass on the true SCM), or None."""
    m = problem.actionability.max_changes
    rules = [] if m == 0 else [r for r in problem.rules if not r.blocked]
    if not rules or n <= 0:
        return None
    rng = np.random.default_rng(problem.options.seed)
    K = len(rules)
    kmax = K if m is None else min(K, m)
    mask = np.zeros((n, K), bool)
    for i, size in enumerate(rng.integers(1, kmax + 1, size=n)):
        mask[i, rng.permutation(K)[:size]] = True
    theta = np.empty((n, K))
    for k, r in enumerate(rules):
        vals = rng.choice(np.asarray(r.grid), n) if r.grid is not None else rng.uniform(r.lower, r.upper, n)
        theta[:, k] = np.clip(np.round(vals), r.lower, r.upper) if r.integer and r.grid is None else vals
    names = [r.name for r in rules]
    X = counterfactuals(problem.scm, problem.x, names, mask, theta, noise=problem.noise)
    idx = [problem.scm.index(f) for f in problem.features]
    fav = np.flatnonzero(favourable(problem.classifier, X[:, idx], problem.options.threshold,
                                    problem.options.target_class))
    for i in fav[:8]:
        action = {names[k]: float(theta[i, k]) for k in range(K) if mask[i, k]}
        if verify_action(problem, action).ok:
            return action
    return None


def check_feasible(problem: RecourseProblem, time_limit: float | None = None) -> Feasibility:
    """Feasibility only (no cost): random allowed actions, then the exact MILP with a zero objective.

    Any action reported feasible has been verified on the true SCM and classifier.
    """
    from milp_recourse.solver.milp_search import decode

    opts = problem.options
    if verify_action(problem, {}).ok:
        return Feasibility(True, {}, "factual")
    found = sampled_action(problem)
    if found is not None:
        return Feasibility(True, found, "sampled")
    compiled = compile_problem(problem)
    m = compiled.model
    model = dataclasses.replace(m, c=np.zeros(m.n_cols), q_diag=None, offset=0.0)
    params = SolverParams(time_limit=opts.time_limit if time_limit is None else time_limit, threads=opts.threads)
    backend = get_backend(opts.backend)   # (plausibility by log-density: re-solved with its ball's cuts)
    sol = solve_with_density_cuts(lambda mod: backend.solve(mod, params), model, compiled.density)
    if sol.termination is Termination.INFEASIBLE:
        return Feasibility(False, None, "milp-infeasible") if compiled.approx_error == 0 else \
            Feasibility(None, None, "approximate")
    if sol.x is None:
        return Feasibility(None, None, "limit" if sol.termination is Termination.NO_SOLUTION else "error")
    action = snap_to_grids(problem, decode(compiled, problem, sol.x))
    ok = verify_action(problem, action).ok
    return Feasibility(True if ok else None, action if ok else None, "milp" if ok else "unverified")


@dataclass(frozen=True)
class Conflict:
    """A minimal set of the person's groups that together leave no recourse (threshold always included)."""

    groups: tuple[ConstraintGroup, ...]
    scope: str                         # 'universal': the spec alone blocks; 'individual': personal groups do
    proven_minimal: bool               # every test was decided (no limit hit, no approximation)
    witnesses: Mapping[str, Mapping[str, float]] = field(default_factory=dict)  # key -> action once it is dropped
    tests: int = 0
    seconds: float = 0.0
    message: str = ""

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(g.key for g in self.groups)

    def to_dict(self, shown: Callable[[Mapping[str, float]], Mapping[str, Any]] | None = None) -> dict[str, Any]:
        """JSON-ready; `shown` writes the witnesses' values (RecourseResult.raw: level names, as solve's JSON)."""
        show = shown if shown is not None else (lambda a: a)
        return {"scope": self.scope, "groups": [g.to_dict() for g in self.groups],
                "proven_minimal": self.proven_minimal, "message": self.message,
                "witnesses": {k: dict(show({n: float(v) for n, v in a.items()})) for k, a in self.witnesses.items()},
                "tests": self.tests, "seconds": float(self.seconds)}


def _threshold_group(problem: RecourseProblem) -> ConstraintGroup:
    return person_groups(problem)[-1]


def minimal_conflict(problem: RecourseProblem, time_limit: float | None = None) -> Conflict | None:
    """Deletion filter over the person's groups; None when recourse exists (nothing conflicts)."""
    t0 = time.perf_counter()
    thr = _threshold_group(problem)
    tests = 1
    uni = check_feasible(universal(problem), time_limit)
    if uni.feasible is False:
        msg = ("No recourse even under the SCM's universal actionability: none of your own constraints is to "
               "blame.")
        if problem.plausibility is not None:   # background, never a group; but say when it is what blocks
            free = check_feasible(dataclasses.replace(universal(problem), plausibility=None), time_limit)
            tests += 1
            if free.feasible:
                msg = (f"No recourse that keeps the counterfactual plausible ({problem.plausibility.kind}): even "
                       "under the SCM's universal actionability every favourable action leaves that region, and "
                       "without the plausibility constraint some action would work. None of your own constraints "
                       "is to blame.")
        return Conflict((thr,), "universal", True, {THRESHOLD: {}}, tests, time.perf_counter() - t0, msg)
    groups = person_groups(problem, include_threshold=False)
    tests += 1
    full = check_feasible(problem, time_limit)
    if full.feasible:
        return None
    active = sorted(groups, key=lambda g: DELETION_ORDER.index(g.kind))
    decided = uni.feasible is True and full.feasible is False
    witnesses: dict[str, Mapping[str, float]] = {THRESHOLD: {}}
    for g in list(active):
        trial = [h for h in active if h.key != g.key]
        res = check_feasible(relax(problem, _keys(groups) - _keys(trial)), time_limit)
        tests += 1
        if res.feasible is False:
            active = trial
        elif res.feasible:
            witnesses[g.key] = dict(res.action or {})
        else:
            decided = False
    order = {g.key: i for i, g in enumerate(groups)}
    kept = tuple(sorted(active, key=lambda g: order[g.key])) + (thr,)
    words = "; ".join(g.text for g in kept[:-1])
    needed = ("Each one is needed for that: without it (and with your other constraints set aside) some action "
              "would work." if decided else
              "Some of them may not be needed: a removal test was undecided (a limit, or a piecewise-linear SCM), "
              "so minimality is not proven.")
    msg = f"These of your constraints alone rule out recourse: {words}. {needed}" if len(kept) > 1 else "No recourse."
    return Conflict(kept, "individual", decided, witnesses, tests, time.perf_counter() - t0, msg)


__all__ = ["ConstraintGroup", "Conflict", "Feasibility", "person_groups", "own_rules", "relax", "universal",
           "violated_groups",
           "snap_to_grids", "check_feasible", "minimal_conflict", "THRESHOLD"]
