"""Rules that shape a person's problem and answer around the search: the score margin lifted where a tree's score
can sit exactly on the threshold, library trees' changes pulled back onto their split edges, and no-op holds and
free changes dropped from answers (solve, solve_many and the box search alike)."""

from __future__ import annotations

import dataclasses
import math

from milp_recourse.errors import RecourseError
from milp_recourse.models.adapter import split_model
from milp_recourse.models.classifiers import strict_at_threshold, target_index
from milp_recourse.models.registry import score_kind
from milp_recourse.models.trees import to_tree_ensemble
from milp_recourse.problem.logic import links
from milp_recourse.problem.options import DEFAULT_MARGIN
from milp_recourse.problem.recourse_problem import RecourseProblem
from milp_recourse.solver import strategy as st
from milp_recourse.solver.verify import Verification, verify_action, verify_many

EDGE_WINDOW = 1e-4   # relative (x max(1, |theta|, the feature's domain width)): the pull's reach, 100x the
#                      library band (1e-6 x max(1, |t|)) in the tree's inputs, which a scaler stretches by at most
#                      the domain width (MinMaxScaler) in the feature's units
EDGE_STEPS = 32      # candidates per round (one batched re-check)
EDGE_MAX_ROUNDS = 12  # rounds: each divides the step by 33, to the last accepted float beside a refused one
NUDGES = (1e-12, 1e-9, 1e-6)   # relative outward moves tried on an answer the re-check refuses (nudged_outward)
TINY_MOVES = (1e-9, 1e-8, 1e-7, 1e-6)   # relative moves of an unchanged feature tried then (tiny_moves)
GRID_NEAREST = 8   # grid values tried per unchanged grid feature then (tiny_moves)
EDGE_PROBES = (1e-12, 1e-11, 1e-10, 1e-9, 1e-8, 3e-8, 1e-7, 1e-6)   # relative moves toward the person (edge_beyond)


def at_the_threshold(problem: RecourseProblem) -> RecourseProblem:
    """The problem without the default score margin where the score can sit exactly on the threshold and still be
    favourable: a scikit-learn tree / forest (its probability is a leaf's class share, e.g. 3 / 4) under the rule
    P >= threshold (any threshold but the tie at 0.5, which predict settles for the first class). The margin
    guards the round-off of continuous scores; here it cut off every leaf at the threshold (an outside fuzz: a
    leaf with P = 0.75 at threshold 0.75 certified NO_RECOURSE, and cheaper actions missed). Otherwise `problem`
    itself. An answer the re-check refuses (a forest's float average an ulp under the threshold) is solved again
    with the margin (solve; solve_many alike)."""
    opts = problem.options
    if opts.margin != DEFAULT_MARGIN or not st.tree_scored(problem):
        return problem
    try:
        kind = score_kind(problem.classifier)
        strict = strict_at_threshold(problem.classifier, opts.threshold, opts.target_class)
    except RecourseError:
        return problem
    if kind != "probability" or strict:
        return problem
    return dataclasses.replace(problem, options=dataclasses.replace(opts, margin=0.0))


def time_left(problem: RecourseProblem, spent: float) -> RecourseProblem:
    """problem with its time limit less `spent` seconds (at least 1 % of it: the second try still gets a go)."""
    opts = problem.options
    left = max(opts.time_limit - spent, 0.01 * opts.time_limit)
    return dataclasses.replace(problem, options=dataclasses.replace(opts, time_limit=left))


def without_no_op_holds(problem: RecourseProblem, action: dict[str, float]) -> dict[str, float]:
    """The action less its no-op interventions: do(x_k := x_k) on a feature none of whose parents moves (a parent
    moves when it is set to a new value or follows one that moved; a linkage's source counts as its target's
    parent). Zero-cost searches may return such holds (a categorical root kept at its level, a node held while
    nothing above it changes); they change nothing but would count as changes and, in `solve_options`, make a
    padded copy of an earlier option look like a new set of features."""
    scm, x = problem.scm, problem.factual
    sources: dict[str, list[str]] = {}
    for link in links(problem.logic):
        sources.setdefault(link.target, []).append(link.source)
    moved: set[str] = set()
    keep: dict[str, float] = {}
    for name in scm.names:   # topological order
        parents_move = any(p in moved for p in (*scm.parents(name), *sources.get(name, ())))
        if name in action:
            if float(action[name]) != float(x[name]) or parents_move:
                keep[name] = action[name]
            if float(action[name]) != float(x[name]):
                moved.add(name)
        elif parents_move:
            moved.add(name)
    return {k: v for k, v in action.items() if k in keep}


def without_free_changes(problem: RecourseProblem, action: dict[str, float]) -> dict[str, float]:
    """The action less the changes that cost nothing to drop: under a max cost (no L0 term) a change below the
    largest one is free, so the solver may leave one the person does not need (an outside fuzz: option 1 =
    {x1, x2} and option 2 = {x1} alone at the same cost); so is a percentile shift inside a flat tail of the CDF.
    Each change whose removal keeps the cost (to 1e-12
    relative) is dropped when the rest still passes the re-check; a cost-bearing change is never touched."""
    if len(action) < 2:
        return action
    cost, parts = problem.action_cost(action)
    tol = 1e-12 * max(1.0, abs(cost))
    keep = dict(action)
    for name in sorted(action, key=lambda k: (parts.get(k, 0.0), k)):
        trial = {k: v for k, v in keep.items() if k != name}
        # the same cost without it (cheaper: not free, and the answer is the solver's to judge), and still valid
        if trial and abs(problem.action_cost(trial)[0] - cost) <= tol and verify_action(problem, trial).ok:
            keep = trial
    return keep


def tree_band(problem: RecourseProblem) -> str | None:
    """How the MILP's regions stand off a tree ensemble's splits (encode/tree_ensembles.py): 'library' (XGBoost,
    LightGBM, HistGB: a relative gap), 'float32' (scikit-learn: the float32 band), None (no tree ensemble)."""
    if not st.tree_scored(problem):
        return None
    try:
        _, final, _ = split_model(problem.classifier, len(problem.features))
        ens = to_tree_ensemble(final, target_index(final, problem.options.target_class))
    except RecourseError:
        return None
    return "library" if ens.gap > 0.0 else ("float32" if ens.float32 else None)


def library_banded(problem: RecourseProblem) -> bool:
    """Whether the classifier is a library tree ensemble (XGBoost, LightGBM, HistGB) whose MILP regions keep a
    band from each split (encode/tree_ensembles.py)."""
    return tree_band(problem) == "library"


def edge_beyond(problem: RecourseProblem, action: dict[str, float]) -> bool:
    """Whether some continuous change moved toward the person's value by EDGE_PROBES (relative) still passes the
    re-check. scikit-learn sends x left iff float32(x) <= t, so x up to half a float32 ulp above the float32 t32
    goes left; the MILP's left region ends at t32 (its regions keep the float32 band apart, for HiGHS's sake), and an
    optimum on the edge came back up to half an ulp short: at a split on 51 212.125 a person 1.0 above the edge got
    do(x := 51212.125), 0.2 % dearer (3x at 0.001), reported OPTIMAL. Then the pull (onto_split_edges) runs."""
    rules = {r.name: r for r in problem.rules}
    x = problem.factual
    trials = []
    for name in sorted(action):
        rule = rules.get(name)
        theta, home = float(action[name]), float(x[name])
        if rule is None or rule.integer or rule.grid is not None or theta == home:
            continue
        for eps in EDGE_PROBES:
            step = min(eps * max(1.0, abs(theta)), abs(theta - home) / 2.0)
            trials.append({**action, name: theta + math.copysign(step, home - theta)})
    return bool(trials) and any(v.ok for v in verify_many([problem] * len(trials), trials))


def scm_banded(problem: RecourseProblem) -> bool:
    """Whether an SCM equation holds a comparison, whose MILP indicator keeps a 1e-6 band on one side of its edge
    (encode/primitives.indicator): an optimum on the open side of `v > c` came back at c + 1e-6, reported OPTIMAL
    with a bound 1e-6 above the infimum (an outside fuzz: 10 % dearer at a cost of 1e-5)."""
    return bool(problem.scm.has_comparisons)   # (found once, when the SCM is built)


def onto_split_edges(problem: RecourseProblem, action: dict[str, float]) -> tuple[dict[str, float], float]:
    """The action with each continuous change pulled toward the person's own value as far as the re-check still
    accepts, within EDGE_WINDOW, and the cost that saved (0: the action as it was). A library ensemble's MILP
    regions stop 1e-6 * max(1, |t|) short of each split, so an optimum on a split's edge came back that band past
    it: an outside fuzz, one LightGBM split `x <= t` and a person 1e-5 above it, got do(x := t - 1e-6), 10 %
    dearer than do(x := t), reported OPTIMAL at gap 0. Each round tries EDGE_STEPS points from the accepted value
    toward the person's and keeps the last one accepted before the first refused; the next rounds search between
    those two until they are adjacent floats, so the answer does not depend on where the pull started (solve_many's
    warm-started relaxation gave a start 7 floats off solve's, and the answers differed by as much). The same pull
    serves an SCM with comparisons (scm_banded). Otherwise: the action as it is."""
    band = tree_band(problem) if action else None
    if not action or not (band == "library" or scm_banded(problem)
                          or (band == "float32" and edge_beyond(problem, action))):
        return action, 0.0
    rules = {r.name: r for r in problem.rules}
    x = problem.factual
    best = dict(action)
    for name in sorted(action):
        rule = rules.get(name)
        if rule is None or rule.integer or rule.grid is not None or float(action[name]) == float(x[name]):
            continue
        theta, home = float(best[name]), float(x[name])
        var = problem.scm.variable(name)
        width = float(var.upper - var.lower) if math.isfinite(var.upper - var.lower) else 0.0
        reach = min(abs(theta - home), EDGE_WINDOW * max(1.0, abs(theta), width))
        step, toward = reach / EDGE_STEPS, (1.0 if home > theta else -1.0)
        refused: float | None = None   # the nearest value past the edge found so far
        for rnd in range(EDGE_MAX_ROUNDS):
            if refused is None:
                trials = [theta + toward * step * k for k in range(1, EDGE_STEPS + 1)]
                if rnd == 0 and reach == abs(theta - home):
                    trials[-1] = home   # (exactly: no-op holds are judged by equality)
            else:   # on between the last accepted and the first refused value, to adjacent floats
                ahead = (theta + (refused - theta) * k / (EDGE_STEPS + 1) for k in range(1, EDGE_STEPS + 1))
                trials = sorted({t for t in ahead if t != theta and t != refused}, reverse=toward < 0)
                if not trials:
                    break
            checks = verify_many([problem] * len(trials), [{**best, name: t} for t in trials])
            accepted = 0
            while accepted < len(checks) and checks[accepted].ok:
                accepted += 1
            if accepted:
                theta = trials[accepted - 1]
                best[name] = theta
            if accepted < len(checks):
                refused = trials[accepted]
            elif refused is None:   # the whole window passes: no edge within reach
                break
    if best == action:
        return action, 0.0
    saved = problem.action_cost(action)[0] - problem.action_cost(best)[0]
    return (best, saved) if saved > 0.0 else (action, 0.0)


def nudged_outward(problem: RecourseProblem, action: dict[str, float]) -> tuple[dict[str, float], Verification] | None:
    """The cheapest accepted action among `action` with its continuous changes moved away from the person's values
    by NUDGES (relative to each change; at least one float), all together or one at a time, inside the feature's
    rules; None if none is accepted. A strict comparison of the SCM, `v > c`, is encoded `v <= c` on its false side,
    so the MILP's optimum on that edge came back a few floats past it (x + shift rounds): an outside fuzz got
    do(v0 := 0.2000000000000003), where (v0 > 0.2) turns on and the score fails, VERIFICATION_FAILED where
    do(v0 := 0.2) is the optimum. The dearer move costs at most a 1e-6 relative share of each change."""
    rules = {r.name: r for r in problem.rules}
    x = problem.factual
    movable = [n for n in sorted(action) if n in rules and not rules[n].integer and rules[n].grid is None
               and float(action[n]) != float(x[n])]
    if not movable:
        return None

    def moved(names: list[str], eps: float) -> dict[str, float]:
        out = dict(action)
        for n in names:
            theta, shift = float(action[n]), float(action[n]) - float(x[n])
            t = theta + shift * eps
            if t == theta:
                t = math.nextafter(theta, math.copysign(math.inf, shift))
            out[n] = min(max(t, rules[n].lower), rules[n].upper)
        return out

    groups = [movable] + ([[n] for n in movable] if len(movable) > 1 else [])
    # (the cheapest is pulled back onto the edge the nudge stepped over: an outside fuzz, solve_many's start 3 floats
    # past '-1.3' came back 1.2e-13 inside, solve's on it)
    return _cheapest_on_edge(problem, [t for t in (moved(g, eps) for eps in NUDGES for g in groups) if t != action])


def _cheapest_on_edge(problem: RecourseProblem, trials: list[dict[str, float]]
                      ) -> tuple[dict[str, float], Verification] | None:
    """The cheapest trial the re-check accepts (one batched check), pulled onto its edge (onto_split_edges) when
    that saves cost and still passes; None if none is accepted."""
    if not trials:
        return None
    checks = verify_many([problem] * len(trials), trials)
    accepted = [(ver.cost, k) for k, ver in enumerate(checks) if ver.ok]
    if not accepted:
        return None
    k = min(accepted)[1]
    pulled, saved = onto_split_edges(problem, trials[k])
    if saved > 0.0:
        again = verify_action(problem, pulled)
        if again.ok:
            return pulled, again
    return trials[k], checks[k]


def tiny_moves(problem: RecourseProblem, action: dict[str, float]) -> tuple[dict[str, float], Verification] | None:
    """The cheapest accepted action among `action` plus one tiny change of a continuous actionable feature it leaves
    alone (TINY_MOVES relative to the person's value, either way), pulled onto its edge (onto_split_edges); None if
    none is accepted. The MILP meets its rows to a 1e-7 tolerance, so for a person within that of a closed edge
    (approve iff v0 <= 3.3, v0 = 3.3 + 3.3e-10) it kept the factual value on the edge's good side: an outside fuzz
    got the empty action, VERIFICATION_FAILED, where do(v0 := 3.3) costs 3.3e-10."""
    x = problem.factual
    free = [r for r in problem.rules if r.name not in action and not r.integer and r.lower < r.upper]
    trials = []
    for rule in free:
        home = float(x[rule.name])
        if rule.grid is not None:   # a grid feature: its values nearest the person's (a split's float32 band)
            near = sorted((abs(float(v) - home), float(v)) for v in rule.grid if float(v) != home)[:GRID_NEAREST]
            trials += [{**action, rule.name: v} for _, v in near]
            continue
        for eps in TINY_MOVES:
            for way in (-1.0, 1.0):
                t = home + way * eps * max(1.0, abs(home))
                if rule.lower <= t <= rule.upper:
                    trials.append({**action, rule.name: t})
    return _cheapest_on_edge(problem, trials)


__all__ = ["at_the_threshold", "time_left", "without_free_changes", "without_no_op_holds", "onto_split_edges",
           "library_banded", "tree_band", "edge_beyond", "nudged_outward", "tiny_moves"]
