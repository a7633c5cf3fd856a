"""SCM equations as convex / concave piecewise-linear functions of the action shifts, for many people at once.

An equation whose changing parents enter only through sums, constant multiples and max / min / relu / abs is a
max (convex) or a min (concave) of affine pieces in the shifts d. Each piece is an array (people x (m + 1)):
m shift coefficients and the constant, so one walk of the tree serves a whole batch of people (the constants
differ per person, the shape does not). Anything else (a smooth function, a product or a comparison of
changing values, a sign of a multiplier that differs between the people) raises NotPiecewise: the caller then
takes the general MILP pipeline.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from milp_recourse.scm import expr as ex
from milp_recourse.scm import functions as fns

MAX_PIECES = 64   # more pieces than this in one function: not worth enumerating (the MILP takes it)
_COMPARE = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}


class NotPiecewise(Exception):
    """The expression is not a convex / concave piecewise-linear function of the shifts for these people."""


@dataclass(frozen=True)
class Pwl:
    """f(d) = max_i (or min_i) pieces[i] @ (d, 1); curvature +1 convex (max), -1 concave (min), 0 affine (one piece)."""

    pieces: tuple[np.ndarray, ...]   # each (people, m + 1): shift coefficients, then the constant
    curvature: int

    @staticmethod
    def affine(piece: np.ndarray) -> "Pwl":
        return Pwl((piece,), 0)

    def neg(self) -> "Pwl":
        return Pwl(tuple(-p for p in self.pieces), -self.curvature)

    def scale(self, c: np.ndarray) -> "Pwl":
        """c * f for a per-person constant c (its sign must be the same for every person when f is curved)."""
        c = np.broadcast_to(np.asarray(c, float), (self.pieces[0].shape[0],))
        if not np.all(np.isfinite(c)):
            raise NotPiecewise("a non-finite multiplier")
        if self.curvature == 0 or np.all(c >= 0):
            curv = self.curvature
        elif np.all(c <= 0):
            curv = -self.curvature
        else:
            raise NotPiecewise("a multiplier whose sign differs between people")
        return Pwl(tuple(p * c[:, None] for p in self.pieces), curv)

    def shift(self, c: np.ndarray) -> "Pwl":
        """f + c for a per-person constant c."""
        out = []
        for p in self.pieces:
            q = p.copy()
            q[:, -1] += c
            out.append(q)
        return Pwl(tuple(out), self.curvature)

    def add(self, other: "Pwl") -> "Pwl":
        if self.curvature == 0 or other.curvature == 0:
            one, many = (self, other) if self.curvature == 0 else (other, self)
            return Pwl(tuple(p + one.pieces[0] for p in many.pieces), many.curvature)
        if self.curvature != other.curvature:
            raise NotPiecewise("a convex plus a concave function")
        return _capped(tuple(p + q for p in self.pieces for q in other.pieces), self.curvature)


def _capped(pieces: tuple[np.ndarray, ...], curvature: int) -> Pwl:
    if len(pieces) > MAX_PIECES:
        raise NotPiecewise(f"more than {MAX_PIECES} pieces")
    return Pwl(pieces, curvature if len(pieces) > 1 else 0)


Value = np.ndarray | Pwl   # a per-person constant (people,) or a function of the shifts


def _as_pwl(v: Value, n: int, m: int) -> Pwl:
    if isinstance(v, Pwl):
        return v
    piece = np.zeros((n, m + 1))
    piece[:, -1] = v
    return Pwl.affine(piece)


def _extreme(args: list[Value], curvature: int, n: int, m: int) -> Pwl:
    """max (curvature +1) or min (-1) of the arguments: each must be affine or of that curvature."""
    pieces: list[np.ndarray] = []
    for a in args:
        f = _as_pwl(a, n, m)
        if f.curvature not in (0, curvature):
            raise NotPiecewise("a max of a concave (or a min of a convex) function")
        pieces += f.pieces
    return _capped(tuple(pieces), curvature)


def lift(e: ex.Expr, consts: Mapping[str, np.ndarray], env: Mapping[str, Pwl], n: int, m: int) -> Value:
    """e for n people: a (people,) array where it does not depend on the shifts, else a Pwl over m shifts.

    consts: per-person values of the names that do not change (immutables, noise); env: the changing names."""
    if isinstance(e, ex.Const):
        return np.full(n, e.value)
    if isinstance(e, ex.Name):
        if e.id in env:
            return env[e.id]
        return consts[e.id]
    if isinstance(e, ex.Neg):
        a = lift(e.arg, consts, env, n, m)
        return a.neg() if isinstance(a, Pwl) else -a
    if isinstance(e, (ex.Add, ex.Sub)):
        a, b = lift(e.left, consts, env, n, m), lift(e.right, consts, env, n, m)
        if isinstance(e, ex.Sub):
            b = b.neg() if isinstance(b, Pwl) else -b
        if isinstance(a, Pwl) and isinstance(b, Pwl):
            return a.add(b)
        if isinstance(a, Pwl):
            return a.shift(b)
        if isinstance(b, Pwl):
            return b.shift(a)
        return a + b
    if isinstance(e, ex.Mul):
        a, b = lift(e.left, consts, env, n, m), lift(e.right, consts, env, n, m)
        if isinstance(a, Pwl) and isinstance(b, Pwl):
            raise NotPiecewise("a product of two changing values")
        if isinstance(a, Pwl):
            return a.scale(b)
        if isinstance(b, Pwl):
            return b.scale(a)
        return a * b
    if isinstance(e, ex.Div):
        a, b = lift(e.left, consts, env, n, m), lift(e.right, consts, env, n, m)
        if isinstance(b, Pwl):
            raise NotPiecewise("a division by a changing value")
        return a.scale(1.0 / b) if isinstance(a, Pwl) else a / b
    if isinstance(e, ex.Pow):
        a = lift(e.base, consts, env, n, m)
        if isinstance(a, Pwl):
            if e.exponent == 1.0:
                return a
            raise NotPiecewise("a power of a changing value")
        return a ** e.exponent
    if isinstance(e, ex.Call):
        args = [lift(x, consts, env, n, m) for x in e.args]
        fn = fns.get(e.func)
        if not any(isinstance(a, Pwl) for a in args):
            return np.asarray(fn.numpy(*args), float)
        if fn.mip == "max":
            return _extreme(args, 1, n, m)
        if fn.mip == "min":
            return _extreme(args, -1, n, m)
        if fn.mip == "relu":
            return _extreme([args[0], np.zeros(n)], 1, n, m)
        if fn.mip == "abs":
            f = _as_pwl(args[0], n, m)
            if f.curvature != 0:
                raise NotPiecewise("abs of a curved function")
            return _extreme([f, f.neg()], 1, n, m)
        raise NotPiecewise(f"{e.func} of a changing value")
    if isinstance(e, ex.Compare):
        a, b = lift(e.left, consts, env, n, m), lift(e.right, consts, env, n, m)
        if isinstance(a, Pwl) or isinstance(b, Pwl):
            raise NotPiecewise("a comparison of a changing value (a jump)")
        return _COMPARE[e.op](a, b).astype(float)
    raise NotPiecewise(f"unsupported node {type(e).__name__}")


__all__ = ["MAX_PIECES", "NotPiecewise", "Pwl", "lift"]
