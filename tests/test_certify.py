"""Certificates of 'no recourse': interval bounds vs the estimators' own scores, Farkas rays vs scipy, solver votes.

References: every score interval is checked against the model's own predict on random points of the box;
every NO_RECOURSE claim against sampling / the enumeration reference; every Farkas ray against an
independent LP solve (scipy) and against tampering.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import linprog
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.svm import LinearSVC
from sklearn.tree import DecisionTreeClassifier

from milp_recourse import Actionability, RecourseProblem, SolveOptions, Status, load_scm, solve
from milp_recourse.backends import Termination, get_backend, SolverParams
from milp_recourse.backends.highs import HighsBackend
from milp_recourse.solver.certify import (Certificate, bound_certificate, certify, check_farkas, farkas_certificate,
                                   second_backends, solver_certificate)
from milp_recourse.models.classifiers import ReLUNetwork, favourable, reference_score
from milp_recourse.encode.compile import compile_problem
from milp_recourse.mip.ir import MIPModel
from milp_recourse.models.recipes import first_denied, train_recipe
from milp_recourse.bounds.score_bounds import counterfactual_box, score_interval
from milp_recourse.scm.simulate import counterfactuals

sys.path.insert(0, str(Path(__file__).parent))
from recourse_reference import reference_feasible  # noqa: E402

FAST = SolveOptions(heuristic_samples=0, time_limit=30.0)


@pytest.fixture(scope="module")
def chain():
    scm = load_scm("chain")
    clf = train_recipe(scm, "logreg", n=2000)
    return scm, clf, first_denied(scm, clf)


def _problem(chain, **act) -> RecourseProblem:
    scm, clf, person = chain
    return RecourseProblem(scm, clf, person, actionability=Actionability(**act), options=FAST)


# ------------------------------------------------------------------------------------- interval bounds
def _models():
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, size=(300, 3))
    y = (X[:, 0] - X[:, 1] ** 2 + 0.5 * X[:, 2] > -0.5).astype(int)
    net = ReLUNetwork(tuple(rng.normal(size=s) for s in [(6, 3), (1, 6)]), tuple(rng.normal(size=s) for s in [6, 1]),
                      rng.normal(size=3) * 0.1, rng.uniform(0.5, 2, size=3))
    models = {"logreg-std": make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y),
              "linsvc-minmax": make_pipeline(MinMaxScaler(), LinearSVC()).fit(X, y),
              "tree": DecisionTreeClassifier(max_depth=4, random_state=0).fit(X, y),
              "forest": RandomForestClassifier(n_estimators=5, max_depth=3, random_state=0).fit(X, y),
              "gbt": GradientBoostingClassifier(n_estimators=10, max_depth=2, random_state=0).fit(X, y),
              "mlp": MLPClassifier(hidden_layer_sizes=(8,), max_iter=300, random_state=0).fit(X, y),
              "relunet": net}
    return models


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("target", [None, 0])
def test_score_interval_contains_the_models_own_scores(target):
    rng = np.random.default_rng(1)
    for name, model in _models().items():
        for _ in range(4):
            lo = rng.uniform(-2, 1, size=3)
            hi = lo + rng.uniform(0, 1.5, size=3)
            if rng.random() < 0.3:
                k = rng.integers(3)
                hi[k] = lo[k]  # a constant input
            iv = score_interval(model, list(zip(lo, hi)), target)
            assert iv is not None, name
            pts = rng.uniform(lo, hi, size=(400, 3))
            corners = np.array([[lo[i] if (c >> i) & 1 else hi[i] for i in range(3)] for c in range(8)])
            s, _ = reference_score(model, np.vstack([pts, corners]), target)
            tol = 1e-9 * max(1.0, float(np.max(np.abs(s))))
            assert np.all(s >= iv[0] - tol) and np.all(s <= iv[1] + tol), (name, iv, s.min(), s.max())
            if name.startswith(("logreg", "linsvc")):  # affine: the extremes are attained at corners
                sc, _ = reference_score(model, corners, target)
                assert sc.max() == pytest.approx(iv[1], abs=1e-9) and sc.min() == pytest.approx(iv[0], abs=1e-9)


def test_score_interval_unsupported_model_is_none():
    assert score_interval(object(), [(0.0, 1.0)]) is None


def test_counterfactual_box_contains_every_allowed_counterfactual(chain):
    prob = _problem(chain, bounds={"x1": (-4.0, 1.0)}, directions={"x3": "down"}, grids={"x2": (-1.0, 0.5, 2.0)})
    box = counterfactual_box(prob)
    rng = np.random.default_rng(2)
    rules = prob.rules
    n = 3000
    mask = rng.random((n, len(rules))) < 0.5
    theta = np.column_stack([rng.choice(r.grid, n) if r.grid else rng.uniform(r.lower, r.upper, n) for r in rules])
    X = counterfactuals(prob.scm, prob.x, [r.name for r in rules], mask, theta)
    for j, name in enumerate(prob.scm.names):
        assert box[name][0] - 1e-9 <= X[:, j].min() and X[:, j].max() <= box[name][1] + 1e-9, name


# ------------------------------------------------------------------------------------- bound certificate
def test_bound_certificate_proves_and_sampling_agrees(chain):
    prob = _problem(chain, directions={"x1": "down", "x2": "down", "x3": "down"})
    cert = bound_certificate(prob)
    assert cert.proven and cert.kind == "bound" and cert.confirmed
    assert cert.details["score_interval"][1] < cert.details["score_needed"]
    rng = np.random.default_rng(3)
    rules = prob.rules
    mask = rng.random((5000, len(rules))) < 0.7
    theta = np.column_stack([rng.uniform(r.lower, r.upper, 5000) for r in rules])
    X = counterfactuals(prob.scm, prob.x, [r.name for r in rules], mask, theta)
    idx = [prob.scm.index(f) for f in prob.features]
    s, _ = reference_score(prob.classifier, X[:, idx])
    assert not favourable(prob.classifier, X[:, idx]).any()
    assert s.max() <= cert.details["score_interval"][1] + 1e-9
    assert not reference_feasible(prob)


def test_bound_certificate_is_inconclusive_when_recourse_exists(chain):
    prob = _problem(chain)
    assert reference_feasible(prob)
    cert = bound_certificate(prob)
    assert not cert.proven and cert.details["slack"] <= 0


def test_solve_attaches_a_checkable_certificate(chain):
    prob = _problem(chain, actionable=("x3",), bounds={"x3": (None, 0.5)})
    res = solve(prob)
    assert res.status is Status.NO_RECOURSE and not reference_feasible(prob)
    cert = res.certificate
    assert cert["proven"] and cert["kind"] == "bound" and res.engines[-1] == "certify"
    assert res.path[-1].outcome == "proven"
    json.dumps(res.to_dict())  # serialisable, no NaN/inf objects


# ------------------------------------------------------------------------------------- Farkas
def test_farkas_ray_on_the_lp_relaxation_is_rechecked_and_agrees_with_scipy(chain):
    prob = _problem(chain, directions={"x1": "down", "x2": "down", "x3": "down"})  # linear SCM, logreg, L1
    lp = compile_problem(prob).model.relaxed()           # the pure LP
    assert lp.n_integer == 0
    lo, hi = lp.row_lo, lp.row_hi
    A = sp.vstack([lp.A[np.isfinite(hi)], -lp.A[np.isfinite(lo)]])
    b = np.concatenate([hi[np.isfinite(hi)], -lo[np.isfinite(lo)]])
    ref = linprog(np.zeros(lp.n_cols), A_ub=A, b_ub=b, bounds=list(zip(lp.col_lb, lp.col_ub)), method="highs-ipm")
    assert ref.status == 2  # scipy (interior point) agrees: infeasible
    cert = farkas_certificate(dataclasses.replace(compile_problem(prob), model=lp))
    assert cert.proven and cert.details["pure_lp"] and "target:threshold" in cert.details["row_groups"]
    y = HighsBackend().farkas_ray(lp)
    chk = check_farkas(lp, y)
    assert chk.ok and chk.row_bound > chk.box_bound + chk.tolerance
    # tampering breaks it: drop the threshold row's multiplier, or scramble the signs
    bad = y.copy()
    bad[[i for i, g in enumerate(lp.row_groups) if g == "target:threshold"]] = 0.0
    assert not check_farkas(lp, bad).ok
    assert not check_farkas(lp, np.abs(y) * np.where(np.arange(y.size) % 2, 1, -1) + 0.1).ok
    assert not check_farkas(lp, y[:-1]).ok


def test_check_farkas_on_a_hand_made_lp():
    # x1 + x2 >= 3 with x in [0, 1]^2 is empty; y = (1,) proves it: L = 3 > U = 2
    model = MIPModel(("x1", "x2"), np.zeros(2), np.ones(2), np.zeros(2, bool), sp.csr_matrix([[1.0, 1.0]]),
                     np.array([3.0]), np.array([np.inf]), ("r",), np.zeros(2))
    chk = check_farkas(model, np.array([1.0]))
    assert chk.ok and chk.row_bound == 3.0 and chk.box_bound == 2.0
    assert check_farkas(model, np.array([-1.0])).ok  # sign convention is tried both ways
    ray = HighsBackend().farkas_ray(model)
    assert ray is not None and check_farkas(model, ray).ok
    feasible = dataclasses.replace(model, row_lo=np.array([1.5]))
    assert HighsBackend().farkas_ray(feasible) is None
    assert not check_farkas(feasible, np.array([1.0])).ok
    unbounded = dataclasses.replace(model, col_ub=np.array([1.0, np.inf]))  # a multiplier needs an infinite bound
    assert not check_farkas(unbounded, np.array([1.0])).ok


# ------------------------------------------------------------------------------------- solver votes
def _max_changes_instance(chain) -> RecourseProblem:
    """Needs two changes but only one is allowed: the interval bound (ignores max_changes) cannot prove it.

    Without the effect cuts, so that the LP relaxation stays feasible and Farkas fails too (with them the
    relaxation of this instance is often infeasible and a Farkas ray proves it before any solver runs).
    """
    scm, clf, person = chain
    opts = dataclasses.replace(FAST, effect_cuts=False)
    for k in range(60):
        grids = {"x1": (float(person["x1"]) + 1.0,), "x2": (float(person["x2"]) + 0.25 * k,),
                 "x3": (float(person["x3"]) + 0.25 * k,)}
        prob = RecourseProblem(scm, clf, person, options=opts, actionability=Actionability(grids=grids, max_changes=1))
        two = RecourseProblem(scm, clf, person, options=opts, actionability=Actionability(grids=grids, max_changes=2))
        if not reference_feasible(prob) and reference_feasible(two):
            return prob
    raise AssertionError("no instance found")


def test_solver_certificate_with_second_opinion(chain, monkeypatch):
    prob = _max_changes_instance(chain)
    cert = certify(prob)
    assert cert.proven and cert.kind == "solver" and cert.backends[0] == "highs"
    assert [(a.kind, a.outcome) for a in cert.attempts] == [("bound", "failed"), ("farkas", "failed"),
                                                            ("solver", "proved")]
    if second_backends("highs"):
        assert cert.confirmed and len(cert.backends) == 2 and "confirmed by" in cert.message
    monkeypatch.setattr("milp_recourse.solver.certify.second_backends", lambda primary: [])
    lone = solver_certificate(prob, compile_problem(prob))
    assert lone.proven and not lone.confirmed and "no second backend" in lone.message


def test_second_backends_differ_from_the_primary():
    for name in second_backends("highs"):
        assert "highs" not in name
    assert "ortools-scip" not in second_backends("ortools-scip")


def test_a_verified_counterexample_refutes_a_wrong_infeasibility_claim(chain):
    prob = _problem(chain)  # recourse exists
    compiled = compile_problem(prob)
    cert = solver_certificate(prob, compiled)  # primary run here: it finds the action
    assert not cert.proven and cert.refuting_action is not None
    if second_backends("highs"):
        lie = solver_certificate(prob, compiled, primary_infeasible=True)  # pretend HiGHS said infeasible
        assert not lie.proven and lie.refuting_action is not None and "claim is wrong" in lie.message
        fake = solve(_problem(chain, directions={"x1": "down", "x2": "down", "x3": "down"}))
        assert lie.apply(fake).status is Status.UNKNOWN


def test_time_limit_gives_unknown_never_no_recourse(chain):
    scm, clf, person = chain
    prob = RecourseProblem(scm, clf, person, actionability=Actionability(directions={"x1": "down", "x2": "down",
                                                                                    "x3": "down"}),
                           options=SolveOptions(time_limit=1e-9, heuristic_samples=0))
    res = solve(prob)
    assert res.status is Status.UNKNOWN and res.certificate is None
    cert = certify(prob, res)
    assert isinstance(cert, Certificate) and not cert.proven and cert.kind == "none" and "limit" in cert.message


def test_every_installed_backend_agrees_on_the_max_changes_instance(chain):
    prob = _max_changes_instance(chain)
    compiled = compile_problem(prob)
    for name in ["highs"] + second_backends("highs"):
        sol = get_backend(name).solve(dataclasses.replace(compiled.model, c=np.zeros(compiled.model.n_cols)),
                                      SolverParams(time_limit=30))
        assert sol.termination is Termination.INFEASIBLE, name
