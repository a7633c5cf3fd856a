"""Raw Adult and German credit with their categorical columns (examples/real_data/run_categorical.py): per dataset
and model kind, fit-scm on the raw training table + DAG, a Pipeline(ColumnTransformer(OneHotEncoder, ...), model)
trained on the raw DataFrame, `milp-recourse batch` over the denied people, then every answer re-checked outside
the package (examples/real_data/verify_categorical.py): the pipeline's own predict_proba on the raw counterfactual
row, one active OneHotEncoder column per group in the pipeline's own transform, immutables unchanged, the cost
recomputed from the action. Against DiCE (random, genetic; `pip install dice-ml`, the `bench` extra) on the first
--dice-n of the same people: DiCE's counterfactual charged the same cost (|change| / std per number, 1 per level
switch: the cost of intervening on every feature it changes), its validity by the same predict_proba.
German has 1 000 rows, so its people are every row the model denies (training rows too), not only test rows.
Prints a table and writes bench/results/categorical.jsonl (one row per dataset and model; the rows of cells not
run this time are kept).

    .venv/bin/python bench/bench_categorical.py [--n 500] [--datasets adult-cat,german-cat]
        [--models lightgbm,logreg] [--dice-n 30] [--time-limit 10] [--work DIR]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import joblib
import numpy as np
import pandas as pd

from common import ROOT, data_dir, machine, markdown_table, write_jsonl

sys.path.insert(0, str(ROOT / "examples" / "real_data"))
from datasets import RAW_DATASETS, load_raw  # noqa: E402
from run_categorical import batch_args, fit_args, keep_in_domain, prepare  # noqa: E402
from run_dataset import cli  # noqa: E402
from verify_categorical import check, divisors, point_cost, raw_frame  # noqa: E402

LIBRARY = {"xgboost": "xgboost", "lightgbm": "lightgbm"}
os.environ.setdefault("TQDM_DISABLE", "1")   # DiCE's progress bars
warnings.filterwarnings("ignore", category=pd.errors.PerformanceWarning)   # DiCE's genetic method
ALL_ROWS = ("german-cat",)   # too few denied test people: solve every denied row


def people(name: str, out: Path, model, features: list[str]) -> str:
    """For ALL_ROWS datasets, rewrite out/denied.csv with every row of the table the model denies; say which."""
    if name not in ALL_ROWS:
        return "test rows"
    ds = RAW_DATASETS[name]
    frame, _ = load_raw(name)
    denied = frame[model.predict_proba(frame[features])[:, 1] < 0.5].copy()
    denied.insert(0, "id", denied.index)
    denied.to_csv(out / "denied.csv", index=False)
    return f"all rows ({len(denied)} denied of {len(frame)}; {ds.label} trained on 70 %)"


def dice_compare(name: str, out: Path, kind: str, results: pd.DataFrame, features: list[str], n: int,
                 methods: tuple[str, ...] = ("random", "genetic")) -> dict:
    """DiCE on the first n solved people: validity, the same cost, seconds; ratios against the exact answers."""
    if importlib.util.find_spec("dice_ml") is None:
        return {"dice": "skipped: dice-ml is not installed (pip install dice-ml, or the project's `bench` extra)"}
    import dice_ml

    ds = RAW_DATASETS[name]
    train = pd.read_csv(out / "train.csv")
    pipe = joblib.load(out / f"{kind}.joblib")
    numeric = [c for c in features if pd.api.types.is_numeric_dtype(train[c])]
    std = divisors(train, features, dict(ds.ordinal))
    spec_immutable = set(ds.immutable)
    vary = [c for c in features if c not in spec_immutable]
    solved = results[results["status"].isin(("OPTIMAL", "FEASIBLE"))].head(n)
    data = dice_ml.Data(dataframe=train, continuous_features=numeric, outcome_name=ds.label)
    model = dice_ml.Model(model=pipe, backend="sklearn")
    row: dict = {"dice_people": len(solved)}
    for method in methods:
        explainer = dice_ml.Dice(data, model, method=method)
        ratios, secs, ours_s, valid, found, direction = [], [], [], 0, 0, 0
        for _, r in solved.iterrows():
            query = raw_frame([{c: r[c] for c in features}], train, features)
            t0 = time.perf_counter()
            try:
                exp = explainer.generate_counterfactuals(query, total_CFs=1, desired_class="opposite",
                                                         features_to_vary=vary, verbose=False)
                cf = exp.cf_examples_list[0].final_cfs_df
            except Exception:   # DiCE raises when it finds nothing (e.g. UserConfigValidationException)
                cf = None
            secs.append(time.perf_counter() - t0)
            ours_s.append(float(r["seconds"]))
            if cf is None or len(cf) == 0:
                continue
            found += 1
            cf_row = raw_frame([cf.iloc[0][features].to_dict()], train, features)
            if pipe.predict_proba(cf_row)[:, 1][0] < 0.5:
                continue
            valid += 1
            x = query.iloc[0].to_dict()
            c = cf_row.iloc[0].to_dict()
            direction += int(any(c[k] < x[k] - 1e-9 for k in ds.increase_only if k in numeric)
                             or any(c[k] > x[k] + 1e-9 for k in ds.decrease_only if k in numeric)
                             or any(_lower(ds, k, c[k], x[k]) for k in ds.increase_only if k not in numeric))
            ours = float(r["cost"])
            theirs = point_cost(x, c, std, set(numeric), dict(ds.ordinal))
            ratios.append(theirs / ours if ours > 1e-12 else float("inf"))
        finite = [v for v in ratios if np.isfinite(v)]
        row |= {f"dice_{method}_found": found, f"dice_{method}_valid": valid,
                f"dice_{method}_direction_violations": direction,
                f"dice_{method}_cost_ratio_median": statistics.median(finite) if finite else float("nan"),
                f"dice_{method}_cost_ratio_min": min(finite) if finite else float("nan"),
                f"dice_{method}_median_s": statistics.median(secs) if secs else float("nan"),
                f"dice_{method}_time_ratio": (statistics.median(secs) / statistics.median(ours_s)) if secs else
                float("nan")}
    return row


def _lower(ds, col: str, new, old) -> bool:
    """An ordinal level below the old one (increase-only ordinal columns)."""
    order = dict(ds.ordinal).get(col)
    return bool(order) and order.index(str(new)) < order.index(str(old))


def run(name: str, kind: str, work: Path, n: int, time_limit: float, dice_n: int) -> dict:
    """One (dataset, model kind) cell: prepare, fit, batch, re-check, DiCE; the row of the table."""
    ds = RAW_DATASETS[name]
    out = work / f"{name}-{kind}"
    info = prepare(name, out, kind)
    source = people(name, out, info["model"], info["features"])
    cli(fit_args(name, out), show=False)
    dropped = keep_in_domain(out)
    results_path = out / f"results-{kind}.csv"
    results_path.unlink(missing_ok=True)
    t0 = time.perf_counter()
    cli(batch_args(out, kind, n, time_limit, 1, results_path), show=False)
    wall = time.perf_counter() - t0
    results = pd.read_csv(results_path)
    train = pd.read_csv(out / "train.csv")
    c = check(results, joblib.load(out / f"{kind}.joblib"), train, info["features"], ds.immutable, dict(ds.ordinal))
    seconds = results.loc[results["status"].isin(("OPTIMAL", "FEASIBLE", "NO_RECOURSE")), "seconds"].tolist()
    counts = {str(k): int(v) for k, v in results["status"].value_counts().items()}
    row = {"dataset": name, "model": kind, "features": len(info["features"]), "accuracy": round(info["accuracy"], 3),
           "dropped_missing": info["dropped_missing"], "people_from": source, "out_of_domain": dropped,
           "people": c.people, "solved": c.found, "no_recourse": counts.get("NO_RECOURSE", 0),
           "unknown": counts.get("UNKNOWN", 0) + counts.get("ERROR", 0),
           "validity": c.model_valid / c.found if c.found else float("nan"),
           "verified_frac": c.verified / c.found if c.found else float("nan"),
           "onehot_violations": c.onehot_violations, "immutable_violations": c.immutable_violations,
           "max_cost_error": c.max_cost_error, "min_margin": c.min_margin,
           "proven_optimal": c.optimal / c.found if c.found else float("nan"),
           "median_s": statistics.median(seconds) if seconds else float("nan"),
           "max_s": max(seconds) if seconds else float("nan"), "batch_wall_s": round(wall, 1),
           "time_limit": time_limit, "statuses": counts}
    if dice_n > 0:
        row |= dice_compare(name, out, kind, results, info["features"], dice_n)
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=500, help="denied people per cell (default 500)")
    p.add_argument("--time-limit", type=float, default=10.0, help="seconds per person (default 10)")
    p.add_argument("--datasets", default=",".join(RAW_DATASETS), help="comma-separated (default: both)")
    p.add_argument("--models", default="lightgbm,logreg", help="comma-separated model kinds (logreg, forest, hgb, "
                                                               "xgboost, lightgbm; default lightgbm,logreg)")
    p.add_argument("--dice-n", type=int, default=30, help="people per cell given to DiCE (default 30; 0: no DiCE)")
    p.add_argument("--work", help="working folder (default: a temporary folder)")
    a = p.parse_args()
    data_dir()
    work = Path(a.work) if a.work else Path(tempfile.mkdtemp(prefix="bench-categorical-"))
    if importlib.util.find_spec("dice_ml") is None and a.dice_n > 0:
        print("DiCE skipped: dice-ml is not installed (pip install dice-ml, or the project's `bench` extra)")
    rows = []
    for name in a.datasets.split(","):
        for kind in a.models.split(","):
            if kind in LIBRARY and importlib.util.find_spec(LIBRARY[kind]) is None:
                print(f"skip {name}/{kind}: {LIBRARY[kind]} is not installed", flush=True)
                continue
            row = run(name, kind, work, a.n, a.time_limit, a.dice_n)
            print(json.dumps({k: v for k, v in row.items() if k != "statuses"}), flush=True)
            rows.append(row | {"machine": machine()})
    cols = ["dataset", "model", "accuracy", "people", "solved", "no_recourse", "unknown", "validity",
            "onehot_violations", "immutable_violations", "proven_optimal", "median_s", "max_s"]
    print(markdown_table(rows, cols))
    dice_cols = ["dataset", "model", "dice_people"] + [f"dice_{m}_{k}" for m in ("random", "genetic") for k in
                                                       ("valid", "cost_ratio_median", "median_s", "time_ratio")]
    if any("dice_people" in r for r in rows):
        print(markdown_table([r for r in rows if "dice_people" in r], dice_cols))
    path = ROOT / "bench" / "results" / "categorical.jsonl"
    cells = {(r["dataset"], r["model"]) for r in rows}   # other cells of an earlier run are kept
    old = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    write_jsonl(path, [r for r in old if (r["dataset"], r["model"]) not in cells] + rows)


if __name__ == "__main__":
    main()
