"""The backend registry offers only the Pyomo solvers that are installed; the others say what is missing."""

from __future__ import annotations

import importlib.util
import shutil

import pytest

from milp_recourse.backends import backend_names, get_backend, register_missing
from milp_recourse.backends import base as backend_base
from milp_recourse.backends import pyomo_backend as pb
from milp_recourse.errors import BackendUnavailableError

HAS_PYOMO = importlib.util.find_spec("pyomo") is not None


@pytest.mark.parametrize("solver, exe", [("cbc", "cbc"), ("glpk", "glpsol")])
def test_executable_solvers_are_registered_iff_on_path(solver: str, exe: str) -> None:
    on_path = shutil.which(exe) is not None or shutil.which(exe, path=pb._pyomo_bin()) is not None
    assert pb.solver_found(solver) is on_path
    assert (f"pyomo-{solver}" in backend_names()) is on_path


def test_every_registered_pyomo_solver_is_found() -> None:
    for solver in pb.KNOWN_SOLVERS:
        assert (f"pyomo-{solver}" in backend_names()) is pb.solver_found(solver), solver
    assert "pyomo" in backend_names()  # appsi_highs: HiGHS is a core dependency


def test_solver_found_looks_at_path_and_modules(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pb.shutil, "which", lambda exe, path=None: None)
    monkeypatch.setattr(pb.importlib.util, "find_spec", lambda mod: None)
    assert not any(pb.solver_found(s) for s in pb.KNOWN_SOLVERS)
    monkeypatch.setattr(pb.shutil, "which", lambda exe, path=None: "/x/gurobi.sh" if exe == "gurobi.sh" else None)
    assert pb.solver_found("gurobi") and not pb.solver_found("cbc")
    monkeypatch.setattr(pb.importlib.util, "find_spec", lambda mod: object() if mod == "cplex" else None)
    assert pb.solver_found("cplex")


def test_missing_solver_names_the_solver_not_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pyomo installed, Gurobi not: the message says Gurobi is missing (not 'install the pyomo extra')."""
    monkeypatch.setattr(pb.shutil, "which", lambda exe, path=None: None)
    monkeypatch.setattr(pb.importlib.util, "find_spec", lambda mod: object() if mod == "pyomo" else None)
    text = pb.missing_solver("gurobi")
    assert "Gurobi solver is not installed" in text and "gurobi.sh" in text and "gurobipy" in text
    assert "Pyomo is installed" in text and "pip install" not in text
    monkeypatch.setattr(pb.importlib.util, "find_spec", lambda mod: None)
    assert "milp_recourse[pyomo]" in pb.missing_solver("cplex")  # neither Pyomo nor CPLEX


def test_get_backend_on_a_missing_solver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backend_base, "_MISSING", dict(backend_base._MISSING))
    register_missing("pyomo-fake", lambda: "the Fake solver is not installed (no fake on PATH); Pyomo is installed.")
    with pytest.raises(BackendUnavailableError, match=r"'pyomo-fake' cannot run: the Fake solver is not installed"):
        get_backend("pyomo-fake")
    assert "pyomo-fake" not in backend_names()


@pytest.mark.skipif(not HAS_PYOMO or pb.solver_found("gurobi"), reason="needs Pyomo installed and Gurobi missing")
def test_cli_backend_pyomo_gurobi_says_gurobi_is_missing(capsys: pytest.CaptureFixture[str]) -> None:
    from milp_recourse.cli.main import main

    code = main(["solve", "--scm", "chain", "--classifier", "recipe:logreg", "--backend", "pyomo-gurobi",
                 "--individual", '{"xs": 0, "x1": -2, "x2": -1, "x3": 0}'])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.startswith("error: ") and "Gurobi solver is not installed" in err and "pyomo]" not in err
