"""Classifiers that read categorical columns as level strings, fed the package's integer codes.

Inside the package a categorical / ordinal SCM variable is an integer code 0..K-1 (code k means levels[k]).
Users train scikit-learn Pipelines on DataFrames holding the level strings (a ColumnTransformer with a
OneHotEncoder / OrdinalEncoder on those columns). :class:`LeveledModel` puts the two together: it takes rows of
codes (and floats elsewhere) in the estimator's column order, builds the DataFrame of level strings and calls
the estimator. :func:`with_levels` wraps a model only when it needs it. The encoders, the score bounds and the
numpy scorers read the wrapped estimator with the levels (models/column_transformer.py, models/adapter.py).
"""

from __future__ import annotations

import numbers
import types
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from milp_recourse.errors import ClassifierError, InputError
from milp_recourse.models.sklearn_types import is_a

CODE_TOLERANCE = 1e-6   # a code within this of an integer is that integer (SCM round-off); farther is an error


class _IfEstimatorHas:
    """A method present only when the wrapped estimator has one of the same name (hasattr is False otherwise),
    as scikit-learn's available_if does; written here so that this module does not import scikit-learn."""

    def __init__(self, fn: Any) -> None:
        self.fn = fn
        self.__doc__ = fn.__doc__

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        if obj is None:
            return self.fn
        if not hasattr(obj.estimator, self.fn.__name__):
            raise AttributeError(f"{type(obj.estimator).__name__} has no {self.fn.__name__}, so this "
                                 f"{type(obj).__name__} has none either.")
        return types.MethodType(self.fn, obj)


def _feature_names(estimator: Any) -> tuple[str, ...] | None:
    names = getattr(estimator, "feature_names_in_", None)
    if names is None and is_a(estimator, "Pipeline"):
        first = next((s for _, s in estimator.steps if not (s is None or s == "passthrough")), None)
        names = getattr(first, "feature_names_in_", None)
    return None if names is None else tuple(str(n) for n in names)


def _clean_levels(levels: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """levels as {column name: tuple of distinct level strings}; ClassifierError naming a bad entry."""
    if not isinstance(levels, Mapping):
        raise ClassifierError(f"levels must map column names to level strings; got {type(levels).__name__}.")
    out: dict[str, tuple[str, ...]] = {}
    for name, lev in levels.items():
        if isinstance(lev, str) or not hasattr(lev, "__iter__"):
            raise ClassifierError(f"The levels of column {name!r} are {lev!r}; expected a sequence of strings.")
        tup = tuple(lev)
        if not tup or not all(isinstance(v, str) for v in tup) or len(set(tup)) != len(tup):
            raise ClassifierError(f"The levels of column {name!r} are {list(tup)}; expected at least one level, "
                                  "all strings, none repeated.")
        out[str(name)] = tup
    return out


@dataclass(frozen=True, eq=False)
class LeveledModel:
    """A fitted estimator that reads some columns as level strings, called on rows of codes (sklearn-like)."""

    estimator: Any
    levels: Mapping[str, tuple[str, ...]]   # input column name -> level strings (code k means levels[k])

    def __post_init__(self) -> None:
        names = _feature_names(self.estimator)
        if names is None:
            raise ClassifierError(f"{type(self.estimator).__name__} has no feature_names_in_; a model reading "
                                  "categorical columns must be fitted on a DataFrame with named columns.")
        levels = _clean_levels(self.levels)
        unknown = [n for n in levels if n not in names]
        if unknown:
            raise ClassifierError(f"Levels are given for column(s) {unknown}, which the model does not read; its "
                                  f"input columns are {list(names)}.")
        object.__setattr__(self, "levels", levels)

    # sklearn-like attributes ---------------------------------------------------------------------
    @property
    def feature_names_in_(self) -> np.ndarray:
        return np.asarray(_feature_names(self.estimator), dtype=object)

    @property
    def n_features_in_(self) -> int:
        return len(self.feature_names_in_)

    @property
    def classes_(self) -> np.ndarray:
        return self.estimator.classes_

    def level_positions(self) -> dict[int, tuple[str, ...]]:
        """Input position -> levels, for the categorical columns."""
        names = list(self.feature_names_in_)
        return {names.index(n): lev for n, lev in self.levels.items()}

    # the rows -------------------------------------------------------------------------------------
    def frame(self, X: Any) -> Any:
        """X (an (n, m) array of codes / floats in feature order, or a DataFrame with codes or level strings in
        the categorical columns) as the DataFrame the estimator was fitted on."""
        import pandas as pd

        names = [str(n) for n in self.feature_names_in_]
        if isinstance(X, pd.DataFrame):
            missing = [n for n in names if n not in X.columns]
            if missing:
                raise InputError(f"The rows lack column(s) {missing}; the model reads {names}.")
            cols = {n: X[n].to_numpy() for n in names}
        else:
            arr = np.asarray(X, dtype=object if isinstance(X, (list, tuple)) else None)
            arr = arr.reshape(1, -1) if arr.ndim == 1 else arr
            if arr.ndim != 2 or arr.shape[1] != len(names):
                raise InputError(f"Rows of shape {arr.shape}; expected (n, {len(names)}) in the column order "
                                 f"{names}.")
            cols = {n: arr[:, j] for j, n in enumerate(names)}
        out = {}
        for n in names:
            if n in self.levels:
                out[n] = pd.Series(self._as_levels(n, cols[n]), dtype=object)
            else:
                out[n] = pd.Series(np.asarray(cols[n], dtype=float), dtype=float)
        return pd.DataFrame(out, columns=names)

    def _as_levels(self, name: str, values: np.ndarray) -> list[str] | np.ndarray:
        levels = self.levels[name]
        if values.dtype.kind in "iuf":   # codes (the usual case, vectorised)
            codes = np.rint(values.astype(float))
            ok = np.isfinite(values) & (np.abs(values - codes) <= CODE_TOLERANCE) & (codes >= 0) & (codes < len(levels))
            if ok.all():
                return np.asarray(levels, dtype=object)[codes.astype(np.int64)]
        out = []
        for v in values:
            if isinstance(v, str):
                if v not in levels:
                    raise InputError(f"Column {name!r} has value {v!r}; expected one of the levels {list(levels)}.")
                out.append(v)
                continue
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
                raise InputError(f"Column {name!r} has value {v!r}; expected a code 0..{len(levels) - 1} or a level.")
            k = round(float(v)) if np.isfinite(float(v)) else -1
            if abs(float(v) - k) > CODE_TOLERANCE or not 0 <= k < len(levels):
                raise InputError(f"Column {name!r} has code {float(v)!r}; expected an integer code "
                                 f"0..{len(levels) - 1} (levels {list(levels)}).")
            out.append(levels[int(k)])
        return out

    # the estimator's own answers ------------------------------------------------------------------
    def predict(self, X: Any) -> np.ndarray:
        return self.estimator.predict(self.frame(X))

    @_IfEstimatorHas
    def predict_proba(self, X: Any) -> np.ndarray:
        return self.estimator.predict_proba(self.frame(X))

    @_IfEstimatorHas
    def decision_function(self, X: Any) -> np.ndarray:
        return self.estimator.decision_function(self.frame(X))

    def preprocessed(self, X: Any) -> np.ndarray:
        """The final estimator's input: the Pipeline's own transform of the rows, as a float array."""
        out = self.estimator[:-1].transform(self.frame(X))
        return np.asarray(out.toarray() if hasattr(out, "toarray") else out, dtype=float)

    def __repr__(self) -> str:
        return f"LeveledModel({type(self.estimator).__name__}, levels of {sorted(self.levels)})"


def _first_step(estimator: Any) -> tuple[str, Any] | None:
    """The first step of a Pipeline that does something."""
    if not is_a(estimator, "Pipeline"):
        return None
    return next(((n, s) for n, s in estimator.steps[:-1] if not (s is None or s == "passthrough")), None)


def check_leveled(model: LeveledModel) -> None:
    """Raise ClassifierError unless the wrapped estimator is a fitted Pipeline whose ColumnTransformer encodes
    every categorical column it reads with a OneHotEncoder / OrdinalEncoder that knows the levels, followed by
    affine steps and a supported classifier."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    from milp_recourse.models.classifiers import validate_classifier
    from milp_recourse.models.column_transformer import column_blocks

    est = model.estimator
    first = _first_step(est)
    if first is None or not isinstance(first[1], ColumnTransformer):
        raise ClassifierError(f"LeveledModel of {type(est).__name__}: expected a Pipeline whose first step is a "
                              "ColumnTransformer encoding the categorical columns.")
    column_blocks(first[1], f"Pipeline step {first[0]!r}", model.level_positions())
    final = est.steps[-1][1]
    if getattr(first[1], "sparse_output_", False) and type(final).__module__.split(".")[0] == "xgboost":
        raise ClassifierError(f"Pipeline step {first[0]!r}: the ColumnTransformer outputs a sparse matrix (its "
                              "one-hot columns are mostly zeros), which XGBoost reads with every absent entry as a "
                              "missing value, not 0; expected ColumnTransformer(..., sparse_threshold=0) or "
                              "OneHotEncoder(sparse_output=False) before XGBoost.")
    rest = [(n, s) for n, s in est.steps if s is not first[1]]
    validate_classifier(Pipeline(rest) if len(rest) > 1 else rest[0][1])


def _string_encoded(estimator: Any) -> set[int]:
    """Input positions the estimator's first ColumnTransformer reads with an encoder of string categories."""
    from sklearn.compose import ColumnTransformer

    from milp_recourse.models.column_transformer import _leading_encoder, _positions

    first = _first_step(estimator)
    if first is None or not isinstance(first[1], ColumnTransformer) or not hasattr(first[1], "transformers_"):
        return set()
    out: set[int] = set()
    for name, step, columns in first[1].transformers_:
        lead = _leading_encoder(step)
        if lead is None or not hasattr(lead[0], "categories_"):
            continue
        cols = _positions(first[1], columns, name)
        out |= {c for c, cats in zip(cols, lead[0].categories_) if any(isinstance(v, str) for v in cats)}
    return out


def with_levels(estimator: Any, levels: Mapping[str, Any]) -> Any:
    """The estimator, wrapped in a validated LeveledModel when it reads a categorical column (a key of levels)
    through a OneHotEncoder / OrdinalEncoder with string categories; otherwise as it is (it reads codes as
    numbers). Only such columns are given levels (others, even categorical, are read as codes). A LeveledModel
    with the same levels is returned as it is."""
    levels = _clean_levels(levels)
    inner = estimator.estimator if isinstance(estimator, LeveledModel) else estimator
    names = _feature_names(inner)
    if names is None:
        return estimator
    strings = _string_encoded(inner)
    mine = {n: levels[n] for i, n in enumerate(names) if n in levels and i in strings}
    if isinstance(estimator, LeveledModel) and dict(estimator.levels) == mine:
        return estimator
    if not mine:
        return inner
    model = LeveledModel(inner, mine)
    check_leveled(model)
    return model


# the models layer's registry: reference scores through the estimator's own computation ------------------
def _positive_logit(model: LeveledModel, X: Any) -> np.ndarray:
    from milp_recourse.models.classifiers import _positive_logit as logit_of

    return logit_of(model.estimator, model.frame(X))


def leveled_kind(model: LeveledModel) -> str:
    from milp_recourse.models.registry import score_kind

    return score_kind(model.estimator)


def register_family() -> None:
    """Declare LeveledModel a family (score kind of its estimator) with hooks for validation and features."""
    from milp_recourse.models.registry import LibraryHooks, register_hooks, register_model

    register_model(LeveledModel, leveled_kind)
    register_hooks(LeveledModel, LibraryHooks(
        validate=check_leveled, sklearn_api=False, n_features=lambda m: m.n_features_in_,
        feature_names=lambda m: tuple(str(n) for n in m.feature_names_in_), positive_logit=_positive_logit))


__all__ = ["LeveledModel", "with_levels", "check_leveled", "register_family", "CODE_TOLERANCE"]
