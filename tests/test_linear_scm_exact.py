"""The linear-SCM search (solver/linear_scm_exact.py) against exhaustive enumeration of intervention sets.

Reference: for every set I of actionable nodes, the score of do(x_I := theta_I) is affine in theta (measured on the
SCM's own counterfactuals and the classifier's own decision_function, by unit steps), so the cheapest theta for I is
the fractional knapsack of linear_pieces.knapsack (p = 1) within the person's bounds; the optimum is the cheapest
set. The engine must match it whenever it proves an answer, and its action must pass the independent re-check;
an unproven answer (state LIMIT) must be a valid action no cheaper than the optimum, with a lower bound no
higher than it.
"""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest

from milp_recourse import Actionability, CostSpec, RecourseProblem, SolveOptions, solve
from milp_recourse.models.classifiers import favourable
from milp_recourse.models.recipes import train_recipe
from milp_recourse.result import SearchState
from milp_recourse.scm.random_linear import random_linear_scm
from milp_recourse.solver.linear_pieces import knapsack
from milp_recourse.solver import linear_scm_exact
from milp_recourse.solver.linear_scm_exact import ENGINE, ineligible, search
from milp_recourse.solver.verify import verify_action

# the references score numpy rows with models fitted on frames (same values; sklearn warns about the names)
pytestmark = pytest.mark.filterwarnings("ignore:X does not have valid feature names:UserWarning")


def _case(nodes: int, seed: int, immutable: int = 1, people: int = 2):
    scm = random_linear_scm(nodes, seed=seed, n_immutable=immutable)
    model = train_recipe(scm, "logreg", 1500, 0)
    X = scm.sample(200, seed=seed + 1)[list(scm.names)].to_numpy(float)
    denied = np.flatnonzero(~favourable(model, X))[:people]
    return scm, model, [dict(zip(scm.names, X[i])) for i in denied]


def _brute_force(problem: RecourseProblem) -> float:
    """Cheapest p = 1 action over every intervention set (theta by the knapsack on measured unit effects)."""
    scm, model = problem.scm, problem.classifier
    rules = [r for r in problem.rules if not r.blocked]
    names = [r.name for r in rules]
    x = problem.x
    xa = np.array([x[scm.index(k)] for k in names])
    lo, hi = np.array([r.lower for r in rules]) - xa, np.array([r.upper for r in rules]) - xa
    c = np.array([problem.cost.scale * r.weight / r.divisor for r in rules])
    feat = [scm.index(f) for f in problem.features]
    need = 1e-6 - float(model.decision_function(x[feat].reshape(1, -1))[0])
    best = np.inf
    for k in range(1, len(names) + 1):
        for subset in itertools.combinations(range(len(names)), k):
            base = np.tile(xa[list(subset)], (len(subset) + 1, 1))
            base[1:] += np.eye(len(subset))
            do = {names[j]: base[:, col] for col, j in enumerate(subset)}
            cf = scm.predict_from_noise(np.tile(problem.noise, (len(base), 1)), do)
            s = model.decision_function(cf[:, feat])
            g = np.zeros(len(names))
            g[list(subset)] = s[1:] - s[0]
            on = np.zeros(len(names), bool)
            on[list(subset)] = True
            # theta_I = x_I is the factual itself (cost 0): the score still needed is measured from there
            cost, _ = knapsack(g[None, :], np.array([need]), np.where(on, lo, 0.0)[None, :],
                               np.where(on, hi, 0.0)[None, :], c[None, :])
            best = min(best, float(cost[0]))
    return best


@pytest.mark.parametrize("seed,immutable,bounds", [(11, 1, False), (13, 1, False), (16, 3, False), (14, 1, True)])
def test_matches_enumeration(seed: int, immutable: int, bounds: bool) -> None:
    scm, model, people = _case(12, seed, immutable, people=2)
    answered = 0
    for p in people:
        act = Actionability()
        if bounds:   # tight boxes around the factual: the best single mover may not reach the threshold alone
            act = Actionability(bounds={n: (p[n] - 2.0, p[n] + 1.0) for n in scm.names[immutable:]})
        pr = RecourseProblem(scm, model, p, cost=CostSpec(p=1), actionability=act)
        if ineligible(pr) is not None:
            continue
        out = search(pr, time.perf_counter() + 30.0)
        ref = _brute_force(pr)
        if out is None:
            continue   # no single mover fits its bounds: the MILP pipeline alone (allowed)
        if out.state is not SearchState.OPTIMAL:   # handed to the MILP pipeline with an action and a bound
            _check_unproven(pr, out, ref)
            continue
        answered += 1
        assert out.cost == pytest.approx(ref, rel=1e-7, abs=1e-9)
        assert out.lower_bound <= out.cost + 1e-12 and out.lower_bound >= ref * (1 - 1e-7)
        ver = verify_action(pr, out.action)
        assert ver.ok and ver.cost == pytest.approx(out.cost, rel=1e-9)
    assert answered >= 1


def _check_unproven(pr: RecourseProblem, out, ref: float) -> None:
    """An unproven outcome: a valid action no cheaper than the optimum `ref`, a lower bound no higher."""
    assert out.state is SearchState.LIMIT and out.action
    assert out.lower_bound <= ref * (1 + 1e-9) + 1e-12 and out.cost >= ref * (1 - 1e-9)
    ver = verify_action(pr, out.action)
    assert ver.ok and ver.cost == pytest.approx(out.cost, rel=1e-9)


def test_solve_uses_it_and_p2_is_left_alone() -> None:
    scm, model, people = _case(12, 21)
    pr = RecourseProblem(scm, model, people[0], cost=CostSpec(p=1), options=SolveOptions(time_limit=30))
    assert ineligible(pr) is None
    res = solve(pr)
    assert res.status.value == "OPTIMAL" and res.engines == (ENGINE,) and res.verified
    assert res.cost == pytest.approx(_brute_force(pr), rel=1e-7)
    sq = RecourseProblem(scm, model, people[0], cost=CostSpec(p=2))
    assert ineligible(sq) is not None and search(sq, time.perf_counter() + 5.0) is None


def test_capped_mover_goes_to_the_milp() -> None:
    """A better mover whose shift would pass its bound: no proof. The engine hands over its best mover that fits
    and its bound, unproven, or nothing when no single mover fits (this person: each reaches the threshold only
    past its box), and the MILP pipeline finds the optimum."""
    scm, model, people = _case(12, 14)
    p = people[0]
    act = Actionability(bounds={n: (p[n] - 2.0, p[n] + 1.0) for n in scm.names[1:]})
    pr = RecourseProblem(scm, model, p, cost=CostSpec(p=1), actionability=act, options=SolveOptions(time_limit=60))
    ref = _brute_force(pr)
    out = search(pr, time.perf_counter() + 30.0)
    assert ineligible(pr) is None
    res = solve(pr)
    if out is None:
        assert ENGINE not in res.engines
    else:
        _check_unproven(pr, out, ref)
        assert res.path[0].engine == ENGINE and res.path[0].outcome == "bound"
    assert res.status.value == "OPTIMAL" and res.cost == pytest.approx(ref, rel=1e-4) and res.verified


@pytest.mark.parametrize("seed", [11, 13, 21])
def test_beyond_the_proof_size_the_action_and_bound_carry_over(monkeypatch, seed: int) -> None:
    """Past MAX_PROVE changing variables (set to 0 here, so that enumeration can check it) no proof is tried: the
    best single mover and the effect bound go to the MILP pipeline, which starts from that action (never
    costlier) and keeps the bound where its own is weaker; the MILP then proves the enumerated optimum."""
    monkeypatch.setattr(linear_scm_exact, "MAX_PROVE", 0)
    scm, model, people = _case(12, seed)
    for p in people:
        pr = RecourseProblem(scm, model, p, cost=CostSpec(p=1), options=SolveOptions(time_limit=60))
        assert ineligible(pr) is None
        ref = _brute_force(pr)
        out = search(pr, time.perf_counter() + 30.0)
        assert out is not None
        _check_unproven(pr, out, ref)
        res = solve(pr)
        assert res.path[0].engine == ENGINE and res.path[0].outcome == "bound" and res.verified
        assert res.status.value == "OPTIMAL" and res.cost == pytest.approx(ref, rel=1e-4)
        assert res.cost <= out.cost * (1 + 1e-9) and res.objective_bound >= out.lower_bound * (1 - 1e-12)
