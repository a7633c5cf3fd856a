"""The encoders of the scikit-learn families, registered when this module is imported: by the encoder registry
at its first lookup after scikit-learn itself was imported (encode/classifier_registry.py, _ON_IMPORT)."""

from __future__ import annotations

from sklearn.ensemble import (ExtraTreesClassifier, GradientBoostingClassifier, HistGradientBoostingClassifier,
                              RandomForestClassifier)
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC
from sklearn.tree import DecisionTreeClassifier

from milp_recourse.encode import linear
from milp_recourse.encode import relu_networks as mlp
from milp_recourse.encode import scalers as pipeline
from milp_recourse.encode import tree_ensembles as ensembles
from milp_recourse.encode.classifier_registry import register_encoder


def register_sklearn() -> None:
    """Register the scikit-learn families' encoders (and, through register_encoder, their model families)."""
    register_encoder(LogisticRegression, linear.encode_linear, "logit")
    register_encoder(LinearSVC, linear.encode_linear, "decision")
    register_encoder(MLPClassifier, mlp.encode_mlp, "logit", bounded_below=True)
    register_encoder(DecisionTreeClassifier, ensembles.encode_trees, "probability", priced=True)
    register_encoder(RandomForestClassifier, ensembles.encode_trees, "probability", priced=True)
    register_encoder(ExtraTreesClassifier, ensembles.encode_trees, "probability", priced=True)
    register_encoder(GradientBoostingClassifier, ensembles.encode_trees, "logit", priced=True)
    register_encoder(HistGradientBoostingClassifier, ensembles.encode_trees, "logit", priced=True)
    register_encoder(Pipeline, pipeline.encode_pipeline, pipeline.pipeline_kind, bounded_below=True)


register_sklearn()
