"""Issue 5 throughput: solve_batch on the Loan SCM, local 1 / 2 workers, Dask LocalCluster (2), Ray (2 CPUs).

Cases: recipe:logreg (p = 1) and the CARMA ReLU network (classifier_mlp.npz, p = 1), each on the
first N denied rows of carma-loan/recourse_test.csv. Per configuration: wall seconds (engine start-up
included, as a CLI user sees it), individuals per second, and the steady rate after the first finished
chunk (start-up excluded); scaling = rate(2 workers) / rate(1 worker), target >= 1.8. Also the share of
a core the workers got while solving (cpu_seconds / seconds: on a shared machine other load takes the
rest) and the workers' busy fraction. Every run's statuses and costs are checked against local x1.
Writes bench/results/batch.jsonl.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pandas as pd

from common import ROOT, data_dir, machine, markdown_table, write_jsonl

from milp_recourse import CostSpec, SolveOptions, load_scm
from milp_recourse.batch.run import solve_batch
from milp_recourse.models.classifiers import ReLUNetwork, classifier_features, favourable
from milp_recourse.models.recipes import load_model

CONFIGS = [("local", 1), ("local", 2), ("dask", 2), ("ray", 2)]


def denied_rows(model, scm, frame: pd.DataFrame, n: int) -> pd.DataFrame:
    feats = list(classifier_features(model, scm.names))
    fav = favourable(model, frame[feats].to_numpy(float))
    return frame[~fav].head(n).reset_index(drop=True)


def run(case: str, model, scm, people: pd.DataFrame, engine: str, workers: int, options: SolveOptions) -> tuple:
    marks: list[tuple[float, int]] = []
    t0 = time.perf_counter()
    out = solve_batch(scm, model, people, cost=CostSpec(p=1), options=options, engine=engine, workers=workers,
                      progress=lambda done, total: marks.append((time.perf_counter(), done)))
    wall = time.perf_counter() - t0
    n = len(out)
    (t_first, n_first), (t_last, _) = marks[0], marks[-1]
    steady = (n - n_first) / (t_last - t_first) if t_last > t_first else float("nan")
    row = {"case": case, "engine": engine, "workers": workers, "n": n, "wall_s": wall, "rate_per_s": n / wall,
           "steady_rate_per_s": steady, "startup_s": t_first - t0,
           "median_solve_s": float(np.median(out["seconds"])), "sum_solve_s": float(out["seconds"].sum()),
           "sum_cpu_s": float(out["cpu_seconds"].sum()),
           # share of a core each worker got while solving (< 1: the machine's other load took the rest)
           "cpu_share": float(out["cpu_seconds"].sum() / out["seconds"].sum()),
           # busy fraction of the workers over the whole run (engine start-up and overhead lower it)
           "utilisation": float(out["seconds"].sum() / (wall * workers)),
           "optimal": int((out["status"] == "OPTIMAL").sum()), "load_avg_1m": os.getloadavg()[0]}
    return row, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n-logreg", type=int, default=600, help="denied individuals for recipe:logreg")
    ap.add_argument("--n-relu", type=int, default=24, help="denied individuals for the ReLU network")
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--cases", default="logreg,relu", help="comma-separated subset of logreg, relu")
    args = ap.parse_args()
    d = data_dir() / "carma-loan"
    scm = load_scm("loan")
    test = pd.read_csv(d / "recourse_test.csv")[list(scm.names)]
    wanted = set(args.cases.split(","))
    cases = [c for key, c in (("logreg", ("loan+logreg p=1", load_model("recipe:logreg", scm), args.n_logreg)),
                              ("relu", ("loan+carma-relu p=1", ReLUNetwork.from_npz(d / "classifier_mlp.npz"),
                                        args.n_relu))) if key in wanted]
    options = SolveOptions(time_limit=args.time_limit)
    rows = []
    for case, model, n in cases:
        people = denied_rows(model, scm, test, n)
        base = None
        for engine, workers in CONFIGS:
            row, out = run(case, model, scm, people, engine, workers, options)
            if base is None:
                base, row["same_as_local1"] = out, True
            else:
                row["same_as_local1"] = bool((out["status"].to_numpy() == base["status"].to_numpy()).all() and
                                             np.allclose(out["cost"], base["cost"], atol=1e-6, equal_nan=True))
            rows.append(row)
            print(f"{case:22s} {engine:5s} x{workers}: {row['rate_per_s']:.2f}/s "
                  f"(steady {row['steady_rate_per_s']:.2f}/s)", flush=True)
        one = next(r for r in rows if r["case"] == case and r["engine"] == "local" and r["workers"] == 1)
        for r in rows:
            if r["case"] == case:
                r["scaling_vs_local1"] = r["rate_per_s"] / one["rate_per_s"]
                r["steady_scaling_vs_local1"] = r["steady_rate_per_s"] / one["steady_rate_per_s"]
    write_jsonl(ROOT / "bench" / "results" / "batch.jsonl", [{"machine": machine()}] + rows)
    cols = ["case", "engine", "workers", "n", "wall_s", "rate_per_s", "scaling_vs_local1", "startup_s",
            "steady_rate_per_s", "steady_scaling_vs_local1", "median_solve_s", "cpu_share", "utilisation",
            "same_as_local1", "load_avg_1m"]
    print(markdown_table(rows, cols))


if __name__ == "__main__":
    main()
