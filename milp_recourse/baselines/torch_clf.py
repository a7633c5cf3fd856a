"""Differentiable torch copies of the supported differentiable classifiers, scoring like reference_score.

Covers LogisticRegression, LinearSVC, MLPClassifier (ReLU), ReLUNetwork and Pipelines of
StandardScaler / MinMaxScaler / ColumnTransformer before them (read through models/adapter.py).
Tree models are piecewise constant (zero gradient
almost everywhere), so gradient baselines refuse them with UnsupportedError; use the grid
oracle or the exact solver for trees.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from milp_recourse.models.adapter import linear_row, network_layers, split_pipeline
from milp_recourse.models.classifiers import classifier_features, target_index
from milp_recourse.errors import UnsupportedError
from milp_recourse.baselines.torch_scm import require_torch

# each layer: (W (out, in), b (out,), relu after?)
Layer = tuple[np.ndarray, np.ndarray, bool]


def _layers(model: Any) -> tuple[list[tuple[np.ndarray, np.ndarray]], list[Layer]]:
    """The model's preprocessing as affine maps (W, c) and its layers (W, b, relu after?), score of classes_[1],
    read through the adapter layer (models/adapter.py)."""
    n_in = int(getattr(model, "n_features_in_", 0) or 0)
    pre, final, affine = split_pipeline(model, n_in)
    if not affine:
        raise UnsupportedError(f"{type(model).__name__} has a preprocessing step with no affine form; expected "
                               "StandardScaler, MinMaxScaler or a ColumnTransformer of them.")
    maps = [] if pre is None else [(pre.W, pre.c)]
    net, row = network_layers(final), linear_row(final)
    if net is not None:
        own, layers = net
        maps += [] if own is None else [(own.W, own.c)]
        return maps, [(w, c, i < len(layers) - 1) for i, (w, c) in enumerate(layers)]
    if row is not None:
        return maps, [(row[0], row[1], False)]
    raise UnsupportedError(f"{type(final).__name__} is not differentiable (piecewise constant), so the gradient "
                           "and amortized baselines cannot use it; use the grid oracle or the exact solver.")


class TorchClassifier:
    """score(X) for full SCM-ordered rows X, in the classifier's reference score space (logit / decision)."""

    def __init__(self, model: Any, scm_names: Sequence[str], target_class: object = None, dtype: Any = None) -> None:
        from milp_recourse.models.registry import score_kind

        torch = require_torch()
        self.torch = torch
        self.dtype = dtype or torch.float64
        maps, layers = _layers(model)
        self.kind = score_kind(model)
        self.sign = 1.0 if target_index(model, target_class) == 1 else -1.0
        names = list(scm_names)
        self.index = torch.as_tensor([names.index(f) for f in classifier_features(model, names)])
        t = lambda a: torch.as_tensor(np.array(a, float), dtype=self.dtype)  # noqa: E731
        self.affine = [(t(W), t(c)) for W, c in maps]
        self.layers = [(t(w), t(c), relu) for w, c, relu in layers]

    def score(self, X: Any) -> Any:
        """(n,) target-class score; differentiable in X."""
        h = X.index_select(1, self.index)
        for W, c in self.affine:
            h = h @ W.T + c
        for w, c, relu in self.layers:
            h = h @ w.T + c
            if relu:
                h = self.torch.relu(h)
        return self.sign * h[:, 0]
