"""Every installed backend solves instances from instances/ to the same status and optimal cost (issue 3).

A cross-section: linear SCM + LP, p = 2 closed form (the outer approximation with its QP polish on HiGHS when
the MILP backend has no QP), grids with trees, max-changes with L0, and a proven NO_RECOURSE.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from milp_recourse import solve
from milp_recourse.backends import available_backends
from milp_recourse.evaluation.instances import problem_from_dict
from milp_recourse.models.recipes import train_recipe
from milp_recourse.scm import load_scm

FOLDER = Path(__file__).resolve().parents[1] / "instances"
CASES = ["chain-logreg-lp-weights", "chain-logreg-p2-closed-form", "chain-tree-grid-preferred-range",
         "collider-logreg-lp-maxchanges-l0", "collider-logreg-no-recourse", "loan-tree-grid-subset-scale"]
# one backend per engine: pyomo-appsi_highs is the same engine as 'pyomo'
BACKENDS = [b for b in available_backends() if b != "pyomo-appsi_highs"]


@pytest.fixture(scope="module")
def problems():
    out = {}
    for name in CASES:
        d = json.loads((FOLDER / f"{name}.json").read_text())
        c = d["classifier"]
        scm = load_scm(d["scm"])
        model = train_recipe(scm, c["recipe"], int(c.get("n", 5000)), int(c.get("seed", 0)))
        out[name] = (problem_from_dict(d, FOLDER, scm=scm, model=model), d["expected"])
    return out


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", CASES)
def test_backend_agrees_with_expected(problems, name: str, backend: str) -> None:
    problem, expected = problems[name]
    problem = dataclasses.replace(problem, options=dataclasses.replace(problem.options, backend=backend))
    res = solve(problem)
    assert res.status.value == expected["status"], (backend, res.message)
    if expected["status"] == "OPTIMAL":
        assert res.verified
        tol = max(float(expected["tolerance"]), 1e-4)
        assert res.cost == pytest.approx(expected["cost"], rel=tol, abs=1e-9), backend
