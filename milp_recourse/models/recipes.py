"""Classifier recipes: scikit-learn models trained on data sampled from an SCM with a fixed seed.

They make the package self-contained (the README demo, tests, benchmarks): `recipe:logreg`
means "a StandardScaler + LogisticRegression trained on 5000 samples of this SCM, seed 0".
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pandas as pd

from milp_recourse.errors import InputError
from milp_recourse.scm import expr as ex


def _logreg(seed: int):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))


def _svm(seed: int):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC
    return make_pipeline(StandardScaler(), LinearSVC(random_state=seed))


def _mlp(seed: int):
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    return make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(16, 16), max_iter=600, random_state=seed))


def _tree(seed: int):
    from sklearn.tree import DecisionTreeClassifier
    return DecisionTreeClassifier(max_depth=5, random_state=seed)


def _forest(seed: int):
    from sklearn.ensemble import RandomForestClassifier
    return RandomForestClassifier(n_estimators=20, max_depth=5, random_state=seed)


def _gbt(seed: int):
    from sklearn.ensemble import GradientBoostingClassifier
    return GradientBoostingClassifier(n_estimators=30, max_depth=3, random_state=seed)


RECIPES: dict[str, Callable[[int], Any]] = {"logreg": _logreg, "svm": _svm, "mlp": _mlp, "tree": _tree,
                                            "forest": _forest, "gbt": _gbt}


def labelled_sample(scm, n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """n samples of the SCM and their ground-truth labels (Bernoulli when the label is a probability)."""
    if scm.label is None:
        raise InputError(f"SCM {scm.name!r} has no label equation; train a classifier yourself and pass its file.")
    data = scm.sample(n, seed=seed, return_noise=True)
    env = {c: data[c].to_numpy(float) for c in data.columns}
    p = np.broadcast_to(np.asarray(ex.evaluate(scm.label, env), float), (n,))
    if np.all((p == 0) | (p == 1)):
        y = p.astype(int)
    else:
        y = (np.random.default_rng(seed + 1).random(n) < p).astype(int)
    return data[list(scm.names)], y


def train_recipe(scm, name: str, n: int = 5000, seed: int = 0):
    """Fit recipe `name` on n labelled samples of the SCM."""
    if name not in RECIPES:
        raise InputError(f"Unknown classifier recipe {name!r}; expected one of {', '.join(sorted(RECIPES))}.")
    X, y = labelled_sample(scm, n, seed)
    if len(np.unique(y)) < 2:
        raise InputError(f"SCM {scm.name!r} produced a single label class in {n} samples; cannot train {name!r}.")
    return RECIPES[name](seed).fit(X, y)


def bind_levels(model, scm):
    """The model, wrapped to read the SCM's categorical / ordinal codes as level names when it was trained on
    them (models/categorical_input.py); as it is otherwise."""
    from milp_recourse.models.categorical_input import with_levels

    levels = {v.name: v.levels for v in scm.variables if v.levels}
    return with_levels(model, levels) if levels else model


def load_model(spec: str, scm):
    """`recipe:NAME` trains that recipe on the SCM; anything else is a classifier file (bound to the SCM's
    levels: bind_levels)."""
    from milp_recourse.models.classifiers import load_classifier

    if spec.startswith("recipe:"):
        return train_recipe(scm, spec.split(":", 1)[1])
    return bind_levels(load_classifier(spec), scm)


def first_denied(scm, model, n: int = 2000, seed: int = 1, threshold: float = 0.5) -> pd.Series:
    """The first individual in a fresh SCM sample whom the model denies (for demos and examples)."""
    from milp_recourse.models.classifiers import classifier_features, favourable

    model = bind_levels(model, scm)
    X = scm.sample(n, seed=seed)
    feats = list(classifier_features(model, scm.names))
    fav = favourable(model, X[feats].to_numpy(float), threshold)
    denied = np.flatnonzero(~fav)
    if denied.size == 0:
        raise InputError(f"The model approves all {n} sampled individuals; nobody needs recourse.")
    return X.iloc[int(denied[0])]
