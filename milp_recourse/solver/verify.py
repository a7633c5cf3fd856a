"""Independent re-check of an action: numpy SCM counterfactual, the real classifier, every hard constraint.

Never trusts the MILP: a mismatch is reported in the result, never hidden.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from milp_recourse.errors import InputError
from milp_recourse.models.classifiers import favourable, reference_score, score_threshold
from milp_recourse.problem.logic import counterfactual as linked_counterfactual
from milp_recourse.problem.logic import links
from milp_recourse.problem.logic import violations as logic_violations
from milp_recourse.problem.recourse_problem import RecourseProblem


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
    excluded = problem.actionability.excluded_by(action)
    if excluded is not None:
        out.append(f"the features changed ({', '.join(sorted(action))}) include the excluded set "
                   f"{{{', '.join(excluded)}}}")
    return out


def verify_action(problem: RecourseProblem, action: Mapping[str, float]) -> Verification:
    """Recompute the counterfactual and the decision for `action` from scratch."""
    return verify_many([problem], [action])[0]


def classifier_groups(problems: Sequence[RecourseProblem]) -> list[list[int]]:
    """Indices of the problems that one classifier call can serve together: same classifier, SCM, feature
    order, threshold and target class."""
    groups: dict[tuple, list[int]] = {}
    for i, pr in enumerate(problems):
        key = (id(pr.classifier), id(pr.scm), tuple(pr.features), pr.options.threshold, repr(pr.options.target_class))
        groups.setdefault(key, []).append(i)
    return list(groups.values())


def _counterfactuals(problems: Sequence[RecourseProblem], actions: Sequence[Mapping[str, float]]) -> list[np.ndarray]:
    """Each person's counterfactual under their action: one vectorised abduction + prediction per
    (SCM, set of intervened features) group."""
    groups: dict[tuple, list[int]] = {}
    for i, (pr, act) in enumerate(zip(problems, actions)):
        groups.setdefault((id(pr.scm), tuple(sorted(act))), []).append(i)
    out: list[np.ndarray] = [np.empty(0)] * len(problems)
    for (_, keys), members in groups.items():
        scm = problems[members[0]].scm
        X = np.vstack([problems[i].x for i in members])
        if keys:
            do = {k: np.array([float(actions[i][k]) for i in members]) for k in keys}
            X = scm.predict_from_noise(np.vstack([problems[i].noise for i in members]), do)
        for row, i in enumerate(members):
            out[i] = np.array(X[row], float)
    for i, (pr, act) in enumerate(zip(problems, actions)):
        if links(pr.logic):   # linkage targets follow their sources (problem/logic.py)
            out[i] = linked_counterfactual(pr, act)
    return out


def verify_many(problems: Sequence[RecourseProblem], actions: Sequence[Mapping[str, float]]) -> list[Verification]:
    """verify_action for many (problem, action) pairs with one classifier call per (classifier, setting) group.

    Counterfactuals are computed per (SCM, intervened set) group and the classifier is called once per
    (classifier, setting) group: scikit-learn's per-call overhead (~1 ms) dwarfs a single row's arithmetic.
    """
    if len(problems) != len(actions):
        raise InputError(f"verify_many needs one action per problem; got {len(problems)} and {len(actions)}.")
    cfs = _counterfactuals(problems, actions)
    fav = np.zeros(len(problems), bool)
    score = np.zeros(len(problems))
    kinds: list[str] = [""] * len(problems)
    for members in classifier_groups(problems):
        pr = problems[members[0]]
        idx = [pr.scm.index(f) for f in pr.features]
        X = np.vstack([cfs[i][idx] for i in members])
        opts = pr.options
        fav[members] = favourable(pr.classifier, X, opts.threshold, opts.target_class)
        s, kind = reference_score(pr.classifier, X, opts.target_class)
        score[members] = s
        for i in members:
            kinds[i] = kind
    out = []
    for i, (problem, action) in enumerate(zip(problems, actions)):
        cost, parts = problem.action_cost(action)
        viol = constraint_violations(problem, action)
        if problem.plausibility is not None:   # hard: the counterfactual itself (problem/plausibility.py)
            viol += problem.plausibility.violations(problem.scm, cfs[i])
        viol += logic_violations(problem, problem.x, cfs[i])   # IF-THEN rules and linkages
        out.append(Verification(bool(fav[i]), not viol, tuple(viol), float(score[i]), kinds[i],
                                score_threshold(kinds[i], problem.options.threshold),
                                dict(zip(problem.scm.names, map(float, cfs[i]))), cost, parts))
    return out
