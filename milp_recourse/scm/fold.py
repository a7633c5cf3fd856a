"""Evaluating and folding expression trees: vectorised numpy values, substitution with constant folding.

Functions are evaluated through the registry (functions.py); nan where a value is undefined.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping

import numpy as np

from milp_recourse.errors import InputError
from milp_recourse.scm import functions
from milp_recourse.scm.nodes import Add, Call, Compare, Const, Div, Expr, Mul, Name, Neg, Pow, Sub, children

# ---------------------------------------------------------------- evaluation
_CMP = {">": np.greater, ">=": np.greater_equal, "<": np.less, "<=": np.less_equal}
_BINARY = {Add: np.add, Sub: np.subtract, Mul: np.multiply, Div: np.divide}


def quiet() -> np.errstate:
    """The floating-point error state of every evaluation: undefined values become nan / inf without warnings."""
    return np.errstate(divide="ignore", over="ignore", invalid="ignore")


def evaluate(e: Expr, env: Mapping[str, float | np.ndarray]) -> np.ndarray:
    """Vectorised numpy value of e; arrays in env broadcast together."""
    with quiet():
        return np.asarray(_eval(e, env), dtype=float)


Program = Callable[[Mapping[str, Any]], Any]


def compile_expr(e: Expr) -> Program:
    """e as nested closures doing _eval's numpy operations in _eval's order, so the values are the same bit for
    bit; the dispatch on node types is done once here instead of at every evaluation (the SCM passes of the
    random search and the polish evaluate the same few equations thousands of times: ~45 % less time)."""
    if isinstance(e, Const):
        value = e.value
        return lambda env: value
    if isinstance(e, Name):
        key = e.id

        def name(env: Mapping[str, Any]) -> np.ndarray:
            if key not in env:
                raise InputError(f"No value for name {key!r}; given: {', '.join(map(str, env)) or '(none)'}.")
            return np.asarray(env[key], dtype=float)
        return name
    if isinstance(e, Neg):
        arg = compile_expr(e.arg)
        return lambda env: -arg(env)
    if isinstance(e, Pow):
        base, exponent = compile_expr(e.base), e.exponent
        return lambda env: np.power(base(env), exponent)
    if isinstance(e, Call):
        fn, args = functions.get(e.func).numpy, tuple(compile_expr(a) for a in e.args)
        return lambda env: fn(*(a(env) for a in args))
    left, right = compile_expr(e.left), compile_expr(e.right)
    if isinstance(e, Compare):
        cmp = _CMP[e.op]
        return lambda env: cmp(left(env), right(env)).astype(float)
    op = _BINARY[type(e)]
    return lambda env: op(left(env), right(env))


def run(program: Program, env: Mapping[str, float | np.ndarray]) -> np.ndarray:
    """evaluate() for a compiled expression: the same value."""
    with quiet():
        return np.asarray(program(env), dtype=float)


def _eval(e: Expr, env: Mapping[str, float | np.ndarray]) -> np.ndarray | float:
    if isinstance(e, Const):
        return e.value
    if isinstance(e, Name):
        if e.id not in env:
            raise InputError(f"No value for name {e.id!r}; given: {', '.join(map(str, env)) or '(none)'}.")
        return np.asarray(env[e.id], dtype=float)
    if isinstance(e, Neg):
        return -_eval(e.arg, env)
    if isinstance(e, Pow):
        return np.power(_eval(e.base, env), e.exponent)
    if isinstance(e, Call):
        return functions.get(e.func).numpy(*(_eval(a, env) for a in e.args))
    left, right = _eval(e.left, env), _eval(e.right, env)
    if isinstance(e, Compare):
        return _CMP[e.op](left, right).astype(float)
    return _BINARY[type(e)](left, right)


def substitute(e: Expr, values: Mapping[str, float]) -> Expr:
    """Replace names by constants and constant-fold the whole tree."""
    if isinstance(e, Const):
        return e
    if isinstance(e, Name):
        return Const(values[e.id]) if e.id in values else e
    if isinstance(e, Neg):
        a = substitute(e.arg, values)
        return Const(-a.value) if isinstance(a, Const) else a.arg if isinstance(a, Neg) else Neg(a)
    if isinstance(e, Pow):
        return _fold(Pow(substitute(e.base, values), e.exponent))
    if isinstance(e, Call):
        return _fold(Call(e.func, tuple(substitute(a, values) for a in e.args)))
    left, right = substitute(e.left, values), substitute(e.right, values)
    return _fold(Compare(e.op, left, right) if isinstance(e, Compare) else type(e)(left, right))


def _const(e: Expr, value: float | None = None) -> bool:
    return isinstance(e, Const) and (value is None or e.value == value)


def _scalar(e: Expr, vals: list[float]) -> float:
    """Value of a node whose children are the constants `vals` (plain floats: per-person partial evaluation
    folds thousands of these, and numpy's per-call overhead dominated); nan where undefined."""
    try:
        if isinstance(e, Add):
            return vals[0] + vals[1]
        if isinstance(e, Sub):
            return vals[0] - vals[1]
        if isinstance(e, Mul):
            return vals[0] * vals[1]
        if isinstance(e, Div):
            return vals[0] / vals[1]
        if isinstance(e, Pow):
            v = math.pow(vals[0], e.exponent)
            return v if isinstance(v, float) else math.nan
        if isinstance(e, Compare):
            return float({">": vals[0] > vals[1], ">=": vals[0] >= vals[1], "<": vals[0] < vals[1],
                          "<=": vals[0] <= vals[1]}[e.op])
        if isinstance(e, Call):
            return float(functions.get(e.func).scalar(*vals))
    except (ZeroDivisionError, OverflowError, ValueError):
        return math.nan
    return float(evaluate(e, {}))


def _fold(e: Expr) -> Expr:
    kids = children(e)
    if kids and all(isinstance(k, Const) for k in kids):
        v = _scalar(e, [k.value for k in kids])
        return Const(v) if math.isfinite(v) else e
    if isinstance(e, Pow):
        return e.base if e.exponent == 1 else Const(1.0) if e.exponent == 0 else e
    if isinstance(e, Call) and e.func in ("max", "min"):
        consts = [k.value for k in kids if isinstance(k, Const)]
        if len(consts) > 1:
            best = max(consts) if e.func == "max" else min(consts)
            return Call(e.func, tuple(k for k in kids if not isinstance(k, Const)) + (Const(best),))
        return e
    if isinstance(e, (Add, Sub, Mul)):
        merged = _merge_constants(e)
        if merged is not None:
            return merged
    if isinstance(e, Add):
        return e.right if _const(e.left, 0) else e.left if _const(e.right, 0) else e
    if isinstance(e, Sub):
        if isinstance(e.right, Const) and e.right.value < 0:
            return Add(e.left, Const(-e.right.value))
        return e.left if _const(e.right, 0) else Neg(e.right) if _const(e.left, 0) else e
    if isinstance(e, Mul):
        if _const(e.left, 0) or _const(e.right, 0):
            return Const(0.0)
        if _const(e.left, 1) or _const(e.right, 1):
            return e.right if _const(e.left, 1) else e.left
        if _const(e.left, -1) or _const(e.right, -1):
            return Neg(e.right if _const(e.left, -1) else e.left)
        return e
    if isinstance(e, Div):
        return e.left if _const(e.right, 1) else e
    return e


def _flatten(e: Expr, sign: float, add: bool) -> list[tuple[float, Expr]]:
    """Signed terms of a +/- chain (add=True) or factors of a product chain."""
    if add and isinstance(e, (Add, Sub)):
        return _flatten(e.left, sign, add) + _flatten(e.right, sign if isinstance(e, Add) else -sign, add)
    if not add and isinstance(e, Mul):
        return _flatten(e.left, sign, add) + _flatten(e.right, sign, add)
    return [(sign, e)]


def _merge_constants(e: Expr) -> Expr | None:
    """Collect the constants of a sum or product chain into one (None when there is nothing to merge)."""
    add = not isinstance(e, Mul)
    items = _flatten(e, 1.0, add)
    consts = [s * t.value if add else t.value for s, t in items if isinstance(t, Const)]
    if len(consts) < 2:
        return None
    rest = [(s, t) for s, t in items if not isinstance(t, Const)]
    c = sum(consts) if add else math.prod(consts)
    if not rest or (not add and c == 0):
        return Const(c)
    out: Expr = rest[0][1] if rest[0][0] > 0 else Neg(rest[0][1])
    for s, t in rest[1:]:
        out = (Add if s > 0 else Sub)(out, t) if add else Mul(out, t)
    if add:
        return out if c == 0 else Add(out, Const(c)) if c > 0 else Sub(out, Const(-c))
    return out if c == 1 else Mul(Const(c), out)



__all__ = ["evaluate", "substitute", "compile_expr", "run", "quiet", "Program"]
