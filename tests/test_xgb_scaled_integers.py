"""XGBoost behind a scaler on integer features: every integer the Pipeline approves is reachable.

XGBoost's cut points are the float32 of (scaled) data values, so a scaled integer's float64 value can sit a hair
below the cut it rounds onto, and XGBoost sends it right. Before, the MILP's right region started at the cut
itself, excluding that integer (an outside fuzz: k = 2 excluded, answers 2x the optimum reported OPTIMAL).
Reference: every integer combination of the actionable features, scored by the fitted Pipeline's own predict.
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
    def integer(name: str) -> dict:
        return {"name": name, "type": "integer", "domain": [0, TOP], "actionability": "actionable",
                "equation": f"U_{name}", "noise": {"name": f"U_{name}", "dist": "categorical",
                                                  "probs": [1.0 / (TOP + 1)] * (TOP + 1)}}
    return scm_from_dict({"name": "ints", "variables": [integer("k1"), integer("k2"), {
        "name": "z", "type": "continuous", "domain": [0, 1], "actionability": "immutable", "equation": "U_z",
        "noise": {"name": "U_z", "dist": "uniform", "low": 0, "high": 1}}]})


@pytest.mark.parametrize("scaler", [StandardScaler, MinMaxScaler])
@pytest.mark.parametrize("seed", [0, 1])
def test_every_integer_the_pipeline_approves_is_reachable(scaler, seed):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"k1": rng.integers(0, TOP + 1, 800).astype(float),
                      "k2": rng.integers(0, TOP + 1, 800).astype(float), "z": rng.uniform(0, 1, 800)})
    y = (X.k1 + 0.7 * X.k2 + rng.normal(0, 1.0, 800) > 5.5).astype(int)
    clf = Pipeline([("s", scaler()), ("m", xgboost.XGBClassifier(n_estimators=6, max_depth=2, learning_rate=0.8,
                                                                   random_state=seed, n_jobs=1))]).fit(X, y)
    grid = np.array(list(itertools.product(range(TOP + 1), repeat=2)), float)
    scm, checked = _scm(), 0
    for _, row in X[clf.predict(X) == 0].head(8).iterrows():
        cand = pd.DataFrame({"k1": grid[:, 0], "k2": grid[:, 1], "z": row.z})
        ok = clf.predict(cand) == 1
        res = mr.solve(mr.RecourseProblem(scm, clf, row.to_dict(), cost=mr.CostSpec(p=1),
                                          options=mr.SolveOptions(time_limit=30)))
        if not ok.any():
            assert res.status is mr.Status.NO_RECOURSE
            continue
        best = float(np.abs(grid[ok] - row[["k1", "k2"]].to_numpy(float)).sum(axis=1).min())
        assert res.status is mr.Status.OPTIMAL, res.message
        assert res.cost == pytest.approx(best, abs=1e-9)
        cf = pd.DataFrame([{k: res.counterfactual[k] for k in ("k1", "k2", "z")}])
        assert clf.predict(cf)[0] == 1
        checked += 1
    assert checked >= 4
