"""The issue-2 benchmark case on people whose optimal cost is almost zero (CARMA loan rows 27 and 124,
costs ~2e-5 and ~6e-8): the tangent rows of d^2 are normalised, so the proof closes instead of stalling at
the solver's row tolerance (both ended FEASIBLE with the bound stuck above the gap before)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from milp_recourse import CostSpec, RecourseProblem, SolveOptions, Status, load_scm, solve
from milp_recourse.classifiers import ReLUNetwork
from milp_recourse.heuristic import random_search
from milp_recourse.local_polish import polish


def _carma_dir() -> Path:
    default = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
    return Path(os.environ.get("MILP_RECOURSE_DATA", default)) / "carma-loan"


@pytest.mark.shared_data
@pytest.mark.parametrize("row", [27, 124])
def test_near_zero_cost_people_are_proven_optimal(row):
    folder = _carma_dir()
    if not (folder / "classifier_mlp.npz").is_file():
        pytest.skip(f"CARMA loan data not found at {folder} (set MILP_RECOURSE_DATA to the datasets folder)")
    scm = load_scm("loan")
    net = ReLUNetwork.from_npz(folder / "classifier_mlp.npz")
    test, train = pd.read_csv(folder / "recourse_test.csv"), pd.read_csv(folder / "recourse_train.csv")
    names, actionable = list(scm.names), ("E", "L", "I", "S")
    denied = train[net.predict(train[names].to_numpy(float)) == 0]
    std = dict(zip(names, np.asarray(net.scaler_std, float)))
    cost = CostSpec(p=2, divisors={k: std[k] * float(denied[k].max() - denied[k].min()) for k in actionable},
                    scale=1.0 / len(actionable))   # the CARMA cost of bench/bench_core.py
    pr = RecourseProblem(scm, net, test.iloc[row][names].to_dict(), cost=cost, options=SolveOptions(time_limit=60))
    res = solve(pr)
    assert res.status is Status.OPTIMAL and res.verified, res.message
    assert res.objective_bound <= res.cost and res.gap <= pr.options.mip_gap
    local = polish(pr, random_search(pr, 4096, 1))   # an independent upper bound: the proof may not exceed it
    assert res.cost <= local.cost * (1 + pr.options.mip_gap) + 1e-12
