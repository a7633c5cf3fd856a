"""Pyomo backend: the IR as a ConcreteModel (indexed Var, row rules over CSR slices), solved by any Pyomo solver.

``"pyomo"`` is Pyomo + ``appsi_highs``; ``"pyomo-<name>"`` is registered for the known names below whose
solver is installed (:func:`solver_found`; the others are known as missing, with :func:`missing_solver` saying
why) and ``PyomoBackend(solver_name=...)`` takes any other SolverFactory name. Limits and gaps go in as each
solver's own option names (``_OPTION_NAMES``; only the appsi_highs ones are exercised here, the others
follow the solvers' manuals). appsi_highs ignores a ``config.time_limit`` set on the solver object (its
legacy ``solve`` starts from a fresh config: 0.5 s set, 6 s taken), but honours the HiGHS option
``time_limit`` (0.3 s asked, returns within the test's 1.5 s). The cutoff is a row
``c.x + offset <= cutoff``, so INFEASIBLE means "nothing better than the cutoff", as for HiGHS.
Node counts are not reported through Pyomo's legacy results (always 0).
"""

from __future__ import annotations

import importlib.util
import logging
import math
import os
import shutil
import time
from typing import Any, Callable

import numpy as np

from milp_recourse.errors import BackendError
from milp_recourse.mip.ir import MIPModel
from milp_recourse.backends.base import Capabilities, MIPSolution, SolverParams, Termination
from milp_recourse.backends.ortools_backend import check_params, check_start, finish, has_quadratic

# option names per solver: time limit (s), relative MIP gap, threads, primal feasibility tolerance
_OPTION_NAMES: dict[str, dict[str, str]] = {
    "appsi_highs": {"time": "time_limit", "gap": "mip_rel_gap", "threads": "threads",
                    "feastol": "primal_feasibility_tolerance"},
    "gurobi": {"time": "TimeLimit", "gap": "MIPGap", "threads": "Threads", "feastol": "FeasibilityTol"},
    "cplex": {"time": "timelimit", "gap": "mip_tolerances_mipgap", "threads": "threads",
              "feastol": "simplex_tolerances_feasibility"},
    "cbc": {"time": "sec", "gap": "ratio", "threads": "threads"},
    "glpk": {"time": "tmlim", "gap": "mipgap"},
}

_CAPABILITIES: dict[str, Capabilities] = {
    "appsi_highs": Capabilities(mip=True, quadratic_lp=False, quadratic_mip=False, warm_start=True),
    "gurobi": Capabilities(mip=True, quadratic_lp=True, quadratic_mip=True, warm_start=True),
    "cplex": Capabilities(mip=True, quadratic_lp=True, quadratic_mip=True, warm_start=True),
    "cbc": Capabilities(mip=True, quadratic_lp=False, quadratic_mip=False, warm_start=True),
    "glpk": Capabilities(mip=True, quadratic_lp=False, quadratic_mip=False, warm_start=False),
}

KNOWN_SOLVERS: tuple[str, ...] = tuple(_OPTION_NAMES)

# how each solver is found without importing Pyomo: its display name, executables Pyomo runs, Python modules it uses
_FINDERS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "appsi_highs": ("HiGHS", (), ("highspy",)),
    "gurobi": ("Gurobi", ("gurobi.sh", "gurobi.bat"), ("gurobipy",)),
    "cplex": ("CPLEX", ("cplex",), ("cplex",)),
    "cbc": ("CBC", ("cbc",), ()),
    "glpk": ("GLPK", ("glpsol",), ()),
}


def _pyomo_bin() -> str:
    """The folder where `pyomo download-extensions` puts solvers (Pyomo searches it after PATH)."""
    base = os.environ.get("PYOMO_CONFIG_DIR") or os.path.join(os.path.expanduser("~"), ".pyomo")
    return os.path.join(base, "bin")


def solver_found(solver_name: str) -> bool:
    """Whether the solver's executable (PATH or Pyomo's bin folder) or Python module exists; no Pyomo import."""
    label, executables, modules = _FINDERS.get(solver_name, (solver_name, (solver_name,), ()))
    if any(shutil.which(exe) or shutil.which(exe, path=_pyomo_bin()) for exe in executables):
        return True
    return any(importlib.util.find_spec(mod) is not None for mod in modules)


def missing_solver(solver_name: str) -> str:
    """Why 'pyomo-<solver_name>' cannot run: the solver is not installed (and Pyomo itself, if it is not)."""
    label, executables, modules = _FINDERS.get(solver_name, (solver_name, (solver_name,), ()))
    looked = [f"no {' / '.join(executables)} on PATH"] if executables else []
    looked += [f"no {' / '.join(modules)} module"] if modules else []
    pyomo = ("Pyomo is installed" if importlib.util.find_spec("pyomo") is not None
             else "Pyomo is missing too: pip install 'milp_recourse[pyomo]'")
    return f"the {label} solver is not installed ({', '.join(looked)}); {pyomo}."


def _num(value: float) -> float | None:
    """Pyomo spells an infinite bound as None."""
    return float(value) if np.isfinite(value) else None


def build_pyomo_model(model: MIPModel, cutoff: float | None = None, zero_objective: bool = False) -> Any:
    """ConcreteModel with x[j] (bounds, domain), rows r[i] from CSR slices, objective obj (and cutoff row)."""
    import pyomo.environ as pyo

    n = model.n_cols
    m = pyo.ConcreteModel(name="milp_recourse")
    lb, ub, integ = model.col_lb.tolist(), model.col_ub.tolist(), model.integrality.tolist()
    m.x = pyo.Var(range(n), bounds=lambda _, j: (_num(lb[j]), _num(ub[j])),
                  within=lambda _, j: pyo.Integers if integ[j] else pyo.Reals)
    m.zero_ = pyo.Var(bounds=(0.0, 0.0))  # "zero_ >= 1" stands for a constant row that cannot hold
    A = model.A.tocsr()
    indptr, indices, data = A.indptr, A.indices.tolist(), A.data.tolist()
    lo, hi = model.row_lo.tolist(), model.row_hi.tolist()

    def row_rule(mm: Any, i: int) -> Any:
        a, b = int(indptr[i]), int(indptr[i + 1])
        terms = [(data[k], indices[k]) for k in range(a, b) if data[k] != 0.0]
        if not terms:
            return pyo.Constraint.Skip if lo[i] <= 1e-9 and hi[i] >= -1e-9 else mm.zero_ >= 1.0
        if not (np.isfinite(lo[i]) or np.isfinite(hi[i])):
            return pyo.Constraint.Skip
        expr = pyo.quicksum((c * mm.x[j] for c, j in terms))
        if lo[i] == hi[i]:
            return expr == lo[i]
        return (_num(lo[i]), expr, _num(hi[i]))

    m.r = pyo.Constraint(range(model.n_rows), rule=row_rule)
    nz = np.flatnonzero(model.c).tolist()
    linear = pyo.quicksum((float(model.c[j]) * m.x[j] for j in nz)) + float(model.offset)
    obj = linear
    if has_quadratic(model):
        nq = np.flatnonzero(model.q_diag).tolist()
        obj = linear + pyo.quicksum(0.5 * float(model.q_diag[j]) * m.x[j] ** 2 for j in nq)
    m.obj = pyo.Objective(expr=0.0 if zero_objective else obj, sense=pyo.minimize)
    if cutoff is not None:
        constant = not nz and not has_quadratic(model)
        m.cutoff = pyo.Constraint(rule=lambda mm: obj <= float(cutoff) if not constant else
                                  (pyo.Constraint.Skip if model.offset <= cutoff else mm.zero_ >= 1.0))
    return m


class PyomoBackend:
    """A Pyomo SolverFactory solver behind the backend contract; is_available() asks Pyomo itself."""

    extra = "pyomo"

    def __init__(self, solver_name: str = "appsi_highs", name: str | None = None) -> None:
        self.solver_name = solver_name
        self.name = name or ("pyomo" if solver_name == "appsi_highs" else f"pyomo-{solver_name}")
        self.capabilities = _CAPABILITIES.get(solver_name, Capabilities(mip=True))

    def is_available(self) -> bool:
        if importlib.util.find_spec("pyomo") is None:
            return False
        try:
            from pyomo.environ import SolverFactory

            return bool(SolverFactory(self.solver_name).available(exception_flag=False))
        except Exception:  # a broken solver plugin means "not available", never an import-time crash
            return False

    def _options(self, params: SolverParams, time_limit: float) -> dict[str, Any]:
        """SolverParams spelled in this solver's own option names (unknown solvers get none)."""
        names = _OPTION_NAMES.get(self.solver_name, {})
        values = {"time": float(time_limit), "gap": float(params.mip_gap), "threads": int(params.threads),
                  "feastol": float(params.feasibility_tol)}
        if not np.isfinite(time_limit):
            del values["time"]
        elif self.solver_name == "glpk":  # glpsol --tmlim takes whole seconds ('Invalid time limit 20.0')
            values["time"] = max(1, math.ceil(time_limit))
        return {names[k]: v for k, v in values.items() if k in names}

    def _sync_highs_threads(self, threads: int) -> None:
        """appsi_highs shares HiGHS' process-wide thread pool with the 'highs' backend; a run asking another
        size than the pool's fails, so size it through the same bookkeeping (resets only on a change)."""
        if self.solver_name == "appsi_highs":
            from milp_recourse.backends.highs import new_highs

            new_highs(int(threads))

    def _run(self, pm: Any, params: SolverParams, time_limit: float, warm: bool,
             no_presolve: bool = False) -> tuple[Any, bool]:
        """Solve pm; returns (results, solution_loaded). no_presolve: GLPK's --nopresol (a status it can report)."""
        from pyomo.environ import SolverFactory

        opt = SolverFactory(self.solver_name)
        options = self._options(params, time_limit)
        if no_presolve and self.solver_name == "glpk":
            options["nopresol"] = None
        kwargs: dict[str, Any] = {"tee": bool(params.verbose), "load_solutions": False, "options": options}
        if warm:
            kwargs["warmstart"] = True
        self._sync_highs_threads(params.threads)
        try:
            res = opt.solve(pm, **kwargs)
        except Exception as exc:  # solver plugins raise anything from RuntimeError to ApplicationError
            raise BackendError(f"{self.name}: solver {self.solver_name!r} failed: {type(exc).__name__}: {exc}") from exc
        loaded = False
        if len(res.solution) > 0:
            quiet = logging.getLogger("pyomo.core")  # it warns on every incumbent loaded at a limit
            level = quiet.level
            quiet.setLevel(logging.ERROR)
            try:
                pm.solutions.load_from(res)
                loaded = True
            except Exception:  # no usable point in the results
                loaded = False
            finally:
                quiet.setLevel(level)
        return res, loaded

    def solve(self, model: MIPModel, params: SolverParams) -> MIPSolution:
        """Build the ConcreteModel, solve, map Pyomo's termination condition onto Termination."""
        import pyomo.environ as pyo
        from pyomo.opt import TerminationCondition as TC

        check_params(params)
        start = check_start(model, params)
        if has_quadratic(model) and not (self.capabilities.quadratic_mip if model.integrality.any()
                                         else self.capabilities.quadratic_lp):
            raise BackendError(f"Backend {self.name!r} ({self.solver_name}) cannot solve a quadratic objective "
                               f"(q_diag is nonzero); use 'ortools-scip' or the outer-approximation driver.")
        t0 = time.perf_counter()
        cutoff = params.objective_cutoff if params.objective_cutoff is not None and \
            np.isfinite(params.objective_cutoff) else None
        pm = build_pyomo_model(model, cutoff)
        warm = start is not None and self.capabilities.warm_start and bool(model.integrality.any())
        if warm:
            for j, v in enumerate(start.tolist()):
                pm.x[j].set_value(v, skip_validation=True)
        res, loaded = self._run(pm, params, params.time_limit, warm)
        tc = res.solver.termination_condition
        x = None
        if loaded:
            vals = [pm.x[j].value for j in range(model.n_cols)]
            x = None if any(v is None for v in vals) else np.asarray(vals, float)
        obj = float(pyo.value(pm.obj)) if x is not None else float("inf")
        lower = res.problem.lower_bound
        bound = float(lower) if lower is not None and np.isfinite(float(lower)) else -np.inf
        if tc in (TC.optimal, TC.globallyOptimal, TC.locallyOptimal):
            term = Termination.OPTIMAL
        elif tc == TC.infeasible:
            term = Termination.INFEASIBLE
        elif tc == TC.unbounded:
            term = Termination.UNBOUNDED
        elif tc == TC.infeasibleOrUnbounded or (tc == TC.other and x is None and self.solver_name == "glpk"):
            # GLPK 5's LP presolver prints 'LP HAS NO PRIMAL FEASIBLE SOLUTION', which Pyomo's log parser does not
            # know (it expects 'PROBLEM HAS ...') and reports as 'other': settle it by a feasibility solve
            term, x = self._infeasible_or_unbounded(model, params, cutoff, t0), None
        elif tc in (TC.maxTimeLimit, TC.maxIterations, TC.maxEvaluations, TC.userInterrupt,
                    TC.resourceInterrupt, TC.feasible, TC.minFunctionValue, TC.minStepLength):
            term = Termination.FEASIBLE if x is not None else Termination.NO_SOLUTION
        elif tc == TC.intermediateNonInteger:  # CBC: a limit hit before any integer point (x is the LP's)
            term, x = Termination.NO_SOLUTION, None
        else:
            term, x = Termination.ERROR, None
        return finish(model, self.name, term, x, obj, bound, time.perf_counter() - t0,
                      f"{self.solver_name}: {tc}", 0)

    def _infeasible_or_unbounded(self, model: MIPModel, params: SolverParams, cutoff: float | None,
                                 t0: float) -> Termination:
        """Resolve 'infeasible or unbounded' by a feasibility solve: feasible means unbounded."""
        from pyomo.opt import TerminationCondition as TC

        left = params.time_limit - (time.perf_counter() - t0)
        if left <= 0:
            return Termination.ERROR
        res, loaded = self._run(build_pyomo_model(model, cutoff, zero_objective=True), params, left, False,
                                no_presolve=True)
        tc = res.solver.termination_condition
        if tc == TC.unbounded and self.solver_name == "glpk":  # a zero objective is never unbounded: Pyomo reads
            return Termination.INFEASIBLE                      # GLPK's primal status 'n' (no feasible point) so
        if tc in (TC.optimal, TC.globallyOptimal, TC.locallyOptimal, TC.feasible) or loaded:
            return Termination.UNBOUNDED
        if tc == TC.infeasible:
            return Termination.INFEASIBLE
        return Termination.ERROR


def pyomo_factory(solver_name: str) -> Callable[[], PyomoBackend]:
    """A zero-argument factory for the registry (one per Pyomo solver name)."""
    def make() -> PyomoBackend:
        return PyomoBackend(solver_name, name=f"pyomo-{solver_name}")
    make.__name__ = f"PyomoBackend_{solver_name}"
    return make
