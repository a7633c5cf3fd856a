"""The classifier adapter layer: any supported model as (input preprocessing as one affine map) + a final estimator
read as a linear row, dense layers (ReLU networks) or tree arrays.

Everything that is not the MILP encoder reads models through here: the score bounds, the CROWN-style ReLU bounds
and the box search, the torch baselines. (The encoders in encode/ copy scikit-learn's own operations step by step
instead, so that constant inputs are transformed bit for bit like `transform`; tests check both against the
model's own scores.) Preprocessing: StandardScaler, MinMaxScaler (clip=False), 'passthrough' and a
ColumnTransformer of those, composed into z = W x + c.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.svm import LinearSVC

from milp_recourse.models.classifiers import mlp_layers, target_index
from milp_recourse.models.column_transformer import column_blocks, is_identity
from milp_recourse.models.relu_network import ReLUNetwork

Layer = tuple[np.ndarray, np.ndarray]   # (W of shape (out, in), b of shape (out,))


@dataclass(frozen=True)
class AffineMap:
    """z = W x + c: a model's preprocessing (W: (m, n), c: (m,))."""

    W: np.ndarray
    c: np.ndarray

    @classmethod
    def identity(cls, n: int) -> "AffineMap":
        return cls(np.eye(n), np.zeros(n))

    @classmethod
    def diagonal(cls, scale: np.ndarray, shift: np.ndarray) -> "AffineMap":
        """z = x * scale + shift, elementwise."""
        return cls(np.diag(np.asarray(scale, float)), np.asarray(shift, float))

    def then(self, after: "AffineMap") -> "AffineMap":
        """This map followed by `after`."""
        return AffineMap(after.W @ self.W, after.W @ self.c + after.c)

    def apply(self, X: np.ndarray) -> np.ndarray:
        """The map on the rows of X."""
        return np.asarray(X, float) @ self.W.T + self.c

    def box(self, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The tightest box around the image of the box [lo, hi] (exact per output: interval arithmetic)."""
        lo, hi = np.asarray(lo, float), np.asarray(hi, float)
        pos, neg = np.maximum(self.W, 0.0), np.minimum(self.W, 0.0)

        def dot(M: np.ndarray, v: np.ndarray) -> np.ndarray:   # 0 * inf = 0: a zero weight ignores the input
            with np.errstate(invalid="ignore"):
                return np.where(M != 0.0, M * v[None, :], 0.0).sum(axis=1)

        return dot(pos, lo) + dot(neg, hi) + self.c, dot(pos, hi) + dot(neg, lo) + self.c


def step_map(step: Any, n_in: int) -> AffineMap | None:
    """One fitted preprocessing step as an affine map on n_in inputs; None for a step that is not affine."""
    if is_identity(step):
        return AffineMap.identity(n_in)
    if isinstance(step, Pipeline):
        out: AffineMap | None = AffineMap.identity(n_in)
        for _, inner in step.steps:
            part = step_map(inner, n_in if out is None else out.W.shape[0])
            if part is None or out is None:
                return None
            out = out.then(part)
        return out
    if isinstance(step, StandardScaler):
        mean = np.asarray(step.mean_, float) if step.with_mean else np.zeros(n_in)
        scale = np.asarray(step.scale_, float) if step.with_std else np.ones(n_in)
        return AffineMap.diagonal(1.0 / scale, -mean / scale)
    if isinstance(step, MinMaxScaler):
        return None if step.clip else AffineMap.diagonal(step.scale_, step.min_)
    if isinstance(step, ColumnTransformer):
        rows, shifts = [], []
        for block in column_blocks(step):
            select = np.zeros((len(block.columns), n_in))
            select[np.arange(len(block.columns)), list(block.columns)] = 1.0
            part = step_map(block.step, len(block.columns))
            if part is None:
                return None
            rows.append(part.W @ select)
            shifts.append(part.c)
        if not rows:
            return None
        return AffineMap(np.vstack(rows), np.concatenate(shifts))
    return None


def split_pipeline(model: Any, n_in: int) -> tuple[AffineMap | None, Any, bool]:
    """(the preprocessing before the final estimator, the final estimator, whether every step is affine).

    A model that is not a Pipeline has no preprocessing (None, model, True)."""
    if not isinstance(model, Pipeline):
        return None, model, True
    pre: AffineMap | None = AffineMap.identity(n_in)
    for _, step in model.steps[:-1]:
        part = step_map(step, pre.W.shape[0]) if pre is not None else None
        if part is None:
            return None, model.steps[-1][1], False
        pre = pre.then(part) if pre is not None else part
    return pre, model.steps[-1][1], True


def network_layers(final: Any) -> tuple[AffineMap | None, list[Layer]] | None:
    """A ReLU network's own input scaling and its dense layers (ReLU between them, none after the last);
    None when `final` is no ReLU network (ReLUNetwork or a binary relu MLPClassifier)."""
    if isinstance(final, ReLUNetwork):
        layers = [(np.asarray(W, float), np.asarray(c, float)) for W, c in zip(final.weights, final.biases)]
        if final.scaler_mean is None and final.scaler_std is None:
            return None, layers
        n = final.n_features_in_
        mean = np.zeros(n) if final.scaler_mean is None else np.asarray(final.scaler_mean, float)
        std = np.ones(n) if final.scaler_std is None else np.asarray(final.scaler_std, float)
        return AffineMap.diagonal(1.0 / std, -mean / std), layers
    if isinstance(final, MLPClassifier) and final.activation == "relu" and len(final.classes_) == 2:
        return None, mlp_layers(final)
    return None


def linear_row(final: Any) -> Layer | None:
    """A linear model's (coef (1, n), intercept (1,)), score of classes_[1]; None for other models."""
    if isinstance(final, (LogisticRegression, LinearSVC)):
        return np.asarray(final.coef_, float).reshape(1, -1), np.asarray(final.intercept_, float).reshape(1)
    return None


def relu_layers(model: object, target_class: object = None) -> list[Layer] | None:
    """The classifier as dense ReLU layers on its own inputs (all preprocessing folded into the first layer) whose
    single output is the target class's logit, the encoders' score; None when it is not such a network."""
    n_in = _n_inputs(model)
    pre, final, affine = split_pipeline(model, n_in)
    net = network_layers(final) if affine else None
    if net is None:
        return None
    own, layers = net
    if own is not None:
        pre = own if pre is None else pre.then(own)
    if layers[-1][0].shape[0] != 1:
        return None
    if pre is not None:
        W, c = layers[0]
        layers[0] = (W @ pre.W, c + W @ pre.c)
    if target_index(model, target_class) == 0:
        W, c = layers[-1]
        layers[-1] = (-W, -c)
    return layers


def _n_inputs(model: object) -> int:
    n = getattr(model, "n_features_in_", None)
    if n is None and isinstance(model, Pipeline):
        first = next((s for _, s in model.steps if not is_identity(s)), None)
        n = getattr(first, "n_features_in_", None)
    return int(n) if n is not None else 0


__all__ = ["AffineMap", "Layer", "step_map", "split_pipeline", "network_layers", "linear_row", "relu_layers"]
