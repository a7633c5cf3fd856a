"""Tests of the SCM: validation, abduction, interventions, counterfactuals, density, input checks."""

from __future__ import annotations

import copy
import math
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.special import logit

from milp_recourse.errors import InputError, SpecError
from milp_recourse.scm import SCM, Variable, load_scm, scm_from_dict, shipped_models
from milp_recourse.scm.expr import parse
from milp_recourse.scm.noise import Bernoulli, Normal, NormalMixture, noise_from_spec


def var(name: str, equation: str, noise: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
    """One variable entry of a spec dict."""
    entry = {"name": name, "type": "continuous", "domain": [-50, 50], "actionability": "actionable",
             "equation": equation, "noise": noise or {"name": f"u_{name}", "dist": "normal", "std": 1}}
    entry.update(kw)
    return entry


def spec(*variables: dict[str, Any], label: str | None = None) -> dict[str, Any]:
    d: dict[str, Any] = {"name": "t", "variables": list(variables)}
    if label is not None:
        d["label"] = label
    return d


GAUSS_CHAIN = spec(  # x = B x + u with Gaussian u: closed-form multivariate normal
    var("a", "1 + u_a", {"name": "u_a", "dist": "normal", "mean": 0.5, "std": 1.5}),
    var("b", "2*a - 1 + u_b", {"name": "u_b", "dist": "normal", "var": 0.25}),
    var("c", "-0.5*a + 3*b + u_c", {"name": "u_c", "dist": "normal", "std": 2}),
)


def test_log_density_of_linear_gaussian_chain_matches_mvn() -> None:
    scm = scm_from_dict(GAUSS_CHAIN)
    B = np.array([[0, 0, 0], [2, 0, 0], [-0.5, 3, 0]], dtype=float)
    A = np.linalg.inv(np.eye(3) - B)
    mean = A @ np.array([1 + 0.5, -1, 0])
    cov = A @ np.diag([1.5 ** 2, 0.25, 4.0]) @ A.T
    X = np.random.default_rng(0).normal(size=(50, 3)) * 3 + mean
    np.testing.assert_allclose(scm.log_density(X), stats.multivariate_normal(mean, cov).logpdf(X), rtol=1e-10)
    assert scm.log_density(X[0]) == pytest.approx(stats.multivariate_normal(mean, cov).logpdf(X[0]))


def test_log_density_change_of_variables_nonlinear() -> None:
    scm = scm_from_dict(spec(var("a", "exp(2*u_a)", domain=[1e-6, 1e6]), var("b", "a**3 + 2*u_b")))
    X = np.array([[0.5, 1.0], [2.0, -3.0], [7.0, 400.0]])
    # a = exp(2u) is lognormal(sigma=2); b | a ~ N(a^3, 2^2)
    ref = stats.lognorm(s=2.0).logpdf(X[:, 0]) + stats.norm(X[:, 0] ** 3, 2.0).logpdf(X[:, 1])
    np.testing.assert_allclose(scm.log_density(X), ref, rtol=1e-10)


@pytest.mark.parametrize("model", ["chain", "triangle", "collider", "chain-nonlinear", "loan", "loan-original"])
def test_round_trip_and_counterfactual_consistency(model: str) -> None:
    scm = load_scm(model)
    df = scm.sample(400, seed=3, return_noise=True)
    X, U = df[list(scm.names)].to_numpy(), df[list(scm.noise_names)].to_numpy()
    np.testing.assert_allclose(scm.abduct(X), U, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(scm.counterfactual(X, {}), X, rtol=1e-9, atol=1e-9)
    target = scm.actionable[0]
    theta = np.linspace(*scm.variable(target).domain, X.shape[0]) * 0.5
    np.testing.assert_allclose(scm.counterfactual(X, {target: theta}), scm.predict_from_noise(U, {target: theta}),
                               rtol=1e-9, atol=1e-9)
    one = scm.counterfactual(X[7], {target: 0.25})
    assert one.shape == (scm.dim,) and one[scm.index(target)] == 0.25
    untouched = [n for n in scm.names if n != target and n not in scm.descendants([target])]
    for n in untouched:  # non-descendants keep their factual values
        assert one[scm.index(n)] == pytest.approx(X[7, scm.index(n)])


def test_chain_counterfactual_by_hand() -> None:
    scm = load_scm("chain")
    x = np.array([1.0, 0.3, -1.2, 2.0])
    u1, u2, u3 = x[1] - x[0], x[2] - x[0] - 0.5 * x[1], x[3] - 0.25 * x[0] - 0.5 * x[2]
    cf = scm.counterfactual(x, {"x1": 2.0})
    x2 = x[0] + 0.5 * 2.0 + u2
    np.testing.assert_allclose(cf, [1.0, 2.0, x2, 0.25 * x[0] + 0.5 * x2 + u3])
    np.testing.assert_allclose(scm.abduct(x), [1.0, u1, u2, u3])
    cf2 = scm.counterfactual(x, {"x2": -1.0, "xs": 0.0})
    np.testing.assert_allclose(cf2, [0.0, 0.0 + u1, -1.0, 0.5 * -1.0 + u3])


def test_loan_education_inverse_is_logit() -> None:
    scm = load_scm("loan")
    x = pd.DataFrame(scm.sample(20, seed=1))
    c = -1 + 0.5 * x.G + 1 / (1 + np.exp(-0.1 * x.A))
    np.testing.assert_allclose(scm.abduct(x)[:, scm.index("E")], logit(x.E + 0.5) - c, rtol=1e-9, atol=1e-9)


def test_structure_queries() -> None:
    scm = load_scm("loan")
    assert pickle.loads(pickle.dumps(scm)) == scm and copy.deepcopy(scm) == scm
    assert scm.names == ("G", "A", "E", "L", "D", "I", "S")
    assert scm.parents("D") == ("G", "A", "L") and scm.parents("G") == ()
    assert scm.children("A") == ("E", "L", "D", "I")
    assert scm.descendants(["L"]) == {"D"} and scm.descendants(["I", "L"]) == {"S", "D"}
    assert scm.ancestors("S") == {"I", "G", "A", "E"}
    assert scm.sensitive == ("G",) and scm.variable("E").kind == "continuous" and scm.index("S") == 6
    assert set(scm.graph.edges) >= {("G", "E"), ("I", "S"), ("L", "D")}
    with pytest.raises(InputError, match="Unknown variable 'Q'; known: G, A, E"):
        scm.index("Q")


def test_sampling_keeps_binary_integral_and_is_seeded() -> None:
    scm = load_scm("loan")
    a, b = scm.sample(300, seed=11, return_label=True), scm.sample(300, seed=11)
    assert set(np.unique(a.G)) == {0.0, 1.0}
    pd.testing.assert_frame_equal(a[list(scm.names)], b)
    assert set(np.unique(a.Y)) <= {0.0, 1.0}
    assert scm.within_domain(a[list(scm.names)]).mean() > 0.99


# ---------------------------------------------------------------- spec errors
BAD_SPECS = {
    "cyclic": (spec(var("a", "b + u_a"), var("b", "a + u_b")), r"cyclic: (a -> b -> a|b -> a -> b)"),
    "self loop": (spec(var("a", "a + u_a")), "cyclic"),
    "unknown parent": (spec(var("a", "q + u_a")), "unknown name 'q'"),
    "unknown function": (spec(var("a", "tanh(u_a)")), "unknown function 'tanh'"),
    "noise used twice": (spec(var("a", "u_a + 0.1*u_a")), "occurs 2 times"),
    "noise missing": (spec(var("a", "1.0")), "does not occur"),
    "noise inside abs": (spec(var("a", "abs(u_a)")), r"inside abs\(\)"),
    "noise inside max": (spec(var("b", "u_b"), var("a", "max(b, u_a)")), r"inside max\(\)"),
    "noise inside relu": (spec(var("a", "1 + relu(u_a)")), r"inside relu\(\)"),
    "noise in indicator": (spec(var("a", "(u_a > 0)")), "comparison"),
    "even power": (spec(var("a", "u_a**2")), "not strictly monotone"),
    "factor can be 0": (spec(var("b", "u_b"), var("a", "b*u_a")), "factor 'b' can be 0"),
    "other noise": (spec(var("a", "u_a"), var("b", "u_a + u_b")), "noise of another variable"),
    "bad domain": (spec(var("a", "u_a", domain=[3, 1])), r"domain \[3.0, 1.0\]"),
    "infinite domain": (spec(var("a", "u_a", domain=[0, math.inf])), "finite"),
    "bad kind": (spec(var("a", "u_a", type="real")), "type 'real'; expected one of continuous, integer, binary"),
    "bad actionability": (spec(var("a", "u_a", actionability="maybe")), "actionability 'maybe'"),
    "binary domain": (spec(var("a", "u_a", type="binary", domain=[0, 2])), r"inside \[0, 1\]"),
    "unknown key": (spec(var("a", "u_a", colour="red")), r"Unknown key\(s\) \['colour'\].*allowed: name, type"),
    "duplicate": (spec(var("a", "u_a"), var("a", "u_b", {"name": "u_b", "dist": "normal"})), "more than once"),
    "bad noise": (spec(var("a", "u_a", {"name": "u_a", "dist": "cauchy"})), "Unknown noise distribution 'cauchy'"),
    "bad label": (spec(var("a", "u_a"), label="z > 0"), "unknown name 'z'"),
}


@pytest.mark.parametrize("case", sorted(BAD_SPECS))
def test_bad_specs_raise_spec_error(case: str) -> None:
    d, pattern = BAD_SPECS[case]
    with pytest.raises(SpecError, match=pattern):
        scm_from_dict(copy.deepcopy(d))


def test_noise_through_positive_factor_and_odd_power_is_accepted() -> None:
    scm = scm_from_dict(spec(var("b", "u_b", domain=[1, 3]), var("a", "b*(u_a - 1)**3 / (b + 1)"),
                             var("c", "log(exp(-u_c) + 2)")))
    df = scm.sample(200, seed=5, return_noise=True)
    np.testing.assert_allclose(scm.abduct(df[list(scm.names)]), df[list(scm.noise_names)], rtol=1e-7, atol=1e-7)


def test_scm_constructor_checks_topological_order() -> None:
    v = [Variable("b", "continuous", -1, 1, "actionable", "ub"), Variable("a", "continuous", -1, 1, "actionable", "ua")]
    eqs = {"b": parse("a + ub"), "a": parse("ua")}
    with pytest.raises(SpecError, match="'b' comes before its parent 'a'"):
        SCM("t", tuple(v), eqs, {"ua": Normal(), "ub": Normal()})
    scm = SCM("t", tuple(v[::-1]), eqs, {"ua": Normal(), "ub": Normal()})
    same = SCM("t", tuple(v[::-1]), dict(eqs), {"ua": Normal(), "ub": Normal()})
    assert scm.names == ("a", "b") and scm == same and hash(scm) == hash(same)


# ---------------------------------------------------------------- individuals and interventions
def test_validate_individual() -> None:
    scm = load_scm("loan")
    good = {"G": 1, "A": 10.0, "E": 0.1, "L": 2.0, "D": 3.0, "I": 1.0, "S": 0.5}
    np.testing.assert_array_equal(scm.validate_individual(good), [1, 10, 0.1, 2, 3, 1, 0.5])
    np.testing.assert_array_equal(scm.validate_individual(pd.Series(good)), [1, 10, 0.1, 2, 3, 1, 0.5])
    cases = [({**good, "I": math.nan}, "'I' of the individual is nan"),
             ({**good, "S": math.inf}, "'S' of the individual is inf"),
             ({**good, "E": 0.7}, r"'E' = 0.7 is outside its domain \[-0.5, 0.5\]"),
             ({**good, "G": 0.5}, "'G' is binary but has the non-integral value 0.5"),
             ({**good, "Q": 1.0}, r"unknown name\(s\) \['Q'\]"),
             ({k: v for k, v in good.items() if k != "A"}, r"lacks \['A'\]")]
    for x, pattern in cases:
        with pytest.raises(InputError, match=pattern):
            scm.validate_individual(x)
    with pytest.raises(InputError, match=r"shape \(7,\) or \(n, 7\).*got shape \(3,\)"):
        scm.validate_individual(np.zeros(3))
    with pytest.raises(InputError, match="one individual"):
        scm.validate_individual(np.zeros((2, 7)))


def test_within_domain_mask() -> None:
    scm = load_scm("chain")
    X = np.array([[0, 0, 0, 0], [1, 8.5, 0, 0], [0.5, 0, 0, 0], [1, math.nan, 0, 0], [1, -8, 8, -7]])
    np.testing.assert_array_equal(scm.within_domain(X), [True, False, False, False, True])
    assert scm.within_domain(X[0]) is True


def test_bad_interventions_and_inputs() -> None:
    scm = load_scm("chain")
    x = np.zeros(4)
    with pytest.raises(InputError, match="unknown variable 'x9'; known: xs, x1, x2, x3"):
        scm.counterfactual(x, {"x9": 1.0})
    with pytest.raises(InputError, match="'x1' must be a finite number"):
        scm.counterfactual(x, {"x1": math.nan})
    with pytest.raises(InputError, match="non-finite"):
        scm.abduct(np.array([0, math.nan, 0, 0]))
    with pytest.raises(InputError, match=r"lacks column\(s\) \['x3'\]"):
        scm.abduct(pd.DataFrame(np.zeros((2, 3)), columns=["xs", "x1", "x2"]))


# ---------------------------------------------------------------- noise
def test_noise_distributions() -> None:
    rng = np.random.default_rng(0)
    mix = noise_from_spec({"dist": "mixture", "weights": [0.5, 0.5], "means": [-2, 1.5], "vars": [1.5, 1]})
    assert isinstance(mix, NormalMixture) and mix.stds == pytest.approx((math.sqrt(1.5), 1.0))
    u = np.array([-3.0, 0.0, 2.5])
    ref = np.log(0.5 * stats.norm(-2, math.sqrt(1.5)).pdf(u) + 0.5 * stats.norm(1.5, 1).pdf(u))
    np.testing.assert_allclose(mix.logpdf(u), ref, rtol=1e-12)
    assert abs(mix.sample(rng, 100000).mean() - (-0.25)) < 0.03
    assert noise_from_spec({"dist": "normal", "var": 4}) == Normal(0.0, 2.0)
    np.testing.assert_allclose(Bernoulli(0.3).logpdf([0, 1, 0.5]), [math.log(0.7), math.log(0.3), -math.inf])
    g = noise_from_spec({"dist": "gamma", "shape": 10, "scale": 3.5})
    np.testing.assert_allclose(g.logpdf([20.0]), stats.gamma(10, scale=3.5).logpdf([20.0]))
    for bad, pattern in [({"dist": "normal", "std": -1}, "std > 0"), ({"dist": "bernoulli", "p": 2}, "p <= 1"),
                         ({"dist": "normal", "std": 1, "var": 1}, "not both"), ({"dist": "gamma", "shape": 1},
                                                                                  r"missing \['scale'\]"),
                         ({"dist": "uniform", "low": 1, "high": 0}, "low < high"),
                         ({"dist": "normal", "sd": 1}, r"Unknown key\(s\) \['sd'\]")]:
        with pytest.raises(SpecError, match=pattern):
            noise_from_spec(bad)


def test_shipped_models_are_listed() -> None:
    assert {"loan", "loan-original", "chain", "triangle", "collider", "chain-nonlinear"} <= set(shipped_models())


@pytest.mark.parametrize("nodes", [10, 50])
def test_random_linear_scm_domains_hold_its_samples(nodes: int) -> None:
    from milp_recourse.scm.random_linear import random_linear_scm

    scm = random_linear_scm(nodes, seed=nodes)
    sample = scm.sample(20000, seed=1)
    std = sample.std().to_numpy()
    for j, v in enumerate(scm.variables):
        col = sample[v.name].to_numpy()
        assert v.lower <= col.min() and col.max() <= v.upper, (v.name, col.min(), col.max(), v.lower)
        assert v.upper <= 12 * std[j] + 1  # tight enough for useful big-M values (about 10 std)


def test_descendants_of_a_set_match_networkx_on_random_dags() -> None:
    """One traversal from all names equals the union of networkx's per-node descendants (a name itself only when
    another name of the set reaches it); a single name may be passed as a string."""
    import networkx as nx

    from milp_recourse.scm.random_linear import random_linear_scm

    rng = np.random.default_rng(5)
    for seed in range(4):
        scm = random_linear_scm(25, seed=seed, edge_prob=0.15)
        for _ in range(10):
            names = list(rng.choice(scm.names, int(rng.integers(1, 6)), replace=False))
            ref = set().union(*(nx.descendants(scm.graph, n) for n in names))
            assert scm.descendants(names) == ref
        assert scm.descendants(scm.names[0]) == nx.descendants(scm.graph, scm.names[0])
    with pytest.raises((InputError, SpecError, KeyError)):
        scm.descendants(["nope"])


def test_a_pickled_scm_keeps_its_constraints() -> None:
    """SCM.__reduce__ left out the spec's `constraints:` list, so a pickled copy (a process pool, a cache) solved
    without the spec's IF-THEN rules; found while reviewing this session's change."""
    scm = load_scm(str(Path(__file__).resolve().parents[1] / "examples" / "logic" / "loan_logic.yaml"))
    assert scm.constraints
    again = pickle.loads(pickle.dumps(scm))
    assert again.constraints == scm.constraints and again == scm and copy.deepcopy(scm).constraints == scm.constraints
