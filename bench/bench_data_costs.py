"""Data-space costs: seconds per person and status for each cost (power / percentile x sum / max), per model kind.

Loan SCM, shipped recipes trained on 5000 samples (seed 0), the first N denied people of a fresh sample (seed 1);
the percentile CDFs from 2000 SCM samples (seed 4, thinned to 50 knots). Every answer is re-checked by
verification. Prints a Markdown table and writes bench/results/data_costs.jsonl. No timed asserts.

    .venv/bin/python bench/bench_data_costs.py [--n 20] [--recipes logreg,tree,mlp]
"""

from __future__ import annotations

import argparse
import time

from common import ROOT, machine, markdown_table, summarize, write_jsonl

from milp_recourse import CostSpec, RecourseProblem, SolveOptions, load_scm, percentile_cdfs, solve
from milp_recourse.models.classifiers import favourable
from milp_recourse.models.recipes import train_recipe

COSTS = (("power", "sum"), ("power", "max"), ("percentile", "sum"), ("percentile", "max"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20, help="denied people per recipe")
    ap.add_argument("--recipes", default="logreg,tree,mlp")
    ap.add_argument("--time-limit", type=float, default=60.0)
    args = ap.parse_args()
    scm = load_scm("loan")
    X = scm.sample(2000, seed=1)[list(scm.names)].to_numpy(float)
    movable = [v.name for v in scm.variables if v.actionability != "immutable"]
    cdfs = percentile_cdfs(scm.sample(2000, seed=4), movable)
    rows, table = [], []
    for recipe in args.recipes.split(","):
        model = train_recipe(scm, recipe, 5000, 0)
        denied = X[~favourable(model, X)][: args.n]
        for kind, aggregate in COSTS:
            cost = CostSpec(kind=kind, aggregate=aggregate, cdfs=cdfs if kind == "percentile" else {})
            seconds, statuses, verified = [], {}, 0
            for x in denied:
                t = time.perf_counter()
                res = solve(RecourseProblem(scm, model, x, cost=cost, options=SolveOptions(time_limit=args.time_limit)))
                seconds.append(time.perf_counter() - t)
                statuses[res.status.value] = statuses.get(res.status.value, 0) + 1
                verified += bool(res.verified)
                rows.append({"recipe": recipe, "kind": kind, "aggregate": aggregate, "seconds": seconds[-1],
                             "status": res.status.value, "cost": res.cost, "verified": res.verified,
                             "changed": sorted(res.action)})
            s = summarize(seconds)
            table.append({"recipe": recipe, "cost": f"{kind}/{aggregate}", "people": len(denied),
                          "verified": verified, "s median": s["median"], "s max": s["max"],
                          "statuses": ", ".join(f"{k} {v}" for k, v in sorted(statuses.items()))})
    print(markdown_table(table, list(table[0])))
    out = ROOT / "bench" / "results" / "data_costs.jsonl"
    write_jsonl(out, [{"machine": machine()}] + rows)
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
