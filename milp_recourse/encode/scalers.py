"""Pipelines of affine scalers followed by a supported classifier: scalers become affine maps of the inputs.

A ColumnTransformer of scalers / 'passthrough' / 'drop' over numeric columns maps each of its blocks
(models/column_transformer.py) and concatenates them in its output order; given the levels of categorical
inputs (a LeveledModel), its OneHotEncoder / OrdinalEncoder blocks go through encode/categorical_codes.py.

Each map copies scikit-learn's own operations (StandardScaler: (x - mean) / scale; MinMaxScaler:
x * scale + min) so that constant inputs are transformed bit-for-bit like ``transform``.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from milp_recourse.errors import ClassifierError
from milp_recourse.mip.ir import Affine, IRBuilder, single_column
from milp_recourse.models.sklearn_types import is_a


def standardize(x: Affine, mean: float | None, scale: float | None) -> Affine:
    """(x - mean) / scale as an affine expression (mean/scale None = skipped, like sklearn)."""
    m = 0.0 if mean is None else float(mean)
    s = 1.0 if scale is None else float(scale)
    if x.is_constant:
        value = np.float64(x.const)
        if mean is not None:
            value = value - np.float64(m)
        if scale is not None:
            value = value / np.float64(s)
        return Affine.constant(float(value))
    return Affine({j: c / s for j, c in x.terms.items()}, (x.const - m) / s)


def min_max(x: Affine, scale: float, shift: float) -> Affine:
    """x * scale + shift as an affine expression."""
    if x.is_constant:
        return Affine.constant(float(np.float64(x.const) * np.float64(scale) + np.float64(shift)))
    return Affine({j: c * float(scale) for j, c in x.terms.items()}, x.const * float(scale) + float(shift))


def _column_transformer(ct: Any, inputs: Sequence[Affine], levels: Mapping[int, tuple[str, ...]] | None,
                        b: IRBuilder | None, group: str, codes: Any) -> tuple[Affine, ...]:
    """A ColumnTransformer's output: each block's step on its selected inputs, concatenated in output order
    (encoder blocks on categorical codes through encode/categorical_codes.py, with binaries in b)."""
    from milp_recourse.encode.categorical_codes import CodeIndicators, encode_block
    from milp_recourse.models.column_transformer import column_blocks

    names = [str(n) for n in getattr(ct, "feature_names_in_", range(len(inputs)))]
    cache = CodeIndicators() if codes is None else codes
    out: list[Affine] = []
    for block in column_blocks(ct, levels=levels):
        if block.codes is None:
            out.extend(transform_inputs(block.step, [inputs[i] for i in block.columns]))
            continue
        if b is None and not all(inputs[i].is_constant for i in block.columns):
            raise ClassifierError(f"ColumnTransformer part {block.name!r} encodes categorical codes, which needs "
                                  "an IRBuilder for its binaries; expected transform_inputs(..., b=builder).")
        encoded = encode_block(IRBuilder() if b is None else b, block, inputs, names, group, cache)
        out.extend(transform_inputs(block.after, encoded))
    return tuple(out)


def transform_inputs(step: Any, inputs: Sequence[Affine], levels: Mapping[int, tuple[str, ...]] | None = None,
                     b: IRBuilder | None = None, group: str = "clf", codes: Any = None) -> tuple[Affine, ...]:
    """The affine image of the inputs under one fitted scaler step (or ColumnTransformer / Pipeline of them).

    levels (input position -> level strings) makes a ColumnTransformer's encoders read those inputs as codes;
    their one-hot outputs are written with binaries added to b (rows in `group`), recorded in `codes`
    (a categorical_codes.CodeIndicators, fresh when None)."""
    from milp_recourse.models.column_transformer import is_identity

    if is_identity(step):
        return tuple(inputs)
    if is_a(step, "ColumnTransformer"):
        return _column_transformer(step, inputs, levels, b, group, codes)
    if is_a(step, "Pipeline"):
        exprs = tuple(inputs)
        for _, inner in step.steps:
            exprs = transform_inputs(inner, exprs)
        return exprs
    if is_a(step, "StandardScaler"):
        mean = step.mean_ if step.with_mean else None
        scale = step.scale_ if step.with_std else None
        return tuple(standardize(x, None if mean is None else mean[i], None if scale is None else scale[i])
                     for i, x in enumerate(inputs))
    if is_a(step, "MinMaxScaler"):
        return tuple(min_max(x, step.scale_[i], step.min_[i]) for i, x in enumerate(inputs))
    raise ClassifierError(f"Pipeline step {type(step).__name__} cannot be encoded; expected StandardScaler or "
                          "MinMaxScaler.")


def pipeline_kind(model: Any) -> str:
    """A pipeline scores in its final estimator's space."""
    from milp_recourse.models.registry import score_kind

    return score_kind(model.steps[-1][1])


def encode_pipeline(model: Any, b: IRBuilder, inputs: Sequence[Affine], target_index: int, *,
                    split_margin: float, group: str, bounded_below: bool = False) -> Affine:
    """Compose the scalers on the inputs, then encode the final estimator on the scaled expressions."""
    from milp_recourse.encode.classifier_registry import encode_score

    exprs = tuple(inputs)
    for _, step in model.steps[:-1]:
        exprs = transform_inputs(step, exprs)
    _note_scaled(b, model.steps[:-1], inputs, exprs)
    return encode_score(model.steps[-1][1], b, exprs, target_index, split_margin=split_margin, group=group,
                        bounded_below=bounded_below)


def _note_scaled(b: IRBuilder, steps: Sequence[Any], raw: Sequence[Affine], scaled: Sequence[Affine]) -> None:
    """Record each scaled input's raw input and the scalers' own arithmetic on one raw value (the constant paths of
    standardize / min_max, bit-for-bit transform's), for IRBuilder.scaled_from: StandardScaler / MinMaxScaler
    steps only, which act column by column."""
    if not all(is_a(step, "StandardScaler") or is_a(step, "MinMaxScaler") for _, step in steps):
        return
    for i, (x, y) in enumerate(zip(raw, scaled)):
        src, dst = single_column(x), single_column(y)
        if src is None or dst is None or src[0] != dst[0]:
            continue

        def exact(v: float, i: int = i, n: int = len(raw)) -> float:
            consts = tuple(Affine.constant(v if j == i else 0.0) for j in range(n))
            for _, step in steps:
                consts = transform_inputs(step, consts)
            return consts[i].const

        b.scaled_from[dst] = (src, exact)


__all__ = ["encode_pipeline", "pipeline_kind", "standardize", "min_max", "transform_inputs"]
