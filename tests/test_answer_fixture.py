"""Answers kept equal across refactors (issue 13): status, cost and bound of 720 recorded answers, to 1e-9 relative.

The fixture was recorded before the package was reorganised into folders (tests/answer_cases.py records it);
a changed answer here means the behaviour changed, not just the layout. Its CARMA case was recorded again once
the polish ran on one BLAS thread (tests/test_blas_threads.py): the recorded answers had been those of a 2-thread
BLAS, so a machine with another core count could not reproduce them. The same 200 statuses; 14 costs moved, by at
most 6.2e-5 relative, and 87 bounds, every answer still within its proven gap.
"""

from __future__ import annotations

import json
import math

import pytest

from answer_cases import CASES, FIXTURE, data_dir

RECORDED = json.loads(FIXTURE.read_text())


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


@pytest.mark.shared_data
@pytest.mark.parametrize("case", sorted(CASES))
def test_answers_unchanged(case: str) -> None:
    if not (data_dir() / "carma-loan").is_dir():
        pytest.skip(f"shared datasets not found at {data_dir()} (set MILP_RECOURSE_DATA)")
    now = CASES[case]()
    before = RECORDED[case]
    assert [r["row"] for r in now] == [r["row"] for r in before]
    diffs = [(b, n) for b, n in zip(before, now)
             if b["status"] != n["status"] or not _close(b["cost"], n["cost"]) or not _close(b["bound"], n["bound"])]
    assert not diffs, f"{len(diffs)} of {len(now)} answers changed; first: {diffs[:3]}"
