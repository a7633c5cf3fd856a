"""Soft preferences: per-feature cost weights given directly or elicited as rankings / scores.

Mappings (documented, and a parameter):
- ranking (easiest first) -> weight: 'rank' gives the r-th easiest weight r (1, 2, 3, ...);
  'exponential' gives base**(r-1); 'reciprocal-rank' gives K / (K - r + 1) (harder ranks grow fast).
- scores (1 = easy ... 5 = hard) -> weight: 'identity' gives the score itself; 'normalized' divides by the mean score.
Unranked / unscored actionable features get the weight of the hardest rank / the largest score.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from milp_recourse.errors import InputError
from milp_recourse.problem.validate import MapOf, Number, Pair, Rule, check_fields, is_real

RANKING_MAPPINGS = ("rank", "exponential", "reciprocal-rank")
SCORE_MAPPINGS = ("identity", "normalized")


def _check_known(names: Sequence[str], known: Sequence[str], what: str) -> None:
    unknown = [n for n in names if n not in known]
    if unknown:
        raise InputError(f"{what} names unknown feature(s) {', '.join(map(repr, unknown))}; "
                         f"expected names from: {', '.join(known)}.")


def weights_from_ranking(ranking: Sequence[str], features: Sequence[str], mapping: str = "rank",
                         base: float = 2.0) -> dict[str, float]:
    """Weights for `features` from a ranking (easiest first)."""
    if isinstance(ranking, str) or isinstance(features, str):
        raise InputError(f"The ranking and the features must be lists of feature names, not one string. "
                         f"Got {ranking!r} and {features!r}.")
    _check_known(ranking, features, "The ranking")
    if len(set(ranking)) != len(ranking):
        raise InputError(f"The ranking {list(ranking)} lists a feature twice; each feature may appear once.")
    if mapping not in RANKING_MAPPINGS:
        raise InputError(f"Unknown ranking mapping {mapping!r}; expected one of {', '.join(RANKING_MAPPINGS)}.")
    if not (is_real(base) and base > 0 and math.isfinite(base)):
        raise InputError(f"The exponential base must be a finite number > 0. Got {base}.")
    k = len(ranking)

    def weight(r: int) -> float:
        if mapping == "rank":
            return float(r)
        if mapping == "exponential":
            return float(base ** (r - 1))
        return float(k) / float(k - r + 1) if r <= k else float(k)

    out = {name: weight(i + 1) for i, name in enumerate(ranking)}
    hardest = weight(k) if k else 1.0
    for f in features:
        out.setdefault(f, hardest)
    return out


def weights_from_scores(scores: Mapping[str, float], features: Sequence[str],
                        mapping: str = "identity") -> dict[str, float]:
    """Weights for `features` from difficulty scores (larger = harder)."""
    _check_known(list(scores), features, "The scores")
    if mapping not in SCORE_MAPPINGS:
        raise InputError(f"Unknown score mapping {mapping!r}; expected one of {', '.join(SCORE_MAPPINGS)}.")
    for name, s in scores.items():
        if not (is_real(s) and math.isfinite(s) and s > 0):
            raise InputError(f"The score for {name!r} must be a finite number > 0. Got {s!r}.")
    vals = {k: float(v) for k, v in scores.items()}
    if mapping == "normalized" and vals:   # (relative to the largest first: a sum of 1e308s overflows to inf)
        top = max(vals.values())
        mean = sum(v / top for v in vals.values()) / len(vals)
        vals = {k: (v / top) / mean for k, v in vals.items()}
    hardest = max(vals.values()) if vals else 1.0
    return {f: vals.get(f, hardest) for f in features}


@dataclass(frozen=True, kw_only=True)
class Preferences:
    """A person's soft preferences: per-feature weights and preferred value ranges (penalised outside).
    `default_weight` prices a feature `weights` does not name: 1, or the hardest rank / score when the weights come
    from a ranking or scores (so a feature made actionable later, as `explain`'s relaxations do, costs as README
    says an unranked one does)."""

    weights: Mapping[str, float] = field(default_factory=dict)
    preferred_ranges: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    range_penalty: float = 1.0
    default_weight: float = 1.0

    RULES: ClassVar[dict[str, tuple[Rule, str]]] = {
        "weights": (MapOf(Number(low=0, noun="a finite number"), "The weight for {name!r}"), "The weights"),
        "preferred_ranges": (MapOf(Pair("Preferred range"), "{name!r}"), "The preferred ranges"),
        "range_penalty": (Number(low=0, noun="a finite number"), "The range penalty"),
        "default_weight": (Number(low=0, noun="a finite number"), "The default weight"),
    }

    def __post_init__(self) -> None:
        check_fields(self, self.RULES)

    @staticmethod
    def from_ranking(ranking: Sequence[str], features: Sequence[str], mapping: str = "rank",
                     base: float = 2.0) -> Preferences:
        weights = weights_from_ranking(ranking, features, mapping, base)
        return Preferences(weights=weights, default_weight=max(weights.values(), default=1.0))

    @staticmethod
    def from_scores(scores: Mapping[str, float], features: Sequence[str], mapping: str = "identity") -> Preferences:
        weights = weights_from_scores(scores, features, mapping)
        return Preferences(weights=weights, default_weight=max(weights.values(), default=1.0))

    def weight(self, name: str) -> float:
        return float(self.weights.get(name, self.default_weight))
