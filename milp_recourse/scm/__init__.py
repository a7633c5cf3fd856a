"""The structural causal model layer: equations (expr), noise distributions, the SCM and spec loading."""

from __future__ import annotations

from milp_recourse.scm.expr import (Add, Call, Compare, Const, Div, Expr, Mul, Name, Neg, Pow, Sub, derivative, evaluate, interval,
                   names, parse, substitute, to_text)
from milp_recourse.scm.model import SCM
from milp_recourse.scm.variable import ACTIONABILITY, KINDS, Variable
from milp_recourse.scm.noise import Bernoulli, Gamma, Noise, Normal, NormalMixture, Uniform, noise_from_spec
from milp_recourse.scm.spec import load_scm, models_dir, scm_from_dict, scm_to_dict, shipped_models

__all__ = [
    "Expr", "Const", "Name", "Neg", "Add", "Sub", "Mul", "Div", "Pow", "Call", "Compare",
    "parse", "evaluate", "interval", "substitute", "names", "to_text", "derivative",
    "Noise", "Normal", "Bernoulli", "Gamma", "Uniform", "NormalMixture", "noise_from_spec",
    "Variable", "SCM", "KINDS", "ACTIONABILITY",
    "load_scm", "scm_from_dict", "scm_to_dict", "shipped_models", "models_dir",
]
