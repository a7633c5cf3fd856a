"""fit-scm: an SCM fitted from data + a DAG recovers known linear SCMs, keeps column names (backtick-quoted
in equations), abducts exactly, refuses bad input (exit 2, nothing written), and its spec is accepted by
solve / batch / explain / audit (checked against a closed-form optimum and the classifier's own predict_proba)."""

from __future__ import annotations

import json
import math

import joblib
import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.linear_model import LinearRegression, LogisticRegression

from milp_recourse.cli.main import main
from milp_recourse.errors import InputError, SpecError
from milp_recourse.scm import load_scm, scm_from_dict, scm_to_dict
from milp_recourse.scm.dag import check_dag, parse_dag
from milp_recourse.scm.expr import Name, parse, to_text
from milp_recourse.scm.fit import FitSettings, fit_scm, linear_coefficients, padded_domain
from milp_recourse.scm.from_data import independent_scm

AWKWARD = {  # a known linear SCM whose names are not identifiers
    "name": "awkward",
    "variables": [
        {"name": "co-applicant", "type": "binary", "domain": [0, 1], "actionability": "actionable",
         "equation": "U_c", "noise": {"name": "U_c", "dist": "bernoulli", "p": 0.3}},
        {"name": "hours per week", "type": "continuous", "domain": [0, 60], "actionability": "actionable",
         "equation": "20 + 2*`co-applicant` + U_h", "noise": {"name": "U_h", "dist": "normal", "std": 1.5}},
        {"name": "income", "type": "continuous", "domain": [0, 200], "actionability": "actionable",
         "equation": "5 + 1.5*`hours per week` + 8*`co-applicant` + U_i",
         "noise": {"name": "U_i", "dist": "normal", "std": 1.0}},
    ],
}
AWKWARD_DAG = "# the graph\nco-applicant -> hours per week\n\nhours per week -> income  # more hours\nco-applicant -> income\n"


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# ------------------------------------------------------------------ fitting
def test_recovers_the_chain_scm() -> None:
    truth = load_scm("chain")
    data = truth.sample(10000, seed=0)
    dag = check_dag([("xs", "x1"), ("xs", "x2"), ("x1", "x2"), ("xs", "x3"), ("x2", "x3")], data.columns)
    fitted = fit_scm(data, dag, "chain-fit")
    for name in ("x1", "x2", "x3"):
        want = linear_coefficients(truth, name)
        got = linear_coefficients(fitted, name)
        assert set(got) == set(want)
        noise = truth.noise_of(name)  # the fitted intercept absorbs the noise's mean
        want["(intercept)"] += sum(w * m for w, m in zip(noise.weights, noise.means)) if name == "x1" else noise.mean
        for k in want:
            assert got[k] == pytest.approx(want[k], abs=0.05), (name, k)
    mixture = truth.noise_of("x1")  # std of the mixture: sum w (s^2 + m^2) - (sum w m)^2
    mix_std = math.sqrt(sum(w * (s * s + m * m) for w, m, s in zip(mixture.weights, mixture.means, mixture.stds))
                        - sum(w * m for w, m in zip(mixture.weights, mixture.means)) ** 2)
    assert fitted.noise_of("x1").std == pytest.approx(mix_std, abs=0.05)
    assert fitted.noise_of("x2").std == pytest.approx(1.0, abs=0.05)
    assert fitted.noise_of("x3").std == pytest.approx(1.0, abs=0.05)
    assert fitted.noise_of("xs").dist == "bernoulli" and fitted.noise_of("xs").p == pytest.approx(data["xs"].mean())


def test_recovers_a_scm_with_awkward_names_and_abducts_exactly() -> None:
    truth = scm_from_dict(AWKWARD)
    data = truth.sample(10000, seed=0)
    fitted = fit_scm(data, check_dag(parse_dag(AWKWARD_DAG), data.columns), "fit")
    assert fitted.names == truth.names  # names kept exactly
    for name in ("hours per week", "income"):
        want, got = linear_coefficients(truth, name), linear_coefficients(fitted, name)
        for k in want:
            if k != "(intercept)":
                assert got[k] == pytest.approx(want[k], abs=0.05), (name, k)
        assert got["(intercept)"] == pytest.approx(want["(intercept)"], abs=0.5)
    assert fitted.noise_of("hours per week").std == pytest.approx(1.5, abs=0.05)
    assert fitted.noise_of("income").std == pytest.approx(1.0, abs=0.05)
    # abduction is exact: the noise reproduces every data row, and is the least-squares residual
    U = fitted.abduct(data)
    np.testing.assert_allclose(fitted.predict_from_noise(U), data.to_numpy(), atol=1e-9)
    A = np.column_stack([np.ones(len(data)), data["hours per week"], data["co-applicant"]])
    coef, *_ = np.linalg.lstsq(A, data["income"].to_numpy(), rcond=None)
    np.testing.assert_allclose(U[:, 2], data["income"].to_numpy() - A @ coef, atol=1e-6)
    assert U[:, 2].std(ddof=3) == pytest.approx(fitted.noise_of("income").std, rel=1e-9)
    r2 = LinearRegression().fit(A[:, 1:], data["income"]).score(A[:, 1:], data["income"])
    assert f"R^2 {r2:.3f}" in fitted.variable("income").description


def test_column_kinds_domains_and_actionability() -> None:
    frame = pd.DataFrame({"age": [20, 30, 40, 60], "flag": [0, 1, 1, 0], "x": [-1.5, 0.0, 2.5, 1.0],
                          "ok": [True, False, True, True]})
    scm = fit_scm(frame, None, "kinds", FitSettings(immutable=("age",), increase_only=("x",), decrease_only=("flag",)))
    kinds = {v.name: (v.kind, v.lower, v.upper, v.actionability) for v in scm.variables}
    assert kinds["age"] == ("integer", 18.0, 62.0, "immutable")       # 20..60 padded by 2, kept >= 0
    assert kinds["flag"] == ("binary", 0.0, 1.0, "decrease")
    assert kinds["x"] == ("continuous", -1.5 - 0.2, 2.5 + 0.2, "increase")
    assert kinds["ok"][0] == "binary" and scm.noise_of("ok").p == pytest.approx(0.75)
    assert scm.noise_of("x").support == (pytest.approx(-1.7), pytest.approx(2.7))
    assert padded_domain(np.array([0.0, 10.0]), "continuous", 0.1) == (0.0, 11.0)   # never below 0 for data >= 0
    assert padded_domain(np.array([3.0, 3.0]), "integer", 0.05) == (2.0, 4.0)


def test_spec_roundtrip_quotes_awkward_names() -> None:
    spec = scm_to_dict(scm_from_dict(AWKWARD))
    assert spec["variables"][2]["equation"] == "5 + 1.5 * `hours per week` + 8 * `co-applicant` + U_i"
    again = scm_from_dict(yaml.safe_load(yaml.safe_dump(spec)))
    assert scm_to_dict(again) == spec


# ------------------------------------------------------------------ equation quoting
@pytest.mark.parametrize("text, names", [
    ("2*`co-applicant` + U_x", {"co-applicant", "U_x"}),
    ("max(`a b`, 0) + `a b`**2", {"a b"}),
    ("`if` + `x`", {"if", "x"}),
])
def test_backtick_names_parse_and_print_back(text, names) -> None:
    e = parse(text)
    from milp_recourse.scm.expr import names as expr_names
    assert set(expr_names(e)) == names
    assert parse(to_text(e)) == e
    assert to_text(Name("x")) == "x" and to_text(Name("co-applicant")) == "`co-applicant`"


@pytest.mark.parametrize("text, fragment", [
    ("`a + 1", "unmatched backtick"),
    ("` a` + 1", "quoted name"),
    ("``", "quoted name"),
    ("`f`(1)", "only plain function calls"),
    ("`a``b`", "not a valid expression"),
])
def test_bad_backtick_equations(text, fragment) -> None:
    with pytest.raises(SpecError, match=fragment):
        parse(text)


def test_quoted_unknown_name_is_named() -> None:
    with pytest.raises(SpecError, match="unknown name 'co applicant'"):
        parse("`co applicant` + 1", allowed_names={"co-applicant"})


# ------------------------------------------------------------------ independent_scm keeps names
def test_independent_scm_keeps_names_and_makes_text_categorical() -> None:
    frame = pd.DataFrame({"co-applicant": [0, 1, 1], "hours per week": [40.0, 35.5, 20.0]})
    scm = independent_scm(frame, "raw", immutable=["co-applicant"])
    assert scm.names == ("co-applicant", "hours per week")
    assert scm.noise_names == ("U_co_applicant", "U_hours_per_week")
    assert scm.variable("co-applicant").actionability == "immutable"
    cat = independent_scm(frame.assign(job=[" b", "a", "b"]), "raw")
    assert cat.variable("job").kind == "categorical" and cat.variable("job").levels == ("a", "b")
    assert cat.noise_of("job").probs == pytest.approx((1 / 3, 2 / 3))
    with pytest.raises(InputError, match="Column 'job' mixes text with other values"):
        independent_scm(frame.assign(job=["a", 1, "a"]), "raw")
    with pytest.raises(InputError, match="single level"):
        independent_scm(frame.assign(job=["a", "a", "a"]), "raw")
    with pytest.raises(InputError, match="Column 'x' has 1 missing value"):
        independent_scm(frame.assign(x=[1.0, None, 2.0]), "raw")


# ------------------------------------------------------------------ bad input (library)
@pytest.mark.parametrize("text, fragment", [
    ("a -> b\nb -> c\nc -> a\n", "cycle: a -> b -> c -> a"),
    ("a -> b\na -> zz\n", r"column\(s\) \['zz'\] that are not in the data"),
    ("a -> b\n# again\na  ->  b\n", "line 3: duplicate edge 'a' -> 'b' \\(already on line 1\\)"),
    ("a -> a\n", "self-loop"),
    ("a b\n", "line 1: expected one edge"),
    ("a -> b -> c\n", "expected one edge"),
    (" -> b\n", "a name on both sides"),
])
def test_bad_dags(text, fragment) -> None:
    with pytest.raises(InputError, match=fragment):
        check_dag(parse_dag(text), ["a", "b", "c"])


def test_bad_tables_and_graphs() -> None:
    good = pd.DataFrame({"a": [0.1, 0.5, 0.9, 0.3], "b": [1, 0, 1, 1], "c": [3, 5, 7, 2]})
    with pytest.raises(InputError, match="Column 'b' takes a single value"):
        fit_scm(good.assign(b=1), check_dag([("a", "b")], good.columns), "x")
    with pytest.raises(InputError, match="Column 'c' is integer.*--continuous c"):
        fit_scm(good, check_dag([("a", "c")], good.columns), "x")
    forced = fit_scm(good, check_dag([("a", "c")], good.columns), "x", FitSettings(continuous=("c",)))
    assert forced.variable("c").kind == "continuous" and forced.parents("c") == ("a",)
    with pytest.raises(InputError, match="empty"):
        fit_scm(good.iloc[:0], None, "x")
    with pytest.raises(InputError, match="both immutable and increase-only"):
        fit_scm(good, None, "x", FitSettings(immutable=("a",), increase_only=("a",)))
    with pytest.raises(InputError, match="immutable column\\(s\\) \\['zz'\\]"):
        fit_scm(good, None, "x", FitSettings(immutable=("zz",)))
    with pytest.raises(InputError, match="uses the label column 'c'"):
        fit_scm(good, check_dag([("a", "c")], good.columns), "x", FitSettings(label="c"))
    fit_scm(good, check_dag([("a", "c"), ("b", "c")], good.columns), "x", FitSettings(continuous=("c",)))  # 4 > 3
    tiny = good.iloc[:3]
    with pytest.raises(InputError, match="only 3 row"):
        fit_scm(tiny, check_dag([("a", "c"), ("b", "c")], tiny.columns), "x", FitSettings(continuous=("c",)))


# ------------------------------------------------------------------ CLI
@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict:
    """Data from the awkward SCM with a label column, its DAG, and a LogisticRegression on the raw names."""
    tmp = tmp_path_factory.mktemp("fitscm")
    truth = scm_from_dict(AWKWARD)
    data = truth.sample(2000, seed=1)
    y = (data["income"] + np.random.default_rng(2).normal(0, 3, len(data)) > 43).astype(int)
    model = LogisticRegression(max_iter=2000).fit(data, y)
    joblib.dump(model, tmp / "model.joblib")
    data.assign(approved=y).to_csv(tmp / "data.csv", index=False)
    (tmp / "dag.txt").write_text(AWKWARD_DAG)
    return {"dir": tmp, "data": data, "model": model, "denied": np.flatnonzero(model.predict(data) == 0)}


def _fit(capsys, files, *extra: str, out: str = "spec.yaml") -> tuple[int, str, str]:
    return _run(capsys, "fit-scm", "--data", str(files["dir"] / "data.csv"), "--dag", str(files["dir"] / "dag.txt"),
                "--label", "approved", "--out", str(files["dir"] / out), *extra)


def test_cli_writes_a_spec_that_solve_accepts(capsys, files) -> None:
    code, out, err = _fit(capsys, files, "--immutable", "co-applicant")
    assert code == 0, err
    assert "wrote" in out and "`hours per week`" in out
    spec_path = files["dir"] / "spec.yaml"
    scm = load_scm(spec_path)
    assert scm.names == ("co-applicant", "hours per week", "income")
    assert scm.variable("co-applicant").actionability == "immutable"
    # one actionable feature: the optimum is closed form (linear SCM + logistic regression)
    i = int(files["denied"][0])
    person = files["data"].iloc[i].to_dict()
    code, out, err = _run(capsys, "solve", "--scm", str(spec_path), "--classifier", str(files["dir"] / "model.joblib"),
                          "--individual", json.dumps(person), "--actionable", "hours per week", "--format", "json")
    assert code == 0, err
    d = json.loads(out)
    assert d["status"] == "OPTIMAL" and d["verified"] is True
    w, b = files["model"].coef_[0], files["model"].intercept_[0]
    slope = w[1] + w[2] * linear_coefficients(scm, "income")["hours per week"]
    logit = float(w @ np.array(list(person.values())) + b)
    assert d["cost"] == pytest.approx(-logit / slope, rel=1e-4, abs=1e-6)
    cf = pd.DataFrame([d["counterfactual"]])[list(scm.names)]
    np.testing.assert_allclose(cf.to_numpy()[0], scm.counterfactual(person, d["action"]), atol=1e-6)
    assert files["model"].predict_proba(cf)[0, 1] >= 0.5


def test_cli_spec_works_in_batch_explain_and_audit(capsys, files) -> None:
    code, _, err = _fit(capsys, files, "--out", str(files["dir"] / "spec2.json"), "--sensitive", "co-applicant",
                        out="unused.yaml")
    assert code == 0, err
    spec, clf = str(files["dir"] / "spec2.json"), str(files["dir"] / "model.joblib")
    results = files["dir"] / "results.csv"
    code, _, err = _run(capsys, "batch", "--scm", spec, "--classifier", clf, "--data", str(files["dir"] / "data.csv"),
                        "--limit", "40", "--out", str(results), "--workers", "1", "--no-progress")
    assert code == 0, err
    table = pd.read_csv(results)
    denied = files["model"].predict(files["data"].iloc[:40]) == 0
    assert len(table) == 40 and denied.sum() > 0
    assert set(table.status[denied]) == {"OPTIMAL"} and table.verified[denied].all()
    code, out, err = _run(capsys, "audit", str(results), "--by", "co-applicant", "--scm", spec,
                          "--out", str(files["dir"] / "audit"), "--no-plots", "--n-boot", "20")
    assert code == 0, err and (files["dir"] / "audit" / "report.md").is_file()
    i = int(files["denied"][0])
    code, out, err = _run(capsys, "explain", "--scm", spec, "--classifier", clf, "--individual",
                          json.dumps(files["data"].iloc[i].to_dict()), "--actionable", "income",
                          "--bounds", f"income=:{files['data'].income.iloc[i] + 1e-3}")
    assert code == 0, err
    assert "NO_RECOURSE" in out


def _bad_csv(tmp, name: str, frame: pd.DataFrame | None, text: str | None = None):
    path = tmp / name
    if frame is not None:
        frame.to_csv(path, index=False)
    else:
        path.write_text(text or "")
    return str(path)


@pytest.mark.parametrize("case, fragment", [
    ("cycle", "has a cycle: a -> b -> a"),
    ("unknown", "column(s) ['zz'] that are not in the data"),
    ("duplicate", "duplicate edge 'a' -> 'b'"),
    ("missing", "Column 'b' has 1 missing value(s) (rows 1); drop those rows or impute"),
    ("empty", "is empty"),
    ("header-only", "is empty"),
    ("categorical-child", "Column 'job' is categorical and has parents ['a']"),
    ("integer-child", "Column 'n' is integer and has parents"),
    ("out-suffix", "--out must end in .yaml"),
    ("no-dag-file", "Cannot read the DAG file"),
])
def test_cli_bad_input_exits_2_and_writes_nothing(capsys, tmp_path, case, fragment) -> None:
    good = pd.DataFrame({"a": [0.1, 0.5, 0.9, 0.3], "b": [1.5, 0.2, 1.1, 3.0], "c": [0, 1, 1, 0]})
    data = _bad_csv(tmp_path, "data.csv", good)
    dag_text = "a -> b\n"
    out = tmp_path / "spec.yaml"
    if case == "cycle":
        dag_text = "a -> b\nb -> a\n"
    elif case == "unknown":
        dag_text = "a -> zz\n"
    elif case == "duplicate":
        dag_text = "a -> b\na -> b\n"
    elif case == "missing":
        data = _bad_csv(tmp_path, "m.csv", good.assign(b=[1.0, None, 2.0, 3.0]))
    elif case == "empty":
        data = _bad_csv(tmp_path, "e.csv", None, "")
    elif case == "header-only":
        data = _bad_csv(tmp_path, "h.csv", None, "a,b,c\n")
    elif case == "categorical-child":
        data = _bad_csv(tmp_path, "s.csv", good.assign(job=["x", "y", "x", "z"]))
        dag_text = "a -> job\n"
    elif case == "integer-child":
        data = _bad_csv(tmp_path, "n.csv", good.assign(n=[1, 2, 3, 5]))
        dag_text = "a -> n\n"
    elif case == "out-suffix":
        out = tmp_path / "spec.txt"
    (tmp_path / "dag.txt").write_text(dag_text)
    dag = str(tmp_path / ("nope.txt" if case == "no-dag-file" else "dag.txt"))
    code, stdout, err = _run(capsys, "fit-scm", "--data", data, "--dag", dag, "--out", str(out))
    assert code == 2 and stdout == ""
    assert err.startswith("error: ") and fragment in err, err
    assert not out.exists() and not list(tmp_path.glob(".spec*"))


def test_cli_independent(capsys, tmp_path) -> None:
    frame = pd.DataFrame({"co-applicant": [0, 1, 1, 0], "hours per week": [40.0, 35.5, 20.0, 50.0]})
    frame.to_csv(tmp_path / "d.csv", index=False)
    code, out, err = _run(capsys, "fit-scm", "--data", str(tmp_path / "d.csv"), "--independent",
                          "--increase-only", "hours per week", "--out", str(tmp_path / "ind.yml"))
    assert code == 0, err
    scm = load_scm(tmp_path / "ind.yml")
    assert scm.names == ("co-applicant", "hours per week") and not scm.graph.edges
    assert scm.variable("hours per week").actionability == "increase"
    assert scm.variable("hours per week").domain == (pytest.approx(18.5), pytest.approx(51.5))


# ------------------------------------------------------------------ piecewise linear in one parent
PIECEWISE = {
    "name": "pw",
    "variables": [
        {"name": "hours per week", "type": "continuous", "domain": [0, 80], "actionability": "actionable",
         "equation": "U_h", "noise": {"name": "U_h", "dist": "uniform", "low": 0, "high": 80}},
        {"name": "z", "type": "continuous", "domain": [-5, 5], "actionability": "immutable",
         "equation": "U_z", "noise": {"name": "U_z", "dist": "normal", "std": 1}},
        {"name": "income", "type": "continuous", "domain": [-100, 300], "actionability": "immutable",
         "equation": "5 + 0.5*`hours per week` + 2*relu(`hours per week` - 40) + 3*z + U_i",
         "noise": {"name": "U_i", "dist": "normal", "std": 1}},
    ],
}


def test_piecewise_fit_matches_a_hand_built_hinge_regression() -> None:
    from milp_recourse.scm.expr import evaluate

    truth = scm_from_dict(PIECEWISE)
    data = truth.sample(10000, seed=0)
    dag = check_dag([("hours per week", "income"), ("z", "income")], data.columns)
    fitted = fit_scm(data, dag, "pw", FitSettings(piecewise={"income": ("hours per week", 3)}))
    h = data["hours per week"].to_numpy()
    ts = [float(f"{q:.6g}") for q in np.quantile(h, [0.25, 0.5, 0.75])]
    A = np.column_stack([np.ones(len(h)), h, data["z"]] + [np.maximum(h - t, 0) for t in ts])
    coef, *_ = np.linalg.lstsq(A, data["income"].to_numpy(), rcond=None)
    env = {c: data[c].to_numpy() for c in data.columns} | {"U_income": np.zeros(len(h))}
    np.testing.assert_allclose(evaluate(fitted.equations["income"], env), A @ coef, atol=1e-6)
    U = fitted.abduct(data)  # abduction stays exact
    np.testing.assert_allclose(fitted.predict_from_noise(U), data.to_numpy(), atol=1e-9)
    # one knot (at the median, ~40): the true kink is recovered
    one = fit_scm(data, dag, "pw", FitSettings(piecewise={"income": ("hours per week", 1)}))
    got = linear_coefficients(one, "income")
    assert got["z"] == pytest.approx(3.0, abs=0.05)
    assert one.noise_of("income").std == pytest.approx(1.0, abs=0.05)
    assert "relu terms in hours per week at" in one.variable("income").description
    assert "relu(`hours per week` - 4" in to_text(one.equations["income"])


def test_piecewise_spec_solves_to_the_bisection_optimum(capsys, tmp_path) -> None:
    truth = scm_from_dict(PIECEWISE)
    data = truth.sample(3000, seed=4)
    y = (data["income"] + np.random.default_rng(5).normal(0, 5, len(data)) > 40).astype(int)
    model = LogisticRegression(max_iter=3000).fit(data, y)
    joblib.dump(model, tmp_path / "m.joblib")
    data.to_csv(tmp_path / "d.csv", index=False)
    (tmp_path / "dag.txt").write_text("hours per week -> income\nz -> income\n")
    code, out, err = _run(capsys, "fit-scm", "--data", str(tmp_path / "d.csv"), "--dag", str(tmp_path / "dag.txt"),
                          "--piecewise", "income=hours per week:2", "--immutable", "z,income",
                          "--out", str(tmp_path / "pw.yaml"))
    assert code == 0, err and "relu" in out
    scm = load_scm(tmp_path / "pw.yaml")
    i = int(np.flatnonzero(model.predict(data) == 0)[0])
    person = data.iloc[i].to_dict()
    code, out, err = _run(capsys, "solve", "--scm", str(tmp_path / "pw.yaml"), "--classifier",
                          str(tmp_path / "m.joblib"), "--individual", json.dumps(person), "--format", "json")
    assert code == 0, err
    d = json.loads(out)
    assert d["status"] == "OPTIMAL" and d["verified"] is True and set(d["action"]) == {"hours per week"}

    def logit(h: float) -> float:  # the numpy SCM and the classifier itself, no solver
        cf = scm.counterfactual(person, {"hours per week": h})
        return float(model.decision_function(pd.DataFrame([cf], columns=list(scm.names)))[0])

    x0 = person["hours per week"]
    up = logit(scm.variable("hours per week").upper) >= 0
    lo, hi = (x0, scm.variable("hours per week").upper) if up else (scm.variable("hours per week").lower, x0)
    for _ in range(100):
        mid = (lo + hi) / 2
        if (logit(mid) >= 0) == up:
            hi, lo = (mid, lo) if up else (hi, mid)
        else:
            lo, hi = (mid, hi) if up else (lo, mid)
    best = abs((hi if up else lo) - x0)
    assert d["cost"] == pytest.approx(best, rel=1e-4, abs=1e-5)


@pytest.mark.parametrize("settings, fragment", [
    (FitSettings(piecewise={"income": ("z", 1)}), None),
    (FitSettings(piecewise={"income": ("nope", 1)}), "'nope', which is not a parent of 'income'"),
    (FitSettings(piecewise={"zz": ("z", 1)}), "piecewise column 'zz' is not in the data"),
])
def test_piecewise_bad_parent(settings, fragment) -> None:
    data = scm_from_dict(PIECEWISE).sample(200, seed=0)
    dag = check_dag([("hours per week", "income"), ("z", "income")], data.columns)
    if fragment is None:
        fit_scm(data, dag, "pw", settings)
        return
    with pytest.raises(InputError, match=fragment):
        fit_scm(data, dag, "pw", settings)


def test_piecewise_bad_options(capsys, tmp_path) -> None:
    with pytest.raises(InputError, match="1 <= knots <= 20"):
        FitSettings(piecewise={"income": ("z", 0)})
    flat = pd.DataFrame({"a": [0.0, 0.0, 0.0, 1.0, 1.0], "b": [1.5, 2.0, 3.0, 4.0, 5.0]})
    with pytest.raises(InputError, match="no knot strictly inside"):
        fit_scm(flat, check_dag([("a", "b")], flat.columns), "f", FitSettings(piecewise={"b": ("a", 1)}))
    flat.to_csv(tmp_path / "f.csv", index=False)
    (tmp_path / "dag.txt").write_text("a -> b\n")
    code, out, err = _run(capsys, "fit-scm", "--data", str(tmp_path / "f.csv"), "--dag", str(tmp_path / "dag.txt"),
                          "--piecewise", "b=a", "--out", str(tmp_path / "s.yaml"))
    assert code == 2 and out == "" and "--piecewise b: expected PARENT:K" in err
    assert not (tmp_path / "s.yaml").exists()


def test_categorical_and_ordinal_parents_recover_level_effects() -> None:
    """income = 20 + 5 [Tech] - 3 [Admin] + 4 code(edu) + N(0, 2): fitted with a categorical and an ordinal
    parent, the equation gives every level's mean within 0.1 and the noise std within 0.05."""
    rng = np.random.default_rng(0)
    n = 10_000
    job = rng.choice(["Sales", "Tech", "Admin"], n, p=[0.5, 0.3, 0.2])
    edu = rng.choice(["HS", "BSc", "MSc"], n)
    code = pd.Series(edu).map({"HS": 0, "BSc": 1, "MSc": 2}).to_numpy()
    income = 20 + 5 * (job == "Tech") - 3 * (job == "Admin") + 4 * code + rng.normal(0, 2, n)
    frame = pd.DataFrame({"job": job, "edu level": edu, "income": income})
    dag = check_dag([("job", "income"), ("edu level", "income")], frame.columns)
    scm = fit_scm(frame, dag, "levels", FitSettings(ordinal={"edu level": ("HS", "BSc", "MSc")}))
    assert scm.variable("job").levels == ("Admin", "Sales", "Tech")          # sorted observed levels
    assert scm.variable("edu level").kind == "ordinal"
    for j, level in enumerate(scm.variable("job").levels):
        for e in range(3):
            mean = scm.predict_from_noise([j, e, 0.0])[2]
            truth = 20 + {"Tech": 5, "Admin": -3, "Sales": 0}[level] + 4 * e
            assert mean == pytest.approx(truth, abs=0.1)
    assert scm.noise_of("income").std == pytest.approx(2.0, abs=0.05)
    with pytest.raises(InputError, match="lacks the level"):
        fit_scm(frame, dag, "x", FitSettings(ordinal={"edu level": ("HS", "BSc")}))


def test_binary_child_is_a_threshold_model_with_median_abduction() -> None:
    """b = (-1 + 1.5 a + U >= 0), U logistic: the fit recovers the coefficients within 0.15 from 10 000 rows;
    abduction reproduces every row and gives the posterior median of U (F(u) = 1 - s/2 or (1 - s)/2)."""
    rng = np.random.default_rng(1)
    a = rng.uniform(-3, 3, 10_000)
    b = (-1 + 1.5 * a + rng.logistic(size=a.size) >= 0).astype(float)
    frame = pd.DataFrame({"a": a, "b": b})
    scm = fit_scm(frame, check_dag([("a", "b")], frame.columns), "thr")
    assert scm.variable("b").kind == "binary" and scm.noise_of("b").dist == "logistic"
    coefs = linear_coefficients_threshold(scm)
    assert coefs == pytest.approx((-1.0, 1.5), abs=0.15)
    X = frame.to_numpy()
    U = scm.abduct(X)
    assert np.array_equal(scm.predict_from_noise(U), X)
    s = 1 / (1 + np.exp(-(coefs[0] + coefs[1] * a)))
    F = 1 / (1 + np.exp(-U[:, 1]))
    assert np.allclose(np.where(b == 1, 1 - s / 2, (1 - s) / 2), F, atol=1e-9)


def linear_coefficients_threshold(scm):
    """(intercept, slope) of eta in b = (eta + U >= 0), read by evaluating eta at a = 0 and a = 1."""
    from milp_recourse.scm.expr import evaluate
    from milp_recourse.scm.threshold import threshold_parts

    eta = threshold_parts(scm.equations["b"], scm.variable("b").noise_name)
    e0, e1 = (float(evaluate(eta, {"a": np.array(v)})) for v in (0.0, 1.0))
    return e0, e1 - e0


# ------------------------------------------------------------------ an outside fuzz
def test_unidentified_effects_and_repeated_headers_are_refused(capsys, tmp_path) -> None:
    """A constant parent wrote 'hours = 1.96 + 5.89 * const' (the minimum-norm split of the mean: rank of [1, const]
    is 1), collinear parents an arbitrary split, and a repeated header 'age' became 'age' and 'age.1'."""
    rng = np.random.default_rng(0)
    a = rng.normal(40, 10, 200).round(1)
    h = (0.5 * a + rng.normal(0, 5, 200)).round(2)
    cases = {"const": (pd.DataFrame({"age": a, "hours": h, "const": 3.0}), "const -> hours\n",
                       "Column 'hours': its parents' effects cannot be told apart: const is constant in the data"),
             "coll": (pd.DataFrame({"age": a, "age2": 2 * a, "hours": h}), "age -> hours\nage2 -> hours\n",
                      "age2 is a linear combination of the intercept, age in the data")}
    for name, (frame, dag, needle) in cases.items():
        assert np.linalg.matrix_rank(np.c_[np.ones(200), frame.drop(columns="hours")[
            [c for c in frame.columns if c != "hours" and c in dag]]]) < 1 + dag.count("->")   # the reference
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
        (tmp_path / f"{name}.txt").write_text(dag)
        code, out, err = _run(capsys, "fit-scm", "--data", str(tmp_path / f"{name}.csv"), "--dag",
                              str(tmp_path / f"{name}.txt"), "--out", str(tmp_path / f"{name}.yaml"))
        assert code == 2 and out == "" and needle in err, err
        assert not (tmp_path / f"{name}.yaml").exists()
    (tmp_path / "dup.csv").write_text("age,age\n1,2\n3,4\n")
    code, out, err = _run(capsys, "fit-scm", "--data", str(tmp_path / "dup.csv"), "--independent",
                          "--out", str(tmp_path / "dup.yaml"))
    assert code == 2 and err == f"error: The --data file {str(tmp_path / 'dup.csv')!r} names the column(s) 'age' " \
                                "more than once; expected each column once.\n", err


def test_an_integer_root_samples_whole_values_at_the_data_frequencies() -> None:
    """An integer root was 'type: integer' with a uniform noise, so sampling gave fractions (1 000 of 1 000)."""
    rng = np.random.default_rng(0)
    kids = rng.choice([0, 1, 2, 3, 9], size=400, p=[0.4, 0.3, 0.2, 0.05, 0.05])
    frame = pd.DataFrame({"age": rng.normal(40, 10, 400), "kids": kids})
    scm = fit_scm(frame, None, "ints")
    var = scm.variable("kids")
    assert var.kind == "integer"
    sample = scm.sample(20_000, seed=1)["kids"].to_numpy()
    assert np.all(sample == np.round(sample)) and sample.min() >= var.lower and sample.max() <= var.upper
    lo, hi = int(var.lower), int(var.upper)
    expected = (np.bincount(kids - lo, minlength=hi - lo + 1) + 0.5) / (400 + 0.5 * (hi - lo + 1))   # by hand
    observed = np.bincount((sample - lo).astype(int), minlength=hi - lo + 1) / sample.size
    assert np.max(np.abs(observed - expected)) < 0.015
    # abduction and the counterfactual of a person stay exact: kids is its own noise shifted by the domain's low
    assert scm.abduct(np.array([[40.0, 3.0]]))[0][1] == 3.0 - lo
