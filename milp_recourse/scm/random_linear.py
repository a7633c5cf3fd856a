"""Random linear-Gaussian SCMs of any size (for scaling benchmarks and property tests)."""

from __future__ import annotations

import numpy as np

from milp_recourse.scm.spec import scm_from_dict


def random_linear_scm(n_nodes: int, seed: int = 0, edge_prob: float = 0.3, n_immutable: int = 1):
    """n_nodes variables x0..x{n-1} in a random DAG (edges i -> j for i < j), weights in +-[0.2, 0.8].

    The first `n_immutable` roots are immutable; the label is the sign of the sum of all variables.
    """
    rng = np.random.default_rng(seed)
    B = np.zeros((n_nodes, n_nodes))  # x = B x + u
    equations = []
    for j in range(n_nodes):
        terms = []
        for i in range(j):
            if rng.random() < edge_prob:
                w = round(rng.uniform(0.2, 0.8) * rng.choice([-1.0, 1.0]), 3)
                B[j, i] = w
                terms.append(f"{w:.3f}*x{i}")
        equations.append(" + ".join(terms + [f"u{j}"]))
    # exact standard deviations (x = (I - B)^-1 u, unit noise): domains at 10 std hold every realistic sample
    mix = np.linalg.inv(np.eye(n_nodes) - B)
    std = np.sqrt(np.sum(mix ** 2, axis=1))
    variables = []
    for j, eq in enumerate(equations):
        bound = float(np.ceil(10.0 * std[j]))
        variables.append({"name": f"x{j}", "type": "continuous", "domain": [-bound, bound],
                          "actionability": "immutable" if j < n_immutable else "actionable",
                          "equation": eq, "noise": {"name": f"u{j}", "dist": "normal", "mean": 0, "std": 1}})
    label = "(" + " + ".join(f"x{j}" for j in range(n_nodes)) + ") >= 0"
    return scm_from_dict({"name": f"random-linear-{n_nodes}", "variables": variables, "label": label})


def bipartite_hold_scm(C: np.ndarray):
    """The SCM of the reduction from bipartite boolean quadratic programming (docs/scaling.md): a root s, a layer
    a_j = s + u, a layer b_k = sum_j C_jk a_j + u (C rounded to one decimal in the equations), all actionable.

    Under a p = 1 cost, shifting s by t while holding {a_j : x_j = 0} and {b_k : y_k = 0} moves sum_k b_k by
    t * x^T C y, so a score sum_k b_k makes proving the cheapest recourse as hard as max_{x, y} x^T C y."""
    C = np.asarray(C, float)
    if C.ndim != 2 or not C.size or not np.all(np.isfinite(C)):
        raise ValueError(f"C must be a non-empty finite 2-D array; got shape {C.shape}.")
    p, q = C.shape

    def var(name: str, equation: str, noise: str, bound: float) -> dict:
        return {"name": name, "type": "continuous", "actionability": "actionable", "domain": [-bound, bound],
                "equation": equation, "noise": {"name": noise, "dist": "normal", "mean": 0, "std": 1}}

    variables = [var("s", "us", "us", 1e4)]
    variables += [var(f"a{j}", f"s + ua{j}", f"ua{j}", 1e6) for j in range(p)]
    for k in range(q):
        terms = [f"{C[j, k]:.1f}*a{j}" for j in range(p) if round(C[j, k], 1) != 0]
        variables.append(var(f"b{k}", " + ".join(terms + [f"ub{k}"]), f"ub{k}", 1e8))
    return scm_from_dict({"name": f"bipartite-hold-{p}x{q}", "variables": variables, "label": "s >= 0"})
