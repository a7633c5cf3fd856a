"""HistGradientBoostingClassifier (binary, log-loss, numeric features) as neutral tree arrays.

scikit-learn predicts in float64: a row goes left iff ``x <= num_threshold`` (NaN follows
``missing_go_to_left``; our inputs are never NaN). Leaf values already include the learning rate and the
raw score is ``_baseline_prediction + sum of the leaves`` (its log-odds of classes_[1]), so the ensemble
has ``float32=False`` and base = the baseline. Categorical splits (bitsets) are refused.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.utils.validation import check_is_fitted

from milp_recourse.errors import ClassifierError
from milp_recourse.models.registry import LibraryHooks, register_hooks
from milp_recourse.models.trees import (LEAF, LIBRARY_GAP, TreeArrays, TreeEnsemble, memo_ensemble, negated,
                                        register_tree_adapter)

NAME = "HistGradientBoostingClassifier"


def check_hist_gradient_boosting(model: Any) -> None:
    """Raise ClassifierError unless model is a fitted binary log-loss HistGradientBoostingClassifier on numbers."""
    try:
        check_is_fitted(model)
    except Exception as exc:  # NotFittedError
        raise ClassifierError(f"{NAME} is not fitted; call fit(X, y) before using it for recourse. ({exc})") from None
    loss = getattr(model, "loss", "log_loss")
    if loss not in ("log_loss", "auto", "binary_crossentropy"):
        raise ClassifierError(f"{NAME} with loss={loss!r} is not supported; expected loss='log_loss'.")
    if len(model.classes_) != 2 or int(getattr(model, "n_trees_per_iteration_", 1)) != 1:
        raise ClassifierError(f"{NAME} has classes {list(np.asarray(model.classes_).tolist())}; only binary "
                              "classifiers (exactly 2 classes) are supported.")
    cat = getattr(model, "is_categorical_", None)
    if cat is not None and np.any(cat):
        names = getattr(model, "feature_names_in_", None)
        cols = [str(names[i]) if names is not None else int(i) for i in np.flatnonzero(cat)]
        raise ClassifierError(f"{NAME} treats column(s) {cols} as categorical; categorical splits are not "
                              "supported yet (fit with categorical_features=None on numeric columns).")
    for it in model._predictors:
        for predictor in it:
            if np.any(predictor.nodes["is_categorical"][~predictor.nodes["is_leaf"].astype(bool)]):
                raise ClassifierError(f"{NAME} has categorical splits; they are not supported yet.")


def _tree(nodes: np.ndarray, sign: float) -> TreeArrays:
    leaf = nodes["is_leaf"].astype(bool)
    left = np.where(leaf, LEAF, nodes["left"].astype(np.int64))
    right = np.where(leaf, LEAF, nodes["right"].astype(np.int64))
    feature = np.where(leaf, 0, nodes["feature_idx"].astype(np.int64))
    threshold = np.where(leaf, 0.0, nodes["num_threshold"]).astype(float)
    value = np.where(leaf, sign * nodes["value"].astype(float), 0.0)
    return TreeArrays(left, right, feature, threshold, value)


def _positive(model: Any) -> TreeEnsemble:
    trees = tuple(_tree(it[0].nodes, 1.0) for it in model._predictors)
    base = float(np.asarray(model._baseline_prediction, float).ravel()[0])
    return TreeEnsemble(trees, base, int(model.n_features_in_), float32=False, gap=LIBRARY_GAP)


def hist_gradient_boosting_ensemble(model: Any, target_index: int) -> TreeEnsemble:
    """The model's raw score (log-odds of classes_[target_index]) as a float64-split TreeEnsemble (remembered
    while the model's nodes and baseline are unchanged: a refit in place is read again)."""
    check_hist_gradient_boosting(model)
    nodes = b"".join(it[0].nodes.tobytes() for it in model._predictors)
    stamp = (hash(nodes), np.asarray(model._baseline_prediction, float).tobytes())
    ens = memo_ensemble(model, stamp, lambda: _positive(model))
    return ens if target_index == 1 else negated(ens)


register_tree_adapter(HistGradientBoostingClassifier, hist_gradient_boosting_ensemble)
register_hooks(HistGradientBoostingClassifier, LibraryHooks(validate=check_hist_gradient_boosting))

__all__ = ["hist_gradient_boosting_ensemble", "check_hist_gradient_boosting"]
