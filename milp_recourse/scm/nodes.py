"""Expression-tree nodes of the SCM equation language (immutable, hashable) and the basic tree walks.

Nodes only name functions (`Call(func, args)`); what a function does lives in functions.py (the registry).
"""

from __future__ import annotations

import keyword
import math
from dataclasses import dataclass

from milp_recourse.errors import SpecError

COMPARE_OPS = frozenset({">", ">=", "<", "<="})
INF = math.inf


class Expr:
    """Base class of all expression nodes (immutable, hashable, comparable)."""

    __slots__ = ()

    def __str__(self) -> str:
        from milp_recourse.scm.text import to_text  # (text builds on the nodes: imported when printed)

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
        if not isinstance(self.func, str) or not self.args:
            raise SpecError(f"A call needs a function name and at least one argument; got {self.func!r}{self.args}.")


@dataclass(frozen=True)
class Compare(Expr):
    op: str
    left: Expr
    right: Expr

    def __post_init__(self) -> None:
        if self.op not in COMPARE_OPS:
            raise SpecError(f"Unknown comparison {self.op!r}; expected one of > >= < <=.")


def quoted(name: str) -> str:
    """``name`` as it is written in an equation: bare if it is a plain identifier, else in backticks."""
    return name if name.isidentifier() and not keyword.iskeyword(name) else f"`{name}`"


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


def name_free(e: Expr, name: str) -> bool:
    """True if ``name`` does not occur in e."""
    return count(e, name) == 0



__all__ = ["Expr", "Const", "Name", "Neg", "Add", "Sub", "Mul", "Div", "Pow", "Call", "Compare", "COMPARE_OPS",
           "INF", "names", "children", "count", "name_free", "quoted"]
