"""Bounds that exclude a person's current value, and preferred ranges, on features whose equation does not depend
on a changing parent (roots): the MILP's intervention indicator must be 0/1 there. A fractional indicator let such
a feature move less than its bounds allow (or pay a fraction of its range penalty), so the solver proved a bound
below every valid action's cost, decode() snapped the point onto the bounds, and the answer was a costlier action
reported OPTIMAL. Reference: enumeration of intervention sets + LPs (recourse_reference.py, and scipy's linprog
for the range penalty), and the estimator's own predict."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.optimize import linprog
from sklearn.linear_model import LogisticRegression

from milp_recourse import Actionability, CostSpec, Preferences, RecourseProblem, SolveOptions, Status, solve
from milp_recourse.scm.simulate import counterfactuals
from milp_recourse.scm.spec import scm_from_dict

from recourse_reference import reference_optimum  # noqa: E402


def _noise(name: str) -> dict:
    return {"name": name, "dist": "normal", "mean": 0, "std": 1}


def _case(seed: int) -> tuple[object, LogisticRegression, dict[str, float]]:
    """x1, x2 roots; x3 = a x1 + b x2 + u3; a logistic regression that denies the person at the origin-ish point."""
    rng = np.random.default_rng(seed)
    a, b = rng.uniform(-1, 1, 2).round(2)
    dom = [-10, 10]
    spec = {"name": f"roots{seed}", "variables": [
        {"name": "x1", "type": "continuous", "domain": dom, "actionability": "actionable", "equation": "u1",
         "noise": _noise("u1")},
        {"name": "x2", "type": "continuous", "domain": dom, "actionability": "actionable", "equation": "u2",
         "noise": _noise("u2")},
        {"name": "x3", "type": "continuous", "domain": dom, "actionability": "actionable",
         "equation": f"{a}*x1 + {b}*x2 + u3", "noise": _noise("u3")}]}
    scm = scm_from_dict(spec)
    clf = LogisticRegression()
    clf.coef_ = rng.uniform(0.2, 1.5, (1, 3)) * rng.choice([-1, 1], 3)
    x = dict(zip(("x1", "x2", "x3"), rng.uniform(-2, 2, 3).round(2)))
    score = float(clf.coef_[0] @ np.array(list(x.values())))
    clf.intercept_ = np.array([-score - rng.uniform(1, 3)])   # denied by a margin of 1-3 logits
    clf.classes_, clf.n_features_in_ = np.array([0, 1]), 3
    return scm, clf, x


def _off_current(x: float, rng: np.random.Generator) -> tuple[float, float]:
    """An interval of width 1-3 that lies wholly above or wholly below x (0.5-2 away)."""
    gap, width = rng.uniform(0.5, 2.0), rng.uniform(1.0, 3.0)
    return (x + gap, x + gap + width) if rng.random() < 0.5 else (x - gap - width, x - gap)


def _check(problem: RecourseProblem, res, ref: float) -> None:
    if not math.isfinite(ref):
        assert res.status is Status.NO_RECOURSE, (res.status, res.action)
        return
    assert res.status is Status.OPTIMAL, (res.status, res.message)
    assert res.cost == pytest.approx(ref, rel=1e-4, abs=1e-5), (dict(res.action), ref)
    assert res.objective_bound <= res.cost * (1 + 1e-4) + 1e-6
    cf = counterfactuals(problem.scm, problem.x, list(res.action), np.ones((1, len(res.action)), bool),
                         np.array([list(res.action.values())], float))
    assert problem.classifier.predict(cf)[0] == 1
    for name, value in res.action.items():
        lo, hi = problem.actionability.bounds.get(name, (-10, 10))
        assert lo - 1e-9 <= value <= hi + 1e-9


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("aggregate_max", [False, True])
def test_root_bounds_off_the_current_value_match_enumeration(seed, aggregate_max):
    scm, clf, x = _case(seed)
    rng = np.random.default_rng(100 + seed)
    roots = ["x1", "x2"] if seed % 2 else [["x1", "x2"][seed % 4 // 2]]
    bounds = {name: _off_current(x[name], rng) for name in roots}
    # the bounded roots are the cheap features (a fractional indicator's short move is what undercut the bound)
    weights = {name: float(rng.uniform(0.3, 0.8) if name in bounds else rng.uniform(1, 3)) for name in x}
    problem = RecourseProblem(scm, clf, x, actionability=Actionability(bounds=bounds),
                              preferences=Preferences(weights=weights))
    if aggregate_max:   # the sum reference does not price a max: the max case is checked by brute force below
        problem = RecourseProblem(scm, clf, x, actionability=Actionability(bounds=bounds),
                                  preferences=Preferences(weights=weights), cost=CostSpec(aggregate="max"))
        ref = _max_reference(problem)
    else:
        ref = reference_optimum(problem)[0]
    for closed_form in (True, False):
        res = solve(RecourseProblem(scm, clf, x, actionability=problem.actionability,
                                    preferences=problem.preferences, cost=problem.cost,
                                    options=SolveOptions(closed_form=closed_form)))
        _check(problem, res, ref)


def _max_reference(problem: RecourseProblem) -> float:
    """min max_k w_k |theta_k - x_k| over intervention sets: bisection on the budget c, each c an LP feasibility
    check (the box |theta_k - x_k| <= c / w_k within the bounds, the score row >= threshold + margin)."""
    return _set_lps(problem, penalty=None, aggregate_max=True)


def _set_lps(problem: RecourseProblem, penalty: float | None, aggregate_max: bool = False) -> float:
    """Enumerate intervention sets S; theta_S enters the score affinely (measured from counterfactuals at unit
    steps); each S is one LP over (delta, |delta|, range slack) by scipy's linprog."""
    names = ["x1", "x2", "x3"]
    x = np.array([problem.factual[n] for n in names])
    w_clf, b_clf = problem.classifier.coef_[0], float(problem.classifier.intercept_[0])
    need = problem.options.margin - b_clf
    weights = problem.preferences.weights
    best = math.inf
    for size in range(1, 4):
        for subset in itertools.combinations(range(3), size):
            S = [names[k] for k in subset]
            mask = np.ones((size + 1, size), bool)
            T = np.repeat(x[list(subset)][None, :], size + 1, 0)
            T[1:] += np.eye(size)
            X = counterfactuals(problem.scm, problem.x, S, mask, T)
            base, J = X[0] @ w_clf, (X[1:] - X[0]) @ w_clf   # score = base + J . delta
            lohi = [problem.actionability.bounds.get(n, (-10, 10)) for n in S]
            dbounds = [(lo - x[k], hi - x[k]) for (lo, hi), k in zip(lohi, subset)]
            w = np.array([weights.get(n, 1.0) for n in S])
            if aggregate_max:
                # variables delta (n), t (n), z (1): min z, t >= |delta|, w t <= z
                n = size
                c = np.concatenate([np.zeros(2 * n), [1.0]])
                eye = np.eye(n)
                A = np.vstack([np.concatenate([-J, np.zeros(n), [0.0]]),
                               np.hstack([eye, -eye, np.zeros((n, 1))]), np.hstack([-eye, -eye, np.zeros((n, 1))]),
                               np.hstack([np.zeros((n, n)), np.diag(w), -np.ones((n, 1))])])
                bvec = np.concatenate([[base - need], np.zeros(3 * n)])
                res = linprog(c, A_ub=A, b_ub=bvec, bounds=dbounds + [(0, None)] * n + [(0, None)], method="highs")
            else:
                rngs = [problem.preferences.preferred_ranges.get(n) for n in S]
                n = size
                eye = np.eye(n)
                c = np.concatenate([np.zeros(n), w, np.full(n, penalty or 0.0)])
                rows = [np.concatenate([-J, np.zeros(2 * n)])]
                rhs = [base - need]
                for i in range(n):
                    e = eye[i]
                    rows += [np.concatenate([e, -e, np.zeros(n)]), np.concatenate([-e, -e, np.zeros(n)])]
                    rhs += [0.0, 0.0]
                    if rngs[i] is not None:   # s >= lo - theta, s >= theta - hi (theta = x + delta)
                        lo, hi = rngs[i]
                        rows += [np.concatenate([-e, np.zeros(n), -e]), np.concatenate([e, np.zeros(n), -e])]
                        rhs += [x[subset[i]] - lo, hi - x[subset[i]]]
                res = linprog(c, A_ub=np.array(rows), b_ub=np.array(rhs),
                              bounds=dbounds + [(0, None)] * (2 * n), method="highs")
            if res.status == 0:
                best = min(best, float(res.fun))
    return best


@pytest.mark.parametrize("seed", range(8))
def test_root_preferred_ranges_are_paid_in_full(seed):
    scm, clf, x = _case(seed)
    rng = np.random.default_rng(200 + seed)
    ranges = {name: _off_current(x[name], rng) for name in ("x1", "x2")}
    weights = dict(zip(("x1", "x2", "x3"), rng.uniform(0.5, 3, 3).round(2)))
    penalty = float(rng.uniform(0.5, 2.0))
    problem = RecourseProblem(scm, clf, x, preferences=Preferences(weights=weights, preferred_ranges=ranges,
                                                                   range_penalty=penalty))
    ref = _set_lps(problem, penalty)
    res = solve(problem)
    _check(problem, res, ref)
    assert problem.action_cost(dict(res.action))[0] == pytest.approx(res.cost, rel=1e-9)


def test_an_action_costlier_than_the_proven_bound_is_never_optimal(monkeypatch):
    """The guard behind the fix: when the decoded action costs more than the relaxation proved (here decode()
    is made to overshoot every shift by half), no engine may call it OPTIMAL; the gap is reported instead."""
    from milp_recourse.solver import milp_search

    real = milp_search.decode

    def overshoot(compiled, problem, xvec):
        fx = problem.factual
        return {k: fx[k] + 1.5 * (v - fx[k]) for k, v in real(compiled, problem, xvec).items()}

    monkeypatch.setattr(milp_search, "decode", overshoot)
    scm, clf, x = _case(3)
    problem = RecourseProblem(scm, clf, x, options=SolveOptions(closed_form=False))
    res = solve(problem)
    assert res.action, res.status
    assert res.status is Status.FEASIBLE, (res.status, res.message, res.path)
    assert res.cost > res.objective_bound * (1 + 1e-3)
    assert [step.engine for step in res.path][:2] == ["small-bnb", "milp"]
