"""An SCM of independent features built from a data table (for real datasets without a causal graph).

Each variable is its own noise (x_j = u_j, uniform over the data's range), so the counterfactual of
an action is just the action: the non-causal special case, used for tree ensembles on real data.
Column names are kept as they are (``co-applicant`` stays ``co-applicant``; equations quote it in backticks);
`sanitize_columns` is only for callers that want identifier names.
"""

from __future__ import annotations

import re
from typing import Iterable

import numpy as np
import pandas as pd

from milp_recourse.errors import InputError
from milp_recourse.scm.fit import check_table, column_levels, is_text, noise_names
from milp_recourse.scm.spec import scm_from_dict


def safe_name(column: str) -> str:
    """A column name usable in equations (letters, digits, underscores; not starting with a digit)."""
    name = re.sub(r"\W", "_", str(column))
    return name if re.match(r"[A-Za-z_]", name) else f"f_{name}"


def sanitize_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Rename columns with safe_name (error if two collide); booleans become 0/1."""
    names = [safe_name(c) for c in frame.columns]
    if len(set(names)) != len(names):
        raise InputError("Column names collide after sanitising: "
                         f"{sorted(n for n in names if names.count(n) > 1)}.")
    out = frame.copy()
    out.columns = names
    for c in out.columns:
        if out[c].dtype == bool:
            out[c] = out[c].astype(int)
    return out


def independent_scm(frame: pd.DataFrame, name: str, immutable: Iterable[str] = (),
                    increase_only: Iterable[str] = (), sensitive: Iterable[str] = ()):
    """SCM whose variables are the columns of `frame` (names kept), mutually independent; a text column is
    categorical (its sorted levels). InputError for missing values or an empty table (scm.fit.check_table).
    """
    frame = check_table(frame)
    frame.columns = [str(c) for c in frame.columns]
    immutable, increase_only, sensitive = set(immutable), set(increase_only), set(sensitive)
    for what, names in (("immutable", immutable), ("increase_only", increase_only), ("sensitive", sensitive)):
        unknown = sorted(n for n in names if n not in frame.columns)
        if unknown:
            raise InputError(f"The {what} column(s) {unknown} are not in the data; columns: {list(frame.columns)}.")
    variables = []
    noises = noise_names(frame.columns)
    for col in frame.columns:
        if is_text(frame[col]):   # level names: a categorical root (levels sorted, frequencies as its noise)
            _, levels = column_levels(frame[col], col, {})
            codes = frame[col].map({lv: k for k, lv in enumerate(levels)}).to_numpy(int)
            probs = np.bincount(codes, minlength=len(levels)) / len(codes)
            if col in increase_only:
                raise InputError(f"Column {col!r} is categorical; its levels have no order to increase in.")
            variables.append({"name": col, "type": "categorical", "levels": list(levels),
                              "actionability": "immutable" if col in immutable else "actionable",
                              "sensitive": col in sensitive, "equation": noises[col],
                              "noise": {"name": noises[col], "dist": "categorical", "probs": probs.tolist()}})
            continue
        vals = frame[col].to_numpy(float)
        if not np.all(np.isfinite(vals)):
            raise InputError(f"Column {col!r} has NaN or infinite values; clean the data first.")
        lo, hi = float(vals.min()), float(vals.max())
        integral = bool(np.all(vals == np.round(vals)))
        kind = "binary" if integral and set(np.unique(vals)) <= {0.0, 1.0} else ("integer" if integral else "continuous")
        if kind == "binary":
            lo, hi = 0.0, 1.0
        noise = ({"name": noises[col], "dist": "uniform", "low": lo, "high": hi if hi > lo else lo + 1.0})
        act = "immutable" if col in immutable else ("increase" if col in increase_only else "actionable")
        variables.append({"name": col, "type": kind, "domain": [lo, hi if hi > lo else lo + 1.0],
                          "actionability": act, "sensitive": col in sensitive, "equation": noises[col],
                          "noise": noise})
    return scm_from_dict({"name": name, "description": f"independent features of {name}", "variables": variables})
