"""MPS / LP export: files read back by HiGHS give the same model and the same optimum."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("highspy")

from milp_recourse.backends import SolverParams, Termination, solve_mip  # noqa: E402
from milp_recourse.backends.export import read_model, sanitize_names, write_lp, write_mps  # noqa: E402
from milp_recourse.errors import InputError  # noqa: E402
from milp_recourse.mip.ir import INF, Affine, IRBuilder, MIPModel  # noqa: E402

WRITERS = pytest.mark.parametrize("writer,suffix", [(write_mps, ".mps"), (write_lp, ".lp")], ids=["mps", "lp"])


def small_model() -> MIPModel:
    """Integers, a free column, equality / ranged / one-sided rows, an offset and awkward names."""
    b = IRBuilder()
    x = b.add_var("x[income]", 0, 10, integer=True)
    y = b.add_var("e1 'savings' (k$)", -5, 10)
    z = b.add_var("x[income]", -INF, INF)  # duplicate name on purpose
    b.add_le(Affine({x: 2, y: 3}), 12.5, group="scm:S")
    b.add_eq(Affine({z: 1, y: -1}), 0.5, group="clf:linear")
    b.add_row(Affine({x: 1, z: 1}), -3, 100, group="clf:linear")
    b.add_objective(Affine({x: -3, y: -2, z: 0.5}, 1.0))
    return b.build()


def qp_model() -> MIPModel:
    """min (x-2)^2 + (y-3)^2 - 13 over x + y <= 3: optimum -11 at (1, 2)."""
    b = IRBuilder()
    x, y = b.add_var("x", 0, 10), b.add_var("y", 0, 10)
    b.add_le(Affine({x: 1, y: 1}), 3)
    b.add_objective(Affine({x: -4, y: -6}))
    b.add_quadratic(x, 1.0)
    b.add_quadratic(y, 1.0)
    return b.build()


@WRITERS
def test_round_trip_same_optimum(tmp_path: Path, writer, suffix: str) -> None:
    model = small_model()
    ref = solve_mip(model, SolverParams(time_limit=10))
    assert ref.termination is Termination.OPTIMAL
    path = writer(model, tmp_path / f"model{suffix}")
    back = read_model(path)
    assert back.n_cols == model.n_cols
    np.testing.assert_array_equal(back.integrality, model.integrality)
    np.testing.assert_allclose(back.c, model.c)
    assert back.offset == pytest.approx(model.offset)
    sol = solve_mip(back, SolverParams(time_limit=10))
    assert sol.termination is Termination.OPTIMAL
    assert sol.objective == pytest.approx(ref.objective, abs=1e-9)
    np.testing.assert_allclose(sol.x, ref.x, atol=1e-9)  # same column order
    assert model.max_violation(sol.x) <= 1e-9


@WRITERS
def test_names_are_sanitised_unique_and_kept(tmp_path: Path, writer, suffix: str) -> None:
    back = read_model(writer(small_model(), tmp_path / f"m{suffix}"))
    assert back.col_names == ("x_income", "c_e1_savings_k", "x_income_2")
    assert all(" " not in n and "[" not in n and "'" not in n for n in back.col_names + back.row_groups)
    assert back.row_groups[0] == "scm_S_0"


@WRITERS
def test_quadratic_objective_round_trip(tmp_path: Path, writer, suffix: str) -> None:
    back = read_model(writer(qp_model(), tmp_path / f"qp{suffix}"))
    np.testing.assert_allclose(back.q_diag, [2.0, 2.0])
    sol = solve_mip(back, SolverParams(time_limit=10))
    assert sol.termination is Termination.OPTIMAL
    assert sol.objective == pytest.approx(-11.0, abs=1e-6)


def test_any_file_name_keeps_the_requested_format(tmp_path: Path) -> None:
    """The format follows the function, not the suffix the caller picked."""
    mps = write_mps(small_model(), tmp_path / "model.txt")
    lp = write_lp(small_model(), tmp_path / "other.txt")
    assert mps.read_text().lstrip().startswith("NAME") and "ROWS" in mps.read_text()
    assert "st" in lp.read_text().split() and "end" in lp.read_text().split()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.txt", "other.txt"]  # no temp files left


def test_missing_directory_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        write_mps(small_model(), tmp_path / "nope" / "model.mps")
    with pytest.raises(InputError, match="no such file"):
        read_model(tmp_path / "absent.mps")


def test_sanitize_names_rules() -> None:
    names = sanitize_names(["a b", "a_b", "3x", "e2", "E", "", "ok.name", "x" * 300], "c")
    assert names[:3] == ["a_b", "a_b_2", "c_3x"]
    assert names[3] == "c_e2" and names[4] == "c_E" and names[5] == "c5" and names[6] == "ok.name"
    assert len(names[7]) == 255 and len(set(names)) == len(names)
