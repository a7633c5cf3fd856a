"""What one person asks, validated once: actionability (hard), preferences (soft), cost and solve options."""

from milp_recourse.problem.options import Actionability, CostSpec, SolveOptions, divisors_from_data
from milp_recourse.problem.preferences import Preferences
from milp_recourse.problem.recourse_problem import RecourseProblem

__all__ = ["Actionability", "CostSpec", "SolveOptions", "divisors_from_data", "Preferences", "RecourseProblem"]
