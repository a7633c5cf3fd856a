"""The classifier adapter layer (models/adapter.py): every consumer (ReLU bounds, score bounds, torch baselines)
reads a model through it, and each reading agrees with the model's own transform / scores."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from milp_recourse.bounds.relu_bounds import relu_forward
from milp_recourse.bounds.score_bounds import score_interval
from milp_recourse.models import ReLUNetwork, reference_score
from milp_recourse.models.adapter import AffineMap, relu_layers, split_pipeline

RNG = np.random.default_rng(0)
COLS = ["a-1", "b b", "c", "d"]
X = pd.DataFrame(RNG.normal(size=(400, 4)) * [1, 3, 0.5, 10] + [0, 2, -1, 5], columns=COLS)
y = (X["a-1"] + 0.3 * X["b b"] - X["c"] + 0.05 * X["d"] > 1.5).astype(int)


def _mlp() -> MLPClassifier:
    return MLPClassifier((8, 4), max_iter=300, random_state=0)


def _models() -> dict[str, object]:
    ct = ColumnTransformer([("s", StandardScaler(), ["d", "a-1"]), ("m", MinMaxScaler(), [1]),
                            ("keep", "passthrough", ["c"])])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        models = {
            "std+logreg": make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y),
            "minmax+std+mlp": make_pipeline(MinMaxScaler(), StandardScaler(), _mlp()).fit(X, y),
            "columns+mlp": Pipeline([("ct", ct), ("mlp", _mlp())]).fit(X, y),
            "mlp": _mlp().fit(X.to_numpy(), y),
        }
    net = ReLUNetwork((RNG.normal(size=(5, 4)), RNG.normal(size=(1, 5))), (RNG.normal(size=5), np.array([0.1])),
                      scaler_mean=np.array([0.0, 2.0, -1.0, 5.0]), scaler_std=np.array([1.0, 3.0, 0.5, 10.0]))
    models["relu-network"] = net
    return models


MODELS = _models()


@pytest.mark.parametrize("name", [n for n in MODELS if isinstance(MODELS[n], Pipeline)])
def test_preprocessing_map_equals_transform(name: str) -> None:
    model = MODELS[name]
    pre, _, affine = split_pipeline(model, 4)
    assert affine and pre is not None
    assert np.allclose(pre.apply(X.to_numpy()), model[:-1].transform(X), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["minmax+std+mlp", "columns+mlp", "mlp", "relu-network"])
@pytest.mark.parametrize("target", [0, 1])
def test_relu_layers_reproduce_the_models_logit(name: str, target: int) -> None:
    model = MODELS[name]
    layers = relu_layers(model, target)
    ref, kind = reference_score(model, X.to_numpy(), target)
    assert kind == "logit"
    assert np.allclose(relu_forward(layers, X.to_numpy()), ref, rtol=1e-9, atol=1e-9)


def test_the_map_of_a_box_contains_every_mapped_point_and_copes_with_infinity() -> None:
    m = AffineMap(RNG.normal(size=(3, 4)), RNG.normal(size=3))
    lo, hi = np.array([-1.0, 0.0, 2.0, -3.0]), np.array([1.0, 0.5, 4.0, 3.0])
    pts = RNG.uniform(lo, hi, size=(2000, 4))
    blo, bhi = m.box(lo, hi)
    z = m.apply(pts)
    assert np.all(z >= blo - 1e-12) and np.all(z <= bhi + 1e-12)
    sel = AffineMap(np.array([[0.0, 1.0]]), np.zeros(1))          # ignores an unbounded input
    assert sel.box(np.array([-np.inf, 0.0]), np.array([np.inf, 1.0])) == (pytest.approx([0.0]), pytest.approx([1.0]))


@pytest.mark.parametrize("name", list(MODELS))
def test_score_interval_contains_the_models_scores(name: str) -> None:
    model = MODELS[name]
    lo, hi = X.quantile(0.2).to_numpy(), X.quantile(0.8).to_numpy()
    iv = score_interval(model, list(zip(lo, hi)))
    pts = RNG.uniform(lo, hi, size=(3000, 4))
    ref, _ = reference_score(model, pts)
    assert iv is not None and iv[0] - 1e-9 <= ref.min() and ref.max() <= iv[1] + 1e-9


@pytest.mark.parametrize("name", list(MODELS))
def test_torch_copy_scores_like_the_model(name: str) -> None:
    torch = pytest.importorskip("torch")
    from milp_recourse.baselines.torch_clf import TorchClassifier

    model = MODELS[name]
    clf = TorchClassifier(model, COLS)
    got = clf.score(torch.tensor(X.to_numpy(), dtype=torch.float64)).detach().numpy()
    ref, _ = reference_score(model, X.to_numpy())
    assert np.allclose(got, ref, rtol=1e-9, atol=1e-9)
