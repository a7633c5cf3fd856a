"""Baselines: same input and result type as the exact solver, honest statuses, hard constraints by construction.

References: the exact solver (a lower bound for every baseline, and equal to the grid oracle on the
same grid), an independent re-check (scm.counterfactual + the classifier's own predict), and numpy
twins of the torch models.
"""

from __future__ import annotations

import dataclasses
import sys

import numpy as np
import pandas as pd
import pytest

from milp_recourse import Actionability, CostSpec, Preferences, RecourseProblem, SolveOptions, Status, load_scm, solve
from milp_recourse.baselines import get_baseline
from milp_recourse.baselines.grid import GridOracle, ranges_from_data
from milp_recourse.models.classifiers import classifier_features, favourable, reference_score
from milp_recourse.errors import BackendUnavailableError, InputError, UnsupportedError
from milp_recourse.models.recipes import train_recipe
from milp_recourse.scm import scm_from_dict
from milp_recourse.scm.simulate import counterfactuals
from milp_recourse.solver.verify import verify_action


def _has_torch() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


needs_torch = pytest.mark.skipif(not _has_torch(), reason="PyTorch is not installed (pip install 'milp_recourse[torch]')")
OPTS = SolveOptions(heuristic_samples=0, time_limit=30)
BASELINE_STATUSES = {Status.FEASIBLE, Status.UNKNOWN, Status.VERIFICATION_FAILED, Status.ALREADY_FAVOURABLE}


@pytest.fixture(scope="module")
def chain():
    scm = load_scm("chain")
    model = train_recipe(scm, "logreg", n=2000)
    ref = scm.sample(2000, seed=11)
    feats = list(classifier_features(model, scm.names))
    denied_ref = ref[~favourable(model, ref[feats].to_numpy(float))]
    pool = scm.sample(300, seed=12)
    people = pool[~favourable(model, pool[feats].to_numpy(float))].head(4)
    cost = CostSpec(p=1, scale=1 / 3, divisors={k: float(denied_ref[k].max() - denied_ref[k].min())
                                                for k in scm.actionable})
    return scm, model, denied_ref, people, cost


def problems(chain):
    """Universal and personalized (hard subset + ranking, max-changes, bounds) problems for each person."""
    scm, model, _, people, cost = chain
    out = []
    for i, (_, row) in enumerate(people.iterrows()):
        x = row[list(scm.names)].to_dict()
        out.append(RecourseProblem(scm, model, x, cost=cost, options=OPTS))
        act = Actionability(actionable=("x1", "x3") if i % 2 else ("x2", "x3"), max_changes=1 + i % 2,
                            bounds={"x3": (None, x["x3"] + 3.0)})
        prefs = Preferences.from_ranking(["x3", "x2", "x1"], list(scm.actionable))
        out.append(RecourseProblem(scm, model, x, actionability=act, preferences=prefs, cost=cost, options=OPTS))
    return out


def independent_check(problem: RecourseProblem, action: dict) -> bool:
    """Favourable on the true SCM, recomputed without the package's verify/simulate code paths."""
    cf = problem.scm.counterfactual(problem.x, action)
    row = pd.DataFrame([cf[[problem.scm.index(f) for f in problem.features]]], columns=list(problem.features))
    return bool(problem.classifier.predict(row)[0] == problem.classifier.classes_[1])


def honours_constraints(problem: RecourseProblem, action: dict) -> None:
    act = problem.actionability
    allowed = act.actionable or problem.scm.actionable
    assert set(action) <= set(allowed)
    if act.max_changes is not None:
        assert len(action) <= act.max_changes
    for name, theta in action.items():
        lo, hi = act.bounds.get(name, (None, None))
        var = problem.scm.variable(name)
        assert var.lower - 1e-9 <= theta <= var.upper + 1e-9
        assert lo is None or theta >= lo - 1e-9
        assert hi is None or theta <= hi + 1e-9
        if name in act.grids:
            assert min(abs(theta - g) for g in act.grids[name]) < 1e-9
        d = act.directions.get(name)
        x = problem.factual[name]
        assert d != "up" or theta >= x - 1e-9
        assert d != "down" or theta <= x + 1e-9


def check_result(problem: RecourseProblem, res, exact) -> None:
    """Status honesty, independent validity, hard constraints, and exact <= baseline when both valid."""
    assert res.status in BASELINE_STATUSES
    if res.status is Status.FEASIBLE:
        assert res.verified and verify_action(problem, res.action).ok
        assert independent_check(problem, dict(res.action))
        honours_constraints(problem, dict(res.action))
        assert res.cost == pytest.approx(problem.action_cost(res.action)[0], rel=1e-12)
        if exact.status in (Status.OPTIMAL, Status.FEASIBLE):
            assert exact.cost <= res.cost * (1 + 1e-6) + 1e-12
    if res.status is Status.VERIFICATION_FAILED:
        assert not res.verified and not independent_check(problem, dict(res.action))


# grid oracle (numpy only) -----------------------------------------------------------------------
def test_grid_oracle_equals_exact_on_the_same_grid(chain):
    scm, model, denied_ref, _, _ = chain
    oracle = GridOracle(n_values=6, reference_ranges=ranges_from_data(denied_ref, scm.actionable))
    for p in problems(chain):
        res = oracle.solve(p)
        restricted = dataclasses.replace(p, actionability=dataclasses.replace(p.actionability, grids=oracle.grid(p)))
        ex = solve(restricted)
        assert res.status is Status.FEASIBLE and ex.status is Status.OPTIMAL
        assert res.cost == pytest.approx(ex.cost, rel=1e-6, abs=1e-9)
        check_result(p, res, solve(p))


def test_grid_values_span_the_reflected_reference_range(chain):
    scm, model, denied_ref, people, cost = chain
    ranges = ranges_from_data(denied_ref, scm.actionable)
    x = people.iloc[0][list(scm.names)].to_dict()
    p = RecourseProblem(scm, model, x, cost=cost,
                        actionability=Actionability(bounds={"x1": (x["x1"] - 0.5, x["x1"] + 0.5)},
                                                    grids={"x3": (0.0, 1.0, 2.0)}))
    grid = GridOracle(n_values=15, reference_ranges=ranges).grid(p)
    lo, hi = ranges["x2"]
    expected = np.linspace(2 * lo - x["x2"], 2 * hi - x["x2"], 15)
    dom = scm.variable("x2")
    assert np.allclose(grid["x2"], np.unique(np.clip(expected, dom.lower, dom.upper)))
    assert min(grid["x1"]) >= x["x1"] - 0.5 - 1e-12 and max(grid["x1"]) <= x["x1"] + 0.5 + 1e-12
    assert grid["x3"] == (0.0, 1.0, 2.0)


# gradient and amortized baselines ----------------------------------------------------------------
@needs_torch
def test_every_baseline_is_honest_and_never_beats_exact(chain):
    scm, model, denied_ref, _, cost = chain
    std = {k: float(denied_ref[k].std()) for k in scm.names}
    amort = get_baseline("amortized", epochs=15, population=600, scales=std)
    amort.fit(scm, model, denied_ref, cost)
    methods = [get_baseline("grid", reference_ranges=ranges_from_data(denied_ref, scm.actionable)),
               get_baseline("causal-gd", steps=150, scales=std), get_baseline("wachter", steps=150, scales=std), amort]
    found = {m.name: 0 for m in methods}
    for p in problems(chain):
        exact = solve(p)
        for m in methods:
            res = m.solve(p)
            check_result(p, res, exact)
            found[m.name] += res.status is Status.FEASIBLE
            if m.name == "amortized":
                assert res.timings["training"] == pytest.approx(amort.train_seconds)
                assert "inference" in res.timings and res.total_seconds < amort.train_seconds + 10
    assert found["grid"] > 0 and found["causal-gd"] > 0


@needs_torch
def test_causal_gd_close_to_exact_on_a_linear_scm(chain):
    """On a linear SCM with logistic regression and one feature the problem is 1-D: GD should land near optimum."""
    scm, model, denied_ref, people, cost = chain
    x = people.iloc[0][list(scm.names)].to_dict()
    p = RecourseProblem(scm, model, x, actionability=Actionability(actionable=("x3",)), cost=cost, options=OPTS)
    ex, gd = solve(p), get_baseline("causal-gd", steps=400).solve(p)
    assert gd.status is Status.FEASIBLE and ex.status is Status.OPTIMAL
    assert ex.cost <= gd.cost <= ex.cost * 1.02 + 1e-6


@pytest.fixture(scope="module")
def adverse():
    """x2 = -x1 + u2 and a classifier rewarding x1 + 3*x2: raising x1 looks good feature-wise but hurts causally."""
    scm = scm_from_dict({"name": "adverse", "variables": [
        {"name": "x1", "type": "continuous", "domain": [-6, 6], "actionability": "actionable",
         "equation": "u1", "noise": {"name": "u1", "dist": "normal", "mean": 0, "std": 1}},
        {"name": "x2", "type": "continuous", "domain": [-10, 10], "actionability": "immutable",
         "equation": "-x1 + u2", "noise": {"name": "u2", "dist": "normal", "mean": 0, "std": 1}}],
        "label": "x1 + 3*x2 >= 0"})
    model = train_recipe(scm, "logreg", n=2000)
    return scm, model


@needs_torch
def test_wachter_claim_denied_by_the_true_scm(adverse):
    scm, model = adverse
    p = RecourseProblem(scm, model, {"x1": 0.0, "x2": -1.0}, options=OPTS)
    w = get_baseline("wachter").solve(p)
    assert w.status is Status.VERIFICATION_FAILED and not w.verified
    assert w.action["x1"] > 0.0 and not independent_check(p, dict(w.action))
    ex, gd = solve(p), get_baseline("causal-gd").solve(p)
    assert ex.status is Status.OPTIMAL and ex.action["x1"] < 0.0
    assert gd.status is Status.FEASIBLE and gd.action["x1"] < 0.0 and independent_check(p, dict(gd.action))


def test_no_recourse_is_never_claimed_by_a_baseline(adverse):
    scm, model = adverse
    # decreasing x1 is the only way out; forbidding it leaves no recourse (exact proves it)
    p = RecourseProblem(scm, model, {"x1": 0.0, "x2": -1.0}, actionability=Actionability(directions={"x1": "up"}),
                        options=OPTS)
    assert solve(p).status is Status.NO_RECOURSE
    names = ["grid"] + (["causal-gd", "amortized"] if _has_torch() else [])
    for name in names:
        opts = {"epochs": 3, "population": 200} if name == "amortized" else {}
        res = get_baseline(name, **opts).solve(p)
        assert res.status is Status.UNKNOWN and not res.action and res.cost is None


def test_already_favourable(adverse):
    scm, model = adverse
    p = RecourseProblem(scm, model, {"x1": 0.0, "x2": 2.0})
    assert get_baseline("grid").solve(p).status is Status.ALREADY_FAVOURABLE


@needs_torch
def test_torch_twins_match_numpy():
    import torch

    from milp_recourse.baselines.torch_clf import TorchClassifier
    from milp_recourse.baselines.torch_scm import TorchSCM

    scm = load_scm("chain-nonlinear")
    X = scm.sample(40, seed=3).to_numpy()
    feats = list(scm.actionable)
    rng = np.random.default_rng(0)
    mask = rng.random((40, len(feats))) < 0.5
    theta = X[:, [scm.index(f) for f in feats]] + rng.normal(size=(40, len(feats)))
    ts = TorchSCM(scm, feats)
    cf_t = ts.forward(ts.noise(X), torch.as_tensor(mask, dtype=torch.float64), torch.as_tensor(theta)).numpy()
    cf_n = np.vstack([counterfactuals(scm, X[i], feats, mask[i:i + 1], theta[i:i + 1]) for i in range(40)])
    assert np.allclose(cf_t, cf_n, rtol=1e-12, atol=1e-12)
    for recipe in ("logreg", "mlp", "svm"):
        model = train_recipe(scm, recipe, n=800)
        ref, kind = reference_score(model, cf_n)
        tc = TorchClassifier(model, scm.names)
        assert tc.kind == kind
        assert np.allclose(tc.score(torch.as_tensor(cf_n)).numpy(), ref, rtol=1e-10, atol=1e-10)
    with pytest.raises(UnsupportedError, match="not differentiable"):
        TorchClassifier(train_recipe(scm, "tree", n=500), scm.names)


# misuse --------------------------------------------------------------------------------------------
def test_bad_options_and_mismatched_models(chain, adverse):
    with pytest.raises(InputError, match="Unknown baseline 'nope'"):
        get_baseline("nope")
    with pytest.raises(InputError, match="n_values"):
        get_baseline("grid", n_values=0)
    with pytest.raises(InputError, match="Unknown option"):
        get_baseline("grid", steps=3)
    with pytest.raises(InputError, match="reference range"):
        GridOracle(reference_ranges={"x1": (2.0, 1.0)})
    scm, model, _, people, cost = chain
    p = RecourseProblem(scm, model, people.iloc[0][list(scm.names)].to_dict(), cost=cost)
    with pytest.raises(InputError, match="max_combinations"):
        GridOracle(max_combinations=10).solve(p)
    if _has_torch():
        with pytest.raises(InputError, match="steps"):
            get_baseline("causal-gd", steps=-1)
        a_scm, a_model = adverse
        amort = get_baseline("amortized", epochs=1, population=50)
        amort.fit(a_scm, a_model, a_scm.sample(50, seed=0), CostSpec())
        with pytest.raises(InputError, match="trained for SCM 'adverse'"):
            amort.solve(p)


def test_missing_torch_names_the_extra(monkeypatch):
    from milp_recourse.baselines.torch_scm import require_torch

    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(BackendUnavailableError, match=r"milp_recourse\[torch\]"):
        require_torch()
