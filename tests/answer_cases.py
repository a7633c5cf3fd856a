"""The answer fixture's three cases (issue 13): the first 200 CARMA people, 500 Loan + logistic-regression
people and 20 German-credit RF people; status, cost and bound of each answer, to keep equal across refactors.

`python tests/answer_cases.py` re-records tests/fixtures/answers.json (only when an answer is meant to change).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "answers.json"
GERMAN_IMMUTABLE = ["age", "male_divorced", "female_divorced_married", "male_single", "male_married",
                    "female_single", "is_foreign_worker"]


def data_dir() -> Path:
    return Path(os.environ.get("MILP_RECOURSE_DATA", ROOT.parent / "shared" / "datasets"))


def carma_answers(n: int = 200) -> list[dict]:
    """The first n denied rows of recourse_test.csv, CARMA p = 2 cost (as bench/bench_core.py)."""
    from carma import carma_case

    from milp_recourse import RecourseProblem, SolveOptions, solve

    scm, net, test, cost = carma_case()
    names = list(scm.names)
    rows = np.flatnonzero(net.predict(test[names].to_numpy(float)) == 0)[:n]
    return [_row(int(i), solve(RecourseProblem(scm, net, test.iloc[int(i)][names].to_dict(), cost=cost,
                                               options=SolveOptions(time_limit=60.0))))
            for i in rows]


def loan_logreg_answers(n: int = 500) -> list[dict]:
    """solve_many on the first n people of a fresh Loan sample (seed 1) under recipe:logreg (some are favoured)."""
    from milp_recourse import RecourseProblem, load_scm, solve_many
    from milp_recourse.models.recipes import train_recipe

    scm = load_scm("loan")
    model = train_recipe(scm, "logreg")
    people = scm.sample(n, seed=1).to_dict("records")
    results, _ = solve_many([RecourseProblem(scm, model, p) for p in people])
    return [_row(i, r) for i, r in enumerate(results)]


def german_rf_answers(n: int = 20) -> list[dict]:
    """RF 50 x depth 5 on german_processed.csv (independent features, std divisors), first n denied rows."""
    from sklearn.ensemble import RandomForestClassifier

    from milp_recourse import CostSpec, RecourseProblem, SolveOptions, solve
    from milp_recourse.models import favourable
    from milp_recourse.scm.from_data import independent_scm, sanitize_columns

    frame = sanitize_columns(pd.read_csv(data_dir() / "german" / "german_processed.csv"))
    y = frame.pop("is_credit_risk_good").to_numpy()
    scm = independent_scm(frame, "german", immutable=GERMAN_IMMUTABLE)
    model = RandomForestClassifier(n_estimators=50, max_depth=5, random_state=0).fit(frame, y)
    std = frame.std(ddof=1).replace(0, 1.0)
    names = list(scm.names)
    rows = np.flatnonzero(~favourable(model, frame[names].to_numpy(float)))[:n]
    return [_row(int(i), solve(RecourseProblem(scm, model, frame.iloc[int(i)][names].to_dict(),
                                               cost=CostSpec(p=1, divisors=std.to_dict()),
                                               options=SolveOptions(time_limit=60.0))))
            for i in rows]


def _row(i: int, res) -> dict:
    return {"row": i, "status": res.status.value, "cost": res.cost, "bound": res.objective_bound}


CASES = {"carma": carma_answers, "loan_logreg": loan_logreg_answers, "german_rf50": german_rf_answers}


if __name__ == "__main__":
    sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
    FIXTURE.parent.mkdir(exist_ok=True)
    FIXTURE.write_text(json.dumps({k: f() for k, f in CASES.items()}, indent=1) + "\n")
    print(f"wrote {FIXTURE}")
