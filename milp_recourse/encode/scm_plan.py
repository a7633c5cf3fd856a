"""The person-independent half of compiling an SCM: which equations are affine in the changing variables.

For a fixed SCM and a fixed set of variables that can change (actionable features and their descendants),
an equation f_j that is affine in its changing parents is, for every person,
    f_j(pa') = sum_k alpha_jk(c) * x'_k + beta_j(c)
where c are the person's constants (immutable values, abduced noise). alpha_jk = df_j/dx_k and
beta_j = f_j with the changing parents at 0 are expressions in c only: derived once per (SCM, changing set)
and evaluated per person as plain-float functions. Per-person partial evaluation then needs no tree
rewriting, no linearisation and no symbolic derivatives (the effect cuts' slopes are the alphas).
Equations that are not affine in their changing parents (max, abs, indicators, smooth functions of a
changing variable) keep the general path in compile.py: substitute the constants, then linearise; their
symbolic derivatives (for the effect cuts' slope intervals) are still derived once here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

from ..scm import expr as ex
from ..scm.derivative import derivative
from ..scm.model import SCM
from ..scm.scalar import ScalarFn, scalar_function


@dataclass(frozen=True)
class AffineEquation:
    """f = sum_k coef_k(c) * x'_k + offset(c) over the changing parents `parents`."""

    parents: tuple[str, ...]
    coefs: tuple[ScalarFn, ...]
    offset: ScalarFn

    def evaluate(self, constants: Mapping[str, float]) -> tuple[dict[str, float], float] | None:
        """(coefficient per parent, offset) for one person's constants; None when a value is undefined there."""
        coefs = {}
        for k, fn in zip(self.parents, self.coefs):
            a = fn(constants)
            if math.isnan(a):
                return None
            coefs[k] = a
        off = self.offset(constants)
        return None if math.isnan(off) else (coefs, off)


def _has_changing_indicator(e: ex.Expr, changing: frozenset[str]) -> bool:
    if isinstance(e, ex.Compare) and ex.names(e) & changing:
        return True
    return any(_has_changing_indicator(c, changing) for c in ex.children(e))


def affine_equation(eq: ex.Expr, changing: frozenset[str]) -> AffineEquation | None:
    """The affine form of eq in its changing names, or None when eq is not affine in them."""
    parents = tuple(sorted(ex.names(eq) & changing))
    if _has_changing_indicator(eq, changing):
        return None   # a jump: its derivative is 0 almost everywhere, yet f is not affine
    coefs = []
    for k in parents:
        dk = derivative(eq, k)
        if ex.names(dk) & changing:
            return None
        coefs.append(scalar_function(dk))
    offset = ex.substitute(eq, {k: 0.0 for k in parents})
    if ex.names(offset) & changing:
        return None   # (cannot happen for an affine eq; kept as a guard against folding surprises)
    return AffineEquation(parents, tuple(coefs), scalar_function(offset))


@dataclass(frozen=True)
class ScmPlan:
    """Affine forms of the changing equations of one SCM for one changing set (others: general path, with
    df/dx_q per changing parent q derived once)."""

    changing: frozenset[str]
    affine: Mapping[str, AffineEquation]
    derivatives: Mapping[str, Mapping[str, ex.Expr]]


def build_plan(scm: SCM, changing: frozenset[str]) -> ScmPlan:
    """Derive the affine forms of every changing node's equation (once per SCM and changing set)."""
    affine, derivatives = {}, {}
    for name in scm.names:
        if name in changing:
            eq = scm.equations[name]
            form = affine_equation(eq, changing)
            if form is not None:
                affine[name] = form
            else:
                derivatives[name] = {q: derivative(eq, q) for q in sorted(ex.names(eq) & changing)}
    return ScmPlan(changing, affine, derivatives)


class PlanCache:
    """Plans kept by a caller (solve_many, one solve's recompiles) across the people it compiles.

    Keyed by the SCM object and the changing set; holds a reference to each SCM so an id is never reused.
    """

    def __init__(self) -> None:
        self._plans: dict[tuple[int, frozenset[str]], tuple[SCM, ScmPlan]] = {}
        self._changing: dict[tuple[int, tuple[str, ...]], tuple[SCM, frozenset[str]]] = {}
        self.built = 0
        self.reused = 0

    def changing(self, scm: SCM, actionable: list[str]) -> frozenset[str]:
        """The actionable variables and their descendants (a graph search, remembered per actionable set)."""
        key = (id(scm), tuple(actionable))
        hit = self._changing.get(key)
        if hit is not None and hit[0] is scm:
            return hit[1]
        out = frozenset(actionable) | scm.descendants(actionable)
        self._changing[key] = (scm, out)
        return out

    def get(self, scm: SCM, changing: frozenset[str]) -> ScmPlan:
        key = (id(scm), changing)
        hit = self._plans.get(key)
        if hit is not None and hit[0] is scm:
            self.reused += 1
            return hit[1]
        plan = build_plan(scm, changing)
        self._plans[key] = (scm, plan)
        self.built += 1
        return plan


__all__ = ["AffineEquation", "ScmPlan", "PlanCache", "affine_equation", "build_plan"]
