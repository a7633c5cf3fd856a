"""CARMA-style amortized recourse: networks trained once on a population, one forward pass per person.

A mask network (binary Gumbel-softmax, straight-through) chooses which features to act on and an
action network chooses the values; both read the standardized individual, the person's hard
constraints (which features they may act on) and their soft cost weights. Training runs through
the differentiable true SCM with a hinge-loss Lagrangian: mean(cost + lambda * relu(target - score)),
lambda raised by dual ascent. At inference the person's hard constraints multiply the mask, values
are projected onto their bounds / grids, and max-changes keeps the most confident features.
Training time is reported separately from inference time (RecourseResult.timings).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping, Sequence

import numpy as np

from milp_recourse.errors import InputError
from milp_recourse.problem.options import CostSpec, SolveOptions
from milp_recourse.problem.recourse_problem import RecourseProblem
from milp_recourse.result import RecourseResult
from milp_recourse.baselines.common import already_favourable, check_positive, finish, person_space, project, to_action
from milp_recourse.baselines.torch_clf import TorchClassifier
from milp_recourse.baselines.torch_scm import TorchSCM, one_thread, require_torch


@dataclass(frozen=True, eq=False)
class AmortizedConfig:
    """Training settings (small on purpose: CPU, seconds to a minute)."""

    hidden: int = 64
    epochs: int = 100
    batch: int = 256
    population: int = 2000           # denied individuals sampled from the SCM when fit() gets none
    lr: float = 3e-3
    tau_start: float = 1.0           # Gumbel-softmax temperature, annealed geometrically ...
    tau_end: float = 0.2             # ... to this value
    lam0: float = 1.0
    lam_lr: float = 0.5              # dual ascent step on lambda per optimiser step ...
    lam_max: float = 5.0             # ... capped: rows that cannot be made valid must not erase the cost term
    train_margin: float = 0.05       # hinge target beyond threshold + margin (score units)
    p_universal: float = 1 / 3       # share of training rows with every feature allowed
    seed: int = 0
    scales: Mapping[str, float] = field(default_factory=dict)   # action scale per feature (default data std)

    def __post_init__(self) -> None:
        for name in ("hidden", "epochs", "batch", "population"):
            check_positive(getattr(self, name), name, integer=True)
        for name in ("lr", "tau_start", "tau_end", "lam0", "lam_lr", "lam_max"):
            check_positive(getattr(self, name), name)
        if not 0.0 <= self.p_universal <= 1.0:
            raise InputError(f"The baseline option 'p_universal' must be in [0, 1]. Got {self.p_universal!r}.")


@dataclass(frozen=True, eq=False)
class _Trained:
    scm: Any
    classifier: Any
    features: tuple[str, ...]
    mean: np.ndarray
    std: np.ndarray
    scale: np.ndarray
    params: tuple[Any, ...]
    cost: CostSpec
    target: float
    seconds: float
    train_validity: float


class AmortizedCARMA:
    """Train once with fit(...) (or lazily on the first problem), then solve(problem) by one forward pass."""

    name: ClassVar[str] = "amortized"

    def __init__(self, config: AmortizedConfig | None = None) -> None:
        self.config = config or AmortizedConfig()
        self._trained: _Trained | None = None

    @property
    def train_seconds(self) -> float:
        return 0.0 if self._trained is None else self._trained.seconds

    @property
    def train_validity(self) -> float:
        """Share of valid actions on the training population at the end of training."""
        return float("nan") if self._trained is None else self._trained.train_validity

    def fit(self, scm: Any, classifier: Any, population: Any, cost: CostSpec,
            options: SolveOptions = SolveOptions(), actionable: Sequence[str] | None = None) -> "AmortizedCARMA":
        """Train on `population` (denied individuals, (n, d) in SCM order or a DataFrame) with this cost form."""
        if cost.kind != "power" or cost.aggregate != "sum":
            raise InputError(f"The amortized baseline trains on sums of |d|^p only; got the {cost.kind!r} cost "
                             f"with the {cost.aggregate!r} aggregate.")
        torch = require_torch()
        with one_thread(torch):
            self._trained = self._fit(scm, classifier, population, cost, options, actionable, torch)
        return self

    def _fit(self, scm: Any, classifier: Any, population: Any, cost: CostSpec, options: SolveOptions,
             actionable: Sequence[str] | None, torch: Any) -> _Trained:
        from milp_recourse.models.classifiers import score_threshold
        from milp_recourse.models.registry import score_kind

        t0 = time.perf_counter()
        cfg = self.config
        X = np.asarray(population[list(scm.names)] if hasattr(population, "columns") else population, float)
        if X.ndim != 2 or X.shape[1] != scm.dim or len(X) == 0:
            raise InputError(f"The training population must be a non-empty (n, {scm.dim}) table in SCM order "
                             f"({', '.join(scm.names)}). Got shape {X.shape}.")
        feats = tuple(actionable or scm.actionable)
        tclf = TorchClassifier(classifier, scm.names, options.target_class)
        tscm = TorchSCM(scm, feats)
        target = score_threshold(score_kind(classifier), options.threshold) + options.margin
        mean, std = X.mean(axis=0), X.std(axis=0) + 1e-9
        cols = [scm.index(f) for f in feats]
        scale = np.array([float(cfg.scales.get(f, std[c])) for f, c in zip(feats, cols)])
        gen = torch.Generator().manual_seed(cfg.seed)
        rng = np.random.default_rng(cfg.seed)
        K, d = len(feats), scm.dim
        params = _init_params([d + 2 * K, cfg.hidden, cfg.hidden, 2 * K], gen, torch)
        opt = torch.optim.Adam(params, lr=cfg.lr)
        U_all = tscm.noise(X)
        lo, hi = _bounds(scm, feats, X[:, cols])
        T = lambda a: torch.as_tensor(np.array(a, float), dtype=torch.float64)  # noqa: E731
        Z_all, xa_all, lo_all, hi_all, s = T((X - mean) / std), T(X[:, cols]), T(lo), T(hi), T(scale)
        coef0 = T(cost.scale / np.array([cost.divisor(f) for f in feats]))
        n = len(X)
        steps_per_epoch = max(1, math.ceil(n / cfg.batch))
        total = cfg.epochs * steps_per_epoch
        lam = cfg.lam0
        valid_hist: list[float] = []
        for step in range(total):
            tau = cfg.tau_start * (cfg.tau_end / cfg.tau_start) ** (step / max(1, total - 1))
            idx = torch.as_tensor(rng.integers(0, n, size=min(cfg.batch, n)))
            h, w = _conditions(rng, len(idx), K, cfg.p_universal)
            h_t, w_t = T(h), T(w)
            logits, delta = _net(params, torch.cat([Z_all[idx], h_t, w_t / w_t.mean(1, keepdim=True)], 1), K, torch)
            u = torch.rand(logits.shape, generator=gen, dtype=torch.float64).clamp(1e-9, 1 - 1e-9)
            soft = torch.sigmoid((logits + torch.log(u) - torch.log1p(-u)) / tau)
            mask = ((soft > 0.5).to(soft.dtype) + soft - soft.detach()) * h_t
            xa = xa_all[idx]
            theta = torch.clamp(xa + s * delta, lo_all[idx], hi_all[idx])
            score = tclf.score(tscm.forward(U_all[idx], mask, theta))
            cost_rows = (mask * (coef0 * w_t * torch.abs(theta - xa) ** cost.p + cost.l0)).sum(1)
            hinge = torch.relu(target + cfg.train_margin - score)
            loss = (cost_rows + lam * hinge).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            lam = min(cfg.lam_max, max(0.0, lam + cfg.lam_lr * float(hinge.detach().mean())))
            valid_hist.append(float((score >= target).to(torch.float64).mean()))
        tail = valid_hist[-steps_per_epoch:] or [float("nan")]
        return _Trained(scm, classifier, feats, mean, std, scale, tuple(p.detach() for p in params), cost,
                        target, time.perf_counter() - t0, float(np.mean(tail)))

    def _default_population(self, problem: RecourseProblem) -> np.ndarray:
        """Denied individuals of a fresh SCM sample (seeded) when fit() was not called."""
        from milp_recourse.models.classifiers import favourable

        scm, want = problem.scm, self.config.population
        X = scm.sample(max(4 * want, 1000), seed=self.config.seed).to_numpy(float)
        idx = [scm.index(f) for f in problem.features]
        denied = X[~favourable(problem.classifier, X[:, idx], problem.options.threshold,
                               problem.options.target_class)]
        if len(denied) == 0:
            raise InputError(f"The classifier approves every sampled individual of SCM {scm.name!r}; the amortized "
                             "baseline has nobody to train on.")
        return denied[:want]

    def solve(self, problem: RecourseProblem) -> RecourseResult:
        torch = require_torch()
        with one_thread(torch):
            return self._solve(problem, torch)

    def _solve(self, problem: RecourseProblem, torch: Any) -> RecourseResult:
        if self._trained is None:
            self.fit(problem.scm, problem.classifier, self._default_population(problem), problem.cost,
                     problem.options)
        tr = self._trained
        if problem.scm.name != tr.scm.name or problem.classifier is not tr.classifier:
            raise InputError(f"This amortized model was trained for SCM {tr.scm.name!r} and another classifier "
                             f"object; got SCM {problem.scm.name!r}. Call fit() for this SCM and classifier.")
        t0 = time.perf_counter()
        timings = {"training": tr.seconds}
        done = already_favourable(problem, self.name, t0)
        if done is not None:
            return done
        space = person_space(problem)
        pos = {f: i for i, f in enumerate(tr.features)}
        unknown = [n for n in space.names if n not in pos]
        if unknown:
            raise InputError(f"The person may act on {unknown}, which the amortized model was not trained to act on "
                             f"(trained on {list(tr.features)}). Call fit() with those features actionable.")
        if space.k == 0 or space.max_changes == 0:
            return finish(problem, self.name, None, False, t0, 0.0, timings, message="amortized: no usable feature.")
        t = time.perf_counter()
        K = len(tr.features)
        h = np.zeros(K)
        w = np.ones(K)
        for k, name in enumerate(space.names):
            h[pos[name]] = 1.0
            w[pos[name]] = space.weights[k]
        w = np.maximum(w, 1e-6)
        inp = np.concatenate([(problem.x - tr.mean) / tr.std, h, w / w.mean()])[None, :]
        with torch.no_grad():
            logits, delta = _net(tr.params, torch.as_tensor(inp, dtype=torch.float64), K, torch)
        logits, delta = logits.numpy()[0], delta.numpy()[0]
        sel = np.array([pos[n] for n in space.names])
        lg = logits[sel]
        on = lg > 0
        if not on.any():
            on[int(np.argmax(lg))] = True
        if on.sum() > space.max_changes:
            keep = np.argsort(-np.where(on, lg, -np.inf))[: space.max_changes]
            on = np.zeros_like(on)
            on[keep] = True
        theta = project(space, (space.x + tr.scale[sel] * delta[sel])[None, :])
        tscm = TorchSCM(problem.scm, space.names)
        tclf = TorchClassifier(problem.classifier, problem.scm.names, problem.options.target_class)
        with torch.no_grad():
            on_t = torch.as_tensor(on[None, :], dtype=torch.float64)
            cf = tscm.forward(tscm.noise(problem.x), on_t, torch.as_tensor(theta, dtype=torch.float64))
            score = float(tclf.score(cf)[0])
        claimed = score >= tr.target
        timings["inference"] = time.perf_counter() - t
        action = to_action(space, on, theta[0])
        msg = ("amortized: one forward pass; its own check through the SCM says valid." if claimed else
               "amortized: the forward pass's action does not reach the favourable outcome.")
        return finish(problem, self.name, action, claimed, t0, timings["inference"], timings, message=msg)


def _bounds(scm: Any, feats: Sequence[str], xa: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-row allowed ranges from the SCM spec (domain, increase/decrease-only features)."""
    lo = np.tile([scm.variable(f).lower for f in feats], (len(xa), 1)).astype(float)
    hi = np.tile([scm.variable(f).upper for f in feats], (len(xa), 1)).astype(float)
    for k, f in enumerate(feats):
        act = scm.variable(f).actionability
        if act == "increase":
            lo[:, k] = np.maximum(lo[:, k], xa[:, k])
        elif act == "decrease":
            hi[:, k] = np.minimum(hi[:, k], xa[:, k])
    return lo, hi


def _conditions(rng: np.random.Generator, n: int, K: int, p_universal: float) -> tuple[np.ndarray, np.ndarray]:
    """Random personalizations: allowed-feature masks and soft weights (ones, ranks 1..K, or scores 1..5)."""
    h = (rng.random((n, K)) < 0.5).astype(float)
    h[rng.random(n) < p_universal] = 1.0
    empty = h.sum(1) == 0
    h[empty, rng.integers(0, K, size=int(empty.sum()))] = 1.0
    kind = rng.integers(0, 3, size=n)
    w = np.ones((n, K))
    ranks = np.argsort(rng.random((n, K)), axis=1) + 1.0
    w[kind == 1] = ranks[kind == 1]
    w[kind == 2] = rng.integers(1, 6, size=(int((kind == 2).sum()), K))
    return h, w


def _init_params(sizes: Sequence[int], gen: Any, torch: Any) -> list[Any]:
    params = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        bound = 1.0 / math.sqrt(a)
        params.append(((torch.rand((b, a), generator=gen, dtype=torch.float64) * 2 - 1) * bound).requires_grad_(True))
        params.append(torch.zeros(b, dtype=torch.float64, requires_grad=True))
    return params


def _net(params: Sequence[Any], inp: Any, K: int, torch: Any) -> tuple[Any, Any]:
    """Shared trunk, then mask logits (K) and action shifts (K, in feature-scale units)."""
    h = inp
    n = len(params) // 2
    for i in range(n):
        h = h @ params[2 * i].T + params[2 * i + 1]
        if i < n - 1:
            h = torch.relu(h)
    return h[:, :K], h[:, K:]
