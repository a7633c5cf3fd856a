"""Classifiers reading categorical columns (level strings) through OneHotEncoder / OrdinalEncoder, fed codes.

References: the fitted Pipeline itself on the DataFrame of level strings (predict_proba / decision_function),
at every code combination of a few rows; ColumnTransformer.transform for the adapter's expansion + affine map.
"""

from __future__ import annotations

import importlib.util
import itertools
import pickle
import warnings
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler
from sklearn.svm import LinearSVC
from sklearn.tree import DecisionTreeClassifier

from milp_recourse.backends import SolverParams, Termination, solve_mip
from milp_recourse.bounds.relu_bounds import relu_forward
from milp_recourse.bounds.score_bounds import score_interval
from milp_recourse.encode.classifier_registry import encode_classifier
from milp_recourse.errors import ClassifierError, InputError
from milp_recourse.mip.ir import Affine, IRBuilder
from milp_recourse.models.adapter import relu_layers, split_model, split_pipeline
from milp_recourse.models.categorical_input import LeveledModel, check_leveled, with_levels
from milp_recourse.models.classifiers import classifier_features, favourable, reference_score, validate_classifier
from milp_recourse.models.tree_scoring import fast_tree_score

pytestmark = pytest.mark.usefixtures("one_openmp_thread")

LEVELS = {"occupation": ("clerk", "manager", "sales", "tech"), "sex": ("f", "m"),
          "edu-level": ("low", "mid", "high"), "marital status": ("married", "single")}
COLUMNS = ["occupation", "hours-per-week", "sex", "edu-level", "capital gain", "marital status"]
CAT = [c for c in COLUMNS if c in LEVELS]
TIGHT = SolverParams(time_limit=30.0, feasibility_tol=1e-9)


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"occupation": rng.choice(LEVELS["occupation"], n), "hours-per-week": rng.normal(40, 10, n),
                         "sex": rng.choice(LEVELS["sex"], n), "edu-level": rng.choice(LEVELS["edu-level"], n),
                         "capital gain": rng.exponential(2.0, n),
                         "marital status": rng.choice(LEVELS["marital status"], n)},
                        columns=COLUMNS)


def _labels(df: pd.DataFrame, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    edu = df["edu-level"].map({"low": 0, "mid": 1, "high": 2})
    z = (0.08 * (df["hours-per-week"] - 40) + 0.9 * edu - 1.0 * (df["occupation"] == "clerk")
         + 0.7 * (df["sex"] == "m") + 0.3 * df["capital gain"] - 0.5 * (df["marital status"] == "single") - 0.6)
    return (z + 0.5 * rng.normal(size=len(df)) > 0).astype(int).to_numpy()


def _codes(df: pd.DataFrame, names) -> np.ndarray:
    return np.column_stack([df[c].map({v: k for k, v in enumerate(LEVELS[c])}).to_numpy(float) if c in LEVELS
                            else df[c].to_numpy(float) for c in names])


TRANSFORMERS = {   # the brief's transformer, and variants of drop / unknown levels / learned orders / infrequent
    "brief": lambda: ColumnTransformer([
        ("cat", OneHotEncoder(handle_unknown="ignore"), ["occupation", "sex"]),
        ("ord", OrdinalEncoder(categories=[["low", "mid", "high"]]), ["edu-level"]),
        ("num", StandardScaler(), ["hours-per-week", "capital gain"]),
        ("ms", OneHotEncoder(drop="if_binary", sparse_output=False), ["marital status"])]),
    "drop-learned": lambda: ColumnTransformer([
        ("cat", OneHotEncoder(drop="first", sparse_output=False), ["sex", "occupation"]),
        ("ord", Pipeline([("o", OrdinalEncoder()), ("s", StandardScaler())]), ["edu-level"]),   # alphabetical order
        ("ms", OneHotEncoder(drop=["single"]), ["marital status"])],
        remainder=StandardScaler()),
    "infrequent": lambda: ColumnTransformer([
        ("cat", OneHotEncoder(max_categories=3, handle_unknown="infrequent_if_exist", sparse_output=False),
         ["occupation"]),                                                               # 2 levels grouped
        ("ord", OrdinalEncoder(categories=[["high", "mid", "low"]]), ["edu-level"]),   # reversed: affine in the code
        ("sex", OneHotEncoder(categories=[["m"]], handle_unknown="ignore"), ["sex"]),   # level 'f' unknown
        ("ms", OrdinalEncoder(categories=[["single"]], handle_unknown="use_encoded_value", unknown_value=-1),
         ["marital status"]),                                                           # 'married' -> -1
        ("keep", "passthrough", ["hours-per-week", "capital gain"])]),
}
CLASSIFIERS = {
    "logreg": lambda: LogisticRegression(max_iter=500),
    "svm": lambda: LinearSVC(),
    "tree": lambda: DecisionTreeClassifier(max_depth=4, random_state=0),
    "forest": lambda: RandomForestClassifier(n_estimators=8, max_depth=4, random_state=0),
    "gbt": lambda: GradientBoostingClassifier(n_estimators=8, max_depth=2, random_state=0),
    "hgb": lambda: HistGradientBoostingClassifier(max_iter=8, max_depth=3, random_state=0),
    "mlp": lambda: MLPClassifier(hidden_layer_sizes=(6,), max_iter=300, random_state=0),
}


def _library(name: str):
    if name == "xgb" and importlib.util.find_spec("xgboost"):
        import xgboost as xgb
        return xgb.XGBClassifier(n_estimators=8, max_depth=3, random_state=0, n_jobs=1)
    if name == "lgb" and importlib.util.find_spec("lightgbm"):
        import lightgbm as lgb
        return lgb.LGBMClassifier(n_estimators=8, num_leaves=6, min_child_samples=5, verbose=-1, random_state=0,
                                  n_jobs=1)
    pytest.skip(f"{name} is not installed")


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray]:
    df = _frame(400, 0)
    return df, _labels(df)


def _fit(ct: str, clf: str, df: pd.DataFrame, y: np.ndarray) -> Pipeline:
    est = CLASSIFIERS[clf]() if clf in CLASSIFIERS else _library(clf)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return Pipeline([("prep", TRANSFORMERS[ct]()), ("clf", est)]).fit(df, y)


def _combos(rows: pd.DataFrame) -> pd.DataFrame:
    """Every code combination of the categorical columns on each row (numeric columns kept)."""
    out = []
    for _, row in rows.iterrows():
        for combo in itertools.product(*(LEVELS[c] for c in CAT)):
            r = row.copy()
            r[CAT] = list(combo)
            out.append(r)
    return pd.DataFrame(out, columns=COLUMNS).reset_index(drop=True)


def _own_score(pipe: Pipeline, frame: pd.DataFrame, kind: str) -> tuple[np.ndarray, float]:
    """The pipeline's own score of classes_[1] on level strings (decision_function, or predict_proba) and the
    tolerance of a logit compared in probability space (XGBoost's probabilities are float32)."""
    if kind == "decision" or (kind == "logit" and hasattr(pipe, "decision_function")):
        return np.asarray(pipe.decision_function(frame), float), 0.0
    p = np.asarray(pipe.predict_proba(frame))
    return p[:, 1].astype(float), (1e-9 if p.dtype == np.float64 else 1e-6)


def _same(milp: float, own: float, kind: str, proba_tol: float) -> bool:
    if kind == "logit" and proba_tol:   # compare in probability space (the pipeline's own output)
        return abs(expit(milp) - own) <= proba_tol
    return abs(milp - own) <= 1e-6 * max(1.0, abs(own))


# Every classifier after the brief's transformer; the variants with a few. XGBoost after 'drop-learned' reads
# StandardScaler'd codes, data values that it cuts at their float32 rounding (the encoding writes them so).
PAIRS = ([("brief", c) for c in [*CLASSIFIERS, "xgb", "lgb"]]
         + [("drop-learned", c) for c in ("logreg", "svm", "tree", "forest", "gbt", "hgb", "mlp", "xgb", "lgb")]
         + [("infrequent", c) for c in ("logreg", "tree", "hgb", "mlp", "xgb")])


@pytest.mark.parametrize("ct,clf", PAIRS)
def test_codes_score_like_the_pipeline_on_level_strings(ct, clf, data):
    df, y = data
    pipe = _fit(ct, clf, df, y)
    model = with_levels(pipe, LEVELS)
    assert isinstance(model, LeveledModel) and with_levels(model, LEVELS) is model   # idempotent
    validate_classifier(model)
    names = classifier_features(model, ["other", *COLUMNS[::-1]])
    assert names == tuple(pipe.feature_names_in_)   # hyphens and spaces kept
    frame = _combos(_frame(2, seed=7))              # fresh numeric values, every level combination
    X = _codes(frame, names)
    # (a) the wrapper on codes == the pipeline on level strings
    if hasattr(pipe, "predict_proba"):
        assert np.array_equal(model.predict_proba(X), pipe.predict_proba(frame))
    assert np.array_equal(model.predict(X), pipe.predict(frame))
    ref, kind = reference_score(model, X)
    own, has_decision = _own_score(pipe, frame, kind)
    assert all(_same(r, o, kind, has_decision) for r, o in zip(ref, own))
    assert np.array_equal(favourable(model, X), pipe.predict(frame) == pipe.classes_[1])
    # (b) the MILP: constant inputs, then integer code variables fixed by their bounds (numeric ones too)
    b = IRBuilder()
    cols = [b.add_var(n, 0.0, len(LEVELS[n]) - 1, integer=True) if n in LEVELS else b.add_var(n, -50.0, 150.0)
            for n in names]
    enc = encode_classifier(model, b, [Affine.column(j) for j in cols])
    assert enc.kind == kind
    m = b.build()
    assert m.n_integer >= len(CAT)
    for i, row in enumerate(X):
        const = encode_classifier(model, IRBuilder(), [float(v) for v in row])
        assert const.score.is_constant and _same(const.score.const, own[i], kind, has_decision), (i, ct, clf)
        if i % 3:                                     # every third combination as a solved MILP (speed)
            continue
        lb, ub = m.col_lb.copy(), m.col_ub.copy()
        lb[cols], ub[cols] = row, row
        sol = solve_mip(m.with_bounds(lb, ub), TIGHT)
        assert sol.termination is Termination.OPTIMAL, (i, ct, clf)
        assert _same(enc.score.value(sol.x), own[i], kind, has_decision), (i, ct, clf, enc.score.value(sol.x), own[i])
    # codes free (numeric inputs fixed): the MILP's best score is the best over every level combination
    per_row = len(X) // 2
    for r in range(2):
        lb, ub = m.col_lb.copy(), m.col_ub.copy()
        for k, n in enumerate(names):
            if n not in LEVELS:
                lb[cols[k]] = ub[cols[k]] = X[r * per_row, k]
        c = np.zeros(m.n_cols)
        for j, coef in enc.score.terms.items():
            c[j] = -coef
        sol = solve_mip(replace(m.with_bounds(lb, ub), c=c, offset=-enc.score.const), TIGHT)
        assert sol.termination is Termination.OPTIMAL
        best = own[r * per_row:(r + 1) * per_row].max()
        assert _same(enc.score.value(sol.x), best, kind, has_decision), (r, ct, clf, enc.score.value(sol.x), best)


@pytest.mark.parametrize("ct,clf", [("brief", c) for c in ("logreg", "svm", "tree", "forest", "gbt", "mlp")]
                         + [(t, c) for t in ("drop-learned", "infrequent") for c in ("logreg", "forest", "mlp")])
def test_numpy_consumers_read_codes_exactly(ct, clf, data):
    """(c) the adapter's expansion + affine map, the ReLU layers, the stacked trees and the score intervals."""
    df, y = data
    pipe = _fit(ct, clf, df, y)
    model = with_levels(pipe, LEVELS)
    names = list(model.feature_names_in_)
    frame = _combos(_frame(2, seed=11))
    X = _codes(frame, names)
    pre, final, ok = split_model(model, len(names))
    assert ok and final is pipe.steps[-1][1]
    want = np.asarray(pipe[:-1].transform(frame), float)
    assert np.allclose(pre.apply(X), want, rtol=1e-12, atol=1e-12)
    ref, kind = reference_score(model, X)
    layers = relu_layers(model)
    assert (layers is not None) == (clf == "mlp")
    if layers is not None:
        assert np.allclose(relu_forward(layers, X), ref, rtol=1e-9, atol=1e-9)
        flipped = relu_layers(model, target_class=pipe.classes_[0])
        assert np.allclose(relu_forward(flipped, X), -ref, rtol=1e-9, atol=1e-9)
    fast = fast_tree_score(model, 1, X)
    assert (fast is not None) == (clf in ("tree", "forest"))
    if fast is not None:
        assert np.allclose(fast, ref, rtol=0, atol=1e-12)
    for row, r in zip(X[:6], ref[:6]):               # a point box: indicators exactly 0 / 1
        iv = score_interval(model, list(zip(row, row)))
        assert iv[0] - 1e-9 <= r <= iv[1] + 1e-9
        if kind != "logit" or clf != "mlp":          # interval arithmetic is exact on a point (not through ReLUs)
            assert iv[1] - iv[0] <= 1e-9 * max(1.0, abs(r))
    lo = np.array([0.0 if n in LEVELS else X[:, k].min() - 5 for k, n in enumerate(names)])
    hi = np.array([len(LEVELS[n]) - 1.0 if n in LEVELS else X[:, k].max() + 5 for k, n in enumerate(names)])
    iv = score_interval(model, list(zip(lo, hi)))
    pts = np.random.default_rng(3).uniform(lo, hi, size=(300, len(names)))
    for k, n in enumerate(names):
        if n in LEVELS:
            pts[:, k] = np.round(pts[:, k])
    s = reference_score(model, pts)[0]
    assert iv[0] - 1e-9 <= s.min() and s.max() <= iv[1] + 1e-9


def test_with_levels_leaves_models_on_numbers_alone(data):
    df, y = data
    X = _codes(df, COLUMNS)
    on_codes = Pipeline([("s", StandardScaler()), ("clf", LogisticRegression())]).fit(
        pd.DataFrame(X, columns=COLUMNS), y)
    assert with_levels(on_codes, LEVELS) is on_codes
    plain = LogisticRegression().fit(X, y)          # no feature names: read by position, as numbers
    assert with_levels(plain, LEVELS) is plain
    pipe = _fit("brief", "logreg", df, y)
    assert with_levels(pipe, {}) is pipe            # no categorical SCM variables
    wrapped = with_levels(pipe, LEVELS)
    assert with_levels(wrapped, {}) is pipe         # fewer levels: unwrapped again
    copy = pickle.loads(pickle.dumps(wrapped))      # batch engines ship the classifier to workers
    rows = _codes(df.iloc[:20], list(wrapped.feature_names_in_))
    assert np.array_equal(copy.predict_proba(rows), pipe.predict_proba(df.iloc[:20]))
    svm = with_levels(_fit("brief", "svm", df, y), LEVELS)
    assert not hasattr(svm, "predict_proba") and hasattr(svm, "decision_function")
    infrequent = _fit("infrequent", "logreg", df, y).named_steps["prep"].named_transformers_["cat"]
    assert infrequent.infrequent_categories_[0] is not None and len(infrequent.infrequent_categories_[0]) == 2


def _bad(ct: ColumnTransformer, df: pd.DataFrame, y: np.ndarray, levels=LEVELS, clf=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe = Pipeline([("prep", ct), ("clf", clf or LogisticRegression())]).fit(df, y)
    return lambda: with_levels(pipe, levels)


def test_bad_encoders_are_refused_by_column_and_level(data):
    """(d) every refusal names the column, the level and what is expected."""
    df, y = data
    rest = [("num", StandardScaler(), ["hours-per-week"])]
    no_tech = df[df["occupation"] != "tech"]
    strict = ColumnTransformer([("cat", OneHotEncoder(), ["occupation"]), *rest])
    with pytest.raises(ClassifierError, match="'occupation' does not know level 'tech'.*handle_unknown='error'"):
        _bad(strict, no_tech, y[no_tech.index])()
    strict_ord = ColumnTransformer([("o", OrdinalEncoder(), ["occupation"]), *rest])
    with pytest.raises(ClassifierError, match="OrdinalEncoder of column 'occupation' does not know level 'tech'"):
        _bad(strict_ord, no_tech, y[no_tech.index])()
    nan_ord = ColumnTransformer([("o", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan),
                                  ["occupation"]), *rest])
    with pytest.raises(ClassifierError, match="encodes level 'tech' as \\[nan\\]; expected finite numbers"):
        _bad(nan_ord, no_tech, y[no_tech.index], clf=HistGradientBoostingClassifier(max_iter=3))()
    other = df.assign(occupation=df["occupation"].replace("tech", "techie"))
    extra = ColumnTransformer([("cat", OneHotEncoder(handle_unknown="ignore"), ["occupation"]), *rest])
    with pytest.raises(ClassifierError, match="column 'occupation' has category 'techie', which is not a level"):
        _bad(extra, other, y)()
    coded = df.assign(sex=(df["sex"] == "m").astype(float))   # 'sex' as codes: read as a number, no levels
    mixed = ColumnTransformer([("cat", OneHotEncoder(), ["occupation"]), ("num", StandardScaler(), ["sex"])])
    model = _bad(mixed, coded, y)()
    assert dict(model.levels) == {"occupation": LEVELS["occupation"]}
    X = _codes(df.iloc[:30], COLUMNS)
    assert np.array_equal(model.predict_proba(X), model.estimator.predict_proba(coded.iloc[:30]))
    own = model.estimator.decision_function(coded.iloc[:30])
    for row, o in zip(X[:5], own[:5]):             # codes of 'sex' reach the scaler as numbers, exactly
        assert encode_classifier(model, IRBuilder(), list(row)).score.const == pytest.approx(o, rel=1e-12)
    with pytest.raises(ClassifierError, match="reads the categorical column\\(s\\) \\['sex'\\].*with StandardScaler"):
        check_leveled(LeveledModel(model.estimator, LEVELS))   # levels forced on a column read as a number
    numeric = ColumnTransformer([("cat", OneHotEncoder(), ["occupation"]), ("s", OneHotEncoder(), ["sex"])])
    with pytest.raises(ClassifierError, match="'s' is OneHotEncoder; categorical columns are not supported yet "
                                              "without their levels \\(column\\(s\\) \\['sex'\\]\\): expected an "
                                              "encoder fitted on the level strings"):
        _bad(numeric, coded, y)()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        on_codes = Pipeline([("prep", numeric), ("clf", LogisticRegression())]).fit(coded, y)
    with pytest.raises(ClassifierError, match="reads column 'sex' with categories \\[.*\\]; expected the level "
                                              "strings \\['f', 'm'\\]"):
        check_leveled(LeveledModel(on_codes, LEVELS))
    if importlib.util.find_spec("xgboost"):         # a sparse one-hot output: XGBoost reads absent entries as missing
        many = df.assign(occupation=[f"c{i % 30}" for i in range(len(df))])
        sparse = ColumnTransformer([("cat", OneHotEncoder(), ["occupation"])], remainder="passthrough")
        with pytest.raises(ClassifierError, match="sparse matrix.*XGBoost.*expected ColumnTransformer\\(\\.\\.\\., "
                                                  "sparse_threshold=0\\)"):
            _bad(sparse, many[["occupation", "hours-per-week"]], y,
                 levels={"occupation": tuple(f"c{i}" for i in range(30))}, clf=_library("xgb"))()
    with pytest.raises(ClassifierError, match="levels of column 'sex' are \\['f', 'f'\\]; expected"):
        with_levels(LogisticRegression(), {"sex": ("f", "f")})
    pipe = _fit("brief", "logreg", df, y)
    with pytest.raises(ClassifierError, match="'cat' is OneHotEncoder; categorical columns are not supported yet "
                                              "without their levels"):
        validate_classifier(pipe)                    # not wrapped: the encoders read strings we cannot give
    with pytest.raises(ClassifierError, match="Levels are given for column\\(s\\) \\['colour'\\]"):
        LeveledModel(pipe, {**LEVELS, "colour": ("red",)})
    model = with_levels(pipe, LEVELS)
    with pytest.raises(ClassifierError, match="not an affine map.*torch baselines"):
        split_pipeline(model, len(COLUMNS))
    row = _codes(df.iloc[:1], COLUMNS)
    for bad, match in ((2.5, "code 2.5; expected an integer code 0..3"), (4.0, "code 4.0; expected an integer")):
        X = row.copy()
        X[0, 0] = bad
        with pytest.raises(InputError, match=match):
            model.predict_proba(X)
    with pytest.raises(InputError, match="Categorical input 'occupation' is 1.5; expected an integer code 0..3"):
        encode_classifier(model, IRBuilder(), [1.5, *row[0, 1:]])


def test_box_search_and_milp_agree_with_a_categorical_input():
    """A ReLU network after a one-hot of an immutable categorical SCM variable: the box search (on the network
    with its hat layer, models/adapter.py) proves the same optimum as the MILP, and both are verified."""
    import milp_recourse as mr
    from milp_recourse.scm.spec import scm_from_dict
    from milp_recourse.solver.strategy import box_search_reason

    jobs = ["Sales", "Tech", "Admin", "Craft"]
    cont = {"type": "continuous", "domain": [-10, 10], "actionability": "actionable"}
    scm = scm_from_dict({"name": "box-levels", "variables": [
        {"name": "job", "type": "categorical", "levels": jobs, "actionability": "immutable", "equation": "U_job",
         "noise": {"name": "U_job", "dist": "categorical", "probs": [0.4, 0.3, 0.2, 0.1]}},
        {"name": "income", **cont, "equation": "U_i", "noise": {"name": "U_i", "dist": "normal", "mean": 0, "std": 1}},
        {"name": "savings", **cont, "equation": "0.5*income + U_s",
         "noise": {"name": "U_s", "dist": "normal", "mean": 0, "std": 1}}]})
    df = scm.sample(800, seed=0)
    y = ((df.income + df.savings + 0.8 * (df.job == 1) - 0.5 * (df.job == 3)) > 0.5).astype(int)
    raw = df[list(scm.names)].assign(job=[jobs[int(c)] for c in df.job])
    prep = ColumnTransformer([("cat", OneHotEncoder(), ["job"]), ("num", StandardScaler(), ["income", "savings"])])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipe = Pipeline([("prep", prep), ("clf", MLPClassifier((40, 20), max_iter=500, random_state=0))]).fit(raw, y)
    X = df[list(scm.names)].to_numpy()
    for x in X[pipe.predict(raw) == 0][:2]:
        person = {"job": jobs[int(x[0])], "income": x[1], "savings": x[2]}
        problem = mr.RecourseProblem(scm, pipe, person, options=mr.SolveOptions(mip_gap=1e-7))
        assert isinstance(problem.classifier, LeveledModel) and box_search_reason(problem) is None
        box = mr.solve(problem)
        milp = mr.solve(mr.RecourseProblem(scm, pipe, person, options=mr.SolveOptions(box_search=False,
                                                                                       mip_gap=1e-7)))
        assert "box-search" in [p.engine for p in box.path] and "box-search" not in [p.engine for p in milp.path]
        assert box.status is mr.Status.OPTIMAL and box.verified and milp.verified
        assert box.cost == pytest.approx(milp.cost, rel=1e-6, abs=1e-9)
        assert "job" not in box.action
