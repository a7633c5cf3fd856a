"""solve_many's fast path for ReLU-network people the box search settles: their searches run together.

For every person whose plan is incumbent -> (polish) -> box search (strategy.box_plan: no model compiled), the
random searches before a polish share their SCM passes (incumbent_batch.py), so do the SLSQP polishes (polish_batch.py),
then all box searches run in lock-step (box_batch.py: one bound call per round). A person the box search
proves optimal gets the same Searched (action, cost, bound, path, reasons) as search_person would give;
anyone else it searched (no incumbent, a box budget or deadline reached) gets a Head that search_person goes on
from under the person's own deadline (recomputing them from scratch gave a person up to twice its time limit:
0.86 s at a 0.5 s limit); people of another plan are left to search_person.
"""

from __future__ import annotations

import dataclasses
import time
from contextlib import nullcontext
from typing import Callable, ContextManager, Mapping, Sequence

from milp_recourse.problem.recourse_problem import RecourseProblem
from milp_recourse.result import PathStep, SearchState
from milp_recourse.scm.plan import PlanCache
from milp_recourse.solver import strategy as st
from milp_recourse.solver.box_batch import search_boxes_many
from milp_recourse.solver.incumbent import Incumbent, random_search
from milp_recourse.solver.incumbent_batch import random_search_many
from milp_recourse.solver.linear_pieces import NO_MODEL
from milp_recourse.solver.pipeline import Head, Searched, box_settled
from milp_recourse.solver.polish_batch import polish_many
from milp_recourse.solver.strategy import Plan, box_plan


def box_people(problems: Sequence[RecourseProblem], chosen: Mapping[int, Plan],
               plans: PlanCache) -> dict[int, tuple[Searched | Head, float]]:
    """Searched (and the seconds spent on it) for the people of `chosen` (index into problems -> its box_plan) that
    the box search settles, by index; a Head for the others (search_person goes on from it)."""
    starts: dict[int, tuple] = {}
    planned = {i: (time.perf_counter(), plan) for i, plan in chosen.items()}
    # the random searches before a polish in one batch of SCM passes per round (incumbent_batch.py: the same
    # numbers as random_search); the others (no polish: coordinate sweeps) one by one
    order = [i for i in planned if planned[i][1].runs(st.POLISH)]
    t = time.perf_counter()
    incs = random_search_many([problems[i] for i in order], [planned[i][1].samples for i in order],
                               [planned[i][0] + st.HEURISTIC_SHARE * problems[i].options.time_limit for i in order])
    took = {i: (time.perf_counter() - t) / max(len(order), 1) for i in order}
    for i in planned:
        if i not in took:
            t, pr = time.perf_counter(), problems[i]
            incs.append(random_search(pr, planned[i][1].samples, pr.options.seed,
                                       planned[i][0] + st.HEURISTIC_SHARE * pr.options.time_limit))
            order.append(i)
            took[i] = time.perf_counter() - t
    out: dict[int, tuple[Searched | Head, float]] = {}
    for i, inc in zip(order, incs):
        t0, plan = planned[i]
        if inc is not None:
            path = [PathStep(st.INCUMBENT, took[i], "found", {"samples": plan.samples})]
            starts[i] = (t0, plan, inc, {"heuristic": took[i]}, path, took[i])
        else:
            out[i] = (Head(t0, (PathStep(st.INCUMBENT, took[i], "none", {"samples": plan.samples}),),
                           {"heuristic": took[i]}, None), took[i])
    # the polishes of everyone in one batch of SCM passes per round (polish_batch.py: polish()'s numbers)
    polished = [i for i in starts if starts[i][1].runs(st.POLISH)]
    t = time.perf_counter()
    better = polish_many([problems[i] for i in polished], [starts[i][2] for i in polished],
                         deadlines=[starts[i][0] + st.POLISH_SHARE * problems[i].options.time_limit for i in polished])
    share = (time.perf_counter() - t) / max(len(polished), 1)
    for i, inc in zip(polished, better):
        t0, plan, before, timings, path, took = starts[i]
        inc = before if inc is None else inc   # (polish_many keeps every given incumbent)
        path.append(PathStep(st.POLISH, share, "improved" if inc.cost < before.cost else "unchanged", {}))
        timings["heuristic"] += share
        starts[i] = (t0, plan, inc, timings, path, took + share)
    order = list(starts)
    t = time.perf_counter()
    found = search_boxes_many([problems[i] for i in order], [starts[i][2] for i in order],
                              [starts[i][0] + problems[i].options.time_limit for i in order], plans)
    share = (time.perf_counter() - t) / max(len(order), 1)
    for i, boxes in zip(order, found):
        t0, plan, _, timings, path, spent = starts[i]
        boxes = dataclasses.replace(boxes, seconds=share)   # (its wall time ran alongside everyone's)
        timings["box_search"] = boxes.seconds
        path.append(PathStep(st.BOX_SEARCH, boxes.seconds, boxes.state, {"boxes": boxes.boxes}))
        if boxes.state != SearchState.OPTIMAL:   # never costlier than the incumbent: the MILP pipeline takes over
            out[i] = (Head(t0, tuple(path), timings, Incumbent(boxes.action, boxes.cost)), spent + share)
            continue
        search = box_settled(boxes, path, dict(plan.reasons))
        timings["solve"] = search.seconds
        out[i] = (Searched(NO_MODEL, search, timings, t0), spent + share)
    return out


BATCH = 128   # people whose box searches run together (and share one guard: see guarded_box_people)


def guarded_box_people(problems: Sequence[RecourseProblem], people: Sequence[int], plans: PlanCache,
                       guard: Callable[[float], ContextManager] | None = None
                       ) -> dict[int, tuple[Searched | Head, float]]:
    """box_people in groups of BATCH people, each group under one `guard()` (solve_many's per-person context,
    e.g. a hard time limit); a group whose work raises is left out (the caller searches its people one by one,
    under their own guards)."""
    guard = guard or (lambda spent: nullcontext())
    out: dict[int, tuple[Searched | Head, float]] = {}
    chosen = {i: plan for i in people if (plan := box_plan(problems[i])) is not None}
    keys = list(chosen)
    for a in range(0, len(keys), BATCH):
        part = {i: chosen[i] for i in keys[a:a + BATCH]}
        try:
            with guard(0.0):   # (a group starts with nothing spent)
                out.update(box_people(problems, part, plans))
        except Exception:  # noqa: BLE001 - the per-person path redoes these people and reports their errors
            continue
    return out


__all__ = ["box_people", "guarded_box_people", "BATCH"]
