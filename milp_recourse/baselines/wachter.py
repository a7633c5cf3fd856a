"""Non-causal gradient counterfactual (Wachter-style), evaluated as its user would experience it.

Gradient descent moves the features directly (immutables and features the person cannot act on
are masked; nothing propagates through the SCM): loss = cost + lambda * relu(target - score(x')),
lambda raised while x' is not favourable. The resulting changes on actionable features are then
taken as the intervention do(X_k := x'_k) and evaluated on the true SCM, where downstream effects
can undo them. The method claims validity when its own x' is favourable; if the true SCM denies
the intervention the status is VERIFICATION_FAILED.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from milp_recourse.problem.recourse_problem import RecourseProblem
from milp_recourse.result import RecourseResult
from milp_recourse.baselines.common import early_answer, action_costs, finish, project, scores, subsets, target_score
from milp_recourse.baselines.gd_engine import GDConfig, adam_search
from milp_recourse.baselines.torch_clf import TorchClassifier
from milp_recourse.baselines.torch_scm import TorchMethod

MOVE_TOL = 1e-9   # relative change below which a feature counts as not moved


@dataclass(frozen=True, eq=False)
class Wachter(TorchMethod):
    """Counterfactual explanation by gradient descent on the features, applied as an intervention."""

    name: ClassVar[str] = "wachter"
    config: GDConfig = field(default_factory=GDConfig)

    def _solve(self, problem: RecourseProblem, torch) -> RecourseResult:
        t0 = time.perf_counter()
        tclf = TorchClassifier(problem.classifier, problem.scm.names, problem.options.target_class)
        done, space = early_answer(problem, self.name, t0, "")
        if done is not None:
            return done
        t = time.perf_counter()
        # one run on all usable features; with a max-changes limit below K, one run per subset of that size
        masks = (np.ones((1, space.k), bool) if space.max_changes >= space.k
                 else subsets(space.k, space.max_changes, exact_size=space.max_changes))
        target, _ = target_score(problem)
        cols = [problem.scm.index(n) for n in space.names]
        base = torch.as_tensor(np.array(problem.x, float), dtype=torch.float64)
        col_t = torch.as_tensor(cols)

        def score_fn(mask, theta):
            X = base.expand(mask.shape[0], -1).clone()
            X[:, col_t] = mask * theta + (1.0 - mask) * base[col_t]
            return tclf.score(X)

        cand_mask, cand_theta, steps = adam_search(problem, space, masks, score_fn, target, self.config, torch)
        action, claimed = _cheapest_claim(problem, space, cand_mask, cand_theta, target)
        seconds = time.perf_counter() - t
        msg = ("wachter: its non-causal counterfactual is favourable; the changes were applied as an intervention "
               "on the true SCM." if claimed else "wachter: no favourable non-causal counterfactual was found.")
        return finish(problem, self.name, action if claimed else None, claimed, t0, seconds, {"search": seconds},
                      iterations=steps, message=msg)


def _cheapest_claim(problem: RecourseProblem, space, mask: np.ndarray, theta: np.ndarray,
                    target: float) -> tuple[dict[str, float] | None, bool]:
    """The cheapest snapped candidate whose non-causal x' is favourable, as an action on the moved features."""
    if not len(mask):
        return None, False
    mask = np.vstack([mask, mask])
    theta = np.vstack([project(space, theta), project(space, theta, away=True)])
    tol = MOVE_TOL * np.maximum(1.0, np.abs(space.x))
    mask = mask & (np.abs(theta - space.x) > tol)
    X = np.tile(problem.x, (len(mask), 1))
    cols = [problem.scm.index(n) for n in space.names]
    X[:, cols] = np.where(mask, theta, space.x)
    ok = (scores(problem, X) >= target) & mask.any(axis=1)
    if not ok.any():
        return None, False
    costs = np.where(ok, action_costs(problem, space, mask, theta), np.inf)
    j = int(np.argmin(costs))
    return {space.names[k]: float(theta[j, k]) for k in range(space.k) if mask[j, k]}, True
