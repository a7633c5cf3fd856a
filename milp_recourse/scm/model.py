"""The structural causal model: named variables, a validated DAG of equations, and numpy semantics.

This is the reference truth: sampling, abduction (closed-form inversion of each equation in
its own noise), hard interventions, counterfactuals and the log-density of observations.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

import networkx as nx
import numpy as np

from milp_recourse.errors import InputError, SpecError, describe
from milp_recourse.scm.expr import (
    Expr,
    Name,
    derivative,
    evaluate,
    parse,
    to_text,
)
from milp_recourse.scm.expr import names as expr_names
from milp_recourse.scm.nodes import Compare, children
from milp_recourse.scm.fold import Program, compile_expr, quiet, run
from milp_recourse.scm.invert import invert
from milp_recourse.scm.noise import Noise
from milp_recourse.scm.threshold import threshold_parts
from milp_recourse.scm.variable import ACTIONABILITY, KINDS, Variable

if TYPE_CHECKING:
    import pandas as pd


def _compares(e: Expr) -> bool:
    """Whether the expression holds a comparison."""
    return isinstance(e, Compare) or any(_compares(c) for c in children(e))


def check_names(scm_name: str, variables: Sequence[Variable]) -> None:
    """SpecError unless variable and noise names are each used once and apart from one another (scm/spec.py runs it
    before ordering the equations: a noise named like a variable made its equation read that variable, and the spec
    was called cyclic)."""
    vnames = [v.name for v in variables]
    nnames = [v.noise_name for v in variables]
    for what, seq in (("variable", vnames), ("noise", nnames)):
        dup = sorted({n for n in seq if seq.count(n) > 1})
        if dup:
            raise SpecError(f"SCM {scm_name!r} defines {what} name(s) {dup} more than once.")
    clash = [v for v in variables if v.noise_name in vnames]
    if clash:
        raise SpecError(f"Variable {clash[0].name!r}: its noise is named {clash[0].noise_name!r}, which is also a "
                        f"variable's name; expected noise names apart from the variables' (e.g. U_{clash[0].name}).")


@dataclass(frozen=True)
class SCM:
    """A validated structural causal model with variables in topological order."""

    name: str
    variables: tuple[Variable, ...]
    equations: Mapping[str, Expr]
    noises: Mapping[str, Noise]
    label: Expr | None = None
    description: str = ""
    constraints: tuple[str, ...] = ()   # IF-THEN / linkage texts everyone's problem gets (problem/logic.py checks them)
    _index: Mapping[str, int] = field(init=False, repr=False, compare=False)
    _graph: nx.DiGraph = field(init=False, repr=False, compare=False)
    _inverse: Mapping[str, Expr] = field(init=False, repr=False, compare=False)
    _dfdu: Mapping[str, Expr] = field(init=False, repr=False, compare=False)
    _programs: Mapping[str, Program] = field(init=False, repr=False, compare=False)
    _inverse_programs: Mapping[str, Program] = field(init=False, repr=False, compare=False)
    has_comparisons: bool = field(init=False, repr=False, compare=False)   # an equation holds `a > b`, `a <= b`, ...

    def __post_init__(self) -> None:
        variables = tuple(self.variables)
        if not variables or not all(isinstance(v, Variable) for v in variables):
            raise SpecError(f"SCM {self.name!r} needs a non-empty sequence of Variable objects.")
        check_names(self.name, variables)
        vnames = [v.name for v in variables]
        nnames = [v.noise_name for v in variables]
        if set(self.equations) != set(vnames):
            raise SpecError(f"SCM {self.name!r}: equations are given for {sorted(self.equations)}; "
                            f"expected exactly the variables {vnames}.")
        if set(self.noises) != set(nnames):
            raise SpecError(f"SCM {self.name!r}: noise distributions are given for {sorted(self.noises)}; "
                            f"expected exactly the noises {nnames}.")
        equations = {n: parse(e) if isinstance(e, str) else e for n, e in self.equations.items()}
        graph = nx.DiGraph()
        graph.add_nodes_from(vnames)
        for v in variables:
            known = set(vnames) | {v.noise_name}
            for used in sorted(expr_names(equations[v.name])):
                if used in nnames and used != v.noise_name:
                    raise SpecError(f"The equation for {v.name!r} uses {used!r}, the noise of another variable; "
                                    f"each equation may use only its own noise {v.noise_name!r}.")
                if used not in known:
                    raise SpecError(f"The equation for {v.name!r} uses unknown name {used!r}; known: "
                                    f"{', '.join(vnames)}, {v.noise_name}.")
                if used in vnames:
                    graph.add_edge(used, v.name)
            if threshold_parts(equations[v.name], v.noise_name) is not None and (
                    v.kind != "binary" or self.noises[v.noise_name].dist != "logistic"):
                raise SpecError(f"The threshold equation of {v.name!r} ((eta + {v.noise_name} >= 0)) needs a binary "
                                f"variable with standard logistic noise ({{dist: logistic}}); got a {v.kind} "
                                f"variable with {self.noises[v.noise_name].dist} noise.")
            if v.levels and equations[v.name] != Name(v.noise_name):
                raise SpecError(f"The {v.kind} variable {v.name!r} must be its own noise (equation "
                                f"{v.noise_name!r}, a root of the graph); got {to_text(equations[v.name])!r}. "
                                "Categorical / ordinal nodes with parents are not supported.")
        if not nx.is_directed_acyclic_graph(graph):
            cycle = [a for a, _ in nx.find_cycle(graph)]
            raise SpecError(f"SCM {self.name!r} is cyclic: {' -> '.join(cycle + cycle[:1])}.")
        pos = {n: i for i, n in enumerate(vnames)}
        for a, b in graph.edges:
            if pos[a] > pos[b]:
                raise SpecError(f"SCM {self.name!r}: variables must be in topological order, but {b!r} comes "
                                f"before its parent {a!r}.")
        if self.label is not None:
            label = parse(self.label) if isinstance(self.label, str) else self.label
            bad = sorted(expr_names(label) - set(vnames) - set(nnames))
            if bad:
                raise SpecError(f"The label equation uses unknown name(s) {bad}; known: {', '.join(vnames + nnames)}.")
            object.__setattr__(self, "label", label)
        bounds = {v.name: v.domain for v in variables} | {n: self.noises[n].support for n in nnames}
        inverse = {v.name: invert(v.name, equations[v.name], v.noise_name, bounds) for v in variables}
        object.__setattr__(self, "variables", variables)
        object.__setattr__(self, "equations", MappingProxyType({n: equations[n] for n in vnames}))
        object.__setattr__(self, "noises", MappingProxyType({n: self.noises[n] for n in nnames}))
        object.__setattr__(self, "_index", MappingProxyType(pos))
        object.__setattr__(self, "_graph", nx.freeze(graph))
        object.__setattr__(self, "_inverse", MappingProxyType(inverse))
        object.__setattr__(self, "_programs", MappingProxyType({n: compile_expr(equations[n]) for n in vnames}))
        object.__setattr__(self, "_inverse_programs", MappingProxyType({n: compile_expr(e) for n, e in inverse.items()}))
        object.__setattr__(self, "_dfdu", MappingProxyType(
            {v.name: derivative(equations[v.name], v.noise_name) for v in variables}))
        object.__setattr__(self, "has_comparisons", any(_compares(e) for e in equations.values()))

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle by re-validating from the plain parts (mapping proxies cannot be pickled)."""
        return (SCM, (self.name, self.variables, dict(self.equations), dict(self.noises), self.label,
                      self.description, self.constraints))

    def __hash__(self) -> int:
        return hash((self.name, self.variables, tuple(self.equations.items()), tuple(self.noises.items()),
                     self.label))

    # ------------------------------------------------------------ structure
    @property
    def names(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.variables)

    @property
    def noise_names(self) -> tuple[str, ...]:
        return tuple(v.noise_name for v in self.variables)

    @property
    def dim(self) -> int:
        return len(self.variables)

    def index(self, name: str) -> int:
        if name not in self._index:
            raise InputError(f"Unknown variable {name!r}; known: {', '.join(self.names)}.")
        return self._index[name]

    def variable(self, name: str) -> Variable:
        return self.variables[self.index(name)]

    def noise_of(self, name: str) -> Noise:
        return self.noises[self.variable(name).noise_name]

    def inverse(self, name: str) -> Expr:
        """The noise of ``name`` as a closed-form expression of ``name`` and its parents."""
        return self._inverse[self.variable(name).name]

    def _sorted(self, items: Iterable[str]) -> tuple[str, ...]:
        return tuple(sorted(items, key=self._index.__getitem__))

    def parents(self, name: str) -> tuple[str, ...]:
        return self._sorted(self._graph.predecessors(self.variable(name).name))

    def children(self, name: str) -> tuple[str, ...]:
        return self._sorted(self._graph.successors(self.variable(name).name))

    def ancestors(self, name: str) -> frozenset[str]:
        return frozenset(nx.ancestors(self._graph, self.variable(name).name))

    def descendants(self, names: Iterable[str] | str) -> frozenset[str]:
        """Strict descendants of the given variables (the variables themselves excluded unless downstream)."""
        names = [names] if isinstance(names, str) else list(names)
        seen: set[str] = set()   # one traversal from all of them (a search per name was O(n^2) on big SCMs)
        stack = [self.variable(n).name for n in names]
        succ = self._graph.succ
        while stack:
            for child in succ[stack.pop()]:
                if child not in seen:
                    seen.add(child)
                    stack.append(child)
        return frozenset(seen)

    @property
    def graph(self) -> nx.DiGraph:
        return self._graph

    @property
    def sensitive(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.variables if v.sensitive)

    @property
    def actionable(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.variables if v.is_actionable)

    @property
    def domains(self) -> dict[str, tuple[float, float]]:
        return {v.name: v.domain for v in self.variables}

    @property
    def lower(self) -> np.ndarray:
        return np.array([v.lower for v in self.variables])

    @property
    def upper(self) -> np.ndarray:
        return np.array([v.upper for v in self.variables])

    # ------------------------------------------------------------ numerics
    def _matrix(self, X: Any, columns: tuple[str, ...], what: str) -> tuple[np.ndarray, bool]:
        """(n, d) float array from a DataFrame/Series/Mapping/array, and whether the input was 1-D."""
        pandas = sys.modules.get("pandas")   # (not imported here: a DataFrame means pandas is loaded already,
        #                                       and a batch worker solving from arrays starts 0.4 s sooner without it)
        if pandas is not None and isinstance(X, pandas.DataFrame):
            missing = [c for c in columns if c not in X.columns]
            if missing:
                raise InputError(f"The {what} table lacks column(s) {missing}; expected {', '.join(columns)}.")
            return X.loc[:, list(columns)].to_numpy(dtype=float), False
        if isinstance(X, Mapping) or (pandas is not None and isinstance(X, pandas.Series)):
            keys = list(X.keys())
            unknown, missing = [k for k in keys if k not in columns], [c for c in columns if c not in keys]
            if unknown or missing:
                raise InputError(f"The {what} has unknown name(s) {unknown} and lacks {missing}; "
                                 f"expected exactly {', '.join(columns)}.")
            arr = np.array([np.asarray(X[c], dtype=float) for c in columns], dtype=float)
            return (arr[None, :], True) if arr.ndim == 1 else (arr.T, False)
        try:
            arr = np.asarray(X, dtype=float)
        except (TypeError, ValueError) as exc:
            raise InputError(f"The {what} must be numeric; got {describe(X)} ({exc}).") from None
        if arr.ndim not in (1, 2) or arr.shape[-1] != len(columns):
            raise InputError(f"The {what} must have shape ({len(columns)},) or (n, {len(columns)}) with columns "
                             f"{', '.join(columns)}; got shape {arr.shape}.")
        return (arr[None, :], True) if arr.ndim == 1 else (arr, False)

    def abduct(self, X: Any) -> np.ndarray:
        """Noise values (columns in variable order) that reproduce the observations X exactly."""
        arr, one = self._matrix(X, self.names, "observation")
        if not np.all(np.isfinite(arr)):
            raise InputError("Cannot abduct noise from non-finite values (NaN or inf) in the observation.")
        env = {n: arr[:, j] for j, n in enumerate(self.names)}
        U = np.empty_like(arr)
        with quiet():   # (as fold.evaluate, once for all the equations)
            for j, n in enumerate(self.names):
                U[:, j] = np.asarray(self._inverse_programs[n](env), dtype=float)
        return U[0] if one else U

    def _check_do(self, do: Mapping[str, Any] | None, n: int) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for k, v in (do or {}).items():
            if k not in self._index:
                raise InputError(f"Cannot intervene on unknown variable {k!r}; known: {', '.join(self.names)}.")
            val = np.asarray(v, dtype=float)
            if val.ndim > 1 or (val.ndim == 1 and val.shape[0] != n) or not np.all(np.isfinite(val)):
                raise InputError(f"The intervention value for {k!r} must be a finite number or a length-{n} "
                                 f"array; got {describe(v)}.")
            out[k] = np.broadcast_to(val, (n,)).astype(float)
        return out

    def predict_from_noise(self, U: Any, do: Mapping[str, Any] | None = None) -> np.ndarray:
        """Forward simulation in topological order from noise U under the hard intervention ``do``."""
        arr, one = self._matrix(U, self.noise_names, "noise")
        do_ = self._check_do(do, arr.shape[0])
        env: dict[str, np.ndarray] = {m: arr[:, j] for j, m in enumerate(self.noise_names)}
        X = np.empty_like(arr)
        with quiet():   # (as fold.evaluate, once for all the equations)
            for j, v in enumerate(self.variables):
                value = do_[v.name] if v.name in do_ else np.asarray(self._programs[v.name](env), dtype=float)
                X[:, j] = env[v.name] = np.broadcast_to(value, (arr.shape[0],))
        return X[0] if one else X

    def equation_value(self, name: str, env: Mapping[str, float | np.ndarray]) -> np.ndarray:
        """fold.evaluate(self.equations[name], env), through the equation's compiled program (the same value)."""
        return run(self._programs[name], env)

    def counterfactual(self, x: Any, do: Mapping[str, Any]) -> np.ndarray:
        """Abduction, action do(X_k := theta_k), prediction; returns the shape of x."""
        return self.predict_from_noise(self.abduct(x), do)

    def sample(self, n: int, seed: int | None = None, return_noise: bool = False,
               return_label: bool = False) -> pd.DataFrame:
        """n observational samples (columns: names, then noise names / 'Y' when asked)."""
        import pandas as pd

        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise InputError(f"The sample size n must be an integer >= 0; got {describe(n)}.")
        rng = np.random.default_rng(seed)
        U = np.column_stack([self.noises[m].sample(rng, n) for m in self.noise_names]) if n else \
            np.empty((0, self.dim))
        df = pd.DataFrame(self.predict_from_noise(U), columns=list(self.names))
        if return_noise:
            df = pd.concat([df, pd.DataFrame(U, columns=list(self.noise_names))], axis=1)
        if return_label:
            df["Y"] = self.label_value(df[list(self.names)].to_numpy(), U)
        return df

    def label_value(self, X: Any, U: Any = None) -> np.ndarray:
        """The ground-truth label equation evaluated on X (noise abducted unless U is given)."""
        if self.label is None:
            raise InputError(f"SCM {self.name!r} has no label equation.")
        arr, one = self._matrix(X, self.names, "observation")
        noise = self.abduct(arr) if U is None else self._matrix(U, self.noise_names, "noise")[0]
        env = {n: arr[:, j] for j, n in enumerate(self.names)} | \
              {m: noise[:, j] for j, m in enumerate(self.noise_names)}
        out = np.broadcast_to(evaluate(self.label, env), (arr.shape[0],))
        return out[0] if one else out.copy()

    def log_density(self, X: Any) -> np.ndarray:
        """log p(x) = sum_j [log p_j(u_j) + log|du_j/dx_j|] (change of variables)."""
        arr, one = self._matrix(X, self.names, "observation")
        U = self.abduct(arr)
        env = {n: arr[:, j] for j, n in enumerate(self.names)} | \
              {m: U[:, j] for j, m in enumerate(self.noise_names)}
        total = np.zeros(arr.shape[0])
        impossible = np.zeros(arr.shape[0], dtype=bool)  # a noise value outside its support: density 0
        with np.errstate(divide="ignore", invalid="ignore"):
            for j, v in enumerate(self.variables):
                logpdf = np.broadcast_to(self.noises[v.noise_name].logpdf(U[:, j]), total.shape)
                impossible |= logpdf == -np.inf
                total += logpdf
                total -= np.log(np.abs(np.broadcast_to(evaluate(self._dfdu[v.name], env), total.shape)))
        total[impossible] = -np.inf  # -inf - log|0| would be NaN; zero density stays log 0 = -inf
        return total[0] if one else total

    def within_domain(self, X: Any, tol: float = 1e-9) -> np.ndarray | bool:
        """Mask of rows that are finite, inside every domain (up to tol) and integral where required."""
        arr, one = self._matrix(X, self.names, "observation")
        with np.errstate(invalid="ignore"):   # (inf - inf: those rows are refused by isfinite already)
            ok = np.isfinite(arr) & (arr >= self.lower - tol) & (arr <= self.upper + tol)
            integral = np.array([v.is_integral for v in self.variables])
            ok &= ~integral | (np.abs(arr - np.round(arr)) <= tol)
        mask = ok.all(axis=1)
        return bool(mask[0]) if one else mask

    def validate_individual(self, x: Any, tol: float = 1e-9) -> np.ndarray:
        """Check one individual and return it as a float vector in variable order (InputError if bad)."""
        arr, one = self._matrix(x, self.names, "individual")
        if not one:
            raise InputError(f"Expected one individual of length {self.dim}; got shape {arr.shape}.")
        vec = arr[0]
        for v, val in zip(self.variables, vec):
            if not math.isfinite(val):
                raise InputError(f"Feature {v.name!r} of the individual is {val}; expected a finite number.")
            if not (v.lower - tol <= val <= v.upper + tol):
                raise InputError(f"Feature {v.name!r} = {val:g} is outside its domain [{v.lower:g}, {v.upper:g}].")
            if v.is_integral and abs(val - round(val)) > tol:
                raise InputError(f"Feature {v.name!r} is {v.kind} but has the non-integral value {val:g}.")
        return vec.copy()


__all__ = ["Variable", "SCM", "KINDS", "ACTIONABILITY", "check_names"]
