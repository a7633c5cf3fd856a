"""Brute-force grid oracle, the field's non-amortized reference: every combination, cheapest valid kept.

Per actionable feature, `n_values` values evenly spanning [2*min - x, 2*max - x] (min/max of the
reference data, e.g. the denied training data; the SCM domain when none is given), clipped to the
person's allowed range, plus "no intervention". Every combination is evaluated on the true SCM
(simulate.counterfactuals, vectorised in chunks) with the real classifier. A person's own grid
(Actionability.grids) replaces the default values. The result is optimal over the grid only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import ClassVar, Mapping

import numpy as np

from milp_recourse.errors import InputError
from milp_recourse.problem.recourse_problem import RecourseProblem
from milp_recourse.result import RecourseResult
from milp_recourse.baselines.common import (early_answer, CHUNK, PersonSpace, action_costs, check_positive, finish, person_space,
                     to_action, valid_on_scm)


def ranges_from_data(data, names) -> dict[str, tuple[float, float]]:
    """(min, max) per named column of a table (DataFrame or mapping of arrays)."""
    out = {}
    for n in names:
        col = np.asarray(data[n], float)
        out[n] = (float(np.min(col)), float(np.max(col)))
    return out


@dataclass(frozen=True, eq=False)
class GridOracle:
    """Exhaustive search over a per-feature grid; returns the cheapest verified action on it."""

    name: ClassVar[str] = "grid"
    n_values: int = 15
    reference_ranges: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    max_combinations: int = 5_000_000
    chunk: int = CHUNK

    def __post_init__(self) -> None:
        check_positive(self.n_values, "n_values", integer=True)
        check_positive(self.max_combinations, "max_combinations", integer=True)
        check_positive(self.chunk, "chunk", integer=True)
        for name, rng in self.reference_ranges.items():
            lo, hi = (float(v) for v in rng)
            if not (np.isfinite(lo) and np.isfinite(hi) and lo <= hi):
                raise InputError(f"The reference range for {name!r} must be finite (min, max) with min <= max. "
                                 f"Got {rng!r}.")

    def grid(self, problem: RecourseProblem) -> dict[str, tuple[float, ...]]:
        """The values tried per usable actionable feature (no-intervention is always tried as well)."""
        space = person_space(problem)
        out = {}
        for k, name in enumerate(space.names):
            if space.grids[k] is not None:
                out[name] = tuple(float(v) for v in space.grids[k])
                continue
            var = problem.scm.variable(name)
            lo_ref, hi_ref = self.reference_ranges.get(name, (var.lower, var.upper))
            xk = space.x[k]
            vals = np.clip(np.linspace(2 * lo_ref - xk, 2 * hi_ref - xk, self.n_values), space.lower[k],
                           space.upper[k])
            if space.integer[k]:
                vals = np.clip(np.round(vals), space.lower[k], space.upper[k])
            out[name] = tuple(float(v) for v in np.unique(vals))
        return out

    def solve(self, problem: RecourseProblem) -> RecourseResult:
        t0 = time.perf_counter()
        done, space = early_answer(problem, self.name, t0, ", so no action was tried")
        if done is not None:
            return done
        grid = self.grid(problem)
        values = [np.asarray(grid[n], float) for n in space.names]
        radix = np.array([len(v) + 1 for v in values], np.int64)       # option 0 = no intervention
        total = int(np.prod(radix.astype(float)))
        if total > self.max_combinations:
            raise InputError(f"The grid has {total} combinations for features {list(space.names)}; at most "
                             f"max_combinations={self.max_combinations} are allowed (use fewer n_values).")
        t = time.perf_counter()
        best_cost, best = np.inf, None
        evaluated = 0
        for start in range(1, total, self.chunk):                      # index 0 is the factual itself
            idx = np.arange(start, min(total, start + self.chunk), dtype=np.int64)
            mask, theta = _decode(idx, radix, values, space)
            keep = mask.sum(axis=1) <= space.max_changes
            mask, theta = mask[keep], theta[keep]
            if not len(mask):
                continue
            evaluated += len(mask)
            costs = action_costs(problem, space, mask, theta)
            order = np.argsort(costs, kind="stable")
            order = order[costs[order] < best_cost]
            if not len(order):
                continue
            ok = valid_on_scm(problem, space, mask[order], theta[order], self.chunk)
            if ok.any():
                j = order[int(np.argmax(ok))]
                best_cost, best = float(costs[j]), to_action(space, mask[j], theta[j])
        seconds = time.perf_counter() - t
        msg = f"grid: cheapest valid of {evaluated} combinations (optimal over the grid only)."
        return finish(problem, self.name, best, best is not None, t0, seconds,
                      {"search": seconds}, iterations=evaluated,
                      message=msg if best is not None else f"grid: none of {evaluated} combinations is valid.")


def _decode(idx: np.ndarray, radix: np.ndarray, values: list[np.ndarray],
            space: PersonSpace) -> tuple[np.ndarray, np.ndarray]:
    """Mixed-radix indices -> (mask, theta) rows."""
    mask = np.zeros((len(idx), len(radix)), bool)
    theta = np.tile(space.x, (len(idx), 1))
    rest = idx.copy()
    for k, r in enumerate(radix):
        digit = rest % r
        rest //= r
        on = digit > 0
        mask[:, k] = on
        theta[on, k] = values[k][digit[on] - 1]
    return mask, theta
