"""Structural equations as a small immutable expression tree, parsed with ``ast`` (never eval).

Operations: numpy evaluation, substitution with constant folding and a round-trippable text form;
sound interval bounds (interval.py) and symbolic derivatives (derivative.py) are re-exported here.
"""

from __future__ import annotations

import ast
import keyword
import math
import re
from dataclasses import dataclass
from functools import reduce
from typing import Iterable, Mapping

import numpy as np
from scipy.special import expit

from milp_recourse.errors import InputError, SpecError

FUNCTIONS = frozenset({"max", "min", "abs", "relu", "sigmoid", "exp", "log"})
COMPARE_OPS = frozenset({">", ">=", "<", "<="})
INF = math.inf


class Expr:
    """Base class of all expression nodes (immutable, hashable, comparable)."""

    __slots__ = ()

    def __str__(self) -> str:
        return to_text(self)


@dataclass(frozen=True)
class Const(Expr):
    value: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", float(self.value))


@dataclass(frozen=True)
class Name(Expr):
    id: str


@dataclass(frozen=True)
class Neg(Expr):
    arg: Expr


@dataclass(frozen=True)
class _Binary(Expr):
    left: Expr
    right: Expr


class Add(_Binary):
    """left + right"""


class Sub(_Binary):
    """left - right"""


class Mul(_Binary):
    """left * right"""


class Div(_Binary):
    """left / right"""


@dataclass(frozen=True)
class Pow(Expr):
    base: Expr
    exponent: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "exponent", float(self.exponent))


@dataclass(frozen=True)
class Call(Expr):
    func: str
    args: tuple[Expr, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "args", tuple(self.args))
        if self.func not in FUNCTIONS:
            raise SpecError(f"Unknown function {self.func!r}; expected one of {', '.join(sorted(FUNCTIONS))}.")
        n = len(self.args)
        if self.func in ("max", "min") and n < 2:
            raise SpecError(f"{self.func}() takes at least 2 arguments; got {n}.")
        if self.func not in ("max", "min") and n != 1:
            raise SpecError(f"{self.func}() takes exactly 1 argument; got {n}.")


@dataclass(frozen=True)
class Compare(Expr):
    op: str
    left: Expr
    right: Expr

    def __post_init__(self) -> None:
        if self.op not in COMPARE_OPS:
            raise SpecError(f"Unknown comparison {self.op!r}; expected one of > >= < <=.")


_BINOPS = {ast.Add: Add, ast.Sub: Sub, ast.Mult: Mul, ast.Div: Div}
_CMPOPS = {ast.Gt: ">", ast.GtE: ">=", ast.Lt: "<", ast.LtE: "<="}
_NORMALISE = {"\u2212": "-", "\u00b7": "*", "\u00d7": "*", "\u2013": "-"}


def quoted(name: str) -> str:
    """``name`` as it is written in an equation: bare if it is a plain identifier, else in backticks."""
    return name if name.isidentifier() and not keyword.iskeyword(name) else f"`{name}`"


def _unquote(text: str) -> tuple[str, dict[str, str]]:
    """Replace each backtick-quoted name (e.g. `co-applicant`, as in pandas.query) by a fresh identifier."""
    if text.count("`") % 2:
        raise SpecError(f"Equation {text!r} has an unmatched backtick; quote a name as `co-applicant`.")
    stem = "_q"
    while stem in text:
        stem += "_"
    found: dict[str, str] = {}

    def swap(m: re.Match[str]) -> str:
        name = m.group(1)
        if not name or name != name.strip() or "\n" in name:
            raise SpecError(f"Equation {text!r}: the quoted name `{name}` must be non-empty, on one line and "
                            f"without leading or trailing spaces.")
        key = next((k for k, v in found.items() if v == name), None) or f"{stem}{len(found)}"
        found[key] = name
        return f" {key} "
    return re.sub(r"`([^`]*)`", swap, text), found


def parse(text: str, allowed_names: Iterable[str] | None = None) -> Expr:
    """Parse an equation string into an Expr; SpecError names any unsupported construct.

    Names that are not Python identifiers (``co-applicant``, ``hours per week``) are written in backticks.
    """
    if not isinstance(text, str) or not text.strip():
        raise SpecError(f"An equation must be a non-empty string; got {text!r}.")
    src, quotes = _unquote(text)
    for bad, good in _NORMALISE.items():
        src = src.replace(bad, good)
    try:
        tree = ast.parse(src.strip(), mode="eval")
    except SyntaxError as exc:
        raise SpecError(f"Equation {text!r} is not a valid expression: {exc.msg}.") from None
    allowed = None if allowed_names is None else frozenset(allowed_names)
    return _Parser(src.strip(), text, allowed, quotes).visit(tree.body)


class _Parser:
    def __init__(self, src: str, original: str, allowed: frozenset[str] | None,
                 quotes: Mapping[str, str] | None = None) -> None:
        self.src, self.original, self.allowed = src, original, allowed
        self.quotes = dict(quotes or {})

    def fail(self, node: ast.AST, what: str) -> SpecError:
        seg = ast.get_source_segment(self.src, node) or type(node).__name__
        for key, name in self.quotes.items():
            seg = re.sub(rf"\b{re.escape(key)}\b", f"`{name}`", seg)
        return SpecError(f"Equation {self.original!r}: {what} in {seg.strip()!r}.")

    def visit(self, node: ast.AST) -> Expr:
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
                raise self.fail(node, f"unsupported constant {node.value!r} (only numbers are allowed)")
            return Const(node.value)
        if isinstance(node, ast.Name):
            name = self.quotes.get(node.id, node.id)
            if self.allowed is not None and name not in self.allowed:
                known = ", ".join(sorted(self.allowed)) or "(none)"
                raise SpecError(f"Equation {self.original!r} uses unknown name {name!r}; known: {known}.")
            return Name(name)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            arg = self.visit(node.operand)
            if isinstance(node.op, ast.UAdd):
                return arg
            return Const(-arg.value) if isinstance(arg, Const) else Neg(arg)
        if isinstance(node, ast.BinOp):
            if isinstance(node.op, ast.BitXor):
                raise self.fail(node, "'^' is not a power (use '**', e.g. x**2)")
            if isinstance(node.op, ast.Pow):
                return Pow(self.visit(node.left), self.exponent(node.right, node))
            if type(node.op) not in _BINOPS:
                raise self.fail(node, f"unsupported operator {type(node.op).__name__} (allowed: + - * / **)")
            return _BINOPS[type(node.op)](self.visit(node.left), self.visit(node.right))
        if isinstance(node, ast.Call):
            return self.call(node)
        if isinstance(node, ast.Compare):
            if len(node.ops) != 1:
                raise self.fail(node, "chained comparisons are not supported (write one comparison per indicator)")
            op = _CMPOPS.get(type(node.ops[0]))
            if op is None:
                raise self.fail(node, "unsupported comparison (allowed: > >= < <=)")
            return Compare(op, self.visit(node.left), self.visit(node.comparators[0]))
        kind = {ast.Attribute: "attribute access", ast.Subscript: "subscripts", ast.Lambda: "lambda",
                ast.BoolOp: "boolean operators (and/or)", ast.IfExp: "conditional expressions"}
        raise self.fail(node, f"unsupported construct: {kind.get(type(node), type(node).__name__)}")

    def exponent(self, node: ast.AST, parent: ast.AST) -> float:
        folded = substitute(self.visit(node), {})
        if not isinstance(folded, Const):
            raise self.fail(parent, "the exponent must be a numeric constant")
        return folded.value

    def call(self, node: ast.Call) -> Expr:
        if not isinstance(node.func, ast.Name) or node.func.id in self.quotes:
            raise self.fail(node, "only plain function calls are allowed")
        func = node.func.id
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            raise self.fail(node, f"{func}() takes positional arguments only")
        if func == "pow":
            if len(node.args) != 2:
                raise self.fail(node, f"pow() takes exactly 2 arguments; got {len(node.args)}")
            return Pow(self.visit(node.args[0]), self.exponent(node.args[1], node))
        if func not in FUNCTIONS:
            raise self.fail(node, f"unknown function {func!r}; allowed: {', '.join(sorted(FUNCTIONS | {'pow'}))}")
        args = tuple(self.visit(a) for a in node.args)
        if func in ("max", "min") and len(args) < 2:
            raise self.fail(node, f"{func}() takes at least 2 arguments; got {len(args)}")
        if func not in ("max", "min") and len(args) != 1:
            raise self.fail(node, f"{func}() takes exactly 1 argument; got {len(args)}")
        return Call(func, args)


def names(e: Expr) -> frozenset[str]:
    """All variable/noise names occurring in e."""
    if isinstance(e, Name):
        return frozenset({e.id})
    return frozenset().union(*(names(c) for c in children(e)))


def children(e: Expr) -> tuple[Expr, ...]:
    """Direct sub-expressions of e."""
    if isinstance(e, (Const, Name)):
        return ()
    if isinstance(e, Neg):
        return (e.arg,)
    if isinstance(e, Pow):
        return (e.base,)
    if isinstance(e, Call):
        return e.args
    return (e.left, e.right)


def count(e: Expr, name: str) -> int:
    """Number of occurrences of ``name`` in e."""
    if isinstance(e, Name):
        return int(e.id == name)
    return sum(count(c, name) for c in children(e))


# ---------------------------------------------------------------- evaluation
_UNARY = {"abs": np.abs, "relu": lambda x: np.maximum(x, 0.0), "sigmoid": expit, "exp": np.exp, "log": np.log}
_CMP = {">": np.greater, ">=": np.greater_equal, "<": np.less, "<=": np.less_equal}


def evaluate(e: Expr, env: Mapping[str, float | np.ndarray]) -> np.ndarray:
    """Vectorised numpy value of e; arrays in env broadcast together."""
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        return np.asarray(_eval(e, env), dtype=float)


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
        args = [_eval(a, env) for a in e.args]
        if e.func == "max":
            return reduce(np.maximum, args)
        if e.func == "min":
            return reduce(np.minimum, args)
        return _UNARY[e.func](args[0])
    left, right = _eval(e.left, env), _eval(e.right, env)
    if isinstance(e, Compare):
        return _CMP[e.op](left, right).astype(float)
    return {Add: np.add, Sub: np.subtract, Mul: np.multiply, Div: np.divide}[type(e)](left, right)


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
            f, v = e.func, vals[0]
            if f in ("max", "min"):
                return max(vals) if f == "max" else min(vals)
            if f == "abs":
                return abs(v)
            if f == "relu":
                return max(v, 0.0)
            if f == "sigmoid":
                return 1.0 / (1.0 + math.exp(-v)) if v >= 0 else math.exp(v) / (1.0 + math.exp(v))
            if f == "exp":
                return math.exp(v)
            if f == "log":
                return math.log(v)
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


def name_free(e: Expr, name: str) -> bool:
    """True if ``name`` does not occur in e."""
    return count(e, name) == 0


__all__ = ["Expr", "Const", "Name", "Neg", "Add", "Sub", "Mul", "Div", "Pow", "Call", "Compare", "FUNCTIONS",
           "COMPARE_OPS", "parse", "quoted", "evaluate", "interval", "substitute", "names", "to_text", "derivative",
           "children", "count"]


# interval arithmetic, derivatives and text live in their own modules; re-exported so `expr.interval` keeps working
from milp_recourse.scm.derivative import derivative  # noqa: E402,F401
from milp_recourse.scm.interval import interval  # noqa: E402,F401
from milp_recourse.scm.text import to_text  # noqa: E402,F401
