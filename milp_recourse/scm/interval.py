"""Sound interval bounds of expression trees (the base of every big-M value derived from an SCM)."""

from __future__ import annotations

import math
from typing import Mapping

from scipy.special import expit

from milp_recourse.errors import InputError
from milp_recourse.scm.expr import INF, Add, Call, Const, Div, Expr, Mul, Name, Neg, Pow, Sub

def _mul(a: float, b: float) -> float:
    return 0.0 if a == 0.0 or b == 0.0 else a * b


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
    lo = max(lo, 0.0)
    return (pw(lo), pw(hi)) if p > 0 else (pw(hi), pw(lo))


def _exp(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:
        return INF


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
        ivs = [interval(a, bounds) for a in e.args]
        (lo, hi) = ivs[0]
        if e.func == "max":
            return max(i[0] for i in ivs), max(i[1] for i in ivs)
        if e.func == "min":
            return min(i[0] for i in ivs), min(i[1] for i in ivs)
        if e.func == "abs":
            return (lo, hi) if lo >= 0 else (-hi, -lo) if hi <= 0 else (0.0, max(-lo, hi))
        if e.func == "relu":
            return max(lo, 0.0), max(hi, 0.0)
        if e.func == "sigmoid":
            return float(expit(lo)), float(expit(hi))
        if e.func == "exp":
            return _exp(lo), _exp(hi)
        if hi <= 0:  # log of a non-positive interval has no real value
            return -INF, INF
        return (math.log(lo) if lo > 0 else -INF), math.log(hi)
    (a, b), (c, d) = interval(e.left, bounds), interval(e.right, bounds)
    if isinstance(e, Add):
        return a + c, b + d
    if isinstance(e, Sub):
        return a - d, b - c
    if isinstance(e, Mul):
        p = (_mul(a, c), _mul(a, d), _mul(b, c), _mul(b, d))
        return min(p), max(p)
    if isinstance(e, Div):
        if c <= 0 <= d:
            return -INF, INF
        p = (_mul(a, 1 / c), _mul(a, 1 / d), _mul(b, 1 / c), _mul(b, 1 / d))
        return min(p), max(p)
    if e.op in ("<", "<="):  # swap to > / >=
        (a, b), (c, d) = (c, d), (a, b)
    strict = e.op in (">", "<")
    if (a > d) if strict else (a >= d):
        return 1.0, 1.0
    if (b <= c) if strict else (b < c):
        return 0.0, 0.0
    return 0.0, 1.0


# ---------------------------------------------------------------- substitution / folding
