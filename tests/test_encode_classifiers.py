"""Classifier encoders against the estimators' own scores: fixed rows, maximisation, float32 splits, constants."""

from __future__ import annotations

import dataclasses
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import ExtraTreesClassifier, GradientBoostingClassifier, RandomForestClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.svm import LinearSVC
from sklearn.tree import DecisionTreeClassifier

from milp_recourse.backends import SolverParams, Termination, solve_mip
from milp_recourse.models.classifiers import ReLUNetwork, favourable, reference_score, score_threshold
from milp_recourse.encode.classifier_registry import encode_classifier
from milp_recourse.models.trees import ensemble_score, left_upper, right_lower, to_tree_ensemble
from milp_recourse.mip.ir import Affine, IRBuilder, MIPModel

D = 4
PARAMS = SolverParams(time_limit=30.0)


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.uniform(-2.0, 2.0, size=(300, D))
    y = (X[:, 0] + X[:, 1] ** 2 - X[:, 2] * X[:, 3] + 0.3 * rng.normal(size=300) > 0.8).astype(int)
    return X, y


def _relu_network() -> ReLUNetwork:
    rng = np.random.default_rng(1)
    shapes = [(8, D), (8, 8), (1, 8)]
    return ReLUNetwork(tuple(rng.normal(size=s) for s in shapes), tuple(rng.normal(size=s[0]) for s in shapes),
                       rng.normal(size=D) * 0.1, rng.uniform(0.5, 2.0, size=D))


BASE = {
    "logreg": lambda: LogisticRegression(),
    "linsvc": lambda: LinearSVC(),
    "tree": lambda: DecisionTreeClassifier(max_depth=4, random_state=0),
    "forest": lambda: RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0),
    "boosting": lambda: GradientBoostingClassifier(n_estimators=20, max_depth=3, random_state=0),
    "mlp": lambda: MLPClassifier(hidden_layer_sizes=(8, 8), activation="relu", max_iter=600, random_state=0),
    "relunet": None,
}
SCALERS = {"plain": None, "std": StandardScaler, "minmax": MinMaxScaler}
FAMILIES = [f"{base}-{sc}" for base in BASE for sc in SCALERS]


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    return _data()


@pytest.fixture(scope="module")
def models(data) -> dict[str, object]:
    X, y = data
    out: dict[str, object] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for base, make in BASE.items():
            for sc, scaler in SCALERS.items():
                if make is None:
                    net = _relu_network()
                    out[f"{base}-{sc}"] = net if scaler is None else Pipeline([("scale", scaler().fit(X)),
                                                                               ("net", net)])
                elif scaler is None:
                    out[f"{base}-{sc}"] = make().fit(X, y)
                else:
                    out[f"{base}-{sc}"] = Pipeline([("scale", scaler()), ("clf", make())]).fit(X, y)
    return out


def _box_encoding(model, lo, hi, target_class=None, constants: dict[int, float] | None = None,
                  bounded_below: bool = False):
    """Builder with one column per input in [lo, hi] (or a constant), the encoded score, the input columns."""
    b = IRBuilder()
    constants = constants or {}
    cols: dict[int, int] = {}
    inputs = []
    for i in range(D):
        if i in constants:
            inputs.append(Affine.constant(constants[i]))
        else:
            cols[i] = b.add_var(f"x{i}", lo[i], hi[i])
            inputs.append(Affine.column(cols[i]))
    enc = encode_classifier(model, b, inputs, target_class, bounded_below=bounded_below)
    return b, enc, cols


def _fixed(m: MIPModel, cols: dict[int, int], row: np.ndarray) -> MIPModel:
    lb, ub = m.col_lb.copy(), m.col_ub.copy()
    for i, j in cols.items():
        lb[j] = ub[j] = row[i]
    return m.with_bounds(lb, ub)


def _close(a: float, b: float, tol: float = 1e-6) -> bool:
    return abs(a - b) <= tol * max(1.0, abs(b))


def _solve_value(m: MIPModel, score: Affine) -> float:
    sol = solve_mip(m, PARAMS)
    assert sol.termination is Termination.OPTIMAL, sol.message
    assert m.max_violation(sol.x) <= 1e-6
    return score.value(sol.x)


@pytest.mark.parametrize("family", FAMILIES)
def test_encoder_matches_own_score_on_rows(family, models, data):
    model, (X, _) = models[family], data
    lo, hi = X.min(axis=0) - 0.5, X.max(axis=0) + 0.5
    rows = X[:22]
    ref, kind = reference_score(model, rows)
    fav = favourable(model, rows)
    thr = score_threshold(kind, 0.5)
    b, enc, cols = _box_encoding(model, lo, hi)
    assert enc.kind == kind
    m = b.build()
    for i, row in enumerate(rows):
        value = _solve_value(_fixed(m, cols, row), enc.score)
        assert _close(value, ref[i]), (family, i, value, ref[i])
        if abs(ref[i] - thr) > 1e-9:
            assert (value >= thr) == fav[i], (family, i, value, thr)
    # the same with a fresh builder whose input columns are fixed by their bounds (lb = ub = value)
    for i, row in enumerate(rows[:3]):
        b1, enc1, _ = _box_encoding(model, row, row)
        assert _close(_solve_value(b1.build(), enc1.score), ref[i])


@pytest.mark.parametrize("family", ["logreg-plain", "linsvc-std", "forest-minmax", "boosting-plain", "mlp-std",
                                    "relunet-plain"])
def test_target_class_zero_flips_the_score(family, models, data):
    model, (X, _) = models[family], data
    rows = X[30:36]
    ref0, kind = reference_score(model, rows, target_class=0)
    fav0 = favourable(model, rows, target_class=0)
    thr = score_threshold(kind, 0.5)
    for i, row in enumerate(rows):
        b, enc, _ = _box_encoding(model, row, row, target_class=0)
        value = _solve_value(b.build(), enc.score)
        assert _close(value, ref0[i])
        if abs(ref0[i] - thr) > 1e-9:
            assert (value >= thr) == fav0[i]


@pytest.mark.parametrize("family", FAMILIES)
def test_maximising_the_score_beats_random_search(family, models, data):
    model, (X, _) = models[family], data
    center = X[5]
    lo, hi = center - 0.75, center + 0.75
    b, enc, cols = _box_encoding(model, lo, hi)
    b.add_objective(-enc.score)
    m = b.build()
    sol = solve_mip(m, PARAMS)
    assert sol.termination is Termination.OPTIMAL
    best = enc.score.value(sol.x)
    assert _close(best, -sol.objective)
    rng = np.random.default_rng(7)
    pts = rng.uniform(lo, hi, size=(5000, D))
    random_best = float(np.max(reference_score(model, pts)[0]))
    assert best >= random_best - 1e-6 * max(1.0, abs(random_best)), (family, best, random_best)
    argmax = np.array([sol.x[cols[i]] for i in range(D)])
    assert np.all(argmax >= lo - 1e-9) and np.all(argmax <= hi + 1e-9)
    assert _close(float(reference_score(model, argmax[None, :])[0][0]), best), family


def _max_score(model, lo, hi, target_class, bounded_below: bool) -> tuple[float, int]:
    """Exact maximum of the encoded score over the box [lo, hi], and the model's number of integer columns."""
    b, enc, _ = _box_encoding(model, lo, hi, target_class, bounded_below=bounded_below)
    b.add_objective(-enc.score)
    m = b.build()
    sol = solve_mip(m, dataclasses.replace(PARAMS, mip_gap=1e-9))
    assert sol.termination is Termination.OPTIMAL
    return enc.score.value(sol.x), m.n_integer


@pytest.mark.parametrize("family", [f for f in FAMILIES if f.startswith(("mlp", "relunet"))])
@pytest.mark.parametrize("target_class", [1, 0])
def test_bounded_below_encoding_keeps_what_reaches_a_threshold(family, target_class, models, data):
    """A score used only in 'score >= t' rows may relax last-layer units that lower it: with inputs fixed the
    maximum is still the network's own score, over a box the maximum equals the exact encoding's, and the
    relaxed units carry no binary."""
    model, (X, _) = models[family], data
    ref = reference_score(model, X[:8], target_class=target_class)[0]
    for i, row in enumerate(X[:8]):
        value, _ = _max_score(model, row, row, target_class, bounded_below=True)
        assert _close(value, ref[i])
    for center in X[8:11]:
        exact, n_exact = _max_score(model, center - 0.75, center + 0.75, target_class, bounded_below=False)
        relaxed, n_relaxed = _max_score(model, center - 0.75, center + 0.75, target_class, bounded_below=True)
        assert _close(relaxed, exact), (family, relaxed, exact)
        assert n_relaxed <= n_exact
    _, n_exact = _max_score(model, X.min(axis=0) - 1, X.max(axis=0) + 1, target_class, bounded_below=False)
    _, n_relaxed = _max_score(model, X.min(axis=0) - 1, X.max(axis=0) + 1, target_class, bounded_below=True)
    assert n_relaxed < n_exact  # the last layers here have output weights of both signs


@pytest.mark.parametrize("family", ["tree-plain", "forest-plain", "forest-std", "boosting-minmax"])
def test_tree_adapters_match_predict(family, models, data):
    model, (X, _) = models[family], data
    final = model.steps[-1][1] if isinstance(model, Pipeline) else model
    Xt = model[:-1].transform(X) if isinstance(model, Pipeline) else X
    ens = to_tree_ensemble(final, 1)
    ref, _ = reference_score(model, X)
    assert np.allclose(ensemble_score(ens, Xt), ref, rtol=1e-12, atol=1e-12)


def test_tree_adapter_variants(data):
    X, y = data
    models = [GradientBoostingClassifier(n_estimators=5, init="zero", random_state=0),
              GradientBoostingClassifier(n_estimators=5, init=DummyClassifier(strategy="most_frequent")),
              ExtraTreesClassifier(n_estimators=5, max_depth=3, random_state=0)]
    for model in models:
        model.fit(X, y)
        for target in (0, 1):
            ref, _ = reference_score(model, X, target_class=target)
            assert np.allclose(ensemble_score(to_tree_ensemble(model, target), X), ref, rtol=1e-12, atol=1e-12)


def test_float32_split_boundary():
    # magnitude ~3: one float32 ulp (2.4e-7) exceeds the solver's feasibility tolerance (1e-7), so the two
    # float32 neighbours of the threshold are unambiguous for the MILP as they are for sklearn
    X = np.array([[2.9], [3.2], [3.3]])
    y = np.array([0, 1, 1])
    tree = DecisionTreeClassifier(random_state=0).fit(X, y)
    t = float(tree.tree_.threshold[0])
    assert float(np.float32(t)) != t, "the threshold should not be representable in float32"
    L, R = left_upper(t), right_lower(t)
    assert R == np.nextafter(L, np.inf)
    assert float(np.float32(L)) <= t < float(np.float32(R))
    assert tree.predict([[L]])[0] == 0 and tree.predict([[R]])[0] == 1

    def solve_at(x: float):
        b = IRBuilder()
        j = b.add_var("x", 2.0, 4.0)
        enc = encode_classifier(tree, b, [Affine.column(j)])
        m = b.build()
        lb, ub = m.col_lb.copy(), m.col_ub.copy()
        lb[j] = ub[j] = x
        sol = solve_mip(m.with_bounds(lb, ub), PARAMS)
        return sol.termination, (None if sol.x is None else enc.score.value(sol.x))

    # the float32 neighbours of the threshold are the last left / first right values the MILP allows
    t32 = float(np.float32(L))
    next32 = float(np.nextafter(np.float32(L), np.float32(np.inf)))
    assert t32 <= t < next32
    assert tree.predict([[t32]])[0] == 0 and tree.predict([[next32]])[0] == 1
    assert solve_at(t32) == (Termination.OPTIMAL, 0.0)        # left leaf forced: P(class 1) = 0
    assert solve_at(next32) == (Termination.OPTIMAL, 1.0)     # right leaf forced
    # a point inside the excluded band beyond the solver tolerance: widen the band with split_margin
    b = IRBuilder()
    j = b.add_var("x", 2.0, 4.0)
    encode_classifier(tree, b, [Affine.column(j)], split_margin=1e-3)
    m = b.build()
    lb, ub = m.col_lb.copy(), m.col_ub.copy()
    lb[j] = ub[j] = L
    assert solve_mip(m.with_bounds(lb, ub), PARAMS).termination is Termination.INFEASIBLE
    # constants are decided by sklearn's exact rule, without a margin or a binary
    for x, expected in ((L, 0.0), (R, 1.0)):
        b = IRBuilder()
        enc = encode_classifier(tree, b, [Affine.constant(x)])
        assert enc.score.is_constant and enc.score.const == expected and b.build().n_integer == 0


def test_values_at_a_float32_threshold_stay_feasible():
    """Regression: an integer feature value within half a float32 ulp of the split (threshold 3.0 in float32)
    must stay on sklearn's side; a relative margin of 1e-6 used to exclude it and made real recourse
    problems (German credit, installment_rate = 3) infeasible."""
    X = np.array([[1.0], [2.0], [3.0], [3.0000002], [4.0]])
    y = np.array([0, 0, 0, 1, 1])
    tree = DecisionTreeClassifier(random_state=0).fit(X, y)
    t = float(tree.tree_.threshold[0])
    assert float(np.float32(t)) == 3.0 or abs(t - 3.0) < 1e-6
    for value in (3.0, 4.0, 2.0):
        b = IRBuilder()
        j = b.add_var("x", 0.0, 5.0)
        enc = encode_classifier(tree, b, [Affine.column(j)])
        m = b.build()
        lb, ub = m.col_lb.copy(), m.col_ub.copy()
        lb[j] = ub[j] = value
        sol = solve_mip(m.with_bounds(lb, ub), PARAMS)
        assert sol.termination is Termination.OPTIMAL, value
        assert enc.score.value(sol.x) == pytest.approx(tree.predict_proba([[value]])[0, 1])


def test_left_upper_is_the_exact_float32_boundary():
    rng = np.random.default_rng(3)
    thresholds = np.concatenate([rng.normal(size=2000) * 10.0 ** rng.integers(-6, 7, size=2000),
                                 [0.0, -0.0, 1.0, -1.5, 1e-40, 3.0e38]])
    for t in thresholds:
        L = left_upper(t)
        assert float(np.float32(L)) <= t, t
        assert float(np.float32(np.nextafter(L, np.inf))) > t, t


@pytest.mark.parametrize("family", ["forest-plain", "boosting-std", "mlp-plain", "relunet-minmax"])
def test_constant_inputs_give_same_scores_with_fewer_binaries(family, models, data):
    model, (X, _) = models[family], data
    lo, hi = X.min(axis=0) - 0.5, X.max(axis=0) + 0.5
    b_all, enc_all, cols_all = _box_encoding(model, lo, hi)
    m_all = b_all.build()
    rows = X[40:45]
    ref, _ = reference_score(model, rows)
    for i, row in enumerate(rows):
        b, enc, cols = _box_encoding(model, lo, hi, constants={0: row[0], 1: row[1]})
        m = b.build()
        if family.startswith(("forest", "boosting")):
            assert m.n_integer < m_all.n_integer
        else:
            assert m.n_integer <= m_all.n_integer
        assert _close(_solve_value(_fixed(m, cols, row), enc.score), ref[i])
        assert _close(_solve_value(_fixed(m_all, cols_all, row), enc_all.score), ref[i])
        b_const, enc_const, _ = _box_encoding(model, lo, hi, constants=dict(enumerate(row)))
        assert b_const.build().n_integer == 0 and enc_const.score.is_constant
        assert _close(enc_const.score.const, ref[i])


def _carma_dir() -> Path:
    default = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
    return Path(os.environ.get("MILP_RECOURSE_DATA", default)) / "carma-loan"


@pytest.mark.shared_data
def test_carma_relu_network():
    folder = _carma_dir()
    npz, csv = folder / "classifier_mlp.npz", folder / "recourse_test.csv"
    if not (npz.is_file() and csv.is_file()):
        pytest.skip(f"CARMA loan data not found at {folder} (set MILP_RECOURSE_DATA to the datasets folder)")
    net = ReLUNetwork.from_npz(npz)
    assert net.layer_sizes == (7, 32, 32, 1)
    table = np.genfromtxt(csv, delimiter=",", names=True)
    X = np.column_stack([table[c] for c in "GAELDIS"])
    assert X.shape == (5000, 7)
    assert int(np.sum(net.predict(X) == 0)) == 2364
    b = IRBuilder()
    lo, hi = X.min(axis=0), X.max(axis=0)
    cols = {i: b.add_var(c, lo[i], hi[i]) for i, c in enumerate("GAELDIS")}
    enc = encode_classifier(net, b, [Affine.column(j) for j in cols.values()])
    m = b.build()
    ref = net.decision_function(X[:10])
    for i in range(10):
        assert _close(_solve_value(_fixed(m, cols, X[i]), enc.score), ref[i])


def test_linear_layer_equals_linear_score_row_by_row():
    """The matrix-product layer gives each unit the same affine expression as the per-unit sum."""
    from milp_recourse.encode.linear import linear_layer, linear_score

    rng = np.random.default_rng(11)
    inputs = [Affine({int(j): float(rng.normal()) for j in rng.choice(9, size=3, replace=False)}, float(rng.normal()))
              for _ in range(6)] + [Affine.constant(2.5)]
    W, c = rng.normal(size=(5, 7)), rng.normal(size=5)
    W[2, :] = 0.0
    for i, got in enumerate(linear_layer(W, c, inputs)):
        want = linear_score(W[i], c[i], inputs)
        assert got.const == pytest.approx(want.const, rel=1e-12, abs=1e-12)
        assert set(got.terms) == {j for j, v in want.terms.items() if v != 0.0}
        for j, v in got.terms.items():
            assert v == pytest.approx(want.terms[j], rel=1e-12, abs=1e-12)
