"""Re-check batch answers on raw tables (level names) outside the package: the pipeline's own predict_proba on the
raw counterfactual row, one active column per OneHotEncoder group in the pipeline's own transform of it, immutables
unchanged, and the cost recomputed from the action (|change| / std of the training column for numbers and ordinal
level positions, 1 per categorical level switch). Also the same cost for any counterfactual point (a DiCE answer),
reachable by intervening on every feature it changes (and holding their children, which costs nothing).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd

FOUND = ("OPTIMAL", "FEASIBLE")


def raw_frame(rows: Sequence[dict[str, Any]], train: pd.DataFrame, features: Sequence[str]) -> pd.DataFrame:
    """Rows of raw values as a DataFrame with the training table's column types (numbers float, text str)."""
    frame = pd.DataFrame(list(rows), columns=list(features))
    for c in features:
        if pd.api.types.is_numeric_dtype(train[c]):
            frame[c] = pd.to_numeric(frame[c]).astype(float)
        else:
            frame[c] = frame[c].astype(str)
    return frame


def onehot_groups(pipe: Any) -> list[tuple[str, slice, list[int]]]:
    """(transformer name, its output slice, group sizes) of every OneHotEncoder in the pipeline's first step."""
    from sklearn.preprocessing import OneHotEncoder

    ct = pipe.steps[0][1]
    out = []
    for name, enc, _cols in ct.transformers_:
        if isinstance(enc, OneHotEncoder):
            sizes = [len(c) - (0 if enc.drop_idx_ is None or enc.drop_idx_[i] is None else 1)
                     for i, c in enumerate(enc.categories_)]
            out.append((name, ct.output_indices_[name], sizes))
    return out


def onehot_violations(pipe: Any, frame: pd.DataFrame) -> int:
    """Rows whose OneHotEncoder output (the pipeline's own transform) does not have exactly one active column in
    every group (drop=None encoders: an unknown level gives none, two levels two)."""
    if frame.empty:
        return 0
    Z = pipe.steps[0][1].transform(frame)
    Z = Z.toarray() if hasattr(Z, "toarray") else np.asarray(Z)
    bad = np.zeros(len(frame), bool)
    for _name, sl, sizes in onehot_groups(pipe):
        block = Z[:, sl]
        start = 0
        for k in sizes:
            active = np.count_nonzero(np.abs(block[:, start:start + k]) > 1e-12, axis=1)
            bad |= active != 1
            start += k
    return int(bad.sum())


def point_cost(x: dict[str, Any], cf: dict[str, Any], std: dict[str, float], numeric: set[str],
               ordinal: dict[str, tuple[str, ...]] | None = None) -> float:
    """|cf - x| / std over the numbers and the ordinal columns' level positions (std of the positions), 1 per
    changed categorical level: the package's cost of intervening on every changed feature (a DiCE answer's)."""
    ordinal = ordinal or {}
    total = 0.0
    for k, v in cf.items():
        if k in numeric:
            total += abs(float(v) - float(x[k])) / std[k]
        elif k in ordinal:
            total += abs(ordinal[k].index(str(v)) - ordinal[k].index(str(x[k]))) / std[k]
        elif str(v) != str(x[k]):
            total += 1.0
    return total


def divisors(train: pd.DataFrame, features: Sequence[str],
             ordinal: dict[str, tuple[str, ...]] | None = None) -> dict[str, float]:
    """The std (ddof 1) of every numeric column and of every ordinal column's level positions (0 -> 1)."""
    out = {}
    for c in features:
        if pd.api.types.is_numeric_dtype(train[c]):
            col = train[c].to_numpy(float)
        elif ordinal and c in ordinal:
            col = train[c].map(list(ordinal[c]).index).to_numpy(float)
        else:
            continue
        out[c] = float(np.std(col, ddof=1)) or 1.0
    return out


@dataclass(frozen=True)
class Check:
    """The re-check of one results table."""

    people: int
    found: int
    optimal: int
    verified: int
    model_valid: int            # found answers whose raw counterfactual the pipeline itself approves
    onehot_violations: int
    immutable_violations: int
    max_cost_error: float       # |package cost - cost recomputed from the action| (relative to 1 + cost)
    min_margin: float


def check(results: pd.DataFrame, pipe: Any, train: pd.DataFrame, features: Sequence[str],
          immutable: Sequence[str], ordinal: dict[str, tuple[str, ...]] | None = None,
          threshold: float = 0.5) -> Check:
    """Re-check every found answer of a batch results table on raw values (`ordinal`: column -> levels, lowest
    first, for the cost of an ordinal change)."""
    numeric = {c for c in features if pd.api.types.is_numeric_dtype(train[c])}
    std = divisors(train, features, ordinal)
    found = results[results["status"].isin(FOUND)]
    cfs, imm, err = [], 0, 0.0
    for _, row in found.iterrows():
        x = {c: row[c] for c in features}
        cf = json.loads(row["counterfactual"])
        action = json.loads(row["action"]) if isinstance(row["action"], str) else {}
        cfs.append(cf)
        imm += int(any(c in action or _differs(x[c], cf[c], c in numeric) for c in immutable))
        cost = float(row["cost"])
        err = max(err, abs(point_cost(x, action, std, numeric, ordinal) - cost) / (1 + abs(cost)))
    frame = raw_frame(cfs, train, features)
    proba = pipe.predict_proba(frame)[:, 1] if len(frame) else np.zeros(0)
    return Check(people=len(results), found=len(found), optimal=int((found["status"] == "OPTIMAL").sum()),
                 verified=int(found["verified"].map(lambda v: str(v) == "True").sum()),
                 model_valid=int(np.sum(proba >= threshold)), onehot_violations=onehot_violations(pipe, frame),
                 immutable_violations=imm, max_cost_error=err,
                 min_margin=float(proba.min() - threshold) if len(proba) else float("nan"))


def _differs(a: Any, b: Any, number: bool) -> bool:
    return abs(float(a) - float(b)) > 1e-9 if number else str(a) != str(b)
