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

from milp_recourse.scm import expr as ex
from milp_recourse.scm.derivative import derivative
from milp_recourse.scm.model import SCM
from milp_recourse.scm.scalar import ScalarFn, scalar_function


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

    Keyed by the SCM object's id and the changing set; the cache holds a reference to every SCM it has seen,
    so no id is reused while it lives.
    """

    def __init__(self) -> None:
        self._scms: dict[int, SCM] = {}
        self._plans: dict[tuple[int, frozenset[str]], ScmPlan] = {}
        self._changing: dict[tuple[int, tuple[str, ...]], frozenset[str]] = {}
        self.built = 0
        self.reused = 0

    def _key(self, scm: SCM, part):
        self._scms.setdefault(id(scm), scm)
        return id(scm), part

    def changing(self, scm: SCM, actionable: list[str]) -> frozenset[str]:
        """The actionable variables and their descendants (a graph search, remembered per actionable set)."""
        key = self._key(scm, tuple(actionable))
        if key not in self._changing:
            self._changing[key] = frozenset(actionable) | scm.descendants(actionable)
        return self._changing[key]

    def plans(self) -> list[ScmPlan]:
        """Every plan built so far."""
        return list(self._plans.values())

    def get(self, scm: SCM, changing: frozenset[str]) -> ScmPlan:
        """The plan for this SCM and changing set (built on first use)."""
        key = self._key(scm, changing)
        if key in self._plans:
            self.reused += 1
        else:
            self._plans[key] = build_plan(scm, changing)
            self.built += 1
        return self._plans[key]


__all__ = ["AffineEquation", "ScmPlan", "PlanCache", "affine_equation", "build_plan"]
