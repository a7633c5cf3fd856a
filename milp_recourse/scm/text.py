"""Expression trees as readable text that parses back to the same tree (expr.to_text re-exports it)."""

from __future__ import annotations

import math

from milp_recourse.scm.nodes import Add, Call, Compare, Const, Div, Expr, Mul, Name, Neg, Pow, Sub, quoted

_PREC = {Compare: 0, Add: 1, Sub: 1, Mul: 2, Div: 2, Neg: 3, Pow: 4}
_SYM = {Add: "+", Sub: "-", Mul: "*", Div: "/"}


def _num(v: float) -> str:
    if math.isinf(v):
        return "1e999" if v > 0 else "-1e999"
    return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)


def _prec(e: Expr) -> int:
    if isinstance(e, Const):
        return 3 if e.value < 0 or math.copysign(1.0, e.value) < 0 else 5
    return _PREC.get(type(e), 5)


def _wrap(e: Expr, min_prec: int) -> str:
    s = to_text(e)
    return f"({s})" if _prec(e) < min_prec else s


def to_text(e: Expr) -> str:
    """Readable text that parses back to the same tree."""
    if isinstance(e, Const):
        return _num(e.value)
    if isinstance(e, Name):
        return quoted(e.id)
    if isinstance(e, Neg):
        return "-" + (f"({to_text(e.arg)})" if isinstance(e.arg, Const) else _wrap(e.arg, 3))
    if isinstance(e, Pow):
        p = _num(e.exponent)
        return f"{_wrap(e.base, 5)}**{f'({p})' if e.exponent < 0 else p}"
    if isinstance(e, Call):
        return f"{e.func}({', '.join(to_text(a) for a in e.args)})"
    if isinstance(e, Compare):
        return f"{_wrap(e.left, 1)} {e.op} {_wrap(e.right, 1)}"
    p = _PREC[type(e)]
    return f"{_wrap(e.left, p)} {_SYM[type(e)]} {_wrap(e.right, p + 1)}"


__all__ = ["to_text"]
