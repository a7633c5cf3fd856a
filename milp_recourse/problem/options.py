"""Frozen, validated inputs of one recourse problem: hard constraints, cost and solve options.

Validation happens here, once, before any work: every message names the bad value and what
was expected.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from milp_recourse.errors import InputError
from milp_recourse.problem.preferences import Preferences

DIRECTIONS = ("up", "down")


def _finite_or_none(v: float | None, what: str) -> float | None:
    if v is None:
        return None
    if not isinstance(v, (int, float, np.floating, np.integer)) or math.isnan(float(v)):
        raise InputError(f"{what} must be a number or empty. Got {v!r}.")
    return float(v)


@dataclass(frozen=True)
class Actionability:
    """A person's hard constraints. `actionable=None` means the SCM spec's actionable features."""

    actionable: tuple[str, ...] | None = None
    bounds: Mapping[str, tuple[float | None, float | None]] = field(default_factory=dict)
    directions: Mapping[str, str] = field(default_factory=dict)
    max_changes: int | None = None
    grids: Mapping[str, tuple[float, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.actionable is not None:
            object.__setattr__(self, "actionable", tuple(self.actionable))
            if len(set(self.actionable)) != len(self.actionable):
                raise InputError(f"The actionable features {list(self.actionable)} list a feature twice.")
        for name, (lo, hi) in self.bounds.items():
            lo = _finite_or_none(lo, f"The lower bound for {name!r}")
            hi = _finite_or_none(hi, f"The upper bound for {name!r}")
            if lo is not None and hi is not None and lo > hi:
                raise InputError(f"Bounds for {name!r}: lower bound {lo} is above upper bound {hi}.")
        for name, d in self.directions.items():
            if d not in DIRECTIONS:
                raise InputError(f"Direction for {name!r} must be one of {', '.join(DIRECTIONS)}. Got {d!r}.")
        if self.max_changes is not None and (not isinstance(self.max_changes, (int, np.integer))
                                             or isinstance(self.max_changes, bool) or self.max_changes < 0):
            raise InputError(f"max_changes must be an integer >= 0. Got {self.max_changes!r}.")
        for name, grid in self.grids.items():
            vals = np.asarray(grid, dtype=float)
            if vals.ndim != 1 or vals.size == 0 or not np.all(np.isfinite(vals)):
                raise InputError(f"The grid for {name!r} must be a non-empty list of finite numbers. Got {grid!r}.")

    def features_named(self) -> set[str]:
        names = set(self.bounds) | set(self.directions) | set(self.grids)
        return names | set(self.actionable or ())


@dataclass(frozen=True)
class CostSpec:
    """cost = scale * sum_k w_k |theta_k - x_k|^p / divisor_k + l0 * (number of features intervened on)."""

    p: int = 1
    divisors: Mapping[str, float] = field(default_factory=dict)
    scale: float = 1.0
    l0: float = 0.0

    def __post_init__(self) -> None:
        if self.p not in (1, 2):
            raise InputError(f"The cost exponent p must be 1 or 2. Got {self.p!r}.")
        for name, d in self.divisors.items():
            if not (isinstance(d, (int, float)) and math.isfinite(d) and d > 0):
                raise InputError(f"The divisor for {name!r} must be a finite number > 0. Got {d!r}.")
        if not (math.isfinite(self.scale) and self.scale > 0):
            raise InputError(f"The cost scale must be a finite number > 0. Got {self.scale!r}.")
        if not (math.isfinite(self.l0) and self.l0 >= 0):
            raise InputError(f"The L0 weight must be a finite number >= 0. Got {self.l0!r}.")

    def divisor(self, name: str) -> float:
        return float(self.divisors.get(name, 1.0))

    def feature_cost(self, name: str, delta: float, weight: float) -> float:
        """Cost of moving `name` by `delta` when intervened on (excluding the L0 term)."""
        return self.scale * weight * abs(float(delta)) ** self.p / self.divisor(name)


DIVISOR_KINDS = ("std", "range", "std2-range", "mad")


def divisors_from_data(data: "np.ndarray | object", names: Sequence[str], kind: str) -> dict[str, float]:
    """Per-feature divisors from a reference table: 'std', 'range', 'std2-range' or 'mad'.

    'std2-range' = std^2 * (range of the standardized data) = std * range: with it, |delta|^2 / d_k equals
    (delta in standardized units)^2 / (standardized range), the cost used by CARMA-style studies.
    'mad' = median |x - median(x)| (unscaled, DiCE's default). A divisor that comes out 0 (a constant
    column, or a MAD of 0 when more than half the values are equal) is replaced by 1.
    """
    import pandas as pd

    kinds = DIVISOR_KINDS
    if kind not in kinds:
        raise InputError(f"Unknown divisor kind {kind!r}; expected one of {', '.join(kinds)}.")
    frame = data if isinstance(data, pd.DataFrame) else pd.DataFrame(np.asarray(data), columns=list(names))
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise InputError(f"The reference data lacks column(s) {', '.join(missing)}; it has {', '.join(map(str, frame.columns))}.")
    out = {}
    for n in names:
        if not pd.api.types.is_numeric_dtype(frame[n]):
            raise InputError(f"The reference data column {n!r} is not numeric; divisors need numbers.")
        col = frame[n].to_numpy(dtype=float)
        if col.size == 0 or not np.all(np.isfinite(col)):
            raise InputError(f"The reference data column {n!r} is empty or has missing/infinite values; "
                             f"drop or impute them first.")
        if kind == "mad":
            val = float(np.median(np.abs(col - np.median(col))))
        else:
            std = float(np.std(col, ddof=1)) if col.size > 1 else 0.0
            rng = float(np.max(col) - np.min(col))
            val = {"std": std, "range": rng, "std2-range": std * rng}[kind]
        out[n] = val if val > 0 else 1.0
    return out


@dataclass(frozen=True)
class SolveOptions:
    """How to solve: favourable threshold and margin, limits, backend, approximation settings."""

    threshold: float = 0.5
    margin: float = 1e-6            # extra score needed beyond the threshold (score units), guards round-off
    target_class: object = None     # favourable label; default the classifier's classes_[1]
    time_limit: float = 60.0
    mip_gap: float = 1e-4           # relative; tighter than the solvers' feasibility tolerances is not meaningful
    backend: str = "highs"
    threads: int = 1
    pwl_breakpoints: int = 33
    split_margin: float = 0.0         # extra relative band excluded around tree splits (0 = exact float32 rule)
    heuristic_samples: int = 4096   # random actions tried to get an upper bound before the MILP
    seed: int = 0
    tighten_passes: int = 5         # rounds of LP bound tightening of big-M sources (0 = interval bounds only)
    tighten_threads: int = 2        # the tightening LPs are independent: run on this many threads (batch workers: 1)
    effect_cuts: bool = True        # valid rows bounding each counterfactual's drift by the interventions' cost
    box_search: bool = True         # ReLU networks, p = 1 / 2: branch and bound over boxes of actions before a MILP

    def __post_init__(self) -> None:
        if not (isinstance(self.threshold, (int, float)) and 0.0 < self.threshold < 1.0):
            raise InputError(f"The 'threshold' option must be a float in (0, 1). Got {self.threshold!r}.")
        if not (isinstance(self.time_limit, (int, float)) and self.time_limit > 0 and math.isfinite(self.time_limit)):
            raise InputError(f"The 'time_limit' option must be a float > 0. Got {self.time_limit!r}.")
        if not (isinstance(self.mip_gap, (int, float)) and 0 <= self.mip_gap < 1):
            raise InputError(f"The 'mip_gap' option must be a float in [0, 1). Got {self.mip_gap!r}.")
        if not (isinstance(self.margin, (int, float)) and self.margin >= 0 and math.isfinite(self.margin)):
            raise InputError(f"The 'margin' option must be a float >= 0. Got {self.margin!r}.")
        if not (isinstance(self.pwl_breakpoints, int) and self.pwl_breakpoints >= 2):
            raise InputError(f"The 'pwl_breakpoints' option must be an integer >= 2. Got {self.pwl_breakpoints!r}.")
        if not (isinstance(self.threads, int) and self.threads >= 1):
            raise InputError(f"The 'threads' option must be an integer >= 1. Got {self.threads!r}.")
        if not (isinstance(self.tighten_passes, int) and self.tighten_passes >= 0):
            raise InputError(f"The 'tighten_passes' option must be an integer >= 0. Got {self.tighten_passes!r}.")
        if not (isinstance(self.tighten_threads, int) and not isinstance(self.tighten_threads, bool)
                and self.tighten_threads >= 1):
            raise InputError(f"The 'tighten_threads' option must be an integer >= 1. Got {self.tighten_threads!r}.")
        if not isinstance(self.box_search, bool):
            raise InputError(f"The 'box_search' option must be true or false. Got {self.box_search!r}.")
        if not isinstance(self.effect_cuts, bool):
            raise InputError(f"The 'effect_cuts' option must be true or false. Got {self.effect_cuts!r}.")
        if not (isinstance(self.heuristic_samples, int) and self.heuristic_samples >= 0):
            raise InputError(f"The 'heuristic_samples' option must be an integer >= 0. Got {self.heuristic_samples!r}.")


__all__ = ["Actionability", "CostSpec", "SolveOptions", "Preferences", "divisors_from_data", "DIVISOR_KINDS"]


@dataclass(frozen=True)
class FeatureRule:
    """The effective hard constraints and cost of one actionable feature for one person."""

    name: str
    lower: float          # bounds on the new value theta (domain, person's bounds and direction combined)
    upper: float
    grid: tuple[float, ...] | None
    integer: bool
    weight: float
    divisor: float

    @property
    def blocked(self) -> bool:
        """True when no new value satisfies the person's constraints."""
        return self.lower > self.upper or (self.grid is not None and len(self.grid) == 0)


def feature_rules(scm, x: Mapping[str, float], act: Actionability, prefs: Preferences,
                  cost: CostSpec) -> tuple[FeatureRule, ...]:
    """Combine the SCM's domain/actionability with the person's constraints into per-feature rules."""
    default = tuple(v.name for v in scm.variables if v.actionability != "immutable")
    actionable = default if act.actionable is None else act.actionable
    rules = []
    for name in actionable:
        var = scm.variable(name)
        lo, hi = float(var.lower), float(var.upper)
        blo, bhi = act.bounds.get(name, (None, None))
        lo = lo if blo is None else max(lo, float(blo))
        hi = hi if bhi is None else min(hi, float(bhi))
        direction = act.directions.get(name) or {"increase": "up", "decrease": "down"}.get(var.actionability)
        xk = float(x[name])
        if direction == "up" or var.actionability == "increase":
            lo = max(lo, xk)
        if direction == "down" or var.actionability == "decrease":
            hi = min(hi, xk)
        integer = var.kind in ("integer", "binary")
        if integer:
            lo, hi = math.ceil(lo - 1e-9), math.floor(hi + 1e-9)
        grid = None
        if name in act.grids:
            vals = sorted(set(float(v) for v in act.grids[name]))
            grid = tuple(v for v in vals if lo - 1e-12 <= v <= hi + 1e-12
                         and (not integer or abs(v - round(v)) < 1e-9))
        rules.append(FeatureRule(name, float(lo), float(hi), grid, integer, prefs.weight(name), cost.divisor(name)))
    return tuple(rules)
