"""Symbolic (almost-everywhere) derivatives of expression trees, for change-of-variables densities."""

from __future__ import annotations

from milp_recourse.errors import SpecError
from milp_recourse.scm import functions
from milp_recourse.scm.fold import substitute
from milp_recourse.scm.nodes import Add, Call, Compare, Const, Div, Expr, Mul, Name, Neg, Pow, Sub, name_free


def derivative(e: Expr, name: str) -> Expr:
    """Symbolic (almost-everywhere) partial derivative of e with respect to ``name``."""
    return substitute(_d(e, name), {})


def _d(e: Expr, x: str) -> Expr:
    if name_free(e, x):
        return Const(0.0)
    if isinstance(e, Name):
        return Const(1.0)
    if isinstance(e, Neg):
        return Neg(_d(e.arg, x))
    if isinstance(e, (Add, Sub)):
        return type(e)(_d(e.left, x), _d(e.right, x))
    if isinstance(e, Mul):
        return Add(Mul(_d(e.left, x), e.right), Mul(e.left, _d(e.right, x)))
    if isinstance(e, Div):
        num = Sub(Mul(_d(e.left, x), e.right), Mul(e.left, _d(e.right, x)))
        return Div(num, Pow(e.right, 2))
    if isinstance(e, Pow):
        return Mul(Mul(Const(e.exponent), Pow(e.base, e.exponent - 1)), _d(e.base, x))
    if isinstance(e, Compare):
        return Const(0.0)
    if not isinstance(e, Call):
        raise SpecError(f"Cannot differentiate unknown expression node {e!r}.")
    if e.func in ("max", "min"):
        strict, loose = (">", ">=") if e.func == "max" else ("<", "<=")
        total: Expr = Const(0.0)
        for i, a in enumerate(e.args):  # a_i wins if it beats earlier args strictly, later ones weakly
            ind: Expr = Const(1.0)
            for j, b in enumerate(e.args):
                if j != i:
                    ind = Mul(ind, Compare(strict if j < i else loose, a, b))
            total = Add(total, Mul(ind, _d(a, x)))
        return total
    fn = functions.get(e.func)
    if fn.derivative is None:
        raise SpecError(f"Cannot differentiate {e.func}() with {len(e.args)} argument(s).")
    a = e.args[0]
    return Mul(fn.derivative(e, a), _d(a, x))
