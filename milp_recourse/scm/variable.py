"""One endogenous variable of an SCM: its type, domain, levels and actionability, validated when built."""

from __future__ import annotations

import math
from dataclasses import dataclass

from milp_recourse.errors import SpecError, describe
from milp_recourse.scm.levels import LEVELED_KINDS, CostTable, check_levels, switch_table

KINDS = ("continuous", "integer", "binary", "categorical", "ordinal")
ACTIONABILITY = ("immutable", "actionable", "increase", "decrease")


@dataclass(frozen=True)
class Variable:
    """One endogenous variable: type, domain [lower, upper], actionability and its noise's name."""

    name: str
    kind: str
    lower: float
    upper: float
    actionability: str
    noise_name: str
    sensitive: bool = False
    description: str = ""
    levels: tuple[str, ...] = ()                 # categorical / ordinal: code k means levels[k] (scm/levels.py)
    level_costs: CostTable | None = None         # K x K switch costs g[from][to] (None: the kind's default)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or self.name != self.name.strip() \
                or "`" in self.name or not self.name.isprintable():
            raise SpecError("A variable name must be a non-empty printable string without backticks or leading/"
                            f"trailing spaces (names like 'co-applicant' are written `co-applicant` in equations); "
                            f"got {describe(self.name)}.")
        if self.kind not in KINDS:
            raise SpecError(f"Variable {self.name!r} has type {self.kind!r}; expected one of {', '.join(KINDS)}.")
        if self.actionability not in ACTIONABILITY:
            raise SpecError(f"Variable {self.name!r} has actionability {self.actionability!r}; "
                            f"expected one of {', '.join(ACTIONABILITY)}.")
        self._check_levels()
        lo, hi = float(self.lower), float(self.upper)
        if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
            raise SpecError(f"Variable {self.name!r} has domain [{lo}, {hi}]; expected finite lower <= upper.")
        if self.kind != "continuous" and not (lo.is_integer() and hi.is_integer()):
            raise SpecError(f"{self.kind.capitalize()} variable {self.name!r} needs integral domain bounds; "
                            f"got [{lo}, {hi}].")
        if self.kind == "binary" and not (0 <= lo and hi <= 1):
            raise SpecError(f"Binary variable {self.name!r} needs a domain inside [0, 1]; got [{lo}, {hi}].")
        if not isinstance(self.noise_name, str) or not self.noise_name.isidentifier():
            raise SpecError(f"Variable {self.name!r} needs a noise name (identifier); got {describe(self.noise_name)}.")
        object.__setattr__(self, "lower", lo)
        object.__setattr__(self, "upper", hi)
        object.__setattr__(self, "sensitive", bool(self.sensitive))

    def _check_levels(self) -> None:
        """Categorical / ordinal: levels given, domain = the codes 0..K-1, a categorical has no direction."""
        if self.kind not in LEVELED_KINDS:
            if self.levels or self.level_costs is not None:
                raise SpecError(f"Variable {self.name!r} is {self.kind}; only categorical and ordinal variables "
                                "take 'levels' / 'level_costs'.")
            return
        levels = check_levels(self.name, self.kind, self.levels)
        object.__setattr__(self, "levels", levels)
        K = len(levels)
        if (float(self.lower), float(self.upper)) != (0.0, float(K - 1)):
            raise SpecError(f"The {self.kind} variable {self.name!r} has domain [{self.lower}, {self.upper}]; its "
                            f"codes are 0..{K - 1} (leave 'domain' out).")
        if self.kind == "categorical" and self.actionability in ("increase", "decrease"):
            raise SpecError(f"The categorical variable {self.name!r} has actionability {self.actionability!r}, but "
                            "its levels have no order; use 'ordinal' for ordered levels, or 'actionable'.")
        if self.level_costs is not None:
            table = tuple(tuple(float(c) for c in row) for row in self.level_costs)
            if len(table) != K or any(len(row) != K for row in table) or any(
                    not math.isfinite(c) or c < 0 for row in table for c in row) or any(table[i][i] for i in range(K)):
                raise SpecError(f"'level_costs' of {self.name!r} must be a {K} x {K} table of finite costs >= 0 with "
                                "zeros on the diagonal.")
            object.__setattr__(self, "level_costs", table)

    @property
    def domain(self) -> tuple[float, float]:
        return self.lower, self.upper

    @property
    def switch_costs(self) -> CostTable | None:
        """The level-change cost table the cost uses (categorical: 1 per switch unless given; ordinal: the given
        table, else None: |code change|^p)."""
        if self.level_costs is not None:
            return self.level_costs
        return switch_table(len(self.levels)) if self.kind == "categorical" else None

    @property
    def is_integral(self) -> bool:
        return self.kind != "continuous"

    @property
    def is_actionable(self) -> bool:
        return self.actionability != "immutable"


__all__ = ["ACTIONABILITY", "KINDS", "Variable"]
