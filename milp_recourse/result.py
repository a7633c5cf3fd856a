"""RecourseResult: the status-first answer for one person, serialisable with a schema version."""

from __future__ import annotations

import enum
import json
import math
from dataclasses import dataclass, field
from typing import Any, Mapping

SCHEMA_VERSION = 1


class Status(str, enum.Enum):
    """Results, not exceptions (see DESIGN.md)."""

    OPTIMAL = "OPTIMAL"                          # proven optimal and verified
    FEASIBLE = "FEASIBLE"                        # limit hit: verified incumbent with a gap
    NO_RECOURSE = "NO_RECOURSE"                  # proven: no action satisfies the constraints
    UNKNOWN = "UNKNOWN"                          # limit hit (or approximate model infeasible), nothing found
    ALREADY_FAVOURABLE = "ALREADY_FAVOURABLE"    # the factual decision is already favourable
    VERIFICATION_FAILED = "VERIFICATION_FAILED"  # the solver's action fails the independent re-check
    ERROR = "ERROR"                              # the solver failed on this individual (batch only)


def _num(v: float | None) -> float | None:
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


@dataclass(frozen=True)
class RecourseResult:
    """One person's recourse: status, action, counterfactual, proof quantities and the re-check."""

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

    @property
    def found(self) -> bool:
        return self.status in (Status.OPTIMAL, Status.FEASIBLE)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "status": self.status.value,
            "cost": _num(self.cost),
            "action": {k: float(v) for k, v in self.action.items()},
            "counterfactual": {k: float(v) for k, v in self.counterfactual.items()},
            "factual": {k: float(v) for k, v in self.factual.items()},
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
            "certificate": self.certificate,
            "timings": {k: float(v) for k, v in self.timings.items()},
            "iterations": int(self.iterations),
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)
