"""A solver that fails mid-search (SCIP's LP error -6 did on tiny-cost CARMA models) ends in a reported
status with its message, never in an exception after work was done, and never in an unverified answer."""

from __future__ import annotations

import dataclasses

import pytest

import milp_recourse.solver.milp_search as search
from milp_recourse import RecourseProblem, Status, solve
from milp_recourse.backends.highs import HighsBackend
from milp_recourse.errors import BackendError

from denied import denied_problems  # noqa: E402


class _Failing(HighsBackend):
    """HiGHS, except that QPs (qp=True) or MILPs (qp=False) raise like a solver rejecting the model."""

    def __init__(self, fail_qp: bool) -> None:
        self.fail_qp = fail_qp

    def solve(self, model, params):
        is_qp = model.q_diag is not None and bool(model.q_diag.any()) and not model.integrality.any()
        if is_qp == self.fail_qp and (is_qp or model.integrality.any()):
            raise BackendError("fake: the solver rejected the model (error -6)")
        return super().solve(model, params)


@pytest.fixture(scope="module")
def denied_mlp() -> list[RecourseProblem]:
    """Loan + MLP people on the MILP path (the box search would settle them without a MILP or QP)."""
    return [dataclasses.replace(pr, options=dataclasses.replace(pr.options, box_search=False))
            for pr in denied_problems("loan", "mlp", seed=4, keep=3)]


def test_a_failing_polish_qp_still_proves_the_optimum(denied_mlp, monkeypatch):
    reference = [solve(pr) for pr in denied_mlp]
    monkeypatch.setattr(search, "get_backend", lambda name: _Failing(fail_qp=True))
    for pr, ref in zip(denied_mlp, reference):
        res = solve(pr)
        assert res.status is ref.status
        if ref.status is Status.OPTIMAL:
            assert res.verified and res.cost == pytest.approx(ref.cost, rel=2e-4, abs=1e-9)


def test_a_failing_milp_returns_the_verified_incumbent_with_the_message(denied_mlp, monkeypatch):
    monkeypatch.setattr(search, "get_backend", lambda name: _Failing(fail_qp=False))
    seen = 0
    for pr in denied_mlp:
        res = solve(pr)
        assert res.status in (Status.FEASIBLE, Status.UNKNOWN, Status.OPTIMAL)
        if res.status is Status.FEASIBLE:
            assert res.verified and "error -6" in res.message
            seen += 1
    assert seen > 0
