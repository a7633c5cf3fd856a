"""`milp-recourse export`: the written MPS/LP files reproduce the compiled model's optimum."""

from __future__ import annotations

import json

import pytest

from milp_recourse.backends import SolverParams, solve_mip
from milp_recourse.backends.export import read_model
from milp_recourse.cli.main import main
from milp_recourse.encode.compile import compile_problem
from milp_recourse.models.recipes import first_denied, train_recipe
from milp_recourse.problem.recourse_problem import RecourseProblem
from milp_recourse.scm import load_scm


@pytest.fixture(scope="module")
def person():
    scm = load_scm("chain")
    model = train_recipe(scm, "logreg", 2000, 0)
    return scm, model, first_denied(scm, model).to_dict()


def test_export_round_trip(tmp_path, person, capsys) -> None:
    scm, model, x = person
    code = main(["export", "--scm", "chain", "--classifier", "recipe:logreg", "--individual", json.dumps(x),
                 "--out", str(tmp_path / "m")])
    assert code == 0
    assert "wrote" in capsys.readouterr().out
    reference = solve_mip(compile_problem(RecourseProblem(scm, train_recipe(scm, "logreg"), x)).model,
                          SolverParams(mip_gap=1e-9))
    for suffix in (".mps", ".lp"):
        again = solve_mip(read_model(tmp_path / f"m{suffix}"), SolverParams(mip_gap=1e-9))
        assert again.termination.value == "optimal"
        assert again.objective == pytest.approx(reference.objective, rel=1e-7, abs=1e-9)


def test_export_rejects_bad_suffix(tmp_path, person, capsys) -> None:
    _, _, x = person
    code = main(["export", "--scm", "chain", "--classifier", "recipe:logreg", "--individual", json.dumps(x),
                 "--out", str(tmp_path / "m.txt")])
    err = capsys.readouterr()
    assert code == 2 and "m.txt" in err.err and err.out == ""
    assert not list(tmp_path.iterdir())
