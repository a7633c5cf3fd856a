"""Random linear-Gaussian worlds with a linear score, in chosen units and domain widths, and their exact optimum by
enumeration: every set of intervened features, each an LP (p = 1, scipy's linprog) or a closed form (p = 2), all
worked in natural units outside the package."""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linprog
from sklearn.linear_model import LogisticRegression

from milp_recourse import CostSpec, Preferences, RecourseProblem, SolveOptions
from milp_recourse.scm.spec import scm_from_dict


@dataclass(frozen=True)
class World:
    """A DAG's weights B (x = B x + u), domain half-widths, a score w.x + b and per-feature cost coefficients."""

    B: np.ndarray
    bound: np.ndarray
    w: np.ndarray
    b: float
    price: np.ndarray   # cost per natural unit (p = 1) or per squared natural unit (p = 2) of each feature


def random_dag(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Weights B of a random linear-Gaussian DAG on n features in topological order (edges with probability 0.35,
    |weight| 0.2 .. 0.8) and domain half-widths of 10 noise deviations of each feature."""
    B = np.zeros((n, n))
    for j in range(n):
        for i in range(j):
            if rng.random() < 0.35:
                B[j, i] = round(rng.uniform(0.2, 0.8) * rng.choice([-1, 1]), 3)
    mix = np.linalg.inv(np.eye(n) - B)
    return B, np.ceil(10 * np.sqrt((mix ** 2).sum(1)))


def random_world(seed: int) -> World:
    """3 .. 10 features, x0 immutable, a random DAG (random_dag), domains 10 noise deviations wide."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 11))
    B, bound = random_dag(rng, n)
    return World(B, bound, rng.normal(size=n), float(rng.normal(scale=0.5)), np.exp(rng.uniform(-1, 1, size=n)))


def denied_people(world: World, seed: int, k: int) -> list[np.ndarray]:
    """Up to k people drawn from the world whose score is below 0 (and within the domains)."""
    rng = np.random.default_rng(seed + 7)
    n = len(world.B)
    X = rng.standard_normal((400, n)) @ np.linalg.inv(np.eye(n) - world.B).T
    X = X[(np.abs(X) < world.bound).all(1) & (X @ world.w + world.b < 0)]
    return list(X[:k])


def problem(world: World, x: np.ndarray, p: int, units: np.ndarray, widen: np.ndarray,
            closed_form: bool = False) -> RecourseProblem:
    """The world in units (feature j's value x units[j]) with domains widened x widen[j], as a RecourseProblem."""
    n = len(world.B)
    variables = []
    for j in range(n):
        terms = [f"{float(world.B[j, i] * units[j] / units[i])!r}*x{i}" for i in range(j) if world.B[j, i] != 0]
        half = float(world.bound[j] * units[j] * widen[j])
        variables.append({"name": f"x{j}", "type": "continuous", "domain": [-half, half],
                          "actionability": "immutable" if j == 0 else "actionable",
                          "equation": " + ".join(terms + [f"u{j}"]),
                          "noise": {"name": f"u{j}", "dist": "normal", "mean": 0, "std": float(units[j])}})
    clf = LogisticRegression()
    clf.coef_, clf.intercept_, clf.classes_ = np.array([world.w / units]), np.array([world.b]), np.array([0, 1])
    clf.n_features_in_ = n
    # price_j per natural unit^p: weight price_j, divisor units_j^p
    return RecourseProblem(scm_from_dict({"name": "w", "variables": variables}), clf,
                           {f"x{j}": float(x[j] * units[j]) for j in range(n)},
                           preferences=Preferences(weights={f"x{j}": float(world.price[j]) for j in range(1, n)}),
                           cost=CostSpec(p=p, divisors={f"x{j}": float(units[j] ** p) for j in range(1, n)}),
                           options=SolveOptions(time_limit=20, closed_form=closed_form))


def scaled_cases(mode: str, seed: int):
    """(person index, p, world, person, units, widths) of one seed's cases in a badly scaled mode: 'units' (every
    feature in a unit x 1e-4 .. 1e6), 'widen' (domains x 10 .. 1e6) or 'uneven' (one price x 1e-4, one x 1e4);
    two denied people, p = 1 and 2 each, drawn in that order."""
    world = random_world(seed)
    n = len(world.B)
    rng = np.random.default_rng(seed + 1000)
    for k, x in enumerate(denied_people(world, seed, 2)):
        for p in (1, 2):
            units = 10 ** rng.uniform(-4, 6, size=n) if mode == "units" else np.ones(n)
            widen = 10 ** rng.uniform(1, 6, size=n) if mode == "widen" else np.ones(n)
            case = world
            if mode == "uneven":
                price = world.price.copy()
                k1, k2 = rng.choice(np.arange(1, n), 2, replace=False)
                price[k1] *= 1e-4
                price[k2] *= 1e4
                case = dataclasses.replace(world, price=price)
            yield k, p, case, x, units, widen


def _effects(B: np.ndarray, I: tuple[int, ...]) -> np.ndarray:
    """d x' / d theta_I: the columns of (1 - B with rows I cut)^-1 for the intervened features."""
    BI = B.copy()
    BI[list(I), :] = 0
    return np.linalg.inv(np.eye(len(B)) - BI)[:, list(I)]


def exact_optimum(world: World, x: np.ndarray, p: int, widen: np.ndarray, margin: float = 0.0) -> float:
    """min sum_k price_k |d_k|^p over intervention sets I and shifts d with score(x') >= margin and x' in the
    widened domains, in natural units. p = 2 uses the closed form of each set and raises when a domain binds."""
    n = len(world.B)
    lo, hi = -world.bound * widen, world.bound * widen
    need = margin - (world.w @ x + world.b)
    best = np.inf
    for r in range(1, n):
        for I in itertools.combinations(range(1, n), r):
            T = _effects(world.B, I)
            a = world.w @ T
            c = world.price[list(I)]
            if p == 1:
                res = linprog(np.concatenate([c, c]), A_ub=np.vstack([np.concatenate([-a, a]), np.hstack([T, -T]),
                                                                       np.hstack([-T, T])]),
                              b_ub=np.concatenate([[-need], hi - x, x - lo]), bounds=[(0, None)] * (2 * r),
                              method="highs")
                if res.status == 0:
                    best = min(best, float(res.fun))
            elif np.any(a != 0):
                d = need / np.sum(a ** 2 / c) * a / c   # argmin sum c d^2 s.t. a.d = need
                xp = x + T @ d
                val = float(np.sum(c * d ** 2))
                if val < best:
                    if np.any(xp > hi + 1e-9) or np.any(xp < lo - 1e-9):
                        raise ValueError("a domain binds the closed form: no reference for this case")
                    best = val
    return best


__all__ = ["World", "random_dag", "random_world", "denied_people", "problem", "exact_optimum", "scaled_cases"]
