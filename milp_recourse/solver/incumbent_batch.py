"""Many people's random-search incumbents at once: their validity checks answered by one SCM pass per round.

incumbent.random_search checks ~1 000 random actions, then shrinks the 8 cheapest valid ones towards x by a
grid and six bisection steps: about eight validity checks per person, each a full vectorised SCM pass. For
the people polish_batch.fast_case admits (a ReLU network on the plain SCM counterfactual) and the searches
solve_many runs before a polish (coordinate_shrink=False), the same steps run here as generators whose
checks are answered together (polish_batch.answer_batch: the network per request on its own rows), so each
person gets random_search's very numbers (tests/test_polish_batch.py checks it); anyone else gets
random_search itself.
"""

from __future__ import annotations

import time
from typing import Generator, Sequence

import numpy as np

from milp_recourse.problem.recourse_problem import RecourseProblem
from milp_recourse.solver.incumbent import Incumbent, _checked, _costs, _snap, _snap_row, random_search
from milp_recourse.solver.polish_batch import answer_batch, fast_case


def random_search_many(problems: Sequence[RecourseProblem], samples: Sequence[int], deadlines: Sequence[float]
                       ) -> list[Incumbent | None]:
    """random_search(problems[i], samples[i], problems[i].options.seed, deadlines[i], coordinate_shrink=False)
    for every i."""
    out: list[Incumbent | None] = [None] * len(problems)
    runs: dict[int, Generator] = {}
    for i, (pr, n, dl) in enumerate(zip(problems, samples, deadlines)):
        if fast_case(pr) is None:
            out[i] = random_search(pr, n, pr.options.seed, dl, coordinate_shrink=False)
        else:
            runs[i] = _steps(pr, n, pr.options.seed, dl)
    names = {i: [r.name for r in problems[i].rules if not r.blocked] for i in runs}
    memo: dict = {}
    pending: dict[int, tuple] = {}
    for i, steps in runs.items():
        _send(steps, None, None, i, pending, out)
    while pending:
        order = list(pending)
        replies = answer_batch([(problems[i], names[i], pending[i]) for i in order], memo)
        pending = {}
        for i, (reply, error) in zip(order, replies):
            _send(runs[i], reply, error, i, pending, out)
    return out


def _send(steps: Generator, reply, error: BaseException | None, i: int, pending: dict, out: list) -> None:
    try:
        pending[i] = steps.throw(error) if error is not None else steps.send(reply)
    except StopIteration as stop:
        out[i] = stop.value


def _steps(problem: RecourseProblem, n_samples: int, seed: int, deadline: float | None) -> Generator:
    """random_search(problem, n_samples, seed, deadline, coordinate_shrink=False) as a generator of
    ("valid", mask, theta) requests over the actionable features (the same steps, in the same order)."""
    rules = [r for r in problem.rules if not r.blocked]
    m = problem.actionability.max_changes
    if not rules or n_samples <= 0 or m == 0:
        return None
    names = [r.name for r in rules]
    K = len(rules)
    x = np.array([problem.factual[n] for n in names])
    rng = np.random.default_rng(seed)
    kmax = K if m is None else min(K, m)
    sizes = rng.integers(1, kmax + 1, size=n_samples)
    order = np.argsort(rng.random((n_samples, K)), axis=1)
    # mask[i, order[i, :s_i]] = True for every row at once: feature k is on where its rank in order[i] is < s_i
    mask = np.argsort(order, axis=1) < sizes[:, None]
    theta = np.empty((n_samples, K))
    for k, r in enumerate(rules):
        theta[:, k] = _snap(r, rng.uniform(r.lower, r.upper, n_samples) if r.grid is None
                            else rng.choice(np.asarray(r.grid), n_samples))
    corners_m, corners_t = [], []
    for k, r in enumerate(rules):
        for end in (r.lower, r.upper):
            mk = np.zeros(K, bool)
            mk[k] = True
            t = x.copy()
            t[k] = end
            corners_m.append(mk)
            corners_t.append(_snap_row(rules, t))
    mask = np.vstack([mask, np.array(corners_m)])
    theta = np.vstack([theta, np.array(corners_t)])
    ok = yield ("valid", mask, theta)
    if problem.actionability.excluded_sets:
        ok &= np.array([problem.actionability.excluded_by([n for n, on in zip(names, row) if on]) is None
                        for row in mask], bool)
    if not ok.any():
        return None
    mask, theta = mask[ok], theta[ok]
    costs = _costs(problem, rules, x, mask, theta)
    top = np.argsort(costs)[:8]
    mask, theta = mask[top], theta[top]
    if deadline is not None and time.perf_counter() > deadline:
        best = int(np.argmin(costs[top]))
        action = {names[k]: float(theta[best, k]) for k in range(K) if mask[best, k]}
        return _checked(problem, action, problem.action_cost(action)[0])
    alpha = yield from _shrink_steps(rules, x, mask, theta)
    final = _snap_row(rules, x + alpha[:, None] * (theta - x))
    good = yield ("valid", mask, final)
    final = np.where(good[:, None], final, theta)
    costs = _costs(problem, rules, x, mask, final)
    best = int(np.argmin(costs))
    action = {names[k]: float(final[best, k]) for k in range(K) if mask[best, k]}
    cost, _ = problem.action_cost(action)
    return _checked(problem, action, cost)


def _shrink_steps(rules, x: np.ndarray, mask: np.ndarray, theta: np.ndarray, levels: int = 17,
                  refine: int = 6) -> Generator:
    """incumbent._shrink_factors(..., axis=None) as a generator of validity requests."""
    n = len(theta)
    grid = np.linspace(0.0, 1.0, levels)

    def candidates(alphas: np.ndarray) -> np.ndarray:
        a = alphas.reshape(n, -1, 1)
        moved = x + a * (theta[:, None, :] - x)
        return _snap_row(rules, moved.reshape(-1, theta.shape[1]))

    ok = (yield ("valid", np.repeat(mask, levels, axis=0), candidates(np.tile(grid, (n, 1))))).reshape(n, levels)
    ok[:, -1] = True
    first = ok.argmax(axis=1)
    hi = grid[first]
    lo = np.where(first > 0, grid[np.maximum(first - 1, 0)], 0.0)
    for _ in range(refine):
        mid = 0.5 * (lo + hi)
        good = yield ("valid", mask, candidates(mid[:, None]))
        hi, lo = np.where(good, mid, hi), np.where(good, lo, mid)
    return hi


__all__ = ["random_search_many"]
