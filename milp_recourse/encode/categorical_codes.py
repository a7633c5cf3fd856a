"""Categorical codes through OneHotEncoder / OrdinalEncoder, exactly: one binary per code the input can take.

A categorical input is an integer code k in 0..K-1 (an Affine of the MILP). An encoder's output for column j is
a table row table[k] (models/column_transformer.py: its own transform at each level), so with binaries e_k,
sum_k e_k = 1 and sum_k k e_k = x (which also makes x an integer), the output is sum_k table[k] e_k.
A constant code gives the table row itself (bit for bit like transform); outputs affine in k over the codes an
integer-valued input can take (OrdinalEncoder in code order, a binary one-hot with drop) are written without
binaries. LeveledModel (models/categorical_input.py) is encoded as its Pipeline with these blocks; before
XGBoost (float32 cuts at data values) each output of one code is written at its float32 value (snapped_float32).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from milp_recourse.errors import InputError
from milp_recourse.mip.ir import Affine, IRBuilder, affine_sum

CODE_TOLERANCE = 1e-6   # as models/categorical_input.py: a constant this close to an integer is that code


def _constant_code(x: Affine, k: int, name: str) -> int:
    code = round(x.const) if math.isfinite(x.const) else -1
    if abs(x.const - code) > CODE_TOLERANCE or not 0 <= code < k:
        raise InputError(f"Categorical input {name!r} is {x.const!r}; expected an integer code 0..{k - 1}.")
    return int(code)


def _is_integral(b: IRBuilder, x: Affine) -> bool:
    """Whether x only takes integer values: integer columns with integer coefficients, an integer constant."""
    return float(x.const).is_integer() and all(b.is_integer(j) and float(c).is_integer() for j, c in x.terms.items())


def code_indicators(b: IRBuilder, x: Affine, k: int, name: str, group: str) -> dict[int, Affine]:
    """{code: indicator} over the codes x can take (its bounds within 0..K-1); the indicators sum to 1 and
    sum_k k e_k = x. A constant x, or bounds holding one code, give constant indicators (the latter fixes x)."""
    if x.is_constant:
        return {_constant_code(x, k, name): Affine.constant(1.0)}
    lo, hi = b.bounds_of(x)
    first = max(0, math.ceil(lo - 1e-9)) if math.isfinite(lo) else 0
    last = min(k - 1, math.floor(hi + 1e-9)) if math.isfinite(hi) else k - 1
    codes = list(range(first, last + 1))
    if len(codes) == 1:
        b.add_eq(x, float(codes[0]), group)
        return {codes[0]: Affine.constant(1.0)}
    e = {c: Affine.column(b.add_binary(f"{group}:code[{name}={c}]")) for c in codes}
    b.add_eq(affine_sum(e.values()), 1.0, group)            # no code in the bounds: an unsatisfiable row, kept
    b.add_eq(affine_sum(v * float(c) for c, v in e.items()) - x, 0.0, group)
    return e


def _affine_in_code(table: np.ndarray, codes: Sequence[int]) -> tuple[np.ndarray, np.ndarray] | None:
    """(a, s) with table[k] == a + s k exactly for the codes given, else None."""
    if len(codes) < 2:
        return None
    k0, k1 = codes[0], codes[1]
    s = (table[k1] - table[k0]) / (k1 - k0)
    a = table[k0] - s * k0
    ok = all(np.array_equal(a + s * c, table[c]) for c in codes)
    return (a, s) if ok else None


@dataclass
class CodeIndicators:
    """The indicators made for the categorical inputs of one ColumnTransformer (input position -> {code: e}),
    and whether outputs affine in the code may skip them (lines)."""

    by_input: dict[int, dict[int, Affine]] = field(default_factory=dict)
    lines: bool = True


def encode_column(b: IRBuilder, x: Affine, table: np.ndarray, name: str, group: str, cache: CodeIndicators,
                  key: int) -> list[Affine]:
    """The encoder's outputs for one categorical input x: table[code] as affine expressions of x's indicators
    (made once per input `key` in `cache`)."""
    k = table.shape[0]
    if x.is_constant:
        row = table[_constant_code(x, k, name)]
        return [Affine.constant(float(v)) for v in row]
    made = cache.by_input
    if key not in made and cache.lines and _is_integral(b, x):
        lo, hi = b.bounds_of(x)
        codes = list(range(max(0, math.ceil(lo)) if math.isfinite(lo) else 0,
                           (min(k - 1, math.floor(hi)) if math.isfinite(hi) else k - 1) + 1))
        line = _affine_in_code(table, codes) if lo >= 0 and hi <= k - 1 else None
        if line is not None:                      # exact on the integers x can take: no binaries
            return [x * float(s) + float(a) for a, s in zip(*line)]
    if key not in made:
        made[key] = code_indicators(b, x, k, name, group)
    e = made[key]
    return [affine_sum(v * float(table[c, o]) for c, v in e.items() if table[c, o] != 0.0)
            for o in range(table.shape[1])]


def encode_block(b: IRBuilder, block: Any, inputs: Sequence[Affine], names: Sequence[str], group: str,
                 cache: CodeIndicators) -> list[Affine]:
    """An encoder block's outputs (before its `after` steps): each column's encoding, concatenated."""
    out: list[Affine] = []
    for col, table in zip(block.columns, block.codes):
        out += encode_column(b, inputs[col], table, names[col], group, cache, col)
    return out


def encode_leveled(model: Any, b: IRBuilder, inputs: Sequence[Affine], target_index: int, *, split_margin: float,
                   group: str, bounded_below: bool = False) -> Affine:
    """A LeveledModel: its ColumnTransformer with the categorical columns' levels, then its Pipeline's other
    steps and final estimator as for any Pipeline."""
    from milp_recourse.encode.classifier_registry import encode_score
    from milp_recourse.encode.scalers import transform_inputs
    from milp_recourse.models.column_transformer import is_identity

    final = model.estimator.steps[-1][1]
    steps = [s for _, s in model.estimator.steps[:-1] if not is_identity(s)]
    snap = _float32_cuts(final)
    cache = CodeIndicators(lines=not snap)
    exprs = transform_inputs(steps[0], inputs, levels=model.level_positions(), b=b, group=group, codes=cache)
    for step in steps[1:]:
        exprs = transform_inputs(step, exprs)
    if snap:
        exprs = tuple(snapped_float32(z, cache) for z in exprs)
    return encode_score(final, b, exprs, target_index, split_margin=split_margin, group=group,
                        bounded_below=bounded_below)


def _float32_cuts(final: Any) -> bool:
    """Whether final is a tree model cutting float32(x) at data values with a gap (XGBoost): its MILP regions
    allow x >= c for a cut c = float32(v), so a float64 value v just below c must be written as c."""
    from milp_recourse.models.trees import is_tree_model, to_tree_ensemble

    if not is_tree_model(final):
        return False
    ens = to_tree_ensemble(final, 1)
    return bool(ens.float32 and ens.gap > 0.0)


def snapped_float32(z: Affine, cache: CodeIndicators) -> Affine:
    """z, a function of one categorical input's indicators only, as sum_k float32(z at code k) e_k (the library
    reads float32(z), so its decisions are unchanged); any other expression as it is."""
    if z.is_constant:
        return z
    for e in cache.by_input.values():
        cols = {next(iter(v.terms)): c for c, v in e.items() if not v.is_constant}
        if cols and set(z.terms) <= set(cols) and all(v.is_constant is False for v in e.values()):
            values = {c: z.const + z.terms.get(next(iter(v.terms)), 0.0) for c, v in e.items()}
            return affine_sum(v * float(np.float32(values[c])) for c, v in e.items())
    return z


__all__ = ["CodeIndicators", "code_indicators", "encode_column", "encode_block", "encode_leveled", "snapped_float32"]
