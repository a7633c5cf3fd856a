"""p = 2 on a 27-node linear SCM with a LinearSVC and max_changes = 3 (so no closed form): widening the domains,
which bind nowhere near the optimum, from +-33 to +-3.3e5 turned OPTIMAL 0.383 into FEASIBLE 3.68 with bound 0,
'stalled' after 5 outer-approximation rounds in 0.1 s of a 15 s limit (an outside fuzz: 15 of ~40 people). The
first tangent points sit far apart on a wide domain; the MILP moved through the free region near 0 for rounds at
bound 0 while every round's cut cut its point off. Reference: every set of at most 3 intervened features, each a
convex QP min sum c_k d_k^2 s.t. g . d >= need on the box, solved by bisection on its KKT multiplier, with the
counterfactual's score rise g taken from the classifier's own decision_function on hand-computed counterfactuals."""

from __future__ import annotations

import itertools
import re
import warnings

import numpy as np
import pytest
from sklearn.svm import LinearSVC

from milp_recourse import Actionability, CostSpec, Preferences, RecourseProblem, SolveOptions, Status, solve
from milp_recourse.scm.spec import scm_from_dict

NODES = [
    ('x0', 'immutable', 16, ''),
    ('x1', 'immutable', 16, ''),
    ('x2', 'immutable', 18, '-0.368*x0'),
    ('x3', 'immutable', 18, '0.407*x1'),
    ('x4', 'actionable', 21, '0.379*x1 + -0.705*x2'),
    ('x5', 'immutable', 17, '0.272*x2'),
    ('x6', 'actionable', 16, ''),
    ('x7', 'actionable', 16, ''),
    ('x8', 'immutable', 18, '0.372*x1'),
    ('x9', 'immutable', 20, '-0.281*x4 + 0.429*x5 + -0.320*x6'),
    ('x10', 'immutable', 23, '-0.320*x2 + -0.777*x5'),
    ('x11', 'immutable', 20, '0.582*x2 + 0.284*x6 + 0.226*x7 + -0.201*x9'),
    ('x12', 'actionable', 20, '-0.607*x0 + 0.262*x3'),
    ('x13', 'immutable', 16, ''),
    ('x14', 'immutable', 20, '0.679*x13'),
    ('x15', 'decrease', 19, '-0.427*x1 + 0.230*x7 + 0.237*x9'),
    ('x16', 'actionable', 21, '0.784*x7 + -0.335*x11'),
    ('x17', 'actionable', 20, '0.523*x0 + -0.223*x3 + -0.321*x14'),
    ('x18', 'increase', 21, '-0.562*x1 + -0.379*x12'),
    ('x19', 'immutable', 19, '-0.484*x5 + 0.261*x11'),
    ('x20', 'immutable', 18, '0.313*x3 + 0.302*x9'),
    ('x21', 'immutable', 22, '0.261*x2 + -0.608*x16'),
    ('x22', 'immutable', 28, '0.599*x5 + 0.623*x7 + 0.538*x10 + 0.794*x13 + 0.303*x14 + 0.345*x19'),
    ('x23', 'actionable', 27, '-0.747*x2 + 0.749*x5 + -0.536*x8 + -0.556*x9 + 0.326*x10'),
    ('x24', 'immutable', 28, '0.761*x5 + -0.668*x22'),
    ('x25', 'immutable', 29, '0.793*x0 + 0.745*x5 + -0.277*x7 + -0.636*x13 + 0.559*x14 + -0.570*x16 + -0.427*x24'),
    ('x26', 'immutable', 33, '0.648*x3 + -0.385*x5 + -0.797*x7 + -0.645*x22'),
]
COEF = [0.12321835, -0.54814425, -0.52482836, 0.87171839, 0.128555, 0.62285669, 1.01970326, 0.04602198,
        0.17700808, 0.04471251, 1.07502823, 1.10192963, -0.07488874, -0.14321739, -0.33077441, -0.23623628,
        -1.02216142, -0.75469049, -0.33749428, -0.32335682, 0.21350341, 1.03785897, 0.66822919, 0.21177145,
        -0.57300413, -0.6551494, -0.9686272]
PERSON = [-2.044590942248303, -1.325634103571441, 4.3881221762782046, -1.6711148680757757, -2.8318628328184237,
          0.08871186671343967, -0.8738120737185039, -2.3121399647436496, 2.803696652524941, -4.171903207705567,
          -1.7969715784698996, -1.2738884990855404, 3.0914175443659193, 1.117829904062284, 0.5965264814233394,
          -0.1709585852415324, -1.5325686608106643, 0.008163640138864059, 0.7577554399608947, 0.8286922899704988,
          -1.16870765485687, 2.6431683154587686, -0.8689871810928004, -2.079067301197637, -1.838898954187778,
          -2.112772375491169, 0.3041777662357862]
WEIGHTS = {"x4": 0.5, "x6": 1.0, "x7": 3.7, "x12": 1.0, "x15": 1.0, "x16": 2.0, "x17": 0.5, "x18": 1.0, "x23": 2.0}
DIVISORS = {"x4": 1.0, "x6": 2.5, "x7": 1.0, "x12": 1.0, "x15": 2.5, "x16": 1.0, "x17": 1.0, "x18": 1.0, "x23": 1.0}
ACT = Actionability(bounds={"x6": (None, 2.0), "x17": (-1.0, None)}, directions={"x4": "down"}, max_changes=3)
NAMES = [n for n, *_ in NODES]


def _spec(width: float) -> dict:
    return {"name": "wide", "variables": [
        {"name": n, "type": "continuous", "actionability": a, "domain": [-half * width, half * width],
         "equation": (f"{eq} + U_{n}" if eq else f"U_{n}"),
         "noise": {"name": f"U_{n}", "dist": "normal", "mean": 0, "std": 2.0}} for n, a, half, eq in NODES]}


def _svc() -> LinearSVC:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = LinearSVC().fit(np.eye(len(NAMES))[:2], [0, 1])
    clf.coef_, clf.intercept_ = np.array([COEF]), np.array([0.34296599])
    return clf


def _reference(spec: dict, clf: LinearSVC) -> float:
    n = len(NAMES)
    B = np.zeros((n, n))
    for j, (_, _, _, eq) in enumerate(NODES):
        for coef, par in re.findall(r"(-?[0-9.]+)\*x([0-9]+)", eq):
            B[j, int(par)] = float(coef)
    x = np.array(PERSON)
    u = x - B @ x

    def cf(do: dict) -> np.ndarray:
        z = np.zeros(n)
        for j in range(n):
            z[j] = do[j] if j in do else B[j] @ z + u[j]
        return z

    box = {}
    for k in WEIGHTS:
        j = NAMES.index(k)
        var = spec["variables"][j]
        lo, hi = var["domain"]
        if var["actionability"] == "increase":
            lo = max(lo, x[j])
        if var["actionability"] == "decrease" or ACT.directions.get(k) == "down":
            hi = min(hi, x[j])
        b = ACT.bounds.get(k)
        if b:
            lo = lo if b[0] is None else max(lo, b[0])
            hi = hi if b[1] is None else min(hi, b[1])
        box[j] = (lo - x[j], hi - x[j])
    best = np.inf
    acts = [NAMES.index(k) for k in WEIGHTS]
    for m in (1, 2, 3):
        for S in itertools.combinations(acts, m):
            base = {j: x[j] for j in S}
            s = clf.decision_function(np.array([cf(base)] + [cf({**base, j: x[j] + 1.0}) for j in S]))
            g, need = s[1:] - s[0], 1e-6 - s[0]
            c = np.array([0.3 * WEIGHTS[NAMES[j]] / DIVISORS[NAMES[j]] for j in S])
            lo, hi = np.array([box[j][0] for j in S]), np.array([box[j][1] for j in S])

            def d_of(mu: float) -> np.ndarray:
                return np.clip(mu * g / (2 * c), lo, hi)
            if g @ d_of(1e12) < need:
                continue
            a, b = 0.0, 1e12
            for _ in range(200):
                mid = (a + b) / 2
                a, b = (a, mid) if g @ d_of(mid) >= need else (mid, b)
            best = min(best, float(c @ d_of(b) ** 2))
    return best


@pytest.mark.parametrize("width", [1.0, 100.0, 10000.0])
def test_the_optimum_does_not_depend_on_far_domain_ends(width):
    spec = _spec(width)
    clf = _svc()
    ref = _reference(spec, clf)
    r = solve(RecourseProblem(scm_from_dict(spec), clf, dict(zip(NAMES, PERSON)), actionability=ACT,
                              preferences=Preferences(weights=WEIGHTS),
                              cost=CostSpec(p=2, divisors=DIVISORS, scale=0.3), options=SolveOptions(time_limit=30)))
    assert r.status is Status.OPTIMAL, (r.message, r.cost, r.objective_bound)
    assert r.cost == pytest.approx(ref, rel=1e-4)
