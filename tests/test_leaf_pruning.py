"""Leaves no action within the cost budget reaches are left out of tree MILPs (encode/input_prices.py).

References: a brute-force search over every cell of the forest's split grid (closest point of each cell, scored
by the forest's own predict_proba and priced by hand) gives each person's optimum, so a budget stage must be
infeasible below it and reach it above; sampled actions within a budget, placed by the forest's own apply(),
must only reach leaves the MILP kept; the least cost of a box is checked against a hand computation.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import milp_recourse.encode.compile as compile_module
from milp_recourse import CostSpec, RecourseProblem, SolveOptions
from milp_recourse.backends import SolverParams, get_backend
from milp_recourse.backends.base import Termination
from milp_recourse.encode.compile import compile_problem
from milp_recourse.encode.input_prices import InputPrices, input_prices
from milp_recourse.models.classifiers import score_threshold
from milp_recourse.scm.from_data import independent_scm

from forest_grid import split_grid


NAMES = ["a", "b", "c"]
DIVISORS = {"a": 1.0, "b": 2.0, "c": 0.5}


@pytest.fixture(scope="module")
def case():
    rng = np.random.default_rng(5)
    frame = pd.DataFrame(rng.normal(size=(500, 3)), columns=NAMES)
    y = (frame.a + 0.7 * frame.b - frame.c + 0.4 * rng.normal(size=500) > 1.0).astype(int)
    model = RandomForestClassifier(n_estimators=10, max_depth=4, random_state=1).fit(frame, y)
    scm = independent_scm(frame, "toy")
    denied = frame[model.predict(frame) == 0].head(5)
    return frame, model, scm, [row.to_dict() for _, row in denied.iterrows()]


COSTS = {"sum": CostSpec(p=1, divisors=DIVISORS), "l0": CostSpec(p=1, divisors=DIVISORS, l0=0.3),
         "max": CostSpec(p=1, divisors=DIVISORS, aggregate="max")}


def _problem(case, person, cost, model=None):
    return RecourseProblem(case[2], model if model is not None else case[1], person, cost=cost,
                           options=SolveOptions(time_limit=20))


def _costs(X: np.ndarray, x0: np.ndarray, cost: CostSpec) -> np.ndarray:
    """cost of each row's action, by hand: c_k |d_k|^p summed (or their max), plus l0 per moved feature."""
    coef = np.array([1.0 / DIVISORS[n] for n in NAMES])
    parts = coef * np.abs(X - x0) ** cost.p
    spread = parts.max(axis=1) if cost.aggregate == "max" else parts.sum(axis=1)
    return spread + cost.l0 * (X != x0).sum(axis=1)


def _brute_force(case, person, cost) -> float:
    """The cheapest approved counterfactual over every cell of the split grid (each cell's closest points)."""
    model = case[1]
    problem = _problem(case, person, cost)
    X = split_grid(model, NAMES, person, problem)
    proba = model.predict_proba(pd.DataFrame(X, columns=NAMES))[:, 1]
    ok = proba >= score_threshold("probability", problem.options.threshold) + problem.options.margin
    return float(_costs(X, np.array([person[n] for n in NAMES]), cost)[ok].min())


def _leaf_columns(model) -> int:
    return sum(".leaf" in n for n in model.col_names)


def _assert_leaves_kept(col_names, reached: np.ndarray) -> None:
    """Every leaf in `reached` (rows of apply(): a node per tree) has its column in the model, for each tree that
    has leaf columns (a tree without any was decided by the bounds: one leaf, a constant)."""
    kept: dict[int, set[int]] = {}
    for name in col_names:
        if name.startswith("clf.tree") and ".leaf" in name:
            t, leaf = name[len("clf.tree"):].split(".leaf")
            kept.setdefault(int(t), set()).add(int(leaf))
    for t, nodes in kept.items():
        assert set(reached[:, t].tolist()) <= nodes


def _unpriced(monkeypatch) -> None:
    monkeypatch.setattr(compile_module, "input_prices", lambda *args, **kwargs: None)


@pytest.mark.parametrize("kind", list(COSTS))
def test_budget_stages_are_exact_against_brute_force(case, kind, monkeypatch):
    """Infeasible below each person's optimum, the optimum itself at or above it; and leaves were dropped."""
    highs = get_backend("highs")
    params = SolverParams(time_limit=20, mip_gap=1e-9)
    cost, dropped = COSTS[kind], 0
    for person in case[3]:
        problem = _problem(case, person, cost)
        ref = _brute_force(case, person, cost)
        for frac in (0.5, 0.9, 0.999, 1.0 + 1e-5, 1.3, 3.0):
            compiled = compile_problem(problem, upper_bound=ref * frac)
            sol = highs.solve(compiled.model, params)
            with monkeypatch.context() as m:
                _unpriced(m)
                full = compile_problem(problem, upper_bound=ref * frac).model
            if frac < 1.0:
                assert sol.termination is Termination.INFEASIBLE, (kind, frac)
            else:   # the MILP leaves out the sub-ulp band next to a float32 split (tree_ensembles.py): it may pay
                # ~1e-6 relative more than the grid's closest points, and exactly what the unpruned model pays
                got = sol.objective / compiled.objective_scale
                assert ref - 1e-12 <= got == pytest.approx(ref, rel=1e-5)
                assert got == pytest.approx(highs.solve(full, params).objective / compiled.objective_scale,
                                            rel=1e-9, abs=1e-12)
            assert _leaf_columns(compiled.model) <= _leaf_columns(full)
            dropped += _leaf_columns(compiled.model) < _leaf_columns(full)
    # the sums prune on this forest; under the max aggregate without l0 a box costs its dearest feature's move,
    # which the budget's per-feature ranges already rule out
    assert dropped >= 3 if kind != "max" else dropped == 0


@pytest.mark.parametrize("cost", [CostSpec(p=1, divisors=DIVISORS, l0=0.2), CostSpec(p=2, divisors=DIVISORS),
                                  CostSpec(p=1, divisors=DIVISORS, aggregate="max", l0=0.1)])
def test_no_leaf_reachable_within_the_budget_is_dropped(case, cost):
    rng = np.random.default_rng(3)
    model = case[1]
    for person in case[3][:3]:
        x0 = np.array([person[n] for n in NAMES])
        X = x0 + rng.normal(scale=0.8, size=(3000, 3)) * (rng.random((3000, 3)) < 0.7)
        costs = _costs(X, x0, cost)
        leaves = model.apply(pd.DataFrame(X, columns=NAMES))
        for budget in np.quantile(costs, [0.05, 0.2, 0.5]):
            model_cols = compile_problem(_problem(case, person, cost), upper_bound=float(budget)).model.col_names
            _assert_leaves_kept(model_cols, leaves[costs <= budget])


def test_box_cost_by_hand():
    prices = InputPrices(x=(0.0, 1.0, -2.0), coef=(2.0, 0.5, 0.0), p=2.0, l0=0.25, aggregate="sum", budget=1.0)
    box = {0: (1.5, 3.0), 1: (-4.0, 0.0), 2: (5.0, 6.0)}   # input 2 is free: counts 0 however far
    slack0, slack1 = 1e-6 * 1.5, 1e-6 * 1.0
    d0, d1 = 1.5 - slack0, 1.0 - slack1
    assert prices.box_cost(box) == pytest.approx(2.0 * d0 ** 2 + 0.5 * d1 ** 2 + 2 * 0.25, rel=1e-12)
    assert prices.box_cost({0: (-1.0, 1.0), 1: (0.5, 2.0)}) == 0.0   # the factual point is inside
    top = InputPrices(x=(0.0, 1.0), coef=(2.0, 0.5), p=1.0, l0=0.25, aggregate="max", budget=1.0)
    assert top.box_cost({0: (1.5, 3.0), 1: (-4.0, 0.0)}) == pytest.approx(max(2.0 * d0, 0.5 * d1) + 0.5, rel=1e-12)
    assert math.isclose(prices.limit, 1.0 + 1e-6 + 1e-12)


def test_input_prices_refuses_what_it_cannot_price():
    x = {"a": 0.0, "b": 1.0}
    assert input_prices(["a", "b"], x, {"a": 1.0}, 1, 0.0, "sum", None) is None
    assert input_prices(["a", "b"], x, {"a": 1.0}, 1, 0.0, "sum", math.inf) is None
    assert input_prices(["a", "b"], x, {"a": 1.0}, 1, 0.0, "sum", -1.0) is None
    assert input_prices(["a", "b"], x, {"a": 1.0}, 0, 0.0, "sum", 1.0) is None
    assert input_prices(["a", "b"], x, {}, 1, 0.0, "sum", 1.0) is None   # nothing priced
    got = input_prices(["a", "b"], x, {"b": 2.0, "a": -1.0}, 1, 0.0, "sum", 1.0)
    assert got is not None and got.coef == (0.0, 2.0) and got.x == (0.0, 1.0)


def test_pipelines_are_not_priced(case, monkeypatch):
    frame, forest, _, people = case
    pipe = make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=6, max_depth=4, random_state=0))
    pipe.fit(frame, forest.predict(frame))
    problem = _problem(case, people[0], COSTS["sum"], model=pipe)   # trees split scaled inputs: no prices
    priced = compile_problem(problem, upper_bound=0.5).model
    _unpriced(monkeypatch)
    plain = compile_problem(problem, upper_bound=0.5).model
    assert priced.n_cols == plain.n_cols and priced.n_rows == plain.n_rows


def test_a_feature_its_parent_moves_is_not_priced():
    """c := a + u_c: a shift of a moves c for free, so c's leaves stay within reach of a budget that pays for a."""
    from milp_recourse.scm.spec import scm_from_dict

    def var(name: str, equation: str) -> dict:
        return {"name": name, "type": "continuous", "actionability": "actionable", "domain": [-10, 10],
                "equation": equation, "noise": {"name": f"u{name}", "dist": "normal", "mean": 0, "std": 1}}

    scm = scm_from_dict({"name": "chain", "variables": [var("a", "ua"), var("b", "ub"), var("c", "a + uc")],
                         "label": "a >= 0"})
    rng = np.random.default_rng(7)
    frame = pd.DataFrame(rng.normal(size=(500, 2)), columns=["a", "b"])
    frame["c"] = frame.a + 0.3 * rng.normal(size=500)
    y = (frame.c + 0.5 * frame.b > 1.0).astype(int)
    model = RandomForestClassifier(n_estimators=8, max_depth=4, random_state=0).fit(frame[NAMES], y)
    cost = CostSpec(p=1, divisors=DIVISORS)
    coef = np.array([1.0 / DIVISORS[n] for n in NAMES])
    for _, row in frame[model.predict(frame[NAMES]) == 0].head(3).iterrows():
        x0 = row[NAMES].to_numpy(float)
        n = 3000
        do = rng.random((n, 3)) < 0.6                          # which features are intervened on
        shift = rng.normal(scale=1.0, size=(n, 3)) * do
        X = x0 + shift
        X[:, 2] = np.where(do[:, 2], x0[2] + shift[:, 2], x0[2] + shift[:, 0])   # c follows a unless set
        costs = (coef * np.abs(shift)).sum(axis=1)
        leaves = model.apply(pd.DataFrame(X, columns=NAMES))
        problem = RecourseProblem(scm, model, row[NAMES].to_dict(), cost=cost, options=SolveOptions(time_limit=20))
        for budget in np.quantile(costs, [0.1, 0.3]):
            _assert_leaves_kept(compile_problem(problem, upper_bound=float(budget)).model.col_names,
                                leaves[costs <= budget])
