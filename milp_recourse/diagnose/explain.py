"""explain(problem): the certificate, universal vs individual cause, minimal conflict and cheapest relaxation.

The engine of `milp-recourse explain`: solve (or take a result), and when the status is NO_RECOURSE say
why in the person's own terms. A result without a proof (UNKNOWN) gets no conflict: it is not NO_RECOURSE.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, TextIO

from milp_recourse.diagnose.conflicts import Conflict, minimal_conflict
from milp_recourse.problem.recourse_problem import RecourseProblem
from milp_recourse.diagnose.relaxations import Relaxation, cheapest_relaxation
from milp_recourse.result import SCHEMA_VERSION, RecourseResult, Status


@dataclass(frozen=True)
class Explanation:
    """Why this person has (no) recourse: result, certificate, scope, minimal conflict, cheapest relaxation."""

    result: RecourseResult
    scope: str | None                 # 'universal' | 'individual' | None (recourse exists or undetermined)
    conflict: Conflict | None
    relaxation: Relaxation | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"schema_version": SCHEMA_VERSION, "status": self.result.status.value, "scope": self.scope,
                "message": self.message, "certificate": self.result.certificate,
                "conflict": None if self.conflict is None else self.conflict.to_dict(self.result.raw),
                "relaxation": None if self.relaxation is None else self.relaxation.to_dict(self.result.raw),
                "result": self.result.to_dict()}


def explain(problem: RecourseProblem, result: RecourseResult | None = None,
            weights: Mapping[str, float] | None = None) -> Explanation:
    """Solve unless `result` is given; for NO_RECOURSE add the conflict and the cheapest relaxation."""
    from milp_recourse.solver.pipeline import solve

    res = solve(problem) if result is None else result
    if res.status is not Status.NO_RECOURSE:
        msg = {Status.OPTIMAL: "Recourse exists (proven optimal); nothing blocks it.",
               Status.FEASIBLE: "Recourse exists (a limit was reached; the action is verified).",
               Status.ALREADY_FAVOURABLE: "The decision is already favourable.",
               Status.UNKNOWN: "No proof either way: the solver stopped before finding an action or proving that "
                               "none exists. This is not a 'no recourse' finding."}.get(res.status, res.message)
        return Explanation(res, None, None, None, msg)
    conflict = minimal_conflict(problem)
    relaxation = cheapest_relaxation(problem, weights)
    if conflict is None:
        return Explanation(res, None, None, relaxation, "Inconsistent: the exact solve reported no recourse but a "
                           "feasibility re-check found a verified action.")
    if conflict.scope == "universal" and problem.plausibility is not None:
        msg = conflict.message
    elif conflict.scope == "universal":
        msg = ("No recourse under the SCM's universal actionability: even someone without any personal "
               "constraint could not reach a favourable decision from this starting point.")
    else:
        msg = conflict.message + (" " + relaxation.message if relaxation.message else "")
    return Explanation(res, conflict.scope, conflict, relaxation, msg)


def print_explanation(expl: Explanation, file: TextIO | None = None) -> None:
    """Human-readable explanation: status, certificate, scope, conflict table, cheapest relaxation."""
    from rich.console import Console
    from rich.table import Table

    from milp_recourse.render import print_result

    con = Console(file=file, width=100)
    if expl.result.status is not Status.NO_RECOURSE:
        print_result(expl.result, file=file)
        con.print(expl.message)
        return
    con.print(f"[bold red]NO_RECOURSE[/]  {expl.result.message}")
    cert = expl.result.certificate or {}
    if cert:
        tick = "proven" if cert.get("proven") else "NOT proven"
        con.print(f"certificate: {cert.get('kind')} ({tick}; "
                  f"{'independently confirmed' if cert.get('confirmed') else 'unconfirmed'}) - {cert.get('message')}")
    con.print(f"scope: {expl.scope or 'undetermined'}")
    if expl.conflict is not None:
        t = Table(title="minimal conflict: these alone rule out recourse; without any one row, an action exists",
                  show_header=True, header_style="bold")
        for col in ("constraint", "what you said", "action allowed by the other rows"):
            t.add_column(col)
        for g in expl.conflict.groups:
            wit = expl.conflict.witnesses.get(g.key)
            raw = {} if wit is None else expl.result.raw(wit)   # (level names for categorical / ordinal features)
            shown = "-" if wit is None else (", ".join(f"{k} := {v if isinstance(v, str) else f'{v:.6g}'}"
                                                       for k, v in raw.items()) or "(none needed)")
            t.add_row(g.key, g.text, shown)
        con.print(t)
        if not expl.conflict.proven_minimal:
            con.print("[yellow]some removal tests were undecided (limit or approximation): minimality not proven[/]")
    if expl.relaxation is not None:
        con.print(f"cheapest relaxation ({expl.relaxation.status}): {expl.relaxation.message}")
    if expl.scope == "universal":
        con.print(expl.message)


__all__ = ["Explanation", "explain", "print_explanation"]
