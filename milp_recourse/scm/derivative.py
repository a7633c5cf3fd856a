"""Symbolic (almost-everywhere) derivatives of expression trees, for change-of-variables densities."""

from __future__ import annotations

from milp_recourse.errors import SpecError
from milp_recourse.scm import functions
from milp_recourse.scm.fold import substitute
from milp_recourse.scm.nodes import Add, Call, Compare, Const, Div, Expr, Mul, Name, Neg, Pow, Sub, children


def derivative(e: Expr, name: str) -> Expr:
    """Symbolic (almost-everywhere) partial derivative of e with respect to ``name``."""
    has: set[int] = set()
    _mark(e, name, has)
    return substitute(_d(e, name, has), {})


def _mark(e: Expr, x: str, has: set[int]) -> bool:
    """Whether x occurs in e, recording id() of every sub-expression it occurs in: one pass over the tree, where
    asking each node of the derivative's recursion anew was quadratic (a 200-node linear SCM's effect-cut slopes
    took 4 s of its compile)."""
    found = e.id == x if isinstance(e, Name) else any([_mark(c, x, has) for c in children(e)])
    if found:
        has.add(id(e))
    return found


def _d(e: Expr, x: str, has: set[int]) -> Expr:
    if id(e) not in has:   # x does not occur in e
        return Const(0.0)
    if isinstance(e, Name):
        return Const(1.0)
    if isinstance(e, Neg):
        return Neg(_d(e.arg, x, has))
    if isinstance(e, (Add, Sub)):
        return type(e)(_d(e.left, x, has), _d(e.right, x, has))
    if isinstance(e, Mul):
        return Add(Mul(_d(e.left, x, has), e.right), Mul(e.left, _d(e.right, x, has)))
    if isinstance(e, Div):
        num = Sub(Mul(_d(e.left, x, has), e.right), Mul(e.left, _d(e.right, x, has)))
        return Div(num, Pow(e.right, 2))
    if isinstance(e, Pow):
        return Mul(Mul(Const(e.exponent), Pow(e.base, e.exponent - 1)), _d(e.base, x, has))
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
            total = Add(total, Mul(ind, _d(a, x, has)))
        return total
    fn = functions.get(e.func)
    if fn.derivative is None:
        raise SpecError(f"Cannot differentiate {e.func}() with {len(e.args)} argument(s).")
    a = e.args[0]
    return Mul(fn.derivative(e, a), _d(a, x, has))
