"""Logic constraints (IF-THEN rules, linkages): the solver's optimum equals exhaustive enumeration over every action
that keeps the rules, the counterfactual keeps them, an impossible rule gives NO_RECOURSE, bad input is refused.

The SCM has only binary / integer actionable features with small domains, so enumerating every intervention set
and every value is exact. The reference computes each counterfactual with scm.counterfactual (the linked root
intervened at x_T + r (cf_S - x_S)), judges it with the estimator's own score and checks the rules itself: it
shares no code with problem/logic.py or the MILP.
"""

from __future__ import annotations

import itertools
import json

import joblib
import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from milp_recourse.cli.main import main
from milp_recourse.errors import InputError
from milp_recourse.models.classifiers import reference_score, score_threshold
from milp_recourse.problem.options import Actionability
from milp_recourse.problem.preferences import Preferences
from milp_recourse.problem.recourse_problem import RecourseProblem
from milp_recourse.result import Status
from milp_recourse.scm.spec import scm_from_dict
from milp_recourse.solver.pipeline import solve


def _var(name: str, kind: str, domain: list, act: str, eq: str) -> dict:
    return dict(name=name, type=kind, domain=domain, actionability=act, equation=eq,
                noise=dict(name=f"U_{name}", dist="normal", std=1.0))


SPEC = dict(name="loan-logic", variables=[
    _var("has_loan", "binary", [0, 1], "actionable", "U_has_loan"),
    _var("loan_amount", "integer", [-4, 8], "actionable", "2 * has_loan + U_loan_amount"),
    _var("years_employed", "integer", [0, 10], "actionable", "U_years_employed"),
    _var("age", "integer", [18, 80], "immutable", "U_age"),
    _var("income", "continuous", [-100, 100], "immutable",
         "0.5 * years_employed + 0.1 * age - 0.3 * loan_amount + U_income"),
])
WEIGHTS = {"has_loan": 2.0, "loan_amount": 0.5, "years_employed": 1.0}
PERSON = dict(has_loan=1, loan_amount=4, years_employed=2, age=25, income=1.0)
RULE = "if has_loan -> 0 then loan_amount = 0"
LINK = "age += 4 * years_employed"


@pytest.fixture(scope="module")
def scm():
    return scm_from_dict(SPEC)


@pytest.fixture(scope="module")
def models(scm) -> dict:
    rng = np.random.default_rng(0)
    n = 1500
    X = pd.DataFrame({"has_loan": rng.integers(0, 2, n), "loan_amount": rng.integers(-2, 7, n),
                      "years_employed": rng.integers(0, 11, n), "age": rng.integers(18, 60, n)})
    X["income"] = 0.5 * X.years_employed + 0.1 * X.age - 0.3 * X.loan_amount + rng.normal(0, 1, n)
    y = (X.income - 1.5 * X.has_loan + rng.normal(0, 0.5, n) > 3).astype(int)
    return {"logreg": LogisticRegression(max_iter=2000).fit(X, y),
            "tree": DecisionTreeClassifier(max_depth=5, random_state=0).fit(X, y)}


def _reference(scm, clf, person: dict, rules: list[tuple], links: list[tuple], actionable: list[str],
               bounds: dict | None = None, p: int = 1) -> float:
    """Cheapest cost over every action (set x values) keeping the rules; inf when none is favourable."""
    x = np.array([float(person[n]) for n in scm.names])
    bounds = bounds or {}
    values = {}
    for n in actionable:
        v = scm.variable(n)
        lo, hi = bounds.get(n, (v.lower, v.upper))
        values[n] = np.arange(int(lo), int(hi) + 1, dtype=float)
    best = np.inf
    thr = score_threshold("logit" if isinstance(clf, LogisticRegression) else "probability", 0.5) + 1e-6
    for k in range(1, len(actionable) + 1):
        for names in itertools.combinations(actionable, k):
            grid = np.array(list(itertools.product(*[values[n] for n in names])))
            do = {n: grid[:, i] for i, n in enumerate(names)}
            U = np.repeat(scm.abduct(x.reshape(1, -1)).reshape(1, -1), len(grid), axis=0)
            cf = scm.predict_from_noise(U, do)
            for target, ratio, source in links:   # the target is a root: intervene on it, then re-predict
                do[target] = x[scm.index(target)] + ratio * (cf[:, scm.index(source)] - x[scm.index(source)])
                cf = scm.predict_from_noise(U, do)
            ok = np.ones(len(grid), bool)
            for a, av, b, bv, *op in rules:   # if A becomes av then B = bv (or <= / >= bv)
                becomes = (np.abs(cf[:, scm.index(a)] - av) < 1e-9) & (abs(x[scm.index(a)] - av) > 1e-9)
                diff = cf[:, scm.index(b)] - bv
                holds = {"=": np.abs(diff) < 1e-9, "<=": diff < 1e-9, ">=": diff > -1e-9}[op[0] if op else "="]
                ok &= ~becomes | holds
            score, _ = reference_score(clf, pd.DataFrame(cf, columns=scm.names))
            ok &= np.asarray(score) >= thr
            if ok.any():
                cost = sum(WEIGHTS[n] * np.abs(grid[:, i] - x[scm.index(n)]) ** p for i, n in enumerate(names))
                best = min(best, float(np.min(cost[ok])))
    return best


def _problem(scm, clf, logic=(), actionable=None, bounds=None, person=None) -> RecourseProblem:
    act = Actionability(actionable=actionable, bounds=bounds or {}, logic=logic)
    return RecourseProblem(scm, clf, person or PERSON, actionability=act, preferences=Preferences(weights=WEIGHTS))


CASES = {"none": ((), [], []),
         "rule": ((RULE,), [("has_loan", 0.0, "loan_amount", 0.0)], []),
         "link": ((LINK,), [], [("age", 4.0, "years_employed")]),
         "both": ((RULE, "age += 0.5 * `years_employed`"), [("has_loan", 0.0, "loan_amount", 0.0)],
                  [("age", 0.5, "years_employed")]),
         # the IF feature responds through the SCM (loan_amount = 2 has_loan + U): becomes 0 via has_loan or do()
         "mediated": (("if loan_amount -> 2 then years_employed >= 6", "if loan_amount -> -2 then years_employed >= 4"),
                      [("loan_amount", 2.0, "years_employed", 6.0, ">="),
                       ("loan_amount", -2.0, "years_employed", 4.0, ">=")], [])}


@pytest.mark.parametrize("model", ["logreg", "tree"])
@pytest.mark.parametrize("case", list(CASES))
def test_optimum_equals_enumeration(scm, models, model, case):
    logic, rules, links = CASES[case]
    clf = models[model]
    res = solve(_problem(scm, clf, logic))
    ref = _reference(scm, clf, PERSON, rules, links, list(WEIGHTS))
    assert np.isfinite(ref)
    assert res.status is Status.OPTIMAL and res.verified and res.violations == ()
    assert res.cost == pytest.approx(ref, abs=1e-6)
    cf, x = res.counterfactual, PERSON
    for a, av, b, bv, *op in rules:
        if abs(cf[a] - av) < 1e-9 and x[a] != av:
            diff = cf[b] - bv
            assert {"=": abs(diff) < 1e-6, "<=": diff < 1e-6, ">=": diff > -1e-6}[op[0] if op else "="]
    for target, ratio, source in links:
        assert cf[target] - x[target] == pytest.approx(ratio * (cf[source] - x[source]), abs=1e-6)
        assert target not in res.action   # moved by its link, never intervened on, at no cost
    if logic:
        assert "box-search" not in [s.engine for s in res.path]


@pytest.mark.parametrize("model", ["logreg", "tree"])
def test_rules_change_the_answer(scm, models, model):
    """The cases are not vacuous: each rule set and the link change the optimum (the link makes it cheaper)."""
    clf = models[model]
    free = _reference(scm, clf, PERSON, [], [], list(WEIGHTS))
    assert _reference(scm, clf, PERSON, CASES["mediated"][1], [], list(WEIGHTS)) > free + 1e-9
    assert _reference(scm, clf, PERSON, [], CASES["link"][2], list(WEIGHTS)) < free - 1e-9
    assert _reference(scm, clf, PERSON, CASES["rule"][1], [], list(WEIGHTS)) > free + 1e-9


def test_impossible_rule_gives_no_recourse(scm, models):
    """loan_amount may not go below 1, so has_loan may never become 0, and nothing else is favourable."""
    clf = models["logreg"]
    act, bounds, person = ["has_loan", "loan_amount"], {"loan_amount": (1, 8)}, dict(PERSON, income=3.0)
    assert np.isfinite(_reference(scm, clf, person, [], [], act, bounds))   # without the rule there is recourse
    assert _reference(scm, clf, person, CASES["rule"][1], [], act, bounds) == np.inf
    free = solve(_problem(scm, clf, (), actionable=act, bounds={"loan_amount": (1, None)}, person=person))
    assert free.status is Status.OPTIMAL and free.action.get("has_loan") == 0.0
    res = solve(_problem(scm, clf, (RULE,), actionable=act, bounds={"loan_amount": (1, None)}, person=person))
    assert res.status is Status.NO_RECOURSE


def test_inactive_when_factual_already_a(scm, models):
    """A's factual already equals a: the rule never applies (same optimum as without it)."""
    clf = models["logreg"]
    person = dict(PERSON, has_loan=0, loan_amount=5)
    plain = solve(RecourseProblem(scm, clf, person, preferences=Preferences(weights=WEIGHTS)))
    ruled = solve(RecourseProblem(scm, clf, person, actionability=Actionability(logic=(RULE,)),
                                  preferences=Preferences(weights=WEIGHTS)))
    assert plain.status is Status.OPTIMAL and ruled.status is Status.OPTIMAL
    assert ruled.cost == pytest.approx(plain.cost, abs=1e-9)


BAD = {
    "if nope -> 0 then loan_amount = 0": "unknown feature",
    "if has_loan -> 0 then loan_amount ~ 0": "Cannot read an IF-THEN rule",
    "age = years_employed": "Cannot read a logic constraint",
    "age += 2 *": "Cannot read a linkage",
    "loan_amount += 1 * years_employed": "must be a root",
    "years_employed += 1 * income": "cycle",
    "if income -> 1 then loan_amount = 0": "must be binary or integer",
    "if has_loan -> 2 then loan_amount = 0": "in its domain",
    "if has_loan -> 0 then loan_amount = 99": "outside its domain",
    "age += 0 * years_employed": "non-zero ratio",
}


@pytest.mark.parametrize("text", list(BAD))
def test_bad_constraints_are_refused(scm, models, text):
    with pytest.raises(InputError, match=BAD[text]):
        _problem(scm, models["logreg"], (text,))


def test_link_target_cannot_be_actionable(scm, models):
    with pytest.raises(InputError, match="cannot also be actionable"):
        _problem(scm, models["logreg"], ("has_loan += 1 * years_employed",), actionable=["has_loan", "loan_amount"])
    with pytest.raises(InputError, match="more than one linkage"):
        _problem(scm, models["logreg"], (LINK, "age += 2 * has_loan"))
    with pytest.raises(InputError, match=r"cycle.*age -> years_employed -> age|cycle.*years_employed -> age"):
        _problem(scm, models["logreg"], (LINK, "years_employed += 1 * age"))   # two links, each a root


@pytest.fixture(scope="module")
def files(tmp_path_factory, models) -> dict:
    tmp = tmp_path_factory.mktemp("logic")
    (tmp / "scm.yaml").write_text(yaml.safe_dump(SPEC))
    joblib.dump(models["logreg"], tmp / "logreg.joblib")
    pd.DataFrame([PERSON, dict(PERSON, years_employed=3)]).to_csv(tmp / "people.csv", index=False)
    return {"dir": tmp, "scm": str(tmp / "scm.yaml"), "clf": str(tmp / "logreg.joblib"),
            "people": str(tmp / "people.csv")}


def _solve_args(files, *extra) -> list[str]:
    return ["solve", "--scm", files["scm"], "--classifier", files["clf"], "--individual", json.dumps(PERSON),
            "--weights", ",".join(f"{k}={v}" for k, v in WEIGHTS.items()), "--format", "json", *extra]


def test_cli_constraint_matches_api(scm, models, files, capsys):
    code = main(_solve_args(files, "--constraint", RULE, "--constraint", LINK))
    out = capsys.readouterr().out
    assert code == 0
    got = json.loads(out)
    api = solve(_problem(scm, models["logreg"], (RULE, LINK)))
    assert got["status"] == "OPTIMAL" and got["cost"] == pytest.approx(api.cost, abs=1e-9)
    ref = _reference(scm, models["logreg"], PERSON, CASES["rule"][1], CASES["link"][2], list(WEIGHTS))
    assert got["cost"] == pytest.approx(ref, abs=1e-6)


@pytest.mark.parametrize("text", ["if nope -> 0 then loan_amount = 0", "loan_amount += years_employed", "junk"])
def test_cli_bad_constraint_exit_2(files, capsys, text):
    assert main(_solve_args(files, "--constraint", text)) == 2
    cap = capsys.readouterr()
    assert cap.out == "" and cap.err.startswith("error: ")
    out = files["dir"] / f"batch-{abs(hash(text))}.csv"
    assert main(["batch", "--scm", files["scm"], "--classifier", files["clf"], "--data", files["people"],
                 "--out", str(out), "--constraint", text, "--no-progress"]) == 2
    cap = capsys.readouterr()
    assert cap.out == "" and cap.err.startswith("error: ")
    assert not out.exists() and not list(files["dir"].glob(out.name + "*"))


def test_verification_counts_violations(scm, models):
    """The re-check lists a broken rule: has_loan -> 0 alone leaves loan_amount at 2 (through the SCM), not 0."""
    from milp_recourse.solver.verify import verify_action

    ver = verify_action(_problem(scm, models["logreg"], (RULE, LINK)), {"has_loan": 0.0, "years_employed": 5.0})
    assert not ver.ok and len(ver.violations) == 1 and "has_loan -> 0" in ver.violations[0]
    assert ver.counterfactual["loan_amount"] == pytest.approx(2.0)
    assert ver.counterfactual["age"] == pytest.approx(25 + 4 * 3)   # the link moved age with years_employed
    ok = verify_action(_problem(scm, models["logreg"], (RULE,)), {"has_loan": 0.0, "loan_amount": 0.0})
    assert ok.violations == ()


@pytest.mark.parametrize("case", ["rule", "both"])
def test_incumbent_keeps_the_rules(scm, models, case):
    """The random-search incumbent (a cutoff for the MILP) is never cheaper than the constrained optimum and keeps
    the rules; on a deep tree the pipeline takes the incumbent path and still matches enumeration."""
    from milp_recourse.solver.incumbent import random_search

    logic, rules, links = CASES[case]
    rng = np.random.default_rng(1)
    n = 3000
    X = pd.DataFrame({"has_loan": rng.integers(0, 2, n), "loan_amount": rng.integers(-4, 9, n),
                      "years_employed": rng.integers(0, 11, n), "age": rng.integers(18, 60, n)})
    X["income"] = 0.5 * X.years_employed + 0.1 * X.age - 0.3 * X.loan_amount + rng.normal(0, 1, n)
    y = (X.income - 1.5 * X.has_loan + rng.normal(0, 1.0, n) > 3).astype(int)
    deep = DecisionTreeClassifier(max_depth=9, random_state=0).fit(X, y)
    problem = _problem(scm, deep, logic)
    ref = _reference(scm, deep, PERSON, rules, links, list(WEIGHTS))
    inc = random_search(problem, 4096, seed=0)
    assert inc is not None and inc.cost >= ref - 1e-9
    x = problem.x
    U = scm.abduct(x)
    do = dict(inc.action)
    cf = scm.predict_from_noise(U, do)
    for target, ratio, source in links:
        do[target] = x[scm.index(target)] + ratio * (cf[scm.index(source)] - x[scm.index(source)])
        cf = scm.predict_from_noise(U, do)
    if rules and cf[0] == 0.0:
        assert cf[1] == pytest.approx(0.0, abs=1e-9)
    score, _ = reference_score(deep, pd.DataFrame([cf], columns=scm.names))
    assert score[0] >= 0.5
    res = solve(problem)
    assert "incumbent" in [s.engine for s in res.path]
    assert res.status is Status.OPTIMAL and res.cost == pytest.approx(ref, abs=1e-6)


def test_batch_and_explain_keep_the_constraints(scm, models, files, capsys):
    """batch --constraint solves every row under the rules (same costs as the API); explain gives a person's own
    IF-THEN rule up only as its own group, and never a linkage."""
    from milp_recourse.diagnose.conflicts import relax, universal

    out = files["dir"] / "batch-ok.csv"
    assert main(["batch", "--scm", files["scm"], "--classifier", files["clf"], "--data", files["people"],
                 "--out", str(out), "--constraint", RULE, "--constraint", LINK, "--no-progress",
                 "--weights", ",".join(f"{k}={v}" for k, v in WEIGHTS.items())]) == 0
    capsys.readouterr()
    frame = pd.read_csv(out)
    for row in frame.itertuples():
        person = {n: getattr(row, n) for n in scm.names}
        ref = _reference(scm, models["logreg"], person, CASES["rule"][1], CASES["link"][2], list(WEIGHTS))
        assert row.status == "OPTIMAL" and row.cost == pytest.approx(ref, abs=1e-6)
    problem = _problem(scm, models["logreg"], (RULE, LINK), actionable=["has_loan", "loan_amount", "years_employed"],
                       bounds={"loan_amount": (1, None)})
    assert relax(problem, ["lower:loan_amount"]).logic == problem.logic   # giving up other groups keeps the rules
    # the person's own IF-THEN rule is a personal constraint (group rule:1), which the universal problem lacks; the
    # linkage says how the world moves and stays (explain: tests/test_explain_own_rules.py)
    assert [str(c) for c in universal(problem).logic] == [LINK]
    assert universal(problem, own_rules_too=True).logic == problem.logic
    assert [str(c) for c in relax(problem, ["rule:1"]).logic] == [LINK]
    from milp_recourse.batch.profiles import Profile

    base = Actionability(logic=(RULE, LINK))
    act, _ = Profile(actionable=("has_loan",), max_changes=1).apply(base, Preferences(), list(WEIGHTS))
    assert act.logic == base.logic and act.actionable == ("has_loan",)


def test_coded_variables_are_refused_by_name():
    """A categorical variable's codes are labels: no linkage through it, no IF on it."""
    spec = dict(name="coded", variables=[
        dict(name="job", type="categorical", levels=["a", "b", "c"], actionability="actionable", equation="U_job",
             noise=dict(name="U_job", dist="categorical", probs=[0.3, 0.3, 0.4])),
        dict(name="y", type="continuous", domain=[-9, 9], actionability="actionable", equation="U_y",
             noise=dict(name="U_y", dist="normal", std=1.0))])
    from milp_recourse.problem.logic import check_logic, parse_constraints

    coded = scm_from_dict(spec)
    with pytest.raises(InputError, match="categorical variable 'job'"):
        check_logic(coded, parse_constraints(["y += 1 * job"]))
    with pytest.raises(InputError, match="which is categorical"):
        check_logic(coded, parse_constraints(["if job -> 1 then y = 0"]))


def test_explain_never_offers_a_link_target(scm, models, files, capsys):
    """age actionable in the spec but set by a linkage: explain's groups and relaxations leave it alone."""
    from milp_recourse.diagnose.conflicts import person_groups

    spec = dict(SPEC, variables=[dict(v, actionability="actionable") if v["name"] == "age" else v
                                 for v in SPEC["variables"]])
    path = files["dir"] / "scm-age.yaml"
    path.write_text(yaml.safe_dump(spec))
    problem = RecourseProblem(scm_from_dict(spec), models["logreg"], dict(PERSON, income=3.0),
                              actionability=Actionability(actionable=("has_loan", "loan_amount"), logic=(RULE, LINK)))
    assert "fixed:age" not in {g.key for g in person_groups(problem)} and "age" not in {r.name for r in problem.rules}
    code = main(["explain", "--scm", str(path), "--classifier", files["clf"], "--individual",
                 json.dumps(dict(PERSON, income=3.0)), "--actionable", "has_loan,loan_amount", "--bounds",
                 "loan_amount=1:", "--constraint", RULE, "--constraint", LINK])
    out = capsys.readouterr().out
    assert code == 0 and "NO_RECOURSE" in out and "fixed:years_employed" in out and "fixed:age" not in out


@pytest.mark.parametrize("model", ["logreg", "tree"])
def test_squared_cost_matches_enumeration(scm, models, model):
    """p = 2 (outer approximation): the rule and the link still give the enumerated optimum."""
    from milp_recourse.problem.options import CostSpec

    logic, rules, links = CASES["both"]
    problem = RecourseProblem(scm, models[model], PERSON, actionability=Actionability(logic=logic),
                              preferences=Preferences(weights=WEIGHTS), cost=CostSpec(p=2))
    res = solve(problem)
    ref = _reference(scm, models[model], PERSON, rules, links, list(WEIGHTS), p=2)
    assert res.status is Status.OPTIMAL and res.verified and res.cost == pytest.approx(ref, abs=1e-6)


def test_spec_constraints_apply_to_everyone(scm, models, files, tmp_path, capsys):
    """`constraints:` in the SCM spec: the same optimum as passing them per person (= enumeration), round-trips
    through the spec dict, and combines with a person's own."""
    from milp_recourse.scm.spec import scm_to_dict

    spec = dict(SPEC, constraints=[RULE])
    with_spec = scm_from_dict(spec)
    assert scm_to_dict(with_spec)["constraints"] == [RULE] and scm_from_dict(scm_to_dict(with_spec)) == with_spec
    clf = models["logreg"]
    res = solve(_problem(with_spec, clf))
    ref = _reference(scm, clf, PERSON, CASES["rule"][1], [], list(WEIGHTS))
    assert res.status is Status.OPTIMAL and res.cost == pytest.approx(ref, abs=1e-6)
    both = solve(_problem(with_spec, clf, (LINK,)))
    ref = _reference(scm, clf, PERSON, CASES["rule"][1], CASES["link"][2], list(WEIGHTS))
    assert both.status is Status.OPTIMAL and both.cost == pytest.approx(ref, abs=1e-6)
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    args = _solve_args(files)
    args[args.index("--scm") + 1] = str(path)
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["cost"] == pytest.approx(res.cost, abs=1e-9)


@pytest.mark.parametrize("bad", [["if nope -> 0 then loan_amount = 0"], "if has_loan -> 0 then loan_amount = 0",
                                 [3], ["junk"]])
def test_bad_spec_constraints_exit_2(files, tmp_path, capsys, bad):
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(dict(SPEC, constraints=bad)))
    args = _solve_args(files)
    args[args.index("--scm") + 1] = str(path)
    assert main(args) == 2
    cap = capsys.readouterr()
    assert cap.out == "" and cap.err.startswith("error: ") and "constraint" in cap.err


@pytest.mark.parametrize("t0,expected", [(0.0, None), (1.0, 1.0)])
def test_a_link_keeps_its_target_inside_its_domain(t0, expected):
    """Binary roots a, t with `t += 1 * a`; the classifier favours a = 0. From a = 1, the only action do(a := 0)
    takes t to t0 - 1: from t0 = 0 that is -1, not a value of the binary t, so there is no recourse (it was
    OPTIMAL and 'verified' with t = -1, an outside fuzz); from t0 = 1 it is 0, cost 1. Reference: that one action,
    enumerated by hand; the re-check names the domain."""
    from milp_recourse.solver.verify import verify_action

    noise = {"dist": "bernoulli", "p": 0.5}
    spec = scm_from_dict({"name": "link-domain", "variables": [
        {"name": "a", "type": "binary", "domain": [0, 1], "actionability": "actionable", "equation": "u_a",
         "noise": {"name": "u_a", **noise}},
        {"name": "t", "type": "binary", "domain": [0, 1], "actionability": "immutable", "equation": "u_t",
         "noise": {"name": "u_t", **noise}}]})
    clf = LogisticRegression()
    clf.coef_, clf.intercept_ = np.array([[-4.0, 0.0]]), np.array([2.0])   # favourable iff a = 0
    clf.classes_, clf.n_features_in_ = np.array([0, 1]), 2
    problem = RecourseProblem(spec, clf, {"a": 1.0, "t": t0}, actionability=Actionability(logic=("t += 1 * a",)))
    res = solve(problem)
    ver = verify_action(problem, {"a": 0.0})
    if expected is None:
        assert res.status is Status.NO_RECOURSE, (res.status, dict(res.counterfactual))
        assert not ver.ok and "outside its domain [0, 1]" in ver.violations[0]
    else:
        assert res.status is Status.OPTIMAL and res.cost == pytest.approx(expected)
        assert res.counterfactual["t"] == pytest.approx(0.0) and ver.ok
