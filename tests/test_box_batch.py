"""The lock-step box search (solver/box_batch.py, solver/box_people.py) against the one-person box search and
solve(): the same numbers bit for bit, for CARMA people (p = 2) and a p = 1 / L0 case; the network bound's
shortcut for the [I; -I] rows against the explicit matrix product; the per-box _cheapest against per-front calls.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest

from milp_recourse import CostSpec, InputError, RecourseProblem, SolveOptions, solve
from milp_recourse.bounds import relu_bounds
from milp_recourse.scm.plan import PlanCache
from milp_recourse.solver.box_batch import search_boxes_many
from milp_recourse.solver.box_search import _cheapest, _cheapest_p1, search_boxes
from milp_recourse.solver.incumbent import random_search
from milp_recourse.solver.many import solve_many
from milp_recourse.solver.polish import polish

from carma import carma_case  # noqa: E402
from denied import denied_problems  # noqa: E402


def _carma_people(n: int) -> list[RecourseProblem]:
    scm, net, test, cost = carma_case()
    names = list(scm.names)
    rows = np.flatnonzero(net.predict(test[names].to_numpy(float)) == 0)[:n]
    return [RecourseProblem(scm, net, test.iloc[int(i)][names].to_dict(), cost=cost,
                            options=SolveOptions(time_limit=60.0)) for i in rows]


def _same(a, b) -> bool:
    return (a.action == b.action and a.cost == b.cost and a.lower_bound == b.lower_bound and a.state == b.state
            and a.boxes == b.boxes)


@pytest.mark.shared_data
def test_lock_step_equals_one_person_box_search_bit_for_bit():
    people = _carma_people(12)
    incs = [polish(pr, random_search(pr, 256, 3)) for pr in people]
    far = time.perf_counter() + 600
    alone = [search_boxes(pr, inc, far, PlanCache()) for pr, inc in zip(people, incs)]
    together = search_boxes_many(people, incs, [far] * len(people), PlanCache())
    assert all(_same(a, b) for a, b in zip(alone, together))
    assert all(a.state == "optimal" for a in alone)
    # a box budget: each person stops where it would alone (state 'limit', the same bound)
    alone = [search_boxes(pr, inc, far, PlanCache(), max_boxes=40) for pr, inc in zip(people, incs)]
    together = search_boxes_many(people, incs, [far] * len(people), PlanCache(), max_boxes=40)
    assert all(_same(a, b) for a, b in zip(alone, together))
    assert any(a.state == "limit" for a in alone)


@pytest.fixture(scope="module")
def mlp_people() -> list[RecourseProblem]:
    return denied_problems("loan", "mlp", seed=4, keep=5)


def test_lock_step_equals_one_person_box_search_p1_with_l0(mlp_people):
    people = [dataclasses.replace(pr, cost=CostSpec(p=1, l0=0.05)) for pr in mlp_people]
    incs = [random_search(pr, 256, 0) for pr in people]
    far = time.perf_counter() + 600
    alone = [search_boxes(pr, inc, far) for pr, inc in zip(people, incs)]
    together = search_boxes_many(people, incs, [far] * len(people))
    assert all(_same(a, b) for a, b in zip(alone, together))
    assert all(a.boxes > 0 and a.state == "optimal" for a in alone)


@pytest.mark.shared_data
def test_solve_many_equals_solve_on_carma_people():
    people = _carma_people(10)
    many, _ = solve_many(people)
    for pr, m in zip(people, many):
        one = solve(pr)
        assert (m.status, m.cost, m.objective_bound, m.action) == (one.status, one.cost, one.objective_bound,
                                                                    one.action)
        assert m.engines == one.engines and m.path_reasons == one.path_reasons and m.backend == "box-search"


def test_a_failing_group_falls_back_to_the_one_person_path(monkeypatch, mlp_people):
    people = mlp_people[:3]
    import milp_recourse.solver.box_people as bp

    def boom(*args, **kwargs):
        raise RuntimeError("lock-step failed")

    monkeypatch.setattr(bp, "search_boxes_many", boom)
    many, _ = solve_many(people)
    for pr, m in zip(people, many):
        one = solve(pr)
        assert (m.status, m.cost, m.action) == (one.status, one.cost, one.action)


def test_lengths_must_match(mlp_people):
    people = mlp_people[:2]
    inc = random_search(people[0], 64, 0)
    with pytest.raises(InputError, match="2 problems, 1 incumbents and 2 deadlines"):
        search_boxes_many(people, [inc], [1.0, 1.0])


@pytest.mark.parametrize("widths", [(6,), (9, 7), (8, 6, 5)])
def test_signed_identity_shortcut_equals_the_matrix_product(widths):
    """The rows [I; -I] taken without the matmuls: bit for bit, except layer 2's bounds, which go back through
    layer 1 by column scalings (relu_bounds._signed_first): the same up to rounding."""
    rng = np.random.default_rng(3)
    sizes = (5,) + widths + (1,)
    layers = [(rng.normal(size=(b, a)), rng.normal(size=b)) for a, b in zip(sizes[:-1], sizes[1:])]
    n, d = 30, 3
    S, o = rng.normal(size=(n, 5, d)), rng.normal(size=(n, 5))
    r = np.abs(rng.normal(size=(n, 5))) * 0.1
    relax = []
    for k in range(1, len(layers)):
        w = layers[k - 1][0].shape[0]
        both = np.broadcast_to(np.concatenate([np.eye(w), -np.eye(w)]), (n, 2 * w, w))
        G1, h1 = relu_bounds._upper_line(layers, relax, k, both, S, o, r)
        G2, h2 = relu_bounds._upper_line(layers, relax, k, None, S, o, r)
        if k == 2:
            assert np.allclose(G1, G2, rtol=1e-12, atol=1e-12) and np.allclose(h1, h2, rtol=1e-12, atol=1e-12)
        else:
            assert np.array_equal(G1, G2) and np.array_equal(h1, h2)
        lo_hi = relu_bounds._box_max(G1, h1, -np.ones((n, d)), np.ones((n, d)))
        relax.append(relu_bounds._relaxation(-lo_hi[:, w:], np.maximum(lo_hi[:, :w], -lo_hi[:, w:])))


@pytest.mark.parametrize("fn", [_cheapest, _cheapest_p1])
def test_cheapest_per_box_arguments_equal_per_front_calls(fn):
    rng = np.random.default_rng(5)
    fronts = []
    for _ in range(4):
        n, d = int(rng.integers(1, 9)), 3
        lo = rng.uniform(-2, 0, (n, d))
        fronts.append((rng.uniform(0.5, 2, d), rng.uniform(-1, 1, d), lo, lo + rng.uniform(0.1, 2, (n, d)),
                       rng.normal(size=(n, d)), rng.normal(size=n), float(rng.normal())))
    each = [fn(*f) for f in fronts]
    sizes = [len(f[2]) for f in fronts]
    stack = [np.concatenate([np.broadcast_to(f[j], (m, 3)) for f, m in zip(fronts, sizes)]) for j in (0, 1)]
    rest = [np.concatenate([f[j] for f in fronts]) for j in (2, 3, 4, 5)]
    t = np.concatenate([np.full(m, f[6]) for f, m in zip(fronts, sizes)])
    lower, point = fn(*stack, *rest, t)
    assert np.array_equal(lower, np.concatenate([e[0] for e in each]))
    assert np.array_equal(point, np.concatenate([e[1] for e in each]))
    assert np.isfinite(lower).any()


def _random_fronts(people, rng, per_front=7):
    """Each person's starting fronts, each box replaced by `per_front` random sub-boxes of it."""
    from milp_recourse.solver.box_search import start_boxes

    out = []
    for pr in people:
        state = start_boxes(pr, random_search(pr, 128, 0), float("inf"))
        for dims, _, _, lo, hi in state.fronts:
            a, b = rng.uniform(lo, hi, (per_front, lo.shape[1])), rng.uniform(lo, hi, (per_front, lo.shape[1]))
            out.append((state, dims, np.minimum(a, b), np.maximum(a, b)))
    return out


@pytest.mark.parametrize("case", ["carma", "nonlinear"])
def test_stacked_forms_equal_counterfactual_forms(case):
    from milp_recourse.bounds.scm_boxes import counterfactual_forms
    from milp_recourse.solver.box_forms import _signature, forms_many

    rng = np.random.default_rng(11)
    people = (_carma_people(6) if case == "carma" else
              denied_problems("chain-nonlinear", "mlp", seed=5, keep=3, candidates=80))
    fronts = _random_fronts(people, rng)
    got = forms_many(fronts, chunk=4)
    for (state, dims, lo, hi), (S, o, r) in zip(fronts, got):
        S0, o0, r0 = counterfactual_forms(state.problem, state.plan, state.constants, dims, lo, hi)
        idx = state.inputs
        assert np.array_equal(S, S0[:, idx]) and np.array_equal(o, o0[:, idx]) and np.array_equal(r, r0[:, idx])
    stacked = [_signature(state, dims) is not None for state, dims, _, _ in fronts]
    assert all(stacked) if case == "carma" else not all(stacked)   # sigmoid / square of a changing variable


def test_box_settled_people_are_never_compiled(monkeypatch, mlp_people):
    """A person the box search settles needs no MILP model (strategy.box_plan): neither solve nor solve_many compiles
    one, and the answers are those of the path that compiles first (box search switched off: the MILP pipeline)."""
    import milp_recourse.solver.many as many
    import milp_recourse.solver.pipeline as pipeline

    calls: list[int] = []
    real = pipeline.compile_problem

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "compile_problem", counting)
    monkeypatch.setattr(many, "compile_problem", counting)
    people = mlp_people[:4]
    alone = []
    for pr in people:
        calls.clear()
        alone.append(solve(pr))
        assert (alone[-1].backend == "box-search") == (not calls)   # compiled only when the box search did not settle
    settled = [pr for pr, r in zip(people, alone) if r.backend == "box-search"]
    assert settled
    calls.clear()
    together, _ = solve_many(settled)
    assert not calls and all(r.backend == "box-search" for r in together)
    for pr, one in zip(people, alone):
        m = solve_many([pr])[0][0]
        assert (m.status, m.cost, m.objective_bound, m.action) == (one.status, one.cost, one.objective_bound,
                                                                    one.action)
        milp = solve(dataclasses.replace(pr, options=dataclasses.replace(pr.options, box_search=False)))
        assert one.status is milp.status   # both proven within the default relative gap (1e-4)
        assert one.cost == pytest.approx(milp.cost, rel=2 * pr.options.mip_gap, abs=1e-9)
        assert one.objective_bound <= milp.cost * (1 + 1e-9) + 1e-12
    calls.clear()
    solve(dataclasses.replace(people[0], options=dataclasses.replace(people[0].options, box_search=False)))
    assert calls   # (the counter sees the compiles of a path that needs the model)


def test_a_person_the_lock_step_does_not_settle_goes_on_from_its_box_search(monkeypatch, mlp_people):
    """A box search stopped by its budget (or deadline) hands its incumbent to the MILP pipeline, under the
    person's own deadline: solve_many must not search that person again from scratch (which gave a person up to
    twice its time limit), and must end where solve ends."""
    import milp_recourse.solver.box_search as bs
    import milp_recourse.solver.pipeline as pl

    monkeypatch.setattr(bs, "MAX_BOXES", 1)
    calls = {"boxes": 0, "heuristic": 0}
    real_boxes, real_heur = pl.search_boxes, pl.random_search

    def counted_boxes(*args, **kwargs):
        calls["boxes"] += 1
        return real_boxes(*args, **kwargs)

    def counted_heur(*args, **kwargs):
        calls["heuristic"] += 1
        return real_heur(*args, **kwargs)

    monkeypatch.setattr(pl, "search_boxes", counted_boxes)
    monkeypatch.setattr(pl, "random_search", counted_heur)
    people = mlp_people[:3]
    many, _ = solve_many(people)
    assert calls == {"boxes": 0, "heuristic": 0}   # the lock-step's work was taken on, not redone
    for pr, m in zip(people, many):
        one = solve(pr)
        engines = [step.engine for step in m.path]
        assert engines.count("box-search") == 1 and engines.count("incumbent") == 1, engines
        assert engines[engines.index("box-search") + 1:], engines   # the MILP pipeline went on after it
        assert m.status == one.status and m.verified and one.verified
        assert m.cost == pytest.approx(one.cost, rel=1e-4, abs=1e-7)
        assert [s.engine for s in one.path] == engines
