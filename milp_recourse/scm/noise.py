"""Exogenous noise distributions of an SCM: frozen dataclasses with sample / logpdf.

Built from spec dicts such as ``{dist: normal, mean: 0, std: 2}`` by :func:`noise_from_spec`.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
from scipy.special import logsumexp

from milp_recourse.errors import SpecError, describe


class Noise(ABC):
    """A univariate noise distribution."""

    dist: str = ""
    discrete: bool = False

    @abstractmethod
    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """n independent draws."""

    @abstractmethod
    def logpdf(self, u: np.ndarray | float) -> np.ndarray:
        """Log density (log pmf for discrete distributions), -inf outside the support."""

    @property
    @abstractmethod
    def support(self) -> tuple[float, float]:
        """Smallest closed interval containing all values (may be infinite)."""

    @abstractmethod
    def to_spec(self) -> dict[str, Any]:
        """Spec dict that :func:`noise_from_spec` turns back into an equal object."""


def _positive(value: float, what: str, dist: str) -> float:
    if not (math.isfinite(value) and value > 0):
        raise SpecError(f"The {dist} noise needs a finite {what} > 0; got {describe(value)}.")
    return value


@dataclass(frozen=True)
class Normal(Noise):
    mean: float = 0.0
    std: float = 1.0
    dist = "normal"

    def __post_init__(self) -> None:
        _finite(self.mean, "mean", self.dist)
        _positive(self.std, "std", self.dist)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.normal(self.mean, self.std, size=n)

    def logpdf(self, u: np.ndarray | float) -> np.ndarray:
        z = (np.asarray(u, dtype=float) - self.mean) / self.std
        return -0.5 * z * z - math.log(self.std) - 0.5 * math.log(2 * math.pi)

    @property
    def support(self) -> tuple[float, float]:
        return -math.inf, math.inf

    def to_spec(self) -> dict[str, Any]:
        return {"dist": self.dist, "mean": self.mean, "std": self.std}


@dataclass(frozen=True)
class Bernoulli(Noise):
    p: float = 0.5
    dist = "bernoulli"
    discrete = True

    def __post_init__(self) -> None:
        if not (0.0 <= self.p <= 1.0):
            raise SpecError(f"The bernoulli noise needs 0 <= p <= 1; got {describe(self.p)}.")

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return (rng.random(n) < self.p).astype(float)

    def logpdf(self, u: np.ndarray | float) -> np.ndarray:
        u = np.asarray(u, dtype=float)
        with np.errstate(divide="ignore"):
            return np.where(u == 1.0, np.log(self.p), np.where(u == 0.0, np.log1p(-self.p), -np.inf))

    @property
    def support(self) -> tuple[float, float]:
        return 0.0, 1.0

    def to_spec(self) -> dict[str, Any]:
        return {"dist": self.dist, "p": self.p}


@dataclass(frozen=True)
class Gamma(Noise):
    shape: float
    scale: float = 1.0
    dist = "gamma"

    def __post_init__(self) -> None:
        _positive(self.shape, "shape", self.dist)
        _positive(self.scale, "scale", self.dist)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.gamma(self.shape, self.scale, size=n)

    def logpdf(self, u: np.ndarray | float) -> np.ndarray:
        from scipy import stats   # here, not at the top: scipy.stats takes 0.4 s to import

        return stats.gamma.logpdf(np.asarray(u, dtype=float), self.shape, scale=self.scale)

    @property
    def support(self) -> tuple[float, float]:
        return 0.0, math.inf

    def to_spec(self) -> dict[str, Any]:
        return {"dist": self.dist, "shape": self.shape, "scale": self.scale}


@dataclass(frozen=True)
class Uniform(Noise):
    low: float = 0.0
    high: float = 1.0
    dist = "uniform"

    def __post_init__(self) -> None:
        _finite(self.low, "low", self.dist)
        _finite(self.high, "high", self.dist)
        if not self.low < self.high:
            raise SpecError(f"The uniform noise needs low < high; got low={self.low}, high={self.high}.")

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.uniform(self.low, self.high, size=n)

    def logpdf(self, u: np.ndarray | float) -> np.ndarray:
        u = np.asarray(u, dtype=float)
        inside = (u >= self.low) & (u <= self.high)
        return np.where(inside, -math.log(self.high - self.low), -np.inf)

    @property
    def support(self) -> tuple[float, float]:
        return self.low, self.high

    def to_spec(self) -> dict[str, Any]:
        return {"dist": self.dist, "low": self.low, "high": self.high}


@dataclass(frozen=True)
class NormalMixture(Noise):
    weights: tuple[float, ...]
    means: tuple[float, ...]
    stds: tuple[float, ...]
    dist = "mixture"

    def __post_init__(self) -> None:
        for f in ("weights", "means", "stds"):
            object.__setattr__(self, f, tuple(float(v) for v in getattr(self, f)))
        k = len(self.weights)
        if k == 0 or len(self.means) != k or len(self.stds) != k:
            raise SpecError("The mixture noise needs weights, means and stds of equal non-zero length; got "
                            f"{len(self.weights)}, {len(self.means)} and {len(self.stds)}.")
        if any(not (math.isfinite(w) and w >= 0) for w in self.weights) or abs(sum(self.weights) - 1) > 1e-9:
            raise SpecError(f"The mixture weights must be >= 0 and sum to 1; got {list(self.weights)}.")
        for m, s in zip(self.means, self.stds):
            _finite(m, "mean", self.dist)
            _positive(s, "std", self.dist)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        comp = rng.choice(len(self.weights), size=n, p=np.asarray(self.weights))
        return rng.normal(np.asarray(self.means)[comp], np.asarray(self.stds)[comp])

    def logpdf(self, u: np.ndarray | float) -> np.ndarray:
        u = np.asarray(u, dtype=float)[..., None]
        means, stds = np.asarray(self.means), np.asarray(self.stds)
        z = (u - means) / stds
        with np.errstate(divide="ignore"):
            terms = np.log(np.asarray(self.weights)) - 0.5 * z * z - np.log(stds) - 0.5 * math.log(2 * math.pi)
        return logsumexp(terms, axis=-1)

    @property
    def support(self) -> tuple[float, float]:
        return -math.inf, math.inf

    def to_spec(self) -> dict[str, Any]:
        return {"dist": self.dist, "weights": list(self.weights), "means": list(self.means), "stds": list(self.stds)}


@dataclass(frozen=True)
class Logistic(Noise):
    """Standard-logistic noise of a threshold node ``x = (eta(parents) + U >= 0)`` (see scm/threshold.py)."""

    dist = "logistic"

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.logistic(0.0, 1.0, n)

    def logpdf(self, u: np.ndarray | float) -> np.ndarray:
        u = np.abs(np.asarray(u, dtype=float))
        return -u - 2.0 * np.log1p(np.exp(-u))

    @property
    def support(self) -> tuple[float, float]:
        return -math.inf, math.inf

    def to_spec(self) -> dict[str, Any]:
        return {"dist": self.dist}


@dataclass(frozen=True)
class Categorical(Noise):
    """The code of a categorical / ordinal root: k = 0..K-1 with probability probs[k]."""

    probs: tuple[float, ...]
    dist = "categorical"
    discrete = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "probs", tuple(float(v) for v in self.probs))
        if len(self.probs) < 2 or any(not (math.isfinite(v) and v >= 0) for v in self.probs) \
                or abs(sum(self.probs) - 1) > 1e-6:
            raise SpecError(f"The categorical noise needs probs >= 0 for at least two codes, summing to 1; "
                            f"got {list(self.probs)}.")

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        p = np.asarray(self.probs)
        return rng.choice(len(p), size=n, p=p / p.sum()).astype(float)

    def logpdf(self, u: np.ndarray | float) -> np.ndarray:
        u = np.asarray(u, dtype=float)
        k = np.clip(np.round(u), 0, len(self.probs) - 1).astype(int)
        with np.errstate(divide="ignore"):
            logp = np.log(np.asarray(self.probs))[k]
        return np.where((u == np.round(u)) & (u >= 0) & (u <= len(self.probs) - 1), logp, -np.inf)

    @property
    def support(self) -> tuple[float, float]:
        return 0.0, float(len(self.probs) - 1)

    def to_spec(self) -> dict[str, Any]:
        return {"dist": self.dist, "probs": list(self.probs)}


def _finite(value: float, what: str, dist: str) -> float:
    if not math.isfinite(value):
        raise SpecError(f"The {dist} noise needs a finite {what}; got {describe(value)}.")
    return value


_KEYS: dict[str, tuple[set[str], set[str]]] = {  # dist -> (required, optional) keys
    "normal": (set(), {"mean", "std", "var"}),
    "bernoulli": ({"p"}, set()),
    "gamma": ({"shape", "scale"}, set()),
    "uniform": ({"low", "high"}, set()),
    "mixture": ({"weights", "means"}, {"stds", "vars"}),
    "categorical": ({"probs"}, set()),
    "logistic": (set(), set()),
}
_ALIASES = {"gaussian": "normal", "normal_mixture": "mixture", "mixture_of_normals": "mixture", "gmm": "mixture"}


def _number(d: Mapping[str, Any], key: str, dist: str) -> float:
    value = d[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecError(f"The {dist} noise parameter {key!r} must be a number; got {describe(value)}.")
    return float(value)


def _numbers(d: Mapping[str, Any], key: str, dist: str) -> tuple[float, ...]:
    value = d[key]
    if not isinstance(value, (list, tuple)) or any(isinstance(v, bool) or not isinstance(v, (int, float))
                                                   for v in value):
        raise SpecError(f"The {dist} noise parameter {key!r} must be a list of numbers; got {describe(value)}.")
    return tuple(float(v) for v in value)


def _spread(d: Mapping[str, Any], dist: str, std_key: str, var_key: str, default: Any, many: bool) -> Any:
    """std from either the std or the variance key (exactly one of them, or the default)."""
    if std_key in d and var_key in d:
        raise SpecError(f"The {dist} noise takes either {std_key!r} or {var_key!r}, not both; got {dict(d)}.")
    if var_key in d:
        var = _numbers(d, var_key, dist) if many else (_number(d, var_key, dist),)
        if any(not (math.isfinite(v) and v > 0) for v in var):
            raise SpecError(f"The {dist} noise needs {var_key!r} > 0; got {describe(d[var_key])}.")
        stds = tuple(math.sqrt(v) for v in var)
        return stds if many else stds[0]
    if std_key in d:
        return _numbers(d, std_key, dist) if many else _number(d, std_key, dist)
    if default is None:
        raise SpecError(f"The {dist} noise needs {std_key!r} or {var_key!r}; got keys {sorted(d)}.")
    return default


def noise_from_spec(d: Mapping[str, Any]) -> Noise:
    """Build a Noise from a spec dict with a 'dist' key (a 'name' key is allowed and ignored)."""
    if not isinstance(d, Mapping):
        raise SpecError(f"A noise spec must be a mapping with a 'dist' key; got {describe(d)}.")
    raw = d.get("dist")
    if not isinstance(raw, str):
        raise SpecError(f"A noise spec needs 'dist' (one of {', '.join(sorted(_KEYS))}); got {describe(dict(d))}.")
    dist = _ALIASES.get(raw.lower(), raw.lower())
    if dist not in _KEYS:
        raise SpecError(f"Unknown noise distribution {raw!r}; expected one of {', '.join(sorted(_KEYS))}.")
    required, optional = _KEYS[dist]
    allowed = required | optional | {"dist", "name"}
    unknown = sorted(set(d) - allowed)
    if unknown:
        raise SpecError(f"Unknown key(s) {unknown} in the {dist} noise spec; allowed: {', '.join(sorted(allowed))}.")
    missing = sorted(required - set(d))
    if missing:
        raise SpecError(f"The {dist} noise spec is missing {missing}; required: {', '.join(sorted(required))}.")
    if dist == "normal":
        mean = _number(d, "mean", dist) if "mean" in d else 0.0
        return Normal(mean, _spread(d, dist, "std", "var", 1.0, many=False))
    if dist == "bernoulli":
        return Bernoulli(_number(d, "p", dist))
    if dist == "gamma":
        return Gamma(_number(d, "shape", dist), _number(d, "scale", dist))
    if dist == "uniform":
        return Uniform(_number(d, "low", dist), _number(d, "high", dist))
    if dist == "categorical":
        return Categorical(_numbers(d, "probs", dist))
    if dist == "logistic":
        return Logistic()
    return NormalMixture(_numbers(d, "weights", dist), _numbers(d, "means", dist),
                         _spread(d, dist, "stds", "vars", None, many=True))


__all__ = ["Noise", "Normal", "Bernoulli", "Gamma", "Uniform", "NormalMixture", "Categorical", "Logistic",
           "noise_from_spec"]
