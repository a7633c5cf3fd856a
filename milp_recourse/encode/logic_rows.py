"""MILP rows of the logic constraints (problem/logic.py), exact: linkages as substitutions, IF-THEN as a disjunction.

LINKAGE  x'_T = x_T + r (x'_S - x_S): an affine substitution into the counterfactual map (no column, no row).
IF-THEN  with cf(A) integral on [lo, hi] and a != x_A, binaries l = "cf(A) <= a - 1" and u = "cf(A) >= a + 1":
    l + u <= 1,  cf(A) <= hi + (a - 1 - hi) l,  cf(A) >= lo + (a + 1 - lo) u,
    B - b <= (hi_B - b)(l + u)   (op = or <=),   b - B <= (b - lo_B)(l + u)   (op = or >=).
cf(A) = a forces l = u = 0, so the consequent holds; cf(A) != a (integral) lets one of them be 1, which frees it.
Every big-M is an interval bound the builder proved (column bounds propagated from the domains). A side that
A cannot reach gets no binary. cf(A) is integral by construction for an intervened root (integer shift column);
otherwise an integer column equal to it is added (A is binary / integer by its type).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from milp_recourse.errors import UnsupportedError
from milp_recourse.mip.ir import Affine, IRBuilder
from milp_recourse.problem.logic import Constraint, IfThen, Linkage, links

GROUP = "hard:logic"
EPS = 1e-9


def linked(constraints: Sequence[Constraint]) -> dict[str, Linkage]:
    """Each linkage by its target."""
    return {c.target: c for c in links(constraints)}


def link_affine(link: Linkage, env: Mapping[str, Affine], x: Mapping[str, float]
                ) -> tuple[Affine, dict[str, tuple[float, float]] | None]:
    """x'_T as an Affine over the model's columns, and its slope on the source for the effect cuts (None when the
    source cannot change: then neither can T)."""
    src = env.get(link.source)
    if src is None:
        return Affine.constant(x[link.target]), None
    r = link.ratio
    return (src - x[link.source]) * r + x[link.target], {link.source: (r, r)}


def _integral(b: IRBuilder, expr: Affine, name: str, domain: tuple[float, float]) -> Affine:
    """expr itself when it is an integer column plus an integer, else a new integer column equal to it."""
    terms = {j: c for j, c in expr.terms.items() if c != 0.0}
    if len(terms) == 1:
        (j, c), = terms.items()
        if abs(c) == 1.0 and b.is_integer(j) and float(expr.const).is_integer():
            return expr
    lo, hi = b.bounds_of(expr)
    lo = lo if math.isfinite(lo) else domain[0]   # an unbounded side: A's domain (its type's promise)
    hi = hi if math.isfinite(hi) else domain[1]
    y = b.add_var(f"logic:int[{name}]", lo, hi, integer=True)
    b.add_eq(Affine.column(y) - expr, 0.0, f"{GROUP}:integral")
    return Affine.column(y)


def _finite(m: float, rule: IfThen, what: str) -> float:
    if not math.isfinite(m):
        raise UnsupportedError(f"The rule '{rule}' needs a proven bound on {what}, but it is unbounded in the model.")
    return m


def add_if_then(b: IRBuilder, rule: IfThen, env: Mapping[str, Affine], x: Mapping[str, float],
                domain: tuple[float, float], tag: str) -> int:
    """The rows of one IF-THEN rule (see the module docstring); returns the number of binaries added."""
    a, bound = float(rule.value), float(rule.bound)
    if abs(x[rule.feature] - a) <= EPS:
        return 0   # A's factual is a: A cannot "become" a
    A = env.get(rule.feature)
    B = env.get(rule.target, Affine.constant(x[rule.target]))
    group = f"{GROUP}:{tag}"
    if A is None or not {j for j, c in A.terms.items() if c != 0.0}:
        value = x[rule.feature] if A is None else A.const
        if abs(value - a) > EPS:
            return 0   # A cannot change (or is fixed elsewhere): never becomes a
        off = Affine.constant(0.0)
        n = 0
    else:
        A = _integral(b, A, rule.feature, domain)
        lo, hi = b.bounds_of(A)
        if a < lo - EPS or a > hi + EPS:
            return 0   # A cannot reach a
        off, n = Affine.constant(0.0), 0
        if lo <= a - 1 + EPS:
            below = b.add_binary(f"logic:below[{tag}]")
            b.add_le(A - Affine.column(below, a - 1 - _finite(hi, rule, rule.feature)), hi, group)
            off, n = off + Affine.column(below), n + 1
        if hi >= a + 1 - EPS:
            above = b.add_binary(f"logic:above[{tag}]")
            b.add_ge(A - Affine.column(above, a + 1 - _finite(lo, rule, rule.feature)), lo, group)
            off, n = off + Affine.column(above), n + 1
        if n == 2:
            b.add_le(off, 1.0, group)
    blo, bhi = b.bounds_of(B)
    if rule.op in ("==", "<=") and bhi > bound:
        b.add_le(B - off * _finite(bhi - bound, rule, rule.target), bound, group)   # B <= b unless off
    if rule.op in ("==", ">=") and blo < bound:
        b.add_ge(B + off * _finite(bound - blo, rule, rule.target), bound, group)   # B >= b unless off
    return n


def add_logic_rows(b: IRBuilder, constraints: Sequence[Constraint], env: Mapping[str, Affine],
                   x: Mapping[str, float], domains: Mapping[str, tuple[float, float]]) -> int:
    """Rows of every IF-THEN rule over the counterfactual map `env` (linkages are already in it, see
    link_affine); returns the number of binaries added."""
    return sum(add_if_then(b, c, env, x, domains[c.feature], str(i))
               for i, c in enumerate(constraints) if isinstance(c, IfThen))


__all__ = ["add_logic_rows", "add_if_then", "link_affine", "linked", "GROUP"]
