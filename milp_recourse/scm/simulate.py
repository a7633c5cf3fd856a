"""Vectorised counterfactuals for many candidate actions of one person (numpy SCM semantics).

Each row of `mask`/`theta` is one action: mask[i, k] says whether actionable feature k is
intervened on, theta[i, k] its new value. Used by the heuristic upper bound and by baselines.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def person_constants(problem, changing: frozenset[str]) -> dict[str, float]:
    """A person's values that no action changes, by name: non-changing variables and every abducted noise term."""
    scm = problem.scm
    out = {n: float(v) for n, v in zip(scm.names, problem.x) if n not in changing}
    out.update({scm.variable(n).noise_name: float(u) for n, u in zip(scm.names, problem.noise)})
    return out


def counterfactuals(scm, x: np.ndarray, features: Sequence[str], mask: np.ndarray, theta: np.ndarray,
                    noise: np.ndarray | None = None) -> np.ndarray:
    """(n, d) counterfactuals of x under n hard interventions (abduction, action, prediction).

    Variables that descend from none of `features` keep their factual values (no equation is evaluated for
    them: exact, and on the Loan SCM half the work)."""
    mask = np.asarray(mask, bool)
    theta = np.asarray(theta, float)
    n = mask.shape[0]
    x = np.asarray(x, float).reshape(-1)
    U = scm.abduct(x.reshape(1, -1))[0] if noise is None else noise
    env: dict[str, np.ndarray] = {scm.variable(v).noise_name: np.full(n, u) for v, u in zip(scm.names, U)}
    col = {f: i for i, f in enumerate(features)}
    moving = scm.descendants(features)  # everything else keeps its factual value under every action
    out = np.empty((n, len(scm.names)))
    for j, name in enumerate(scm.names):
        if name in moving:
            val = np.broadcast_to(scm.equation_value(name, env), (n,)).copy()
        else:
            val = np.full(n, x[j])
        if name in col:
            k = col[name]
            val = np.where(mask[:, k], theta[:, k], val)
        env[name] = val
        out[:, j] = val
    return out
