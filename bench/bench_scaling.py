"""Issue 16 scaling curves: median seconds and proven-optimal share per person against problem size.

Axes: random linear SCM nodes (logistic regression), random-forest trees at depth 5 and depth at 100 trees
(German credit), and actionable features on one random linear SCM. Per point a few denied people, each with
a solver time limit (plus a hard wall limit so one stuck person cannot stall the run). Writes
bench/results/scaling.jsonl, one PNG per axis (log-log) under docs/, and prints the fitted exponent of each
curve (slope of log median seconds against log size) so a newcomer sees where exact recourse stops being practical.
With --before SRC (a source tree, e.g. a `git worktree add /tmp/before <rev>`) every point runs on that code and on
this checkout, alternately, each in its own process: one table with a `code` column, per-person costs compared.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from common import ROOT, machine, markdown_table, summarize, write_jsonl

if "--measure" in sys.argv:   # a --before run: the package from PYTHONPATH (the tree under test), not ROOT's
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT]

from bench_suite import linear_case, tree_case
from milp_recourse import Actionability, RecourseProblem, SolveOptions, solve

PROVEN = ("OPTIMAL", "NO_RECOURSE", "ALREADY_FAVOURABLE")
AXES = {"nodes": "random linear SCM nodes (+ logreg)", "trees": "RF trees, depth 5 (German credit)",
        "depth": "RF depth, 100 trees (German credit)", "actionable": "actionable features (random linear SCM)"}


class WallLimit(Exception):
    """The bench's own hard wall limit per person fired (the solver overran its time limit)."""


@contextmanager
def wall_limit(seconds: float) -> Iterator[None]:
    """Raise WallLimit after `seconds` (SIGALRM; checked when control returns to Python)."""
    def fire(signum, frame):  # noqa: ANN001 - signal handler signature
        raise WallLimit()
    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0.0)
        signal.signal(signal.SIGALRM, old)


def actionable_case(k: int, n: int, nodes: int):
    """The `nodes`-node random linear SCM + logreg, with only its first k actionable features actionable."""
    scm, model, people, cost, _ = linear_case(nodes, n)
    acts = [v.name for v in scm.variables if v.actionability != "immutable"][:k]
    return scm, model, people, cost, Actionability(actionable=tuple(acts))


def cases(axis: str, args) -> list[tuple[int, Callable]]:
    """(size, builder) per point of one axis."""
    n = args.people
    if axis == "nodes":
        return [(k, lambda k=k: linear_case(k, n)) for k in args.nodes]
    if axis == "trees":
        return [(t, lambda t=t: tree_case("german", "rf", t, 5, n)) for t in args.trees]
    if axis == "depth":
        return [(d, lambda d=d: tree_case("german", "rf", 100, d, n)) for d in args.depths]
    if axis == "actionable":
        return [(k, lambda k=k: actionable_case(k, n, args.actionable_nodes)) for k in args.actionable]
    raise SystemExit(f"unknown axis {axis!r}; expected one of {', '.join(AXES)}")


def run_point(axis: str, size: int, build: Callable, time_limit: float, hard: float) -> tuple[dict, list[dict]]:
    """Solve the point's people one by one; the summary row and one record per person."""
    t = time.perf_counter()
    scm, model, people, cost, act = build()
    build_s = time.perf_counter() - t
    opts = SolveOptions(time_limit=time_limit)
    recs = []
    for i, person in enumerate(people):
        t = time.perf_counter()
        try:
            with wall_limit(hard):
                res = solve(RecourseProblem(scm, model, person, actionability=act, cost=cost, options=opts))
            status, gap, timings, ver = res.status.value, res.gap, dict(res.timings), bool(res.verified)
            paid, engines = res.cost, list(res.engines)
        except WallLimit:
            status, gap, timings, ver, paid, engines = "WALL_LIMIT", None, {}, False, None, []
        dt = time.perf_counter() - t
        recs.append({"axis": axis, "size": size, "i": i, "status": status, "seconds": dt, "verified": ver,
                     "gap": None if gap is None or not math.isfinite(gap) else gap, "cost": paid, "engines": engines,
                     "timings": {k: round(v, 4) for k, v in timings.items()}})
    secs = [r["seconds"] for r in recs]
    s = summarize(secs)
    proven = sum(r["status"] in PROVEN for r in recs)
    share = {k: round(float(np.mean([r["timings"].get(k, 0.0) for r in recs])), 4) for k in
             ("compile", "heuristic", "tighten", "budget", "solve", "box_search", "linear_scm")} if recs else {}
    row = {"axis": axis, "size": size, "n": len(recs), "median_s": s["median"], "p95_s": s["p95"],
           "max_s": s["max"], "proven": proven, "proven_share": proven / max(1, len(recs)),
           "build_s": round(build_s, 3), "mean_step_s": share,
           "statuses": dict(sorted({r["status"]: sum(q["status"] == r["status"] for q in recs)
                                    for r in recs}.items()))}
    return row, recs


def exponent(rows: list[dict], limit: float) -> tuple[float, float]:
    """Slope of log median seconds vs log size: over all points, and over points whose median is below the limit."""
    def fit(rs):
        if len(rs) < 2:
            return float("nan")
        x = np.log([r["size"] for r in rs])
        y = np.log([max(r["median_s"], 1e-4) for r in rs])
        return float(np.polyfit(x, y, 1)[0])
    return fit(rows), fit([r for r in rows if r["median_s"] < 0.9 * limit])


def plot(axis: str, rows: list[dict], limit: float, folder: Path) -> str:
    """Two panels: median (and p95) seconds, log-log; proven share, log x. Saved as docs/scaling-<axis>.png."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [r["size"] for r in rows]
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(5.5, 5.5), sharex=True, gridspec_kw={"height_ratios": [3, 1.3]})
    a1.loglog(xs, [r["median_s"] for r in rows], "o-", label="median")
    a1.loglog(xs, [r["p95_s"] for r in rows], "s--", alpha=0.6, label="p95 (max of few)")
    a1.axhline(limit, color="grey", ls=":", label=f"time limit {limit:g} s")
    e_all, e_free = exponent(rows, limit)
    a1.set_ylabel("seconds per person")
    a1.set_title(f"{AXES[axis]}\nexponent {e_all:.2f} (all), {e_free:.2f} (below limit)", fontsize=9)
    a1.legend(fontsize=7)
    a1.grid(True, which="both", alpha=0.3)
    a2.semilogx(xs, [r["proven_share"] for r in rows], "o-", color="tab:green")
    a2.set_ylim(-0.05, 1.05)
    a2.set_ylabel("proven share")
    a2.set_xlabel(axis)
    a2.set_xticks(xs)
    a2.set_xticklabels([str(x) for x in xs])
    a2.grid(True, alpha=0.3)
    fig.tight_layout()
    out = folder / f"scaling-{axis}.png"
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return str(out)


def report(summaries: list[dict], limit: float) -> str:
    """The per-point table and the exponent table, as Markdown."""
    cols = ["axis", "size", "n", "median_s", "p95_s", "proven", "statuses"]
    lines = [markdown_table([{**r, "statuses": json.dumps(r["statuses"])} for r in summaries], cols), ""]
    ex = []
    for axis in dict.fromkeys(r["axis"] for r in summaries):
        rs = [r for r in summaries if r["axis"] == axis]
        e_all, e_free = exponent(rs, limit)
        allp = [r["size"] for r in rs if r["proven_share"] == 1.0]
        ex.append({"axis": axis, "sizes": "/".join(str(r["size"]) for r in rs), "exponent_all": e_all,
                   "exponent_below_limit": e_free, "largest_all_proven": max(allp) if allp else "-"})
    lines.append(markdown_table(ex, list(ex[0])) if ex else "")
    return "\n".join(lines)


def measure_point(axis: str, size: int, args) -> None:
    """--measure: one point on the package PYTHONPATH names (the tree under test); JSON (row, records) on stdout."""
    import milp_recourse
    build = dict(cases(axis, args))[size]
    row, recs = run_point(axis, size, build, args.time_limit, args.hard_limit)
    print(json.dumps([{**row, "package": str(Path(milp_recourse.__file__).parent)}, recs]))


def compare(args) -> None:
    """Every point on the --before tree and on this checkout, alternately (one process each), in one table."""
    rows, records = [], []
    here = Path(__file__).resolve().parent
    for axis in [a for a in args.axes.split(",") if a]:
        sizes = {"nodes": args.nodes, "trees": args.trees, "depth": args.depths, "actionable": args.actionable}[axis]
        for size in sizes:
            costs = {}
            for code, src in (("before", Path(args.before).resolve()), ("after", ROOT)):
                env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(src), str(here)]))
                cmd = [sys.executable, str(Path(__file__).resolve()), "--measure", f"{axis}:{size}", "--people",
                       str(args.people), "--time-limit", str(args.time_limit), "--hard-limit", str(args.hard_limit)]
                load = os.getloadavg()[0]
                done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False, cwd=str(src))
                if done.returncode != 0:
                    sys.exit(f"run failed ({src}, {axis} {size}):\n{done.stderr[-3000:]}")
                row, recs = json.loads(done.stdout.strip().splitlines()[-1])
                costs[code] = [r["cost"] for r in recs]
                rows.append({"code": code, **row, "load_avg_1m": round(load, 2)})
                records += [{"code": code, **r} for r in recs]
                print(markdown_table([rows[-1]], COMPARE_COLS).splitlines()[-1], flush=True)
            pairs = [(a, b) for a, b in zip(costs["before"], costs["after"]) if a is not None and b is not None]
            rows[-1]["after_cost_over_before"] = [round(b / a, 4) if a else None for a, b in pairs]
    write_jsonl(ROOT / "bench" / "results" / f"scaling-compare{'-' + args.tag if args.tag else ''}.jsonl",
                [{"machine": machine(), "before": str(args.before), "time_limit": args.time_limit}] + rows + records)
    print(markdown_table(rows, COMPARE_COLS + ["after_cost_over_before"]))


COMPARE_COLS = ["code", "axis", "size", "n", "median_s", "p95_s", "proven", "statuses", "load_avg_1m", "package"]


def ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--axes", default="nodes,trees,depth,actionable", help="comma list of " + ",".join(AXES))
    ap.add_argument("--people", type=int, default=5, help="denied people per point (default 5)")
    ap.add_argument("--time-limit", type=float, default=10.0, help="solver time limit per person (default 10 s)")
    ap.add_argument("--hard-limit", type=float, default=40.0, help="bench's wall limit per person (default 40 s)")
    ap.add_argument("--nodes", type=ints, default=[10, 20, 50, 100, 200])
    ap.add_argument("--trees", type=ints, default=[10, 50, 100, 200, 500])
    ap.add_argument("--depths", type=ints, default=[3, 5, 8])
    ap.add_argument("--actionable", type=ints, default=[2, 5, 10, 15, 20])
    ap.add_argument("--actionable-nodes", type=int, default=21, help="SCM size of the actionable axis (default 21)")
    ap.add_argument("--plot-only", action="store_true", help="redraw the PNGs and tables from scaling.jsonl")
    ap.add_argument("--tag", default="", help="a partial re-run: write bench/results/scaling-TAG.jsonl and its PNGs "
                    "there (default: scaling.jsonl and docs/scaling-<axis>.png)")
    ap.add_argument("--before", default=None, help="a source tree to compare with, point by point (interleaved)")
    ap.add_argument("--measure", default=None, help=argparse.SUPPRESS)   # internal: AXIS:SIZE, JSON on stdout
    args = ap.parse_args()
    if args.measure:
        axis, size = args.measure.split(":")
        measure_point(axis, int(size), args)
        return
    if args.before:
        compare(args)
        return
    results = ROOT / "bench" / "results" / (f"scaling-{args.tag}.jsonl" if args.tag else "scaling.jsonl")
    pngs = ROOT / "bench" / "results" / args.tag if args.tag else ROOT / "docs"
    pngs.mkdir(parents=True, exist_ok=True)
    if args.plot_only:
        lines = [json.loads(x) for x in results.read_text().splitlines()]
        summaries = [r for r in lines if r.get("kind") == "point"]
        limit = next(r["time_limit"] for r in lines if "time_limit" in r)
    else:
        limit = args.time_limit
        head = {"machine": machine(), "time_limit": limit, "hard_limit": args.hard_limit, "people": args.people}
        summaries, records = [], []
        t0 = time.perf_counter()
        for axis in [a for a in args.axes.split(",") if a]:
            for size, build in cases(axis, args):
                row, recs = run_point(axis, size, build, limit, args.hard_limit)
                print(f"{axis:10s} {size:4d}  median {row['median_s']:.3g} s  p95 {row['p95_s']:.3g} s  "
                      f"proven {row['proven']}/{row['n']}  {row['statuses']}  steps {row['mean_step_s']}  "
                      f"[{time.perf_counter() - t0:.0f} s]", flush=True)
                summaries.append({"kind": "point", **row})
                records += recs
                write_jsonl(results, [head] + summaries + records)
    for axis in dict.fromkeys(r["axis"] for r in summaries):
        print("wrote", plot(axis, [r for r in summaries if r["axis"] == axis], limit, pngs))
    print(report(summaries, limit))


if __name__ == "__main__":
    main()
