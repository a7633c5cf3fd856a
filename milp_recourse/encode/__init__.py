"""Encoders: everything that turns a model (SCM, classifier, cost) into IR rows."""

from milp_recourse.encode import builtin_encoders  # noqa: F401  (registers the built-in encoders)
