"""The hard-model path: LP bound tightening (exact.tighten_bounds, layer by layer then whole passes) never
cuts off the optimum, and the SLSQP polish of the heuristic incumbent returns valid, cheaper actions.

References: the same people solved with interval big-M bounds only (tighten_passes=0, a different model of
the same problem), and the independent re-check of every answer (verify_action).
"""

from __future__ import annotations

import dataclasses

import pytest

from milp_recourse import RecourseProblem, SolveOptions, Status, solve
from milp_recourse.encode.compile import compile_problem
from milp_recourse.solver.tighten import _layers, tighten_bounds
from milp_recourse.solver.incumbent import random_search
from milp_recourse.solver.polish import polish
from milp_recourse.solver.verify import verify_action

from denied import denied_problems  # noqa: E402


@pytest.fixture(scope="module")
def denied_mlp_problems() -> list[RecourseProblem]:
    return [pr for name in ("loan", "chain") for pr in denied_problems(name, "mlp", seed=4, keep=3, time_limit=60.0)]


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


def test_polish_returns_a_valid_action_never_costlier(denied_mlp_problems):
    improved = 0
    for pr in denied_mlp_problems:
        inc = random_search(pr, 300, 0)
        assert inc is not None
        out = polish(pr, inc)
        check = verify_action(pr, out.action)
        assert check.ok, check.violations                            # the real classifier and SCM agree
        assert out.cost == pytest.approx(check.cost, rel=1e-12)      # the reported cost is the recomputed one
        assert out.cost <= inc.cost
        improved += out.cost < inc.cost * (1 - 1e-6)
    assert improved > 0


def test_reported_bound_is_valid_against_an_exact_search(denied_mlp_problems):
    """The answer is within the gap of a gap-0 search's and its lower bound (never above the solver's cutoff:
    a dual bound past it proves nothing) stays below that search's cost. (A gap-0 search of a p = 2 model
    may end FEASIBLE: the outer approximation stalls at round-off.)"""
    for pr in denied_mlp_problems:
        loose = solve(pr)
        exact = solve(dataclasses.replace(pr, options=dataclasses.replace(pr.options, mip_gap=0.0)))
        if loose.status is Status.NO_RECOURSE:
            assert exact.status is Status.NO_RECOURSE
            continue
        assert loose.status is Status.OPTIMAL and exact.status in (Status.OPTIMAL, Status.FEASIBLE)
        gap = pr.options.mip_gap
        assert loose.gap <= gap * (1 + 1e-6)
        assert loose.cost <= exact.cost * (1 + gap) + 1e-12          # within the gap of the exact search
        assert loose.objective_bound <= exact.cost * (1 + 1e-7) + 1e-12   # a valid lower bound
        assert exact.objective_bound <= loose.cost * (1 + 1e-7) + 1e-12


def test_parallel_ranges_equal_sequential_and_scipy(denied_mlp_problems):
    """affine_ranges on 2 threads returns what one thread does, and both match scipy's LP (another solver)."""
    import numpy as np
    from scipy.optimize import linprog

    from milp_recourse.backends.highs import HighsBackend

    pr = denied_mlp_problems[0]
    inc = random_search(pr, 300, 0)
    model = compile_problem(pr, upper_bound=inc.cost, incumbent=inc.action).model
    targets = list(compile_problem(pr, upper_bound=inc.cost, incumbent=inc.action).tighten_targets.values())
    exprs = [(np.fromiter(a.terms.keys(), int), np.fromiter(a.terms.values(), float), a.const) for a in targets]
    assert len(exprs) >= 8
    one = HighsBackend().affine_ranges(model, exprs, threads=1)
    two = HighsBackend().affine_ranges(model, exprs, threads=2)
    assert np.allclose(np.array(one), np.array(two), rtol=1e-7, atol=1e-7)
    A = model.A.toarray()
    A_ub = np.vstack([A[np.isfinite(model.row_hi)], -A[np.isfinite(model.row_lo)]])
    b_ub = np.concatenate([model.row_hi[np.isfinite(model.row_hi)], -model.row_lo[np.isfinite(model.row_lo)]])
    bounds = list(zip(np.where(np.isfinite(model.col_lb), model.col_lb, None),
                      np.where(np.isfinite(model.col_ub), model.col_ub, None)))
    for (cols, coefs, const), (lo, hi) in list(zip(exprs, one))[:: max(1, len(exprs) // 4)]:
        c = np.zeros(model.n_cols)
        c[cols] = coefs
        low = linprog(c, A_ub=A_ub, b_ub=b_ub, bounds=bounds, method="highs-ds")
        high = linprog(-c, A_ub=A_ub, b_ub=b_ub, bounds=bounds, method="highs-ds")
        assert low.status == 0 and high.status == 0
        assert lo == pytest.approx(low.fun + const, rel=1e-6, abs=1e-6)
        assert hi == pytest.approx(-high.fun + const, rel=1e-6, abs=1e-6)


@pytest.mark.parametrize("bad", [0, -1, True, 2.0, "2"])
def test_tighten_threads_is_validated(bad):
    from milp_recourse import InputError

    with pytest.raises(InputError, match="tighten_threads.*integer >= 1.*" + repr(bad).replace("'", ".")):
        SolveOptions(tighten_threads=bad)


def test_similar_first_order_is_a_greedy_chain_over_every_expression():
    """Each expression once; after each, the remaining one whose coefficient direction is closest."""
    import numpy as np

    from milp_recourse.backends.highs import similar_first_order

    rng = np.random.default_rng(3)
    exprs = [(np.sort(rng.choice(12, size=4, replace=False)), rng.normal(size=4), 0.0) for _ in range(15)]
    chain = similar_first_order(exprs, 12)
    assert sorted(chain) == list(range(15)) and chain[0] == 0
    dense = np.zeros((15, 12))
    for j, (cols, coefs, _) in enumerate(exprs):
        dense[j, cols] = coefs / np.linalg.norm(coefs)
    for k in range(1, 15):
        left = [j for j in range(15) if j not in chain[:k]]
        best = max(dense[j] @ dense[chain[k - 1]] for j in left)
        assert dense[chain[k]] @ dense[chain[k - 1]] == pytest.approx(best)


def test_tightening_keeps_binary_indicators_when_the_caller_asked_for_them():
    """diagnose/relaxations.py compiles with binary intervention indicators (its rows a_X <= r, sum a - M r <= K
    need 0/1 values); tightening recompiles, and must keep them 0/1 (an outside fuzz: a[x0] = 0.269 in the
    relaxation stage, which then reported an 'inconsistent' action instead of giving up max_changes)."""
    from denied import denied_problems

    from milp_recourse.encode.compile import compile_problem
    from milp_recourse.solver.incumbent import random_search
    from milp_recourse.solver.tighten import tighten_bounds

    problem = denied_problems("loan", "mlp", seed=4, keep=1)[0]
    inc = random_search(problem, 256, 0)
    for binary in (True, False):
        compiled = compile_problem(problem, upper_bound=inc.cost, incumbent=inc.action, binary_indicators=binary)
        assert compiled.tighten_targets
        tight = tighten_bounds(problem, compiled, inc, 1, binary_indicators=binary)
        flags = {name: bool(tight.model.integrality[col]) for name, col in tight.a_cols.items()}
        assert flags and (all(flags.values()) if binary else not all(flags.values())), flags
