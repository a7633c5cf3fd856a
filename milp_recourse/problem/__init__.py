"""What one person asks, validated once: actionability (hard), preferences (soft), cost and solve options.

Names are imported on first use (PEP 562): importing `milp_recourse.problem.options` does not load the
classifier layer (scikit-learn) that `RecourseProblem` needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from milp_recourse.problem.options import Actionability, CostSpec, SolveOptions, divisors_from_data
    from milp_recourse.problem.preferences import Preferences
    from milp_recourse.problem.recourse_problem import RecourseProblem

_LAZY = {"Actionability": "milp_recourse.problem.options", "CostSpec": "milp_recourse.problem.options",
         "SolveOptions": "milp_recourse.problem.options", "divisors_from_data": "milp_recourse.problem.options",
         "Preferences": "milp_recourse.problem.preferences",
         "RecourseProblem": "milp_recourse.problem.recourse_problem"}

__all__ = ["Actionability", "CostSpec", "SolveOptions", "divisors_from_data", "Preferences", "RecourseProblem"]


def __getattr__(name: str) -> Any:
    """Import a public name on first use and keep it."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'milp_recourse.problem' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
