"""Interval cost rows for tree MILPs (solver/interval_costs.py): valid at every integral point, optimum unchanged.

References: the rows are evaluated at random counterfactuals (split binaries set by x' <= L, t = |x' - x|);
the MILP optimum with and without the rows is compared with a brute-force search over every cell of the
forest's split grid, scored by the forest's own predict_proba and priced by hand.
"""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from milp_recourse import CostSpec, RecourseProblem, SolveOptions
from milp_recourse.backends import SolverParams, get_backend
from milp_recourse.encode.compile import compile_problem
from milp_recourse.models.classifiers import score_threshold
from milp_recourse.scm.from_data import independent_scm

from forest_grid import split_grid
from milp_recourse.solver.interval_costs import SPLIT_COLUMN, interval_rows

DIVISORS = {"a": 1.0, "b": 2.0, "c": 0.5}


@pytest.fixture(scope="module")
def case():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(400, 3)), columns=["a", "b", "c"])
    y = (frame.a + 0.5 * frame.b - frame.c + 0.3 * rng.normal(size=400) > 0.8).astype(int)
    model = RandomForestClassifier(n_estimators=6, max_depth=3, random_state=0).fit(frame, y)
    scm = independent_scm(frame, "toy")
    denied = frame[model.predict(frame) == 0].head(4)
    return frame, model, scm, [row.to_dict() for _, row in denied.iterrows()]


def _problem(case, person, model=None, p=1):
    frame, forest, scm, _ = case
    return RecourseProblem(scm, model if model is not None else forest, person,
                           cost=CostSpec(p=p, divisors=DIVISORS), options=SolveOptions(time_limit=20))


def _brute_force(case, person) -> float:
    """Cheapest counterfactual over every cell of the split grid (closest point of each cell), by predict_proba."""
    frame, model, scm, _ = case
    problem = _problem(case, person)
    X = split_grid(model, ["a", "b", "c"], person, problem)
    proba = model.predict_proba(pd.DataFrame(X, columns=["a", "b", "c"]))[:, 1]
    ok = proba >= score_threshold("probability", problem.options.threshold) + problem.options.margin
    x0 = np.array([person[n] for n in ["a", "b", "c"]])
    cost = (np.abs(X - x0) / np.array([DIVISORS[n] for n in ["a", "b", "c"]])).sum(axis=1)
    return float(cost[ok].min())


def test_rows_hold_at_integral_points(case):
    rng = np.random.default_rng(1)
    for person in case[3]:
        problem = _problem(case, person)
        compiled = compile_problem(problem)
        model = interval_rows(problem, compiled).model
        added = [i for i, g in enumerate(model.row_groups) if g == "cost:interval"]
        assert len(added) == 3   # one row per actionable feature the trees split on
        splits = {j: SPLIT_COLUMN.match(n) for j, n in enumerate(model.col_names) if SPLIT_COLUMN.match(n)}
        A = model.A.tocsr()
        for _ in range(300):
            xp = {n: person[n] + rng.normal(scale=1.5) for n in ["a", "b", "c"]}
            if rng.random() < 0.3:   # a counterfactual exactly at a split's edge
                j, m = list(splits.items())[rng.integers(len(splits))]
                xp[["a", "b", "c"][int(m.group(1))]] = float(m.group(3))
            v = np.zeros(model.n_cols)
            for j, m in splits.items():
                v[j] = float(xp[["a", "b", "c"][int(m.group(1))]] <= float(m.group(3)))
            for n, t in compiled.t_cols.items():
                v[t] = abs(xp[n] - person[n])
            lhs = A[added] @ v
            assert np.all(lhs >= model.row_lo[added] - 1e-12)


def test_optimum_unchanged_and_bound_stronger(case):
    highs = get_backend("highs")
    stronger = 0
    for person in case[3]:
        problem = _problem(case, person)
        compiled = compile_problem(problem)
        plain, rows = compiled.model, interval_rows(problem, compiled).model
        assert rows.n_rows > plain.n_rows
        params = SolverParams(time_limit=20, mip_gap=1e-9)
        a, b = highs.solve(plain, params), highs.solve(rows, params)
        ref = _brute_force(case, person)
        assert a.objective == pytest.approx(ref, rel=1e-6, abs=1e-9)
        assert b.objective == pytest.approx(ref, rel=1e-6, abs=1e-9)
        relax = [highs.solve(_relaxed(m), SolverParams(time_limit=20)).objective for m in (plain, rows)]
        assert relax[1] >= relax[0] - 1e-9
        stronger += relax[1] > relax[0] + 1e-6
    assert stronger >= 1


def _relaxed(model):
    import dataclasses

    return dataclasses.replace(model, integrality=np.zeros(model.n_cols, bool))


def test_not_applied_where_invalid(case):
    person = case[3][0]
    for problem in (_problem(case, person, p=2),
                    _problem(case, person, model=make_pipeline(StandardScaler(), RandomForestClassifier(
                        n_estimators=3, max_depth=2, random_state=0)).fit(case[0], case[1].predict(case[0])))):
        compiled = compile_problem(problem)
        assert interval_rows(problem, compiled) is compiled


# -- per-leaf reachability (solver/leaf_bounds.py) ---------------------------------------------------------------

def test_leaf_bounds_never_exceed_an_action_reaching_the_leaf(case):
    from milp_recourse.solver.leaf_bounds import leaf_lower_bounds

    frame, model, scm, people = case
    rng = np.random.default_rng(2)
    for person in people:
        problem = _problem(case, person)
        compiled = compile_problem(problem)
        boxes, lb = leaf_lower_bounds(problem, compiled)
        # each leaf's row in lb: its (tree, node) in the order leaf_boxes walks the trees
        x0 = np.array([person[n] for n in ["a", "b", "c"]])
        X = x0 + rng.normal(scale=1.5, size=(500, 3))
        X = np.clip(X, [problem.rule(n).lower for n in "abc"], [problem.rule(n).upper for n in "abc"])
        cost = (np.abs(X - x0) / np.array([DIVISORS[n] for n in "abc"])).sum(axis=1)
        leaves = model.apply(pd.DataFrame(X, columns=["a", "b", "c"]))   # (rows, trees) node ids
        order = _leaf_order(model)
        for t in range(leaves.shape[1]):
            rows = np.array([order[(t, int(node))] for node in leaves[:, t]])
            assert np.all(lb[rows] <= cost + 1e-9)


def _leaf_order(model) -> dict[tuple[int, int], int]:
    """(tree, node) -> row of leaf_boxes' arrays (depth first, right child popped first: the same walk)."""
    out, k = {}, 0
    for t, est in enumerate(model.estimators_):
        tree, stack = est.tree_, [0]
        while stack:
            node = stack.pop()
            if tree.children_left[node] == -1:
                out[(t, node)] = k
                k += 1
                continue
            stack += [int(tree.children_left[node]), int(tree.children_right[node])]
    return out


def test_reach_bound_is_a_lower_bound_and_skips_stages_without_changing_answers(case):
    from milp_recourse import solve
    from milp_recourse.solver.leaf_bounds import reach_bound

    strict = 0
    for person in case[3]:
        problem = _problem(case, person)
        ref = _brute_force(case, person)
        compiled = compile_problem(problem, upper_bound=ref * 1.5 + 1e-9)
        bound = reach_bound(problem, compiled, ref * 1.5 + 1e-9)
        assert bound is not None and 0.0 <= bound <= ref + 1e-9
        strict += bound > 0.0
        res = solve(problem)
        assert res.status.value == "OPTIMAL" and res.cost == pytest.approx(ref, rel=1e-6, abs=1e-9)
    assert strict >= 1


def test_reach_bound_not_applied_where_invalid(case):
    from milp_recourse.solver.leaf_bounds import reach_bound

    person = case[3][0]
    pipe = make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=3, max_depth=2, random_state=0))
    problem = _problem(case, person, model=pipe.fit(case[0], case[1].predict(case[0])))
    assert reach_bound(problem, compile_problem(problem, upper_bound=5.0), 5.0) is None


# -- HiGHS as solver/budget_schedule.py runs it on tree ensembles (backends/highs.py) ---------------------------

@pytest.mark.parametrize("settings", [{"presolve_probing": False},
                                      {"presolve_probing": False, "sub_mip_heuristics": False, "restarts": False}])
def test_budget_stage_settings_keep_the_brute_force_optimum(case, settings):
    """HiGHS as the budget schedule runs it on tree stages (no probing, no sub-MIPs, no restarts): same optimum."""
    highs = get_backend("highs")
    for person in case[3]:
        problem = _problem(case, person)
        model = interval_rows(problem, compile_problem(problem)).model
        sol = highs.solve(model, SolverParams(time_limit=20, mip_gap=1e-9, **settings))
        assert sol.objective == pytest.approx(_brute_force(case, person), rel=1e-6, abs=1e-9)
