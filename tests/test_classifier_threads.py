"""The classifier's OpenMP runtime runs on the solve's `threads` (models/threads.py): spinning OpenMP threads
beside other processes stalled single HistGradientBoosting predictions for up to 1.9 s. Checked with the numbers
scikit-learn itself reads (its effective OpenMP thread count at each prediction), and the process's count restored
afterwards, also when solves nest or run in several threads at once."""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.utils._openmp_helpers import _openmp_effective_n_threads
from threadpoolctl import threadpool_info, threadpool_limits

from milp_recourse import CostSpec, RecourseProblem, SolveOptions, load_scm, solve
from milp_recourse.models.classifiers import favourable
from milp_recourse.models.recipes import labelled_sample
from milp_recourse.models.threads import classifier_threads
from milp_recourse.solver.many import solve_many


def _openmp_threads() -> set[int]:
    return {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "openmp"}


@pytest.fixture
def two_threads():
    """The process's OpenMP runtimes on 2 threads (whatever the machine), so a limit to 1 is visible."""
    with threadpool_limits(limits=2, user_api="openmp"):
        yield


@pytest.fixture(scope="module")
def hgb_people():
    scm = load_scm("loan")
    X, y = labelled_sample(scm, 1500, 0)
    model = HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(X, y)
    people = scm.sample(100, seed=3).to_numpy(float)
    denied = people[~favourable(model, people)][:2]
    return [RecourseProblem(scm, model, x, cost=CostSpec(p=1), options=SolveOptions(time_limit=20)) for x in denied]


def test_predictions_during_solve_and_solve_many_use_the_solves_threads(two_threads, hgb_people, monkeypatch):
    seen: list[int] = []
    real = HistGradientBoostingClassifier.predict_proba

    def spy(self, X):
        seen.append(_openmp_effective_n_threads())
        return real(self, X)

    monkeypatch.setattr(HistGradientBoostingClassifier, "predict_proba", spy)
    assert _openmp_effective_n_threads() == 2
    for pr in hgb_people:
        assert solve(pr).verified
    solve_many(hgb_people)
    assert seen and set(seen) == {1}
    assert _openmp_effective_n_threads() == 2 and _openmp_threads() == {2}   # restored


def test_nested_limits_restore_in_order_and_other_threads_keep_their_own(two_threads):
    """OpenMP's thread count is the calling thread's setting: a solve in another thread (serve's workers) is
    neither limited nor restored by this one."""
    seen: dict[str, set[int]] = {}

    def other() -> None:
        seen["other before"] = _openmp_threads()
        with classifier_threads(1):
            seen["other inside"] = _openmp_threads()
        seen["other after"] = _openmp_threads()

    with classifier_threads(1):
        with classifier_threads(3):
            assert _openmp_threads() == {3}
        assert _openmp_threads() == {1}
        t = threading.Thread(target=other)
        t.start()
        t.join(10)
        assert _openmp_threads() == {1}
    assert _openmp_threads() == {2}
    assert seen["other inside"] == {1} and seen["other after"] == seen["other before"]
    if os.cpu_count() and os.cpu_count() > 1:   # a new thread starts at the machine's default, not at our 1
        assert seen["other before"] != {1}


def test_an_error_inside_still_restores(two_threads):
    with pytest.raises(RuntimeError):
        with classifier_threads(1):
            raise RuntimeError("boom")
    assert _openmp_threads() == {2}
    assert np.isfinite(_openmp_effective_n_threads())
