"""Data of one study case: SCM, classifier, denied individuals, reference data, cost and plausibility scales.

`data: carma` reads $MILP_RECOURSE_DATA/carma-loan (denied rows of recourse_test.csv, reference
recourse_train.csv); `data: sample` draws both from the SCM (seeded). `classifier: carma` is the
independent CARMA ReLU network; anything else goes through recipes.load_model.
Cost: (1/K) * sum_k w_k * |delta_k / std_k|^p / R_k with R_k the range of the standardized denied
reference data, i.e. CostSpec(p, scale=1/K, divisors d_k = std_k^p * R_k).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from milp_recourse.models.classifiers import ReLUNetwork, classifier_features, favourable
from milp_recourse.errors import InputError
from milp_recourse.problem.options import CostSpec
from milp_recourse.evaluation.study_config import Case

CARMA_DIR = "carma-loan"


def data_dir() -> Path:
    """The shared datasets folder: $MILP_RECOURSE_DATA, default <repo>/../shared/datasets."""
    default = Path(__file__).resolve().parents[3] / "shared" / "datasets"   # <repo>/../shared/datasets
    return Path(os.environ.get("MILP_RECOURSE_DATA", default))


@dataclass(frozen=True, eq=False)
class CaseData:
    """Everything the study needs for one case, loaded and checked once."""

    case: Case
    scm: Any
    classifier: Any
    individuals: pd.DataFrame      # denied individuals to give recourse to (index = source row)
    reference: pd.DataFrame        # reference population (plausibility box and density percentiles)
    denied_reference: pd.DataFrame  # its denied rows (grid ranges, cost ranges, amortized training)
    cost: CostSpec
    std: dict[str, float]
    actionable: tuple[str, ...]
    sensitive: str | None
    box_lo: np.ndarray
    box_hi: np.ndarray
    ref_logdens: np.ndarray        # sorted log-densities of the reference rows

    def group(self, row: pd.Series) -> str:
        if self.sensitive is None:
            return "all"
        return f"{self.sensitive}={row[self.sensitive]:g}"


def carma_files() -> Path:
    d = data_dir() / CARMA_DIR
    if not d.is_dir():
        raise InputError(f"The CARMA loan data is not at {d}; set MILP_RECOURSE_DATA to the datasets folder "
                         "(it holds carma-loan/recourse_test.csv, recourse_train.csv, classifier_mlp.npz).")
    return d


def _classifier(case: Case, scm: Any) -> Any:
    from milp_recourse.models.recipes import load_model

    if case.classifier == "carma":
        return ReLUNetwork.from_npz(carma_files() / "classifier_mlp.npz")
    return load_model(case.classifier, scm)


def _denied(model: Any, frame: pd.DataFrame, scm: Any) -> pd.DataFrame:
    feats = list(classifier_features(model, scm.names))
    return frame[~favourable(model, frame[feats].to_numpy(float))]


def _pick(denied: pd.DataFrame, case: Case, sensitive: str | None, rng: np.random.Generator) -> pd.DataFrame:
    """n denied individuals: seeded random, or balanced over the sensitive groups."""
    if len(denied) == 0:
        raise InputError(f"Case {case.name!r}: the classifier denies nobody in the data; nobody needs recourse.")
    if case.sampling == "random" or sensitive is None:
        take = rng.choice(len(denied), size=min(case.n, len(denied)), replace=False)
        return denied.iloc[np.sort(take)]
    groups = [g for _, g in denied.groupby(sensitive)]
    parts = []
    for j, g in enumerate(groups):
        want = case.n // len(groups) + (1 if j < case.n % len(groups) else 0)
        take = rng.choice(len(g), size=min(want, len(g)), replace=False)
        parts.append(g.iloc[np.sort(take)])
    return pd.concat(parts).sort_index()


def load_case(case: Case, seed: int, case_index: int) -> CaseData:
    """Load SCM, classifier and data of a case; compute the cost form and plausibility references."""
    from milp_recourse.scm import load_scm

    scm = load_scm(case.scm)
    model = _classifier(case, scm)
    names = list(scm.names)
    rng = np.random.default_rng([seed, case_index, 7])
    if case.data == "carma":
        d = carma_files()
        pool = pd.read_csv(d / "recourse_test.csv")[names]
        reference = pd.read_csv(d / "recourse_train.csv")[names]
    else:
        reference = scm.sample(case.reference_n, seed=seed * 1000 + 2 * case_index + 1)[names]
        pool = scm.sample(max(20 * case.n, 2000), seed=seed * 1000 + 2 * case_index + 2)[names]
    sensitive = scm.sensitive[0] if scm.sensitive else None
    individuals = _pick(_denied(model, pool, scm), case, sensitive, rng)
    denied_ref = _denied(model, reference, scm)
    if len(denied_ref) < 2:
        raise InputError(f"Case {case.name!r}: fewer than 2 denied reference rows; cannot compute cost ranges.")
    actionable = tuple(scm.actionable)
    if isinstance(model, ReLUNetwork) and model.scaler_std is not None:
        std = dict(zip(names, map(float, model.scaler_std)))
    else:
        std = {n: float(reference[n].std(ddof=1)) or 1.0 for n in names}
    divisors = {}
    for k in actionable:
        r = float(denied_ref[k].max() - denied_ref[k].min()) / std[k]
        divisors[k] = std[k] ** case.cost_p * (r if r > 0 else 1.0)
    cost = CostSpec(p=case.cost_p, divisors=divisors, scale=1.0 / len(actionable))
    ref_arr = reference.to_numpy(float)
    with np.errstate(all="ignore"):
        logd = np.sort(np.asarray(scm.log_density(ref_arr), float))
    return CaseData(case, scm, model, individuals, reference, denied_ref, cost, std, actionable, sensitive,
                    ref_arr.min(axis=0), ref_arr.max(axis=0), logd)


def plausibility(data: CaseData, cf: np.ndarray) -> tuple[float, float]:
    """(inside the reference range box: 0/1, percentile of the SCM log-density among the reference rows)."""
    cf = np.asarray(cf, float).reshape(1, -1)
    tol = 1e-9 * np.maximum(1.0, np.abs(cf[0]))
    inside = float(np.all((cf[0] >= data.box_lo - tol) & (cf[0] <= data.box_hi + tol)))
    with np.errstate(all="ignore"):   # a value at a bounded equation's limit has density 0 (log -inf)
        ld = float(np.asarray(data.scm.log_density(cf), float).ravel()[0])
    below = np.searchsorted(data.ref_logdens, ld, side="right") if np.isfinite(ld) else 0
    pct = 100.0 * below / len(data.ref_logdens)
    return inside, float(pct)


def widened_scm(scm: Any, factor: float) -> Any:
    """The SCM with every non-binary domain widened by `factor` ranges on each side: the 'unclipped' model on
    which an action outside the SCM's support (as a CARMA-style oracle would allow) can be found and checked."""
    from milp_recourse.scm.spec import scm_from_dict, scm_to_dict

    spec = scm_to_dict(scm)
    for v in spec["variables"]:
        if v["type"] == "binary":
            continue
        lo, hi = v["domain"]
        pad = factor * (hi - lo)
        if v["type"] != "continuous":
            pad = float(np.ceil(pad))
        v["domain"] = [lo - pad, hi + pad]
    return scm_from_dict(spec)


def learned_scm(data: CaseData) -> Any:
    """An SCM fitted (scm/fit.py: linear equations, additive Gaussian noise) to the case's reference data on the true
    DAG, with the true SCM's name, actionability and sensitive attribute: the causal model a CARMA-style method
    would learn from data. Used to train the amortized method, which is then judged on the true SCM."""
    from milp_recourse.scm.dag import check_dag
    from milp_recourse.scm.fit import FitSettings, fit_scm

    scm = data.scm
    edges = [(p, v) for v in scm.names for p in scm.parents(v)]
    settings = FitSettings(immutable=tuple(v.name for v in scm.variables if not v.is_actionable),
                           sensitive=tuple(scm.sensitive))
    return fit_scm(data.reference[list(scm.names)], check_dag(edges, scm.names), scm.name, settings)
