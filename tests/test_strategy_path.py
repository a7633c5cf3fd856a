"""The strategy and the recorded path: which engines ran (with their own counters), why the others did not, and
results that are read-only and round-trip through dict / JSON / pickle."""

from __future__ import annotations

import dataclasses
import pickle
from types import SimpleNamespace

import pytest

from milp_recourse import CostSpec, RecourseProblem, RecourseResult, SolveOptions, Status, solve
from milp_recourse.result import PathStep
from milp_recourse.solver import milp_search
from milp_recourse.solver.milp_search import SearchOutcome
from milp_recourse.solver.strategy import ENGINES
from milp_recourse.solver.verify import verify_action

from denied import denied_problems


@pytest.fixture(scope="module")
def loan_logreg() -> list[RecourseProblem]:
    """Logistic regression with the closed form off (it would settle these people without a search engine):
    the MILP pipeline's engines are what these tests are about."""
    return denied_problems("loan", "logreg", seed=3, keep=3, candidates=60, cost=CostSpec(p=1), closed_form=False)


def _partition(res: RecourseResult) -> None:
    """Every search engine either ran (path) or has a reason (path_reasons), never both."""
    ran = set(res.engines) & set(ENGINES)
    assert ran.isdisjoint(res.path_reasons), (res.engines, dict(res.path_reasons))
    assert ran | set(res.path_reasons) == set(ENGINES), (res.engines, dict(res.path_reasons))


def test_small_linear_model_takes_the_small_branch_and_bound(loan_logreg):
    for pr in loan_logreg:
        res = solve(pr)
        assert res.status is Status.OPTIMAL and res.verified
        assert res.engines == ("small-bnb",)
        assert res.path[0].counters["nodes"] >= 1 and res.path[0].outcome == "optimal"
        assert "small model" in res.path_reasons["incumbent"]
        assert res.path_reasons["outer-approximation"].startswith("the cost is linear")
        _partition(res)
        # the same person on another backend: the small B&B is refused by name, one MILP proves the same optimum
        other = solve(dataclasses.replace(pr, options=dataclasses.replace(pr.options, backend="ortools-highs")))
        assert other.engines == ("milp",) and "'ortools-highs'" in other.path_reasons["small-bnb"]
        assert other.cost == pytest.approx(res.cost, rel=1e-6, abs=1e-9)
        _partition(other)


def test_squared_cost_runs_outer_approximation_and_counts_rounds(loan_logreg):
    pr = dataclasses.replace(loan_logreg[0], cost=CostSpec(p=2))
    res = solve(pr)
    assert res.status is Status.OPTIMAL
    assert res.engines[-1] == "outer-approximation" and res.path[-1].counters["rounds"] >= 1
    assert res.path_reasons["small-bnb"] in ("the cost is squared (p = 2)", "an incumbent is known (cutoff search)")
    assert res.path_reasons["milp"].startswith("the cost is squared")
    _partition(res)
    # the options that switch engines off are named as the reason
    off = solve(dataclasses.replace(pr, options=SolveOptions(heuristic_samples=0, tighten_passes=0,
                                                             closed_form=False)))
    assert off.path_reasons["incumbent"] in ("disabled (heuristic_samples=0)",
                                             "a small model (2 <= 16 integer columns) is searched directly") \
        or "small model" in off.path_reasons["incumbent"]
    assert off.cost == pytest.approx(res.cost, rel=1e-6, abs=1e-9)


def test_path_is_in_the_json_and_round_trips(loan_logreg):
    res = solve(loan_logreg[0])
    d = res.to_dict()
    assert d["path"][0]["engine"] == "small-bnb" and "incumbent" in d["path_reasons"]
    assert d["schema_version"] == 2
    back = RecourseResult.from_json(res.to_json())
    assert back == res
    assert pickle.loads(pickle.dumps(res)) == res


def test_results_are_read_only(loan_logreg):
    res = solve(loan_logreg[0])
    with pytest.raises(TypeError):
        res.action["E"] = 5.0          # type: ignore[index]
    with pytest.raises(TypeError):
        res.path_reasons["milp"] = "x"  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.cost = 0.0                  # type: ignore[misc]
    assert dict(res.action) == res.to_dict()["action"]


@pytest.mark.parametrize("bad, message", [
    ({"status": "GREAT"}, "Unknown status 'GREAT'"),
    ({"colour": "red"}, "Unknown result field(s) ['colour']"),
    ({"schema_version": 99}, "schema_version 99 is not supported"),
])
def test_from_dict_refuses_bad_input(loan_logreg, bad, message):
    from milp_recourse.errors import InputError

    d = solve(loan_logreg[0]).to_dict()
    d.update(bad)
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")
                       .replace("]", r"\]")):
        RecourseResult.from_dict(d)
    d = solve(loan_logreg[0]).to_dict()
    del d["cost"]
    with pytest.raises(InputError, match="missing field"):
        RecourseResult.from_dict(d)


def test_a_verified_candidate_replaces_an_unverified_cheaper_one(monkeypatch, loan_logreg):
    """The MILP search's rule (the defect of issue 13: an unverified first candidate could never be replaced by
    a later verified one, so a person could end VERIFICATION_FAILED though a valid action was found)."""
    pr = loan_logreg[0]
    verdict: dict[str, bool] = {}
    monkeypatch.setattr(milp_search, "verify_action", lambda problem, action: SimpleNamespace(ok=verdict[
        next(iter(action))]))
    best = SearchOutcome({"E": 0.0}, 1.0, 0.0, "limit")
    verdict.update(E=True, L=False, I=True)
    assert milp_search._standing(best, False, {"I": 0.1}, 2.0, pr) is True    # costlier but verified: taken
    assert milp_search._standing(best, True, {"L": 0.1}, 0.5, pr) is None     # cheaper, unverified: refused
    assert milp_search._standing(best, True, {"I": 0.1}, 0.5, pr) is True     # cheaper, verified: taken
    assert milp_search._standing(best, True, {"I": 0.1}, 2.0, pr) is None     # costlier: never
    assert milp_search._standing(best, False, {"L": 0.1}, 0.5, pr) is False   # cheaper, both unverified
    empty = SearchOutcome(None, float("inf"), 0.0, "unknown")
    assert milp_search._standing(empty, False, {"L": 0.1}, 0.5, pr) is False  # the first is always taken


def test_the_search_keeps_the_verified_candidate_end_to_end(monkeypatch, loan_logreg):
    """With the re-check of the MILP's own point forced to fail, the search's answer is the polished QP point
    (p = 2), which the real re-check accepts: OPTIMAL or FEASIBLE and verified, never VERIFICATION_FAILED."""
    pr = dataclasses.replace(loan_logreg[1], cost=CostSpec(p=2),
                             options=SolveOptions(heuristic_samples=0))
    calls = {"n": 0}

    def first_fails(problem, action):
        calls["n"] += 1
        ver = verify_action(problem, action)
        return SimpleNamespace(ok=ver.ok and calls["n"] > 1)

    monkeypatch.setattr(milp_search, "verify_action", first_fails)
    res = solve(pr)
    assert res.verified and res.status in (Status.OPTIMAL, Status.FEASIBLE)
    assert verify_action(pr, dict(res.action)).ok


def test_path_step_serialises_counters_as_numbers():
    step = PathStep("box-search", 0.5, "optimal", {"boxes": 12})
    assert step.to_dict() == {"engine": "box-search", "seconds": 0.5, "outcome": "optimal", "counters": {"boxes": 12}}
    assert PathStep.from_dict(step.to_dict()) == step


def test_batch_rows_carry_the_path(loan_logreg):
    """Each batch row holds the engines that ran and the reasons for the others, as JSON: those of solve_many's
    result for the person, with solve's status and cost (all three with the defaults: the closed form on)."""
    import json

    import pandas as pd

    import numpy as np

    from milp_recourse import solve_batch, solve_many

    pr = loan_logreg[0]
    people = pd.DataFrame([dict(p.factual) for p in loan_logreg])
    frame = solve_batch(pr.scm, pr.classifier, people, cost=CostSpec(p=1))
    problems = [dataclasses.replace(p, cost=CostSpec(p=1), options=dataclasses.replace(p.options, closed_form=True))
                for p in loan_logreg]
    for row, p, many in zip(frame.itertuples(), problems, solve_many(problems)[0]):
        ref = solve(p)
        assert row.status == ref.status.value == many.status.value
        assert (row.cost is None or np.isnan(row.cost)) if ref.cost is None else row.cost == pytest.approx(ref.cost)
        assert [s["engine"] for s in json.loads(row.path)] == list(many.engines) == list(ref.engines)
        assert json.loads(row.path_reasons) == dict(many.path_reasons)
