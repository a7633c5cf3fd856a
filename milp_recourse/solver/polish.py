"""Local improvement of a valid action for smooth (p = 2) costs: SLSQP on the true SCM and classifier.

Starting from every actionable feature intervened at its current counterfactual value (and again with
each subset of the person's mediators left to their structural equations), a local solver moves the
continuous intervention values to cut the cost while keeping the real classifier's score above the
threshold. The result is only an upper bound (re-checked here); on the Loan SCM with the CARMA network
it is within 1e-3 of the proven optimum for 80 % of people, which shrinks the MILP's box far more than
random search alone. The constraint's gradient is a central difference whose 2k evaluations go through
the SCM and the classifier in one batched call (scipy's default differences called them one point at a
time: ~70 % of the polish)."""

from __future__ import annotations

import itertools
import math
import time
from typing import Any, Generator

import numpy as np

from milp_recourse.problem.recourse_problem import RecourseProblem
from milp_recourse.scm import expr as ex
from milp_recourse.scm.simulate import person_constants
from milp_recourse.solver.incumbent import Incumbent, action_scores, valid_actions
from milp_recourse.solver.slsqp_steps import one_blas_thread, slsqp_steps
from milp_recourse.solver.strategy import polish_reason
from milp_recourse.solver.verify import constraint_violations

MAX_MEDIATOR_VARIANTS = 4  # intervention patterns tried: all intervened, and each subset of mediators left free


def polish(problem: RecourseProblem, inc: Incumbent, max_iter: int = 100, deadline: float = math.inf) -> Incumbent:
    """A cheaper valid action near `inc` (or `inc` itself when the local solver does not improve it).

    SLSQP moves continuous values with a fixed set of intervened features, so it cannot discover that leaving
    a mediator (an actionable feature that, for this person, an action moves: savings through income) to its
    structural equation is cheaper: the patterns with each subset of mediators un-intervened are polished too
    (at most MAX_MEDIATOR_VARIANTS), and the cheapest valid result wins. Hard constraints bind intervened
    values only, so leaving a feature un-intervened never breaks one. Patterns still running at `deadline`
    (perf_counter) are dropped: a heuristic must not spend the time limit.
    """
    if polish_reason(problem) is not None:
        return inc
    with one_blas_thread():   # (slsqp_steps.py: SLSQP's rounding depends on the BLAS thread count)
        return pick_best(problem, inc, [drive(problem, steps, deadline)
                                        for steps in polish_steps(problem, inc, max_iter)])


def polish_steps(problem: RecourseProblem, inc: Incumbent, max_iter: int = 100) -> list[Generator]:
    """One evaluation-request generator per intervention pattern polish() tries (see _pattern_steps); a caller
    that answers many people's requests in one batch (polish_batch.py) gets the same results as drive()."""
    variants = [frozenset()]
    mediators = _mediators(problem)
    for size in range(1, len(mediators) + 1):
        variants += [frozenset(c) for c in itertools.combinations(mediators, size)]
    return [_pattern_steps(problem, inc, left_free, max_iter) for left_free in variants[:MAX_MEDIATOR_VARIANTS]]


def pick_best(problem: RecourseProblem, inc: Incumbent, candidates: list[Incumbent | None]) -> Incumbent:
    """The cheapest candidate that beats `inc` and breaks no hard constraint (in polish_steps' order), else `inc`
    (None: a pattern stopped by its deadline). A pattern holds a grid / integer feature at its counterfactual
    value, which may be off the grid: such a candidate, passed on as the MILP's cutoff, would hide every valid
    action behind it."""
    best = inc
    for cand in candidates:
        if cand is not None and cand.cost < best.cost and not constraint_violations(problem, cand.action):
            best = cand
    return best


def drive(problem: RecourseProblem, steps: Generator, deadline: float = math.inf) -> Incumbent | None:
    """Run one pattern's generator, answering its requests one at a time; an evaluation's ValueError /
    FloatingPointError is raised inside the generator where it asked (as inside scipy's minimize before).
    None (the generator closed) when `deadline` (perf_counter) passes before it ends."""
    names = [r.name for r in problem.rules if not r.blocked]
    reply, error = None, None
    while True:
        if time.perf_counter() > deadline:
            steps.close()
            return None
        try:
            request = steps.throw(error) if error is not None else steps.send(reply)
        except StopIteration as stop:
            return stop.value
        error = None
        try:
            reply = answer(problem, names, request)
        except (ValueError, FloatingPointError) as exc:
            error = exc


def answer(problem: RecourseProblem, names: list[str], request: tuple) -> Any:
    """One request of a polish generator: ("scores", mask, theta) -> action_scores, ("valid", ...) ->
    valid_actions, ("run", fn, None) -> fn(synchronous evaluator) (slsqp_steps' fallback)."""
    kind, mask, theta = request
    if kind == "scores":
        return action_scores(problem, names, mask, theta)
    if kind == "valid":
        return valid_actions(problem, names, mask, theta)
    return mask(lambda inner: answer(problem, names, inner))


def _mediators(problem: RecourseProblem) -> list[str]:
    """Actionable features whose structural equation, with this person's unchanging parents and noise fixed,
    still depends on something an action can move (Loan: income through G * E only when G = 1)."""
    scm = problem.scm
    names = [r.name for r in problem.rules if not r.blocked]
    moving = scm.descendants(names) | set(names)
    fixed = person_constants(problem, moving)
    return [n for n in names if ex.names(ex.substitute(scm.equations[n], fixed)) & moving]


def _pattern_steps(problem: RecourseProblem, inc: Incumbent, left_free: frozenset[str],
                   max_iter: int) -> Generator:
    """polish() with every actionable feature intervened on except those in left_free, as a generator: it
    yields ("scores" | "valid", mask, theta) over the actionable features, receives action_scores' (score,
    threshold) or valid_actions' booleans, and returns the Incumbent."""
    rules = [r for r in problem.rules if not r.blocked]
    names = [r.name for r in rules]
    scm = problem.scm
    cf = scm.counterfactual(problem.x, dict(inc.action)) if inc.action else problem.x
    start = np.array([inc.action.get(n, float(cf[scm.index(n)])) for n in names])
    x = np.array([problem.factual[n] for n in names])
    on = np.array([n not in left_free for n in names])
    free = np.array([r.grid is None and not r.integer for r in rules]) & on
    if not free.any():
        return inc
    coef = np.array([problem.cost.scale * r.weight / r.divisor for r in rules])
    opts = problem.options
    thr = None
    bounds = [(r.lower, r.upper) for r, f in zip(rules, free) if f]
    lo_free, hi_free = np.array([b[0] for b in bounds]), np.array([b[1] for b in bounds])

    def theta(z: np.ndarray) -> np.ndarray:
        t = start.copy()
        t[free] = z
        return t

    def scores(Z: np.ndarray) -> Generator:
        """Score minus threshold for each row of free values: one SCM + classifier call for all rows."""
        nonlocal thr
        T = np.repeat(start[None], len(Z), axis=0)
        T[:, free] = Z
        s, threshold = yield ("scores", np.repeat(on[None], len(Z), axis=0), T)
        thr = threshold + 2 * opts.margin
        return s - thr

    def score(z: np.ndarray) -> Generator:
        return float((yield from scores(np.asarray(z, float)[None]))[0])

    def score_jac(z: np.ndarray) -> Generator:
        """Central differences (steps inside the bounds), all in one batched call instead of one per coordinate."""
        z = np.clip(np.asarray(z, float), lo_free, hi_free)  # SLSQP may step a hair outside the bounds
        h = np.full(z.shape, 6e-6) * np.maximum(1.0, np.abs(z))
        up, down = np.minimum(z + h, hi_free), np.maximum(z - h, lo_free)
        s = yield from scores(np.vstack([z + np.diag(up - z), z + np.diag(down - z)]))
        k = len(z)
        return ((s[:k] - s[k:]) / np.maximum(up - down, 1e-300))[None, :]

    try:
        z = yield from slsqp_steps(lambda z: float(np.sum(coef[free] * (z - x[free]) ** 2)),
                                   lambda z: 2 * coef[free] * (z - x[free]), start[free], bounds, score, score_jac,
                                   max_iter)
    except (ValueError, FloatingPointError):
        return inc
    z = np.clip(z, lo_free, hi_free)
    # SLSQP meets the constraint only to tolerance (often exactly on the boundary, a rounding error below it):
    # first a tiny step up the score's gradient (the network is piecewise linear), then back towards the start
    g = (yield from score_jac(z))[0]
    if np.dot(g, g) > 0:
        aim = 1e-9 * (1.0 + abs(thr or 0.0))
        lift = np.clip(z + (aim - (yield from score(z))) * g / np.dot(g, g), lo_free, hi_free)
    else:
        lift = z
    for cand in [lift] + [z + back * (start[free] - z) for back in (0.0, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 0.05, 0.2, 0.5)]:
        if (yield from score(cand)) >= 0:
            break
    else:
        return inc
    t = theta(cand)
    action = {}
    descendants = scm.descendants(names)
    for n, v, x0, o in zip(names, t, x, on):
        if o and (abs(v - x0) > 1e-12 or n in descendants):
            action[n] = float(v)
    # an intervention at the natural value of a feature with changing parents can often be dropped
    for n in list(action):
        trial = {k: v for k, v in action.items() if k != n}
        ok = yield ("valid", np.array([[k in trial for k in names]]), np.array([[trial.get(k, 0.0) for k in names]]))
        if ok[0]:
            cost_trial = problem.action_cost(trial)[0]
            if cost_trial <= problem.action_cost(action)[0]:
                action = trial
    cost = problem.action_cost(action)[0]
    return Incumbent(action, cost) if cost < inc.cost else inc
