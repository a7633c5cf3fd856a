"""Tests of spec loading and of the shipped SCMs (the loan SCM against the CARMA data)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy.special import expit

from milp_recourse.errors import SpecError
from milp_recourse.scm import load_scm, scm_from_dict, scm_to_dict, shipped_models
from milp_recourse.scm.expr import evaluate, to_text
from milp_recourse.scm.noise import Bernoulli, Gamma, Normal, NormalMixture

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("MILP_RECOURSE_DATA", REPO.parent / "shared" / "datasets"))
LOAN_CSV = DATA / "carma-loan" / "recourse_test.csv"
EXPECTED = ["chain", "chain-nonlinear", "collider", "loan", "loan-original", "triangle"]


def loan_csv() -> pd.DataFrame:
    if not LOAN_CSV.is_file():
        pytest.skip(f"shared data not found: {LOAN_CSV} (set MILP_RECOURSE_DATA to the datasets folder)")
    return pd.read_csv(LOAN_CSV)


@pytest.mark.parametrize("name", EXPECTED)
def test_every_shipped_spec_loads_and_round_trips(name: str) -> None:
    assert name in shipped_models()
    scm = load_scm(name)
    assert scm.name == name and scm.label is not None and scm.description
    assert all(np.isfinite([v.lower, v.upper]).all() for v in scm.variables)
    again = scm_from_dict(json.loads(json.dumps(scm_to_dict(scm))))
    assert again == scm
    assert load_scm(REPO / "models" / f"{name}.yaml") == scm


def test_loan_spec_contents() -> None:
    scm = load_scm("loan")
    assert scm.names == ("G", "A", "E", "L", "D", "I", "S")
    assert scm.sensitive == ("G",) and scm.actionable == ("E", "L", "I", "S")
    assert scm.variable("D").actionability == "immutable" and scm.variable("G").kind == "binary"
    assert scm.variable("E").domain == (-0.5, 0.5)
    assert scm.noises["U_G"] == Bernoulli(0.5) and scm.noises["U_A"] == Gamma(10.0, 3.5)
    assert [scm.noises[f"U_{n}"] for n in "ELDIS"] == [Normal(0, 0.5), Normal(0, 2), Normal(0, 3), Normal(0, 2),
                                                         Normal(0, 5)]
    # the structural equations, checked pointwise against the README formulas
    rng = np.random.default_rng(0)
    env = {n: rng.uniform(-3, 3, 100) for n in scm.names + scm.noise_names}
    env["G"] = rng.integers(0, 2, 100).astype(float)
    G, A, E, L, I = env["G"], env["A"], env["E"], env["L"], env["I"]
    ref = {"E": -0.5 + expit(-1 + 0.5 * G + expit(0.1 * A) + env["U_E"]),
           "L": 1 + 0.01 * (A - 5) * (5 - A) + (1 - G) + env["U_L"],
           "D": -1 + 0.1 * A + 2 * (1 - G) + L + env["U_D"],
           "I": -4 + 0.1 * (A + 35) + 2 * G + G * E + env["U_I"],
           "S": -4 + 1.5 * np.maximum(I, 0) + env["U_S"]}
    for n, r in ref.items():
        np.testing.assert_allclose(evaluate(scm.equations[n], env), r, rtol=1e-12, err_msg=n)
    orig = load_scm("loan-original")
    np.testing.assert_allclose(evaluate(orig.equations["L"], env), ref["L"] - (1 - G) + G, rtol=1e-12)
    np.testing.assert_allclose(evaluate(orig.equations["D"], env), ref["D"] - 2 * (1 - G) + 2 * G, rtol=1e-12)
    p = expit(0.3 * (-L - env["D"] + I + env["S"] + I * env["S"]))
    np.testing.assert_allclose(evaluate(orig.label, env), p, rtol=1e-12)


def test_four_node_specs() -> None:
    mix = NormalMixture((0.5, 0.5), (-2.0, 1.5), (1.5 ** 0.5, 1.0))
    for name in ("chain", "triangle", "collider", "chain-nonlinear"):
        scm = load_scm(name)
        assert scm.names == ("xs", "x1", "x2", "x3") and scm.sensitive == ("xs",)
        assert scm.actionable == ("x1", "x2", "x3") and scm.variable("xs").actionability == "immutable"
        assert scm.noises["u1"] == mix and scm.noises["u2"] == Normal(0, 1) and scm.noises["u3"] == Normal(0, 1)
        assert to_text(scm.label) == "sigmoid(x1 + 0.5 * x2 + x3 + 0.5 * u1) >= 0.5"
    x = {"xs": 1.0, "x1": 0.4, "x2": -1.3, "u2": 0.2, "u3": -0.7}
    nl = load_scm("chain-nonlinear").equations
    assert float(evaluate(nl["x2"], x)) == pytest.approx(1 + 3 / (1 + np.exp(-0.8)) + 0.2)
    assert float(evaluate(nl["x3"], x)) == pytest.approx(0.25 + 1.69 - 0.7)
    tri = load_scm("triangle").equations
    assert float(evaluate(tri["x3"], x)) == pytest.approx(1 + 0.1 - 0.65 - 0.7)
    col = load_scm("collider").equations
    assert float(evaluate(col["x2"], x)) == pytest.approx(0.5 + 0.2)
    assert float(evaluate(col["x3"], x)) == pytest.approx(0.05 + 0.1 - 0.325 - 0.7)


@pytest.mark.shared_data
def test_loan_reproduces_carma_noise_features_and_label() -> None:
    df = loan_csv()
    scm = load_scm("loan")
    X, U = df[list(scm.names)].to_numpy(), df[list(scm.noise_names)].to_numpy()
    # the CSV holds float32 values, so agreement is to float32 round-off
    np.testing.assert_allclose(scm.abduct(X), U, rtol=1e-6, atol=5e-6)
    np.testing.assert_allclose(scm.predict_from_noise(U), X, rtol=1e-6, atol=5e-6)
    np.testing.assert_array_equal(scm.label_value(X, U), df["Y"].to_numpy(dtype=float))
    assert scm.within_domain(X).all()
    assert np.isfinite(scm.log_density(X)).all()


@pytest.mark.shared_data
def test_loan_domains_cover_all_carma_values() -> None:
    loan_csv()
    scm = load_scm("loan")
    for f in sorted((DATA / "carma-loan").glob("*.csv")):
        assert scm.within_domain(pd.read_csv(f)[list(scm.names)]).all(), f.name


def test_variables_are_sorted_topologically_and_stably(tmp_path: Path) -> None:
    d = {"name": "t", "variables": [
        {"name": "c", "type": "continuous", "domain": [-9, 9], "actionability": "actionable",
         "equation": "a + b + u_c", "noise": {"name": "u_c", "dist": "normal"}},
        {"name": "b", "type": "integer", "domain": [0, 5], "actionability": "increase",
         "equation": "u_b", "noise": {"name": "u_b", "dist": "uniform", "low": 0, "high": 5}},
        {"name": "a", "type": "continuous", "domain": [-9, 9], "actionability": "decrease",
         "equation": "U_a", "noise": {"dist": "normal", "mean": 1, "var": 2}}]}
    scm = scm_from_dict(d)
    assert scm.names == ("b", "a", "c") and scm.noise_names == ("u_b", "U_a", "u_c")
    path = tmp_path / "t.json"
    path.write_text(json.dumps(d))
    assert load_scm(path) == scm and load_scm(str(path)) == scm


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="Unknown SCM 'nope'; shipped models: .*loan"):
        load_scm("nope")
    with pytest.raises(SpecError, match="No SCM spec file at"):
        load_scm(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_scm(bad)
    extra = tmp_path / "extra.yaml"
    extra.write_text(yaml.safe_dump({"name": "x", "variables": [], "graph": 1}))
    with pytest.raises(SpecError, match=r"extra.yaml: Unknown key\(s\) \['graph'\].*allowed: name, description"):
        load_scm(extra)
    with pytest.raises(SpecError, match="non-empty list 'variables'"):
        scm_from_dict({"name": "x", "variables": []})
    with pytest.raises(SpecError, match=r"Variable 'a'.*unknown name 'q'; known: U_a, a"):
        scm_from_dict({"name": "x", "variables": [{"name": "a", "type": "continuous", "domain": [0, 1],
                                                     "actionability": "actionable", "equation": "q + U_a",
                                                     "noise": {"dist": "normal"}}]})
