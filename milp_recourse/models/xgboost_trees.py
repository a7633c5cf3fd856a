"""XGBoost XGBClassifier and Booster (gbtree, binary:logistic, numeric splits) read from their own JSON model.

Imported only when an xgboost model is first seen (models.registry.load_library_family). XGBoost casts the
input to float32 and sends a row to the 'yes' (left) child iff ``float32(x) < split_condition`` (a float32).
That is scikit-learn's rule ``float32(x) <= t`` with t the float32 just below the condition, so the trees
become float32-rule TreeArrays with ``threshold = nextafter32(condition, -inf)``. The raw margin is
``logit(base_score) + sum of the leaves`` (base_score, a probability, from ``save_config``); an XGBClassifier
that stopped early predicts with its first ``best_iteration + 1`` rounds, a Booster with all of them.
Missing values (NaN) never reach the model here; an XGBClassifier whose ``missing`` is a number is refused.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import numpy as np
import xgboost as xgb

from milp_recourse.errors import ClassifierError, describe
from milp_recourse.models.registry import LibraryHooks, register_hooks, register_model
from milp_recourse.models.trees import (LEAF, LIBRARY_GAP, TreeArrays, TreeEnsemble, memo_ensemble, negated,
                                        register_tree_adapter)

OBJECTIVE = "binary:logistic"


def _booster(model: Any) -> xgb.Booster:
    return model if isinstance(model, xgb.Booster) else model.get_booster()


def _name(model: Any) -> str:
    return "xgboost.Booster" if isinstance(model, xgb.Booster) else type(model).__name__


def _learner(model: Any) -> tuple[dict, dict]:
    """(the JSON model's learner, the JSON config's learner) of the model's booster."""
    booster = _booster(model)
    return json.loads(bytes(booster.save_raw("json")))["learner"], json.loads(booster.save_config())["learner"]


def _base_margin(config: dict, name: str) -> float:
    """logit(base_score): XGBoost stores binary:logistic's base score as a probability."""
    text = str(config["learner_model_param"]["base_score"]).strip().strip("[]")
    parts = [p for p in text.split(",") if p.strip()]
    if len(parts) != 1:
        raise ClassifierError(f"{name} has base_score {text!r}; expected one value (a binary model).")
    p = np.float32(float(parts[0]))
    if not 0.0 < p < 1.0:
        raise ClassifierError(f"{name} has base_score {float(p)!r}; expected a probability in (0, 1) for "
                              f"{OBJECTIVE}.")
    one = np.float32(1.0)
    return float(-np.log(one / p - one))   # in float32, as XGBoost's ProbToMargin computes it


def _check_wrapper(model: Any) -> None:
    """The XGBClassifier's own settings (cheap, not remembered with the trees)."""
    if isinstance(model, xgb.Booster):
        return
    name = _name(model)
    missing = getattr(model, "missing", np.nan)
    if missing is not None and not (isinstance(missing, float) and math.isnan(missing)):
        raise ClassifierError(f"{name} with missing={describe(missing)} is not supported; expected the "
                              "default missing=nan (values equal to 'missing' take the default branch).")
    try:
        model.get_booster()
    except Exception as exc:  # xgboost raises NotFittedError / XGBoostError
        raise ClassifierError(f"{name} is not fitted; call fit(X, y) before using it for recourse. "
                              f"({exc})") from None


def _check_learner(model: Any, learner: dict, config: dict) -> None:
    name = _name(model)
    objective = config["objective"]["name"]
    if objective != OBJECTIVE:
        raise ClassifierError(f"{name} with objective={objective!r} is not supported; expected {OBJECTIVE!r} "
                              "(a binary classifier whose raw margin is the log-odds).")
    kind = learner["gradient_booster"]["name"]
    if kind != "gbtree":
        raise ClassifierError(f"{name} with booster={kind!r} is not supported; expected 'gbtree'.")
    types = _booster(model).feature_types or []
    if any(t == "c" for t in types) or any(any(int(s) != 0 for s in t.get("split_type", []))
                                            for t in learner["gradient_booster"]["model"]["trees"]):
        raise ClassifierError(f"{name} has categorical splits (enable_categorical); categorical columns are "
                              "not supported yet: encode them as numbers before fitting.")


def check_xgboost(model: Any) -> None:
    """Raise ClassifierError unless model is a gbtree binary:logistic XGBoost model with numeric splits only."""
    xgboost_ensemble(model, 1)   # reading the trees checks them (and is remembered for the encoder)


def _n_rounds(model: Any, gbtree: dict) -> int:
    """Number of trees the library's own prediction uses (XGBClassifier: up to best_iteration)."""
    trees, best = len(gbtree["trees"]), _best(model)
    if best is None:
        return trees
    indptr = gbtree.get("iteration_indptr")
    return int(indptr[best + 1]) if indptr and best + 1 < len(indptr) else trees


def _tree(tree: dict, sign: float) -> TreeArrays:
    left = np.asarray(tree["left_children"], dtype=np.int64)
    right = np.asarray(tree["right_children"], dtype=np.int64)
    leaf = left == -1
    cond = np.asarray(tree["split_conditions"], dtype=np.float64).astype(np.float32)
    below = np.nextafter(cond, np.float32(-np.inf))          # float32(x) < c  <=>  float32(x) <= below
    threshold = np.where(leaf, 0.0, below.astype(np.float64))
    value = np.where(leaf, sign * cond.astype(np.float64), 0.0)
    feature = np.where(leaf, 0, np.asarray(tree["split_indices"], dtype=np.int64))
    return TreeArrays(np.where(leaf, LEAF, left), np.where(leaf, LEAF, right), feature, threshold, value)


def _positive(model: Any) -> TreeEnsemble:
    learner, config = _learner(model)
    _check_learner(model, learner, config)
    gbtree = learner["gradient_booster"]["model"]
    trees = tuple(_tree(t, 1.0) for t in gbtree["trees"][:_n_rounds(model, gbtree)])
    n = int(config["learner_model_param"]["num_feature"])
    return TreeEnsemble(trees, _base_margin(config, _name(model)), n, float32=True, gap=LIBRARY_GAP)


def _best(model: Any) -> int | None:
    try:
        return None if isinstance(model, xgb.Booster) else int(model.best_iteration)
    except (AttributeError, TypeError, ValueError):
        return None


def xgboost_ensemble(model: Any, target_index: int) -> TreeEnsemble:
    """The raw margin (log-odds of class target_index) as float32-rule TreeArrays (checked; remembered)."""
    _check_wrapper(model)
    booster = _booster(model)
    stamp = (isinstance(model, xgb.Booster), booster.num_boosted_rounds(), _best(model))
    ens = memo_ensemble(booster, stamp, lambda: _positive(model))
    return ens if target_index == 1 else negated(ens)


def _feature_names(model: Any) -> tuple[str, ...] | None:
    names = _booster(model).feature_names
    return None if not names else tuple(str(n) for n in names)


def _data(model: Any, X: np.ndarray) -> Any:
    names = _feature_names(model)
    if names is None:
        return X
    import pandas as pd

    return pd.DataFrame(X, columns=list(names))


def _margin(model: Any, X: np.ndarray) -> np.ndarray:
    if isinstance(model, xgb.Booster):
        return model.predict(xgb.DMatrix(X, feature_names=model.feature_names), output_margin=True)
    return model.predict(_data(model, X), output_margin=True)


def _proba(model: Any, X: np.ndarray) -> np.ndarray:
    if isinstance(model, xgb.Booster):
        return model.predict(xgb.DMatrix(X, feature_names=model.feature_names))
    return model.predict_proba(_data(model, X))[:, 1]


_NATIVE_PREFIX = re.compile(r"^\[\d{2}:\d{2}:\d{2}\] \S+:\d+: ")   # XGBoost's timestamp and C++ source place


def load_model_file(path: Any) -> xgb.Booster:
    """A Booster from a file written by XGBoost's save_model (.json or .ubj)."""
    booster = xgb.Booster()
    try:
        booster.load_model(str(path))
    except Exception as exc:  # XGBoostError for anything unreadable
        first = _NATIVE_PREFIX.sub("", str(exc).splitlines()[0])   # '[13:55:12] /workspace/src/…cc:1532: '
        raise ClassifierError(f"Could not read XGBoost model file '{path}': {first}") from None
    return booster


register_model(xgb.XGBClassifier, "logit")
register_model(xgb.Booster, "logit")
register_tree_adapter(xgb.XGBClassifier, xgboost_ensemble)
register_tree_adapter(xgb.Booster, xgboost_ensemble)
register_hooks(xgb.XGBClassifier, LibraryHooks(validate=check_xgboost, feature_names=_feature_names,
                                               positive_logit=_margin, positive_proba=_proba))
register_hooks(xgb.Booster, LibraryHooks(validate=check_xgboost, sklearn_api=False,
                                         n_features=lambda m: int(m.num_features()), feature_names=_feature_names,
                                         positive_logit=_margin, positive_proba=_proba))

__all__ = ["xgboost_ensemble", "check_xgboost", "load_model_file"]
