"""Solver backends: the only package that imports solver libraries (lazily, inside each backend)."""

from .base import (Backend, Capabilities, MIPSolution, SolverParams, Termination, available_backends,
                   backend_names, get_backend, register_backend)
from .highs import HighsBackend

register_backend("highs", HighsBackend)

__all__ = ["Backend", "Capabilities", "MIPSolution", "SolverParams", "Termination", "available_backends",
           "backend_names", "get_backend", "register_backend", "solve_mip"]


def solve_mip(model, params: SolverParams | None = None, backend: str = "highs") -> MIPSolution:
    """Solve a MIPModel with the named backend."""
    return get_backend(backend).solve(model, params or SolverParams())
