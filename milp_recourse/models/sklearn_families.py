"""The scikit-learn classifier families of the models layer's registry, registered when this module is imported:
by the registry at its first lookup after scikit-learn itself was imported (models/registry.py, _ON_IMPORT)."""

from __future__ import annotations

from sklearn.ensemble import (ExtraTreesClassifier, GradientBoostingClassifier, HistGradientBoostingClassifier,
                              RandomForestClassifier)
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC
from sklearn.tree import DecisionTreeClassifier

from milp_recourse.models.registry import pipeline_kind, register_model


def register_sklearn() -> None:
    """Register the scikit-learn families with their score kinds (HistGradientBoosting also gets its hooks)."""
    from milp_recourse.models import hist_gradient_boosting  # noqa: F401  (registers its tree adapter and hooks)
    from milp_recourse.models import sklearn_trees  # noqa: F401  (registers the other tree adapters)

    for cls, kind in ((LogisticRegression, "logit"), (LinearSVC, "decision"), (MLPClassifier, "logit"),
                      (DecisionTreeClassifier, "probability"), (RandomForestClassifier, "probability"),
                      (ExtraTreesClassifier, "probability"), (GradientBoostingClassifier, "logit"),
                      (HistGradientBoostingClassifier, "logit"), (Pipeline, pipeline_kind)):
        register_model(cls, kind)


register_sklearn()
