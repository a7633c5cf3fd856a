"""Pipelines with a ColumnTransformer (StandardScaler / MinMaxScaler / passthrough / drop over numeric columns,
selected by name, position, slice or mask) fed raw DataFrames with their own column names.

References: ColumnTransformer.transform itself (the encoded affine map must reproduce it), the pipelines' own
scores (decision_function / predict_proba / the libraries' margins), a linear program per intervention set
for the linear case (instances/oracles.py) and grid enumeration for trees.
"""

from __future__ import annotations

import importlib.util
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, MinMaxScaler, OneHotEncoder, OrdinalEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier

from milp_recourse import (Actionability, ClassifierError, CostSpec, RecourseProblem, SolveOptions, Status,
                           load_scm, solve)
from milp_recourse.backends import SolverParams, Termination, solve_mip
from milp_recourse.bounds.score_bounds import score_interval
from milp_recourse.encode.classifier_registry import encode_classifier
from milp_recourse.encode.scalers import transform_inputs
from milp_recourse.mip.ir import Affine, IRBuilder
from milp_recourse.models.classifiers import classifier_features, reference_score, validate_classifier
from milp_recourse.models.recipes import labelled_sample
from milp_recourse.scm.from_data import independent_scm
from milp_recourse.solver.verify import verify_action

pytestmark = pytest.mark.usefixtures("one_openmp_thread")

from instance_oracles import oracles  # noqa: E402  (instances/oracles.py)

NAMES = ["co-applicant", "hours per week", "x 3", "x4"]
TIGHT = SolverParams(time_limit=30.0, feasibility_tol=1e-9)


def _frame_rows(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, 4)) * [1.0, 10.0, 3.0, 0.5] + [0.0, 40.0, 1.0, -2.0]


def _frame() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(1)
    X = _frame_rows(300, 0)
    y = (X[:, 0] + 0.1 * (X[:, 1] - 40) - 0.3 * X[:, 2] + 0.3 * rng.normal(size=300) > 0).astype(int)
    return pd.DataFrame(X, columns=NAMES), y


TRANSFORMERS = {
    "names-reordered": lambda: ColumnTransformer([("std", StandardScaler(), ["hours per week", "co-applicant"]),
                                                  ("mm", MinMaxScaler(), [3]), ("keep", "passthrough", ["x 3"])]),
    "label-slice-drop": lambda: ColumnTransformer([("std", StandardScaler(), slice("co-applicant", "x 3")),
                                                   ("gone", "drop", ["x4"])]),
    "mask-remainder": lambda: ColumnTransformer([("mm", MinMaxScaler(), [True, False, True, False])],
                                                remainder="passthrough"),
    "remainder-scaler": lambda: ColumnTransformer([("keep", "passthrough", [1])],
                                                  remainder=StandardScaler(with_mean=False)),
    "nested-callable": lambda: ColumnTransformer([
        ("p", Pipeline([("s", StandardScaler()), ("m", MinMaxScaler())]), lambda df: ["x 3", "x4"]),
        ("s", StandardScaler(), slice(0, 2))]),
}
CLASSIFIERS = {
    "logreg": lambda: LogisticRegression(),
    "tree": lambda: DecisionTreeClassifier(max_depth=4, random_state=0),
    "gbt": lambda: GradientBoostingClassifier(n_estimators=10, max_depth=2, random_state=0),
    "hgb": lambda: HistGradientBoostingClassifier(max_iter=10, max_depth=3, random_state=0),
    "mlp": lambda: MLPClassifier(hidden_layer_sizes=(6,), max_iter=300, random_state=0),
}


def _library(name: str):
    if name == "xgb" and importlib.util.find_spec("xgboost"):
        import xgboost as xgb
        return xgb.XGBClassifier(n_estimators=10, max_depth=3, random_state=0)
    if name == "lgb" and importlib.util.find_spec("lightgbm"):
        import lightgbm as lgb
        return lgb.LGBMClassifier(n_estimators=10, num_leaves=6, verbose=-1, random_state=0)
    pytest.skip(f"{name} is not installed")


def _pipeline(ct: str, clf: str, df: pd.DataFrame, y: np.ndarray) -> Pipeline:
    est = CLASSIFIERS[clf]() if clf in CLASSIFIERS else _library(clf)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return Pipeline([("prep", TRANSFORMERS[ct]()), ("clf", est)]).fit(df, y)


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray]:
    return _frame()


@pytest.mark.parametrize("ct", list(TRANSFORMERS))
def test_affine_map_reproduces_transform(ct, data):
    df, y = data
    fitted = TRANSFORMERS[ct]().fit(df, y)
    rows = df.to_numpy(float)[:15]
    want = np.asarray(fitted.transform(df.iloc[:15]), float)
    for row, expected in zip(rows, want):   # constants: sklearn's own operations, bit for bit
        got = transform_inputs(fitted, [Affine.constant(float(v)) for v in row])
        assert [e.const for e in got] == expected.tolist()
    b = IRBuilder()                         # variables: the same map as affine expressions
    cols = [b.add_var(f"x{i}", -100.0, 100.0) for i in range(4)]
    exprs = transform_inputs(fitted, [Affine.column(j) for j in cols])
    for row, expected in zip(rows, want):
        x = np.zeros(len(cols))
        x[cols] = row
        assert np.allclose([e.value(x) for e in exprs], expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("clf", [*CLASSIFIERS, "xgb", "lgb"])
@pytest.mark.parametrize("ct", ["names-reordered", "nested-callable"])
def test_encoded_pipeline_matches_its_own_score(ct, clf, data):
    df, y = data
    model = _pipeline(ct, clf, df, y)
    validate_classifier(model)
    assert classifier_features(model, ["other", *NAMES[::-1]]) == tuple(NAMES)   # the raw names, hyphens, spaces
    X = df.to_numpy(float)
    lo, hi = X.min(axis=0) - 1.0, X.max(axis=0) + 1.0
    b = IRBuilder()
    cols = [b.add_var(f"x{i}", lo[i], hi[i]) for i in range(4)]
    enc = encode_classifier(model, b, [Affine.column(j) for j in cols])
    m = b.build()
    # training rows as constants (splits decided by the library's exact rule; XGBoost and HistGB thresholds can
    # be training values, which the MILP's split bands exclude for variable inputs), fresh rows as variables
    fresh = _frame_rows(10, seed=5)
    for rows, fixed in ((X[:10], False), (fresh, True)):
        ref, kind = reference_score(model, rows)
        assert enc.kind == kind
        for i, row in enumerate(rows):
            if fixed:
                lb, ub = m.col_lb.copy(), m.col_ub.copy()
                lb[cols], ub[cols] = row, row
                sol = solve_mip(m.with_bounds(lb, ub), TIGHT)
                assert sol.termination is Termination.OPTIMAL
                assert abs(enc.score.value(sol.x) - ref[i]) <= 1e-6 * max(1.0, abs(ref[i])), (ct, clf, i)
            const = encode_classifier(model, IRBuilder(), [float(v) for v in row])
            assert abs(const.score.const - ref[i]) <= 1e-6 * max(1.0, abs(ref[i])), (ct, clf, i)
    box = list(zip(X[0] - 2.0, X[0] + 2.0))
    iv = score_interval(model, box)
    if iv is not None:   # sound: every point of the box scores inside the interval
        pts = np.random.default_rng(2).uniform([b[0] for b in box], [b[1] for b in box], size=(500, 4))
        s = reference_score(model, pts)[0]
        assert iv[0] - 1e-9 <= s.min() and s.max() <= iv[1] + 1e-9


@pytest.mark.parametrize("step,match", [
    (OneHotEncoder(handle_unknown="ignore"), "'prep'.*'cat' is OneHotEncoder; categorical columns are not supported"),
    (OrdinalEncoder(), "'prep'.*'cat' is OrdinalEncoder; categorical columns are not supported yet"),
    (FunctionTransformer(np.exp), "'prep'.*'cat' is FunctionTransformer; only StandardScaler"),
    (MinMaxScaler(clip=True), "'cat' is MinMaxScaler\\(clip=True\\)"),
    (Pipeline([("s", StandardScaler()), ("o", OneHotEncoder())]), "'cat' is OneHotEncoder"),
])
def test_unsupported_parts_are_refused_by_name(step, match, data):
    df, y = data
    df = df.assign(**{"x4": np.round(df["x4"] * 2)})
    ct = ColumnTransformer([("num", StandardScaler(), [0, 1]), ("cat", step, ["x4"])])
    model = Pipeline([("prep", ct), ("clf", LogisticRegression())]).fit(df, y)
    with pytest.raises(ClassifierError, match=match):
        validate_classifier(model)
    with pytest.raises(ClassifierError, match=match):
        solve(RecourseProblem(independent_scm(df, "t"), model, df.iloc[0]))


def test_recourse_on_raw_names_matches_the_linear_program(data):
    """Independent SCM over the raw columns (names kept), a scaled logistic regression: the optimum equals an LP
    per intervention set (p = 1)."""
    df, y = data
    model = _pipeline("names-reordered", "logreg", df, y)
    scm = independent_scm(df, "raw", immutable=["x4"])
    X = df.to_numpy(float)
    x = df.iloc[int(np.flatnonzero(model.predict(df) == 0)[0])]
    problem = RecourseProblem(scm, model, x, cost=CostSpec(p=1, divisors={n: float(df[n].std()) for n in NAMES}))
    res = solve(problem)
    assert res.status is Status.OPTIMAL and res.verified, res.message
    ref = oracles.linear_program(problem)
    assert res.cost == pytest.approx(ref.cost, rel=1e-6, abs=1e-9)
    cf = pd.DataFrame([[res.counterfactual[n] for n in NAMES]], columns=NAMES)
    assert model.predict(cf)[0] == 1 and set(res.action) <= {"co-applicant", "hours per week", "x 3"}
    assert X.shape[1] == 4


@pytest.mark.parametrize("clf", ["tree", "xgb"])
def test_recourse_on_the_chain_scm_with_a_column_transformer(clf):
    """chain SCM: xs dropped, x1/x2 standardized by name, x3 passed through; verified by the pipeline's own
    predict and no point of a fine grid is cheaper."""
    scm = load_scm("chain")
    X, y = labelled_sample(scm, 600, 0)
    ct = ColumnTransformer([("std", StandardScaler(), ["x2", "x1"]), ("keep", "passthrough", ["x3"]),
                            ("gone", "drop", ["xs"])])
    est = DecisionTreeClassifier(max_depth=4, random_state=0) if clf == "tree" else _library(clf)
    model = Pipeline([("prep", ct), ("clf", est)]).fit(X, y)
    Xs = scm.sample(200, seed=4)[list(scm.names)]
    x = Xs.iloc[int(np.flatnonzero(model.predict(Xs) == 0)[0])]
    act = Actionability(actionable=("x1", "x3"), bounds={"x1": (-6.0, 6.0), "x3": (-6.0, 6.0)})
    problem = RecourseProblem(scm, model, x, actionability=act, options=SolveOptions(mip_gap=1e-9))
    res = solve(problem)
    assert res.status is Status.OPTIMAL and res.verified, res.message
    assert verify_action(problem, res.action).ok
    cf = pd.DataFrame([[res.counterfactual[n] for n in scm.names]], columns=list(scm.names))
    assert model.predict(cf)[0] == 1
    ref = oracles.enumerate_grid(problem, grids={f: tuple(np.linspace(-6.0, 6.0, 241)) for f in ("x1", "x3")})
    assert ref.status == "OPTIMAL" and res.cost <= ref.cost + 1e-6
