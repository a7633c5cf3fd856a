"""Loading and checking classifiers, and their own reference scores (the truth the encoders must match).

Score spaces (the ``kind`` shared with :mod:`milp_recourse.encode.classifier_registry`):
``'logit'`` log-odds of the target class, ``'probability'`` its predicted probability,
``'decision'`` a signed margin whose favourable side is ``>= 0``.
"""

from __future__ import annotations

import copy
import math
import numbers
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.utils.validation import check_is_fitted

from .errors import ClassifierError, InputError, describe

JOBLIB_SUFFIXES = (".joblib", ".pkl", ".pickle")
SCORE_KINDS = ("logit", "probability", "decision")
PIPELINE_SCALERS = (StandardScaler, MinMaxScaler)


def _as_2d(X: Any, n_features: int, who: str) -> np.ndarray:
    """X as a float (n, d) array, or InputError naming the shape."""
    arr = np.asarray(X, dtype=float)
    if arr.ndim != 2 or arr.shape[1] != n_features:
        raise InputError(f"{who} expects a 2-D array with {n_features} columns. Got shape {arr.shape}.")
    return arr


def _is_skip(step: object) -> bool:
    """A Pipeline step that does nothing (None or 'passthrough')."""
    return step is None or (isinstance(step, str) and step == "passthrough")


@dataclass(frozen=True, eq=False, repr=False)
class ReLUNetwork(ClassifierMixin, BaseEstimator):
    """A pre-trained ReLU network x -> sigmoid(logit); the .npz format of the CARMA loan classifier.

    z = (x - scaler_mean) / scaler_std (identity when absent), h = relu(W h + b) for hidden layers,
    logit = W_last h + b_last (one output), p = sigmoid(logit); favourable class 1 iff p >= 0.5.
    Computed in float64 (the stored float32 weights are widened exactly).
    """

    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]
    scaler_mean: np.ndarray | None = None
    scaler_std: np.ndarray | None = None
    feature_names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        weights = tuple(np.array(w, dtype=float) for w in self.weights)
        biases = tuple(np.array(c, dtype=float) for c in self.biases)
        if not weights or len(weights) != len(biases):
            raise ClassifierError(f"ReLUNetwork needs one bias per weight matrix and at least one layer. "
                                  f"Got {len(weights)} weight matrices and {len(biases)} biases.")
        for k, (w, c) in enumerate(zip(weights, biases), start=1):
            if w.ndim != 2:
                raise ClassifierError(f"Array 'W{k}' has shape {w.shape}; expected a 2-D (outputs, inputs) matrix.")
            if k > 1 and w.shape[1] != weights[k - 2].shape[0]:
                raise ClassifierError(f"Array 'W{k}' has shape {w.shape}; expected (n, {weights[k - 2].shape[0]}) "
                                      f"because W{k - 1} has {weights[k - 2].shape[0]} outputs.")
            if c.shape != (w.shape[0],):
                raise ClassifierError(f"Array 'b{k}' has shape {c.shape}; expected ({w.shape[0]},) to match W{k}.")
            if not (np.all(np.isfinite(w)) and np.all(np.isfinite(c))):
                raise ClassifierError(f"Arrays 'W{k}'/'b{k}' contain non-finite values; expected finite weights.")
        if weights[-1].shape[0] != 1:
            raise ClassifierError(f"Array 'W{len(weights)}' has shape {weights[-1].shape}; the last layer must have "
                                  "exactly 1 output (the logit of class 1).")
        d = weights[0].shape[1]
        mean = None if self.scaler_mean is None else np.array(self.scaler_mean, dtype=float)
        std = None if self.scaler_std is None else np.array(self.scaler_std, dtype=float)
        for name, arr in (("scaler_mean", mean), ("scaler_std", std)):
            if arr is not None and (arr.shape != (d,) or not np.all(np.isfinite(arr))):
                raise ClassifierError(f"Array {name!r} has shape {arr.shape}; expected ({d},) finite values "
                                      f"(one per input of W1).")
        if std is not None and np.any(std <= 0):
            bad = int(np.flatnonzero(std <= 0)[0])
            raise ClassifierError(f"Array 'scaler_std' has value {std[bad]} at index {bad}; expected values > 0.")
        names = None if self.feature_names is None else tuple(str(n) for n in self.feature_names)
        if names is not None and len(names) != d:
            raise ClassifierError(f"feature_names has {len(names)} entries {list(names)}; expected {d} (inputs of W1).")
        for field_name, value in (("weights", weights), ("biases", biases), ("scaler_mean", mean),
                                  ("scaler_std", std), ("feature_names", names)):
            for arr in (value if isinstance(value, tuple) else (value,)):
                if isinstance(arr, np.ndarray):
                    arr.setflags(write=False)
            object.__setattr__(self, field_name, value)

    @classmethod
    def from_npz(cls, path: str | Path) -> "ReLUNetwork":
        """Read W1.., b1.., optional scaler_mean / scaler_std / feature_names from an .npz file."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
        except (OSError, ValueError) as exc:
            raise ClassifierError(f"Could not read classifier file '{path}' as .npz: {exc}") from None
        n_layers = sum(1 for k in arrays if k.startswith("W") and k[1:].isdigit())
        if n_layers == 0:
            raise ClassifierError(f"Classifier file '{path}' has arrays {sorted(arrays)}; expected W1, b1, W2, b2, ...")
        missing = [k for i in range(1, n_layers + 1) for k in (f"W{i}", f"b{i}") if k not in arrays]
        if missing:
            raise ClassifierError(f"Classifier file '{path}' is missing array(s) {missing}; "
                                  f"it has {sorted(arrays)}.")
        names = arrays.get("feature_names")
        try:
            return cls(tuple(arrays[f"W{i}"] for i in range(1, n_layers + 1)),
                       tuple(arrays[f"b{i}"] for i in range(1, n_layers + 1)),
                       arrays.get("scaler_mean"), arrays.get("scaler_std"),
                       None if names is None else tuple(str(n) for n in names))
        except ClassifierError as exc:
            raise ClassifierError(f"Classifier file '{path}': {exc}") from None

    def to_npz(self, path: str | Path) -> None:
        """Write the network in the format read by :meth:`from_npz`."""
        arrays = {f"{p}{k}": a for k, (w, c) in enumerate(zip(self.weights, self.biases), start=1)
                  for p, a in (("W", w), ("b", c))}
        names = None if self.feature_names is None else np.array(self.feature_names)
        extra = {"scaler_mean": self.scaler_mean, "scaler_std": self.scaler_std, "feature_names": names}
        np.savez(path, **arrays, **{k: v for k, v in extra.items() if v is not None})

    # sklearn-like surface ----------------------------------------------------
    @property
    def n_features_in_(self) -> int:
        return int(self.weights[0].shape[1])

    @property
    def classes_(self) -> np.ndarray:
        return np.array([0, 1])

    @property
    def feature_names_in_(self) -> np.ndarray:
        if self.feature_names is None:
            raise AttributeError("This ReLUNetwork has no feature names.")
        return np.array(self.feature_names, dtype=object)

    @property
    def layer_sizes(self) -> tuple[int, ...]:
        return (self.n_features_in_, *(int(w.shape[0]) for w in self.weights))

    def __sklearn_is_fitted__(self) -> bool:
        return True

    def __sklearn_clone__(self) -> "ReLUNetwork":
        """Immutable and pre-trained, so a clone is the network itself (like sklearn's FrozenEstimator)."""
        return self

    def fit(self, X: Any, y: Any = None) -> "ReLUNetwork":
        """Not trainable here: the network is loaded pre-trained (present so sklearn treats it as an estimator)."""
        raise ClassifierError("ReLUNetwork is a pre-trained network loaded from arrays; it cannot be fitted.")

    def __repr__(self) -> str:
        arrows = "->".join(str(s) for s in self.layer_sizes)
        return f"ReLUNetwork({arrows}, scaled={self.scaler_std is not None or self.scaler_mean is not None})"

    def _inputs(self, X: Any) -> np.ndarray:
        if self.feature_names is not None and hasattr(X, "columns"):
            X = X[list(self.feature_names)]
        return _as_2d(X, self.n_features_in_, "ReLUNetwork")

    def standardize(self, X: np.ndarray) -> np.ndarray:
        """z = (x - mean) / std, the exact numpy operations the encoder mirrors on constants."""
        Z = np.array(X, dtype=float)
        if self.scaler_mean is not None:
            Z = Z - self.scaler_mean
        if self.scaler_std is not None:
            Z = Z / self.scaler_std
        return Z

    def decision_function(self, X: Any) -> np.ndarray:
        """Logit of class 1, shape (n,)."""
        h = self.standardize(self._inputs(X))
        for w, c in zip(self.weights[:-1], self.biases[:-1]):
            h = np.maximum(h @ w.T + c, 0.0)
        return (h @ self.weights[-1].T + self.biases[-1])[:, 0]

    def predict_proba(self, X: Any) -> np.ndarray:
        p = expit(self.decision_function(X))
        return np.column_stack([1.0 - p, p])

    def predict(self, X: Any) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)


# loading -------------------------------------------------------------------------------------
def load_classifier(path: str | Path) -> object:
    """A classifier from .npz (ReLUNetwork) or .joblib/.pkl/.pickle (joblib; only load trusted files)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".npz", *JOBLIB_SUFFIXES):
        raise ClassifierError(f"Classifier file '{path}' has extension {suffix!r}; expected one of "
                              f".npz, {', '.join(JOBLIB_SUFFIXES)}.")
    if not path.is_file():
        raise ClassifierError(f"Classifier file '{path}' does not exist.")
    if suffix == ".npz":
        return ReLUNetwork.from_npz(path)
    import joblib

    try:
        return joblib.load(path)
    except Exception as exc:  # unpickling raises many types; all mean "unreadable"
        raise ClassifierError(f"Could not read classifier file '{path}' with joblib: "
                              f"{type(exc).__name__}: {exc}") from None


# validation ----------------------------------------------------------------------------------
def _check_fitted(model: object) -> None:
    try:
        check_is_fitted(model)
    except TypeError as exc:
        raise ClassifierError(f"{describe(model)} is not a scikit-learn estimator: {exc}") from None
    except Exception as exc:  # NotFittedError
        raise ClassifierError(f"{type(model).__name__} is not fitted; call fit(X, y) before using it "
                              f"for recourse. ({exc})") from None


def _check_estimator(model: object) -> None:
    from .encode.classifier_registry import find_encoder, supported_types

    if find_encoder(type(model)) is None:
        raise ClassifierError(f"{type(model).__name__} is not supported. Supported classifiers: "
                              f"{', '.join(supported_types())}.")
    _check_fitted(model)
    classes = getattr(model, "classes_", None)
    if classes is None or len(classes) != 2:
        shown = None if classes is None else list(np.asarray(classes).tolist())
        raise ClassifierError(f"{type(model).__name__} has classes {shown}; only binary classifiers "
                              "(exactly 2 classes) are supported.")
    if isinstance(model, MLPClassifier):
        if model.activation != "relu":
            raise ClassifierError(f"MLPClassifier with activation={model.activation!r} is not supported; only "
                                  "'relu' networks can be encoded exactly.")
        if getattr(model, "out_activation_", "logistic") != "logistic":
            raise ClassifierError(f"MLPClassifier with out_activation_={model.out_activation_!r} is not supported; "
                                  "expected a binary 'logistic' output.")
    if isinstance(model, GradientBoostingClassifier):
        if model.loss != "log_loss":
            raise ClassifierError(f"GradientBoostingClassifier with loss={model.loss!r} is not supported; "
                                  "expected loss='log_loss' (its raw score is the log-odds).")
        init = model.init_
        if not (isinstance(init, str) and init == "zero") and not (
                isinstance(init, DummyClassifier) and init.strategy in ("prior", "most_frequent")):
            raise ClassifierError(f"GradientBoostingClassifier with init={describe(init)} is not supported; "
                                  "expected the default (prior) init or 'zero'.")
    if getattr(model, "n_outputs_", 1) != 1:
        raise ClassifierError(f"{type(model).__name__} has n_outputs_={model.n_outputs_}; expected 1.")


def _check_pipeline(model: Pipeline) -> None:
    *pre, (last_name, last) = model.steps
    for name, step in pre:
        if _is_skip(step):
            continue
        if not isinstance(step, PIPELINE_SCALERS):
            raise ClassifierError(f"Pipeline step {name!r} is {type(step).__name__}; only StandardScaler and "
                                  "MinMaxScaler may precede the classifier (they are affine and encode exactly).")
        _check_fitted(step)
        if isinstance(step, MinMaxScaler) and step.clip:
            raise ClassifierError(f"Pipeline step {name!r} is MinMaxScaler(clip=True); expected clip=False "
                                  "(clipping is not affine).")
    if _is_skip(last) or isinstance(last, str):
        raise ClassifierError(f"Pipeline's last step {last_name!r} is {last!r}; expected a classifier.")
    validate_classifier(last)


def validate_classifier(model: object) -> None:
    """Raise ClassifierError unless model is a fitted, binary classifier we can encode exactly."""
    if isinstance(model, Pipeline):
        _check_pipeline(model)
    else:
        _check_estimator(model)


# features ------------------------------------------------------------------------------------
def _input_attr(model: object, name: str) -> Any:
    """An input-side fitted attribute (feature_names_in_, n_features_in_), looked up through Pipelines."""
    value = getattr(model, name, None)
    if value is None and isinstance(model, Pipeline):
        first = next((step for _, step in model.steps if not _is_skip(step)), None)
        return None if first is None else _input_attr(first, name)
    return value


def _feature_names(model: object) -> tuple[str, ...] | None:
    names = _input_attr(model, "feature_names_in_")
    return None if names is None else tuple(str(n) for n in names)


def n_features(model: object) -> int:
    """Number of input features the (possibly pipelined) model expects."""
    n = _input_attr(model, "n_features_in_")
    if n is None:
        raise ClassifierError(f"{type(model).__name__} has no n_features_in_; is it fitted?")
    return int(n)


def mlp_layers(model: Any) -> list[tuple[np.ndarray, np.ndarray]]:
    """A fitted MLPClassifier's layers as (W of shape (out, in), b), ReLUNetwork's layout (coefs_[k] is (in, out))."""
    return [(np.asarray(W, float).T, np.asarray(c, float)) for W, c in zip(model.coefs_, model.intercepts_)]


def classifier_features(model: object, scm_names: Sequence[str]) -> tuple[str, ...]:
    """The SCM variables the model reads, in the model's column order."""
    scm = [str(s) for s in scm_names]
    names = _feature_names(model)
    if names is not None:
        unknown = [n for n in names if n not in scm]
        if unknown:
            raise ClassifierError(f"The classifier's input feature(s) {unknown} are not SCM variables; "
                                  f"the SCM has {scm}.")
        if len(set(names)) != len(names):
            raise ClassifierError(f"The classifier's feature names {list(names)} contain duplicates.")
        return names
    n = n_features(model)
    if n != len(scm):
        raise ClassifierError(f"The classifier expects {n} input features but the SCM has {len(scm)} variables "
                              f"{scm}; without feature names the SCM order is used, so the counts must match "
                              "(or fit the classifier on a DataFrame with named columns).")
    return tuple(scm)


# reference scores ----------------------------------------------------------------------------
def target_index(model: object, target_class: object = None) -> int:
    """Position (0 or 1) of the favourable class in model.classes_ (default: classes_[1])."""
    classes = np.asarray(getattr(model, "classes_", [0, 1]))
    if target_class is None:
        return 1
    hits = np.flatnonzero(classes == target_class)
    if hits.size != 1:
        raise InputError(f"target_class={target_class!r} is not one of the classifier's classes "
                         f"{classes.tolist()}.")
    return int(hits[0])


def _model_input(model: object, X: Any) -> Any:
    """X as the model wants it: a DataFrame with its feature names when it was fitted on one."""
    arr = _as_2d(X, n_features(model), type(model).__name__)
    names = _feature_names(model)
    if names is not None and not isinstance(model, ReLUNetwork):
        import pandas as pd

        return pd.DataFrame(arr, columns=list(names))
    return arr


def _positive_logit(model: object, X: Any) -> np.ndarray:
    """Log-odds of classes_[1] from the model's own computation."""
    if hasattr(model, "decision_function"):
        return np.asarray(model.decision_function(X), dtype=float).ravel()
    final, Xt = model, X
    if isinstance(model, Pipeline):
        final, Xt = model.steps[-1][1], model[:-1].transform(X)
    p = np.asarray(model.predict_proba(X), dtype=float)[:, 1]
    if isinstance(final, MLPClassifier):
        # sklearn's own forward pass with the output sigmoid switched off yields the exact logit
        raw_model = copy.copy(final)
        raw_model.out_activation_ = "identity"
        raw = np.asarray(raw_model.predict_proba(Xt), dtype=float)[:, 1]
        if np.allclose(expit(raw), p, rtol=0.0, atol=1e-12):
            return raw
    with np.errstate(divide="ignore"):
        return np.log(p) - np.log1p(-p)


def reference_score(model: object, X: np.ndarray, target_class: object = None) -> tuple[np.ndarray, str]:
    """The model's own score of the target class on X (columns in classifier_features order), and its kind."""
    from .encode.classifier_registry import score_kind

    idx = target_index(model, target_class)
    kind = score_kind(model)
    Xm = _model_input(model, X)
    if kind == "probability":
        return np.asarray(model.predict_proba(Xm), dtype=float)[:, idx], kind
    sign = 1.0 if idx == 1 else -1.0
    if kind == "logit":
        return sign * _positive_logit(model, Xm), kind
    return sign * np.asarray(model.decision_function(Xm), dtype=float).ravel(), kind


def _check_threshold(threshold: float) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) or not 0.0 < float(threshold) < 1.0:
        raise InputError(f"The 'threshold' must be a float in (0, 1). Got {describe(threshold)}.")
    return float(threshold)


def favourable(model: object, X: np.ndarray, threshold: float = 0.5, target_class: object = None) -> np.ndarray:
    """Whether the model itself gives the target class: predict_proba >= threshold, else decision >= 0."""
    threshold = _check_threshold(threshold)
    idx = target_index(model, target_class)
    Xm = _model_input(model, X)
    if hasattr(model, "predict_proba"):
        return np.asarray(model.predict_proba(Xm), dtype=float)[:, idx] >= threshold
    d = np.asarray(model.decision_function(Xm), dtype=float).ravel()
    return (d if idx == 1 else -d) >= 0.0


def score_threshold(kind: str, threshold: float) -> float:
    """The score value at which the favourable outcome starts, in the encoder's score space."""
    threshold = _check_threshold(threshold)
    if kind == "logit":
        return math.log(threshold) - math.log1p(-threshold)
    if kind == "probability":
        return threshold
    if kind == "decision":
        return 0.0
    raise InputError(f"Unknown score kind {kind!r}; expected one of {list(SCORE_KINDS)}.")


__all__ = ["ReLUNetwork", "mlp_layers", "load_classifier", "validate_classifier", "classifier_features", "n_features",
           "target_index", "reference_score", "favourable", "score_threshold", "SCORE_KINDS"]
