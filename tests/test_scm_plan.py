"""Compile once: the per-SCM plan of affine equations, the plain-float expression functions, and solve_many's
grouping of people by model structure.

References: the substitution path of compile_problem (every equation partially evaluated per person, no
plan), central finite differences of the numpy-evaluated original equation, numpy's expr.evaluate, and
exact.solve one person at a time.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from milp_recourse import Actionability, RecourseProblem, SolveOptions, load_scm, solve
from milp_recourse.encode.compile import compile_problem
from milp_recourse.scm.plan import PlanCache, affine_equation
from milp_recourse.models.recipes import train_recipe
from milp_recourse.scm import expr as ex
from milp_recourse.scm.random_linear import random_linear_scm
from milp_recourse.scm.scalar import scalar_function
from milp_recourse.solver.many import screen, solve_many

FAST = SolveOptions(heuristic_samples=0, time_limit=30.0)


def _models_equal(m1, m2) -> str | None:
    """Which part of two compiled models differs (None: the same model up to 1e-9)."""
    if m1.col_names != m2.col_names or m1.row_groups != m2.row_groups:
        return "structure"
    if not np.array_equal(m1.integrality, m2.integrality):
        return "integrality"
    for f in ("col_lb", "col_ub", "row_lo", "row_hi", "c"):
        if not np.allclose(getattr(m1, f), getattr(m2, f), rtol=1e-9, atol=1e-9):
            return f
    if m1.A.shape != m2.A.shape or (m1.A.nnz and abs(m1.A - m2.A).max() > 1e-9):
        return "A"
    return None


def _people(scm, n: int, seed: int) -> list[np.ndarray]:
    X = scm.sample(n, seed=seed)
    return [X.iloc[i].to_numpy(float) for i in range(n)]


@pytest.fixture(scope="module")
def scm_models() -> dict:
    out = {}
    for name in ("loan", "loan-original", "chain", "triangle", "collider", "chain-nonlinear"):
        scm = load_scm(name)
        out[name] = (scm, train_recipe(scm, "logreg", n=1500))
    scm = random_linear_scm(10, seed=2)
    out["random-linear-10"] = (scm, train_recipe(scm, "logreg", n=1500))
    return out


@pytest.mark.parametrize("name", ["loan", "loan-original", "chain", "triangle", "collider", "chain-nonlinear",
                                  "random-linear-10"])
def test_plan_compile_equals_substitution_compile(scm_models, name):
    scm, clf = scm_models[name]
    plans = PlanCache()
    actionable_sets = [None, (scm.actionable[-1],)]  # two different changing sets: two plans
    fast_nodes = 0
    for act in actionable_sets:
        for x in _people(scm, 12, seed=5):
            pr = RecourseProblem(scm=scm, classifier=clf, individual=x, actionability=Actionability(actionable=act),
                                 options=FAST)
            reference = compile_problem(pr).model
            planned = compile_problem(pr, plans=plans).model
            assert _models_equal(reference, planned) is None, (name, act, _models_equal(reference, planned))
    for plan in plans.plans():
        fast_nodes += len(plan.affine)
    assert plans.built == len(actionable_sets) and plans.reused > 0
    assert fast_nodes > 0  # the plan path was exercised, not just the fallback


def test_affine_forms_match_finite_differences(scm_models):
    for name in ("loan", "triangle", "random-linear-10"):
        scm, _ = scm_models[name]
        changing = frozenset(scm.actionable) | scm.descendants(scm.actionable)
        X = scm.sample(5, seed=1)
        U = scm.abduct(X)
        for i in range(len(X)):
            full = dict(zip(scm.names, X.iloc[i].to_numpy(float)))
            full.update({scm.variable(n).noise_name: float(u) for n, u in zip(scm.names, U[i])})
            consts = {k: v for k, v in full.items() if k not in changing}
            for node in scm.names:
                eq = scm.equations[node]
                form = affine_equation(eq, changing)
                if form is None or node not in changing:
                    continue
                coefs, offset = form.evaluate(consts)
                for k in form.parents:
                    h = 1e-4 * (1 + abs(full[k]))
                    up, down = dict(full), dict(full)
                    up[k] += h
                    down[k] -= h
                    fd = (float(ex.evaluate(eq, up)) - float(ex.evaluate(eq, down))) / (2 * h)
                    assert coefs[k] == pytest.approx(fd, rel=1e-6, abs=1e-8), (name, node, k)
                at_zero = dict(full)
                at_zero.update({k: 0.0 for k in form.parents})
                assert offset == pytest.approx(float(ex.evaluate(eq, at_zero)), rel=1e-12, abs=1e-12)
                value = offset + sum(coefs[k] * full[k] for k in form.parents)
                assert value == pytest.approx(float(ex.evaluate(eq, full)), rel=1e-12, abs=1e-9)


@pytest.mark.parametrize("text,affine", [
    ("c * a + exp(c) - 2 * b", True), ("a ** 1 + relu(c) * b", True), ("(c > 0) * a", True),
    ("max(a, 0) + c", False), ("(a > 0) * c", False), ("sigmoid(a)", False), ("a * b", False),
    ("c / b", False), ("abs(a)", False), ("a ** 2", False), ("min(a, b)", False)])
def test_non_affine_equations_get_no_affine_form(text, affine):
    eq = ex.parse(text, ["a", "b", "c"])
    form = affine_equation(eq, frozenset({"a", "b"}))
    assert (form is not None) is affine


@pytest.mark.parametrize("text", ["a + 2 * b - c / 3", "max(a, b, 0.5) - min(c, 1)", "sigmoid(a) * exp(-b)",
                                  "log(a) + abs(b)", "1 / a + relu(c)", "(a >= b) * c + (c < 0.2)", "-(a ** 3)",
                                  "a ** 0.5"])
def test_scalar_function_matches_numpy_evaluate(text):
    eq = ex.parse(text, ["a", "b", "c"])
    fn = scalar_function(eq)
    rng = np.random.default_rng(0)
    points = [dict(zip("abc", rng.normal(size=3) * 2)) for _ in range(50)] + [{"a": 0.0, "b": 0.0, "c": 0.0}]
    for env in points:
        ref = float(ex.evaluate(eq, env))
        got = fn(env)
        if math.isfinite(ref):
            assert got == pytest.approx(ref, rel=1e-12, abs=1e-12), (text, env)
        else:
            assert math.isnan(got), (text, env)   # undefined is nan, never a silent number


def test_solve_many_groups_people_by_structure(scm_models, monkeypatch):
    from milp_recourse.solver import many

    monkeypatch.setattr(many, "settle", lambda problems: {})   # the MILP path (the closed form would settle all)
    scm, clf = scm_models["loan"]
    X = scm.sample(150, seed=11).to_numpy(float)
    candidates = [RecourseProblem(scm=scm, classifier=clf, individual=x, options=FAST) for x in X]
    problems = [pr for pr, fav in zip(candidates, screen(candidates)) if not fav][:40]
    assert len(problems) >= 20
    results, stats = solve_many(problems)
    assert stats.structures >= 2                  # G = 0 and G = 1 people compile to different MILPs
    assert stats.loads == stats.structures        # each structure loaded once, then re-parameterised
    assert stats.updates == len(problems) - stats.loads
    for pr, got in zip(problems, results):
        ref = solve(pr)
        assert got.status is ref.status
        if ref.cost is not None:
            assert got.cost == pytest.approx(ref.cost, rel=1e-6, abs=1e-9)
