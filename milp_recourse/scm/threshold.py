"""Threshold nodes: a binary variable with parents, ``x = (eta(parents) + U >= 0)`` with U standard logistic.

Such a node is a logistic regression on its parents. A 0/1 value does not determine its noise, so abduction
picks one: the posterior median of U given the observation, in closed form with s = sigmoid(eta):
x = 1: F(u*) = 1 - s/2, u* = log(1 - s/2) - log(s/2);  x = 0: F(u*) = (1 - s)/2, u* = log(1 - s) - log(1 + s)
(1 - s written as sigmoid(-eta) so that it stays exact in floating point). u* reproduces the observation
(u* >= -eta exactly when x = 1), and the counterfactual of an intervention on the parents is then the
deterministic ``(eta(parents') + u* >= 0)``: the node flips only when the parents move eta past -u*, a point
as far inside the observed side as the median of that side's noise.
"""

from __future__ import annotations

import math

from milp_recourse.scm.nodes import Add, Call, Compare, Const, Expr, Mul, Name, Neg, Sub, names


def threshold_parts(eq: Expr, noise: str) -> Expr | None:
    """eta when ``eq`` is ``(eta + noise >= 0)`` (or ``noise + eta``, or ``>``) with eta free of the noise."""
    if not (isinstance(eq, Compare) and eq.op in (">=", ">") and isinstance(eq.right, Const)
            and eq.right.value == 0.0 and isinstance(eq.left, Add)):
        return None
    a, b = eq.left.left, eq.left.right
    for u, eta in ((a, b), (b, a)):
        if u == Name(noise) and noise not in names(eta):
            return eta
    return None


def median_abduction(var: str, eta: Expr) -> Expr:
    """The noise's posterior median given the node's value (see the module docstring), as an expression."""
    s = Call("sigmoid", (eta,))
    log2 = Const(math.log(2.0))
    one = Sub(Add(Call("log", (Sub(Const(1.0), Mul(Const(0.5), s)),)), log2), Call("log", (s,)))
    zero = Sub(Call("log", (Call("sigmoid", (Neg(eta),)),)), Call("log", (Add(Const(1.0), s),)))
    x = Name(var)
    return Add(Mul(x, one), Mul(Sub(Const(1.0), x), zero))


__all__ = ["threshold_parts", "median_abduction"]
