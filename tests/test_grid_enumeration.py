"""Exhaustive enumeration where the MILP approximates the SCM: chain-nonlinear (a logistic and a square) with
every actionable feature on a grid. Before, such answers were FEASIBLE (14.08 where the grid optimum is 13.73)
or UNKNOWN (the approximate model infeasible) although the actions are finitely many. Reference: the
independent enumeration of instances/oracles.py and the classifier's own predict."""

from __future__ import annotations

import numpy as np
import pytest

from milp_recourse import Actionability, CostSpec, RecourseProblem, Status, load_scm, solve, solve_many
from milp_recourse.models.classifiers import favourable
from milp_recourse.models.recipes import train_recipe
from milp_recourse.scm.simulate import counterfactuals

from instance_oracles import oracles  # noqa: E402  (instances/oracles.py)


@pytest.fixture(scope="module")
def world():
    scm = load_scm("chain-nonlinear")
    models = {k: train_recipe(scm, k, 2000, 0) for k in ("mlp", "forest")}
    return scm, models


def _grids(rng: np.random.Generator, scm, x: np.ndarray, k: int) -> dict[str, tuple[float, ...]]:
    out = {}
    for name in ("x1", "x2", "x3"):
        var = scm.variable(name)
        out[name] = tuple(sorted(set(np.round(rng.uniform(var.lower, var.upper, k), 3))))
    return out


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("kind", ["mlp", "forest"])
def test_fully_gridded_nonlinear_scm_is_solved_exactly(world, seed, kind):
    scm, models = world
    model = models[kind]
    rng = np.random.default_rng(seed)
    people = scm.sample(400, seed=100 + seed)[list(scm.names)].to_numpy(float)
    x = people[~favourable(model, people)][0]
    act = Actionability(grids=_grids(rng, scm, x, 3 if seed % 2 else 6),
                        max_changes=None if seed % 3 else 2)
    problem = RecourseProblem(scm, model, x, actionability=act, cost=CostSpec(p=1 + seed % 2))
    ref = oracles.enumerate_grid(problem)
    res = solve(problem)
    assert res.status.value == ref.status, (res.status, res.message, ref)
    if ref.status == "OPTIMAL":
        assert res.cost == pytest.approx(ref.cost, rel=1e-9), (dict(res.action), ref.action)
        assert res.objective_bound == pytest.approx(res.cost) and res.verified
        cf = counterfactuals(scm, problem.x, list(res.action), np.ones((1, len(res.action)), bool),
                             np.array([list(res.action.values())], float))
        assert favourable(model, cf)[0]
    else:
        assert res.certificate["kind"] == "enumeration" and res.certificate["proven"]
    many = solve_many([problem])[0][0]
    assert many.status is res.status and (many.cost == res.cost or res.cost is None)


def test_too_many_actions_are_left_to_the_milp(world):
    """A 100-value grid on each feature (about a million actions) is not enumerated: the answer keeps its path."""
    scm, models = world
    people = scm.sample(200, seed=3)[list(scm.names)].to_numpy(float)
    x = people[~favourable(models["mlp"], people)][0]
    grids = {n: tuple(np.linspace(scm.variable(n).lower, scm.variable(n).upper, 100)) for n in ("x1", "x2", "x3")}
    res = solve(RecourseProblem(scm, models["mlp"], x, actionability=Actionability(grids=grids)))
    assert all(step.engine != "grid-enumeration" for step in res.path)
    assert res.status is not Status.OPTIMAL or res.approximation_error == 0.0
