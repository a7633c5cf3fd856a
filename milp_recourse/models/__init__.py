"""Classifier adapters: loading, validation, the model's own reference scores, tree arrays and training recipes.

Lower layers only (scm, errors); the encoders of `encode/` and the bounds of `bounds/` read what this layer exposes.
"""

from milp_recourse.models.classifiers import (classifier_features, favourable, load_classifier, n_features,
                                              reference_score, score_threshold, target_index, validate_classifier)
from milp_recourse.models.registry import SCORE_KINDS, register_model, score_kind, supported_types
from milp_recourse.models.relu_network import ReLUNetwork
from milp_recourse.models import builtin_families  # noqa: F401  (registers the built-in families)

__all__ = ["ReLUNetwork", "load_classifier", "validate_classifier", "classifier_features", "n_features",
           "target_index", "reference_score", "favourable", "score_threshold", "score_kind", "supported_types",
           "register_model", "SCORE_KINDS"]
