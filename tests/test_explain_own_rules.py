"""A person's own IF-THEN rules (`--constraint`) are personal constraints in `explain`: before, they were kept in the
"universal" problem, so a person blocked only by their own rules was told "even someone without any personal
constraint could not reach a favourable decision" and offered no relaxation (an outside fuzz). Each rule is now a
group `rule:K` that the conflict may name and the relaxation may give up.

Reference, by hand: z is immutable at 0, so a rule `if k -> v then z >= 3` forbids k = v. With weights 1 and p = 1
the cheapest action for an allowed set of k values is the closed form below (each k value, then the smallest
shift of a that the logistic score needs, a in [-1, 1])."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import milp_recourse as mr
from milp_recourse.diagnose.explain import explain
from milp_recourse.scm.spec import scm_from_dict

SPEC = {"name": "weak", "variables": [
    {"name": "z", "type": "continuous", "domain": [-5, 5], "actionability": "immutable", "equation": "u_z",
     "noise": {"name": "u_z", "dist": "normal", "mean": 0, "std": 1}},
    {"name": "k", "type": "integer", "domain": [0, 5], "actionability": "actionable", "equation": "u_k",
     "noise": {"name": "u_k", "dist": "categorical", "probs": [0.2, 0.2, 0.2, 0.2, 0.1, 0.1]}},
    {"name": "a", "type": "continuous", "domain": [-1, 1], "actionability": "actionable", "equation": "0.1 * z + u_a",
     "noise": {"name": "u_a", "dist": "normal", "mean": 0, "std": 0.3}}]}


def classifier() -> LogisticRegression:
    rng = np.random.default_rng(0)
    n = 3000
    z = rng.normal(0, 1, n)
    k = rng.choice(6, size=n, p=[.2, .2, .2, .2, .1, .1]).astype(float)
    a = np.clip(0.1 * z + rng.normal(0, .3, n), -1, 1)
    y = (z - 0.8 * k + 0.2 * a + 1.5 + rng.normal(0, .2, n) > 0).astype(int)
    return LogisticRegression(C=100).fit(np.c_[z, k, a], y)


def optimum(clf: LogisticRegression, x: dict[str, float], forbidden: set[int], a_hi: float = 1.0) -> float:
    """The cheapest |dk| + |da| with score >= 1e-6 (the default margin), k not forbidden and a <= a_hi (inf if
    none)."""
    w, b = clf.coef_[0], float(clf.intercept_[0])
    best = np.inf
    for k in range(6):
        if k in forbidden and k != x["k"]:
            continue
        need = (1e-6 - b - w[0] * x["z"] - w[1] * k) / w[2]   # a >= need if w_a > 0, <= need if < 0
        a = max(x["a"], need) if w[2] > 0 else min(x["a"], need)
        if -1 <= a <= min(1.0, a_hi):
            best = min(best, abs(k - x["k"]) + abs(a - x["a"]))
    return best


# (forbidden k values, the person's k, an upper bound on a or None): k = 0, 1, 2 can be approved from z = 0, k = 2
# only with a >= ~0.5
CASES = [((0, 1, 2), 3.0, None), ((1, 2), 3.0, None), ((0, 1, 2, 3), 4.0, None), ((2, 1, 0, 5), 4.0, None),
         ((0, 1, 2, 4), 3.0, None), ((0, 1, 2), 5.0, None), ((0, 1), 3.0, 0.2), ((1, 0, 4), 5.0, 0.3)]


@pytest.mark.parametrize("values,k0,a_hi", CASES)
def test_own_rules_are_personal_groups(values, k0, a_hi):
    clf = classifier()
    scm = scm_from_dict(SPEC)
    x = {"z": 0.0, "k": k0, "a": 0.0}
    rules = tuple(f"if k -> {v} then z >= 3" for v in values)
    forbids = {i + 1: int(v) for i, v in enumerate(values)}   # rule:K forbids k = forbids[K]
    bounds = {} if a_hi is None else {"a": (None, a_hi)}
    problem = mr.RecourseProblem(scm, clf, x, actionability=mr.Actionability(logic=rules, bounds=bounds))
    expl = explain(problem)
    hi = 1.0 if a_hi is None else a_hi
    full = optimum(clf, x, set(forbids.values()), hi)
    if np.isfinite(full):
        assert expl.result.status is mr.Status.OPTIMAL
        assert expl.result.cost == pytest.approx(full, rel=1e-6)
        return
    assert expl.result.status is mr.Status.NO_RECOURSE
    assert np.isfinite(optimum(clf, x, set())), "the cases are built so that the rules alone block recourse"
    assert expl.scope == "individual", expl.message
    named = [int(k.split(":")[1]) for k in expl.conflict.keys if k.startswith("rule:")]
    bound = "upper:a" in expl.conflict.keys
    assert set(expl.conflict.keys) == {f"rule:{k}" for k in named} | {"threshold"} | ({"upper:a"} if bound else set())

    def alone(rules: set[int], with_bound: bool) -> float:   # the optimum under only these groups
        return optimum(clf, x, {forbids[k] for k in rules}, hi if with_bound else 1.0)

    # minimal: the named groups alone leave no recourse, and each one is needed for that
    assert not np.isfinite(alone(set(named), bound))
    for k in named:
        assert np.isfinite(alone(set(named) - {k}, bound))
    assert not bound or np.isfinite(alone(set(named), False))
    # the cheapest relaxation: the fewest groups to give up, then the cheapest action among those sets
    groups = [f"rule:{k}" for k in forbids] + ([] if a_hi is None else ["upper:a"])
    fewest, cheapest = None, np.inf
    for size in range(1, len(groups) + 1):
        for drop in itertools.combinations(groups, size):
            kept = {k for k in forbids if f"rule:{k}" not in drop}
            cheapest = min(cheapest, alone(kept, a_hi is not None and "upper:a" not in drop))
        if np.isfinite(cheapest):
            fewest = size
            break
    rel = expl.relaxation
    assert rel.status == "optimal", rel.message
    assert rel.weight == fewest and rel.verified
    assert rel.cost == pytest.approx(cheapest, rel=1e-6)
