"""milp_recourse: exact, personalized, causal algorithmic recourse as mixed-integer programs.

Public facade: load an SCM, describe one person's problem, solve it (or many), read the result.
"""

from milp_recourse.errors import (BackendError, BackendUnavailableError, ClassifierError, InputError, RecourseError,
                                  SpecError, UnsupportedError)
from milp_recourse.problem.options import Actionability, CostSpec, SolveOptions, divisors_from_data
from milp_recourse.problem.preferences import Preferences
from milp_recourse.problem.recourse_problem import RecourseProblem
from milp_recourse.result import RecourseResult, Status
from milp_recourse.scm import load_scm
from milp_recourse.solver.pipeline import solve
from milp_recourse.batch.frames import solve_many  # frame -> frame; list of problems -> (results, stats)
from milp_recourse.batch.run import solve_batch

__version__ = "0.1.0"

__all__ = ["load_scm", "RecourseProblem", "Actionability", "Preferences", "CostSpec", "SolveOptions",
           "divisors_from_data", "solve", "solve_many", "solve_batch", "RecourseResult", "Status", "RecourseError",
           "SpecError", "InputError", "ClassifierError", "UnsupportedError", "BackendError",
           "BackendUnavailableError", "__version__"]
