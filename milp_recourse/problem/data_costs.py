"""Data-space costs: the piecewise-linear empirical CDFs of the percentile cost and the sum / max aggregation.

Percentile cost of moving feature k from x_k to theta_k: w_k * |F_k(theta_k) - F_k(x_k)| / divisor_k, where F_k
is the continuous piecewise-linear CDF of the reference data defined by `percentile_cdf`: knots at the sorted
unique values u_1 < ... < u_m of the column with levels F(u_i) = (rows <= u_i) / n, linear between knots, flat
outside [u_1, u_m] (F = F(u_1) below, 1 above: exactly `np.interp(v, knots, levels)`). With more than
`max_knots` unique values the knots are thinned to the unique values nearest max_knots evenly spaced levels
(always keeping u_1 and u_m), and the cost IS the thinned function (the MILP encodes it exactly).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from milp_recourse.errors import InputError

COST_KINDS = ("power", "percentile")
AGGREGATES = ("sum", "max")
MAX_KNOTS = 50


@dataclass(frozen=True)
class PercentileCDF:
    """A continuous nondecreasing piecewise-linear CDF: strictly increasing knots and levels in (0, 1]."""

    knots: tuple[float, ...]
    levels: tuple[float, ...]

    def __post_init__(self) -> None:
        k = np.asarray(self.knots, float)
        lv = np.asarray(self.levels, float)
        if k.ndim != 1 or k.size == 0 or k.shape != lv.shape:
            raise InputError(f"A percentile CDF needs as many knots as levels (at least one). Got "
                             f"{len(self.knots)} knots and {len(self.levels)} levels.")
        if not (np.all(np.isfinite(k)) and np.all(np.isfinite(lv))):
            raise InputError("A percentile CDF's knots and levels must be finite numbers.")
        if np.any(np.diff(k) <= 0) or np.any(np.diff(lv) <= 0) or lv[0] <= 0 or lv[-1] > 1 + 1e-12:
            raise InputError(f"A percentile CDF needs strictly increasing knots and levels in (0, 1]. Got knots "
                             f"{self.knots!r} and levels {self.levels!r}.")
        object.__setattr__(self, "knots", tuple(map(float, k)))
        object.__setattr__(self, "levels", tuple(map(float, lv)))

    def __call__(self, values: "np.ndarray | float") -> np.ndarray:
        """F(values): linear between knots, flat outside them."""
        out: np.ndarray = np.asarray(np.interp(np.asarray(values, float), self.knots, self.levels), float)
        return out

    def shift(self, x: float, theta: "np.ndarray | float") -> np.ndarray:
        """|F(theta) - F(x)|: the percentile shift of moving from x to theta."""
        out: np.ndarray = np.abs(self(theta) - self(x))
        return out


def percentile_cdf(column: "np.ndarray | Sequence[float]", max_knots: int = MAX_KNOTS) -> PercentileCDF:
    """The (thinned) piecewise-linear empirical CDF of one column (see the module docstring)."""
    col = np.sort(np.asarray(column, float).ravel())
    if col.size == 0 or not np.all(np.isfinite(col)):
        raise InputError("A percentile CDF needs a non-empty column of finite numbers.")
    if int(max_knots) < 2:
        raise InputError(f"max_knots must be an integer >= 2. Got {max_knots!r}.")
    knots = np.unique(col)
    levels = np.searchsorted(col, knots, side="right") / col.size
    if knots.size > max_knots:
        targets = np.linspace(levels[0], 1.0, int(max_knots))
        keep = np.unique(np.concatenate([[0, knots.size - 1],
                                         np.abs(levels[None, :] - targets[:, None]).argmin(axis=1)]))
        knots, levels = knots[keep], levels[keep]
    return PercentileCDF(tuple(knots), tuple(levels))


def reference_columns(data: object, names: Sequence[str], needs: str) -> dict[str, np.ndarray]:
    """The named columns of a reference table (DataFrame, or array in `names` order) as finite float arrays;
    InputError naming a missing, non-numeric, empty or non-finite column (`needs`: who needs numbers, in words)."""
    import pandas as pd

    frame = data if isinstance(data, pd.DataFrame) else pd.DataFrame(np.asarray(data), columns=list(names))
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise InputError(f"The reference data lacks column(s) {', '.join(missing)}; it has "
                         f"{', '.join(map(str, frame.columns))}.")
    out = {}
    for n in names:
        if not pd.api.types.is_numeric_dtype(frame[n]):
            raise InputError(f"The reference data column {n!r} is not numeric; {needs}.")
        col = frame[n].to_numpy(dtype=float)
        if col.size == 0 or not np.all(np.isfinite(col)):
            raise InputError(f"The reference data column {n!r} is empty or has missing/infinite values; "
                             f"drop or impute them first.")
        out[n] = col
    return out


def percentile_cdfs(data: object, names: Sequence[str], max_knots: int = MAX_KNOTS) -> dict[str, PercentileCDF]:
    """One percentile CDF per named column of a reference table (DataFrame or array in `names` order)."""
    columns = reference_columns(data, names, "the percentile cost needs numbers")
    return {n: percentile_cdf(col, max_knots) for n, col in columns.items()}


def aggregate_costs(aggregate: str, parts: np.ndarray, additive: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Total cost per row from (n, K) per-feature costs `parts` and additive terms (L0, range penalties), counted
    where `mask` (intervened): 'sum' adds everything; 'max' takes the largest part plus the additive terms."""
    mask = np.asarray(mask, bool)
    extra = np.where(mask, additive, 0.0).sum(axis=1)
    own = np.where(mask, parts, 0.0)
    out: np.ndarray = (own.max(axis=1, initial=0.0) if aggregate == "max" else own.sum(axis=1)) + extra
    return out


def check_cdfs(cdfs: Mapping[str, object]) -> dict[str, PercentileCDF]:
    """The CDF mapping with names as strings and values PercentileCDF (else InputError naming the entry)."""
    if not isinstance(cdfs, Mapping):
        raise InputError(f"The percentile CDFs must be a mapping name -> PercentileCDF. Got {type(cdfs).__name__}.")
    out = {}
    for name, cdf in cdfs.items():
        if not isinstance(cdf, PercentileCDF):
            raise InputError(f"The percentile CDF for {name!r} must be a PercentileCDF (see percentile_cdfs). "
                             f"Got {type(cdf).__name__}.")
        out[str(name)] = cdf
    return out


__all__ = ["COST_KINDS", "AGGREGATES", "MAX_KNOTS", "PercentileCDF", "percentile_cdf", "percentile_cdfs",
           "aggregate_costs", "check_cdfs"]
