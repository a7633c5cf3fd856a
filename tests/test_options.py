"""Ranked options per person (solver/options.py) against an independent per-subset enumeration, and bad inputs.

Reference (no MILP): the cheapest action intervening on each subset S of the actionable features, m(S) — a scipy
LP (linear SCM + logreg, p = 1), the KKT closed form (p = 2), or exhaustive grid enumeration (a tree on grids),
from instances/oracles.py. Option j must cost min m(S) over the subsets S that contain none of the earlier
options' sets (1e-6 relative), its own set must be one of those, and verify.py must accept it.
"""

from __future__ import annotations

import dataclasses
import json
import math
from itertools import combinations, product
from pathlib import Path

import numpy as np
import pytest

from milp_recourse import Actionability, CostSpec, RecourseProblem, SolveOptions, Status, load_scm
from milp_recourse.cli.main import main
from milp_recourse.errors import InputError
from milp_recourse.models.classifiers import favourable
from milp_recourse.models.recipes import train_recipe
from milp_recourse.scm.simulate import counterfactuals
from milp_recourse.solver.options import MAX_OPTIONS, check_options, solve_options
from milp_recourse.solver.verify import verify_action

from instance_oracles import oracles  # noqa: E402  (instances/oracles.py)

REL = 1e-6
PERSON = json.dumps({"xs": 0.0, "x1": -2.907, "x2": -0.557, "x3": 0.7})   # denied by recipe:logreg on chain


@pytest.fixture(scope="module")
def models() -> dict[tuple[str, str], object]:
    return {(s, r): train_recipe(load_scm(s), r, 600, 0) for s in ("chain", "collider") for r in ("logreg", "tree")}


def _denied(scm, model, seed: int) -> np.ndarray:
    X = scm.sample(300, seed=seed)[list(scm.names)].to_numpy(float)
    return X[int(np.flatnonzero(~favourable(model, X))[0])]


def _affine_optima(problem, solve_subset) -> dict[frozenset, float]:
    """m(S) for every non-empty subset S (linear SCM, linear classifier): an LP or the p = 2 closed form."""
    rules = {r.name: r for r in oracles.usable_rules(problem)}
    names, fx = list(rules), problem.factual
    w, b = oracles._affine_score(problem)
    need = oracles.boundary(problem) - float(w @ problem.x + b)
    out = {}
    for sub in oracles.subsets(names, None):
        if not sub:
            continue
        g = w @ oracles._affine_counterfactual(problem, names, sub)
        lo = np.array([rules[n].lower - fx[n] for n in sub])
        hi = np.array([rules[n].upper - fx[n] for n in sub])
        c = np.array([problem.cost.scale * rules[n].weight / rules[n].divisor for n in sub])
        d = solve_subset(problem, sub, g, need, lo, hi, c)
        if d is not None:
            out[frozenset(sub)] = problem.action_cost({n: fx[n] + float(v) for n, v in zip(sub, d)})[0]
    return out


def _grid_optima(problem) -> dict[frozenset, float]:
    """m(S) for every non-empty subset S by exhaustive enumeration of the grids (every feature has one)."""
    rules = oracles.usable_rules(problem)
    names, fx = [r.name for r in rules], problem.factual
    out = {}
    for size in range(1, len(names) + 1):
        for sub in combinations(range(len(names)), size):
            combos = list(product(*(rules[k].grid for k in sub)))
            mask = np.zeros((len(combos), len(names)), bool)
            mask[:, list(sub)] = True
            theta = np.tile([fx[n] for n in names], (len(combos), 1))
            theta[:, list(sub)] = np.array(combos)
            ok = oracles.scores(problem, counterfactuals(problem.scm, problem.x, names, mask, theta)) \
                >= oracles.boundary(problem)
            costs = [problem.action_cost({names[k]: float(t[k]) for k in sub})[0] for t, good in zip(theta, ok) if good]
            if costs:
                out[frozenset(names[k] for k in sub)] = min(costs)
    return out


def _check_against(problem, results, optima: dict[frozenset, float]) -> None:
    """Each option equals the best subset optimum among the subsets containing no earlier option's set."""
    earlier: list[frozenset] = []
    assert results and results[0].found
    costs = [r.cost for r in results if r.found]   # ranked (each option's feasible set shrinks)
    assert all(a <= b * (1 + REL) + 1e-12 for a, b in zip(costs, costs[1:]))
    for j, res in enumerate(results):
        allowed = {S: c for S, c in optima.items() if not any(E <= S for E in earlier)}
        if not res.found:
            assert j == len(results) - 1
            assert res.status is Status.NO_RECOURSE and not allowed, (j, res.status, allowed)
            assert "No further option" in res.message
            return
        assert res.status is Status.OPTIMAL
        want = min(allowed.values())
        assert math.isclose(res.cost, want, rel_tol=REL, abs_tol=1e-9), (j, res.cost, want, dict(res.action))
        T = frozenset(res.action)
        assert not any(E <= T for E in earlier), (T, earlier)
        # the re-check under the constraints option j was solved with: no violation; with its own set: one
        act = dataclasses.replace(problem.actionability, excluded_sets=tuple(tuple(E) for E in earlier))
        assert verify_action(dataclasses.replace(problem, actionability=act), res.action).ok
        own = dataclasses.replace(problem.actionability, excluded_sets=(tuple(T),))
        viol = verify_action(dataclasses.replace(problem, actionability=own), res.action).violations
        assert sum("excluded set" in v for v in viol) == 1
        earlier.append(T)


@pytest.mark.parametrize("scm_name,p,seed", [("chain", 1, 1), ("chain", 2, 2), ("collider", 1, 3),
                                             ("collider", 2, 4)])
def test_logreg_options_equal_subset_enumeration(models, scm_name: str, p: int, seed: int) -> None:
    scm = load_scm(scm_name)
    model = models[(scm_name, "logreg")]
    problem = RecourseProblem(scm, model, _denied(scm, model, seed), cost=CostSpec(p=p),
                              options=SolveOptions(time_limit=20))
    optima = _affine_optima(problem, oracles._lp_subset if p == 1 else oracles._qp_subset)
    results = solve_options(problem, 7)   # 3 actionable features: at most 7 sets
    _check_against(problem, results, optima)
    if p == 1:
        assert len({frozenset(r.action) for r in results if r.found}) == sum(r.found for r in results)


def test_l0_cost_options(models) -> None:
    scm = load_scm("chain")
    model = models[("chain", "logreg")]
    problem = RecourseProblem(scm, model, _denied(scm, model, 5), cost=CostSpec(p=1, l0=0.05),
                              options=SolveOptions(time_limit=20))
    _check_against(problem, solve_options(problem, 7), _affine_optima(problem, oracles._lp_subset))


@pytest.mark.parametrize("scm_name,seed", [("chain", 6), ("collider", 7)])
def test_tree_options_equal_grid_enumeration(models, scm_name: str, seed: int) -> None:
    scm = load_scm(scm_name)
    model = models[(scm_name, "tree")]
    x = _denied(scm, model, seed)
    fx = dict(zip(scm.names, x))
    grids = {n: tuple(float(v) for v in np.round(fx[n] + np.linspace(-3, 3, 7), 3)) for n in ("x1", "x2", "x3")}
    problem = RecourseProblem(scm, model, x, actionability=Actionability(grids=grids),
                              options=SolveOptions(time_limit=20))
    _check_against(problem, solve_options(problem, 7), _grid_optima(problem))


def test_mlp_box_search_and_milp_agree() -> None:
    """The box search skips excluded patterns; the MILP adds no-good rows: both give the same ranked options."""
    scm = load_scm("chain")
    model = train_recipe(scm, "mlp", 600, 0)
    x = _denied(scm, model, 8)
    base = RecourseProblem(scm, model, x, cost=CostSpec(p=2), options=SolveOptions(time_limit=20))
    boxes = solve_options(base, 3)
    milp = solve_options(dataclasses.replace(base, options=SolveOptions(time_limit=20, box_search=False)), 3)
    assert [r.status for r in boxes] == [r.status for r in milp]
    for a, b in zip(boxes, milp):
        if a.found:
            assert math.isclose(a.cost, b.cost, rel_tol=2e-3), (a.cost, b.cost)
            assert verify_action(base, a.action).ok
    sets = [frozenset(r.action) for r in boxes if r.found]
    assert all(not E <= T for i, T in enumerate(sets) for E in sets[:i])
    assert any("box-search" in r.engines for r in boxes[1:] if r.found) or len(boxes) == 1


def test_already_favourable_and_no_recourse_stop(models) -> None:
    scm = load_scm("chain")
    model = models[("chain", "logreg")]
    X = scm.sample(300, seed=0)[list(scm.names)].to_numpy(float)
    good = X[int(np.flatnonzero(favourable(model, X))[0])]
    res = solve_options(RecourseProblem(scm, model, good), 3)
    assert [r.status for r in res] == [Status.ALREADY_FAVOURABLE]
    # one actionable feature: option 2 cannot exist
    problem = RecourseProblem(scm, model, _denied(scm, model, 1), actionability=Actionability(actionable=("x1",)))
    res = solve_options(problem, 3)
    assert res[0].found and frozenset(res[0].action) == {"x1"}
    assert len(res) == 2 and res[1].status is Status.NO_RECOURSE and "No further option" in res[1].message


@pytest.mark.parametrize("bad", [0, -1, "x", 2.0, True, MAX_OPTIONS + 1, 10**9, None])
def test_bad_number_of_options(bad) -> None:
    with pytest.raises(InputError, match="number of options"):
        check_options(bad)


def test_bad_excluded_sets() -> None:
    for bad in ("x1", [[]], [["x1", 1]], 3):
        with pytest.raises(InputError, match="excluded_sets"):
            Actionability(excluded_sets=bad)
    scm = load_scm("chain")
    with pytest.raises(InputError, match="unknown feature"):
        RecourseProblem(scm, train_recipe(scm, "logreg", 200, 0), _denied(scm, train_recipe(scm, "logreg", 200, 0), 1),
                        actionability=Actionability(excluded_sets=[["nope"]]))


def _cli(argv, capsys):
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_options_json_and_table(capsys) -> None:
    base = ["solve", "--scm", "chain", "--classifier", "recipe:logreg", "--individual", PERSON]
    code, out, err = _cli(base + ["--options", "3", "--format", "json"], capsys)
    assert code == 0, err
    rows = json.loads(out)
    assert isinstance(rows, list) and 1 <= len(rows) <= 3
    assert [r["option"] for r in rows] == list(range(1, len(rows) + 1))
    sets = [frozenset(r["action"]) for r in rows if r["status"] == "OPTIMAL"]
    assert len(set(sets)) == len(sets)
    code, out, err = _cli(base + ["--options", "2"], capsys)
    assert code == 0 and "option 1" in out.lower()


@pytest.mark.parametrize("bad", ["0", "-1", "x", "1.5", "100000"])
def test_cli_bad_options(bad: str, capsys) -> None:
    code, out, err = _cli(["solve", "--scm", "chain", "--classifier", "recipe:logreg", "--individual", PERSON,
                           "--options", bad], capsys)
    assert code == 2 and out == "" and "options" in err


def _chain_data(tmp_path: Path, n: int = 10) -> Path:
    scm = load_scm("chain")
    path = tmp_path / "data.csv"
    scm.sample(n, seed=3)[list(scm.names)].to_csv(path, index=False)
    return path


def test_batch_rows_per_option_and_resume(tmp_path: Path) -> None:
    import pandas as pd

    from milp_recourse.batch.run import solve_batch
    from milp_recourse.models.recipes import load_model

    scm = load_scm("chain")
    model = load_model("recipe:logreg", scm)
    data = _chain_data(tmp_path)
    full = solve_batch(scm, model, data, n_options=3, out=tmp_path / "full.csv")
    assert list(full.columns[:3]) == ["id", "option", "status"]
    frame = pd.read_csv(data)
    for pid, rows in full.groupby("id", sort=False):
        assert list(rows["option"]) == list(range(1, len(rows) + 1))
        if rows["status"].iloc[0] == "ALREADY_FAVOURABLE":
            assert len(rows) == 1
            continue
        ref = solve_options(RecourseProblem(scm, model, frame.iloc[int(pid)].to_dict()), 3)
        assert list(rows["status"]) == [r.status.value for r in ref]
        for got, want in zip(rows["cost"], ref):
            assert math.isclose(got, want.cost, rel_tol=REL)
        sets = [frozenset(json.loads(a)) for a in rows["action"]]
        assert all(not E <= T for i, T in enumerate(sets) for E in sets[:i])
    # resume: a shorter run continued to the full data gives the same rows
    out = tmp_path / "part.csv"
    solve_batch(scm, model, data, n_options=3, out=out, limit=4)
    resumed = solve_batch(scm, model, data, n_options=3, out=out, resume=True)
    cols = ["id", "option", "status", "cost", "changed"]
    pd.testing.assert_frame_equal(resumed[cols].reset_index(drop=True), full[cols].reset_index(drop=True))
    assert len(pd.read_csv(out)) == len(full)
    with pytest.raises(InputError, match="options_per_person"):
        solve_batch(scm, model, data, n_options=2, out=out, resume=True)
    # the default run keeps one row per person and no option column
    one = solve_batch(scm, model, data)
    assert "option" not in one.columns and len(one) == 10
    # an audit of the options run looks at each person's option 1: the same report as the one-option run
    from milp_recourse.evaluation.audit import audit

    full["band"] = (full["x1"] > 0).map({True: "high", False: "low"})
    one["band"] = (one["x1"] > 0).map({True: "high", False: "low"})
    a, b = (audit(f, ["band"], scm, n_boot=20).groups for f in (full, one))
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize("bad", [0, -1, "x", True, MAX_OPTIONS + 1])
def test_batch_bad_options(tmp_path: Path, bad) -> None:
    from milp_recourse.batch.run import solve_batch
    from milp_recourse.models.recipes import load_model

    scm = load_scm("chain")
    with pytest.raises(InputError, match="number of options"):
        solve_batch(scm, load_model("recipe:logreg", scm), _chain_data(tmp_path), n_options=bad,
                    out=tmp_path / "o.csv")
    assert not list(tmp_path.glob("o.csv*"))


@pytest.mark.parametrize("bad", ["0", "x", "99999"])
def test_cli_batch_bad_options(tmp_path: Path, bad: str, capsys) -> None:
    data = _chain_data(tmp_path)
    code, out, err = _cli(["batch", "--scm", "chain", "--classifier", "recipe:logreg", "--data", str(data),
                           "--out", str(tmp_path / "o.csv"), "--options", bad], capsys)
    assert code == 2 and out == "" and "--options" in err
    assert not list(tmp_path.glob("o.csv*"))
