"""Frozen, validated inputs of one recourse problem: hard constraints, cost and solve options.

Validation happens here, once, before any work: every message names the bad value and what
was expected.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from milp_recourse.errors import InputError
from milp_recourse.problem.data_costs import AGGREGATES, COST_KINDS, PercentileCDF, check_cdfs, reference_columns
from milp_recourse.problem.logic import parse_constraints
from milp_recourse.problem.preferences import Preferences
from milp_recourse.problem.validate import (Anything, Flag, MapOf, Names, NameSets, Number, NumberList, OneOf, Pair,
                                            Rule, Text, check_fields)

DIRECTIONS = ("up", "down")
MAX_GRID_VALUES = 10_000   # values in one feature's grid (each is a binary of the MILP; a range needs no grid)


def check_whole_grid(name: str, var: Any, values: Sequence[float]) -> None:
    """InputError when a grid gives a fractional value to an integral feature (categorical, ordinal, integer,
    binary): dropping it in silence would leave the feature unable to move."""
    fractional = [float(v) for v in values if var.is_integral and abs(float(v) - round(float(v))) >= 1e-9]
    if fractional:
        what = (f"a code 0..{len(var.levels) - 1} or a level name ({', '.join(var.levels)})" if var.levels
                else "whole numbers")
        raise InputError(f"Grid {name}: value(s) {', '.join(f'{v:.12g}' for v in fractional[:5])} are not whole "
                         f"numbers, and {name} is {var.kind}; expected {what}.")
DEFAULT_MARGIN = 1e-6   # SolveOptions.margin's default (solver/pipeline.py lifts it where a score can sit on the threshold)


@dataclass(frozen=True, kw_only=True)
class Actionability:
    """A person's hard constraints. `actionable=None` means the SCM spec's actionable features.

    `excluded_sets`: no action may change every feature of one of these sets (its set of changed features, the
    keys of the action, is none of them nor a superset of one). `solve_options` uses it for ranked options.
    """

    actionable: tuple[str, ...] | None = None
    bounds: Mapping[str, tuple[float | None, float | None]] = field(default_factory=dict)
    directions: Mapping[str, str] = field(default_factory=dict)
    max_changes: int | None = None
    grids: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    excluded_sets: tuple[tuple[str, ...], ...] = ()
    logic: tuple[Any, ...] = ()   # IF-THEN rules and linkages (problem/logic.py), as texts or parsed

    RULES: ClassVar[dict[str, tuple[Rule, str]]] = {
        "actionable": (Names(optional=True), "The actionable features"),
        "bounds": (MapOf(Pair("Bounds", "bound", optional_ends=True), "{name!r}"), "The 'bounds' constraint"),
        "directions": (MapOf(OneOf(DIRECTIONS), "Direction for {name!r}"), "The 'directions' constraint"),
        "max_changes": (Number(low=0, integer=True, optional=True), "max_changes"),
        "grids": (MapOf(NumberList(), "The grid for {name!r}"), "The 'grids' constraint"),
        "excluded_sets": (NameSets(), "The 'excluded_sets' constraint"),
        "logic": (Anything(), "The logic constraints"),
    }

    def __post_init__(self) -> None:
        check_fields(self, self.RULES)
        for name, values in self.grids.items():
            check_grid_size(f"The grid for {name!r}", len(values))
        object.__setattr__(self, "logic", parse_constraints(self.logic))   # syntax here; names: RecourseProblem

    def features_named(self) -> set[str]:
        names = set(self.bounds) | set(self.directions) | set(self.grids)
        names |= {n for group in self.excluded_sets for n in group}
        return names | set(self.actionable or ())

    def excluded_by(self, changed: "Sequence[str] | Mapping[str, float]") -> tuple[str, ...] | None:
        """The first excluded set that the changed features (names, or an action's keys) all cover, else None."""
        have = set(changed)
        return next((group for group in self.excluded_sets if have.issuperset(group)), None)


@dataclass(frozen=True, kw_only=True)
class CostSpec:
    """Per-feature cost c_k = scale * w_k * g_k / divisor_k with g_k = |theta_k - x_k|^p (kind 'power') or the
    percentile shift |F_k(theta_k) - F_k(x_k)| of `cdfs` (kind 'percentile', p = 1; see problem/data_costs.py).

    aggregate 'sum': cost = sum_k c_k; 'max': cost = max_k c_k (p = 1 or percentile). Either way plus
    l0 * (number of features intervened on) and the preferred-range penalties, which stay additive.
    """

    p: int = 1
    divisors: Mapping[str, float] = field(default_factory=dict)
    scale: float = 1.0
    l0: float = 0.0
    kind: str = "power"
    aggregate: str = "sum"
    cdfs: Mapping[str, PercentileCDF] = field(default_factory=dict)
    tables: Mapping[str, Any] = field(default_factory=dict)   # name -> K x K level-change costs (scm/levels.py)

    RULES: ClassVar[dict[str, tuple[Rule, str]]] = {
        "p": (OneOf((1, 2), noun="1 or 2"), "The cost exponent p"),
        "divisors": (MapOf(Number(low=0, closed="neither", noun="a finite number"), "The divisor for {name!r}"),
                     "The cost divisors"),
        "scale": (Number(low=0, closed="neither", noun="a finite number"), "The cost scale"),
        "l0": (Number(low=0, noun="a finite number"), "The L0 weight"),
        "kind": (OneOf(COST_KINDS), "The cost kind"),
        "aggregate": (OneOf(AGGREGATES), "The cost aggregate"),
        "cdfs": (Anything(), "The percentile CDFs"),
        "tables": (Anything(), "The level-change cost tables"),
    }

    def __post_init__(self) -> None:
        check_fields(self, self.RULES)
        object.__setattr__(self, "cdfs", check_cdfs(self.cdfs))
        if self.kind == "percentile" and self.p != 1:
            raise InputError(f"The percentile cost takes no exponent: p must be 1. Got p={self.p}.")
        if self.kind == "percentile" and not self.cdfs:
            raise InputError("The percentile cost needs the reference data's CDFs (cdfs=percentile_cdfs(data, "
                             "names); on the command line --reference-data).")
        if self.kind == "power" and self.cdfs:
            raise InputError("CDFs were given but the cost kind is 'power'; use kind='percentile'.")
        if self.aggregate == "max" and self.p == 2:
            raise InputError("The max aggregate is for p = 1 or the percentile cost; got p=2 (squared costs are "
                             "only summed).")

    def divisor(self, name: str) -> float:
        """A level table's costs are not divided (a level change is not a distance)."""
        return 1.0 if name in self.tables else float(self.divisors.get(name, 1.0))

    def shift(self, name: str, x: float, theta: "np.ndarray | float") -> np.ndarray:
        """g_k of moving `name` from x to each theta: the level table's entry, the percentile shift or |d|^p."""
        theta = np.asarray(theta, float)
        if name in self.tables:
            table = np.asarray(self.tables[name], float)
            return np.asarray(table[int(round(float(x))), np.rint(theta).astype(int)], float)
        if self.kind == "percentile":
            return self.cdfs[name].shift(float(x), theta)
        return np.abs(theta - float(x)) ** self.p

    def feature_costs(self, name: str, x: float, theta: "np.ndarray | float", weight: float,
                      divisor: float | None = None) -> np.ndarray:
        """Vectorised c_k of moving `name` from x to each theta when intervened on (excluding the L0 term)."""
        div = self.divisor(name) if divisor is None else float(divisor)
        return self.scale * weight * self.shift(name, x, theta) / div

    def feature_cost(self, name: str, delta: float, weight: float, x: float = 0.0) -> float:
        """Cost of moving `name` from x by `delta` when intervened on (excluding the L0 term)."""
        return float(self.feature_costs(name, x, float(x) + float(delta), weight))


DIVISOR_KINDS = ("std", "range", "std2-range", "mad")


def divisors_from_data(data: "np.ndarray | object", names: Sequence[str], kind: str) -> dict[str, float]:
    """Per-feature divisors from a reference table: 'std', 'range', 'std2-range' or 'mad'.

    'std2-range' = std^2 * (range of the standardized data) = std * range: with it, |delta|^2 / d_k equals
    (delta in standardized units)^2 / (standardized range), the cost used by CARMA-style studies.
    'mad' = median |x - median(x)| (unscaled, DiCE's default). A divisor that comes out 0 (a constant
    column, or a MAD of 0 when more than half the values are equal) is replaced by 1.
    """

    kinds = DIVISOR_KINDS
    if kind not in kinds:
        raise InputError(f"Unknown divisor kind {kind!r}; expected one of {', '.join(kinds)}.")
    out = {}
    for n, col in reference_columns(data, names, "divisors need numbers").items():
        if kind == "mad":
            val = float(np.median(np.abs(col - np.median(col))))
        else:
            std = float(np.std(col, ddof=1)) if col.size > 1 else 0.0
            rng = float(np.max(col) - np.min(col))
            val = {"std": std, "range": rng, "std2-range": std * rng}[kind]
        out[n] = val if val > 0 else 1.0
    return out


def _named_options(rules: dict[str, Rule]) -> dict[str, tuple[Rule, str]]:
    """Each option's rule with its label for messages: "The 'time_limit' option"."""
    return {name: (rule, f"The {name!r} option") for name, rule in rules.items()}


@dataclass(frozen=True, kw_only=True)
class SolveOptions:
    """How to solve: favourable threshold and margin, limits, backend, approximation settings."""

    threshold: float = 0.5
    margin: float = DEFAULT_MARGIN  # extra score needed beyond the threshold (score units), guards round-off
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
    stage_threads: int = 2          # a slow cost-budget stage gets the next one run beside it (batch workers: 1)
    effect_cuts: bool = True        # valid rows bounding each counterfactual's drift by the interventions' cost
    box_search: bool = True         # ReLU networks, p = 1 / 2: branch and bound over boxes of actions before a MILP
    closed_form: bool = True        # linear scores, p = 1 / 2: the exact closed form over linear pieces, no MILP

    RULES: ClassVar[dict[str, tuple[Rule, str]]] = _named_options({
        "threshold": Number(low=0, high=1, closed="neither"),
        "margin": Number(low=0),
        "target_class": Anything(),
        "time_limit": Number(low=0, closed="neither"),
        "mip_gap": Number(low=0, high=1, closed="left"),
        "backend": Text(),
        "threads": Number(low=1, integer=True),
        "pwl_breakpoints": Number(low=2, integer=True),
        "split_margin": Number(low=0),
        "heuristic_samples": Number(low=0, integer=True),
        "seed": Number(low=0, integer=True),
        "tighten_passes": Number(low=0, integer=True),
        "tighten_threads": Number(low=1, integer=True),
        "stage_threads": Number(low=1, integer=True),
        "effect_cuts": Flag(),
        "box_search": Flag(),
        "closed_form": Flag(),
    })

    def __post_init__(self) -> None:
        check_fields(self, self.RULES)


__all__ = ["Actionability", "CostSpec", "SolveOptions", "Preferences", "divisors_from_data", "DIVISOR_KINDS",
           "check_whole_grid", "check_grid_size", "MAX_GRID_VALUES"]


def check_grid_size(what: str, count: float) -> None:
    """InputError when a grid would hold more than MAX_GRID_VALUES values (before any is made: a COUNT of 10**8
    ran out of memory)."""
    if count > MAX_GRID_VALUES:
        shown = f"{count:.0f}" if count < 1e15 else f"{count:.3g}"
        raise InputError(f"{what} has {shown} values; expected at most {MAX_GRID_VALUES} (each value is a binary "
                         "of the MILP; for a continuous range use bounds instead of a grid).")


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


def feature_rules(scm: Any, x: Mapping[str, float], act: Actionability, prefs: Preferences,
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
        integer = var.kind in ("integer", "binary", "categorical", "ordinal")
        if integer:
            lo, hi = math.ceil(lo - 1e-9), math.floor(hi + 1e-9)
        grid = None
        if name in act.grids or var.levels:   # a level change is a pick from the codes: always on a grid
            vals = sorted(set(float(v) for v in act.grids.get(name, range(len(var.levels)))))
            check_whole_grid(name, var, vals)
            grid = tuple(v for v in vals if lo - 1e-12 <= v <= hi + 1e-12)
        if cost.kind == "percentile" and name not in cost.cdfs and name not in cost.tables:
            raise InputError(f"The percentile cost has no CDF for the actionable feature {name!r}; the reference "
                             f"data covers {', '.join(cost.cdfs) or 'nothing'}.")
        rules.append(FeatureRule(name, float(lo), float(hi), grid, integer, prefs.weight(name), cost.divisor(name)))
    return tuple(rules)
