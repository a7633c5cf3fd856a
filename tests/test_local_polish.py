"""The heuristic's building blocks: vectorised counterfactuals against the SCM's own, and the SLSQP polish
over intervention patterns against the proven optimum where each pattern's problem is convex."""

from __future__ import annotations

import numpy as np
import pytest

import milp_recourse.solver.polish as local_polish
from milp_recourse import CostSpec, RecourseProblem, Status, load_scm, solve
from milp_recourse.solver.incumbent import random_search
from milp_recourse.solver.polish import _mediators, polish
from milp_recourse.models.recipes import train_recipe
from milp_recourse.scm.simulate import counterfactuals
from milp_recourse.solver.verify import verify_action

from denied import denied_problems  # noqa: E402


@pytest.mark.parametrize("name", ["loan", "chain-nonlinear", "triangle"])
def test_counterfactuals_match_the_scm_one_action_at_a_time(name):
    """Rows of the batched counterfactuals (non-descendants of the actionable features keep their factual
    values without evaluation) equal SCM.counterfactual on each action alone."""
    scm = load_scm(name)
    feats = list(scm.actionable)
    rng = np.random.default_rng(3)
    for x in scm.sample(5, seed=2).to_numpy(float):
        mask = rng.random((12, len(feats))) < 0.5
        theta = np.array([[rng.uniform(*scm.variable(f).domain) for f in feats] for _ in range(12)])
        batch = counterfactuals(scm, x, feats, mask, theta)
        for row, m, t in zip(batch, mask, theta):
            one = scm.counterfactual(x, {f: v for f, v, on in zip(feats, t, m) if on})
            np.testing.assert_allclose(row, one, rtol=1e-9, atol=1e-9)


def test_mediators_are_the_features_an_action_moves_for_this_person():
    """Loan: savings always follow income; income follows education only for G = 1 (the G * E term)."""
    scm = load_scm("loan")
    clf = train_recipe(scm, "logreg", n=1000)
    X = scm.sample(40, seed=5)
    seen = set()
    for _, row in X.iterrows():
        pr = RecourseProblem(scm=scm, classifier=clf, individual=row.to_dict(), cost=CostSpec(p=2))
        got = _mediators(pr)
        assert got == (["I", "S"] if row["G"] == 1 else ["S"])
        seen.add(int(row["G"]))
    assert seen == {0, 1}


@pytest.fixture(scope="module")
def denied_chain_logreg() -> list[RecourseProblem]:
    return denied_problems("chain", "logreg", seed=8, keep=8, candidates=80)


def test_polish_over_patterns_reaches_the_proven_optimum_on_a_linear_chain(denied_chain_logreg, monkeypatch):
    """Linear SCM, linear classifier, p = 2: each intervention pattern is a convex problem, so the best polished
    pattern is the global optimum; with only the all-intervened pattern some people stay far above it."""
    gaps_all, gaps_one = [], []
    for pr in denied_chain_logreg:
        best = solve(pr)
        assert best.status is Status.OPTIMAL and best.verified
        inc = random_search(pr, 500, 0)
        out = polish(pr, inc)
        check = verify_action(pr, out.action)
        assert check.ok, check.violations
        assert out.cost == pytest.approx(check.cost, rel=1e-12)
        gaps_all.append(out.cost / best.cost - 1.0)
        monkeypatch.setattr(local_polish, "MAX_MEDIATOR_VARIANTS", 1)
        gaps_one.append(polish(pr, inc).cost / best.cost - 1.0)
        monkeypatch.undo()
    assert max(gaps_all) <= 1e-4, gaps_all
    assert min(gaps_all) >= -1e-4                     # never below a proven optimum
    assert max(gaps_one) > 1e-2, gaps_one             # the mediator patterns are what closes the gap
