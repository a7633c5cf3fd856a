"""The personalization study's configuration: a YAML file read into frozen, validated dataclasses.

Shape (see instances/study-small.yaml):
  name, seed, methods [exact, grid, causal-gd, wachter, amortized], exact {SolveOptions fields},
  baselines {method: {options}}, conditions [{kind, sizes, mapping}], cases [{name, scm,
  classifier, data, n, cost_p, sampling, exact, reference_n}].
Condition kinds: universal | hard | ranking | scores | hard+ranking | hard+scores. `sizes` (hard
kinds) lists the sizes of the random actionable subsets, one condition per size.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from milp_recourse.errors import InputError
from milp_recourse.problem.preferences import RANKING_MAPPINGS, SCORE_MAPPINGS
from milp_recourse.problem.options import SolveOptions

METHODS = ("exact", "grid", "causal-gd", "wachter", "amortized")
KINDS = ("universal", "hard", "ranking", "scores", "hard+ranking", "hard+scores")
DATA_SOURCES = ("carma", "sample")
SAMPLINGS = ("balanced", "random")
TOP_KEYS = ("name", "seed", "methods", "exact", "baselines", "conditions", "cases", "output")
CASE_KEYS = ("name", "scm", "classifier", "data", "n", "cost_p", "sampling", "exact", "reference_n")


@dataclass(frozen=True)
class Condition:
    """One personalization condition: a hard subset size and/or a soft-preference kind."""

    kind: str
    hard_size: int | None = None
    mapping: str | None = None

    @property
    def label(self) -> str:
        soft = self.kind.split("+")[-1] if self.kind != "hard" and self.kind != "universal" else ""
        parts = ([f"hard-{self.hard_size}"] if self.hard_size is not None else []) + ([soft] if soft else [])
        return "+".join(parts) or "universal"

    @property
    def soft(self) -> str | None:
        return next((s for s in ("ranking", "scores") if s in self.kind), None)


@dataclass(frozen=True)
class Case:
    """One (SCM, classifier, data) setting with its cost form and exact-solver options."""

    name: str
    scm: str
    classifier: str
    data: str = "sample"
    n: int = 10
    cost_p: int = 2
    sampling: str = "balanced"
    exact: Mapping[str, Any] = field(default_factory=dict)
    reference_n: int = 5000


@dataclass(frozen=True)
class StudyConfig:
    name: str
    seed: int
    methods: tuple[str, ...]
    conditions: tuple[Condition, ...]
    cases: tuple[Case, ...]
    exact: Mapping[str, Any] = field(default_factory=dict)
    baselines: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    output: str | None = None

    def solve_options(self, case: Case) -> SolveOptions:
        return SolveOptions(**{**self.exact, **case.exact})


def _unknown(d: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    bad = sorted(set(d) - set(allowed))
    if bad:
        raise InputError(f"Unknown key(s) {', '.join(map(repr, bad))} in {where}; expected some of "
                         f"{', '.join(allowed)}.")


def _int(v: Any, what: str, minimum: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        raise InputError(f"{what} must be an integer >= {minimum}. Got {v!r}.")
    return v


def _conditions(items: Any) -> tuple[Condition, ...]:
    if not isinstance(items, list) or not items:
        raise InputError(f"'conditions' must be a non-empty list. Got {items!r}.")
    out: list[Condition] = []
    for i, item in enumerate(items):
        item = {"kind": item} if isinstance(item, str) else item
        if not isinstance(item, Mapping):
            raise InputError(f"Condition {i} must be a kind name or a mapping. Got {item!r}.")
        _unknown(item, ("kind", "sizes", "mapping"), f"condition {i}")
        kind = item.get("kind")
        if kind not in KINDS:
            raise InputError(f"Condition {i} has kind {kind!r}; expected one of {', '.join(KINDS)}.")
        mapping = item.get("mapping")
        allowed = RANKING_MAPPINGS if "ranking" in kind else SCORE_MAPPINGS if "scores" in kind else ()
        if mapping is not None and mapping not in allowed:
            raise InputError(f"Condition {i} ({kind}) has mapping {mapping!r}; expected one of "
                             f"{', '.join(allowed) or '(none: this kind has no soft preferences)'}.")
        mapping = mapping or (allowed[0] if allowed else None)
        if kind.startswith("hard"):
            sizes = item.get("sizes", [1])
            if not isinstance(sizes, list) or not sizes:
                raise InputError(f"Condition {i} ({kind}) needs 'sizes', a non-empty list of integers. Got {sizes!r}.")
            out += [Condition(kind, _int(s, f"Condition {i} size", 1), mapping) for s in sizes]
        else:
            if "sizes" in item:
                raise InputError(f"Condition {i} ({kind}) takes no 'sizes' (only hard kinds do).")
            out.append(Condition(kind, None, mapping))
    labels = [c.label for c in out]
    dup = sorted({x for x in labels if labels.count(x) > 1})
    if dup:
        raise InputError(f"Conditions {dup} are listed more than once.")
    return tuple(out)


def _case(d: Any, i: int) -> Case:
    if not isinstance(d, Mapping):
        raise InputError(f"Case {i} must be a mapping with keys {', '.join(CASE_KEYS)}. Got {d!r}.")
    _unknown(d, CASE_KEYS, f"case {i}")
    for key in ("name", "scm", "classifier"):
        if not isinstance(d.get(key), str) or not d[key]:
            raise InputError(f"Case {i} needs a non-empty string {key!r}. Got {d.get(key)!r}.")
    data = d.get("data", "sample")
    if data not in DATA_SOURCES:
        raise InputError(f"Case {d['name']!r} has data {data!r}; expected one of {', '.join(DATA_SOURCES)}.")
    sampling = d.get("sampling", "balanced")
    if sampling not in SAMPLINGS:
        raise InputError(f"Case {d['name']!r} has sampling {sampling!r}; expected one of {', '.join(SAMPLINGS)}.")
    if d.get("cost_p", 2) not in (1, 2):
        raise InputError(f"Case {d['name']!r} has cost_p {d.get('cost_p')!r}; expected 1 or 2.")
    exact = d.get("exact", {}) or {}
    _check_solve_options(exact, f"case {d['name']!r} 'exact'")
    return Case(d["name"], d["scm"], d["classifier"], data, _int(d.get("n", 10), f"Case {d['name']!r} 'n'", 1),
                int(d.get("cost_p", 2)), sampling, dict(exact),
                _int(d.get("reference_n", 5000), f"Case {d['name']!r} 'reference_n'", 10))


def _check_solve_options(d: Any, where: str) -> None:
    if not isinstance(d, Mapping):
        raise InputError(f"{where} must be a mapping of solver options. Got {d!r}.")
    _unknown(d, tuple(f.name for f in fields(SolveOptions)), where)


def study_config(d: Mapping[str, Any]) -> StudyConfig:
    """Validate a parsed config mapping (every message names the bad key or value)."""
    if not isinstance(d, Mapping):
        raise InputError(f"A study config must be a mapping with keys {', '.join(TOP_KEYS)}. Got {d!r}.")
    _unknown(d, TOP_KEYS, "the study config")
    name = d.get("name")
    if not isinstance(name, str) or not name:
        raise InputError(f"The study config needs a non-empty string 'name'. Got {name!r}.")
    methods = tuple(d.get("methods", METHODS))
    bad = [m for m in methods if m not in METHODS]
    if bad or not methods or "exact" not in methods:
        raise InputError(f"'methods' must list 'exact' and any of {', '.join(METHODS)}. Got {list(methods)}.")
    exact = d.get("exact", {}) or {}
    _check_solve_options(exact, "'exact'")
    baselines = d.get("baselines", {}) or {}
    if not isinstance(baselines, Mapping) or any(k not in METHODS[1:] for k in baselines):
        raise InputError(f"'baselines' must map baseline names ({', '.join(METHODS[1:])}) to options. "
                         f"Got {baselines!r}.")
    cases = d.get("cases")
    if not isinstance(cases, list) or not cases:
        raise InputError(f"'cases' must be a non-empty list. Got {cases!r}.")
    parsed = tuple(_case(c, i) for i, c in enumerate(cases))
    names = [c.name for c in parsed]
    if len(set(names)) != len(names):
        raise InputError(f"Case names must be unique. Got {names}.")
    return StudyConfig(name, _int(d.get("seed", 0), "'seed'", 0), methods, _conditions(d.get("conditions")),
                       parsed, dict(exact), {k: dict(v or {}) for k, v in baselines.items()}, d.get("output"))


def load_study_config(path: str | Path) -> StudyConfig:
    """Read and validate a YAML study config."""
    import yaml

    p = Path(path)
    if not p.is_file():
        raise InputError(f"Study config {str(p)!r} does not exist.")
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        raise InputError(f"Study config {str(p)!r} is not valid YAML: {exc}") from None
    return study_config(data)
