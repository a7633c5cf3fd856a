"""A fitted ColumnTransformer as blocks of affine steps or categorical encoders, in the order of its output.

Each block is one part of the transformer: 'passthrough', a StandardScaler / MinMaxScaler (clip=False), or a
Pipeline of those, applied to input columns selected by name, position, slice or boolean mask; 'drop' parts
and empty selections add no output. The encoders (encode/scalers.py) and the score bounds map the blocks
one by one and concatenate them, as ``ColumnTransformer.transform`` does.
A OneHotEncoder / OrdinalEncoder part (alone or first in a Pipeline of affine steps) is read only when the
caller knows the levels of its columns (a categorical SCM variable's code k is its level string levels[k],
models/categorical_input.py): the block then carries, per input column, the table of the encoder's own output
for every code (computed by the encoder's own transform, so drop, unknown levels and infrequent grouping are
exact). Without levels, encoders are refused.
"""

from __future__ import annotations

import numbers
import warnings
import weakref
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, MinMaxScaler, OneHotEncoder, OrdinalEncoder, StandardScaler
from sklearn.utils.validation import check_is_fitted

from milp_recourse.errors import ClassifierError

AFFINE_STEPS = (StandardScaler, MinMaxScaler)


ENCODERS = (OneHotEncoder, OrdinalEncoder)


@dataclass(frozen=True, eq=False)
class ColumnBlock:
    """One part of a ColumnTransformer: its name, its fitted step ('passthrough' or affine) and input columns.

    Encoder blocks (codes is not None): codes[j] is a (K_j, n_out_j) table whose row k is the encoder's output
    for code k of input column columns[j] (outputs of the columns concatenated in order), and `after` the affine
    steps the part applies to the encoder's output ('passthrough' when none)."""

    name: str
    step: Any
    columns: tuple[int, ...]
    codes: tuple[np.ndarray, ...] | None = None
    after: Any = "passthrough"


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
                              "columns are not supported yet here (only StandardScaler, MinMaxScaler, 'passthrough' "
                              "and 'drop' on numeric columns; an encoder must come first in its part and read "
                              "categorical SCM variables, with the model wrapped by with_levels(model, levels)).")
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


def _leading_encoder(step: Any) -> tuple[Any, Any] | None:
    """(encoder, the steps after it) when step is an encoder or a Pipeline whose first real step is one."""
    if isinstance(step, ENCODERS):
        return step, "passthrough"
    if isinstance(step, Pipeline):
        real = [(n, s) for n, s in step.steps if not is_identity(s)]
        if real and isinstance(real[0][1], ENCODERS):
            rest = real[1:]
            return real[0][1], (Pipeline(rest) if rest else "passthrough")
    return None


def _column_name(ct: ColumnTransformer, pos: int) -> str:
    names = getattr(ct, "feature_names_in_", None)
    return str(names[pos]) if names is not None else f"#{pos}"


# The tables of an encoder are read on every validation and every person's encoding (~2 ms a column through
# transform): remembered per encoder object (weakly), levels and fitted state (categories, drop, unknowns).
_TABLES: "weakref.WeakKeyDictionary[Any, dict[Any, tuple[np.ndarray, ...]]]" = weakref.WeakKeyDictionary()


def encoder_tables(enc: Any, levels: Sequence[tuple[str, ...]], names: Sequence[str],
                   where: str) -> tuple[np.ndarray, ...]:
    """Per input column j of a fitted OneHotEncoder / OrdinalEncoder, the (K_j, n_out_j) table of its own
    transform at each level; ClassifierError when a category is not a level, a level is unknown to an encoder
    that errors on unknowns, or an output is not finite (OrdinalEncoder's unknown_value=nan)."""
    def plain(v: Any) -> Any:   # fitted attributes as hashable values (arrays by content)
        if isinstance(v, (list, tuple)):
            return tuple(plain(u) for u in v)
        return ("array", tuple(np.asarray(v).ravel().tolist())) if isinstance(v, np.ndarray) else repr(v)

    fitted = ("categories_", "drop_idx_", "infrequent_categories_", "handle_unknown", "unknown_value")
    key = (tuple(map(tuple, levels)), tuple(names), plain([getattr(enc, a, None) for a in fitted]))
    try:
        memo = _TABLES.setdefault(enc, {})
    except TypeError:   # not weakly referable: no memo
        memo = {}
    if key not in memo:
        memo[key] = _encoder_tables(enc, levels, names, where)
    return memo[key]


def _encoder_tables(enc: Any, levels: Sequence[tuple[str, ...]], names: Sequence[str],
                    where: str) -> tuple[np.ndarray, ...]:
    kind = type(enc).__name__
    try:
        check_is_fitted(enc)
    except Exception as exc:  # NotFittedError
        raise ClassifierError(f"{where}: the {kind} is not fitted ({exc}).") from None
    cats = [list(c) for c in enc.categories_]
    if len(cats) != len(levels):
        raise ClassifierError(f"{where}: the {kind} has {len(cats)} input columns; expected {len(levels)}.")
    for name, cat, lev in zip(names, cats, levels):
        if not all(isinstance(v, str) for v in cat):
            raise ClassifierError(f"{where}: the {kind} reads column {name!r} with categories {cat[:10]}; expected "
                                  f"the level strings {list(lev)} (fit the encoder on the level strings).")
        extra = [v for v in cat if v not in lev]
        if extra:
            raise ClassifierError(f"{where}: the {kind} of column {name!r} has category {extra[0]!r}, which is not "
                                  f"a level of the SCM variable; expected categories among {list(lev)}.")
        unknown = [v for v in lev if v not in cat]
        if unknown and enc.handle_unknown == "error":
            raise ClassifierError(f"{where}: the {kind} of column {name!r} does not know level {unknown[0]!r} and "
                                  "has handle_unknown='error'; expected an encoder fitted on every level "
                                  f"{list(lev)} or handle_unknown='ignore'"
                                  f"{'' if isinstance(enc, OneHotEncoder) else ' / use_encoded_value'}.")
    if isinstance(enc, OneHotEncoder):
        widths = [int(w) for w in getattr(enc, "_n_features_outs", [])] or [
            len(c) - (0 if enc.drop_idx_ is None or enc.drop_idx_[j] is None else 1) for j, c in enumerate(cats)]
    else:
        widths = [1] * len(cats)
    starts = np.cumsum([0] + widths)
    base = [c[0] for c in cats]
    frame_names = getattr(enc, "feature_names_in_", None)
    tables = []
    for j, lev in enumerate(levels):
        rows = np.array([base] * len(lev), dtype=object)
        rows[:, j] = list(lev)
        if frame_names is not None:
            import pandas as pd

            rows = pd.DataFrame(rows, columns=list(frame_names), dtype=object)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # "unknown categories ... encoded as all zeros": wanted here
            out = enc.transform(rows)
        out = np.asarray(out.toarray() if hasattr(out, "toarray") else out, dtype=float)
        table = out[:, starts[j]:starts[j + 1]]
        if not np.all(np.isfinite(table)):
            bad = lev[int(np.flatnonzero(~np.all(np.isfinite(table), axis=1))[0])]
            raise ClassifierError(f"{where}: the {kind} of column {names[j]!r} encodes level {bad!r} as "
                                  f"{table[lev.index(bad)].tolist()}; expected finite numbers (an unknown_value "
                                  "that is a number).")
        tables.append(table)
    return tuple(tables)


def _encoder_block(ct: ColumnTransformer, name: str, step: Any, cols: tuple[int, ...],
                   levels: Mapping[int, tuple[str, ...]] | None, where: str) -> ColumnBlock:
    enc, after = _leading_encoder(step)  # type: ignore[misc]
    plain = [c for c in cols if levels is None or c not in levels]
    if levels is None or plain:
        shown = [_column_name(ct, c) for c in (cols if levels is None else plain)]
        raise ClassifierError(f"{where}: ColumnTransformer part {name!r} is {type(enc).__name__}; categorical "
                              f"columns are not supported yet without their levels (column(s) {shown}): expected "
                              "an encoder fitted on the level strings of categorical SCM variables (the model is "
                              "then read through with_levels(model, levels)).")
    _check_step(after, name, where)
    part = f"{where}: ColumnTransformer part {name!r}"
    tables = encoder_tables(enc, [levels[c] for c in cols], [_column_name(ct, c) for c in cols], part)
    return ColumnBlock(str(name), step, cols, tables, after)


def column_blocks(ct: ColumnTransformer, where: str = "ColumnTransformer",
                  levels: Mapping[int, tuple[str, ...]] | None = None) -> tuple[ColumnBlock, ...]:
    """The fitted transformer's output blocks in output order; raise ClassifierError for unsupported parts.

    ``where`` names the transformer in messages (e.g. "Pipeline step 'prep'"). ``levels``: input position ->
    level strings of the categorical columns (their values are codes 0..K-1); encoders may read those only,
    and every other step only the others.
    """
    try:
        check_is_fitted(ct)
    except Exception as exc:  # NotFittedError
        raise ClassifierError(f"{where}: the ColumnTransformer is not fitted ({exc}).") from None
    blocks = []
    for name, step, columns in ct.transformers_:
        if isinstance(step, str) and step == "drop":
            continue
        cols = _positions(ct, columns, name)
        if _leading_encoder(step) is not None:
            if cols:
                blocks.append(_encoder_block(ct, name, step, cols, levels, where))
            continue
        _check_step(step, name, where)
        leveled = [c for c in cols if levels is not None and c in levels]
        if leveled:
            raise ClassifierError(f"{where}: ColumnTransformer part {name!r} reads the categorical column(s) "
                                  f"{[_column_name(ct, c) for c in leveled]} (level strings) with "
                                  f"{'passthrough' if is_identity(step) else type(step).__name__}; expected a "
                                  "OneHotEncoder or OrdinalEncoder.")
        if cols:
            blocks.append(ColumnBlock(str(name), step, cols))
    return tuple(blocks)


def check_column_transformer(ct: ColumnTransformer, step_name: str) -> None:
    """Raise ClassifierError naming the Pipeline step unless ct is a fitted, supported ColumnTransformer."""
    column_blocks(ct, f"Pipeline step {step_name!r}")


__all__ = ["ColumnBlock", "column_blocks", "check_column_transformer", "is_identity", "AFFINE_STEPS", "ENCODERS",
           "encoder_tables"]
