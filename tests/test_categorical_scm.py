"""Categorical and ordinal variables (issue 15, item 1): specs, level names in and out, and optimal actions
checked against exhaustive enumeration (every action over integer codes, the SCM's own counterfactual, the
classifier's own predict_proba, costs from the spec's tables written out here)."""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier

import milp_recourse as mr
from milp_recourse.errors import InputError, SpecError
from milp_recourse.result import RecourseResult
from milp_recourse.scm.spec import scm_from_dict, scm_to_dict

LEVELS = {"job": ["Sales", "Tech", "Admin", "Craft"], "edu": ["HS", "BSc", "MSc"]}


def spec(job_costs=None, edu_kind="ordinal", edu_act="increase") -> dict:
    job = {"name": "job", "type": "categorical", "levels": LEVELS["job"], "actionability": "actionable",
           "equation": "U_job", "noise": {"name": "U_job", "dist": "categorical", "probs": [0.4, 0.3, 0.2, 0.1]}}
    if job_costs is not None:
        job["level_costs"] = job_costs
    return {"name": "toy-levels", "variables": [
        job,
        {"name": "edu", "type": edu_kind, "levels": LEVELS["edu"], "actionability": edu_act, "equation": "U_edu",
         "noise": {"name": "U_edu", "dist": "categorical", "probs": [0.5, 0.3, 0.2]}},
        {"name": "hours", "type": "integer", "domain": [0, 12], "actionability": "actionable",
         "equation": "1 + 2*edu + 3*((job >= 0.5) - (job >= 1.5)) + U_h",
         "noise": {"name": "U_h", "dist": "categorical", "probs": [0.2, 0.2, 0.2, 0.2, 0.2]}},
    ]}


def raw_frame(scm, X):
    """Codes as level names: the table a user trains on."""
    frame = pd.DataFrame(X, columns=list(scm.names))
    for name, levels in LEVELS.items():
        frame[name] = [levels[int(c)] for c in frame[name]]
    return frame


class OnRawNames:
    """The user's pipeline seen through code vectors (for the enumeration: its own predict_proba on level names)."""

    def __init__(self, scm, pipe):
        self.scm, self.pipe = scm, pipe

    def predict_proba(self, X):
        return self.pipe.predict_proba(raw_frame(self.scm, np.atleast_2d(X)))


def classifier(scm, kind: str, seed: int = 0):
    """A model on codes (logreg, tree) or a Pipeline on level names (onehot-*): (model, codes, reference)."""
    df = scm.sample(3000, seed=seed)
    X = df[list(scm.names)].to_numpy()
    rng = np.random.default_rng(seed)
    logit = 0.6 * df.hours - 6 + 1.5 * (df.job == 2) + 0.8 * df.edu + rng.normal(0, 0.5, len(df))
    y = (logit > 0).astype(int)
    if kind.startswith("onehot"):
        final = LogisticRegression(max_iter=2000) if kind.endswith("logreg") else \
            RandomForestClassifier(n_estimators=15, max_depth=4, random_state=0)
        prep = ColumnTransformer([("cat", OneHotEncoder(handle_unknown="ignore", drop="first"), ["job"]),
                                  ("ord", OrdinalEncoder(categories=[LEVELS["edu"]]), ["edu"]),
                                  ("num", StandardScaler(), ["hours"])])
        pipe = Pipeline([("prep", prep), ("clf", final)]).fit(raw_frame(scm, X), y)
        return pipe, X, OnRawNames(scm, pipe)
    model = LogisticRegression(max_iter=2000) if kind == "logreg" else DecisionTreeClassifier(max_depth=5,
                                                                                               random_state=0)
    model.fit(X, y)
    return model, X, model


def brute_force(scm, clf, x, table, p, weights, edu_up=True):
    """Cheapest approved action over every intervention on every code (the spec's costs, written out here)."""
    names = list(scm.names)
    options = {"job": range(4), "edu": range(int(x[1]), 3) if edu_up else range(3), "hours": range(13)}
    costs, cfs, actions = [], [], []
    for subset in itertools.chain.from_iterable(itertools.combinations(names, k) for k in range(4)):
        for values in itertools.product(*(options[n] for n in subset)):
            do = dict(zip(subset, map(float, values)))
            cost = 0.0
            for n, v in do.items():
                i = names.index(n)
                g = table[int(x[0])][int(v)] if n == "job" else abs(v - x[i]) ** p
                cost += weights.get(n, 1.0) * g
            costs.append(cost)
            cfs.append(scm.counterfactual(x, do))
            actions.append(do)
    ok = clf.predict_proba(np.array(cfs))[:, 1] >= 0.5 + 1e-6
    if not ok.any():
        return np.inf, None
    best = int(np.argmin(np.where(ok, costs, np.inf)))
    return costs[best], actions[best]


def test_spec_round_trip_and_tables():
    scm = scm_from_dict(spec(job_costs={"Admin": 3}))
    job = scm.variable("job")
    assert job.domain == (0.0, 3.0) and job.levels == tuple(LEVELS["job"])
    assert job.switch_costs[0][2] == 3 and job.switch_costs[2][0] == 1 and job.switch_costs[1][1] == 0
    assert scm.variable("edu").switch_costs is None                 # ordinal: |code change|^p
    assert scm_from_dict(scm_to_dict(scm)) == scm
    nested = scm_from_dict(spec(job_costs={"Sales": {"Tech": 5}}))
    assert nested.variable("job").switch_costs[0][1] == 5 and nested.variable("job").switch_costs[1][0] == 1
    mixed = scm_from_dict(spec(job_costs={"Sales": {"Tech": 5}, "Tech": 2})).variable("job").switch_costs
    assert mixed[0][1] == 5 and mixed[2][1] == 2 and mixed[1][0] == 1     # from -> to wins over "into"
    sample = scm.sample(500, seed=1)
    assert set(np.unique(sample.job)) <= {0.0, 1.0, 2.0, 3.0}


@pytest.mark.parametrize("mutate, needle", [
    (lambda s: s["variables"][0].pop("levels"), "needs 'levels"),
    (lambda s: s["variables"][0].update(levels=["a", "a", "b"]), "more than once"),
    (lambda s: s["variables"][0].update(levels=["only"]), "at least two levels"),
    (lambda s: s["variables"][0].update(domain=[0, 9]), "takes 'levels', not 'domain'"),
    (lambda s: s["variables"][0].update(actionability="increase"), "no order"),
    (lambda s: s["variables"][0].update(level_costs={"Pilot": 2}), "unknown level"),
    (lambda s: s["variables"][0].update(level_costs={"Tech": -1}), ">= 0"),
    (lambda s: s["variables"][0].update(level_costs={"Tech": {"Pilot": 1}}), "unknown level"),
    (lambda s: s["variables"][2].update(levels=["a", "b"]), "only categorical and ordinal"),
    (lambda s: s["variables"][1].update(equation="U_edu + 0*job"), "must be its own noise"),
    (lambda s: s["variables"][0]["noise"].update(probs=[0.5, 0.6]), "summing to 1"),
])
def test_bad_specs_are_refused(mutate, needle):
    s = spec()
    mutate(s)
    with pytest.raises(SpecError, match=needle):
        scm_from_dict(s)


@pytest.mark.parametrize("kind, p", [("logreg", 1), ("logreg", 2), ("tree", 1), ("tree", 2), ("onehot-logreg", 1),
                                     ("onehot-logreg", 2), ("onehot-forest", 1)])
def test_optimal_against_enumeration(kind, p):
    table = [[0, 1, 2.5, 1], [1, 0, 2.5, 1], [0.5, 0.5, 0, 0.5], [1, 1, 2.5, 0]]
    scm = scm_from_dict(spec(job_costs={lv: dict(zip(LEVELS["job"], row)) for lv, row in zip(LEVELS["job"], table)}))
    clf, X, ref = classifier(scm, kind)
    denied = X[ref.predict_proba(X)[:, 1] < 0.5]
    weights = {"job": 1.0, "edu": 2.0, "hours": 0.3}
    checked = 0
    for x in denied[:6]:
        individual = {"job": LEVELS["job"][int(x[0])], "edu": LEVELS["edu"][int(x[1])], "hours": float(x[2])}
        res = mr.solve(mr.RecourseProblem(scm, clf, individual, cost=mr.CostSpec(p=p),
                                          preferences=mr.Preferences(weights=weights)))
        best, _ = brute_force(scm, ref, x, table, p, weights)
        if not np.isfinite(best):
            assert res.status is mr.Status.NO_RECOURSE
            continue
        assert res.status is mr.Status.OPTIMAL and res.verified
        assert res.cost == pytest.approx(best, abs=1e-6)
        cf = scm.counterfactual(x, dict(res.action))
        assert ref.predict_proba(cf.reshape(1, -1))[0, 1] >= 0.5
        assert cf[1] >= x[1]                                      # the ordinal only increases
        assert res.raw_counterfactual["job"] in LEVELS["job"]
        checked += 1
    assert checked >= 3


def test_allowed_levels_and_immutable_categorical():
    scm = scm_from_dict(spec())
    clf, X, _ = classifier(scm, "logreg", seed=3)
    x = X[(clf.predict_proba(X)[:, 1] < 0.5) & (X[:, 0] != 2)][0]
    person = dict(zip(scm.names, x))
    only = mr.Actionability(grids={"job": (0.0, 1.0, 3.0)})          # Admin (code 2) is not open to this person
    res = mr.solve(mr.RecourseProblem(scm, clf, person, actionability=only))
    best, _ = brute_force(scm, clf, x, [[0 if i == j else (1 if j != 2 else 1e9) for j in range(4)]
                                         for i in range(4)], 1, {})
    assert res.cost == pytest.approx(best, abs=1e-6)
    assert res.counterfactual["job"] != 2
    frozen = mr.RecourseProblem(scm, clf, person, actionability=mr.Actionability(actionable=("edu", "hours")))
    assert "job" not in mr.solve(frozen).action


def test_level_names_in_and_out():
    scm = scm_from_dict(spec())
    clf, X, _ = classifier(scm, "logreg")
    x = X[clf.predict_proba(X)[:, 1] < 0.5][0]
    by_name = {"job": LEVELS["job"][int(x[0])], "edu": LEVELS["edu"][int(x[1])], "hours": x[2]}
    a = mr.solve(mr.RecourseProblem(scm, clf, by_name))
    b = mr.solve(mr.RecourseProblem(scm, clf, x))
    assert a.cost == b.cost and dict(a.action) == dict(b.action)
    d = a.to_dict()
    assert d["factual"]["job"] == by_name["job"] and d["levels"]["edu"] == LEVELS["edu"]
    assert all(isinstance(d["counterfactual"][n], str) for n in ("job", "edu"))
    back = RecourseResult.from_json(a.to_json())
    assert dict(back.counterfactual) == dict(a.counterfactual) and back.raw_action == a.raw_action
    with pytest.raises(InputError, match="no level 'Pilot'"):
        mr.RecourseProblem(scm, clf, {**by_name, "job": "Pilot"})
    with pytest.raises(InputError, match="non-integral"):
        mr.RecourseProblem(scm, clf, {**by_name, "job": 1.5})


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "milp_recourse", *args], capture_output=True, text=True, timeout=120)


def test_cli_level_names(tmp_path):
    scm = scm_from_dict(spec())
    (tmp_path / "toy.json").write_text(json.dumps(spec()))
    clf, X, _ = classifier(scm, "logreg")
    joblib.dump(clf, tmp_path / "clf.joblib")
    x = X[clf.predict_proba(X)[:, 1] < 0.5][0]
    person = json.dumps({"job": LEVELS["job"][int(x[0])], "edu": LEVELS["edu"][int(x[1])], "hours": x[2]})
    base = ["solve", "--scm", str(tmp_path / "toy.json"), "--classifier", str(tmp_path / "clf.joblib")]
    out = run_cli(*base, "--individual", person, "--format", "json", "--grid", "job=Sales|Craft")
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    assert res["counterfactual"]["job"] in ("Sales", "Craft", LEVELS["job"][int(x[0])])
    expected = mr.solve(mr.RecourseProblem(scm, clf, json.loads(person),
                                           actionability=mr.Actionability(grids={"job": (0.0, 3.0)})))
    assert res["cost"] == pytest.approx(expected.cost, abs=1e-9)
    bad = run_cli(*base, "--individual", person.replace(LEVELS["job"][int(x[0])], "Pilot"))
    assert bad.returncode == 2 and bad.stderr.startswith("error:") and "Pilot" in bad.stderr and not bad.stdout
    bad = run_cli(*base, "--individual", person, "--direction", "job=up")
    assert bad.returncode == 2 and "no order" in bad.stderr
    bad = run_cli(*base, "--individual", person, "--grid", "job=Pilot|Sales")
    assert bad.returncode == 2 and "'Pilot' is not a level of 'job'" in bad.stderr and "Sales, Tech" in bad.stderr


def test_profile_grids_take_level_names_as_solve_does():
    """A profile's grid.job = Sales|Craft is the same constraint as `--grid job=Sales|Craft` (codes 0 and 3);
    an unknown level is refused naming the levels. Checked against solve with the grid given as codes."""
    from milp_recourse.batch.profiles import parse_profiles

    scm = scm_from_dict(spec())
    clf, X, _ = classifier(scm, "logreg")
    rows = X[clf.predict_proba(X)[:, 1] < 0.5][:3]
    people = pd.DataFrame({"id": ["a", "b", "c"], **{n: rows[:, i] for i, n in enumerate(scm.names)}})
    profiles = pd.DataFrame({"id": ["a", "b", "c"], "actionable": ["job;hours"] * 3,
                             "grid.job": ["Sales|Craft", "Craft", "0|Tech"]})
    parsed = parse_profiles(profiles, scm, "id", mr.Actionability(), mr.Preferences())
    assert [parsed[k].grids["job"] for k in ("a", "b", "c")] == [(0.0, 3.0), (3.0,), (0.0, 1.0)]
    out = mr.solve_many(people, scm=scm, classifier=clf, profiles=profiles, id_column="id")
    for (k, grid), row, (_, res) in zip([("a", (0.0, 3.0)), ("b", (3.0,)), ("c", (0.0, 1.0))], rows, out.iterrows()):
        ref = mr.solve(mr.RecourseProblem(scm, clf, dict(zip(scm.names, row)), actionability=mr.Actionability(
            actionable=("job", "hours"), grids={"job": grid})))
        assert res["status"] == ref.status.value and res["cost"] == pytest.approx(ref.cost, abs=1e-9), k
    bad = profiles.assign(**{"grid.job": ["Pilot", "Sales", "Sales"]})
    with pytest.raises(InputError, match="'Pilot' is not a level of this feature; expected one of Sales, Tech"):
        parse_profiles(bad, scm, "id", mr.Actionability(), mr.Preferences())


def test_numpy_linear_score_equals_the_pipeline():
    """The heuristic's numpy score of a linear model after categorical encoders equals the model's own."""
    from milp_recourse.models.categorical_input import with_levels
    from milp_recourse.models.classifiers import reference_score
    from milp_recourse.solver.incumbent import linear_score

    scm = scm_from_dict(spec())
    pipe, X, _ = classifier(scm, "onehot-logreg")
    model = with_levels(pipe, {n: tuple(v) for n, v in LEVELS.items()})
    rows = X[:300]
    for target in (0, 1):
        ref, kind = reference_score(model, rows, model.classes_[target])
        assert kind == "logit" and np.allclose(linear_score(model, target, rows), ref, atol=1e-9)
    assert linear_score(pipe, 1, rows) is None            # a model on codes is scored as before


def test_no_op_holds_are_dropped():
    """do(x := its own value) changes nothing where no parent of x moves (a root; a child while its parents stay):
    the answer never lists one, while a hold on a child whose parent moves (it blocks the child's response) stays;
    the dropped action has the same counterfactual."""
    from milp_recourse.solver.answer_rules import without_no_op_holds

    scm = scm_from_dict(spec())
    clf, X, _ = classifier(scm, "onehot-forest")
    pr = mr.RecourseProblem(scm, clf, dict(zip(scm.names, map(float, X[0]))))
    x = pr.factual
    other_job = float((x["job"] + 1) % len(scm.variable("job").levels))
    cases = [({"job": x["job"], "edu": x["edu"], "hours": x["hours"]}, {}),
             ({"job": other_job, "edu": x["edu"], "hours": x["hours"]}, {"job": other_job, "hours": x["hours"]})]
    for action, expected in cases:
        kept = without_no_op_holds(pr, action)
        assert kept == expected
        assert scm.counterfactual(np.array(X[0], float), kept).tolist() == \
            scm.counterfactual(np.array(X[0], float), action).tolist()
    denied = [row for row in X[:400] if clf.predict(raw_frame(scm, row[None, :]))[0] == 0][:12]
    for row in denied:
        res = mr.solve(mr.RecourseProblem(scm, clf, dict(zip(scm.names, map(float, row)))))
        assert res.verified
        for name in ("job", "edu"):   # the roots
            assert name not in res.action or res.action[name] != float(row[scm.index(name)])


@pytest.mark.parametrize("act,flag,needle", [
    (mr.Actionability(grids={"job": (2.0, 1.9)}), "--grid=job=2|1.9",
     "Grid job: value(s) 1.9 are not whole numbers, and job is categorical"),
    (mr.Actionability(grids={"hours": (4.5, 5.0)}), "--grid=hours=4.5|5",
     "Grid hours: value(s) 4.5 are not whole numbers, and hours is integer"),
    (mr.Actionability(grids={"edu": (0.5,)}), "--grid=edu=0.5", "Grid edu: value(s) 0.5"),
    (mr.Actionability(bounds={"job": (1.0, 2.0)}), "--bounds=job=1:2", "Bounds on the categorical feature(s) 'job'"),
])
def test_fractional_grid_codes_and_bounds_on_categoricals_are_refused(act, flag, needle, tmp_path):
    """A fractional grid value of an integral feature was dropped in silence (the feature then could not move:
    --grid job=1.9 answered cost 7 where job=2 gives 5); bounds on unordered codes were accepted."""
    from milp_recourse.problem.constraints_check import check_constraints

    scm = scm_from_dict(spec())
    with pytest.raises(InputError, match=re.escape(needle)):
        check_constraints(scm, act)
    for fine in (mr.Actionability(grids={"job": (2.0,), "hours": (4.0, 5.0)}),
                 mr.Actionability(bounds={"hours": (1.0, 5.0), "edu": (0.0, 1.0)})):
        check_constraints(scm, fine)   # whole codes, and bounds on integer / ordinal features, stay allowed
    (tmp_path / "toy.json").write_text(json.dumps(spec()))
    joblib.dump(classifier(scm, "logreg")[0], tmp_path / "clf.joblib")
    done = run_cli("solve", "--scm", str(tmp_path / "toy.json"), "--classifier", str(tmp_path / "clf.joblib"),
                   "--individual", json.dumps({"job": "Sales", "edu": "HS", "hours": 4}), flag)
    assert done.returncode == 2 and done.stdout == "", done.stderr
    assert done.stderr.startswith("error: ") and needle in done.stderr and "Traceback" not in done.stderr


def test_the_api_refuses_fractional_grid_codes_too():
    """RecourseProblem (no check_constraints) dropped a fractional grid code in silence: job then could not move
    (OPTIMAL at cost 8 via edu and hours, where job = 2 gives 3). Now the same refusal as the CLI's, value unrounded."""
    scm = scm_from_dict(spec())
    clf = classifier(scm, "logreg")[0]
    person = {"job": "Sales", "edu": "HS", "hours": 4}
    with pytest.raises(InputError, match=re.escape("Grid job: value(s) 1.9 are not whole numbers")):
        mr.RecourseProblem(scm, clf, person, actionability=mr.Actionability(grids={"job": (2.0, 1.9)}))
    with pytest.raises(InputError, match=re.escape("Grid hours: value(s) 1.000001 are not whole numbers")):
        mr.RecourseProblem(scm, clf, person, actionability=mr.Actionability(grids={"hours": (1.000001, 5.0)}))
    mr.RecourseProblem(scm, clf, person, actionability=mr.Actionability(grids={"job": (2.0,), "hours": (5.0,)}))


@pytest.mark.parametrize("act,needle", [
    (mr.Actionability(bounds={"job": (1.0, 2.0)}), "Bounds on the categorical feature(s) 'job'"),
    (mr.Actionability(directions={"job": "up"}), "Direction on the categorical feature(s) 'job'"),
    (mr.Actionability(bounds={"hours": (50.0, 60.0)}), "Bounds hours=50:60 lie outside hours's domain"),
    (mr.Actionability(grids={"hours": (3.0, 99.0)}), "Grid hours: value(s) 99 lie outside hours's domain"),
])
def test_the_api_refuses_what_the_cli_refuses(act, needle):
    """RecourseProblem ran only the name checks: bounds on a categorical's unordered codes restricted the codes by
    their order, and bounds missing the domain left the feature blocked in silence; the CLI refused both."""
    scm = scm_from_dict(spec())
    clf = classifier(scm, "logreg")[0]
    person = {"job": "Sales", "edu": "HS", "hours": 4}
    with pytest.raises(InputError, match=re.escape(needle)):
        mr.RecourseProblem(scm, clf, person, actionability=act)
    # bounds on a feature left out of this person's actionable set lapse (a batch profile's inherited bound)
    fine = mr.RecourseProblem(scm, clf, person, actionability=mr.Actionability(
        actionable=("edu",), bounds={"hours": (1.0, 5.0)}))
    assert [r.name for r in fine.rules] == ["edu"]


def _explained_without_recourse():
    """explain() for a person the tree denies while only hours <= 4 may change: a relaxation frees edu."""
    from milp_recourse.diagnose.explain import explain

    scm = scm_from_dict(spec())
    clf, _, _ = classifier(scm, "tree")
    x = {"job": 2.0, "edu": 0.0, "hours": 3.0}
    ex = explain(mr.RecourseProblem(scm, clf, x, actionability=mr.Actionability(actionable=("hours",),
                                                                               bounds={"hours": (None, 4.0)})))
    assert ex.result.status is mr.Status.NO_RECOURSE and ex.relaxation is not None
    return ex


def test_explain_names_levels_in_its_relaxation_and_conflict_text():
    """explain's texts showed a categorical / ordinal value as its code ('edu := 2') where the input, solve and the
    README use level names (an outside fuzz). Reference: the spec's own level list."""
    from milp_recourse.diagnose.explain import print_explanation

    ex = _explained_without_recourse()
    code = int(ex.relaxation.action["edu"])
    assert f"edu := {LEVELS['edu'][code]}" in ex.relaxation.message
    assert f"edu := {code}" not in ex.relaxation.message
    import io
    buf = io.StringIO()
    print_explanation(ex, file=buf)
    for wit in (ex.conflict.witnesses if ex.conflict else {}).values():
        for name, value in wit.items():
            if name in LEVELS:
                assert f"{name} := {LEVELS[name][int(value)]}" in buf.getvalue()


def test_explain_json_names_levels_as_solve_json_does():
    """explain's JSON gave a relaxation's action and a conflict's witnesses as codes (2.0) where solve's JSON, its
    `levels` map and the texts use level names. Reference: the spec's own level list at the code the library's
    relaxation chose; numeric features stay numbers."""
    import json

    ex = _explained_without_recourse()
    d = json.loads(json.dumps(ex.to_dict()))
    for name, value in ex.relaxation.action.items():
        want = LEVELS[name][int(value)] if name in LEVELS else float(value)
        assert d["relaxation"]["action"][name] == want
    assert any(name in LEVELS for name in ex.relaxation.action)
    for key, wit in (ex.conflict.witnesses if ex.conflict else {}).items():
        for name, value in wit.items():
            assert d["conflict"]["witnesses"][key][name] == (LEVELS[name][int(value)] if name in LEVELS else value)
