"""Issue 2 speed target: Loan SCM + the CARMA ReLU network, 4 actionable features, p = 2 cost.

Median and p95 seconds per individual over the first N denied rows of recourse_test.csv, every
answer checked for proven optimality and independent verification. Writes bench/results/core.jsonl.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from common import ROOT, data_dir, machine, markdown_table, summarize, write_jsonl

from milp_recourse import CostSpec, RecourseProblem, SolveOptions, load_scm, solve
from milp_recourse.models.classifiers import ReLUNetwork


def carma_cost(net: ReLUNetwork, train: pd.DataFrame, names, actionable) -> CostSpec:
    """(1/K) sum (delta / std)^2 / R_k, R_k the range of the standardized denied training data."""
    denied = train[~net.predict(train[list(names)].to_numpy(float)).astype(bool)]
    std = dict(zip(names, np.asarray(net.scaler_std, float)))
    div = {k: std[k] * float(denied[k].max() - denied[k].min()) for k in actionable}
    return CostSpec(p=2, divisors=div, scale=1.0 / len(actionable))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("-n", type=int, default=200, help="denied individuals (default 200)")
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--milp-only", action="store_true",
                    help="no box search (SolveOptions(box_search=False)): the MILP pipeline for everyone")
    args = ap.parse_args()
    d = data_dir() / "carma-loan"
    scm = load_scm("loan")
    net = ReLUNetwork.from_npz(d / "classifier_mlp.npz")
    test = pd.read_csv(d / "recourse_test.csv")
    train = pd.read_csv(d / "recourse_train.csv")
    X = test[list(scm.names)].to_numpy(float)
    denied = np.flatnonzero(net.predict(X) == 0)[: args.n]
    actionable = ("E", "L", "I", "S")
    cost = carma_cost(net, train, scm.names, actionable)
    opts = SolveOptions(time_limit=args.time_limit, box_search=not args.milp_only)
    rows = []
    for i in denied:
        t = time.perf_counter()
        res = solve(RecourseProblem(scm, net, test.iloc[int(i)][list(scm.names)].to_dict(), cost=cost, options=opts))
        rows.append({"row": int(i), "status": res.status.value, "cost": res.cost, "gap": res.gap,
                     "verified": res.verified, "seconds": time.perf_counter() - t, "rounds": res.iterations,
                     **{f"t_{k}": v for k, v in res.timings.items()}})
    secs = [r["seconds"] for r in rows]
    s = summarize(secs)
    opt = sum(r["status"] == "OPTIMAL" for r in rows)
    ver = sum(r["verified"] for r in rows)
    by_boxes = sum("t_box_search" in r and "t_tighten" not in r for r in rows)
    case = "loan+carma-relu p=2" + (" milp-only" if args.milp_only else "")
    summary = {"case": case, "n": len(rows), "median_s": s["median"], "p95_s": s["p95"],
               "max_s": s["max"], "optimal": opt, "verified": ver, "settled_by_box_search": by_boxes,
               "median_rounds": float(np.median([r["rounds"] for r in rows])),
               **{f"median_{k}": float(np.median([r.get(f"t_{k}", 0.0) for r in rows]))
                  for k in ("heuristic", "compile", "box_search", "tighten", "solve", "verify")}}
    write_jsonl(ROOT / "bench" / "results" / "core.jsonl", [{"machine": machine()}, summary] + rows)
    print(markdown_table([summary], list(summary)))
    statuses = pd.Series([r["status"] for r in rows]).value_counts().to_dict()
    print("statuses:", statuses)


if __name__ == "__main__":
    main()
