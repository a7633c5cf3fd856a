"""Data-space costs: the percentile (CDF) cost and the max aggregate, exact in the MILP.

References: numpy's own interpolation of the empirical CDF (np.interp over the sorted unique values with levels
(rows <= value) / n), exhaustive enumeration over grids (instances/oracles.py: costs from action_cost, scores
from the classifier itself), a dense 1-D / 2-D brute force of the continuous problem, and an enumeration of
ranked options by hand. Bad inputs: the CostSpec, the CDF, the CLI (exit 2, nothing on stdout).
"""

from __future__ import annotations

import dataclasses
import itertools
import json

import joblib
import numpy as np
import pandas as pd
import pytest

from milp_recourse.cli.main import main
from milp_recourse.errors import InputError
from milp_recourse.models.classifiers import favourable
from milp_recourse.models.recipes import first_denied, train_recipe
from milp_recourse.problem.data_costs import PercentileCDF, percentile_cdf, percentile_cdfs
from milp_recourse.problem.options import Actionability, CostSpec, SolveOptions
from milp_recourse.problem.recourse_problem import RecourseProblem
from milp_recourse.scm import load_scm
from milp_recourse.scm.simulate import counterfactuals
from milp_recourse.solver.options import solve_options
from milp_recourse.solver.pipeline import solve
from milp_recourse.solver.strategy import box_search_reason, polish_reason
from milp_recourse.solver.verify import verify_action

from instance_oracles import oracles  # noqa: E402  (instances/oracles.py)

EXACT = 1e-6
COSTS = (("percentile", "sum", 0.0), ("percentile", "max", 0.0), ("power", "max", 0.0),
         ("percentile", "sum", 0.05), ("percentile", "max", 0.05))


def ecdf_reference(column: np.ndarray, values: np.ndarray) -> np.ndarray:
    """numpy's interpolation of the ECDF: knots the sorted unique values, levels (rows <= knot) / n."""
    col = np.sort(np.asarray(column, float))
    knots = np.unique(col)
    return np.interp(values, knots, np.searchsorted(col, knots, side="right") / col.size)


@pytest.fixture(scope="module")
def cases() -> dict[str, tuple]:
    out = {}
    for name in ("chain", "loan"):
        scm = load_scm(name)
        model = train_recipe(scm, "logreg", 600, 0)
        ref = _coarse(scm.sample(300, seed=11))
        out[name] = (scm, model, ref)
    return out


def _coarse(ref: pd.DataFrame) -> pd.DataFrame:
    """Reference data on a coarse lattice: at most 50 unique values per column, so no CDF is thinned and the
    raw ECDF is the cost's own function."""
    out = ref.copy()
    for col in out.columns:
        span = float(out[col].max() - out[col].min())
        step = span / 40.0 if span > 0 else 1.0
        out[col] = np.round(out[col] / step) * step
        assert out[col].nunique() <= 50, col
    return out


def _cost(kind: str, aggregate: str, l0: float, ref: pd.DataFrame, names) -> CostSpec:
    cdfs = percentile_cdfs(ref, names) if kind == "percentile" else {}
    return CostSpec(kind=kind, aggregate=aggregate, l0=l0, cdfs=cdfs)


def _denied(scm, model, seed: int) -> np.ndarray:
    X = scm.sample(300, seed=seed)[list(scm.names)].to_numpy(float)
    rows = np.flatnonzero(~favourable(model, X))
    return X[rows[seed % rows.size]]


def _grid_problem(scm, model, ref, seed: int, kind: str, aggregate: str, l0: float) -> RecourseProblem:
    """A denied person with 4-6 grid values (quantiles of the reference data) on 2-3 actionable features."""
    rng = np.random.default_rng(seed)
    x = _denied(scm, model, seed)
    movable = [v.name for v in scm.variables if v.actionability != "immutable"]
    feats = sorted(rng.choice(movable, size=min(len(movable), int(rng.integers(2, 4))), replace=False).tolist())
    grids = {}
    for f in feats:
        var = scm.variable(f)
        vals = np.quantile(ref[f], rng.uniform(0, 1, int(rng.integers(4, 7))))
        vals = np.clip(np.round(vals) if var.kind in ("integer", "binary") else np.round(vals, 3), var.lower, var.upper)
        grids[f] = tuple(sorted(set(map(float, vals))))
    act = Actionability(actionable=tuple(feats), grids=grids)
    return RecourseProblem(scm, model, x, actionability=act, cost=_cost(kind, aggregate, l0, ref, feats),
                           options=SolveOptions(time_limit=30))


def test_cdf_matches_numpy_interpolation() -> None:
    rng = np.random.default_rng(3)
    col = rng.integers(0, 30, 400).astype(float)          # ties: 30 unique values, below the thinning limit
    cdf = percentile_cdf(col)
    probe = np.concatenate([np.linspace(-5, 35, 801), np.unique(col)])
    np.testing.assert_allclose(cdf(probe), ecdf_reference(col, probe), atol=1e-15)
    assert cdf(-100.0) == pytest.approx(np.mean(col == col.min())) and cdf(100.0) == 1.0   # flat outside
    # a continuous column: thinned to at most 50 knots, each a data value carrying its exact ECDF level
    big = rng.gamma(2.0, 3.0, 5000)
    thin = percentile_cdf(big, max_knots=50)
    assert 40 <= len(thin.knots) <= 50 and thin.knots[0] == big.min() and thin.knots[-1] == big.max()
    np.testing.assert_allclose(thin.levels, ecdf_reference(big, np.array(thin.knots)), atol=1e-15)
    assert np.max(np.abs(thin(big) - ecdf_reference(big, big))) < 0.03   # close to the raw ECDF everywhere


def test_milp_term_is_the_percentile_shift_exactly() -> None:
    """At each fixed shift d, the cost expression of encode/cost_terms.py is pinned to |F(x + d) - F(x)|: its
    minimum and its maximum over the model's feasible points both equal numpy's value (no relaxation gap)."""
    from milp_recourse.backends import SolverParams, get_backend
    from milp_recourse.encode.cost_terms import percentile_term
    from milp_recourse.mip.ir import Affine, IRBuilder

    rng = np.random.default_rng(8)
    col = np.round(rng.standard_t(2, 200) * 2) / 2   # heavy tails: slopes far from convex or concave
    cdf = percentile_cdf(col)
    assert len(cdf.knots) == np.unique(col).size < 50   # not thinned: the raw ECDF is the reference
    x, dlo, dhi = 0.35, -9.0, 7.5
    probes = np.concatenate([np.linspace(dlo, dhi, 23), np.array(cdf.knots)[:12] - x, [0.0]])
    backend = get_backend("highs")
    for d in probes[(probes >= dlo) & (probes <= dhi)]:
        for sign in (1.0, -1.0):
            b = IRBuilder()
            col_d = b.add_var("d", float(d), float(d))
            term = percentile_term(b, "f", Affine.column(col_d), x, dlo, dhi, cdf)
            b.add_objective(term * sign)
            sol = backend.solve(b.build(), SolverParams(time_limit=10, mip_gap=0.0))
            assert sign * sol.objective == pytest.approx(float(np.abs(ecdf_reference(col, np.array([x + d]))[0]
                                                                     - ecdf_reference(col, np.array([x]))[0])),
                                                         abs=1e-7), (d, sign)


def test_action_cost_against_numpy(cases) -> None:
    scm, model, ref = cases["loan"]
    x = _denied(scm, model, 5)
    fx = dict(zip(scm.names, x))
    feats = ("L", "I", "S")
    action = {"L": fx["L"] - 3.0, "I": fx["I"] + 1.5, "S": fx["S"] + 4.0}
    w = {"L": 2.0, "I": 1.0, "S": 0.5}
    div = {"L": 1.0, "I": 4.0, "S": 1.0}
    each = {k: 0.7 * w[k] * abs(ecdf_reference(ref[k], np.array([v]))[0] - ecdf_reference(ref[k], np.array([fx[k]]))[0])
            / div[k] for k, v in action.items()}
    from milp_recourse.problem.preferences import Preferences
    for aggregate, expected in (("sum", sum(each.values()) + 3 * 0.1), ("max", max(each.values()) + 3 * 0.1)):
        cost = CostSpec(kind="percentile", aggregate=aggregate, l0=0.1, scale=0.7, divisors=div,
                        cdfs=percentile_cdfs(ref, feats))
        problem = RecourseProblem(scm, model, x, actionability=Actionability(actionable=feats),
                                  preferences=Preferences(weights=w), cost=cost)
        total, parts = problem.action_cost(action)
        assert total == pytest.approx(expected, rel=1e-12)
        assert parts == pytest.approx({k: each[k] + 0.1 for k in action}, rel=1e-12)


@pytest.mark.parametrize("scm_name", ["chain", "loan"])
@pytest.mark.parametrize("kind,aggregate,l0", COSTS)
@pytest.mark.parametrize("seed", [1, 2])
def test_grid_optimum_equals_enumeration(cases, scm_name, kind, aggregate, l0, seed) -> None:
    scm, model, ref = cases[scm_name]
    problem = _grid_problem(scm, model, ref, seed, kind, aggregate, l0)
    expected = oracles.enumerate_grid(problem)
    res = solve(problem)
    if expected.status == "NO_RECOURSE":
        assert res.status.value == "NO_RECOURSE"
        return
    assert res.status.value == "OPTIMAL", res.message
    assert res.cost == pytest.approx(expected.cost, abs=EXACT), (res.action, expected.action)
    assert problem.action_cost(res.action)[0] == pytest.approx(res.cost, abs=1e-9)
    assert verify_action(problem, res.action).ok


def _valid_grid_actions(problem: RecourseProblem):
    """Every valid action on the grids (changed features: theta != x), with its cost from action_cost."""
    names = [r.name for r in problem.rules if not r.blocked]
    fx = problem.factual
    values = [(fx[n],) + tuple(v for v in problem.rule(n).grid if v != fx[n]) for n in names]
    theta = np.array(np.meshgrid(*values, indexing="ij")).reshape(len(names), -1).T
    mask = theta != np.array([fx[n] for n in names])
    keep = mask.any(axis=1)
    theta, mask = theta[keep], mask[keep]
    X = counterfactuals(problem.scm, problem.x, names, mask, theta)
    ok = oracles.scores(problem, X) >= oracles.boundary(problem)
    acts = [{n: float(t[k]) for k, n in enumerate(names) if m[k]} for t, m in zip(theta[ok], mask[ok])]
    return [(problem.action_cost(a)[0], frozenset(a), a) for a in acts]


@pytest.mark.parametrize("kind,aggregate,l0", COSTS[:3])
def test_cheapest_first_options_equal_enumeration(cases, kind, aggregate, l0) -> None:
    scm, model, ref = cases["loan"]
    problem = _grid_problem(scm, model, ref, 4, kind, aggregate, l0)
    problem = dataclasses.replace(problem, actionability=dataclasses.replace(
        problem.actionability, actionable=("L", "I", "S"),
        grids={f: tuple(float(v) for v in np.quantile(ref[f], [0.1, 0.3, 0.5, 0.7, 0.9])) for f in ("L", "I", "S")}),
        cost=_cost(kind, aggregate, l0, ref, ("L", "I", "S")))
    table = _valid_grid_actions(problem)
    results = solve_options(problem, 3)
    assert results and len(table) > 0
    earlier: list[frozenset] = []
    costs = []
    for res in results:
        allowed = [c for c, keys, _ in table if not any(keys >= s for s in earlier)]
        if res.status.value == "NO_RECOURSE":
            assert not allowed
            break
        assert res.status.value == "OPTIMAL"
        assert res.cost == pytest.approx(min(allowed), abs=EXACT)
        earlier.append(frozenset(res.action))
        costs.append(res.cost)
    assert costs == sorted(costs)


def _brute_force(problem: RecourseProblem, axes: list[np.ndarray]) -> float:
    """Cheapest valid action over every nonempty set of intervened features, each on a dense grid (`axes`)."""
    names = [r.name for r in problem.rules]
    fx = problem.factual
    best = np.inf
    for size in range(1, len(names) + 1):
        for sub in itertools.combinations(range(len(names)), size):
            grid = np.array(np.meshgrid(*[axes[k] for k in sub], indexing="ij")).reshape(size, -1).T
            theta = np.tile([fx[n] for n in names], (len(grid), 1))
            theta[:, sub] = grid
            mask = np.zeros_like(theta, bool)
            mask[:, sub] = True
            X = counterfactuals(problem.scm, problem.x, names, mask, theta)
            ok = np.flatnonzero(oracles.scores(problem, X) >= oracles.boundary(problem))
            if ok.size == 0:
                continue
            parts = np.stack([problem.cost.feature_costs(names[k], fx[names[k]], theta[ok, k], 1.0) for k in sub], 1)
            total = parts.max(axis=1) if problem.cost.aggregate == "max" else parts.sum(axis=1)
            best = min(best, float(total.min()))
    return best


@pytest.mark.parametrize("feats,kind,aggregate,n", [(("x1",), "percentile", "sum", 40001),
                                                    (("x1", "x2"), "percentile", "sum", 601),
                                                    (("x1", "x2"), "percentile", "max", 601),
                                                    (("x1", "x2"), "power", "max", 601)])
def test_continuous_costs_against_dense_brute_force(cases, feats, kind, aggregate, n) -> None:
    scm, model, ref = cases["chain"]
    x = _denied(scm, model, 7)
    cost = _cost(kind, aggregate, 0.0, ref, feats)
    problem = RecourseProblem(scm, model, x, actionability=Actionability(actionable=feats), cost=cost)
    res = solve(problem)
    assert res.status.value == "OPTIMAL" and verify_action(problem, res.action).ok
    axes = [np.linspace(problem.rule(f).lower, problem.rule(f).upper, n) for f in feats]
    brute = _brute_force(problem, axes)
    # the brute force's grid step times the cost's steepest slope bounds how far above the optimum it can sit
    slack = sum((max(np.diff(cost.cdfs[f].levels) / np.diff(cost.cdfs[f].knots)) if kind == "percentile" else 1.0)
                * np.diff(a)[0] for f, a in zip(feats, axes))
    assert res.cost <= brute + 1e-9
    assert res.cost >= brute - slack - 1e-9


def test_engines_step_aside_with_reasons(cases) -> None:
    scm, model, ref = cases["loan"]
    x = _denied(scm, model, 3)
    pct = RecourseProblem(scm, model, x, actionability=Actionability(actionable=("L", "I", "S")),
                          cost=_cost("percentile", "sum", 0.0, ref, ("L", "I", "S")))
    mx = RecourseProblem(scm, model, x, cost=CostSpec(aggregate="max"))
    assert "percentile" in box_search_reason(pct) and "percentile" in polish_reason(pct)
    assert "'max'" in box_search_reason(mx) and "p = 1" in polish_reason(mx)


def test_bad_cost_specs(cases) -> None:
    scm, model, ref = cases["loan"]
    cdfs = percentile_cdfs(ref, ["L", "I"])
    with pytest.raises(InputError, match="needs the reference data's CDFs"):
        CostSpec(kind="percentile")
    with pytest.raises(InputError, match="p must be 1. Got p=2"):
        CostSpec(kind="percentile", p=2, cdfs=cdfs)
    with pytest.raises(InputError, match="cost kind.*'cdf'"):
        CostSpec(kind="cdf")
    with pytest.raises(InputError, match="cost aggregate.*'mean'"):
        CostSpec(aggregate="mean")
    with pytest.raises(InputError, match="max aggregate is for p = 1"):
        CostSpec(aggregate="max", p=2)
    with pytest.raises(InputError, match="kind is 'power'"):
        CostSpec(cdfs=cdfs)
    with pytest.raises(InputError, match="CDF for 'L' must be a PercentileCDF"):
        CostSpec(kind="percentile", cdfs={"L": [1, 2]})
    with pytest.raises(InputError, match="strictly increasing"):
        PercentileCDF((1.0, 1.0), (0.5, 1.0))
    with pytest.raises(InputError, match="no CDF for the actionable feature 'S'"):
        RecourseProblem(scm, model, _denied(scm, model, 3), actionability=Actionability(actionable=("L", "I", "S")),
                        cost=CostSpec(kind="percentile", cdfs=cdfs))
    with pytest.raises(InputError, match="lacks column"):
        percentile_cdfs(ref, ["nope"])
    with pytest.raises(InputError, match="'L' is empty or has missing"):
        percentile_cdfs(ref.assign(L=np.nan), ["L"])


def _cli(args, capsys):
    try:
        code = main(args)
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_percentile_and_max(capsys, tmp_path, cases) -> None:
    scm, _, _ = cases["loan"]
    model = train_recipe(scm, "logreg")
    person = json.dumps({k: float(v) for k, v in first_denied(scm, model).items()})
    joblib.dump(model, tmp_path / "m.joblib")
    ref = _coarse(scm.sample(400, seed=3))
    ref.to_csv(tmp_path / "ref.csv", index=False)
    base = ["solve", "--scm", "loan", "--classifier", str(tmp_path / "m.joblib"), "--individual", person,
            "--format", "json"]
    code, out, err = _cli(base + ["--cost", "percentile", "--cost-aggregate", "max", "--reference-data",
                                  str(tmp_path / "ref.csv")], capsys)
    assert code == 0, err
    d = json.loads(out)
    assert d["status"] == "OPTIMAL" and d["verified"] is True and d["action"]
    fx = d["factual"]
    each = [abs(ecdf_reference(ref[k], np.array([v]))[0] - ecdf_reference(ref[k], np.array([fx[k]]))[0])
            for k, v in d["action"].items()]
    assert d["cost"] == pytest.approx(max(each), rel=1e-6)
    # explain relaxes to the spec's actionable features: their CDFs come from the table too
    blocked = json.dumps({"G": 1.0, "A": 9.3551, "E": 0.2399, "L": 4.4516, "D": 7.1083, "I": 4.0193, "S": -9.6933})
    code, out, err = _cli(["explain", "--scm", "loan", "--classifier", str(tmp_path / "m.joblib"), "--individual",
                           blocked, "--actionable", "L,I,S", "--bounds", "I=:4.5,L=4:,S=:-9.5", "--cost", "percentile",
                           "--reference-data", str(tmp_path / "ref.csv")], capsys)
    assert code == 0 and "minimal conflict" in out and "cheapest relaxation" in out, err
    for bad, needle in ((["--cost", "percentile"], "--cost percentile needs --reference-data"),
                        (["--cost", "cdf"], "invalid choice: 'cdf'"),
                        (["--cost-aggregate", "mean"], "invalid choice: 'mean'"),
                        (["--cost-aggregate", "max", "--cost-p", "2"], "max aggregate is for p = 1")):
        code, out, err = _cli(base + bad, capsys)
        assert code == 2 and out == "" and needle in err, (bad, err)


@pytest.mark.parametrize("kind,aggregate,l0", COSTS)
def test_vectorised_costs_equal_action_cost(cases, kind, aggregate, l0) -> None:
    """The heuristic's and the baselines' vectorised costs agree with action_cost row by row."""
    from milp_recourse.baselines.common import action_costs, person_space
    from milp_recourse.solver.incumbent import _costs

    scm, model, ref = cases["loan"]
    feats = ("L", "I", "S")
    problem = RecourseProblem(scm, model, _denied(scm, model, 2), actionability=Actionability(actionable=feats),
                              cost=_cost(kind, aggregate, l0, ref, feats))
    rng = np.random.default_rng(0)
    rules = [problem.rule(f) for f in feats]
    theta = np.column_stack([rng.uniform(r.lower, r.upper, 200) for r in rules])
    mask = rng.random((200, 3)) < 0.6
    expected = [problem.action_cost({f: theta[i, k] for k, f in enumerate(feats) if mask[i, k]})[0]
                for i in range(200)]
    x = np.array([problem.factual[f] for f in feats])
    np.testing.assert_allclose(_costs(problem, rules, x, mask, theta), expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(action_costs(problem, person_space(problem), mask, theta), expected,
                               rtol=1e-12, atol=1e-15)


def test_budget_window_holds_exactly_the_cheap_values() -> None:
    """encode's percentile window: theta inside iff |F(theta) - F(x)| <= radius (checked on a dense probe)."""
    from milp_recourse.encode.cost_terms import percentile_window

    rng = np.random.default_rng(4)
    cdf = percentile_cdf(np.round(rng.gamma(2.0, 2.0, 300), 1), max_knots=30)
    probe = np.linspace(-5, 40, 90001)
    for x in (-2.0, 0.7, 3.3, 9.0, 30.0):
        for radius in (0.0, 0.01, 0.2, 0.6, 1.0):
            lo, hi = percentile_window(cdf, x, radius)
            cheap = cdf.shift(x, probe) <= radius + 1e-12
            inside = (probe >= lo) & (probe <= hi)
            near = np.minimum(np.abs(probe - lo), np.abs(probe - hi)) < 1e-3   # the ends themselves: round-off
            assert np.array_equal(cheap[~near], inside[~near]), (x, radius, lo, hi)


@pytest.mark.parametrize("aggregate", ["sum", "max"])
def test_integer_feature_against_brute_force(aggregate) -> None:
    """An integer feature (every value enumerated) and a continuous child (dense grid) under the percentile cost."""
    from sklearn.linear_model import LogisticRegression

    from milp_recourse.scm.spec import scm_from_dict

    scm = scm_from_dict({"name": "ints", "variables": [
        {"name": "a", "type": "integer", "domain": [0, 20], "actionability": "actionable", "equation": "u_a",
         "noise": {"name": "u_a", "dist": "uniform", "low": 0, "high": 20}},
        {"name": "b", "type": "continuous", "domain": [-10, 40], "actionability": "actionable",
         "equation": "0.5*a + u_b", "noise": {"name": "u_b", "dist": "normal", "mean": 0, "std": 2}}]})
    table = scm.sample(2000, seed=0)
    table["a"] = np.round(table["a"])
    y = (table["a"] + table["b"] + np.random.default_rng(0).normal(0, 2, len(table)) > 20).astype(int)
    model = LogisticRegression().fit(table[["a", "b"]].to_numpy(), y)
    cost = CostSpec(kind="percentile", aggregate=aggregate, cdfs=percentile_cdfs(table.sample(300, random_state=1),
                                                                                 ["a", "b"]))
    problem = RecourseProblem(scm, model, {"a": 3.0, "b": 2.0}, cost=cost)
    res = solve(problem)
    assert res.status.value == "OPTIMAL" and verify_action(problem, res.action).ok
    assert "a" not in res.action or float(res.action["a"]).is_integer()
    axes = [np.arange(0.0, 21.0), np.linspace(-10, 40, 5001)]
    brute = _brute_force(problem, axes)
    b = cost.cdfs["b"]
    slack = max(np.diff(b.levels) / np.diff(b.knots)) * np.diff(axes[1])[0]
    assert brute - slack - 1e-9 <= res.cost <= brute + 1e-9


@pytest.mark.parametrize("kind,aggregate,l0", COSTS)
def test_torch_cost_equals_action_cost(cases, kind, aggregate, l0) -> None:
    """The gradient baselines' differentiable cost agrees with action_cost row by row."""
    torch = pytest.importorskip("torch")
    from milp_recourse.baselines.common import person_space
    from milp_recourse.baselines.gd_engine import torch_cost

    scm, model, ref = cases["loan"]
    feats = ("L", "I", "S")
    problem = RecourseProblem(scm, model, _denied(scm, model, 2), actionability=Actionability(actionable=feats),
                              cost=_cost(kind, aggregate, l0, ref, feats))
    rng = np.random.default_rng(1)
    rules = [problem.rule(f) for f in feats]
    theta = np.column_stack([rng.uniform(r.lower - 5, r.upper + 5, 300) for r in rules])   # tails included
    mask = rng.random((300, 3)) < 0.6
    expected = [problem.action_cost({f: theta[i, k] for k, f in enumerate(feats) if mask[i, k]})[0]
                for i in range(300)]
    got = torch_cost(problem, person_space(problem), torch.as_tensor(mask, dtype=torch.float64),
                     torch.as_tensor(theta, dtype=torch.float64), torch)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12, atol=1e-14)


def test_amortized_baseline_refuses_data_space_costs(cases) -> None:
    pytest.importorskip("torch")
    from milp_recourse.baselines.amortized import AmortizedCARMA

    scm, model, ref = cases["loan"]
    for cost in (_cost("percentile", "sum", 0.0, ref, ("L", "I", "S")), CostSpec(aggregate="max")):
        with pytest.raises(InputError, match="sums of \\|d\\|\\^p only"):
            AmortizedCARMA().fit(scm, model, ref.to_numpy(float), cost)
