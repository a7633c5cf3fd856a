"""LP bound tightening of every big-M source (unstable ReLU inputs, SCM terms) under a cost budget.

Each target's min and max over the LP relaxation with cost <= the incumbent's are proven bounds for every
action at least as cheap, which is all the search needs; the model is recompiled with them (stable ReLUs
lose their binary, big-M values shrink).
"""

from __future__ import annotations

import time

import numpy as np

from milp_recourse.encode.compile import CompiledInstance, compile_problem
from milp_recourse.scm.plan import PlanCache
from milp_recourse.solver.incumbent import Incumbent
from milp_recourse.mip.ir import affine_interval
from milp_recourse.mip.scaling import equilibrate, needs_equilibration, scaled_model
from milp_recourse.problem.recourse_problem import RecourseProblem

MIN_SHRINK = 0.01  # bound tightening stops once no interval shrinks by this fraction of its width in a pass
TIGHTEN_CUTS = 3   # tangent points per side of d^2 in the models the ranges are taken over (the search's has 9
#                    per side plus 9 at and near the incumbent's shift: fewer rows, ~20 % fewer simplex iterations)


def is_network_target(name: str) -> bool:
    """Whether a tightening target is a classifier's ReLU input (named by the encoder 'clf...'); the others are
    SCM terms (f[..], x'[..], scm:..)."""
    return name.startswith("clf")


def _layers(names: list[str]) -> list[list[str]]:
    """Tightening targets in stages, in compile (topological) order: the SCM's terms, then each network layer."""
    stages: list[list[str]] = []
    keys: list[str] = []
    for n in names:
        key = n.split("[")[0] if is_network_target(n) else "scm"
        if not keys or keys[-1] != key:
            keys.append(key)
            stages.append([])
        stages[-1].append(n)
    return stages


def _tighten(compiled: CompiledInstance, names: list[str], hints: dict[str, tuple[float, float]],
             threads: int = 1, deadline: float | None = None) -> bool:
    """LP ranges of the named targets over compiled's relaxation, intersected into hints; whether one shrank."""
    from milp_recourse.backends.highs import HighsBackend

    targets = [compiled.tighten_targets[n] for n in names]
    exprs = [(np.fromiter(a.terms.keys(), int), np.fromiter(a.terms.values(), float), a.const) for a in targets]
    model = compiled.model
    if needs_equilibration(model):
        # features in units far apart: the LPs in the model's own units met their tolerances off the true range
        # and cut an optimum off (x'[x6] to +-0.040 where the optimum holds it at 0.042; an outside fuzz)
        eq = equilibrate(model)
        model = scaled_model(model, eq)
        exprs = [(cols, coefs * eq.col[cols], const) for cols, coefs, const in exprs]
    shrunk = False
    ranges = HighsBackend().affine_ranges(model, exprs, threads=threads, deadline=deadline)
    for n, aff, (lo, hi) in zip(names, targets, ranges):
        pad = 1e-6 * (1.0 + max(abs(lo), abs(hi)) if np.isfinite(lo) and np.isfinite(hi) else 1.0)
        old_lo, old_hi = hints.get(n, affine_interval(aff, compiled.model.col_lb, compiled.model.col_ub))
        new = (max(old_lo, lo - pad), min(old_hi, hi + pad))
        shrunk = shrunk or new[1] - new[0] < (1.0 - MIN_SHRINK) * (old_hi - old_lo)
        hints[n] = new
    return shrunk


def _past(deadline: float | None) -> bool:
    return deadline is not None and time.perf_counter() >= deadline


def tighten_bounds(problem: RecourseProblem, compiled: CompiledInstance, inc: Incumbent, passes: int,
                   plans: PlanCache | None = None, deadline: float | None = None,
                   binary_indicators: bool = False) -> CompiledInstance:
    """LP bound tightening of every big-M source (unstable ReLU inputs, SCM terms) over {cost <= ub}, then
    recompile with the proven bounds.

    The first pass goes layer by layer, recompiling in between, so each layer's ranges are taken over a
    relaxation already tightened upstream (later passes take every target at once). Passes stop when no
    binary went away and no interval shrank by MIN_SHRINK of its width. Valid for every action at least as
    cheap as the incumbent, which is all the search needs.

    `deadline` (a time.perf_counter() instant, e.g. the solve's start + its time limit): no LP starts after
    it and no further pass or stage begins; the bounds proven so far are kept (every one is valid).
    `binary_indicators`: every recompile keeps the intervention indicators 0/1, as the caller's compile did
    (diagnose/relaxations.py adds rows on them; continuous ones broke its relaxation stage).
    """
    hints: dict[str, tuple[float, float]] = {}
    for k in range(passes):
        if not compiled.tighten_targets or _past(deadline):
            break
        before, shrunk = compiled.model.n_integer, False
        names = list(compiled.tighten_targets)
        for stage in (_layers(names) if k == 0 else [names]):
            stage = [n for n in stage if n in compiled.tighten_targets]  # upstream tightening may settle some
            if not stage:
                continue
            if _past(deadline):
                break
            shrunk = _tighten(compiled, stage, hints, problem.options.tighten_threads, deadline) or shrunk
            compiled = compile_problem(problem, upper_bound=inc.cost, initial_cuts=TIGHTEN_CUTS, bound_hints=hints,
                                       plans=plans, binary_indicators=binary_indicators)
        if compiled.model.n_integer >= before and not shrunk:
            break  # no binary went away and no interval shrank materially: another pass will not help
    return compile_problem(problem, upper_bound=inc.cost, bound_hints=hints, incumbent=inc.action, plans=plans,
                           binary_indicators=binary_indicators)


__all__ = ["tighten_bounds", "is_network_target"]
