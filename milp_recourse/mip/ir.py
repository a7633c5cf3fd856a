"""A tiny solver-neutral mixed-integer program: columns, sparse rows, objective.

Every encoder writes into an :class:`IRBuilder`; backends read a frozen :class:`MIPModel`.
Rows carry a group tag (e.g. ``"scm:S"``, ``"clf:tree3"``, ``"hard:bounds:E"``) so that
certificates and diagnostics can speak about where a constraint came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import scipy.sparse as sp

INF = float("inf")


@dataclass(frozen=True, slots=True)
class Affine:
    """sum_j terms[j] * x_j + const, with column indices as keys (slots: compiles build tens of thousands)."""

    terms: Mapping[int, float] = field(default_factory=dict)
    const: float = 0.0

    @staticmethod
    def constant(value: float) -> "Affine":
        return Affine({}, float(value))

    @staticmethod
    def column(index: int, coef: float = 1.0) -> "Affine":
        return Affine({index: float(coef)}, 0.0)

    @property
    def is_constant(self) -> bool:
        return all(c == 0.0 for c in self.terms.values())

    def __add__(self, other: "Affine | float") -> "Affine":
        if not isinstance(other, Affine):
            return Affine(dict(self.terms), self.const + float(other))
        terms = dict(self.terms)
        for j, c in other.terms.items():
            terms[j] = terms.get(j, 0.0) + c
        return Affine(terms, self.const + other.const)

    __radd__ = __add__

    def __neg__(self) -> "Affine":
        return Affine({j: -c for j, c in self.terms.items()}, -self.const)

    def __sub__(self, other: "Affine | float") -> "Affine":
        if not isinstance(other, Affine):
            return Affine(dict(self.terms), self.const - float(other))
        terms = dict(self.terms)
        for j, c in other.terms.items():
            terms[j] = terms.get(j, 0.0) - c
        return Affine(terms, self.const - other.const)

    def __rsub__(self, other: float) -> "Affine":
        return (-self) + other

    def __mul__(self, k: float) -> "Affine":
        k = float(k)
        return Affine({j: c * k for j, c in self.terms.items()}, self.const * k)

    __rmul__ = __mul__

    def value(self, x: np.ndarray) -> float:
        return self.const + sum(c * float(x[j]) for j, c in self.terms.items())


def affine_interval(expr: Affine, lb: Sequence[float], ub: Sequence[float]) -> tuple[float, float]:
    """Interval of an affine expression over column bounds lb <= x <= ub (inf - inf counts as unbounded)."""
    lo = hi = expr.const
    for j, c in expr.terms.items():
        if c > 0:
            lo += c * lb[j]
            hi += c * ub[j]
        elif c < 0:
            lo += c * ub[j]
            hi += c * lb[j]
    return (float(lo) if not np.isnan(lo) else -INF, float(hi) if not np.isnan(hi) else INF)


def single_column(x: Affine) -> tuple[int, float, float] | None:
    """(column, coef, const) of an expression in one column, else None."""
    if len(x.terms) != 1:
        return None
    (col, coef), = x.terms.items()
    return col, float(coef), float(x.const)


def affine_sum(parts: Iterable[Affine]) -> Affine:
    total = Affine.constant(0.0)
    for p in parts:
        total = total + p
    return total


@dataclass(frozen=True)
class MIPModel:
    """Frozen MIP: min c.x + 0.5 * sum q_j x_j^2 + offset  s.t.  row_lo <= A x <= row_hi, lb <= x <= ub."""

    col_names: tuple[str, ...]
    col_lb: np.ndarray
    col_ub: np.ndarray
    integrality: np.ndarray  # bool per column
    A: sp.csr_matrix
    row_lo: np.ndarray
    row_hi: np.ndarray
    row_groups: tuple[str, ...]
    c: np.ndarray
    q_diag: np.ndarray | None = None  # separable convex quadratic part (p = 2 costs)
    offset: float = 0.0

    @property
    def n_cols(self) -> int:
        return len(self.col_names)

    @property
    def n_rows(self) -> int:
        return len(self.row_groups)

    @property
    def n_integer(self) -> int:
        return int(self.integrality.sum())

    def objective(self, x: np.ndarray) -> float:
        val = float(self.c @ x) + self.offset
        if self.q_diag is not None:
            val += 0.5 * float(self.q_diag @ (x * x))
        return val

    def max_violation(self, x: np.ndarray) -> float:
        """Largest violation of any bound, row or integrality requirement at point x."""
        x = np.asarray(x, dtype=float)
        viol = [0.0, float(np.max(self.col_lb - x, initial=0.0)), float(np.max(x - self.col_ub, initial=0.0))]
        if self.n_rows:
            ax = self.A @ x
            viol += [float(np.max(self.row_lo - ax, initial=0.0)), float(np.max(ax - self.row_hi, initial=0.0))]
        if self.integrality.any():
            xi = x[self.integrality]
            viol.append(float(np.max(np.abs(xi - np.round(xi)), initial=0.0)))
        return max(viol)

    def column(self, name: str) -> int:
        try:
            return self.col_names.index(name)
        except ValueError:
            raise KeyError(f"No column named {name!r} in the model.") from None

    def with_bounds(self, lb: np.ndarray, ub: np.ndarray) -> "MIPModel":
        """Same model with new column bounds (variable fixing)."""
        return MIPModel(self.col_names, np.asarray(lb, float), np.asarray(ub, float), self.integrality,
                        self.A, self.row_lo, self.row_hi, self.row_groups, self.c, self.q_diag, self.offset)

    def relaxed(self) -> "MIPModel":
        """LP relaxation (integrality dropped)."""
        return MIPModel(self.col_names, self.col_lb, self.col_ub, np.zeros(self.n_cols, bool),
                        self.A, self.row_lo, self.row_hi, self.row_groups, self.c, self.q_diag, self.offset)


class IRBuilder:
    """Accumulates columns and rows; ``build()`` freezes them into a :class:`MIPModel`."""

    def __init__(self, bound_hints: Mapping[str, tuple[float, float]] | None = None) -> None:
        self.bound_hints: Mapping[str, tuple[float, float]] = dict(bound_hints or {})
        self.tighten_targets: dict[str, Affine] = {}  # name -> expression whose bounds set a big-M (LP tightening)
        # column -> its only values (value, what the column + its offset stands for: the feature's own value, the
        # 0/1 expression that is 1 exactly when the column takes it): a grid feature's shift d, x + d its value; a
        # tree split on x + d then knows each value's side exactly (encode/tree_ensembles.py)
        self.values_of: dict[int, tuple[tuple[float, float, Affine], ...]] = {}
        # a scaled input (as (column, coef, const)) -> (the raw input's (column, coef, const), the scaler's own
        # arithmetic on a raw value): a tree split behind a scaler then knows a known value's side exactly too
        self.scaled_from: dict[tuple[int, float, float], tuple[tuple[int, float, float], Any]] = {}
        # column -> (0/1 expression 'intervened', ((value, its indicator), ...)): a grid feature whose parent also
        # changes takes one of its values exactly when intervened on, else its equation's value (its x' column)
        self.values_when: dict[int, tuple[Affine, tuple[tuple[float, Affine], ...]]] = {}
        self._names: list[str] = []
        self._lb: list[float] = []
        self._ub: list[float] = []
        self._int: list[bool] = []
        self._rows: list[dict[int, float]] = []
        self._row_lo: list[float] = []
        self._row_hi: list[float] = []
        self._groups: list[str] = []
        self._c: dict[int, float] = {}
        self._q: dict[int, float] = {}
        self.offset = 0.0

    # columns -------------------------------------------------------------
    @property
    def n_cols(self) -> int:
        return len(self._names)

    def add_var(self, name: str, lb: float = -INF, ub: float = INF, integer: bool = False) -> int:
        lb, ub = float(lb), float(ub)
        if integer:
            lb = float(np.ceil(lb - 1e-9)) if np.isfinite(lb) else lb
            ub = float(np.floor(ub + 1e-9)) if np.isfinite(ub) else ub
        if lb > ub:
            raise ValueError(f"Column {name!r}: lower bound {lb} above upper bound {ub}.")
        self._names.append(name)
        self._lb.append(lb)
        self._ub.append(ub)
        self._int.append(bool(integer))
        return len(self._names) - 1

    def add_binary(self, name: str) -> int:
        return self.add_var(name, 0.0, 1.0, integer=True)

    def var_bounds(self, j: int) -> tuple[float, float]:
        return self._lb[j], self._ub[j]

    def is_integer(self, j: int) -> bool:
        return self._int[j]

    # rows ----------------------------------------------------------------
    def add_row(self, expr: Affine, lo: float = -INF, hi: float = INF, group: str = "") -> int | None:
        """Add lo <= expr <= hi. A constant expr is checked instead of added (returns None)."""
        terms = {j: c for j, c in expr.terms.items() if c != 0.0}
        lo_, hi_ = float(lo) - expr.const, float(hi) - expr.const
        if not terms:
            if lo_ > 1e-9 or hi_ < -1e-9:
                # an unsatisfiable constant row: keep it, so infeasibility is visible and attributable
                j = self.add_var(f"_zero[{len(self._rows)}]", 0.0, 0.0)
                terms = {j: 1.0}
            else:
                return None
        self._rows.append(terms)
        self._row_lo.append(lo_)
        self._row_hi.append(hi_)
        self._groups.append(group)
        return len(self._rows) - 1

    def add_eq(self, expr: Affine, rhs: float = 0.0, group: str = "") -> int | None:
        return self.add_row(expr, rhs, rhs, group)

    def add_le(self, expr: Affine, rhs: float = 0.0, group: str = "") -> int | None:
        return self.add_row(expr, -INF, rhs, group)

    def add_ge(self, expr: Affine, rhs: float = 0.0, group: str = "") -> int | None:
        return self.add_row(expr, rhs, INF, group)

    # objective -----------------------------------------------------------
    def add_objective(self, expr: Affine) -> None:
        for j, c in expr.terms.items():
            self._c[j] = self._c.get(j, 0.0) + c
        self.offset += expr.const

    def add_quadratic(self, j: int, coef: float) -> None:
        """Add coef * x_j^2 to the objective (coef >= 0, separable)."""
        self._q[j] = self._q.get(j, 0.0) + 2.0 * float(coef)

    def scale_objective(self, factor: float) -> None:
        """Multiply the whole objective by factor > 0 (keeps optimal costs O(1) for the solver's tolerances)."""
        self._c = {j: v * factor for j, v in self._c.items()}
        self._q = {j: v * factor for j, v in self._q.items()}
        self.offset *= factor

    def largest_objective_coefficient(self) -> float:
        """max |c_j| and |q_j| of the objective so far (0 when it is empty)."""
        return max([abs(v) for v in self._c.values()] + [abs(v) for v in self._q.values()], default=0.0)

    def add_objective_cutoff(self, upper: float, group: str = "cost:cutoff") -> None:
        """Row objective <= upper (linear part only; valid whenever the linear part underestimates the cost)."""
        self.add_le(Affine(dict(self._c), self.offset), upper, group)

    # bounds ----------------------------------------------------------------
    def bounds_of(self, expr: Affine) -> tuple[float, float]:
        """Interval of an affine expression over the current column bounds."""
        return affine_interval(expr, self._lb, self._ub)

    def hinted_bounds(self, name: str, expr: Affine) -> tuple[float, float]:
        """Interval of expr, intersected with an externally proven hint for `name` (e.g. from LP tightening)."""
        lo, hi = self.bounds_of(expr)
        if name in self.bound_hints:
            hlo, hhi = self.bound_hints[name]
            lo, hi = max(lo, hlo), min(hi, hhi)
            if lo > hi:  # hints and intervals disagree only by round-off: keep the interval's midpoint
                lo = hi = 0.5 * (lo + hi)
        return lo, hi

    def build(self) -> MIPModel:
        n = self.n_cols
        indptr = [0]
        indices: list[int] = []
        data: list[float] = []
        for terms in self._rows:
            indices.extend(terms.keys())
            data.extend(terms.values())
            indptr.append(len(indices))
        A = sp.csr_matrix((np.asarray(data, float), np.asarray(indices, np.int64), np.asarray(indptr, np.int64)),
                          shape=(len(self._rows), n))
        A.sum_duplicates()
        c = np.zeros(n)
        for j, v in self._c.items():
            c[j] = v
        q = None
        if self._q:
            q = np.zeros(n)
            for j, v in self._q.items():
                q[j] = v
        return MIPModel(tuple(self._names), np.asarray(self._lb, float), np.asarray(self._ub, float),
                        np.asarray(self._int, bool), A, np.asarray(self._row_lo, float),
                        np.asarray(self._row_hi, float), tuple(self._groups), c, q, float(self.offset))
