"""Categorical and ordinal variables: named levels stored as integer codes 0..K-1, and their switch costs.

Inside the package a level is its code (code k means ``levels[k]``), so every engine sees an integer on a
grid; users read and write level names. The cost of a level change is a K x K table g[from][to] (zero on the
diagonal): by default 1 per switch for a categorical variable; an ordinal variable without a table costs
|code change|^p like an integer.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping, Sequence

from milp_recourse.errors import InputError, SpecError, describe

LEVELED_KINDS = ("categorical", "ordinal")
CostTable = tuple[tuple[float, ...], ...]


def check_levels(name: str, kind: str, levels: Any) -> tuple[str, ...]:
    """The levels of a categorical / ordinal variable as a tuple of distinct non-empty strings (at least two)."""
    if isinstance(levels, (str, bytes)) or not isinstance(levels, (list, tuple)):
        raise SpecError(f"The {kind} variable {name!r} needs 'levels: [...]', a list of at least two level names; "
                        f"got {describe(levels)}.")
    out = tuple(str(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v for v in levels)
    bad = [v for v in out if not isinstance(v, str) or not v.strip()]
    if bad:
        raise SpecError(f"The {kind} variable {name!r} has level(s) {bad!r}; expected non-empty strings.")
    dup = sorted({v for v in out if out.count(v) > 1})
    if dup:
        raise SpecError(f"The {kind} variable {name!r} lists level(s) {dup} more than once.")
    if len(out) < 2:
        raise SpecError(f"The {kind} variable {name!r} needs at least two levels; got {list(out)}.")
    return out


def _cost(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)) \
            or float(value) < 0:
        raise SpecError(f"{where} must be a finite number >= 0; got {describe(value)}.")
    return float(value)


def cost_table(name: str, levels: Sequence[str], raw: Any) -> CostTable | None:
    """The K x K switch-cost table from a spec's ``level_costs`` (None: no table given).

    ``level_costs: {to_level: cost}`` is the cost of moving into that level from any other one;
    ``level_costs: {from_level: {to_level: cost}}`` gives single switches; both may be mixed (a switch given
    both ways takes the from -> to entry); switches left out cost 1."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping) or not raw:
        raise SpecError(f"'level_costs' of {name!r} must be a mapping {{level: cost}} or {{from: {{to: cost}}}}; "
                        f"got {describe(raw)}.")
    index = {lv: k for k, lv in enumerate(levels)}
    unknown = [k for k in raw if str(k) not in index]
    if unknown:
        raise SpecError(f"'level_costs' of {name!r} names unknown level(s) {unknown}; levels: {list(levels)}.")
    K = len(levels)
    table = [[0.0 if i == j else 1.0 for j in range(K)] for i in range(K)]
    # numbers first (the cost of moving into a level from anywhere), then {from: {to: cost}} entries on top
    for key, value in sorted(raw.items(), key=lambda kv: isinstance(kv[1], Mapping)):
        j = index[str(key)]
        if not isinstance(value, Mapping):
            c = _cost(value, f"'level_costs' of {name!r} for level {key!r}")
            for i in range(K):
                if i != j:
                    table[i][j] = c
            continue
        for to, c in value.items():
            if str(to) not in index:
                raise SpecError(f"'level_costs' of {name!r} names unknown level {to!r}; levels: {list(levels)}.")
            if str(to) != str(key):
                table[j][index[str(to)]] = _cost(c, f"'level_costs' of {name!r} from {key!r} to {to!r}")
    return tuple(tuple(row) for row in table)


def table_to_spec(levels: Sequence[str], table: CostTable) -> dict[str, dict[str, float]]:
    """The nested ``level_costs`` mapping of a table (inverse of cost_table)."""
    return {levels[i]: {levels[j]: table[i][j] for j in range(len(levels)) if j != i} for i in range(len(levels))}


def switch_table(K: int) -> CostTable:
    """1 per level change."""
    return tuple(tuple(0.0 if i == j else 1.0 for j in range(K)) for i in range(K))


def code_of(var: Any, value: Any) -> float:
    """The code of a level given by name (or already as a code) for the variable `var`."""
    if isinstance(value, str):
        if value in var.levels:
            return float(var.levels.index(value))
        stripped = value.strip()
        if stripped in var.levels:
            return float(var.levels.index(stripped))
        raise InputError(f"Feature {var.name!r} has no level {value!r}; expected one of {', '.join(var.levels)} "
                         f"(or its code 0..{len(var.levels) - 1}).")
    return value


def grid_value(levels: Sequence[str], text: str, where: str, owner: str,
               number: Callable[[str, str], float]) -> float:
    """One allowed value of a feature with levels, as written in a grid ('Sales' or its code '0'): the level's
    code, else `number(text, where)`; InputError naming the levels when it is neither (`solve --grid` and the
    profiles' grid.X columns)."""
    name = text.strip()
    if name in levels:
        return float(list(levels).index(name))
    try:
        return number(name, where)
    except InputError:
        raise InputError(f"{where}: {name!r} is not a level of {owner}; expected one of {', '.join(levels)} (or its "
                         f"code 0..{len(levels) - 1}).") from None


def level_of(var: Any, code: float) -> str:
    """The level name of a code (a valid one: codes come from the solver's integer grid)."""
    k = int(round(float(code)))
    if not (0 <= k < len(var.levels)) or abs(float(code) - k) > 1e-6:
        raise InputError(f"Feature {var.name!r} has no level with code {code!r}; codes are 0..{len(var.levels) - 1}.")
    return var.levels[k]


def raw_values(scm: Any, values: Mapping[str, float]) -> dict[str, Any]:
    """Values with the codes of categorical / ordinal variables shown as their level names."""
    out: dict[str, Any] = {}
    for name, v in values.items():
        var = scm.variable(name) if name in scm.names else None
        out[name] = level_of(var, v) if var is not None and var.levels else v
    return out


def encode_levels(scm: Any, frame: Any) -> Any:
    """A DataFrame with its categorical / ordinal columns (level names) replaced by their codes; other columns
    untouched. Unknown levels and missing values are refused, naming the column, the value and its row."""
    import pandas as pd

    out = frame.copy()
    for var in scm.variables:
        if not var.levels or var.name not in out.columns:
            continue
        col = out[var.name]
        index = {lv: float(k) for k, lv in enumerate(var.levels)}
        codes = col.map(lambda v: index.get(v.strip() if isinstance(v, str) else v, v))
        numeric = pd.to_numeric(codes, errors="coerce")
        bad = numeric.isna() | ~numeric.isin(list(index.values()))
        if bad.any():
            row = int(bad.to_numpy().nonzero()[0][0])
            raise InputError(f"Column {var.name!r}, row {row + 1}: {col.iloc[row]!r} is not a level of {var.name!r}; "
                             f"expected one of {', '.join(var.levels)}.")
        out[var.name] = numeric.astype(float)
    return out


__all__ = ["LEVELED_KINDS", "CostTable", "check_levels", "cost_table", "table_to_spec", "switch_table", "code_of",
           "level_of", "raw_values", "encode_levels"]
