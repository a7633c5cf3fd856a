"""Several ranked options per person (actionable-recourse's flipsets): solve, exclude the set found, solve again.

Option 1 is the ordinary optimum. Option j is optimal among the actions whose set of changed features (the keys
of the action, as RecourseResult.action reports them) contains none of the earlier options' sets: each earlier set
becomes an `excluded_sets` entry of the person's Actionability, enforced exactly by every engine (a no-good row on
binary indicators in the MILP, skipped patterns in the box search, filtered incumbents) and re-checked by verify.py.
Why supersets are excluded too: with continuous features, "exactly the set T" is not a closed set of actions (a
feature moved by epsilon -> 0 drops out of T), so the cheapest action of a set T that contains an earlier set S
would in general not exist (its infimum is S's own action); excluding supersets is the largest closed choice.
Costs are therefore non-decreasing with the rank.
"""

from __future__ import annotations

import dataclasses

from milp_recourse.errors import InputError
from milp_recourse.problem.recourse_problem import RecourseProblem
from milp_recourse.problem.validate import is_integer
from milp_recourse.result import RecourseResult, Status
from milp_recourse.solver.pipeline import solve

MAX_OPTIONS = 64   # more options than this is a misuse (each one is a full solve)
CONTINUE = (Status.OPTIMAL, Status.FEASIBLE)


def check_options(k: object) -> int:
    """`k` as a number of options: an integer in [1, MAX_OPTIONS] (InputError naming the value otherwise)."""
    if not is_integer(k) or not 1 <= int(k) <= MAX_OPTIONS:
        raise InputError(f"The number of options must be an integer in [1, {MAX_OPTIONS}]. Got {k!r}.")
    return int(k)


def with_excluded(problem: RecourseProblem, changed: tuple[str, ...]) -> RecourseProblem:
    """The same problem with one more excluded set of changed features."""
    act = problem.actionability
    act = dataclasses.replace(act, excluded_sets=act.excluded_sets + (tuple(sorted(changed)),))
    return dataclasses.replace(problem, actionability=act)


def solve_options(problem: RecourseProblem, k: int) -> list[RecourseResult]:
    """Up to `k` ranked options for one person (module docstring), cheapest first.

    Stops early when an option is not a verified action: a person already favourable (one result), or a later
    option that is NO_RECOURSE (no further distinct set exists: that result is the last one, its message says
    so), UNKNOWN or VERIFICATION_FAILED (the last result, as the solver returned it).
    """
    k = check_options(k)
    out: list[RecourseResult] = []
    current = problem
    for rank in range(1, k + 1):
        res = solve(current)
        if rank > 1 and res.status is Status.NO_RECOURSE:
            earlier = "; ".join("{" + ", ".join(sorted(r.action)) + "}" for r in out)
            res = dataclasses.replace(res, message=f"No further option: every action that satisfies this person's "
                                                   f"constraints changes all features of an earlier option's set "
                                                   f"({earlier}).")
        out.append(res)
        if res.status not in CONTINUE or not res.action:
            break
        current = with_excluded(current, tuple(res.action))
    return out


__all__ = ["solve_options", "check_options", "with_excluded", "MAX_OPTIONS"]
