"""The encoders of the built-in classifier families, registered with encode/classifier_registry.py (kept apart
from it: composite encoders such as the scaler pipelines call back into the registry, which imports none of them).
The scikit-learn families' encoders are in sklearn_encoders.py, registered once scikit-learn is imported."""

from __future__ import annotations

from milp_recourse.encode import categorical_codes
from milp_recourse.encode import relu_networks as mlp
from milp_recourse.encode.classifier_registry import register_encoder


def register_builtin() -> None:
    """Register the encoders of the ReLU network and of LeveledModel."""
    from milp_recourse.models.categorical_input import LeveledModel, leveled_kind
    from milp_recourse.models.relu_network import ReLUNetwork

    register_encoder(ReLUNetwork, mlp.encode_relu_network, "logit", bounded_below=True)
    register_encoder(LeveledModel, categorical_codes.encode_leveled, leveled_kind, bounded_below=True)


register_builtin()
