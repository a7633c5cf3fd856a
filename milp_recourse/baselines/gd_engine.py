"""Projected Adam on intervention values for a batch of fixed feature subsets (shared by the gradient baselines).

Each row of the batch is one subset (a fixed 0/1 mask) and one start point; its loss is
cost(theta) + lambda_row * relu(target + train_margin - score(theta)), with lambda_row multiplied
while the row is invalid. Adam is elementwise, so summing the row losses optimises every row
independently in one vectorised pass. The cheapest valid iterate of each row is kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from milp_recourse.errors import InputError
from milp_recourse.problem.recourse_problem import RecourseProblem
from milp_recourse.baselines.common import PersonSpace, check_positive

LAMBDA_CAP = 1e8


@dataclass(frozen=True, eq=False)
class GDConfig:
    """Optimiser settings shared by the causal and the non-causal gradient baselines."""

    steps: int = 300
    lr: float = 0.05                 # Adam step, in units of each feature's scale
    lam0: float = 1.0                # initial weight of the validity hinge
    lam_growth: float = 2.0          # lambda *= growth for rows still invalid ...
    lam_every: int = 10              # ... every this many steps
    train_margin: float = 1e-3       # the hinge aims this far beyond the target score
    restarts: int = 1                # start points per subset (the first at the factual values)
    patience: int = 60               # stop when the best valid cost has not improved for this many steps
    seed: int = 0
    scales: Mapping[str, float] = field(default_factory=dict)   # per-feature step scale (default: domain/6)

    def __post_init__(self) -> None:
        for name in ("steps", "lam_every", "restarts", "patience"):
            check_positive(getattr(self, name), name, integer=True)
        for name in ("lr", "lam0"):
            check_positive(getattr(self, name), name)
        if not (isinstance(self.lam_growth, (int, float)) and self.lam_growth >= 1):
            raise InputError(f"The baseline option 'lam_growth' must be a number >= 1. Got {self.lam_growth!r}.")
        if not (isinstance(self.train_margin, (int, float)) and self.train_margin >= 0):
            raise InputError(f"The baseline option 'train_margin' must be a number >= 0. Got {self.train_margin!r}.")
        for name, s in self.scales.items():
            check_positive(s, f"scales[{name!r}]")


def feature_scales(problem: RecourseProblem, space: PersonSpace, scales: Mapping[str, float]) -> np.ndarray:
    """Per-feature step scale: the given one, else a sixth of the SCM domain width."""
    out = []
    for name in space.names:
        var = problem.scm.variable(name)
        out.append(float(scales.get(name, max((var.upper - var.lower) / 6.0, 1e-6))))
    return np.array(out)


def _torch_interp(v: Any, knots: tuple[float, ...], levels: tuple[float, ...], torch: Any) -> Any:
    """np.interp(v, knots, levels) in torch (flat outside the knots), differentiable in v."""
    kn = torch.as_tensor(knots, dtype=v.dtype)
    lv = torch.as_tensor(levels, dtype=v.dtype)
    if kn.numel() == 1:
        return torch.full_like(v, float(lv[0]))
    i = torch.searchsorted(kn, v.detach().contiguous()).clamp(1, kn.numel() - 1)
    x0, x1, y0, y1 = kn[i - 1], kn[i], lv[i - 1], lv[i]
    return y0 + ((v - x0) / (x1 - x0)).clamp(0.0, 1.0) * (y1 - y0)


def torch_cost(problem: RecourseProblem, space: PersonSpace, mask: Any, theta: Any, torch: Any) -> Any:
    """(n,) differentiable cost of each row, the torch twin of common.action_costs (power or percentile feature
    costs, summed or their max; L0 and range penalties additive)."""
    c, prefs = problem.cost, problem.preferences
    cols, extras = [], []
    for k, name in enumerate(space.names):
        coef = c.scale * float(space.weights[k]) / float(space.divisors[k])
        if c.kind == "percentile":
            cdf = c.cdfs[name]
            own = torch.abs(_torch_interp(theta[:, k], cdf.knots, cdf.levels, torch) - float(cdf(float(space.x[k]))))
        else:
            own = torch.abs(theta[:, k] - float(space.x[k])) ** c.p
        extra = torch.full_like(theta[:, k], float(c.l0))
        rng = prefs.preferred_ranges.get(name)
        if rng is not None:
            extra = extra + prefs.range_penalty * (torch.relu(rng[0] - theta[:, k]) + torch.relu(theta[:, k] - rng[1]))
        cols.append(coef * own)
        extras.append(extra)
    part, add = torch.stack(cols, dim=1), torch.stack(extras, dim=1)
    if c.aggregate == "max":
        return (mask * part).max(dim=1).values + (mask * add).sum(dim=1)
    return (mask * (part + add)).sum(dim=1)


def adam_search(problem: RecourseProblem, space: PersonSpace, masks: np.ndarray, score_fn: Callable[[Any, Any], Any],
                target: float, cfg: GDConfig, torch: Any) -> tuple[np.ndarray, np.ndarray, int]:
    """Cheapest valid (mask, theta) found per row (rows never valid are dropped) and the steps run.

    `score_fn(mask, theta)` returns the (n,) score of each row's counterfactual; validity means
    score >= target (threshold + margin, as for the exact solver).
    """
    rng = np.random.default_rng(cfg.seed)
    scale = feature_scales(problem, space, cfg.scales)
    rows = np.repeat(masks, cfg.restarts, axis=0)
    n = rows.shape[0]
    delta0 = np.zeros((n, space.k))
    if cfg.restarts > 1:
        jitter = rng.normal(0.0, 0.5, size=(n, space.k))
        delta0 = np.where((np.arange(n) % cfg.restarts != 0)[:, None], jitter, 0.0)
    dt = torch.float64
    t = lambda a: torch.as_tensor(np.array(a, float), dtype=dt)  # noqa: E731
    x, s, lo, hi = t(space.x), t(scale), t(space.lower), t(space.upper)
    mask = t(rows)
    delta = t(delta0).requires_grad_(True)
    with torch.no_grad():
        delta.copy_((torch.clamp(x + s * delta, lo, hi) - x) / s)
    opt = torch.optim.Adam([delta], lr=cfg.lr)
    lam = torch.full((n,), float(cfg.lam0), dtype=dt)
    best_cost = np.full(n, np.inf)
    best_theta = np.zeros((n, space.k))
    global_best, since = np.inf, 0
    steps = 0
    for step in range(cfg.steps):
        steps = step + 1
        theta = x + s * delta
        score = score_fn(mask, theta)
        cost = torch_cost(problem, space, mask, theta, torch)
        hinge = torch.relu(target + cfg.train_margin - score)
        loss = (cost + lam * hinge).sum()
        opt.zero_grad()
        loss.backward()
        with torch.no_grad():
            ok = (score >= target).numpy()
            c = cost.numpy()
            better = ok & (c < best_cost)
            if better.any():
                best_cost[better] = c[better]
                best_theta[better] = theta.numpy()[better]
            if (step + 1) % cfg.lam_every == 0:
                lam = torch.where(torch.as_tensor(ok), lam, torch.clamp(lam * cfg.lam_growth, max=LAMBDA_CAP))
        opt.step()
        with torch.no_grad():
            delta.copy_((torch.clamp(x + s * delta, lo, hi) - x) / s)
        current = best_cost.min()
        if current < global_best * (1 - 1e-4) or (np.isfinite(current) and not np.isfinite(global_best)):
            global_best, since = current, 0
        else:
            since += 1
        if np.isfinite(global_best) and since >= cfg.patience:
            break
    keep = np.isfinite(best_cost)
    return rows[keep], best_theta[keep], steps
