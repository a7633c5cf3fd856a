"""A differentiable torch twin of the SCM, evaluated from the same expression trees as the numpy truth.

Used by the gradient and amortized baselines to push gradients through abduction-action-prediction.
Comparisons (indicators) are step functions: their value is exact, their gradient zero.
PyTorch is imported lazily; without it a BackendUnavailableError names the extra to install.
"""

from __future__ import annotations

from contextlib import contextmanager
from functools import reduce
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from milp_recourse.errors import BackendUnavailableError
from milp_recourse.scm import expr as ex
from milp_recourse.scm import functions

INSTALL_HINT = "pip install 'milp_recourse[torch]'"


def require_torch() -> Any:
    """The torch module, or BackendUnavailableError with the install command."""
    try:
        import torch
    except ImportError:
        raise BackendUnavailableError("The gradient and amortized baselines need PyTorch, which is not installed. "
                                      f"Install it with: {INSTALL_HINT}") from None
    return torch


@contextmanager
def one_thread(torch: Any) -> Iterator[None]:
    """Run torch single-threaded inside the block (tiny tensors: thread hand-offs cost more than they
    save, badly so on a shared machine), restoring the caller's setting afterwards."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def torch_eval(e: ex.Expr, env: Mapping[str, Any], torch: Any) -> Any:
    """Value of expression e on tensors in env (broadcasting like numpy)."""
    if isinstance(e, ex.Const):
        return e.value
    if isinstance(e, ex.Name):
        return env[e.id]
    if isinstance(e, ex.Neg):
        return -torch_eval(e.arg, env, torch)
    if isinstance(e, ex.Pow):
        base = torch_eval(e.base, env, torch)
        if e.exponent == int(e.exponent) and not isinstance(base, float):
            return base ** int(e.exponent)
        return base ** e.exponent if isinstance(base, float) else torch.pow(base, e.exponent)
    if isinstance(e, ex.Call):
        args = [_tensor(torch_eval(a, env, torch), env, torch) for a in e.args]
        fn = reduce(getattr, functions.get(e.func).torch.split("."), torch)   # e.g. 'nn.functional.softplus'
        out = args[0]
        for a in args[1:]:        # variadic functions (max, min) fold pairwise
            out = fn(out, a)
        return fn(out) if len(args) == 1 else out
    left, right = torch_eval(e.left, env, torch), torch_eval(e.right, env, torch)
    if isinstance(e, ex.Compare):
        left, right = _tensor(left, env, torch), _tensor(right, env, torch)
        op = {">": torch.gt, ">=": torch.ge, "<": torch.lt, "<=": torch.le}[e.op]
        return op(left, right).to(left.dtype)
    if isinstance(e, ex.Add):
        return left + right
    if isinstance(e, ex.Sub):
        return left - right
    if isinstance(e, ex.Mul):
        return left * right
    return left / right


def _tensor(v: Any, env: Mapping[str, Any], torch: Any) -> Any:
    if not isinstance(v, float):
        return v
    ref = next(iter(env.values()))
    return torch.full_like(ref, v)


class TorchSCM:
    """Counterfactuals x_cf(U, mask, theta) of an SCM as a differentiable torch function."""

    def __init__(self, scm: Any, features: Sequence[str], dtype: Any = None) -> None:
        self.torch = require_torch()
        self.scm = scm
        self.features = tuple(features)
        self.dtype = dtype or self.torch.float64
        self._col = {f: i for i, f in enumerate(self.features)}

    def tensor(self, a: Any) -> Any:
        return self.torch.as_tensor(np.array(a, float), dtype=self.dtype)

    def noise(self, X: np.ndarray) -> Any:
        """Abducted noise of factual rows X (n, d) as a tensor (numpy abduction: no gradient needed)."""
        return self.tensor(self.scm.abduct(np.asarray(X, float).reshape(-1, self.scm.dim)))

    def forward(self, U: Any, mask: Any, theta: Any) -> Any:
        """(n, d) counterfactuals: x_j = m_j * theta_j + (1 - m_j) * f_j(parents, u_j) in topological order.

        `mask` may be soft (in [0, 1]) for relaxed training; with a hard 0/1 mask this is the exact
        counterfactual of do(X_I := theta_I).
        """
        scm, torch = self.scm, self.torch
        env: dict[str, Any] = {v.noise_name: U[:, j] for j, v in enumerate(scm.variables)}
        cols = []
        for name in scm.names:
            val = torch_eval(scm.equations[name], env, torch)
            val = _tensor(val, env, torch) if isinstance(val, float) else val.expand(U.shape[0])
            k = self._col.get(name)
            if k is not None:
                m = mask[:, k]
                val = m * theta[:, k] + (1.0 - m) * val
            env[name] = val
            cols.append(val)
        return torch.stack(cols, dim=1)


class TorchMethod:
    """Mixin for torch baselines: solve() checks the extra and runs `_solve(problem, torch)` on one thread."""

    def solve(self, problem):
        torch = require_torch()
        with one_thread(torch):
            return self._solve(problem, torch)
