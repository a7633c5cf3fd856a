"""Issue 3 benchmark suite: every case x every available backend, one run, JSONL + Markdown summary.

Cases: Loan + logistic regression / sklearn MLP / the CARMA ReLU network (p = 2); random linear
SCMs with 10, 20, 50 nodes + logistic regression; RandomForest 10/50/100 x depth 5 and
GradientBoosting 100 x depth 3 on German credit and Taiwan credit (independent features).
ReLU-network cases run the default path (the box search, no MILP backend) first, then every backend's
MILP pipeline (box_search=False). Per case: median / p95 seconds per individual, individuals per second (sequential, one process),
proven-optimal and verified fractions; plus, on HiGHS, the same people through solve_many (compile
once / solve many: one kept HiGHS relaxation re-parameterised per person, batched classifier
re-checks), with the mean time per person of each step in the JSONL. Compare only numbers from the
same run.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from common import ROOT, data_dir, machine, markdown_table, summarize, write_jsonl

from milp_recourse import Actionability, CostSpec, RecourseProblem, SolveOptions, load_scm, solve
from milp_recourse.backends import available_backends
from milp_recourse.models.classifiers import ReLUNetwork, favourable
from milp_recourse.solver.box_search import BOX_ENGINE
from milp_recourse.bounds.relu_bounds import relu_layers
from milp_recourse.models.recipes import train_recipe
from milp_recourse.scm.from_data import independent_scm, sanitize_columns
from milp_recourse.scm.random_linear import random_linear_scm
from milp_recourse.solver.many import solve_many


def denied_rows(scm, model, X: pd.DataFrame, n: int) -> list[dict]:
    fav = favourable(model, X[list(scm.names)].to_numpy(float))
    return [X.iloc[i][list(scm.names)].to_dict() for i in np.flatnonzero(~fav)[:n]]


def loan_case(recipe: str, n: int):
    scm = load_scm("loan")
    model = train_recipe(scm, recipe, 5000, 0)
    return scm, model, denied_rows(scm, model, scm.sample(4 * n + 200, seed=7), n), CostSpec(p=1), Actionability()


def carma_case(n: int):
    from bench_core import carma_cost
    d = data_dir() / "carma-loan"
    scm = load_scm("loan")
    net = ReLUNetwork.from_npz(d / "classifier_mlp.npz")
    test, train = pd.read_csv(d / "recourse_test.csv"), pd.read_csv(d / "recourse_train.csv")
    return scm, net, denied_rows(scm, net, test, n), carma_cost(net, train, scm.names, ("E", "L", "I", "S")), \
        Actionability()


def linear_case(nodes: int, n: int):
    scm = random_linear_scm(nodes, seed=nodes)
    model = train_recipe(scm, "logreg", 3000, 0)
    return scm, model, denied_rows(scm, model, scm.sample(4 * n + 200, seed=3), n), CostSpec(p=1), Actionability()


GERMAN_IMMUTABLE = ["age", "male_divorced", "female_divorced_married", "male_single", "male_married",
                    "female_single", "is_foreign_worker"]
TAIWAN_IMMUTABLE = ["age", "is_male", "martial_status_married", "martial_status_single", "martial_status_other",
                    "education_graduate", "education_bachelors", "education_hs"]


def tree_case(dataset: str, kind: str, trees: int, depth: int, n: int):
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    path = {"german": "german/german_processed.csv", "taiwan": "taiwan-credit/credit_data.csv"}[dataset]
    label = {"german": "is_credit_risk_good", "taiwan": "will_default_next_month"}[dataset]
    frame = sanitize_columns(pd.read_csv(data_dir() / path))
    y = frame.pop(label).to_numpy()
    if dataset == "taiwan":
        y = 1 - y  # favourable = will not default
    frame = frame.iloc[:6000] if len(frame) > 6000 else frame
    y = y[: len(frame)]
    scm = independent_scm(frame, dataset, immutable=GERMAN_IMMUTABLE if dataset == "german" else TAIWAN_IMMUTABLE)
    cls = RandomForestClassifier if kind == "rf" else GradientBoostingClassifier
    model = cls(n_estimators=trees, max_depth=depth, random_state=0).fit(frame, y)
    std = frame.std(ddof=1).replace(0, 1.0)
    return scm, model, denied_rows(scm, model, frame, n), CostSpec(p=1, divisors=std.to_dict()), Actionability()


def run_case(name: str, case, backends: list[str], time_limit: float, rows: list[dict]) -> list[dict]:
    """Every backend on the case's people. ReLU networks: first the default path (the box search, which uses no
    MILP backend), then each backend's MILP pipeline (box_search=False), so the backends are compared."""
    scm, model, people, cost, act = case
    out = []
    boxes = relu_layers(model) is not None
    for backend in ([BOX_ENGINE] if boxes else []) + backends:
        secs, opt, ver, recs = [], 0, 0, []
        t_all = time.perf_counter()
        opts = (SolveOptions(time_limit=time_limit) if backend == BOX_ENGINE
                else SolveOptions(time_limit=time_limit, backend=backend, box_search=False))
        for i, person in enumerate(people):
            t = time.perf_counter()
            try:
                res = solve(RecourseProblem(scm, model, person, actionability=act, cost=cost, options=opts))
                status, verified, c = res.status.value, res.verified, res.cost
            except Exception as err:  # a crashing backend is a data point, not the end of the run
                status, verified, c = f"ERROR: {type(err).__name__}: {err}"[:200], False, None
            dt = time.perf_counter() - t
            secs.append(dt)
            opt += status == "OPTIMAL"
            ver += bool(verified)
            recs.append({"case": name, "backend": backend, "i": i, "status": status, "cost": c, "seconds": dt})
        wall = time.perf_counter() - t_all
        s = summarize(secs)
        summary = {"case": name, "backend": backend, "n": len(people), "median_s": s["median"], "p95_s": s["p95"],
                   "per_second": len(people) / wall if wall > 0 else float("nan"),
                   "optimal_frac": opt / max(1, len(people)), "verified_frac": ver / max(1, len(people))}
        print(markdown_table([summary], list(summary)).splitlines()[-1], flush=True)
        rows.append(summary)
        out += recs
    if "highs" in backends:
        out += run_many(name, case, time_limit, rows)
    return out


def run_many(name: str, case, time_limit: float, rows: list[dict]) -> list[dict]:
    """The same people through solve_many (compile once / solve many: kept HiGHS relaxation, batched checks)."""
    scm, model, people, cost, act = case
    problems = [RecourseProblem(scm, model, p, actionability=act, cost=cost,
                                options=SolveOptions(time_limit=time_limit))
                for p in people]
    t = time.perf_counter()
    results, stats = solve_many(problems)
    wall = time.perf_counter() - t
    s = summarize([r.total_seconds for r in results])
    steps = {f"{k}_ms": round(1e3 * v, 3) for k, v in stats.per_person().items()}
    label = "solve_many (box search)" if relu_layers(model) is not None else "highs solve_many"
    summary = {"case": name, "backend": label, "n": len(people), "median_s": s["median"],
               "p95_s": s["p95"], "per_second": len(people) / wall if wall > 0 else float("nan"),
               "optimal_frac": sum(r.status.value == "OPTIMAL" for r in results) / max(1, len(people)),
               "verified_frac": sum(bool(r.verified) for r in results) / max(1, len(people))}
    print(markdown_table([summary], list(summary)).splitlines()[-1], flush=True)
    rows.append(summary)
    return [{"case": name, "backend": label, "steps_per_person": steps, "loads": stats.loads,
             "updates": stats.updates}] + [
        {"case": name, "backend": label, "i": i, "status": r.status.value, "cost": r.cost,
         "seconds": r.total_seconds} for i, r in enumerate(results)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("-n", type=int, default=50, help="individuals per case (default 50)")
    ap.add_argument("--time-limit", type=float, default=30.0)
    ap.add_argument("--cases", default="all", help="comma list: loan-logreg,loan-mlp,carma,linear,trees")
    ap.add_argument("--backends", default=",".join(b for b in available_backends()),
                    help="comma list (default: every installed backend)")
    args = ap.parse_args()
    backends = [b for b in args.backends.split(",") if b]
    want = set(args.cases.split(",")) if args.cases != "all" else {"loan-logreg", "loan-mlp", "carma", "linear", "trees"}
    cases = []
    if "loan-logreg" in want:
        cases.append(("loan+logreg", lambda: loan_case("logreg", args.n)))
    if "loan-mlp" in want:
        cases.append(("loan+mlp", lambda: loan_case("mlp", args.n)))
    if "carma" in want:
        cases.append(("loan+carma p=2", lambda: carma_case(args.n)))
    if "linear" in want:
        for k in (10, 20, 50):
            cases.append((f"linear-{k}+logreg", lambda k=k: linear_case(k, args.n)))
    if "trees" in want:
        for t in (10, 50, 100):
            cases.append((f"german rf{t}x5", lambda t=t: tree_case("german", "rf", t, 5, args.n)))
        cases.append(("german gb100x3", lambda: tree_case("german", "gb", 100, 3, args.n)))
        cases.append(("taiwan rf100x5", lambda: tree_case("taiwan", "rf", 100, 5, args.n)))
        cases.append(("taiwan gb100x3", lambda: tree_case("taiwan", "gb", 100, 3, args.n)))
    summaries: list[dict] = []
    records: list[dict] = []
    print(markdown_table([], ["case", "backend", "n", "median_s", "p95_s", "per_second", "optimal_frac",
                              "verified_frac"]))
    for name, build in cases:
        records += run_case(name, build(), backends, args.time_limit, summaries)
    write_jsonl(ROOT / "bench" / "results" / "suite.jsonl", [{"machine": machine()}] + summaries + records)
    (ROOT / "bench" / "results" / "suite.md").write_text(markdown_table(summaries, list(summaries[0])) + "\n")


if __name__ == "__main__":
    main()
