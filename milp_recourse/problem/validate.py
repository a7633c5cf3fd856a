"""Declarative field validation for the problem dataclasses, in the scikit-learn idiom.

Each dataclass declares one rule per field (`Number(low=0, closed="neither")`, `Flag()`, `Names()`,
`MapOf(...)`); `check_fields` runs them once in `__post_init__`, stores the normalised value (numpy scalars
become Python numbers, sequences tuples, mappings fresh dicts) and raises InputError naming the field, the
value and what was expected: "The 'time_limit' option must be a float > 0. Got True."
Numbers: any `numbers.Real` / `numbers.Integral` (so np.float32, np.int64) but never a bool; finite only.
Sequences: never a string (`actionable="IS"` is refused, not read as ('I', 'S')).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from milp_recourse.errors import InputError


def show(value: Any) -> str:
    """The value as it appears in messages: numpy scalars as the Python number they hold."""
    if isinstance(value, np.generic):
        value = value.item()
    return repr(value)


def _is_bool(value: Any) -> bool:
    return isinstance(value, (bool, np.bool_))


def is_real(value: Any) -> bool:
    """A real number that is not a bool (numpy scalars included)."""
    return isinstance(value, numbers.Real) and not _is_bool(value)


def is_integer(value: Any) -> bool:
    """An integer that is not a bool (numpy integers included)."""
    return isinstance(value, numbers.Integral) and not _is_bool(value)


class Rule(Protocol):
    """One field's rule: `check` returns the normalised value or raises InputError; `describe` says what it wants."""

    def check(self, value: Any, label: str) -> Any: ...

    def describe(self) -> str: ...


def _fail(label: str, rule: Rule, value: Any) -> InputError:
    return InputError(f"{label} must be {rule.describe()}. Got {show(value)}.")


def _fmt(v: float) -> str:
    return f"{v:g}"


@dataclass(frozen=True)
class Number:
    """A finite real (or integer) in an interval; `closed` is 'both', 'left', 'right' or 'neither'."""

    low: float | None = None
    high: float | None = None
    closed: str = "both"
    integer: bool = False
    noun: str = ""          # default "a float" / "an integer"
    optional: bool = False  # None allowed (kept as None; say so in `noun` where it matters)

    def describe(self) -> str:
        noun = self.noun or ("an integer" if self.integer else "a float")
        left, right = self.closed in ("both", "left"), self.closed in ("both", "right")
        if self.low is not None and self.high is not None:
            text = f"{noun} in {'[' if left else '('}{_fmt(self.low)}, {_fmt(self.high)}{']' if right else ')'}"
        elif self.low is not None:
            text = f"{noun} {'>=' if left else '>'} {_fmt(self.low)}"
        elif self.high is not None:
            text = f"{noun} {'<=' if right else '<'} {_fmt(self.high)}"
        else:
            text = noun
        return text

    def check(self, value: Any, label: str) -> Any:
        if value is None and self.optional:
            return None
        if not (is_integer(value) if self.integer else is_real(value)):
            raise _fail(label, self, value)
        try:
            v = int(value) if self.integer else float(value)
            finite = math.isfinite(v)
        except OverflowError:   # an integer beyond any float (10**400)
            raise InputError(f"{label} must be {self.describe()}. Got an integer too large for a float "
                             f"({str(value)[:12]}... with {len(str(abs(int(value))))} digits).") from None
        if not finite:
            raise _fail(label, self, value)
        left, right = self.closed in ("both", "left"), self.closed in ("both", "right")
        if self.low is not None and (v < self.low or (v == self.low and not left)):
            raise _fail(label, self, value)
        if self.high is not None and (v > self.high or (v == self.high and not right)):
            raise _fail(label, self, value)
        return v


@dataclass(frozen=True)
class OneOf:
    """One of a fixed set of values (strings, or integers: bools are refused)."""

    options: tuple[Any, ...]
    noun: str = ""      # default "one of A, B, C"

    def describe(self) -> str:
        return self.noun or "one of " + ", ".join(str(o) for o in self.options)

    def check(self, value: Any, label: str) -> Any:
        if _is_bool(value) or isinstance(value, float):
            raise _fail(label, self, value)
        if isinstance(value, np.generic):
            value = value.item()
        try:
            ok = value in self.options
        except TypeError:   # unhashable / incomparable values
            ok = False
        if not ok:
            raise _fail(label, self, value)
        return value


@dataclass(frozen=True)
class Flag:
    """True or false (a Python or numpy bool; 0 / 1 are refused, as scikit-learn does)."""

    def describe(self) -> str:
        return "true or false"

    def check(self, value: Any, label: str) -> bool:
        if not _is_bool(value):
            raise _fail(label, self, value)
        return bool(value)


@dataclass(frozen=True)
class Text:
    """A non-empty string."""

    def describe(self) -> str:
        return "a non-empty string"

    def check(self, value: Any, label: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise _fail(label, self, value)
        return str(value)


@dataclass(frozen=True)
class Anything:
    """Any value, kept as given (e.g. a class label)."""

    def describe(self) -> str:
        return "any value"

    def check(self, value: Any, label: str) -> Any:
        return value


def _sequence(value: Any) -> bool:
    """A list-like of items: a sequence or array, never a string or a mapping."""
    if isinstance(value, (str, bytes, Mapping)):
        return False
    return isinstance(value, (Sequence, np.ndarray)) or type(value).__name__ in ("Series", "Index")


@dataclass(frozen=True)
class Names:
    """A list of feature names (each a string; a single string is refused), kept as a tuple; no repeats."""

    optional: bool = False

    def describe(self) -> str:
        return "a list of feature names" + (" or None" if self.optional else "")

    def check(self, value: Any, label: str) -> tuple[str, ...] | None:
        if value is None and self.optional:
            return None
        if not _sequence(value) or not all(isinstance(v, str) for v in value):
            raise _fail(label, self, value)
        names = tuple(str(v) for v in value)
        if len(set(names)) != len(names):
            raise InputError(f"{label} {list(names)} list a feature twice.")
        return names


@dataclass(frozen=True)
class NameSets:
    """A list of non-empty sets of feature names, kept as a tuple of sorted name tuples (repeats dropped, first
    occurrence order kept): a deterministic, JSON-able form of a list of sets."""

    def describe(self) -> str:
        return "a list of non-empty lists of feature names"

    def check(self, value: Any, label: str) -> tuple[tuple[str, ...], ...]:
        if not _sequence(value):
            raise _fail(label, self, value)
        out: list[tuple[str, ...]] = []
        for item in value:
            if isinstance(item, (set, frozenset)):
                item = sorted(item, key=str)
            if not _sequence(item) or len(item) == 0 or not all(isinstance(v, str) for v in item):
                raise _fail(label, self, value)
            names = tuple(sorted(set(str(v) for v in item)))
            if names not in out:
                out.append(names)
        return tuple(out)


@dataclass(frozen=True)
class NumberList:
    """A non-empty list of finite numbers, kept as a tuple of floats."""

    def describe(self) -> str:
        return "a non-empty list of finite numbers"

    def check(self, value: Any, label: str) -> tuple[float, ...]:
        if not _sequence(value) or len(value) == 0 or not all(is_real(v) for v in np.ravel(np.asarray(value, object))):
            raise _fail(label, self, value)
        vals = np.asarray(value, dtype=float)
        if vals.ndim != 1 or not np.all(np.isfinite(vals)):
            raise _fail(label, self, value)
        return tuple(float(v) for v in vals)


@dataclass(frozen=True)
class Pair:
    """A (low, high) pair with low <= high for one feature (the label is its name); with `optional_ends` either
    end may be None. Messages: "Bounds for 'E': lower bound 2 is above upper bound 1."."""

    title: str                  # "Bounds" / "Preferred range"
    end: str = ""               # "bound" -> "lower bound" / "upper bound"
    optional_ends: bool = False

    def describe(self) -> str:
        return "a (low, high) pair of numbers" + (" (either may be None)" if self.optional_ends else "")

    def check(self, value: Any, label: str) -> tuple[float | None, float | None]:
        if not _sequence(value) or len(value) != 2:
            raise _fail(f"{self.title} for {label}", self, value)
        lower, upper = (f"{side} {self.end}".strip() for side in ("lower", "upper"))
        number = Number(optional=self.optional_ends, noun="a number or empty" if self.optional_ends else "a number")
        where = f"{self.title[0].lower()}{self.title[1:]} for {label}" if not self.end else f"for {label}"
        lo = number.check(value[0], f"The {lower} {where}" if self.end else f"The lower end of the {where}")
        hi = number.check(value[1], f"The {upper} {where}" if self.end else f"The upper end of the {where}")
        if lo is not None and hi is not None and lo > hi:
            raise InputError(f"{self.title} for {label}: {lower} {lo!r} is above {upper} {hi!r}.")
        return lo, hi


@dataclass(frozen=True)
class MapOf:
    """A mapping from feature names to values that each follow `value`; `label` is formatted with the name."""

    value: Rule
    label: str    # e.g. "The divisor for {name!r}"

    def describe(self) -> str:
        return f"a mapping from feature names to {self.value.describe()}"

    def check(self, value: Any, label: str) -> dict[str, Any]:
        if not isinstance(value, Mapping) and not type(value).__name__ == "Series":
            raise _fail(label, self, value)
        items = dict(value.items())
        bad = [k for k in items if not isinstance(k, str)]
        if bad:
            raise InputError(f"{label} must be keyed by feature names (strings). Got key(s) {bad[:5]!r}.")
        return {str(k): self.value.check(v, self.label.format(name=str(k))) for k, v in items.items()}


def check_fields(obj: Any, rules: Mapping[str, tuple[Rule, str]],
                 after: Callable[[Any], None] | None = None) -> None:
    """Check every field of a frozen dataclass `obj` by its (rule, label) and store the normalised value."""
    for name, (rule, label) in rules.items():
        object.__setattr__(obj, name, rule.check(getattr(obj, name), label))
    if after is not None:
        after(obj)


__all__ = ["Anything", "Flag", "MapOf", "Names", "NameSets", "Number", "NumberList", "OneOf", "Pair", "Rule", "Text",
           "check_fields", "is_integer", "is_real", "show"]
