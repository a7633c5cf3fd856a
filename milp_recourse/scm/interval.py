"""Sound interval bounds of expression trees (the base of every big-M value derived from an SCM)."""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping

import numpy as np

from milp_recourse.errors import InputError
from milp_recourse.scm import functions
from milp_recourse.scm.nodes import INF, Add, Call, Compare, Const, Div, Expr, Mul, Name, Neg, Pow, Sub


def _mul(a: float, b: float) -> float:
    return 0.0 if a == 0.0 or b == 0.0 else a * b


def _sum_exact(a: float, b: float, s: float) -> bool:
    """Whether the float sum s = a + b is exact (Knuth's TwoSum error term is zero)."""
    if not math.isfinite(s):
        return True
    bv = s - a
    return (a - (s - bv)) + (b - bv) == 0.0


def _add(a: float, b: float, lower: bool) -> float:
    """a + b rounded outward (down for a lower bound, up for an upper one) unless the sum is exact."""
    s = a + b
    if _sum_exact(a, b, s):
        return s
    return functions.down(s) if lower else functions.up(s)


def _product_exact(a: float, b: float, p: float) -> bool:
    """A product known to be exact: a factor 0 or +-1 or a power of two, or small integers."""
    if not math.isfinite(p) or p == 0.0:
        return True
    for x in (a, b):
        if x in (1.0, -1.0) or (math.isfinite(x) and x != 0 and math.frexp(abs(x))[0] == 0.5):
            return True
    return a.is_integer() and b.is_integer() and abs(p) < 2.0 ** 53


def _outward_products(pairs: list[tuple[float, float]]) -> tuple[float, float]:
    """The hull of the products of the pairs, each rounded outward unless exact."""
    lo, hi = INF, -INF
    for a, b in pairs:
        v = _mul(a, b)
        exact = _product_exact(a, b, v)
        lo = min(lo, v if exact else functions.down(v))
        hi = max(hi, v if exact else functions.up(v))
    return lo, hi


def _ipow(lo: float, hi: float, p: float) -> tuple[float, float]:
    def pw(x: float) -> float:
        try:
            return math.pow(x, p)
        except ZeroDivisionError:
            return INF
        except OverflowError:
            return INF if x > 0 or p % 2 == 0 else -INF
    if p == 0:
        return 1.0, 1.0
    if p == int(p):
        if p > 0 and p % 2 == 1:
            return pw(lo), pw(hi)
        if p > 0:
            if lo >= 0:
                return pw(lo), pw(hi)
            if hi <= 0:
                return pw(hi), pw(lo)
            return 0.0, max(pw(lo), pw(hi))
        if lo > 0 or hi < 0:
            a, b = pw(lo), pw(hi)
            return min(a, b), max(a, b)
        return (0.0, INF) if p % 2 == 0 else (-INF, INF)
    if hi < 0:
        return -INF, INF
    if p < 0 and lo <= 0.0:   # x^p -> inf as x -> 0+ (math.pow(0, -0.5) raises): the slope of (A*A + 1)**0.5
        return (pw(hi) if hi > 0.0 else -INF), INF  # over a box where A*A's product bound reaches below 0
    lo = max(lo, 0.0)
    return (pw(lo), pw(hi)) if p > 0 else (pw(hi), pw(lo))


def interval(e: Expr, bounds: Mapping[str, tuple[float, float]]) -> tuple[float, float]:
    """Sound bounds (lo, hi) of e when each name ranges over its interval in ``bounds``."""
    if isinstance(e, Const):
        return e.value, e.value
    if isinstance(e, Name):
        if e.id not in bounds:
            raise InputError(f"No bounds for name {e.id!r}; given: {', '.join(map(str, bounds)) or '(none)'}.")
        lo, hi = (float(v) for v in bounds[e.id])
        if not lo <= hi:
            raise InputError(f"Bounds for {e.id!r} must satisfy lower <= upper; got ({lo}, {hi}).")
        return lo, hi
    if isinstance(e, Neg):
        lo, hi = interval(e.arg, bounds)
        return -hi, -lo
    if isinstance(e, Pow):
        return _ipow(*interval(e.base, bounds), e.exponent)
    if isinstance(e, Call):
        return functions.get(e.func).interval(*(interval(a, bounds) for a in e.args))
    (a, b), (c, d) = interval(e.left, bounds), interval(e.right, bounds)
    if isinstance(e, Div):
        if c <= 0 <= d:
            return -INF, INF
        lo, hi = _outward_products([(a, 1 / c), (a, 1 / d), (b, 1 / c), (b, 1 / d)])
        inexact = any(not _product_exact(1.0, 1.0 / x, 1.0 / x) for x in (c, d) if math.isfinite(x))
        return (functions.down(lo), functions.up(hi)) if inexact else (lo, hi)
    if isinstance(e, Compare):
        one, zero = _decided(e.op, a, b, c, d)
        return (1.0, 1.0) if one else (0.0, 0.0) if zero else (0.0, 1.0)
    return _arithmetic(e, a, b, c, d, _add, _outward_products)


def _arithmetic(e: Expr, a: Any, b: Any, c: Any, d: Any, add: Callable, products: Callable) -> tuple[Any, Any]:
    """[a, b] op [c, d] for +, - and *, with the rounding helpers of floats (interval) or of arrays
    (interval_arrays): rounded outward (sound bounds for NO_RECOURSE proofs despite round-off), exact results
    stay."""
    if isinstance(e, Add):
        return add(a, c, True), add(b, d, False)
    if isinstance(e, Sub):
        return add(a, -d, True), add(b, -c, False)
    return products([(a, c), (a, d), (b, c), (b, d)])


def _decided(op: str, a: Any, b: Any, c: Any, d: Any) -> tuple[Any, Any]:
    """For [a, b] op [c, d]: whether the comparison holds everywhere, and whether it fails everywhere."""
    if op in ("<", "<="):  # swap to > / >=
        (a, b), (c, d) = (c, d), (a, b)
    strict = op in (">", "<")
    return ((a > d) if strict else (a >= d)), ((b <= c) if strict else (b < c))


# ---------------------------------------------------------------- substitution / folding


# ---------------------------------------------------------------- many boxes at once
ArrayInterval = tuple[np.ndarray, np.ndarray]
_VECTOR_NODES = (Const, Name, Neg, Add, Sub, Mul, Compare)


def vectorizable(e: Expr) -> bool:
    """Whether interval_arrays takes e: constants, names, negation, +, -, * and comparisons only."""
    if not isinstance(e, _VECTOR_NODES):
        return False
    if isinstance(e, Neg):
        return vectorizable(e.arg)
    if isinstance(e, (Const, Name)):
        return True
    return vectorizable(e.left) and vectorizable(e.right)


def interval_arrays(e: Expr, bounds: Mapping[str, ArrayInterval]) -> ArrayInterval:
    """interval(e, box i's bounds) for every box i at once (bounds: name -> (lows, highs), arrays of one length):
    the same floats as interval() box by box, rounding, exactness tests and min / max order included. Only for
    trees that vectorizable() accepts; the mean-value form's slopes on the CARMA network are such trees."""
    with np.errstate(all="ignore"):
        return _iv(e, bounds)


def _iv(e: Expr, bounds: Mapping[str, ArrayInterval]) -> ArrayInterval:
    if isinstance(e, Const):
        return np.float64(e.value), np.float64(e.value)
    if isinstance(e, Name):
        if e.id not in bounds:
            raise InputError(f"No bounds for name {e.id!r}; given: {', '.join(map(str, bounds)) or '(none)'}.")
        lo, hi = (np.asarray(v, float) for v in bounds[e.id])
        bad = np.flatnonzero(~(lo <= hi))
        if bad.size:
            raise InputError(f"Bounds for {e.id!r} must satisfy lower <= upper; got ({float(lo[bad[0]])}, "
                             f"{float(hi[bad[0]])}).")
        return lo, hi
    if isinstance(e, Neg):
        lo, hi = _iv(e.arg, bounds)
        return -hi, -lo
    if not isinstance(e, (Add, Sub, Mul, Compare)):
        raise ValueError(f"interval_arrays does not take {type(e).__name__} nodes (see vectorizable)")
    (a, b), (c, d) = _iv(e.left, bounds), _iv(e.right, bounds)
    if isinstance(e, Compare):
        one, zero = _decided(e.op, a, b, c, d)
        return np.where(one, 1.0, 0.0), np.where(one | ~zero, 1.0, 0.0)
    return _arithmetic(e, a, b, c, d, _add_arrays, _outward_product_arrays)


def _add_arrays(a: np.ndarray, b: np.ndarray, lower: bool) -> np.ndarray:
    """_add on arrays."""
    s = a + b
    bv = s - a
    exact = ~np.isfinite(s) | ((a - (s - bv)) + (b - bv) == 0.0)
    return np.where(exact, s, np.nextafter(s, -INF if lower else INF))


def _unit_or_power_of_two(x: np.ndarray) -> np.ndarray:
    return (x == 1.0) | (x == -1.0) | (np.isfinite(x) & (x != 0.0) & (np.frexp(np.abs(x))[0] == 0.5))


def _integral(x: np.ndarray) -> np.ndarray:
    return np.isfinite(x) & (np.floor(x) == x)


def _outward_product_arrays(pairs: list[tuple[np.ndarray, np.ndarray]]) -> ArrayInterval:
    """_outward_products on arrays (Python's min / max keep the first of equals and skip nan: so does this)."""
    lo: np.ndarray = np.float64(INF)
    hi: np.ndarray = np.float64(-INF)
    for a, b in pairs:
        v = np.where((a == 0.0) | (b == 0.0), 0.0, a * b)
        exact = (~np.isfinite(v) | (v == 0.0) | _unit_or_power_of_two(a) | _unit_or_power_of_two(b)
                 | (_integral(a) & _integral(b) & (np.abs(v) < 2.0 ** 53)))
        low = np.where(exact, v, np.nextafter(v, -INF))
        high = np.where(exact, v, np.nextafter(v, INF))
        lo = np.where(low < lo, low, lo)
        hi = np.where(high > hi, high, hi)
    return lo, hi
