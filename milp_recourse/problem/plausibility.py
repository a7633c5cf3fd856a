"""Plausibility as a hard constraint: the counterfactual inside a range box, or of SCM log-density at least a
percentile of the reference data's.

Density semantics (chosen, documented, tested): the *observational* log-density of the counterfactual point,
`SCM.log_density(x_cf)`, i.e. its noise re-abducted from x_cf for every node, intervened ones included. With
the abducted noise held fixed, a node j that is not intervened on re-abducts to its own factual noise u_j, so
only the intervened nodes' terms move: log p(x_cf) = log p(x) + sum_k [log p_k(u'_k) - log p_k(u_k)] over the
nodes k that can be intervened on, u'_k = the inverse of k's equation at (theta_k, pa'_k). (The interventional
density, which skips the intervened nodes' terms, would not depend on theta at all.) Exact only where every
node that can be intervened on has additive Gaussian noise and every changing node additive noise (constant
Jacobian); anything else is refused with an InputError naming the variable and its noise.
Box semantics: every variable of the counterfactual, unchanged ones included (a person whose immutable feature
lies outside the box has no plausible recourse: NO_RECOURSE, certified by the box row).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from milp_recourse.errors import InputError
from milp_recourse.scm import expr as ex
from milp_recourse.scm.levels import encode_levels
from milp_recourse.scm.noise import Normal

KINDS = ("box", "density")
DENSITY_SAMPLES = 10000   # SCM samples standing in for reference data when none is given (seed 0)
BOX_TOL = 1e-6            # relative tolerance of the box re-check (MILP rows hold to ~1e-7 absolute)
DENSITY_TOL = 1e-6        # tolerance of the log-density re-check, relative to max(1, |threshold|)


@dataclass(frozen=True, kw_only=True)
class Plausibility:
    """A resolved plausibility constraint: `kind` 'box' (bounds per variable) or 'density' (threshold on
    SCM.log_density); `source` says where the numbers come from (reference data or the SCM)."""

    kind: str
    lower: Mapping[str, float] = field(default_factory=dict)
    upper: Mapping[str, float] = field(default_factory=dict)
    quantile: float | None = None
    threshold: float | None = None
    source: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InputError(f"The plausibility kind must be one of {', '.join(KINDS)}. Got {self.kind!r}.")
        if self.kind == "density" and (self.threshold is None or not math.isfinite(float(self.threshold))):
            raise InputError(f"A density plausibility needs a finite log-density threshold. Got {self.threshold!r}.")
        if self.kind == "box":
            for n in self.lower:
                if n not in self.upper or not float(self.lower[n]) <= float(self.upper[n]):
                    raise InputError(f"The plausibility box of {n!r} must be lower <= upper. Got "
                                     f"[{self.lower[n]}, {self.upper.get(n)}].")

    def describe(self) -> str:
        if self.kind == "box":
            return f"counterfactual inside the range box of {self.source}"
        return (f"log-density >= {self.threshold:.6g} (the {self.quantile:g}th percentile of {self.source})")

    def violations(self, scm: Any, cf: np.ndarray) -> list[str]:
        """What the counterfactual (vector in SCM order) breaks, in words (empty: plausible)."""
        out = []
        if self.kind == "box":
            for j, n in enumerate(scm.names):
                lo, hi, v = self.lower[n], self.upper[n], float(cf[j])
                tol = BOX_TOL * max(1.0, abs(lo), abs(hi))
                if v < lo - tol or v > hi + tol:
                    out.append(f"counterfactual {n} = {v:g} is outside the plausible box [{lo:g}, {hi:g}]")
            return out
        ld = float(scm.log_density(np.asarray(cf, float)))
        if not ld >= self._density_floor():
            out.append(f"counterfactual log-density {ld:.6g} is below the plausibility threshold "
                       f"{self.threshold:.6g}")
        return out

    def satisfied(self, scm: Any, X: np.ndarray) -> np.ndarray:
        """Mask of the counterfactual rows of X (SCM order) that are plausible (same tolerances as violations)."""
        X = np.asarray(X, float)
        if self.kind == "box":
            lo = np.array([self.lower[n] for n in scm.names])
            hi = np.array([self.upper[n] for n in scm.names])
            tol = BOX_TOL * np.maximum(1.0, np.maximum(np.abs(lo), np.abs(hi)))
            inside: np.ndarray = np.all((X >= lo - tol) & (X <= hi + tol), axis=1)
            return inside
        ld = np.asarray(scm.log_density(X), float)
        above: np.ndarray = ld >= self._density_floor()
        return above

    def _density_floor(self) -> float:
        """The log-density a counterfactual must reach, less the re-check's round-off allowance."""
        t = float(self.threshold) if self.threshold is not None else -np.inf
        return t - DENSITY_TOL * max(1.0, abs(t)) if np.isfinite(t) else t


def _table(scm: Any, data: Any) -> np.ndarray:
    """The reference data as a float matrix in SCM column order: categorical / ordinal columns may hold level
    names (read as their codes, as the classifier's table does); InputError naming a missing column, an unknown
    level or a value that is not a number."""
    import pandas as pd

    frame = data if isinstance(data, pd.DataFrame) else pd.DataFrame(np.asarray(data, float), columns=list(scm.names))
    missing = [n for n in scm.names if n not in frame.columns]
    if missing:
        raise InputError(f"The reference data lacks column(s) {', '.join(missing)}; plausibility needs every SCM "
                         f"variable ({', '.join(scm.names)}).")
    frame = encode_levels(scm, frame[list(scm.names)])
    for name in scm.names:
        numbers = pd.to_numeric(frame[name], errors="coerce")
        bad = numbers.isna() & frame[name].notna()
        if bad.any():
            row = int(bad.to_numpy().nonzero()[0][0])
            raise InputError(f"The reference data's column {name!r}, row {row + 1}: {frame[name].iloc[row]!r} is not "
                             "a number.")
    X: np.ndarray = frame.to_numpy(dtype=float)
    if X.shape[0] == 0 or not np.all(np.isfinite(X)):
        raise InputError("The reference data for plausibility is empty or has missing/infinite values.")
    return X


def box_plausibility(scm: Any, data: Any = None) -> Plausibility:
    """The range box of the reference data (per-column min / max), or the SCM's domains when data is None."""
    if data is None:
        lo = {v.name: v.lower for v in scm.variables}
        hi = {v.name: v.upper for v in scm.variables}
        return Plausibility(kind="box", lower=lo, upper=hi, source=f"the SCM {scm.name!r}'s domains")
    X = _table(scm, data)
    return Plausibility(kind="box", lower=dict(zip(scm.names, map(float, X.min(axis=0)))),
                        upper=dict(zip(scm.names, map(float, X.max(axis=0)))),
                        source=f"the reference data ({X.shape[0]} rows)")


def density_plausibility(scm: Any, quantile: float, data: Any = None) -> Plausibility:
    """Threshold = the `quantile`-th percentile of SCM.log_density over the reference data's rows (or over
    DENSITY_SAMPLES samples of the SCM, seed 0, when data is None)."""
    q = float(quantile)
    if not (0.0 < q < 100.0):
        raise InputError(f"The density plausibility percentile must be in (0, 100). Got {quantile!r}.")
    if data is None:
        X = scm.sample(DENSITY_SAMPLES, seed=0)[list(scm.names)].to_numpy(float)
        source = f"{DENSITY_SAMPLES} samples of the SCM {scm.name!r} (seed 0)"
    else:
        X = _table(scm, data)
        source = f"the reference data ({X.shape[0]} rows)"
    ld = np.asarray(scm.log_density(X), float)
    ld = ld[np.isfinite(ld)]
    if ld.size == 0:
        raise InputError("No reference row has a finite SCM log-density; cannot set a density threshold.")
    return Plausibility(kind="density", quantile=q, threshold=float(np.percentile(ld, q)), source=source)


def parse_plausible(text: str, scm: Any, data: Any = None) -> Plausibility:
    """'box' or 'density:Q' (0 < Q < 100) -> a resolved Plausibility (InputError naming a bad value)."""
    t = str(text).strip()
    if t == "box":
        return box_plausibility(scm, data)
    if t.startswith("density:"):
        try:
            q = float(t.split(":", 1)[1])
        except ValueError:
            q = float("nan")
        if not (0.0 < q < 100.0):
            raise InputError(f"--plausible density:Q needs a percentile 0 < Q < 100. Got {text!r}.")
        return density_plausibility(scm, q, data)
    raise InputError(f"--plausible must be 'box' or 'density:Q' with 0 < Q < 100. Got {text!r}.")


def constant_jacobian(scm: Any, name: str) -> bool:
    """Whether node `name`'s equation is affine in its own noise with a constant coefficient (additive noise)."""
    var = scm.variable(name)
    d = ex.derivative(scm.equations[name], var.noise_name)
    return not ex.names(d)


def check_density_noise(scm: Any, intervenable: Sequence[str], changing: Sequence[str]) -> None:
    """Refuse (InputError) where the density constraint has no exact encoding: a node that can be intervened
    on needs additive Gaussian noise, every other changing node additive noise."""
    for n in changing:
        var = scm.variable(n)
        noise = scm.noises[var.noise_name]
        if not constant_jacobian(scm, n):
            raise InputError(f"--plausible density: the equation of {n!r} ({ex.to_text(scm.equations[n])}) is not "
                             f"additive in its noise {var.noise_name!r}; the counterfactual log-density has no exact "
                             f"encoding (use --plausible box).")
        if n in intervenable and not isinstance(noise, Normal):
            raise InputError(f"--plausible density: {n!r} can be intervened on but its noise {var.noise_name!r} is "
                             f"{noise.dist}, not Gaussian; only additive Gaussian noise makes the log-density a "
                             f"concave quadratic (use --plausible box, or make {n!r} immutable).")


__all__ = ["Plausibility", "box_plausibility", "density_plausibility", "parse_plausible", "check_density_noise",
           "constant_jacobian", "KINDS"]
