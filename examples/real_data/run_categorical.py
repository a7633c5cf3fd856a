"""Raw Adult / German credit with their categorical columns, end to end on the command line: the raw table (level
names) -> `milp-recourse fit-scm` (text columns become categorical roots, --ordinal for ordered ones) -> a
scikit-learn Pipeline(ColumnTransformer(OneHotEncoder / OrdinalEncoder, StandardScaler), classifier) trained on the
raw DataFrame -> `milp-recourse batch` over the denied test people (level names in, level names out) ->
`milp-recourse audit --by sex` (and race).

    python examples/real_data/run_categorical.py adult-cat --out /tmp/rc-adult [--model lightgbm] [--limit 100]

Everything is written to --out (default: a new temporary folder), never into the repository.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import joblib
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from datasets import HERE, RAW_DATASETS, data_dir, load_raw  # noqa: E402
from run_dataset import cli  # noqa: E402

MODELS = ("logreg", "forest", "hgb", "xgboost", "lightgbm")


def classifier(kind: str, seed: int = 0):
    """The final estimator of the pipeline (small, so that each person's MILP stays quick)."""
    if kind == "logreg":
        from sklearn.linear_model import LogisticRegression
        return LogisticRegression(max_iter=3000)
    if kind == "forest":
        from sklearn.ensemble import RandomForestClassifier
        return RandomForestClassifier(n_estimators=20, max_depth=5, random_state=seed)
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


def pipeline(name: str, frame: pd.DataFrame, kind: str, seed: int = 0, final=None):
    """Pipeline(ColumnTransformer, classifier) on the raw columns: OneHotEncoder on the categorical text columns,
    OrdinalEncoder (the dataset's level order) on the ordinal ones, StandardScaler on the numbers. `final`: an
    unfitted estimator instead of classifier(kind)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

    ds = RAW_DATASETS[name]
    ordinal = dict(ds.ordinal)
    text = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c]) and c not in ordinal]
    numbers = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])]
    parts = [("onehot", OneHotEncoder(handle_unknown="ignore"), text), ("num", StandardScaler(), numbers)]
    if ordinal:
        parts.insert(1, ("ord", OrdinalEncoder(categories=[list(v) for v in ordinal.values()]), list(ordinal)))
    final = final if final is not None else classifier(kind, seed)
    return Pipeline([("prep", ColumnTransformer(parts)), ("clf", final)])


def prepare(name: str, out: Path, kind: str, seed: int = 0, estimator=None, max_train: int | None = None) -> dict:
    """Write train.csv (features + label), test.csv, denied.csv (test rows the model denies, `id` first, with the
    dataset's extra columns such as `sex`) and <kind>.joblib to `out`; return paths, accuracy and counts.
    `estimator`: an unfitted model instead of pipeline(...); `max_train`: train on the first rows only (tests)."""
    ds = RAW_DATASETS[name]
    frame, dropped = load_raw(name)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(frame))
    n_test = int(round(0.3 * len(frame)))
    test, train = frame.iloc[order[:n_test]], frame.iloc[order[n_test:]]
    if max_train is not None:
        train = train.iloc[:max_train]
    features = [c for c in frame.columns if c != ds.label and c not in ds.extra]
    model = estimator if estimator is not None else pipeline(name, train[features], kind, seed)
    model.fit(train[features], train[ds.label])
    proba = model.predict_proba(test[features])[:, 1]
    denied = test[proba < 0.5].copy()
    denied.insert(0, "id", denied.index)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"train": out / "train.csv", "test": out / "test.csv", "denied": out / "denied.csv",
             "model": out / f"{kind}.joblib"}
    train[[*features, ds.label]].to_csv(paths["train"], index=False)
    test.to_csv(paths["test"], index=False)
    denied.to_csv(paths["denied"], index=False)
    joblib.dump(model, paths["model"])
    accuracy = float(np.mean((proba >= 0.5) == test[ds.label].to_numpy()))
    return {"paths": paths, "accuracy": accuracy, "n_train": len(train), "n_test": len(test),
            "n_denied": len(denied), "features": features, "dropped_missing": dropped, "model": model}


def fit_args(name: str, out: Path) -> list[str]:
    """The fit-scm command line of dataset `name` on out/train.csv."""
    ds = RAW_DATASETS[name]
    args = ["fit-scm", "--data", str(out / "train.csv"), "--label", ds.label]
    args += ["--dag", str(HERE / ds.dag)] if ds.dag else ["--independent"]
    for col, levels in ds.ordinal:
        args += ["--ordinal", f"{col}={'<'.join(levels)}"]
    for flag, cols in (("--immutable", ds.immutable), ("--increase-only", ds.increase_only),
                       ("--decrease-only", ds.decrease_only), ("--continuous", ds.continuous)):
        if cols:
            args += [flag, ",".join(cols)]
    return args + ["--name", name, "--out", str(out / "scm.yaml")]


def batch_args(out: Path, kind: str, limit: int, time_limit: float, workers: int = 1,
               results: Path | None = None) -> list[str]:
    """The batch command over out/denied.csv (raw rows, level names) with std divisors from train.csv."""
    results = results or out / f"results-{kind}.csv"
    return ["batch", "--scm", str(out / "scm.yaml"), "--classifier", str(out / f"{kind}.joblib"),
            "--data", str(out / "denied.csv"), "--id-column", "id", "--limit", str(limit),
            "--reference-data", str(out / "train.csv"), "--divisor", "std",
            "--time-limit", str(time_limit), "--workers", str(workers), "--no-progress", "--out", str(results)]


def keep_in_domain(out: Path) -> int:
    """Drop from out/denied.csv the people outside the fitted SCM's domains (a numeric test value beyond the
    training range padded by 5 %, or a level the training rows never had); return how many were dropped."""
    from milp_recourse import load_scm
    from milp_recourse.scm.levels import encode_levels

    scm = load_scm(out / "scm.yaml")
    denied = pd.read_csv(out / "denied.csv")
    keep = np.ones(len(denied), bool)
    for var in scm.variables:
        if var.levels:
            keep &= denied[var.name].astype(str).str.strip().isin(var.levels).to_numpy()
    coded = encode_levels(scm, denied.loc[keep, list(scm.names)])
    keep[keep] = np.asarray(scm.within_domain(coded.to_numpy(float)), bool)
    denied[keep].to_csv(out / "denied.csv", index=False)
    return int((~keep).sum())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("dataset", choices=sorted(RAW_DATASETS))
    p.add_argument("--out", help="working folder (default: a new temporary folder)")
    p.add_argument("--model", choices=MODELS, help="final estimator (default: the dataset's, see datasets.py)")
    p.add_argument("--limit", type=int, default=100, help="denied test individuals to solve (default 100)")
    p.add_argument("--time-limit", type=float, default=10.0, help="seconds per person (default 10)")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--no-audit", action="store_true")
    a = p.parse_args(argv)
    ds = RAW_DATASETS[a.dataset]
    kind = a.model or ds.model
    out = Path(a.out) if a.out else Path(tempfile.mkdtemp(prefix=f"rc-{a.dataset}-"))
    print(f"# {a.dataset}: raw data from {data_dir()}, working folder {out}")
    info = prepare(a.dataset, out, kind)
    print(f"# {info['dropped_missing']} rows with a missing value ('?') dropped; {len(info['features'])} features, "
          f"train {info['n_train']} / test {info['n_test']} rows; Pipeline(ColumnTransformer, {kind}) test accuracy "
          f"{info['accuracy']:.3f}; denied test individuals {info['n_denied']}")
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
