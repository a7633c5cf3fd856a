"""Load SCMs from YAML/JSON spec files (or the models shipped as package data in ``milp_recourse/scm/specs/``).

Layout::

    name: loan
    description: free text
    variables:                       # any order; stored topologically sorted (stable)
      - name: G
        type: binary                 # continuous | integer | binary | categorical | ordinal
        domain: [0, 1]               # finite [lower, upper]; also the range interventions may set
        levels: [a, b, c]            # categorical / ordinal only: stored as codes 0..K-1 (no domain)
        level_costs: {b: 2}          # optional: cost of moving into a level, or {from: {to: cost}}
        actionability: immutable     # immutable | actionable | increase | decrease
        sensitive: true              # optional, default false
        description: gender          # optional
        equation: "U_G"              # over parent variables and this variable's own noise
        noise: {name: U_G, dist: bernoulli, p: 0.5}
    label: "..."                     # optional ground-truth label equation
"""

from __future__ import annotations

import json
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Mapping

import networkx as nx
import yaml

from milp_recourse.errors import SpecError, describe, parse_problem
from milp_recourse.scm.expr import names as expr_names, parse, to_text
from milp_recourse.scm.levels import LEVELED_KINDS, check_levels, cost_table, table_to_spec
from milp_recourse.scm.model import SCM, check_names
from milp_recourse.scm.variable import Variable
from milp_recourse.scm.noise import noise_from_spec

TOP_KEYS = ("name", "description", "variables", "label", "constraints", "schema_version")
VARIABLE_KEYS = ("name", "type", "domain", "actionability", "sensitive", "description", "equation", "noise",
                 "levels", "level_costs")
REQUIRED_VARIABLE_KEYS = ("name", "type", "actionability", "equation", "noise")
SUFFIXES = (".yaml", ".yml", ".json")


def _specs() -> Traversable:
    """The shipped specs as package data (found the same way in a source tree, an editable or a wheel install)."""
    return resources.files("milp_recourse.scm").joinpath("specs")


def models_dir() -> Path:
    """The folder of the shipped SCM specs, ``milp_recourse/scm/specs`` (the top-level ``models`` links to it)."""
    return Path(str(_specs()))


def _suffix(path: Path | Traversable) -> str:
    return Path(path.name).suffix.lower()


def _read(path: Path | Traversable) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"Cannot read the SCM spec file {str(path)!r}: {exc.strerror}.") from None
    try:
        return json.loads(text) if _suffix(path) == ".json" else yaml.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise SpecError(f"The SCM spec file {str(path)!r} is not valid {_suffix(path)[1:].upper()}: "
                        f"{parse_problem(exc)}") from None


def shipped_models() -> list[str]:
    """Names of the SCM specs shipped in ``milp_recourse/scm/specs`` (files with a 'variables' list)."""
    folder = _specs()
    if not folder.is_dir():
        return []
    out = []
    for p in sorted(folder.iterdir(), key=lambda t: t.name):
        if _suffix(p) in SUFFIXES and p.is_file():
            try:
                data = _read(p)
            except SpecError:
                continue
            if isinstance(data, Mapping) and isinstance(data.get("variables"), list):
                out.append(Path(p.name).stem)
    return out


def _resolve(path_or_name: str | Path) -> Path | Traversable:
    if isinstance(path_or_name, Path) or Path(str(path_or_name)).suffix.lower() in SUFFIXES \
            or "/" in str(path_or_name) or "\\" in str(path_or_name):
        path = Path(path_or_name)
        if not path.is_file():
            raise SpecError(f"No SCM spec file at {str(path)!r}; expected an existing .yaml/.yml/.json file "
                            f"or a shipped model name ({', '.join(shipped_models()) or 'none found'}).")
        return path
    if not isinstance(path_or_name, str) or not path_or_name:
        raise SpecError(f"Expected a spec file path or a shipped model name; got {describe(path_or_name)}.")
    for suffix in SUFFIXES:
        candidate = _specs().joinpath(f"{path_or_name}{suffix}")
        if candidate.is_file():
            return candidate
    if Path(path_or_name).is_file():
        return Path(path_or_name)
    raise SpecError(f"Unknown SCM {path_or_name!r}; shipped models: {', '.join(shipped_models()) or 'none found'} "
                    f"(or pass a path to a .yaml/.yml/.json file).")


def load_scm(path_or_name: str | Path) -> SCM:
    """Load an SCM from a spec file path or the name of a shipped model (e.g. 'loan')."""
    path = _resolve(path_or_name)
    try:
        return scm_from_dict(_read(path))
    except SpecError as exc:
        raise SpecError(f"{path}: {exc}") from None


def _check_keys(d: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    unknown = [k for k in d if k not in allowed]
    if unknown:
        raise SpecError(f"Unknown key(s) {unknown} in {where}; allowed: {', '.join(allowed)}.")


def _domain(raw: Any, name: str, kind: str, levels: tuple[str, ...] = ()) -> tuple[float, float]:
    if raw is None and kind == "binary":
        return 0.0, 1.0
    if kind in LEVELED_KINDS:
        if raw is not None and list(raw) != [0, len(levels) - 1]:
            raise SpecError(f"The {kind} variable {name!r} takes 'levels', not 'domain' (its codes are "
                            f"0..{len(levels) - 1}); got domain {describe(raw)}.")
        return 0.0, float(len(levels) - 1)
    ok = isinstance(raw, (list, tuple)) and len(raw) == 2 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in raw)
    if not ok:
        raise SpecError(f"Variable {name!r} needs 'domain: [lower, upper]' with two numbers; got {describe(raw)}.")
    return float(raw[0]), float(raw[1])


def _variable(d: Any, i: int) -> tuple[Variable, str, Mapping[str, Any]]:
    """Variable, equation text and noise spec of the i-th variable entry."""
    if not isinstance(d, Mapping):
        raise SpecError(f"Variable entry #{i + 1} must be a mapping with keys {', '.join(VARIABLE_KEYS)}; "
                        f"got {describe(d)}.")
    where = f"variable {d.get('name', f'#{i + 1}')!r}"
    _check_keys(d, VARIABLE_KEYS, where)
    missing = [k for k in REQUIRED_VARIABLE_KEYS if k not in d]
    if missing:
        raise SpecError(f"The {where} is missing key(s) {missing}; required: {', '.join(REQUIRED_VARIABLE_KEYS)}.")
    name, noise = d["name"], d["noise"]
    if not isinstance(noise, Mapping):
        raise SpecError(f"The noise of {where} must be a mapping like {{name: U_X, dist: normal, std: 1}}; "
                        f"got {describe(noise)}.")
    if not isinstance(d["equation"], (str, int, float)) or isinstance(d["equation"], bool):
        raise SpecError(f"The equation of {where} must be a string; got {describe(d['equation'])}.")
    sensitive = d.get("sensitive", False)
    if not isinstance(sensitive, bool):
        raise SpecError(f"'sensitive' of {where} must be true or false; got {describe(sensitive)}.")
    levels: tuple[str, ...] = ()
    table = None
    if d["type"] in LEVELED_KINDS:
        levels = check_levels(str(name), str(d["type"]), d.get("levels"))
        table = cost_table(str(name), levels, d.get("level_costs"))
    elif "levels" in d or "level_costs" in d:
        raise SpecError(f"The {where} is {d['type']}; only categorical and ordinal variables take 'levels' / "
                        "'level_costs'.")
    lo, hi = _domain(d.get("domain"), str(name), str(d["type"]), levels)
    var = Variable(name=name, kind=d["type"], lower=lo, upper=hi, actionability=d["actionability"],
                   noise_name=noise.get("name", f"U_{name}"), sensitive=sensitive,
                   description=str(d.get("description", "")), levels=levels,
                   level_costs=table)
    return var, str(d["equation"]), noise


def scm_from_dict(d: Mapping[str, Any]) -> SCM:
    """Build and validate an SCM from a parsed spec dict (variables sorted topologically, stably)."""
    if not isinstance(d, Mapping):
        raise SpecError(f"An SCM spec must be a mapping with keys {', '.join(TOP_KEYS)}; got {describe(d)}.")
    _check_keys(d, TOP_KEYS, "the SCM spec")
    if not isinstance(d.get("name"), str) or not d["name"]:
        raise SpecError(f"The SCM spec needs a non-empty string 'name'; got {describe(d.get('name'))}.")
    entries = d.get("variables")
    if not isinstance(entries, list) or not entries:
        raise SpecError(f"The SCM spec needs a non-empty list 'variables'; got {describe(entries)}.")
    parsed = [_variable(e, i) for i, e in enumerate(entries)]
    vnames = [v.name for v, _, _ in parsed]
    nnames = [v.noise_name for v, _, _ in parsed]
    check_names(d["name"], [v for v, _, _ in parsed])   # (the SCM's own name rules, before the equations' order)
    equations, noises = {}, {}
    for v, text, noise in parsed:
        try:
            equations[v.name] = parse(text, allowed_names=set(vnames) | set(nnames))
            noises[v.noise_name] = noise_from_spec(noise)
        except SpecError as exc:
            raise SpecError(f"Variable {v.name!r}: {exc}") from None
    label = d.get("label")
    if label is not None:
        if not isinstance(label, str):
            raise SpecError(f"'label' must be an equation string; got {describe(label)}.")
        label = parse(label, allowed_names=set(vnames) | set(nnames))
    constraints = d.get("constraints") or []
    if not isinstance(constraints, list) or not all(isinstance(c, str) and c.strip() for c in constraints):
        raise SpecError("'constraints' must be a list of texts like 'if A -> a then B = b' or 'T += r * S'; got "
                        f"{describe(d.get('constraints'))}.")
    graph = nx.DiGraph()
    graph.add_nodes_from(vnames)
    graph.add_edges_from((p, n) for n, e in equations.items() for p in expr_names(e) if p in equations)
    pos = {n: i for i, n in enumerate(vnames)}
    try:
        order = list(nx.lexicographical_topological_sort(graph, key=pos.__getitem__))
    except nx.NetworkXUnfeasible:
        cycle = [a for a, _ in nx.find_cycle(graph)]
        raise SpecError(f"SCM {d['name']!r} is cyclic: {' -> '.join(cycle + cycle[:1])}.") from None
    variables = tuple(parsed[pos[n]][0] for n in order)
    return SCM(name=d["name"], variables=variables, equations=equations, noises=noises, label=label,
               description=str(d.get("description") or "").strip(), constraints=tuple(constraints))


def scm_to_dict(scm: SCM) -> dict[str, Any]:
    """The spec dict of an SCM (inverse of :func:`scm_from_dict`)."""
    variables = []
    for v in scm.variables:
        entry: dict[str, Any] = {"name": v.name, "type": v.kind, "domain": [v.lower, v.upper],
                                 "actionability": v.actionability, "sensitive": v.sensitive,
                                 "equation": to_text(scm.equations[v.name]),
                                 "noise": {"name": v.noise_name, **scm.noises[v.noise_name].to_spec()}}
        if v.description:
            entry["description"] = v.description
        if v.levels:
            del entry["domain"]
            entry["levels"] = list(v.levels)
            if v.level_costs is not None:
                entry["level_costs"] = table_to_spec(v.levels, v.level_costs)
        variables.append(entry)
    out: dict[str, Any] = {"name": scm.name, "description": scm.description, "variables": variables}
    if scm.label is not None:
        out["label"] = to_text(scm.label)
    if scm.constraints:
        out["constraints"] = list(scm.constraints)
    return out


__all__ = ["load_scm", "scm_from_dict", "scm_to_dict", "shipped_models", "models_dir"]
