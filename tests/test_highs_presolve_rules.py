"""HiGHS 1.16's presolve cut the optimum off a small tree-ensemble MILP (a fuzz person: OPTIMAL with an
objective_bound of 98.89 above its own verified cost of 17.64): the backend switches the enumeration rule off,
and search_compiled solves again without presolve when a proven bound passes a verified action's cost.
The fixture is that MILP (31 columns, 15 integer; one outer-approximation round), written by backends/export."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import Bounds, LinearConstraint, milp

from milp_recourse import CostSpec, Status, solve
from milp_recourse.backends import get_backend
from milp_recourse.backends.base import SolverParams
from milp_recourse.backends.export import read_model
from milp_recourse.backends.highs import _rule_bits

from denied import denied_problems  # noqa: E402

FIXTURE = Path(__file__).parent / "fixtures" / "highs_enumeration_tree.mps"


def _reference(model) -> float:
    """The optimum by scipy's own MILP solver (its vendored HiGHS build, default options)."""
    res = milp(model.c, constraints=LinearConstraint(model.A, model.row_lo, model.row_hi),
               integrality=model.integrality.astype(int), bounds=Bounds(model.col_lb, model.col_ub))
    assert res.status == 0
    return float(res.fun + model.offset)


@pytest.mark.parametrize("sub_mips", [True, False])
@pytest.mark.parametrize("presolve", [True, False])
def test_the_tree_milp_gets_its_optimum_and_a_consistent_bound(sub_mips, presolve):
    model = read_model(FIXTURE)
    ref = _reference(model)
    sol = get_backend("highs").solve(model, SolverParams(time_limit=30, mip_gap=1e-6, sub_mip_heuristics=sub_mips,
                                                         presolve=presolve))
    assert sol.objective == pytest.approx(ref, rel=1e-6, abs=1e-6)
    assert sol.bound <= sol.objective + 1e-6 and sol.bound >= ref * (1 - 1e-6) - 1e-6
    assert model.max_violation(sol.x) <= 1e-6


@pytest.mark.parametrize("rule, name", [("probing", "Probing"), ("enumeration", "Enumeration")])
def test_the_rule_bits_are_the_rules_highs_names(rule, name, capfd):
    """HiGHS logs the rules presolve_rule_off switches off by name: each bit we set must be the named rule."""
    from importlib.metadata import version

    import highspy

    bit = _rule_bits().get(rule, 0)
    if not bit:
        pytest.skip(f"highspy {version('highspy')} has no known {rule} bit: the option is not set")
    h = highspy.Highs()
    h.setOptionValue("presolve_rule_off", bit)
    h.setOptionValue("presolve_rule_logging", True)
    h.addVars(2, np.zeros(2), np.ones(2))
    h.changeColsIntegrality(2, np.array([0, 1], dtype=np.int32), np.array([highspy.HighsVarType.kInteger] * 2))
    h.addRow(1.0, 2.0, 2, np.array([0, 1], dtype=np.int32), np.ones(2))
    h.run()
    log = capfd.readouterr().out
    lines = [ln for ln in log.splitlines() if f"set bit {bit.bit_length() - 1} " in ln]
    assert len(lines) == 1 and lines[0].rstrip().endswith(name), log


class _Overbound:
    """A HiGHS backend whose MIP solves with presolve claim a proven bound 10x their objective (the failure mode:
    a bound no action reaches); without presolve it answers truthfully."""

    def __init__(self) -> None:
        self.real = get_backend("highs")
        self.name, self.capabilities = self.real.name, self.real.capabilities
        self.without_presolve = 0

    def solve(self, model, params):
        sol = self.real.solve(model, params)
        if not params.presolve:
            self.without_presolve += 1
        elif model.integrality.any() and sol.x is not None:
            sol = dataclasses.replace(sol, bound=10.0 * abs(sol.objective) + 1.0)
        return sol

    def __getattr__(self, attr):
        return getattr(self.real, attr)


def test_a_bound_above_the_verified_cost_is_solved_again_without_presolve(monkeypatch):
    import milp_recourse.solver.milp_search as ms

    pr = denied_problems("loan", "tree", seed=7, keep=1, cost=CostSpec(p=2))[0]
    honest = solve(pr)
    fake = _Overbound()
    monkeypatch.setattr(ms, "get_backend", lambda name: fake if name == "highs" else get_backend(name))
    got = solve(pr)
    assert fake.without_presolve >= 1
    assert got.status == Status.OPTIMAL and got.cost == pytest.approx(honest.cost, rel=1e-6)
    assert got.objective_bound <= got.cost * (1 + 1e-6) + 1e-9
    assert any(step.counters.get("presolve_retries") == 1 for step in got.path)


NETWORK = Path(__file__).parent / "fixtures" / "highs_probing_network.mps"


@pytest.mark.parametrize("presolve", [True, False])
def test_a_small_network_milp_keeps_its_optimum(presolve):
    """A 14-column, 7-integer ReLU-network MILP (a grid on income and --max-changes 1, p = 2: one outer-approximation
    round), from an outside fuzz: HiGHS 1.16's presolve (probing with the aggregator) reported OPTIMAL 145.39 with
    that bound where 99.97 is feasible. MIPs with at most SECOND_OPINION_INTEGERS integer columns get a second solve
    without probing, taken when it is better. Reference: scipy's milp."""
    from milp_recourse.backends.highs import SECOND_OPINION_INTEGERS

    model = read_model(NETWORK)
    assert 0 < int(model.integrality.sum()) <= SECOND_OPINION_INTEGERS
    ref = _reference(model)
    sol = get_backend("highs").solve(model, SolverParams(time_limit=30, mip_gap=1e-4, presolve=presolve))
    assert sol.objective == pytest.approx(ref, rel=1e-6) and sol.bound <= sol.objective + 1e-6
    assert model.max_violation(sol.x) <= 1e-6


def test_a_solve_error_is_solved_again_without_probing_then_without_presolve():
    """explain's zero-objective feasibility MILP for a forest person (27 integers): HiGHS answered 'Solve error'
    (presolve reduced it to empty and the postsolved point broke a row by 1.5), so a removal test came back undecided
    and a minimal conflict was reported 'not proven' (an outside fuzz). Reference: scipy's MILP on the same model,
    and the returned point checked against every row, bound and integrality by hand."""
    model = read_model(Path(__file__).parent / "fixtures" / "highs_solve_error_feasibility.mps")
    ref = _reference(model)
    sol = get_backend("highs").solve(model, SolverParams(time_limit=30, mip_gap=1e-6))
    assert sol.termination.value == "optimal", sol.message
    assert sol.objective == pytest.approx(ref, abs=1e-9)
    x = sol.x
    ints = model.integrality.astype(bool)
    assert np.all(np.abs(x[ints] - np.round(x[ints])) <= 1e-6)
    assert np.all(x >= model.col_lb - 1e-7) and np.all(x <= model.col_ub + 1e-7)
    ax = model.A @ x
    assert np.all(ax >= model.row_lo - 1e-6) and np.all(ax <= model.row_hi + 1e-6)
