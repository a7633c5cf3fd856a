"""End to end on a real dataset: prepare a numeric table, fit the SCM (fit-scm), train and save a model, then run
`milp-recourse batch` over the denied test individuals and `milp-recourse audit` by sex (and race).

    python examples/real_data/run_dataset.py german --out /tmp/rd-german [--model xgboost] [--limit 100]

Everything is written to --out (default: a new temporary folder), never into the repository.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import joblib
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from datasets import DATASETS, HERE, data_dir, load  # noqa: E402

MODELS = ("logreg", "forest", "hgb", "xgboost", "lightgbm")


def make_model(kind: str, seed: int = 0):
    """A small classifier of the given kind (small so that each person's MILP stays quick)."""
    if kind == "logreg":
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    if kind == "forest":
        from sklearn.ensemble import RandomForestClassifier
        return RandomForestClassifier(n_estimators=20, max_depth=4, random_state=seed)
    if kind == "hgb":
        from sklearn.ensemble import HistGradientBoostingClassifier
        return HistGradientBoostingClassifier(max_iter=30, max_depth=3, random_state=seed)
    if kind == "xgboost":
        from xgboost import XGBClassifier
        return XGBClassifier(n_estimators=50, max_depth=3, learning_rate=0.3, random_state=seed, n_jobs=1)
    if kind == "lightgbm":
        from lightgbm import LGBMClassifier
        return LGBMClassifier(n_estimators=50, num_leaves=8, learning_rate=0.2, random_state=seed, n_jobs=1,
                              verbose=-1)
    raise SystemExit(f"unknown model kind {kind!r}; expected one of {', '.join(MODELS)}")


def prepare(name: str, out: Path, model_kind: str, seed: int = 0, max_train: int | None = None,
            estimator=None) -> dict:
    """Write train.csv, test.csv, denied.csv (test rows the model denies, with an `id` column) and model.joblib
    to `out` (`estimator`: an unfitted model to use instead of make_model(model_kind)); return paths and the
    model's test accuracy."""
    ds = DATASETS[name]
    frame = load(name)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(frame))
    n_test = int(round(0.3 * len(frame)))
    test, train = frame.iloc[order[:n_test]], frame.iloc[order[n_test:]]
    if max_train is not None:
        train = train.iloc[:max_train]
    out.mkdir(parents=True, exist_ok=True)
    features = [c for c in frame.columns if c != ds.label]
    model = (make_model(model_kind, seed) if estimator is None else estimator).fit(train[features], train[ds.label])
    proba = model.predict_proba(test[features])[:, 1]
    denied = test[proba < 0.5].copy()
    denied.insert(0, "id", denied.index)
    paths = {"train": out / "train.csv", "test": out / "test.csv", "denied": out / "denied.csv",
             "model": out / f"{model_kind}.joblib"}
    train.to_csv(paths["train"], index=False)
    test.to_csv(paths["test"], index=False)
    denied.to_csv(paths["denied"], index=False)
    joblib.dump(model, paths["model"])
    accuracy = float(np.mean((proba >= 0.5) == test[ds.label].to_numpy()))
    return {"paths": paths, "accuracy": accuracy, "n_train": len(train), "n_test": len(test),
            "n_denied": len(denied), "features": features}


def keep_in_domain(out: Path) -> int:
    """Drop from out/denied.csv the people outside the fitted SCM's domains (a test value beyond the training
    range padded by 5 %: batch refuses the whole run on such a row); return how many were dropped."""
    from milp_recourse import load_scm

    scm = load_scm(out / "scm.yaml")
    denied = pd.read_csv(out / "denied.csv")
    mask = scm.within_domain(denied[list(scm.names)])
    denied[mask].to_csv(out / "denied.csv", index=False)
    return int((~mask).sum())


def cli(args: list[str], show: bool = True) -> subprocess.CompletedProcess:
    """Run `milp-recourse ARGS` with this interpreter, echoing the command; stop on failure."""
    if show:
        print("$ milp-recourse " + " ".join(shlex.quote(a) for a in args), flush=True)
    done = subprocess.run([sys.executable, "-m", "milp_recourse", *args], text=True, capture_output=True)
    if show and done.stdout:
        print(done.stdout.rstrip(), flush=True)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"milp-recourse {args[0]} failed with exit code {done.returncode}")
    return done


def fit_args(name: str, out: Path) -> list[str]:
    """The fit-scm command line of dataset `name` on out/train.csv."""
    ds = DATASETS[name]
    args = ["fit-scm", "--data", str(out / "train.csv"), "--label", ds.label]
    args += ["--dag", str(HERE / ds.dag)] if ds.dag else ["--independent"]
    for flag, cols in (("--immutable", ds.immutable), ("--increase-only", ds.increase_only),
                       ("--decrease-only", ds.decrease_only), ("--continuous", ds.continuous),
                       ("--sensitive", ds.audit_by)):
        if cols:
            args += [flag, ",".join(cols)]
    return args + ["--name", name, "--out", str(out / "scm.yaml")]


def batch_args(out: Path, model_kind: str, limit: int, time_limit: float, workers: int,
               results: Path | None = None) -> list[str]:
    """The batch command line over out/denied.csv with reference-data divisors (std of the training data)."""
    results = results or out / f"results-{model_kind}.csv"
    return ["batch", "--scm", str(out / "scm.yaml"), "--classifier", str(out / f"{model_kind}.joblib"),
            "--data", str(out / "denied.csv"), "--id-column", "id", "--limit", str(limit),
            "--reference-data", str(out / "train.csv"), "--divisor", "std",
            "--time-limit", str(time_limit), "--workers", str(workers), "--no-progress", "--out", str(results)]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("dataset", choices=sorted(DATASETS))
    p.add_argument("--out", help="working folder (default: a new temporary folder)")
    p.add_argument("--model", choices=MODELS, help="model kind (default: the dataset's, see datasets.py)")
    p.add_argument("--limit", type=int, default=100, help="denied test individuals to solve (default 100)")
    p.add_argument("--time-limit", type=float, default=10.0, help="seconds per person (default 10)")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--no-audit", action="store_true")
    a = p.parse_args(argv)
    ds = DATASETS[a.dataset]
    kind = a.model or ds.model
    out = Path(a.out) if a.out else Path(tempfile.mkdtemp(prefix=f"rd-{a.dataset}-"))
    print(f"# {a.dataset}: data from {data_dir()}, working folder {out}")
    info = prepare(a.dataset, out, kind)
    print(f"# {len(info['features'])} features, train {info['n_train']} / test {info['n_test']} rows; "
          f"{kind} test accuracy {info['accuracy']:.3f}; denied test individuals {info['n_denied']}")
    cli(fit_args(a.dataset, out))
    dropped = keep_in_domain(out)
    print(f"# {dropped} denied test individual(s) outside the SCM's domains (fitted on train.csv) left out")
    t0 = time.perf_counter()
    results = out / f"results-{kind}.csv"
    cli(batch_args(out, kind, a.limit, a.time_limit, a.workers, results))
    print(f"# batch wall time {time.perf_counter() - t0:.1f} s")
    frame = pd.read_csv(results)
    print("# status counts: " + ", ".join(f"{k} {v}" for k, v in frame["status"].value_counts().items()))
    if not a.no_audit:
        for col in ds.audit_by:
            cli(["audit", str(results), "--by", col, "--scm", str(out / "scm.yaml"), "--reference-data",
                 str(out / "train.csv"), "--n-boot", "200", "--no-plots", "--overwrite",
                 "--out", str(out / f"audit-{kind}-{col}")])
    return 0


if __name__ == "__main__":
    sys.exit(main())
