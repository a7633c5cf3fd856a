"""Solver backends: the only package that imports solver libraries (lazily, inside each backend)."""

from milp_recourse.backends.base import (Backend, Capabilities, MIPSolution, SolverParams, Termination,
                                         available_backends, backend_names, get_backend, register_backend,
                                         register_missing)
from milp_recourse.backends.highs import HighsBackend
from milp_recourse.backends.ortools_backend import OrtoolsCbcBackend, OrtoolsHighsBackend, OrtoolsScipBackend
from milp_recourse.backends.pyomo_backend import (KNOWN_SOLVERS as _PYOMO_SOLVERS, PyomoBackend, missing_solver,
                                                  pyomo_factory, solver_found)

register_backend("highs", HighsBackend)
register_backend("ortools-scip", OrtoolsScipBackend)
register_backend("ortools-cbc", OrtoolsCbcBackend)
register_backend("ortools-highs", OrtoolsHighsBackend)
register_backend("pyomo", PyomoBackend)
for _solver in _PYOMO_SOLVERS:  # only the solvers that are installed; the others say what is missing
    if solver_found(_solver):
        register_backend(f"pyomo-{_solver}", pyomo_factory(_solver))
    else:
        register_missing(f"pyomo-{_solver}", lambda s=_solver: missing_solver(s))

__all__ = ["Backend", "Capabilities", "MIPSolution", "SolverParams", "Termination", "available_backends",
           "backend_names", "get_backend", "register_backend", "register_missing", "solve_mip"]


def solve_mip(model, params: SolverParams | None = None, backend: str = "highs") -> MIPSolution:
    """Solve a MIPModel with the named backend."""
    return get_backend(backend).solve(model, params or SolverParams())
