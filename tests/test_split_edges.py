"""Library tree ensembles (XGBoost, LightGBM, HistGradientBoosting) keep their MILP regions 1e-6 * max(1, |t|)
from each split; the answer is then pulled back onto the split's edge (solver/answer_rules.onto_split_edges).
Before, a person 1e-5 past a LightGBM split `x <= t` got do(x := t - 1e-6), 10 % dearer than do(x := t), reported
OPTIMAL at gap 0. Reference: the closed form (one split, one feature: the optimum is the distance to the split's
last favourable value) and the library's own predict_proba."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from milp_recourse import RecourseProblem, Status, solve
from milp_recourse.scm.spec import scm_from_dict

# x in [0, SCALE]: behind a StandardScaler the band is ~1e-6 x SCALE / 3.5 in x's units, behind a MinMaxScaler over
# [0, 4e4] it is ~1e-6 x 4e4 = 0.04 (beyond the pull's first reach, 1e-4 x max(1, |theta|): an outside fuzz)
SCALES = {"plain": 40.0, "standard": 40.0, "minmax-wide": 40_000.0}


def _scm(scale: float):
    return scm_from_dict({"name": "one-split", "variables": [
        {"name": "x", "type": "continuous", "domain": [0.0, scale], "actionability": "actionable",
         "equation": "U_x", "noise": {"name": "U_x", "dist": "uniform", "low": 0.0, "high": scale}},
        {"name": "y", "type": "continuous", "domain": [-200.0, 200.0], "actionability": "immutable",
         "equation": "U_y", "noise": {"name": "U_y", "dist": "normal", "mean": 0, "std": 1}}]})


def _model(library: str, scaler: str):
    """One split on x (low x favourable), fitted on a frame with columns x, y."""
    rng = np.random.default_rng(0)
    scale = SCALES[scaler]
    X = pd.DataFrame({"x": rng.uniform(0, scale, 600), "y": rng.normal(size=600)})
    label = (X.x < scale / 2).astype(int)
    if library == "lightgbm":
        lgb = pytest.importorskip("lightgbm")
        est = lgb.LGBMClassifier(n_estimators=1, num_leaves=2, learning_rate=1.0, min_child_samples=5, verbose=-1)
    elif library == "xgboost":
        xgb = pytest.importorskip("xgboost")
        est = xgb.XGBClassifier(n_estimators=1, max_depth=1, learning_rate=1.0)
    else:
        from sklearn.ensemble import HistGradientBoostingClassifier
        est = HistGradientBoostingClassifier(max_iter=1, max_depth=1, learning_rate=1.0)
    prep = {"plain": None, "standard": StandardScaler(), "minmax-wide": MinMaxScaler()}[scaler]
    model = est if prep is None else make_pipeline(prep, est)
    return model.fit(X, label)


def _edge(model, x0: float) -> float:
    """The favourable x nearest x0 (from above), by bisection on the model's own predict_proba."""
    proba = lambda v: model.predict_proba(pd.DataFrame({"x": [v], "y": [0.0]}))[0, 1]   # noqa: E731
    lo, hi = 0.0, x0   # proba(lo) >= 0.5 > proba(hi)
    assert proba(lo) >= 0.5 > proba(hi)
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        lo, hi = (mid, hi) if proba(mid) >= 0.5 else (lo, mid)
        if np.nextafter(lo, hi) == hi:   # adjacent floats: lo is the last favourable one
            break
    return lo


@pytest.mark.parametrize("library", ["lightgbm", "xgboost", "histgb"])
@pytest.mark.parametrize("scaler", list(SCALES))
@pytest.mark.parametrize("delta", [1e-5, 1e-3, 0.3])
def test_an_optimum_on_a_split_edge_is_not_charged_the_band(library, scaler, delta):
    model = _model(library, scaler)
    scm = _scm(SCALES[scaler])
    denied = np.linspace(0.0, SCALES[scaler], 4001)
    proba = model.predict_proba(pd.DataFrame({"x": denied, "y": 0.0}))[:, 1]
    first = denied[int(np.flatnonzero(proba < 0.5)[0])]   # the split lies in (first - one step, first]
    edge = _edge(model, first)
    x0 = edge + delta
    res = solve(RecourseProblem(scm, model, {"x": x0, "y": 0.0}))
    assert res.status is Status.OPTIMAL and res.verified, res.message
    best = x0 - edge   # the closed-form optimum (cost |theta - x| with weight 1)
    assert best <= res.cost <= best * (1 + 1e-4), (res.cost, best, dict(res.action))
    assert res.objective_bound <= res.cost
    assert model.predict_proba(pd.DataFrame({"x": [res.action["x"]], "y": [0.0]}))[0, 1] >= 0.5
    nxt = np.nextafter(res.action["x"], x0)   # the last favourable float: the next one toward x0 is refused
    assert model.predict_proba(pd.DataFrame({"x": [nxt], "y": [0.0]}))[0, 1] < 0.5, (res.action["x"], nxt)


@pytest.mark.parametrize("library", ["lightgbm", "xgboost", "histgb"])
def test_the_pull_ends_on_the_same_float_wherever_it_starts(library):
    """solve_many's warm-started relaxation gave a start 7 floats off solve's, and the pulled answers differed by
    as much (an outside fuzz, XGBoost): the pull now goes on to the last favourable float beside a refused one."""
    from milp_recourse.solver.answer_rules import onto_split_edges

    model = _model(library, "plain")
    scm = _scm(SCALES["plain"])
    denied = np.linspace(0.0, SCALES["plain"], 4001)
    proba = model.predict_proba(pd.DataFrame({"x": denied, "y": 0.0}))[:, 1]
    edge = _edge(model, denied[int(np.flatnonzero(proba < 0.5)[0])])
    problem = RecourseProblem(scm, model, {"x": edge + 0.01, "y": 0.0})
    ends = set()
    for start in (edge - 1e-6, edge - 1e-6 + 7 * np.spacing(edge), edge - 3.3e-7, edge - 2e-9):
        assert model.predict_proba(pd.DataFrame({"x": [start], "y": [0.0]}))[0, 1] >= 0.5
        ends.add(onto_split_edges(problem, {"x": float(start)})[0]["x"])
    assert len(ends) == 1, ends
    end = ends.pop()
    assert model.predict_proba(pd.DataFrame({"x": [end], "y": [0.0]}))[0, 1] >= 0.5
    assert model.predict_proba(pd.DataFrame({"x": [np.nextafter(end, np.inf)], "y": [0.0]}))[0, 1] < 0.5
