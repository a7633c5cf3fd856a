"""solve_many(problems): the same answers as exact.solve one by one, with the per-person overheads shared.

Three things are shared across the people of a batch (compile once, solve many):
- one kept HiGHS relaxation (backends.highs_session): people whose MILPs have the same structure
  re-parameterise it by numbers only (abduced noise in right-hand sides, fixings in bounds,
  preferences in costs) and small models are searched on it by a warm-started branch and bound;
- one classifier call screens every factual (already favourable?);
- one classifier call re-checks every answer (scikit-learn's ~1 ms per call dominated small solves).
Statuses, certificates and messages are exactly those of exact.solve (the same functions run).
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Callable, ContextManager, Sequence

import numpy as np

from .backends import get_backend
from .backends.highs_session import HighsSession
from .classifiers import favourable
from .errors import InputError
from .exact import Searched, already_favourable, finish, refine, search_person
from .recourse_problem import RecourseProblem
from .result import RecourseResult
from .verify import classifier_groups, verify_many


@dataclass(frozen=True)
class Failed:
    """A person whose solve raised (or whose guard fired), returned in place of a result by capture_errors."""

    error: BaseException
    seconds: float


@dataclass(frozen=True)
class ManyStats:
    """Where a solve_many call spent its time (seconds) and how the kept relaxation was reused."""

    n: int
    already_favourable: int
    loads: int            # full model loads into the kept HiGHS instance (structure changed)
    updates: int          # numbers-only re-parameterisations of the kept instance
    screen_seconds: float
    search_seconds: float
    verify_seconds: float
    total_seconds: float

    def per_person(self) -> dict[str, float]:
        """Mean seconds per person of each step (0 when there were no people)."""
        n = max(self.n, 1)
        return {k: getattr(self, f"{k}_seconds") / n for k in ("screen", "search", "verify", "total")}


def screen(problems: Sequence[RecourseProblem]) -> np.ndarray:
    """Whether each factual is already favourable, one classifier call per (classifier, setting) group."""
    fav = np.zeros(len(problems), bool)
    for members in classifier_groups(problems):
        pr = problems[members[0]]
        idx = [pr.scm.index(f) for f in pr.features]
        X = np.vstack([problems[i].x[idx] for i in members])
        fav[members] = favourable(pr.classifier, X, pr.options.threshold, pr.options.target_class)
    return fav


def solve_many(problems: Sequence[RecourseProblem], capture_errors: bool = False,
               guard: Callable[[], ContextManager] | None = None
               ) -> tuple[list[RecourseResult | Failed], ManyStats]:
    """Results in input order and where the time went.

    With `capture_errors` an exception raised while solving one person (or by `guard`, a per-person
    context manager such as a hard time limit) is returned in that person's place as a Failed instead of
    raised.
    """
    problems = list(problems)
    for i, pr in enumerate(problems):
        if not isinstance(pr, RecourseProblem):
            raise InputError(f"solve_many expects RecourseProblem items; item {i} is a {type(pr).__name__}.")
    for name in sorted({pr.options.backend for pr in problems}):
        get_backend(name)  # an unknown or missing backend fails here, before any work (as in exact.solve)
    guard = guard or nullcontext
    t_start = time.perf_counter()
    fav = screen(problems)
    t_screen = time.perf_counter() - t_start
    session = HighsSession()
    out: list[RecourseResult | Failed | None] = [None] * len(problems)
    searched: dict[int, Searched] = {}
    spent: dict[int, float] = {}
    t = time.perf_counter()
    for i, pr in enumerate(problems):
        if fav[i]:
            continue
        t_i = time.perf_counter()
        try:
            with guard():
                searched[i] = search_person(pr, session)
            spent[i] = time.perf_counter() - t_i
        except BaseException as exc:  # noqa: BLE001 - handed back to the caller, who decides
            if not capture_errors or isinstance(exc, KeyboardInterrupt):
                raise
            out[i] = Failed(exc, time.perf_counter() - t_i)
    t_search = time.perf_counter() - t
    t = time.perf_counter()
    fav_idx = [int(i) for i in np.flatnonzero(fav)]
    found = [i for i, s in searched.items() if s.search.action is not None]
    checks = verify_many([problems[i] for i in fav_idx + found],
                         [{}] * len(fav_idx) + [searched[i].search.action for i in found])
    t_verify = time.perf_counter() - t
    share = t_verify / max(len(checks), 1)
    ver = dict(zip(fav_idx + found, checks))
    for i in fav_idx:
        out[i] = already_favourable(problems[i], ver[i], time.perf_counter() - share - t_screen / len(problems))
    for i, s in searched.items():
        t_i = time.perf_counter()
        try:
            if i in ver:
                s.timings["verify"] = share
            with guard():
                res = finish(problems[i], s.compiled, s.search, s.timings,
                             time.perf_counter() - spent[i] - share, ver.get(i))
                out[i] = refine(problems[i], res, session)
        except BaseException as exc:  # noqa: BLE001
            if not capture_errors or isinstance(exc, KeyboardInterrupt):
                raise
            out[i] = Failed(exc, spent[i] + time.perf_counter() - t_i)
    stats = ManyStats(len(problems), len(fav_idx), session.loads, session.updates, t_screen, t_search, t_verify,
                      time.perf_counter() - t_start)
    return out, stats


__all__ = ["Failed", "ManyStats", "solve_many", "screen"]
