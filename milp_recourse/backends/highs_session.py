"""A HiGHS instance kept across many solves of same-structured models (compile once, solve many).

Loading a model whose sparsity pattern, integrality and Hessian pattern match the loaded one changes
numbers only (bounds, right-hand sides, costs, changed matrix entries), so HiGHS keeps its basis and
the next relaxation warm-starts from the previous person's. The session solves continuous
relaxations (LP, or convex QP when the model has a quadratic objective); branching is done by
milp_recourse.solver.small_bnb on top of it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from milp_recourse.backends.highs import new_highs, run_highs, to_highs_hessian, to_highs_lp
from milp_recourse.mip.ir import MIPModel
from milp_recourse.result import SearchState

PRIMAL_TOL = 1e-9


@dataclass(frozen=True)
class Relaxation:
    """One relaxation solve: state 'optimal' | 'infeasible' | 'other', the point and its objective."""

    state: SearchState
    x: np.ndarray | None
    objective: float


def _canonical_csr(A) -> sp.csr_matrix:
    """A as CSR with sorted, summed indices (the IR builds it so; anything else is converted)."""
    if sp.isspmatrix_csr(A) and A.has_canonical_format:
        return A
    A = sp.csr_matrix(A, copy=True)
    A.sum_duplicates()
    return A


def _structure(model: MIPModel, csr: sp.csr_matrix, q: np.ndarray) -> tuple:
    return (model.n_cols, model.n_rows, model.integrality.tobytes(), csr.indptr.tobytes(),
            csr.indices.tobytes(), (q != 0).tobytes())


def structure_key(model: MIPModel) -> tuple:
    """What must match for a loaded model to be re-parameterised by numbers only (load() reloads otherwise)."""
    q = model.q_diag if model.q_diag is not None else np.zeros(model.n_cols)
    return _structure(model, _canonical_csr(model.A), q)


class HighsSession:
    """Relaxations of a stream of models on one HiGHS instance; reloads only when the structure changes."""

    def __init__(self, threads: int = 1, time_limit: float = 60.0) -> None:
        self._threads = threads
        self._time_limit = time_limit
        self._h = None
        self._signature: tuple | None = None
        self._data: np.ndarray | None = None
        self._q: np.ndarray | None = None
        self.loads = 0     # full model loads (structure changed)
        self.updates = 0   # numbers-only updates

    def load(self, model: MIPModel) -> None:
        """Make `model`'s continuous relaxation the loaded problem, changing numbers only when possible."""
        csr = _canonical_csr(model.A)
        q = model.q_diag if model.q_diag is not None else np.zeros(model.n_cols)
        sig = _structure(model, csr, q)
        if self._h is None or sig != self._signature:
            if self._h is None:
                self._h = new_highs(self._threads)
                self._h.setOptionValue("time_limit", float(self._time_limit))
                self._h.setOptionValue("presolve", "off")  # tiny models, warm bases: presolve only costs time
                # tree splits are float32 neighbours (~1e-8 apart): the default 1e-7 row tolerance could cross one
                self._h.setOptionValue("primal_feasibility_tolerance", PRIMAL_TOL)
            self._h.passModel(to_highs_lp(model, relax=True))
            if np.any(q):
                self._h.passHessian(to_highs_hessian(model))
            self._signature, self._data, self._q = sig, csr.data.copy(), q.copy()
            self.loads += 1
            return
        h = self._h   # highspy's infinity is float inf, so bounds pass through unchanged
        n, m = model.n_cols, model.n_rows
        cols, rows = np.arange(n, dtype=np.int32), np.arange(m, dtype=np.int32)
        h.changeColsCost(n, cols, np.asarray(model.c, float))
        h.changeColsBounds(n, cols, np.asarray(model.col_lb, float), np.asarray(model.col_ub, float))
        if m:
            h.changeRowsBounds(m, rows, np.asarray(model.row_lo, float), np.asarray(model.row_hi, float))
        h.changeObjectiveOffset(float(model.offset))
        changed = np.flatnonzero(csr.data != self._data)
        if changed.size:
            row_of = np.repeat(np.arange(m), np.diff(csr.indptr))
            for k in changed:
                h.changeCoeff(int(row_of[k]), int(csr.indices[k]), float(csr.data[k]))
            self._data = csr.data.copy()
        if np.any(q != self._q):
            h.passHessian(to_highs_hessian(model))
            self._q = q.copy()
        self.updates += 1

    def set_bounds(self, cols: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> None:
        """Change the bounds of some columns of the loaded problem (branching)."""
        self._h.changeColsBounds(len(cols), np.asarray(cols, np.int32), np.asarray(lower, float),
                                 np.asarray(upper, float))

    def solve(self) -> Relaxation:
        """Solve the loaded relaxation (warm-started from the last basis when HiGHS can)."""
        import highspy

        h = self._h
        run_highs(h)
        status = h.getModelStatus()
        if status == highspy.HighsModelStatus.kOptimal:
            return Relaxation(SearchState.OPTIMAL, np.asarray(h.getSolution().col_value, float),
                              float(h.getObjectiveValue()))
        if status == highspy.HighsModelStatus.kInfeasible:
            return Relaxation(SearchState.INFEASIBLE, None, float("inf"))
        return Relaxation("other", None, float("nan"))


__all__ = ["HighsSession", "Relaxation", "structure_key"]
