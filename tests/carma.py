"""The issue-2 benchmark case for tests: the Loan SCM, the CARMA ReLU network from ../shared/datasets and the
CARMA p = 2 cost of bench/bench_core.py; tests skip with the reason when the data is absent."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from milp_recourse import CostSpec, RecourseProblem, SolveOptions, load_scm
from milp_recourse.models.classifiers import ReLUNetwork

ACTIONABLE = ("E", "L", "I", "S")


def carma_dir() -> Path:
    default = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
    return Path(os.environ.get("MILP_RECOURSE_DATA", default)) / "carma-loan"


def carma_case() -> tuple:
    """(Loan SCM, the CARMA network, recourse_test.csv, the CARMA p = 2 cost of bench/bench_core.py); pytest.skip
    when the shared data is missing."""
    folder = carma_dir()
    if not (folder / "classifier_mlp.npz").is_file():
        pytest.skip(f"CARMA loan data not found at {folder} (set MILP_RECOURSE_DATA to the datasets folder)")
    scm = load_scm("loan")
    net = ReLUNetwork.from_npz(folder / "classifier_mlp.npz")
    test, train = pd.read_csv(folder / "recourse_test.csv"), pd.read_csv(folder / "recourse_train.csv")
    names = list(scm.names)
    denied = train[net.predict(train[names].to_numpy(float)) == 0]
    std = dict(zip(names, np.asarray(net.scaler_std, float)))
    cost = CostSpec(p=2, divisors={k: std[k] * float(denied[k].max() - denied[k].min()) for k in ACTIONABLE},
                    scale=1.0 / len(ACTIONABLE))
    return scm, net, test, cost


def carma_problem(row: int, time_limit: float = 60.0) -> RecourseProblem:
    """Row `row` of recourse_test.csv as a RecourseProblem (pytest.skip when the shared data is missing)."""
    scm, net, test, cost = carma_case()
    return RecourseProblem(scm, net, test.iloc[row][list(scm.names)].to_dict(), cost=cost,
                           options=SolveOptions(time_limit=time_limit))
