"""OpenMP threads of the classifier's own calls during a solve: the solve's `threads` (default 1).

HistGradientBoosting (and XGBoost / LightGBM where they use the process's OpenMP runtime) predict with OpenMP,
whose threads spin at a barrier after every call. A solve makes thousands of small predictions; when other
processes also run OpenMP teams on the same cores, a descheduled thread stalls each of them. Measured here
(two other processes predicting with HistGradientBoosting): 2 000 one-row predictions took 29.4 s on 2 threads
(p99 264 ms, max 1.9 s) and 1.3 s on one (p99 1.05 ms); bench_time_limits saw a Loan + HistGradientBoosting person
at a 0.5 s limit take 2.3 s. Batch workers already run on one thread. OpenMP's thread count is a setting of the
calling thread, so concurrent solves (serve's worker threads) each set and restore their own.
"""

from __future__ import annotations

import functools
import sys
from contextlib import contextmanager
from typing import Any, Iterator

OPENMP_LIBRARIES = ("sklearn", "xgboost", "lightgbm")   # packages whose import loads an OpenMP runtime


@functools.cache
def _controller(loaded: tuple[str, ...]) -> Any:
    """threadpoolctl's view of the libraries loaded by now (~1 ms; made again only once another OpenMP user
    has been imported: `loaded` names which)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


@contextmanager
def classifier_threads(threads: int) -> Iterator[None]:
    """Run the block with this thread's OpenMP teams on `threads` threads (restored afterwards, also on error)."""
    loaded = tuple(name for name in OPENMP_LIBRARIES if name in sys.modules)
    with _controller(loaded).limit(limits=max(1, int(threads)), user_api="openmp"):
        yield


__all__ = ["classifier_threads", "OPENMP_LIBRARIES"]
