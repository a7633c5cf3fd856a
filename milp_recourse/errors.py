"""Exceptions for misuse. Results (OPTIMAL, NO_RECOURSE, ...) are statuses, never exceptions.

Each class also inherits the matching builtin so callers can catch ``ValueError`` etc.
"""

from __future__ import annotations


class RecourseError(Exception):
    """Base class of every error raised by milp_recourse."""


class SpecError(RecourseError, ValueError):
    """An SCM spec file or equation is malformed, cyclic or not invertible in its noise."""


class InputError(RecourseError, ValueError):
    """An individual, constraint, preference or option has a bad value."""


class ClassifierError(RecourseError, ValueError):
    """A classifier is unfitted, unsupported, or does not match the SCM's features."""


class UnsupportedError(RecourseError, NotImplementedError):
    """A construct is valid but cannot be encoded exactly (e.g. a product of two changing variables)."""


class BackendUnavailableError(RecourseError, ImportError):
    """A solver backend's library is not installed; the message names the extra to install."""


class BackendError(RecourseError, RuntimeError):
    """A solver backend failed on a model (the solver's own message is included)."""


def describe(value: object) -> str:
    """Short repr used in error messages."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def parse_problem(exc: Exception) -> str:
    """A YAML / JSON parser's error on one line: 'line L, column C: problem (context)'. PyYAML's own text spans
    several lines with a caret drawing under a copy of the line."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None)
    if problem is None:
        return " ".join(str(exc).split())
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    context = getattr(exc, "context", None)
    return f"{where}{problem}" + (f" ({context})" if context else "")
