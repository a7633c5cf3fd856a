"""Exact closed-form search for linear scores and p = 1 / 2 costs over piecewise-linear SCMs (solve_many's fast path).

Why it is exact. Take a person whose classifier score is affine in the features (logistic regression, linear
SVM, behind scalers) and whose cost is sum_k c_k |d_k|^p (power cost, no L0, grids, integers, max-changes,
excluded sets, preferred ranges, plausibility or logic rows). Fix which of the actionable variables with changing
parents are intervened on (a pattern; the others follow their equations). If every changing equation is built
from sums, constant multiples and max / min / relu / abs (pwl_lift.py), the score is then a convex piecewise-linear
function of the shifts d, score(d) = max_i g_i(d) with affine pieces g_i, so
    {d : score(d) >= s_min} = union_i {d : g_i(d) >= s_min}.
The optimum is the cheapest over patterns and pieces of   min sum_k c_k |d_k|^p  s.t.  g_i . d >= r,  lo <= d <= hi
(lo <= 0 <= hi). For p = 1 an LP with one row, whose optimum is the fractional knapsack: move the shifts in order
of cost per unit of score, c_k / |g_ik|, each to its bound, the last one just far enough; for p = 2 a convex QP with
one row, whose KKT point d_k = clip(lam g_k / 2 c_k, lo_k, hi_k) has lam on one linear segment between the sorted
kinks where shifts reach their bounds (knapsack_squared). This is the same problem as the MILP
compile.py writes (its big-M rows, effect cuts and relaxation bounds only restate it), solved in closed form for a
whole batch of people with numpy. People it does not apply to (any condition above, a concave score, more than
MAX_PATTERNS patterns, an infeasible person, whose certificate needs the MILP) are left to the MILP pipeline.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from milp_recourse.encode.classifier_registry import encode_classifier
from milp_recourse.encode.compile import CompiledInstance
from milp_recourse.errors import RecourseError
from milp_recourse.mip.ir import INF, Affine, IRBuilder
from milp_recourse.models.adapter import network_layers, split_model
from milp_recourse.models.trees import is_tree_model
from milp_recourse.models.classifiers import reference_score, score_threshold
from milp_recourse.problem.recourse_problem import RecourseProblem
from milp_recourse.result import PathStep, SearchState
from milp_recourse.scm import expr as ex
from milp_recourse.solver import strategy as st
from milp_recourse.solver.milp_search import SearchOutcome
from milp_recourse.solver.pwl_lift import NotPiecewise, Pwl, lift

ENGINE = "linear-pieces"
MAX_PATTERNS = 64          # 2^6 intervention patterns of actionable variables with changing parents
SCORE_CHECK_TOL = 1e-7     # the affine score must reproduce the classifier's own score at the factuals
# what finish() reads of a compiled model for a person settled here: none was built, nothing was approximated
NO_MODEL = CompiledInstance(IRBuilder().build(), {}, {}, {}, {}, {}, {}, {}, Affine.constant(0.0), "logit", 0.0, 0.0,
                            False)
REASON = "the closed form over linear pieces proved the optimum (linear score, |shift|^p cost)"


@dataclass(frozen=True)
class LinearScore:
    """score(x) = weights . x[features] + intercept, in the score space of `kind` (logit / decision)."""

    weights: np.ndarray
    intercept: float
    kind: str


def linear_score(classifier: object, n_features: int, target_class: object) -> LinearScore | None:
    """The classifier's score as an affine function of its inputs, or None when its encoding needs rows or
    columns of its own (trees, ReLU networks, one-hot inputs): read off its MILP encoding on free columns."""
    b = IRBuilder()
    cols = [b.add_var(f"x{j}", -INF, INF) for j in range(n_features)]
    try:
        enc = encode_classifier(classifier, b, [Affine.column(j) for j in cols], target_class, validated=True,
                                bounded_below=True)
    except (RecourseError, ValueError):   # e.g. trees need finite input bounds: not linear anyway
        return None
    if b.n_cols != n_features or b.build().n_rows or enc.kind not in ("logit", "decision"):
        return None
    w = np.zeros(n_features)
    for j, c in enc.score.terms.items():
        w[j] = c
    return LinearScore(w, float(enc.score.const), enc.kind)


def may_be_linear(classifier: object, n_features: int) -> bool:
    """False for a tree ensemble or a ReLU network (behind any preprocessing), without reading the model into a
    MILP encoding as linear_score does (~34 ms for 300 trees, which `solve` would pay on every call)."""
    try:
        _, final, _ = split_model(classifier, n_features)
    except RecourseError:
        return True
    return not is_tree_model(final) and network_layers(final) is None


def ineligible(problem: RecourseProblem) -> str | None:
    """Why the closed form does not apply to this person's problem (None: it may, if the SCM is piecewise linear
    and the score linear, checked per batch)."""
    return _settings_reason(problem) or _rules_reason(problem)


def _settings_reason(problem: RecourseProblem) -> str | None:
    """The half of ineligible() that depends on settings people usually share (cost, constraints, options)."""
    cost, act = problem.cost, problem.actionability
    if cost.kind != "power" or cost.aggregate != "sum" or cost.l0 or cost.tables:
        return "the cost is not a plain sum of weighted |shifts|^p"
    if act.max_changes is not None or act.excluded_sets or act.logic:
        return "max-changes, excluded sets or logic rules"
    if problem.plausibility is not None:
        return "a plausibility constraint"
    if problem.options.backend != "highs":
        return f"backend {problem.options.backend!r} was asked for"
    if not problem.options.closed_form:
        return "disabled (closed_form=False)"
    prefs = problem.preferences
    if prefs.range_penalty > 0 and prefs.preferred_ranges:
        return "preferred-range penalties"
    return None


def _rules_reason(problem: RecourseProblem) -> str | None:
    """The per-person half of ineligible(): the effective rules (the spec's logic rules included)."""
    if problem.logic:
        return "logic rules"
    usable = [r for r in problem.rules if not r.blocked]
    if not usable:
        return "nothing is actionable"
    for r in usable:
        if r.grid is not None or r.integer:
            return f"{r.name} takes grid / integer values"
    return None


def _group_key(pr: RecourseProblem, usable: tuple[str, ...]) -> tuple:
    o = pr.options
    return (pr.cost.p, id(pr.scm), id(pr.classifier), tuple(pr.features), o.threshold, o.margin, repr(o.target_class),
            usable)


def settle(problems: Sequence[RecourseProblem]) -> dict[int, SearchOutcome]:
    """Proven-optimal outcomes for the problems the closed form applies to (by index); others are absent."""
    groups: dict[tuple, list[int]] = {}
    shared: dict[tuple, bool] = {}   # the person-independent half of ineligible(), per set of shared settings
    for i, pr in enumerate(problems):
        ids = (id(pr.cost), id(pr.actionability), id(pr.options), id(pr.preferences), id(pr.plausibility))
        if ids not in shared:
            shared[ids] = _settings_reason(pr) is None
        if shared[ids] and _rules_reason(pr) is None:
            groups.setdefault(_group_key(pr, tuple(r.name for r in pr.rules if not r.blocked)), []).append(i)
    out: dict[int, SearchOutcome] = {}
    scores: dict[tuple, LinearScore | None] = {}
    for key, members in groups.items():
        pr = problems[members[0]]
        skey = (key[2], len(pr.features), key[6])
        if skey not in scores:
            scores[skey] = linear_score(pr.classifier, len(pr.features), pr.options.target_class)
        score = scores[skey]
        if score is None:
            continue
        out.update(_settle_group([problems[i] for i in members], members, score))
    return out


@dataclass(frozen=True)
class _Batch:
    """People of one group as arrays: factuals X, noise U, and per actionable feature (columns in `act` order) the
    bounds on the new value and the cost coefficient."""

    problems: list[RecourseProblem]
    act: list[str]
    X: np.ndarray
    U: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    c: np.ndarray

    def take(self, rows: np.ndarray) -> "_Batch":
        return _Batch([self.problems[i] for i in rows], self.act, self.X[rows], self.U[rows], self.lower[rows],
                      self.upper[rows], self.c[rows])

    @property
    def x_act(self) -> np.ndarray:
        scm = self.problems[0].scm
        return self.X[:, [scm.index(k) for k in self.act]]


def _settle_group(problems: list[RecourseProblem], index: list[int], score: LinearScore) -> dict[int, SearchOutcome]:
    """The closed form for people sharing SCM, classifier, settings and actionable set; per person when the
    batch as a whole is not piecewise linear (a multiplier's sign differs between them)."""
    t = time.perf_counter()
    pr = problems[0]
    scm = pr.scm
    X = np.vstack([p.x for p in problems])
    feat_idx = [scm.index(f) for f in pr.features]
    s0 = X[:, feat_idx] @ score.weights + score.intercept
    ref, _ = reference_score(pr.classifier, X[:, feat_idx], pr.options.target_class)
    keep = np.abs(s0 - ref) <= SCORE_CHECK_TOL * (1.0 + np.abs(ref))
    act = [r.name for r in pr.rules if not r.blocked]
    rules = [[r for r in p.rules if not r.blocked] for p in problems]   # in `act` order: the group key's names
    lower = np.array([[r.lower for r in rs] for rs in rules])
    upper = np.array([[r.upper for r in rs] for rs in rules])
    c = np.array([[p.cost.scale * r.weight / r.divisor for r in rs] for p, rs in zip(problems, rules)])
    batch = _Batch(problems, act, X, np.vstack([p.noise for p in problems]), lower, upper, c)
    xa = batch.x_act
    keep &= np.all((lower <= xa) & (xa <= upper) & (c > 0) & np.isfinite(c), axis=1)
    rows = np.flatnonzero(keep)
    if not rows.size:
        return {}
    try:
        found = _closed_form(batch.take(rows), score)
        local = {int(rows[k]): v for k, v in found.items()}
    except NotPiecewise:
        local = {}
        for r in rows if len(rows) > 1 else ():   # the batch mixes signs: each person alone has definite ones
            try:
                one = _closed_form(batch.take(np.array([r])), score)
            except NotPiecewise:
                continue
            local.update({int(r): v for v in one.values()})
    return _outcomes(index, local, time.perf_counter() - t, len(problems))


@dataclass(frozen=True)
class _Found:
    action: dict[str, float]
    cost: float
    pieces: int


def _outcomes(index: list[int], found: dict[int, _Found], seconds: float, n: int) -> dict[int, SearchOutcome]:
    """SearchOutcomes by batch index; each person is charged an equal share of the group's seconds."""
    share = seconds / max(n, 1)
    reasons = {e: REASON for e in st.ENGINES}
    out = {}
    steps: dict[int, PathStep] = {}
    for k, f in found.items():
        if f.pieces not in steps:   # (PathSteps are frozen: one per piece count serves the group)
            steps[f.pieces] = PathStep(ENGINE, share, SearchState.OPTIMAL, {"pieces": f.pieces})
        out[index[k]] = SearchOutcome(f.action, f.cost, f.cost, SearchState.OPTIMAL, share, rounds=f.pieces,
                                      engine=ENGINE, path=[steps[f.pieces]], reasons=dict(reasons))
    return out


def _closed_form(batch: _Batch, score: LinearScore) -> dict[int, _Found]:
    """Cheapest action per person over every pattern and piece (raises NotPiecewise for the whole batch)."""
    pr = batch.problems[0]
    scm, act, X = pr.scm, batch.act, batch.X
    n, m = len(batch.problems), len(act)
    xa = batch.x_act
    lo, hi = batch.lower - xa, batch.upper - xa
    changing = frozenset(act) | scm.descendants(act)
    consts: dict[str, np.ndarray] = {}
    for j, name in enumerate(scm.names):
        consts[scm.variable(name).noise_name] = batch.U[:, j]
        if name not in changing:
            consts[name] = X[:, j]
    if any(getattr(scm.variable(name), "levels", None) for name in changing):
        raise NotPiecewise("a categorical / ordinal variable changes")
    structural = [k for k in act if ex.names(scm.equations[k]) & changing]
    if 2 ** len(structural) > MAX_PATTERNS:
        raise NotPiecewise(f"more than {MAX_PATTERNS} intervention patterns")
    smin = score_threshold(score.kind, pr.options.threshold) + pr.options.margin
    solver = knapsack if pr.cost.p == 1 else knapsack_squared
    w = dict(zip(pr.features, score.weights))
    best = np.full(n, np.inf)
    best_d = np.zeros((n, m))
    best_pattern = np.zeros(n, int)
    pieces = 0
    patterns = list(itertools.product((False, True), repeat=len(structural)))
    for p_idx, bits in enumerate(patterns):
        cut = {k for k, on in zip(structural, bits) if not on}   # follow their equations (shift fixed at 0)
        env: dict[str, Pwl] = {}
        for name in scm.names:
            if name not in changing:
                continue
            if name in act and name not in cut:
                piece = np.zeros((n, m + 1))
                piece[:, act.index(name)] = 1.0
                piece[:, -1] = X[:, scm.index(name)]
                env[name] = Pwl.affine(piece)
            else:
                v = lift(scm.equations[name], consts, env, n, m)
                env[name] = v if isinstance(v, Pwl) else Pwl.affine(np.column_stack([np.zeros((n, m)), v]))
        total = Pwl.affine(np.column_stack([np.zeros((n, m)), np.full(n, score.intercept)]))
        for f, wf in w.items():
            if wf == 0.0:
                continue
            total = total.add(env[f].scale(np.full(n, wf))) if f in env else total.shift(wf * X[:, scm.index(f)])
        if total.curvature < 0:
            raise NotPiecewise("the score is concave in the shifts")
        plo, phi = lo.copy(), hi.copy()
        for k in cut:
            plo[:, act.index(k)] = phi[:, act.index(k)] = 0.0
        for g in total.pieces:
            pieces += 1
            if not np.all(np.isfinite(g)):
                raise NotPiecewise("a non-finite coefficient")
            cost, d = solver(g[:, :m], smin - g[:, m], plo, phi, batch.c)
            better = cost < best
            best = np.where(better, cost, best)
            best_d[better] = d[better]
            best_pattern[better] = p_idx
    theta = np.clip(xa + best_d, batch.lower, batch.upper)   # (decode's clip: the shifts already lie inside)
    # intervened on: a shift that moved, or a variable with changing parents that the pattern cuts loose (even
    # at its own value: it then stays put while its parents move)
    on = np.array([[k in structural and bits[structural.index(k)] for k in act] for bits in patterns], bool)
    keep = (best_d != 0.0) | on[best_pattern].reshape(n, m)
    out = {}
    for i in np.flatnonzero(np.isfinite(best)):
        out[int(i)] = _Found({k: float(v) for k, v, use in zip(act, theta[i], keep[i]) if use}, float(best[i]), pieces)
    return out


def knapsack(g: np.ndarray, r: np.ndarray, lo: np.ndarray, hi: np.ndarray, c: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray]:
    """Per row: min sum_k c_k |d_k| s.t. g . d >= r, lo <= d <= hi (lo <= 0 <= hi, c > 0): the fractional
    knapsack (shifts in order of c_k / |g_k|, each to its bound, the last one partly). Cost inf when infeasible."""
    n, m = g.shape
    end = np.where(g > 0, hi, np.where(g < 0, lo, 0.0))           # the bound each shift moves towards
    with np.errstate(invalid="ignore", over="ignore"):         # (a price past the floats is inf: last in line)
        cap = np.where(g != 0, g * end, 0.0)                     # score it can add (>= 0, may be inf)
        price = np.where(g != 0, c / np.where(g != 0, np.abs(g), 1.0), np.inf)
    order = np.argsort(price, axis=1, kind="stable")
    cap_o = np.take_along_axis(cap, order, 1)
    cum = np.cumsum(cap_o, axis=1)
    need = r > 0
    enough = cum >= r[:, None]
    feasible = ~need | enough.any(axis=1)
    j = np.argmax(enough, axis=1)
    rows = np.arange(n)
    before = np.where(j > 0, cum[rows, np.maximum(j - 1, 0)], 0.0)
    g_o = np.take_along_axis(g, order, 1)
    end_o = np.take_along_axis(end, order, 1)
    pos = np.arange(m)[None, :]
    d_o = np.where(pos < j[:, None], end_o, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        last = (r - before) / g_o[rows, j]
    d_o[rows, j] = np.where(need & feasible, last, 0.0)
    d_o[~need | ~feasible] = 0.0
    d = np.zeros_like(d_o)
    np.put_along_axis(d, order, d_o, 1)
    cost = np.where(feasible, np.sum(c * np.abs(d), axis=1), np.inf)
    return cost, d


def knapsack_squared(g: np.ndarray, r: np.ndarray, lo: np.ndarray, hi: np.ndarray, c: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Per row: min sum_k c_k d_k^2 s.t. g . d >= r, lo <= d <= hi (lo <= 0 <= hi, c > 0), by its KKT conditions:
    d_k(lam) = clip(lam g_k / (2 c_k), lo_k, hi_k) with the lam >= 0 where g . d(lam) = r. g . d(lam) is piecewise
    linear and non-decreasing in lam, with a kink where each shift reaches its bound: sorting those kinks finds
    the segment holding r, and lam is exact on it. Cost inf when even every shift at its bound falls short."""
    n, m = g.shape
    end = np.where(g > 0, hi, np.where(g < 0, lo, 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        gain = np.where(g != 0, g * end, 0.0)                     # score added by a shift at its bound (>= 0)
        slope = np.where(g != 0, g * g / (2.0 * c), 0.0)          # d(g_k d_k)/d lam while the shift is free
        kink = np.where(g != 0, 2.0 * c * end / np.where(g != 0, g, 1.0), np.inf)   # lam where it saturates
    kink = np.where(np.isnan(kink), np.inf, kink)
    order = np.argsort(kink, axis=1, kind="stable")
    kink_o = np.take_along_axis(kink, order, 1)
    gain_o = np.take_along_axis(gain, order, 1)
    slope_o = np.take_along_axis(slope, order, 1)
    sat_before = np.concatenate([np.zeros((n, 1)), np.cumsum(gain_o, 1)[:, :-1]], 1)   # saturated before kink j
    free_from = np.cumsum(slope_o[:, ::-1], 1)[:, ::-1]                                 # free from kink j on
    with np.errstate(invalid="ignore"):
        # g . d at each kink; past the last finite one g . d grows without bound while some shift is still free
        at_kink = sat_before + np.where(np.isfinite(kink_o), kink_o * free_from, np.where(free_from > 0, np.inf, 0.0))
    need = r > 0
    reach = np.where(np.isfinite(np.sum(gain, 1)), np.sum(gain, 1), np.inf)
    feasible = ~need | (reach >= r)
    enough = at_kink >= r[:, None]
    j = np.where(enough.any(1), np.argmax(enough, 1), m)       # first kink at or past r (m: past the last)
    rows = np.arange(n)
    jj = np.minimum(j, m - 1)
    a = np.where(j < m, sat_before[rows, jj], np.sum(gain_o, 1))
    b = np.where(j < m, free_from[rows, jj], 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        lam = np.where(b > 0, (r - a) / np.where(b > 0, b, 1.0), 0.0)
        d = np.clip(lam[:, None] * g / (2.0 * c), lo, hi)
    if np.any(feasible & need & (j == m)):   # every shift saturated exactly at r: the bounds themselves
        d = np.where((feasible & need & (j == m))[:, None], end, d)
    d[~need | ~feasible] = 0.0
    cost = np.where(feasible, np.sum(c * d * d, axis=1), np.inf)
    return cost, d


__all__ = ["ENGINE", "NO_MODEL", "may_be_linear", "LinearScore", "linear_score", "ineligible", "settle", "knapsack",
           "knapsack_squared"]
