"""The stacked tree scorer (models/tree_scoring.py) gives a forest's own probabilities: on data rows, on random
rows and exactly at / beside every split threshold (float32 semantics), for both classes."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import ExtraTreesClassifier, GradientBoostingClassifier, RandomForestClassifier
from sklearn.tree import DecisionTreeClassifier

from milp_recourse.models import reference_score
from milp_recourse.models.tree_scoring import fast_tree_score, stacked_trees

RNG = np.random.default_rng(1)
X = RNG.normal(size=(1500, 5)) * [1, 100, 0.01, 3, 1e4]
y = (X[:, 0] + X[:, 1] / 100 - X[:, 2] * 50 + (X[:, 4] > 0) > 0.3).astype(int)
MODELS = {
    "forest": RandomForestClassifier(n_estimators=30, max_depth=6, random_state=0).fit(X, y),
    "extra": ExtraTreesClassifier(n_estimators=20, max_depth=5, random_state=0).fit(X, y),
    "tree": DecisionTreeClassifier(max_depth=8, random_state=0).fit(X, y),
}


def _threshold_rows(model) -> np.ndarray:
    """Rows that put one feature exactly at, just below and just above a split threshold."""
    trees = getattr(model, "estimators_", [model])
    rows = []
    for est in trees[:5]:
        t = est.tree_
        for node in np.flatnonzero(t.children_left >= 0)[:10]:
            f, thr = int(t.feature[node]), float(t.threshold[node])
            for v in (thr, np.nextafter(thr, -np.inf), np.nextafter(thr, np.inf),
                      float(np.float32(thr)), float(np.nextafter(np.float32(thr), np.float32(np.inf)))):
                r = X[RNG.integers(len(X))].copy()
                r[f] = v
                rows.append(r)
    return np.array(rows)


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("target", [0, 1])
def test_stacked_scores_equal_the_models_own(name: str, target: int) -> None:
    model = MODELS[name]
    Z = np.vstack([X[:300], RNG.normal(size=(300, 5)) * X.std(axis=0), _threshold_rows(model)])
    ref, kind = reference_score(model, Z, model.classes_[target])
    assert kind == "probability"
    got = fast_tree_score(model, target, Z)
    assert got is not None and np.allclose(got, ref, rtol=0, atol=1e-12)


def test_refit_rebuilds_and_other_models_are_declined() -> None:
    model = RandomForestClassifier(n_estimators=5, max_depth=3, random_state=0).fit(X, y)
    first = stacked_trees(model, 1)
    assert stacked_trees(model, 1) is first                          # built once
    model.fit(X, 1 - y)
    ref, _ = reference_score(model, X[:50])
    assert np.allclose(fast_tree_score(model, 1, X[:50]), ref, atol=1e-12)   # the refitted trees
    gb = GradientBoostingClassifier(n_estimators=5).fit(X, y)
    assert fast_tree_score(gb, 1, X[:5]) is None                     # scored by sklearn (faster there)
