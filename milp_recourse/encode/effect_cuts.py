"""Effect cuts: valid rows that make the LP relaxation pay for moving a counterfactual away from the factual.

With big-M intervention rows a fractional indicator lets x'_j drift from f_j(pa') for free, so the LP
bound of a causal recourse MILP is often 0. Yet every counterfactual deviation is caused by some
intervention: with D_j = |x'_j - x_j|,
    D_j = |d_j|                                      when j is intervened,
    D_j = |f_j(pa') - f_j(pa)| <= sum_q g_jq D_q     otherwise (g_jq >= |df_j/dx_q| over the box),
so D_j <= s_j + sum_q g_jq E_q =: E_j in both cases, with s_j a linear upper bound of |d_j| that the
objective pays for (p = 1: the cost epigraph t_j >= |d_j|; a grid: sum_v |v - x_j| g_v; otherwise the
big-M bound max|d_j| a_j). The rows -E_j <= x'_j - x_j <= E_j are added where they are not already
implied (a node that is intervened and structural, or nonlinear in its parents). Nodes whose equation
jumps (an indicator of a changing variable) or was approximated piecewise-linearly get no bound, and
neither does anything downstream of them.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from milp_recourse.mip.ir import Affine, IRBuilder
from milp_recourse.scm import expr as ex
from milp_recourse.scm.derivative import derivative
from milp_recourse.scm.interval import interval

GROUP = "cut:effect"
SLACK = 1e-7


def _jumps(e: ex.Expr) -> bool:
    """Whether e contains an indicator (comparison) of a changing name: a discontinuity."""
    if isinstance(e, ex.Compare):
        return bool(ex.names(e))
    return any(_jumps(c) for c in ex.children(e))


def slope_bounds(eq: ex.Expr, boxes: Mapping[str, tuple[float, float]],
                 derivatives: Mapping[str, ex.Expr] | None = None) -> dict[str, tuple[float, float]] | None:
    """Interval of df/dx_q for each changing parent q over the box (None when unbounded or discontinuous).

    `derivatives` are df/dx_q already taken (with the constants substituted, the same function): skips
    the symbolic differentiation.
    """
    if _jumps(eq):
        return None
    out = {}
    for q in sorted(ex.names(eq)):
        dq = derivatives[q] if derivatives is not None and q in derivatives else derivative(eq, q)
        lo, hi = interval(dq, boxes)
        if not (np.isfinite(lo) and np.isfinite(hi)):
            return None
        out[q] = (lo, hi)
    return out


def deviation_bound(name: str, a_cols, d_cols, t_cols, grid_cols, d_bounds, x: Mapping[str, float],
                    p: float) -> Affine | None:
    """A linear upper bound s_k >= |d_k| for an actionable feature k (see the module docstring)."""
    if name in grid_cols:
        return Affine({c: abs(v - x[name]) for c, v in grid_cols[name]})
    if p == 1 and name in t_cols:
        return Affine.column(t_cols[name])
    dlo, dhi = d_bounds[name]
    big = max(abs(dlo), abs(dhi))
    return Affine.column(a_cols[name], big) if np.isfinite(big) else None


def add_effect_cuts(b: IRBuilder, order: list[str], env: Mapping[str, Affine], x: Mapping[str, float],
                    slopes: Mapping[str, Mapping[str, tuple[float, float]] | None],
                    intervened: Mapping[str, Affine | None]) -> int:
    """Add the rows for every changing node in `order` (topological); returns how many rows were added.

    `slopes` maps each changing node that depends on changing parents to the interval of df/dx_q per
    changing parent q (slope_bounds; None where no bound holds: a jump, an approximated equation),
    `intervened` each actionable node to its |d| bound (None: unbounded), `env` each node to x'.
    """
    bound: dict[str, Affine | None] = {}
    rows = 0
    for name in order:
        own = intervened.get(name) if name in intervened else Affine.constant(0.0)
        if name not in slopes:
            bound[name] = own  # intervened only, or an equation that no longer depends on anything changing
            continue
        node = slopes[name]
        if node is None or own is None or any(bound.get(q) is None for q in node if node[q] != (0.0, 0.0)):
            bound[name] = None
            continue
        e = own
        for q, (lo, hi) in node.items():
            g = max(abs(lo), abs(hi))
            if g > 0:
                e = e + bound[q] * g
        bound[name] = e
        linear = all(lo == hi for lo, hi in node.values())
        if name in intervened or not linear:
            dev = env[name] - x[name]
            slack = SLACK * (1.0 + abs(x[name]))
            b.add_le(dev - e, slack, GROUP)
            b.add_ge(dev + e, -slack, GROUP)
            rows += 2
    return rows


__all__ = ["add_effect_cuts", "deviation_bound", "slope_bounds"]
