"""scikit-learn's tree families (DecisionTree, RandomForest, ExtraTrees, GradientBoosting) as neutral TreeEnsembles.

Registered with trees.register_tree_adapter when the registry loads the scikit-learn families
(models/sklearn_families.py), so trees.py itself never imports scikit-learn. Splits: float32(x) <= threshold.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import logit
from sklearn.ensemble import ExtraTreesClassifier, GradientBoostingClassifier, RandomForestClassifier
from sklearn.tree import DecisionTreeClassifier

from milp_recourse.errors import ClassifierError
from milp_recourse.models.trees import TreeArrays, TreeEnsemble, register_tree_adapter


def _arrays(est: Any, value: np.ndarray) -> TreeArrays:
    t = est.tree_
    left = np.asarray(t.children_left, dtype=np.int64)
    return TreeArrays(left, np.asarray(t.children_right, dtype=np.int64), np.asarray(t.feature, dtype=np.int64),
                      np.asarray(t.threshold, dtype=float), np.asarray(value, dtype=float))


def _class_tree(est: Any, column: int, weight: float) -> TreeArrays:
    """Leaf value = weight * normalized class fraction in column (tree_.value may hold counts or fractions)."""
    v = np.asarray(est.tree_.value, dtype=float)
    if v.ndim != 3 or v.shape[1] != 1 or v.shape[2] != 2:
        raise ClassifierError(f"{type(est).__name__}.tree_.value has shape {v.shape}; expected (n_nodes, 1, 2) "
                              "for a binary single-output tree.")
    v = v[:, 0, :]
    norm = v.sum(axis=1)
    norm[norm == 0.0] = 1.0
    return _arrays(est, weight * (v[:, column] / norm))


def _decision_tree(model: DecisionTreeClassifier, target_index: int) -> TreeEnsemble:
    return TreeEnsemble((_class_tree(model, target_index, 1.0),), 0.0, int(model.n_features_in_))


def _forest(model: Any, target_index: int) -> TreeEnsemble:
    n = len(model.estimators_)
    return TreeEnsemble(tuple(_class_tree(e, target_index, 1.0 / n) for e in model.estimators_), 0.0,
                        int(model.n_features_in_))


def _init_raw(model: GradientBoostingClassifier) -> float:
    """The init estimator's raw score, as sklearn computes it (clipped prior probability, then logit)."""
    if isinstance(model.init_, str):  # 'zero'
        return 0.0
    p = float(model.init_.predict_proba(np.zeros((1, model.n_features_in_)))[0, 1])
    eps = float(np.finfo(np.float64).eps)
    return float(logit(np.clip(p, eps, 1.0 - eps)))


def _boosting(model: GradientBoostingClassifier, target_index: int) -> TreeEnsemble:
    sign = 1.0 if target_index == 1 else -1.0
    est = np.asarray(model.estimators_)
    if est.ndim != 2 or est.shape[1] != 1:
        raise ClassifierError(f"GradientBoostingClassifier.estimators_ has shape {est.shape}; expected "
                              "(n_estimators, 1) for binary classification.")
    lr = sign * float(model.learning_rate)
    trees = tuple(_arrays(e, lr * np.asarray(e.tree_.value, dtype=float)[:, 0, 0]) for e in est[:, 0])
    return TreeEnsemble(trees, sign * _init_raw(model), int(model.n_features_in_))


for _cls, _fn in ((DecisionTreeClassifier, _decision_tree), (RandomForestClassifier, _forest),
                  (ExtraTreesClassifier, _forest), (GradientBoostingClassifier, _boosting)):
    register_tree_adapter(_cls, _fn)

__all__: list[str] = []
