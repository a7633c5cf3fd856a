"""A wheel built from the repo works as a user installs it (not editable): `demo` and `solve` on every shipped model.

The wheel is built from a copy of the package, installed with `pip install --target` into a temporary folder and run
from a working directory outside the repo with that folder first on PYTHONPATH (this interpreter's site-packages
supply the dependencies). Its answers are compared with the source tree's own.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from milp_recourse.models.recipes import first_denied, load_model
from milp_recourse.problem.recourse_problem import RecourseProblem
from milp_recourse.scm import load_scm, shipped_models
from milp_recourse.solver.pipeline import solve

REPO = Path(__file__).resolve().parents[1]
MODELS = ("loan", "loan-original", "chain", "triangle", "collider", "chain-nonlinear")
PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", "-q"]

pytestmark = pytest.mark.skipif(importlib.util.find_spec("setuptools") is None or importlib.util.find_spec("pip") is
                                None, reason="building a wheel needs pip and setuptools in this interpreter")


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=180)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the wheel from a copy of the sources, check what it ships, install it into a folder; return the folder."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    shutil.copytree(REPO / "milp_recourse", src / "milp_recourse",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    build = _run([*PIP, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(tmp / "dist"),
                  str(src)], tmp)
    assert build.returncode == 0, build.stderr[-3000:]
    wheels = list((tmp / "dist").glob("milp_recourse-*.whl"))
    assert len(wheels) == 1, wheels
    names = set(zipfile.ZipFile(wheels[0]).namelist())
    for model in MODELS:
        assert f"milp_recourse/scm/specs/{model}.yaml" in names, sorted(n for n in names if "spec" in n)
    assert "milp_recourse/py.typed" in names
    site = tmp / "site"
    inst = _run([*PIP, "install", "--no-deps", "--no-index", "--target", str(site), str(wheels[0])], tmp)
    assert inst.returncode == 0, inst.stderr[-3000:]
    return site


def _env(site: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(site), "PYTHONDONTWRITEBYTECODE": "1"}


def _reference(name: str) -> tuple[dict[str, float], float, str]:
    """The first denied person of the shipped model under recipe:logreg, its optimal cost and status, from the
    source tree: OPTIMAL where the SCM is exact; smooth terms (chain-nonlinear) are approximated, so FEASIBLE."""
    scm = load_scm(name)
    model = load_model("recipe:logreg", scm)
    person = first_denied(scm, model)
    res = solve(RecourseProblem(scm, model, person))
    proven = "OPTIMAL" if res.approximation_error == 0 else "FEASIBLE"
    assert res.status.value == proven and res.verified, (name, res.status, res.message)
    return {k: float(v) for k, v in person.items()}, float(res.cost), proven


def test_the_shipped_models_are_package_data() -> None:
    assert set(MODELS) <= set(shipped_models())
    assert (REPO / "milp_recourse" / "scm" / "specs" / "loan.yaml").is_file()
    assert (REPO / "models" / "loan.yaml").is_file()  # the top-level view of the same files


# one interpreter runs `solve` for every model through the entry point of `python -m milp_recourse` (import once)
SOLVE_ALL = """
import contextlib, io, json, sys
import milp_recourse
from milp_recourse.cli.main import main

out = {"file": milp_recourse.__file__}
for name, person in json.loads(sys.argv[1]).items():
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(["solve", "--scm", name, "--classifier", "recipe:logreg", "--individual", json.dumps(person),
                     "--format", "json"])
    out[name] = {"code": code, "stdout": stdout.getvalue(), "stderr": stderr.getvalue()}
print(json.dumps(out))
"""


def test_installed_wheel_runs_demo_and_solve_on_every_shipped_model(installed: Path, tmp_path: Path) -> None:
    env = _env(installed)
    demo = subprocess.Popen([sys.executable, "-m", "milp_recourse", "demo", "--format", "json"], cwd=tmp_path,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    refs = {name: _reference(name) for name in MODELS}
    people: dict[str, object] = {name: person for name, (person, _, _) in refs.items()}
    people["nope"] = {}  # an unknown model: exit 2, the shipped ones listed
    solved = _run([sys.executable, "-c", SOLVE_ALL, json.dumps(people)], tmp_path, env=env)
    out, err = demo.communicate(timeout=180)
    assert demo.returncode == 0, err[-3000:]
    both = json.loads(out)
    for part in ("universal", "personalized"):
        assert both[part]["status"] == "OPTIMAL" and both[part]["verified"] is True, both[part]
    assert both["universal"]["cost"] == pytest.approx(refs["loan"][1], rel=1e-9, abs=1e-12)

    assert solved.returncode == 0, solved.stderr[-3000:]
    runs = json.loads(solved.stdout)
    assert Path(runs["file"]).is_relative_to(installed), runs["file"]  # the wheel's copy, not the source tree
    for name in MODELS:
        assert runs[name]["code"] == 0, (name, runs[name]["stderr"])
        res = json.loads(runs[name]["stdout"])
        assert res["status"] == refs[name][2] and res["verified"] is True, (name, res)
        assert res["cost"] == pytest.approx(refs[name][1], rel=1e-9, abs=1e-12), name
    bad = runs["nope"]
    assert bad["code"] == 2 and bad["stdout"] == "" and "Unknown SCM 'nope'" in bad["stderr"]
    assert all(m in bad["stderr"] for m in MODELS), bad["stderr"]
    assert not list(tmp_path.iterdir()), "the installed package wrote into its working directory"
