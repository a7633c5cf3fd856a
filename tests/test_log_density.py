"""SCM.log_density against closed forms, including points of zero density (log 0 = -inf, never NaN)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import stats

from milp_recourse.scm import scm_from_dict


def _cube_scm():
    """X = U**3 with U ~ Uniform(1, 2): p(x) = 1 / (3 x^(2/3)) on [1, 8], 0 elsewhere."""
    return scm_from_dict({"name": "cube", "variables": [
        {"name": "X", "type": "continuous", "domain": [-10, 10], "actionability": "actionable",
         "equation": "U_X**3", "noise": {"name": "U_X", "dist": "uniform", "low": 1, "high": 2}}]})


def test_change_of_variables_matches_the_closed_form() -> None:
    xs = np.array([1.0, 2.0, 5.5, 8.0])
    got = _cube_scm().log_density(xs[:, None])
    np.testing.assert_allclose(got, -np.log(3.0 * xs ** (2.0 / 3.0)), rtol=1e-12)


def test_zero_density_with_a_zero_jacobian_is_minus_inf_not_nan() -> None:
    """x = 0: U = 0 is outside the support (log p = -inf) and dU**3/dU = 0 (log|J| = -inf): -inf - (-inf)."""
    scm = _cube_scm()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no 'invalid value encountered' either
        got = scm.log_density(np.array([[0.0], [0.5], [9.0], [8.0]]))
        one = scm.log_density([0.0])
    assert not np.isnan(got).any(), got
    assert got[0] == -np.inf and got[1] == -np.inf and got[2] == -np.inf
    assert got[3] == pytest.approx(-np.log(12.0))
    assert one == -np.inf


def test_linear_gaussian_chain_matches_the_multivariate_normal() -> None:
    """X1 = U1, X2 = 2 X1 + U2 (U ~ N(0, 1)): (X1, X2) ~ N(0, [[1, 2], [2, 5]])."""
    scm = scm_from_dict({"name": "chain2", "variables": [
        {"name": "X1", "type": "continuous", "domain": [-9, 9], "actionability": "actionable",
         "equation": "U1", "noise": {"name": "U1", "dist": "normal", "mean": 0, "std": 1}},
        {"name": "X2", "type": "continuous", "domain": [-30, 30], "actionability": "actionable",
         "equation": "2*X1 + U2", "noise": {"name": "U2", "dist": "normal", "mean": 0, "std": 1}}]})
    pts = np.random.default_rng(0).normal(size=(50, 2)) * [1.0, 2.0]
    ref = stats.multivariate_normal(mean=[0, 0], cov=[[1, 2], [2, 5]]).logpdf(pts)
    np.testing.assert_allclose(scm.log_density(pts), ref, rtol=1e-10)
