"""Neutral tree arrays and the one place for tree math: float32 split semantics and leaf-to-score mapping.

Adapters turn scikit-learn DecisionTree / RandomForest / ExtraTrees / GradientBoosting (binary,
log-loss) classifiers into a :class:`TreeEnsemble` whose score is ``base + sum_t value_t[leaf_t(x)]``:
- DecisionTree: leaf value = predicted probability of the target class (kind 'probability');
- forests: the same divided by the number of trees (predict_proba averages the trees);
- GradientBoosting: base = init raw score, value = learning_rate * leaf value (kind 'logit').
For the target class classes_[0] the forest probabilities use column 0 and boosting is negated.

Float32: scikit-learn converts X to float32 and tests ``float32(x) <= threshold`` (threshold float64).
So the left region in float64 is exactly ``x <= L`` with ``L = left_upper(threshold)``, the largest float64
whose float32 rounding is <= threshold; the right region is ``x >= nextafter(L, inf)``.
Every family registers its adapter with :func:`register_tree_adapter` (sklearn_trees.py, hist_gradient_boosting.py,
xgboost_trees.py, lightgbm_trees.py, each once its library is imported); an ensemble with ``float32=False``
splits by ``x <= threshold`` in float64.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, replace
from typing import Any, Callable

import numpy as np

from milp_recourse.errors import ClassifierError

LEAF = -1
# The MILP's split regions for XGBoost / LightGBM / HistGB stay this far (relative, x max(1, |threshold|)) from
# the split, 10x the MILP's feasibility tolerance (1e-7): their thresholds sit on or next to data values
# (XGBoost's cut points are data values, LightGBM splits 0 from positives at 1e-35), where a band of one float32
# ulp is within the solver's tolerance. scikit-learn trees keep their exact float32 band (gap 0).
LIBRARY_GAP = 1e-6
_F32_MAX = float(np.finfo(np.float32).max)


@dataclass(frozen=True, eq=False)
class TreeArrays:
    """One binary tree: node i is a leaf iff left[i] == -1; value[i] is its score contribution."""

    left: np.ndarray
    right: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    value: np.ndarray

    @property
    def n_nodes(self) -> int:
        return int(self.left.shape[0])

    def is_leaf(self, node: int) -> bool:
        return int(self.left[node]) == LEAF


@dataclass(frozen=True, eq=False)
class TreeEnsemble:
    """score(x) = base + sum over trees of the reached leaf's value."""

    trees: tuple[TreeArrays, ...]
    base: float
    n_features: int
    float32: bool = True   # True: float32(x) <= threshold (sklearn trees); False: x <= threshold in float64
    gap: float = 0.0       # relative gap the MILP keeps between a split and its regions (see LIBRARY_GAP)

    def left_max(self, threshold: float) -> float:
        """The largest float64 input this ensemble's split rule sends left at `threshold`."""
        return left_upper(threshold) if self.float32 else float(threshold)


def left_upper(threshold: float) -> float:
    """Largest float64 x with float32(x) <= threshold, i.e. the last point scikit-learn sends left."""
    t = float(threshold)
    if not np.isfinite(t) or abs(t) >= _F32_MAX:
        raise ClassifierError(f"Tree threshold {t!r} is outside the float32 range; expected |threshold| < "
                              f"{_F32_MAX:g}.")
    f = np.float32(t)
    if float(f) > t:
        f = np.nextafter(f, np.float32(-np.inf))
    g = np.nextafter(f, np.float32(np.inf))
    if not np.isfinite(g):
        return float("inf")
    mid = (float(f) + float(g)) / 2.0  # exact in float64: the float32 rounding boundary between f and g
    return mid if np.float32(mid) == f else float(np.nextafter(mid, -np.inf))


def right_lower(threshold: float) -> float:
    """Smallest float64 x that scikit-learn sends right: nextafter(left_upper(threshold), inf)."""
    return float(np.nextafter(left_upper(threshold), np.inf))


def goes_left(x: np.ndarray | float, threshold: np.ndarray | float) -> np.ndarray:
    """scikit-learn's own test, float32(x) <= threshold (elementwise)."""
    return np.asarray(x, dtype=np.float64).astype(np.float32).astype(np.float64) <= np.asarray(threshold, float)


def apply(tree: TreeArrays, X: np.ndarray, float32: bool = True) -> np.ndarray:
    """Index of the leaf each row of X reaches (float32 semantics, or float64 ``x <= threshold``)."""
    X = np.asarray(X, dtype=float)
    node = np.zeros(X.shape[0], dtype=np.int64)
    active = tree.left[node] != LEAF
    while active.any():
        rows = np.flatnonzero(active)
        n = node[rows]
        x = X[rows, tree.feature[n]]
        left = goes_left(x, tree.threshold[n]) if float32 else x <= tree.threshold[n]
        node[rows] = np.where(left, tree.left[n], tree.right[n])
        active = tree.left[node] != LEAF
    return node


def ensemble_score(ens: TreeEnsemble, X: np.ndarray) -> np.ndarray:
    """numpy evaluation of the ensemble's score (used to check adapters against predict_proba)."""
    X = np.asarray(X, dtype=float)
    total = np.full(X.shape[0], ens.base)
    for tree in ens.trees:
        total = total + tree.value[apply(tree, X, ens.float32)]
    return total


_ADAPTERS: dict[type, Callable[[Any, int], TreeEnsemble]] = {}   # scikit-learn's register in sklearn_trees.py


# Reading a library model's dump is slow (LightGBM dump_model: ~0.7 s for 300 trees, XGBoost's JSON ~0.2 s) and
# validation, every person's compile and the score bounds all need the trees: a memo keyed weakly by the library's
# booster object (gone with it), valid while the booster's stamp (rounds, best iteration, ...) is unchanged.
# A booster changed in place without changing its stamp (LightGBM set_leaf_output, a load_model into the same
# XGBoost object) keeps its old trees here; the independent verification would then refuse the answers.
_MEMO: "weakref.WeakKeyDictionary[Any, tuple[Any, TreeEnsemble]]" = weakref.WeakKeyDictionary()


def memo_ensemble(key: Any, stamp: Any, build: Callable[[], TreeEnsemble]) -> TreeEnsemble:
    """build() once per (key, stamp): the ensemble of a library booster `key` while its `stamp` is unchanged."""
    hit = _MEMO.get(key)
    if hit is not None and hit[0] == stamp:
        return hit[1]
    ens = build()
    _MEMO[key] = (stamp, ens)
    return ens


def negated(ens: TreeEnsemble) -> TreeEnsemble:
    """The ensemble scoring the other class: every leaf value and the base negated (exact)."""
    trees = tuple(replace(t, value=-t.value) for t in ens.trees)
    return replace(ens, trees=trees, base=-ens.base)


def register_tree_adapter(cls: type, fn: Callable[[Any, int], TreeEnsemble]) -> None:
    """Declare fn(model, target_index) -> TreeEnsemble the adapter of cls (and its subclasses)."""
    _ADAPTERS[cls] = fn


def _adapter(cls: type) -> Callable[[Any, int], TreeEnsemble] | None:
    from milp_recourse.models.registry import load_library_family

    load_library_family(cls)   # xgboost / lightgbm families register on first sight of one of their models
    return next((_ADAPTERS[b] for b in cls.__mro__ if b in _ADAPTERS), None)


def tree_adapter_types() -> tuple[type, ...]:
    """The classes with a registered tree adapter (of the libraries loaded so far)."""
    return tuple(_ADAPTERS)


def is_tree_model(model: object) -> bool:
    """Whether model has a tree adapter (its score is a TreeEnsemble's)."""
    return _adapter(type(model)) is not None


def to_tree_ensemble(model: Any, target_index: int) -> TreeEnsemble:
    """Neutral arrays for a fitted tree model, scoring class classes_[target_index]."""
    fn = _adapter(type(model))
    if fn is not None:
        return fn(model, target_index)
    raise ClassifierError(f"{type(model).__name__} has no tree adapter; expected one of "
                          f"{', '.join(sorted(c.__name__ for c in _ADAPTERS))}.")


__all__ = ["TreeArrays", "TreeEnsemble", "left_upper", "right_lower", "goes_left", "apply", "ensemble_score",
           "to_tree_ensemble", "register_tree_adapter", "is_tree_model", "tree_adapter_types", "LEAF", "LIBRARY_GAP",
           "memo_ensemble", "negated"]
