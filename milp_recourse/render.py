"""Human-readable rendering of results (rich tables)."""

from __future__ import annotations

from typing import TextIO

from milp_recourse.result import RecourseResult, Status

_STYLE = {Status.OPTIMAL: "bold green", Status.FEASIBLE: "yellow", Status.NO_RECOURSE: "bold red",
          Status.UNKNOWN: "magenta", Status.ALREADY_FAVOURABLE: "cyan", Status.VERIFICATION_FAILED: "bold red",
          Status.ERROR: "bold red"}


def _fmt(v: float | None, digits: int = 6) -> str:
    return "-" if v is None else f"{v:.{digits}g}"


def print_result(res: RecourseResult, file: TextIO | None = None) -> None:
    """Status line, proof quantities and a per-feature table of factual / action / counterfactual."""
    from rich.console import Console
    from rich.table import Table

    con = Console(file=file, width=100)
    con.print(f"[{_STYLE[res.status]}]{res.status.value}[/]  {res.message}")
    # the proof line and the path stay one line each, however wide (soft_wrap): rich would break them at 100
    con.print(f"cost {_fmt(res.cost)}   bound {_fmt(res.objective_bound)}   gap {_fmt(res.gap, 3)}   "
              f"verified {'yes' if res.verified else 'no'}   solve {res.solve_seconds:.3f}s   "
              f"total {res.total_seconds:.3f}s   backend {res.backend}", soft_wrap=True)
    if res.path:
        con.print("path " + " -> ".join(step.engine + "".join(f" ({int(v) if float(v).is_integer() else v} {k})"
                                                               for k, v in step.counters.items())
                                        for step in res.path), soft_wrap=True)
    if res.score is not None:
        con.print(f"counterfactual score ({res.score_kind}) {_fmt(res.score)} vs threshold {_fmt(res.score_threshold)}")
    if res.approximation_error:
        con.print(f"piecewise-linear SCM approximation, max error {res.approximation_error:.3g}")
    if res.certificate:
        con.print(f"certificate: {res.certificate}")
    if not res.counterfactual:
        return
    t = Table(show_header=True, header_style="bold")
    for col in ("feature", "factual", "action", "counterfactual", "cost"):
        t.add_column(col, justify="left" if col == "feature" else "right")
    def show(name: str, v: float) -> str:   # a level name for categorical / ordinal features
        return res.levels[name][int(round(v))] if name in res.levels else _fmt(v)

    for name, fx in res.factual.items():
        act = res.action.get(name)
        cf = res.counterfactual.get(name, fx)
        changed = abs(cf - fx) > 1e-9
        t.add_row(name, show(name, fx), "-" if act is None else f"do({show(name, act)})",
                  show(name, cf) + (" *" if changed else ""),
                  _fmt(res.cost_breakdown.get(name)) if name in res.cost_breakdown else "")
    con.print(t)
    con.print("do(...) = intervention; * = value changed (by intervention or causal effect)")
