"""HistGradientBoosting, XGBoost and LightGBM against their own predictions: adapters, encoders, split rules at
and next to every threshold, refusals, the two registries, and recourse end to end on the chain SCM.

References are the libraries' own raw margins (XGBoost output_margin, LightGBM raw_score, HistGB
decision_function) and predict_proba; optimality is checked against exhaustive grid enumeration
(instances/oracles.py, no MILP). XGBoost sums its leaves in float32, so its margins are compared at 1e-6.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier

from milp_recourse import Actionability, ClassifierError, RecourseProblem, SolveOptions, Status, load_scm, solve
from milp_recourse.backends import SolverParams, Termination, solve_mip
from milp_recourse.encode.classifier_registry import encode_classifier, encoder_types
from milp_recourse.encode.classifier_registry import supported_types as encoder_names
from milp_recourse.mip.ir import Affine, IRBuilder
from milp_recourse.models.classifiers import (classifier_features, favourable, reference_score,
                                              validate_classifier)
from milp_recourse.models.recipes import labelled_sample
from milp_recourse.models.registry import registered_types, supported_types
from milp_recourse.models.trees import ensemble_score, to_tree_ensemble
from milp_recourse.solver.verify import verify_action

pytestmark = pytest.mark.usefixtures("one_openmp_thread")

from instance_oracles import oracles  # noqa: E402  (instances/oracles.py)

NAMES = ["co-applicant", "hours per week", "x3"]
PARAMS = SolverParams(time_limit=30.0)
FAMILIES = ["hgb", "xgb-clf", "xgb-booster", "xgb-early", "lgb-clf", "lgb-booster", "lgb-rf", "lgb-sigmoid"]


def _data() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.uniform(-2.0, 2.0, size=(300, 3))
    X[:, 2] = np.round(X[:, 2] * 2)          # an integer-valued column: thresholds between integers
    y = (X[:, 0] + X[:, 1] ** 2 - 0.4 * X[:, 2] + 0.3 * rng.normal(size=300) > 0.8).astype(int)
    return pd.DataFrame(X, columns=NAMES), y


def _fit(family: str, df: pd.DataFrame, y: np.ndarray):
    X = df.to_numpy(float)
    if family == "hgb":
        return HistGradientBoostingClassifier(max_iter=15, max_depth=3, random_state=0).fit(df, y)
    if family.startswith("xgb"):
        xgb = pytest.importorskip("xgboost")
        if family == "xgb-clf":
            return xgb.XGBClassifier(n_estimators=15, max_depth=3, random_state=0).fit(df, y)
        if family == "xgb-booster":
            return xgb.train({"objective": "binary:logistic", "max_depth": 3, "seed": 0},
                             xgb.DMatrix(X, label=y, feature_names=NAMES), 15)
        clf = xgb.XGBClassifier(n_estimators=200, max_depth=3, learning_rate=0.5, early_stopping_rounds=2)
        clf.fit(df[:200], y[:200], eval_set=[(df[200:], y[200:])], verbose=False)
        assert clf.best_iteration + 1 < clf.get_booster().num_boosted_rounds()
        return clf
    lgb = pytest.importorskip("lightgbm")
    if family == "lgb-clf":
        return lgb.LGBMClassifier(n_estimators=15, num_leaves=6, verbose=-1, random_state=0).fit(df, y)
    if family == "lgb-booster":
        return lgb.train({"objective": "binary", "num_leaves": 6, "verbose": -1},
                         lgb.Dataset(X, label=y, feature_name=NAMES), 15)
    if family == "lgb-rf":
        return lgb.LGBMClassifier(boosting_type="rf", n_estimators=8, num_leaves=6, bagging_fraction=0.7,
                                  bagging_freq=1, verbose=-1, random_state=0).fit(X, y)
    return lgb.LGBMClassifier(n_estimators=10, num_leaves=6, sigmoid=0.5, verbose=-1, random_state=0).fit(df, y)


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray]:
    return _data()


@pytest.fixture(scope="module")
def models(data) -> dict[str, object]:
    return {}


def _model(models, data, family):
    if family not in models:
        models[family] = _fit(family, *data)
    return models[family]


def _library_margin(model, X: np.ndarray) -> np.ndarray:
    """The library's own raw margin, called directly (not through the package's hooks)."""
    mod = type(model).__module__.split(".")[0]
    if mod == "xgboost":
        import xgboost as xgb

        if isinstance(model, xgb.Booster):
            return model.predict(xgb.DMatrix(X, feature_names=NAMES), output_margin=True).astype(float)
        return model.predict(pd.DataFrame(X, columns=NAMES), output_margin=True).astype(float)
    if mod == "lightgbm":
        names = getattr(model, "feature_names_in_", None)
        p = model.predict(X) if not hasattr(model, "predict_proba") else \
            model.predict_proba(X if names is None else pd.DataFrame(X, columns=list(names)))[:, 1]
        return np.log(p) - np.log1p(-p)   # float64 probabilities: exact enough for |margin| < 10
    return model.decision_function(pd.DataFrame(X, columns=NAMES))


def _close(a, b, tol=1e-6) -> bool:
    return bool(np.all(np.abs(np.asarray(a) - np.asarray(b)) <= tol * np.maximum(1.0, np.abs(b))))


def _score_fixed(model, row, target_class=None) -> float:
    """Encode with every input fixed by its bounds (splits decided by the exact rule) and solve."""
    b = IRBuilder()
    cols = [Affine.column(b.add_var(f"x{i}", float(v), float(v))) for i, v in enumerate(row)]
    enc = encode_classifier(model, b, cols, target_class)
    sol = solve_mip(b.build(), PARAMS)
    assert sol.termination is Termination.OPTIMAL, sol.message
    return enc.score.value(sol.x)


@pytest.mark.parametrize("family", FAMILIES)
def test_adapter_and_reference_match_the_library(family, models, data):
    model, X = _model(models, data, family), data[0].to_numpy(float)
    validate_classifier(model)
    named = family != "lgb-rf"   # fitted on a plain array: the SCM order is used
    assert classifier_features(model, NAMES + ["other"] if named else NAMES) == tuple(NAMES)
    for target in (0, 1):
        ref, kind = reference_score(model, X, target_class=target)
        assert kind == "logit"
        assert _close(ref, (1 if target else -1) * _library_margin(model, X), 1e-9 if "xgb" not in family else 1e-7)
        assert _close(ensemble_score(to_tree_ensemble(model, target), X), ref)
        fav = favourable(model, X, target_class=target)
        assert np.array_equal(fav, (ref >= 0.0)), family


def _thresholds(model) -> list[tuple[int, float]]:
    """(feature, threshold) of every split in the library's own representation."""
    ens = to_tree_ensemble(model, 1)
    out = set()
    for tree in ens.trees:
        for node in np.flatnonzero(tree.left != -1):
            t = float(tree.threshold[node])
            if ens.float32:   # XGBoost: back to its own condition (x < c, c the next float32)
                t = float(np.nextafter(np.float32(t), np.float32(np.inf)))
            out.add((int(tree.feature[node]), t))
    return sorted(out)


@pytest.mark.parametrize("family", ["hgb", "xgb-clf", "lgb-clf", "lgb-booster"])
def test_encoder_exact_at_and_next_to_every_threshold(family, models, data):
    model, X = _model(models, data, family), data[0].to_numpy(float)
    base = X[7].copy()
    points = []
    for f, t in _thresholds(model):
        for v in (t, np.nextafter(t, -np.inf), np.nextafter(t, np.inf),
                  float(np.nextafter(np.float32(t), np.float32(-np.inf))),
                  float(np.nextafter(np.float32(t), np.float32(np.inf)))):
            row = base.copy()
            row[f] = v
            points.append(row)
    P = np.array(points)
    ref, _ = reference_score(model, P)
    assert _close(ref, _library_margin(model, P), 1e-7)
    # the ensemble's own rule at the exact threshold values: numpy evaluation, constants and fixed bounds
    assert _close(ensemble_score(to_tree_ensemble(model, 1), P), ref)
    for i in range(0, len(P), max(1, len(P) // 25)):
        b = IRBuilder()
        enc = encode_classifier(model, b, [Affine.constant(float(v)) for v in P[i]])
        assert enc.score.is_constant and b.build().n_integer == 0
        assert _close(enc.score.const, ref[i]), (family, P[i])
        assert _close(_score_fixed(model, P[i]), ref[i]), (family, P[i])


GAP = 1e-6   # the library ensembles' relative gap between a split and the MILP's regions (models/trees.py)


def _excluded(ens, t: float) -> tuple[float, float]:
    """The open band the MILP excludes around split t (XGBoost: its own condition c), per the encoder's doc."""
    if ens.float32:   # XGBoost: x <= c - g on the left, x >= c (a data value) on the right
        lo, hi = t - GAP * max(1.0, abs(t)), t
    else:             # float64 rule: x <= L - g, x >= L + g, g at least half a float32 ulp
        g = max(GAP * max(1.0, abs(t)), float(np.spacing(np.float32(abs(t)))) / 2.0)
        lo, hi = t - g, t + g
    if lo < 0.0 <= t:
        lo = 0.0
    elif t < 0.0 < hi and not ens.float32:
        hi = 0.0
    return lo, hi


def _in_band(ens, f: int, t: float, v: float) -> bool:
    lo, hi = _excluded(ens, t)
    return lo < v < hi or (not ens.float32 and v == t and lo < v)


def _away_from_splits(model, rows: np.ndarray) -> np.ndarray:
    """Rows with no value inside a split's excluded band (XGBoost and HistGB thresholds can be data values)."""
    ens = to_tree_ensemble(model, 1)
    return np.array([r for r in rows if not any(_in_band(ens, f, t, r[f]) for f, t in _thresholds(model))])


@pytest.mark.parametrize("family", ["hgb", "xgb-clf"])
def test_split_band_and_exact_constants(family, models, data):
    """HistGB and XGBoost thresholds can equal training values. As constants they are decided by the library's
    exact rule; as variable inputs the MILP keeps its regions a relative 1e-6 from the split, on the side where
    the library keeps no data (XGBoost's cut value itself stays on the right)."""
    model, X = _model(models, data, family), data[0].to_numpy(float)
    ens = to_tree_ensemble(model, 1)
    at = [(i, f, t) for f, t in _thresholds(model) for i in np.flatnonzero(X[:, f] == t) if abs(t) > 0.1]
    if family == "hgb":
        assert at, "expected a percentile threshold equal to a training value"
    else:   # XGBoost cut points are float32 data values
        at = [(i, f, t) for f, t in _thresholds(model) for i in np.flatnonzero(np.float32(X[:, f]) == t)
              if abs(t) > 0.1]
        assert at
    i, f, t = at[0]
    lo_band, hi_band = _excluded(ens, t)
    lo, hi = X.min(axis=0) - 0.5, X.max(axis=0) + 0.5
    b = IRBuilder()
    cols = [b.add_var(f"x{k}", lo[k], hi[k]) for k in range(3)]
    enc = encode_classifier(model, b, [Affine.column(j) for j in cols])
    m = b.build()
    inside = (lo_band + hi_band) / 2.0
    cases = [(lo_band, True), (hi_band, True), (inside, False)]
    cases += [(t, ens.float32)] if family == "xgb-clf" else [(t, False)]
    for v, feasible in cases:
        row = X[i].copy()
        row[f] = v
        lb, ub = m.col_lb.copy(), m.col_ub.copy()
        lb[cols], ub[cols] = row, row
        sol = solve_mip(m.with_bounds(lb, ub), PARAMS)
        assert (sol.termination is Termination.OPTIMAL) == feasible, (v, sol.termination)
        ref = reference_score(model, row[None, :])[0][0]
        assert _close(_score_fixed(model, row), ref)
        if feasible:
            assert _close(enc.score.value(sol.x), ref)


@pytest.mark.parametrize("family", FAMILIES)
def test_encoder_matches_on_rows_and_maximum_beats_random_search(family, models, data):
    model, X = _model(models, data, family), data[0].to_numpy(float)
    lo, hi = X.min(axis=0) - 0.5, X.max(axis=0) + 0.5
    b = IRBuilder()
    cols = [b.add_var(f"x{i}", lo[i], hi[i]) for i in range(3)]
    enc = encode_classifier(model, b, [Affine.column(j) for j in cols])
    m = b.build()
    rows = _away_from_splits(model, X[:24])[:12]
    assert len(rows) >= 8
    ref, _ = reference_score(model, rows)
    for i, row in enumerate(rows):   # rows outside the excluded bands: the MILP's split regions hold them
        lb, ub = m.col_lb.copy(), m.col_ub.copy()
        lb[cols], ub[cols] = row, row
        sol = solve_mip(m.with_bounds(lb, ub), PARAMS)
        assert sol.termination is Termination.OPTIMAL
        assert _close(enc.score.value(sol.x), ref[i]), (family, i)
    b.add_objective(-enc.score)
    sol = solve_mip(b.build(), PARAMS)
    assert sol.termination is Termination.OPTIMAL
    best = enc.score.value(sol.x)
    pts = np.random.default_rng(1).uniform(lo, hi, size=(3000, 3))
    assert best >= float(np.max(reference_score(model, pts)[0])) - 1e-6
    argmax = np.array([sol.x[j] for j in cols])
    # LightGBM's zero bins split at +-1e-35: the MILP's 0 may come back as 4e-16, which LightGBM sends the other
    # way (the verification catches that in a recourse answer); read round-off-sized values as 0 here
    argmax[np.abs(argmax) < 1e-12] = 0.0
    assert _close(float(reference_score(model, argmax[None, :])[0][0]), best), family


def test_refusals_name_the_problem(data):
    df, y = data
    X = df.to_numpy(float)
    cat = df.assign(x3=pd.Categorical(df["x3"].astype(int)))
    with pytest.raises(ClassifierError, match="categorical"):
        validate_classifier(HistGradientBoostingClassifier(max_iter=3, categorical_features=[2]).fit(X, y))
    with pytest.raises(ClassifierError, match="binary"):
        three = (X[:, 2] > 0).astype(int) + (X[:, 0] > 0)
        validate_classifier(HistGradientBoostingClassifier(max_iter=3).fit(X, three))
    xgb = pytest.importorskip("xgboost")
    with pytest.raises(ClassifierError, match="categorical"):
        validate_classifier(xgb.XGBClassifier(n_estimators=3, enable_categorical=True, tree_method="hist").fit(cat, y))
    with pytest.raises(ClassifierError, match="missing=0"):
        validate_classifier(xgb.XGBClassifier(n_estimators=3, missing=0.0).fit(X, y))
    with pytest.raises(ClassifierError, match="booster='dart'"):
        validate_classifier(xgb.XGBClassifier(n_estimators=3, booster="dart").fit(X, y))
    with pytest.raises(ClassifierError, match="objective='binary:hinge'"):
        validate_classifier(xgb.XGBClassifier(n_estimators=3, objective="binary:hinge").fit(X, y))
    with pytest.raises(ClassifierError, match="objective='reg:squarederror'"):
        validate_classifier(xgb.train({"objective": "reg:squarederror"}, xgb.DMatrix(X, label=y), 2))
    lgb = pytest.importorskip("lightgbm")
    with pytest.raises(ClassifierError, match="categorical"):
        validate_classifier(lgb.LGBMClassifier(n_estimators=3, verbose=-1, min_data_per_group=5,
                                               cat_smooth=1).fit(cat, y))
    with pytest.raises(ClassifierError, match="linear trees"):
        validate_classifier(lgb.LGBMClassifier(n_estimators=3, linear_tree=True, verbose=-1).fit(X, y))
    with pytest.raises(ClassifierError, match="objective='binary'"):
        validate_classifier(lgb.train({"objective": "regression", "verbose": -1}, lgb.Dataset(X, label=y), 2))
    with pytest.raises(ClassifierError, match="not fitted"):
        validate_classifier(lgb.LGBMClassifier())


def test_the_two_registries_list_the_same_types(models, data):
    for family in ("xgb-clf", "lgb-clf"):
        try:
            encode_classifier(_model(models, data, family), IRBuilder(), [0.0, 0.0, 0.0])
        except pytest.skip.Exception:
            pass
    assert set(registered_types()) == set(encoder_types())
    assert supported_types() == encoder_names()
    assert {"HistGradientBoostingClassifier", "xgboost.XGBClassifier", "xgboost.Booster",
            "lightgbm.LGBMClassifier", "lightgbm.Booster"} <= set(supported_types())


def test_import_does_not_load_the_optional_libraries(tmp_path):
    """`import milp_recourse` (and its encoders) loads neither library; a LightGBM model file without lightgbm
    installed is refused naming the extra."""
    path = tmp_path / "model.txt"
    path.write_text("tree\n")
    code = ("import sys, milp_recourse, milp_recourse.encode.classifier_registry\n"
            "print(sorted(m for m in ('xgboost', 'lightgbm') if m in sys.modules))\n"
            "sys.modules['lightgbm'] = None\n"
            "from milp_recourse.models.classifiers import load_classifier\n"
            "from milp_recourse.errors import ClassifierError\n"
            f"try:\n    load_classifier({str(path)!r})\nexcept ClassifierError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    first, message = out.stdout.split("\n", 1)
    assert first == "[]", out.stdout + out.stderr
    assert "pip install 'milp_recourse[lightgbm]'" in message, out.stdout + out.stderr


# recourse end to end on the chain SCM ---------------------------------------------------------------------
CHAIN = ("x1", "x2", "x3")


@pytest.fixture(scope="module")
def chain_models() -> dict[str, object]:
    scm = load_scm("chain")
    X, y = labelled_sample(scm, 600, 0)
    out = {"hgb": HistGradientBoostingClassifier(max_iter=8, max_depth=3, random_state=0).fit(X, y)}
    if importlib.util.find_spec("xgboost"):
        import xgboost as xgb
        out["xgb"] = xgb.XGBClassifier(n_estimators=8, max_depth=3, random_state=0).fit(X, y)
    if importlib.util.find_spec("lightgbm"):
        import lightgbm as lgb
        out["lgb"] = lgb.LGBMClassifier(n_estimators=8, num_leaves=6, verbose=-1, random_state=0).fit(X, y)
    return out


def _denied(scm, model, seed: int) -> np.ndarray:
    X = scm.sample(200, seed=seed)[list(scm.names)].to_numpy(float)
    return X[int(np.flatnonzero(~favourable(model, X))[0])]


@pytest.mark.parametrize("family", ["hgb", "xgb", "lgb"])
def test_recourse_end_to_end_is_verified_by_the_library_and_beats_a_grid(family, chain_models):
    if family not in chain_models:
        pytest.skip(f"{family} is not installed")
    scm, model = load_scm("chain"), chain_models[family]
    x = _denied(scm, model, 3)
    act = Actionability(actionable=("x1", "x3"), bounds={"x1": (-6.0, 6.0), "x3": (-6.0, 6.0)})
    problem = RecourseProblem(scm, model, x, actionability=act, options=SolveOptions(mip_gap=1e-9))
    res = solve(problem)
    assert res.status is Status.OPTIMAL and res.verified, res.message
    assert verify_action(problem, res.action).ok
    cf = pd.DataFrame([[res.counterfactual[n] for n in scm.names]], columns=list(scm.names))
    assert model.predict(cf)[0] == 1 and model.predict(pd.DataFrame([x], columns=list(scm.names)))[0] == 0
    grid = {f: tuple(np.linspace(-6.0, 6.0, 241)) for f in ("x1", "x3")}
    ref = oracles.enumerate_grid(problem, grids=grid)
    assert ref.status == "OPTIMAL"
    assert res.cost <= ref.cost + 1e-6
    # grid mode: the grid is the problem, so the optimum equals exhaustive enumeration
    coarse = {f: tuple(float(v) for v in np.linspace(-6.0, 6.0, 25)) for f in ("x1", "x3")}
    gp = RecourseProblem(scm, model, x, actionability=Actionability(actionable=("x1", "x3"), grids=coarse),
                         options=SolveOptions(mip_gap=1e-9))
    gref, gres = oracles.enumerate_grid(gp), solve(gp)
    assert gres.status.value == gref.status
    if gref.status == "OPTIMAL":
        assert gres.cost == pytest.approx(gref.cost, abs=1e-6)


@pytest.mark.parametrize("library", ["xgboost", "lightgbm"])
def test_raw_booster_with_a_threshold_end_to_end(library):
    """A Booster (no predict_proba) still has probabilities: threshold 0.7 applies, checked by its own predict."""
    lib = pytest.importorskip(library)
    scm = load_scm("chain")
    X, y = labelled_sample(scm, 600, 0)
    if library == "xgboost":
        booster = lib.train({"objective": "binary:logistic", "max_depth": 3, "seed": 0}, lib.DMatrix(X, label=y), 8)
        proba = lambda Z: booster.predict(lib.DMatrix(Z))   # noqa: E731
    else:
        booster = lib.train({"objective": "binary", "num_leaves": 6, "verbose": -1}, lib.Dataset(X, label=y), 8)
        proba = booster.predict
    Xs = scm.sample(200, seed=3)[list(scm.names)]
    x = Xs.iloc[int(np.flatnonzero(proba(Xs) < 0.7)[0])]
    problem = RecourseProblem(scm, booster, x, options=SolveOptions(threshold=0.7))
    res = solve(problem)
    assert res.status is Status.OPTIMAL and res.verified, res.message
    cf = pd.DataFrame([[res.counterfactual[n] for n in scm.names]], columns=list(scm.names))
    assert proba(cf)[0] >= 0.7 > proba(pd.DataFrame([x]))[0]


@pytest.mark.parametrize("family,suffix", [("xgb-booster", ".json"), ("xgb-clf", ".ubj"), ("lgb-clf", ".txt")])
def test_native_model_files_load_as_boosters(family, suffix, models, data, tmp_path):
    """save_model files (.json / .ubj / .txt) load as Boosters that score like the models saved."""
    from milp_recourse.models.classifiers import load_classifier

    model, X = _model(models, data, family), data[0].to_numpy(float)
    path = tmp_path / f"model{suffix}"
    (model.booster_ if family.startswith("lgb") else model if family == "xgb-booster" else
     model.get_booster()).save_model(str(path))
    loaded = load_classifier(path)
    validate_classifier(loaded)
    assert classifier_features(loaded, NAMES) == tuple(NAMES)
    assert _close(reference_score(loaded, X)[0], reference_score(model, X)[0], 1e-7)
    bad = tmp_path / f"bad{suffix}"
    bad.write_text("{not a model")
    with pytest.raises(ClassifierError, match="Could not read"):
        load_classifier(bad)


@pytest.mark.parametrize("suffix,text", [(".txt", "garbage\n"), (".txt", "tree\nversion=v4\nnum_class=1\n"),
                                         (".json", "garbage"), (".json", '{"a": 1}')])
def test_unreadable_model_files_say_only_our_error(suffix, text, tmp_path, capfd):
    """A broken LightGBM / XGBoost file gives our one error: LightGBM's own '[LightGBM] [Fatal]' line (written to
    file descriptor 2 by its C++ logger) stays off the terminal, and XGBoost's timestamp and C++ place are cut."""
    from milp_recourse.models.classifiers import load_classifier

    pytest.importorskip("lightgbm" if suffix == ".txt" else "xgboost")
    bad = tmp_path / f"bad{suffix}"
    bad.write_text(text)
    with pytest.raises(ClassifierError, match="Could not read") as info:
        load_classifier(bad)
    out, err = capfd.readouterr()
    assert "[LightGBM]" not in out + err and "[Fatal]" not in out + err, (out, err)
    assert str(bad) in str(info.value)
    assert not re.search(r"\[\d{2}:\d{2}:\d{2}\]|\.cc:\d+", str(info.value)), str(info.value)
    print("still writes")   # the descriptor is restored after the load
    assert capfd.readouterr().out == "still writes\n"


def test_remembered_trees_follow_further_training(data):
    """The trees read from a booster are remembered per booster, and read again once it trains further."""
    df, y = data
    X = df.to_numpy(float)
    xgb, lgb = pytest.importorskip("xgboost"), pytest.importorskip("lightgbm")
    dtrain = xgb.DMatrix(X, label=y)
    xb = xgb.train({"objective": "binary:logistic", "max_depth": 2}, dtrain, 3)
    ds = lgb.Dataset(X, label=y, params={"verbose": -1})
    lb = lgb.train({"objective": "binary", "num_leaves": 4, "verbose": -1}, ds, 3, keep_training_booster=True)
    for booster, more in ((xb, lambda: xb.update(dtrain, 3)), (lb, lambda: lb.update())):
        first = to_tree_ensemble(booster, 1)
        assert to_tree_ensemble(booster, 1) is first and len(first.trees) == 3
        more()
        again = to_tree_ensemble(booster, 1)
        assert len(again.trees) == 4
        assert _close(ensemble_score(again, X), reference_score(booster, X)[0])
        assert _close(ensemble_score(to_tree_ensemble(booster, 0), X), -reference_score(booster, X)[0])


def test_histgb_refit_in_place_is_read_again(data):
    df, y = data
    model = HistGradientBoostingClassifier(max_iter=5, max_depth=2, random_state=0).fit(df, y)
    first = to_tree_ensemble(model, 1)
    assert to_tree_ensemble(model, 1) is first
    model.set_params(max_depth=3).fit(df, 1 - y)
    X = df.to_numpy(float)
    assert _close(ensemble_score(to_tree_ensemble(model, 1), X), reference_score(model, X)[0])
