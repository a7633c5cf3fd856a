"""Re-check batch answers outside the package: the model's own predict_proba on each counterfactual, immutables
unchanged, and the counterfactual rebuilt from the data by an independent least-squares fit of the DAG's
linear equations (additive noise: child_cf = child + sum_p b_p * (parent_cf - parent) unless intervened on).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

FOUND = ("OPTIMAL", "FEASIBLE")


def read_dag(path: Path) -> dict[str, list[str]]:
    """child -> parents from a `parent -> child` file (`#` comments), in file order."""
    parents: dict[str, list[str]] = {}
    for raw in Path(path).read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            p, c = (s.strip() for s in line.split("->"))
            parents.setdefault(c, []).append(p)
    return parents


def linear_coefficients(train: pd.DataFrame, parents: dict[str, list[str]]) -> dict[str, dict[str, float]]:
    """child -> {parent: slope} by numpy least squares with an intercept (the reference for fit-scm)."""
    out = {}
    for child, ps in parents.items():
        A = np.column_stack([np.ones(len(train))] + [train[p].to_numpy(float) for p in ps])
        coef, *_ = np.linalg.lstsq(A, train[child].to_numpy(float), rcond=None)
        out[child] = dict(zip(ps, coef[1:]))
    return out


def rebuild_counterfactual(x: dict[str, float], action: dict[str, float], order: list[str],
                           coefs: dict[str, dict[str, float]]) -> dict[str, float]:
    """Abduction-action-prediction for a linear additive-noise SCM (`order` topological)."""
    cf = dict(x)
    for v in order:
        if v in action:
            cf[v] = float(action[v])
        elif v in coefs:
            cf[v] = float(x[v]) + sum(b * (cf[p] - float(x[p])) for p, b in coefs[v].items())
    return cf


def topological(columns: list[str], parents: dict[str, list[str]]) -> list[str]:
    """Columns ordered so that parents come first (Kahn's algorithm; the DAG is acyclic)."""
    done: list[str] = []
    left = list(columns)
    while left:
        ready = [c for c in left if all(p in done for p in parents.get(c, []))]
        if not ready:
            raise ValueError(f"cycle among {left}")
        done += ready
        left = [c for c in left if c not in ready]
    return done


@dataclass(frozen=True)
class Check:
    """Outcome of re-checking the found answers of one results file."""

    n: int                      # rows (denied people)
    found: int                  # OPTIMAL or FEASIBLE
    optimal: int
    model_valid: int            # found answers whose counterfactual the model itself approves
    immutable_violations: int   # found answers that change an immutable column
    max_cf_error: float         # max |package counterfactual - rebuilt counterfactual| (relative to 1 + |value|)
    min_margin: float           # min over found answers of P(favourable) - 0.5 on the counterfactual
    free_holds: int = 0         # found answers with a do(x := its factual value): cost 0, blocks causal effects


def check_results(results: pd.DataFrame, model, features: list[str], immutable: tuple[str, ...],
                  train: pd.DataFrame, dag: Path | None, threshold: float = 0.5) -> Check:
    """Re-check every found answer of `results` (a batch results table) against the model and the data."""
    parents = read_dag(dag) if dag else {}
    coefs = linear_coefficients(train, parents)
    order = topological(features, parents)
    found = results[results["status"].isin(FOUND)]
    cf_rows, err, violations, holds = [], 0.0, 0, 0
    for _, row in found.iterrows():
        x = {f: float(row[f]) for f in features}
        action = json.loads(row["action"]) if isinstance(row["action"], str) else {}
        cf_pkg = json.loads(row["counterfactual"])
        cf = rebuild_counterfactual(x, action, order, coefs)
        err = max(err, max(abs(cf[f] - float(cf_pkg[f])) / (1.0 + abs(cf[f])) for f in features))
        violations += int(any(abs(cf_pkg[f] - x[f]) > 1e-9 or f in action for f in immutable))
        holds += int(any(abs(float(v) - x[k]) <= 1e-9 for k, v in action.items()))
        cf_rows.append([cf[f] for f in features])
    if cf_rows:
        proba = model.predict_proba(pd.DataFrame(cf_rows, columns=features))[:, 1]
        valid, margin = int(np.sum(proba >= threshold)), float(np.min(proba) - threshold)
    else:
        valid, margin = 0, float("nan")
    return Check(n=len(results), found=len(found), optimal=int((results["status"] == "OPTIMAL").sum()),
                 model_valid=valid, immutable_violations=violations, max_cf_error=err, min_margin=margin,
                 free_holds=holds)
