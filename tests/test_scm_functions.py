"""Every function of the SCM equation language through one battery (functions.py, the registry): numpy = scalar,
intervals contain sampled values, derivative = finite differences, inverse(f(x)) = x, torch = numpy; and a new
function added as one registry entry works in parsing, evaluation, bounds, derivatives and the MILP encoding."""

from __future__ import annotations

import math

import numpy as np
import pytest

from milp_recourse.errors import SpecError
from milp_recourse.scm import functions
from milp_recourse.scm.expr import derivative, evaluate, interval, parse, substitute
from milp_recourse.scm.nodes import Call, Const, Name, Sub

REGISTERED = sorted(functions.names())
RNG = np.random.default_rng(0)


def _domain(name: str) -> tuple[float, float]:
    return (0.05, 20.0) if name == "log" else (-6.0, 6.0)


def _args(fn: functions.ScmFunction) -> int:
    return 1 if fn.arity == 1 else 3


@pytest.mark.parametrize("name", REGISTERED)
def test_numpy_equals_scalar(name: str) -> None:
    fn = functions.get(name)
    lo, hi = _domain(name)
    xs = RNG.uniform(lo, hi, size=(200, _args(fn)))
    vec = fn.numpy(*xs.T)
    for row, v in zip(xs, vec):
        assert fn.scalar(*row) == pytest.approx(float(v), rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("name", REGISTERED)
def test_interval_contains_every_sampled_value(name: str) -> None:
    fn = functions.get(name)
    lo, hi = _domain(name)
    for _ in range(100):
        ends = np.sort(RNG.uniform(lo, hi, size=(_args(fn), 2)), axis=1)
        ivs = [tuple(map(float, e)) for e in ends]
        ilo, ihi = fn.interval(*ivs)
        pts = [np.concatenate([[a, b], RNG.uniform(a, b, 50)]) for a, b in ivs]
        vals = fn.numpy(*pts)
        assert np.all(vals >= ilo) and np.all(vals <= ihi), (name, ivs, ilo, ihi)


@pytest.mark.parametrize("name", [n for n in REGISTERED if functions.get(n).arity == 1])
def test_derivative_matches_finite_differences(name: str) -> None:
    e = parse(f"{name}(2 * x - 1)")
    d = derivative(e, "x")
    lo, hi = _domain(name)
    xs = (RNG.uniform(lo, hi, 200) + 1) / 2
    xs = xs[np.abs(2 * xs - 1) > 1e-3]          # away from kinks (abs, relu at 0)
    h = 1e-6
    fd = (evaluate(e, {"x": xs + h}) - evaluate(e, {"x": xs - h})) / (2 * h)
    assert np.allclose(evaluate(d, {"x": xs}), fd, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", [n for n in REGISTERED if functions.get(n).inverse is not None])
def test_inverse_recovers_the_argument(name: str) -> None:
    fn = functions.get(name)
    lo, hi = _domain(name)
    xs = RNG.uniform(max(lo, -5), min(hi, 5), 100)
    back = evaluate(fn.inverse(Name("y")), {"y": fn.numpy(xs)})
    assert np.allclose(back, xs, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", REGISTERED)
def test_torch_op_equals_numpy(name: str) -> None:
    torch = pytest.importorskip("torch")
    from milp_recourse.baselines.torch_scm import torch_eval

    fn = functions.get(name)
    k = _args(fn)
    lo, hi = _domain(name)
    xs = RNG.uniform(lo, hi, size=(k, 30))
    e = Call(name, tuple(Name(f"a{i}") for i in range(k)))
    env = {f"a{i}": torch.tensor(xs[i], dtype=torch.float64) for i in range(k)}
    got = torch_eval(e, env, torch)
    assert np.allclose(got.numpy(), fn.numpy(*xs), rtol=1e-12, atol=1e-12)


def test_unknown_or_malformed_calls_are_refused_with_the_known_names() -> None:
    with pytest.raises(SpecError, match="unknown function 'tanh'.*allowed: abs, exp, log, max, min, pow, relu"):
        parse("tanh(x)")
    with pytest.raises(SpecError, match=r"max\(\) takes at least 2 arguments; got 1"):
        parse("max(x)")
    with pytest.raises(SpecError, match=r"exp\(\) takes exactly 1 argument; got 2"):
        parse("exp(x, y)")
    with pytest.raises(SpecError, match="Unknown function 'tanh'"):
        evaluate(Call("tanh", (Const(1.0),)), {})
    with pytest.raises(SpecError, match="already defined"):
        functions.register(functions.get("exp"))


def test_a_new_function_is_one_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    """softplus(x) = log(1 + exp(x)), added as one registry entry: parse, evaluate, fold, interval, derivative,
    abduction through it, and the MILP encoding (piecewise-linear) all pick it up."""
    from scipy.special import expit

    softplus = functions.ScmFunction(
        "softplus", 1, lambda x: np.logaddexp(0.0, x), lambda v: float(np.logaddexp(0.0, v)),
        lambda iv: functions.outward((float(np.logaddexp(0.0, iv[0])), float(np.logaddexp(0.0, iv[1])))),
        lambda call, a: Call("sigmoid", (a,)), lambda y: Call("log", (Sub(Call("exp", (y,)), Const(1.0)),)),
        "smooth", "nn.functional.softplus")
    monkeypatch.setitem(functions._REGISTRY, "softplus", softplus)
    e = parse("softplus(x) + 1")
    assert float(evaluate(e, {"x": 0.0})) == pytest.approx(math.log(2) + 1)
    assert substitute(e, {"x": 0.0}) == Const(math.log(2) + 1)
    lo, hi = interval(e, {"x": (-1.0, 2.0)})
    assert lo <= math.log1p(math.exp(-1)) + 1 and hi >= math.log1p(math.exp(2)) + 1
    d = derivative(e, "x")
    assert float(evaluate(d, {"x": 0.3})) == pytest.approx(expit(0.3))
    inv = softplus.inverse(Name("y"))
    assert float(evaluate(inv, {"y": float(np.logaddexp(0, 0.7))})) == pytest.approx(0.7)
    from milp_recourse.encode.scm_equations import is_smooth_nonlinear

    assert is_smooth_nonlinear(e)            # the MILP takes it piecewise-linearly, with a measured error
    torch = pytest.importorskip("torch")
    from milp_recourse.baselines.torch_scm import torch_eval

    got = torch_eval(e, {"x": torch.tensor([0.0, 1.5], dtype=torch.float64)}, torch)
    assert np.allclose(got.numpy(), np.logaddexp(0, [0.0, 1.5]) + 1)
