"""solve_many(problems): the same answers as exact.solve one by one, with the per-person overheads shared.

People whose score is linear and whose cost is a sum of |shift|^p over a piecewise-linear SCM are settled first,
without a MILP, by the exact closed form of solver/linear_pieces.py (and re-checked like every answer). For the
others, four things are shared across the people of a batch (compile once, solve many):
- the person-independent half of the SCM compile (encode/scm_plan.py): equations affine in the changing
  variables are derived once per (SCM, changing set) and only evaluated per person;
- one kept HiGHS relaxation (backends.highs_session): everyone is compiled first and searched grouped by
  model structure, so people whose MILPs have the same structure re-parameterise it by numbers only
  (abduced noise in right-hand sides, fixings in bounds, preferences in costs) and small models are
  searched on it by a branch and bound warm-started from the previous person's basis;
- one classifier call screens every factual (already favourable?);
- one classifier call re-checks every answer (scikit-learn's ~1 ms per call dominated small solves);
- ReLU-network people the box search settles are searched together, before any compile (solver/box_people.py:
  incumbents, polishes and box searches in lock-step, the same numbers as search_person, which compiles such a
  person only when the box search cannot settle it); the rest are compiled and go one by one.
People are taken in windows of WINDOW (compiled models are held for one window, not the whole list).
Statuses, certificates and messages are exactly those of exact.solve (the same functions run).
"""

from __future__ import annotations

import dataclasses
import time
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Callable, ContextManager, Sequence

import numpy as np

from milp_recourse.backends import get_backend
from milp_recourse.backends.highs_session import HighsSession, structure_key
from milp_recourse.encode.compile import CompiledInstance, compile_problem
from milp_recourse.errors import InputError
from milp_recourse.models.classifiers import favourable
from milp_recourse.models.threads import classifier_threads
from milp_recourse.problem.recourse_problem import RecourseProblem
from milp_recourse.result import RecourseResult, Status
from milp_recourse.scm.plan import PlanCache
from milp_recourse.solver.answer_rules import at_the_threshold, time_left
from milp_recourse.solver.box_people import guarded_box_people
from milp_recourse.solver.linear_pieces import ENGINE as CLOSED_FORM
from milp_recourse.solver.linear_pieces import NO_MODEL, settle
from milp_recourse.solver.pipeline import (Head, Searched, already_favourable, finish, refine, search_person,
                                            solve_as_given)
from milp_recourse.solver.verify import Verification, classifier_groups, verify_many

WINDOW = 512  # people compiled, searched and re-checked together; bounds the compiled models held in memory


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
    structures: int       # distinct model structures among the compiled people
    screen_seconds: float
    compile_seconds: float
    search_seconds: float
    verify_seconds: float
    total_seconds: float
    closed_form: int = 0  # people settled by the closed form over linear pieces (solver/linear_pieces.py)

    def per_person(self) -> dict[str, float]:
        """Mean seconds per person of each step (0 when there were no people)."""
        n = max(self.n, 1)
        return {k: getattr(self, f"{k}_seconds") / n for k in ("screen", "compile", "search", "verify", "total")}


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
               guard: Callable[[float], ContextManager] | None = None
               ) -> tuple[list[RecourseResult | Failed], ManyStats]:
    """Results in input order and where the time went.

    With `capture_errors` an exception raised while solving one person (or by `guard`, a per-person
    context manager such as a hard time limit) is returned in that person's place as a Failed instead of
    raised. `guard(spent)` wraps each stage of one person's work (search, finish) and is told the seconds that
    person has already spent, so a hard limit bounds the person's whole row, not each stage afresh.
    """
    originals = list(problems)
    for i, pr in enumerate(originals):
        if not isinstance(pr, RecourseProblem):
            raise InputError(f"solve_many expects RecourseProblem items; item {i} is a {type(pr).__name__}.")
    problems = [at_the_threshold(pr) for pr in originals]   # (as solve does: answer_rules.py)
    for name in sorted({pr.options.backend for pr in problems}):
        get_backend(name)  # an unknown or missing backend fails here, before any work (as in exact.solve)
    guard = guard or (lambda spent: nullcontext())
    t_start = time.perf_counter()
    session, plans = HighsSession(), PlanCache()
    out: list[RecourseResult | Failed] = []
    acc = {"already_favourable": 0, "screen": 0.0, "compile": 0.0, "search": 0.0, "verify": 0.0,
           "closed_form": 0}
    shapes: set[int] = set()
    with classifier_threads(max((pr.options.threads for pr in problems), default=1)):   # (as in solve)
        for lo in range(0, len(problems), WINDOW):
            out += _solve_window(problems[lo:lo + WINDOW], session, plans, capture_errors, guard, acc, shapes)
        for i, (original, res) in enumerate(zip(originals, out)):   # refused at the threshold: with the margin
            if problems[i] is not original and isinstance(res, RecourseResult) \
                    and res.status is Status.VERIFICATION_FAILED:
                try:
                    with guard(res.total_seconds):
                        out[i] = solve_as_given(time_left(original, res.total_seconds), session)
                except Exception:  # noqa: BLE001 - the guard fired: the first answer stands
                    if not capture_errors:
                        raise
    stats = ManyStats(len(problems), acc["already_favourable"], session.loads, session.updates, len(shapes),
                      acc["screen"], acc["compile"], acc["search"], acc["verify"], time.perf_counter() - t_start,
                      acc["closed_form"])
    return out, stats


def _solve_window(problems: list[RecourseProblem], session: HighsSession, plans: PlanCache, capture_errors: bool,
                  guard: Callable[[float], ContextManager], acc: dict, shapes: set[int]
                  ) -> list[RecourseResult | Failed]:
    """solve_many for one window of people (compiled models are held only for a window); adds to acc / shapes."""
    t_start = time.perf_counter()
    fav = screen(problems)
    t_screen = time.perf_counter() - t_start
    out: list[RecourseResult | Failed | None] = [None] * len(problems)
    searched: dict[int, Searched] = {}
    spent: dict[int, float] = {}

    def attempt(i: int, work: Callable[[], object]) -> object | None:
        t_i = time.perf_counter()
        try:
            with guard(spent.get(i, 0.0)):
                done = work()
            spent[i] = spent.get(i, 0.0) + time.perf_counter() - t_i
            return done
        except BaseException as exc:  # noqa: BLE001 - handed back to the caller, who decides
            if not capture_errors or isinstance(exc, KeyboardInterrupt):
                raise
            out[i] = Failed(exc, spent.get(i, 0.0) + time.perf_counter() - t_i)
            return None

    t = time.perf_counter()
    quick = _closed_forms(problems, fav, capture_errors)   # settled and re-checked without a MILP (linear_pieces.py)
    for i, (s, _) in quick.items():
        searched[i], spent[i] = s, s.search.seconds + s.timings["verify"]
    t_quick = time.perf_counter() - t
    t = time.perf_counter()
    open_ = [i for i in range(len(problems)) if not fav[i] and i not in quick]
    heads: dict[int, Head] = {}
    for i, (s, secs) in guarded_box_people(problems, open_, plans, guard).items():
        spent[i] = secs   # box-search people, searched together (no model compiled)
        if isinstance(s, Head):
            heads[i] = s   # not settled: search_person goes on from its box search, under the same deadline
        else:
            searched[i] = s
    t_box = time.perf_counter() - t
    t = time.perf_counter()
    compiled: dict[int, tuple[CompiledInstance, float]] = {}
    for i in open_:
        if i not in searched:
            done = attempt(i, lambda pr=problems[i]: _timed_compile(pr, plans))
            if done is not None:
                compiled[i] = done
    t_compile = time.perf_counter() - t
    t = time.perf_counter()
    groups = _by_structure(compiled)
    for i in (i for members in groups.values() for i in members):
        done = attempt(i, lambda i=i: search_person(problems[i], session, plans=plans, precompiled=compiled[i],
                                                         head=heads.get(i)))
        if done is not None:
            searched[i] = done
    t_search = time.perf_counter() - t + t_quick + t_box
    t = time.perf_counter()
    fav_idx = [int(i) for i in np.flatnonzero(fav)]
    found = [i for i, s in searched.items() if s.search.action is not None and i not in quick]
    checks = verify_many([problems[i] for i in fav_idx + found],
                         [{}] * len(fav_idx) + [searched[i].search.action for i in found])
    t_verify = time.perf_counter() - t
    share = t_verify / max(len(checks), 1)
    ver = dict(zip(fav_idx + found, checks))
    ver.update((i, v) for i, (_, v) in quick.items())
    for i in fav_idx:
        out[i] = already_favourable(problems[i], ver[i], time.perf_counter() - share - t_screen / len(problems))
    for i, s in searched.items():
        t_i = time.perf_counter()
        try:
            if i in ver and i not in quick:
                s.timings["verify"] = share
            with guard(spent.get(i, 0.0)):
                res = finish(problems[i], s.compiled, s.search, s.timings,
                             time.perf_counter() - spent[i] - share, ver.get(i))
                if s.search.engine == CLOSED_FORM:   # no backend ran: the result names the closed form
                    res = dataclasses.replace(res, backend=CLOSED_FORM)
                out[i] = refine(problems[i], res, session)
        except BaseException as exc:  # noqa: BLE001
            if not capture_errors or isinstance(exc, KeyboardInterrupt):
                raise
            out[i] = Failed(exc, spent[i] + time.perf_counter() - t_i)
    shapes.update(hash(key) for key in groups)
    for key, value in (("already_favourable", len(fav_idx)), ("screen", t_screen), ("compile", t_compile),
                       ("search", t_search), ("verify", t_verify), ("closed_form", len(quick))):
        acc[key] += value
    return out


def _closed_forms(problems: list[RecourseProblem], fav: np.ndarray, capture_errors: bool = False
                  ) -> dict[int, tuple[Searched, Verification]]:
    """The people the closed form over linear pieces settles, with their re-check (one classifier call); one
    whose action fails the re-check is left to the MILP pipeline, and so is everyone when the closed form raises
    under capture_errors (the MILP pipeline then hands back each person's own error, if any)."""
    todo = [i for i in range(len(problems)) if not fav[i]]
    try:
        found = settle([problems[i] for i in todo])
    except Exception:  # noqa: BLE001 - a batch-wide failure must not cost every person their answer
        if not capture_errors:
            raise
        return {}
    if not found:
        return {}
    t = time.perf_counter()
    idx = [todo[k] for k in found]
    checks = verify_many([problems[i] for i in idx], [o.action for o in found.values()])
    share = (time.perf_counter() - t) / len(idx)
    now = time.perf_counter()
    return {i: (Searched(NO_MODEL, o, {"solve": o.seconds, "verify": share}, now - o.seconds - share), v)
            for i, o, v in zip(idx, found.values(), checks) if v.ok}


def _timed_compile(problem: RecourseProblem, plans: PlanCache) -> tuple[CompiledInstance, float]:
    t = time.perf_counter()
    compiled = compile_problem(problem, plans=plans)
    return compiled, time.perf_counter() - t


def _by_structure(compiled: dict[int, tuple[CompiledInstance, float]]) -> dict[tuple, list[int]]:
    """People grouped by model structure (HighsSession's key): input order within a group, groups in order of
    first appearance."""
    groups: dict[tuple, list[int]] = {}
    for i, (c, _) in compiled.items():
        groups.setdefault(structure_key(c.model), []).append(i)
    return groups


__all__ = ["Failed", "ManyStats", "solve_many", "screen"]
