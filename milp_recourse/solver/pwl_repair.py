"""Repair of an answer of a piecewise-linear SCM that misses the threshold on the true SCM by a little.

The MILP's optimum lies on the favourable region's edge as the piecewise-linear SCM draws it; on the true SCM the
same action can fall just short (the interpolation error). Stretching the action away from the factual,
x + t (a - x) for the least t >= 1 that the true SCM and classifier accept (found by doubling, then bisection),
gives a verified action next to it. Where the score is piecewise constant (tree ensembles), this costs only the
error's worth, while a raised score margin can rule out the cheapest cells altogether (pipeline.refine).
"""

from __future__ import annotations

from typing import Mapping

from milp_recourse.problem.recourse_problem import RecourseProblem
from milp_recourse.solver.verify import Verification, verify_action

MAX_STRETCH = 4.0     # t beyond this: no repair (the action is not near the region's edge)
BISECTIONS = 40


def stretch_to_valid(problem: RecourseProblem, action: Mapping[str, float]
                     ) -> tuple[dict[str, float], Verification] | None:
    """The verified action x + t (action - x) for the least t in [1, MAX_STRETCH] found (to 2^-40 relative), or
    None when none is (a hard constraint breaks first, or no t up to MAX_STRETCH is favourable)."""
    x = problem.factual
    if not action or any(not isinstance(v, (int, float)) for v in action.values()):
        return None

    def at(t: float) -> tuple[dict[str, float], Verification]:
        moved = {k: float(x[k]) + t * (float(v) - float(x[k])) for k, v in action.items()}
        return moved, verify_action(problem, moved)

    lo, step = 1.0, 1e-9
    while True:
        t = min(1.0 + step, MAX_STRETCH)
        moved, ver = at(t)
        if not ver.constraints_ok:
            return None
        if ver.favourable:
            break
        if t >= MAX_STRETCH:
            return None
        lo, step = t, step * 4.0
    hi, best = t, (moved, ver)
    for _ in range(BISECTIONS):
        if hi - lo <= 1e-12 * hi:
            break
        mid = (lo + hi) / 2.0
        moved, ver = at(mid)
        if ver.ok:
            hi, best = mid, (moved, ver)
        else:
            lo = mid
    return best


__all__ = ["stretch_to_valid", "MAX_STRETCH"]
