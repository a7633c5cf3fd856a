"""The personalization study's configuration: a YAML file read into frozen, validated dataclasses.

Shape (see instances/study-small.yaml):
  name, seed, methods [exact, grid, causal-gd, wachter, amortized, amortized-learned], exact {SolveOptions fields},
  baselines {method: {options}}, conditions [{kind, sizes, mapping}], cases [{name, scm,
  classifier, data, n, cost_p, sampling, exact, reference_n}].
Condition kinds: universal | hard | ranking | scores | hard+ranking | hard+scores | preferred. `sizes` (hard
kinds) lists the sizes of the random actionable subsets, one condition per size. Soft kinds take
`normalize: true | false | both` (weights divided by their mean over the allowed features, so soft
conditions are not costlier merely because weights are >= 1) and `group_hardest: {"G=0": E}` (a profile
that differs by group: that group's people rank / score E hardest). `preferred` gives each person a
preferred range of +- `width` stds around the factual value of one random allowed feature, with a cost
of `penalty` per std outside it. `name` overrides the condition's label. A relative `output` resolves
against the config file's folder and may not leave it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from milp_recourse.errors import InputError, parse_problem
from milp_recourse.problem.preferences import RANKING_MAPPINGS, SCORE_MAPPINGS
from milp_recourse.problem.options import SolveOptions

METHODS = ("exact", "grid", "causal-gd", "wachter", "amortized", "amortized-learned")   # -learned: trained on a
# fitted SCM (learned_scm), judged on the true one
OPTIONAL_METHODS = ("exact-plausible",)   # run only when listed: the exact solver under a plausibility constraint
# resolved on each case's reference data (baselines: {exact-plausible: {plausible: box | density:Q}}, default box)
KINDS = ("universal", "hard", "ranking", "scores", "hard+ranking", "hard+scores", "preferred")
COND_KEYS = ("kind", "sizes", "mapping", "normalize", "group_hardest", "width", "penalty", "name")
DATA_SOURCES = ("carma", "sample")
SAMPLINGS = ("balanced", "random")
TOP_KEYS = ("name", "seed", "methods", "exact", "baselines", "conditions", "cases", "output", "support_widen",
            "bootstrap_resamples")
CASE_KEYS = ("name", "scm", "classifier", "data", "n", "cost_p", "sampling", "exact", "reference_n")


@dataclass(frozen=True)
class Condition:
    """One personalization condition: a hard subset size and/or a soft-preference kind with its options."""

    kind: str
    hard_size: int | None = None
    mapping: str | None = None
    normalize: bool = False
    group_hardest: tuple[tuple[str, str], ...] = ()   # (group label like 'G=0', feature that group finds hardest)
    width: float = 0.5                                # preferred: half-width of the range, in stds
    penalty: float = 0.1                              # preferred: cost per std outside the range
    name: str | None = None

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        soft = self.kind.split("+")[-1] if self.kind not in ("hard", "universal") else ""
        parts = ([f"hard-{self.hard_size}"] if self.hard_size is not None else []) + ([soft] if soft else [])
        base = "+".join(parts) or "universal"
        if self.group_hardest:
            base += "[" + ",".join(f"{g}:{f}" for g, f in self.group_hardest) + " hardest]"
        return base + ("/mean1" if self.normalize else "")

    @property
    def soft(self) -> str | None:
        return next((s for s in ("ranking", "scores", "preferred") if s in self.kind), None)


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
    support_widen: float = 1.0      # unclipped re-solve: each domain widened by this many ranges per side; 0 = off
    bootstrap_resamples: int = 2000

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


def _number(v: Any, what: str, positive: bool) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0 or (positive and v == 0):
        raise InputError(f"{what} must be a finite number {'> 0' if positive else '>= 0'}. Got {v!r}.")
    return float(v)


def _soft_options(item: Mapping[str, Any], i: int, kind: str) -> tuple[list[bool], tuple[tuple[str, str], ...]]:
    """The `normalize` variants and the `group_hardest` profile of condition i (validated)."""
    norm = item.get("normalize", False)
    if norm not in (True, False, "both"):
        raise InputError(f"Condition {i} ({kind}) has normalize {norm!r}; expected true, false or 'both'.")
    soft = any(k in kind for k in ("ranking", "scores"))
    if (norm or "group_hardest" in item) and not soft:
        raise InputError(f"Condition {i} ({kind}) takes no 'normalize' or 'group_hardest' (only ranking / scores "
                         "kinds have weights).")
    gh = item.get("group_hardest", {}) or {}
    if not isinstance(gh, Mapping) or not all(isinstance(k, str) and "=" in k and isinstance(v, str) and v
                                              for k, v in gh.items()):
        raise InputError(f"Condition {i} ({kind}) has group_hardest {gh!r}; expected a mapping like "
                         "{'G=0': 'E'} (group label -> the feature that group finds hardest).")
    return ([False, True] if norm == "both" else [bool(norm)]), tuple(sorted(gh.items()))


def _conditions(items: Any) -> tuple[Condition, ...]:
    if not isinstance(items, list) or not items:
        raise InputError(f"'conditions' must be a non-empty list. Got {items!r}.")
    out: list[Condition] = []
    for i, item in enumerate(items):
        item = {"kind": item} if isinstance(item, str) else item
        if not isinstance(item, Mapping):
            raise InputError(f"Condition {i} must be a kind name or a mapping. Got {item!r}.")
        _unknown(item, COND_KEYS, f"condition {i}")
        kind = item.get("kind")
        if kind not in KINDS:
            raise InputError(f"Condition {i} has kind {kind!r}; expected one of {', '.join(KINDS)}.")
        mapping = item.get("mapping")
        allowed = RANKING_MAPPINGS if "ranking" in kind else SCORE_MAPPINGS if "scores" in kind else ()
        if mapping is not None and mapping not in allowed:
            raise InputError(f"Condition {i} ({kind}) has mapping {mapping!r}; expected one of "
                             f"{', '.join(allowed) or '(none: this kind has no weights)'}.")
        mapping = mapping or (allowed[0] if allowed else None)
        norms, profile = _soft_options(item, i, kind)
        if kind != "preferred" and ("width" in item or "penalty" in item):
            raise InputError(f"Condition {i} ({kind}) takes no 'width' / 'penalty' (only 'preferred' does).")
        width = _number(item.get("width", 0.5), f"Condition {i} 'width'", positive=True)
        penalty = _number(item.get("penalty", 0.1), f"Condition {i} 'penalty'", positive=False)
        name = item.get("name")
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise InputError(f"Condition {i} has name {name!r}; expected a non-empty string.")
        if kind.startswith("hard"):
            sizes = item.get("sizes", [1])
            if not isinstance(sizes, list) or not sizes:
                raise InputError(f"Condition {i} ({kind}) needs 'sizes', a non-empty list of integers. Got {sizes!r}.")
            sizes = [_int(s, f"Condition {i} size", 1) for s in sizes]
        else:
            if "sizes" in item:
                raise InputError(f"Condition {i} ({kind}) takes no 'sizes' (only hard kinds do).")
            sizes = [None]
        for size in sizes:
            for norm in norms:
                label = None
                if name:
                    label = name + (f"-{size}" if len(sizes) > 1 else "") + ("/mean1" if norm and len(norms) > 1
                                                                              else "")
                out.append(Condition(kind, size, mapping, norm, profile, width, penalty, label))
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


def resolve_output(output: Any, base_dir: Path | None) -> str | None:
    """A config's `output`, resolved against the config file's folder; a path that leaves it is refused."""
    if output is None:
        return None
    if not isinstance(output, str) or not output.strip():
        raise InputError(f"'output' must be a non-empty folder path. Got {output!r}.")
    if base_dir is None:
        return output
    base = base_dir.resolve()
    target = (base / output).resolve()
    if target != base and base not in target.parents:
        raise InputError(f"'output' {output!r} resolves to {str(target)!r}, outside the config's folder "
                         f"{str(base)!r}; give a folder inside it (or pass --out).")
    if target == base:
        raise InputError(f"'output' {output!r} is the config's own folder; name a subfolder for the results.")
    return str(target)


def study_config(d: Mapping[str, Any], base_dir: Path | None = None) -> StudyConfig:
    """Validate a parsed config mapping (every message names the bad key or value); `output` is resolved
    against base_dir (the config file's folder) when given."""
    if not isinstance(d, Mapping):
        raise InputError(f"A study config must be a mapping with keys {', '.join(TOP_KEYS)}. Got {d!r}.")
    _unknown(d, TOP_KEYS, "the study config")
    name = d.get("name")
    if not isinstance(name, str) or not name:
        raise InputError(f"The study config needs a non-empty string 'name'. Got {name!r}.")
    methods = tuple(d.get("methods", METHODS))
    bad = [m for m in methods if m not in METHODS + OPTIONAL_METHODS]
    if bad or not methods or "exact" not in methods:
        raise InputError(f"'methods' must list 'exact' and any of {', '.join(METHODS + OPTIONAL_METHODS)}. "
                         f"Got {list(methods)}.")
    exact = d.get("exact", {}) or {}
    _check_solve_options(exact, "'exact'")
    baselines = d.get("baselines", {}) or {}
    if not isinstance(baselines, Mapping) or any(k not in METHODS[1:] + OPTIONAL_METHODS for k in baselines):
        raise InputError(f"'baselines' must map baseline names ({', '.join(METHODS[1:] + OPTIONAL_METHODS)}) to "
                         f"options. Got {baselines!r}.")
    plausible = (baselines.get("exact-plausible") or {})
    if not isinstance(plausible, Mapping) or set(plausible) - {"plausible"} or not isinstance(
            plausible.get("plausible", "box"), str):
        raise InputError(f"'baselines' 'exact-plausible' takes one option 'plausible' (box or density:Q). "
                         f"Got {plausible!r}.")
    cases = d.get("cases")
    if not isinstance(cases, list) or not cases:
        raise InputError(f"'cases' must be a non-empty list. Got {cases!r}.")
    parsed = tuple(_case(c, i) for i, c in enumerate(cases))
    names = [c.name for c in parsed]
    if len(set(names)) != len(names):
        raise InputError(f"Case names must be unique. Got {names}.")
    return StudyConfig(name, _int(d.get("seed", 0), "'seed'", 0), methods, _conditions(d.get("conditions")),
                       parsed, dict(exact), {k: dict(v or {}) for k, v in baselines.items()},
                       resolve_output(d.get("output"), base_dir),
                       _number(d.get("support_widen", 1.0), "'support_widen'", positive=False),
                       _int(d.get("bootstrap_resamples", 2000), "'bootstrap_resamples'", 100))


def load_study_config(path: str | Path) -> StudyConfig:
    """Read and validate a YAML study config."""
    import yaml

    p = Path(path)
    if p.is_dir():
        raise InputError(f"Study config {str(p)!r} is a folder; expected a YAML file (e.g. "
                         "instances/study-small.yaml).")
    if not p.is_file():
        raise InputError(f"Study config {str(p)!r} does not exist.")
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        raise InputError(f"Study config {str(p)!r} is not valid YAML: {parse_problem(exc)}") from None
    return study_config(data, p.parent)
