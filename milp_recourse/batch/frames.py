"""solve_many in the pandas idiom: a DataFrame of people in, a DataFrame of answers out (one row per person).

`solve_many(people_frame, scm=..., classifier=..., actionability=..., preferences=..., cost=...,
options=..., profiles=None)` returns a frame with the people's index and the columns
  status, cost, verified, gap, objective_bound, message,
  action.X   the new value of X where the person intervenes on X, NaN where not,
  cf.X       the counterfactual value of X (NaN when there is no counterfactual),
             (level names for categorical / ordinal X, None where there is no value),
  path       the engines that ran, each a dict with its counters (when results record a path).
No JSON strings inside the frame; `results_to_csv` writes the nested cells (path) as JSON.
The answers are those of `solve` one by one (it runs milp_recourse.solver.many.solve_many); every person is
validated before any solving, and a person whose solve raises gets status ERROR with the error as message.
A list of RecourseProblem goes to the solver's own solve_many and returns `(results, stats)` as before.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import fields
from typing import Any, overload

import numpy as np
import pandas as pd

from milp_recourse.batch.profiles import Profile, id_key, load_profiles
from milp_recourse.batch.run import _load_inputs
from milp_recourse.errors import InputError
from milp_recourse.problem.options import Actionability, CostSpec, SolveOptions
from milp_recourse.problem.preferences import Preferences
from milp_recourse.problem.recourse_problem import RecourseProblem
from milp_recourse.result import RecourseResult
from milp_recourse.solver import many

SUMMARY_COLUMNS = ("status", "cost", "verified", "gap", "objective_bound", "message")
ACTION, CF = "action.", "cf."


def _has_path() -> bool:
    return any(f.name == "path" for f in fields(RecourseResult))


def result_columns(names: Sequence[str]) -> list[str]:
    """The columns of a frame answer for an SCM with features `names`, in order."""
    return [*SUMMARY_COLUMNS, *(ACTION + n for n in names), *(CF + n for n in names),
            *(["path"] if _has_path() else [])]


def _num(v: float | None) -> float:
    return float("nan") if v is None or not math.isfinite(float(v)) else float(v)


def _row(res: RecourseResult | many.Failed, names: Sequence[str]) -> dict[str, Any]:
    """One person's answer as a flat row (a Failed solve becomes status ERROR)."""
    nan = float("nan")
    if isinstance(res, many.Failed):
        row: dict[str, Any] = {"status": "ERROR", "cost": nan, "verified": False, "gap": nan,
                               "objective_bound": nan, "message": f"{type(res.error).__name__}: {res.error}"}
        row.update({ACTION + n: nan for n in names})
        row.update({CF + n: nan for n in names})
        if _has_path():
            row["path"] = []
        return row
    row = {"status": res.status.value, "cost": _num(res.cost), "verified": bool(res.verified), "gap": _num(res.gap),
           "objective_bound": _num(res.objective_bound), "message": res.message}
    row.update({ACTION + n: float(res.action[n]) if n in res.action else nan for n in names})
    row.update({CF + n: float(res.counterfactual[n]) if n in res.counterfactual else nan for n in names})
    if _has_path():
        row["path"] = [s.to_dict() if hasattr(s, "to_dict") else s for s in getattr(res, "path", ())]
    return row


def _ids(people: pd.DataFrame, id_column: str | None) -> list[Any]:
    """The people's ids: the id column's values, else the frame's index labels."""
    if id_column is None:
        labels: list[Any] = people.index.tolist()   # Python scalars (np.int64(3) would show in messages)
        return labels
    if id_column not in people.columns:
        raise InputError(f"The id column {id_column!r} is not in the people frame; it has "
                         f"{', '.join(map(str, people.columns))}.")
    values: list[Any] = people[id_column].tolist()
    return values


def _per_person(people: pd.DataFrame, ids: list[Any], scm: Any, key: str, act: Actionability, prefs: Preferences,
                profiles: Any, profile_seed: int, ranking_map: str,
                score_map: str) -> list[tuple[Actionability, Preferences]]:
    """Each person's constraints and preferences: the base, with that person's profile row applied."""
    if profiles is None:
        return [(act, prefs)] * len(ids)
    keys = [id_key(i) for i in ids]
    repeated = pd.Series(keys)
    dup = sorted(set(repeated[repeated.duplicated()]))
    if dup:
        raise InputError(f"With profiles the people need unique ids (the {'index' if key == 'id' else repr(key)}); "
                         f"repeated: {dup[:10]}.")
    profs: dict[str, Profile] = load_profiles(profiles, ids, scm, key, act, prefs, profile_seed, ranking_map,
                                              score_map)
    spec_actionable = [v.name for v in scm.variables if v.actionability != "immutable"]
    return [profs[k].apply(act, prefs, spec_actionable, ranking_map, score_map) if k in profs else (act, prefs)
            for k in keys]


def solve_frame(people: pd.DataFrame, *, scm: Any, classifier: Any, actionability: Actionability | None = None,
                preferences: Preferences | None = None, cost: CostSpec | None = None,
                options: SolveOptions | None = None, profiles: Any = None, id_column: str | None = None,
                profile_seed: int = 0, ranking_map: str = "rank", score_map: str = "identity") -> pd.DataFrame:
    """Recourse for every row of `people` (one person a row; extra columns ignored): one answer row each.

    `profiles` (a DataFrame, a CSV/Parquet path or 'generator:NAME'; format in batch/profiles.py) is matched to
    the people by `id_column`, or by the frame's index when there is none (its key column is then 'id').
    `scm` / `classifier` are objects or names (a shipped SCM, a model recipe or path). The frame's
    `attrs["stats"]` holds where the time went (solver.many.ManyStats).
    """
    if not isinstance(people, pd.DataFrame):
        raise InputError(f"solve_frame expects a pandas DataFrame of people. Got {type(people).__name__}.")
    for what, value, kind in (("actionability", actionability, Actionability), ("preferences", preferences,
                              Preferences), ("cost", cost, CostSpec), ("options", options, SolveOptions)):
        if value is not None and not isinstance(value, kind):
            raise InputError(f"The {what!r} argument must be a {kind.__name__} or None. Got {type(value).__name__}.")
    act, prefs = actionability or Actionability(), preferences or Preferences()
    cost, options = cost or CostSpec(), options or SolveOptions()
    scm, classifier = _load_inputs(scm, classifier)
    ids = _ids(people, id_column)
    settings = _per_person(people, ids, scm, id_column or "id", act, prefs, profiles, profile_seed, ranking_map,
                           score_map)
    problems = []
    for ident, record, (a, p) in zip(ids, people.to_dict("records"), settings):
        try:
            problems.append(RecourseProblem(scm, classifier, record, actionability=a, preferences=p, cost=cost,
                                            options=options))
        except InputError as exc:
            raise InputError(f"Person {ident!r}: {exc}") from None
    results, stats = many.solve_many(problems, capture_errors=True)
    names = list(scm.names)
    out = pd.DataFrame([_row(r, names) for r in results], columns=result_columns(names), index=people.index)
    out["verified"] = out["verified"].astype(bool)
    for var in (v for v in scm.variables if v.levels):   # level names, as the people were given
        for col in (ACTION + var.name, CF + var.name):
            out[col] = out[col].map(lambda c, var=var: var.levels[int(round(c))] if pd.notna(c) else None)
    out.attrs["stats"] = stats
    return out


def _json_cell(v: Any) -> Any:
    if isinstance(v, (list, tuple, dict)):
        return json.dumps(v, separators=(",", ":"), default=str)
    return v


def results_to_csv(frame: pd.DataFrame, path_or_buf: Any = None, **kwargs: Any) -> str | None:
    """`frame.to_csv` with nested cells (the path) written as JSON strings; returns the text when no path."""
    flat = frame.copy()
    for col in flat.columns:
        if flat[col].dtype == object:
            flat[col] = flat[col].map(_json_cell)
    text: str | None = flat.to_csv(path_or_buf, **kwargs)
    return text


@overload
def solve_many(people: pd.DataFrame, /, **kwargs: Any) -> pd.DataFrame: ...


@overload
def solve_many(people: Sequence[RecourseProblem], /, *args: Any,
               **kwargs: Any) -> tuple[list[RecourseResult | many.Failed], many.ManyStats]: ...


def solve_many(people: Any, /, *args: Any, **kwargs: Any) -> Any:
    """Many people at once, dispatched on the input type.

    - a DataFrame of people (keywords scm=, classifier=, actionability=, preferences=, cost=, options=,
      profiles=, id_column=): a DataFrame of answers, one row per person (see solve_frame);
    - a list of RecourseProblem (optional capture_errors=, guard=): `(results, stats)` as
      milp_recourse.solver.many.solve_many returns them.
    """
    if isinstance(people, pd.DataFrame):
        if args:
            raise InputError("solve_many(people_frame, ...) takes its other arguments by keyword: "
                             "solve_many(frame, scm=..., classifier=..., options=...).")
        return solve_frame(people, **kwargs)
    if isinstance(people, (pd.Series, dict, np.ndarray)):
        raise InputError(f"solve_many takes a DataFrame of people or a list of RecourseProblem. Got a "
                         f"{type(people).__name__}; for one person use solve(RecourseProblem(...)).")
    frame_only = sorted(set(kwargs) & {"scm", "classifier", "actionability", "preferences", "cost", "options",
                                       "profiles", "id_column"})
    if frame_only:   # a list of dicts with the frame form's keywords (a TypeError about 'scm' before)
        keys = ", ".join(k + "=" for k in frame_only)
        raise InputError(f"solve_many takes {keys} with a DataFrame of people (pandas.DataFrame(records) for a list "
                         "of dicts); a list of RecourseProblem carries its own.")
    return many.solve_many(people, *args, **kwargs)


__all__ = ["result_columns", "results_to_csv", "solve_frame", "solve_many"]
