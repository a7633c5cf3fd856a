"""The classifier adapter layer: any supported model as (input preprocessing as one affine map) + a final estimator
read as a linear row, dense layers (ReLU networks) or tree arrays.

Everything that is not the MILP encoder reads models through here: the score bounds, the CROWN-style ReLU bounds
and the box search, the torch baselines. (The encoders in encode/ copy scikit-learn's own operations step by step
instead, so that constant inputs are transformed bit for bit like `transform`; tests check both against the
model's own scores.) Preprocessing: StandardScaler, MinMaxScaler (clip=False), 'passthrough' and a
ColumnTransformer of those, composed into z = W x + c. A LeveledModel (categorical columns as codes, encoded by
a OneHotEncoder / OrdinalEncoder) first expands each code into its K indicators [x == k] (not affine in x);
every encoder output is then linear in the indicators, so its preprocessing is that Expansion + one affine map.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from milp_recourse.errors import ClassifierError
from milp_recourse.models.categorical_input import LeveledModel
from milp_recourse.models.classifiers import mlp_layers, target_index
from milp_recourse.models.relu_network import ReLUNetwork
from milp_recourse.models.sklearn_types import is_a

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


@dataclass(frozen=True)
class Expansion:
    """Codes -> indicators: input j with sizes[j] = K > 0 becomes the K columns [round(x_j) == k], k = 0..K-1
    (in place); sizes[j] = 0 keeps x_j as one column."""

    sizes: tuple[int, ...]

    @property
    def offsets(self) -> np.ndarray:
        """Position of each input's first expanded column."""
        return np.cumsum([0] + [max(k, 1) for k in self.sizes])[:-1]

    @property
    def n_out(self) -> int:
        return int(sum(max(k, 1) for k in self.sizes))

    def apply(self, X: np.ndarray) -> np.ndarray:
        """The expanded rows of X (codes rounded to the nearest integer)."""
        X = np.asarray(X, float).reshape(-1, len(self.sizes))
        out = np.zeros((X.shape[0], self.n_out))
        for j, (k, at) in enumerate(zip(self.sizes, self.offsets)):
            if k == 0:
                out[:, at] = X[:, j]
            else:
                out[:, at:at + k] = np.rint(X[:, j])[:, None] == np.arange(k)[None, :]
        return out

    def box(self, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Indicator intervals for a box of codes: [0, 1] for the integers inside [lo_j, hi_j], exactly 1 when
        that is one integer, 0 outside (sound for every integer code in the box)."""
        lo, hi = np.asarray(lo, float), np.asarray(hi, float)
        out_lo, out_hi = np.zeros(self.n_out), np.zeros(self.n_out)
        for j, (k, at) in enumerate(zip(self.sizes, self.offsets)):
            if k == 0:
                out_lo[at], out_hi[at] = lo[j], hi[j]
                continue
            first, last = np.ceil(lo[j] - 1e-9), np.floor(hi[j] + 1e-9)
            codes = np.arange(k)
            inside = (codes >= first) & (codes <= last)
            out_hi[at:at + k] = inside
            out_lo[at:at + k] = inside & (first == last)
        return out_lo, out_hi


@dataclass(frozen=True)
class Preprocessing:
    """A model's preprocessing: an optional Expansion of codes, then the affine map z = W e + c."""

    expansion: Expansion | None
    affine: AffineMap

    def apply(self, X: np.ndarray) -> np.ndarray:
        """The final estimator's input for the rows of X."""
        return self.affine.apply(X if self.expansion is None else self.expansion.apply(X))

    def box(self, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A box around the image of the box [lo, hi] (exact per output when there is no expansion)."""
        if self.expansion is not None:
            lo, hi = self.expansion.box(lo, hi)
        return self.affine.box(lo, hi)


def step_map(step: Any, n_in: int) -> AffineMap | None:
    """One fitted preprocessing step as an affine map on n_in inputs; None for a step that is not affine."""
    from milp_recourse.models.column_transformer import column_blocks, is_identity

    if is_identity(step):
        return AffineMap.identity(n_in)
    if is_a(step, "Pipeline"):
        out: AffineMap | None = AffineMap.identity(n_in)
        for _, inner in step.steps:
            part = step_map(inner, n_in if out is None else out.W.shape[0])
            if part is None or out is None:
                return None
            out = out.then(part)
        return out
    if is_a(step, "StandardScaler"):
        mean = np.asarray(step.mean_, float) if step.with_mean else np.zeros(n_in)
        scale = np.asarray(step.scale_, float) if step.with_std else np.ones(n_in)
        return AffineMap.diagonal(1.0 / scale, -mean / scale)
    if is_a(step, "MinMaxScaler"):
        return None if step.clip else AffineMap.diagonal(step.scale_, step.min_)
    if is_a(step, "ColumnTransformer"):
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


def _encoded_map(ct: Any, exp: Expansion, levels: dict[int, tuple[str, ...]]) -> AffineMap:
    """The ColumnTransformer of a LeveledModel as an affine map of the expanded inputs (encoder outputs are
    their code tables times the indicators)."""
    from milp_recourse.models.column_transformer import column_blocks

    rows, shifts = [], []
    for block in column_blocks(ct, levels=levels):
        if block.codes is None:
            select = np.zeros((len(block.columns), exp.n_out))
            select[np.arange(len(block.columns)), exp.offsets[list(block.columns)]] = 1.0
            part = step_map(block.step, len(block.columns))
            inner, width = select, len(block.columns)
        else:
            width = sum(t.shape[1] for t in block.codes)
            inner = np.zeros((width, exp.n_out))
            at = 0
            for col, table in zip(block.columns, block.codes):
                start = exp.offsets[col]
                inner[at:at + table.shape[1], start:start + table.shape[0]] = table.T
                at += table.shape[1]
            part = step_map(block.after, width)
        if part is None:
            raise ClassifierError(f"ColumnTransformer part {block.name!r} has a step with no affine form.")
        rows.append(part.W @ inner)
        shifts.append(part.c)
    if not rows:
        raise ClassifierError("The ColumnTransformer of the LeveledModel has no output columns.")
    return AffineMap(np.vstack(rows), np.concatenate(shifts))


def split_model(model: Any, n_in: int) -> tuple[Preprocessing | None, Any, bool]:
    """split_pipeline for every model, a LeveledModel too: (its preprocessing, the final estimator, whether every
    step has this form)."""
    if not isinstance(model, LeveledModel):
        pre, final, ok = split_pipeline(model, n_in)
        return (None if pre is None else Preprocessing(None, pre)), final, ok
    from milp_recourse.models.column_transformer import is_identity

    levels = model.level_positions()
    exp = Expansion(tuple(len(levels[j]) if j in levels else 0 for j in range(model.n_features_in_)))
    steps = [s for _, s in model.estimator.steps[:-1] if not is_identity(s)]
    if not steps or not is_a(steps[0], "ColumnTransformer"):
        raise ClassifierError(f"{model!r}: expected a Pipeline whose first step is a ColumnTransformer encoding the "
                              "categorical columns.")
    pre = _encoded_map(steps[0], exp, levels)
    for step in steps[1:]:
        part = step_map(step, pre.W.shape[0])
        if part is None:
            return None, model.estimator.steps[-1][1], False
        pre = pre.then(part)
    return Preprocessing(exp, pre), model.estimator.steps[-1][1], True


def split_pipeline(model: Any, n_in: int) -> tuple[AffineMap | None, Any, bool]:
    """(the preprocessing before the final estimator, the final estimator, whether every step is affine).

    A model that is not a Pipeline has no preprocessing (None, model, True). A LeveledModel has no affine
    preprocessing (one-hot codes are not affine in the code): ClassifierError; read it with split_model."""
    if isinstance(model, LeveledModel):
        raise ClassifierError(f"{model!r} reads categorical codes through an encoder, which is not an affine map "
                              "of its inputs; this consumer (e.g. the torch baselines) supports numeric "
                              "preprocessing only. Expected a model without categorical encoders.")
    if not is_a(model, "Pipeline"):
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
    if is_a(final, "MLPClassifier") and final.activation == "relu" and len(final.classes_) == 2:
        return None, mlp_layers(final)
    return None


def linear_row(final: Any) -> Layer | None:
    """A linear model's (coef (1, n), intercept (1,)), score of classes_[1]; None for other models."""
    if is_a(final, "LogisticRegression", "LinearSVC"):
        return np.asarray(final.coef_, float).reshape(1, -1), np.asarray(final.intercept_, float).reshape(1)
    return None


def relu_layers(model: object, target_class: object = None) -> list[Layer] | None:
    """The classifier as dense ReLU layers on its own inputs (all preprocessing folded into the first layer) whose
    single output is the target class's logit, the encoders' score; None when it is not such a network."""
    n_in = _n_inputs(model)
    prep, final, affine = split_model(model, n_in)
    net = network_layers(final) if affine else None
    if net is None:
        return None
    own, layers = net
    pre = None if prep is None else prep.affine
    if own is not None:
        pre = own if pre is None else pre.then(own)
    if layers[-1][0].shape[0] != 1:
        return None
    if pre is not None:
        W, c = layers[0]
        layers[0] = (W @ pre.W, c + W @ pre.c)
    if prep is not None and prep.expansion is not None:
        hat, combine = hat_layer(prep.expansion)
        W, c = layers[0]
        layers = [hat, (W @ combine, c), *layers[1:]]
    if target_index(model, target_class) == 0:
        W, c = layers[-1]
        layers[-1] = (-W, -c)
    return layers


def hat_layer(exp: Expansion) -> tuple[Layer, np.ndarray]:
    """A ReLU layer (H, h) and a matrix C with C relu(H x + h) = exp.apply(x) at integer codes: the indicator of
    code k is the hat relu(x-k+1) - 2 relu(x-k) + relu(x-k-1), a numeric input relu(x) - relu(-x)."""
    units: list[tuple[int, float, float, int, float]] = []   # (input, slope, shift, expanded column, weight)
    for j, (k, at) in enumerate(zip(exp.sizes, exp.offsets)):
        if k == 0:
            units += [(j, 1.0, 0.0, int(at), 1.0), (j, -1.0, 0.0, int(at), -1.0)]
        for code in range(k):
            units += [(j, 1.0, 1.0 - code, int(at) + code, 1.0), (j, 1.0, -float(code), int(at) + code, -2.0),
                      (j, 1.0, -1.0 - code, int(at) + code, 1.0)]
    H, h = np.zeros((len(units), len(exp.sizes))), np.zeros(len(units))
    C = np.zeros((exp.n_out, len(units)))
    for u, (j, slope, shift, col, weight) in enumerate(units):
        H[u, j], h[u], C[col, u] = slope, shift, weight
    return (H, h), C


def _n_inputs(model: object) -> int:
    n = getattr(model, "n_features_in_", None)
    if n is None and is_a(model, "Pipeline"):
        from milp_recourse.models.column_transformer import is_identity

        first = next((s for _, s in model.steps if not is_identity(s)), None)
        n = getattr(first, "n_features_in_", None)
    return int(n) if n is not None else 0


__all__ = ["AffineMap", "Expansion", "Preprocessing", "Layer", "step_map", "split_pipeline", "split_model",
           "network_layers", "linear_row", "relu_layers", "hat_layer"]
