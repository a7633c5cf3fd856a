"""A product of a binary and a continuous parent (`0.13 * v0 * v1`, exact with one binary) was refused as "two
changing continuous quantities" once a cost budget pinned the binary's shift to 0 (its column's bounds [0, 0]): an
outside fuzz, and every forest person below whose incumbent costs less than flipping v0. The reference enumerates
the actions by hand: v0 kept or flipped, v2 left alone or set on its grid, v1 on every point where the forest's
own predict can change (its v1 splits, the SCM's edge at 0.54, and the v1 at which v3 meets each v3 split), each
a hair either side, with the counterfactual computed here, not by the package."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier

import milp_recourse as mr
from milp_recourse.scm.spec import scm_from_dict

SPEC = {"name": "prod", "variables": [
    {"name": "v0", "type": "binary", "actionability": "actionable", "domain": [0, 1], "equation": "U_v0",
     "noise": {"name": "U_v0", "dist": "bernoulli", "p": 0.46}},
    {"name": "v1", "type": "continuous", "actionability": "actionable", "domain": [-4.56, 5.89],
     "equation": "0.16 + U_v1", "noise": {"name": "U_v1", "dist": "normal", "mean": 0, "std": 0.96}},
    {"name": "v2", "type": "integer", "actionability": "actionable", "domain": [-2, 7],
     "equation": "-1 * (v1 > 0.54) - v0 + U_v2", "noise": {"name": "U_v2", "dist": "categorical", "probs": [0.2] * 5}},
    {"name": "v3", "type": "continuous", "actionability": "immutable", "domain": [-9, 9],
     "equation": "-0.14 + 1.11 * (v1 > 0.54) + 0.13 * v0 * v1 + U_v3",
     "noise": {"name": "U_v3", "dist": "normal", "mean": 0, "std": 1.35}}]}
GRID = (0.0, 4.0)


def splits(forest: RandomForestClassifier, k: int) -> set[float]:
    return {float(t) for est in forest.estimators_ for f, t in zip(est.tree_.feature, est.tree_.threshold) if f == k}


def reference(forest: RandomForestClassifier, x: dict[str, float]) -> float:
    """The cheapest accepted action over the candidates of the module docstring (cost: |changes|, weights 1)."""
    u2 = x["v2"] - (-1.0 * (x["v1"] > 0.54) - x["v0"])
    u3 = x["v3"] - (-0.14 + 1.11 * (x["v1"] > 0.54) + 0.13 * x["v0"] * x["v1"])
    edges = splits(forest, 1) | {0.54}
    for t, v0, ind in itertools.product(splits(forest, 3), (0.0, 1.0), (0.0, 1.0)):
        if v0:
            edges.add((t - u3 + 0.14 - 1.11 * ind) / 0.13)
    v1s = {x["v1"]} | {e + s for e in edges for s in (-1e-7, 1e-7)}
    v1s = [v for v in v1s if -4.56 <= v <= 5.89]
    rows, costs = [], []
    for v0, v1, v2 in itertools.product((x["v0"], 1.0 - x["v0"]), v1s, (None,) + GRID):
        ind = float(v1 > 0.54)
        cf2 = -ind - v0 + u2 if v2 is None else v2
        rows.append([v0, v1, cf2, -0.14 + 1.11 * ind + 0.13 * v0 * v1 + u3])
        costs.append(abs(v0 - x["v0"]) + abs(v1 - x["v1"]) + (0.0 if v2 is None else abs(v2 - x["v2"])))
    ok = forest.predict(pd.DataFrame(rows, columns=["v0", "v1", "v2", "v3"])) == 1
    return float(np.min(np.asarray(costs)[ok])) if ok.any() else np.inf


def cases() -> list[dict[str, float]]:
    scm = scm_from_dict(SPEC)
    X = scm.sample(400, seed=5)
    return [dict(r) for r in X.to_dict("records") if r["v3"] < -0.3 and r["v0"] == 1.0][:8]


@pytest.mark.parametrize("x", cases())
def test_a_binary_times_continuous_product_under_a_cost_budget(x):
    scm = scm_from_dict(SPEC)
    X = scm.sample(3000, seed=0)
    forest = RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0).fit(X, (X["v3"] > 0).astype(int))
    if forest.predict(pd.DataFrame([x]))[0] == 1:
        pytest.skip("approved already")
    res = mr.solve(mr.RecourseProblem(scm, forest, x, actionability=mr.Actionability(
        actionable=("v0", "v1", "v2"), grids={"v2": GRID})))
    ref = reference(forest, x)
    if not np.isfinite(ref):
        assert res.status is mr.Status.NO_RECOURSE, (res.status, res.message, dict(res.action))
        return
    assert res.status is mr.Status.OPTIMAL, (res.status, res.message)
    # (the candidates sit 1e-7 from each edge: the exact infimum may be that much cheaper)
    assert ref - 2e-7 <= res.cost <= ref * (1 + 1e-4) + 2e-6, (res.cost, ref, dict(res.action))
