"""Issue 18.4: the price of plausibility as a hard constraint (--plausible box | density:Q) on the Loan SCM.

The first N denied people of a fresh Loan sample (seed 3) are solved by the exact solver without a plausibility
constraint, inside the range box of the reference data, and with the SCM log-density at least its Q-th
percentile. Reference data: 5000 Loan samples (seed 4). Actionable: L, I, S (E's equation is not additive in its
noise, so the density constraint is refused while E can change; the box works with E too: condition 'box+E').
Per (classifier, condition): statuses, how many are valid, the mean cost over the people valid in every
condition (paired), the costs' mean increase over 'none' on them, and solve seconds. Prints a table, writes
bench/results/plausible.jsonl. Timings are for this machine only; compare within one run.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

import numpy as np

from common import ROOT, machine, markdown_table, summarize, write_jsonl

from milp_recourse import Actionability, CostSpec, RecourseProblem, Status, load_scm, solve
from milp_recourse.models.recipes import train_recipe
from milp_recourse.problem.plausibility import box_plausibility, density_plausibility

VALID = (Status.OPTIMAL, Status.FEASIBLE)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=30, help="denied people per classifier (default 30)")
    ap.add_argument("--recipes", default="logreg,mlp", help="classifier recipes (default logreg,mlp)")
    ap.add_argument("--cost-p", type=int, default=2, choices=(1, 2))
    args = ap.parse_args()
    scm = load_scm("loan")
    ref = scm.sample(5000, seed=4)
    lis = Actionability(actionable=("L", "I", "S"))
    conditions = {"none": (lis, None), "box": (lis, box_plausibility(scm, ref)),
                  "box+E": (Actionability(), box_plausibility(scm, ref))}
    for q in (10, 25, 50):
        conditions[f"density:{q}"] = (lis, density_plausibility(scm, q, ref))
    ref_ld = np.sort(scm.log_density(ref[list(scm.names)].to_numpy(float)))
    rows, table = [], []
    for recipe in args.recipes.split(","):
        clf = train_recipe(scm, recipe)
        X = scm.sample(20 * args.n, seed=3)[list(scm.names)]
        people = X[clf.predict(X) == 0].reset_index(drop=True).iloc[:args.n]
        results: dict[str, list] = {}
        for cond, (act, pl) in conditions.items():
            out = []
            for i in range(len(people)):
                t = time.perf_counter()
                res = solve(RecourseProblem(scm, clf, people.iloc[i], actionability=act, cost=CostSpec(p=args.cost_p),
                                            plausibility=pl))
                secs = time.perf_counter() - t
                pct = None
                if res.status in VALID:
                    cf = np.array([res.counterfactual[n] for n in scm.names])
                    pct = 100.0 * np.searchsorted(ref_ld, scm.log_density(cf)) / len(ref_ld)
                out.append((res, secs, pct))
                rows.append({"recipe": recipe, "condition": cond, "person": i, "status": res.status.value,
                             "cost": res.cost, "seconds": secs, "ld_percentile": pct})
            results[cond] = out
        valid_all = [i for i in range(len(people))
                     if all(results[c][i][0].status in VALID for c in ("none", *conditions))
                     and all(results[c][i][0].verified for c in conditions)]
        base = np.array([results["none"][i][0].cost for i in valid_all])
        for cond, out in results.items():
            counts = Counter(r.status.value for r, _, _ in out)
            paired = np.array([out[i][0].cost for i in valid_all])
            pcts = [p for _, _, p in out if p is not None]
            table.append({"recipe": recipe, "condition": cond,
                          "valid": f"{sum(r.status in VALID and r.verified for r, _, _ in out)}/{len(out)}",
                          "statuses": ", ".join(f"{k} {v}" for k, v in sorted(counts.items())),
                          "paired n": len(valid_all), "paired mean cost": float(paired.mean()) if len(paired) else "",
                          "mean increase": float((paired - base).mean()) if len(paired) else "",
                          "min ld pct": float(min(pcts)) if pcts else "",
                          "median s": summarize([s for _, s, _ in out])["median"],
                          "p95 s": summarize([s for _, s, _ in out])["p95"]})
    print(markdown_table(table, list(table[0])))
    write_jsonl(ROOT / "bench" / "results" / "plausible.jsonl", [{"machine": machine(), "args": vars(args)}] + rows)


if __name__ == "__main__":
    main()
