"""Compile once / solve many: the kept-relaxation branch and bound, the HiGHS session, effect cuts,
verify_many and solve_many, each against an independent reference.

References: brute-force enumeration of every binary pattern with scipy's linprog (the branch and bound),
a fresh HiGHS MIP solve (the session's numbers-only updates), reference_optimum's LP enumeration
(effect cuts), exact.solve one person at a time and verify_action (solve_many / verify_many).
"""

from __future__ import annotations

import dataclasses
import itertools
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import linprog
from milp_recourse import (Actionability, CostSpec, InputError, RecourseProblem, SolveOptions, Status, load_scm,
                           solve)
from milp_recourse.solver import many
from milp_recourse.backends import SolverParams, get_backend
from milp_recourse.backends.highs_session import HighsSession
from milp_recourse.models.classifiers import favourable
from milp_recourse.encode.compile import compile_problem
from milp_recourse.mip.ir import MIPModel
from milp_recourse.models.recipes import train_recipe
from milp_recourse.solver.small_bnb import branch_and_bound
from milp_recourse.solver.many import Failed, solve_many
from milp_recourse.solver.verify import verify_action, verify_many

sys.path.insert(0, str(Path(__file__).resolve().parent))
from recourse_reference import reference_optimum  # noqa: E402

FAST = SolveOptions(heuristic_samples=0, time_limit=30.0)


def _random_mip(rng: np.random.Generator, n_bin: int, n_cont: int, m: int) -> MIPModel:
    """min c x, lo <= A x <= hi with big-M style couplings between binaries and continuous columns."""
    n = n_bin + n_cont
    A = rng.normal(size=(m, n)) * (rng.random((m, n)) < 0.6)
    for k in range(min(n_bin, n_cont)):  # x_cont_k <= 3 * z_k: an indicator-gated column
        row = np.zeros(n)
        row[n_bin + k], row[k] = 1.0, -3.0
        A = np.vstack([A, row])
    x0 = np.concatenate([rng.integers(0, 2, n_bin), rng.uniform(-1, 1, n_cont)])
    act = A @ x0
    lo = act - rng.uniform(0.1, 1.0, len(act))
    hi = np.where(rng.random(len(act)) < 0.5, act + rng.uniform(0, 0.5, len(act)), np.inf)
    lo[m:], hi[m:] = -np.inf, 0.0
    return MIPModel(col_names=tuple(f"c{j}" for j in range(n)),
                    col_lb=np.concatenate([np.zeros(n_bin), -2 * np.ones(n_cont)]),
                    col_ub=np.concatenate([np.ones(n_bin), 2 * np.ones(n_cont)]),
                    integrality=np.arange(n) < n_bin, c=rng.normal(size=n), A=sp.csr_matrix(A),
                    row_lo=lo, row_hi=hi, row_groups=("g",) * len(act))


def _enumerate(model: MIPModel) -> float:
    """Optimum by solving the LP of every binary pattern with scipy (inf when none is feasible)."""
    ints = np.flatnonzero(model.integrality)
    A = model.A.toarray()
    A_ub = np.vstack([A[np.isfinite(model.row_hi)], -A[np.isfinite(model.row_lo)]])
    b_ub = np.concatenate([model.row_hi[np.isfinite(model.row_hi)], -model.row_lo[np.isfinite(model.row_lo)]])
    best = np.inf
    for pattern in itertools.product((0.0, 1.0), repeat=len(ints)):
        lb, ub = model.col_lb.copy(), model.col_ub.copy()
        lb[ints] = ub[ints] = pattern
        res = linprog(model.c, A_ub=A_ub, b_ub=b_ub, bounds=list(zip(lb, ub)), method="highs")
        if res.status == 0:
            best = min(best, res.fun)
    return best


def test_branch_and_bound_matches_enumeration_on_random_mips():
    rng = np.random.default_rng(3)
    seen = {"optimal": 0, "infeasible": 0}
    session = HighsSession()
    for _ in range(40):
        model = _random_mip(rng, n_bin=int(rng.integers(1, 6)), n_cont=int(rng.integers(1, 4)), m=int(rng.integers(2, 5)))
        session.load(model)
        out = branch_and_bound(session, model, mip_gap=0.0)
        ref = _enumerate(model)
        seen[out.state] += 1
        if np.isfinite(ref):
            assert out.state == "optimal" and abs(out.objective - ref) <= 1e-6 * (1 + abs(ref)), (out, ref)
            assert out.bound <= out.objective + 1e-9
            assert np.allclose(out.x[model.integrality], np.round(out.x[model.integrality]), atol=1e-9)
        else:
            assert out.state == "infeasible"
    assert seen["optimal"] >= 10 and seen["infeasible"] >= 1, seen


def test_branch_and_bound_node_limit_is_reported_not_hidden():
    model = _random_mip(np.random.default_rng(5), n_bin=6, n_cont=3, m=4)
    session = HighsSession()
    session.load(model)
    out = branch_and_bound(session, model, node_limit=1)
    assert out.state in ("limit", "optimal", "infeasible") and out.nodes <= 1
    if out.state == "limit":
        assert out.bound <= _enumerate(model) + 1e-6


def test_session_numbers_only_update_equals_a_fresh_solve():
    rng = np.random.default_rng(11)
    base = _random_mip(rng, 3, 3, 3)
    session = HighsSession()
    session.load(base)
    for k in range(6):  # same structure, new numbers: bounds, right-hand sides, costs and matrix values
        A = base.A.copy()
        A.data = A.data * rng.uniform(0.5, 1.5, A.data.size)
        other = dataclasses.replace(base, A=A, c=rng.normal(size=base.n_cols),
                                    row_lo=base.row_lo - rng.uniform(0, 0.3, base.n_rows))
        session.load(other)
        out = branch_and_bound(session, other, mip_gap=0.0)
        fresh = get_backend("highs").solve(other, SolverParams(mip_gap=0.0))
        if fresh.x is None:
            assert out.state == "infeasible"
        else:
            assert out.state == "optimal" and abs(out.objective - fresh.objective) <= 1e-6 * (1 + abs(fresh.objective))
    assert session.loads == 1 and session.updates == 6
    session.load(_random_mip(rng, 2, 2, 2))  # another structure: a full load
    assert session.loads == 2


def _people(scm, clf, n: int, seed: int, denied: bool = True) -> list[dict]:
    S = scm.sample(300, seed=seed)
    fav = favourable(clf, S[list(scm.names)].to_numpy())
    rows = S[~fav] if denied else S
    return [rows.iloc[i].to_dict() for i in range(min(n, len(rows)))]


def test_effect_cuts_keep_the_optimum_and_raise_the_root_bound(four_node_models):
    raised = 0
    for (name, kind), (scm, clf) in four_node_models.items():
        for person in _people(scm, clf, 4, seed=5):
            with_cuts = RecourseProblem(scm, clf, person, options=FAST)
            without = RecourseProblem(scm, clf, person, options=dataclasses.replace(FAST, effect_cuts=False))
            ref, _ = reference_optimum(with_cuts)
            a, b = solve(with_cuts), solve(without)
            assert a.status is b.status is Status.OPTIMAL, (name, kind, a.status, b.status)
            assert abs(a.cost - ref) <= 1e-4 * (1 + ref) and abs(b.cost - ref) <= 1e-4 * (1 + ref)
            lp = get_backend("highs")
            root_with = lp.solve(compile_problem(with_cuts).model.relaxed(), SolverParams()).objective
            root_without = lp.solve(compile_problem(without).model.relaxed(), SolverParams()).objective
            assert root_with >= root_without - 1e-7 and root_with <= ref + 1e-6
            raised += root_with > root_without + 1e-6
    assert raised >= 3  # the cuts strengthen the relaxation, not only in principle


def test_effect_cuts_option_is_validated():
    with pytest.raises(InputError, match="effect_cuts"):
        SolveOptions(effect_cuts="yes")


def _mixed_batch(four_node_models) -> list[RecourseProblem]:
    """Denied and already favourable people, a blocked person (no recourse), a p = 2 cost (outer
    approximation, not the small branch and bound) and tree classifiers."""
    scm, clf = four_node_models[("chain", "logreg")]
    out = [RecourseProblem(scm, clf, p, options=FAST) for p in _people(scm, clf, 6, seed=2, denied=False)]
    denied = _people(scm, clf, 3, seed=4)
    out += [RecourseProblem(scm, clf, p, options=FAST) for p in denied]
    out.append(RecourseProblem(scm, clf, denied[0], options=FAST, actionability=Actionability(actionable=("x3",),
                               bounds={"x3": (None, denied[0]["x3"])})))
    out.append(RecourseProblem(scm, clf, denied[1], options=FAST, cost=CostSpec(p=2)))
    tscm, tree = four_node_models[("triangle", "tree")]
    out += [RecourseProblem(tscm, tree, p, options=FAST) for p in _people(tscm, tree, 3, seed=6)]
    return out


def test_solve_many_equals_solving_one_by_one(four_node_models):
    problems = _mixed_batch(four_node_models)
    results, stats = solve_many(problems)
    statuses = set()
    for pr, got in zip(problems, results):
        ref = solve(pr)
        statuses.add(got.status)
        assert got.status is ref.status
        if ref.cost is not None:
            assert abs(got.cost - ref.cost) <= 1e-6 * (1 + abs(ref.cost))
            assert verify_action(pr, got.action).ok and got.verified
        if ref.certificate:
            assert got.certificate["kind"] == ref.certificate["kind"] and got.certificate["proven"]
    assert {Status.OPTIMAL, Status.ALREADY_FAVOURABLE, Status.NO_RECOURSE} <= statuses
    assert stats.n == len(problems) and stats.already_favourable >= 1 and stats.updates >= 1
    assert all(r.total_seconds >= 0 for r in results)


def test_solve_many_hands_back_a_failing_person(four_node_models, monkeypatch):
    problems = _mixed_batch(four_node_models)[6:10]
    real = many.search_person
    victim = problems[1]

    def flaky(problem, *args, **kwargs):
        if problem is victim:
            raise RuntimeError("solver exploded")
        return real(problem, *args, **kwargs)

    monkeypatch.setattr(many, "search_person", flaky)
    monkeypatch.setattr(many, "settle", lambda problems: {})   # every person through the MILP pipeline
    results, _ = solve_many(problems, capture_errors=True)
    assert isinstance(results[1], Failed) and "solver exploded" in str(results[1].error)
    assert all(not isinstance(r, Failed) for i, r in enumerate(results) if i != 1)
    with pytest.raises(RuntimeError, match="solver exploded"):
        solve_many(problems)


def test_solve_many_refuses_bad_items_before_any_work(monkeypatch):
    monkeypatch.setattr(many, "search_person", lambda *a, **k: pytest.fail("work started"))
    with pytest.raises(InputError, match="item 0 is a dict"):
        solve_many([{"x1": 1.0}])
    scm = load_scm("chain")
    clf = train_recipe(scm, "logreg", n=500)
    person = _people(scm, clf, 1, seed=3, denied=False)[0]
    with pytest.raises(InputError, match="Unknown backend 'nope'"):
        solve_many([RecourseProblem(scm, clf, person, options=SolveOptions(backend="nope"))])


def test_verify_many_equals_verify_action(four_node_models):
    problems = _mixed_batch(four_node_models)
    rng = np.random.default_rng(1)
    actions = []
    for pr in problems:
        names = [r.name for r in pr.rules]
        pick = names[: int(rng.integers(0, len(names) + 1))]
        actions.append({k: float(pr.factual[k] + rng.normal()) for k in pick})
    for pr, act, got in zip(problems, actions, verify_many(problems, actions)):
        ref = verify_action(pr, act)
        assert (got.favourable, got.constraints_ok, got.violations) == (ref.favourable, ref.constraints_ok,
                                                                         ref.violations)
        assert got.score == pytest.approx(ref.score) and got.cost == pytest.approx(ref.cost)
    with pytest.raises(InputError, match="one action per problem"):
        verify_many(problems[:2], actions[:1])


def test_solve_many_in_small_windows_equals_one_window(four_node_models, monkeypatch):
    problems = _mixed_batch(four_node_models)
    whole, stats_whole = solve_many(problems)
    monkeypatch.setattr(many, "WINDOW", 3)
    windows, stats = solve_many(problems)
    assert stats.n == stats_whole.n == len(problems)
    assert stats.already_favourable == stats_whole.already_favourable
    assert stats.loads + stats.updates == stats_whole.loads + stats_whole.updates
    for a, b in zip(whole, windows):
        assert a.status is b.status
        if a.cost is not None:
            assert b.cost == pytest.approx(a.cost, rel=1e-9, abs=1e-12)
