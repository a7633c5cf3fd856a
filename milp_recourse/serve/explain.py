"""/api/explain's answer: the library's explanation plus the cheapest relaxations, each with the request that
re-solves with it and that request's own exact answer (so a one-click re-solve shows the same cost)."""

from __future__ import annotations

from typing import Any, Mapping

from milp_recourse.diagnose.conflicts import THRESHOLD, person_groups
from milp_recourse.diagnose.explain import explain
from milp_recourse.problem.recourse_problem import RecourseProblem
from milp_recourse.result import Status
from milp_recourse.serve.request import build_problem, relaxed_body
from milp_recourse.solver.pipeline import solve


def _candidates(expl) -> list[tuple[str, ...]]:
    """Groups to give up: the library's cheapest relaxation, then each single group of the minimal conflict."""
    out: list[tuple[str, ...]] = []
    if expl.relaxation is not None and expl.relaxation.groups:
        out.append(tuple(g.key for g in expl.relaxation.groups))
    if expl.conflict is not None and expl.scope == "individual":
        out += [(g.key,) for g in expl.conflict.groups if g.key != THRESHOLD and (g.key,) not in out]
    return out


def explain_body(problem: RecourseProblem, body: Mapping[str, Any]) -> dict[str, Any]:
    """Explanation.to_dict() plus 'relaxations': every candidate that gives recourse, fewest constraints given
    up first, then by cost; each with 'drop' (group keys), 'texts', 'request' and that request's solve."""
    expl = explain(problem)
    out = expl.to_dict()
    texts = {g.key: g.text for g in person_groups(problem, include_threshold=False)}
    options: list[dict[str, Any]] = []
    for keys in _candidates(expl):
        request = relaxed_body(body, list(keys), problem.scm)
        res = solve(build_problem(problem.scm, problem.classifier, request, problem.options.time_limit))
        if res.status in (Status.OPTIMAL, Status.FEASIBLE):
            options.append({"drop": list(keys), "texts": [texts.get(k, k) for k in keys], "status": res.status.value,
                            "verified": bool(res.verified), "cost": res.cost,
                            "action": res.raw_action, "request": request})
    options.sort(key=lambda o: (len(o["drop"]), o["cost"]))
    for i, o in enumerate(options):
        o["cheapest"] = i == 0
    out["relaxations"] = options
    return out


__all__ = ["explain_body"]
