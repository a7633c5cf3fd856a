"""Interval cost rows for tree-ensemble MILPs: what crossing each split point costs, on the split binaries.

For a feature f whose counterfactual is x_f + d_f (actionable, no changing parent) the tree encoding orders its
open split points L_1 < ... < L_k with binaries y_j = [x'_f <= L_j], y_j <= y_{j+1} (encode/tree_ensembles.py).
With those binaries integral, x'_f lies in one interval and |d_f| is at least the distance from x_f to it, which
telescopes over the splits crossed:
    |d_f| >= sum_{L_j < x_f} (min(L_{j+1}, x_f) - L_j) y_j + sum_{L_j >= x_f} (L_j - max(L_{j-1}, x_f)) (1 - y_j).
One such row per feature on the p = 1 cost epigraph t_f >= |d_f| is valid for every integral point (the split
regions keep x'_f <= L_j on the left and > L_j on the right), and it makes the LP relaxation pay for moving
split binaries, which the big-M links alone let it do for free.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import scipy.sparse as sp

from milp_recourse.encode.compile import CompiledInstance
from milp_recourse.models.trees import is_tree_model
from milp_recourse.problem.recourse_problem import RecourseProblem

SPLIT_COLUMN = re.compile(r"^clf\.split\[f(\d+),(\d+)\]<=(.+)$")   # encode/tree_ensembles.py's split binaries


def interval_rows(problem: RecourseProblem, compiled: CompiledInstance) -> CompiledInstance:
    """The compiled instance with one interval cost row per directly actionable tree feature (itself when none
    applies: p = 2, percentile or table costs, grids, or no tree splits)."""
    cost, model = problem.cost, compiled.model
    if cost.kind != "power" or cost.p != 1 or cost.tables or compiled.quadratic \
            or not is_tree_model(problem.classifier):
        return compiled   # (a pipeline's trees split transformed inputs: their L are not the features' values)
    splits: dict[int, list[tuple[float, int]]] = {}
    for j, name in enumerate(model.col_names):
        if name.startswith("clf.split["):
            m = SPLIT_COLUMN.match(name)
            if m is not None:
                splits.setdefault(int(m.group(1)), []).append((float(m.group(3)), j))
    feats = list(problem.features)
    x = dict(zip(problem.scm.names, map(float, problem.x)))
    rows, cols, vals, rhs = [], [], [], []
    r = 0
    for f, pts in splits.items():
        if f >= len(feats):
            continue
        name = feats[f]
        if name not in compiled.t_cols or name in compiled.xp_cols or name in compiled.grid_cols:
            continue
        pts.sort()
        xf = x[name]
        Ls = [L for L, _ in pts]
        const = 0.0
        terms: list[tuple[int, float]] = []
        for i, (L, j) in enumerate(pts):
            if L < xf:
                w = min(Ls[i + 1], xf) - L if i + 1 < len(Ls) else xf - L
                terms.append((j, -w))            # t - w y >= ...
            else:
                w = L - max(Ls[i - 1], xf) if i > 0 else L - xf
                terms.append((j, w))             # t + w y >= w
                const += w
        if not any(w != 0.0 for _, w in terms):
            continue
        rows.append(r)
        cols.append(compiled.t_cols[name])
        vals.append(1.0)
        for j, w in terms:
            if w != 0.0:
                rows.append(r)
                cols.append(j)
                vals.append(w)
        rhs.append(const)
        r += 1
    if r == 0:
        return compiled
    extra = sp.csr_matrix((vals, (rows, cols)), shape=(r, model.n_cols))
    new = dataclasses.replace(model, A=sp.vstack([model.A, extra], format="csr"),
                              row_lo=np.concatenate([model.row_lo, rhs]),
                              row_hi=np.concatenate([model.row_hi, np.full(r, np.inf)]),
                              row_groups=model.row_groups + ("cost:interval",) * r)
    return dataclasses.replace(compiled, model=new)


__all__ = ["interval_rows"]
