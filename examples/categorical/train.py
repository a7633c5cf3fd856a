"""Sample the jobs SCM, write the raw table (level names) and train a Pipeline on it, as a user would.

python examples/categorical/train.py --out DIR  ->  DIR/jobs.csv, DIR/pipeline.joblib
"""

from __future__ import annotations

import argparse
from pathlib import Path

import joblib
import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from milp_recourse.scm.spec import load_scm

HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="folder for jobs.csv and pipeline.joblib")
    out = Path(ap.parse_args().out)
    out.mkdir(parents=True, exist_ok=True)
    scm = load_scm(HERE / "jobs.yaml")
    codes = scm.sample(3000, seed=0)
    frame = codes.copy()
    for v in scm.variables:
        if v.levels:
            frame[v.name] = [v.levels[int(c)] for c in codes[v.name]]
    rng = np.random.default_rng(0)
    logit = 0.6 * codes.hours - 6 + 1.5 * (codes.job == 2) + 0.8 * codes.edu + rng.normal(0, 0.5, len(codes))
    frame["approved"] = (logit > 0).astype(int)
    frame.to_csv(out / "jobs.csv", index=False)
    prep = ColumnTransformer([("job", OneHotEncoder(handle_unknown="ignore"), ["job"]),
                              ("edu", OrdinalEncoder(categories=[["HS", "BSc", "MSc"]]), ["edu"]),
                              ("hours", StandardScaler(), ["hours"])])
    pipe = Pipeline([("prep", prep), ("clf", LogisticRegression(max_iter=1000))])
    pipe.fit(frame[list(scm.names)], frame["approved"])
    joblib.dump(pipe, out / "pipeline.joblib")
    print(f"wrote {out / 'jobs.csv'} ({len(frame)} rows, {int(frame.approved.sum())} approved) and "
          f"{out / 'pipeline.joblib'}")


if __name__ == "__main__":
    main()
