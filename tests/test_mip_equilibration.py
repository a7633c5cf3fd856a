"""mip/scaling.py: equilibration is invariant to a change of units, keeps integer columns, and a solve of the
equilibrated model read back is the original model's optimum (scipy's milp on the natural-units model as the
reference). Shipped models are left alone (their coefficients span far less than EQUILIBRATE_SPAN)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, milp

from denied import denied_problems
from milp_recourse import CostSpec
from milp_recourse.backends import SolverParams, get_backend
from milp_recourse.encode.compile import compile_problem
from milp_recourse.mip.ir import MIPModel
from milp_recourse.mip.scaling import (EQUILIBRATE_SPAN, equilibrate, integer_big_m_span, model_span,
                                       needs_equilibration, scaled_model)


def natural_model(seed: int) -> MIPModel:
    """A bounded, feasible MILP in natural units: 6 continuous columns in [0, 5], 3 binaries, 7 rows that the
    origin meets and one (with the binaries) that it misses, a positive objective."""
    rng = np.random.default_rng(seed)
    n_c, n_b, m = 6, 3, 8
    A = np.hstack([rng.normal(size=(m, n_c)), rng.uniform(1, 3, size=(m, n_b))])
    A[rng.random(A.shape) < 0.3] = 0.0
    A[1:, n_c:] = 0.0   # binaries only in row 0, which z = 1 meets: feasible by construction
    lo = -rng.uniform(0.5, 2, size=m)
    hi = rng.uniform(0.5, 2, size=m)
    lo[0] = 1.0   # one row the origin misses: a binary or a move is needed
    hi[0] = np.inf
    c = np.concatenate([rng.uniform(0.5, 2, size=n_c), rng.uniform(0.1, 1, size=n_b)])
    names = tuple(f"x{j}" for j in range(n_c)) + tuple(f"z{j}" for j in range(n_b))
    return MIPModel(names, np.concatenate([np.zeros(n_c), np.zeros(n_b)]),
                    np.concatenate([np.full(n_c, 5.0), np.ones(n_b)]),
                    np.array([False] * n_c + [True] * n_b), sp.csr_matrix(A), lo, hi, ("r",) * m, c)


def in_units(model: MIPModel, col: np.ndarray, row: np.ndarray) -> MIPModel:
    """The same model with continuous column j measured in units col[j] (x = col x') and row i times row[i]."""
    A = sp.diags(row) @ model.A @ sp.diags(col)
    return MIPModel(model.col_names, model.col_lb / col, model.col_ub / col, model.integrality, sp.csr_matrix(A),
                    model.row_lo * row, model.row_hi * row, model.row_groups, model.c * col)


def reference(model: MIPModel) -> float:
    res = milp(model.c, constraints=LinearConstraint(model.A.toarray(), model.row_lo, model.row_hi),
               bounds=Bounds(model.col_lb, model.col_ub), integrality=model.integrality.astype(int))
    assert res.status == 0
    return float(res.fun)


@pytest.mark.parametrize("seed", range(8))
def test_equilibration_undoes_a_change_of_units(seed):
    nat = natural_model(seed)
    rng = np.random.default_rng(100 + seed)
    col = np.where(nat.integrality, 1.0, 10 ** rng.uniform(-5, 5, size=nat.n_cols))
    row = 10 ** rng.uniform(-5, 5, size=nat.n_rows)
    far = in_units(nat, col, row)
    assert needs_equilibration(far) and not needs_equilibration(nat)
    eq = equilibrate(far)
    assert np.all(eq.col[far.integrality] == 1.0)
    for f in np.concatenate([eq.col, eq.row, [eq.objective]]):
        assert f == 2.0 ** round(np.log2(f))          # powers of two: every product is exact
    # each fitted factor is the natural one up to rounding: spans within 2 ** 2 of the natural model's own
    assert model_span(scaled_model(far, eq)) <= 4.0 * model_span(scaled_model(nat, equilibrate(nat))) * 1.0001
    # a solve of the equilibrated model, read back, is the far model's optimum: the natural one, in new units
    sol = get_backend("highs").solve(scaled_model(far, eq), SolverParams(mip_gap=1e-9))
    x = eq.unscale_point(sol.x)
    assert sol.objective / eq.objective == pytest.approx(reference(nat), rel=1e-6)
    assert far.objective(x) == pytest.approx(reference(nat), rel=1e-6)
    assert nat.max_violation(x * col) <= 1e-6    # feasible in natural units


def test_a_start_round_trips_and_tiny_values_are_zero():
    far = in_units(natural_model(0), np.array([1e-4, 1e5, 3.0, 1e3, 1.0, 7e-3, 1, 1, 1]), np.ones(8))
    eq = equilibrate(far)
    x = np.linspace(0.1, 0.9, far.n_cols) * far.col_ub
    assert np.allclose(eq.unscale_point(eq.scale_point(x)), x, rtol=1e-15)
    assert np.all(eq.unscale_point(np.full(far.n_cols, 1e-10)) == 0.0)


@pytest.mark.parametrize("scm_name,recipe", [("chain", "logreg"), ("triangle", "logreg"), ("collider", "logreg"),
                                             ("loan", "logreg"), ("loan", "forest"), ("loan", "mlp")])
def test_shipped_worlds_are_not_equilibrated(scm_name, recipe):
    """Shipped worlds compile to models whose coefficients span less than the limit (the Loan forest most: 1.8e6),
    so they are solved as compiled, p = 1 and p = 2."""
    for p in (1, 2):
        for prob in denied_problems(scm_name, recipe, 0, 2, cost=CostSpec(p=p), closed_form=False):
            assert model_span(compile_problem(prob).model) < EQUILIBRATE_SPAN


def test_integer_big_m_span_is_a_binary_coefficient_in_its_rows_units():
    """d - M a <= 0 with d in units of 1/k: the big-M is M k; a row without a continuous column, or a model without
    a binary, has none (1)."""
    for M, k in ((10.0, 1.0), (1.6e7, 1.0), (1.6e7, 1e-3), (5.0, 1e4)):
        A = sp.csr_matrix(np.array([[k, -M], [0.0, 1.0]]))
        model = MIPModel(("d", "a"), np.array([-M / k, 0.0]), np.array([M / k, 1.0]), np.array([False, True]), A,
                         np.array([-np.inf, 0.0]), np.array([0.0, 1.0]), ("r", "s"), np.array([1.0, 0.0]))
        assert integer_big_m_span(model) == pytest.approx(M / k)
    nat = natural_model(0)
    continuous = MIPModel(nat.col_names, nat.col_lb, nat.col_ub, np.zeros(nat.n_cols, bool), nat.A, nat.row_lo,
                          nat.row_hi, nat.row_groups, nat.c)
    assert integer_big_m_span(continuous) == 1.0
