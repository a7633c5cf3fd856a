"""Exact MILP building blocks shared by the SCM and classifier encoders.

relu / max / min / abs / indicators / binary*continuous products are exact with one binary
each; big-M values come only from the builder's interval bounds. Smooth univariate functions
are piecewise-linear (SOS2 via binaries) with a measured approximation error.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from milp_recourse.errors import UnsupportedError
from milp_recourse.mip.ir import INF, Affine, IRBuilder


def _finite(lo: float, hi: float, what: str) -> None:
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise UnsupportedError(
            f"Cannot bound {what}: its interval is [{lo}, {hi}]. Give every variable finite domain bounds "
            "in the SCM spec so big-M values can be derived.")


def _unit_input(b: IRBuilder, y: Affine, name: str) -> tuple[Affine | None, float, float]:
    """A ReLU input's (hinted) interval, and the unit's exact value when that interval is one-signed."""
    lo, hi = b.hinted_bounds(name, y)
    if hi <= 0.0:
        return Affine.constant(0.0), lo, hi
    if lo >= 0.0:
        return y, lo, hi
    _finite(lo, hi, name)
    return None, lo, hi


def relu(b: IRBuilder, y: Affine, name: str, group: str) -> Affine:
    """max(y, 0), exact; stable cases need no binary. Bound hints named `name` tighten the big-M."""
    stable, lo, hi = _unit_input(b, y, name)
    if stable is not None:
        return stable
    b.tighten_targets[name] = y
    h = b.add_var(name, 0.0, hi)
    z = b.add_binary(name + ".on")
    H = Affine.column(h)
    b.add_ge(H - y, 0.0, group)                                  # h >= y
    b.add_le(H - Affine.column(z, hi), 0.0, group)               # h <= hi * z
    b.add_le(H - y - Affine.column(z, lo), -lo, group)           # h <= y - lo * (1 - z)
    return H


def relu_epigraph(b: IRBuilder, y: Affine, name: str, group: str) -> Affine:
    """A column h >= max(y, 0) (no binary): exact where h is only ever pushed down (see encode/mlp.py)."""
    stable, _, hi = _unit_input(b, y, name)
    if stable is not None:
        return stable
    H = Affine.column(b.add_var(name, 0.0, hi))
    b.add_ge(H - y, 0.0, group)                                  # h >= y (and h >= 0 by its bound)
    return H


def maximum(b: IRBuilder, y1: Affine, y2: Affine, name: str, group: str) -> Affine:
    return y2 + relu(b, y1 - y2, name, group)


def minimum(b: IRBuilder, y1: Affine, y2: Affine, name: str, group: str) -> Affine:
    return y1 - relu(b, y1 - y2, name, group)


def absolute(b: IRBuilder, y: Affine, name: str, group: str) -> Affine:
    """|y| = 2 relu(y) - y."""
    return relu(b, y, name, group) * 2.0 - y


def indicator(b: IRBuilder, y: Affine, strict: bool, name: str, group: str, eps: float = 1e-6) -> Affine:
    """Binary equal to [y > 0] (strict) or [y >= 0]; the ambiguity band has width eps."""
    lo, hi = b.bounds_of(y)
    if (strict and lo > 0.0) or (not strict and lo >= 0.0):
        return Affine.constant(1.0)
    if (strict and hi <= 0.0) or (not strict and hi < 0.0):
        return Affine.constant(0.0)
    _finite(lo, hi, name)
    z = b.add_binary(name)
    Z = Affine.column(z)
    if strict:
        b.add_le(y - Z * hi, 0.0, group)                         # z = 0 -> y <= 0
        b.add_ge(y - Z * (eps - lo), lo, group)                  # z = 1 -> y >= eps
    else:
        b.add_le(y - Z * (hi + eps), -eps, group)                # z = 0 -> y <= -eps
        b.add_ge(y + Z * lo, lo, group)                          # z = 1 -> y >= 0
    return Z


def binary_times(b: IRBuilder, z: Affine, y: Affine, name: str, group: str) -> Affine:
    """Exact product of a 0/1 expression z and a bounded expression y."""
    lo, hi = b.bounds_of(y)
    _finite(lo, hi, name)
    w = b.add_var(name, min(lo, 0.0), max(hi, 0.0))
    W = Affine.column(w)
    b.add_le(W - z * hi, 0.0, group)
    b.add_ge(W - z * lo, 0.0, group)
    b.add_le(W - y - z * lo, -lo, group)     # w <= y - lo (1 - z)
    b.add_ge(W - y - z * hi, -hi, group)     # w >= y - hi (1 - z)
    return W


def pinned(b: IRBuilder, e: Affine) -> Affine:
    """e as a constant when every column in it is fixed (equal bounds: a shift the cost budget pins to 0), else e."""
    if not e.terms:
        return e
    ends = [b.var_bounds(j) for j in e.terms]
    if any(lo != hi for lo, hi in ends):
        return e
    return Affine.constant(e.const + sum(c * lo for c, (lo, _) in zip(e.terms.values(), ends)))


def two_valued(b: IRBuilder, e: Affine) -> tuple[float, float, Affine] | None:
    """(v0, v1, t) when e takes only the values v0 + (v1 - v0) t, t a 0/1 expression: one integer column with two
    values (a binary, a binary intervened on as 1 + d with d in {-1, 0}), scaled and shifted; else None."""
    if len(e.terms) != 1:
        return None
    (j, c), = e.terms.items()
    lo, hi = b.var_bounds(j)
    if not (b.is_integer(j) and np.isfinite(lo) and float(lo).is_integer() and hi == lo + 1.0):
        return None
    t = Affine.column(j) - lo
    return e.const + c * lo, e.const + c * hi, t


def is_binary_expr(b: IRBuilder, e: Affine) -> bool:
    """True when e is a single 0/1 integer column (or 1 - such a column)."""
    if len(e.terms) != 1:
        return False
    (j, c), = e.terms.items()
    if not (b.is_integer(j) and b.var_bounds(j) == (0.0, 1.0)):
        return False
    return (c == 1.0 and e.const == 0.0) or (c == -1.0 and e.const == 1.0)


def pwl_error(fn: Callable[[np.ndarray], np.ndarray], points: np.ndarray, samples_per_segment: int = 256) -> float:
    """Largest |fn - interpolant| on a dense grid in every segment."""
    worst = 0.0
    vals = fn(points)
    for i in range(len(points) - 1):
        t = np.linspace(points[i], points[i + 1], samples_per_segment)
        interp = vals[i] + (vals[i + 1] - vals[i]) * (t - points[i]) / max(points[i + 1] - points[i], 1e-300)
        worst = max(worst, float(np.max(np.abs(fn(t) - interp))))
    return worst


def pwl_univariate(b: IRBuilder, t: Affine, fn: Callable[[np.ndarray], np.ndarray], n_breakpoints: int,
                   name: str, group: str) -> tuple[Affine, float]:
    """y ~= fn(t) by interpolation on n evenly spaced breakpoints over t's interval (SOS2 with binaries).

    Returns the affine y and the measured max interpolation error.
    """
    lo, hi = b.bounds_of(t)
    _finite(lo, hi, name)
    if hi - lo <= 1e-12:
        return Affine.constant(float(fn(np.array([0.5 * (lo + hi)]))[0])), 0.0
    pts = np.linspace(lo, hi, max(int(n_breakpoints), 2))
    vals = np.asarray(fn(pts), dtype=float)
    if not np.all(np.isfinite(vals)):
        raise UnsupportedError(f"{name}: the function is not finite on [{lo:g}, {hi:g}].")
    k = len(pts)
    lam = [b.add_var(f"{name}.lam{i}", 0.0, 1.0) for i in range(k)]
    seg = [b.add_binary(f"{name}.seg{i}") for i in range(k - 1)]
    b.add_eq(Affine({j: 1.0 for j in lam}), 1.0, group)
    b.add_eq(Affine({j: 1.0 for j in seg}), 1.0, group)
    for i, j in enumerate(lam):
        adj = [seg[s] for s in (i - 1, i) if 0 <= s < k - 1]
        b.add_le(Affine.column(j) - Affine({s: 1.0 for s in adj}), 0.0, group)
    b.add_eq(t - Affine({j: float(p) for j, p in zip(lam, pts)}), 0.0, group)
    # a column with the interpolant's true range, so downstream intervals stay tight
    y = b.add_var(f"{name}.y", float(vals.min()), float(vals.max()))
    b.add_eq(Affine.column(y) - Affine({j: float(v) for j, v in zip(lam, vals)}), 0.0, group)
    return Affine.column(y), pwl_error(fn, pts)


__all__ = ["INF", "relu", "relu_epigraph", "maximum", "minimum", "absolute", "indicator", "binary_times", "is_binary_expr", "pinned",
           "two_valued", "pwl_univariate", "pwl_error"]
