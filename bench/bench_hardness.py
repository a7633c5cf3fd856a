"""Issue 16, why big linear SCMs resist proof: recourse on the bipartite-hold SCM (an NP-hard core) by size.

scm/random_linear.bipartite_hold_scm(C) builds s -> a_1..a_k -> b_1..b_k with b = C^T a; the score is sum_k b_k,
moving anything but s costs 1000 per unit and holding costs nothing, so the optimal cost is the score missing
divided by max over binary x, y of |x^T C y| (bipartite boolean quadratic programming, NP-hard). Per size k and
seed, C has integer entries in [-5, 5]; the package's answer, its time and status are printed, and for k up to
--check-up-to the optimum is also computed by enumerating x (the best y is closed form) to confirm every proven
answer. Writes bench/results/hardness.jsonl.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from pathlib import Path

import numpy as np

from common import ROOT, machine, markdown_table, write_jsonl
from milp_recourse import CostSpec, RecourseProblem, SolveOptions, solve
from milp_recourse.problem.preferences import Preferences
from milp_recourse.scm.random_linear import bipartite_hold_scm

MISSING = 3.0   # the score still needed (the classifier's intercept is -MISSING)


def classifier(p: int, q: int):
    """A fitted LogisticRegression whose score is sum_k b_k - MISSING (coefficients set after fitting)."""
    from sklearn.linear_model import LogisticRegression

    X = np.random.default_rng(0).normal(size=(40, 1 + p + q))
    clf = LogisticRegression().fit(X, (X[:, 0] > 0).astype(int))
    clf.coef_ = np.array([[0.0] * (1 + p) + [1.0] * q])
    clf.intercept_ = np.array([-MISSING])
    return clf


def best_form(C: np.ndarray) -> float:
    """max over binary x, y of |x^T C y|, by enumerating x (2^p rows)."""
    best = 0.0
    for x in itertools.product((0.0, 1.0), repeat=C.shape[0]):
        v = np.asarray(x) @ C
        best = max(best, float(np.maximum(v, 0).sum()), float(np.maximum(-v, 0).sum()))
    return best


def run(k: int, seed: int, limit: float, check: bool) -> dict:
    C = np.random.default_rng(seed).integers(-5, 6, size=(k, k)).astype(float)
    scm = bipartite_hold_scm(C)
    names = list(scm.names)
    weights = {n: (1.0 if n == "s" else 1000.0) for n in names}
    problem = RecourseProblem(scm, classifier(k, k), dict.fromkeys(names, 0.0), cost=CostSpec(p=1),
                              preferences=Preferences(weights=weights), options=SolveOptions(time_limit=limit))
    t = time.perf_counter()
    res = solve(problem)
    seconds = time.perf_counter() - t
    ref = (MISSING + problem.options.margin) / best_form(C) if check else None
    match = None if ref is None or res.cost is None else bool(abs(res.cost - ref) <= 1e-7 * ref)
    return {"k": k, "nodes": 1 + 2 * k, "seed": seed, "status": res.status.value, "seconds": round(seconds, 3),
            "cost": res.cost, "bound": res.objective_bound, "reference": ref, "match": match,
            "engines": "+".join(s.engine for s in res.path)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="8,12,16,20,24,30", help="layer sizes k (nodes 1 + 2k), comma list")
    ap.add_argument("--seeds", type=int, default=3, help="random matrices per size (default 3)")
    ap.add_argument("--time-limit", type=float, default=30.0)
    ap.add_argument("--check-up-to", type=int, default=18, help="enumerate the optimum for k up to this (2^k)")
    args = ap.parse_args()
    rows = []
    for k in (int(s) for s in args.sizes.split(",")):
        for seed in range(args.seeds):
            rows.append(run(k, seed, args.time_limit, k <= args.check_up_to))
            print(markdown_table(rows[-1:], list(rows[-1])).splitlines()[-1], flush=True)
    print(markdown_table(rows, list(rows[0])))
    for k in sorted({r["k"] for r in rows}):
        at = [r for r in rows if r["k"] == k]
        proven = sum(r["status"] == "OPTIMAL" for r in at)
        wrong = sum(r["match"] is False for r in at if r["status"] == "OPTIMAL")
        median = statistics.median(r["seconds"] for r in at)
        print(f"k = {k} ({1 + 2 * k} nodes): {proven} / {len(at)} proven within {args.time_limit:g} s, median "
              f"{median:.2f} s; proven answers off the enumerated optimum: {wrong}")
    write_jsonl(Path(ROOT) / "bench" / "results" / "hardness.jsonl", [{"machine": machine(), **vars(args)}] + rows)


if __name__ == "__main__":
    main()
