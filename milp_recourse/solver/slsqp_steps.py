"""scipy's SLSQP (minimize(method="SLSQP")) as a generator, so many people's polishes can share evaluations.

scipy >= 1.16 drives its C SLSQP routine by reverse communication from Python (_slsqp_py._minimize_slsqp):
the routine returns asking for the objective and constraint values, or their gradients, at x. This module
runs the same loop with the same numbers (same clipping, workspace and state, the same calls in the same
order), but each constraint evaluation is delegated: the constraint functions are generators that yield
evaluation requests, so a caller can answer the requests of many SLSQP runs in one batch (polish_batch.py).
Where that routine is missing (older scipy) or the bounds are not plain finite boxes, the request ("run", fn,
None) hands the caller a function that runs scipy.optimize.minimize itself with a synchronous evaluator.
Only what polish.py needs: one inequality constraint, finite bounds, an analytic objective gradient.
The routine's BLAS / LAPACK calls round differently with more than one BLAS thread (a CARMA person's steps
diverged after 26 evaluations, and 88 of 200 proven bounds moved by ~1e-5): polishes run under
one_blas_thread(), so answers do not depend on the machine's core count, and solve() in a process with threads
agrees with batch workers, which run on one.
"""

from __future__ import annotations

import functools
import threading
from contextlib import contextmanager
from typing import Any, Callable, Generator, Iterator

import numpy as np
from threadpoolctl import ThreadpoolController

try:  # the reverse-communication routine of scipy >= 1.16 (private; its interface is checked by the tests)
    from scipy.optimize._slsqplib import slsqp as _slsqp
except ImportError:  # pragma: no cover - older scipy: the "run" fallback below
    _slsqp = None
    import scipy.optimize  # noqa: F401  (its BLAS loaded now, before one_blas_thread lists the libraries)

ConGen = Callable[[np.ndarray], Generator]


@functools.cache
def _blas() -> ThreadpoolController:
    """The BLAS libraries loaded in this process (numpy's and, imported above, scipy's), found once (~1 ms)."""
    return ThreadpoolController()


_ONE_AT_A_TIME = threading.RLock()   # the thread count is per process: concurrent solves (serve) take turns


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """Run the block with every BLAS library on one thread, restored afterwards (~20 us a call). Blocks of other
    Python threads wait: interleaved, one could restore the count while another still polishes (the polish
    is mostly Python, which holds the GIL anyway, so little is lost)."""
    with _ONE_AT_A_TIME, _blas().limit(limits=1, user_api="blas"):
        yield


def slsqp_steps(fun: Callable[[np.ndarray], float], grad: Callable[[np.ndarray], np.ndarray], x0: np.ndarray,
                bounds: list[tuple[float, float]], con: ConGen, con_jac: ConGen, max_iter: int,
                ftol: float = 1e-6) -> Generator[Any, Any, np.ndarray]:
    """minimize(fun, x0, jac=grad, bounds=bounds, method="SLSQP", constraints=[{"type": "ineq", "fun": con,
    "jac": con_jac}], options={"maxiter": max_iter}).x, with con / con_jac generators (their requests are
    yielded to the caller). Raises ValueError for bounds with lower > upper, as minimize does."""
    lo = np.array([float(b[0]) for b in bounds])
    hi = np.array([float(b[1]) for b in bounds])
    if (lo > hi).any():
        raise ValueError(f"SLSQP bounds: a lower bound exceeds its upper bound ({lo} > {hi}).")
    if _slsqp is None or not (np.isfinite(lo).all() and np.isfinite(hi).all() and (lo < hi).all()):
        return (yield ("run", _minimize_runner(fun, grad, x0, bounds, con, con_jac, max_iter, ftol), None))
    x = np.clip(np.asarray(x0, float).reshape(-1), lo, hi)
    xl, xu = lo.copy(), hi.copy()   # (the routine's own copies, kept across calls as scipy does)
    n, m, meq = len(x), 1, 0
    state = {"acc": ftol, "alpha": 0.0, "f0": 0.0, "gs": 0.0, "h1": 0.0, "h2": 0.0, "h3": 0.0, "h4": 0.0,
             "t": 0.0, "t0": 0.0, "tol": 10.0 * ftol, "exact": 0, "inconsistent": 0, "reset": 0, "iter": 0,
             "itermax": int(max_iter), "line": 0, "m": m, "meq": meq, "mode": 0, "n": n}
    indices = np.zeros([max(m + 2 * n + 2, 1)], dtype=np.int32)
    size = n * (n + 1) // 2 + 3 * m * n - (m + 5 * n + 7) * meq + 9 * m + 8 * n * n + 35 * n + meq * meq + 28
    buffer = np.zeros(max(size, 1), dtype=np.float64)
    fx, g = fun(x.copy()), np.atleast_1d(grad(x.copy()))
    mult = np.zeros([max(1, m + 2 * n + 2)], dtype=np.float64)
    C = np.zeros([max(1, m), n], dtype=np.float64, order="F")
    d = np.zeros([max(1, m)], dtype=np.float64)
    C[0:1, :] = np.atleast_2d((yield from con_jac(x)))
    d[0:1] = np.atleast_1d((yield from con(x))).ravel()
    while True:
        _slsqp(state, fx, g, C, d, x, mult, xl, xu, buffer, indices)
        if state["mode"] == 1:    # objective and constraint values at x
            fx = fun(x.copy())
            d[0:1] = np.atleast_1d((yield from con(x))).ravel()
        if state["mode"] == -1:   # their gradients at x
            g = np.atleast_1d(grad(x.copy()))
            C[0:1, :] = np.atleast_2d((yield from con_jac(x)))
        if abs(state["mode"]) != 1:
            break
    return x


def _minimize_runner(fun, grad, x0, bounds, con: ConGen, con_jac: ConGen, max_iter: int, ftol: float):
    """The fallback: a function of a synchronous evaluator (request -> reply) that runs scipy's minimize."""

    def run(answer: Callable[[tuple], Any]) -> np.ndarray:
        from scipy.optimize import minimize

        def sync(make: ConGen) -> Callable[[np.ndarray], Any]:
            def call(z: np.ndarray) -> Any:
                steps, reply = make(z), None
                while True:
                    try:
                        request = steps.send(reply)
                    except StopIteration as stop:
                        return stop.value
                    reply = answer(request)
            return call

        res = minimize(fun, x0, jac=grad, bounds=bounds, method="SLSQP",
                       constraints=[{"type": "ineq", "fun": sync(con), "jac": sync(con_jac)}],
                       options={"maxiter": max_iter, "ftol": ftol})
        return res.x

    return run


__all__ = ["slsqp_steps", "one_blas_thread"]
