"""Minimal conflicts, cheapest relaxations, universal vs individual scope, population view, `explain` CLI.

The reference is tests/recourse_reference.py: enumeration of intervention sets and grid values with an
LP per continuous part (scipy), on the shipped linear SCMs with logistic regression or a small tree.
"""

from __future__ import annotations

import itertools
import json
import math
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from milp_recourse import Actionability, CostSpec, InputError, RecourseProblem, SolveOptions, Status, solve
from milp_recourse.models.classifiers import favourable
from milp_recourse.cli.main import main
from milp_recourse.diagnose.conflicts import minimal_conflict, person_groups, relax, universal, violated_groups
from milp_recourse.diagnose.explain import explain
from milp_recourse.diagnose.population import no_recourse_summary
from milp_recourse.diagnose.relaxations import cheapest_relaxation
from milp_recourse.scm import scm_from_dict, scm_to_dict
from milp_recourse.solver.verify import verify_action

sys.path.insert(0, str(Path(__file__).parent))
from recourse_reference import reference_feasible, reference_optimum  # noqa: E402

FAST = SolveOptions(heuristic_samples=0, time_limit=30.0)
TOL = 1e-4


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= TOL * (1.0 + abs(b))


def _denied(scm, clf, n: int, seed: int):
    S = scm.sample(200, seed=seed)
    rows = S[~favourable(clf, S[list(scm.names)].to_numpy())]
    return [rows.iloc[i].to_dict() for i in range(min(n, len(rows)))]


def _random_constraints(scm, x, rng) -> Actionability:
    """Random personal constraints, biased so that about half of the people end up without recourse."""
    spec = [v.name for v in scm.variables if v.actionability != "immutable"]
    actionable = tuple(n for n in spec if rng.random() < 0.6) if rng.random() < 0.6 else None
    bounds, dirs, grids = {}, {}, {}
    for n in spec:
        u = rng.random()
        if u < 0.25:
            bounds[n] = (None, round(x[n] + rng.uniform(0, 1.5), 3))
        elif u < 0.4:
            bounds[n] = (round(x[n] - rng.uniform(0, 1.5), 3), None)
        if rng.random() < 0.3:
            dirs[n] = str(rng.choice(["up", "down"]))
        if rng.random() < 0.4:
            grids[n] = tuple(float(v) for v in np.round(x[n] + rng.uniform(-3, 3, size=3), 3))
    return Actionability(actionable=actionable, bounds=bounds, directions=dirs, grids=grids,
                         max_changes=1 if rng.random() < 0.4 else None)


def _check_conflict(prob: RecourseProblem) -> tuple[str, ...]:
    """The conflict is infeasible on its own and every single-group removal is feasible (by enumeration)."""
    conflict = minimal_conflict(prob)
    assert conflict is not None and conflict.proven_minimal and conflict.keys[-1] == "threshold"
    allk = {g.key for g in person_groups(prob, include_threshold=False)}
    core = set(conflict.keys[:-1])
    if conflict.scope == "universal":
        assert not reference_feasible(universal(prob)) and not core
        return conflict.keys
    assert reference_feasible(universal(prob))
    assert not reference_feasible(relax(prob, allk - core))
    for g in core:
        dropped = relax(prob, (allk - core) | {g})
        assert reference_feasible(dropped), g
        assert verify_action(dropped, conflict.witnesses[g]).ok, g
    return conflict.keys


def _check_relaxation(prob: RecourseProblem, weights: dict[str, float] | None = None) -> None:
    """Weight and cost of the cheapest relaxation equal the best over every relaxation, by enumeration."""
    rel = cheapest_relaxation(prob, weights)
    keys = [g.key for g in person_groups(prob, include_threshold=False)]
    w = {k: (weights or {}).get(k, 1.0) for k in keys}
    if not reference_feasible(universal(prob)):
        assert rel.status == "impossible"
        return
    best: dict[float, float] = {}
    for size in range(len(keys) + 1):
        for subset in itertools.combinations(keys, size):
            cost, _ = reference_optimum(relax(prob, subset))
            if math.isfinite(cost):
                total = round(sum(w[k] for k in subset), 9)
                best[total] = min(best.get(total, math.inf), cost)
        if weights is None and best:
            break  # unweighted: the smallest feasible size is the optimum
    kstar = min(best)
    assert rel.status in ("optimal", "not-needed") and rel.verified
    assert rel.weight == pytest.approx(kstar, abs=1e-9)
    assert _close(rel.cost, best[kstar]), (rel.cost, best[kstar])
    relaxed = relax(prob, rel.groups)
    assert verify_action(relaxed, rel.action).ok
    assert {g.key for g in violated_groups(prob, rel.action)} == {g.key for g in rel.groups}


def test_random_instances_against_enumeration(four_node_models):
    rng = np.random.default_rng(7)
    counts: Counter[str] = Counter()
    for (name, kind), (scm, clf) in four_node_models.items():
        for person in _denied(scm, clf, 5, seed=11):
            prob = RecourseProblem(scm, clf, person, actionability=_random_constraints(scm, person, rng), options=FAST)
            res = solve(prob)
            ref_cost, _ = reference_optimum(prob)
            if res.status is Status.NO_RECOURSE:
                counts["no_recourse"] += 1
                counts[f"cert:{res.certificate['kind']}"] += 1
                assert not math.isfinite(ref_cost), (name, kind, person)  # zero false claims
                assert res.certificate["proven"]
                counts[f"scope:{minimal_conflict(prob).scope}"] += 1
                _check_conflict(prob)
                _check_relaxation(prob)
            else:
                counts["found"] += 1
                assert res.status is Status.OPTIMAL and math.isfinite(ref_cost), (name, kind, res.status)
                assert verify_action(prob, res.action).ok
                assert _close(res.cost, ref_cost), (res.cost, ref_cost)
    assert counts["no_recourse"] >= 8 and counts["found"] >= 8, counts


def test_weighted_relaxation_matches_enumeration(four_node_models):
    scm, clf = four_node_models[("chain", "logreg")]
    person = _denied(scm, clf, 1, seed=11)[0]
    act = Actionability(actionable=("x3",), bounds={"x3": (None, person["x3"] + 0.2)}, directions={"x1": "down"})
    prob = RecourseProblem(scm, clf, person, actionability=act, options=FAST)
    assert not reference_feasible(prob)
    plain = cheapest_relaxation(prob)
    assert len(plain.groups) == 1
    heavy = {plain.groups[0].key: 5.0}
    _check_relaxation(prob)
    _check_relaxation(prob, heavy)
    assert cheapest_relaxation(prob, heavy).groups != plain.groups


def _universal_blocked(four_node_models):
    """Chain SCM whose spec lets x1 never change and x2, x3 only decrease: nobody low can rise."""
    scm, clf = four_node_models[("chain", "logreg")]
    spec = scm_to_dict(scm)
    for v in spec["variables"]:
        v["actionability"] = {"x1": "immutable", "x2": "decrease", "x3": "decrease"}.get(v["name"], v["actionability"])
    return scm_from_dict(spec), clf


def test_universal_versus_individual_scope(four_node_models):
    scm, clf = _universal_blocked(four_node_models)
    person = _denied(scm, clf, 1, seed=11)[0]
    prob = RecourseProblem(scm, clf, person, actionability=Actionability(actionable=("x3",)), options=FAST)
    assert not reference_feasible(universal(prob))
    res = solve(prob)
    assert res.status is Status.NO_RECOURSE and res.certificate["proven"]
    conflict = minimal_conflict(prob)
    assert conflict.scope == "universal" and conflict.keys == ("threshold",)
    assert cheapest_relaxation(prob).status == "impossible"


def test_population_summary(four_node_models):
    scm, clf = four_node_models[("chain", "logreg")]
    blocked_scm, _ = _universal_blocked(four_node_models)
    people = _denied(scm, clf, 3, seed=11)
    approved = scm.sample(200, seed=3)
    approved = approved[favourable(clf, approved[list(scm.names)].to_numpy())].iloc[0].to_dict()
    probs = [RecourseProblem(scm, clf, people[0], options=FAST),
             RecourseProblem(scm, clf, people[1], options=FAST,
                             actionability=Actionability(actionable=("x3",), bounds={"x3": (None, people[1]["x3"])})),
             RecourseProblem(scm, clf, people[2], options=FAST,
                             actionability=Actionability(directions={"x1": "down", "x2": "down", "x3": "down"})),
             RecourseProblem(blocked_scm, clf, people[0], options=FAST),
             RecourseProblem(scm, clf, approved, options=FAST)]
    pairs = [(p, solve(p)) for p in probs]
    summary = no_recourse_summary(pairs)
    denied = [p for p, r in pairs if r.status is not Status.ALREADY_FAVOURABLE]
    none = [p for p in denied if not reference_feasible(p)]
    uni = [p for p in none if not reference_feasible(universal(p))]
    assert summary.n_individuals == 5 and summary.n_denied == len(denied) == 4
    assert summary.n_no_recourse == len(none) and summary.n_no_recourse_universal == len(uni) == 1
    assert summary.n_no_recourse_individual_only == len(none) - len(uni) == 2
    assert summary.frac_no_recourse == pytest.approx(len(none) / 4)
    expected: Counter[str] = Counter()
    for p in none:
        if p not in uni:
            expected.update(k for k in minimal_conflict(p).keys if k != "threshold")
    assert dict(summary.blocking) == dict(expected)
    json.dumps(summary.to_dict())
    with pytest.raises(InputError, match="Item 0"):
        no_recourse_summary([probs[0]])


def test_bad_inputs(four_node_models):
    scm, clf = four_node_models[("chain", "logreg")]
    person = _denied(scm, clf, 1, seed=11)[0]
    prob = RecourseProblem(scm, clf, person, actionability=Actionability(max_changes=1), options=FAST)
    with pytest.raises(InputError, match="'fixed:x1'"):
        relax(prob, ["fixed:x1"])
    with pytest.raises(InputError, match="'threshold'"):
        relax(prob, ["threshold"])
    with pytest.raises(InputError, match="'grid:x2'"):
        cheapest_relaxation(prob, {"grid:x2": 1.0})
    with pytest.raises(InputError, match="> 0"):
        cheapest_relaxation(prob, {"max_changes": -1.0})
    assert minimal_conflict(prob) is None  # recourse exists: nothing conflicts


# ------------------------------------------------------------------------------------------------- CLI
PERSON = '{"xs": 0.0, "x1": -2.9070234952145784, "x2": -0.557449993385275, "x3": 0.7000314126964057}'
BASE = ["explain", "--scm", "chain", "--classifier", "recipe:logreg", "--individual", PERSON]


def test_cli_explain_json_and_table(capsys):
    assert main(BASE + ["--actionable", "x3", "--bounds", "x3=:0.5", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "NO_RECOURSE" and out["scope"] == "individual" and out["certificate"]["proven"]
    keys = [g["key"] for g in out["conflict"]["groups"]]
    assert keys[-1] == "threshold" and set(keys[:-1]) <= {"fixed:x1", "fixed:x2", "upper:x3"}
    assert out["relaxation"]["status"] == "optimal" and out["relaxation"]["verified"]
    assert len(out["relaxation"]["groups"]) == 1
    assert main(BASE + ["--actionable", "x3", "--bounds", "x3=:0.5"]) == 0
    text = capsys.readouterr().out
    assert "NO_RECOURSE" in text and "minimal conflict" in text and "you cannot change x1" in text
    assert "cheapest relaxation" in text
    assert main(BASE) == 0  # recourse exists: nothing to explain
    assert "Recourse exists" in capsys.readouterr().out


@pytest.mark.parametrize("extra, words", [
    (["--bounds", "x9=0:1"], "x9"),
    (["--time-limit", "-1"], "time_limit"),
    (["--relax-weights", "fixed:x7=2"], "fixed:x7"),
    (["--relax-weights", "max_changes=0", "--max-changes", "1"], "> 0"),
])
def test_cli_explain_bad_input(capsys, extra, words):
    assert main(BASE + extra) == 2
    assert words in capsys.readouterr().err


def test_squared_cost_relaxation_matches_exact_solves(four_node_models):
    scm, clf = four_node_models[("chain", "logreg")]
    person = _denied(scm, clf, 1, seed=11)[0]
    act = Actionability(actionable=("x3",), bounds={"x3": (None, person["x3"] + 0.2)}, directions={"x1": "down"})
    prob = RecourseProblem(scm, clf, person, actionability=act, options=FAST, cost=CostSpec(p=2))
    rel = cheapest_relaxation(prob)
    assert rel.status == "optimal" and len(rel.groups) == 1 and rel.verified
    singles = [solve(relax(prob, [g])) for g in person_groups(prob, include_threshold=False)]
    best = min(r.cost for r in singles if r.found)
    assert _close(rel.cost, best) and all(r.status in (Status.OPTIMAL, Status.NO_RECOURSE) for r in singles)


def test_explain_never_blames_constraints_without_a_proof(four_node_models):
    scm, clf = four_node_models[("chain", "logreg")]
    person = _denied(scm, clf, 1, seed=11)[0]
    prob = RecourseProblem(scm, clf, person, options=SolveOptions(time_limit=1e-9, heuristic_samples=0),
                           actionability=Actionability(directions={"x1": "down", "x2": "down", "x3": "down"}))
    expl = explain(prob)
    assert expl.result.status is Status.UNKNOWN and expl.conflict is None and expl.relaxation is None
    assert "not a 'no recourse'" in expl.message and expl.to_dict()["status"] == "UNKNOWN"
