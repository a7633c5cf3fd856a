"""HiGHS via highspy: MILP and continuous convex QP, model loaded in bulk as a CSC matrix."""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import os
import sys
import threading
import time

import numpy as np
import scipy.sparse as sp

from milp_recourse.errors import BackendError
from milp_recourse.mip.ir import MIPModel
from milp_recourse.backends.base import Capabilities, MIPSolution, SolverParams, Termination


# HiGHS's active-set QP solver can cycle on degenerate problems: a 25-column CARMA polish QP whose optimum
# takes ~40 iterations ran 538 318 in 2 s. Past this many (~10 ms here) the solve ends as an iteration limit.
QP_ITERATION_LIMIT = 2_000


# MIPs with at most this many integer columns get a second solve with presolve's probing off, whose answer is
# taken when it is better by more than the gap (or the first found none): HiGHS 1.16's probing (with the
# aggregator) cut the optimum off a 14-column, 7-integer ReLU-network MILP (a grid and a change limit, an outside
# fuzz): OPTIMAL 145.39 with that bound, where 99.97 is feasible (tests/fixtures/highs_probing_network.mps; either
# rule off, or presolve off, gives 99.97). Probing stays on in the first solve: off (or presolve off) a tree's
# big-M rows let a point sit a float32 band past a split within tolerance (tests/test_leaf_pruning.py,
# tests/test_encode_classifiers.py). Such models solve in milliseconds.
SECOND_OPINION_INTEGERS = 32


@functools.cache
def _rule_bits() -> dict[str, int]:
    """HiGHS's presolve_rule_off bits by rule name ({} where this highspy's rule numbering is not known).

    The numbering is version-specific (HConst.h's PresolveRuleType: probing 15, enumeration 16 in HiGHS 1.16); a
    wrong bit would only cost speed, never an answer (tests/test_highs_presolve_rules.py checks the names HiGHS logs)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        major, minor = (int(x) for x in version("highspy").split(".")[:2])
    except (PackageNotFoundError, ValueError):
        return {}
    return {"probing": 1 << 15, "enumeration": 1 << 16} if (major, minor) == (1, 16) else {}


def _rules_off(params: SolverParams) -> int:
    """The presolve_rule_off mask of a MIP solve: enumeration always, probing when the caller asks.

    HiGHS 1.16's enumeration reduction cut off the optimum of a 31-column tree-ensemble MILP (one equality clique
    of leaves per tree; ERGO-Code/HiGHS#3216 describes its dropping of equality cliques): OPTIMAL 98.89 with
    sub-MIP heuristics off, 17.64 with them on but a dual bound of 9.95, and 17.64 either way with the rule off
    or presolve off, the point of cost 17.64 feasible to 1e-15 (tests/test_highs_presolve_rules.py)."""
    bits = _rule_bits()
    off = bits.get("enumeration", 0)
    if not params.presolve_probing:
        off |= bits.get("probing", 0)
    return off


@functools.cache
def _silence_banner() -> bool:
    """HiGHS prints a licence banner on stdout at the first construction; swallow it once per process."""
    import highspy

    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    return True


class _Scheduler:
    """HiGHS keeps one process-wide thread pool; a run with another 'threads' value fails unless it is reset.

    This mirrors that (inherently global) pool's size so it is reset only when the request changes.
    """

    threads: int | None = None

    @classmethod
    def use(cls, h, threads: int) -> None:
        h.setOptionValue("threads", int(threads))
        if cls.threads is not None and cls.threads != threads:
            h.resetGlobalScheduler(True)
        cls.threads = int(threads)


def run_highs(h):
    """h.run(), once more after resetting HiGHS's process-wide thread pool when the run was refused before it began
    (status error, model 'Not Set'): someone else in this process (a user's own highspy, solving an exported
    file) started the pool with another thread count, which _Scheduler cannot know, and every later solve of
    the package came back UNKNOWN 'highs: Not Set'."""
    import highspy

    status = h.run()
    if status == highspy.HighsStatus.kError and h.getModelStatus() == highspy.HighsModelStatus.kNotset:
        h.resetGlobalScheduler(True)
        status = h.run()
    return status


def new_highs(threads: int = 1):
    """A fresh, silent highspy.Highs instance using `threads` threads."""
    import highspy

    _silence_banner()
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    _Scheduler.use(h, threads)
    return h


def to_highs_lp(model: MIPModel, relax: bool = False):
    """The model as a highspy.HighsLp (column-wise matrix; integrality dropped when relax)."""
    import highspy

    inf = highspy.kHighsInf
    lp = highspy.HighsLp()
    n, m = model.n_cols, model.n_rows
    lp.num_col_, lp.num_row_ = n, m
    lp.col_cost_ = np.asarray(model.c, float)
    lp.col_lower_ = np.where(np.isfinite(model.col_lb), model.col_lb, -inf)
    lp.col_upper_ = np.where(np.isfinite(model.col_ub), model.col_ub, inf)
    lp.row_lower_ = np.where(np.isfinite(model.row_lo), model.row_lo, -inf)
    lp.row_upper_ = np.where(np.isfinite(model.row_hi), model.row_hi, inf)
    lp.offset_ = float(model.offset)
    csc = sp.csc_matrix(model.A)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = csc.indptr.astype(np.int32)
    lp.a_matrix_.index_ = csc.indices.astype(np.int32)
    lp.a_matrix_.value_ = csc.data.astype(float)
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = n, m
    if model.integrality.any() and not relax:
        lp.integrality_ = [highspy.HighsVarType.kInteger if b else highspy.HighsVarType.kContinuous
                           for b in model.integrality]
    return lp


def to_highs_hessian(model: MIPModel):
    """The separable quadratic part (q_diag) as a triangular highspy.HighsHessian."""
    import highspy

    n = model.n_cols
    nz = np.flatnonzero(model.q_diag)
    hess = highspy.HighsHessian()
    hess.dim_ = n
    hess.format_ = highspy.HessianFormat.kTriangular
    start = np.zeros(n + 1, dtype=np.int32)
    start[nz + 1] = 1
    hess.start_ = np.cumsum(start).astype(np.int32)
    hess.index_ = nz.astype(np.int32)
    hess.value_ = model.q_diag[nz].astype(float)
    return hess


def similar_first_order(exprs: list[tuple[np.ndarray, np.ndarray, float]], n_cols: int) -> list[int]:
    """A chain through the expressions, each followed by the one whose coefficient direction is closest
    (greedy on cosine similarity, from the first): a warm-started LP then moves its optimum less
    (~12 % fewer simplex iterations than compile order on CARMA tightening batches)."""
    n = len(exprs)
    if n <= 2:
        return list(range(n))
    V = np.zeros((n, n_cols))
    for j, (cols, coefs, _) in enumerate(exprs):
        V[j, np.asarray(cols, int)] = coefs
    V /= np.maximum(np.linalg.norm(V, axis=1, keepdims=True), 1e-300)
    sim = V @ V.T
    left = np.ones(n, bool)
    chain = [0]
    left[0] = False
    for _ in range(n - 1):
        nxt = int(np.argmax(np.where(left, sim[chain[-1]], -np.inf)))
        chain.append(nxt)
        left[nxt] = False
    return chain


def _stop_when_set(h, cancel: threading.Event) -> None:
    """Interrupt h's solve once `cancel` is set: HiGHS asks at its MIP / simplex interrupt checks (63 times in a
    4 s Taiwan stage, so the Python callback costs nothing measurable; stopped ~0.1 s after the event)."""
    def check(event) -> None:
        if cancel.is_set():
            event.interrupt()
    h.cbMipInterrupt += check
    h.cbSimplexInterrupt += check


class HighsBackend:
    name = "highs"
    extra = "core"
    capabilities = Capabilities(mip=True, quadratic_lp=True, quadratic_mip=False, warm_start=True, cancel=True)

    def is_available(self) -> bool:
        return importlib.util.find_spec("highspy") is not None

    def solve(self, model: MIPModel, params: SolverParams) -> MIPSolution:
        res = self._run(model, params)
        probing = _rule_bits().get("probing", 0)
        if res.termination is Termination.ERROR and params.presolve:
            return self._after_error(model, params, res, probing)
        if (not 0 < int(model.integrality.sum()) <= SECOND_OPINION_INTEGERS or not probing or not params.presolve
                or _rules_off(params) & probing
                or res.termination not in (Termination.OPTIMAL, Termination.INFEASIBLE)):
            return res
        left = params.time_limit - res.seconds
        if left <= 0:
            return res
        alt = self._run(model, dataclasses.replace(params, time_limit=left), extra_off=probing)
        seconds = res.seconds + alt.seconds
        if alt.termination is Termination.OPTIMAL and (
                res.termination is Termination.INFEASIBLE
                or alt.objective < res.objective - max(params.mip_gap, 1e-6) * max(abs(res.objective), 1e-3)):
            # (by more than the gap and round-off: the float32 band of a tree split is worth ~1e-8 relative)
            return dataclasses.replace(alt, seconds=seconds)
        return dataclasses.replace(res, seconds=seconds)

    def _after_error(self, model: MIPModel, params: SolverParams, res: MIPSolution, probing: int) -> MIPSolution:
        """A 'Solve error' solved again with presolve's probing off, then without presolve: an outside fuzz's
        zero-objective feasibility MILP (explain's removal test) came back from presolve's postsolve breaking a row
        by 1.5, and the same model solved in 0.01 s either way; the error left a minimal conflict 'not proven'."""
        seconds = res.seconds
        tries = ([(params, probing)] if probing else []) + [(dataclasses.replace(params, presolve=False), 0)]
        for again, extra_off in tries:
            left = params.time_limit - seconds
            if left <= 0:
                break
            alt = self._run(model, dataclasses.replace(again, time_limit=left), extra_off=extra_off)
            seconds += alt.seconds
            if alt.termination is not Termination.ERROR:
                return dataclasses.replace(alt, seconds=seconds)
        return dataclasses.replace(res, seconds=seconds)

    def _run(self, model: MIPModel, params: SolverParams, extra_off: int = 0) -> MIPSolution:
        """One HiGHS solve; `extra_off`: presolve rules switched off besides _rules_off's."""
        import highspy

        if model.q_diag is not None and np.any(model.q_diag) and model.integrality.any():
            raise BackendError("HiGHS cannot solve a mixed-integer quadratic program; use the outer-approximation "
                               "driver (milp_recourse.solver.pipeline.solve does this for p = 2 costs).")
        t0 = time.perf_counter()
        h = new_highs(params.threads)
        h.setOptionValue("output_flag", bool(params.verbose))
        h.setOptionValue("time_limit", float(params.time_limit))
        h.setOptionValue("mip_rel_gap", float(params.mip_gap))
        h.setOptionValue("mip_abs_gap", 1e-9)
        # feasibility jump costs ~5 ms per solve on these small models and our driver supplies incumbents
        h.setOptionValue("mip_heuristic_run_feasibility_jump", False)
        if not params.sub_mip_heuristics:
            # RINS / RENS solve sub-MIPs to find incumbents: ~60 % of the MIP time on CARMA models whose
            # incumbent the driver already has (median MIP 53 -> 24 ms over 80 CARMA MIPs)
            h.setOptionValue("mip_heuristic_run_rins", False)
            h.setOptionValue("mip_heuristic_run_rens", False)
        h.setOptionValue("primal_feasibility_tolerance", float(params.feasibility_tol))
        h.setOptionValue("mip_feasibility_tolerance", float(params.feasibility_tol))
        if model.integrality.any() and (_rules_off(params) | extra_off):
            h.setOptionValue("presolve_rule_off", _rules_off(params) | extra_off)
        if not params.presolve:
            h.setOptionValue("presolve", "off")
        if params.objective_cutoff is not None and np.isfinite(params.objective_cutoff):
            h.setOptionValue("objective_bound", float(params.objective_cutoff))
        if not params.restarts:
            h.setOptionValue("mip_allow_restart", False)
        if model.q_diag is not None and np.any(model.q_diag):
            h.setOptionValue("qp_iteration_limit", QP_ITERATION_LIMIT)
        self._load(h, model)
        if params.cancel is not None:
            _stop_when_set(h, params.cancel)
        if params.start is not None and model.integrality.any():
            sol = highspy.HighsSolution()
            sol.col_value = np.asarray(params.start, float)
            sol.value_valid = True
            h.setSolution(sol)
        run_highs(h)
        res = self._result(h, model, time.perf_counter() - t0)
        if res.termination is Termination.INFEASIBLE and h.getModelStatus() == highspy.HighsModelStatus.kUnboundedOrInfeasible:
            res = self._settle_unbounded(model, params, res)
        cutoff = params.objective_cutoff
        if (cutoff is not None and np.isfinite(cutoff) and not model.integrality.any()
                and res.termination is Termination.OPTIMAL and res.objective > cutoff):
            # HiGHS applies objective_bound only inside MIP search: enforce it for LPs here
            res = MIPSolution(Termination.INFEASIBLE, None, float("inf"), float("inf"), res.seconds, self.name,
                              "nothing better than the cutoff")
        return res

    def _settle_unbounded(self, model: MIPModel, params: SolverParams, res: MIPSolution) -> MIPSolution:
        """'Unbounded or infeasible' without a point: a zero-objective solve says which."""
        zero = dataclasses.replace(model, c=np.zeros(model.n_cols), q_diag=None, offset=0.0)
        h = new_highs(params.threads)
        h.setOptionValue("time_limit", float(params.time_limit))
        self._load(h, zero)
        run_highs(h)
        feasible = h.getInfo().primal_solution_status == 2
        term = Termination.UNBOUNDED if feasible else Termination.INFEASIBLE
        return MIPSolution(term, None, -np.inf if feasible else np.inf, -np.inf if feasible else np.inf,
                           res.seconds, self.name, "unbounded" if feasible else "infeasible")

    def _load(self, h, model: MIPModel, relax: bool = False) -> None:
        """Pass the whole model in one call (CSC matrix), plus the Hessian when there is one."""
        import highspy

        lp = to_highs_lp(model, relax)
        status = h.passModel(lp)
        if status == highspy.HighsStatus.kError:
            raise BackendError("HiGHS rejected the model (passModel returned an error).")
        if model.q_diag is not None and np.any(model.q_diag):
            h.passHessian(to_highs_hessian(model))

    def affine_ranges(self, model: MIPModel, exprs: list[tuple[np.ndarray, np.ndarray, float]],
                      time_limit: float = 10.0, threads: int = 1,
                      deadline: float | None = None) -> list[tuple[float, float]]:
        """Min and max of each affine expression (cols, coefs, const) over the LP relaxation (bound tightening).

        One HiGHS instance per thread, objective swapped per expression, so each LP warm-starts from the last.
        The LPs are independent: with `threads` > 1 the expressions are split into that many contiguous
        blocks solved concurrently (highspy releases the GIL while HiGHS runs: 2 threads measured 1.9x on a
        60-target CARMA model). An expression whose LP does not solve to optimality gets (-inf, inf).
        `deadline` (a time.perf_counter() instant): no LP starts after it, and each HiGHS instance gets at
        most the time left; the expressions not reached get (-inf, inf) (no tightening, still valid).
        """
        threads = max(1, min(int(threads), len(exprs) // 4 or 1))  # tiny batches: one instance is cheaper
        if threads == 1:
            return self._ranges(model, exprs, time_limit, deadline)
        from concurrent.futures import ThreadPoolExecutor

        bounds = np.linspace(0, len(exprs), threads + 1).astype(int)
        blocks = [exprs[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
        with ThreadPoolExecutor(max_workers=threads) as pool:
            parts = list(pool.map(lambda block: self._ranges(model, block, time_limit, deadline), blocks))
        return [r for part in parts for r in part]

    def _ranges(self, model: MIPModel, exprs: list[tuple[np.ndarray, np.ndarray, float]],
                time_limit: float, deadline: float | None = None) -> list[tuple[float, float]]:
        """All minima first, then the maxima in reverse order: consecutive LPs then have nearby optima
        (alternating min / max walked the simplex across the polytope every time: ~20 % more iterations),
        along a chain of similar objectives (similar_first_order)."""
        import highspy

        n = len(exprs)
        values = np.tile(np.array([-np.inf, np.inf]), (n, 1))  # (-inf, inf) = not tightened
        if deadline is not None:
            left = deadline - time.perf_counter()
            if left <= 0:
                return [(float(lo), float(hi)) for lo, hi in values]
            time_limit = min(float(time_limit), left)
        h = new_highs()
        h.setOptionValue("time_limit", float(time_limit))
        h.setOptionValue("presolve", "off")  # every LP after the first is warm-started from the previous basis
        h.setOptionValue("simplex_strategy", 4)  # primal simplex: an objective change keeps the basis primal feasible
        # unscaled: 32 % fewer simplex iterations over 193 captured CARMA tightening batches (ranges equal to 1e-8)
        h.setOptionValue("simplex_scale_strategy", 0)
        self._load(h, dataclasses.replace(model.relaxed(), q_diag=None), relax=True)
        h.changeColsCost(model.n_cols, np.arange(model.n_cols, dtype=np.int32), np.zeros(model.n_cols))
        prev = np.zeros(0, dtype=np.int32)
        chain = similar_first_order(exprs, model.n_cols)
        order = [(j, 0) for j in chain] + [(j, 1) for j in reversed(chain)]
        for j, side in order:
            if deadline is not None and time.perf_counter() >= deadline:
                break  # the rest stay (-inf, inf): valid, just not tightened
            cols, coefs, const = exprs[j]
            cols = np.asarray(cols, np.int32)
            if prev.size:
                h.changeColsCost(prev.size, prev, np.zeros(prev.size))
            h.changeColsCost(cols.size, cols, np.asarray(coefs, float))
            prev = cols
            h.changeObjectiveSense(highspy.ObjSense.kMinimize if side == 0 else highspy.ObjSense.kMaximize)
            run_highs(h)
            ok = h.getModelStatus() == highspy.HighsModelStatus.kOptimal
            values[j, side] = h.getInfo().objective_function_value + const if ok else (-np.inf, np.inf)[side]
        return [(float(lo), float(hi)) for lo, hi in values]

    def farkas_ray(self, model: MIPModel, time_limit: float = 10.0) -> np.ndarray | None:
        """Row multipliers y proving the LP relaxation of `model` infeasible (HiGHS dual ray), or None.

        Simplex without presolve, so HiGHS keeps the ray. Callers re-check it independently
        (milp_recourse.solver.certify.check_farkas); the sign convention is theirs to test.
        """
        import highspy

        h = new_highs()
        h.setOptionValue("time_limit", float(time_limit))
        h.setOptionValue("presolve", "off")
        h.setOptionValue("solver", "simplex")
        self._load(h, dataclasses.replace(model.relaxed(), c=np.zeros(model.n_cols), q_diag=None), relax=True)
        run_highs(h)
        if h.getModelStatus() != highspy.HighsModelStatus.kInfeasible:
            return None
        _, has_ray, values = h.getDualRay()
        return np.asarray(values, float) if has_ray else None

    def _result(self, h, model: MIPModel, seconds: float) -> MIPSolution:
        import highspy

        ms = h.getModelStatus()
        info = h.getInfo()
        has_x = info.primal_solution_status == 2  # kSolutionStatusFeasible
        x = np.asarray(h.getSolution().col_value, float) if has_x else None
        obj = float(info.objective_function_value) if has_x else float("inf")
        is_mip = bool(model.integrality.any())
        bound = float(info.mip_dual_bound) if is_mip else obj
        S = highspy.HighsModelStatus
        msg = h.modelStatusToString(ms)
        if ms == S.kOptimal:
            term = Termination.OPTIMAL
            if not is_mip:
                bound = obj
        elif ms == S.kInfeasible:
            term, x, obj = Termination.INFEASIBLE, None, float("inf")
            bound = float("inf")
        elif ms in (S.kUnbounded,):
            term = Termination.UNBOUNDED
        elif ms == S.kUnboundedOrInfeasible:  # settled by solve() with a feasibility check when there is no point
            term = Termination.UNBOUNDED if has_x else Termination.INFEASIBLE
        elif ms == S.kObjectiveBound:
            # the search finished: nothing better than the cutoff exists
            term, x = (Termination.OPTIMAL, x) if has_x else (Termination.INFEASIBLE, None)
        elif ms in (S.kTimeLimit, S.kIterationLimit, S.kSolutionLimit, S.kInterrupt, S.kMemoryLimit,
                    S.kObjectiveTarget):
            term = Termination.FEASIBLE if has_x else Termination.NO_SOLUTION
        else:
            term = Termination.ERROR
        if not np.isfinite(bound) and term is Termination.OPTIMAL:
            bound = obj
        return MIPSolution(term, x, obj, bound, seconds, self.name, msg, int(getattr(info, "mip_node_count", 0)))
