"""Ranked options per person (solve_options): seconds per option and how many options exist, per model kind.

Loan SCM, shipped recipes trained on 5000 samples (seed 0), the first N denied people of a fresh sample; up to K
options each. Prints a Markdown table and writes bench/results/options.jsonl. No timed asserts.

    .venv/bin/python bench/bench_options.py [--n 10] [--k 4] [--recipes logreg,tree,mlp] [--p 1]
"""

from __future__ import annotations

import argparse
import time

from common import ROOT, machine, markdown_table, summarize, write_jsonl

from milp_recourse import CostSpec, RecourseProblem, SolveOptions, Status, load_scm, solve_options
from milp_recourse.models.classifiers import favourable
from milp_recourse.models.recipes import train_recipe


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10, help="denied people per recipe")
    ap.add_argument("--k", type=int, default=4, help="options per person")
    ap.add_argument("--recipes", default="logreg,tree,mlp")
    ap.add_argument("--p", type=int, default=1, choices=(1, 2))
    args = ap.parse_args()
    scm = load_scm("loan")
    X = scm.sample(2000, seed=1)[list(scm.names)].to_numpy(float)
    rows, table = [], []
    for recipe in args.recipes.split(","):
        model = train_recipe(scm, recipe, 5000, 0)
        denied = X[~favourable(model, X)][: args.n]
        per_option, counts, statuses = [], [], {}
        for x in denied:
            t = time.perf_counter()
            res = solve_options(RecourseProblem(scm, model, x, cost=CostSpec(p=args.p),
                                                options=SolveOptions(time_limit=60)), args.k)
            seconds = time.perf_counter() - t
            found = [r for r in res if r.found]
            for r in res:
                statuses[r.status.value] = statuses.get(r.status.value, 0) + 1
            per_option += [r.total_seconds for r in res]
            counts.append(len(found))
            rows.append({"recipe": recipe, "p": args.p, "k": args.k, "seconds": seconds, "options": len(found),
                         "costs": [r.cost for r in found], "statuses": [r.status.value for r in res],
                         "sets": [sorted(r.action) for r in found],
                         # ranked up to the optimality gap (each option is optimal within mip_gap = 1e-4)
                         "ranked": all(a.cost <= b.cost * (1 + 1e-4) + 1e-9 for a, b in zip(found, found[1:])),
                         "stopped": next((r.status.value for r in res if r.status is not Status.OPTIMAL), "")})
        s = summarize(per_option)
        ranked = sum(r["ranked"] for r in rows if r["recipe"] == recipe)
        table.append({"recipe": recipe, "people": len(denied), "ranked (gap 1e-4)": ranked,
                      "options found (mean)": sum(counts) / len(counts),
                      "s per option (median)": s["median"], "s per option (max)": s["max"],
                      "statuses": ", ".join(f"{k} {v}" for k, v in sorted(statuses.items()))})
    print(markdown_table(table, list(table[0])))
    out = ROOT / "bench" / "results" / "options.jsonl"
    write_jsonl(out, [{"machine": machine()}] + rows)
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
