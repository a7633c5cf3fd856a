"""Exact MILP terms of the data-space costs: the percentile shift |F(x + d) - F(x)| and the max aggregate.

The percentile shift of one feature is piecewise linear in the shift d but not convex (F is any nondecreasing
piecewise-linear CDF), so it is encoded by the incremental (delta) formulation over its own breakpoints: the
CDF's knots inside the allowed range of theta = x + d, plus x and both ends b_0 < ... < b_n. With
delta_i in [0, 1] and binaries z_i (delta_{i+1} <= z_i <= delta_i) the segments fill in order, so
theta = b_0 + sum_i delta_i (b_i - b_{i-1}) and t = g(b_0) + sum_i delta_i (g(b_i) - g(b_{i-1})) equal
theta and g(theta) exactly at every feasible point (g linear between consecutive breakpoints): no
approximation, n - 1 binaries for n segments.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from milp_recourse.errors import UnsupportedError
from milp_recourse.mip.ir import Affine, IRBuilder
from milp_recourse.problem.data_costs import PercentileCDF


def percentile_breakpoints(cdf: PercentileCDF, x: float, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
    """Breakpoints b_0 = lo < ... < b_n = hi of g(theta) = |F(theta) - F(x)| on [lo, hi] (x included when
    inside), and g at each."""
    knots = np.asarray(cdf.knots)
    inner = knots[(knots > lo) & (knots < hi)]
    pts = np.unique(np.concatenate([[lo, hi], inner, [x] if lo < x < hi else []]))
    return pts, cdf.shift(x, pts)


def percentile_window(cdf: PercentileCDF, x: float, radius: float) -> tuple[float, float]:
    """The interval of theta with |F(theta) - F(x)| <= radius (ends may be infinite): F is strictly increasing
    between its knots and flat outside, so each end is F's inverse at F(x) -+ radius, or unbounded past a flat tail."""
    fx = float(cdf(x))
    levels, knots = np.asarray(cdf.levels), np.asarray(cdf.knots)
    up, down = fx + radius, fx - radius
    hi = math.inf if up >= levels[-1] else float(np.interp(up, levels, knots))
    lo = -math.inf if down <= levels[0] else float(np.interp(down, levels, knots))
    return min(lo, x), max(hi, x)


def percentile_term(b: IRBuilder, name: str, d: Affine, x: float, dlo: float, dhi: float,
                    cdf: PercentileCDF) -> Affine:
    """An expression equal to |F(x + d) - F(x)| for every d in [dlo, dhi] (rows tie it to d; see the module
    docstring). Refuses an unbounded range: the SCM domain must be finite."""
    if not (math.isfinite(dlo) and math.isfinite(dhi)):
        raise UnsupportedError(f"The percentile cost of {name!r} needs a finite domain; its shift may range over "
                               f"[{dlo:g}, {dhi:g}].")
    pts, g = percentile_breakpoints(cdf, x, x + dlo, x + dhi)
    if len(pts) < 2:
        return Affine.constant(0.0)
    group = f"cost:{name}"
    deltas = [b.add_var(f"pc[{name}].delta{i}", 0.0, 1.0) for i in range(1, len(pts))]
    for i in range(len(deltas) - 1):
        z = b.add_binary(f"pc[{name}].z{i + 1}")
        b.add_le(Affine.column(deltas[i + 1]) - Affine.column(z), 0.0, group)   # delta_{i+1} <= z_i
        b.add_le(Affine.column(z) - Affine.column(deltas[i]), 0.0, group)       # z_i <= delta_i
    steps = np.diff(pts)
    rises = np.diff(g)
    theta = Affine({j: float(s) for j, s in zip(deltas, steps)}, float(pts[0]))
    b.add_eq(theta - d, x, group)   # x + d = b_0 + sum delta_i (b_i - b_{i-1})
    t = b.add_var(f"pc[{name}]", 0.0, float(g.max()))
    b.add_eq(Affine.column(t) - Affine({j: float(r) for j, r in zip(deltas, rises)}), float(g[0]), group)
    return Affine.column(t)


def add_max_objective(b: IRBuilder, terms: Mapping[str, Affine], upper: float) -> int | None:
    """Objective += z with z >= each term (the max aggregate's epigraph); None when there is no term."""
    if not terms:
        return None
    z = b.add_var("cost:max", 0.0, max(upper, 0.0))
    for name, term in terms.items():
        b.add_ge(Affine.column(z) - term, 0.0, f"cost:max:{name}")
    b.add_objective(Affine.column(z))
    return z


__all__ = ["percentile_window", "percentile_breakpoints", "percentile_term", "add_max_objective"]
