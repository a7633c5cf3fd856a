"""Expression trees as plain-float Python functions, built once and called per person.

Partial evaluation walked each equation tree with isinstance dispatch for every person; a tree turned into
nested closures once is evaluated several times faster, which matters when thousands of people share an SCM.
Semantics match ``expr.substitute`` folding: nan where the value is undefined (division by 0, log of a
non-positive number, overflow).
"""

from __future__ import annotations

import math
from typing import Callable, Mapping

from milp_recourse.scm import functions
from milp_recourse.scm.nodes import Add, Call, Compare, Const, Div, Expr, Mul, Name, Neg, Pow, Sub

ScalarFn = Callable[[Mapping[str, float]], float]


def _pow(base: float, k: float) -> float:
    v = math.pow(base, k)
    return v if isinstance(v, float) else math.nan


_BINARY: dict[type, Callable[[float, float], float]] = {Add: lambda a, b: a + b, Sub: lambda a, b: a - b,
                                                        Mul: lambda a, b: a * b, Div: lambda a, b: a / b}
_CMP: dict[str, Callable[[float, float], bool]] = {">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
                                                   "<": lambda a, b: a < b, "<=": lambda a, b: a <= b}


def _build(e: Expr) -> ScalarFn:
    if isinstance(e, Const):
        v = float(e.value)
        return lambda env: v
    if isinstance(e, Name):
        key = e.id
        return lambda env: env[key]
    if isinstance(e, Neg):
        arg = _build(e.arg)
        return lambda env: -arg(env)
    if isinstance(e, Pow):
        base, k = _build(e.base), float(e.exponent)
        return lambda env: _pow(base(env), k)
    if isinstance(e, Call):
        args = [_build(a) for a in e.args]
        fn = functions.get(e.func).scalar
        if len(args) == 1:
            (arg,) = args
            return lambda env: fn(arg(env))
        return lambda env: fn(*(a(env) for a in args))
    left, right = _build(e.left), _build(e.right)
    if isinstance(e, Compare):
        cmp = _CMP[e.op]
        return lambda env: float(cmp(left(env), right(env)))
    op = _BINARY[type(e)]
    return lambda env: op(left(env), right(env))


def scalar_function(e: Expr) -> ScalarFn:
    """e as a function of a {name: float} mapping returning a float (nan where e is undefined).

    A name missing from the mapping raises KeyError: callers pass every name the expression uses.
    """
    inner = _build(e)

    def value(env: Mapping[str, float]) -> float:
        try:
            v = inner(env)
        except (ZeroDivisionError, OverflowError, ValueError):
            return math.nan
        return float(v) if math.isfinite(v) else math.nan

    return value


__all__ = ["ScalarFn", "scalar_function"]
