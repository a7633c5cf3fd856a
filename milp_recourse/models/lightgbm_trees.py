"""LightGBM LGBMClassifier and Booster (objective 'binary', numerical splits) read from ``dump_model()``.

Imported only when a lightgbm model is first seen (models.registry.load_library_family). LightGBM compares
doubles: a row goes left iff ``x <= threshold`` (decision_type '<='), so the trees are float64-rule
TreeArrays. Leaf values include the shrinkage and, with boost_from_average, the initial score (in the first
tree); the raw score is their sum (divided by the number of trees when ``average_output``, boosting='rf'),
and P(class 1) = sigmoid(s * raw) with s the objective's sigmoid, so the log-odds are ``s * raw``.
Categorical splits ('==') and linear trees are refused. missing_type 'NaN' never applies to our finite
inputs; missing_type 'Zero' (zero_as_missing) sends |x| <= 1e-35 the default way, accepted only where that
agrees with the threshold rule.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import lightgbm as lgb
import numpy as np

from milp_recourse.errors import ClassifierError
from milp_recourse.models.registry import LibraryHooks, register_hooks, register_model
from milp_recourse.models.trees import (LEAF, LIBRARY_GAP, TreeArrays, TreeEnsemble, memo_ensemble, negated,
                                        register_tree_adapter)

ZERO = 1e-35   # LightGBM's kZeroThreshold


def _booster(model: Any) -> lgb.Booster:
    if isinstance(model, lgb.Booster):
        return model
    try:
        return model.booster_
    except Exception as exc:  # LGBMNotFittedError
        raise ClassifierError(f"{type(model).__name__} is not fitted; call fit(X, y) before using it for "
                              f"recourse. ({exc})") from None


def _name(model: Any) -> str:
    return "lightgbm.Booster" if isinstance(model, lgb.Booster) else type(model).__name__


def _sigmoid(dump: dict, name: str) -> float:
    """The 's' of P = 1 / (1 + exp(-s * raw)) from the objective string ('binary sigmoid:1')."""
    parts = str(dump.get("objective", "")).split()
    if not parts or parts[0] != "binary" or int(dump.get("num_tree_per_iteration", 1)) != 1:
        raise ClassifierError(f"{name} with objective {dump.get('objective')!r} is not supported; expected "
                              "objective='binary' (a binary classifier whose raw score is the log-odds).")
    for p in parts[1:]:
        if p.startswith("sigmoid:"):
            return float(p.split(":", 1)[1])
    return 1.0


def _check_node(node: dict, name: str) -> None:
    """Refuse what the float64 '<=' rule does not describe exactly."""
    if "leaf_value" in node:
        if "leaf_coeff" in node:
            raise ClassifierError(f"{name} has linear trees (linear_tree=True); only constant leaves are supported.")
        return
    if node.get("decision_type") != "<=":
        raise ClassifierError(f"{name} has a categorical split (decision_type {node.get('decision_type')!r}) on "
                              f"feature {node.get('split_feature')}; categorical columns are not supported yet: "
                              "encode them as numbers before fitting.")
    if node.get("missing_type") == "Zero":
        t, left = float(node["threshold"]), bool(node.get("default_left"))
        if not ((left and ZERO <= t) or (not left and -ZERO > t)):
            raise ClassifierError(f"{name} treats zero as missing (zero_as_missing) at a split whose default "
                                  "direction differs from 'x <= threshold'; refit with zero_as_missing=False.")
    _check_node(node["left_child"], name)
    _check_node(node["right_child"], name)


def _check_dump(dump: dict, model: Any) -> None:
    name = _name(model)
    if _sigmoid(dump, name) != _sigmoid_param(model):
        raise ClassifierError(f"{name}'s objective {dump.get('objective')!r} disagrees with its params "
                              f"(sigmoid={_sigmoid_param(model)}); expected the same sigmoid in both.")
    for tree in dump["tree_info"]:
        _check_node(tree["tree_structure"], name)


def check_lightgbm(model: Any) -> None:
    """Raise ClassifierError unless model is a fitted binary LightGBM model with numerical splits only."""
    lightgbm_ensemble(model, 1)   # reading the trees checks them (and is remembered for the encoder)


def _tree(root: dict, scale: float) -> TreeArrays:
    left: list[int] = []
    right: list[int] = []
    feature: list[int] = []
    threshold: list[float] = []
    value: list[float] = []

    def add(node: dict) -> int:
        i = len(left)
        left.append(LEAF), right.append(LEAF), feature.append(0), threshold.append(0.0), value.append(0.0)
        if "leaf_value" in node:
            value[i] = scale * float(node["leaf_value"])
            return i
        feature[i], threshold[i] = int(node["split_feature"]), float(node["threshold"])
        left[i] = add(node["left_child"])
        right[i] = add(node["right_child"])
        return i

    add(root)
    return TreeArrays(np.asarray(left, np.int64), np.asarray(right, np.int64), np.asarray(feature, np.int64),
                      np.asarray(threshold, float), np.asarray(value, float))


def _positive(model: Any) -> TreeEnsemble:
    dump = _booster(model).dump_model()
    _check_dump(dump, model)
    scale = _sigmoid(dump, _name(model))
    infos = dump["tree_info"]
    if dump.get("average_output") and infos:
        scale /= len(infos)
    trees = tuple(_tree(t["tree_structure"], scale) for t in infos)
    return TreeEnsemble(trees, 0.0, int(dump["max_feature_idx"]) + 1, float32=False, gap=LIBRARY_GAP)


def lightgbm_ensemble(model: Any, target_index: int) -> TreeEnsemble:
    """The log-odds of class target_index as float64-rule TreeArrays (checked; remembered per booster)."""
    booster = _booster(model)
    stamp = (booster.current_iteration(), booster.best_iteration, _sigmoid_param(model))
    ens = memo_ensemble(booster, stamp, lambda: _positive(model))
    return ens if target_index == 1 else negated(ens)


def _feature_names(model: Any) -> tuple[str, ...] | None:
    names = tuple(str(n) for n in _booster(model).feature_name())
    return None if names == tuple(f"Column_{i}" for i in range(len(names))) else names


def _data(model: Any, X: np.ndarray) -> Any:
    names = getattr(model, "feature_names_in_", None) if not isinstance(model, lgb.Booster) else None
    if names is None:
        return X
    import pandas as pd

    return pd.DataFrame(X, columns=[str(n) for n in names])


def _sigmoid_param(model: Any) -> float:
    """The sigmoid the booster was trained with (its params; LightGBM's default 1), cheap enough per call."""
    return float((_booster(model).params or {}).get("sigmoid", 1.0))


def _logit(model: Any, X: np.ndarray) -> np.ndarray:
    """s * raw score; where the library's probability is not sigmoid(s * raw) (boosting='rf': LightGBM averages
    the trees for probabilities but not for raw_score=True) the log-odds of its own probability."""
    raw = _sigmoid_param(model) * np.asarray(model.predict(_data(model, X), raw_score=True), float)
    p = _proba(model, X)
    if np.allclose(1.0 / (1.0 + np.exp(-raw)), p, rtol=0.0, atol=1e-12):
        return raw
    with np.errstate(divide="ignore"):
        return np.log(p) - np.log1p(-p)


def _proba(model: Any, X: np.ndarray) -> np.ndarray:
    if isinstance(model, lgb.Booster):
        return np.asarray(model.predict(X), float)
    return np.asarray(model.predict_proba(_data(model, X)), float)[:, 1]


@contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """LightGBM's C++ logger writes '[LightGBM] [Fatal] ...' to file descriptor 2 before it raises; the error
    we raise says the same, so that line is kept off the user's terminal (the descriptor is restored after)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def load_model_file(path: Any) -> lgb.Booster:
    """A Booster from a text model file written by LightGBM's save_model (.txt)."""
    try:
        with _native_stderr_silenced():
            return lgb.Booster(model_file=str(path))
    except Exception as exc:  # LightGBMError for anything unreadable
        raise ClassifierError(f"Could not read LightGBM model file '{path}': {str(exc).splitlines()[0]}") from None


register_model(lgb.LGBMClassifier, "logit")
register_model(lgb.Booster, "logit")
register_tree_adapter(lgb.LGBMClassifier, lightgbm_ensemble)
register_tree_adapter(lgb.Booster, lightgbm_ensemble)
register_hooks(lgb.LGBMClassifier, LibraryHooks(validate=check_lightgbm, feature_names=_feature_names,
                                                positive_logit=_logit, positive_proba=_proba))
register_hooks(lgb.Booster, LibraryHooks(validate=check_lightgbm, sklearn_api=False,
                                         n_features=lambda m: int(m.num_feature()), feature_names=_feature_names,
                                         positive_logit=_logit, positive_proba=_proba))

__all__ = ["lightgbm_ensemble", "check_lightgbm", "load_model_file"]
