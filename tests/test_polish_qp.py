"""The outer-approximation polish: one MILP point's binary pattern re-solved as a convex QP (search._polish_qp).

Its optimum is certified independently of HiGHS: the KKT conditions, multipliers by scipy's NNLS, for normal and for
tiny-cost people, whose tangent rows are scaled by 1 / t_max: with those rows left in the QP, HiGHS's QP solver
ended in "solve error" (1e-4 infeasibilities) on nearly every CARMA polish.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import nnls

from milp_recourse import CostSpec
from milp_recourse.backends import SolverParams, Termination, get_backend
from milp_recourse.encode.compile import compile_problem
from milp_recourse.solver.incumbent import random_search
from milp_recourse.solver.milp_search import _polish_qp

from carma import carma_problem  # noqa: E402
from denied import denied_problems  # noqa: E402


def _kkt_residual(qp, x: np.ndarray, act_tol: float = 1e-7) -> float:
    """Relative norm of the best stationarity residual: min over multipliers >= 0 of the active rows and
    bounds (scipy NNLS) of |grad - sum_i y_i s_i a_i|, divided by |grad|. Zero certifies a convex QP's optimum."""
    A = qp.A.toarray()
    grad = qp.q_diag * x + qp.c
    ax = A @ x
    gens = []  # directions the gradient may be a non-negative combination of
    for i in range(A.shape[0]):
        norm = np.linalg.norm(A[i]) or 1.0
        if np.isfinite(qp.row_lo[i]) and ax[i] - qp.row_lo[i] <= act_tol * max(1.0, abs(qp.row_lo[i])):
            gens.append(A[i] / norm)
        if np.isfinite(qp.row_hi[i]) and qp.row_hi[i] - ax[i] <= act_tol * max(1.0, abs(qp.row_hi[i])):
            gens.append(-A[i] / norm)
    eye = np.eye(x.size)
    for j in range(x.size):
        if x[j] - qp.col_lb[j] <= act_tol * max(1.0, abs(qp.col_lb[j])):
            gens.append(eye[j])
        if qp.col_ub[j] - x[j] <= act_tol * max(1.0, abs(qp.col_ub[j])):
            gens.append(-eye[j])
    if not gens:
        return float(np.linalg.norm(grad))
    _, res = nnls(np.array(gens).T, grad)
    return float(res / max(np.linalg.norm(grad), 1e-300))


def _check_polish(pr) -> None:
    """The MILP at the random-search incumbent's budget, its point's pattern as a QP: solved, and optimal."""
    highs = get_backend("highs")
    inc = random_search(pr, 512, 0)
    compiled = compile_problem(pr, upper_bound=inc.cost, incumbent=inc.action)
    mip = highs.solve(compiled.model, SolverParams(time_limit=30))
    assert mip.termination is Termination.OPTIMAL
    qp = _polish_qp(compiled, mip.x)
    assert not any(g.startswith("cost:") for g in qp.row_groups)     # the quadratic prices d exactly
    sol = highs.solve(qp, SolverParams(time_limit=30))
    assert sol.termination is Termination.OPTIMAL, sol.message
    assert _kkt_residual(qp, sol.x) < 1e-5      # optimal: the gradient is a cone combination of active rows


@pytest.mark.parametrize("scale", [1.0, 1e-5])
def test_polish_qp_reaches_the_pattern_optimum(scale):
    problems = denied_problems("loan", "mlp", seed=11, keep=4, cost=CostSpec(p=2, scale=scale))
    assert len(problems) == 4
    for pr in problems:
        _check_polish(pr)


@pytest.mark.shared_data
@pytest.mark.parametrize("row", [0, 3, 27])
def test_polish_qp_solves_on_carma_people(row):
    """CARMA people 0 and 3 (test rows; d_k^2 weights spanning 20..4e4) and tiny-cost row 27: HiGHS's QP solver
    returned "solve error" on their polish QPs while the tangent rows were in them."""
    _check_polish(carma_problem(row))
