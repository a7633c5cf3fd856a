"""scikit-learn classes named without importing scikit-learn, for type checks on the solving path.

An object can only be an instance of a class whose module is already imported, so a check against a
module that is not in ``sys.modules`` is False without importing it. A worker that solves a ReLUNetwork thus
never imports scikit-learn (about 1 s per process, most of a batch worker's start-up; XGBoost and LightGBM
import it themselves). A scikit-learn model, once unpickled or built, has imported its own modules.
"""

from __future__ import annotations

import sys
from typing import Any

# the public module of each class checked on the solving path (importing a submodule imports its package)
MODULES = {
    "Pipeline": "sklearn.pipeline", "ColumnTransformer": "sklearn.compose",
    "StandardScaler": "sklearn.preprocessing", "MinMaxScaler": "sklearn.preprocessing",
    "MLPClassifier": "sklearn.neural_network", "LogisticRegression": "sklearn.linear_model",
    "LinearSVC": "sklearn.svm", "GradientBoostingClassifier": "sklearn.ensemble",
    "DummyClassifier": "sklearn.dummy",
}


def sklearn_loaded() -> bool:
    """Whether scikit-learn has been imported in this process (by anyone)."""
    return sys.modules.get("sklearn") is not None   # None there means "blocked" (not importable)


def loaded_classes(*names: str) -> tuple[type, ...]:
    """The named scikit-learn classes whose modules are imported (the others can have no instances yet)."""
    out = []
    for name in names:
        module = sys.modules.get(MODULES[name])
        cls = None if module is None else getattr(module, name, None)
        if isinstance(cls, type):
            out.append(cls)
    return tuple(out)


def is_a(obj: Any, *names: str) -> bool:
    """isinstance(obj, one of the named scikit-learn classes), without importing scikit-learn."""
    classes = loaded_classes(*names)
    return bool(classes) and isinstance(obj, classes)


__all__ = ["MODULES", "sklearn_loaded", "loaded_classes", "is_a"]
