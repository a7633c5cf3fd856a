"""solve_many's closed form over linear pieces (solver/linear_pieces.py, solver/pwl_lift.py), each part against an
independent reference: scipy's linprog / SLSQP (the one-row knapsacks, p = 1 / 2), the SCM's own numpy
counterfactuals (the lifted pieces) and the MILP pipeline one person at a time (exact.solve) for the answers,
including the people the closed form must leave to the MILP (concave score, L0, max-changes, a tree)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy.optimize import linprog, minimize
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from milp_recourse import Actionability, CostSpec, Preferences, RecourseProblem, SolveOptions, load_scm, solve
from milp_recourse.models.classifiers import favourable
from milp_recourse.models.recipes import train_recipe
from milp_recourse.scm.spec import scm_from_dict
from milp_recourse.solver import linear_pieces as lp
from milp_recourse.solver.many import solve_many
from milp_recourse.solver.pwl_lift import Pwl, lift
from milp_recourse.solver.verify import verify_action

OPTS = SolveOptions(time_limit=30.0)


def _linprog_knapsack(g, r, lo, hi, c) -> float:
    """min c.(p + q) s.t. g.(p - q) >= r, p in [0, hi], q in [0, -lo] with scipy (inf when infeasible)."""
    res = linprog(np.concatenate([c, c]), A_ub=-np.concatenate([g, -g])[None, :], b_ub=[-r],
                  bounds=[(0, h) for h in hi] + [(0, -v) for v in lo], method="highs")
    return res.fun if res.status == 0 else np.inf


def test_knapsack_matches_linprog():
    rng = np.random.default_rng(0)
    seen_inf = 0
    for m in (1, 2, 3, 5):
        n = 60
        g = rng.normal(size=(n, m)) * (rng.random((n, m)) < 0.8)
        lo, hi = -rng.uniform(0, 2, (n, m)), rng.uniform(0, 2, (n, m))
        c = rng.uniform(0.1, 3, (n, m))
        r = rng.normal(1.0, 1.5, n)
        cost, d = lp.knapsack(g, r, lo, hi, c)
        for i in range(n):
            ref = _linprog_knapsack(g[i], r[i], lo[i], hi[i], c[i])
            if np.isinf(ref):
                seen_inf += 1
                assert np.isinf(cost[i])
                continue
            assert cost[i] == pytest.approx(ref, rel=1e-9, abs=1e-12)
            assert np.all(d[i] >= lo[i] - 1e-12) and np.all(d[i] <= hi[i] + 1e-12)
            assert g[i] @ d[i] >= r[i] - 1e-9
            assert np.sum(c[i] * np.abs(d[i])) == pytest.approx(cost[i], rel=1e-12, abs=1e-15)
    assert seen_inf >= 1   # infeasible rows are reported, not hidden


def test_squared_knapsack_matches_slsqp():
    """p = 2: the KKT closed form against scipy's SLSQP on the same convex QP (infeasible rows: SLSQP fails)."""
    rng = np.random.default_rng(2)
    solved = 0
    for m in (1, 2, 4):
        n = 40
        g = rng.normal(size=(n, m)) * (rng.random((n, m)) < 0.8)
        lo, hi = -rng.uniform(0, 2, (n, m)), rng.uniform(0, 2, (n, m))
        c, r = rng.uniform(0.1, 3, (n, m)), rng.normal(1.0, 1.5, n)
        cost, d = lp.knapsack_squared(g, r, lo, hi, c)
        for i in range(n):
            ref = minimize(lambda x: np.sum(c[i] * x * x), np.zeros(m), jac=lambda x: 2 * c[i] * x,
                           constraints=[{"type": "ineq", "fun": lambda x: g[i] @ x - r[i], "jac": lambda x: g[i]}],
                           bounds=list(zip(lo[i], hi[i])), method="SLSQP", options={"ftol": 1e-14, "maxiter": 500})
            if not (ref.success and g[i] @ ref.x >= r[i] - 1e-8):
                assert np.isinf(cost[i]) and g[i] @ np.where(g[i] > 0, hi[i], lo[i]) < r[i]
                continue
            solved += 1
            assert cost[i] == pytest.approx(ref.fun, rel=1e-7, abs=1e-10)
            assert g[i] @ d[i] >= r[i] - 1e-9 and np.all(d[i] >= lo[i]) and np.all(d[i] <= hi[i])
    assert solved >= 40


def test_knapsack_infinite_bounds_and_met_rows():
    g = np.array([[2.0, 0.0], [0.0, 0.0], [1.0, -1.0]])
    args = (g, np.array([4.0, 1.0, -1.0]), np.full((3, 2), -np.inf), np.full((3, 2), np.inf),
            np.array([[1.0, 1.0], [1.0, 1.0], [1.0, 5.0]]))
    cost, d = lp.knapsack(*args)
    assert cost[0] == pytest.approx(2.0) and d[0].tolist() == [2.0, 0.0]
    assert np.isinf(cost[1])            # no feature moves the score
    assert cost[2] == 0.0 and not d[2].any()   # already met: nothing moves
    cost, d = lp.knapsack_squared(*args)
    assert cost[0] == pytest.approx(4.0) and d[0].tolist() == [2.0, 0.0]
    assert np.isinf(cost[1]) and cost[2] == 0.0 and not d[2].any()


def test_lifted_pieces_reproduce_the_scm():
    """Loan: E and L shifted, I and S follow their equations (S = -4 + 1.5 max(I, 0) + U_S, convex in the shifts);
    the max over the lifted pieces equals the SCM's own counterfactual at random shifts."""
    scm = load_scm("loan")
    data = scm.sample(40, seed=4, return_noise=True)
    people = [RecourseProblem(scm, train_recipe(scm, "logreg", n=500), row) for row in
              data[list(scm.names)].to_dict("records")]
    X, U = np.vstack([p.x for p in people]), np.vstack([p.noise for p in people])
    n, act = len(people), ["E", "L"]
    consts = {scm.variable(k).noise_name: U[:, j] for j, k in enumerate(scm.names)}
    consts.update({k: X[:, scm.index(k)] for k in ("G", "A")})
    env: dict[str, Pwl] = {}
    for k in ("E", "L"):
        piece = np.zeros((n, 3))
        piece[:, act.index(k)], piece[:, -1] = 1.0, X[:, scm.index(k)]
        env[k] = Pwl.affine(piece)
    for k in ("D", "I", "S"):
        env[k] = lift(scm.equations[k], consts, env, n, 2)
    assert env["S"].curvature == 1 and len(env["S"].pieces) == 2 and env["D"].curvature == 0
    rng = np.random.default_rng(1)
    for _ in range(5):
        d = rng.normal(0, 0.5, (n, 2))
        do = {k: X[:, scm.index(k)] + d[:, j] for j, k in enumerate(act)}
        ref = scm.predict_from_noise(U, do)
        for k in ("D", "I", "S"):
            vals = np.max([np.sum(p[:, :2] * d, 1) + p[:, 2] for p in env[k].pieces], axis=0)
            assert np.allclose(vals, ref[:, scm.index(k)], rtol=1e-12, atol=1e-9), k


def _denied(scm, clf, n: int, seed: int, **kw) -> list[RecourseProblem]:
    S = scm.sample(6 * n + 50, seed=seed)
    rows = S[~favourable(clf, S[list(scm.names)].to_numpy(float))].head(n)
    return [RecourseProblem(scm, clf, r, options=OPTS, **kw) for r in rows.to_dict("records")]


@pytest.fixture(scope="module")
def loan_logreg():
    scm = load_scm("loan")
    return scm, train_recipe(scm, "logreg", n=2000)


def _same_as_solve(problems, expect_closed: bool):
    """solve_many against the MILP pipeline (solve with closed_form=False, the independent reference), and
    against solve with the defaults, which takes the same closed form one person at a time."""
    results, stats = solve_many(problems)
    for pr, got in zip(problems, results):
        ref = solve(dataclasses.replace(pr, options=dataclasses.replace(pr.options, closed_form=False)))
        assert ref.engines != (lp.ENGINE,)
        one = solve(pr)
        assert one.engines == got.engines and one.status is got.status
        if got.cost is not None:
            assert one.cost == pytest.approx(got.cost, rel=1e-12, abs=1e-15)
            assert dict(one.action) == pytest.approx(dict(got.action), rel=1e-12, abs=1e-15)
        assert got.status is ref.status, (got.status, ref.status)
        if ref.cost is not None:
            assert got.cost == pytest.approx(ref.cost, rel=1e-7, abs=1e-10)
            assert got.verified and verify_action(pr, got.action).ok
        if expect_closed and got.cost:
            assert got.engines == (lp.ENGINE,) and got.backend == lp.ENGINE
            assert got.objective_bound == pytest.approx(got.cost, rel=1e-9) and got.gap == 0.0
    return results, stats


def test_closed_form_equals_the_milp_under_varied_costs_and_bounds(loan_logreg):
    scm, clf = loan_logreg
    variants = [{},
                {"cost": CostSpec(p=1, divisors={"L": 4.0, "S": 10.0}, scale=2.0)},
                {"cost": CostSpec(p=2)},
                {"cost": CostSpec(p=2, divisors={"I": 3.0}), "preferences": Preferences(weights={"L": 2.0})},
                {"preferences": Preferences(weights={"E": 3.0, "I": 0.5})},
                {"actionability": Actionability(actionable=("L", "I", "S"), directions={"S": "up"},
                                                bounds={"I": (None, 6.0)})}]
    for k, kw in enumerate(variants):
        problems = _denied(scm, clf, 5, seed=10 + k, **kw)
        _, stats = _same_as_solve(problems, expect_closed=True)
        assert stats.closed_form == len(problems), kw


def test_other_linear_models_targets_and_thresholds(loan_logreg):
    """A linear SVM (decision score), a 0.7 probability threshold, a classifier that reads only some of the SCM's
    variables, and the other class as the favourable one: there the score falls with S, which rises with
    max(I, 0), so the score is concave in the shift of I and every person goes to the MILP."""
    scm, clf = loan_logreg
    data = scm.sample(3000, seed=8)
    sub = LogisticRegression().fit(data[["I", "S", "L"]], data["I"] + data["S"] - data["L"] > 0)
    cases = [(train_recipe(scm, "svm", n=2000), {}, True), (clf, {"threshold": 0.7}, True), (sub, {}, True),
             (clf, {"target_class": 0}, False)]
    for model, extra, closed in cases:
        opts = dataclasses.replace(OPTS, **extra)
        S = scm.sample(200, seed=31)
        probe = RecourseProblem(scm, model, S.iloc[0].to_dict(), options=opts)
        X = S[list(probe.features)].to_numpy(float)
        fav = favourable(model, X, opts.threshold, opts.target_class)
        problems = [RecourseProblem(scm, model, r, options=opts) for r in S[~fav].head(6).to_dict("records")]
        assert len(problems) == 6
        _, stats = _same_as_solve(problems, expect_closed=closed)
        assert stats.closed_form == (6 if closed else 0), extra
    assert RecourseProblem(scm, sub, S.iloc[0].to_dict()).features == ("I", "S", "L")


def test_people_the_closed_form_must_leave_to_the_milp(loan_logreg):
    scm, clf = loan_logreg
    base = _denied(scm, clf, 3, seed=21)
    others = [dataclasses.replace(base[0], cost=CostSpec(p=1, l0=0.5)),
              dataclasses.replace(base[1], actionability=Actionability(max_changes=1)),
              dataclasses.replace(base[2], options=dataclasses.replace(OPTS, backend="ortools-highs"))]
    reasons = [lp.ineligible(p) for p in others]
    assert all(reasons) and lp.ineligible(base[0]) is None
    assert lp.settle(others) == {}
    _, stats = _same_as_solve(others + base, expect_closed=False)
    assert stats.closed_form == len(base)
    # a tree is not linear: read off its encoding, it has rows of its own
    data = scm.sample(500, seed=2)
    tree = DecisionTreeClassifier(max_depth=3, random_state=0).fit(data[list(scm.names)], data["S"] > 0)
    assert lp.linear_score(tree, len(scm.names), None) is None
    assert lp.settle([]) == {}


def _loan_like(equation_s: str):
    spec = {"name": "loan-like", "variables": [
        {"name": "A", "type": "continuous", "domain": [-3, 3], "actionability": "immutable", "equation": "U_A",
         "noise": {"name": "U_A", "dist": "normal", "mean": 0, "std": 1}},
        {"name": "I", "type": "continuous", "domain": [-12, 12], "actionability": "actionable", "equation": "U_I",
         "noise": {"name": "U_I", "dist": "normal", "mean": 0, "std": 2}},
        {"name": "S", "type": "continuous", "domain": [-40, 40], "actionability": "actionable",
         "equation": equation_s, "noise": {"name": "U_S", "dist": "normal", "mean": 0, "std": 2}}]}
    scm = scm_from_dict(spec)
    data = scm.sample(3000, seed=0)
    X = data[list(scm.names)].to_numpy(float)
    return scm, X


def test_concave_score_and_mixed_signs(loan_like=_loan_like):
    # S rises with max(I, 0) but the classifier wants S low: the score is concave in the shift of I
    scm, X = loan_like("-1 + 1.5*max(I, 0) + U_S")
    clf = LogisticRegression().fit(X, (0.5 * X[:, 1] - X[:, 2] > 0).astype(int))
    problems = _denied(scm, clf, 6, seed=3)
    assert lp.settle(problems) == {}
    _same_as_solve(problems, expect_closed=False)
    # S = A * max(I, 0): the multiplier's sign differs between people, so each is settled alone; with the score
    # rising in S, the people with A > 0 have a convex score (settled), those with A < 0 a concave one (the MILP's)
    scm, X = loan_like("A*max(I, 0) + U_S")
    clf = LogisticRegression().fit(X, (X[:, 1] + X[:, 2] > 1).astype(int))
    assert clf.coef_[0][2] > 0
    problems = _denied(scm, clf, 10, seed=5)
    assert {np.sign(p.x[0]) for p in problems} == {-1.0, 1.0}
    settled = lp.settle(problems)
    assert set(settled) == {i for i, p in enumerate(problems) if p.x[0] > 0}
    _same_as_solve(problems, expect_closed=False)


def test_a_failing_closed_form_raises_or_leaves_everyone_to_the_milp(loan_logreg, monkeypatch):
    from milp_recourse.solver import many

    scm, clf = loan_logreg
    problems = _denied(scm, clf, 3, seed=41)
    good, _ = solve_many(problems)

    def broken(problems):
        raise RuntimeError("closed form exploded")

    monkeypatch.setattr(many, "settle", broken)
    with pytest.raises(RuntimeError, match="closed form exploded"):
        solve_many(problems)
    results, stats = solve_many(problems, capture_errors=True)
    assert stats.closed_form == 0 and stats.updates + stats.loads == len(problems)
    for a, b in zip(good, results):
        assert b.status is a.status and b.cost == pytest.approx(a.cost, rel=1e-7) and b.engines != (lp.ENGINE,)
