"""Issue 16 profile: where German credit RF 50 x depth 5 spends its time per person (cProfile), and a what-if.

Prints the pipeline's step sums and cProfile's top functions over N denied people, then times the same people
with the forest's predict_proba replaced (in this process only, never shipped from here) by a plain loop over
the fitted trees' `tree_.predict` (no joblib dispatch, no input validation; bit-identical probabilities),
interleaved with the unpatched model, and checks that every cost is unchanged.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics

import numpy as np

from common import ROOT, machine, write_jsonl

from bench_suite import tree_case
from milp_recourse import RecourseProblem, SolveOptions, solve


def tree_loop_proba(model):
    """predict_proba of a fitted RandomForestClassifier as a loop over its trees' tree_.predict (float32 input)."""
    def proba(X):
        X32 = np.ascontiguousarray(np.asarray(X, dtype=np.float32))
        acc = 0.0
        for est in model.estimators_:
            v = est.tree_.predict(X32).reshape(len(X32), -1)
            acc = acc + v / v.sum(axis=1, keepdims=True)
        return acc / len(model.estimators_)
    return proba


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("-n", type=int, default=8, help="denied people (default 8)")
    ap.add_argument("--trees", type=int, default=50)
    ap.add_argument("--depth", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3, help="interleaved what-if rounds (default 3)")
    args = ap.parse_args()
    scm, model, people, cost, act = tree_case("german", "rf", args.trees, args.depth, args.n)
    opts = SolveOptions(time_limit=10)

    def run() -> list:
        return [solve(RecourseProblem(scm, model, p, act, cost=cost, options=opts)) for p in people]

    run()  # warm-up
    prof, steps = cProfile.Profile(), {}
    prof.enable()
    results = run()
    prof.disable()
    for r in results:
        for k, v in r.timings.items():
            steps[k] = steps.get(k, 0.0) + v
    print("step sums (s):", {k: round(v, 3) for k, v in steps.items()})
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(25)
    print(buf.getvalue())
    fast = tree_loop_proba(model)
    times: dict[str, list[list[float]]] = {"sklearn predict_proba": [], "tree_.predict loop": []}
    costs: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        for tag in times:
            if tag == "tree_.predict loop":
                model.predict_proba = fast
            else:
                model.__dict__.pop("predict_proba", None)
            res = run()
            times[tag].append([r.total_seconds for r in res])
            costs[tag] = [r.cost for r in res]
    model.__dict__.pop("predict_proba", None)
    rows = [{"machine": machine()}, {"steps_s": steps}]
    for tag, rounds in times.items():
        per = [statistics.median(r[i] for r in rounds) for i in range(len(people))]
        row = {"variant": tag, "median_s": statistics.median(per), "n": len(people)}
        print(row)
        rows.append(row)
    a, b = costs.values()
    same = all(abs(x - y) <= 1e-9 * max(1.0, abs(x)) for x, y in zip(a, b))
    print("same costs:", same)
    rows.append({"same_costs": same})
    write_jsonl(ROOT / "bench" / "results" / "profile_trees.jsonl", rows)


if __name__ == "__main__":
    main()
