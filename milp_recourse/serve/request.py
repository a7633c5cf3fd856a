"""A JSON request body (what the page or an API client sends) -> a validated RecourseProblem.

No web framework here: plain dicts in, the library's own classes out (Actionability, Preferences.from_ranking /
from_scores, CostSpec, SolveOptions, RecourseProblem), so every message about a bad value is the library's
InputError text, the same one the CLI prints.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any, Mapping

from milp_recourse.errors import InputError
from milp_recourse.problem.constraints_check import check_constraints
from milp_recourse.problem.options import Actionability, CostSpec, SolveOptions
from milp_recourse.problem.preferences import RANKING_MAPPINGS, SCORE_MAPPINGS, Preferences
from milp_recourse.problem.recourse_problem import RecourseProblem

FIELDS = ("individual", "actionable", "bounds", "directions", "max_changes", "ranking", "scores", "weights",
          "preferred", "ranking_map", "score_map", "range_penalty", "cost_p")
WEIGHT_FIELDS = ("ranking", "scores", "weights")


def parse_json(raw: bytes) -> dict[str, Any]:
    """The request body as a dict; malformed JSON or a non-object is an InputError naming what was wrong."""
    try:
        body = json.loads(raw.decode("utf-8") if raw else "")
    except UnicodeDecodeError:
        raise InputError("The request body must be UTF-8 encoded JSON.") from None
    except json.JSONDecodeError as err:
        raise InputError(f"The request body is not valid JSON ({err.msg} at position {err.pos}).") from None
    except RecursionError:
        raise InputError("The request body is nested too deeply to read; send a flat JSON object.") from None
    if not isinstance(body, dict):
        raise InputError(f"The request body must be a JSON object {{\"individual\": {{...}}, ...}}. "
                         f"Got {type(body).__name__ if body is not None else 'null'}.")
    return body


def _mapping(body: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = body.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InputError(f"'{key}' must be an object keyed by feature names, e.g. {{\"E\": ...}}. Got {value!r}.")
    return dict(value)


def _whole(value: Any) -> Any:
    """A JSON number that is a whole float (1.0, as Python's json.dumps writes a float 1) as the integer it is: JSON
    has one number type, so the API reads `"cost_p": 1.0` as 1; anything else is left for the library to judge."""
    return int(value) if isinstance(value, float) and value.is_integer() and abs(value) < 2 ** 53 else value


def check_fields(body: Mapping[str, Any]) -> None:
    """Unknown keys, a missing individual and several weight sources are refused before any work."""
    unknown = sorted(k for k in body if k not in FIELDS)
    if unknown:
        raise InputError(f"Unknown field(s) {', '.join(map(repr, unknown))} in the request; expected some of "
                         f"{', '.join(FIELDS)}.")
    if body.get("individual") is None:
        raise InputError("The request needs 'individual': the person's record as {\"feature\": value, ...}.")
    given = [k for k in WEIGHT_FIELDS if body.get(k) is not None]
    if len(given) > 1:
        raise InputError(f"Give one of 'ranking', 'scores' or 'weights', not several. Got {', '.join(given)}.")


def _preferences(body: Mapping[str, Any], features: list[str]) -> Preferences:
    """Weights from the ranking / scores / weights, plus preferred ranges (as the CLI builds them)."""
    ranking, scores = body.get("ranking"), body.get("scores")
    ranking_map, score_map = body.get("ranking_map") or "rank", body.get("score_map") or "identity"
    # (checked even when unused, as the CLI's --ranking-map / --score-map choices are)
    if ranking_map not in RANKING_MAPPINGS:
        raise InputError(f"Unknown ranking mapping {ranking_map!r}; expected one of {', '.join(RANKING_MAPPINGS)}.")
    if score_map not in SCORE_MAPPINGS:
        raise InputError(f"Unknown score mapping {score_map!r}; expected one of {', '.join(SCORE_MAPPINGS)}.")
    if ranking is not None:
        if not isinstance(ranking, list) or not all(isinstance(n, str) for n in ranking):
            raise InputError(f"The ranking must be a list of feature names, easiest first. Got {ranking!r}.")
        prefs = Preferences.from_ranking(ranking, features, ranking_map)
    elif scores is not None:
        prefs = Preferences.from_scores(_mapping(body, "scores"), features, score_map)
    else:
        prefs = Preferences(weights=_mapping(body, "weights"))
    penalty = body.get("range_penalty", 1.0)
    return dataclasses.replace(prefs, preferred_ranges=_mapping(body, "preferred"),
                               range_penalty=1.0 if penalty is None else penalty)


def build_problem(scm, classifier, body: Mapping[str, Any], time_limit: float) -> RecourseProblem:
    """Validate a request body and build the person's RecourseProblem (InputError on any bad value)."""
    check_fields(body)
    act = Actionability(actionable=body.get("actionable"), bounds=_mapping(body, "bounds"),
                        directions=_mapping(body, "directions"), max_changes=_whole(body.get("max_changes")))
    spec_actionable = [v.name for v in scm.variables if v.actionability != "immutable"]
    features = list(act.actionable if act.actionable is not None else spec_actionable)
    prefs = _preferences(body, features)
    cost_p = _whole(body.get("cost_p", 1))
    cost = CostSpec(p=1 if cost_p is None else cost_p)
    if not (isinstance(time_limit, (int, float)) and math.isfinite(time_limit) and time_limit > 0):
        raise InputError(f"The server's time limit must be a number > 0. Got {time_limit!r}.")
    check_constraints(scm, act, classifier)   # what `milp-recourse solve` refuses, /api/solve refuses (422)
    return RecourseProblem(scm, classifier, body["individual"], actionability=act, preferences=prefs, cost=cost,
                           options=SolveOptions(time_limit=float(time_limit)))


def relaxed_body(body: Mapping[str, Any], keys: list[str], scm) -> dict[str, Any]:
    """The same request with the named constraint groups given up ('fixed:I', 'lower:L', 'direction:S', ...).

    A feature the person said they cannot change becomes actionable but stays out of the ranking / scores, so it
    gets the hardest weight, as in the library's own relaxation and `milp-recourse explain` (an outside fuzz: ranked
    last, it cost twice the library's price in 16 of 58 cases; under reciprocal-rank or normalized scores it also
    re-weighed every other feature). The page shows it unranked and sends it so (static/app.js)."""
    out = json.loads(json.dumps(body))  # a deep copy of plain JSON
    spec_actionable = [v.name for v in scm.variables if v.actionability != "immutable"]
    for key in keys:
        kind, _, name = key.partition(":")
        if kind == "fixed" and out.get("actionable") is not None:
            out["actionable"] = [n for n in spec_actionable if n in out["actionable"] or n == name]
        elif kind in ("lower", "upper") and name in (out.get("bounds") or {}):
            pair = list(out["bounds"][name])
            pair[0 if kind == "lower" else 1] = None
            out["bounds"][name] = pair
            if pair == [None, None]:
                del out["bounds"][name]
        elif kind == "direction":
            (out.get("directions") or {}).pop(name, None)
        elif kind == "max_changes":
            out["max_changes"] = None
    return out


__all__ = ["FIELDS", "parse_json", "check_fields", "build_problem", "relaxed_body"]
