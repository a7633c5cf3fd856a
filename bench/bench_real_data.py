"""Real datasets end to end (examples/real_data): per dataset and model kind, fit-scm + `milp-recourse batch` over
the denied test individuals, then every found answer re-checked outside the package (the model's own
predict_proba on the counterfactual rebuilt from an independent least-squares fit, immutables unchanged).
Prints a table and writes bench/results/real_data.jsonl.

    .venv/bin/python bench/bench_real_data.py [--n 100] [--time-limit 10] [--datasets german,adult]
        [--models default,logreg,forest] [--work DIR]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import time
from pathlib import Path

import joblib
import pandas as pd

from common import ROOT, data_dir, machine, markdown_table, write_jsonl

sys.path.insert(0, str(ROOT / "examples" / "real_data"))
from datasets import DATASETS, HERE  # noqa: E402
from run_dataset import batch_args, cli, fit_args, keep_in_domain, prepare  # noqa: E402
from verify import check_results  # noqa: E402

LIBRARY = {"xgboost": "xgboost", "lightgbm": "lightgbm"}


def run(name: str, kind: str, work: Path, n: int, time_limit: float) -> dict:
    """One (dataset, model kind) cell: prepare, fit, batch, re-check; the row of the table."""
    ds = DATASETS[name]
    out = work / name
    info = prepare(name, out, kind)
    cli(fit_args(name, out), show=False)
    dropped = keep_in_domain(out)
    results_path = out / f"results-{kind}.csv"
    results_path.unlink(missing_ok=True)
    t0 = time.perf_counter()
    cli(batch_args(out, kind, n, time_limit, 1, results_path), show=False)
    wall = time.perf_counter() - t0
    results = pd.read_csv(results_path)
    model = joblib.load(out / f"{kind}.joblib")
    check = check_results(results, model, info["features"], ds.immutable, pd.read_csv(out / "train.csv"),
                          HERE / ds.dag if ds.dag else None)
    seconds = results["seconds"].dropna().tolist()
    counts = results["status"].value_counts().to_dict()
    return {"dataset": name, "model": kind, "features": len(info["features"]), "accuracy": round(info["accuracy"], 3),
            "denied_test": info["n_denied"], "out_of_domain": dropped, "people": check.n, "solved": check.found,
            "no_recourse": int(counts.get("NO_RECOURSE", 0)), "unknown": int(counts.get("UNKNOWN", 0)),
            "verified_frac": float(results.loc[results["status"].isin(("OPTIMAL", "FEASIBLE")), "verified"]
                                   .map(lambda v: str(v) == "True").mean()) if check.found else float("nan"),
            "model_valid_frac": check.model_valid / check.found if check.found else float("nan"),
            "immutable_violations": check.immutable_violations, "max_cf_error": check.max_cf_error,
            "free_holds": check.free_holds,
            "median_s": statistics.median(seconds) if seconds else float("nan"),
            "max_s": max(seconds) if seconds else float("nan"),
            "optimal_share": check.optimal / check.found if check.found else float("nan"),
            "batch_wall_s": round(wall, 1), "wall_per_person_s": wall / max(check.n, 1), "time_limit": time_limit,
            "statuses": counts}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=100, help="denied test individuals per cell (default 100)")
    p.add_argument("--time-limit", type=float, default=10.0, help="seconds per person (default 10)")
    p.add_argument("--datasets", default=",".join(DATASETS), help="comma-separated (default: all four)")
    p.add_argument("--models", default="default,logreg,forest",
                   help="comma-separated model kinds (logreg, forest, hgb, xgboost, lightgbm); 'default' = the "
                        "dataset's own (default: default,logreg,forest)")
    p.add_argument("--work", help="working folder (default: a temporary folder)")
    a = p.parse_args()
    data_dir()
    work = Path(a.work) if a.work else Path(tempfile.mkdtemp(prefix="bench-real-data-"))
    rows = []
    for name in a.datasets.split(","):
        kinds = list(dict.fromkeys(DATASETS[name].model if k == "default" else k for k in a.models.split(",")))
        for kind in kinds:
            if kind in LIBRARY and importlib.util.find_spec(LIBRARY[kind]) is None:
                print(f"skip {name}/{kind}: {LIBRARY[kind]} is not installed", flush=True)
                continue
            row = run(name, kind, work, a.n, a.time_limit)
            print(f"{name}/{kind}: {row['solved']}/{row['people']} solved, median {row['median_s']:.3g} s",
                  flush=True)
            rows.append(row | {"machine": machine()})
    cols = ["dataset", "model", "features", "accuracy", "people", "solved", "no_recourse", "unknown",
            "verified_frac", "model_valid_frac", "immutable_violations", "median_s", "max_s", "optimal_share",
            "wall_per_person_s"]
    print(markdown_table(rows, cols))
    write_jsonl(ROOT / "bench" / "results" / "real_data.jsonl", rows)


if __name__ == "__main__":
    main()
