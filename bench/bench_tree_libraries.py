"""HistGradientBoosting, XGBoost and LightGBM on German credit (processed, numeric, raw column names kept):
per-person recourse time, status and verification, one row per model kind; the results in bench/results.

    .venv/bin/python bench/bench_tree_libraries.py [--n 20] [--trees 50] [--time-limit 60]
"""

from __future__ import annotations

import argparse
import importlib.util
import time

import numpy as np
import pandas as pd

from common import ROOT, data_dir, machine, markdown_table, summarize, write_jsonl

from milp_recourse import Actionability, CostSpec, RecourseProblem, SolveOptions, solve
from milp_recourse.models.classifiers import favourable
from milp_recourse.scm.from_data import independent_scm

IMMUTABLE = ["age", "male_divorced", "female_divorced/married", "male_single", "male_married", "female_single",
             "is_foreign_worker"]


def german() -> tuple[pd.DataFrame, np.ndarray]:
    frame = pd.read_csv(data_dir() / "german" / "german_processed.csv")
    y = frame.pop("is_credit_risk_good").to_numpy()
    return frame.astype(float), y


def models(trees: int) -> dict[str, object]:
    from sklearn.ensemble import HistGradientBoostingClassifier

    out: dict[str, object] = {"histgb": HistGradientBoostingClassifier(max_iter=trees, max_depth=3, random_state=0)}
    if importlib.util.find_spec("xgboost"):
        import xgboost as xgb
        out["xgboost"] = xgb.XGBClassifier(n_estimators=trees, max_depth=3, random_state=0, n_jobs=1)
    if importlib.util.find_spec("lightgbm"):
        import lightgbm as lgb
        out["lightgbm"] = lgb.LGBMClassifier(n_estimators=trees, num_leaves=8, verbose=-1, random_state=0,
                                             n_jobs=1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=20, help="denied people per model")
    ap.add_argument("--trees", type=int, default=50)
    ap.add_argument("--time-limit", type=float, default=60.0)
    args = ap.parse_args()
    X, y = german()
    scm = independent_scm(X, "german", immutable=IMMUTABLE)
    cost = CostSpec(p=1, divisors=X.std(ddof=1).replace(0, 1.0).to_dict())
    summaries, records = [], []
    for kind, model in models(args.trees).items():
        model.fit(X, y)
        denied = np.flatnonzero(~favourable(model, X[list(scm.names)].to_numpy(float)))[:args.n]
        times, statuses, verified = [], [], 0
        for i in denied:
            t = time.perf_counter()
            res = solve(RecourseProblem(scm, model, X.iloc[int(i)], actionability=Actionability(), cost=cost,
                                        options=SolveOptions(time_limit=args.time_limit)))
            times.append(time.perf_counter() - t)
            statuses.append(res.status.value)
            verified += bool(res.verified)
            records.append({"model": kind, "row": int(i), "status": res.status.value, "cost": res.cost,
                            "verified": bool(res.verified), "seconds": times[-1]})
        s = summarize(times)
        summaries.append({"model": kind, "trees": args.trees, "n": len(times), "median_s": s["median"],
                          "p95_s": s["p95"], "max_s": s["max"],
                          "optimal": sum(st == "OPTIMAL" for st in statuses), "verified": verified,
                          "other": ",".join(sorted({st for st in statuses if st != "OPTIMAL"})) or "-"})
        print(markdown_table(summaries[-1:], list(summaries[-1])), flush=True)
    write_jsonl(ROOT / "bench" / "results" / "tree_libraries.jsonl", [{"machine": machine()}] + summaries + records)
    print(markdown_table(summaries, list(summaries[0])))


if __name__ == "__main__":
    main()
