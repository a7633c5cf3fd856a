"""Recourse instances as JSON files (schema_version 1) with an optional independently computed `expected` block.

Layout: {"schema_version": 1, "name", "scm", "classifier": {"recipe": NAME, "n": 5000, "seed": 0} | {"file": PATH},
"individual": {...}, "actionability": {...}, "preferences": {"weights" | "ranking" + "mapping" | "scores" + "mapping"},
"cost": {"p", "divisors", "scale", "l0"}, "options": {...}, "expected": {"status", "cost", "method", "tolerance"}}.
Relative paths are resolved against the instance file's folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping

from milp_recourse.errors import InputError
from milp_recourse.problem.preferences import Preferences
from milp_recourse.problem.options import Actionability, CostSpec, SolveOptions
from milp_recourse.problem.recourse_problem import RecourseProblem

SCHEMA_VERSION = 1
_KEYS = {"schema_version", "name", "description", "scm", "classifier", "individual", "actionability", "preferences",
         "cost", "options", "expected"}


@dataclass(frozen=True)
class Instance:
    name: str
    problem: RecourseProblem
    expected: Mapping[str, Any] | None
    source: dict


def _classifier(spec: Mapping[str, Any], scm, folder: Path):
    from milp_recourse.models.classifiers import load_classifier
    from milp_recourse.models.recipes import train_recipe

    if "recipe" in spec:
        return train_recipe(scm, spec["recipe"], int(spec.get("n", 5000)), int(spec.get("seed", 0)))
    if "file" in spec:
        path = Path(spec["file"])
        return load_classifier(path if path.is_absolute() else folder / path)
    raise InputError(f"Instance classifier must have 'recipe' or 'file'; got keys {sorted(spec)}.")


def problem_from_dict(d: Mapping[str, Any], folder: Path = Path("."), scm=None, model=None) -> RecourseProblem:
    """Build (and validate) the RecourseProblem described by an instance dict."""
    from milp_recourse.scm import load_scm

    unknown = sorted(set(d) - _KEYS)
    if unknown:
        raise InputError(f"Unknown instance key(s) {unknown}; allowed: {sorted(_KEYS)}.")
    if d.get("schema_version") != SCHEMA_VERSION:
        raise InputError(f"Instance schema_version must be {SCHEMA_VERSION}; got {d.get('schema_version')!r}.")
    scm = scm or load_scm(d["scm"] if not str(d["scm"]).endswith((".yaml", ".yml", ".json")) else folder / d["scm"])
    model = model if model is not None else _classifier(d["classifier"], scm, folder)
    a = d.get("actionability", {})
    act = Actionability(actionable=tuple(a["actionable"]) if a.get("actionable") is not None else None,
                        bounds={k: tuple(v) for k, v in a.get("bounds", {}).items()},
                        directions=dict(a.get("directions", {})), max_changes=a.get("max_changes"),
                        grids={k: tuple(v) for k, v in a.get("grids", {}).items()})
    p = d.get("preferences", {})
    feats = list(act.actionable or [v.name for v in scm.variables if v.actionability != "immutable"])
    if "ranking" in p:
        prefs = Preferences.from_ranking(p["ranking"], feats, p.get("mapping", "rank"))
    elif "scores" in p:
        prefs = Preferences.from_scores(p["scores"], feats, p.get("mapping", "identity"))
    else:
        prefs = Preferences(weights=dict(p.get("weights", {})))
    if "preferred_ranges" in p:
        prefs = replace(prefs, preferred_ranges={k: tuple(v) for k, v in p["preferred_ranges"].items()},
                        range_penalty=float(p.get("range_penalty", 1.0)))
    c = d.get("cost", {})
    cost = CostSpec(p=int(c.get("p", 1)), divisors=dict(c.get("divisors", {})), scale=float(c.get("scale", 1.0)),
                    l0=float(c.get("l0", 0.0)))
    opts = SolveOptions(**d.get("options", {}))
    return RecourseProblem(scm, model, d["individual"], actionability=act, preferences=prefs, cost=cost, options=opts)


def load_instance(path: str | Path) -> Instance:
    path = Path(path)
    try:
        d = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise InputError(f"Cannot read instance {str(path)!r}: {err}.") from None
    return Instance(d.get("name", path.stem), problem_from_dict(d, path.parent), d.get("expected"), d)
