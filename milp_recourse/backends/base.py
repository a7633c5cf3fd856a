"""Solver-neutral backend contract: parameters in, :class:`MIPSolution` out, plus a registry.

Backends are the only modules that import a solver library; each declares capability flags
and maps its solver's statuses onto :class:`Termination`.
"""

from __future__ import annotations

import enum
import threading
from dataclasses import dataclass, field
from typing import Callable, Protocol

import numpy as np

from milp_recourse.errors import BackendUnavailableError, InputError
from milp_recourse.mip.ir import MIPModel


class Termination(str, enum.Enum):
    """Why the solver stopped. FEASIBLE = a limit hit with an incumbent; NO_SOLUTION = a limit hit without."""

    OPTIMAL = "optimal"
    INFEASIBLE = "infeasible"
    FEASIBLE = "feasible"
    NO_SOLUTION = "no_solution"
    UNBOUNDED = "unbounded"
    ERROR = "error"


@dataclass(frozen=True)
class SolverParams:
    """Per-solve parameters (time in seconds, gaps relative)."""

    time_limit: float = 60.0
    mip_gap: float = 1e-6
    threads: int = 1
    verbose: bool = False
    objective_cutoff: float | None = None  # prune nodes whose bound exceeds this (minimisation)
    start: np.ndarray | None = field(default=None, compare=False)  # full-length MIP start, if any
    feasibility_tol: float = 1e-7
    sub_mip_heuristics: bool = True  # False when the caller holds an incumbent: skip RINS / RENS-style sub-MIPs
    presolve_probing: bool = True  # False: skip probing in MIP presolve (tree ensembles: many binaries, little gain)
    restarts: bool = True  # False: no restart of the MIP search after root reductions (tree budget stages)
    presolve: bool = True  # False: no MIP presolve, HiGHS (milp_search's retry when a bound passes a verified cost)
    cancel: threading.Event | None = field(default=None, compare=False)  # set: stop soon (backends with cancel)


@dataclass(frozen=True)
class MIPSolution:
    """What a backend returns; x is None when no feasible point is known."""

    termination: Termination
    x: np.ndarray | None
    objective: float
    bound: float
    seconds: float
    backend: str
    message: str = ""
    nodes: int = 0

    @property
    def gap(self) -> float:
        if self.x is None or not np.isfinite(self.bound):
            return float("inf")
        return max(0.0, self.objective - self.bound) / max(1.0, abs(self.objective))


@dataclass(frozen=True)
class Capabilities:
    mip: bool = True
    quadratic_lp: bool = False   # continuous convex QP
    quadratic_mip: bool = False  # MIQP
    warm_start: bool = False
    incremental: bool = False
    cancel: bool = False         # honours SolverParams.cancel (stops a running solve when the event is set)


class Backend(Protocol):
    name: str
    capabilities: Capabilities
    extra: str  # the pip extra that installs it

    def is_available(self) -> bool: ...

    def solve(self, model: MIPModel, params: SolverParams) -> MIPSolution: ...


_FACTORIES: dict[str, Callable[[], Backend]] = {}
_MISSING: dict[str, Callable[[], str]] = {}  # known names whose solver is not installed -> why


def register_backend(name: str, factory: Callable[[], Backend]) -> None:
    _FACTORIES[name] = factory
    _MISSING.pop(name, None)


def register_missing(name: str, why: Callable[[], str]) -> None:
    """A known backend whose solver is not installed: get_backend(name) says why instead of 'unknown'."""
    if name not in _FACTORIES:
        _MISSING[name] = why


def backend_names() -> list[str]:
    return sorted(_FACTORIES)


def available_backends() -> list[str]:
    return [n for n in backend_names() if _FACTORIES[n]().is_available()]


def get_backend(name: str) -> Backend:
    """The backend registered as name; errors list the known and the installed ones."""
    if name in _MISSING:
        raise BackendUnavailableError(f"Backend {name!r} cannot run: {_MISSING[name]()} "
                                      f"Installed backends: {', '.join(available_backends()) or 'none'}.")
    if name not in _FACTORIES:
        raise InputError(f"Unknown backend {name!r}. Known backends: {', '.join(backend_names())}; "
                         f"installed: {', '.join(available_backends()) or 'none'}.")
    backend = _FACTORIES[name]()
    if not backend.is_available():
        raise BackendUnavailableError(
            f"Backend {name!r} needs an optional dependency: pip install 'milp_recourse[{backend.extra}]'. "
            f"Installed backends: {', '.join(available_backends()) or 'none'}.")
    return backend
