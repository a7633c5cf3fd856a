"""ReLUNetwork: a pre-trained ReLU network read from arrays (.npz, no pickle), with a scikit-learn surface.

The format of the CARMA loan classifier; the safe way to bring a model from elsewhere (nothing executes on load).
The surface (classifier tags, get_params, score) is written out rather than inherited from scikit-learn's
BaseEstimator, so a process that solves for a network never imports scikit-learn (models/sklearn_types.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import expit

from milp_recourse.errors import ClassifierError, InputError


def _as_2d(X: Any, n_features: int, who: str) -> np.ndarray:
    """X as a float (n, d) array, or InputError naming the shape."""
    arr = np.asarray(X, dtype=float)
    if arr.ndim != 2 or arr.shape[1] != n_features:
        raise InputError(f"{who} expects a 2-D array with {n_features} columns. Got shape {arr.shape}.")
    return arr


@dataclass(frozen=True, eq=False, repr=False)
class ReLUNetwork:
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
        import zipfile

        if path.is_file() and not zipfile.is_zipfile(path):  # np.load would call it "pickled data"
            raise ClassifierError(f"Classifier file '{path}' is not a valid .npz (zip) file; expected arrays W1, b1, "
                                  "W2, b2, ... written by numpy.savez (or ReLUNetwork.to_npz).")
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

    _estimator_type = "classifier"   # what scikit-learn < 1.6 reads; newer versions read __sklearn_tags__

    def __sklearn_tags__(self) -> Any:
        """A fitted binary classifier's tags (scikit-learn >= 1.6 reads these instead of the base classes')."""
        from sklearn.utils import ClassifierTags, InputTags, Tags, TargetTags

        return Tags(estimator_type="classifier", target_tags=TargetTags(required=True),
                    classifier_tags=ClassifierTags(multi_class=False), input_tags=InputTags(),
                    requires_fit=True)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor's arguments (scikit-learn's estimator protocol)."""
        return {"weights": self.weights, "biases": self.biases, "scaler_mean": self.scaler_mean,
                "scaler_std": self.scaler_std, "feature_names": self.feature_names}

    def set_params(self, **params: Any) -> "ReLUNetwork":
        """Not settable: the network is immutable (build a new one instead)."""
        raise ClassifierError(f"ReLUNetwork is immutable; cannot set {sorted(params)}. Build a new ReLUNetwork.")

    def score(self, X: Any, y: Any) -> float:
        """Mean accuracy of predict(X) against y (scikit-learn's ClassifierMixin.score)."""
        return float(np.mean(self.predict(X) == np.asarray(y).ravel()))

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


__all__ = ["ReLUNetwork"]
