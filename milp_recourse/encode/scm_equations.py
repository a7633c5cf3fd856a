"""Structural equations -> IR rows, after partial evaluation on an individual's constants.

Linear terms are exact; max/min/abs/relu/indicators and products with a 0/1 factor are exact
with binaries; smooth nonlinear sub-expressions of changing inputs (sigmoid, exp, log, powers,
division by a changing quantity) become piecewise-linear interpolants whose measured error is
reported. A product of two changing continuous quantities is refused clearly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from milp_recourse.encode import primitives as pr
from milp_recourse.errors import UnsupportedError
from milp_recourse.mip.ir import Affine, IRBuilder
from milp_recourse.scm import expr as ex
from milp_recourse.scm import functions


def is_smooth_nonlinear(e: ex.Expr) -> bool:
    """True when e contains an operation that needs a piecewise-linear approximation."""
    if isinstance(e, ex.Pow):
        return e.exponent != 1.0 or is_smooth_nonlinear(e.base)
    if isinstance(e, ex.Call):
        return functions.get(e.func).mip == "smooth" or any(is_smooth_nonlinear(a) for a in e.args)
    if isinstance(e, ex.Div):
        return not isinstance(e.right, ex.Const) or is_smooth_nonlinear(e.left)
    for child in ex.children(e):
        if is_smooth_nonlinear(child):
            return True
    return False


def _proportional(a: Affine, b: Affine) -> float | None:
    """r with b == r * a (same columns, proportional coefficients and constants), else None."""
    if set(a.terms) != set(b.terms) or not a.terms:
        return None
    j = next(iter(a.terms))
    r = b.terms[j] / a.terms[j]
    ok = all(abs(b.terms[k] - r * a.terms[k]) <= 1e-12 * max(1.0, abs(b.terms[k])) for k in a.terms)
    return r if ok and abs(b.const - r * a.const) <= 1e-12 * max(1.0, abs(b.const)) else None


@dataclass
class Linearizer:
    """Turns expressions over changing variables (bound to affine IR expressions) into Affine."""

    b: IRBuilder
    env: Mapping[str, Affine]
    group: str
    breakpoints: int = 33
    max_error: float = 0.0
    _count: int = 0

    def _name(self, kind: str) -> str:
        self._count += 1
        return f"{self.group}.{kind}{self._count}"

    def _pwl(self, t: Affine, fn, what: str) -> Affine:
        y, err = pr.pwl_univariate(self.b, t, fn, self.breakpoints, self._name(what), self.group)
        self.max_error = max(self.max_error, err)
        return y

    def __call__(self, e: ex.Expr) -> Affine:
        if isinstance(e, ex.Const):
            return Affine.constant(e.value)
        if isinstance(e, ex.Name):
            if e.id not in self.env:
                raise UnsupportedError(f"{self.group}: name {e.id!r} has no value (internal: not substituted).")
            return self.env[e.id]
        free = ex.names(e)
        if len(free) == 1 and is_smooth_nonlinear(e):
            (v,) = free
            return self._pwl(self.env[v], lambda t, v=v: np.asarray(ex.evaluate(e, {v: t}), float), "pwl")
        if isinstance(e, ex.Neg):
            return -self(e.arg)
        if isinstance(e, ex.Add):
            return self(e.left) + self(e.right)
        if isinstance(e, ex.Sub):
            return self(e.left) - self(e.right)
        if isinstance(e, ex.Mul):
            return self._product(self(e.left), self(e.right), e)
        if isinstance(e, ex.Div):
            num, den = self(e.left), self(e.right)
            if den.is_constant:
                if den.const == 0.0:
                    raise UnsupportedError(f"{self.group}: division by zero in {ex.to_text(e)!r}.")
                return num * (1.0 / den.const)
            if num.is_constant:
                c = num.const
                return self._pwl(den, lambda t: c / t, "div")
            raise UnsupportedError(f"{self.group}: cannot encode the quotient of two changing quantities "
                                   f"{ex.to_text(e)!r}.")
        if isinstance(e, ex.Pow):
            base = self(e.base)
            k = float(e.exponent)
            if base.is_constant:
                return Affine.constant(base.const ** k)
            if k == 1.0:
                return base
            if k == 0.0:
                return Affine.constant(1.0)
            return self._pwl(base, lambda t: np.power(t, k), "pow")
        if isinstance(e, ex.Call):
            return self._call(e)
        if isinstance(e, ex.Compare):
            left, right = self(e.left), self(e.right)
            if e.op in (">", ">="):
                return pr.indicator(self.b, left - right, e.op == ">", self._name("ind"), self.group)
            return pr.indicator(self.b, right - left, e.op == "<", self._name("ind"), self.group)
        raise UnsupportedError(f"{self.group}: cannot encode expression node {type(e).__name__}.")

    def _product(self, left: Affine, right: Affine, e: ex.Expr) -> Affine:
        # (a factor whose columns the bounds fix is a number: a budget-limited compile pinned a binary's shift to 0,
        # and the product of that binary and a continuous parent was refused as two changing continuous ones)
        left, right = pr.pinned(self.b, left), pr.pinned(self.b, right)
        if left.is_constant:
            return right * left.const
        if right.is_constant:
            return left * right.const
        for z, y in ((left, right), (right, left)):
            if pr.is_binary_expr(self.b, z):
                return pr.binary_times(self.b, z, y, self._name("prod"), self.group)
        for z, y in ((left, right), (right, left)):
            two = pr.two_valued(self.b, z)   # z = v0 + (v1 - v0) t, t 0/1: z y = v0 y + (v1 - v0) (t y), exact
            if two is not None:
                v0, v1, t = two
                w = pr.binary_times(self.b, t, y, self._name("prod"), self.group) * (v1 - v0)
                return w + y * v0 if v0 != 0.0 else w
        ratio = _proportional(left, right)   # c * f * f (v0 * v0, 2*x * x): a square, as x**2 is encoded
        if ratio is not None:
            y, err = pr.pwl_univariate(self.b, left, np.square, self.breakpoints, self._name("pow"), self.group)
            self.max_error = max(self.max_error, err * abs(ratio))   # (the error of ratio * left**2)
            return y * ratio
        raise UnsupportedError(
            f"{self.group}: the product {ex.to_text(e)!r} multiplies two changing continuous quantities, which has "
            "no exact MILP encoding. Make one factor immutable for this individual, or binary.")

    def _call(self, e: ex.Call) -> Affine:
        args = [self(a) for a in e.args]
        if all(a.is_constant for a in args):
            env = {}
            return Affine.constant(float(ex.evaluate(ex.Call(e.func, tuple(ex.Const(a.const) for a in args)), env)))
        f = e.func
        kind = functions.get(f).mip
        if kind in ("max", "min"):
            acc = args[0]
            for a in args[1:]:
                op = pr.maximum if kind == "max" else pr.minimum
                acc = op(self.b, acc, a, self._name(f), self.group)
            return acc
        if kind == "relu":
            return pr.relu(self.b, args[0], self._name("relu"), self.group)
        if kind == "abs":
            return pr.absolute(self.b, args[0], self._name("abs"), self.group)
        if kind == "smooth":
            fn = functions.get(f).numpy
            return self._pwl(args[0], lambda t: np.asarray(fn(t), float), f)
        raise UnsupportedError(f"{self.group}: unsupported function {f!r}.")
