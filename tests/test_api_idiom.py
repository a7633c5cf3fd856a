"""The pandas / scikit-learn idiom of the public API: solve_many on a DataFrame, a person as a dict / Series /
one-row DataFrame, keyword-only option fields.

Reference: `solve(RecourseProblem(...))` one person at a time (with each person's profile applied by hand);
the frame form must give the same status, cost (1e-9 relative) and action for every person.
"""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import milp_recourse
from milp_recourse import (Actionability, CostSpec, InputError, Preferences, RecourseProblem, SolveOptions, Status,
                           load_scm, solve)
from milp_recourse.batch.frames import result_columns, results_to_csv
from milp_recourse.models.recipes import labelled_sample

OPTS = SolveOptions(time_limit=20.0, heuristic_samples=256)
COST = CostSpec(p=1, divisors={"x1": 2.0, "x2": 1.0, "x3": 0.5})


@pytest.fixture(scope="module")
def scm():
    return load_scm("chain")


@pytest.fixture(scope="module")
def model(scm):
    X, y = labelled_sample(scm, 400, 0)
    return LogisticRegression().fit(X, y)


@pytest.fixture(scope="module")
def people(scm):
    """24 people (some already favourable), a string index and extra columns the solver must ignore."""
    frame = scm.sample(24, seed=5)
    frame.index = [f"p{i}" for i in range(len(frame))]
    frame["note"] = "x"
    return frame


def _same(frame_row: pd.Series, res, names) -> None:
    """One frame row equals the result `solve` gave for the same person."""
    assert frame_row["status"] == res.status.value
    if res.cost is None:
        assert math.isnan(frame_row["cost"])
    else:
        assert frame_row["cost"] == pytest.approx(res.cost, rel=1e-9, abs=1e-12)
    assert bool(frame_row["verified"]) == res.verified
    for n in names:
        got = frame_row[f"action.{n}"]
        if n in res.action:
            assert got == pytest.approx(res.action[n], rel=1e-9, abs=1e-9)
        else:
            assert math.isnan(got)
        if n in res.counterfactual:
            assert frame_row[f"cf.{n}"] == pytest.approx(res.counterfactual[n], rel=1e-9, abs=1e-9)


def test_frame_equals_solve_one_by_one(scm, model, people) -> None:
    act = Actionability(bounds={"x2": (-6.0, 6.0)})
    out = milp_recourse.solve_many(people, scm=scm, classifier=model, actionability=act, cost=COST, options=OPTS)
    assert isinstance(out, pd.DataFrame)
    assert list(out.index) == list(people.index) and list(out.columns) == result_columns(scm.names)
    assert {"status", "cost", "verified", "gap", "objective_bound"} <= set(out.columns)
    assert out["cost"].dtype == float and out["action.x1"].dtype == float
    statuses = set(out["status"])
    assert {"OPTIMAL", "ALREADY_FAVOURABLE"} <= statuses, statuses   # both kinds of people are covered
    for label, row in people.iterrows():
        res = solve(RecourseProblem(scm, model, row, actionability=act, cost=COST, options=OPTS))
        _same(out.loc[label], res, scm.names)
    assert all(isinstance(v, str) for v in out["status"])          # plain text, no JSON anywhere in the frame
    assert not any(isinstance(v, str) and v.startswith("{") for v in out.drop(columns="message").to_numpy().ravel())
    assert out.attrs["stats"].n == len(people)


def test_profiles_frame_is_applied_per_person(scm, model, people) -> None:
    """Profiles keyed by the index: person p0 may act on x3 only, p1 has weights, the others get the base."""
    base = milp_recourse.solve_many(people, scm=scm, classifier=model, cost=COST, options=OPTS)
    denied = [k for k, r in base.iterrows() if r["status"] != "ALREADY_FAVOURABLE"][:3]
    assert len(denied) == 3
    profiles = pd.DataFrame([{"id": denied[0], "actionable": "x3"},
                             {"id": denied[1], "weight.x1": 5.0, "weight.x2": 0.5, "weight.x3": 1.0}])
    out = milp_recourse.solve_many(people, scm=scm, classifier=model, cost=COST, options=OPTS, profiles=profiles)
    refs = {denied[0]: (Actionability(actionable=("x3",)), Preferences()),
            denied[1]: (Actionability(), Preferences(weights={"x1": 5.0, "x2": 0.5, "x3": 1.0})),
            denied[2]: (Actionability(), Preferences())}
    for label, (act, prefs) in refs.items():
        res = solve(RecourseProblem(scm, model, people.loc[label], actionability=act, preferences=prefs, cost=COST,
                                    options=OPTS))
        _same(out.loc[label], res, scm.names)
    assert math.isnan(out.loc[denied[0], "action.x1"]) and math.isnan(out.loc[denied[0], "action.x2"])
    changed = [k for k in denied[:2] if abs(out.loc[k, "cost"] - base.loc[k, "cost"]) > 1e-6]
    assert changed, "the profiles changed nobody's answer: they were not applied"
    others = [k for k in people.index if k not in denied[:2]]
    pd.testing.assert_frame_equal(out.loc[others].drop(columns="path", errors="ignore"),
                                  base.loc[others].drop(columns="path", errors="ignore"), rtol=1e-9)
    # the same profiles matched through an id column instead of the index
    with_ids = people.assign(pid=people.index).reset_index(drop=True)
    by_col = milp_recourse.solve_many(with_ids, scm=scm, classifier=model, cost=COST, options=OPTS,
                                      profiles=profiles.rename(columns={"id": "pid"}), id_column="pid")
    np.testing.assert_allclose(by_col["cost"].to_numpy(), out["cost"].to_numpy(), rtol=1e-9)


def test_list_form_still_returns_results_and_stats(scm, model, people) -> None:
    problems = [RecourseProblem(scm, model, row, options=OPTS) for _, row in people.head(6).iterrows()]
    results, stats = milp_recourse.solve_many(problems)
    assert stats.n == 6 and len(results) == 6
    frame = milp_recourse.solve_many(people.head(6), scm=scm, classifier=model, options=OPTS)
    assert [r.status.value for r in results] == list(frame["status"])


def test_csv_holds_json_only_for_nested_cells(scm, model, people) -> None:
    out = milp_recourse.solve_many(people.head(8), scm=scm, classifier=model, options=OPTS)
    back = pd.read_csv(io.StringIO(results_to_csv(out)), index_col=0)
    np.testing.assert_allclose(back["cost"].to_numpy(), out["cost"].to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(back["cf.x2"].to_numpy(), out["cf.x2"].to_numpy(), rtol=1e-12)
    if "path" in out.columns:
        assert [json.loads(v) for v in back["path"]] == [list(p) for p in out["path"]]


def test_a_person_as_dict_series_or_one_row_frame(scm, model, people) -> None:
    row = people.iloc[0]
    as_dict = RecourseProblem(scm, model, {n: float(row[n]) for n in scm.names})
    for person in (row, people.iloc[[0]], people.iloc[[0]].reset_index(drop=True), row[list(scm.names)].to_numpy()):
        assert RecourseProblem(scm, model, person).factual == as_dict.factual
    with pytest.raises(InputError, match=r"one person: a dict, a pandas Series or a one-row DataFrame. "
                                         r"Got a DataFrame with 3 rows"):
        RecourseProblem(scm, model, people.iloc[:3])
    with pytest.raises(InputError, match=r"Got an array of shape \(2, 4\)"):
        RecourseProblem(scm, model, np.zeros((2, 4)))
    with pytest.raises(InputError, match=r"Got the string 'abc'"):
        RecourseProblem(scm, model, "abc")


def test_option_fields_are_keyword_only(scm, model, people) -> None:
    with pytest.raises(TypeError):
        Actionability(("x1",))
    with pytest.raises(TypeError):
        Preferences({"x1": 1.0})
    with pytest.raises(TypeError):
        CostSpec(2)
    with pytest.raises(TypeError):
        SolveOptions(0.5)
    with pytest.raises(TypeError):
        RecourseProblem(scm, model, people.iloc[0], Actionability())
    assert RecourseProblem(scm=scm, classifier=model, individual=people.iloc[0]).options == SolveOptions()


def test_bad_frame_inputs(scm, model, people) -> None:
    with pytest.raises(InputError, match=r"takes its other arguments by keyword"):
        milp_recourse.solve_many(people, scm, model)
    with pytest.raises(InputError, match=r"Got a Series; for one person use solve"):
        milp_recourse.solve_many(people.iloc[0], scm=scm, classifier=model)
    bad = people.copy()
    bad.loc["p3", "x2"] = 99.0
    with pytest.raises(InputError, match=r"Person 'p3': Feature 'x2' = 99(\.0)? is outside its domain"):
        milp_recourse.solve_many(bad, scm=scm, classifier=model)
    with pytest.raises(InputError, match=r"Person 'p0': The individual lacks feature\(s\) x3"):
        milp_recourse.solve_many(people.drop(columns="x3"), scm=scm, classifier=model)
    with pytest.raises(InputError, match=r"The 'options' argument must be a SolveOptions or None. Got dict"):
        milp_recourse.solve_many(people, scm=scm, classifier=model, options={"time_limit": 5})
    with pytest.raises(InputError, match=r"The profiles name 1 id\(s\) not in the data"):
        milp_recourse.solve_many(people, scm=scm, classifier=model, profiles=pd.DataFrame([{"id": "zz"}]))
    twice = pd.concat([people.head(2), people.head(2)])
    with pytest.raises(InputError, match=r"unique ids \(the index\); repeated: \['p0', 'p1'\]"):
        milp_recourse.solve_many(twice, scm=scm, classifier=model, profiles=pd.DataFrame([{"id": "p0"}]))
    with pytest.raises(InputError, match=r"The id column 'who' is not in the people frame"):
        milp_recourse.solve_many(people, scm=scm, classifier=model, id_column="who")


def test_a_person_whose_solve_raises_gets_status_error(scm, model, people, monkeypatch) -> None:
    """One failing person does not end the run: that row is ERROR with the error as message, the others are solved."""
    from milp_recourse.solver import many

    good = milp_recourse.solve_many(people, scm=scm, classifier=model, options=OPTS)
    victim = next(k for k, r in good.iterrows() if r["status"] == "OPTIMAL")
    x_victim = people.loc[victim, list(scm.names)].to_numpy(dtype=float)
    real = many.search_person

    def flaky(problem, *args, **kwargs):
        if np.array_equal(problem.x, x_victim):
            raise RuntimeError("boom")
        return real(problem, *args, **kwargs)

    monkeypatch.setattr(many, "search_person", flaky)
    monkeypatch.setattr(many, "settle", lambda problems: {})   # no closed form: the victim reaches the search
    out = milp_recourse.solve_many(people, scm="chain", classifier=model, options=OPTS)   # the SCM by name
    assert out.loc[victim, "status"] == Status.ERROR.value and out.loc[victim, "message"] == "RuntimeError: boom"
    assert math.isnan(out.loc[victim, "cost"]) and not out.loc[victim, "verified"]
    rest = [k for k in people.index if k != victim]
    pd.testing.assert_series_equal(out.loc[rest, "status"], good.loc[rest, "status"])
    np.testing.assert_allclose(out.loc[rest, "cost"].to_numpy(), good.loc[rest, "cost"].to_numpy(), rtol=1e-9)


def test_parts_of_the_wrong_kind_are_refused_by_name():
    """A dict where an Actionability belongs (or a spec name where an SCM belongs) failed deep inside with an
    AttributeError (an outside fuzz)."""
    loan = load_scm("loan")
    clf = LogisticRegression().fit(loan.sample(200, seed=0), np.arange(200) % 2)
    person = loan.sample(1, seed=1).iloc[0].to_dict()
    cases = [(lambda: RecourseProblem("loan", clf, person), "scm must be an SCM (load it first"),
             (lambda: RecourseProblem(None, clf, person), "scm must be an SCM. Got NoneType"),
             (lambda: RecourseProblem(loan, clf, person, actionability={"actionable": ["E"]}),
              "actionability must be Actionability(...)"),
             (lambda: RecourseProblem(loan, clf, person, preferences={"weights": {"E": 1}}),
              "preferences must be Preferences(...)"),
             (lambda: RecourseProblem(loan, clf, person, cost={"p": 2}), "cost must be CostSpec(...)"),
             (lambda: RecourseProblem(loan, clf, person, options={"time_limit": 5}), "options must be SolveOptions"),
             (lambda: solve("hello"), "solve takes a RecourseProblem")]
    for make, needle in cases:
        with pytest.raises(InputError) as info:
            make()
        assert needle in str(info.value), str(info.value)
