"""The built-in classifier families of the models layer's registry (kept apart from registry.py, which the family
modules import: the registry imports none of them)."""

from __future__ import annotations

from milp_recourse.models.categorical_input import register_family
from milp_recourse.models.registry import pipeline_kind, register_model


def register_builtin() -> None:
    """Register the scikit-learn families and the ReLU network (the optional libraries load on first sight)."""
    from sklearn.ensemble import (ExtraTreesClassifier, GradientBoostingClassifier, HistGradientBoostingClassifier,
                                  RandomForestClassifier)
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.svm import LinearSVC
    from sklearn.tree import DecisionTreeClassifier

    from milp_recourse.models import hist_gradient_boosting  # noqa: F401  (registers its tree adapter and hooks)
    from milp_recourse.models.relu_network import ReLUNetwork

    for cls, kind in ((LogisticRegression, "logit"), (LinearSVC, "decision"), (MLPClassifier, "logit"),
                      (ReLUNetwork, "logit"), (DecisionTreeClassifier, "probability"),
                      (RandomForestClassifier, "probability"), (ExtraTreesClassifier, "probability"),
                      (GradientBoostingClassifier, "logit"), (HistGradientBoostingClassifier, "logit"),
                      (Pipeline, pipeline_kind)):
        register_model(cls, kind)
    register_family()   # LeveledModel: categorical columns read as level strings (models/categorical_input.py)


register_builtin()
