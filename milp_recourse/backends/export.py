"""Write a MIPModel as MPS or LP (and read one back) through highspy, keeping the IR's names.

Used by ``milp-recourse export`` so a compiled model can be handed to any other solver. Names are
sanitised for both formats (letters, digits, ``_`` and ``.`` only; no leading digit, period or
``e``/``E`` that an LP parser could read as a number; unique), rows are named ``<group>_<index>``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Sequence

import numpy as np
import scipy.sparse as sp

from milp_recourse.errors import BackendError, InputError
from milp_recourse.files import temp_beside
from milp_recourse.mip.ir import MIPModel
from milp_recourse.backends.highs import new_highs, to_highs_hessian, to_highs_lp

_BAD = re.compile(r"[^A-Za-z0-9_.]+")
_MAX_LEN = 255


def sanitize_names(names: Sequence[str], fallback: str) -> list[str]:
    """Names safe for MPS and LP files: [A-Za-z0-9_.] only, no numeric-looking start, unique."""
    out: list[str] = []
    seen: set[str] = set()
    for i, raw in enumerate(names):
        name = _BAD.sub("_", str(raw)).strip("_") or f"{fallback}{i}"
        if name[0].isdigit() or name[0] == "." or (name[0] in "eE" and (len(name) == 1 or name[1] in "0123456789eE")):
            name = f"{fallback}_{name}"
        name = name[:_MAX_LEN]
        base, k = name, 1
        while name in seen:
            k += 1
            name = f"{base[:_MAX_LEN - len(str(k)) - 1]}_{k}"
        seen.add(name)
        out.append(name)
    return out


def _row_names(model: MIPModel) -> list[str]:
    return sanitize_names([f"{g}_{i}" if g else f"r{i}" for i, g in enumerate(model.row_groups)], "r")


def _load(model: MIPModel):
    """A silent highspy.Highs holding the model, with sanitised column and row names."""
    import highspy

    h = new_highs()
    lp = to_highs_lp(model)
    lp.col_names_ = sanitize_names(model.col_names, "c")
    lp.row_names_ = _row_names(model)
    if h.passModel(lp) == highspy.HighsStatus.kError:
        raise BackendError("HiGHS rejected the model while preparing the export (passModel returned an error).")
    if model.q_diag is not None and np.any(model.q_diag):
        hess = to_highs_hessian(model)
        if h.passHessian(hess) == highspy.HighsStatus.kError:
            raise BackendError("HiGHS rejected the quadratic objective while preparing the export.")
    return h


def _write(model: MIPModel, path: str | os.PathLike, suffix: str) -> Path:
    """Write through a temporary file carrying the suffix HiGHS uses to pick the format."""
    import highspy

    target = Path(path)
    if not target.parent.is_dir():
        raise InputError(f"Cannot write {str(target)!r}: the directory {str(target.parent)!r} does not exist.")
    h = _load(model)
    fd, tmp = temp_beside(target, suffix)   # (HiGHS writes the file by name; it keeps the mode)
    os.close(fd)
    try:
        if h.writeModel(str(tmp)) == highspy.HighsStatus.kError:
            raise BackendError(f"HiGHS failed to write the model as {suffix[1:].upper()} to {str(target)!r}.")
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def write_mps(model: MIPModel, path: str | os.PathLike) -> Path:
    """Write the model as free-format MPS (names sanitised), for other solvers and bug reports."""
    return _write(model, path, ".mps")


def write_lp(model: MIPModel, path: str | os.PathLike) -> Path:
    """Write the model in CPLEX LP format (names sanitised), readable by humans and most solvers."""
    return _write(model, path, ".lp")


def read_model(path: str | os.PathLike) -> MIPModel:
    """Read an MPS or LP file back into a MIPModel (minimisation, separable quadratic only)."""
    import highspy

    p = Path(path)
    if not p.is_file():
        raise InputError(f"Cannot read {str(p)!r}: no such file (expected an .mps or .lp file).")
    h = new_highs()
    if h.readModel(str(p)) == highspy.HighsStatus.kError:
        raise BackendError(f"HiGHS could not read {str(p)!r} as an MPS or LP file.")
    hm = h.getModel()
    lp = hm.lp_
    n, m = int(lp.num_col_), int(lp.num_row_)
    a = lp.a_matrix_
    start, index, value = np.asarray(a.start_), np.asarray(a.index_), np.asarray(a.value_, float)
    if a.format_ == highspy.MatrixFormat.kRowwise:
        A = sp.csr_matrix((value, index, start), shape=(m, n))
    else:
        A = sp.csc_matrix((value, index, start), shape=(m, n)).tocsr()
    sign = -1.0 if lp.sense_ == highspy.ObjSense.kMaximize else 1.0
    integ = np.zeros(n, bool)
    if len(lp.integrality_):
        integ = np.array([t == highspy.HighsVarType.kInteger for t in lp.integrality_], bool)
    q = None
    hess = hm.hessian_
    if hess.dim_ > 0 and len(hess.value_):
        q = np.zeros(n)
        hs, hi, hv = np.asarray(hess.start_), np.asarray(hess.index_), np.asarray(hess.value_, float)
        for j in range(n):
            for k in range(hs[j], hs[j + 1]):
                if hi[k] != j and hv[k] != 0.0:
                    raise InputError(f"{str(p)!r} has a non-separable quadratic term ({j}, {hi[k]}); "
                                     f"expected a diagonal quadratic objective.")
                q[j] += hv[k] if hi[k] == j else 0.0
        q = sign * q
    col_names = tuple(lp.col_names_) if len(lp.col_names_) == n else tuple(f"c{j}" for j in range(n))
    row_names = tuple(lp.row_names_) if len(lp.row_names_) == m else tuple(f"r{i}" for i in range(m))
    inf = highspy.kHighsInf

    def _inf(v: np.ndarray) -> np.ndarray:
        v = np.asarray(v, float)
        return np.where(v >= inf, np.inf, np.where(v <= -inf, -np.inf, v))

    return MIPModel(col_names, _inf(lp.col_lower_), _inf(lp.col_upper_), integ, A, _inf(lp.row_lower_),
                    _inf(lp.row_upper_), row_names, sign * np.asarray(lp.col_cost_, float), q,
                    sign * float(lp.offset_))
