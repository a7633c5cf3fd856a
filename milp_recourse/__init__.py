"""milp_recourse: exact, personalized, causal algorithmic recourse as mixed-integer programs.

Public facade: load an SCM, describe one person's problem, solve it (or many), read the result.
"""

from .errors import (BackendError, BackendUnavailableError, ClassifierError, InputError, RecourseError, SpecError,
                     UnsupportedError)
from .preferences import Preferences
from .problem import Actionability, CostSpec, SolveOptions, divisors_from_data
from .recourse_problem import RecourseProblem
from .result import RecourseResult, Status
from .scm import load_scm
from .exact import solve
from .batch import solve_batch

__version__ = "0.1.0"

__all__ = ["load_scm", "RecourseProblem", "Actionability", "Preferences", "CostSpec", "SolveOptions",
           "divisors_from_data", "solve", "solve_batch", "RecourseResult", "Status", "RecourseError", "SpecError", "InputError",
           "ClassifierError", "UnsupportedError", "BackendError", "BackendUnavailableError", "__version__"]
