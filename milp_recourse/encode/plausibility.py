"""Plausibility rows: the counterfactual inside a box (exact linear rows), or its SCM log-density above a
threshold (a convex ball in the re-abducted noises: outer approximation by supporting-hyperplane cuts).

Density (see problem/plausibility.py for the semantics): with additive Gaussian noise on every node k that can
be intervened on, log p(x_cf) >= tau  <=>  sum_k z'_k^2 <= R, where z'_k = (u'_k - mu_k) / sigma_k and
u'_k = the inverse of k's equation at the counterfactual (affine in the model's columns: exact whenever the
equation's parents are), R = 2 (log p(x) - tau) + sum_k z_k^2 (z_k: the factual's). Every row
xi . z' <= sqrt(R) with |xi| = 1 is valid; the model starts with the 2K axis rows and the search adds the row
through the radial projection of each model point outside the ball until the re-check passes.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import scipy.sparse as sp

from milp_recourse.encode.scm_equations import Linearizer
from milp_recourse.mip.ir import Affine, IRBuilder, MIPModel
from milp_recourse.problem.recourse_problem import RecourseProblem
from milp_recourse.scm import expr as ex

GROUP_BOX = "hard:plausible-box"
GROUP_DENSITY = "hard:plausible-density"
CUT_SLACK = 1e-9     # a model point with sum z'^2 <= R (1 + CUT_SLACK) gets no further cut
CUT_ROUNDS = 40      # solve_with_density_cuts: at most this many solves


@dataclass(frozen=True)
class DensityRows:
    """The standardized re-abducted noises z'_k (Affine over the model's columns) and the ball's R."""

    names: tuple[str, ...]
    z: tuple[Affine, ...]
    radius2: float

    def cut(self, xvec: np.ndarray) -> tuple[Affine, float] | None:
        """The supporting row (xi . z' <= sqrt(R)) that cuts off the model point xvec, or None when xvec is
        inside the ball (up to CUT_SLACK)."""
        zv = np.array([z.value(xvec) for z in self.z])
        n2 = float(zv @ zv)
        if n2 <= self.radius2 * (1 + CUT_SLACK) + 1e-12 or n2 <= 0.0:
            return None
        xi = zv / math.sqrt(n2)
        row = Affine()
        for k, z in enumerate(self.z):
            row = row + z * float(xi[k])
        return row, math.sqrt(max(self.radius2, 0.0))


def _z_affine(problem: RecourseProblem, name: str, b: IRBuilder, env: Mapping[str, Affine],
              constants: Mapping[str, float], breakpoints: int) -> tuple[Affine, float]:
    """(u'_name - mu) / sigma over the model's columns, and its piecewise-linear error (0: exact)."""
    scm = problem.scm
    noise = scm.noises[scm.variable(name).noise_name]
    inv = ex.substitute(scm.inverse(name), {k: v for k, v in constants.items() if k != name})
    lin = Linearizer(b, env, f"{GROUP_DENSITY}:{name}", breakpoints)
    u = lin(inv)
    return (u - float(noise.mean)) * (1.0 / float(noise.std)), lin.max_error


def add_plausibility(problem: RecourseProblem, b: IRBuilder, env: Mapping[str, Affine], x: Mapping[str, float],
                     intervenable: Sequence[str], constants: Mapping[str, float], breakpoints: int
                     ) -> tuple[DensityRows | None, float]:
    """Add the problem's plausibility rows; returns the density ball (None for a box / no constraint) and the
    piecewise-linear error of the re-abducted noises (0: exact)."""
    pl = problem.plausibility
    if pl is None:
        return None, 0.0
    scm = problem.scm
    if pl.kind == "box":
        for n in scm.names:
            expr = env[n] if n in env else Affine.constant(x[n])
            b.add_row(expr, float(pl.lower[n]), float(pl.upper[n]), GROUP_BOX)
        return None, 0.0
    names = tuple(n for n in scm.names if n in intervenable)
    zs, err = [], 0.0
    z0 = np.zeros(len(names))
    for i, n in enumerate(names):
        z, e = _z_affine(problem, n, b, env, constants, breakpoints)
        zs.append(z)
        err = max(err, e)
        noise = scm.noises[scm.variable(n).noise_name]
        z0[i] = (float(problem.noise[scm.index(n)]) - noise.mean) / noise.std
    log_px = float(scm.log_density(problem.x))
    radius2 = 2.0 * (log_px - float(pl.threshold)) + float(z0 @ z0)
    rows = DensityRows(names, tuple(zs), radius2)
    if radius2 < 0.0:   # even the most likely intervened values leave the point below the threshold
        b.add_row(Affine.constant(0.0), 1.0, math.inf, GROUP_DENSITY)
        return rows, err
    r = math.sqrt(radius2)
    for z in zs:
        b.add_row(z, -r, r, GROUP_DENSITY)
    return rows, err


def with_density_cuts(model: MIPModel, cuts: Sequence[tuple[Affine, float]]) -> MIPModel:
    """Append rows `row <= hi` (density cuts) to a built model."""
    if not cuts:
        return model
    rows, cols, vals, hi = [], [], [], []
    for i, (row, h) in enumerate(cuts):
        for j, c in row.terms.items():
            if c != 0.0:
                rows.append(i)
                cols.append(j)
                vals.append(c)
        hi.append(h - row.const)
    extra = sp.csr_matrix((vals, (rows, cols)), shape=(len(cuts), model.n_cols))
    return dataclasses.replace(model, A=sp.vstack([model.A, extra], format="csr"),
                               row_lo=np.concatenate([model.row_lo, np.full(len(cuts), -np.inf)]),
                               row_hi=np.concatenate([model.row_hi, hi]),
                               row_groups=model.row_groups + (GROUP_DENSITY,) * len(cuts))


def solve_with_density_cuts(solve: Callable[[MIPModel], Any], model: MIPModel, density: DensityRows | None,
                            rounds: int = CUT_ROUNDS) -> Any:
    """`solve(model)` (a backend call returning a solution with `.x`), re-solved with the cut through each point
    outside the density ball until a point lies inside it, none exists, or `rounds` solves were made. For the
    one-shot MILP solves outside the search (certificates, feasibility checks, relaxation stage 1): without it
    they would see only the ball's axis rows, a relaxation."""
    cuts: list[tuple[Affine, float]] = []
    sol = solve(model)
    for _ in range(rounds - 1):
        cut = density.cut(sol.x) if density is not None and sol.x is not None else None
        if cut is None:
            break
        cuts.append(cut)
        sol = solve(with_density_cuts(model, cuts))
    return sol


__all__ = ["DensityRows", "add_plausibility", "with_density_cuts", "solve_with_density_cuts", "GROUP_BOX",
           "GROUP_DENSITY"]
