"""Linear worlds with features in units far apart (x 1e-4 .. 1e6), domains widened (x 10 .. 1e6) or prices far
apart (x 1e-4 and x 1e4), forced onto the MILP path (closed_form=False). Their compiled models' coefficients
spanned up to 1e16; HiGHS met its absolute 1e-7 tolerances in those units and proved OPTIMAL up to 7x the optimum
(units: 15 of 149 wrong or unproven; domains: 31 of 160; prices at p = 2: 21 of 145 unproven). Such models are now
solved equilibrated (mip/scaling.py), LP-tightened equilibrated, and a small one with SCM big-M rows seeks an
incumbent first, whose cost radius bounds the big-M values. Reference: tests/linear_worlds.py, every intervention
set's LP or closed form in natural units, outside the package."""

from __future__ import annotations

import numpy as np
import pytest

from linear_worlds import exact_optimum, problem, scaled_cases
from milp_recourse import Status, solve

MARGIN = 1e-6   # the package accepts a score >= 1e-6 for a strict threshold (decision > 0)
GAP = 1e-4      # the default relative optimality gap

# (mode, seed, person, p): each was wrong or unproven before (OPTIMAL above the optimum, or FEASIBLE dearer)
CASES = [("units", 4, 1, 1), ("units", 8, 0, 1), ("units", 22, 1, 1), ("units", 31, 1, 1),
         ("units", 1, 1, 2), ("units", 9, 1, 2), ("units", 16, 1, 2), ("units", 29, 0, 2),
         ("widen", 0, 1, 1), ("widen", 3, 1, 1), ("widen", 16, 0, 1), ("widen", 25, 1, 1),
         ("widen", 5, 1, 2), ("widen", 9, 1, 2), ("widen", 12, 1, 2), ("widen", 25, 0, 2),
         ("uneven", 4, 0, 2), ("uneven", 9, 1, 2), ("uneven", 17, 1, 2), ("uneven", 23, 1, 2), ("uneven", 30, 0, 2)]


def draw(mode: str, seed: int, person: int, p: int):
    """The world, person, units and widths of one case."""
    for k, q, world, x, units, widen in scaled_cases(mode, seed):
        if (k, q) == (person, p):
            return world, x, units, widen
    raise LookupError("no such case")


@pytest.mark.parametrize("mode,seed,person,p", CASES)
def test_badly_scaled_linear_world_is_proven_at_its_optimum(mode, seed, person, p):
    world, x, units, widen = draw(mode, seed, person, p)
    ref = exact_optimum(world, x, p, widen, margin=MARGIN)
    prob = problem(world, x, p, units, widen)
    r = solve(prob)
    assert r.status is Status.OPTIMAL, r.message
    # OPTIMAL promises a gap within --gap 1e-4 relative or 1e-9 absolute (README), and a bound that holds
    assert r.cost == pytest.approx(ref, rel=GAP, abs=1e-9)
    assert r.objective_bound <= ref * (1 + 1e-6) + 1e-12
    # the action, replayed in natural units by hand: the estimator's own predict approves and the cost is the
    # reported one
    n = len(world.B)
    theta = {int(k[1:]): v / units[int(k[1:])] for k, v in r.action.items()}
    u = x - world.B @ x
    xp = np.zeros(n)
    for j in range(n):
        xp[j] = theta[j] if j in theta else world.B[j] @ xp + u[j]
    assert prob.classifier.predict((xp * units)[None, :])[0] == 1
    cost = sum(world.price[j] * abs(theta[j] - x[j]) ** p for j in theta)
    assert cost == pytest.approx(r.cost, rel=1e-6)


def test_the_same_world_in_natural_units_agrees():
    """Units only rename values: the natural world's optimum (closed form and MILP path) is the far-apart one's."""
    world, x, units, widen = draw("units", 22, 1, 1)
    plain = [solve(problem(world, x, 1, np.ones(len(units)), widen, closed_form=cf)) for cf in (True, False)]
    far = solve(problem(world, x, 1, units, widen))
    assert {r.status for r in plain + [far]} == {Status.OPTIMAL}
    assert far.cost == pytest.approx(plain[0].cost, rel=1e-6)
    assert plain[1].cost == pytest.approx(plain[0].cost, rel=1e-6)
