"""Reading and writing the batch's tables (CSV or Parquet) with clear errors before any work.

Parquet needs pyarrow (the `parquet` extra); it is imported only when a Parquet file is used.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from milp_recourse.errors import BackendUnavailableError, InputError
from milp_recourse.files import temp_beside

CSV_SUFFIXES = (".csv",)
PARQUET_SUFFIXES = (".parquet", ".pq")
TEXT_SUFFIXES = (".txt", ".data")   # comma-separated text as UCI ships it (fit-scm's --data)


def table_format(path: str | Path, what: str, text: bool = False) -> str:
    """'csv' or 'parquet' from the file name (`text`: .txt / .data read as CSV too); InputError for anything
    else."""
    suffix = Path(path).suffix.lower()
    csv = CSV_SUFFIXES + (TEXT_SUFFIXES if text else ())
    if suffix in csv:
        return "csv"
    if suffix in PARQUET_SUFFIXES:
        return "parquet"
    raise InputError(f"The {what} file {str(path)!r} has extension {suffix or '(none)'!r}; expected one of "
                     f"{', '.join(csv + PARQUET_SUFFIXES)}.")


def require_pyarrow(what: str) -> None:
    """Fail with the install hint when Parquet is asked for without pyarrow."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise BackendUnavailableError(f"Reading or writing Parquet ({what}) needs pyarrow: "
                                      "pip install 'milp_recourse[parquet]'.") from None


def read_table(path: str | Path, what: str, dtype: Any = None, text: bool = False) -> pd.DataFrame:
    """A CSV/Parquet file as a DataFrame; InputError naming the file when it is missing, empty or unreadable.
    `text`: also .txt / .data, with the blanks after each comma dropped (UCI's 'a, b, c')."""
    p = Path(path)
    fmt = table_format(p, what, text)
    if not p.is_file():
        raise InputError(f"The {what} file {str(p)!r} does not exist (expected a CSV or Parquet file).")
    if not os.access(p, os.R_OK):
        raise InputError(f"The {what} file {str(p)!r} is not readable (permission denied).")
    if fmt == "parquet":
        require_pyarrow(what)
    try:
        if fmt == "csv":
            frame = pd.read_csv(p, dtype=dtype, skipinitialspace=text)
            check_unique_header(p, what)
            return frame
        frame = pd.read_parquet(p)
        return frame.astype(dtype) if dtype is not None else frame
    except InputError:
        raise
    except pd.errors.EmptyDataError:
        raise InputError(f"The {what} file {str(p)!r} is empty; expected a header and at least one row.") from None
    except Exception as exc:  # parsers raise many types (ParserError, UnicodeDecodeError, pyarrow's own)
        raise InputError(f"Could not read the {what} file {str(p)!r} as {fmt.upper()}: "
                         f"{type(exc).__name__}: {exc}") from None


def check_unique_header(path: str | Path, what: str) -> None:
    """InputError when a CSV file's header names a column twice (pandas renames the second 'age' to 'age.1' in
    silence, and an outside fuzz got a fitted SCM with both)."""
    import csv

    with open(path, newline="", encoding="utf-8", errors="replace") as fh:
        names = [n.strip() for n in next(csv.reader(fh), [])]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InputError(f"The {what} file {str(path)!r} names the column(s) {', '.join(map(repr, twice))} more "
                         "than once; expected each column once.")


def check_writable_folder(folder: str | Path, what: str) -> None:
    """InputError unless a file can really be created in `folder` (probed with a temporary file, so a
    path under /proc, a read-only mount or a missing folder is refused before any work)."""
    f = Path(folder) if str(folder) else Path(".")
    if not f.is_dir():
        raise InputError(f"The {what} folder {str(f)!r} does not exist (or is not a folder).")
    try:
        fd, probe = tempfile.mkstemp(prefix=".milp-recourse-probe-", dir=str(f))
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise InputError(f"The {what} folder {str(f)!r} is not writable ({exc.strerror or exc}).") from None


def check_output_file(path: str | Path, what: str) -> None:
    """InputError unless `path` can be written: not a folder, its folder exists and is writable."""
    p = Path(path)
    if p.is_dir():
        raise InputError(f"The {what} {str(p)!r} is a folder; expected a file name.")
    if p.exists() and not os.access(p, os.W_OK):
        raise InputError(f"The {what} {str(p)!r} exists and is not writable.")
    check_writable_folder(p.parent, what)


def write_table_atomic(frame: pd.DataFrame, path: str | Path) -> None:
    """Write a complete table to a temporary file beside `path`, then rename it over `path`.

    The temporary file comes from files.temp_beside (O_CREAT | O_EXCL, unpredictable name), so a
    symlink planted in the output folder is never followed or overwritten.
    """
    p = Path(path)
    parquet = table_format(p, "output") == "parquet"
    if parquet:
        require_pyarrow("output")
    fd, tmp = temp_beside(p)
    try:
        with os.fdopen(fd, "wb") as fh:
            if parquet:
                frame.to_parquet(fh, index=False)
            else:
                fh.write(frame.to_csv(index=False).encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def as_table(data: Any, what: str) -> pd.DataFrame:
    """A DataFrame given directly or read from a path."""
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, (str, Path)):
        return read_table(data, what)
    raise InputError(f"The {what} must be a pandas DataFrame or a CSV/Parquet path; got {type(data).__name__}.")
