"""Parsing of the CLI's compact option syntax (E=-0.4:0.4,L=3 ...) into problem inputs."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from milp_recourse.errors import InputError
from milp_recourse.problem.options import check_grid_size


def _number(text: str, what: str, bound: bool = False) -> float:
    """A finite number; `bound`: an end of a range, which may be left empty instead (said so when refused)."""
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{what}: {text!r} is not a number.") from None
    if not math.isfinite(value):
        hint = "; leave a bound empty for none" if bound else ""
        raise InputError(f"{what}: {text!r} is not a finite number (expected a finite number{hint}).")
    return value


def name_list(text: str | None) -> tuple[str, ...] | None:
    """'E,L,I' -> ('E', 'L', 'I')."""
    if text is None:
        return None
    items = tuple(t.strip() for t in text.split(",") if t.strip())
    return items


def option_count(text: str, top: int) -> int:
    """--options K: a whole number in [1, top] (each option is one more full solve)."""
    try:
        value = int(str(text).strip())
    except ValueError:
        raise InputError(f"--options must be a whole number in [1, {top}]. Got {text!r}.") from None
    if not 1 <= value <= top:
        raise InputError(f"--options must be a whole number in [1, {top}]. Got {text!r}.")
    return value


def pairs(text: str | None, option: str) -> dict[str, str]:
    """'E=3,L=2' -> {'E': '3', 'L': '2'} with a clear error for malformed items."""
    out: dict[str, str] = {}
    if not text:
        return out
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        if "=" not in item:
            raise InputError(f"{option}: expected NAME=VALUE items separated by commas; got {item!r}.")
        k, v = item.split("=", 1)
        if k.strip() in out:
            raise InputError(f"{option}: feature {k.strip()!r} is given twice.")
        out[k.strip()] = v.strip()
    return out


def numbers(text: str | None, option: str) -> dict[str, float]:
    return {k: _number(v, f"{option} {k}") for k, v in pairs(text, option).items()}


def bounds(text: str | None, option: str = "--bounds") -> dict[str, tuple[float | None, float | None]]:
    """'E=-0.4:0.4,L=:5' -> {'E': (-0.4, 0.4), 'L': (None, 5.0)}."""
    out = {}
    for k, v in pairs(text, option).items():
        if ":" not in v:
            raise InputError(f"{option} {k}: expected LOW:HIGH (either side may be empty); got {v!r}.")
        lo, hi = v.split(":", 1)
        out[k] = (None if lo == "" else _number(lo, f"{option} {k} low", bound=True),
                  None if hi == "" else _number(hi, f"{option} {k} high", bound=True))
    return out


def ranges(text: str | None, option: str) -> dict[str, tuple[float, float]]:
    out = {}
    for k, (lo, hi) in bounds(text, option).items() if text else []:
        if lo is None or hi is None:
            raise InputError(f"{option} {k}: both ends are needed.")
        out[k] = (lo, hi)
    return out


def grids(text: str | None, scm: Any = None) -> dict[str, tuple[float, ...]]:
    """'E=-0.3:0.3:15' -> 15 evenly spaced values; 'E=0|0.5|1' -> those values ('E=0.5': that one); for a
    categorical / ordinal feature of `scm` also level names: 'occupation=Sales|Tech' (the levels this person could
    move to)."""
    from milp_recourse.scm.levels import grid_value   # (the parser builds without the SCM layer)

    out = {}
    for k, v in pairs(text, "--grid").items():
        var = scm.variable(k) if scm is not None and k in scm.names else None
        if var is not None and var.levels:
            out[k] = tuple(grid_value(var.levels, t, f"--grid {k}", repr(k), _number) for t in v.split("|"))
            continue
        if "|" in v or ":" not in v:   # V1|V2|... or one value V
            out[k] = tuple(_number(t, f"--grid {k}") for t in v.split("|"))
            continue
        parts = v.split(":")
        if len(parts) != 3:
            raise InputError(f"--grid {k}: expected LOW:HIGH:COUNT, V1|V2|... or one value V; got {v!r}.")
        lo, hi = _number(parts[0], f"--grid {k} low"), _number(parts[1], f"--grid {k} high")
        try:
            n = int(parts[2])
        except ValueError:
            raise InputError(f"--grid {k}: COUNT must be an integer >= 1; got {parts[2]!r}.") from None
        if n < 1 or lo > hi:
            raise InputError(f"--grid {k}: need COUNT >= 1 and LOW <= HIGH; got {v!r}.")
        check_grid_size(f"--grid {k}", n)
        out[k] = tuple(float(t) for t in np.linspace(lo, hi, n))
    return out


def load_individual(spec: str, row: int | None) -> Any:
    """An individual from inline JSON, a JSON file, or row N of a CSV/Parquet file."""
    text = spec.strip()
    if text.startswith("{") and row is not None:
        raise InputError(f"--row {row} applies to a table of people (a CSV / Parquet file, or a JSON list); "
                         "--individual is one person's inline JSON.")
    if text.startswith("{") or text.startswith("["):
        try:
            return json.loads(text)
        except json.JSONDecodeError as err:
            raise InputError(f"--individual: inline JSON is malformed ({err.msg} at position {err.pos}).") from None
    path = Path(spec)
    if not path.is_file():
        raise InputError(f"--individual: no such file {spec!r} (expected inline JSON, a .json, .csv or .parquet file).")
    suffix = path.suffix.lower()
    if suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise InputError(f"--individual: {spec} is not valid JSON ({err.msg}, line {err.lineno}).") from None
        except UnicodeDecodeError:
            raise InputError(f"--individual: {spec} is not a UTF-8 text (JSON) file.") from None
        if isinstance(data, dict) and "individual" in data:
            data = data["individual"]
        if isinstance(data, list) and data and isinstance(data[0], dict):
            r = row or 0
            if not 0 <= r < len(data):
                raise InputError(f"--row {r} is out of range: {spec} has {len(data)} individuals (0..{len(data) - 1}).")
            data = data[r]
        return data
    if suffix not in (".csv", ".parquet", ".pq"):
        raise InputError(f"--individual: unsupported file type {suffix!r}; expected .json, .csv or .parquet.")
    from milp_recourse.tables import read_table

    try:
        frame = read_table(path, "--individual")
    except InputError as exc:
        if path.stat().st_size == 0:
            raise InputError(f"--individual: {spec} is empty; expected a header of feature names and at least "
                             "one row.") from None
        raise exc from None
    r = 0 if row is None else row
    if len(frame) == 0:
        raise InputError(f"--individual: {spec} has no data rows (only a header: "
                         f"{', '.join(map(str, frame.columns)) or 'none'}); expected one row per individual.")
    if not 0 <= r < len(frame):
        raise InputError(f"--row {r} is out of range: {spec} has {len(frame)} rows (0..{len(frame) - 1}).")
    return frame.iloc[r].to_dict()
