"""A fitted ColumnTransformer over numeric columns as blocks of affine steps, in the order of its output.

Each block is one part of the transformer: 'passthrough', a StandardScaler / MinMaxScaler (clip=False), or a
Pipeline of those, applied to input columns selected by name, position, slice or boolean mask; 'drop' parts
and empty selections add no output. The encoders (encode/scalers.py) and the score bounds map the blocks
one by one and concatenate them, as ``ColumnTransformer.transform`` does. Categorical encoders are refused.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, MinMaxScaler, OneHotEncoder, OrdinalEncoder, StandardScaler
from sklearn.utils.validation import check_is_fitted

from milp_recourse.errors import ClassifierError

AFFINE_STEPS = (StandardScaler, MinMaxScaler)


@dataclass(frozen=True)
class ColumnBlock:
    """One part of a ColumnTransformer: its name, its fitted step ('passthrough' or affine) and input columns."""

    name: str
    step: Any
    columns: tuple[int, ...]


def is_identity(step: object) -> bool:
    """'passthrough' (or None), also as the FunctionTransformer without a function that fit() puts in its place."""
    if step is None or (isinstance(step, str) and step == "passthrough"):
        return True
    return isinstance(step, FunctionTransformer) and step.func is None


def _position(ct: ColumnTransformer, key: Any, part: str) -> int:
    """Input position of one column key (a name or an integer position)."""
    n = int(ct.n_features_in_)
    if isinstance(key, str):
        names = getattr(ct, "feature_names_in_", None)
        hits = [] if names is None else np.flatnonzero(np.asarray(names, dtype=object) == key)
        if len(hits) != 1:
            raise ClassifierError(f"ColumnTransformer part {part!r} selects column {key!r}, which is not one of its "
                                  f"input columns {None if names is None else list(map(str, names))}.")
        return int(hits[0])
    if isinstance(key, numbers.Integral) and not isinstance(key, bool) and -n <= int(key) < n:
        return int(key) % n
    raise ClassifierError(f"ColumnTransformer part {part!r} selects column {key!r}; expected a column name or a "
                          f"position in [0, {n}).")


def _positions(ct: ColumnTransformer, columns: Any, part: str) -> tuple[int, ...]:
    """The input positions a fitted part reads, in its own order (as scikit-learn selects them)."""
    n = int(ct.n_features_in_)
    if isinstance(columns, (str, numbers.Integral)) and not isinstance(columns, bool):
        return (_position(ct, columns, part),)
    if isinstance(columns, slice):
        if isinstance(columns.start, str) or isinstance(columns.stop, str):   # label slices include the stop
            start = 0 if columns.start is None else _position(ct, columns.start, part)
            stop = n - 1 if columns.stop is None else _position(ct, columns.stop, part)
            return tuple(range(start, stop + 1, columns.step or 1))
        return tuple(range(n)[columns])
    if callable(columns):
        raise ClassifierError(f"ColumnTransformer part {part!r} selects columns with a callable; expected "
                              "names, positions, a slice or a boolean mask.")
    keys = list(np.asarray(columns, dtype=object).ravel()) if not isinstance(columns, list) else columns
    if keys and all(isinstance(k, (bool, np.bool_)) for k in keys):
        if len(keys) != n:
            raise ClassifierError(f"ColumnTransformer part {part!r} has a boolean mask of {len(keys)} entries; "
                                  f"expected {n}.")
        return tuple(int(i) for i in np.flatnonzero(np.asarray(keys, dtype=bool)))
    return tuple(_position(ct, k, part) for k in keys)


def _check_step(step: Any, part: str, where: str) -> None:
    """Raise unless step is 'passthrough', a fitted affine scaler or a Pipeline of them."""
    if is_identity(step):
        return
    if isinstance(step, (OneHotEncoder, OrdinalEncoder)):
        raise ClassifierError(f"{where}: ColumnTransformer part {part!r} is {type(step).__name__}; categorical "
                              "columns are not supported yet (only StandardScaler, MinMaxScaler, 'passthrough' "
                              "and 'drop' on numeric columns).")
    if isinstance(step, Pipeline):
        for _, inner in step.steps:
            _check_step(inner, part, where)
        return
    if not isinstance(step, AFFINE_STEPS):
        raise ClassifierError(f"{where}: ColumnTransformer part {part!r} is {type(step).__name__}; only "
                              "StandardScaler, MinMaxScaler, 'passthrough' and 'drop' are supported (they are "
                              "affine and encode exactly).")
    if isinstance(step, MinMaxScaler) and step.clip:
        raise ClassifierError(f"{where}: ColumnTransformer part {part!r} is MinMaxScaler(clip=True); expected "
                              "clip=False (clipping is not affine).")


def column_blocks(ct: ColumnTransformer, where: str = "ColumnTransformer") -> tuple[ColumnBlock, ...]:
    """The fitted transformer's output blocks in output order; raise ClassifierError for unsupported parts.

    ``where`` names the transformer in messages (e.g. "Pipeline step 'prep'").
    """
    try:
        check_is_fitted(ct)
    except Exception as exc:  # NotFittedError
        raise ClassifierError(f"{where}: the ColumnTransformer is not fitted ({exc}).") from None
    blocks = []
    for name, step, columns in ct.transformers_:
        if isinstance(step, str) and step == "drop":
            continue
        _check_step(step, name, where)
        cols = _positions(ct, columns, name)
        if cols:
            blocks.append(ColumnBlock(str(name), step, cols))
    return tuple(blocks)


def check_column_transformer(ct: ColumnTransformer, step_name: str) -> None:
    """Raise ClassifierError naming the Pipeline step unless ct is a fitted, supported ColumnTransformer."""
    column_blocks(ct, f"Pipeline step {step_name!r}")


__all__ = ["ColumnBlock", "column_blocks", "check_column_transformer", "is_identity", "AFFINE_STEPS"]
