"""Structural equations as a small immutable expression tree, parsed with ``ast`` (never eval).

Operations: numpy evaluation, substitution with constant folding and a round-trippable text form;
sound interval bounds (interval.py) and symbolic derivatives (derivative.py) are re-exported here.
"""

from __future__ import annotations

import ast
import math
import re
from typing import Iterable, Mapping

from milp_recourse.errors import SpecError
from milp_recourse.scm import functions
from milp_recourse.scm.derivative import derivative
from milp_recourse.scm.fold import evaluate, substitute
from milp_recourse.scm.interval import interval
from milp_recourse.scm.nodes import (
    COMPARE_OPS,
    INF,
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
    children,
    count,
    name_free,
    names,
    quoted,
)
from milp_recourse.scm.text import to_text

_BINOPS = {ast.Add: Add, ast.Sub: Sub, ast.Mult: Mul, ast.Div: Div}
_CMPOPS = {ast.Gt: ">", ast.GtE: ">=", ast.Lt: "<", ast.LtE: "<="}
_NORMALISE = {"\u2212": "-", "\u00b7": "*", "\u00d7": "*", "\u2013": "-"}


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
            try:
                finite = math.isfinite(node.value)
            except OverflowError:   # an integer beyond any float
                finite = False
            if not finite:
                raise self.fail(node, "a constant too large for a float (it would be infinite); expected a finite "
                                      "number")
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
            right = self.visit(node.right)
            if isinstance(node.op, ast.Div):
                folded = substitute(right, {})
                if isinstance(folded, Const) and folded.value == 0:
                    raise self.fail(node, "a division by the constant 0 (infinite for every input)")
            return _BINOPS[type(node.op)](self.visit(node.left), right)
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
        problem = functions.check_call(func, len(node.args))
        if problem is not None:
            raise self.fail(node, problem)
        return Call(func, tuple(self.visit(a) for a in node.args))


FUNCTIONS = functions.names()   # the function names of the equation language (the registry's)

__all__ = ["Expr", "Const", "Name", "Neg", "Add", "Sub", "Mul", "Div", "Pow", "Call", "Compare", "FUNCTIONS",
           "COMPARE_OPS", "INF", "parse", "quoted", "evaluate", "interval", "substitute", "names", "to_text",
           "derivative", "children", "count", "name_free"]
