"""ReLU networks (sklearn MLPClassifier with activation='relu', and ReLUNetwork): exact, layer by layer.

Each hidden unit is relu(w.h + b) via primitives.relu with big-M from interval bounds of its input;
units whose interval is one-signed (e.g. because some inputs are constant) need no binary.
The output is the logit of classes_[1] (negated for classes_[0]).

When the caller only bounds the score from below (bounded_below), a last-hidden-layer unit whose output
weight lowers the score is written as its epigraph h >= max(w.h + b, 0) (primitives.relu_epigraph, no
binary): any point with h above the ReLU can lower h to it and only raise the score, so exactly the same
inputs reach the threshold. On the CARMA network this removes the binaries of 18 of its 32 last-layer units.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from milp_recourse.models.classifiers import ReLUNetwork, mlp_layers
from milp_recourse.errors import ClassifierError
from milp_recourse.mip.ir import Affine, IRBuilder
from milp_recourse.encode.linear import linear_layer, linear_score
from milp_recourse.encode.scalers import standardize
from milp_recourse.encode.primitives import relu, relu_epigraph

Layer = tuple[np.ndarray, np.ndarray]  # (W of shape (out, in), b of shape (out,))


def encode_relu_layers(b: IRBuilder, inputs: Sequence[Affine], layers: Sequence[Layer], group: str,
                       lowering_sign: float = 0.0) -> Affine:
    """Affine logit of a ReLU network: hidden layers relu(W h + b), last layer linear with one output.

    lowering_sign = +1 / -1: only logit * lowering_sign is ever bounded below, so last-hidden-layer units
    whose output weight times lowering_sign is negative get the epigraph encoding (module docstring);
    0 encodes every unit exactly.
    """
    h: list[Affine] = list(inputs)
    last = len(layers) - 1
    for k, (W, c) in enumerate(layers[:-1], start=1):
        if W.shape[1] != len(h):
            raise ClassifierError(f"Layer {k} has {W.shape[1]} inputs; got {len(h)} input expressions.")
        lowers = (lowering_sign * layers[-1][0][0] < 0) if k == last else np.zeros(W.shape[0], bool)
        h = [(relu_epigraph if lowers[i] else relu)(b, z, f"{group}.h{k}[{i}]", f"{group}:layer{k}")
             for i, z in enumerate(linear_layer(W, c, h))]
    W, c = layers[-1]
    return linear_score(W[0], c[0], h)


def _signed(score: Affine, target_index: int) -> Affine:
    return score if target_index == 1 else -score


def _lowering_sign(target_index: int, bounded_below: bool) -> float:
    """encode_relu_layers' lowering_sign for a score that is the logit (class 1) or its negation."""
    return 0.0 if not bounded_below else (1.0 if target_index == 1 else -1.0)


def encode_mlp(model: Any, b: IRBuilder, inputs: Sequence[Affine], target_index: int, *,
               split_margin: float, group: str, bounded_below: bool = False) -> Affine:
    """sklearn MLPClassifier (relu hidden layers, logistic output): coefs_[k] is (in, out)."""
    return _signed(encode_relu_layers(b, inputs, mlp_layers(model), group, _lowering_sign(target_index, bounded_below)),
                   target_index)


def encode_relu_network(model: ReLUNetwork, b: IRBuilder, inputs: Sequence[Affine], target_index: int, *,
                        split_margin: float, group: str, bounded_below: bool = False) -> Affine:
    """ReLUNetwork: standardize with its stored scaler, then the layers."""
    mean, std = model.scaler_mean, model.scaler_std
    z = [standardize(x, None if mean is None else mean[i], None if std is None else std[i])
         for i, x in enumerate(inputs)]
    layers = list(zip(model.weights, model.biases))
    return _signed(encode_relu_layers(b, z, layers, group, _lowering_sign(target_index, bounded_below)),
                   target_index)


__all__ = ["encode_mlp", "encode_relu_network", "encode_relu_layers"]
