"""Fit an SCM from a data table and a causal graph (or none: independent features).

Model, chosen so that abduction stays exact and closed form:
- a node without parents is its own noise: ``x = U_x``; binary columns get ``U_x ~ bernoulli(mean)``, integer
  columns ``x = lo + U_x`` with ``U_x`` categorical over the domain's values (observed frequencies plus half a row
  each; beyond MAX_INTEGER_VALUES values: continuous), other columns ``U_x ~ uniform`` over the node's domain;
- a continuous node with parents is linear in them, fitted by least squares (with an intercept):
  ``x = b0 + sum_p b_p * p + U_x`` with ``U_x ~ normal(0, residual std)`` (ddof = number of coefficients);
  its noise is recovered exactly as ``x - b0 - sum_p b_p * p``; optionally piecewise linear in one parent q
  (``settings.piecewise[x] = (q, k)``): ``+ sum_t c_t * relu(q - t)`` with k knots t at quantiles of q
  (still additive noise, so abduction stays exact; relu is encoded exactly in the MILP);
- a text column is categorical, with its observed levels in sorted order (or ordinal, with the levels in
  the order ``settings.ordinal`` gives); it must be a root, its noise the observed level frequencies; a
  continuous child reads a categorical parent through one indicator per level but the first (the level's
  code k as ``(p >= k - 0.5) - (p >= k + 0.5)``, exact in the MILP) and an ordinal parent through its code;
- a binary node with parents is a threshold model (a logistic regression): ``x = (eta(parents) + U_x >= 0)``
  with U_x standard logistic; a 0/1 value does not determine the noise, so abduction takes the noise's
  posterior median given the observation (closed form, scm/threshold.py); the comparison is exact in the MILP;
- integer, categorical and ordinal nodes with parents are refused: such a value is not a strictly monotone
  function of one continuous noise, so abduction would not be unique. Pass an integer column in
  ``continuous`` to model it as a continuous node instead (its counterfactual may then be fractional), or
  make the node a root.
Domains are the data's range padded by ``pad`` x range on each side (rounded outwards for integers, never
below 0 for a column that is never negative). Column names are kept exactly as they are in the data.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from milp_recourse.errors import InputError
from milp_recourse.scm.dag import Dag
from milp_recourse.scm.expr import derivative, evaluate, quoted, substitute
from milp_recourse.scm.model import SCM
from milp_recourse.scm.spec import scm_from_dict


MAX_KNOTS = 20
MAX_INTEGER_VALUES = 10_000   # an integer root with more possible values is modelled as continuous (fit.integer_root)


@dataclass(frozen=True)
class FitSettings:
    """What the user states about the columns: actionability, the label column, forced types, padding."""

    immutable: tuple[str, ...] = ()
    increase_only: tuple[str, ...] = ()
    decrease_only: tuple[str, ...] = ()
    continuous: tuple[str, ...] = ()
    piecewise: Mapping[str, tuple[str, int]] = field(default_factory=dict)  # child -> (parent, number of knots)
    label: str | None = None
    pad: float = 0.05
    sensitive: tuple[str, ...] = ()
    ordinal: Mapping[str, tuple[str, ...]] = field(default_factory=dict)   # column -> levels, lowest first

    def __post_init__(self) -> None:
        object.__setattr__(self, "ordinal", {k: tuple(v) for k, v in dict(self.ordinal).items()})
        for f in ("immutable", "increase_only", "decrease_only", "continuous", "sensitive"):
            object.__setattr__(self, f, tuple(getattr(self, f)))
        object.__setattr__(self, "piecewise", dict(self.piecewise))
        for child, spec in self.piecewise.items():
            ok = isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[1], int) and 1 <= spec[1] <= MAX_KNOTS
            if not ok:
                raise InputError(f"The piecewise fit of {child!r} needs (parent, knots) with 1 <= knots <= "
                                 f"{MAX_KNOTS}; got {spec!r}.")
        if not (isinstance(self.pad, (int, float)) and math.isfinite(self.pad) and 0 <= self.pad <= 1):
            raise InputError(f"The domain padding must be a number in [0, 1] (a fraction of the range); "
                             f"got {self.pad!r}.")


def check_table(frame: pd.DataFrame, what: str = "the data") -> pd.DataFrame:
    """The table with booleans as 0/1, after refusing empty tables, missing values and non-numeric columns."""
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"Expected {what} as a pandas DataFrame; got {type(frame).__name__}.")
    if frame.shape[1] == 0 or len(frame) == 0:
        raise InputError(f"{what.capitalize()} is empty ({len(frame)} rows, {frame.shape[1]} columns); "
                         f"expected a table with a header and at least one row.")
    out = frame.copy()
    for col in frame.columns:
        series = frame[col]
        missing = int(series.isna().sum())
        if missing:
            rows = ", ".join(map(str, np.flatnonzero(series.isna().to_numpy())[:5]))
            raise InputError(f"Column {col!r} has {missing} missing value(s) (rows {rows}{', ...' if missing > 5 else ''}); "
                             f"drop those rows or impute the values first (e.g. pandas dropna() or fillna()).")
        if pd.api.types.is_bool_dtype(series):
            out[col] = series.astype(int)
        elif not pd.api.types.is_numeric_dtype(series):
            odd = [v for v in pd.unique(series) if not isinstance(v, str)]
            if odd:
                raise InputError(f"Column {col!r} mixes text with other values (such as {odd[0]!r}); expected "
                                 "numbers, or level names (text) for a categorical column.")
            out[col] = series.str.strip()   # a categorical column: its levels as text
        elif not np.all(np.isfinite(series.to_numpy(dtype=float))):
            raise InputError(f"Column {col!r} has infinite values; clean the data first.")
    return out


def is_text(series: pd.Series) -> bool:
    """A column of level names (categorical / ordinal), as check_table leaves it."""
    return not pd.api.types.is_numeric_dtype(series)


def column_levels(series: pd.Series, col: str, ordinal: Mapping[str, tuple[str, ...]]) -> tuple[str, tuple[str, ...]]:
    """('categorical', sorted observed levels) or ('ordinal', the given order, which must cover the data)."""
    seen = sorted(str(v) for v in pd.unique(series))
    if col not in ordinal:
        if len(seen) < 2:
            raise InputError(f"Column {col!r} has a single level {seen!r}; a categorical column needs at least two "
                             "(drop the column: it cannot change anything).")
        return "categorical", tuple(seen)
    order = tuple(ordinal[col])
    missing = [v for v in seen if v not in order]
    if missing:
        raise InputError(f"The ordinal order of {col!r} ({' < '.join(order)}) lacks the level(s) {missing} found in "
                         "the data; expected every level, lowest first.")
    return "ordinal", order


def column_kind(values: np.ndarray) -> str:
    """'binary' for 0/1 columns, 'integer' for other integral columns, else 'continuous'."""
    if np.all(values == np.round(values)):
        return "binary" if set(np.unique(values)) <= {0.0, 1.0} else "integer"
    return "continuous"


def integer_root(values: np.ndarray, u: str, lo: float, hi: float) -> dict:
    """The equation and noise of an integer root: `lo + U` with U a categorical over the codes of lo..hi, each
    value's share of the rows plus half a row (so every value of the padded domain stays possible). A uniform noise
    sampled fractions for an integer column (an outside fuzz: 1 000 of 1 000 samples of a 0..9 count). Wider than
    MAX_INTEGER_VALUES values: the uniform noise still, the column read as continuous."""
    n_values = int(hi - lo) + 1
    if n_values > MAX_INTEGER_VALUES:
        return {"type": "continuous", "equation": quoted(u), "noise": {"name": u, "dist": "uniform", "low": lo,
                                                                         "high": hi},
                "description": f"root: its own noise (uniform), fitted from {len(values)} rows; an integer column "
                               f"with {n_values} possible values, modelled as continuous (more than "
                               f"{MAX_INTEGER_VALUES})"}
    counts = np.bincount((values - lo).astype(int), minlength=n_values) + 0.5
    probs = counts / counts.sum()
    start = _number(lo)
    return {"equation": quoted(u) if lo == 0 else f"{start} + {quoted(u)}",
            "noise": {"name": u, "dist": "categorical", "probs": [float(p) for p in probs]},
            "description": f"root: {start} plus its own noise (categorical over the {n_values} values of its domain, "
                           f"frequencies from {len(values)} rows plus half a row each)"}


def padded_domain(values: np.ndarray, kind: str, pad: float) -> tuple[float, float]:
    """The data's range widened by pad x range per side (integral for integer kinds; >= 0 for data >= 0)."""
    if kind == "binary":
        return 0.0, 1.0
    lo, hi = float(values.min()), float(values.max())
    span = hi - lo if hi > lo else max(abs(lo), 1.0)
    low, high = lo - pad * span, hi + pad * span
    if kind == "integer":
        low, high = math.floor(low), math.ceil(high)
        if low == high:
            low, high = low - 1, high + 1
    elif low == high:
        low, high = low - 1.0, high + 1.0
    if lo >= 0:
        low = max(low, 0.0)
    return float(low), float(high)


def noise_names(columns: Iterable[str]) -> dict[str, str]:
    """Noise name per column: U_<column> for identifier columns, else U_<sanitised>, unique and clash-free."""
    columns = list(columns)
    taken, out = set(columns), {}
    for col in columns:
        base = "U_" + re.sub(r"\W", "_", col)
        name, i = base, 2
        while name in taken or not name.isidentifier():
            name, i = f"{base}_{i}", i + 1
        taken.add(name)
        out[col] = name
    return out


def _check_names(settings: FitSettings, columns: list[str]) -> None:
    lists = {"immutable": settings.immutable, "increase-only": settings.increase_only,
             "decrease-only": settings.decrease_only, "continuous": settings.continuous,
             "sensitive": settings.sensitive}
    for what, names in lists.items():
        unknown = [n for n in names if n not in columns]
        if unknown:
            extra = f" ({settings.label!r} is the label column)" if settings.label in unknown else ""
            raise InputError(f"The {what} column(s) {unknown} are not in the data{extra}; columns: {columns}.")
    groups = ("immutable", "increase-only", "decrease-only")
    for i, a in enumerate(groups):
        for b in groups[i + 1:]:
            both = sorted(set(lists[a]) & set(lists[b]))
            if both:
                raise InputError(f"Column(s) {both} are both {a} and {b}; give each column one actionability.")


def _actionability(col: str, settings: FitSettings) -> str:
    if col in settings.immutable:
        return "immutable"
    return "increase" if col in settings.increase_only else "decrease" if col in settings.decrease_only \
        else "actionable"


def _number(v: float) -> str:
    return format(float(v), ".12g")


def knots(values: np.ndarray, k: int) -> tuple[float, ...]:
    """Up to k hinge locations at the (i / (k + 1))-quantiles of values, 6 significant digits, strictly inside
    the data's range (duplicates dropped)."""
    lo, hi = float(values.min()), float(values.max())
    qs = np.quantile(values, [(i + 1) / (k + 1) for i in range(k)])
    return tuple(sorted({float(f"{q:.6g}") for q in qs if lo < float(f"{q:.6g}") < hi}))


def _hinge(parent: str, t: float) -> str:
    return f"relu({quoted(parent)} {'-' if t >= 0 else '+'} {_number(abs(t))})"


def level_indicator(parent: str, k: int, K: int) -> str:
    """The equation text of [code == k] for a categorical parent with codes 0..K-1 (comparisons: exact)."""
    q = quoted(parent)
    return f"({q} >= {k - 0.5:g})" if k == K - 1 else f"(({q} >= {k - 0.5:g}) - ({q} >= {k + 0.5:g}))"


def _regressors(frame: pd.DataFrame, parents: tuple[str, ...], levels: Mapping[str, tuple[str, ...]]
                ) -> tuple[list[np.ndarray], list[str]]:
    """Least-squares columns and their equation texts: a numeric or ordinal parent as itself (its code), a
    categorical one as one indicator per level but the first."""
    columns, names = [], []
    for p in parents:
        codes = frame[p].to_numpy(dtype=float)
        if p in levels and levels[p][0] == "categorical":
            K = len(levels[p]) - 1
            for k in range(1, K):
                columns.append((codes == k).astype(float))
                names.append(level_indicator(p, k, K))
        else:
            columns.append(codes)
            names.append(quoted(p))
    return columns, names


def _linear(frame: pd.DataFrame, col: str, parents: tuple[str, ...],
            hinges: tuple[str, tuple[float, ...]] | None = None,
            levels: Mapping[str, tuple[str, ...]] | None = None) -> tuple[str, float, float]:
    """Equation text (without the noise), residual std and R^2 of the least-squares fit of col on its parents
    (plus relu(parent - t) terms for the knots t of ``hinges = (parent, knots)``: piecewise linear in it).
    ``levels``: the categorical / ordinal parents as (kind, *levels), their columns already as codes."""
    n = len(frame)
    regs, names = _regressors(frame, parents, levels or {})
    columns = [np.ones(n)] + regs
    if hinges is not None:
        pw, ts = hinges
        columns += [np.maximum(frame[pw].to_numpy(dtype=float) - t, 0.0) for t in ts]
        names += [_hinge(pw, t) for t in ts]
    k = len(columns)
    if n <= k:
        raise InputError(f"Column {col!r} needs {k} coefficients ({len(parents)} parent(s)) but the data has only "
                         f"{n} row(s); least squares needs more than {k}.")
    A = np.column_stack(columns)
    _identified(A, ["the intercept"] + names, col)
    y = frame[col].to_numpy(dtype=float)
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    resid = y - A @ coef
    std = float(np.sqrt(np.sum(resid ** 2) / (n - k)))
    floor = 1e-9 * max(float(np.max(np.abs(y))), 1.0)
    text = _number(coef[0]) + "".join(f" {'-' if c < 0 else '+'} {_number(abs(c))} * {t}"
                                      for c, t in zip(coef[1:], names))
    total = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - float(np.sum(resid ** 2)) / total if total > 0 else 1.0
    return text, max(std, floor), r2


def _identified(A: np.ndarray, names: list[str], col: str) -> None:
    """InputError unless the regressors' columns are linearly independent: a constant parent, or parents that are
    exact linear combinations of each other, leave their effects unidentified, and least squares would write one
    arbitrary split of them as causal effects (an outside fuzz: 'hours = 1.96 + 5.89 * const' for a column that
    is 3 everywhere)."""
    for k in range(1, A.shape[1]):
        if np.linalg.matrix_rank(A[:, :k + 1]) <= k:
            what = (f"{names[k]} is constant in the data" if np.ptp(A[:, k]) == 0 else
                    f"{names[k]} is a linear combination of {', '.join(names[:k])} in the data")
            raise InputError(f"Column {col!r}: its parents' effects cannot be told apart: {what}. Remove that edge "
                             "from the DAG (or drop the column) so that each effect is identified by the data.")


def _logistic(frame: pd.DataFrame, col: str, parents: tuple[str, ...], levels: Mapping[str, tuple[str, ...]]
              ) -> tuple[str, float]:
    """eta's text and the training accuracy of the maximum-likelihood logistic regression of a 0/1 column on
    its parents (categorical parents through level indicators): col = (eta + U >= 0), U standard logistic."""
    from sklearn.linear_model import LogisticRegression

    regs, names = _regressors(frame, parents, levels)
    y = frame[col].to_numpy(dtype=float)
    if len(np.unique(y)) < 2:
        raise InputError(f"Column {col!r} takes a single value in the data; a binary node with parents needs both "
                         "0 and 1 (make it a root or drop it).")
    A = np.column_stack(regs)
    model = LogisticRegression(C=1e6, max_iter=5000).fit(A, y)   # (almost) unpenalised maximum likelihood
    coef, b0 = model.coef_[0], float(model.intercept_[0])
    text = _number(b0) + "".join(f" {'-' if c < 0 else '+'} {_number(abs(c))} * {t}" for c, t in zip(coef, names))
    return text, float(model.score(A, y))


def fit_scm_spec(frame: pd.DataFrame, dag: Dag | None, name: str, settings: FitSettings = FitSettings()) -> dict:
    """The spec dict of an SCM fitted to ``frame`` (columns in data order; dag None = independent features)."""
    data = check_table(frame)
    columns = [str(c) for c in data.columns]
    if len(set(columns)) != len(columns):
        raise InputError(f"The data has duplicate column names: {sorted({c for c in columns if columns.count(c) > 1})}.")
    data.columns = columns
    if settings.label is not None:
        if settings.label not in columns:
            raise InputError(f"The label column {settings.label!r} is not in the data; columns: {columns}.")
        if dag is not None and any(settings.label in e for e in dag.edges):
            raise InputError(f"The DAG uses the label column {settings.label!r}; the label is the classifier's "
                             f"output, not a node of the SCM: remove its edges or drop --label.")
        data = data.drop(columns=[settings.label])
        columns.remove(settings.label)
    if not columns:
        raise InputError("The data has no columns left to model.")
    _check_names(settings, columns)
    if dag is not None:
        unknown = sorted({n for e in dag.edges for n in e if n not in columns})
        if unknown:
            raise InputError(f"The DAG names column(s) {unknown} that are not in the data; columns: {columns}.")
    for child, (parent, _) in settings.piecewise.items():
        if child not in columns:
            raise InputError(f"The piecewise column {child!r} is not in the data; columns: {columns}.")
        if dag is None or parent not in dag.parents(child):
            raise InputError(f"The piecewise fit of {child!r} is in {parent!r}, which is not a parent of "
                             f"{child!r} in the DAG; parents: {list(dag.parents(child)) if dag else []}.")
    unknown = sorted(c for c in settings.ordinal if c not in columns)
    if unknown:
        raise InputError(f"The ordinal column(s) {unknown} are not in the data; columns: {columns}.")
    noises = noise_names(columns)
    levels: dict[str, tuple[str, ...]] = {}   # text columns: (kind, *levels); their data become codes
    for col in columns:
        if is_text(data[col]) or col in settings.ordinal:
            kind, names = column_levels(data[col].astype(str), col, settings.ordinal)
            levels[col] = (kind, *names)
            data[col] = data[col].astype(str).map({lv: float(k) for k, lv in enumerate(names)})
    variables = []
    for col in columns:
        values = data[col].to_numpy(dtype=float)
        parents = dag.parents(col) if dag is not None else ()
        u = noises[col]
        if col in levels:
            kind, *names = levels[col]
            if parents:
                raise InputError(f"Column {col!r} is {kind} and has parents {list(parents)} in the DAG; {kind} "
                                 "nodes with parents are not supported (a level is not a strictly monotone function "
                                 "of one noise, so abduction would not be unique). Make it a root (remove its "
                                 "incoming edges).")
            if col in settings.continuous:
                raise InputError(f"Column {col!r} holds level names; it cannot be modelled as continuous.")
            counts = np.bincount(values.astype(int), minlength=len(names)) / len(values)
            variables.append({"name": col, "type": kind, "levels": list(names),
                              "actionability": _actionability(col, settings), "sensitive": col in settings.sensitive,
                              "equation": quoted(u), "noise": {"name": u, "dist": "categorical",
                                                               "probs": [float(c) for c in counts]},
                              "description": f"root: {kind} with {len(names)} levels, frequencies from "
                                             f"{len(values)} rows"})
            continue
        kind = "continuous" if col in settings.continuous else column_kind(values)
        lo, hi = padded_domain(values, kind, settings.pad)
        entry = {"name": col, "type": kind, "domain": [lo, hi], "actionability": _actionability(col, settings),
                 "sensitive": col in settings.sensitive}
        if not parents and kind == "integer":
            entry |= integer_root(values, u, lo, hi)
        elif not parents:
            noise = {"name": u, "dist": "bernoulli", "p": float(values.mean())} if kind == "binary" else \
                {"name": u, "dist": "uniform", "low": lo, "high": hi}
            entry |= {"equation": quoted(u), "noise": noise,
                      "description": f"root: its own noise ({noise['dist']}), fitted from {len(values)} rows"}
        elif kind == "binary":
            if col in settings.piecewise:
                raise InputError(f"The piecewise fit of {col!r} is for continuous nodes; {col!r} is binary.")
            text, acc = _logistic(data, col, parents, levels)
            entry |= {"equation": f"({text} + {u} >= 0)", "noise": {"name": u, "dist": "logistic"},
                      "description": f"threshold (logistic regression) in {', '.join(parents)} ({len(values)} rows, "
                                     f"accuracy {acc:.3f}); abduction: the noise's posterior median given the "
                                     "observed value (scm/threshold.py)"}
        elif kind != "continuous":
            raise InputError(f"Column {col!r} is {kind} and has parents {list(parents)} in the DAG; {kind} nodes "
                             f"with parents are not supported (their noise cannot be recovered exactly from an "
                             f"integer value). Make it a root (remove its incoming edges) or pass "
                             f"--continuous {col} to model it as a continuous node.")
        else:
            hinges, how = None, ""
            if col in settings.piecewise:
                pw, k = settings.piecewise[col]
                ts = knots(data[pw].to_numpy(dtype=float), k)
                if not ts:
                    raise InputError(f"The piecewise fit of {col!r} in {pw!r} has no knot strictly inside the "
                                     f"range of {pw!r} (too few distinct values); fit it linearly instead.")
                hinges, how = (pw, ts), f" + relu terms in {pw} at {', '.join(map(_number, ts))}"
            if col in settings.piecewise and settings.piecewise[col][0] in levels:
                raise InputError(f"The piecewise fit of {col!r} is in {settings.piecewise[col][0]!r}, which holds "
                                 "level names; fit it in a numeric parent.")
            text, std, r2 = _linear(data, col, parents, hinges, levels)
            entry |= {"equation": f"{text} + {u}", "noise": {"name": u, "dist": "normal", "mean": 0.0, "std": std},
                      "description": f"linear in {', '.join(parents)}{how} (least squares, {len(values)} rows, "
                                     f"R^2 {r2:.3f})"}
        variables.append(entry)
    kind_text = "independent features" if dag is None else f"a DAG with {len(dag.edges)} edge(s)"
    return {"name": name, "description": f"fitted from data ({len(data)} rows) and {kind_text}",
            "variables": variables}


def fit_scm(frame: pd.DataFrame, dag: Dag | None, name: str, settings: FitSettings = FitSettings()) -> SCM:
    """The SCM fitted to ``frame`` (see the module docstring for the model)."""
    return scm_from_dict(fit_scm_spec(frame, dag, name, settings))


def linear_coefficients(scm: SCM, name: str) -> dict[str, float]:
    """Coefficients of a linear equation ``b0 + sum b_p p + U`` as {parent: b_p, '(intercept)': b0} (exact)."""
    eq = scm.equations[name]
    zero = {n: 0.0 for n in scm.names} | {m: 0.0 for m in scm.noise_names}
    out = {p: float(evaluate(substitute(derivative(eq, p), zero), {})) for p in scm.parents(name)}
    return out | {"(intercept)": float(evaluate(eq, zero))}


__all__ = ["FitSettings", "knots", "MAX_KNOTS", "fit_scm", "fit_scm_spec", "check_table", "column_kind", "padded_domain",
           "noise_names", "linear_coefficients"]
