"""A causal graph as users write it: a text file with one edge per line, ``parent -> child``.

``#`` starts a comment, blank lines are ignored, names are taken as written (spaces inside a name are
kept; surrounding spaces are not). Checked against the data's columns: unknown names, duplicate edges,
self-loops and cycles are refused with the offending line or cycle named.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import networkx as nx

from milp_recourse.errors import InputError

ARROW = "->"


@dataclass(frozen=True)
class Dag:
    """Validated edges (parent, child) over known columns, in file order."""

    edges: tuple[tuple[str, str], ...]

    def parents(self, child: str) -> tuple[str, ...]:
        """Parents of ``child`` in file order."""
        return tuple(p for p, c in self.edges if c == child)


def parse_dag(text: str, source: str = "the DAG") -> tuple[tuple[str, str], ...]:
    """Edges of a DAG text (syntax, duplicates and self-loops checked; names not yet)."""
    edges: list[tuple[str, str]] = []
    seen: dict[tuple[str, str], int] = {}
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.count(ARROW) != 1:
            raise InputError(f"{source}, line {lineno}: expected one edge 'parent -> child'; got {raw.strip()!r}.")
        parent, child = (part.strip() for part in line.split(ARROW))
        if not parent or not child:
            raise InputError(f"{source}, line {lineno}: an edge needs a name on both sides of '->'; "
                             f"got {raw.strip()!r}.")
        if parent == child:
            raise InputError(f"{source}, line {lineno}: {parent!r} -> {child!r} is a self-loop.")
        if (parent, child) in seen:
            raise InputError(f"{source}, line {lineno}: duplicate edge {parent!r} -> {child!r} "
                             f"(already on line {seen[parent, child]}).")
        seen[parent, child] = lineno
        edges.append((parent, child))
    return tuple(edges)


def check_dag(edges: Iterable[tuple[str, str]], columns: Iterable[str], source: str = "the DAG") -> Dag:
    """A Dag whose names are all columns and which has no directed cycle (the cycle is named if it has one)."""
    edges, columns = tuple(edges), list(columns)
    known = set(columns)
    unknown = sorted({n for e in edges for n in e if n not in known})
    if unknown:
        raise InputError(f"{source} names column(s) {unknown} that are not in the data; columns: {columns}.")
    graph = nx.DiGraph(edges)
    try:
        cycle = [a for a, _ in nx.find_cycle(graph)]
    except nx.NetworkXNoCycle:
        return Dag(edges)
    raise InputError(f"{source} has a cycle: {' -> '.join(cycle + cycle[:1])}; a causal graph must be acyclic.")


def read_dag(path: str | Path, columns: Iterable[str]) -> Dag:
    """Read and check a DAG file against the data's columns."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"Cannot read the DAG file {str(path)!r}: {exc.strerror}.") from None
    source = f"DAG file {str(path)!r}"
    return check_dag(parse_dag(text, source), columns, source)


__all__ = ["Dag", "parse_dag", "check_dag", "read_dag"]
