"""Grid values on a scikit-learn split of a feature whose parent may also change: its MILP input is its counterfactual
column x' (the grid value when intervened on, its equation's value otherwise), so the exact per-value sides of
tests/test_tree_grid_edges.py did not apply and the split's float32 band rows let a value equal to a threshold sit on
the wrong side (an outside fuzz: HiGHS called the cheapest action infeasible, a second backend refuted it, and the
answer came back FEASIBLE at 4.28 against the optimum 3.28, 6 of 6 seeds). encode/tree_ensembles._sides_when.

Reference: every action enumerated (v0 kept or set to a grid value, v1 kept or set to a grid value), the SCM by hand
(v1 = 0.5 v0 + U_v1, its noise abducted from the person), the estimator's own predict. OPTIMAL means within the
default relative gap 1e-4 (the grid values here lie a float32 ulp apart), and never below the reference."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.tree import DecisionTreeClassifier

import milp_recourse as mr
from milp_recourse.scm.spec import scm_from_dict

SPEC = {"name": "child", "variables": [
    {"name": "v0", "type": "continuous", "actionability": "actionable", "domain": [-6, 6],
     "equation": "U_v0", "noise": {"name": "U_v0", "dist": "normal", "mean": 0, "std": 1}},
    {"name": "v1", "type": "continuous", "actionability": "actionable", "domain": [-12, 12],
     "equation": "0.5 * v0 + U_v1", "noise": {"name": "U_v1", "dist": "normal", "mean": 0, "std": 1}}]}
SCM = scm_from_dict(SPEC)
X = SCM.sample(500, seed=1)


def labels(seed: int) -> pd.Series:
    rng = np.random.default_rng(seed)
    return ((X["v1"] + rng.normal(0, 0.3, len(X)) < 0.2) == (seed % 2 == 0)).astype(int)


def v1_thresholds(model) -> list[float]:
    trees = model.estimators_ if hasattr(model, "estimators_") else [model[-1] if hasattr(model, "steps") else model]
    out = []
    for tree in trees:
        t = tree.tree_
        out += [float(th) for f, th in zip(t.feature, t.threshold) if f == 1]
    return out


def reference(model, x: dict[str, float], grids: dict[str, tuple[float, ...]]) -> float:
    """The cheapest favourable action by enumeration, cost = sum of |change| (the default l1 cost, unit weights)."""
    u1 = x["v1"] - 0.5 * x["v0"]
    best = np.inf
    for a0, a1 in itertools.product((None,) + grids["v0"], (None,) + grids["v1"]):
        v0 = x["v0"] if a0 is None else a0
        v1 = 0.5 * v0 + u1 if a1 is None else a1
        if model.predict(pd.DataFrame([[v0, v1]], columns=["v0", "v1"]))[0] == 1:
            cost = (0.0 if a0 is None else abs(a0 - x["v0"])) + (0.0 if a1 is None else abs(a1 - x["v1"]))
            best = min(best, cost)
    return best


def grid_around(thresholds: list[float]) -> tuple[float, ...]:
    """Each threshold and its float32 neighbours (the band's edges): the values a band row mis-sorts."""
    vals = set()
    for t in thresholds:
        t32 = np.float32(t)
        up, down = np.nextafter(t32, np.float32(np.inf)), np.nextafter(t32, np.float32(-np.inf))
        vals |= {t, float(t32), float(up), float(down)}
    return tuple(sorted(vals))


def check(model, x: dict[str, float], around: bool) -> None:
    t = v1_thresholds(model)
    grids = {"v0": (-1.0, 1.0), "v1": grid_around(t) if around else tuple(sorted(set(t)))}
    best = reference(model, x, grids)
    res = mr.solve(mr.RecourseProblem(SCM, model, x, actionability=mr.Actionability(actionable=("v0", "v1"),
                                                                                    grids=grids)))
    if not np.isfinite(best):
        assert res.status is mr.Status.NO_RECOURSE, res.message
        return
    assert res.status is mr.Status.OPTIMAL, res.message
    assert best - 1e-12 <= res.cost <= best * (1 + 1e-4)
    v0 = res.action.get("v0", x["v0"])
    v1 = res.action.get("v1", 0.5 * v0 + x["v1"] - 0.5 * x["v0"])
    assert model.predict(pd.DataFrame([[v0, v1]], columns=["v0", "v1"]))[0] == 1


def people(model, seed: int) -> list[dict[str, float]]:
    """Denied people on the side of the split away from the favourable one."""
    start = 3.0 if seed % 2 == 0 else -3.0
    out = [{"v0": 0.0, "v1": start}, {"v0": 0.7, "v1": start * 0.8}]
    return [p for p in out if model.predict(pd.DataFrame([p]))[0] == 0]


@pytest.mark.parametrize("around", [False, True])
@pytest.mark.parametrize("seed", [3, 8, 11, 12, 26, 28])
def test_grid_values_of_a_child_on_a_stump(seed, around):
    model = DecisionTreeClassifier(max_depth=1, random_state=0).fit(X, labels(seed))
    for x in people(model, seed):
        check(model, x, around)


@pytest.mark.parametrize("around", [False, True])
@pytest.mark.parametrize("seed", [2, 5])
def test_grid_values_of_a_child_in_a_forest(seed, around):
    model = RandomForestClassifier(n_estimators=3, max_depth=3, random_state=seed).fit(X, labels(seed))
    for x in people(model, seed):
        check(model, x, around)


@pytest.mark.parametrize("scaler", [StandardScaler, MinMaxScaler])
def test_grid_values_of_a_child_behind_a_scaler(scaler):
    for seed in (3, 8, 12):
        model = make_pipeline(scaler(), DecisionTreeClassifier(max_depth=1, random_state=0)).fit(X, labels(seed))
        # the scaled thresholds mapped back to raw values, plus the raw neighbours predict sends either way
        t = v1_thresholds(model)
        raw = []
        for th in t:
            lo, hi = -12.0, 12.0
            for _ in range(200):   # bisection on the pipeline's own predict: the raw edge of the split
                mid = (lo + hi) / 2
                side = model.predict(pd.DataFrame([[0.0, mid]], columns=["v0", "v1"]))[0]
                left = model.predict(pd.DataFrame([[0.0, lo]], columns=["v0", "v1"]))[0]
                lo, hi = (mid, hi) if side == left else (lo, mid)
            raw += [lo, hi]
        grids = {"v0": (-1.0, 1.0), "v1": tuple(sorted(set(raw)))}
        for x in people(model, seed):
            best = reference(model, x, grids)
            res = mr.solve(mr.RecourseProblem(SCM, model, x, actionability=mr.Actionability(
                actionable=("v0", "v1"), grids=grids)))
            if np.isfinite(best):
                assert res.status is mr.Status.OPTIMAL, res.message
                assert best - 1e-12 <= res.cost <= best * (1 + 1e-4)
            else:
                assert res.status is mr.Status.NO_RECOURSE, res.message
