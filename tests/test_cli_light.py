"""`milp-recourse --help` stays light: building the parser imports no scikit-learn, pandas, SciPy, torch or solver
(measured without a timer: by what is imported), and every subcommand's --help still answers."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("sklearn", "pandas", "scipy", "torch", "highspy", "ortools", "pyomo", "dask", "ray", "fastapi")
SUBCOMMANDS = ("solve", "explain", "batch", "audit", "study", "export", "fit-scm", "serve", "demo")


def test_the_cli_parser_imports_nothing_heavy() -> None:
    code = ("import sys; from milp_recourse.cli.main import build_parser; build_parser(); "
            f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"imported while building the parser: {out.stdout.strip()}"


@pytest.mark.parametrize("sub", SUBCOMMANDS)
def test_every_subcommand_help_answers(sub: str) -> None:
    out = subprocess.run([sys.executable, "-m", "milp_recourse", sub, "--help"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("usage: milp-recourse " + sub)
