"""Loading, validating and scoring classifiers: ReLUNetwork semantics, feature matching, and misuse errors."""

from __future__ import annotations

import math
import warnings

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.decomposition import PCA
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.svm import LinearSVC

from milp_recourse.models.classifiers import (ReLUNetwork, classifier_features, favourable, load_classifier, reference_score,
                                       score_threshold, validate_classifier)
from milp_recourse.encode.classifier_registry import encode_classifier, find_encoder, score_kind
from milp_recourse.errors import ClassifierError, InputError
from milp_recourse.mip.ir import Affine, IRBuilder


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = (X[:, 0] - X[:, 1] + 0.5 * rng.normal(size=200) > 0).astype(int)
    return X, y


@pytest.fixture(scope="module")
def net() -> ReLUNetwork:
    rng = np.random.default_rng(2)
    return ReLUNetwork((rng.normal(size=(5, 3)), rng.normal(size=(1, 5))), (rng.normal(size=5), rng.normal(size=1)),
                       np.array([0.5, -1.0, 2.0]), np.array([2.0, 0.5, 1.0]), ("a", "b", "c"))


# ReLUNetwork -----------------------------------------------------------------------------------
def test_relu_network_semantics(net):
    X = np.random.default_rng(5).normal(size=(50, 3))
    z = (X - net.scaler_mean) / net.scaler_std
    logit = np.maximum(z @ net.weights[0].T + net.biases[0], 0.0) @ net.weights[1].T + net.biases[1]
    assert np.allclose(net.decision_function(X), logit[:, 0], rtol=1e-14, atol=1e-14)
    p = net.predict_proba(X)
    assert p.shape == (50, 2) and np.allclose(p.sum(axis=1), 1.0)
    assert np.allclose(p[:, 1], 1.0 / (1.0 + np.exp(-logit[:, 0])))
    assert np.array_equal(net.predict(X), (p[:, 1] >= 0.5).astype(int))
    assert list(net.classes_) == [0, 1] and net.n_features_in_ == 3
    shuffled = pd.DataFrame(X[:, ::-1], columns=["c", "b", "a"])
    assert np.allclose(net.decision_function(shuffled), net.decision_function(X))
    validate_classifier(net)
    assert score_kind(net) == "logit"


def test_relu_network_without_scaler_is_identity():
    W1, W2 = np.eye(2), np.array([[1.0, -1.0]])
    net = ReLUNetwork((W1, W2), (np.zeros(2), np.array([0.25])))
    assert np.allclose(net.decision_function([[2.0, 1.0], [-1.0, 3.0]]), [1.25, -2.75])
    with pytest.raises(AttributeError):
        net.feature_names_in_


def test_npz_roundtrip_and_loader(net, tmp_path):
    path = tmp_path / "net.npz"
    net.to_npz(path)
    for loaded in (ReLUNetwork.from_npz(path), load_classifier(path)):
        assert isinstance(loaded, ReLUNetwork) and loaded.feature_names == ("a", "b", "c")
        X = np.ones((2, 3))
        assert np.array_equal(loaded.decision_function(X), net.decision_function(X))


def _save(path, **arrays):
    np.savez(path, **arrays)
    return path


def test_npz_with_missing_or_misshaped_array(tmp_path, net):
    base = {"W1": net.weights[0], "b1": net.biases[0], "W2": net.weights[1], "b2": net.biases[1]}
    missing = _save(tmp_path / "missing.npz", **{k: v for k, v in base.items() if k != "b2"})
    with pytest.raises(ClassifierError, match="b2") as err:
        ReLUNetwork.from_npz(missing)
    assert "missing.npz" in str(err.value)
    with pytest.raises(ClassifierError, match=r"'W2'.*\(1, 4\)"):
        ReLUNetwork.from_npz(_save(tmp_path / "w2.npz", **{**base, "W2": np.ones((1, 4))}))
    with pytest.raises(ClassifierError, match=r"'b1'.*\(4,\)"):
        ReLUNetwork.from_npz(_save(tmp_path / "b1.npz", **{**base, "b1": np.ones(4)}))
    with pytest.raises(ClassifierError, match="scaler_std"):
        ReLUNetwork.from_npz(_save(tmp_path / "std.npz", **base, scaler_std=np.array([1.0, 0.0, 1.0])))
    with pytest.raises(ClassifierError, match="scaler_mean"):
        ReLUNetwork.from_npz(_save(tmp_path / "mean.npz", **base, scaler_mean=np.zeros(2)))
    with pytest.raises(ClassifierError, match="exactly 1 output"):
        ReLUNetwork.from_npz(_save(tmp_path / "out.npz", **{**base, "W2": np.ones((2, 5)), "b2": np.ones(2)}))
    with pytest.raises(ClassifierError, match="W1"):
        ReLUNetwork.from_npz(_save(tmp_path / "empty.npz", other=np.ones(2)))


def test_load_classifier_errors_name_the_file(tmp_path, data):
    X, y = data
    good = tmp_path / "model.joblib"
    joblib.dump(LogisticRegression().fit(X, y), good)
    assert isinstance(load_classifier(good), LogisticRegression)
    with pytest.raises(ClassifierError, match=r"'\.csv'"):   # (.txt is a LightGBM model file)
        load_classifier(tmp_path / "model.csv")
    with pytest.raises(ClassifierError, match="nowhere.pkl"):
        load_classifier(tmp_path / "nowhere.pkl")
    broken = tmp_path / "broken.pkl"
    broken.write_bytes(b"not a pickle at all")
    with pytest.raises(ClassifierError, match="broken.pkl"):
        load_classifier(broken)
    bad_npz = tmp_path / "bad.npz"
    bad_npz.write_bytes(b"garbage")
    with pytest.raises(ClassifierError, match="bad.npz"):
        load_classifier(bad_npz)


# validation ------------------------------------------------------------------------------------
def test_supported_models_validate(data):
    X, y = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for model in (LogisticRegression().fit(X, y), LinearSVC().fit(X, y),
                      RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y),
                      GradientBoostingClassifier(n_estimators=3, init="zero").fit(X, y),
                      Pipeline([("s", StandardScaler()), ("m", MinMaxScaler()), ("c", MLPClassifier((4,), max_iter=50))])
                      .fit(X, y),
                      Pipeline([("skip", "passthrough"), ("c", LogisticRegression())]).fit(X, y)):
            validate_classifier(model)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_bad_models_raise_named_errors(data):
    X, y = data
    cases = [
        (LogisticRegression(), "LogisticRegression is not fitted"),
        (LogisticRegression().fit(X, np.arange(len(y)) % 3), r"classes \[0, 1, 2\]"),
        (MLPClassifier((4,), activation="tanh", max_iter=30).fit(X, y), "activation='tanh'"),
        (Pipeline([("pca", PCA(2)), ("c", LogisticRegression())]).fit(X, y), "'pca' is PCA"),
        (KNeighborsClassifier().fit(X, y), "KNeighborsClassifier is not supported.*LogisticRegression"),
        (GradientBoostingClassifier(n_estimators=2, loss="exponential").fit(X, y), "loss='exponential'"),
        (GradientBoostingClassifier(n_estimators=2, init=LogisticRegression()).fit(X, y),
         "init=LogisticRegression"),
        (Pipeline([("mm", MinMaxScaler(clip=True)), ("c", LogisticRegression())]).fit(X, y), "clip=True"),
        (Pipeline([("s", StandardScaler()), ("c", LogisticRegression())]), "not fitted"),
        ("not a model", "str is not supported"),
    ]
    for model, pattern in cases:
        with pytest.raises(ClassifierError, match=pattern):
            validate_classifier(model)
        with pytest.raises(ClassifierError, match=pattern):
            encode_classifier(model, IRBuilder(), [Affine.constant(0.0)] * 3)


# features --------------------------------------------------------------------------------------
def test_classifier_features(data, net):
    X, y = data
    scm = ["a", "b", "c", "d"]
    frame = pd.DataFrame(X, columns=["c", "a", "b"])
    named = LogisticRegression().fit(frame, y)
    assert classifier_features(named, scm) == ("c", "a", "b")
    piped = Pipeline([("s", StandardScaler()), ("c", LogisticRegression())]).fit(frame, y)
    assert classifier_features(piped, scm) == ("c", "a", "b")
    assert classifier_features(net, scm) == ("a", "b", "c")
    unknown = LogisticRegression().fit(pd.DataFrame(X, columns=["a", "zz", "b"]), y)
    with pytest.raises(ClassifierError, match=r"\['zz'\].*\['a', 'b', 'c', 'd'\]"):
        classifier_features(unknown, scm)
    anonymous = LogisticRegression().fit(X, y)
    assert classifier_features(anonymous, ["p", "q", "r"]) == ("p", "q", "r")
    with pytest.raises(ClassifierError, match="expects 3 input features but the SCM has 4"):
        classifier_features(anonymous, scm)


def test_encode_checks_input_count_and_options(data):
    X, y = data
    model = LogisticRegression().fit(X, y)
    with pytest.raises(ClassifierError, match="expects 3 input features; got 2"):
        encode_classifier(model, IRBuilder(), [Affine.constant(0.0)] * 2)
    with pytest.raises(InputError, match="-1"):
        encode_classifier(model, IRBuilder(), [Affine.constant(0.0)] * 3, split_margin=-1.0)
    with pytest.raises(InputError, match="'x'"):
        encode_classifier(model, IRBuilder(), [0.0, 1.0, "x"])
    with pytest.raises(InputError, match=r"target_class='yes'.*\[0, 1\]"):
        encode_classifier(model, IRBuilder(), [0.0, 1.0, 2.0], target_class="yes")
    enc = encode_classifier(model, IRBuilder(), [0.0, 1.0, 2.0])
    assert enc.kind == "logit" and math.isclose(enc.score.const, reference_score(model, [[0.0, 1.0, 2.0]])[0][0])


def test_registry_walks_the_mro(data):
    class MyLogReg(LogisticRegression):
        pass

    X, y = data
    model = MyLogReg().fit(X, y)
    assert find_encoder(MyLogReg) is find_encoder(LogisticRegression) is not None
    assert score_kind(model) == "logit"


# reference scores ------------------------------------------------------------------------------
def test_reference_scores_are_the_models_own(data):
    X, y = data
    lr = LogisticRegression().fit(X, y)
    p = lr.predict_proba(X)[:, 1]
    s, kind = reference_score(lr, X)
    assert kind == "logit" and np.allclose(s, np.log(p / (1 - p)), rtol=1e-9, atol=1e-9)
    s0, _ = reference_score(lr, X, target_class=0)
    assert np.array_equal(s0, -s)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp = MLPClassifier((6,), max_iter=200, random_state=0).fit(X, y)
    pm = mlp.predict_proba(X)[:, 1]
    sm, kind = reference_score(mlp, X)
    assert kind == "logit" and np.allclose(sm, np.log(pm / (1 - pm)), rtol=1e-7, atol=1e-9)
    big = X * 1e3  # saturated sigmoid: the exact logit is still returned (finite, beyond log-odds precision)
    assert np.all(np.isfinite(reference_score(mlp, big)[0]))
    rf = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y)
    prob, kind = reference_score(rf, X)
    assert kind == "probability" and np.array_equal(prob, rf.predict_proba(X)[:, 1])
    svc = LinearSVC().fit(X, y)
    d, kind = reference_score(svc, X, target_class=0)
    assert kind == "decision" and np.array_equal(d, -svc.decision_function(X))


def test_favourable_uses_probability_or_decision(data):
    X, y = data
    lr = LogisticRegression().fit(X, y)
    assert np.array_equal(favourable(lr, X), lr.predict(X) == 1)
    assert np.array_equal(favourable(lr, X, threshold=0.8), lr.predict_proba(X)[:, 1] >= 0.8)
    assert np.array_equal(favourable(lr, X, target_class=0), lr.predict_proba(X)[:, 0] >= 0.5)
    svc = LinearSVC().fit(X, y)
    assert np.array_equal(favourable(svc, X), svc.decision_function(X) >= 0)
    assert np.array_equal(favourable(svc, X, target_class=0), svc.decision_function(X) <= 0)
    with pytest.raises(InputError, match="shape"):
        favourable(lr, X[:, :2])


def test_score_threshold():
    assert score_threshold("logit", 0.5) == 0.0
    assert math.isclose(score_threshold("logit", 0.8), math.log(4.0))
    assert score_threshold("probability", 0.7) == 0.7
    assert score_threshold("decision", 0.9) == 0.0
    for bad in (1.5, 0.0, 1.0, -0.2, float("nan"), True, "0.5"):
        with pytest.raises(InputError, match=f"Got {bad!r}"):
            score_threshold("logit", bad)
    with pytest.raises(InputError, match="'margin'"):
        score_threshold("margin", 0.5)
