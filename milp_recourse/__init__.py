"""milp_recourse: exact, personalized, causal algorithmic recourse as mixed-integer programs.

Public facade: load an SCM, describe one person's problem, solve it (or many), read the result. The names are
imported on first use (PEP 562), so `import milp_recourse` and `milp-recourse --help` stay fast; the errors are
imported at once (they are light and every layer raises them).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from milp_recourse.errors import (BackendError, BackendUnavailableError, ClassifierError, InputError, RecourseError,
                                  SpecError, UnsupportedError)

if TYPE_CHECKING:   # the same names, for type checkers and IDEs
    from milp_recourse.batch.frames import solve_many
    from milp_recourse.batch.run import solve_batch
    from milp_recourse.diagnose.explain import explain
    from milp_recourse.problem.data_costs import percentile_cdfs
    from milp_recourse.problem.options import Actionability, CostSpec, SolveOptions, divisors_from_data
    from milp_recourse.problem.plausibility import Plausibility, box_plausibility, density_plausibility
    from milp_recourse.problem.preferences import Preferences
    from milp_recourse.problem.recourse_problem import RecourseProblem
    from milp_recourse.result import PathStep, RecourseResult, Status
    from milp_recourse.scm.spec import load_scm
    from milp_recourse.solver.options import solve_options
    from milp_recourse.solver.pipeline import solve

__version__ = "0.1.0"

_LAZY = {
    "load_scm": "milp_recourse.scm.spec",
    "RecourseProblem": "milp_recourse.problem.recourse_problem",
    "Actionability": "milp_recourse.problem.options",
    "CostSpec": "milp_recourse.problem.options",
    "SolveOptions": "milp_recourse.problem.options",
    "divisors_from_data": "milp_recourse.problem.options",
    "percentile_cdfs": "milp_recourse.problem.data_costs",
    "Preferences": "milp_recourse.problem.preferences",
    "Plausibility": "milp_recourse.problem.plausibility",
    "box_plausibility": "milp_recourse.problem.plausibility",
    "density_plausibility": "milp_recourse.problem.plausibility",
    "RecourseResult": "milp_recourse.result",
    "Status": "milp_recourse.result",
    "PathStep": "milp_recourse.result",
    "solve": "milp_recourse.solver.pipeline",
    "solve_options": "milp_recourse.solver.options",
    "solve_many": "milp_recourse.batch.frames",
    "solve_batch": "milp_recourse.batch.run",
    "explain": "milp_recourse.diagnose.explain",
}

__all__ = ["load_scm", "RecourseProblem", "Actionability", "CostSpec", "SolveOptions", "divisors_from_data",
           "percentile_cdfs",
           "Preferences", "Plausibility", "box_plausibility", "density_plausibility", "RecourseResult", "Status",
           "PathStep", "solve", "solve_options", "solve_many",
           "solve_batch", "explain",
           "RecourseError", "SpecError", "InputError", "ClassifierError", "UnsupportedError", "BackendError",
           "BackendUnavailableError", "__version__"]


def __getattr__(name: str) -> Any:
    """Import a public name on first use and keep it (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'milp_recourse' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
