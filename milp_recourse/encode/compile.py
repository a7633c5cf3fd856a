"""Build the MILP for one person: counterfactual columns, interventions, SCM rows, classifier, cost.

The only module that knows SCM + classifier + problem together. Structure per person:
for each actionable k an indicator a_k and a shift d_k = theta_k - x_k (0 unless a_k = 1);
a counterfactual column x'_j for every variable that can change; x'_k = x_k + d_k when intervened,
x'_j = f_j(pa'_j) + u_j otherwise (big-M from propagated bounds). Everything that cannot change
for this person is a constant, so immutables never cost binaries.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from milp_recourse.encode.classifier_registry import encode_classifier
from milp_recourse.encode.input_prices import input_prices
from milp_recourse.encode.cost_terms import add_max_objective, percentile_term, percentile_window
from milp_recourse.encode.effect_cuts import add_effect_cuts, deviation_bound, slope_bounds
from milp_recourse.encode.logic_rows import add_logic_rows, link_affine, linked
from milp_recourse.encode.plausibility import DensityRows, add_plausibility
from milp_recourse.encode.scm_equations import Linearizer
from milp_recourse.scm.plan import PlanCache, ScmPlan
from milp_recourse.mip.ir import INF, Affine, IRBuilder, MIPModel
from milp_recourse.models.classifiers import score_threshold
from milp_recourse.problem.logic import order as logic_order
from milp_recourse.problem.options import FeatureRule
from milp_recourse.problem.recourse_problem import RecourseProblem
from milp_recourse.scm import expr as ex

GROUP_TARGET = "target:threshold"
ROW_TERMS = 1e6   # largest term a scaled tangent row keeps (tangent_row_scale)


@dataclass(frozen=True)
class CompiledInstance:
    """The MILP of one person plus the column maps needed to decode and re-parameterise it."""

    model: MIPModel
    a_cols: Mapping[str, int]
    d_cols: Mapping[str, int]
    t_cols: Mapping[str, int]                 # cost epigraph columns (p = 2: tangent cuts of coef d^2, p = 1: |d|)
    grid_cols: Mapping[str, tuple[tuple[int, float], ...]]
    xp_cols: Mapping[str, int]                # counterfactual columns of variables that can change
    cost_coef: Mapping[str, float]            # scale * w_k / divisor_k
    d_bounds: Mapping[str, tuple[float, float]]
    score: Affine
    score_kind: str
    score_min: float                          # threshold + margin in score space
    approx_error: float                       # max PWL interpolation error in the SCM (0 = exact)
    quadratic: bool                           # p = 2 on some continuous feature (needs outer approximation)
    blocked: tuple[str, ...] = field(default=())
    objective_scale: float = 1.0              # solver objective = objective_scale * cost
    tighten_targets: Mapping[str, Affine] = field(default_factory=dict)  # big-M sources: ReLU inputs, SCM terms
    density: DensityRows | None = None        # plausibility by log-density: the ball the search adds cuts of


def _shift_bounds(rule: FeatureRule, xk: float, radius: float | None,
                  window: tuple[float, float] | None = None) -> tuple[float, float]:
    """Bounds on the shift d = theta - x: the rule's range, within `radius` of x and inside the theta `window`."""
    lo, hi = rule.lower - xk, rule.upper - xk
    if radius is not None:
        lo, hi = max(lo, -radius), min(hi, radius)
    if window is not None:
        lo, hi = max(lo, window[0] - xk), min(hi, window[1] - xk)
    return lo, hi


def percentile_budget_window(rule: FeatureRule, problem: RecourseProblem, xk: float,
                             upper_bound: float | None) -> tuple[float, float] | None:
    """Percentile cost: the values of theta whose own cost stays within upper_bound - l0 (None: no bound)."""
    cost = problem.cost
    coef = cost.scale * rule.weight / rule.divisor
    if cost.kind != "percentile" or coef <= 0 or upper_bound is None or not math.isfinite(upper_bound) \
            or rule.name in cost.tables:
        return None
    budget = max(upper_bound - cost.l0, 0.0) * (1 + 1e-9) + 1e-12
    return percentile_window(cost.cdfs[rule.name], xk, budget / coef)


def cost_radius(rule: FeatureRule, problem: RecourseProblem, upper_bound: float | None) -> float | None:
    """No action cheaper than upper_bound can move this feature further than this (None: unbounded)."""
    if upper_bound is None or not math.isfinite(upper_bound):
        return None
    coef = problem.cost.scale * rule.weight / rule.divisor
    if coef <= 0 or problem.cost.kind != "power" or rule.name in problem.cost.tables:
        return None   # percentile: an asymmetric window instead (_shift_bounds); a level table: not a distance
    budget = max(upper_bound - problem.cost.l0, 0.0) * (1 + 1e-9) + 1e-12
    return (budget / coef) ** (1.0 / problem.cost.p)


@dataclass(frozen=True)
class _Equation:
    """A changing node's equation for one person: its affine form (from the SCM plan) or the substituted tree."""

    affine: tuple[Mapping[str, float], float] | None   # ({changing parent: coefficient}, offset)
    expr: ex.Expr | None
    derivatives: Mapping[str, ex.Expr] | None = None   # of the unsubstituted equation, per changing parent

    @property
    def structural(self) -> bool:
        """Whether the equation still depends on a changing parent for this person."""
        return bool(self.affine[0]) if self.affine is not None else bool(ex.names(self.expr))


def _person_equation(scm, name: str, constants: Mapping[str, float], plan: ScmPlan | None) -> _Equation:
    form = plan.affine.get(name) if plan is not None else None
    parts = form.evaluate(constants) if form is not None else None
    if parts is not None:
        coefs, offset = parts
        return _Equation(({k: a for k, a in coefs.items() if a != 0.0}, offset), None)
    ders = plan.derivatives.get(name) if plan is not None else None
    return _Equation(None, ex.substitute(scm.equations[name], constants), ders)


def _encode_equation(eqn: _Equation, b: IRBuilder, env: Mapping[str, Affine], group: str,
                     breakpoints: int) -> tuple[Affine, float]:
    """f_j(pa') as an Affine over the model's columns, and its piecewise-linear error (0: exact)."""
    if eqn.affine is not None:
        coefs, offset = eqn.affine
        f = Affine.constant(offset)
        for k, a in coefs.items():
            f = f + env[k] * a
        return f, 0.0
    lin = Linearizer(b, env, group, breakpoints)
    return lin(eqn.expr), lin.max_error


def _slopes(eqn: _Equation, b: IRBuilder, env: Mapping[str, Affine], approximated: bool,
            constants: Mapping[str, float]):
    """Interval of df/dx_q per changing parent q over the box (None: no effect bound, see effect_cuts)."""
    if approximated:
        return None
    if eqn.affine is not None:
        return {k: (a, a) for k, a in eqn.affine[0].items()}
    ders = None if eqn.derivatives is None else {q: ex.substitute(d, constants) for q, d in eqn.derivatives.items()}
    return slope_bounds(eqn.expr, {q: b.bounds_of(env[q]) for q in sorted(ex.names(eqn.expr))}, ders)


def compile_problem(problem: RecourseProblem, upper_bound: float | None = None, initial_cuts: int = 9,
                    bound_hints: Mapping[str, tuple[float, float]] | None = None,
                    incumbent: Mapping[str, float] | None = None, binary_indicators: bool = False,
                    plans: PlanCache | None = None) -> CompiledInstance:
    """Compile `problem` to a MILP.

    `upper_bound` (the cost of a known valid action) shrinks the box, adds the row cost <= upper_bound
    and scales the objective so the optimum is O(1) (tree leaves no action within it reaches are left out,
    encode/input_prices.py); `bound_hints` are proven intervals of named
    ReLU inputs (from LP tightening under the same upper bound); for p = 2 the tangent cuts also
    touch d_k^2 at the `incumbent` action's shifts, which makes its pattern's lower bound exact.
    An intervention indicator a_k is continuous in [0, 1] where nothing depends on its value being 0/1
    (no L0 cost, no max-changes, no excluded set, no grid, no structural row, no preferred range, and bounds that
    allow a zero shift: then d_k = 0 iff no intervention, and a_k d_lo <= d_k <= a_k d_hi is d_lo <= d_k <= d_hi;
    bounds excluding the current value need a_k binary, or a fractional a_k would move x_k less than they allow),
    unless
    `binary_indicators` (callers that add rows on the indicators, e.g. relaxation.py).
    `plans` keeps the person-independent half of the SCM compile (encode/scm_plan.py) across calls; without
    it every equation is partially evaluated by substitution (the same model, built more slowly).
    """
    scm, opts, cost = problem.scm, problem.options, problem.cost
    x = dict(zip(scm.names, map(float, problem.x)))
    U = problem.noise
    noise = {scm.variable(n).noise_name: float(u) for n, u in zip(scm.names, U)}
    rules = {r.name: r for r in problem.rules}
    usable = [r for r in problem.rules if not r.blocked and not (problem.actionability.max_changes == 0)]
    act_names = [r.name for r in usable]
    # excluded sets (solver/options.py): only a set whose features can all change needs a row, on binary indicators
    cut_sets = [group for group in problem.actionability.excluded_sets if set(group) <= set(act_names)]
    in_cuts = {n for group in cut_sets for n in group}
    links = linked(problem.logic)   # linkage targets change with their source (encode/logic_rows.py)
    movers = act_names + [t for t in links if t not in act_names]
    if plans is not None:
        changing = set(plans.changing(scm, movers))
        plan = plans.get(scm, frozenset(changing))
    else:
        changing, plan = set(movers) | set(scm.descendants(movers)), None
    constants = {k: v for k, v in x.items() if k not in changing}
    constants.update(noise)
    b = IRBuilder(bound_hints)
    env: dict[str, Affine] = {}
    a_cols, d_cols, t_cols, xp_cols, cost_coef, d_bounds = {}, {}, {}, {}, {}, {}
    grid_cols: dict[str, tuple[tuple[int, float], ...]] = {}
    lin_error = 0.0
    slopes: dict[str, dict | None] = {}   # changing nodes whose equation depends on changing parents

    order = logic_order(scm, problem.logic)   # topological for the SCM and the links (scm.names without links)
    for name in order:
        if name not in changing:
            continue
        if name in links:   # a root moved by its link alone: x_T + r (x'_S - x_S), no column, no cost
            env[name], slope = link_affine(links[name], env, x)
            if slope is not None:
                slopes[name] = slope
                var = scm.variable(name)   # the link keeps its target inside the variable's domain
                b.add_ge(env[name], float(var.lower), f"hard:link-domain:{name}")
                b.add_le(env[name], float(var.upper), f"hard:link-domain:{name}")
            continue
        group = f"scm:{name}"
        eqn = _person_equation(scm, name, constants, plan)
        structural_needed = eqn.structural  # depends on a changing parent
        if name in rules and name in act_names:
            rule = rules[name]
            radius = cost_radius(rule, problem, upper_bound)
            dlo, dhi = _shift_bounds(rule, x[name], radius, percentile_budget_window(rule, problem, x[name],
                                                                                     upper_bound))
            if dlo > dhi:  # the cost budget excludes every allowed value: never intervene
                dlo = dhi = 0.0
                grid = ()
            else:
                grid = rule.grid
            free_indicator = not (binary_indicators or structural_needed or grid is not None or cost.l0
                                  or problem.actionability.max_changes is not None or name in in_cuts
                                  or not dlo <= 0.0 <= dhi or name in problem.preferences.preferred_ranges)
            a = b.add_var(f"a[{name}]", 0.0, 1.0) if free_indicator else b.add_binary(f"a[{name}]")
            d = b.add_var(f"d[{name}]", min(dlo, 0.0), max(dhi, 0.0), integer=rule.integer and float(x[name]).is_integer())
            A, D = Affine.column(a), Affine.column(d)
            b.add_ge(D - A * dlo, 0.0, f"hard:bounds:{name}")
            b.add_le(D - A * dhi, 0.0, f"hard:bounds:{name}")
            if grid is not None:
                cols = []
                for v in grid:
                    if dlo - 1e-12 <= v - x[name] <= dhi + 1e-12:
                        cols.append((b.add_binary(f"g[{name}={v:g}]"), float(v)))
                b.add_eq(Affine({c: 1.0 for c, _ in cols}) - A, 0.0, f"hard:grid:{name}")
                b.add_eq(D - Affine({c: v - x[name] for c, v in cols}), 0.0, f"hard:grid:{name}")
                grid_cols[name] = tuple(cols)
                b.values_of[d] = ((0.0, x[name], 1.0 - A),) + tuple((v - x[name], v, Affine.column(c)) for c, v in cols)
            a_cols[name], d_cols[name], d_bounds[name] = a, d, (min(dlo, 0.0), max(dhi, 0.0))
            cost_coef[name] = cost.scale * rule.weight / rule.divisor
            if not structural_needed:
                env[name] = D + x[name]
                continue
            f, err = _encode_equation(eqn, b, env, group, opts.pwl_breakpoints)
            lin_error = max(lin_error, err)
            slopes[name] = _slopes(eqn, b, env, err > 0, constants)
            flo, fhi = b.hinted_bounds(f"f[{name}]", f)
            b.tighten_targets[f"f[{name}]"] = f
            lo, hi = min(flo, x[name] + dlo), max(fhi, x[name] + dhi)
            # a binary node's counterfactual is 0 or 1 either way (its intervened value, its exact indicator): an
            # integer column, so that a product with it stays exact (an outside fuzz: 'b * v1' with b an
            # actionable threshold node was refused as a product of two changing continuous quantities)
            whole = scm.variable(name).kind == "binary" and err == 0.0
            if whole:   # (bounds of a 0/1 value: its interval rounded inwards to whole numbers)
                lo, hi = float(max(0, math.ceil(lo - 1e-9))), float(min(1, math.floor(hi + 1e-9)))
            xp = b.add_var(f"x'[{name}]", lo, hi, integer=whole)
            XP = Affine.column(xp)
            m1 = max(hi - x[name] - min(dlo, 0.0), x[name] + max(dhi, 0.0) - lo, 0.0)
            m2 = max(hi - flo, fhi - lo, 0.0)
            # a = 1  ->  x' = x + d ;  a = 0  ->  x' = f(pa')
            b.add_le(XP - D + A * m1, x[name] + m1, group)
            b.add_ge(XP - D - A * m1, x[name] - m1, group)
            b.add_le(XP - f - A * m2, 0.0, group)
            b.add_ge(XP - f + A * m2, 0.0, group)
            xp_cols[name] = xp
            env[name] = XP
            if grid is not None:
                b.values_when[xp] = (A, tuple((v, Affine.column(c)) for c, v in grid_cols[name]))
        else:
            f, err = _encode_equation(eqn, b, env, group, opts.pwl_breakpoints)
            lin_error = max(lin_error, err)
            if structural_needed:
                slopes[name] = _slopes(eqn, b, env, err > 0, constants)
            if len(f.terms) <= 3:
                env[name] = f   # affine in few columns: substitute (exact intervals downstream, no column)
                continue
            lo, hi = b.hinted_bounds(f"x'[{name}]", f)
            b.tighten_targets[f"x'[{name}]"] = f
            xp = b.add_var(f"x'[{name}]", lo, hi)
            b.add_eq(Affine.column(xp) - f, 0.0, group)
            xp_cols[name] = xp
            env[name] = Affine.column(xp)

    add_logic_rows(b, problem.logic, env, x, scm.domains)   # IF-THEN rules, exact (encode/logic_rows.py)

    if problem.actionability.max_changes is not None and a_cols:
        b.add_le(Affine({a: 1.0 for a in a_cols.values()}), float(problem.actionability.max_changes),
                 "hard:max_changes")

    for group in cut_sets:   # no-good cut: not every feature of the set is intervened on (a superset neither)
        b.add_le(Affine({a_cols[n]: 1.0 for n in group}), float(len(group) - 1), "hard:excluded_set")

    density, err = add_plausibility(problem, b, env, x, act_names, constants, opts.pwl_breakpoints)
    lin_error = max(lin_error, err)

    inputs = [env[f] if f in env else Affine.constant(x[f]) for f in problem.features]
    # validated: the RecourseProblem did on construction; bounded_below: the score is used in one >= row only
    direct = {k: c for k, c in cost_coef.items() if k not in xp_cols and k not in cost.tables}   # x' = x + d
    prices = input_prices(problem.features, x, direct, cost.p, cost.l0, cost.aggregate, upper_bound) \
        if cost.kind == "power" else None
    enc = encode_classifier(problem.classifier, b, inputs, opts.target_class, split_margin=opts.split_margin,
                            validated=True, bounded_below=True, prices=prices)
    smin = score_threshold(enc.kind, opts.threshold) + opts.margin
    b.add_ge(enc.score, smin, GROUP_TARGET)

    shifts = {k: v - x[k] for k, v in (incumbent or {}).items()}
    quadratic = _add_cost(b, problem, a_cols, d_cols, t_cols, grid_cols, cost_coef, d_bounds, x, initial_cuts,
                          shifts)
    if opts.effect_cuts:
        bounds = {k: deviation_bound(k, a_cols, d_cols, t_cols, grid_cols, d_bounds, x, cost.p) for k in a_cols}
        add_effect_cuts(b, [n for n in order if n in changing], env, x, slopes, bounds)
    scale = 1.0
    if upper_bound is not None and math.isfinite(upper_bound) and upper_bound > 1e-12:
        scale = 1.0 / upper_bound
        b.scale_objective(scale)
        b.add_objective_cutoff(1.0 + 1e-7)
    elif 0.0 < (largest := b.largest_objective_coefficient()) < 1.0:
        # no incumbent to scale by: the largest cost coefficient is made 1. At --cost-scale 1e-7 every reduced cost
        # sat at HiGHS's 1e-7 dual tolerance and the small branch and bound proved an action 1.7x the optimum
        scale = 1.0 / largest
        b.scale_objective(scale)
    blocked = tuple(r.name for r in problem.rules if r.blocked)
    return CompiledInstance(b.build(), a_cols, d_cols, t_cols, grid_cols, xp_cols, cost_coef, d_bounds,
                            enc.score, enc.kind, smin, lin_error, quadratic, blocked, scale, dict(b.tighten_targets),
                            density)


def tangent_points(lo: float, hi: float, n: int) -> np.ndarray:
    """Tangent points for d^2 on [lo, hi]: 0 plus points spread towards both ends."""
    pts = [0.0]
    for end in (lo, hi):
        if end != 0.0:
            pts += list(end * (np.arange(1, n + 1) / n) ** 2)
    return np.unique(np.asarray(pts))


def tangent_row_scale(t_max: float) -> float:
    """Factor for a tangent row t >= c (2 q d - q^2) whose t is at most t_max, so that its terms stay O(1) .. O(1e6).

    Tiny (t_max < 1): a tiny-cost person's rows (shifts ~1e-3, t ~1e-6) let t sit far below d^2 within the solver's
    1e-7 row tolerance and the outer-approximation bound stalled above the gap: rows are scaled up, at most 1e10
    (HiGHS rejects entries >= 1e15). Huge (t_max > 1e6): a shift of 1.6e6 made a row's terms ~4e13, whose round-off
    (2.4e-4) broke HiGHS's absolute 1e-7 check ('Solve error'): rows are scaled down to O(1e6) terms, the factor at
    least 1e-8 (HiGHS drops entries below 1e-9)."""
    if 0.0 < t_max < 1.0:
        return 1.0 / max(t_max, 1e-10)
    if t_max > ROW_TERMS:
        return 1.0 / min(t_max / ROW_TERMS, 1e8)
    return 1.0


def _add_cost(b: IRBuilder, problem: RecourseProblem, a_cols, d_cols, t_cols, grid_cols, cost_coef, d_bounds,
              x, initial_cuts: int, shifts: Mapping[str, float]) -> bool:
    """Objective: weighted |d|^p or percentile shifts (grid: exact per value), summed or under a max epigraph
    (encode/cost_terms.py), plus L0 and preferred-range penalties (always additive)."""
    cost = problem.cost
    p, l0 = cost.p, cost.l0
    quadratic = False
    terms: dict[str, Affine] = {}   # each feature's own cost (the max aggregate takes their epigraph)
    for name, a in a_cols.items():
        d, coef = d_cols[name], cost_coef[name]
        if l0:
            b.add_objective(Affine.column(a, l0))
        if name in grid_cols:
            vals = [float(cost.shift(name, x[name], v)) for _, v in grid_cols[name]]
            terms[name] = Affine({c: coef * g for (c, _), g in zip(grid_cols[name], vals)})
        elif coef > 0 and cost.kind == "percentile":
            dlo, dhi = d_bounds[name]
            terms[name] = percentile_term(b, name, Affine.column(d), x[name], dlo, dhi, cost.cdfs[name]) * coef
        elif coef > 0 and p == 1:
            dlo, dhi = d_bounds[name]
            t = b.add_var(f"t[{name}]", 0.0, max(abs(dlo), abs(dhi)))
            T, D = Affine.column(t), Affine.column(d)
            b.add_ge(T - D, 0.0, f"cost:{name}")
            b.add_ge(T + D, 0.0, f"cost:{name}")
            terms[name] = T * coef
            t_cols[name] = t
        elif coef > 0:
            # t prices coef * d^2 in cost units (objective coefficient 1): with t in d^2 units, a feature measured in
            # other units (divisor 1e10) put 1e-10 on t, below HiGHS's 1e-7 dual tolerance, so t was all but free
            # and the MILP proved an action 4.7x the optimum
            quadratic = True
            dlo, dhi = d_bounds[name]
            t_max = coef * max(abs(dlo), abs(dhi)) ** 2
            t = b.add_var(f"t[{name}]", 0.0, t_max)
            T, D = Affine.column(t), Affine.column(d)
            pts = tangent_points(dlo, dhi, initial_cuts)
            if name in shifts:  # dense near the incumbent: neighbouring patterns get near-exact bounds
                near = shifts[name] * (1.0 + np.array([0.0, -0.1, -0.05, -0.02, -0.01, 0.01, 0.02, 0.05, 0.1]))
                pts = np.unique(np.concatenate([pts, near[(near >= dlo) & (near <= dhi)]]))
            for q in pts:  # (each huge row scaled by its own tangent point, where the cut touches)
                norm = tangent_row_scale(t_max if t_max < 1.0 else coef * q * q)
                b.add_ge((T - D * (2 * q * coef)) * norm, -q * q * coef * norm, f"cost:{name}")
            terms[name] = T
            t_cols[name] = t
        rng = problem.preferences.preferred_ranges.get(name)
        if rng is not None and problem.preferences.range_penalty > 0:
            s = b.add_var(f"s[{name}]", 0.0, INF)
            S, D, A = Affine.column(s), Affine.column(d), Affine.column(a)
            b.add_ge(S + D - A * (rng[0] - x[name]), 0.0, f"pref:{name}")   # s >= lo - theta when a = 1
            b.add_ge(S - D + A * (rng[1] - x[name]), 0.0, f"pref:{name}")   # s >= theta - hi when a = 1
            b.add_objective(S * problem.preferences.range_penalty)
    if cost.aggregate == "max":
        add_max_objective(b, terms, sum(b.bounds_of(term)[1] for term in terms.values()))
    else:
        for term in terms.values():
            b.add_objective(term)
    return quadratic


__all__ = ["CompiledInstance", "compile_problem", "tangent_points", "tangent_row_scale", "cost_radius"]
