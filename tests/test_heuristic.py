"""The random-search upper bound (heuristic.random_search) returns only actions the independent re-check
accepts. Its coordinate sweeps once dropped do(S := x_S) on a mediator as if it were no intervention: S then
follows its equation, and on a Loan + MLP person the 'incumbent' scored -10.8 (the MILP, cut off at its cost,
returned it as VERIFICATION_FAILED)."""

from __future__ import annotations

import dataclasses

import pytest

from milp_recourse import Actionability, CostSpec
from milp_recourse.solver.incumbent import random_search
from milp_recourse.solver.verify import verify_action

from denied import denied_problems  # noqa: E402


@pytest.mark.parametrize("cost, act", [(CostSpec(p=1, l0=0.1), Actionability(max_changes=2)),
                                       (CostSpec(p=1), Actionability()),
                                       (CostSpec(p=2), Actionability(max_changes=1))])
def test_random_search_returns_verified_actions(cost, act):
    for pr in denied_problems("loan", "mlp", seed=21, keep=4, candidates=80):
        pr = dataclasses.replace(pr, cost=cost, actionability=act)
        for coordinate_shrink in (True, False):
            inc = random_search(pr, 4096, 0, coordinate_shrink=coordinate_shrink)
            if inc is None:
                continue
            ver = verify_action(pr, inc.action)
            assert ver.ok, (inc.action, ver.score, ver.violations)
            assert inc.cost == pytest.approx(ver.cost)
