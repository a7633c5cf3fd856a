"""Issue 16 profile: where a tree-ensemble case (German RF 50 x 5, Taiwan RF 100 x 5, ...) spends its time per person.

Prints the pipeline's per-stage sums (result.timings), the budget schedule's stage counts, the proven share and
median time, and optionally cProfile's top functions (by own time and cumulative) over the same people.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import time

from common import ROOT, machine, write_jsonl

from bench_suite import tree_case
from milp_recourse import RecourseProblem, SolveOptions, solve

PROVEN = ("OPTIMAL", "NO_RECOURSE")


def run_people(case, time_limit: float) -> list:
    """solve() for every person of a tree_case tuple; the results in order."""
    scm, model, people, cost, act = case
    opts = SolveOptions(time_limit=time_limit)
    return [solve(RecourseProblem(scm, model, p, actionability=act, cost=cost, options=opts)) for p in people]


def stage_summary(results: list) -> dict:
    """Per-stage sums of result.timings, engine step counts, median total seconds and the proven share."""
    steps: dict[str, float] = {}
    engines: dict[str, int] = {}
    for r in results:
        for k, v in r.timings.items():
            steps[k] = steps.get(k, 0.0) + v
        for s in r.path:
            engines[s.engine] = engines.get(s.engine, 0) + 1
    times = [r.total_seconds for r in results]
    return {"median_s": statistics.median(times), "max_s": max(times),
            "proven": sum(r.status.value in PROVEN for r in results), "n": len(results),
            "steps_s": {k: round(v, 4) for k, v in sorted(steps.items(), key=lambda kv: -kv[1])},
            "rounds": sum(r.iterations or 0 for r in results), "engines": engines}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dataset", default="german", choices=["german", "taiwan"])
    ap.add_argument("-n", type=int, default=10, help="denied people (default 10)")
    ap.add_argument("--trees", type=int, default=50)
    ap.add_argument("--depth", type=int, default=5)
    ap.add_argument("--time-limit", type=float, default=10.0)
    ap.add_argument("--cprofile", action="store_true", help="also print cProfile's top functions")
    ap.add_argument("--top", type=int, default=30)
    args = ap.parse_args()
    t = time.perf_counter()
    case = tree_case(args.dataset, "rf", args.trees, args.depth, args.n)
    print(f"case built in {time.perf_counter() - t:.1f} s; {len(case[2])} denied people")
    run_people(case[:2] + (case[2][:1],) + case[3:], args.time_limit)  # warm-up (imports, caches)
    prof = cProfile.Profile() if args.cprofile else None
    if prof is not None:
        prof.enable()
    results = run_people(case, args.time_limit)
    if prof is not None:
        prof.disable()
    summary = stage_summary(results)
    print("per person:", [(r.status.value, round(r.total_seconds, 3), r.iterations) for r in results])
    print(summary)
    if prof is not None:
        for key in ("tottime", "cumulative"):
            buf = io.StringIO()
            pstats.Stats(prof, stream=buf).sort_stats(key).print_stats(args.top)
            print(buf.getvalue())
    write_jsonl(ROOT / "bench" / "results" / f"profile_trees-{args.dataset}-{args.trees}x{args.depth}.jsonl",
                [{"machine": machine()}, {"case": vars(args), **summary}])


if __name__ == "__main__":
    main()
