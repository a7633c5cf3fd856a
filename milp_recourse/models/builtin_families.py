"""The built-in classifier families of the models layer's registry (kept apart from registry.py, which the family
modules import: the registry imports none of them). The scikit-learn families live in sklearn_families.py, which
the registry imports once scikit-learn is (models/sklearn_types.py says why)."""

from __future__ import annotations

from milp_recourse.models.categorical_input import register_family
from milp_recourse.models.registry import register_model
from milp_recourse.models.relu_network import ReLUNetwork


def register_builtin() -> None:
    """Register the ReLU network and LeveledModel (scikit-learn and the optional libraries load on first sight)."""
    register_model(ReLUNetwork, "logit")
    register_family()   # LeveledModel: categorical columns read as level strings (models/categorical_input.py)


register_builtin()
