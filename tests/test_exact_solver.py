"""The exact solver against independent optima on random small instances, and its status semantics.

References (instances/oracles.py, no MILP): exhaustive enumeration over the instance's grids
(grid mode must match exactly), a scipy linprog per intervention subset (linear SCM + logreg,
p = 1) and a KKT closed form (p = 2). Classifiers are trained once per module on small samples.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier

from milp_recourse import (Actionability, CostSpec, Preferences, RecourseProblem, SolveOptions, Status, load_scm,
                           solve)
from milp_recourse.models.classifiers import favourable
from milp_recourse.models.recipes import labelled_sample, train_recipe
from milp_recourse.result import SCHEMA_VERSION
from milp_recourse.solver.verify import verify_action

from instance_oracles import oracles  # noqa: E402  (instances/oracles.py)

SCMS = ("chain", "triangle", "collider")
RECIPES = ("logreg", "tree", "forest")
FEATURES = ("x1", "x2", "x3")
EXACT = 1e-6  # grid mode: the grid is part of the problem, so the optimum must match to round-off


@pytest.fixture(scope="module")
def models() -> dict[tuple[str, str], object]:
    return {(s, r): train_recipe(load_scm(s), r, 600, 0) for s in SCMS for r in RECIPES}


def _denied(scm, model, rng: np.random.Generator) -> np.ndarray:
    X = scm.sample(300, seed=int(rng.integers(1_000_000)))[list(scm.names)].to_numpy(float)
    rows = np.flatnonzero(~favourable(model, X))
    return X[int(rng.choice(rows))]


def _random_case(scm, model, seed: int, p: int) -> tuple[RecourseProblem, RecourseProblem]:
    """A seeded random person with grids of 3-5 values on 2-3 features, random max_changes / direction.

    Returns the grid problem and the same problem without grids (its continuous relaxation of the grid).
    """
    rng = np.random.default_rng(seed)
    x = _denied(scm, model, rng)
    fx = dict(zip(scm.names, x))
    feats = tuple(str(f) for f in sorted(rng.choice(FEATURES, size=int(rng.integers(2, 4)), replace=False)))
    grids = {}
    for f in feats:
        lo, hi = scm.variable(f).domain
        vals = np.clip(fx[f] + rng.uniform(-1.5, 5.0, size=int(rng.integers(3, 6))), lo, hi)
        grids[f] = tuple(float(v) for v in np.round(vals, 4))
    directions = {str(rng.choice(feats)): str(rng.choice(["up", "down"]))} if rng.random() < 0.5 else {}
    max_changes = int(rng.integers(1, len(feats))) if rng.random() < 0.5 else None
    weights = {f: float(w) for f, w in zip(feats, np.round(rng.uniform(0.5, 3.0, len(feats)), 3))}
    opts = SolveOptions(mip_gap=1e-9, heuristic_samples=512 if seed % 2 == 0 else 0, seed=seed)
    act = Actionability(actionable=feats, directions=directions, max_changes=max_changes, grids=grids)
    grid = RecourseProblem(scm, model, x, actionability=act, cost=CostSpec(p=p), options=opts,
                           preferences=Preferences(weights=weights))
    cont = dataclasses.replace(grid, actionability=dataclasses.replace(act, grids={}))
    return grid, cont


def _check_found(problem: RecourseProblem, res) -> None:
    """A returned action is verified independently and its cost is the recomputed cost."""
    assert res.verified and res.status is Status.OPTIMAL, res.message
    check = verify_action(problem, res.action)
    assert check.ok, check.violations
    assert problem.action_cost(res.action)[0] == pytest.approx(res.cost, abs=1e-12)
    cf = problem.scm.counterfactual(problem.x, dict(res.action))
    assert np.allclose([res.counterfactual[n] for n in problem.scm.names], cf, atol=1e-9)


CASES = [(s, r, p, 100 * i + j) for i, s in enumerate(SCMS) for j, r in enumerate(RECIPES) for p in (1, 2)]


@pytest.mark.parametrize("scm_name,recipe,p,seed", CASES, ids=[f"{s}-{r}-p{p}" for s, r, p, _ in CASES])
def test_grid_mode_equals_exhaustive_enumeration(models, scm_name, recipe, p, seed) -> None:
    grid, cont = _random_case(load_scm(scm_name), models[(scm_name, recipe)], seed + p, p)
    ref = oracles.enumerate_grid(grid)
    assert ref.ambiguous == 0
    res = solve(grid)
    assert res.status.value == ref.status, res.message
    if ref.status == "NO_RECOURSE":
        assert res.cost is None and not res.action
        return
    assert res.cost == pytest.approx(ref.cost, rel=0, abs=EXACT * max(1.0, ref.cost))
    _check_found(grid, res)
    assert all(v in grid.rule(k).grid for k, v in res.action.items())
    m = grid.actionability.max_changes
    assert m is None or len(res.action) <= m
    if p == 1:  # the continuous problem (grids dropped) can only be cheaper; its action is verified too
        c = solve(cont)
        _check_found(cont, c)
        assert c.cost <= ref.cost + EXACT * max(1.0, ref.cost)


@pytest.mark.parametrize("scm_name", SCMS)
def test_continuous_p2_is_below_the_grid_optimum(models, scm_name) -> None:
    grid, cont = _random_case(load_scm(scm_name), models[(scm_name, "tree")], 7, 2)
    ref = oracles.enumerate_grid(grid)
    assert ref.status == "OPTIMAL"  # the seed is chosen so that the grid has recourse
    res = solve(dataclasses.replace(cont, options=SolveOptions()))
    _check_found(cont, res)
    assert res.cost <= ref.cost * (1 + 1e-4) + 1e-9


@pytest.mark.parametrize("scm_name", SCMS)
@pytest.mark.parametrize("p", (1, 2))
def test_linear_scm_logreg_matches_lp_and_closed_form(models, scm_name, p) -> None:
    """p = 1: scipy linprog per subset; p = 2: KKT closed form per subset (relative gap 1e-4 is the promise)."""
    scm, model = load_scm(scm_name), models[(scm_name, "logreg")]
    rng = np.random.default_rng(40 + p)
    x = _denied(scm, model, rng)
    problem = RecourseProblem(scm, model, x, actionability=Actionability(bounds={"x2": (-4.0, 4.0)}),
                              cost=CostSpec(p=p, divisors={"x1": 2.0, "x3": 0.5}),
                              preferences=Preferences(weights={"x1": 1.0, "x2": 2.0, "x3": 1.5}))
    ref = oracles.linear_program(problem) if p == 1 else oracles.closed_form_p2(problem)
    assert ref.status == "OPTIMAL"
    res = solve(problem)
    _check_found(problem, res)
    tol = 1e-6 if p == 1 else problem.options.mip_gap
    assert res.cost == pytest.approx(ref.cost, rel=tol, abs=1e-9)


def test_already_favourable_returns_the_empty_action(models) -> None:
    scm, model = load_scm("chain"), models[("chain", "forest")]
    X = scm.sample(200, seed=5)[list(scm.names)].to_numpy(float)
    x = X[int(np.flatnonzero(favourable(model, X))[0])]
    res = solve(RecourseProblem(scm, model, x))
    assert res.status is Status.ALREADY_FAVOURABLE
    assert res.cost == 0.0 and res.action == {} and res.verified
    assert res.counterfactual == dict(zip(scm.names, map(float, x)))


@pytest.mark.parametrize("act", [
    Actionability(directions={"x1": "up", "x2": "up", "x3": "up"}, bounds={"x1": (None, -8.0), "x2": (None, -8.0),
                                                                            "x3": (None, -7.0)}),
    Actionability(actionable=("x2",), directions={"x2": "down"}, bounds={"x2": (7.9, None)}),
    Actionability(max_changes=0),
], ids=["all-blocked-by-bounds", "direction-against-bound", "max-changes-0"])
def test_no_recourse_when_every_feature_is_blocked(models, act) -> None:
    scm, model = load_scm("chain"), models[("chain", "logreg")]
    x = _denied(scm, model, np.random.default_rng(3))
    problem = RecourseProblem(scm, model, x, actionability=act)
    assert all(r.blocked for r in problem.rules) or act.max_changes == 0
    res = solve(problem)
    assert res.status is Status.NO_RECOURSE, res.message
    assert res.cost is None and res.action == {} and not res.verified
    assert oracles.enumerate_grid(problem, grids={}).status == "NO_RECOURSE"
    d = json.loads(res.to_json())
    assert d["schema_version"] == SCHEMA_VERSION and d["status"] == "NO_RECOURSE" and d["cost"] is None
    assert res.certificate  # its format belongs to certify.py; here only that a proof is attached


def test_tiny_time_limit_is_never_optimal() -> None:
    """A 50-tree forest on the Loan SCM with time_limit=0.05 s: a limit status, never a false optimality claim."""
    scm = load_scm("loan")
    X, y = labelled_sample(scm, 1500, 0)
    forest = RandomForestClassifier(n_estimators=50, max_depth=8, random_state=0).fit(X, y)
    Xs = scm.sample(300, seed=9)[list(scm.names)]
    x = Xs.iloc[int(np.flatnonzero(~favourable(forest, Xs.to_numpy(float)))[0])]
    problem = RecourseProblem(scm, forest, x, options=SolveOptions(time_limit=0.05))
    res = solve(problem)
    assert res.status in (Status.FEASIBLE, Status.UNKNOWN), res.status
    if res.status is Status.FEASIBLE:
        assert res.verified and verify_action(problem, res.action).ok
        assert problem.action_cost(res.action)[0] == pytest.approx(res.cost, abs=1e-12)
    else:
        assert res.cost is None and res.action == {}
    d = json.loads(res.to_json())
    assert d["schema_version"] == SCHEMA_VERSION and d["status"] == res.status.value


def test_result_serialises_to_json(models) -> None:
    scm, model = load_scm("collider"), models[("collider", "tree")]
    x = _denied(scm, model, np.random.default_rng(11))
    res = solve(RecourseProblem(scm, model, x, cost=CostSpec(p=2)))
    d = json.loads(res.to_json())
    assert d["schema_version"] == SCHEMA_VERSION
    for key in ("status", "cost", "action", "counterfactual", "verified", "objective_bound", "gap", "solve_seconds"):
        assert key in d
    assert d["status"] == res.status.value == "OPTIMAL"
    assert d["cost"] == pytest.approx(res.cost) and d["action"] == pytest.approx(dict(res.action))
    assert d["counterfactual"] == pytest.approx(dict(res.counterfactual)) and d["verified"] is True
