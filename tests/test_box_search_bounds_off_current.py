"""The box search when a person's bounds exclude the current value of a feature whose parents cannot change.

Such a feature used to be put in every intervention pattern ("theta may stay at x"), but the bounds forbid
theta = x, so the patterns leaving it alone were never searched: CARMA row 1112 with L in [4.92, 12] was
reported OPTIMAL (gap 0) at 7.91 against the optimum 6.84 (an independent MILP found it). Reference here: every
intervention set x every activation pattern of a small ReLU network is one LP (scipy's linprog), the exact
optimum; the answer is re-checked with the estimator's own predict_proba.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.optimize import linprog
from sklearn.neural_network import MLPClassifier

from milp_recourse import Actionability, Preferences, RecourseProblem, Status, solve
from milp_recourse.scm.simulate import counterfactuals
from milp_recourse.scm.spec import scm_from_dict
from milp_recourse.solver.strategy import box_search_reason

NAMES = ("x1", "x2", "x3")
DOMAIN = (-10.0, 10.0)


def _case(seed: int) -> tuple[object, MLPClassifier, dict[str, float]]:
    """x1, x2 roots, x3 = a x1 + b x2 + u3; a 3-4-1 ReLU network fitted to a linear rule; a denied person."""
    rng = np.random.default_rng(seed)
    a, b = rng.uniform(-1, 1, 2).round(2)
    noise = [{"name": f"u{k}", "dist": "normal", "mean": 0, "std": 1} for k in (1, 2, 3)]
    spec = {"name": f"box{seed}", "variables": [
        {"name": "x1", "type": "continuous", "domain": list(DOMAIN), "actionability": "actionable",
         "equation": "u1", "noise": noise[0]},
        {"name": "x2", "type": "continuous", "domain": list(DOMAIN), "actionability": "actionable",
         "equation": "u2", "noise": noise[1]},
        {"name": "x3", "type": "continuous", "domain": list(DOMAIN), "actionability": "actionable",
         "equation": f"{a}*x1 + {b}*x2 + u3", "noise": noise[2]}]}
    scm = scm_from_dict(spec)
    X = scm.sample(600, seed=seed)[list(NAMES)].to_numpy(float)
    y = (X @ rng.uniform(-1, 1, 3) + 0.3 * np.abs(X[:, 0]) > 0).astype(int)
    net = MLPClassifier((4,), max_iter=2000, random_state=seed).fit(X, y)
    denied = X[net.predict_proba(X)[:, 1] < 0.3]
    x = denied[int(rng.integers(len(denied)))]
    return scm, net, dict(zip(NAMES, x.round(3)))


def _reference(problem: RecourseProblem, net: MLPClassifier, weights: dict[str, float]) -> float:
    """min sum_k w_k |delta_k| over intervention sets S and activation patterns s of the hidden layer: for fixed
    (S, s) the counterfactual is affine in delta_S and the network's logit affine too, so each is one LP."""
    (W1, W2), (b1, b2) = net.coefs_, net.intercepts_
    x = np.array([problem.factual[n] for n in NAMES])
    need = problem.options.margin   # logit >= margin (P >= 0.5)
    best = math.inf
    for size in (1, 2, 3):
        for subset in itertools.combinations(range(3), size):
            S = [NAMES[k] for k in subset]
            T = np.repeat(x[list(subset)][None, :], size + 1, 0)
            T[1:] += np.eye(size)
            Z = counterfactuals(problem.scm, problem.x, S, np.ones((size + 1, size), bool), T)
            z0, Jz = Z[0], (Z[1:] - Z[0]).T   # z = z0 + Jz delta
            h0, Jh = z0 @ W1 + b1, (Jz.T @ W1).T   # pre-activations: h0 + Jh delta
            lohi = [problem.actionability.bounds.get(n, DOMAIN) for n in S]
            dbounds = [(lo - x[k], hi - x[k]) for (lo, hi), k in zip(lohi, subset)]
            w = np.array([weights[n] for n in S])
            for pattern in itertools.product((0, 1), repeat=len(b1)):
                on = np.array(pattern, float)
                rows = [np.concatenate([-(W2[:, 0] * on) @ Jh, np.zeros(size)])]   # logit >= need
                rhs = [float((W2[:, 0] * on) @ h0 + b2[0] - need)]
                for j in range(len(b1)):   # on: h_j >= 0; off: h_j <= 0
                    sign = -1.0 if on[j] else 1.0
                    rows.append(np.concatenate([sign * Jh[j], np.zeros(size)]))
                    rhs.append(float(-sign * h0[j]))
                eye = np.eye(size)
                rows += list(np.hstack([eye, -eye])) + list(np.hstack([-eye, -eye]))   # t >= |delta|
                rhs += [0.0] * (2 * size)
                res = linprog(np.concatenate([np.zeros(size), w]), A_ub=np.array(rows), b_ub=np.array(rhs),
                              bounds=dbounds + [(0, None)] * size, method="highs")
                if res.status == 0:
                    best = min(best, float(res.fun))
    return best


@pytest.mark.parametrize("seed", range(10))
def test_box_search_leaves_a_root_alone_when_its_bounds_exclude_the_current_value(seed):
    scm, net, x = _case(seed)
    rng = np.random.default_rng(50 + seed)
    root = ("x1", "x2")[seed % 2]
    gap, width = rng.uniform(0.5, 2.0), rng.uniform(1.0, 3.0)
    bounds = {root: (x[root] + gap, x[root] + gap + width) if seed % 4 < 2 else (x[root] - gap - width,
                                                                                 x[root] - gap)}
    weights = {n: float(rng.uniform(0.5, 3.0)) for n in NAMES}
    problem = RecourseProblem(scm, net, x, actionability=Actionability(bounds=bounds),
                              preferences=Preferences(weights=weights))
    assert box_search_reason(problem) is None   # this is the box search's case
    ref = _reference(problem, net, weights)
    res = solve(problem)
    if not math.isfinite(ref):
        assert res.status is Status.NO_RECOURSE, (res.status, dict(res.action))
        return
    assert res.status is Status.OPTIMAL, (res.status, res.message)
    assert res.cost == pytest.approx(ref, rel=2e-4, abs=1e-6), (dict(res.action), ref, res.backend)
    cf = counterfactuals(scm, problem.x, list(res.action), np.ones((1, len(res.action)), bool),
                         np.array([list(res.action.values())], float))
    assert net.predict_proba(cf)[0, 1] >= 0.5
    if root in res.action:
        assert bounds[root][0] - 1e-9 <= res.action[root] <= bounds[root][1] + 1e-9
