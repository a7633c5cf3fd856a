"""Issue 16 tree-ensemble targets: median seconds and proven share per case, code trees compared person by person.

Cases (the same people and models in every code tree):
  german-rf50x5     German credit, RF 50 x depth 5, 20 denied people, 10 s limit   (target: median <= 0.1 s proven)
  taiwan-rf100x5    Taiwan credit, RF 100 x depth 5, 20 people, 10 s limit         (target: 20 / 20, median <= 1 s)
  taiwan-rf500x8    Taiwan credit, RF 500 x depth 8, 10 people, 60 s limit         (target: median <= 5 s proven)
  taiwan-xgb300x6   Taiwan credit, XGBoost 300 x depth 6, 10 people, 60 s limit    (same target)
Each `--tree LABEL=DIR` is a source tree of the package (e.g. a `git archive` of the commit before a change);
one worker process per tree and case imports the package from DIR, and the people are solved alternately in
every tree (person 1 in tree A, then in tree B, then person 2 ...), so load changes hit both alike. Prints one
row per case and tree (median, p95, proven share, cost agreement with the first tree) plus the paired ratio of
each tree's median to the first tree's; writes bench/results/tree_scale.jsonl.

  MILP_RECOURSE_DATA=/work/shared/datasets .venv/bin/python bench/bench_tree_scale.py \\
      --tree before=/tmp/base --tree after=. --cases german-rf50x5,taiwan-rf100x5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import ROOT, machine, markdown_table, quantile, write_jsonl

PROVEN = ("OPTIMAL", "NO_RECOURSE")
CASES = {   # name: (dataset, model kind, trees, depth, people, time limit s)
    "german-rf50x5": ("german", "rf", 50, 5, 20, 10.0),
    "taiwan-rf100x5": ("taiwan", "rf", 100, 5, 20, 10.0),
    "taiwan-rf500x8": ("taiwan", "rf", 500, 8, 10, 60.0),
    "taiwan-xgb300x6": ("taiwan", "xgb", 300, 6, 10, 60.0),
}


def build_case(name: str):
    """(scm, model, people, cost, actionability) of a case; RF through bench_suite.tree_case, XGBoost alike."""
    from bench_suite import TAIWAN_IMMUTABLE, denied_rows, tree_case

    dataset, kind, trees, depth, n, _ = CASES[name]
    if kind == "rf":
        return tree_case(dataset, "rf", trees, depth, n)
    import pandas as pd
    from xgboost import XGBClassifier

    from common import data_dir
    from milp_recourse import Actionability, CostSpec
    from milp_recourse.scm.from_data import independent_scm, sanitize_columns

    frame = sanitize_columns(pd.read_csv(data_dir() / "taiwan-credit" / "credit_data.csv"))
    y = 1 - frame.pop("will_default_next_month").to_numpy()   # favourable = will not default
    frame, y = frame.iloc[:6000], y[:6000]
    scm = independent_scm(frame, dataset, immutable=TAIWAN_IMMUTABLE)
    model = XGBClassifier(n_estimators=trees, max_depth=depth, random_state=0, n_jobs=1).fit(frame, y)
    std = frame.std(ddof=1).replace(0, 1.0)
    return scm, model, denied_rows(scm, model, frame, n), CostSpec(p=1, divisors=std.to_dict()), Actionability()


def worker(root: str, case_name: str) -> None:
    """Serve one case from the package in `root`: read a person's index per stdin line, answer one JSON line."""
    sys.path.insert(0, str(Path(root).resolve()))   # ahead of common.py's ROOT: this tree's package
    import milp_recourse
    from milp_recourse import RecourseProblem, SolveOptions, solve

    t = time.perf_counter()
    scm, model, people, cost, act = build_case(case_name)
    limit = CASES[case_name][5]
    print(json.dumps({"ready": len(people), "package": milp_recourse.__file__,
                      "build_s": time.perf_counter() - t}), flush=True)
    warm = RecourseProblem(scm, model, people[0], actionability=act, cost=cost, options=SolveOptions(time_limit=limit))
    solve(warm)   # imports and caches, not timed
    for line in sys.stdin:
        i = int(line)
        t = time.perf_counter()
        r = solve(RecourseProblem(scm, model, people[i], actionability=act, cost=cost,
                                  options=SolveOptions(time_limit=limit)))
        wall = time.perf_counter() - t
        print(json.dumps({"i": i, "status": r.status.value, "cost": r.cost, "bound": r.objective_bound,
                          "seconds": wall, "timings": r.timings}), flush=True)


def run_case(case_name: str, trees: list[tuple[str, str]], n: int | None) -> list[dict]:
    """Every person of the case in every tree, alternately; one summary row per tree."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = {}
    for label, root in trees:
        procs[label] = subprocess.Popen([sys.executable, __file__, "--worker", root, "--case", case_name],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
                                        cwd=str(ROOT / "bench"))
    ready = {label: json.loads(p.stdout.readline()) for label, p in procs.items()}
    count = min(r["ready"] for r in ready.values()) if n is None else min(n, *(r["ready"] for r in ready.values()))
    for label, r in ready.items():
        print(f"[{case_name}] {label}: {r['package']} (case built in {r['build_s']:.1f} s)", flush=True)
    got: dict[str, list[dict]] = {label: [] for label in procs}
    for i in range(count):
        for label, p in procs.items():
            p.stdin.write(f"{i}\n")
            p.stdin.flush()
            got[label].append(json.loads(p.stdout.readline()))
        print(f"[{case_name}] person {i}: " + " | ".join(
            f"{label} {got[label][-1]['status']} {got[label][-1]['seconds']:.3f}s" for label in procs), flush=True)
    for p in procs.values():
        p.stdin.close()
        p.wait()
    return summarize_case(case_name, got)


def summarize_case(case_name: str, got: dict[str, list[dict]]) -> list[dict]:
    """Median / p95 / proven share per tree, the paired median ratio and the cost agreement against the first."""
    first = next(iter(got))
    rows = []
    for label, res in got.items():
        secs = [r["seconds"] for r in res]
        ratios = [r["seconds"] / b["seconds"] for r, b in zip(res, got[first]) if b["seconds"] > 0]
        same = sum(1 for r, b in zip(res, got[first])
                   if r["status"] == b["status"] and (r["cost"] == b["cost"] or (
                       r["cost"] is not None and b["cost"] is not None
                       and abs(r["cost"] - b["cost"]) <= 1e-6 * max(1.0, abs(b["cost"])))))
        rows.append({"case": case_name, "tree": label, "n": len(res), "median_s": statistics.median(secs),
                     "p95_s": quantile(secs, 0.95), "max_s": max(secs),
                     "proven": f"{sum(r['status'] in PROVEN for r in res)}/{len(res)}",
                     "median_ratio": statistics.median(secs) / statistics.median(
                         [r["seconds"] for r in got[first]]),
                     "paired_ratio_median": statistics.median(ratios) if ratios else float("nan"),
                     "same_answer": f"{same}/{len(res)}", "people": res})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tree", action="append", default=[], metavar="LABEL=DIR",
                    help="a source tree to measure (repeatable; default: this one, as 'current')")
    ap.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, of {', '.join(CASES)}")
    ap.add_argument("-n", type=int, default=None, help="at most this many people per case (default: the case's)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "tree_scale.jsonl"))
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--case", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker is not None:
        worker(args.worker, args.case)
        return
    trees = [tuple(t.split("=", 1)) for t in args.tree] or [("current", str(ROOT))]
    cases = [c for c in args.cases.split(",") if c]
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        sys.exit(f"unknown case(s) {unknown}; expected some of {list(CASES)}")
    rows: list[dict] = [{"machine": machine(), "load_start": os.getloadavg()[0], "trees": trees}]
    for case_name in cases:
        rows += run_case(case_name, trees, args.n)
    rows.append({"load_end": os.getloadavg()[0]})
    cols = ["case", "tree", "n", "median_s", "p95_s", "max_s", "proven", "median_ratio", "paired_ratio_median",
            "same_answer"]
    print(markdown_table([r for r in rows if "case" in r], cols))
    write_jsonl(Path(args.out), rows)


if __name__ == "__main__":
    main()
