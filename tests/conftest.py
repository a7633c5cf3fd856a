"""Fixtures shared by several test modules."""

from __future__ import annotations

import pytest
from sklearn.tree import DecisionTreeClassifier

from milp_recourse import load_scm
from milp_recourse.models.recipes import labelled_sample, train_recipe


@pytest.fixture(scope="session")
def four_node_models() -> dict:
    """(SCM, classifier) for chain / triangle / collider x a logistic regression and a depth-3 tree."""
    out = {}
    for name in ("chain", "triangle", "collider"):
        scm = load_scm(name)
        X, y = labelled_sample(scm, 2000, 0)
        out[(name, "logreg")] = (scm, train_recipe(scm, "logreg", n=2000))
        out[(name, "tree")] = (scm, DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y))
    return out


@pytest.fixture(scope="module")
def one_openmp_thread():
    """OpenMP (HistGB, XGBoost, LightGBM predict) spins on a busy machine: one thread is ~5x faster per call."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield
