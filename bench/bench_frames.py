"""The DataFrame form of solve_many against the list-of-RecourseProblem form on the same people (Loan + logistic
regression): what the frame idiom costs on top of the solver (building problems from rows, the answer frame).

Prints a table and writes bench/results/frames.jsonl. Both forms run the same solver.many.solve_many; the answers
are checked equal (status, cost) before any number is reported.
"""

from __future__ import annotations

import argparse
import math
import time

from common import ROOT, machine, markdown_table, write_jsonl

import milp_recourse as mr
from milp_recourse.models.recipes import train_recipe


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("-n", type=int, default=500, help="people sampled from the SCM (about half are denied)")
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    scm = mr.load_scm("loan")
    model = train_recipe(scm, "logreg")
    people = scm.sample(args.n, seed=1)
    rows = []
    for rep in range(args.repeats):
        t = time.perf_counter()
        problems = [mr.RecourseProblem(scm, model, r) for r in people.to_dict("records")]
        results, _ = mr.solve_many(problems)
        t_list = time.perf_counter() - t
        t = time.perf_counter()
        frame = mr.solve_many(people, scm=scm, classifier=model)
        t_frame = time.perf_counter() - t
        for res, (_, row) in zip(results, frame.iterrows()):
            same_cost = (res.cost is None and math.isnan(row["cost"])) or abs(res.cost - row["cost"]) <= 1e-9 * max(
                1.0, abs(res.cost))
            if res.status.value != row["status"] or not same_cost:
                raise SystemExit(f"frame and list forms disagree: {res.status} {res.cost} vs {row['status']} "
                                 f"{row['cost']}")
        rows.append({"repeat": rep, "n": args.n, "denied": int((frame["status"] != "ALREADY_FAVOURABLE").sum()),
                     "list_seconds": t_list, "frame_seconds": t_frame,
                     "list_people_per_s": args.n / t_list, "frame_people_per_s": args.n / t_frame,
                     "overhead": t_frame / t_list - 1.0})
    print(markdown_table(rows, ["repeat", "n", "denied", "list_seconds", "frame_seconds", "list_people_per_s",
                                "frame_people_per_s", "overhead"]))
    write_jsonl(ROOT / "bench" / "results" / "frames.jsonl", [{"machine": machine()}] + rows)


if __name__ == "__main__":
    main()
