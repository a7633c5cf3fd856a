"""The least cost of reaching a region of classifier inputs, so an encoder can drop regions a budget cannot pay for.

With a cost budget B (compile_problem's upper_bound: a valid action's cost, or a budget stage's), an input whose
counterfactual is x_i + d_i (an intervened feature no changing parent moves) costs at least c_i |d_i|^p, plus l0
when it moves. A box of inputs therefore costs at least sum_i c_i dist(x_i, [lo_i, hi_i])^p + l0 * (inputs it
moves) (max over i instead of the sum for the max aggregate); inputs whose counterfactual another node moves,
or whose cost is not a distance (percentile, level tables), count 0, which keeps the bound valid. A region
whose bound exceeds B holds no action of cost <= B: a tree encoder drops such leaves (encode/tree_ensembles.py),
which the budget's per-feature ranges alone do not, since every feature may afford its own move but not all
of them together. Boxes are widened by a relative 1e-6 and B by 1e-6 relative: solver points within tolerance
of a region and the cost row's own 1e-7 slack are never cut off.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

BOX_SLACK = 1e-6       # relative widening of a region's bounds (solver tolerances, float32 split regions)
BUDGET_SLACK = 1e-6    # relative slack on the budget (the cost row is objective <= upper_bound * (1 + 1e-7))


@dataclass(frozen=True)
class InputPrices:
    """Per classifier input: the factual value and the cost coefficient (0: free or not a distance); the cost's
    power, its l0 and aggregate, and the budget B (regions costing more than B may be dropped)."""

    x: tuple[float, ...]
    coef: tuple[float, ...]
    p: float
    l0: float
    aggregate: str
    budget: float

    @property
    def limit(self) -> float:
        """The cost above which a region is dropped: the budget with its slack."""
        return self.budget * (1.0 + BUDGET_SLACK) + 1e-12

    def priced(self, i: int) -> bool:
        """Whether moving input i has a positive cost (else its bounds alone decide its regions)."""
        return self.coef[i] > 0.0

    def term(self, i: int, lo: float, hi: float) -> float:
        """Input i's least distance cost c_i dist^p of reaching [lo, hi] (widened by BOX_SLACK); l0 not included."""
        xi = self.x[i]
        dist = max(lo - BOX_SLACK * max(1.0, abs(lo)) - xi, 0.0, xi - hi - BOX_SLACK * max(1.0, abs(hi)))
        return 0.0 if dist <= 0.0 else self.coef[i] * dist ** self.p

    def box_cost(self, box: Mapping[int, tuple[float, float]]) -> float:
        """The least cost of an action whose inputs land in `box` (input -> interval; others unconstrained)."""
        parts = [self.term(i, lo, hi) for i, (lo, hi) in box.items()]
        moved = sum(1 for t in parts if t > 0.0)
        if not moved:
            return 0.0
        spread = max(parts) if self.aggregate == "max" else math.fsum(parts)
        return spread + self.l0 * moved


def input_prices(features: Sequence[str], x: Mapping[str, float], direct: Mapping[str, float], p: float, l0: float,
                 aggregate: str, budget: float | None) -> InputPrices | None:
    """InputPrices for the classifier's features; `direct`: the cost coefficient of every feature whose
    counterfactual is its factual value plus its own shift. None without a finite budget or a power cost."""
    if budget is None or not math.isfinite(budget) or budget < 0.0 or not p > 0.0:
        return None
    coef = tuple(max(float(direct.get(f, 0.0)), 0.0) for f in features)
    if not any(c > 0.0 for c in coef):
        return None
    return InputPrices(tuple(float(x[f]) for f in features), coef, float(p), max(float(l0), 0.0), aggregate,
                       float(budget))


__all__ = ["InputPrices", "input_prices", "BOX_SLACK"]
