"""A grid value on (or within the solver's tolerance of) a scikit-learn split: predict sends it left iff
float32(v) <= threshold, but the MILP's split rows let a value inside the excluded float32 band, or within 1e-7 of
it, sit on either side (an outside fuzz: a grid value equal to a threshold whose float32 rounds up went left in the
MILP, right in predict: VERIFICATION_FAILED, then a spurious bound and FEASIBLE, gap 0.82, on a 24-action problem).
A split on a grid feature now follows each value's side exactly (encode/tree_ensembles._known_sides).

Reference: every action enumerated (v0 kept or on its grid, v2 kept or set to a level, v3 kept or set), the SCM
by hand (v1 a threshold node: its noise is the posterior median given the factual v1), the forest's own predict_proba
against the threshold 0.2."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logit
from sklearn.ensemble import RandomForestClassifier

import milp_recourse as mr
from milp_recourse.scm.spec import scm_from_dict

SPEC = {"name": "edges", "variables": [
    {"name": "v0", "type": "continuous", "actionability": "actionable", "domain": [-8.81, 6.22],
     "equation": "-0.92 + U_v0", "noise": {"name": "U_v0", "dist": "normal", "mean": 0, "std": 1.49}},
    {"name": "v1", "type": "binary", "actionability": "actionable", "domain": [0, 1],
     "equation": "(0.59 + 0.64 * v0 + U_v1 >= 0)", "noise": {"name": "U_v1", "dist": "logistic"}},
    {"name": "v2", "type": "categorical", "actionability": "actionable", "levels": ["La", "Lb", "Lc"],
     "equation": "U_v2", "noise": {"name": "U_v2", "dist": "categorical", "probs": [0.38, 0.17, 0.45]}},
    {"name": "v3", "type": "binary", "actionability": "actionable", "domain": [0, 1], "equation": "U_v3",
     "noise": {"name": "U_v3", "dist": "bernoulli", "p": 0.37}}]}
THRESHOLD = 0.2
FAR = -3.836


def forest(seed: int) -> RandomForestClassifier:
    X = scm_from_dict(SPEC).sample(1200, seed=1)
    rng = np.random.default_rng(seed)
    y = ((X["v0"] + 0.8 * X["v3"] - 0.5 * (X["v2"] == 1) + rng.normal(0, 0.5, len(X))) < -0.6).astype(int)
    return RandomForestClassifier(n_estimators=2, max_depth=3, random_state=seed).fit(X, y)


def reference(model, x: dict[str, float], actionable: tuple[str, ...], grid: tuple[float, ...]) -> float:
    eta = lambda v0: 0.59 + 0.64 * v0   # noqa: E731
    p = expit(-eta(x["v0"]))            # P(v1 = 0 | v0) = P(U < -eta)
    u1 = logit(p + (1 - p) / 2) if x["v1"] == 1 else logit(p / 2)   # the posterior median of U_v1
    choices = [((None,) + grid) if "v0" in actionable else (None,),
               (None, 0.0, 1.0, 2.0) if "v2" in actionable else (None,),
               (None, 0.0, 1.0) if "v3" in actionable else (None,)]
    rows, costs = [], []
    for a0, a2, a3 in itertools.product(*choices):
        v0 = x["v0"] if a0 is None else a0
        rows.append([v0, float(eta(v0) + u1 >= 0), x["v2"] if a2 is None else a2, x["v3"] if a3 is None else a3])
        costs.append((0.0 if a0 is None else abs(a0 - x["v0"])) + (0.0 if a2 is None else float(a2 != x["v2"]))
                     + (0.0 if a3 is None else abs(a3 - x["v3"])))
    ok = model.predict_proba(pd.DataFrame(rows, columns=["v0", "v1", "v2", "v3"]))[:, 1] >= THRESHOLD
    return float(np.min(np.asarray(costs)[ok])) if ok.any() else np.inf


@pytest.mark.parametrize("seed", [7, 8, 9, 10])
def test_grid_values_on_split_edges_take_predicts_side(seed):
    scm = scm_from_dict(SPEC)
    model = forest(seed)
    ts = sorted({float(t) for e in model.estimators_ for f, t in zip(e.tree_.feature, e.tree_.threshold)
                 if f == 0 and float(np.float32(t)) != t})   # v0's splits whose float32 is not the threshold
    people = [r for r in scm.sample(40, seed=seed + 100).to_dict("records")
              if model.predict_proba(pd.DataFrame([r]))[0, 1] < THRESHOLD][:3]
    assert ts and people
    for t, x, actionable in itertools.product(ts, people, (("v0",), ("v0", "v2", "v3"))):
        for grid in ((t,), (t, FAR)):
            res = mr.solve(mr.RecourseProblem(scm, model, x, actionability=mr.Actionability(
                actionable=actionable, grids={"v0": grid}), options=mr.SolveOptions(threshold=THRESHOLD)))
            ref = reference(model, x, actionable, grid)
            where = (t, x, actionable, grid, res.status, res.cost, dict(res.action), res.message)
            if not np.isfinite(ref):
                assert res.status is mr.Status.NO_RECOURSE, where
            else:
                assert res.status is mr.Status.OPTIMAL and res.cost == pytest.approx(ref, rel=1e-9, abs=1e-12), where


ONE = {"name": "one", "variables": [
    {"name": "v0", "type": "continuous", "actionability": "actionable", "domain": [-6, 6],
     "equation": "U_v0", "noise": {"name": "U_v0", "dist": "normal", "mean": 0, "std": 1}},
    {"name": "v1", "type": "continuous", "actionability": "immutable", "domain": [-6, 6],
     "equation": "U_v1", "noise": {"name": "U_v1", "dist": "normal", "mean": 0, "std": 1}}]}


@pytest.mark.parametrize("scaler", ["standard", "minmax"])
def test_grid_values_on_a_split_behind_a_scaler(scaler):
    """The same behind a StandardScaler / MinMaxScaler: a grid value whose transform is exactly a threshold (left in
    predict) was a false NO_RECOURSE, or a dearer OPTIMAL (an outside fuzz); the side now comes from the scaler's own
    arithmetic. Reference: the pipeline's own predict on the grid values."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import MinMaxScaler, StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    scm = scm_from_dict(ONE)
    X = scm.sample(400, seed=3)
    checked = 0
    for seed in range(40):
        rng = np.random.default_rng(seed)
        y = (X["v0"] + rng.normal(0, 0.3, len(X)) < 0.1).astype(int)
        model = Pipeline([("sc", StandardScaler() if scaler == "standard" else MinMaxScaler()),
                          ("m", DecisionTreeClassifier(max_depth=1, random_state=0))]).fit(X, y)
        tree, sc = model[-1].tree_, model[0]
        t = float(tree.threshold[0])
        raw = t * sc.scale_[0] + sc.mean_[0] if scaler == "standard" else (t - sc.min_[0]) / sc.scale_[0]
        if tree.feature[0] != 0 or float(sc.transform(pd.DataFrame([[raw, 0.0]], columns=["v0", "v1"]))[0, 0]) != t:
            continue
        x = {"v0": 2.0, "v1": 0.0}
        grid = (raw, float(np.nextafter(raw, np.inf)), -1.0)
        accepted = model.predict(pd.DataFrame([[g, 0.0] for g in grid], columns=["v0", "v1"])) == 1
        if model.predict(pd.DataFrame([x]))[0] == 1 or not accepted.any():
            continue
        ref = min(abs(g - 2.0) for g, ok in zip(grid, accepted) if ok)
        res = mr.solve(mr.RecourseProblem(scm, model, x, actionability=mr.Actionability(grids={"v0": grid})))
        assert res.status is mr.Status.OPTIMAL and res.cost == pytest.approx(ref, rel=1e-12), \
            (seed, grid, accepted, res.status, res.cost, ref)
        checked += 1
    assert checked >= 3
