"""RecourseProblem: one person's complete, validated recourse question (SCM, classifier, constraints, cost)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

import numpy as np

from milp_recourse.errors import InputError
from milp_recourse.models.categorical_input import with_levels
from milp_recourse.models.classifiers import classifier_features, validate_for_scm
from milp_recourse.problem.constraints_check import check_constraints
from milp_recourse.problem.logic import Constraint, problem_constraints, without_link_targets
from milp_recourse.problem.options import Actionability, CostSpec, FeatureRule, SolveOptions, feature_rules
from milp_recourse.problem.plausibility import Plausibility, check_density_noise
from milp_recourse.problem.preferences import Preferences
from milp_recourse.scm.levels import code_of
from milp_recourse.scm.model import SCM


MAX_UNIT_COST = 1e12   # scale x weight / divisor of one feature: beyond it the solvers' arithmetic breaks down


def _one_person(individual: Any) -> Any:
    """A one-row DataFrame or a (1, n) array as its single row; a table of several people is refused."""
    kind = type(individual).__name__
    if kind == "DataFrame":
        if len(individual) != 1:
            raise InputError(f"The individual must be one person: a dict, a pandas Series or a one-row DataFrame. "
                             f"Got a DataFrame with {len(individual)} rows (use solve_many for several people).")
        return individual.iloc[0]
    if isinstance(individual, np.ndarray) and individual.ndim == 2 and individual.shape[0] != 1:
        raise InputError(f"The individual must be one person: a dict, a pandas Series, a one-row DataFrame or "
                         f"a vector. Got an array of shape {individual.shape}.")
    if individual is None or isinstance(individual, (bool, int, float)):
        raise InputError(f"The individual must be a dict, a pandas Series, a one-row DataFrame or a vector of "
                         f"numbers. Got {individual!r}.")
    if isinstance(individual, (str, bytes)):
        raise InputError(f"The individual must be a dict, a pandas Series, a one-row DataFrame or a vector of "
                         f"numbers. Got the string {individual!r}.")
    return individual


def individual_vector(scm: Any, individual: Any) -> np.ndarray:
    """The individual as a float vector in SCM order (mapping, pandas Series, one-row DataFrame or sequence)."""
    individual = _one_person(individual)
    if hasattr(individual, "to_dict"):
        individual = individual.to_dict()
    if isinstance(individual, Mapping):
        # extra keys (ids, labels, noise columns) are ignored on purpose; missing features are an error
        missing = [n for n in scm.names if n not in individual]
        if missing:
            raise InputError(f"The individual lacks feature(s) {', '.join(missing)}; expected all of "
                             f"{', '.join(scm.names)}.")
        vec = [individual[n] for n in scm.names]
    else:
        vec = list(np.asarray(individual, dtype=object).ravel())
        if len(vec) != len(scm.names):
            raise InputError(f"The individual has {len(vec)} values; expected {len(scm.names)} "
                             f"({', '.join(scm.names)}).")
    vec = [code_of(v, value) if v.levels else value for v, value in zip(scm.variables, vec)]  # level names
    try:
        arr = np.asarray(vec, dtype=float)
    except OverflowError:
        big = next((f"{n!r}" for n, v in zip(scm.names, vec) if isinstance(v, int) and abs(v) > 1e308), "a value")
        raise InputError(f"The individual's {big} is an integer too large for a float; expected a finite number "
                         "inside the feature's domain.") from None
    except (TypeError, ValueError):
        raise InputError(f"The individual's values must be numbers. Got {vec!r}.") from None
    scm.validate_individual(arr)
    return arr


def with_level_tables(cost: CostSpec, scm: Any) -> CostSpec:
    """The cost with the SCM's level-change tables of its categorical (and tabled ordinal) variables added
    (tables the caller gave win)."""
    tables = {v.name: v.switch_costs for v in scm.variables if v.switch_costs is not None}
    if not tables or all(n in cost.tables for n in tables):
        return cost
    return dataclasses.replace(cost, tables={**tables, **cost.tables})


@dataclass(frozen=True)
class RecourseProblem:
    """Everything needed to solve (and re-check) recourse for one person.

    `individual` is a dict, a pandas Series, a one-row DataFrame or a vector in SCM order; the rest is keyword-only.
    """

    scm: Any
    classifier: Any
    individual: Any
    _: KW_ONLY   # the constraints, preferences, cost and options are named: RecourseProblem(scm, clf, x, cost=...)
    actionability: Actionability = field(default_factory=Actionability)
    preferences: Preferences = field(default_factory=Preferences)
    cost: CostSpec = field(default_factory=CostSpec)
    options: SolveOptions = field(default_factory=SolveOptions)
    plausibility: Plausibility | None = None   # hard: counterfactual in a box / of log-density >= a threshold

    def __post_init__(self) -> None:
        self._check_types()
        x = individual_vector(self.scm, self.individual)
        object.__setattr__(self, "cost", with_level_tables(self.cost, self.scm))
        levels = {v.name: v.levels for v in self.scm.variables if v.levels}
        if levels:   # a model trained on level names reads the codes through a LeveledModel
            object.__setattr__(self, "classifier", with_levels(self.classifier, levels))
        object.__setattr__(self, "x", x)
        validate_for_scm(self.classifier, self.scm.names)
        object.__setattr__(self, "features", classifier_features(self.classifier, self.scm.names))
        names = set(self.scm.names)
        for what, keys in (("actionability", self.actionability.features_named()),
                           ("preference weights", set(self.preferences.weights)),
                           ("preferred ranges", set(self.preferences.preferred_ranges)),
                           ("cost divisors", set(self.cost.divisors))):
            unknown = sorted(k for k in keys if k not in names)
            if unknown:
                raise InputError(f"The {what} name unknown feature(s) {', '.join(map(repr, unknown))}; "
                                 f"the SCM's features are {', '.join(self.scm.names)}.")
        spec_actionable = [v.name for v in self.scm.variables if v.actionability != "immutable"]
        if self.actionability.actionable is not None:
            bad = [n for n in self.actionability.actionable if n not in spec_actionable]
            if bad:
                raise InputError(f"Feature(s) {', '.join(map(repr, bad))} are immutable in the SCM spec "
                                 f"{self.scm.name!r}; a person can act only on {', '.join(spec_actionable)}.")
        # what the constraints mean (bounds meeting the domain, none on a categorical, grids inside it): the same
        # refusals as the CLI's, minus 'only on actionable features' (a batch profile's base bounds may lapse)
        check_constraints(self.scm, self.actionability, actionable_only=False)
        rules = feature_rules(self.scm, dict(zip(self.scm.names, x)), self.actionability, self.preferences, self.cost)
        logic = problem_constraints(self.scm, self.actionability.logic)   # the spec's and the person's, checked
        object.__setattr__(self, "logic", logic)
        object.__setattr__(self, "rules", without_link_targets(rules, logic, self.actionability.actionable))
        self._check_cost_scale()
        self._check_plausibility()
        object.__setattr__(self, "noise", self.scm.abduct(x.reshape(1, -1))[0])  # abducted once, reused

    # set in __post_init__ (frozen dataclass): x (float vector), features (classifier order), rules, noise
    x: np.ndarray = field(init=False, repr=False, compare=False)
    noise: np.ndarray = field(init=False, repr=False, compare=False)  # abducted U, in SCM variable order
    features: tuple[str, ...] = field(init=False, repr=False, compare=False)
    rules: tuple[FeatureRule, ...] = field(init=False, repr=False, compare=False)
    logic: tuple[Constraint, ...] = field(init=False, repr=False, compare=False)   # IF-THEN rules, linkages

    def _check_cost_scale(self) -> None:
        """Each feature's cost per unit (scale x weight / divisor), the range penalty and the L0 cost at most
        MAX_UNIT_COST: a divisor of 1e-320, or a penalty of 1e20, and HiGHS answered 'Unknown' (an outside fuzz)."""
        for label, value in (("range penalty", self.preferences.range_penalty), ("L0 cost", self.cost.l0)):
            if not value <= MAX_UNIT_COST:   # (unscaled objective terms)
                raise InputError(f"The {label} is {value:.3g}; expected at most {MAX_UNIT_COST:g}.")
        for r in self.rules:
            unit = self.cost.scale * r.weight / r.divisor if r.divisor > 0 else math.inf
            if not unit <= MAX_UNIT_COST:
                raise InputError(f"The cost of changing {r.name!r} is {unit:.3g} per unit (scale {self.cost.scale:g} "
                                 f"x weight {r.weight:g} / divisor {r.divisor:.3g}); expected at most "
                                 f"{MAX_UNIT_COST:g}: use a larger divisor or a smaller scale or weight.")

    def _check_types(self) -> None:
        """Each part of the right kind, by name (a dict where an Actionability belongs failed deep inside)."""
        if not isinstance(self.scm, SCM):
            hint = " (load it first: milp_recourse.load_scm(NAME_OR_PATH))" if isinstance(self.scm, str) else ""
            raise InputError(f"scm must be an SCM{hint}. Got {type(self.scm).__name__} {self.scm!r:.60}.")
        for name, kind in (("actionability", Actionability), ("preferences", Preferences), ("cost", CostSpec),
                           ("options", SolveOptions)):
            value = getattr(self, name)
            if not isinstance(value, kind):
                raise InputError(f"{name} must be {kind.__name__}(...) (e.g. {kind.__name__}(**{{...}}) from a "
                                 f"dict). Got {type(value).__name__} {value!r:.60}.")

    def _check_plausibility(self) -> None:
        """The plausibility constraint must be a Plausibility over this SCM's variables, and a density one needs
        noise that makes it exact (plausibility.check_density_noise)."""
        pl = self.plausibility
        if pl is None:
            return
        if not isinstance(pl, Plausibility):
            raise InputError(f"plausibility must be a Plausibility (box_plausibility / density_plausibility) or "
                             f"None. Got {type(pl).__name__}.")
        if pl.kind == "box":
            missing = [n for n in self.scm.names if n not in pl.lower or n not in pl.upper]
            if missing:
                raise InputError(f"The plausibility box lacks variable(s) {', '.join(missing)}.")
            return
        movable = [r.name for r in self.rules if not r.blocked]
        check_density_noise(self.scm, movable, [n for n in self.scm.names
                                                if n in movable or n in self.scm.descendants(movable)])

    @property
    def factual(self) -> dict[str, float]:
        return dict(zip(self.scm.names, map(float, self.x)))

    def rule(self, name: str) -> FeatureRule:
        for r in self.rules:
            if r.name == name:
                return r
        raise KeyError(name)

    def action_cost(self, action: Mapping[str, float]) -> tuple[float, dict[str, float]]:
        """Cost of an action recomputed from scratch, with the per-feature breakdown (L0 and range penalty included).

        With the 'max' aggregate the total is the largest feature cost plus the additive L0 and range terms, so
        the breakdown (each feature's own cost + L0 + range penalty) does not sum to it."""
        fx = self.factual
        parts: dict[str, float] = {}
        own: dict[str, float] = {}
        for name, theta in action.items():
            rule = self.rule(name)
            own[name] = float(self.cost.feature_costs(name, fx[name], theta, rule.weight))
            c = own[name] + self.cost.l0
            rng = self.preferences.preferred_ranges.get(name)
            if rng is not None:
                c += self.preferences.range_penalty * (max(0.0, rng[0] - theta) + max(0.0, theta - rng[1]))
            parts[name] = c
        if self.cost.aggregate == "max":
            top = max(own.values(), default=0.0)
            return float(top + sum(parts[n] - own[n] for n in parts)), parts
        return float(sum(parts.values())), parts
