"""Where a batch's chunks run: local processes (joblib/loky), Dask distributed, or Ray.

Every engine gets the same plain, picklable context (SCM spec dict, classifier object, cost and
solve options) and lists of Tasks, and yields `(chunk_index, rows)` as chunks finish, in any order;
`rows` is an Exception when a whole chunk was lost (a worker process died), which the batch turns
into ERROR rows. Dask and Ray are optional extras, imported only when asked for.

- local: workers == 1 solves in this process; workers > 1 uses a loky process pool. A pool whose
  worker dies is restarted for the unfinished chunks (at most MAX_POOL_RESTARTS times).
- dask: a LocalCluster of `workers` single-threaded processes, or the scheduler at `address`
  (tcp://host:8786; its workers need milp_recourse installed). The context is scattered once.
- ray: an already running Ray, else `ray.init(num_cpus=workers)` locally or `ray.init(address)`.
  The context is put in the object store once. A Ray started here is shut down at the end.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from milp_recourse.batch.worker import Task, solve_chunk
from milp_recourse.errors import BackendUnavailableError, InputError

ENGINES = ("local", "dask", "ray")
MAX_POOL_RESTARTS = 3
Chunk = Sequence[Task]


def check_engine(engine: str, workers: int, address: str | None) -> None:
    """Validate the engine choice and that its extra is installed, before any work."""
    if engine not in ENGINES:
        raise InputError(f"Unknown engine {engine!r}; expected one of {', '.join(ENGINES)}.")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InputError(f"The number of workers must be an integer >= 1. Got {workers!r}.")
    if address is not None and engine == "local":
        raise InputError(f"An address ({address!r}) needs engine 'dask' or 'ray'; the local engine has none.")
    if engine == "dask":
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise BackendUnavailableError("The dask engine needs dask.distributed: "
                                          "pip install 'milp_recourse[dask]'.") from None
    if engine == "ray":
        try:
            import ray  # noqa: F401
        except ImportError:
            raise BackendUnavailableError("The ray engine needs Ray: pip install 'milp_recourse[ray]'.") from None


def run_chunks(engine: str, context: Mapping[str, Any], chunks: Sequence[Chunk], workers: int = 1,
               address: str | None = None) -> Iterator[tuple[int, list[dict] | Exception]]:
    """Solve every chunk on the chosen engine; yields (index, rows or the chunk's exception) as they finish."""
    check_engine(engine, workers, address)
    if not chunks:
        return iter(())
    if engine == "dask":
        gen = _dask(context, chunks, workers, address)
    elif engine == "ray":
        gen = _ray(context, chunks, workers, address)
    else:
        gen = _local(context, chunks, workers)
    next(gen)  # start / connect now, so errors come before any result and close() always cleans up
    return gen


def _indexed(i: int, context: Mapping[str, Any], chunk: Chunk) -> tuple[int, list[dict]]:
    return i, solve_chunk(context, chunk)


def _local(context: Mapping[str, Any], chunks: Sequence[Chunk], workers: int) -> Iterator[Any]:
    yield None  # ready
    if workers == 1:
        for i, chunk in enumerate(chunks):
            yield i, solve_chunk(context, chunk)
        return
    from joblib import Parallel, delayed

    left = dict(enumerate(chunks))
    for attempt in range(MAX_POOL_RESTARTS + 1):
        par = Parallel(n_jobs=min(workers, len(left)), backend="loky", return_as="generator_unordered",
                       batch_size=1, pre_dispatch="2*n_jobs")
        gen = par([delayed(_indexed)(i, context, ch) for i, ch in left.items()])
        try:
            while True:
                try:
                    i, rows = next(gen)
                except StopIteration:
                    return
                except Exception as exc:  # a worker process died (TerminatedWorkerError) or the pool broke
                    if attempt == MAX_POOL_RESTARTS:
                        for j in list(left):
                            yield j, exc
                        return
                    break
                del left[i]
                yield i, rows
        finally:
            gen.close()


def _dask(context: Mapping[str, Any], chunks: Sequence[Chunk], workers: int,
          address: str | None) -> Iterator[Any]:
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    if address:
        try:
            client = Client(address, timeout="10s")
        except (OSError, TimeoutError) as exc:
            raise InputError(f"Cannot connect to the Dask scheduler at {address!r}: {exc}") from None
    else:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                               silence_logs=logging.ERROR)
        client = Client(cluster)
    try:
        yield None  # ready
        [ctx] = client.scatter([context], broadcast=True)
        futures = {client.submit(solve_chunk, ctx, ch, pure=False): i for i, ch in enumerate(chunks)}
        for fut in as_completed(futures):
            try:
                rows: Any = fut.result()
            except Exception as exc:  # KilledWorker etc.: the chunk is lost, the run goes on
                rows = exc
            yield futures[fut], rows
            fut.release()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def ray_init(num_cpus: int | None = None, address: str | None = None) -> None:
    """Start (or connect to) Ray quietly; a local Ray's workers can import this package even uninstalled."""
    import ray

    if ray.is_initialized():
        return
    if address:
        ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False)
        return
    root = str(Path(__file__).resolve().parents[1])
    path = os.pathsep.join([root] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []))
    ray.init(num_cpus=num_cpus, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": path, "OMP_NUM_THREADS": "1"}})


def _ray(context: Mapping[str, Any], chunks: Sequence[Chunk], workers: int,
         address: str | None) -> Iterator[Any]:
    import ray

    started = not ray.is_initialized()
    ray_init(workers, address)
    try:
        yield None  # ready
        remote = ray.remote(num_cpus=1)(solve_chunk)
        ctx = ray.put(dict(context))
        refs = {remote.remote(ctx, list(ch)): i for i, ch in enumerate(chunks)}
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                try:
                    rows: Any = ray.get(ref)
                except Exception as exc:  # a worker died after its retries: the chunk is lost, the run goes on
                    rows = exc
                yield refs[ref], rows
    finally:
        if started:
            ray.shutdown()


__all__ = ["ENGINES", "check_engine", "run_chunks", "ray_init"]
