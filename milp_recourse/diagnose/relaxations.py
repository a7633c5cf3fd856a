"""The cheapest relaxation: the fewest (or least weighted) personal constraints to give up, and the action.

One MILP with relaxation indicators, built on the compiled model of the same person under the SCM's
universal actionability (so every feature the spec allows has its a_k, d_k = theta_k - x_k columns and
big-M values valid for any relaxation). Each personal group g gets a binary r_g and rows that hold when
r_g = 0 and are vacuous when r_g = 1:
  fixed X:        a_X <= r_g
  X >= lo:        d_X - (lo - x_X) a_X + M r_g >= 0            (M = lo - x_X - min d_X)
  X <= hi:        d_X - (hi - x_X) a_X - M r_g <= 0            (M = max d_X - (hi - x_X))
  X only up/down: d_X + M r_g >= 0  /  d_X - M r_g <= 0
  X on a grid:    sum_v g_v <= a_X <= sum_v g_v + r_g,  |d_X - sum_v (v - x_X) g_v| <= M r_g
  max changes K:  sum_k a_k - M r_g <= K                        (M = #features - K)
It is solved lexicographically on that one formulation: first min sum_g w_g r_g (= k*; when sampling
already found a verified relaxation of weight W, the row sum_g w_g r_g <= W - 1e-6 W is added and an
infeasible answer proves k* = W, which presolve often settles at once); then min cost
subject to sum_g w_g r_g <= k* (for p = 2 with exact.py's outer-approximation loop). For the second
stage the cheapest action for the stage-1 set (exact.solve on the person's problem without it) is a
valid upper bound, so the same formulation is rebuilt on the box that bound allows (tighter big-M,
LP-tightened ReLU inputs) with that action as incumbent. The groups
given up are read back from the action itself (violated_groups), re-checked against k*, and the action
is verified on the person's problem with exactly those groups dropped.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np
import scipy.sparse as sp

from milp_recourse.backends import SolverParams, Termination, get_backend
from milp_recourse.encode.compile import CompiledInstance, compile_problem
from milp_recourse.encode.plausibility import solve_with_density_cuts
from milp_recourse.diagnose.conflicts import (ConstraintGroup, person_groups, relax, sampled_action, snap_to_grids, universal,
                        violated_groups)
from milp_recourse.encode.logic_rows import GROUP as LOGIC_ROWS
from milp_recourse.errors import InputError, RecourseError
from milp_recourse.mip.ir import MIPModel
from milp_recourse.problem.recourse_problem import RecourseProblem
from milp_recourse.scm.levels import raw_values
from milp_recourse.solver.verify import verify_action


@dataclass(frozen=True)
class Relaxation:
    """What to give up ('if you could also change X, recourse would cost c') and the resulting action."""

    status: str                               # 'optimal' | 'not-needed' | 'impossible' | 'unknown'
    groups: tuple[ConstraintGroup, ...] = ()
    weight: float | None = None               # total weight of the groups given up (their count by default)
    action: Mapping[str, float] | None = None
    cost: float | None = None
    verified: bool = False
    message: str = ""
    seconds: float = 0.0
    approximate: bool = False                 # the SCM was approximated piecewise-linearly

    def to_dict(self, shown: Callable[[Mapping[str, float]], Mapping[str, Any]] | None = None) -> dict[str, Any]:
        """JSON-ready; `shown` writes the action's values (RecourseResult.raw: level names, as solve's JSON)."""
        action = None if self.action is None else {k: float(v) for k, v in self.action.items()}
        return {"status": self.status, "groups": [g.to_dict() for g in self.groups], "weight": self.weight,
                "action": action if action is None or shown is None else dict(shown(action)),
                "cost": self.cost, "verified": self.verified, "message": self.message,
                "seconds": float(self.seconds), "approximate": self.approximate}


class _Rows:
    """Extra columns and rows appended to a frozen MIPModel."""

    def __init__(self, base: MIPModel) -> None:
        self.base, self.names, self.lb, self.ub, self.integer = base, [], [], [], []
        self.rows: list[tuple[dict[int, float], float, float, str]] = []
        self.in_base: list[tuple[int, int, float]] = []   # (base row, new column, coefficient)

    def relax_row(self, i: int, r: int) -> bool:
        """Base row i made vacuous when the new binary column r is 1 (big-M from the columns' bounds); False when
        a bound is infinite (the row cannot be relaxed so)."""
        b = self.base
        row = b.A.getrow(i)
        lo_x, hi_x = b.col_lb[row.indices], b.col_ub[row.indices]
        coef = row.data
        low = float(np.sum(np.where(coef > 0, coef * lo_x, coef * hi_x)))
        high = float(np.sum(np.where(coef > 0, coef * hi_x, coef * lo_x)))
        lo, hi = float(b.row_lo[i]), float(b.row_hi[i])
        if math.isfinite(lo) and math.isfinite(hi) or not (math.isfinite(low) and math.isfinite(high)):
            return False
        if math.isfinite(hi) and high > hi:
            self.in_base.append((i, r, -(high - hi)))
        if math.isfinite(lo) and low < lo:
            self.in_base.append((i, r, lo - low))
        return True

    def col(self, name: str, lo: float, hi: float, integer: bool) -> int:
        self.names.append(name)
        self.lb.append(lo)
        self.ub.append(hi)
        self.integer.append(integer)
        return self.base.n_cols + len(self.names) - 1

    def row(self, terms: dict[int, float], lo: float, hi: float, group: str) -> None:
        self.rows.append(({j: c for j, c in terms.items() if c != 0.0}, lo, hi, group))

    def build(self, c_extra: Mapping[int, float], keep_objective: bool) -> MIPModel:
        b = self.base
        n = b.n_cols + len(self.names)
        A = sp.hstack([b.A, sp.csr_matrix((b.n_rows, len(self.names)))], format="csr")
        if self.in_base:
            i, j, v0 = zip(*self.in_base)
            A = (A + sp.csr_matrix((v0, (i, j)), shape=(b.n_rows, n))).tocsr()
        r, cidx, v = [], [], []
        for i, (terms, _, _, _) in enumerate(self.rows):
            r += [i] * len(terms)
            cidx += list(terms)
            v += list(terms.values())
        extra = sp.csr_matrix((v, (r, cidx)), shape=(len(self.rows), n))
        c = np.concatenate([b.c if keep_objective else np.zeros(b.n_cols), np.zeros(len(self.names))])
        for j, w in c_extra.items():
            c[j] += w
        q = None
        if keep_objective and b.q_diag is not None:
            q = np.concatenate([b.q_diag, np.zeros(len(self.names))])
        return MIPModel(b.col_names + tuple(self.names), np.concatenate([b.col_lb, self.lb]),
                        np.concatenate([b.col_ub, self.ub]), np.concatenate([b.integrality, self.integer]).astype(bool),
                        sp.vstack([A, extra], format="csr"),
                        np.concatenate([b.row_lo, [t[1] for t in self.rows]]),
                        np.concatenate([b.row_hi, [t[2] for t in self.rows]]),
                        b.row_groups + tuple(t[3] for t in self.rows), c, q, b.offset if keep_objective else 0.0)


def _indicator_rows(cu: CompiledInstance, pu: RecourseProblem, problem: RecourseProblem,
                    groups: tuple[ConstraintGroup, ...]) -> tuple[_Rows, dict[str, int]]:
    """Relaxation indicator r_g per group and the rows that enforce g unless r_g = 1 (see module docstring)."""
    out = _Rows(cu.model)
    act, fx = problem.actionability, problem.factual
    r_cols: dict[str, int] = {}
    for g in groups:
        r = r_cols[g.key] = out.col(f"r[{g.key}]", 0.0, 1.0, True)
        tag = f"relax:{g.key}"
        if g.kind == "rule":   # the rows of the person's rule in pu's model (encode/logic_rows.py), relaxed
            tag_of = f"{LOGIC_ROWS}:{len(pu.logic) - len(act.logic) + int(g.key.split(':', 1)[1]) - 1}"
            mine = [i for i, name in enumerate(cu.model.row_groups) if name == tag_of]
            if not all(out.relax_row(i, r) for i in mine):
                raise RecourseError(f"The rows of {g.text} have unbounded terms; they cannot be given up by indicator.")
            continue
        if g.kind == "max_changes":
            k, n = float(act.max_changes), len(cu.a_cols)
            if n > k:
                out.row({**{a: 1.0 for a in cu.a_cols.values()}, r: -(n - k)}, -math.inf, k, tag)
            continue
        X = g.feature
        if X not in cu.a_cols:          # universally unusable: the group can never matter
            continue
        a, d, x = cu.a_cols[X], cu.d_cols[X], fx[X]
        rule = pu.rule(X)
        dlo, dhi = rule.lower - x, rule.upper - x
        if g.kind == "fixed":
            out.row({a: 1.0, r: -1.0}, -math.inf, 0.0, tag)
        elif g.kind == "lower":
            b = float(act.bounds[X][0]) - x
            if b > dlo:
                out.row({d: 1.0, a: -b, r: b - dlo}, 0.0, math.inf, tag)
        elif g.kind == "upper":
            b = float(act.bounds[X][1]) - x
            if b < dhi:
                out.row({d: 1.0, a: -b, r: -(dhi - b)}, -math.inf, 0.0, tag)
        elif g.kind == "direction":
            if act.directions[X] == "up" and dlo < 0:
                out.row({d: 1.0, r: -dlo}, 0.0, math.inf, tag)
            elif act.directions[X] == "down" and dhi > 0:
                out.row({d: 1.0, r: -dhi}, -math.inf, 0.0, tag)
        elif g.kind == "grid":
            vals = sorted({float(v) for v in act.grids[X] if dlo - 1e-12 <= float(v) - x <= dhi + 1e-12
                           and (not rule.integer or abs(float(v) - round(float(v))) < 1e-9)})
            gv = {out.col(f"gv[{X}={v:g}]", 0.0, 1.0, True): v - x for v in vals}
            M = max(abs(dlo), abs(dhi)) + max((abs(s) for s in gv.values()), default=0.0)
            out.row({**{j: 1.0 for j in gv}, a: -1.0}, -math.inf, 0.0, tag)
            out.row({a: 1.0, **{j: -1.0 for j in gv}, r: -1.0}, -math.inf, 0.0, tag)
            out.row({d: 1.0, **{j: -s for j, s in gv.items()}, r: -M}, -math.inf, 0.0, tag)
            out.row({d: 1.0, **{j: -s for j, s in gv.items()}, r: M}, 0.0, math.inf, tag)
    return out, r_cols


def _check_weights(groups: tuple[ConstraintGroup, ...], weights: Mapping[str, float] | None) -> dict[str, float]:
    keys = [g.key for g in groups]
    weights = dict(weights or {})
    unknown = sorted(set(weights) - set(keys))
    if unknown:
        raise InputError(f"Relaxation weights name unknown group(s) {', '.join(map(repr, unknown))}; this person's "
                         f"groups are {', '.join(keys) or '(none)'}.")
    for k, w in weights.items():
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not (math.isfinite(w) and w > 0):
            raise InputError(f"The relaxation weight for {k!r} must be a finite number > 0. Got {w!r}.")
    return {k: float(weights.get(k, 1.0)) for k in keys}


SHIFT_TOL = 1e-7   # relative: a MILP shift this small is the solver's tolerance, not a change (an outside fuzz:
#                    a 1.4e-9 shift of a root counted as changing it, and the relaxation was called inconsistent)


def _read_back(problem: RecourseProblem, action: Mapping[str, float]):
    """Groups an action gives up, the person's problem without them, the action snapped to grids, its check.
    Shifts within SHIFT_TOL of the factual value are read as holds at it, and holds of roots (no-ops) dropped."""
    x = problem.factual
    action = {k: (float(x[k]) if abs(float(v) - float(x[k])) <= SHIFT_TOL * max(1.0, abs(float(x[k]))) else v)
              for k, v in action.items()}
    action = {k: v for k, v in action.items() if problem.scm.parents(k) or float(v) != float(x[k])}
    given_up = violated_groups(problem, action)
    relaxed = relax(problem, given_up)
    action = snap_to_grids(relaxed, action)
    return given_up, action, verify_action(relaxed, action)


def _known_relaxation(problem: RecourseProblem, groups: tuple[ConstraintGroup, ...],
                      w: Mapping[str, float]) -> tuple[float, dict[str, float]] | None:
    """A verified relaxation found by sampling (each single group dropped, and all of them): (weight, action)."""
    candidates = [sampled_action(relax(problem, [g])) for g in groups] + [sampled_action(universal(problem))]
    best: tuple[tuple[float, float], dict[str, float]] | None = None
    for action in candidates:
        if action is None:
            continue
        given_up, action, ver = _read_back(problem, action)
        key = (sum(w[g.key] for g in given_up), ver.cost)
        if ver.ok and (best is None or key < best[0]):
            best = (key, action)
    return None if best is None else (best[0][0], best[1])


def _budget_model(cu: CompiledInstance, pu: RecourseProblem, problem: RecourseProblem,
                  groups: tuple[ConstraintGroup, ...], w: Mapping[str, float], kstar: float) -> CompiledInstance:
    """Stage 2: the cost objective on the indicator model, with sum_g w_g r_g <= k*."""
    rows, r_cols = _indicator_rows(cu, pu, problem, groups)
    budget = _Rows(rows.build({}, keep_objective=True))
    budget.row({r_cols[k]: w[k] for k in r_cols}, -math.inf, kstar * (1 + 1e-9) + 1e-7, "relax:budget")
    return dataclasses.replace(cu, model=budget.build({}, keep_objective=True))


def cheapest_relaxation(problem: RecourseProblem, weights: Mapping[str, float] | None = None,
                        time_limit: float | None = None) -> Relaxation:
    """Fewest (weighted) personal groups to give up for recourse, then the cheapest action among those.

    Stage 2 reuses exact.py's machinery: the stage-1 action's cost is a valid upper bound, so the model is
    recompiled on the box that bound allows (and its ReLU inputs LP-tightened), as the exact solver does.
    """
    from milp_recourse.solver.pipeline import solve
    from milp_recourse.solver.milp_search import decode, search_compiled  # OA / QP-polish driver, reused
    from milp_recourse.solver.tighten import tighten_bounds  # bound tightening, reused
    from milp_recourse.solver.incumbent import Incumbent

    t0 = time.perf_counter()
    groups = person_groups(problem, include_threshold=False)
    w = _check_weights(groups, weights)
    opts = problem.options
    limit = opts.time_limit if time_limit is None else time_limit
    pu = universal(problem, own_rules_too=True)   # the person's IF-THEN rules stay, relaxed by their indicators
    cu = compile_problem(pu, binary_indicators=True)
    approx = cu.approx_error > 0
    rows, r_cols = _indicator_rows(cu, pu, problem, groups)
    known = None if approx else _known_relaxation(problem, groups, w)
    if known is not None:  # only strictly better relaxations are still of interest to stage 1
        rows.row({r_cols[k]: w[k] for k in r_cols}, -math.inf, known[0] - 1e-6 * max(1.0, known[0]),
                 "relax:below-known")
    stage1 = rows.build({r_cols[k]: w[k] for k in r_cols}, keep_objective=False)
    backend = get_backend(opts.backend)   # (plausibility by log-density: re-solved with its ball's cuts)
    sol = solve_with_density_cuts(lambda m: backend.solve(m, SolverParams(time_limit=limit, mip_gap=0.0,
                                                                          threads=opts.threads)), stage1, cu.density)

    def out(status: str, msg: str, **kw: Any) -> Relaxation:
        return Relaxation(status, message=msg, seconds=time.perf_counter() - t0, approximate=approx, **kw)

    if sol.termination is Termination.INFEASIBLE and known is not None:
        kstar, first = known[0], known[1]      # nothing lighter than the known relaxation exists
    elif sol.termination is Termination.INFEASIBLE:
        return out("impossible" if not approx else "unknown",
                   "No relaxation of your own constraints helps: there is no recourse even under the SCM's "
                   "universal actionability." if not approx else
                   "The piecewise-linear model is infeasible even with every personal constraint dropped.")
    elif sol.termination is not Termination.OPTIMAL:
        return out("unknown", f"The relaxation MILP did not finish ({sol.termination.value}: {sol.message}).")
    else:
        kstar, first = float(sol.objective), decode(cu, pu, sol.x)
    tol = kstar * 1e-9 + 1e-7
    first_up, first, first_ver = _read_back(problem, first)
    inc = None
    compiled = cu
    if first_ver.ok and sum(w[g.key] for g in first_up) <= kstar + tol and not approx:
        inc = Incumbent(dict(first), first_ver.cost)
        best = solve(relax(problem, first_up))  # the cheapest action for that one set: a tight upper bound
        if best.found and best.verified and best.cost < inc.cost:
            inc = Incumbent(dict(best.action), float(best.cost))
        compiled = compile_problem(pu, upper_bound=inc.cost, incumbent=inc.action, binary_indicators=True)
        if compiled.tighten_targets and opts.tighten_passes > 0:
            compiled = tighten_bounds(pu, compiled, inc, opts.tighten_passes,   # what it proves by then stays valid
                                      deadline=t0 + max(limit, 1.0), binary_indicators=True)
    deadline = time.perf_counter() + max(limit - (time.perf_counter() - t0), 1.0)
    free = universal(problem)   # what stage 2's answers are checked on: its model gives the own rules up itself
    search = search_compiled(_budget_model(compiled, pu, problem, groups, w, kstar), free, inc, inc is not None,
                             deadline)
    if search.action is None:
        return out("unknown", f"The cheapest-action stage found no action ({search.state}).", weight=kstar)
    given_up, action, ver = _read_back(problem, search.action)
    weight = sum(w[g.key] for g in given_up)
    if weight > kstar + tol:
        return out("unknown", f"Inconsistent: the action breaks groups of weight {weight:g} > optimum {kstar:g}.",
                   groups=given_up, weight=weight, action=action, cost=ver.cost, verified=ver.ok)
    note = ""
    if given_up and (approx or not ver.ok):   # the model's answer is not the true SCM's: price that set by solve
        priced = solve(relax(problem, given_up))
        if priced.verified and priced.cost is not None:
            action, cost, ok = dict(priced.action), float(priced.cost), True
            why = ("The SCM is approximated piecewise-linearly" if approx else
                   "The relaxation MILP's action failed the re-check on the true SCM")
            note = (f" {why}, so this set of constraints is not proven the fewest; its price is solve's on the true "
                    f"SCM ({priced.status.value}).")
        else:
            cost, ok = ver.cost, False
            note = " The action fails the re-check on the true SCM; no verified price for this set was found."
    else:
        cost, ok = ver.cost, ver.ok
    proven = search.state == "optimal" and ok and not approx
    status = "not-needed" if not given_up else ("optimal" if proven else "unknown")
    if not given_up:
        msg = f"Recourse exists within your constraints (cost {ver.cost:.6g}); nothing needs to be given up."
    else:
        # (level names for categorical / ordinal features, as solve's answers give them)
        shown = ", ".join(f"{k} := {v}" if isinstance(v, str) else f"{k} := {v:.6g}"
                          for k, v in raw_values(problem.scm, action).items())
        msg = (f"If you give up: {'; '.join(g.text for g in given_up)} -- recourse would cost {cost:.6g} "
               f"(action {shown}).{note}")
    return out(status, msg, groups=given_up, weight=weight, action=action, cost=cost, verified=ok)


__all__ = ["Relaxation", "cheapest_relaxation"]
