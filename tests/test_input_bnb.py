"""The box search for ReLU networks (input_bnb.py) and its parts, each against an independent reference:
the estimator's own logit (relu_layers, relu_forward), sampled points of each box (score_upper_bound, counterfactual_forms:
the numpy SCM), scipy's SLSQP (the per-box QP), and the MILP pipeline on the same people (end to end)."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest
from scipy.optimize import minimize
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

import milp_recourse.solver.box_search as input_bnb
from milp_recourse import (Actionability, CostSpec, InputError, Preferences, RecourseProblem, SolveOptions, Status,
                           load_scm, solve)
from milp_recourse.models.classifiers import ReLUNetwork, reference_score
from milp_recourse.scm.plan import PlanCache
from milp_recourse.solver.incumbent import random_search
from milp_recourse.solver.polish import polish
from milp_recourse.solver.box_search import _cheapest, _cheapest_p1, search_boxes
from milp_recourse.solver.strategy import box_search_reason as why_not
import milp_recourse.solver.strategy as strategy
from milp_recourse.models.recipes import labelled_sample
from milp_recourse.bounds.relu_bounds import relu_forward, relu_layers, score_upper_bound
from milp_recourse.bounds.scm_boxes import counterfactual_forms
from milp_recourse.scm.simulate import counterfactuals, person_constants

from denied import denied_problems  # noqa: E402


@pytest.fixture(scope="module")
def loan_data():
    scm = load_scm("loan")
    X, y = labelled_sample(scm, 600, seed=2)
    return scm, X.to_numpy(float), y


@pytest.mark.parametrize("make", [
    lambda: MLPClassifier((8, 6), max_iter=300, random_state=0),
    lambda: make_pipeline(StandardScaler(), MLPClassifier((8,), max_iter=300, random_state=0)),
    lambda: make_pipeline(MinMaxScaler(), StandardScaler(), MLPClassifier((8, 4), max_iter=300, random_state=0)),
])
@pytest.mark.parametrize("target", [1, 0])
def test_relu_layers_compute_the_estimators_own_logit(loan_data, make, target):
    _, X, y = loan_data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # tiny fits: convergence warnings
        model = make().fit(X, y)
    layers = relu_layers(model, target)
    ref, kind = reference_score(model, X, target)
    assert kind == "logit"
    assert np.allclose(relu_forward(layers, X), ref, rtol=1e-9, atol=1e-9)


def test_relu_layers_fold_the_networks_own_scaler(loan_data):
    _, X, _ = loan_data
    rng = np.random.default_rng(0)
    net = ReLUNetwork((rng.normal(size=(5, 7)), rng.normal(size=(1, 5))), (rng.normal(size=5), rng.normal(size=1)),
                      scaler_mean=X.mean(axis=0), scaler_std=X.std(axis=0))
    assert np.allclose(relu_forward(relu_layers(net), X), net.decision_function(X), rtol=1e-9, atol=1e-9)


def test_relu_layers_refuse_other_models(loan_data):
    _, X, y = loan_data
    assert relu_layers(LogisticRegression(max_iter=500).fit(X, y)) is None
    assert relu_layers(MLPClassifier((4,), activation="tanh", max_iter=50, random_state=0).fit(X, y)) is None


@pytest.mark.parametrize("widths", [(12,), (12, 9), (10, 8, 6)])
@pytest.mark.parametrize("radius", [0.0, 0.3])
def test_score_upper_bound_holds_on_sampled_points_and_is_exact_on_tiny_boxes(radius, widths):
    rng = np.random.default_rng(1)
    sizes = (5,) + widths + (1,)
    layers = [(rng.normal(size=(b, a)), rng.normal(size=b)) for a, b in zip(sizes[:-1], sizes[1:])]
    n, d = 40, 3
    S = rng.normal(size=(n, 5, d))
    o = rng.normal(size=(n, 5))
    r = np.full((n, 5), radius)
    lo = rng.normal(size=(n, d))
    hi = lo + rng.uniform(0.01, 2.0, size=(n, d))
    bound = score_upper_bound(layers, S, o, r, lo, hi)
    for i in range(n):
        theta = rng.uniform(lo[i], hi[i], size=(300, d))
        err = rng.uniform(-radius, radius, size=(300, 5))
        score = relu_forward(layers, theta @ S[i].T + o[i] + err)
        assert np.all(score <= theta @ bound.g[i] + bound.h[i] + 1e-9)
        assert np.all(score <= bound.top[i] + 1e-9)
    tiny = score_upper_bound(layers, S, o, np.zeros((n, 5)), lo, lo + 1e-9)
    assert np.allclose(tiny.top, relu_forward(layers, np.einsum("nmd,nd->nm", S, lo) + o), atol=1e-6)


@pytest.mark.parametrize("name", ["loan", "chain-nonlinear", "triangle"])
def test_counterfactual_forms_contain_the_true_counterfactuals(name):
    scm = load_scm(name)
    rng = np.random.default_rng(5)
    x = scm.sample(3, seed=3).to_numpy(float)
    plans = PlanCache()
    for row in x:
        pr = _problem_without_classifier(scm, row)
        names = [r.name for r in pr.rules if not r.blocked]
        changing = plans.changing(scm, names)
        plan = plans.get(scm, changing)
        consts = person_constants(pr, changing)
        for dims in ([names[-1]], names[:1], names):     # patterns that leave mediators to their equations
            x0 = np.array([row[scm.index(k)] for k in dims])
            lo = x0 - rng.uniform(0.0, 2.0, size=(6, len(dims)))
            hi = x0 + rng.uniform(0.0, 2.0, size=(6, len(dims)))
            S, o, r = counterfactual_forms(pr, plan, consts, dims, lo, hi)
            for i in range(6):
                theta = rng.uniform(lo[i], hi[i], size=(200, len(dims)))
                true = counterfactuals(scm, row, dims, np.ones_like(theta, bool), theta, noise=pr.noise)
                approx = theta @ S[i].T + o[i]
                assert np.all(np.abs(true - approx) <= r[i] + 1e-8 * (1 + np.abs(true)))


def _problem_without_classifier(scm, row):
    """A RecourseProblem for the SCM part only: any classifier on the SCM's features will do."""
    X, y = labelled_sample(scm, 200, seed=0)
    clf = LogisticRegression(max_iter=200).fit(X.to_numpy(float), y)
    return RecourseProblem(scm, clf, dict(zip(scm.names, row)), cost=CostSpec(p=2))


def _random_boxes(seed: int, n: int = 60, d: int = 3):
    """Per-box problems: cost weights c, the person x0, boxes lo..hi around x0 and lines g . theta + h."""
    rng = np.random.default_rng(seed)
    c = rng.uniform(0.2, 3.0, size=d)
    x0 = rng.normal(size=d)
    lo = x0 + rng.uniform(-2.0, 0.5, size=(n, d))
    hi = lo + rng.uniform(0.1, 2.0, size=(n, d))
    return c, x0, lo, hi, rng.normal(size=(n, d)), rng.normal(size=n)


def test_cheapest_matches_slsqp_and_detects_empty_boxes():
    c, x0, lo, hi, g, h = _random_boxes(7)
    n = len(g)
    lower, point = _cheapest(c, x0, lo, hi, g, h, 0.5)
    for i in range(n):
        top = g[i] @ np.where(g[i] > 0, hi[i], lo[i]) + h[i]
        if top < 0.5:
            assert lower[i] == np.inf
            continue
        assert g[i] @ point[i] + h[i] >= 0.5 - 1e-9 and np.all(point[i] >= lo[i] - 1e-12)
        assert np.all(point[i] <= hi[i] + 1e-12)
        mine = float(np.sum(c * (point[i] - x0) ** 2))
        assert lower[i] <= mine <= lower[i] * (1 + 1e-9) + 1e-12
        ref = minimize(lambda t: np.sum(c * (t - x0) ** 2), (lo[i] + hi[i]) / 2, method="SLSQP",
                       bounds=list(zip(lo[i], hi[i])),
                       constraints=[{"type": "ineq", "fun": lambda t, i=i: g[i] @ t + h[i] - 0.5}],
                       options={"ftol": 1e-12, "maxiter": 500})
        if ref.success and g[i] @ ref.x + h[i] >= 0.5 - 1e-9:
            assert mine <= ref.fun + 1e-7 * (1 + abs(ref.fun))


def test_cheapest_p1_matches_linprog():
    from scipy.optimize import linprog

    c, x0, lo, hi, g, h = _random_boxes(8)
    n, d = g.shape
    lower, point = _cheapest_p1(c, x0, lo, hi, g, h, 0.5)
    for i in range(n):
        # variables (theta, s) with s >= |theta - x0|: min c . s, g . theta >= 0.5 - h
        A = np.block([[np.eye(d), -np.eye(d)], [-np.eye(d), -np.eye(d)], [-g[i][None, :], np.zeros((1, d))]])
        b = np.concatenate([x0, -x0, [h[i] - 0.5]])
        ref = linprog(np.concatenate([np.zeros(d), c]), A_ub=A, b_ub=b,
                      bounds=list(zip(lo[i], hi[i])) + [(0, None)] * d, method="highs-ds")
        if ref.status == 2:
            assert lower[i] == np.inf
            continue
        assert ref.status == 0
        assert g[i] @ point[i] + h[i] >= 0.5 - 1e-9
        assert np.all(point[i] >= lo[i] - 1e-12) and np.all(point[i] <= hi[i] + 1e-12)
        mine = float(np.sum(c * np.abs(point[i] - x0)))
        assert mine == pytest.approx(ref.fun, rel=1e-7, abs=1e-9)
        assert lower[i] <= mine


PERSONAL = [
    {},
    {"actionability": Actionability(max_changes=1)},
    {"actionability": Actionability(directions={"I": "up", "L": "down"}, bounds={"S": (None, 20.0)})},
    {"cost": CostSpec(p=2, l0=0.05), "preferences": Preferences(weights={"E": 3.0, "L": 0.5})},
    {"cost": CostSpec(p=1)},
    {"cost": CostSpec(p=1, l0=0.1), "actionability": Actionability(max_changes=2)},
]


@pytest.mark.parametrize("personal", range(len(PERSONAL)))
def test_box_search_agrees_with_the_milp(personal):
    extra = PERSONAL[personal]
    base = denied_problems("loan", "mlp", seed=21, keep=4, candidates=80)
    for pr in base:
        pr = dataclasses.replace(pr, **extra)
        assert why_not(pr) is None
        box = solve(pr)
        milp = solve(dataclasses.replace(pr, options=dataclasses.replace(pr.options, box_search=False)))
        assert box.status is milp.status
        if milp.status is Status.OPTIMAL:
            assert box.verified and box.backend == "box-search" and box.engines[-1] == "box-search"
            assert "milp" in box.path_reasons and "box-search" in milp.path_reasons
            assert box.cost == pytest.approx(milp.cost, rel=2e-4, abs=1e-9)
            assert box.objective_bound <= milp.cost * (1 + 1e-9) + 1e-12   # a valid bound on the MILP's optimum
            assert milp.objective_bound <= box.cost * (1 + 1e-9) + 1e-12


def test_box_search_out_of_boxes_hands_over_to_the_milp(monkeypatch):
    pr = denied_problems("loan", "mlp", seed=21, keep=1, candidates=80)[0]
    inc = random_search(pr, 512, 0)
    limited = search_boxes(pr, inc, deadline=float("inf"), max_boxes=0)
    assert limited.state == "limit" and limited.cost <= inc.cost and limited.lower_bound <= limited.cost
    reference = solve(dataclasses.replace(pr, options=dataclasses.replace(pr.options, box_search=False)))
    monkeypatch.setattr(input_bnb, "MAX_BOXES", 0)
    res = solve(pr)
    assert res.status is Status.OPTIMAL and res.engines[:4] == ("incumbent", "polish", "box-search", "tighten")
    assert res.path[2].outcome == "limit"   # out of boxes: the MILP pipeline took over
    assert res.cost == pytest.approx(reference.cost, rel=2e-4, abs=1e-9)


def test_why_not_names_the_reason(loan_data):
    pr = denied_problems("loan", "mlp", seed=21, keep=1, candidates=80)[0]
    assert why_not(pr) is None
    assert why_not(dataclasses.replace(pr, cost=CostSpec(p=1))) is None
    assert "weight is zero" in why_not(dataclasses.replace(pr, preferences=Preferences(weights={"E": 0.0})))
    scm, X, y = loan_data
    lr = RecourseProblem(scm, LogisticRegression(max_iter=500).fit(X, y), pr.factual, cost=CostSpec(p=2))
    assert "ReLU" in why_not(lr)
    grid = RecourseProblem(pr.scm, pr.classifier, pr.factual, cost=pr.cost,
                           actionability=Actionability(grids={"E": (-0.2, 0.0, 0.2)}))
    assert "grid" in why_not(grid)


@pytest.mark.parametrize("bad", ["yes", 1, None])
def test_box_search_option_is_validated(bad):
    with pytest.raises(InputError, match="box_search.*true or false.*" + repr(bad).replace("'", ".")):
        SolveOptions(box_search=bad)


def test_box_search_is_exact_on_a_nonlinear_scm():
    """chain-nonlinear (sigmoid and square of changing variables): the MILP needs a piecewise-linear SCM and is
    optimal only for it; the box search works on the true SCM. Its bound holds against the MILP's verified
    action, and a dense random search + SLSQP polish (an independent upper bound) never beats it."""
    for pr in denied_problems("chain-nonlinear", "mlp", seed=5, keep=2, candidates=80):
        box = solve(pr)
        assert box.status is Status.OPTIMAL and box.verified and box.backend == "box-search"
        assert box.approximation_error == 0.0
        milp = solve(dataclasses.replace(pr, options=dataclasses.replace(pr.options, box_search=False,
                                                                            time_limit=5.0)))
        assert milp.approximation_error > 0.0
        if milp.verified:
            assert box.objective_bound <= milp.cost * (1 + 1e-9) + 1e-12
        local = polish(pr, random_search(pr, 8192, 3))
        assert box.cost <= local.cost * (1 + pr.options.mip_gap) + 1e-12


def test_why_not_counts_patterns_without_enumerating_them(monkeypatch):
    """A random linear SCM with 20 actionable nodes: its ~2^19 patterns are refused by their count (itertools
    is not even called)."""
    from milp_recourse.scm.random_linear import random_linear_scm

    scm = random_linear_scm(21, seed=0)
    X, y = labelled_sample(scm, 300, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = MLPClassifier((4,), max_iter=50, random_state=0).fit(X.to_numpy(float), y)
    pr = RecourseProblem(scm, clf, X.iloc[0].to_dict(), cost=CostSpec(p=2))

    class _NoEnumeration:
        @staticmethod
        def combinations(*args):
            raise AssertionError("patterns enumerated")

    monkeypatch.setattr(input_bnb, "itertools", _NoEnumeration)
    monkeypatch.setattr(strategy, "itertools", _NoEnumeration, raising=False)
    reason = why_not(pr)
    assert reason is not None and "too many intervention patterns" in reason and "> 64" in reason
