"""Linear classifiers (LogisticRegression, LinearSVC): the score w.x + b is affine, so no rows are needed."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..ir import Affine, IRBuilder


def linear_score(weights: np.ndarray, intercept: float, inputs: Sequence[Affine]) -> Affine:
    """sum_i w_i * inputs_i + intercept, accumulated in one dict (linear time in the number of terms)."""
    terms: dict[int, float] = {}
    const = float(intercept)
    for w, x in zip(np.asarray(weights, dtype=float), inputs):
        w = float(w)
        if w == 0.0:
            continue
        const += w * x.const
        for j, c in x.terms.items():
            terms[j] = terms.get(j, 0.0) + w * c
    return Affine(terms, const)


def encode_linear(model: Any, b: IRBuilder, inputs: Sequence[Affine], target_index: int, *,
                  split_margin: float, group: str) -> Affine:
    """decision_function of a binary linear model (log-odds for LogisticRegression), negated for classes_[0]."""
    coef = np.asarray(model.coef_, dtype=float).reshape(-1)
    intercept = float(np.asarray(model.intercept_, dtype=float).reshape(-1)[0])
    score = linear_score(coef, intercept, inputs)
    return score if target_index == 1 else -score


__all__ = ["encode_linear", "linear_score"]
