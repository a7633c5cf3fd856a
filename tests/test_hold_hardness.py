"""Why 100-node linear SCMs resist proof: their recourse contains bipartite boolean quadratic programming.

Reduction (docs/scaling.md). A root s, a layer a_1..a_p with a_j = s + u, a layer b_1..b_q with
b_k = sum_j C_jk a_j + u, and a score sum_k b_k + intercept. Holding a node at its own value costs nothing under
a p = 1 cost, so shifting s by t while holding {a_j : x_j = 0} and {b_k : y_k = 0} moves the score by
t * x^T C y; when the other nodes are expensive to move, the cheapest recourse is (score missing) / max |x^T C y|,
so proving an optimum is solving max_{x, y binary} x^T C y (NP-hard for an arbitrary C: it contains
maximum-weight biclique; Punnen, Sripratak and Karapetyan 2015). The package must still be exact on it: checked
here against enumeration of all 2^(p+q) hold sets, with the counterfactual simulated by the test itself (plain
numpy, not the package's SCM) and scored by the estimator's own decision_function.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from milp_recourse import CostSpec, RecourseProblem, SolveOptions, solve
from milp_recourse.problem.preferences import Preferences
from milp_recourse.scm.random_linear import bipartite_hold_scm
from milp_recourse.solver.linear_scm_exact import ENGINE

EXPENSIVE = 1000.0   # cost weight of every node but s: moving them is never efficient, holding them is free


def _case(C: np.ndarray, intercept: float):
    """(SCM, classifier, names) of the reduction for the matrix C (p x q, one decimal)."""
    p, q = C.shape
    scm = bipartite_hold_scm(C)
    a = [f"a{j}" for j in range(p)]
    b = [f"b{k}" for k in range(q)]
    names = ["s", *a, *b]
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, len(names)))
    clf = LogisticRegression().fit(X, (X[:, 0] > 0).astype(int))
    clf.coef_ = np.array([[0.0] * (1 + p) + [1.0] * q])   # the score is sum_k b_k + intercept
    clf.intercept_ = np.array([intercept])
    return scm, clf, names


def _simulate(C: np.ndarray, s: float, held_a: set[int], held_b: set[int]) -> np.ndarray:
    """The counterfactual of do(s := s, held nodes := 0) from the all-zero person, by plain numpy."""
    a = np.where([j in held_a for j in range(C.shape[0])], 0.0, s)
    b = np.where([k in held_b for k in range(C.shape[1])], 0.0, a @ C)
    return np.concatenate([[s], a, b])


def _best_form(C: np.ndarray) -> float:
    """max over binary x, y of |x^T C y| by enumeration."""
    p, q = C.shape
    best = 0.0
    for x in itertools.product((0.0, 1.0), repeat=p):
        v = np.asarray(x) @ C
        best = max(best, float(np.maximum(v, 0).sum()), float(np.maximum(-v, 0).sum()))  # best y for this x
    return best


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_recourse_solves_the_quadratic_program(seed: int) -> None:
    rng = np.random.default_rng(seed)
    C = rng.integers(-5, 6, size=(5, 6)).astype(float)
    scm, clf, names = _case(C, intercept=-3.0)
    person = dict.fromkeys(names, 0.0)
    weights = {nm: (1.0 if nm == "s" else EXPENSIVE) for nm in names}
    pr = RecourseProblem(scm, clf, person, cost=CostSpec(p=1), preferences=Preferences(weights=weights),
                        options=SolveOptions(time_limit=60))
    res = solve(pr)
    assert res.status.value == "OPTIMAL" and res.verified and res.engines == (ENGINE,)
    assert set(res.action) - {"s"} <= set(names) and all(res.action[k] == 0.0 for k in res.action if k != "s")
    held_a = {j for j in range(C.shape[0]) if f"a{j}" in res.action}
    held_b = {k for k in range(C.shape[1]) if f"b{k}" in res.action}
    cf = _simulate(C, res.action["s"], held_a, held_b)
    gain = float(clf.decision_function(cf.reshape(1, -1))[0] - clf.decision_function(np.zeros((1, len(names))))[0])
    assert clf.predict(cf.reshape(1, -1))[0] == 1
    # no action of cost t moves the score by more than t * max |x^T C y|: the answer reaches that bound
    assert res.cost == pytest.approx(abs(res.action["s"]), rel=1e-12)
    assert res.cost == pytest.approx(gain / _best_form(C), rel=1e-7)
    assert res.objective_bound <= res.cost * (1 + 1e-9)


@pytest.mark.parametrize("bad", [np.zeros(3), np.zeros((0, 2)), np.array([[1.0, np.nan]])])
def test_the_builder_refuses_a_bad_matrix(bad: np.ndarray) -> None:
    with pytest.raises(ValueError, match="non-empty finite 2-D array"):
        bipartite_hold_scm(bad)
