"""Many people's SLSQP polishes at once: their evaluation requests answered by one SCM pass per round.

polish.py's patterns are generators of evaluation requests (the counterfactual scores of a few actions). A
person's polish makes ~75 such requests of 1-8 rows each, and each one cost a whole vectorised SCM pass
(~0.2 ms of Python per call on the Loan SCM). Here every pending request of every person's patterns is answered
per round: the counterfactual rows of all of them in one pass (people are one more axis: each row carries its
own factual values and abducted noise, and every SCM operation is elementwise, so each row's numbers are
those of the person's own pass), then the network per request on exactly that request's rows (a matrix
product's rounding depends on its row count), so every person gets polish()'s very numbers.
Requests of people outside that case (not a ReLU network, a plausibility constraint or logic constraints,
the SLSQP fallback) are answered one by one as polish.drive does.
"""

from __future__ import annotations

import math
import time
from typing import Any, Generator, Sequence

import numpy as np

from milp_recourse.bounds.relu_bounds import relu_forward, relu_layers
from milp_recourse.models.classifiers import score_threshold
from milp_recourse.problem.recourse_problem import RecourseProblem
from milp_recourse.solver.incumbent import Incumbent
from milp_recourse.solver.polish import answer, pick_best, polish_steps
from milp_recourse.solver.slsqp_steps import one_blas_thread
from milp_recourse.solver.strategy import polish_reason


def polish_many(problems: Sequence[RecourseProblem], incumbents: Sequence[Incumbent | None],
                max_iter: int = 100, deadlines: Sequence[float] | None = None) -> list[Incumbent | None]:
    """polish(problems[i], incumbents[i], max_iter, deadlines[i]) for every i (None incumbents stay None)."""
    with one_blas_thread():   # as polish() (slsqp_steps.py)
        return _polish_many(problems, incumbents, max_iter,
                            [math.inf] * len(problems) if deadlines is None else list(deadlines))


def _polish_many(problems: Sequence[RecourseProblem], incumbents: Sequence[Incumbent | None],
                 max_iter: int, deadlines: list[float]) -> list[Incumbent | None]:
    out: list[Incumbent | None] = list(incumbents)
    runs: list[tuple[int, Generator]] = []
    for i, (pr, inc) in enumerate(zip(problems, incumbents)):
        if inc is not None and polish_reason(pr) is None:
            runs += [(i, steps) for steps in polish_steps(pr, inc, max_iter)]
    results: list[Incumbent | None] = [None] * len(runs)
    names = {i: [q.name for q in problems[i].rules if not q.blocked] for i, _ in runs}
    memo: dict = {}
    pending = {}  # run -> its request
    for r, (_, steps) in enumerate(runs):
        _advance(steps, None, None, r, pending, results)
    while pending:
        now = time.perf_counter()
        for r in [r for r in pending if now > deadlines[runs[r][0]]]:   # as polish.drive: past it, dropped
            runs[r][1].close()
            del pending[r]
        if not pending:
            break
        order = list(pending)
        replies = answer_batch([(problems[runs[r][0]], names[runs[r][0]], pending[r]) for r in order], memo)
        pending = {}
        for r, (reply, error) in zip(order, replies):
            _advance(runs[r][1], reply, error, r, pending, results)
    by_person: dict[int, list[Incumbent | None]] = {}
    for (i, _), res in zip(runs, results):
        by_person.setdefault(i, []).append(res)   # (in polish_steps' order, as polish picks)
    for i, cands in by_person.items():
        out[i] = pick_best(problems[i], incumbents[i], cands)
    return out


def _advance(steps: Generator, reply: Any, error: BaseException | None, r: int, pending: dict, results: list) -> None:
    """Send a run its reply (or raise its evaluation's error inside it): its next request, or its result."""
    try:
        pending[r] = steps.throw(error) if error is not None else steps.send(reply)
    except StopIteration as stop:
        results[r] = stop.value


def answer_batch(asks: Sequence[tuple[RecourseProblem, list[str], tuple]], memo: dict | None = None
                 ) -> list[tuple[Any, BaseException | None]]:
    """(reply, error) for each (problem, feature names, request) as polish.answer gives it: the "scores" /
    "valid" requests of fast_case people in one counterfactual pass per group, the others one by one.
    `memo` keeps per-problem facts across calls of one caller (network layers, batching keys)."""
    memo = {} if memo is None else memo
    out: list[tuple[Any, BaseException | None] | None] = [None] * len(asks)
    groups: dict[tuple, list[int]] = {}
    for a, (pr, names, req) in enumerate(asks):
        key = _key(pr, memo) if req[0] in ("scores", "valid") else None
        if key is None:
            out[a] = _one(pr, names, req)
        else:
            groups.setdefault(key + (tuple(names),), []).append(a)
    for members in groups.values():
        try:
            replies = _answer_group([asks[a] for a in members], memo)
            for a, reply in zip(members, replies):
                out[a] = (reply, None)
        except (ValueError, FloatingPointError):   # one by one: each request gets its own outcome
            for a in members:
                out[a] = _one(*asks[a])
    return [o if o is not None else (None, None) for o in out]


def _one(problem: RecourseProblem, names: list[str], request: tuple) -> tuple[Any, BaseException | None]:
    try:
        return answer(problem, names, request), None
    except (ValueError, FloatingPointError) as exc:
        return None, exc


def _key(problem: RecourseProblem, memo: dict) -> tuple | None:
    if ("key", id(problem)) not in memo:
        memo[("key", id(problem))] = (fast_case(problem), problem)   # (the problem kept: ids stay unique)
    return memo[("key", id(problem))][0]


def fast_case(problem: RecourseProblem) -> tuple | None:
    """The batching key of a person whose action scores are a ReLU network on the plain SCM counterfactual
    (same SCM, network and threshold), None otherwise."""
    if problem.plausibility is not None or getattr(problem, "logic", ()):
        return None
    if relu_layers(problem.classifier, problem.options.target_class) is None:
        return None
    opts = problem.options
    return (id(problem.scm), id(problem.classifier), repr(opts.target_class), opts.threshold, opts.margin)


def _answer_group(asks: list[tuple[RecourseProblem, list[str], tuple]], memo: dict) -> list[Any]:
    """The replies of one group (same fast_case key and feature names): one counterfactual pass for all rows,
    the network per request on its own rows."""
    pr0, names = asks[0][0], asks[0][1]
    scm = pr0.scm
    sizes = [len(req[1]) for _, _, req in asks]
    owner = np.repeat(np.arange(len(asks)), sizes)   # each row's request
    X = np.array([pr.x for pr, _, _ in asks], float)[owner]
    U = np.array([pr.noise for pr, _, _ in asks], float)[owner]
    mask = np.concatenate([np.asarray(req[1], bool) for _, _, req in asks])
    theta = np.concatenate([np.asarray(req[2], float) for _, _, req in asks])
    cf = counterfactual_rows(scm, X, U, names, mask, theta, memo)
    net = ("layers", id(pr0.classifier), repr(pr0.options.target_class))
    if net not in memo:
        memo[net] = (relu_layers(pr0.classifier, pr0.options.target_class), pr0.classifier)
    layers = memo[net][0]
    inputs = cf[:, [scm.index(f) for f in pr0.features]]
    threshold = score_threshold("logit", pr0.options.threshold)
    out, at = [], 0
    for (_, _, req), n in zip(asks, sizes):
        score = relu_forward(layers, inputs[at:at + n])   # (the request's own rows: the same rounding)
        at += n
        out.append((score, threshold) if req[0] == "scores" else score >= threshold + pr0.options.margin)
    return out


def counterfactual_rows(scm, X: np.ndarray, U: np.ndarray, features: Sequence[str], mask: np.ndarray,
                        theta: np.ndarray, memo: dict | None = None) -> np.ndarray:
    """scm.simulate.counterfactuals for rows of different people: row i is person X[i] (abducted noise U[i])
    under the action mask[i] / theta[i]. The same elementwise operations as counterfactuals, so each row's
    values are those of its person's own call."""
    n = X.shape[0]
    env: dict[str, np.ndarray] = {scm.variable(v).noise_name: np.ascontiguousarray(U[:, j])
                                  for j, v in enumerate(scm.names)}
    col = {f: i for i, f in enumerate(features)}
    key = ("moving", id(scm), tuple(features))
    if memo is not None and key in memo:
        moving = memo[key][0]
    else:
        moving = scm.descendants(features)
        if memo is not None:
            memo[key] = (moving, scm)   # (the SCM kept: ids stay unique)
    out = np.empty((n, len(scm.names)))
    for j, name in enumerate(scm.names):
        if name in moving:
            val = np.broadcast_to(scm.equation_value(name, env), (n,)).copy()
        else:
            val = np.ascontiguousarray(X[:, j])
        if name in col:
            k = col[name]
            val = np.where(mask[:, k], theta[:, k], val)
        env[name] = val
        out[:, j] = val
    return out


__all__ = ["polish_many", "answer_batch", "counterfactual_rows", "fast_case"]
