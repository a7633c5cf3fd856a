"""Causal gradient descent (minimal interventions): Adam on intervention values through the SCM.

For every subset of the person's usable actionable features (at most max_changes of them), the
intervention values are optimised by projected Adam through a differentiable torch copy of the
true SCM and of the classifier; loss = cost + lambda * relu(target - score), lambda raised while
invalid. Candidates are snapped to the person's integers/grids, re-checked on the numpy SCM, and
the cheapest valid across subsets is returned (FEASIBLE after verification; no optimality claim).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from milp_recourse.problem.recourse_problem import RecourseProblem
from milp_recourse.result import RecourseResult
from milp_recourse.baselines.common import (early_answer, action_costs, finish, project, subsets, target_score,
                     to_action, valid_on_scm)
from milp_recourse.baselines.gd_engine import GDConfig, adam_search
from milp_recourse.baselines.torch_clf import TorchClassifier
from milp_recourse.baselines.torch_scm import TorchMethod, TorchSCM


@dataclass(frozen=True, eq=False)
class CausalGD(TorchMethod):
    """Minimal-intervention recourse by gradient descent through the true SCM, one run per feature subset."""

    name: ClassVar[str] = "causal-gd"
    config: GDConfig = field(default_factory=GDConfig)

    def _solve(self, problem: RecourseProblem, torch) -> RecourseResult:
        t0 = time.perf_counter()
        tclf = TorchClassifier(problem.classifier, problem.scm.names, problem.options.target_class)
        done, space = early_answer(problem, self.name, t0, "")
        if done is not None:
            return done
        t = time.perf_counter()
        tscm = TorchSCM(problem.scm, space.names)
        masks = subsets(space.k, space.max_changes)
        target, _ = target_score(problem)
        U1 = tscm.noise(problem.x)
        n_rows = masks.shape[0] * self.config.restarts
        U = U1.expand(n_rows, -1)

        def score_fn(mask, theta):
            return tclf.score(tscm.forward(U, mask, theta))

        cand_mask, cand_theta, steps = adam_search(problem, space, masks, score_fn, target, self.config, torch)
        best = _cheapest_valid(problem, space, cand_mask, cand_theta)
        seconds = time.perf_counter() - t
        msg = (f"causal-gd: cheapest valid over {masks.shape[0]} feature subsets ({steps} Adam steps)."
               if best is not None else
               f"causal-gd: no subset reached the favourable outcome within {steps} Adam steps.")
        return finish(problem, self.name, best, best is not None, t0, seconds, {"search": seconds},
                      iterations=steps, message=msg)


def _cheapest_valid(problem: RecourseProblem, space, mask: np.ndarray, theta: np.ndarray) -> dict[str, float] | None:
    """Snap candidates (nearest and away-from-x) to the allowed values; cheapest one valid on the numpy SCM."""
    if not len(mask):
        return None
    mask = np.vstack([mask, mask])
    theta = np.vstack([project(space, theta), project(space, theta, away=True)])
    ok = valid_on_scm(problem, space, mask, theta)
    if not ok.any():
        return None
    costs = np.where(ok, action_costs(problem, space, mask, theta), np.inf)
    j = int(np.argmin(costs))
    return to_action(space, mask[j], theta[j])
