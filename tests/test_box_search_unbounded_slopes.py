"""Box search over SCM equations whose slope has no bound on a wide box (an outside fuzz's cases).

- log(2 + A*A): A*A is bounded as a general product, so 2 + A*A's interval reached 0 and the slope (A+A)/(2+A*A)
  was unbounded; nan_to_num turned that inf into 1.8e308, the network's bound line became NaN, a NaN line was
  read as 'never reaches the threshold', the box was discarded, and the incumbent came back OPTIMAL (gap 0)
  at 2.5e-4 above an accepted action.
- (A*A + 1)**0.5 and abs(A)**0.5: the slope's x**-0.5 was evaluated at x <= 0 and math.pow raised 'math domain
  error' out of solve.
References are computed here: the SCM by hand, the network's own predict_proba, closed forms and a dense scan."""

from __future__ import annotations

import math

import numpy as np
import pytest

from milp_recourse import Actionability, CostSpec, RecourseProblem, SolveOptions, Status, solve
from milp_recourse.models.relu_network import ReLUNetwork
from milp_recourse.scm import expr as ex
from milp_recourse.scm.interval import interval
from milp_recourse.scm.spec import scm_from_dict


def _root(name: str) -> dict:
    return {"name": name, "type": "continuous", "domain": [-5, 5], "actionability": "actionable",
            "equation": f"U_{name}", "noise": {"name": f"U_{name}", "dist": "normal", "mean": 0, "std": 1}}


def _child(equation: str) -> dict:
    return {"name": "Z", "type": "continuous", "domain": [-30, 30], "actionability": "immutable",
            "equation": f"{equation} + U_Z", "noise": {"name": "U_Z", "dist": "normal", "mean": 0, "std": 1}}


def _net_on_z(names: tuple[str, ...], t: float) -> ReLUNetwork:
    """logit = relu(Z - t + 10) - 10 = Z - t wherever Z > t - 10."""
    w = np.zeros((1, len(names)))
    w[0, names.index("Z")] = 1.0
    return ReLUNetwork(weights=(w, np.array([[1.0]])), biases=(np.array([10.0 - t]), np.array([-10.0])),
                       feature_names=names)


@pytest.mark.parametrize("p", [1, 2])
def test_a_log_of_a_square_is_not_proven_at_a_dearer_incumbent(p):
    scm = scm_from_dict({"name": "r", "variables": [_root("A"), _root("B"), _child("log(2 + A*A) + 0.5*B")]})
    net = _net_on_z(("A", "B", "Z"), 1.5)
    x = {"A": 0.0, "B": 0.0, "Z": math.log(2.0)}       # U_Z = 0, logit log 2 - 1.5 < 0
    res = solve(RecourseProblem(scm, net, x, actionability=Actionability(actionable=("A", "B")), cost=CostSpec(p=p),
                                options=SolveOptions(time_limit=30)))
    # reference: B moved by b >= 0, A by the least a >= 0 with log(2 + a^2) + b / 2 = 1.5 + 1e-6 (the margin)
    need = 1.5 + 1e-6 - math.log(2.0)
    b = np.linspace(0.0, 2.0 * need, 400001)
    rest = need - 0.5 * b
    a = np.sqrt(np.maximum(np.exp(rest + math.log(2.0)) - 2.0, 0.0))
    ref = float(np.min(a ** p + b ** p))
    assert res.status is Status.OPTIMAL, res.message
    assert res.cost <= ref * (1 + 1e-4) + 1e-9
    ta, tb = res.action.get("A", 0.0), res.action.get("B", 0.0)
    z = math.log(2 + ta * ta) + 0.5 * tb
    assert net.predict_proba(np.array([[ta, tb, z]]))[0, 1] >= 0.5
    assert res.cost == pytest.approx(abs(ta) ** p + abs(tb) ** p, rel=1e-9)


@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("equation,f,a0,t,theta", [
    ("(A*A + 1)**0.5", lambda a: math.sqrt(a * a + 1), 0.0, 2.0, math.sqrt(3.0)),
    ("abs(A)**0.5", lambda a: math.sqrt(abs(a)), 0.3, 1.4, 1.96),
])
def test_a_fractional_power_of_a_changing_quantity_is_solved(p, equation, f, a0, t, theta):
    scm = scm_from_dict({"name": "r", "variables": [_root("A"), _child(equation)]})
    net = _net_on_z(("A", "Z"), t)
    res = solve(RecourseProblem(scm, net, {"A": a0, "Z": f(a0)}, cost=CostSpec(p=p),
                                options=SolveOptions(time_limit=30)))
    ref = abs(theta - a0) ** p          # the nearest A with f(A) = t (the other root, -theta, is farther)
    assert res.status is Status.OPTIMAL, res.message
    assert res.cost == pytest.approx(ref, rel=1e-4)
    ta = res.action["A"]
    assert net.predict_proba(np.array([[ta, f(ta)]]))[0, 1] >= 0.5


def test_a_negative_fractional_power_over_an_interval_reaching_zero_is_unbounded_above():
    e = ex.parse("x ** -0.5")
    for lo, hi in [(-1.0, 4.0), (0.0, 4.0), (-3.0, 0.0)]:
        got_lo, got_hi = interval(e, {"x": (lo, hi)})
        assert got_hi == math.inf
        for v in np.linspace(max(lo, 1e-6), hi, 50):
            if v > 0:
                assert got_lo <= v ** -0.5 <= got_hi
