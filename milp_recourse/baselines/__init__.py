"""Baselines for the exact solver: same input (a RecourseProblem), same result type (RecourseResult).

Every baseline re-checks its action with verify.verify_action: FEASIBLE when valid (no optimality
claim), UNKNOWN when it found nothing valid (never NO_RECOURSE: only the exact solver proves that),
VERIFICATION_FAILED when it claims validity the true SCM denies. The grid oracle needs only numpy;
the gradient and amortized baselines import PyTorch lazily (`pip install 'milp_recourse[torch]'`).
"""

from __future__ import annotations

from typing import Any

from milp_recourse.errors import InputError

BASELINES = ("grid", "causal-gd", "wachter", "amortized")


def get_baseline(name: str, **options: Any) -> Any:
    """A baseline object with .name and .solve(problem) -> RecourseResult.

    Options: grid -> GridOracle fields (n_values, reference_ranges, ...); causal-gd / wachter ->
    GDConfig fields (steps, lr, scales, ...); amortized -> AmortizedConfig fields (epochs, hidden, ...).
    """
    if name == "grid":
        from milp_recourse.baselines.grid import GridOracle
        return _build(GridOracle, name, options)
    if name in ("causal-gd", "wachter"):
        from milp_recourse.baselines.gd_engine import GDConfig
        cls = _gd_class(name)
        return cls(_build(GDConfig, name, options))
    if name == "amortized":
        from milp_recourse.baselines.amortized import AmortizedCARMA, AmortizedConfig
        return AmortizedCARMA(_build(AmortizedConfig, name, options))
    raise InputError(f"Unknown baseline {name!r}; expected one of {', '.join(BASELINES)}.")


def _gd_class(name: str) -> type:
    if name == "causal-gd":
        from milp_recourse.baselines.causal_gd import CausalGD
        return CausalGD
    from milp_recourse.baselines.wachter import Wachter
    return Wachter


def _build(cls: type, name: str, options: dict[str, Any]) -> Any:
    import dataclasses

    known = {f.name for f in dataclasses.fields(cls)}
    bad = sorted(set(options) - known)
    if bad:
        raise InputError(f"Unknown option(s) {', '.join(map(repr, bad))} for baseline {name!r}; expected some of "
                         f"{', '.join(sorted(known))}.")
    return cls(**options)


__all__ = ["BASELINES", "get_baseline"]
