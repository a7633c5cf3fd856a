"""Issue 16 target: Loan + logistic regression through solve_many in one process (>= 2000 proven people/s).

Two cases, both p = 1 (the recorded one; p = 2 is measured too with --p2, not in the answer fixture):
- denied: bench_suite's loan+logreg people (recipe logreg, 5000 rows, seed 0; denied rows of sample seed 7);
- fixture: tests/answer_cases.py's 500 people (recipe logreg defaults, sample seed 1; about half already favoured).
Each case is run --repeats times, interleaved; the table gives the median run (people/s counts every person of
the batch; 'proven' is the share OPTIMAL or ALREADY_FAVOURABLE) and the median per-person seconds of that run.
--compare runs every case twice per repeat, with the closed form over linear pieces (solver/linear_pieces.py) and
with it switched off (every person through the MILP pipeline), interleaved in one process: the before / after.
Writes bench/results/solve_many.jsonl (machine, the summaries, every run).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from common import ROOT, machine, markdown_table, summarize, write_jsonl

from milp_recourse import CostSpec, RecourseProblem, SolveOptions, load_scm
from milp_recourse.models.classifiers import favourable
from milp_recourse.models.recipes import train_recipe
from milp_recourse.solver import many
from milp_recourse.solver.many import solve_many

COLS = ["case", "p", "n", "people_per_s", "median_ms", "p95_ms", "proven_frac", "screen_ms", "compile_ms",
        "search_ms", "verify_ms", "runs_per_s"]


def denied_case(n: int, p: int) -> list[RecourseProblem]:
    """bench_suite.loan_case('logreg', n): denied people only."""
    scm = load_scm("loan")
    model = train_recipe(scm, "logreg", 5000, 0)
    X = scm.sample(4 * n + 200, seed=7)
    names = list(scm.names)
    fav = favourable(model, X[names].to_numpy(float))
    people = [X.iloc[i][names].to_dict() for i in np.flatnonzero(~fav)[:n]]
    opts = SolveOptions(time_limit=30.0)
    return [RecourseProblem(scm, model, x, cost=CostSpec(p=p), options=opts) for x in people]


def fixture_case(n: int, p: int) -> list[RecourseProblem]:
    """tests/answer_cases.loan_logreg_answers' people (default recipe and options)."""
    scm = load_scm("loan")
    model = train_recipe(scm, "logreg")
    people = scm.sample(n, seed=1).to_dict("records")
    return [RecourseProblem(scm, model, x, cost=CostSpec(p=p)) for x in people]


def run_once(problems: list[RecourseProblem]) -> dict:
    t = time.perf_counter()
    results, stats = solve_many(problems)
    wall = time.perf_counter() - t
    secs = [r.total_seconds for r in results]
    s = summarize(secs)
    steps = stats.per_person()
    return {"n": len(problems), "wall_s": wall, "people_per_s": len(problems) / wall, "median_ms": 1e3 * s["median"],
            "p95_ms": 1e3 * s["p95"],
            "proven_frac": sum(r.status.value in ("OPTIMAL", "ALREADY_FAVOURABLE") for r in results) / len(results),
            **{f"{k}_ms": 1e3 * steps[k] for k in ("screen", "compile", "search", "verify")},
            "statuses": {st: sum(r.status.value == st for r in results) for st in {r.status.value for r in results}}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("-n", type=int, default=500, help="people per case (default 500)")
    ap.add_argument("--repeats", type=int, default=3, help="interleaved runs per case (default 3)")
    ap.add_argument("--p2", action="store_true", help="also run p = 2 (not a recorded case)")
    ap.add_argument("--cases", default="denied,fixture")
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--milp-only", action="store_true",
                      help="switch the closed form over linear pieces off (every person through the MILP pipeline)")
    mode.add_argument("--compare", action="store_true",
                      help="each run twice, interleaved: with the closed form and MILP only (same process, sitting)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "solve_many.jsonl"))
    args = ap.parse_args()
    modes = ["closed-form", "milp-only"] if args.compare else ["milp-only" if args.milp_only else "closed-form"]
    builders = {"denied": denied_case, "fixture": fixture_case}
    cases = [(name, p, builders[name](args.n, p)) for name in args.cases.split(",")
             for p in ((1, 2) if args.p2 else (1,))]
    runs: dict[tuple[str, int, str], list[dict]] = {(name, p, m): [] for name, p, _ in cases for m in modes}
    records: list[dict] = []
    settle = many.settle
    for k in range(args.repeats):
        for name, p, problems in cases:
            for m in modes:
                many.settle = settle if m == "closed-form" else (lambda problems: {})   # (this process only)
                r = run_once(problems)
                runs[(name, p, m)].append(r)
                records.append({"case": name, "p": p, "mode": m, "repeat": k, **r})
    many.settle = settle
    summaries = []
    for (name, p, m), rs in runs.items():
        mid = sorted(rs, key=lambda r: r["people_per_s"])[len(rs) // 2]
        summaries.append({"case": name, "p": p, "mode": m, **{c: mid[c] for c in COLS if c in mid},
                          "runs_per_s": "/".join(f"{r['people_per_s']:.0f}" for r in rs)})
    print(markdown_table(summaries, ["case", "p", "mode"] + COLS[2:]))
    print("median of runs:", {f"{s['case']} p={s['p']} {s['mode']}": round(s["people_per_s"], 1) for s in summaries})
    write_jsonl(Path(args.out), [{"machine": machine()}] + summaries + records)


if __name__ == "__main__":
    main()
