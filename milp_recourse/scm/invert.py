"""Abduction in closed form: each equation solved for its own noise (the noise as an expression of the variable
and its parents), or a SpecError saying why the equation cannot be inverted."""

from __future__ import annotations

from typing import Mapping

from milp_recourse.errors import SpecError
from milp_recourse.scm import functions
from milp_recourse.scm.expr import (
    Add,
    Call,
    Compare,
    Const,
    Div,
    Expr,
    Mul,
    Name,
    Neg,
    Pow,
    Sub,
    count,
    interval,
    substitute,
    to_text,
)
from milp_recourse.scm.expr import names as expr_names
from milp_recourse.scm.threshold import median_abduction, threshold_parts

_INVERTIBLE_HELP = ("abduction needs the noise exactly once, reached only through + and -, * or / by a "
                    "noise-free factor that cannot be 0, an invertible function ("
                    + ", ".join(sorted(n for n in functions.names() if functions.get(n).inverse is not None))
                    + "), or a power that is odd or has a non-negative base")


def invert(var: str, eq: Expr, noise: str, bounds: Mapping[str, tuple[float, float]]) -> Expr:
    """Closed-form inverse: the noise as an expression of the variable ``var`` and its parents."""
    def fail(reason: str) -> SpecError:
        return SpecError(f"The equation for {var!r} ({to_text(eq)}) is not strictly monotone in its noise "
                         f"{noise!r}: {reason}; {_INVERTIBLE_HELP}.")

    def nonzero(f: Expr) -> None:
        lo, hi = interval(f, bounds)
        if lo <= 0 <= hi:
            raise fail(f"the factor {to_text(f)!r} can be 0 over the domains (interval [{lo:g}, {hi:g}])")

    eta = threshold_parts(eq, noise)
    if eta is not None:   # a binary threshold node: its noise's posterior median (scm/threshold.py)
        return median_abduction(var, eta)
    uses = count(eq, noise)
    if uses != 1:
        raise fail("the noise does not occur" if uses == 0 else f"the noise occurs {uses} times")
    e, y = eq, Name(var)
    while not (isinstance(e, Name) and e.id == noise):
        if isinstance(e, Neg):
            e, y = e.arg, Neg(y)
        elif isinstance(e, (Add, Sub, Mul, Div)):
            left = noise in expr_names(e.left)
            inner, other = (e.left, e.right) if left else (e.right, e.left)
            if isinstance(e, Add):
                y = Sub(y, other)
            elif isinstance(e, Sub):
                y = Add(y, other) if left else Sub(other, y)
            elif isinstance(e, Mul):
                nonzero(other)
                y = Div(y, other)
            else:
                nonzero(other)
                y = Mul(y, other) if left else Div(other, y)
            e = inner
        elif isinstance(e, Pow):
            p = e.exponent
            if p == int(p) and int(p) % 2 == 1:
                sign = Sub(Compare(">", y, Const(0.0)), Compare("<", y, Const(0.0)))
                y = Mul(sign, Pow(Call("abs", (y,)), 1.0 / p))
            else:
                lo, _ = interval(e.base, bounds)
                if p == 0 or lo < 0:
                    raise fail(f"the power {to_text(e)!r} is even or fractional and its base can be negative")
                y = Pow(y, 1.0 / p)
            e = e.base
        elif isinstance(e, Call) and functions.get(e.func).inverse is not None:
            y = functions.get(e.func).inverse(y)
            e = e.args[0]
        else:
            what = f"{e.func}()" if isinstance(e, Call) else "a comparison" if isinstance(e, Compare) \
                else type(e).__name__
            raise fail(f"it sits inside {what}, which is not invertible")
    return substitute(y, {})


__all__ = ["invert"]
