"""The box search for many people in lock-step: each round, the bounds of every person's open boxes in one call.

box_search.py bounds one front (one person, one intervention pattern) per numpy call; on the CARMA network a
person takes ~30 rounds of a few dozen boxes, so the per-call overhead, not the arithmetic, was the cost.
Here all people advance one round at a time: the network bounds and the boxes' cheapest points of every
front of the round are computed by one call per (network, pattern size) over all their boxes (people are one
more axis of the boxes), then each person's fronts are advanced in order exactly as search_boxes does. Every
per-box number is computed row by row (batched matmuls, elementwise numpy), so each person gets the very
same outcome as from search_boxes alone (tests/test_box_batch.py checks it bit for bit).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from milp_recourse.bounds.relu_bounds import score_upper_bound
from milp_recourse.errors import InputError
from milp_recourse.problem.recourse_problem import RecourseProblem
from milp_recourse.scm.plan import PlanCache
from milp_recourse.solver import box_search as bs
from milp_recourse.solver.box_forms import forms_many
from milp_recourse.solver.incumbent import Incumbent
from milp_recourse.solver.polish_batch import answer_batch

CHUNK = 64   # boxes per network-bound call: the bound's per-box arrays (2 x width x width) stay in cache


def search_boxes_many(problems: Sequence[RecourseProblem], incumbents: Sequence[Incumbent],
                      deadlines: Sequence[float], plans: PlanCache | None = None,
                      max_boxes: int | None = None) -> list[bs.BoxSearch]:
    """search_boxes(problems[i], incumbents[i], deadlines[i], plans, max_boxes) for every i, in lock-step."""
    if not len(problems) == len(incumbents) == len(deadlines):
        raise InputError(f"search_boxes_many needs one incumbent and one deadline per problem; got "
                         f"{len(problems)} problems, {len(incumbents)} incumbents and {len(deadlines)} deadlines.")
    plans = plans if plans is not None else PlanCache()
    states = [bs.start_boxes(pr, inc, dl, plans, max_boxes) for pr, inc, dl in zip(problems, incumbents, deadlines)]
    out: list[bs.BoxSearch | None] = [None] * len(states)
    memo: dict = {}
    active = list(range(len(states)))
    while active:
        still = []
        for i in active:
            done = bs.stopped(states[i])
            if done is None:
                still.append(i)
            else:
                out[i] = done
        active = still
        bounds = iter(_bounds_many([(states[i], front) for i in active for front in states[i].fronts], memo))
        work = {i: [(front, *next(bounds)) for front in states[i].fronts] for i in active}
        nxt: dict[int, list] = {i: [] for i in active}
        # a person's fronts in order (each may improve its incumbent before the next is pruned); the j-th fronts
        # of everyone have their candidate points checked on the true SCM in one batch
        for j in range(max((len(w) for w in work.values()), default=0)):
            step = [(i, *work[i][j]) for i in active if j < len(work[i])]
            picks = [bs.candidates(states[i], front, lower, point) for i, front, lower, point in step]
            asks = [(states[i].problem, list(front[0]), ("valid", np.ones((len(cand), len(front[0])), bool),
                                                         point[cand]))
                    for (i, front, _, point), (_, cand) in zip(step, picks) if cand.size]
            replies = iter(answer_batch(asks, memo))
            for (i, front, lower, point), (cost, cand) in zip(step, picks):
                ok = None
                if cand.size:
                    ok, error = next(replies)
                    if error is not None:
                        raise error
                split = bs.advance(states[i], front, lower, point, (cost, cand, ok))
                if split is not None:
                    nxt[i].append(split)
        for i in active:
            states[i].fronts = nxt[i]
    return [o for o in out if o is not None]


def _bounds_many(items: list[tuple[bs.BoxState, tuple]], memo: dict) -> list[tuple[np.ndarray, np.ndarray]]:
    """bs.front_bounds(state, front) for each item: the SCM forms per front, then the network bounds and the
    cheapest points of all fronts with the same network and pattern size in one call each."""
    forms = forms_many([(state, front[0], front[3], front[4]) for state, front in items], bs.BOUND_CHUNK, memo)
    groups: dict[tuple, list[int]] = {}
    for k, (state, front) in enumerate(items):
        pr = state.problem
        key = (id(pr.classifier), repr(pr.options.target_class), len(front[0]), pr.cost.p)
        groups.setdefault(key, []).append(k)
    out: list[tuple[np.ndarray, np.ndarray] | None] = [None] * len(items)
    for members in groups.values():
        state0 = items[members[0]][0]
        sizes = [len(items[k][1][3]) for k in members]
        cat = [np.concatenate([forms[k][j] for k in members]) for j in range(3)]
        lo = np.concatenate([items[k][1][3] for k in members])
        hi = np.concatenate([items[k][1][4] for k in members])
        c = np.concatenate([np.broadcast_to(items[k][1][1], (n, lo.shape[1])) for k, n in zip(members, sizes)])
        x0 = np.concatenate([np.broadcast_to(items[k][1][2], (n, lo.shape[1])) for k, n in zip(members, sizes)])
        prune = np.concatenate([np.full(n, items[k][0].prune_at) for k, n in zip(members, sizes)])
        aim = np.concatenate([np.full(n, items[k][0].aim_at) for k, n in zip(members, sizes)])
        gs, hs = [], []
        for a in range(0, len(lo), CHUNK):
            part = slice(a, a + CHUNK)
            bound = score_upper_bound(state0.layers, cat[0][part], cat[1][part], cat[2][part], lo[part], hi[part])
            gs.append(bound.g)
            hs.append(bound.h)
        g, h = np.concatenate(gs), np.concatenate(hs)
        cheapest = bs._cheapest if state0.problem.cost.p == 2 else bs._cheapest_p1
        lower, _ = cheapest(c, x0, lo, hi, g, h, prune)
        _, point = cheapest(c, x0, lo, hi, g, h, aim)
        at = 0
        for k, n in zip(members, sizes):
            pr, dims = items[k][0].problem, items[k][1][0]
            out[k] = (lower[at:at + n] + pr.cost.l0 * len(dims), point[at:at + n])
            at += n
    return [o for o in out if o is not None]


__all__ = ["search_boxes_many"]
