"""Counterfactuals over boxes of actions as affine functions of the action, up to a proven error.

For one intervention pattern (the features intervened on, theta their new values) and boxes lo <= theta <= hi,
every SCM variable's counterfactual is written x'_j = S_j . theta + o_j + e_j with |e_j| <= r_j on the box:
  intervened:            x'_j = theta_j exactly;
  not changing:          the factual value;
  affine equation:       the SCM plan's person-specific coefficients, applied to the parents' forms (exact);
  any other continuous:  mean-value form around the box centre, f(p) = f(p0) + s . (p - p0) with each slope
                         s_q in the interval of df/dp_q over the box (interval arithmetic on the symbolic
                         derivative): centre slopes as S, the rest (and the parents' errors) into r.
A kink (max, abs, relu) inside a box only widens r; once the box lies on one side, the form is exact.
Equations with a jump in a changing variable (indicators) are refused by input_bnb.applies.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from milp_recourse.scm.plan import ScmPlan
from milp_recourse.scm import expr as ex
from milp_recourse.scm.derivative import derivative
from milp_recourse.scm.interval import interval, interval_arrays, vectorizable


def counterfactual_forms(problem, plan: ScmPlan, constants: Mapping[str, float], dims: Sequence[str],
                         lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(S, o, r) of every SCM variable (scm.names order) on each box: S (n, V, d), o (n, V), r (n, V)."""
    scm = problem.scm
    n, d = lo.shape
    ctr, rad = (lo + hi) / 2.0, (hi - lo) / 2.0
    col = {f: k for k, f in enumerate(dims)}
    S = np.zeros((n, len(scm.names), d))
    o = np.zeros((n, len(scm.names)))
    r = np.zeros((n, len(scm.names)))
    pos = {name: j for j, name in enumerate(scm.names)}
    for j, name in enumerate(scm.names):
        if name in col:
            S[:, j, col[name]] = 1.0
        elif name not in plan.changing:
            o[:, j] = float(problem.x[j])
        elif name in plan.affine and (form := plan.affine[name].evaluate(constants)) is not None:
            coefs, off = form
            o[:, j] = off
            for q, a in coefs.items():
                S[:, j] += a * S[:, pos[q]]
                o[:, j] += a * o[:, pos[q]]
                r[:, j] += abs(a) * r[:, pos[q]]
        else:   # not affine, or its coefficients undefined for this person: the mean-value form
            eq = scm.equations[name]
            derivs = plan.derivatives.get(name) or {q: derivative(eq, q)
                                                     for q in sorted(ex.names(eq) & plan.changing)}
            _mean_value_form(eq, derivs, constants, pos, S, o, r, j, ctr, rad)
    return S, o, r


def _mean_value_form(eq: ex.Expr, derivs: Mapping[str, ex.Expr], constants: Mapping[str, float], pos, S, o, r,
                     j: int, ctr: np.ndarray, rad: np.ndarray) -> None:
    """Fill row j for a non-affine equation (see the module docstring)."""
    n = ctr.shape[0]
    env: dict[str, np.ndarray | float] = dict(constants)
    centre, spread = {}, {}
    for q in derivs:
        k = pos[q]
        centre[q] = np.einsum("nd,nd->n", S[:, k], ctr) + o[:, k]
        spread[q] = np.einsum("nd,nd->n", np.abs(S[:, k]), rad) + r[:, k]
        env[q] = centre[q]
    with np.errstate(all="ignore"):
        f0 = np.broadcast_to(np.asarray(ex.evaluate(eq, env), float), (n,))
    o[:, j] = f0
    r[:, j] = np.where(np.isfinite(f0), 0.0, np.inf)
    consts = [{name: (v, v) for name, v in constants.items()}]
    for q, dq in derivs.items():
        with np.errstate(all="ignore"):
            add_slope_term(S, o, r, j, pos[q], *slope_ranges(dq, consts, np.zeros(n, int), centre, spread), ctr,
                           spread[q])


def add_slope_term(S: np.ndarray, o: np.ndarray, r: np.ndarray, j: int, k: int, slo: np.ndarray, shi: np.ndarray,
                   ctr: np.ndarray, spread: np.ndarray) -> None:
    """Row j += parent k's term of the mean-value form, its slope in [slo, shi] per box: f - f0 = s (p - p0) with
    p - p0 = S_k (theta - ctr) + e_k, the centre slope on S and the rest on r. An unbounded slope (log(2 + A*A)'s
    over a wide box) leaves r infinite, never 1.8e308 (nan_to_num's default, which a NaN line then hid)."""
    with np.errstate(all="ignore"):   # (inf - inf, inf * 0 are read here)
        finite = np.isfinite(slo) & np.isfinite(shi)
        mid = np.where(finite, (slo + shi) / 2.0, 0.0)
        half = np.where(finite, (shi - slo) / 2.0, np.inf)
        S[:, j] += mid[:, None] * S[:, k]
        o[:, j] -= mid * np.einsum("nd,nd->n", S[:, k], ctr)
        r[:, j] += np.abs(mid) * r[:, k] + np.nan_to_num(half * spread, nan=np.inf, posinf=np.inf)


def slope_ranges(dq: ex.Expr, consts: Sequence[Mapping[str, tuple[float, float]]], who: np.ndarray,
                 centre: Mapping[str, np.ndarray], spread: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """interval(dq) on each box i: the constants consts[who[i]] and each moving name p in centre[p][i] +-
    spread[p][i]. Only the names dq uses are passed (the same interval, without copying a person's every
    constant for every box). Shared by the one-person and the many-people forms (box_forms.py). Trees of +, -, *
    and comparisons go through interval_arrays, all boxes at once (the same floats; ~10x faster on the CARMA
    network's slope 1.5 * (I >= 0)); others box by box."""
    used = ex.names(dq)
    fixed = [{c: b for c, b in cs.items() if c in used} for cs in consts]
    moving = [p for p in centre if p in used]
    n = len(who)
    if vectorizable(dq) and all(used <= set(f) | set(moving) for f in fixed):   # every box at once (same floats)
        arrays: dict[str, tuple[np.ndarray, np.ndarray]] = {p: (centre[p] - spread[p], centre[p] + spread[p])
                                                            for p in moving}
        for c in used - set(moving):
            ends = np.array([f[c] for f in fixed], float)[who]
            arrays[c] = (ends[:, 0], ends[:, 1])
        lo, hi = interval_arrays(dq, arrays)
        return np.broadcast_to(lo, (n,)).astype(float), np.broadcast_to(hi, (n,)).astype(float)
    lows = [(centre[p] - spread[p]).tolist() for p in moving]
    highs = [(centre[p] + spread[p]).tolist() for p in moving]
    slo, shi = np.empty(n), np.empty(n)
    for i in range(n):
        bounds = dict(fixed[who[i]])
        bounds.update({p: (lo[i], hi[i]) for p, lo, hi in zip(moving, lows, highs)})
        slo[i], shi[i] = interval(dq, bounds)
    return slo, shi


__all__ = ["add_slope_term", "counterfactual_forms", "slope_ranges"]
