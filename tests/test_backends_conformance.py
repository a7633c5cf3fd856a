"""Conformance battery: tiny problems with independently known optima, run against every registered backend."""

from __future__ import annotations

import dataclasses
import itertools
import time
from dataclasses import dataclass

import numpy as np
import pytest

from milp_recourse.backends import (SolverParams, Termination, backend_names, get_backend)
from milp_recourse.backends import base as backend_base
from milp_recourse.errors import BackendError, BackendUnavailableError, InputError
from milp_recourse.mip.ir import INF, Affine, IRBuilder, MIPModel, affine_sum

TOL = 1e-6
_AVAILABLE = {n: backend_base._FACTORIES[n]().is_available() for n in backend_names()}


def _backend(name: str):
    if not _AVAILABLE[name]:
        extra = backend_base._FACTORIES[name]().extra
        pytest.skip(f"backend {name!r} is not installed (pip install 'milp_recourse[{extra}]' and its solver)")
    return get_backend(name)


BACKENDS = pytest.mark.parametrize("name", backend_names())

# Known defects of backends outside this battery's files; strict, so a fix shows up as XPASS and fails.
KNOWN_BUGS: dict[tuple[str, str], str] = {}


def _known_bug(request: pytest.FixtureRequest, key: str, name: str) -> None:
    reason = KNOWN_BUGS.get((key, name))
    if reason:
        request.applymarker(pytest.mark.xfail(strict=True, reason=reason))


# ----------------------------------------------------------------------------- problems with known answers

def lp() -> MIPModel:
    """min -x - 2y, x + y <= 4, x + 3y <= 6, x, y >= 0: vertices give -5 at (3, 1)."""
    b = IRBuilder()
    x, y = b.add_var("x", 0), b.add_var("y", 0)
    b.add_le(Affine({x: 1, y: 1}), 4)
    b.add_le(Affine({x: 1, y: 3}), 6)
    b.add_objective(Affine({x: -1, y: -2}))
    return b.build()


def milp() -> MIPModel:
    """max 21a + 11b, 7a + 4b <= 13, a, b >= 0 integer: LP gives 39, rounding gives 21, optimum 33 at (0, 3)."""
    b = IRBuilder()
    a, c = b.add_var("a", 0, 10, integer=True), b.add_var("b", 0, 10, integer=True)
    b.add_le(Affine({a: 7, c: 4}), 13, group="cap")
    b.add_objective(Affine({a: -21, c: -11}))
    return b.build()


def knapsack(n: int = 14, seed: int = 3) -> tuple[MIPModel, float]:
    """0-1 knapsack with its optimum by enumerating all 2^n subsets."""
    rng = np.random.default_rng(seed)
    w, v = rng.integers(5, 40, n), rng.integers(5, 40, n)
    cap = float(w.sum() // 3)
    b = IRBuilder()
    xs = [b.add_binary(f"x[{j}]") for j in range(n)]
    b.add_le(affine_sum(Affine.column(x, float(w[j])) for j, x in enumerate(xs)), cap)
    b.add_objective(affine_sum(Affine.column(x, -float(v[j])) for j, x in enumerate(xs)))
    subsets = np.array(list(itertools.product([0, 1], repeat=n)), float)
    best = float(np.max(np.where(subsets @ w <= cap, subsets @ v, -np.inf)))
    return b.build(), -best


def infeasible_lp() -> MIPModel:
    b = IRBuilder()
    x, y = b.add_var("x", 0), b.add_var("y", 0)
    b.add_le(Affine({x: 1, y: 1}), 1)
    b.add_ge(Affine({x: 1, y: 1}), 2)
    b.add_objective(Affine({x: 1}))
    return b.build()


def infeasible_milp() -> MIPModel:
    """2x = 1 with x integer: the LP relaxation is feasible, only integrality makes it infeasible."""
    b = IRBuilder()
    x, y = b.add_var("x", 0, 5, integer=True), b.add_var("y", 0, 5)
    b.add_eq(Affine({x: 2}), 1)
    b.add_objective(Affine({x: 1, y: 1}))
    return b.build()


def unbounded(integer: bool) -> MIPModel:
    b = IRBuilder()
    x, y = b.add_var("x", 0, integer=integer), b.add_var("y", 0)
    b.add_le(Affine({x: 1, y: -1}), 1)
    b.add_objective(Affine({x: -1}))
    return b.build()


def equality_lp() -> MIPModel:
    """min x + y + z, x + 2y = 4, y + z = 3: x = 4 - 2y, z = 3 - y, obj = 7 - 2y, y <= 2 -> 3."""
    b = IRBuilder()
    x, y, z = b.add_var("x", 0), b.add_var("y", 0), b.add_var("z", 0)
    b.add_eq(Affine({x: 1, y: 2}), 4)
    b.add_eq(Affine({y: 1, z: 1}), 3)
    b.add_objective(Affine({x: 1, y: 1, z: 1}))
    return b.build()


def free_bounds() -> MIPModel:
    """x, y free; y - x = 2 (a ranged row), x >= -7 as a row; min x + 0.5 y = 1.5 x + 1 -> -9.5 at x = -7."""
    b = IRBuilder()
    x, y = b.add_var("x", -INF, INF), b.add_var("y", -INF, INF)
    b.add_row(Affine({y: 1, x: -1}), 2, 2)
    b.add_row(Affine({x: 1}), -7, INF)
    b.add_objective(Affine({x: 1, y: 0.5}))
    return b.build()


def with_offset(model: MIPModel, offset: float) -> MIPModel:
    return dataclasses.replace(model, offset=offset)


def qp(integer: bool) -> MIPModel:
    """min (x-2)^2 + (y-3)^2 - 13 = x^2 + y^2 - 4x - 6y.
    Continuous, x + y <= 3: projection (1, 2), value -11.  x integer, x + y <= 3.5: (1, 2.5), value -11.75."""
    b = IRBuilder()
    x, y = b.add_var("x", 0, 10, integer=integer), b.add_var("y", 0, 10)
    b.add_le(Affine({x: 1, y: 1}), 3.5 if integer else 3.0)
    b.add_objective(Affine({x: -4, y: -6}))
    b.add_quadratic(x, 1.0)
    b.add_quadratic(y, 1.0)
    return b.build()


def market_split(m: int, n: int, seed: int, slack: bool) -> MIPModel:
    """Cornuejols-Dawande market split: hopeless in 0.5 s; with slacks x = 0 is feasible, without none is found."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 100, (m, n))
    b = IRBuilder()
    xs = [b.add_binary(f"x{j}") for j in range(n)]
    for i in range(m):
        row = affine_sum(Affine.column(xs[j], float(a[i, j])) for j in range(n))
        if slack:
            sp, sm = b.add_var(f"sp{i}", 0), b.add_var(f"sm{i}", 0)
            row = row + Affine({sp: 1.0, sm: -1.0})
            b.add_objective(Affine({sp: 1.0, sm: 1.0}))
        b.add_eq(row, float(a[i].sum() // 2))
    return b.build()


@dataclass(frozen=True)
class Case:
    name: str
    model: MIPModel
    status: Termination
    objective: float = float("nan")


def _knap_case() -> Case:
    model, best = knapsack()
    return Case("knapsack14", model, Termination.OPTIMAL, best)


CASES = [
    Case("lp", lp(), Termination.OPTIMAL, -5.0),
    Case("milp_rounding", milp(), Termination.OPTIMAL, -33.0),
    _knap_case(),
    Case("infeasible_lp", infeasible_lp(), Termination.INFEASIBLE),
    Case("infeasible_milp", infeasible_milp(), Termination.INFEASIBLE),
    Case("equality_rows", equality_lp(), Termination.OPTIMAL, 3.0),
    Case("free_bounds", free_bounds(), Termination.OPTIMAL, -9.5),
    Case("offset", with_offset(lp(), 10.0), Termination.OPTIMAL, 5.0),
    Case("milp_offset", with_offset(milp(), -2.5), Termination.OPTIMAL, -35.5),
]


def _check_solution(case: Case, sol) -> None:
    """Status as expected; an optimum is feasible, matches the known value and its own objective."""
    assert sol.termination is case.status, (case.name, sol)
    if case.status is Termination.OPTIMAL:
        assert sol.x is not None
        assert case.model.max_violation(sol.x) <= 1e-6
        assert sol.objective == pytest.approx(case.objective, abs=TOL, rel=TOL)
        assert case.model.objective(sol.x) == pytest.approx(case.objective, abs=1e-5, rel=1e-6)
        assert sol.bound <= sol.objective + 1e-6 * max(1.0, abs(sol.objective))
    else:
        assert sol.x is None


# ----------------------------------------------------------------------------- the battery, per backend

@BACKENDS
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_known_optimum(name: str, case: Case) -> None:
    _check_solution(case, _backend(name).solve(case.model, SolverParams(time_limit=20)))


@BACKENDS
@pytest.mark.parametrize("integer", [False, True], ids=["lp", "milp"])
def test_unbounded_is_never_optimal(name: str, integer: bool, request: pytest.FixtureRequest) -> None:
    _known_bug(request, "unbounded_milp" if integer else "unbounded_lp", name)
    sol = _backend(name).solve(unbounded(integer), SolverParams(time_limit=20))
    assert sol.termination in (Termination.UNBOUNDED, Termination.ERROR), sol


@BACKENDS
@pytest.mark.parametrize("integer", [False, True], ids=["qp", "miqp"])
def test_convex_quadratic(name: str, integer: bool) -> None:
    backend = _backend(name)
    model = qp(integer)
    can = backend.capabilities.quadratic_mip if integer else backend.capabilities.quadratic_lp
    if not can:
        with pytest.raises(BackendError, match="quadratic"):
            backend.solve(model, SolverParams(time_limit=20))
        return
    sol = backend.solve(model, SolverParams(time_limit=20, mip_gap=1e-9))
    expected, x_opt = (-11.75, [1.0, 2.5]) if integer else (-11.0, [1.0, 2.0])
    assert sol.termination is Termination.OPTIMAL, sol
    assert sol.objective == pytest.approx(expected, abs=1e-5)
    assert model.objective(sol.x) == pytest.approx(expected, abs=1e-5)
    np.testing.assert_allclose(sol.x, x_opt, atol=1e-4)


@BACKENDS
@pytest.mark.parametrize("kind", ["milp", "lp", "milp_offset"])
def test_objective_cutoff(name: str, kind: str, request: pytest.FixtureRequest) -> None:
    """Nothing better than a cutoff below the optimum -> INFEASIBLE; a cutoff above leaves the optimum."""
    _known_bug(request, f"cutoff_{kind}", name)
    backend = _backend(name)
    model, opt = {"milp": (milp(), -33.0), "lp": (lp(), -5.0), "milp_offset": (with_offset(milp(), 4.0), -29.0)}[kind]
    below = backend.solve(model, SolverParams(time_limit=20, objective_cutoff=opt - 1.0))
    assert below.termination is Termination.INFEASIBLE and below.x is None, below
    above = backend.solve(model, SolverParams(time_limit=20, objective_cutoff=opt + 3.0))
    assert above.termination is Termination.OPTIMAL and above.objective == pytest.approx(opt, abs=TOL), above


def _check_limit_result(model: MIPModel, sol, limit: float, seconds: float) -> None:
    assert seconds < limit + 2.5, f"{sol.backend} took {seconds:.2f} s with time_limit={limit}"
    if sol.x is not None:
        assert model.max_violation(sol.x) <= 1e-6
        assert model.objective(sol.x) == pytest.approx(sol.objective, abs=1e-6, rel=1e-6)
        assert sol.bound <= sol.objective + 1e-6 * max(1.0, abs(sol.objective)), sol
    if sol.termination is Termination.OPTIMAL:  # only if it really closed the gap
        assert sol.objective - sol.bound <= 1e-6 * max(1.0, abs(sol.objective)), sol


@BACKENDS
def test_time_limit_with_incumbent(name: str) -> None:
    backend = _backend(name)
    model = market_split(4, 60, 0, slack=True)  # x = 0 is feasible; the optimum is out of reach in 0.5 s
    t0 = time.perf_counter()
    sol = backend.solve(model, SolverParams(time_limit=0.5))
    _check_limit_result(model, sol, 0.5, time.perf_counter() - t0)
    assert sol.termination is Termination.FEASIBLE, sol
    assert sol.x is not None and np.isfinite(sol.objective) and sol.gap > 0


@BACKENDS
def test_time_limit_without_incumbent(name: str) -> None:
    backend = _backend(name)
    model = market_split(7, 60, 1, slack=False)  # equality market split: no solution found in 0.5 s
    t0 = time.perf_counter()
    sol = backend.solve(model, SolverParams(time_limit=0.5))
    _check_limit_result(model, sol, 0.5, time.perf_counter() - t0)
    assert sol.termination is Termination.NO_SOLUTION, sol
    assert sol.x is None and sol.objective == float("inf")


@BACKENDS
def test_resolve_after_updates(name: str) -> None:
    """Bounds (with_bounds), right-hand side and objective changes each give the new known optimum."""
    backend = _backend(name)
    base = milp()
    p = SolverParams(time_limit=20)
    assert backend.solve(base, p).objective == pytest.approx(-33.0, abs=TOL)
    fixed = base.with_bounds(np.array([1.0, 0.0]), np.array([1.0, 10.0]))  # a = 1 -> b <= 1.5 -> b = 1: -32
    assert backend.solve(fixed, p).objective == pytest.approx(-32.0, abs=TOL)
    rhs = dataclasses.replace(base, row_hi=np.array([14.0]))  # 7a + 4b <= 14 -> a = 2: -42
    assert backend.solve(rhs, p).objective == pytest.approx(-42.0, abs=TOL)
    cost = dataclasses.replace(base, c=np.array([-21.0, -5.0]))  # (1, 1) -> -26 beats (0, 3) -> -15
    sol = backend.solve(cost, p)
    assert sol.objective == pytest.approx(-26.0, abs=TOL)
    np.testing.assert_allclose(sol.x, [1.0, 1.0], atol=1e-6)
    assert backend.solve(base, p).objective == pytest.approx(-33.0, abs=TOL)  # nothing leaked between solves


@BACKENDS
def test_warm_start(name: str) -> None:
    backend = _backend(name)
    model, best = knapsack()
    start = np.zeros(model.n_cols)
    sol = backend.solve(model, SolverParams(time_limit=20, start=start))
    assert sol.termination is Termination.OPTIMAL and sol.objective == pytest.approx(best, abs=TOL)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_backends_agree(case: Case) -> None:
    """Every installed backend reports the same status and optimal value."""
    names = [n for n in backend_names() if _AVAILABLE[n]]
    if len(names) < 2:
        pytest.skip("fewer than two backends installed")
    sols = {n: get_backend(n).solve(case.model, SolverParams(time_limit=20)) for n in names}
    assert len({s.termination for s in sols.values()}) == 1, {n: s.termination for n, s in sols.items()}
    if case.status is Termination.OPTIMAL:
        values = [s.objective for s in sols.values()]
        assert max(values) - min(values) <= TOL * max(1.0, abs(case.objective)), dict(zip(sols, values))


# ----------------------------------------------------------------------------- misuse and registry

def test_unknown_backend_lists_known_and_installed() -> None:
    with pytest.raises(InputError) as err:
        get_backend("nope")
    text = str(err.value)
    assert "'nope'" in text and "highs" in text
    for n in backend_names():
        assert n in text


def test_missing_extra_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    class Missing:
        name, extra = "fake", "fakeextra"
        capabilities = backend_base.Capabilities()

        def is_available(self) -> bool:
            return False

    monkeypatch.setitem(backend_base._FACTORIES, "fake", Missing)
    with pytest.raises(BackendUnavailableError, match=r"milp_recourse\[fakeextra\]"):
        get_backend("fake")
    with pytest.raises(ImportError):  # the builtin parent is catchable too
        get_backend("fake")


def test_no_cp_sat_backend() -> None:
    """CP-SAT silently makes continuous variables integer, so it must never be offered."""
    assert not [n for n in backend_names() if "sat" in n.lower()]


@pytest.mark.parametrize("name", ["ortools-scip", "ortools-highs", "ortools-cbc", "pyomo"])
def test_bad_params_are_input_errors(name: str) -> None:
    backend = _backend(name)
    with pytest.raises(InputError, match="time_limit.*Got -1"):
        backend.solve(lp(), SolverParams(time_limit=-1))
    with pytest.raises(InputError, match="start"):
        backend.solve(milp(), SolverParams(start=np.zeros(5)))


@pytest.mark.parametrize("name", ["ortools-scip", "ortools-highs"])
def test_solver_errors_surface_with_the_solver_message(name: str) -> None:
    """OR-Tools hides solver errors behind AttributeError('StatusNotOk'); the backend unwraps them."""
    backend = _backend(name)
    bad = dataclasses.replace(lp(), col_lb=np.array([2.0, 0.0]), col_ub=np.array([1.0, 5.0]))
    with pytest.raises(BackendError, match="lower_bound > upper_bound"):
        backend.solve(bad, SolverParams(time_limit=5))


def test_pyomo_appsi_highs_honours_time_limit() -> None:
    """appsi_highs ignores a config.time_limit set on the solver; the backend's HiGHS option must bite."""
    backend = _backend("pyomo")
    model = market_split(4, 60, 0, slack=True)
    t0 = time.perf_counter()
    sol = backend.solve(model, SolverParams(time_limit=0.3))
    assert time.perf_counter() - t0 < 1.5
    assert sol.termination is Termination.FEASIBLE and "maxTimeLimit" in sol.message, sol


def test_a_point_violating_the_model_is_never_reported() -> None:
    """The pywraplp-HiGHS failure mode (all-zero 'incumbent' at the limit) turns into NO_SOLUTION / ERROR."""
    from milp_recourse.backends.ortools_backend import finish

    model = milp()
    bad = np.array([5.0, 5.0])  # 7a + 4b = 55 > 13
    limit = finish(model, "t", Termination.FEASIBLE, bad, -160.0, -200.0, 0.1, "limit", 3)
    assert limit.termination is Termination.NO_SOLUTION and limit.x is None and "violates" in limit.message
    claimed = finish(model, "t", Termination.OPTIMAL, bad, -160.0, -160.0, 0.1, "optimal", 3)
    assert claimed.termination is Termination.ERROR and claimed.x is None
