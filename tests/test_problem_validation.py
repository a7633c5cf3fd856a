"""Bad inputs to RecourseProblem / solve raise a named error before any work, naming the bad value.

SCM spec errors (cyclic, malformed, unknown parent or function, not monotone in the noise) are
covered in tests/test_scm_*.py, and classifier-only checks in tests/test_classifiers.py; here
the problem layer: the individual, constraints, preferences, cost, options and the backend.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier

import milp_recourse.solver.pipeline as exact
from milp_recourse import (Actionability, ClassifierError, CostSpec, InputError, Preferences, RecourseError,
                           RecourseProblem, SolveOptions, Status, load_scm, solve)
from milp_recourse.models.recipes import labelled_sample

PERSON = {"xs": 1.0, "x1": -2.0, "x2": -1.0, "x3": -1.5}


@pytest.fixture(scope="module")
def scm():
    return load_scm("chain")


@pytest.fixture(scope="module")
def data(scm):
    return labelled_sample(scm, 400, 0)


@pytest.fixture(scope="module")
def model(data):
    X, y = data
    return LogisticRegression().fit(X, y)


def test_the_person_is_denied(scm, model) -> None:
    """Sanity: the fixture person needs recourse, so a valid problem solves (the errors below are not noise)."""
    res = solve(RecourseProblem(scm, model, PERSON))
    assert res.status is Status.OPTIMAL and res.verified


@pytest.mark.parametrize("value,pattern", [
    (math.nan, r"Feature 'x2' of the individual is nan; expected a finite number"),
    (math.inf, r"Feature 'x2' of the individual is inf"),
    (-math.inf, r"Feature 'x2' of the individual is -inf"),
    (8.5, r"Feature 'x2' = 8.5 is outside its domain \[-8, 8\]"),
    ("abc", r"must be numbers.*'abc'"),
])
def test_bad_individual_values(scm, model, value, pattern) -> None:
    with pytest.raises(InputError, match=pattern):
        RecourseProblem(scm, model, {**PERSON, "x2": value})


def test_bad_individual_shapes(scm, model) -> None:
    with pytest.raises(InputError, match=r"lacks feature\(s\) x3"):
        RecourseProblem(scm, model, {k: v for k, v in PERSON.items() if k != "x3"})
    with pytest.raises(InputError, match=r"has 3 values; expected 4 \(xs, x1, x2, x3\)"):
        RecourseProblem(scm, model, [1.0, 0.0, 0.0])
    with pytest.raises(InputError, match=r"Feature 'xs' is binary but has the non-integral value 0.5"):
        RecourseProblem(scm, model, {**PERSON, "xs": 0.5})


def test_classifier_features_must_match_the_scm(scm, data) -> None:
    X, y = data
    renamed = LogisticRegression().fit(X.rename(columns={"x3": "income"}), y)
    with pytest.raises(ClassifierError, match=r"input feature\(s\) \['income'\] are not SCM variables"):
        RecourseProblem(scm, renamed, PERSON)
    three = LogisticRegression().fit(X[["x1", "x2", "x3"]].to_numpy(), y)   # no names, 3 columns for 4 variables
    with pytest.raises(ClassifierError, match=r"expects 3 input features but the SCM has 4"):
        RecourseProblem(scm, three, PERSON)


def test_classifier_column_order_is_respected(scm, data, model) -> None:
    """A model fitted on permuted, named columns reads them by name: same optimum as the SCM-ordered model."""
    X, y = data
    order = ["x3", "x1", "xs", "x2"]
    permuted = LogisticRegression().fit(X[order], y)
    a = solve(RecourseProblem(scm, model, PERSON))
    b = solve(RecourseProblem(scm, permuted, PERSON))
    assert b.status is Status.OPTIMAL and b.verified
    assert b.cost == pytest.approx(a.cost, rel=1e-5)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_unfitted_or_unsupported_classifier(scm, data) -> None:
    X, y = data
    with pytest.raises(ClassifierError, match="LogisticRegression is not fitted"):
        RecourseProblem(scm, LogisticRegression(), PERSON)
    with pytest.raises(ClassifierError, match=r"classes \[0, 1, 2\]; only binary"):
        RecourseProblem(scm, LogisticRegression().fit(X, np.arange(len(y)) % 3), PERSON)
    tanh = MLPClassifier((3,), activation="tanh", max_iter=20).fit(X, y)
    with pytest.raises(ClassifierError, match="activation='tanh' is not supported"):
        RecourseProblem(scm, tanh, PERSON)


@pytest.mark.parametrize("kwargs,pattern", [
    (dict(bounds={"zz": (0, 1)}), r"actionability name unknown feature\(s\) 'zz'; the SCM's features are xs, x1"),
    (dict(grids={"x9": (0.0, 1.0)}), r"unknown feature\(s\) 'x9'"),
    (dict(directions={"age": "up"}), r"unknown feature\(s\) 'age'"),
    (dict(actionable=("x1", "nope")), r"unknown feature\(s\) 'nope'"),
])
def test_constraint_on_unknown_feature(scm, model, kwargs, pattern) -> None:
    with pytest.raises(InputError, match=pattern):
        RecourseProblem(scm, model, PERSON, actionability=Actionability(**kwargs))


@pytest.mark.parametrize("kwargs,pattern", [
    (dict(bounds={"x1": (2.0, 1.0)}), r"Bounds for 'x1': lower bound 2.0 is above upper bound 1.0"),
    (dict(bounds={"x1": (math.nan, 1.0)}), r"lower bound for 'x1' must be a number or empty. Got nan"),
    (dict(directions={"x1": "sideways"}), r"Direction for 'x1' must be one of up, down. Got 'sideways'"),
    (dict(max_changes=-1), r"max_changes must be an integer >= 0. Got -1"),
    (dict(max_changes=1.5), r"max_changes must be an integer >= 0. Got 1.5"),
    (dict(grids={"x1": ()}), r"grid for 'x1' must be a non-empty list of finite numbers"),
    (dict(grids={"x1": (0.0, math.inf)}), r"grid for 'x1' must be a non-empty list of finite numbers"),
    (dict(actionable=("x1", "x1")), r"list a feature twice"),
])
def test_bad_hard_constraints(kwargs, pattern) -> None:
    with pytest.raises(InputError, match=pattern):
        Actionability(**kwargs)


def test_immutable_feature_made_actionable(scm, model) -> None:
    with pytest.raises(InputError, match=r"Feature\(s\) 'xs' are immutable in the SCM spec 'chain'"):
        RecourseProblem(scm, model, PERSON, actionability=Actionability(actionable=("x1", "xs")))


@pytest.mark.parametrize("build,pattern", [
    (lambda: Preferences(weights={"x1": -1.0}), r"weight for 'x1' must be a finite number >= 0. Got -1.0"),
    (lambda: Preferences(weights={"x1": math.nan}), r"weight for 'x1' must be a finite number >= 0. Got nan"),
    (lambda: Preferences(preferred_ranges={"x1": (3.0, 1.0)}), r"Preferred range for 'x1': lower 3.0 is above"),
    (lambda: Preferences(range_penalty=-1.0), r"range penalty must be a finite number >= 0. Got -1.0"),
    (lambda: Preferences.from_ranking(["x1", "x7"], ["x1", "x2"]), r"ranking names unknown feature\(s\) 'x7'"),
    (lambda: Preferences.from_ranking(["x1", "x1"], ["x1", "x2"]), r"lists a feature twice"),
    (lambda: Preferences.from_ranking(["x1"], ["x1"], "log"), r"Unknown ranking mapping 'log'"),
    (lambda: Preferences.from_scores({"x1": 0}, ["x1"]), r"score for 'x1' must be a finite number > 0. Got 0"),
    (lambda: Preferences.from_scores({"x1": 2}, ["x1"], "z"), r"Unknown score mapping 'z'"),
])
def test_bad_preferences(build, pattern) -> None:
    with pytest.raises(InputError, match=pattern):
        build()


def test_preferences_on_unknown_features_are_refused(scm, model) -> None:
    with pytest.raises(InputError, match=r"preference weights name unknown feature\(s\) 'x5'"):
        RecourseProblem(scm, model, PERSON, preferences=Preferences(weights={"x5": 1.0}))
    with pytest.raises(InputError, match=r"cost divisors name unknown feature\(s\) 'q'"):
        RecourseProblem(scm, model, PERSON, cost=CostSpec(divisors={"q": 1.0}))


@pytest.mark.parametrize("kwargs,pattern", [
    (dict(p=3), r"cost exponent p must be 1 or 2. Got 3"),
    (dict(divisors={"x1": 0.0}), r"divisor for 'x1' must be a finite number > 0. Got 0.0"),
    (dict(divisors={"x1": -2.0}), r"divisor for 'x1' must be a finite number > 0. Got -2.0"),
    (dict(scale=0.0), r"cost scale must be a finite number > 0. Got 0.0"),
    (dict(l0=-0.1), r"L0 weight must be a finite number >= 0. Got -0.1"),
])
def test_bad_cost(kwargs, pattern) -> None:
    with pytest.raises(InputError, match=pattern):
        CostSpec(**kwargs)


@pytest.mark.parametrize("kwargs,pattern", [
    (dict(threshold=1.0), r"'threshold' option must be a float in \(0, 1\). Got 1.0"),
    (dict(threshold=0.0), r"'threshold' option must be a float in \(0, 1\). Got 0.0"),
    (dict(threshold="0.5"), r"'threshold' option must be a float in \(0, 1\). Got '0.5'"),
    (dict(time_limit=-1), r"'time_limit' option must be a float > 0. Got -1"),
    (dict(time_limit=0), r"'time_limit' option must be a float > 0. Got 0"),
    (dict(time_limit=math.inf), r"'time_limit' option must be a float > 0. Got inf"),
    (dict(mip_gap=1.0), r"'mip_gap' option must be a float in \[0, 1\). Got 1.0"),
    (dict(margin=-1e-3), r"'margin' option must be a float >= 0"),
    (dict(threads=0), r"'threads' option must be an integer >= 1. Got 0"),
])
def test_bad_options(kwargs, pattern) -> None:
    with pytest.raises(InputError, match=pattern):
        SolveOptions(**kwargs)


def test_unknown_backend_fails_before_any_work(scm, model, monkeypatch) -> None:
    def no_work(*args, **kwargs):
        raise AssertionError("the heuristic ran before the backend was checked")

    monkeypatch.setattr(exact, "random_search", no_work)
    problem = RecourseProblem(scm, model, PERSON, options=SolveOptions(backend="gurobi-magic"))
    with pytest.raises(InputError, match=r"Unknown backend 'gurobi-magic'. Known backends: .*highs"):
        solve(problem)


def test_errors_are_recourse_errors_and_builtins() -> None:
    """Callers can catch RecourseError or the matching builtin (ValueError)."""
    for exc in (InputError, ClassifierError):
        assert issubclass(exc, RecourseError) and issubclass(exc, ValueError)
    with pytest.raises(ValueError):
        CostSpec(p=0)


def test_pandas_series_individual_with_extra_columns(scm, model) -> None:
    """A DataFrame row with extra columns (ids, labels) is accepted; the SCM's features are read by name."""
    row = pd.Series({**PERSON, "id": 17, "Y": 0})
    problem = RecourseProblem(scm, model, row)
    assert problem.factual == PERSON


# ---- declarative validation (problem/validate.py): numpy scalars yes, bools no, strings are not sequences
@pytest.mark.parametrize("build,pattern", [
    (lambda: SolveOptions(time_limit=True), r"^The 'time_limit' option must be a float > 0. Got True.$"),
    (lambda: SolveOptions(threshold=np.bool_(True)), r"'threshold' option must be a float in \(0, 1\). Got True"),
    (lambda: SolveOptions(threads=True), r"'threads' option must be an integer >= 1. Got True"),
    (lambda: SolveOptions(threads=2.0), r"'threads' option must be an integer >= 1. Got 2.0"),
    (lambda: SolveOptions(box_search=1), r"'box_search' option must be true or false. Got 1"),
    (lambda: SolveOptions(backend=3), r"'backend' option must be a non-empty string. Got 3"),
    (lambda: SolveOptions(seed=-1), r"'seed' option must be an integer >= 0. Got -1"),
    (lambda: SolveOptions(split_margin=-0.5), r"'split_margin' option must be a float >= 0. Got -0.5"),
    (lambda: SolveOptions(mip_gap=np.float32(np.nan)), r"'mip_gap' option must be a float in \[0, 1\). Got nan"),
    (lambda: Actionability(max_changes=True), r"max_changes must be an integer >= 0. Got True"),
    (lambda: CostSpec(p=True), r"cost exponent p must be 1 or 2. Got True"),
    (lambda: CostSpec(p=2.0), r"cost exponent p must be 1 or 2. Got 2.0"),
    (lambda: CostSpec(divisors={"x1": True}), r"divisor for 'x1' must be a finite number > 0. Got True"),
    (lambda: CostSpec(scale=False), r"cost scale must be a finite number > 0. Got False"),
    (lambda: Preferences(weights={"x1": True}), r"weight for 'x1' must be a finite number >= 0. Got True"),
    (lambda: Preferences.from_scores({"x1": True}, ["x1"]), r"score for 'x1' must be a finite number > 0. Got True"),
])
def test_bools_are_not_numbers(build, pattern) -> None:
    with pytest.raises(InputError, match=pattern):
        build()


@pytest.mark.parametrize("build,pattern", [
    (lambda: Actionability(actionable="IS"), r"actionable features must be a list of feature names or None. "
                                             r"Got 'IS'"),
    (lambda: Actionability(actionable=("x1", 2)), r"must be a list of feature names or None. Got \('x1', 2\)"),
    (lambda: Actionability(grids={"x1": "123"}), r"grid for 'x1' must be a non-empty list of finite numbers. Got '123'"),
    (lambda: Actionability(grids={"x1": (0.0, True)}), r"grid for 'x1' must be a non-empty list of finite numbers"),
    (lambda: Actionability(bounds={"x1": "05"}), r"Bounds for 'x1' must be a \(low, high\) pair of numbers"),
    (lambda: Actionability(bounds={"x1": (0.0, "5")}), r"upper bound for 'x1' must be a number or empty. Got '5'"),
    (lambda: Actionability(bounds=[("x1", (0.0, 1.0))]), r"'bounds' constraint must be a mapping from feature names"),
    (lambda: Actionability(directions={"x1": ["up"]}), r"Direction for 'x1' must be one of up, down. Got \['up'\]"),
    (lambda: Actionability(bounds={1: (0.0, 1.0)}), r"must be keyed by feature names \(strings\). Got key\(s\) \[1\]"),
    (lambda: Preferences(preferred_ranges={"x1": "ab"}), r"Preferred range for 'x1' must be a \(low, high\) pair"),
    (lambda: Preferences(weights=[1.0, 2.0]), r"The weights must be a mapping from feature names to a finite number"),
    (lambda: Preferences.from_ranking("x1x2", ["x1", "x2"]), r"lists of feature names, not one string. Got 'x1x2'"),
])
def test_strings_are_not_sequences_and_shapes_are_checked(build, pattern) -> None:
    with pytest.raises(InputError, match=pattern):
        build()


def test_numpy_scalars_are_accepted_and_stored_as_python_numbers(scm, model) -> None:
    opts = SolveOptions(threads=np.int64(1), time_limit=np.float32(20.0), threshold=np.float64(0.5),
                        tighten_passes=np.int32(2), box_search=np.bool_(True), seed=np.uint8(3))
    assert opts == SolveOptions(threads=1, time_limit=20.0, threshold=0.5, tighten_passes=2, seed=3)
    assert type(opts.threads) is int and type(opts.time_limit) is float and type(opts.box_search) is bool
    cost32 = CostSpec(p=np.int64(2), divisors={"x1": np.float32(2.0), "x3": np.float32(0.5)}, scale=np.float32(1.5))
    assert type(cost32.p) is int and all(type(v) is float for v in cost32.divisors.values())
    act = Actionability(actionable=np.array(["x1", "x3"]), max_changes=np.int64(2),
                        grids={"x3": np.linspace(-3, 3, 13)}, bounds={"x1": (np.float32(-4), None)})
    assert act.actionable == ("x1", "x3") and act.max_changes == 2 and len(act.grids["x3"]) == 13
    # the same problem with Python numbers gives the same answer (an independent solve, not a re-read)
    a = solve(RecourseProblem(scm, model, PERSON, actionability=act, cost=cost32, options=opts))
    b = solve(RecourseProblem(scm, model, PERSON, cost=CostSpec(p=2, divisors={"x1": 2.0, "x3": 0.5}, scale=1.5),
                              actionability=Actionability(actionable=("x1", "x3"), max_changes=2,
                                                          grids={"x3": tuple(np.linspace(-3, 3, 13))},
                                                          bounds={"x1": (-4.0, None)}),
                              options=SolveOptions(time_limit=20.0, tighten_passes=2, seed=3)))
    assert a.status is b.status is Status.OPTIMAL
    assert a.cost == pytest.approx(b.cost, rel=1e-9) and dict(a.action) == pytest.approx(dict(b.action), rel=1e-9)


def test_inputs_are_copied_not_shared() -> None:
    """Changing the caller's dict after construction does not change a frozen option object."""
    divisors = {"x1": 2.0}
    cost = CostSpec(divisors=divisors)
    divisors["x1"] = -1.0
    assert cost.divisor("x1") == 2.0
    weights = {"x1": 3.0}
    prefs = Preferences(weights=weights)
    weights["x1"] = 0.0
    assert prefs.weight("x1") == 3.0
