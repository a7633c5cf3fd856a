"""The worker side of a batch: solve a chunk of individuals from plain, picklable data.

Workers receive the SCM as its spec dict, the classifier object, the cost and solve options and a
list of Tasks; they rebuild the SCM once per chunk and never see a solver object. Every individual's
failure (an exception, the hard time limit) becomes that row's status; a chunk never raises.
"""

from __future__ import annotations

import json
import math
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Sequence

from milp_recourse.problem.preferences import Preferences
from milp_recourse.problem.options import Actionability

# result columns produced per individual (the batch adds the id and the data's own columns)
RESULT_COLUMNS = ("status", "cost", "verified", "gap", "objective_bound", "seconds", "cpu_seconds", "n_changed",
                  "changed", "actionable", "action", "counterfactual", "certificate", "message", "path", "path_reasons")


@dataclass(frozen=True)
class Task:
    """One individual to solve: id key (text), factual values in SCM order, hard and soft constraints."""

    key: str
    x: tuple[float, ...]
    actionability: Actionability
    preferences: Preferences


class HardTimeout(Exception):
    """The per-individual hard time limit fired (SIGALRM)."""


@contextmanager
def hard_limit(seconds: float | None) -> Iterator[None]:
    """Raise HardTimeout after `seconds` of wall time, where SIGALRM is usable (POSIX main thread).

    Elsewhere (e.g. Dask's worker threads) only the solver's own time limit applies. `seconds` <= 0 (a person
    whose earlier stages used the whole limit) raises HardTimeout at once.
    """
    if seconds is not None and seconds <= 0:
        raise HardTimeout()
    usable = (seconds is not None and seconds > 0 and hasattr(signal, "setitimer")
              and threading.current_thread() is threading.main_thread()
              and signal.getsignal(signal.SIGALRM) in (signal.SIG_DFL, signal.SIG_IGN, None))
    if not usable:
        yield
        return

    def fire(signum: int, frame: Any) -> None:
        raise HardTimeout()

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, float(seconds))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0.0)
        signal.signal(signal.SIGALRM, old)


def _json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=False, separators=(",", ":"), allow_nan=False, default=str)


def _num(v: float | None) -> float:
    return float("nan") if v is None or not math.isfinite(float(v)) else float(v)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def fields_from_result(res: Any, actionable: Sequence[str], seconds: float) -> dict[str, Any]:
    """The result columns of one solved individual."""
    changed = list(res.action)
    cert = res.certificate
    return {"status": res.status.value, "cost": _num(res.cost), "verified": bool(res.verified),
            "gap": _num(res.gap), "objective_bound": _num(res.objective_bound), "seconds": float(seconds),
            "cpu_seconds": 0.0,
            "n_changed": len(changed), "changed": ";".join(changed), "actionable": ";".join(actionable),
            "action": _json({k: float(v) for k, v in res.action.items()}),
            "counterfactual": _json({k: float(v) for k, v in res.counterfactual.items()}),
            "certificate": certificate_summary(cert), "message": _one_line(res.message),
            "path": _json([step.to_dict() for step in getattr(res, "path", ())]),
            "path_reasons": _json(dict(getattr(res, "path_reasons", {})))}


def certificate_summary(cert: Mapping[str, Any] | None) -> str:
    """The certificate's kind, proof flags and message as JSON ('' when there is none)."""
    if not cert:
        return ""
    keep = ("kind", "proven", "confirmed", "message", "blocked_features", "note")
    return _json({k: cert[k] for k in keep if k in cert})


def failure_fields(status: str, message: str, actionable: Sequence[str], seconds: float) -> dict[str, Any]:
    """The result columns of an individual whose solve raised or hit the hard time limit."""
    nan = float("nan")
    return {"status": status, "cost": nan, "verified": False, "gap": nan, "objective_bound": nan,
            "seconds": float(seconds), "cpu_seconds": 0.0, "n_changed": 0, "changed": "",
            "actionable": ";".join(actionable),
            "action": "{}", "counterfactual": "{}", "certificate": "", "message": _one_line(message),
            "path": "[]", "path_reasons": "{}"}


def effective_actionable(scm, act: Actionability) -> tuple[str, ...]:
    """The features this person may act on (the profile's, else the spec's)."""
    if act.actionable is not None:
        return tuple(act.actionable)
    return tuple(v.name for v in scm.variables if v.actionability != "immutable")


def solve_task(scm, classifier: Any, cost: Any, options: Any, task: Task, hard_seconds: float | None) -> dict[str, Any]:
    """Solve one individual; any exception or the hard limit becomes the row's status."""
    from milp_recourse.solver import pipeline as exact
    from milp_recourse.problem.recourse_problem import RecourseProblem

    acts = effective_actionable(scm, task.actionability)
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        with hard_limit(hard_seconds):
            problem = RecourseProblem(scm, classifier, dict(zip(scm.names, task.x)), actionability=task.actionability,
                                      preferences=task.preferences, cost=cost, options=options)
            res = exact.solve(problem)
        out = fields_from_result(res, acts, time.perf_counter() - t0)
    except HardTimeout:
        out = failure_fields("UNKNOWN", f"The hard time limit of {hard_seconds:g} s per individual was reached.",
                             acts, time.perf_counter() - t0)
    except Exception as exc:  # one person's failure must never end the run
        out = failure_fields("ERROR", f"{type(exc).__name__}: {exc}", acts, time.perf_counter() - t0)
    out["cpu_seconds"] = time.process_time() - c0  # < seconds when the worker shares its CPU with others
    out["key"] = task.key
    return out


def solve_task_options(scm, classifier: Any, cost: Any, options: Any, task: Task, hard_seconds: float | None,
                       k: int) -> list[dict[str, Any]]:
    """Up to k ranked options of one individual (solver/options.py), one row each with its `option` rank; the
    hard limit covers all k solves (k x the per-individual limit). Any failure becomes one row (option 1, or the
    next rank after the options already found)."""
    from milp_recourse.problem.recourse_problem import RecourseProblem
    from milp_recourse.solver.options import solve_options

    acts = effective_actionable(scm, task.actionability)
    t0, c0 = time.perf_counter(), time.process_time()
    rows: list[dict[str, Any]] = []
    try:
        with hard_limit(None if hard_seconds is None else hard_seconds * k):
            problem = RecourseProblem(scm, classifier, dict(zip(scm.names, task.x)), actionability=task.actionability,
                                      preferences=task.preferences, cost=cost, options=options)
            rows = [dict(fields_from_result(res, acts, res.total_seconds), option=j)
                    for j, res in enumerate(solve_options(problem, k), 1)]
    except HardTimeout:
        rows = [dict(failure_fields("UNKNOWN", f"The hard time limit of {hard_seconds * k:g} s for {k} options per "
                                    f"individual was reached.", acts, time.perf_counter() - t0), option=1)]
    except Exception as exc:  # one person's failure must never end the run
        rows = [dict(failure_fields("ERROR", f"{type(exc).__name__}: {exc}", acts, time.perf_counter() - t0),
                     option=1)]
    share = (time.process_time() - c0) / len(rows)
    return [dict(row, cpu_seconds=share, key=task.key) for row in rows]


def solve_chunk(context: Mapping[str, Any], tasks: Sequence[Task]) -> list[dict[str, Any]]:
    """Solve a chunk of individuals with one thread each; returns one result dict per task, or per option of each
    task when the context asks for `n_options` > 1 (never raises)."""
    from threadpoolctl import threadpool_limits

    from milp_recourse.scm.spec import scm_from_dict

    try:
        scm = scm_from_dict(context["scm"])
    except Exception as exc:
        return [dict(failure_fields("ERROR", f"Could not rebuild the SCM on the worker: {exc}", (), 0.0),
                     key=t.key) for t in tasks]
    k = int(context.get("n_options", 1))
    with threadpool_limits(limits=1):
        if k > 1:
            return [row for t in tasks for row in solve_task_options(scm, context["classifier"], context["cost"],
                                                                     context["options"], t,
                                                                     context.get("hard_seconds"), k)]
        return solve_tasks(scm, context["classifier"], context["cost"], context["options"], tasks,
                           context.get("hard_seconds"))


def solve_tasks(scm, classifier: Any, cost: Any, options: Any, tasks: Sequence[Task],
                hard_seconds: float | None) -> list[dict[str, Any]]:
    """Solve a chunk through solve_many (kept HiGHS relaxation, batched classifier re-checks).

    A person whose solve raises or hits the hard limit gets that as the row's status; a person whose
    problem cannot be built, or everyone when solve_many itself fails, goes through solve_task, which
    turns any failure into the row's status.
    """
    from milp_recourse.problem.recourse_problem import RecourseProblem
    from milp_recourse.solver.many import Failed, solve_many

    problems, index = [], []
    for i, task in enumerate(tasks):
        try:
            problems.append(RecourseProblem(scm, classifier, dict(zip(scm.names, task.x)),
                                            actionability=task.actionability, preferences=task.preferences,
                                            cost=cost, options=options))
            index.append(i)
        except Exception:  # noqa: BLE001 - solve_task reports it as this row's error
            pass
    c0 = time.process_time()
    try:
        solved, _ = solve_many(problems, capture_errors=True,   # the limit bounds a person's row: stages share it
                               guard=lambda spent: hard_limit(None if hard_seconds is None else hard_seconds - spent))
        results = dict(zip(index, solved))
    except Exception:  # noqa: BLE001 - every person is then solved one by one
        results = {}
    cpu_share = (time.process_time() - c0) / max(len(problems), 1)
    out = []
    for i, task in enumerate(tasks):
        res = results.get(i)
        acts = effective_actionable(scm, task.actionability)
        if res is None:
            out.append(solve_task(scm, classifier, cost, options, task, hard_seconds))
            continue
        if isinstance(res, Failed):
            err = res.error
            row = (failure_fields("UNKNOWN", f"The hard time limit of {hard_seconds:g} s per individual was reached.",
                                  acts, res.seconds) if isinstance(err, HardTimeout) else
                   failure_fields("ERROR", f"{type(err).__name__}: {err}", acts, res.seconds))
        else:
            row = fields_from_result(res, acts, res.total_seconds)
        row["cpu_seconds"] = cpu_share  # the chunk's CPU time per person (shared steps are batched)
        row["key"] = task.key
        out.append(row)
    return out


__all__ = ["Task", "RESULT_COLUMNS", "solve_chunk", "solve_task", "solve_task_options", "solve_tasks", "hard_limit",
           "HardTimeout"]
