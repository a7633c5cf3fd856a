"""Issue 4: certificates, minimal conflicts and cheapest relaxations on the Loan SCM + the CARMA ReLU network.

Each of the first N denied rows of recourse_test.csv gets random personal constraints (fixed features,
bounds, directions, max-changes; seeded). Per person: solve (with its certificate), minimal conflict and
cheapest relaxation when there is no recourse. Prints a summary table and writes
bench/results/certify.jsonl. Timings are for this machine only; compare within one run.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

import numpy as np
import pandas as pd

from common import ROOT, data_dir, machine, markdown_table, summarize, write_jsonl

from milp_recourse import Actionability, RecourseProblem, SolveOptions, Status, load_scm, solve
from milp_recourse.models.classifiers import ReLUNetwork
from milp_recourse.diagnose.conflicts import minimal_conflict
from milp_recourse.diagnose.population import no_recourse_summary
from milp_recourse.diagnose.relaxations import cheapest_relaxation

ACTIONABLE = ("E", "L", "I", "S")


def constraints(x: dict, rng: np.random.Generator) -> Actionability:
    """Random personal limits that often bite: few actionable features, small moves, one change."""
    actionable = tuple(n for n in ACTIONABLE if rng.random() < 0.6)
    bounds = {}
    for n in actionable:
        if rng.random() < 0.5:
            step = round(float(rng.uniform(0, 1.5)), 3)
            bounds[n] = (round(x[n] - step, 3), None) if n == "L" else (None, round(x[n] + step, 3))
    dirs = {n: ("down" if n == "L" else "up") for n in actionable if rng.random() < 0.3}
    return Actionability(actionable=actionable, bounds=bounds, directions=dirs,
                         max_changes=1 if rng.random() < 0.5 else None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("-n", type=int, default=30, help="denied individuals (default 30)")
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    d = data_dir() / "carma-loan"
    scm = load_scm("loan")
    net = ReLUNetwork.from_npz(d / "classifier_mlp.npz")
    test = pd.read_csv(d / "recourse_test.csv")
    denied = np.flatnonzero(net.predict(test[list(scm.names)].to_numpy(float)) == 0)[: args.n]
    rng = np.random.default_rng(args.seed)
    opts = SolveOptions(time_limit=args.time_limit)
    rows, pairs = [], []
    for i in denied:
        x = test.iloc[int(i)][list(scm.names)].to_dict()
        prob = RecourseProblem(scm, net, x, actionability=constraints(x, rng), options=opts)
        t = time.perf_counter()
        res = solve(prob)
        row = {"row": int(i), "status": res.status.value, "solve_s": time.perf_counter() - t,
               "certificate": (res.certificate or {}).get("kind"),
               "confirmed": (res.certificate or {}).get("confirmed"),
               "certify_s": res.timings.get("certify")}
        if res.status is Status.NO_RECOURSE:
            t = time.perf_counter()
            c = minimal_conflict(prob)
            row.update(conflict=list(c.keys) if c else None, scope=c.scope if c else None,
                       conflict_tests=c.tests if c else 0, conflict_s=time.perf_counter() - t)
            t = time.perf_counter()
            r = cheapest_relaxation(prob)
            row.update(relax_status=r.status, relax_groups=[g.key for g in r.groups], relax_cost=r.cost,
                       relax_verified=r.verified, relax_s=time.perf_counter() - t)
        rows.append(row)
        pairs.append((prob, res))
    t = time.perf_counter()
    pop = no_recourse_summary(pairs)
    pop_s = time.perf_counter() - t
    nr = [r for r in rows if r["status"] == "NO_RECOURSE"]
    table = [{"what": k, **summarize([r[k] for r in sel if r.get(k) is not None])}
             for k, sel in (("solve_s", rows), ("certify_s", nr), ("conflict_s", nr), ("relax_s", nr))]
    print(f"{len(rows)} denied people, statuses {dict(Counter(r['status'] for r in rows))}, certificates "
          f"{dict(Counter(r['certificate'] for r in nr))}, "
          f"relaxations {dict(Counter(r.get('relax_status') for r in nr))}")
    print(markdown_table(table, ["what", "median", "p95", "max", "n"]))
    print(f"population summary ({pop_s:.2f}s): {pop.to_dict()}")
    write_jsonl(ROOT / "bench" / "results" / "certify.jsonl",
                [{"machine": machine(), "args": vars(args), "population": pop.to_dict()}] + rows)


if __name__ == "__main__":
    main()
