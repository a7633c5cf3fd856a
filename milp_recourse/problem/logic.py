"""Logic constraints a person (or the SCM spec) can state: IF-THEN rules and linkages, parsed and checked once.

IF-THEN  `if A -> a then B = b` (or `<= b`, `>= b`): when the counterfactual of the binary / integer feature A
takes the value a AND differs from A's factual (A "becomes" a), the counterfactual of B must satisfy the
comparison. When A's factual already equals a the rule never applies.
LINKAGE  `T += r * S` (or `T += S`, r = 1): cf(T) - x(T) = r * (cf(S) - x(S)). T is changed by the link alone, at no
cost, even when immutable in the spec, and never by the person; T must be a root of the SCM (its equation uses no
other variable) so that do(T := x_T + r * delta_S) is exact; T's descendants respond through the SCM as usual.
Names may be backtick-quoted (`co-applicant`). The MILP rows are encode/logic_rows.py; this module holds the
numpy truth (`linked_counterfactuals`, `violations`) that the re-check and the incumbent use.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np

from milp_recourse.errors import InputError, RecourseError, SpecError, describe

OPS = ("==", "<=", ">=")
TOL = 1e-6   # relative tolerance of the re-check (the MILP's rows hold to its feasibility tolerance)
IF_FORM = "if A -> a then B = b (or <= b, >= b)"
LINK_FORM = "T += r * S (or T += S)"

_NAME = r"(`[^`]+`|[A-Za-z_][A-Za-z0-9_.]*)"
_NUM = r"([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)"
_IF_RE = re.compile(rf"^\s*if\s+{_NAME}\s*->\s*{_NUM}\s+then\s+{_NAME}\s*(==|=|<=|>=)\s*{_NUM}\s*$", re.IGNORECASE)
_LINK_RE = re.compile(rf"^\s*{_NAME}\s*\+=\s*(?:{_NUM}\s*\*\s*)?{_NAME}\s*$")


def _quote(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", name) else f"`{name}`"


@dataclass(frozen=True)
class IfThen:
    """If the counterfactual of `feature` becomes `value` (differs from the factual), then cf(`target`) `op` `bound`."""

    feature: str
    value: float
    target: str
    op: str
    bound: float

    def __str__(self) -> str:
        return (f"if {_quote(self.feature)} -> {self.value:g} then {_quote(self.target)} "
                f"{'=' if self.op == '==' else self.op} {self.bound:g}")

    def holds(self, x_a: "np.ndarray | float", cf_a: "np.ndarray | float", cf_b: "np.ndarray | float") -> np.ndarray:
        """Whether the rule holds for factual A value(s) x_a and counterfactual values cf_a, cf_b (vectorised)."""
        x_a, cf_a, cf_b = (np.asarray(v, float) for v in (x_a, cf_a, cf_b))
        active = (np.abs(cf_a - self.value) <= TOL) & (np.abs(x_a - self.value) > TOL)
        tol = TOL * max(1.0, abs(self.bound))
        ok = {"==": np.abs(cf_b - self.bound) <= tol, "<=": cf_b <= self.bound + tol,
              ">=": cf_b >= self.bound - tol}[self.op]
        return np.asarray(~active | ok)


@dataclass(frozen=True)
class Linkage:
    """cf(`target`) - x(`target`) = `ratio` * (cf(`source`) - x(`source`))."""

    target: str
    source: str
    ratio: float

    def __str__(self) -> str:
        return f"{_quote(self.target)} += {self.ratio:g} * {_quote(self.source)}"


Constraint = IfThen | Linkage


def _unquote(name: str) -> str:
    return name[1:-1] if name.startswith("`") else name


def parse_constraint(text: Any, error: type[RecourseError] = InputError) -> Constraint:
    """One constraint from its text form (an IfThen / Linkage passes through); `error` is the class raised."""
    if isinstance(text, (IfThen, Linkage)):
        return text
    if not isinstance(text, str):
        raise error(f"A logic constraint must be a string like '{IF_FORM}' or '{LINK_FORM}'; got {describe(text)}.")
    m = _IF_RE.match(text)
    if m:
        a, val, b, op, bound = m.groups()
        return IfThen(_unquote(a), float(val), _unquote(b), "==" if op == "=" else op, float(bound))
    m = _LINK_RE.match(text)
    if m:
        target, ratio, source = m.groups()
        r = 1.0 if ratio is None else float(ratio)
        if not math.isfinite(r) or r == 0.0:
            raise error(f"The linkage {text!r} needs a finite, non-zero ratio r; got {ratio}.")
        return Linkage(_unquote(target), _unquote(source), r)
    kind = "an IF-THEN rule" if text.strip().lower().startswith("if") else (
        "a linkage" if "+=" in text else "a logic constraint")
    expected = IF_FORM if kind == "an IF-THEN rule" else LINK_FORM if kind == "a linkage" else \
        f"'{IF_FORM}' or '{LINK_FORM}'"
    raise error(f"Cannot read {kind} from {text!r}; expected {expected} (names may be `quoted`, a, b and r are "
                "numbers).")


def parse_constraints(items: Iterable[Any] | None, error: type[RecourseError] = InputError) -> tuple[Constraint, ...]:
    """Every constraint of `items` (texts or parsed), in order; a single string is one constraint."""
    if items is None:
        return ()
    if isinstance(items, (str, IfThen, Linkage)):
        items = [items]
    try:
        seq = list(items)
    except TypeError:
        raise error(f"Logic constraints must be a list of strings; got {describe(items)}.") from None
    return tuple(parse_constraint(t, error) for t in seq)


def links(constraints: Iterable[Constraint]) -> tuple[Linkage, ...]:
    return tuple(c for c in constraints if isinstance(c, Linkage))


def rules(constraints: Iterable[Constraint]) -> tuple[IfThen, ...]:
    return tuple(c for c in constraints if isinstance(c, IfThen))


def link_targets(constraints: Iterable[Constraint]) -> tuple[str, ...]:
    return tuple(c.target for c in links(constraints))


def check_logic(scm: Any, constraints: Sequence[Constraint], error: type[RecourseError] = InputError) -> None:
    """Validate parsed constraints against the SCM: known names, an IF feature binary / integer with a in its
    domain, a link target a root linked once and not an IF feature, and no cycle through SCM edges and links."""
    names = set(scm.names)
    for c in constraints:
        used = (c.feature, c.target) if isinstance(c, IfThen) else (c.target, c.source)
        unknown = [n for n in used if n not in names]
        if unknown:
            raise error(f"The constraint '{c}' names unknown feature(s) {', '.join(map(repr, unknown))}; the SCM's "
                        f"features are {', '.join(scm.names)}.")
        if isinstance(c, IfThen):
            var = scm.variable(c.feature)
            if var.kind not in ("binary", "integer"):
                raise error(f"The constraint '{c}' conditions on {c.feature!r}, which is {var.kind}; the IF feature "
                            "must be binary or integer (its counterfactual 'becomes' a value exactly).")
            if not (var.lower <= c.value <= var.upper) or not float(c.value).is_integer():
                raise error(f"The constraint '{c}' needs {c.feature!r} -> a with a an integer in its domain "
                            f"[{var.lower:g}, {var.upper:g}]; got {c.value:g}.")
            tv = scm.variable(c.target)
            if c.op == "==" and not (tv.lower <= c.bound <= tv.upper):
                raise error(f"The constraint '{c}' asks {c.target!r} = {c.bound:g}, outside its domain "
                            f"[{tv.lower:g}, {tv.upper:g}]; it could never hold.")
        else:
            if c.target == c.source:
                raise error(f"The linkage '{c}' links {c.target!r} to itself; expected {LINK_FORM} with T != S.")
            coded = [n for n in (c.target, c.source) if getattr(scm.variable(n), "levels", ())]
            if coded:
                raise error(f"The linkage '{c}' names the {scm.variable(coded[0]).kind} variable {coded[0]!r}; its "
                            "codes are labels, not amounts: a linkage takes continuous, integer or binary variables.")
            parents = scm.parents(c.target)
            if parents:
                raise error(f"The linkage '{c}' targets {c.target!r}, whose equation depends on "
                            f"{', '.join(parents)}; a linked target must be a root of the SCM (no parents) so that "
                            "do(T := x_T + r * delta) is exact.")
    targets = link_targets(constraints)
    twice = sorted({t for t in targets if targets.count(t) > 1})
    if twice:
        raise error(f"Feature(s) {', '.join(map(repr, twice))} are the target of more than one linkage; a target "
                    "takes one link.")
    cond = sorted({c.feature for c in rules(constraints)} & set(targets))
    if cond:
        raise error(f"Feature(s) {', '.join(map(repr, cond))} are both a linkage target and an IF feature; the IF "
                    "feature must be set by the person or respond through the SCM.")
    graph = nx.DiGraph(scm.graph)
    graph.add_edges_from((c.source, c.target) for c in links(constraints))
    if not nx.is_directed_acyclic_graph(graph):
        cycle = [a for a, _ in nx.find_cycle(graph)]
        raise error(f"The linkages make a cycle with the SCM's equations: {' -> '.join(cycle + cycle[:1])}; a "
                    "linked target must not (through the SCM or other links) drive its own source.")


def problem_constraints(scm: Any, person: Sequence[Any]) -> tuple[Constraint, ...]:
    """The SCM spec's constraints (SpecError when bad) followed by the person's (InputError), validated together."""
    spec = parse_constraints(getattr(scm, "constraints", ()) or (), SpecError)
    check_logic(scm, spec, SpecError)
    own = parse_constraints(person, InputError)
    both = spec + own
    check_logic(scm, both, InputError)
    return both


def order(scm: Any, constraints: Sequence[Constraint]) -> tuple[str, ...]:
    """The variables in an order topological for the SCM's edges and the links (the SCM's order without links)."""
    lk = links(constraints)
    if not lk:
        return tuple(scm.names)
    graph = nx.DiGraph(scm.graph)
    graph.add_edges_from((c.source, c.target) for c in lk)
    pos = {n: i for i, n in enumerate(scm.names)}
    return tuple(nx.lexicographical_topological_sort(graph, key=pos.__getitem__))


def linked_counterfactuals(problem: Any, names: Sequence[str], mask: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """(n, d) counterfactuals of the person under n actions (rows of mask / theta over `names`) with every
    linkage applied: each target intervened at x_T + r * (cf(S) - x(S)), re-propagated until the links settle
    (acyclic: at most one pass per link)."""
    scm, x = problem.scm, np.asarray(problem.x, float)
    from milp_recourse.scm.simulate import counterfactuals  # (lazy: the CLI parser imports this module)

    lk = links(getattr(problem, "logic", ()))
    mask, theta = np.asarray(mask, bool), np.asarray(theta, float)
    X = counterfactuals(scm, x, names, mask, theta, noise=problem.noise)
    if not lk:
        return X
    n = mask.shape[0]
    feats = list(names) + [c.target for c in lk]
    full_mask = np.hstack([mask, np.ones((n, len(lk)), bool)])
    for _ in range(len(lk) + 1):
        values = np.column_stack([x[scm.index(c.target)] + c.ratio * (X[:, scm.index(c.source)]
                                                                     - x[scm.index(c.source)]) for c in lk])
        new = counterfactuals(scm, x, feats, full_mask, np.hstack([theta, values]), noise=problem.noise)
        settled = np.array_equal(new, X)
        X = new
        if settled:
            break
    return X


def counterfactual(problem: Any, action: Mapping[str, float]) -> np.ndarray:
    """One action's counterfactual with the links applied (the re-check's truth)."""
    names = list(action)
    row = np.array([[float(action[k]) for k in names]]) if names else np.zeros((1, 0))
    X: np.ndarray = linked_counterfactuals(problem, names, np.ones((1, len(names)), bool), row)
    return np.asarray(X[0], float)


def satisfied(problem: Any, X: np.ndarray) -> np.ndarray:
    """Which counterfactual rows (n, d) satisfy every IF-THEN rule and linkage (vectorised)."""
    X = np.atleast_2d(np.asarray(X, float))
    scm, x = problem.scm, np.asarray(problem.x, float)
    ok = np.ones(X.shape[0], bool)
    for c in getattr(problem, "logic", ()):
        if isinstance(c, IfThen):
            ok &= c.holds(x[scm.index(c.feature)], X[:, scm.index(c.feature)], X[:, scm.index(c.target)])
        else:
            t, s = scm.index(c.target), scm.index(c.source)
            gap = (X[:, t] - x[t]) - c.ratio * (X[:, s] - x[s])
            ok &= np.abs(gap) <= TOL * np.maximum(1.0, np.abs(X[:, t]))
    return ok


def violations(problem: Any, factual: Any, counterfactual: Any) -> list[str]:
    """Every logic constraint the counterfactual breaks, in words (factual / counterfactual: vectors in SCM order
    or mappings by name)."""
    scm = problem.scm

    def vec(v: Any) -> np.ndarray:
        return np.array([float(v[n]) for n in scm.names]) if isinstance(v, Mapping) else np.asarray(v, float)

    x, cf = vec(factual), vec(counterfactual)
    out = []
    for c in getattr(problem, "logic", ()):
        if isinstance(c, IfThen):
            xa, ca, cb = x[scm.index(c.feature)], cf[scm.index(c.feature)], cf[scm.index(c.target)]
            if not c.holds(xa, ca, cb):
                out.append(f"the rule '{c}' is broken: {c.feature} became {ca:g} (from {xa:g}) but {c.target} = "
                           f"{cb:g}")
        else:
            t, s = scm.index(c.target), scm.index(c.source)
            want = x[t] + c.ratio * (cf[s] - x[s])
            if abs(cf[t] - want) > TOL * max(1.0, abs(cf[t])):
                out.append(f"the linkage '{c}' is broken: {c.target} = {cf[t]:g}, the link gives {want:g}")
            var = scm.variables[t]
            slack = TOL * max(1.0, abs(cf[t]))
            if not float(var.lower) - slack <= cf[t] <= float(var.upper) + slack:
                out.append(f"the linkage '{c}' takes {c.target} to {cf[t]:g}, outside its domain "
                           f"[{float(var.lower):g}, {float(var.upper):g}]")
    return out


def without_link_targets(rules: tuple[Any, ...], constraints: Sequence[Constraint],
                         actionable: Sequence[str] | None) -> tuple[Any, ...]:
    """The person's feature rules minus the linkage targets (a target moves with its link only); a target the
    person named actionable is refused."""
    targets = set(link_targets(constraints))
    named = sorted(targets & set(actionable or ()))
    if named:
        lk = [str(c) for c in links(constraints) if c.target in named]
        raise InputError(f"Feature(s) {', '.join(map(repr, named))} are set by the linkage(s) {'; '.join(lk)} and "
                         "cannot also be actionable; drop them from the actionable features.")
    return tuple(r for r in rules if r.name not in targets)


__all__ = ["IfThen", "Linkage", "Constraint", "parse_constraint", "parse_constraints", "check_logic",
           "problem_constraints", "order", "links", "rules", "link_targets", "linked_counterfactuals",
           "counterfactual", "satisfied", "violations", "without_link_targets", "IF_FORM", "LINK_FORM"]
