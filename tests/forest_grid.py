"""The split grid of a fitted forest for brute-force references (test helper, not a test module).

Every cell of the grid the forest's thresholds cut each feature into is represented by its points closest to the
factual value: the value itself and, per threshold, the last float sklearn sends left and the first it sends right.
"""

from __future__ import annotations

import itertools
from typing import Mapping, Sequence

import numpy as np

from milp_recourse.models.trees import left_upper, right_lower


def split_grid(forest, names: Sequence[str], person: Mapping[str, float], problem) -> np.ndarray:
    """Every combination of each feature's candidate values within its rule's bounds (rows in `names` order)."""
    cands = []
    for k, name in enumerate(names):
        rule = problem.rule(name)
        vals = {person[name]}
        for est in forest.estimators_:
            t = est.tree_
            for thr in t.threshold[t.feature == k]:
                vals |= {left_upper(thr), right_lower(thr)}
        cands.append(sorted(v for v in vals if rule.lower <= v <= rule.upper))
    return np.array(list(itertools.product(*cands)))
