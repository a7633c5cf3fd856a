"""Population view of 'no recourse': who is locked out, under universal vs individual constraints, and by what.

Input: (RecourseProblem, RecourseResult) pairs from any solver run. For each denied person without
recourse, the same person under the SCM's universal actionability is re-checked (feasibility only);
when only their own constraints block them, a minimal conflict names the groups responsible.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Sequence

from milp_recourse.diagnose.conflicts import THRESHOLD, check_feasible, minimal_conflict, universal
from milp_recourse.errors import InputError
from milp_recourse.problem.recourse_problem import RecourseProblem
from milp_recourse.result import RecourseResult, Status


@dataclass(frozen=True)
class PopulationSummary:
    """Counts and fractions (of denied individuals) without recourse, and the most frequent blocking groups."""

    n_individuals: int
    n_denied: int                         # everyone not ALREADY_FAVOURABLE
    n_with_recourse: int                  # OPTIMAL or FEASIBLE
    n_no_recourse: int                    # NO_RECOURSE under their own constraints
    n_no_recourse_universal: int          # ... and also under the SCM's universal actionability
    n_no_recourse_individual_only: int    # ... but recourse exists once their own constraints are dropped
    n_undetermined: int                   # UNKNOWN / ERROR / VERIFICATION_FAILED, or universal check undecided
    blocking: tuple[tuple[str, int], ...]        # group key -> how many minimal conflicts contain it
    blocking_kinds: tuple[tuple[str, int], ...]  # group kind ('fixed', 'upper', ...) -> count

    def _frac(self, n: int) -> float | None:
        return n / self.n_denied if self.n_denied else None

    @property
    def frac_no_recourse(self) -> float | None:
        return self._frac(self.n_no_recourse)

    @property
    def frac_no_recourse_universal(self) -> float | None:
        return self._frac(self.n_no_recourse_universal)

    @property
    def frac_no_recourse_individual_only(self) -> float | None:
        return self._frac(self.n_no_recourse_individual_only)

    def to_dict(self) -> dict[str, Any]:
        return {"n_individuals": self.n_individuals, "n_denied": self.n_denied,
                "n_with_recourse": self.n_with_recourse, "n_no_recourse": self.n_no_recourse,
                "n_no_recourse_universal": self.n_no_recourse_universal,
                "n_no_recourse_individual_only": self.n_no_recourse_individual_only,
                "n_undetermined": self.n_undetermined, "frac_no_recourse": self.frac_no_recourse,
                "frac_no_recourse_universal": self.frac_no_recourse_universal,
                "frac_no_recourse_individual_only": self.frac_no_recourse_individual_only,
                "blocking": dict(self.blocking), "blocking_kinds": dict(self.blocking_kinds)}


def _check_pairs(pairs: Sequence[Any]) -> None:
    for i, pair in enumerate(pairs):
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2 and isinstance(pair[0], RecourseProblem)
                and isinstance(pair[1], RecourseResult)):
            raise InputError(f"Item {i} of the pairs is {type(pair).__name__}; expected a (RecourseProblem, "
                             "RecourseResult) tuple.")


def no_recourse_summary(pairs: Sequence[tuple[RecourseProblem, RecourseResult]], explain: bool = True,
                        time_limit: float | None = None) -> PopulationSummary:
    """Summarise who has no recourse; `explain=False` skips the minimal conflicts (no blocking counts)."""
    pairs = list(pairs)
    _check_pairs(pairs)
    denied = with_recourse = none = none_uni = none_ind = undetermined = 0
    keys: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    for problem, res in pairs:
        if res.status is Status.ALREADY_FAVOURABLE:
            continue
        denied += 1
        if res.status in (Status.OPTIMAL, Status.FEASIBLE):
            with_recourse += 1
            continue
        if res.status is not Status.NO_RECOURSE:
            undetermined += 1
            continue
        none += 1
        uni = check_feasible(universal(problem), time_limit)
        if uni.feasible is False:
            none_uni += 1
        elif uni.feasible is None:
            undetermined += 1
        else:
            none_ind += 1
            if explain:
                conflict = minimal_conflict(problem, time_limit)
                for g in (conflict.groups if conflict is not None else ()):
                    if g.key != THRESHOLD:
                        keys[g.key] += 1
                        kinds[g.kind] += 1
    return PopulationSummary(len(pairs), denied, with_recourse, none, none_uni, none_ind, undetermined,
                             tuple(keys.most_common()), tuple(kinds.most_common()))


__all__ = ["PopulationSummary", "no_recourse_summary"]
