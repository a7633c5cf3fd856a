"""Differentiable torch copies of the supported differentiable classifiers, scoring like reference_score.

Covers LogisticRegression, LinearSVC, MLPClassifier (ReLU), ReLUNetwork and Pipelines of
StandardScaler / MinMaxScaler before them. Tree models are piecewise constant (zero gradient
almost everywhere), so gradient baselines refuse them with UnsupportedError; use the grid
oracle or the exact solver for trees.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from milp_recourse.models.classifiers import ReLUNetwork, classifier_features, target_index
from milp_recourse.errors import UnsupportedError
from milp_recourse.baselines.torch_scm import require_torch

# each layer: (W (out, in), b (out,), relu after?)
Layer = tuple[np.ndarray, np.ndarray, bool]


def _affine_steps(model: Any) -> tuple[list[tuple[np.ndarray, np.ndarray]], Any]:
    """Pipeline scalers as (multiply, add) pairs, and the final estimator."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    if not isinstance(model, Pipeline):
        return [], model
    steps = []
    for _, step in model.steps[:-1]:
        if step is None or (isinstance(step, str) and step == "passthrough"):
            continue
        if isinstance(step, StandardScaler):
            n = step.n_features_in_
            mean = step.mean_ if step.with_mean else np.zeros(n)
            scale = step.scale_ if step.with_std else np.ones(n)
            steps.append((1.0 / np.asarray(scale, float), -np.asarray(mean, float) / np.asarray(scale, float)))
        elif isinstance(step, MinMaxScaler):
            steps.append((np.asarray(step.scale_, float), np.asarray(step.min_, float)))
        else:
            raise UnsupportedError(f"Pipeline step {type(step).__name__} has no torch version; expected "
                                   "StandardScaler or MinMaxScaler.")
    return steps, model.steps[-1][1]


def _layers(final: Any) -> tuple[list[tuple[np.ndarray, np.ndarray]], list[Layer]]:
    """Input affine maps and layers of the final estimator (score of classes_[1])."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.svm import LinearSVC

    if isinstance(final, (LogisticRegression, LinearSVC)):
        coef = np.asarray(final.coef_, float).reshape(1, -1)
        return [], [(coef, np.asarray(final.intercept_, float).reshape(1), False)]
    if isinstance(final, MLPClassifier):
        n = len(final.coefs_)
        return [], [(np.asarray(w, float).T, np.asarray(c, float), i < n - 1)
                    for i, (w, c) in enumerate(zip(final.coefs_, final.intercepts_))]
    if isinstance(final, ReLUNetwork):
        pre = []
        d = final.n_features_in_
        mean = np.zeros(d) if final.scaler_mean is None else np.asarray(final.scaler_mean, float)
        std = np.ones(d) if final.scaler_std is None else np.asarray(final.scaler_std, float)
        if final.scaler_mean is not None or final.scaler_std is not None:
            pre.append((1.0 / std, -mean / std))
        n = len(final.weights)
        return pre, [(np.asarray(w, float), np.asarray(c, float), i < n - 1)
                     for i, (w, c) in enumerate(zip(final.weights, final.biases))]
    raise UnsupportedError(f"{type(final).__name__} is not differentiable (piecewise constant), so the gradient "
                           "and amortized baselines cannot use it; use the grid oracle or the exact solver.")


class TorchClassifier:
    """score(X) for full SCM-ordered rows X, in the classifier's reference score space (logit / decision)."""

    def __init__(self, model: Any, scm_names: Sequence[str], target_class: object = None, dtype: Any = None) -> None:
        from milp_recourse.models.registry import score_kind

        torch = require_torch()
        self.torch = torch
        self.dtype = dtype or torch.float64
        steps, final = _affine_steps(model)
        pre, layers = _layers(final)
        self.kind = score_kind(model)
        self.sign = 1.0 if target_index(model, target_class) == 1 else -1.0
        names = list(scm_names)
        self.index = torch.as_tensor([names.index(f) for f in classifier_features(model, names)])
        t = lambda a: torch.as_tensor(np.array(a, float), dtype=self.dtype)  # noqa: E731
        self.affine = [(t(m), t(a)) for m, a in steps + pre]
        self.layers = [(t(w), t(c), relu) for w, c, relu in layers]

    def score(self, X: Any) -> Any:
        """(n,) target-class score; differentiable in X."""
        h = X.index_select(1, self.index)
        for mul, add in self.affine:
            h = h * mul + add
        for w, c, relu in self.layers:
            h = h @ w.T + c
            if relu:
                h = self.torch.relu(h)
        return self.sign * h[:, 0]
