"""ReLU networks (sklearn MLPClassifier with activation='relu', and ReLUNetwork): exact, layer by layer.

Each hidden unit is relu(w.h + b) via primitives.relu with big-M from interval bounds of its input;
units whose interval is one-signed (e.g. because some inputs are constant) need no binary.
The output is the logit of classes_[1] (negated for classes_[0]).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from sklearn.neural_network import MLPClassifier

from ..classifiers import ReLUNetwork
from ..errors import ClassifierError
from ..ir import Affine, IRBuilder
from .linear import linear_score
from .pipeline import standardize
from .primitives import relu

Layer = tuple[np.ndarray, np.ndarray]  # (W of shape (out, in), b of shape (out,))


def encode_relu_layers(b: IRBuilder, inputs: Sequence[Affine], layers: Sequence[Layer], group: str) -> Affine:
    """Affine logit of a ReLU network: hidden layers relu(W h + b), last layer linear with one output."""
    h: list[Affine] = list(inputs)
    for k, (W, c) in enumerate(layers[:-1], start=1):
        if W.shape[1] != len(h):
            raise ClassifierError(f"Layer {k} has {W.shape[1]} inputs; got {len(h)} input expressions.")
        h = [relu(b, linear_score(W[i], c[i], h), f"{group}.h{k}[{i}]", f"{group}:layer{k}")
             for i in range(W.shape[0])]
    W, c = layers[-1]
    return linear_score(W[0], c[0], h)


def _signed(score: Affine, target_index: int) -> Affine:
    return score if target_index == 1 else -score


def encode_mlp(model: MLPClassifier, b: IRBuilder, inputs: Sequence[Affine], target_index: int, *,
               split_margin: float, group: str) -> Affine:
    """sklearn MLPClassifier (relu hidden layers, logistic output): coefs_[k] is (in, out)."""
    layers = [(np.asarray(W, dtype=float).T, np.asarray(c, dtype=float))
              for W, c in zip(model.coefs_, model.intercepts_)]
    return _signed(encode_relu_layers(b, inputs, layers, group), target_index)


def encode_relu_network(model: ReLUNetwork, b: IRBuilder, inputs: Sequence[Affine], target_index: int, *,
                        split_margin: float, group: str) -> Affine:
    """ReLUNetwork: standardize with its stored scaler, then the layers."""
    mean, std = model.scaler_mean, model.scaler_std
    z = [standardize(x, None if mean is None else mean[i], None if std is None else std[i])
         for i, x in enumerate(inputs)]
    layers = list(zip(model.weights, model.biases))
    return _signed(encode_relu_layers(b, z, layers, group), target_index)


__all__ = ["encode_mlp", "encode_relu_network", "encode_relu_layers"]
