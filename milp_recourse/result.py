"""RecourseResult: the status-first answer for one person, serialisable with a schema version.

A result is read-only all the way down (its mappings are FrozenMap), records the engines that ran (`path`,
each with its own counters) and why every other engine did not (`path_reasons`), and round-trips through
`to_dict` / `from_dict` and `to_json` / `from_json`.
"""

from __future__ import annotations

import enum
import json
import math
from dataclasses import dataclass, field, fields
from typing import Any, Mapping

SCHEMA_VERSION = 2   # 2: path and path_reasons


class Status(str, enum.Enum):
    """Results, not exceptions (see DESIGN.md)."""

    OPTIMAL = "OPTIMAL"                          # proven optimal and verified
    FEASIBLE = "FEASIBLE"                        # limit hit: verified incumbent with a gap
    NO_RECOURSE = "NO_RECOURSE"                  # proven: no action satisfies the constraints
    UNKNOWN = "UNKNOWN"                          # limit hit (or approximate model infeasible), nothing found
    ALREADY_FAVOURABLE = "ALREADY_FAVOURABLE"    # the factual decision is already favourable
    VERIFICATION_FAILED = "VERIFICATION_FAILED"  # the solver's action fails the independent re-check
    ERROR = "ERROR"                              # the solver failed on this individual (batch only)


class SearchState(enum.StrEnum):
    """How one search engine ended (internal to the pipeline; equal to its lower-case string)."""

    OPTIMAL = "optimal"          # proven within the gap
    LIMIT = "limit"              # a limit was hit (an action may have been found)
    INFEASIBLE = "infeasible"    # no action exists in the searched model
    UNKNOWN = "unknown"          # a limit was hit with nothing found
    ERROR = "error"              # the solver failed


class FrozenMap(dict[str, Any]):
    """A read-only dict: results cross process boundaries (picklable) and go to JSON as they are, but
    `result.action["E"] = 5` raises TypeError."""

    def _refuse(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("a RecourseResult is read-only: copy it with dict(...) to change it")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = __ior__ = _refuse  # type: ignore[assignment]

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenMap, (dict(self),))


def _frozen(m: Mapping[str, Any] | None) -> FrozenMap | None:
    if m is None or isinstance(m, FrozenMap):
        return m
    return FrozenMap({k: _frozen(v) if isinstance(v, dict) else v for k, v in m.items()})


def _num(v: float | None) -> float | None:
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def _plain(v: Any) -> Any:
    """FrozenMaps (and tuples) back to JSON-ready dicts and lists."""
    if isinstance(v, Mapping):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


@dataclass(frozen=True)
class PathStep:
    """One engine that ran for this person: its name, seconds, how it ended and its own counters
    (boxes for the box search, nodes for the small branch and bound, rounds for the MILP / outer approximation,
    stages for the budget schedule, samples for the incumbent)."""

    engine: str
    seconds: float
    outcome: str
    counters: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "counters", _frozen(self.counters))

    def to_dict(self) -> dict[str, Any]:
        return {"engine": self.engine, "seconds": float(self.seconds), "outcome": self.outcome,
                "counters": {k: (int(v) if float(v).is_integer() else float(v)) for k, v in self.counters.items()}}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "PathStep":
        return cls(str(d["engine"]), float(d["seconds"]), str(d["outcome"]), dict(d.get("counters") or {}))


@dataclass(frozen=True)
class RecourseResult:
    """One person's recourse: status, action, counterfactual, proof quantities, the re-check and the path taken."""

    status: Status
    cost: float | None
    action: Mapping[str, float]
    counterfactual: Mapping[str, float]
    factual: Mapping[str, float]
    verified: bool
    objective_bound: float | None
    gap: float | None
    solve_seconds: float
    total_seconds: float
    backend: str
    cost_breakdown: Mapping[str, float] = field(default_factory=dict)
    score: float | None = None
    score_kind: str = ""
    score_threshold: float | None = None
    approximation_error: float = 0.0
    message: str = ""
    violations: tuple[str, ...] = ()
    certificate: Mapping[str, Any] | None = None
    timings: Mapping[str, float] = field(default_factory=dict)
    iterations: int = 0
    path: tuple[PathStep, ...] = ()
    path_reasons: Mapping[str, str] = field(default_factory=dict)
    levels: Mapping[str, tuple[str, ...]] = field(default_factory=dict)   # categorical / ordinal: code k = levels[k]

    def __post_init__(self) -> None:
        object.__setattr__(self, "levels", {k: tuple(v) for k, v in (self.levels or {}).items()})
        for name in ("action", "counterfactual", "factual", "cost_breakdown", "certificate", "timings",
                     "path_reasons", "levels"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))
        object.__setattr__(self, "violations", tuple(self.violations))
        object.__setattr__(self, "path", tuple(self.path))

    @property
    def found(self) -> bool:
        return self.status in (Status.OPTIMAL, Status.FEASIBLE)

    @property
    def engines(self) -> tuple[str, ...]:
        """The names of the engines that ran, in order."""
        return tuple(step.engine for step in self.path)

    def raw(self, values: Mapping[str, float]) -> dict[str, Any]:
        """Values as a user reads them: level names for categorical / ordinal features, numbers otherwise."""
        return {k: self.levels[k][int(round(float(v)))] if k in self.levels else float(v) for k, v in values.items()}

    @property
    def raw_action(self) -> dict[str, Any]:
        return self.raw(self.action)

    @property
    def raw_counterfactual(self) -> dict[str, Any]:
        return self.raw(self.counterfactual)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict; categorical / ordinal values are written as their level names."""
        return {
            "schema_version": SCHEMA_VERSION,
            "status": self.status.value,
            "cost": _num(self.cost),
            "action": self.raw(self.action),
            "counterfactual": self.raw(self.counterfactual),
            "factual": self.raw(self.factual),
            "verified": bool(self.verified),
            "objective_bound": _num(self.objective_bound),
            "gap": _num(self.gap),
            "solve_seconds": float(self.solve_seconds),
            "total_seconds": float(self.total_seconds),
            "backend": self.backend,
            "cost_breakdown": {k: float(v) for k, v in self.cost_breakdown.items()},
            "score": _num(self.score),
            "score_kind": self.score_kind,
            "score_threshold": _num(self.score_threshold),
            "approximation_error": float(self.approximation_error),
            "message": self.message,
            "violations": list(self.violations),
            "certificate": _plain(self.certificate),
            "timings": {k: float(v) for k, v in self.timings.items()},
            "iterations": int(self.iterations),
            "path": [step.to_dict() for step in self.path],
            "path_reasons": dict(self.path_reasons),
            "levels": {k: list(v) for k, v in self.levels.items()},
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "RecourseResult":
        """The result `to_dict` wrote (schema 1 or 2; unknown keys are refused, missing optional ones default)."""
        from milp_recourse.errors import InputError

        if not isinstance(d, Mapping):
            raise InputError(f"RecourseResult.from_dict expects a mapping. Got {type(d).__name__}.")
        version = d.get("schema_version", SCHEMA_VERSION)
        if version not in (1, SCHEMA_VERSION):
            raise InputError(f"Result schema_version {version!r} is not supported; expected 1 or {SCHEMA_VERSION}.")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known - {"schema_version"})
        if unknown:
            raise InputError(f"Unknown result field(s) {unknown}; expected some of {sorted(known)}.")
        missing = [n for n in ("status", "cost", "action", "counterfactual", "factual", "verified",
                               "objective_bound", "gap", "solve_seconds", "total_seconds", "backend") if n not in d]
        if missing:
            raise InputError(f"Result is missing field(s) {missing}.")
        try:
            status = Status(d["status"])
        except ValueError:
            raise InputError(f"Unknown status {d['status']!r}; expected one of {[s.value for s in Status]}.") from None
        kw = {k: v for k, v in d.items() if k in known}
        kw["status"] = status
        kw["violations"] = tuple(d.get("violations") or ())
        kw["path"] = tuple(PathStep.from_dict(s) for s in d.get("path") or ())
        levels = {k: tuple(v) for k, v in (d.get("levels") or {}).items()}
        for part in ("action", "counterfactual", "factual"):   # level names back to codes
            try:
                kw[part] = {k: float(levels[k].index(v)) if k in levels and isinstance(v, str) else v
                            for k, v in (d.get(part) or {}).items()}
            except ValueError:
                raise InputError(f"Result {part} names a level that 'levels' does not list: {d.get(part)!r}.") \
                    from None
        return cls(**kw)

    @classmethod
    def from_json(cls, text: str) -> "RecourseResult":
        return cls.from_dict(json.loads(text))
