"""The encoders of the built-in classifier families, registered with encode/classifier_registry.py (kept apart
from it: composite encoders such as the scaler pipelines call back into the registry, which imports none of them)."""

from __future__ import annotations

from milp_recourse.encode import categorical_codes, linear
from milp_recourse.encode import relu_networks as mlp
from milp_recourse.encode import scalers as pipeline
from milp_recourse.encode import tree_ensembles as ensembles
from milp_recourse.encode.classifier_registry import register_encoder


def register_builtin() -> None:
    """Register the encoders of the built-in families."""
    from sklearn.ensemble import (ExtraTreesClassifier, GradientBoostingClassifier, HistGradientBoostingClassifier,
                                  RandomForestClassifier)
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.svm import LinearSVC
    from sklearn.tree import DecisionTreeClassifier

    from milp_recourse.models.categorical_input import LeveledModel, leveled_kind
    from milp_recourse.models.classifiers import ReLUNetwork

    register_encoder(LogisticRegression, linear.encode_linear, "logit")
    register_encoder(LinearSVC, linear.encode_linear, "decision")
    register_encoder(MLPClassifier, mlp.encode_mlp, "logit", bounded_below=True)
    register_encoder(ReLUNetwork, mlp.encode_relu_network, "logit", bounded_below=True)
    register_encoder(DecisionTreeClassifier, ensembles.encode_trees, "probability")
    register_encoder(RandomForestClassifier, ensembles.encode_trees, "probability")
    register_encoder(ExtraTreesClassifier, ensembles.encode_trees, "probability")
    register_encoder(GradientBoostingClassifier, ensembles.encode_trees, "logit")
    register_encoder(HistGradientBoostingClassifier, ensembles.encode_trees, "logit")
    register_encoder(Pipeline, pipeline.encode_pipeline, pipeline.pipeline_kind, bounded_below=True)
    register_encoder(LeveledModel, categorical_codes.encode_leveled, leveled_kind, bounded_below=True)


register_builtin()
