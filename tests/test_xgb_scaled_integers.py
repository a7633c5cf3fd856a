"""XGBoost on integer and binary features, raw or behind a scaler: every value the model approves is reachable, and
no value it refuses is taken.

XGBoost's cut points are the float32 of (scaled) data values, so a scaled integer's float64 value can sit a hair
below the cut it rounds onto, and XGBoost sends it right. Before, the MILP's right region started at the cut
itself, excluding that integer (an outside fuzz: k = 2 excluded, answers 2x the optimum reported OPTIMAL).
A first fix put the regions' edge at the float32 rounding edge itself, 3e-8 from the value 1 of a binary
feature on a cut at 1: within the solver's tolerance, so HiGHS placed 1 on the left and the answer failed the
re-check (Taiwan XGBoost 300 x 6: 3 of 10 people FEASIBLE); the regions now meet halfway between lattice values.
Reference: every combination of the actionable features' values, scored by the fitted model's own predict.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

import milp_recourse as mr
from milp_recourse.scm.spec import scm_from_dict

xgboost = pytest.importorskip("xgboost")

TOP = 6   # integer features 0 .. TOP


def _scm():
    def integer(name: str, top: int) -> dict:
        return {"name": name, "type": "integer" if top > 1 else "binary", "domain": [0, top],
                "actionability": "actionable", "equation": f"U_{name}",
                "noise": {"name": f"U_{name}", "dist": "categorical", "probs": [1.0 / (top + 1)] * (top + 1)}}
    return scm_from_dict({"name": "ints", "variables": [integer("k1", TOP), integer("k2", TOP), integer("flag", 1), {
        "name": "z", "type": "continuous", "domain": [0, 1], "actionability": "immutable", "equation": "U_z",
        "noise": {"name": "U_z", "dist": "uniform", "low": 0, "high": 1}}]})


@pytest.mark.parametrize("scaler", [None, StandardScaler, MinMaxScaler])
@pytest.mark.parametrize("seed", [0, 1])
def test_every_value_the_model_approves_is_reachable(scaler, seed):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"k1": rng.integers(0, TOP + 1, 800).astype(float),
                      "k2": rng.integers(0, TOP + 1, 800).astype(float),
                      "flag": rng.integers(0, 2, 800).astype(float), "z": rng.uniform(0, 1, 800)})
    y = (X.k1 + 0.7 * X.k2 + 2.0 * X.flag + rng.normal(0, 1.0, 800) > 6.5).astype(int)
    xgb = xgboost.XGBClassifier(n_estimators=6, max_depth=3, learning_rate=0.8, random_state=seed, n_jobs=1)
    clf = (xgb if scaler is None else Pipeline([("s", scaler()), ("m", xgb)])).fit(X, y)
    grid = np.array(list(itertools.product(range(TOP + 1), range(TOP + 1), (0, 1))), float)
    scm, checked = _scm(), 0
    for _, row in X[clf.predict(X) == 0].head(8).iterrows():
        cand = pd.DataFrame({"k1": grid[:, 0], "k2": grid[:, 1], "flag": grid[:, 2], "z": row.z})
        ok = clf.predict(cand) == 1
        res = mr.solve(mr.RecourseProblem(scm, clf, row.to_dict(), cost=mr.CostSpec(p=1),
                                          options=mr.SolveOptions(time_limit=30)))
        if not ok.any():
            assert res.status is mr.Status.NO_RECOURSE
            continue
        best = float(np.abs(grid[ok] - row[["k1", "k2", "flag"]].to_numpy(float)).sum(axis=1).min())
        assert res.status is mr.Status.OPTIMAL, res.message
        assert res.cost == pytest.approx(best, abs=1e-9)
        cf = pd.DataFrame([{k: res.counterfactual[k] for k in ("k1", "k2", "flag", "z")}])
        assert clf.predict(cf)[0] == 1
        checked += 1
    assert checked >= 4


@pytest.mark.parametrize("seed", range(4))
def test_xgboost_split_regions_keep_lattice_values_far_from_their_edges(seed):
    """At an XGBoost cut c (the float32 of a data value: here of a lattice value, raw or scaled), every lattice
    value XGBoost sends right (float32(v) >= c) lies at least a quarter step inside the right region, every one it
    sends left inside the left region: no solver tolerance can move one across."""
    from milp_recourse.encode.tree_ensembles import _split_region
    from milp_recourse.models.trees import left_upper

    rng = np.random.default_rng(seed)
    for _ in range(200):
        step = float(rng.choice([1.0, 0.37, 1 / 3.1, 2.5e-4, 1e-5 * 3]))
        offset = float(rng.normal(0, 3)) if rng.random() < 0.7 else 0.0
        n = np.arange(-40, 41)
        values = offset + step * n
        c = np.float32(values[rng.integers(1, len(values))])                 # XGBoost's cut: a data value
        L = left_upper(float(np.nextafter(c, np.float32(-np.inf))))          # as xgboost_trees + trees.py key it
        left_ub, right_lb = _split_region(L, 0.0, True, 1e-6, (step, offset))
        goes_right = values.astype(np.float32) >= c                          # XGBoost: left iff float32(x) < c
        assert goes_right.any() and (~goes_right).any()
        assert (values[goes_right] >= right_lb + step / 4).all()
        assert (values[~goes_right] <= left_ub - step / 4).all()
