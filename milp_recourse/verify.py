"""Independent re-check of an action: numpy SCM counterfactual, the real classifier, every hard constraint.

Never trusts the MILP: a mismatch is reported in the result, never hidden.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from .classifiers import favourable, reference_score, score_threshold
from .recourse_problem import RecourseProblem


@dataclass(frozen=True)
class Verification:
    """Outcome of re-checking one action on the true SCM and the real classifier."""

    favourable: bool
    constraints_ok: bool
    violations: tuple[str, ...]
    score: float
    score_kind: str
    score_threshold: float
    counterfactual: Mapping[str, float]
    cost: float
    cost_breakdown: Mapping[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.favourable and self.constraints_ok


def constraint_violations(problem: RecourseProblem, action: Mapping[str, float], tol: float = 1e-7) -> list[str]:
    """Every hard constraint the action breaks, in words."""
    out = []
    rules = {r.name: r for r in problem.rules}
    for name, theta in action.items():
        rule = rules.get(name)
        if rule is None:
            out.append(f"{name} is not actionable for this person")
            continue
        scale = max(1.0, abs(theta))
        if theta < rule.lower - tol * scale or theta > rule.upper + tol * scale:
            out.append(f"{name} = {theta:g} is outside the allowed [{rule.lower:g}, {rule.upper:g}]")
        if rule.grid is not None and not any(abs(theta - g) <= tol * scale for g in rule.grid):
            out.append(f"{name} = {theta:g} is not on the allowed grid")
        if rule.integer and abs(theta - round(theta)) > tol:
            out.append(f"{name} = {theta:g} is not integral")
    m = problem.actionability.max_changes
    if m is not None and len(action) > m:
        out.append(f"{len(action)} features changed; at most {m} allowed")
    return out


def verify_action(problem: RecourseProblem, action: Mapping[str, float]) -> Verification:
    """Recompute the counterfactual and the decision for `action` from scratch."""
    scm = problem.scm
    cf = scm.counterfactual(problem.x, dict(action)) if action else problem.x.copy()
    cf = np.asarray(cf, float).ravel()
    idx = [scm.index(f) for f in problem.features]
    X = cf[idx].reshape(1, -1)
    opts = problem.options
    fav = bool(favourable(problem.classifier, X, opts.threshold, opts.target_class)[0])
    score, kind = reference_score(problem.classifier, X, opts.target_class)
    cost, parts = problem.action_cost(action)
    viol = constraint_violations(problem, action)
    return Verification(fav, not viol, tuple(viol), float(score[0]), kind, score_threshold(kind, opts.threshold),
                        dict(zip(scm.names, map(float, cf))), cost, parts)
