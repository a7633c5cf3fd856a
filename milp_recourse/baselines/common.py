"""Shared pieces of every baseline: the person's hard constraints as arrays, vectorised costs and
validity on the true SCM, and the one way a baseline's action becomes a RecourseResult.

Baselines never prove anything: a verified action is FEASIBLE (no optimality claim), no valid action
is UNKNOWN (never NO_RECOURSE), and an action the method claims valid but the true SCM denies is
VERIFICATION_FAILED. The re-check is always milp_recourse.solver.verify.verify_action.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from milp_recourse.models.classifiers import reference_score, score_threshold
from milp_recourse.errors import InputError
from milp_recourse.problem.data_costs import aggregate_costs
from milp_recourse.problem.recourse_problem import RecourseProblem
from milp_recourse.result import RecourseResult, Status
from milp_recourse.scm.simulate import counterfactuals
from milp_recourse.solver.verify import verify_action

CHUNK = 65536


@dataclass(frozen=True)
class PersonSpace:
    """The person's usable actionable features (blocked ones dropped) and their rules as arrays."""

    names: tuple[str, ...]
    x: np.ndarray            # factual values of these features
    lower: np.ndarray
    upper: np.ndarray
    integer: np.ndarray      # bool
    grids: tuple[np.ndarray | None, ...]
    weights: np.ndarray
    divisors: np.ndarray
    max_changes: int         # effective: min(K, the person's max_changes)

    @property
    def k(self) -> int:
        return len(self.names)


def person_space(problem: RecourseProblem) -> PersonSpace:
    """Arrays of the person's effective per-feature rules (domain, bounds, directions, grids, weights)."""
    rules = [r for r in problem.rules if not r.blocked]
    fx = problem.factual
    m = problem.actionability.max_changes
    k = len(rules)
    return PersonSpace(
        names=tuple(r.name for r in rules),
        x=np.array([fx[r.name] for r in rules], float),
        lower=np.array([r.lower for r in rules], float),
        upper=np.array([r.upper for r in rules], float),
        integer=np.array([r.integer for r in rules], bool),
        grids=tuple(None if r.grid is None else np.asarray(r.grid, float) for r in rules),
        weights=np.array([r.weight for r in rules], float),
        divisors=np.array([r.divisor for r in rules], float),
        max_changes=k if m is None else min(k, int(m)))


def project(space: PersonSpace, theta: np.ndarray, away: bool = False) -> np.ndarray:
    """Snap each column of theta (n, K) to the feature's allowed values: bounds, integers, grid.

    `away=True` rounds integers and grid values away from the factual value (a larger change),
    which keeps a continuous solution valid more often after snapping.
    """
    out = np.clip(np.array(theta, float, ndmin=2), space.lower, space.upper)
    for k in range(space.k):
        col, xk = out[:, k], space.x[k]
        grid = space.grids[k]
        if grid is not None:
            if away:
                up = np.searchsorted(grid, col - 1e-12, side="left").clip(0, len(grid) - 1)
                down = (np.searchsorted(grid, col + 1e-12, side="right") - 1).clip(0, len(grid) - 1)
                out[:, k] = np.where(col >= xk, grid[up], grid[down])
            else:
                out[:, k] = grid[np.abs(col[:, None] - grid[None, :]).argmin(axis=1)]
        elif space.integer[k]:
            snapped = np.where(col >= xk, np.ceil(col - 1e-9), np.floor(col + 1e-9)) if away else np.round(col)
            out[:, k] = np.clip(snapped, space.lower[k], space.upper[k])
    return out


def action_costs(problem: RecourseProblem, space: PersonSpace, mask: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """Cost of each row's action, the vectorised twin of RecourseProblem.action_cost."""
    c = problem.cost
    prefs = problem.preferences
    mask = np.asarray(mask, bool)
    parts = np.zeros(mask.shape, float)
    extra = np.full(mask.shape, float(c.l0))
    for k, name in enumerate(space.names):
        parts[:, k] = c.feature_costs(name, space.x[k], theta[:, k], space.weights[k], space.divisors[k])
        rng = prefs.preferred_ranges.get(name)
        if rng is not None:
            extra[:, k] += prefs.range_penalty * (np.maximum(0.0, rng[0] - theta[:, k])
                                                  + np.maximum(0.0, theta[:, k] - rng[1]))
    return aggregate_costs(c.aggregate, parts, extra, mask)


def target_score(problem: RecourseProblem) -> tuple[float, str]:
    """The score a baseline must reach to claim validity (threshold + margin, like the exact solver)."""
    from milp_recourse.models.registry import score_kind

    kind = score_kind(problem.classifier)
    return score_threshold(kind, problem.options.threshold) + problem.options.margin, kind


def scores(problem: RecourseProblem, X: np.ndarray) -> np.ndarray:
    """The classifier's own score of the target class on full SCM-ordered rows X."""
    idx = [problem.scm.index(f) for f in problem.features]
    return reference_score(problem.classifier, X[:, idx], problem.options.target_class)[0]


def valid_on_scm(problem: RecourseProblem, space: PersonSpace, mask: np.ndarray, theta: np.ndarray,
                 chunk: int = CHUNK) -> np.ndarray:
    """Whether each row's intervention reaches the target score on the true SCM (vectorised, chunked)."""
    need, _ = target_score(problem)
    out = np.zeros(mask.shape[0], bool)
    for s in range(0, mask.shape[0], chunk):
        X = counterfactuals(problem.scm, problem.x, space.names, mask[s:s + chunk], theta[s:s + chunk],
                            noise=problem.noise)
        out[s:s + chunk] = scores(problem, X) >= need
    return out


def subsets(k: int, max_changes: int, exact_size: int | None = None) -> np.ndarray:
    """Boolean rows of every non-empty subset of k features with at most max_changes members."""
    rows = []
    sizes = [exact_size] if exact_size is not None else range(1, max_changes + 1)
    for s in sizes:
        for combo in itertools.combinations(range(k), s):
            row = np.zeros(k, bool)
            row[list(combo)] = True
            rows.append(row)
    return np.array(rows, bool).reshape(-1, k)


def to_action(space: PersonSpace, mask_row: np.ndarray, theta_row: np.ndarray) -> dict[str, float]:
    return {space.names[k]: float(theta_row[k]) for k in range(space.k) if mask_row[k]}


def check_positive(value: float, what: str, integer: bool = False) -> None:
    """InputError unless value is a finite number > 0 (an integer when asked)."""
    ok = isinstance(value, (int, np.integer)) if integer else isinstance(value, (int, float, np.floating))
    if isinstance(value, bool) or not ok or not np.isfinite(value) or value <= 0:
        kind = "an integer" if integer else "a number"
        raise InputError(f"The baseline option {what!r} must be {kind} > 0. Got {value!r}.")


def already_favourable(problem: RecourseProblem, method: str, t0: float) -> RecourseResult | None:
    """The ALREADY_FAVOURABLE result when the factual decision is favourable, else None."""
    v0 = verify_action(problem, {})
    if not v0.favourable:
        return None
    return RecourseResult(Status.ALREADY_FAVOURABLE, 0.0, {}, v0.counterfactual, problem.factual, True, None, None,
                          0.0, time.perf_counter() - t0, method, {}, v0.score, v0.score_kind, v0.score_threshold,
                          message="The factual decision is already favourable.")


def early_answer(problem: RecourseProblem, method: str, t0: float, nothing: str) -> tuple[RecourseResult | None, PersonSpace]:
    """The early answer every method shares (already favourable, or no feature to act on), else the person's space.

    `nothing` completes the UNKNOWN message when the person can act on no feature.
    """
    done = already_favourable(problem, method, t0)
    space = person_space(problem)
    if done is None and (space.k == 0 or space.max_changes == 0):
        done = finish(problem, method, None, False, t0, 0.0, message=f"{method}: the person can act on no feature{nothing}.")
    return done, space


def finish(problem: RecourseProblem, method: str, action: Mapping[str, float] | None, claimed: bool, t0: float,
           solve_seconds: float, timings: Mapping[str, float] | None = None, iterations: int = 0,
           message: str = "") -> RecourseResult:
    """Re-check the method's action with verify_action and report it with an honest status."""
    timings = dict(timings or {})
    base = dict(factual=problem.factual, objective_bound=None, gap=None, solve_seconds=solve_seconds,
                backend=method, iterations=iterations)
    if action is None:
        timings["verify"] = 0.0
        return RecourseResult(Status.UNKNOWN, None, {}, {}, verified=False, timings=timings,
                              total_seconds=time.perf_counter() - t0,
                              message=message or f"{method} found no action it could claim valid.", **base)
    t = time.perf_counter()
    ver = verify_action(problem, action)
    timings["verify"] = time.perf_counter() - t
    extra = dict(cost_breakdown=ver.cost_breakdown, score=ver.score, score_kind=ver.score_kind,
                 score_threshold=ver.score_threshold, violations=ver.violations, timings=timings)
    if ver.ok:
        return RecourseResult(Status.FEASIBLE, ver.cost, dict(action), ver.counterfactual, verified=True,
                              total_seconds=time.perf_counter() - t0, message=message or
                              f"{method}: valid on the true SCM (verified); no optimality claim.", **base, **extra)
    why = "; ".join(ver.violations) or f"score {ver.score:.6g} below threshold {ver.score_threshold:.6g}"
    if claimed:
        return RecourseResult(Status.VERIFICATION_FAILED, ver.cost, dict(action), ver.counterfactual,
                              verified=False, total_seconds=time.perf_counter() - t0,
                              message=f"{method} claims this action is valid, but the re-check on the true SCM "
                                      f"denies it: {why}. {message}".strip(), **base, **extra)
    return RecourseResult(Status.UNKNOWN, None, {}, {}, verified=False, timings=timings,
                          total_seconds=time.perf_counter() - t0,
                          message=f"{method}'s action fails on the true SCM ({why}); it made no validity claim. "
                                  f"{message}".strip(), **base)
