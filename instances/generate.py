"""Write the instance library instances/*.json with expected optima computed WITHOUT the MILP.

Run from anywhere: `.venv/bin/python instances/generate.py` (deterministic: fixed seeds, fixed
grids; re-running rewrites identical files). Each instance names its SCM, a classifier recipe
{"recipe", "n", "seed"} (trained when the instance is loaded), one individual (the k-th denied
person of a seeded SCM sample, written out in full), hard constraints, preferences, cost and an
`expected` block {"status", "cost", "method", "tolerance", "action", "candidates", "factual_score"}
from one of the independent methods in instances/oracles.py (factual_score, the trained model's
own score of the individual, lets the tests tell a changed recipe, e.g. after a scikit-learn
upgrade, from a solver bug: re-run this script then):

- "exhaustive grid enumeration": every usable feature has a grid (part of the problem), so the
  enumeration is the exact optimum; the solver must match it up to the tolerance.
- "scipy linprog per intervention subset": linear SCM + linear classifier + p = 1, exact.
- "closed form (KKT) per intervention subset": linear SCM + linear classifier + p = 2, exact;
  the tolerance is the solver's default relative gap (1e-4), which bounds its proven error.
- "classifier's own decision on the factual": ALREADY_FAVOURABLE.
- "grid upper bound": continuous features with a nonlinear model; the best point of a fine grid
  (a restriction of the problem) is an upper bound: the solver's cost must be <= it (+ tolerance).

Tolerances are relative: |cost - expected| <= tolerance * max(1, |expected|).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the repository root, so the script runs without installing the package
sys.path.insert(0, str(HERE))

from milp_recourse.models.classifiers import classifier_features, favourable  # noqa: E402
from milp_recourse.evaluation.instances import SCHEMA_VERSION, problem_from_dict  # noqa: E402
from milp_recourse.problem.options import divisors_from_data  # noqa: E402
from milp_recourse.models.recipes import train_recipe  # noqa: E402
from milp_recourse.scm import load_scm  # noqa: E402

import oracles  # noqa: E402

GRID = "exhaustive grid enumeration"
UPPER = "grid upper bound"


def lin(lo: float, hi: float, n: int) -> list[float]:
    """n evenly spaced values rounded to 6 decimals (the grid is written into the instance)."""
    return [round(float(v), 6) for v in np.linspace(lo, hi, n)]


# name, description, scm, classifier recipe, (sample seed, k-th denied | 'approved'), problem parts, method
SPECS: list[dict[str, Any]] = [
    dict(name="loan-logreg-grid", scm="loan", clf=("logreg", 2000, 0), person=(11, 0), method=GRID,
         description="Loan SCM, logistic regression, all four actionable features on grids, p = 1.",
         actionability={"grids": {"E": lin(-0.5, 0.5, 6), "L": lin(-8, 4, 7), "I": lin(-4, 8, 7),
                                  "S": lin(-15, 15, 7)}},
         cost={"p": 1}),
    dict(name="loan-mlp-grid-p2-ranking", scm="loan", clf=("mlp", 500, 0), person=(12, 1), method=GRID,
         description="Loan SCM, ReLU MLP, grids, p = 2 with std divisors, weights from a ranking (easiest first).",
         actionability={"grids": {"E": lin(-0.4, 0.4, 5), "L": lin(-6, 6, 7), "I": lin(-3, 9, 7),
                                  "S": lin(-10, 14, 7)}},
         preferences={"ranking": ["I", "S", "L", "E"], "mapping": "rank"},
         cost={"p": 2, "divisors": "std"}),
    dict(name="loan-forest-grid-directions-l0", scm="loan", clf=("forest", 1000, 0), person=(13, 0), method=GRID,
         description="Loan SCM, random forest, grids, income/savings increase-only, loan decrease-only, bounds, L0.",
         actionability={"directions": {"I": "up", "S": "up", "L": "down"},
                        "bounds": {"S": [None, 12.0], "E": [-0.3, 0.3]},
                        "grids": {"E": lin(-0.3, 0.3, 4), "L": lin(-8, 6, 8), "I": lin(-4, 10, 8),
                                  "S": lin(-16, 16, 9)}},
         cost={"p": 1, "l0": 0.5}),
    dict(name="loan-original-gbt-grid-maxchanges-scores", scm="loan-original", clf=("gbt", 1000, 0),
         person=(14, 0), method=GRID,
         description="Original Loan SCM (+G), gradient boosting, grids, at most 2 changes, 1-5 difficulty scores.",
         actionability={"max_changes": 2,
                        "grids": {"E": lin(-0.4, 0.4, 5), "L": lin(-9, 6, 6), "I": lin(-3, 9, 7),
                                  "S": lin(-12, 18, 6)}},
         preferences={"scores": {"E": 5, "L": 3, "I": 2, "S": 1}, "mapping": "identity"},
         cost={"p": 1}),
    dict(name="loan-original-svm-lp", scm="loan-original", clf=("svm", 2000, 0), person=(15, 0),
         method="lp",
         description="Original Loan SCM, linear SVM, actionable loan amount and savings (linear paths), continuous, "
                     "bounds, p = 1 with divisors.",
         actionability={"actionable": ["L", "S"], "bounds": {"L": [-6.0, None], "S": [None, 15.0]}},
         cost={"p": 1, "divisors": {"L": 2.7, "S": 5.6}}),
    dict(name="loan-tree-grid-subset-scale", scm="loan", clf=("tree", 2000, 0), person=(16, 0), method=GRID,
         description="Loan SCM, decision tree, only income and savings actionable, grids, cost scale 0.25.",
         actionability={"actionable": ["I", "S"], "grids": {"I": lin(-4, 10, 15), "S": lin(-20, 20, 21)}},
         cost={"p": 1, "scale": 0.25}),
    dict(name="chain-logreg-lp-weights", scm="chain", clf=("logreg", 2000, 0), person=(21, 0), method="lp",
         description="Linear chain, logistic regression, continuous, p = 1 with per-feature weights.",
         preferences={"weights": {"x1": 2.0, "x2": 1.0, "x3": 3.0}}, cost={"p": 1}),
    dict(name="chain-logreg-p2-closed-form", scm="chain", clf=("logreg", 2000, 0), person=(22, 1),
         method="p2",
         description="Linear chain, logistic regression, continuous, p = 2 with divisors, at most 2 changes.",
         actionability={"max_changes": 2}, cost={"p": 2, "divisors": {"x1": 2.0, "x2": 1.5, "x3": 1.2}}),
    dict(name="triangle-svm-lp-bounds-direction-range", scm="triangle", clf=("svm", 2000, 0), person=(23, 0),
         method="lp",
         description="Linear triangle, linear SVM, continuous, bounds, x3 increase-only, preferred range on x1.",
         actionability={"bounds": {"x1": [-3.0, 2.0], "x2": [None, 1.5]}, "directions": {"x3": "up"}},
         preferences={"weights": {"x1": 1.0, "x2": 1.0, "x3": 2.0}, "preferred_ranges": {"x1": [-1.0, 0.5]},
                      "range_penalty": 2.0},
         cost={"p": 1}),
    dict(name="collider-logreg-lp-maxchanges-l0", scm="collider", clf=("logreg", 2000, 0), person=(24, 0),
         method="lp",
         description="Linear collider, logistic regression, continuous, one change at most, L0 weight, scale 2.",
         actionability={"max_changes": 1}, cost={"p": 1, "l0": 0.1, "scale": 2.0}),
    dict(name="chain-tree-grid-preferred-range", scm="chain", clf=("tree", 2000, 0), person=(25, 0), method=GRID,
         description="Linear chain, decision tree, grids on x1..x3, preferred range on x2 with penalty 2.",
         actionability={"grids": {"x1": lin(-4, 4, 9), "x2": lin(-4, 4, 9), "x3": lin(-4, 4, 9)}},
         preferences={"preferred_ranges": {"x2": [-1.0, 1.0]}, "range_penalty": 2.0},
         cost={"p": 1}),
    dict(name="triangle-forest-grid-p2-l0", scm="triangle", clf=("forest", 1000, 0), person=(26, 0), method=GRID,
         description="Linear triangle, random forest, grids, p = 2, L0 weight 0.05.",
         actionability={"grids": {"x1": lin(-4, 4, 9), "x2": lin(-4, 4, 9), "x3": lin(-4, 4, 9)}},
         cost={"p": 2, "l0": 0.05}),
    dict(name="collider-gbt-grid-ranking-exponential", scm="collider", clf=("gbt", 1000, 0), person=(27, 0),
         method=GRID,
         description="Linear collider, gradient boosting, grids, weights from a ranking with exponential mapping.",
         actionability={"grids": {"x1": lin(-4, 4, 9), "x2": lin(-3, 3, 7), "x3": lin(-3, 3, 7)}},
         preferences={"ranking": ["x3", "x1", "x2"], "mapping": "exponential"},
         cost={"p": 1}),
    dict(name="chain-nonlinear-tree-grid-x3", scm="chain-nonlinear", clf=("tree", 2000, 0), person=(28, 0),
         method=GRID,
         description="Nonlinear chain, decision tree, only x3 actionable (its equation is then constant: exact).",
         actionability={"actionable": ["x3"], "grids": {"x3": lin(-5, 40, 46)}},
         cost={"p": 1}),
    dict(name="chain-nonlinear-logreg-upper-bound", scm="chain-nonlinear", clf=("logreg", 2000, 0), person=(29, 0),
         method=UPPER, upper_grid=41,
         description="Nonlinear chain (piecewise-linear SCM encoding), logistic regression, continuous x1..x3; "
                     "the best point of a 41-value grid per feature is an upper bound.",
         cost={"p": 1}),
    dict(name="loan-mlp-continuous-upper-bound", scm="loan", clf=("mlp", 500, 0), person=(30, 0), method=UPPER,
         upper_grid=21,
         description="Loan SCM, ReLU MLP, continuous E, L, I, S, p = 1; a 21-value grid per feature bounds it.",
         cost={"p": 1}),
    dict(name="collider-logreg-no-recourse", scm="collider", clf=("logreg", 2000, 0), person=(31, 0), method="lp",
         description="Linear collider, logistic regression, only x2 actionable and capped just above its value: "
                     "no recourse (the LP over every subset is infeasible).",
         actionability={"actionable": ["x2"], "bounds": {"x2": [None, "factual+0.5"]}}, cost={"p": 1}),
    dict(name="loan-tree-grid-no-recourse", scm="loan", clf=("tree", 2000, 0), person=(32, 0), method=GRID,
         description="Loan SCM, decision tree, only education actionable on a grid: no grid value flips the decision.",
         actionability={"actionable": ["E"], "grids": {"E": lin(-0.5, 0.5, 11)}}, cost={"p": 1}),
    dict(name="chain-gbt-already-favourable", scm="chain", clf=("gbt", 1000, 0), person=(33, "approved"),
         method="favourable",
         description="Linear chain, gradient boosting, an approved individual: empty action, cost 0.",
         cost={"p": 1}),
]


def _person(scm, model, seed: int, which) -> dict[str, float]:
    """The k-th denied (or the first approved) individual of a 500-row SCM sample with this seed."""
    X = scm.sample(500, seed=seed)
    feats = list(classifier_features(model, scm.names))
    fav = favourable(model, X[feats].to_numpy(float))
    rows = np.flatnonzero(fav if which == "approved" else ~fav)
    row = X.iloc[int(rows[0 if which == "approved" else which])]
    return {k: float(v) for k, v in row.items()}


def _resolve(spec: dict, scm, person: dict[str, float]) -> tuple[dict, dict]:
    """Actionability and cost blocks with generator shorthands ('factual+0.5', divisors 'std') made explicit."""
    act = json.loads(json.dumps(spec.get("actionability", {})))
    for name, (lo, hi) in act.get("bounds", {}).items():
        act["bounds"][name] = [person[name] + float(v.split("+")[1]) if isinstance(v, str) else v for v in (lo, hi)]
    cost = dict(spec.get("cost", {}))
    if cost.get("divisors") == "std":
        ref = scm.sample(2000, seed=7)
        cost["divisors"] = {k: round(v, 6) for k, v in divisors_from_data(ref, list(scm.names), "std").items()
                            if scm.variable(k).actionability != "immutable"}
    return act, cost


def _expected(spec: dict, problem) -> dict[str, Any]:
    method = spec["method"]
    if method == GRID:
        ref = oracles.enumerate_grid(problem)
        tol = 1e-6
    elif method == "lp":
        ref, tol = oracles.linear_program(problem), 1e-6
    elif method == "p2":
        ref, tol = oracles.closed_form_p2(problem), 1e-4
    elif method == "favourable":
        ref, tol = oracles.enumerate_grid(problem, grids={}, method="classifier's own decision on the factual"), 0.0
    elif method == UPPER:
        ref = oracles.enumerate_grid(problem, oracles.even_grids(problem, spec["upper_grid"]), method=UPPER)
        tol = 1e-6
    else:
        raise ValueError(f"Unknown method {method!r}")
    if ref.ambiguous:
        raise RuntimeError(f"{spec['name']}: {ref.ambiguous} candidate(s) sit on the decision boundary; pick "
                           "another individual or grid so the expected optimum is unambiguous.")
    factual_score = float(oracles.scores(problem, problem.x.reshape(1, -1))[0])
    return {"status": ref.status, "cost": ref.cost, "method": ref.method, "tolerance": tol,
            "action": dict(ref.action), "candidates": ref.candidates, "factual_score": factual_score}


def build(spec: dict) -> dict[str, Any]:
    """The instance dict of one spec, with its expected block."""
    scm = load_scm(spec["scm"])
    recipe, n, seed = spec["clf"]
    model = train_recipe(scm, recipe, n, seed)
    person = _person(scm, model, *spec["person"])
    act, cost = _resolve(spec, scm, person)
    inst = {"schema_version": SCHEMA_VERSION, "name": spec["name"], "description": spec["description"],
            "scm": spec["scm"], "classifier": {"recipe": recipe, "n": n, "seed": seed}, "individual": person,
            "actionability": act, "preferences": spec.get("preferences", {}), "cost": cost,
            "options": spec.get("options", {})}
    problem = problem_from_dict(inst, HERE, scm=scm, model=model)
    inst["expected"] = _expected(spec, problem)
    return inst


def main(argv: list[str] | None = None) -> int:
    only = set(argv or [])
    for spec in SPECS:
        if only and spec["name"] not in only:
            continue
        inst = build(spec)
        (HERE / f"{spec['name']}.json").write_text(json.dumps(inst, indent=2) + "\n")
        e = inst["expected"]
        print(f"{spec['name']:45s} {e['status']:18s} {e['cost']!s:22s} {e['method']} ({e['candidates']} candidates)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
