"""The SLSQP polish as request generators (solver/slsqp_steps.py, polish.py) and many people's polishes in one
batch (solver/polish_batch.py, solver/incumbent_batch.py), against scipy.optimize.minimize itself,
scm.simulate.counterfactuals, and random_search and polish() one person at a time: the same numbers bit for
bit."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy.optimize import minimize

from milp_recourse import CostSpec
from milp_recourse.scm.simulate import counterfactuals
from milp_recourse.solver import slsqp_steps as ss
from milp_recourse.solver.incumbent import random_search
from milp_recourse.solver.polish import polish
from milp_recourse.solver.polish_batch import counterfactual_rows, polish_many

from denied import denied_problems  # noqa: E402


def _run(steps, con):
    """Drive an slsqp_steps generator whose requests are points z, answered by con(z)."""
    reply = None
    while True:
        try:
            req = steps.send(reply)
        except StopIteration as stop:
            return stop.value
        reply = req[1](lambda r: con(r)) if req[0] == "run" else con(req)


@pytest.mark.parametrize("seed", range(6))
def test_slsqp_steps_equal_scipy_minimize_bit_for_bit(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(1, 5))
    c, x, a = rng.uniform(0.5, 3, k), rng.normal(size=k), rng.normal(size=k)
    bounds = [(-3.0, 3.0)] * k if seed != 5 else [(-3.0, 3.0)] * (k - 1) + [(0.5, 0.5)]   # a fixed variable

    def g(z):   # a nonlinear constraint g(z) >= 0
        return float(np.tanh(a @ z) + 0.3 * np.sin(z).sum() - 0.4)

    def gj(z):
        return ((1 - np.tanh(a @ z) ** 2) * a + 0.3 * np.cos(z))[None, :]

    fun, jac = (lambda z: float(np.sum(c * (z - x) ** 2))), (lambda z: 2 * c * (z - x))
    ref = minimize(fun, x, jac=jac, bounds=bounds, method="SLSQP",
                   constraints=[{"type": "ineq", "fun": g, "jac": gj}], options={"maxiter": 100})

    def con(z):
        yield ("point", z)
        return g(z)

    def con_jac(z):
        yield ("point", z)
        return gj(z)

    got = _run(ss.slsqp_steps(fun, jac, x, bounds, con, con_jac, 100), lambda req: None)
    assert np.array_equal(got, ref.x)


def test_slsqp_steps_refuse_crossed_bounds():
    def con(z):
        return 0.0
        yield

    with pytest.raises(ValueError, match="lower bound exceeds"):
        next(ss.slsqp_steps(lambda z: 0.0, lambda z: z, np.zeros(1), [(1.0, 0.0)], con, con, 10))


@pytest.fixture(scope="module")
def people():
    return denied_problems("loan", "mlp", seed=7, keep=6)


def test_counterfactual_rows_equal_each_persons_own_pass(people):
    rng = np.random.default_rng(0)
    names = [r.name for r in people[0].rules if not r.blocked]
    X, U, M, T, ref = [], [], [], [], []
    for pr in people:
        mask, theta = rng.random((3, len(names))) < 0.6, rng.normal(size=(3, len(names)))
        ref.append(counterfactuals(pr.scm, pr.x, names, mask, theta, noise=pr.noise))
        X.append(np.repeat(pr.x[None], 3, axis=0))
        U.append(np.repeat(pr.noise[None], 3, axis=0))
        M.append(mask)
        T.append(theta)
    got = counterfactual_rows(people[0].scm, np.concatenate(X), np.concatenate(U), names, np.concatenate(M),
                              np.concatenate(T))
    assert np.array_equal(got, np.concatenate(ref))


def test_polish_many_equals_polish_one_by_one(people):
    incs = [random_search(pr, 128, 1) for pr in people]
    incs[1] = None   # no incumbent: stays None
    mixed = list(people)
    mixed[2] = dataclasses.replace(people[2], cost=CostSpec(p=1))   # polish does not apply: inc unchanged
    together = polish_many(mixed, incs)
    for pr, inc, got in zip(mixed, incs, together):
        if inc is None:
            assert got is None
            continue
        alone = polish(pr, inc)
        assert got.action == alone.action and got.cost == alone.cost
    assert together[2] is incs[2]
    assert any(got.cost < inc.cost for got, inc in zip(together, incs) if inc is not None)


def test_random_search_many_equals_random_search(people):
    from milp_recourse.solver.incumbent_batch import random_search_many

    mixed = list(people)
    mixed[3] = dataclasses.replace(people[3], cost=CostSpec(p=1))   # still batched (the search is cost-free)
    samples = [64, 256, 0, 128, 512, 32]
    together = random_search_many(mixed, samples, [float("inf")] * len(mixed))
    for pr, n, got in zip(mixed, samples, together):
        alone = random_search(pr, n, pr.options.seed, float("inf"), coordinate_shrink=False)
        assert (got is None and alone is None) or (got.action == alone.action and got.cost == alone.cost)
    assert together[2] is None and sum(g is not None for g in together) >= 4
