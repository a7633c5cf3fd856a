"""Linear classifiers (LogisticRegression, LinearSVC): the score w.x + b is affine, so no rows are needed."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from milp_recourse.mip.ir import Affine, IRBuilder


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


def linear_layer(W: np.ndarray, c: np.ndarray, inputs: Sequence[Affine]) -> list[Affine]:
    """[W[i] . inputs + c[i] for each row i] in one matrix product over the inputs' columns (a ReLU layer's
    pre-activations: per-unit linear_score calls were ~25 % of a CARMA compile). Exact zeros are dropped."""
    cols = sorted({j for x in inputs for j in x.terms})
    pos = {j: k for k, j in enumerate(cols)}
    M = np.zeros((len(inputs), len(cols)))
    for r, x in enumerate(inputs):
        for j, v in x.terms.items():
            M[r, pos[j]] = v
    W = np.asarray(W, dtype=float)
    P = W @ M
    consts = W @ np.array([x.const for x in inputs], dtype=float) + np.asarray(c, dtype=float)
    col_arr = np.asarray(cols, dtype=int)
    out = []
    for i in range(W.shape[0]):
        nz = np.flatnonzero(P[i])
        out.append(Affine(dict(zip(col_arr[nz].tolist(), P[i, nz].tolist())), float(consts[i])))
    return out


def encode_linear(model: Any, b: IRBuilder, inputs: Sequence[Affine], target_index: int, *,
                  split_margin: float, group: str) -> Affine:
    """decision_function of a binary linear model (log-odds for LogisticRegression), negated for classes_[0]."""
    coef = np.asarray(model.coef_, dtype=float).reshape(-1)
    intercept = float(np.asarray(model.intercept_, dtype=float).reshape(-1)[0])
    score = linear_score(coef, intercept, inputs)
    return score if target_index == 1 else -score


__all__ = ["encode_linear", "linear_score", "linear_layer"]
