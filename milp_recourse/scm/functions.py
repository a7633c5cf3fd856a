"""The SCM function registry: each function of the equation language defined once, with everything the package
does with it — numpy and scalar evaluation, interval extension, derivative, inverse (abduction), MIP encoding
and the torch op of the gradient baselines.

Adding a function is one `register(ScmFunction(...))` entry here and its test (tests/test_scm_functions.py runs
every entry through the same battery: numpy = scalar, intervals contain sampled values, derivative = finite
differences, inverse(f(x)) = x, torch = numpy). Expression nodes only name functions (`Call(func, args)`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import reduce
from typing import Any, Callable

import numpy as np
from scipy.special import expit

from milp_recourse.errors import SpecError
from milp_recourse.scm.nodes import INF, Call, Compare, Const, Div, Expr, Mul, Sub

Interval = tuple[float, float]


@dataclass(frozen=True)
class ScmFunction:
    """One function of the equation language.

    arity: number of arguments (None: variadic, at least 2). numpy / scalar: the value (scalar may raise
    ValueError / OverflowError / ZeroDivisionError where undefined: callers turn that into nan). interval: sound
    bounds of the value from the arguments' bounds. derivative: d f / d arg as an expression of the call node
    and its argument (unary only; variadic ones are handled by the derivative module's winner rule). inverse:
    the argument as an expression of the value (None: not invertible, so not usable around noise). mip: 'max',
    'min', 'relu', 'abs' are exact with one binary each (encode/primitives); 'smooth' is piecewise-linear.
    torch: the name of the torch function.
    """

    name: str
    arity: int | None
    numpy: Callable[..., Any]
    scalar: Callable[..., float]
    interval: Callable[..., Interval]
    derivative: Callable[[Expr, Expr], Expr] | None
    inverse: Callable[[Expr], Expr] | None
    mip: str
    torch: str


_REGISTRY: dict[str, ScmFunction] = {}


def register(fn: ScmFunction) -> None:
    """Add a function to the equation language (its name must be new)."""
    if fn.name in _REGISTRY or fn.name == "pow":
        raise SpecError(f"SCM function {fn.name!r} is already defined.")
    if fn.mip not in ("max", "min", "relu", "abs", "smooth"):
        raise SpecError(f"SCM function {fn.name!r} has MIP encoding {fn.mip!r}; expected max, min, relu, abs or "
                        "smooth.")
    _REGISTRY[fn.name] = fn


def get(name: str) -> ScmFunction:
    """The registered function called `name` (SpecError naming the known ones otherwise)."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise SpecError(f"Unknown function {name!r}; expected one of {', '.join(sorted(_REGISTRY))}.") from None


def names() -> frozenset[str]:
    """The names of all registered functions."""
    return frozenset(_REGISTRY)


def check_call(name: str, n_args: int) -> str | None:
    """Why a call of `name` with n_args arguments is malformed (None: it is fine)."""
    if name not in _REGISTRY:
        return f"unknown function {name!r}; allowed: {', '.join(sorted(_REGISTRY | {'pow': None}))}"
    arity = _REGISTRY[name].arity
    if arity is None and n_args < 2:
        return f"{name}() takes at least 2 arguments; got {n_args}"
    if arity is not None and n_args != arity:
        return f"{name}() takes exactly {arity} argument{'s' if arity != 1 else ''}; got {n_args}"
    return None


# ---------------------------------------------------------------- outward rounding
def down(x: float) -> float:
    """The float just below x (outward rounding of a lower bound; infinities stay)."""
    return math.nextafter(x, -INF) if math.isfinite(x) else x


def up(x: float) -> float:
    """The float just above x (outward rounding of an upper bound)."""
    return math.nextafter(x, INF) if math.isfinite(x) else x


def outward(iv: Interval) -> Interval:
    """An interval widened by one float on each side: sound despite round-off in computing its ends."""
    return down(iv[0]), up(iv[1])


# ---------------------------------------------------------------- the built-in functions
def _sigmoid(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v)) if v >= 0 else math.exp(v) / (1.0 + math.exp(v))


def _exp(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:
        return INF


def _log_interval(lo: float, hi: float) -> Interval:
    if hi <= 0:  # log of a non-positive interval has no real value
        return -INF, INF
    return (math.log(lo) if lo > 0 else -INF), math.log(hi)


def _abs_interval(lo: float, hi: float) -> Interval:
    return (lo, hi) if lo >= 0 else (-hi, -lo) if hi <= 0 else (0.0, max(-lo, hi))


def _sign(a: Expr) -> Expr:
    return Sub(Compare(">", a, Const(0.0)), Compare("<", a, Const(0.0)))


def _builtin() -> None:
    register(ScmFunction(
        "max", None, lambda *xs: reduce(np.maximum, xs), lambda *vs: max(vs),
        lambda *ivs: (max(i[0] for i in ivs), max(i[1] for i in ivs)), None, None, "max", "maximum"))
    register(ScmFunction(
        "min", None, lambda *xs: reduce(np.minimum, xs), lambda *vs: min(vs),
        lambda *ivs: (min(i[0] for i in ivs), min(i[1] for i in ivs)), None, None, "min", "minimum"))
    register(ScmFunction(
        "abs", 1, np.abs, abs, lambda iv: _abs_interval(*iv),
        lambda call, a: _sign(a), None, "abs", "abs"))
    register(ScmFunction(
        "relu", 1, lambda x: np.maximum(x, 0.0), lambda v: max(v, 0.0), lambda iv: (max(iv[0], 0.0), max(iv[1], 0.0)),
        lambda call, a: Compare(">", a, Const(0.0)), None, "relu", "relu"))
    register(ScmFunction(
        "sigmoid", 1, expit, _sigmoid,
        lambda iv: (max(0.0, down(float(expit(iv[0])))), min(1.0, up(float(expit(iv[1]))))),
        lambda call, a: Mul(call, Sub(Const(1.0), call)),
        lambda y: Sub(Call("log", (y,)), Call("log", (Sub(Const(1.0), y),))), "smooth", "sigmoid"))
    register(ScmFunction(
        "exp", 1, np.exp, math.exp, lambda iv: (max(0.0, down(_exp(iv[0]))), up(_exp(iv[1]))),
        lambda call, a: call, lambda y: Call("log", (y,)), "smooth", "exp"))
    register(ScmFunction(
        "log", 1, np.log, math.log, lambda iv: outward(_log_interval(*iv)),
        lambda call, a: Div(Const(1.0), a), lambda y: Call("exp", (y,)), "smooth", "log"))


_builtin()

__all__ = ["ScmFunction", "register", "get", "names", "check_call", "down", "up", "outward"]
