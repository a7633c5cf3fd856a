"""Logic constraints (IF-THEN rules, linkages): status counts, violations on the true SCM, cost change and time.

A small loan SCM with binary / integer actionable features (examples/logic/loan_logic.yaml, its rule left out),
a logistic regression, a depth-8 tree and a 50-tree forest; every denied person of a fresh sample is solved
without and with `if has_loan -> 0 then loan_amount = 0` and `age += 1 * years_employed`. Violations are counted
by an independent numpy check of the returned counterfactual (not problem/logic.py). Writes bench/results/logic.jsonl.

    .venv/bin/python bench/bench_logic.py [--people 200]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import yaml
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from common import ROOT, machine, markdown_table, summarize, write_jsonl
from milp_recourse.problem.options import Actionability
from milp_recourse.problem.preferences import Preferences
from milp_recourse.problem.recourse_problem import RecourseProblem
from milp_recourse.scm.spec import scm_from_dict
from milp_recourse.solver.pipeline import solve

RULES = ("if has_loan -> 0 then loan_amount = 0", "age += 1 * years_employed")
WEIGHTS = {"has_loan": 2.0, "loan_amount": 0.5, "years_employed": 1.0}


def _spec() -> dict:
    """examples/logic/loan_logic.yaml without its spec-level rule (the bench adds the rules itself, or none)."""
    spec = yaml.safe_load((ROOT / "examples" / "logic" / "loan_logic.yaml").read_text())
    spec.pop("constraints", None)
    return spec


def _people(rng: np.random.Generator, n: int) -> pd.DataFrame:
    X = pd.DataFrame({"has_loan": rng.integers(0, 2, n), "loan_amount": rng.integers(-2, 7, n),
                      "years_employed": rng.integers(0, 11, n), "age": rng.integers(18, 60, n)})
    X["income"] = 0.5 * X.years_employed + 0.1 * X.age - 0.3 * X.loan_amount + rng.normal(0, 1, n)
    return X


def _broken(x: dict, cf: dict) -> int:
    """Independent check of the two constraints on one answer."""
    bad = int(x["has_loan"] != 0 and abs(cf["has_loan"]) < 1e-9 and abs(cf["loan_amount"]) > 1e-6)
    bad += int(abs((cf["age"] - x["age"]) - (cf["years_employed"] - x["years_employed"])) > 1e-6)
    return bad


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--people", type=int, default=200)
    args = ap.parse_args()
    scm = scm_from_dict(_spec())
    rng = np.random.default_rng(0)
    X = _people(rng, 3000)
    y = (X.income - 1.5 * X.has_loan + rng.normal(0, 0.7, len(X)) > 3).astype(int)
    models = {"logreg": LogisticRegression(max_iter=2000).fit(X, y),
              "tree-d8": DecisionTreeClassifier(max_depth=8, random_state=0).fit(X, y),
              "forest-50": RandomForestClassifier(50, max_depth=6, random_state=0).fit(X, y)}
    people = _people(np.random.default_rng(1), 4 * args.people)
    rows, table = [], []
    for mname, clf in models.items():
        denied = people[clf.predict(people) == 0].head(args.people)
        for logic in ((), RULES):
            secs, costs, statuses, broken = [], [], {}, 0
            for rec in denied.to_dict("records"):
                t = time.perf_counter()
                res = solve(RecourseProblem(scm, clf, rec, actionability=Actionability(logic=logic),
                                            preferences=Preferences(weights=WEIGHTS)))
                secs.append(time.perf_counter() - t)
                statuses[res.status.value] = statuses.get(res.status.value, 0) + 1
                if res.cost is not None:
                    costs.append(res.cost)
                    broken += _broken(rec, res.counterfactual)   # without the rules: how often they are broken
            s = summarize(secs)
            row = {"model": mname, "constraints": len(logic), "people": len(denied), **statuses,
                   "mean_cost": float(np.mean(costs)) if costs else float("nan"), "violations": broken,
                   "median_s": s["median"], "p95_s": s["p95"], "max_s": s["max"]}
            rows.append(row)
            table.append(row)
    cols = ["model", "constraints", "people", "OPTIMAL", "NO_RECOURSE", "FEASIBLE", "UNKNOWN", "VERIFICATION_FAILED",
            "mean_cost", "violations", "median_s", "p95_s", "max_s"]
    print(markdown_table(table, cols))
    write_jsonl(ROOT / "bench" / "results" / "logic.jsonl", [{"machine": machine()}] + rows)


if __name__ == "__main__":
    main()
