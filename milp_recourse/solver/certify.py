"""Certificates that no recourse exists, cheapest first, each re-checkable without trusting the solver.

1. bound: interval arithmetic (score_bounds.py) over every action the person's constraints allow shows
   the classifier's score stays below the favourable threshold. No solver; re-check = re-run numpy.
2. farkas: the LP relaxation of the compiled MILP is infeasible. HiGHS's dual ray y is re-checked in
   numpy (check_farkas): every x satisfying the rows has y.Ax >= L, every x in the column box has
   (A^T y).x <= U, and L > U. Valid for the MILP (it is a relaxation); exact for pure-LP instances.
3. solver: the primary backend's infeasibility proof of the exact MILP, confirmed by a second backend
   with different algorithms when one is installed. A verified point from any backend refutes it.
A limit reached before a proof gives no certificate: such an instance is UNKNOWN, never NO_RECOURSE.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from milp_recourse.backends import SolverParams, available_backends, get_backend
from milp_recourse.bounds.score_bounds import problem_score_interval
from milp_recourse.encode.compile import CompiledInstance, compile_problem
from milp_recourse.encode.plausibility import solve_with_density_cuts
from milp_recourse.errors import BackendError
from milp_recourse.mip.ir import MIPModel
from milp_recourse.models.classifiers import score_threshold
from milp_recourse.problem.recourse_problem import RecourseProblem
from milp_recourse.result import PathStep, RecourseResult, Status
from milp_recourse.solver.verify import verify_action

SECOND_OPINION_ORDER = ("ortools-scip", "highs", "ortools-cbc")


@dataclass(frozen=True)
class Attempt:
    """One certificate tried: its kind, outcome ('proved' | 'failed' | 'skipped' | 'refuted') and time."""

    kind: str
    outcome: str
    seconds: float
    note: str = ""


@dataclass(frozen=True)
class FarkasCheck:
    """Numpy re-check of a dual ray: rows force y.Ax >= row_bound, the box forces it <= box_bound."""

    ok: bool
    row_bound: float
    box_bound: float
    tolerance: float
    sign: int


@dataclass(frozen=True)
class Certificate:
    """Why there is no recourse (proven=True), or why that could not be shown."""

    kind: str                                   # 'bound' | 'farkas' | 'solver' | 'none'
    proven: bool
    message: str
    details: Mapping[str, Any] = field(default_factory=dict)
    backends: tuple[str, ...] = ()              # backends that found the exact MILP infeasible
    confirmed: bool = False                     # checked independently (numpy re-check or a second backend)
    attempts: tuple[Attempt, ...] = ()
    refuting_action: Mapping[str, float] | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "proven": self.proven, "confirmed": self.confirmed, "message": self.message,
                "backends": list(self.backends), "details": _jsonable(self.details),
                "attempts": [dataclasses.asdict(a) for a in self.attempts],
                "refuting_action": None if self.refuting_action is None else
                {k: float(v) for k, v in self.refuting_action.items()}, "seconds": float(self.seconds)}

    def apply(self, result: RecourseResult, problem: RecourseProblem | None = None) -> RecourseResult:
        """Attach to a NO_RECOURSE result. A verified counter-example from another backend refutes it: with the
        person's `problem` the result becomes FEASIBLE with that action (re-checked here; no bound), else UNKNOWN."""
        timings = dict(result.timings, certify=self.seconds)
        total = result.total_seconds + self.seconds
        step = PathStep("certify", self.seconds, "refuted" if self.refuting_action is not None else
                        ("proven" if self.proven else "unproven"), {})
        path = (*result.path, step)
        if self.refuting_action is not None:
            ver = verify_action(problem, self.refuting_action) if problem is not None else None
            if ver is not None and ver.ok:
                return dataclasses.replace(
                    result, status=Status.FEASIBLE, cost=ver.cost, action=dict(self.refuting_action),
                    counterfactual=ver.counterfactual, verified=True, objective_bound=None, gap=None,
                    cost_breakdown=ver.cost_breakdown, score=ver.score, score_kind=ver.score_kind,
                    score_threshold=ver.score_threshold, certificate=self.to_dict(), timings=timings,
                    total_seconds=total, path=path,
                    message=self.message + " Its action is returned, verified, without a bound.")
            return dataclasses.replace(result, status=Status.UNKNOWN, certificate=self.to_dict(), timings=timings,
                                       total_seconds=total, message=self.message, path=path)
        return dataclasses.replace(result, certificate=self.to_dict(), timings=timings, total_seconds=total,
                                   path=path)


def _jsonable(v: Any) -> Any:
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, (np.floating, float)):
        return float(v) if math.isfinite(float(v)) else None
    if isinstance(v, (np.integer,)):
        return int(v)
    return v


def bound_certificate(problem: RecourseProblem) -> Certificate:
    """Interval bound on the score over all allowed actions vs the threshold (proven iff max < needed)."""
    t0 = time.perf_counter()
    box, iv, kind = problem_score_interval(problem)
    needed = score_threshold(kind, problem.options.threshold)
    details = {"score_kind": kind, "score_needed": needed,
               "counterfactual_box": {k: list(v) for k, v in box.items()}}
    if iv is None:
        return Certificate("bound", False, f"No interval rule for {type(problem.classifier).__name__}.", details,
                           seconds=time.perf_counter() - t0)
    tol = 1e-9 * max(1.0, abs(needed), abs(iv[1]))
    details.update(score_interval=list(iv), slack=needed - iv[1])
    ok = iv[1] < needed - tol
    msg = (f"Over every action your constraints allow, the classifier's {kind} is at most {iv[1]:.6g}, below the "
           f"{needed:.6g} needed for the favourable decision (interval arithmetic, no solver)." if ok else
           f"Interval bound inconclusive: the {kind} may reach {iv[1]:.6g} (needed {needed:.6g}).")
    return Certificate("bound", ok, msg, details, confirmed=ok, seconds=time.perf_counter() - t0)


def check_farkas(model: MIPModel, y: np.ndarray, rel_tol: float = 1e-9) -> FarkasCheck:
    """Re-check in numpy that row multipliers y prove {row_lo <= Ax <= row_hi, lb <= x <= ub} empty.

    For y_i > 0 the row gives y_i (Ax)_i >= y_i row_lo_i, for y_i < 0 it gives y_i (Ax)_i >= y_i row_hi_i, so
    y.Ax >= L. Over the box, z.x <= U with z = A^T y. L > U + tol is a contradiction. Both signs of y are tried
    (solvers differ in convention); an infinite bound that a nonzero multiplier needs makes the check fail.
    """
    y = np.asarray(y, float).ravel()
    if y.shape != (model.n_rows,) or not np.all(np.isfinite(y)):
        return FarkasCheck(False, -math.inf, math.inf, 0.0, 0)
    best = FarkasCheck(False, -math.inf, math.inf, 0.0, 0)
    for sign in (1, -1):
        ys = sign * y
        pos, neg = ys > 0, ys < 0
        rhs = np.concatenate([model.row_lo[pos], model.row_hi[neg]])
        mult = np.concatenate([ys[pos], ys[neg]])
        z = np.asarray(model.A.T @ ys).ravel()
        zp, zn = z > 0, z < 0
        bnd = np.concatenate([model.col_ub[zp], model.col_lb[zn]])
        zz = np.concatenate([z[zp], z[zn]])
        if not (np.all(np.isfinite(rhs)) and np.all(np.isfinite(bnd))):
            continue
        L = math.fsum(mult * rhs)
        U = math.fsum(zz * bnd)
        tol = rel_tol * (1.0 + math.fsum(np.abs(mult * rhs)) + math.fsum(np.abs(zz * bnd)))
        check = FarkasCheck(L > U + tol, L, U, tol, sign)
        if check.ok or (L - U > best.row_bound - best.box_bound):
            best = check
        if check.ok:
            break
    return best


def farkas_certificate(compiled: CompiledInstance, time_limit: float = 10.0) -> Certificate:
    """Dual ray of the compiled model's LP relaxation from HiGHS, accepted only after check_farkas."""
    from milp_recourse.backends.highs import HighsBackend

    t0 = time.perf_counter()
    model = compiled.model
    pure_lp = not model.integrality.any()
    y = HighsBackend().farkas_ray(model, time_limit)
    if y is None:
        return Certificate("farkas", False, "The LP relaxation is feasible (or HiGHS gave no ray).",
                           {"pure_lp": pure_lp}, seconds=time.perf_counter() - t0)
    chk = check_farkas(model, y)
    ys = chk.sign * y if chk.sign else y
    nz = np.flatnonzero(np.abs(ys) > 0)
    groups = sorted({model.row_groups[i] for i in nz})
    details = {"pure_lp": pure_lp, "relaxation": not pure_lp, "score_target": compiled.score_min,
               "row_bound": chk.row_bound, "box_bound": chk.box_bound,
               "tolerance": chk.tolerance, "row_groups": groups, "n_rows": model.n_rows, "n_cols": model.n_cols,
               "ray": {str(int(i)): float(ys[i]) for i in nz}}
    what = "the MILP" if pure_lp else "the MILP's LP relaxation (so the MILP too)"
    msg = (f"The constraints {', '.join(groups)} contradict each other in {what}: a Farkas ray re-checked in "
           f"numpy gives y.Ax >= {chk.row_bound:.6g} from the rows but <= {chk.box_bound:.6g} from the bounds."
           if chk.ok else "HiGHS returned a dual ray that failed the numpy re-check.")
    return Certificate("farkas", chk.ok, msg, details, confirmed=chk.ok, seconds=time.perf_counter() - t0)


def second_backends(primary: str) -> list[str]:
    """Installed backends whose algorithms differ from the primary's (HiGHS vs SCIP vs CBC), best first."""
    def engine(n: str) -> str:
        return "highs" if "highs" in n or n == "pyomo" else n.split("-")[-1]

    avail = available_backends()
    order = [n for n in SECOND_OPINION_ORDER if n in avail] + sorted(
        n for n in avail if n.startswith("pyomo-") and n not in SECOND_OPINION_ORDER)
    return [n for n in order if engine(n) != engine(primary)]


def _feasibility_model(model: MIPModel) -> MIPModel:
    return dataclasses.replace(model, c=np.zeros(model.n_cols), q_diag=None, offset=0.0)


def _vote(problem: RecourseProblem, compiled: CompiledInstance, name: str, time_limit: float) -> dict[str, Any]:
    """One backend's answer on the exact MILP; a point it finds is decoded and verified on the true SCM."""
    from milp_recourse.solver.milp_search import decode

    try:
        backend = get_backend(name)   # (plausibility by log-density: re-solved with its ball's cuts)
        sol = solve_with_density_cuts(lambda m: backend.solve(m, SolverParams(time_limit=time_limit)),
                                      _feasibility_model(compiled.model), compiled.density)
    except BackendError as err:  # a failing second opinion is reported, never fatal
        return {"backend": name, "termination": "error", "seconds": 0.0, "message": str(err)}
    out: dict[str, Any] = {"backend": name, "termination": sol.termination.value, "seconds": sol.seconds}
    if sol.x is not None:
        action = decode(compiled, problem, sol.x)
        ver = verify_action(problem, action)
        out.update(action=action, verified=ver.ok)
    return out


def solver_certificate(problem: RecourseProblem, compiled: CompiledInstance, primary_infeasible: bool | None = None,
                       time_limit: float | None = None, second_opinions: int = 1) -> Certificate:
    """The primary backend's infeasibility proof plus up to `second_opinions` confirmations."""
    t0 = time.perf_counter()
    opts = problem.options
    limit = opts.time_limit if time_limit is None else time_limit
    votes: list[dict[str, Any]] = []
    if primary_infeasible is None:
        votes.append(_vote(problem, compiled, opts.backend, limit))
    else:
        votes.append({"backend": opts.backend, "termination": "infeasible" if primary_infeasible else "feasible",
                      "seconds": 0.0, "note": "reported by the exact solve"})
    if votes[0]["termination"] == "infeasible":
        for name in second_backends(opts.backend)[:max(second_opinions, 0)]:
            votes.append(_vote(problem, compiled, name, limit))
    details = {"votes": [{k: v for k, v in vt.items()} for vt in votes],
               "model": {"n_cols": compiled.model.n_cols, "n_rows": compiled.model.n_rows,
                         "n_integer": compiled.model.n_integer}}
    agree = tuple(v["backend"] for v in votes if v["termination"] == "infeasible")
    refuting = next((v for v in votes if v.get("verified")), None)
    secs = time.perf_counter() - t0
    if refuting is not None:
        claim = (f", so {', '.join(agree)}'s infeasibility claim is wrong" if agree else ": recourse exists")
        return Certificate("solver", False, f"{refuting['backend']} found a verified action {refuting['action']}"
                           f"{claim}.", details, agree, refuting_action=refuting["action"], seconds=secs)
    if votes[0]["termination"] != "infeasible":
        return Certificate("solver", False, f"{opts.backend} did not prove infeasibility "
                           f"({votes[0]['termination']}).", details, agree, seconds=secs)
    others = votes[1:]
    if not others:
        note = "not confirmed: no second backend with different algorithms is installed"
    elif len(agree) > 1:
        note = f"confirmed by {', '.join(agree[1:])}"
    else:
        note = "not confirmed: " + "; ".join(f"{v['backend']} answered {v['termination']}" +
                                             (" with a point that fails verification" if "action" in v else "")
                                             for v in others)
    return Certificate("solver", True, f"{opts.backend} proved the exact MILP infeasible; {note}.", details, agree,
                       confirmed=len(agree) > 1, seconds=secs)


def certify(problem: RecourseProblem, result: RecourseResult | None = None, *,
            compiled: CompiledInstance | None = None, time_limit: float | None = None,
            second_opinions: int = 1) -> Certificate:
    """The cheapest certificate that this person has no recourse (bound, then Farkas, then solver votes).

    With a NO_RECOURSE `result`, its backend's infeasibility counts as the primary vote; with result=None
    the primary backend is run here. Any other status yields kind 'none' (nothing to certify).
    """
    t0 = time.perf_counter()
    if result is not None and result.status is not Status.NO_RECOURSE:
        why = " (a limit was reached before any proof)" if result.status is Status.UNKNOWN else ""
        return Certificate("none", False, f"Nothing to certify: the status is {result.status.value}{why}.")
    attempts: list[Attempt] = []

    def done(cert: Certificate) -> Certificate:
        attempts.append(Attempt(cert.kind, "refuted" if cert.refuting_action is not None else
                                ("proved" if cert.proven else "failed"), cert.seconds))
        blocked = [r.name for r in problem.rules if r.blocked]
        details = dict(cert.details, blocked_features=blocked) if blocked else cert.details
        return dataclasses.replace(cert, details=details, attempts=tuple(attempts), seconds=time.perf_counter() - t0)

    cert = bound_certificate(problem)
    if cert.proven:
        return done(cert)
    attempts.append(Attempt("bound", "failed", cert.seconds, cert.message))
    if compiled is None:
        compiled = compile_problem(problem)
    if compiled.approx_error > 0:
        note = (f"The SCM is approximated piecewise-linearly (max error {compiled.approx_error:.3g}); "
                "no exact proof is possible.")
        attempts.append(Attempt("farkas", "skipped", 0.0, note))
        return done(Certificate("none", False, note))
    cert = farkas_certificate(compiled, problem.options.time_limit if time_limit is None else time_limit)
    if cert.proven:
        return done(cert)
    attempts.append(Attempt("farkas", "failed", cert.seconds, cert.message))
    primary = None if result is None else True
    return done(solver_certificate(problem, compiled, primary, time_limit, second_opinions))


__all__ = ["Certificate", "Attempt", "FarkasCheck", "certify", "bound_certificate", "farkas_certificate",
           "solver_certificate", "check_farkas", "second_backends"]
