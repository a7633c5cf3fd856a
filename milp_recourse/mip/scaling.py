"""Equilibrate a badly scaled MIPModel: powers of two on rows, continuous columns and the objective.

A world whose features sit in units far apart (dollars next to rates) compiles to rows whose coefficients span
1e10 and more; HiGHS's MIP solver meets its absolute 1e-7 tolerances in those units and proved optima up to 7x
too dear (random linear worlds, each feature in its own unit: 12 of 149 wrong, bench/bench_badly_scaled.py).
Scaling by the least-squares fit of log2|a_ij| (Curtis and Reid, 1972) is invariant to a change of units, so the
solver sees the model as in natural units.
Integer columns keep scale 1, so integrality is unchanged; powers of two make every product exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import lsqr

from milp_recourse.mip.ir import MIPModel

# models whose coefficients span more than this are equilibrated before a solve. The fuzz's wrong answers came from
# spans of 5e7 .. 4e16, and one of 9.7e6 (domains widened: settled by an incumbent's cost radius instead,
# strategy.incumbent_samples); shipped models span 2e2 (Loan, logistic regression) .. 1.8e6 (Loan, forest) and
# are solved as compiled
EQUILIBRATE_SPAN = 1e7
_MAX_EXPONENT = 60   # keep every factor within 2**+-60 (a column that appears nowhere gets 2**0)


@dataclass(frozen=True)
class Equilibration:
    """x = col * x_scaled; row i of the scaled model is row_i * (row i); its objective is objective * c."""

    col: np.ndarray
    row: np.ndarray
    objective: float

    def scale_point(self, x: np.ndarray) -> np.ndarray:
        """A point of the original model in the scaled model's columns (e.g. a MIP start)."""
        return np.asarray(x, float) / self.col

    def unscale_point(self, x: np.ndarray, zero_tol: float = 1e-9) -> np.ndarray:
        """A point of the scaled model back in the original model's columns; values within zero_tol of 0 in
        the scaled model are 0 (a shift of 1e-11 natural units of a feature in dollars is no intervention)."""
        x = np.asarray(x, float)
        return np.where(np.abs(x) <= zero_tol, 0.0, x) * self.col


def coefficient_span(values) -> float:
    """max |a| / min |a| over the nonzero coefficients (1 when there are none)."""
    a = np.abs(np.asarray(values, float))
    a = a[(a > 0) & np.isfinite(a)]
    return float(a.max() / a.min()) if a.size else 1.0


def model_span(model: MIPModel) -> float:
    """coefficient_span over the constraint matrix and the objective's nonzero terms."""
    parts = [model.A.data, model.c]
    if model.q_diag is not None:
        parts.append(model.q_diag)
    return coefficient_span(np.concatenate(parts))


def integer_big_m_span(model: MIPModel) -> float:
    """Largest |a_ij| of an integer column over the smallest continuous |a_ik| of its row: how big a big-M value
    is in the units of the row's own variables (1 when no row mixes both). Equilibration cannot shrink it, as
    integer columns keep scale 1: a domain 1e6 natural units wide lets a binary at its 1e-6 integrality
    tolerance switch on a whole natural unit."""
    A = model.A.tocoo()
    mag = np.abs(A.data)
    integer = np.asarray(model.integrality, bool)[A.col]
    keep = (mag > 0) & np.isfinite(mag)
    smallest = np.full(model.n_rows, np.inf)
    np.minimum.at(smallest, A.row[keep & ~integer], mag[keep & ~integer])
    ratio = mag[keep & integer] / smallest[A.row[keep & integer]]
    ratio = ratio[np.isfinite(ratio)]
    return float(ratio.max()) if ratio.size else 1.0


def needs_equilibration(model: MIPModel) -> bool:
    """Whether a model is scaled badly enough to be solved equilibrated (span above EQUILIBRATE_SPAN)."""
    return model_span(model) > EQUILIBRATE_SPAN


def equilibrate(model: MIPModel) -> Equilibration:
    """Row, column and objective factors (powers of two) minimising sum (log2 |r_i a_ij s_j|)^2 over the
    matrix's and the objective's continuous columns. Integer columns are held at 1 and left out of the fit: a
    big-M row d <= M a would otherwise pull d's scale towards its domain, and a domain 1e6 natural units wide
    would leave a natural shift at 1e-6, where the solver's 1e-7 tolerances are coarse (the fuzz's widened
    domains: 22 wrong answers became 135)."""
    A = model.A.tocoo()
    m, n = model.n_rows, model.n_cols
    cont = ~np.asarray(model.integrality, bool)
    col_of = np.full(n, -1)
    col_of[cont] = np.arange(int(cont.sum()))
    n_c = int(cont.sum())
    obj = m + n_c                                 # the objective's own unknown
    eq_rows: list[np.ndarray] = []
    eq_cols: list[np.ndarray] = []
    eq_vals: list[np.ndarray] = []
    rhs: list[np.ndarray] = []

    def add(first: np.ndarray, cols: np.ndarray, mult: float, values: np.ndarray) -> None:
        keep = (values != 0) & np.isfinite(values) & cont[cols]
        first, cols, values = first[keep], cols[keep], values[keep]
        k0 = sum(len(r) for r in rhs)
        k = np.arange(k0, k0 + len(values))
        eq_rows.extend([k, k])
        eq_cols.extend([first, m + col_of[cols]])
        eq_vals.extend([np.ones(len(k)), np.full(len(k), mult)])
        rhs.append(-np.log2(np.abs(values)))

    add(A.row.astype(np.int64), A.col.astype(np.int64), 1.0, A.data)
    every = np.arange(n)
    add(np.full(n, obj), every, 1.0, np.asarray(model.c, float))
    if model.q_diag is not None:
        add(np.full(n, obj), every, 2.0, np.asarray(model.q_diag, float))
    b = np.concatenate(rhs) if rhs else np.zeros(0)
    if b.size == 0:
        return Equilibration(np.ones(n), np.ones(m), 1.0)
    M = sp.csr_matrix((np.concatenate(eq_vals), (np.concatenate(eq_rows), np.concatenate(eq_cols))),
                      shape=(b.size, m + n_c + 1))
    sol = lsqr(M, b, atol=1e-8, btol=1e-8, iter_lim=20 * (m + n_c + 1))[0]
    expo = np.clip(np.round(sol), -_MAX_EXPONENT, _MAX_EXPONENT)
    col = np.ones(n)
    col[cont] = np.exp2(expo[m:m + n_c])
    return Equilibration(col, np.exp2(expo[:m]), float(np.exp2(expo[obj])))


def objective_factor(magnitude: float) -> float:
    """The power of two that brings an objective value of `magnitude` (> 0) to about 1 (within 2**+-60)."""
    return float(np.exp2(np.clip(np.round(-np.log2(magnitude)), -_MAX_EXPONENT, _MAX_EXPONENT)))


def scaled_model(model: MIPModel, eq: Equilibration) -> MIPModel:
    """The model in equilibrated units: A' = R A S, bounds / S, rows R lo .. R hi, objective w * S c."""
    S = sp.diags(eq.col)
    R = sp.diags(eq.row)
    A = (R @ model.A @ S).tocsr()
    q = None if model.q_diag is None else eq.objective * model.q_diag * eq.col ** 2
    return MIPModel(model.col_names, model.col_lb / eq.col, model.col_ub / eq.col, model.integrality, A,
                    model.row_lo * eq.row, model.row_hi * eq.row, model.row_groups, eq.objective * model.c * eq.col,
                    q, eq.objective * model.offset)


__all__ = ["EQUILIBRATE_SPAN", "Equilibration", "coefficient_span", "equilibrate", "integer_big_m_span", "model_span",
           "needs_equilibration", "objective_factor", "scaled_model"]
