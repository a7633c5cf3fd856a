"""LP bound tightening (exact.tighten_bounds, layer by layer then whole passes) never cuts off the optimum.

Reference: the same people solved with interval big-M bounds only (tighten_passes=0, a different model of
the same problem), and the independent re-check of every answer.
"""

from __future__ import annotations

import dataclasses

import pytest

from milp_recourse import CostSpec, RecourseProblem, SolveOptions, Status, load_scm, solve
from milp_recourse.compile import compile_problem
from milp_recourse.exact import _layers, tighten_bounds
from milp_recourse.heuristic import random_search
from milp_recourse.recipes import train_recipe
from milp_recourse.solve_many import screen


@pytest.fixture(scope="module")
def denied_mlp_problems() -> list[RecourseProblem]:
    out = []
    for name in ("loan", "chain"):
        scm = load_scm(name)
        clf = train_recipe(scm, "mlp", n=2000)
        X = scm.sample(60, seed=4).to_numpy(float)
        cands = [RecourseProblem(scm=scm, classifier=clf, individual=x, cost=CostSpec(p=2),
                                 options=SolveOptions(time_limit=60.0)) for x in X]
        out += [pr for pr, fav in zip(cands, screen(cands)) if not fav][:3]
    return out


def test_tightening_keeps_the_optimum(denied_mlp_problems):
    for pr in denied_mlp_problems:
        tight = solve(pr)
        loose = solve(dataclasses.replace(pr, options=dataclasses.replace(pr.options, tighten_passes=0)))
        assert tight.status is loose.status
        assert tight.status in (Status.OPTIMAL, Status.NO_RECOURSE)
        if tight.status is Status.OPTIMAL:
            assert tight.verified and loose.verified
            assert tight.cost == pytest.approx(loose.cost, rel=2e-4, abs=1e-7)


def test_tightening_removes_binaries(denied_mlp_problems):
    removed = 0
    for pr in denied_mlp_problems:
        inc = random_search(pr, 500, 0)
        assert inc is not None
        compiled = compile_problem(pr, upper_bound=inc.cost, incumbent=inc.action)
        tightened = tighten_bounds(pr, compiled, inc, 5)
        assert tightened.model.n_integer <= compiled.model.n_integer
        assert all(lo <= hi for lo, hi in zip(tightened.model.col_lb, tightened.model.col_ub))
        removed += compiled.model.n_integer - tightened.model.n_integer
    assert removed > 0   # proven-stable ReLUs lose their binary


def test_layers_keep_order_and_split_scm_terms_from_network_layers():
    names = ["f[I]", "scm:S.max1", "f[S]", "clf.h1[0]", "clf.h1[1]", "clf.h2[0]", "clf.h2[3]"]
    assert _layers(names) == [["f[I]", "scm:S.max1", "f[S]"], ["clf.h1[0]", "clf.h1[1]"], ["clf.h2[0]", "clf.h2[3]"]]
