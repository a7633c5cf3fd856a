"""Where a batch's chunks run: local processes (joblib/loky), Dask distributed, or Ray.

Every engine gets the same plain, picklable context (SCM spec dict, classifier object, cost and
solve options) and lists of Tasks, and yields `(chunk_index, rows)` as chunks finish, in any order;
`rows` is an Exception when a whole chunk was lost (a worker process died), which the batch turns
into ERROR rows. Dask and Ray are optional extras, imported only when asked for.

- local: workers == 1 solves in this process; workers > 1 uses a loky process pool. A pool whose
  worker dies is restarted for the unfinished chunks (at most MAX_POOL_RESTARTS times). With a hard
  time limit a watchdog thread kills a worker whose chunk outlives chunk_budget (stuck where SIGALRM
  cannot reach it); that chunk is reported as Abandoned and the pool is replaced for the others.
- dask: a LocalCluster of `workers` single-threaded processes, or the scheduler at `address`
  (tcp://host:8786; its workers need milp_recourse installed). The context is scattered once.
- ray: an already running Ray, else `ray.init(num_cpus=workers)` locally or `ray.init(address)`.
  The context is put in the object store once. A Ray started here is shut down at the end.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from milp_recourse.batch.worker import Task, solve_chunk
from milp_recourse.errors import BackendUnavailableError, InputError

ENGINES = ("local", "dask", "ray")
MAX_POOL_RESTARTS = 3
Chunk = Sequence[Task]


MAX_WORKERS = 1024   # processes of one batch (each a full Python with the package and the model)


def check_engine(engine: str, workers: int, address: str | None) -> None:
    """Validate the engine choice and that its extra is installed, before any work."""
    if engine not in ENGINES:
        raise InputError(f"Unknown engine {engine!r}; expected one of {', '.join(ENGINES)}.")
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= MAX_WORKERS:
        shown = repr(workers) if not isinstance(workers, int) or workers < 10**12 else "an integer with " \
            f"{len(str(workers))} digits"
        raise InputError(f"The number of workers must be an integer in [1, {MAX_WORKERS}]. Got {shown}.")
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


class Abandoned(Exception):
    """A chunk whose worker ran past the hard time limit without returning (stuck outside Python) and was
    killed; the pool is replaced and the run goes on."""


def _chunk_solver(context: Mapping[str, Any]) -> Any:
    """The function that solves a chunk (worker.solve_chunk unless the context names another)."""
    return context.get("chunk_solver") or solve_chunk


def _indexed(i: int, context: Mapping[str, Any], chunk: Chunk, board: str | None = None) -> tuple[int, list[dict]]:
    """Solve chunk i in a pool worker; with a board folder, first post 'pid start-time' there for the watchdog."""
    if board is None:
        return i, _chunk_solver(context)(context, chunk)
    import time

    post = os.path.join(board, str(i))
    with open(post, "w") as fh:
        fh.write(f"{os.getpid()} {time.time()}")
    try:
        return i, _chunk_solver(context)(context, chunk)
    finally:
        try:
            os.unlink(post)
        except OSError:
            pass


def chunk_budget(context: Mapping[str, Any], chunk: Chunk) -> float | None:
    """Wall seconds after which a chunk's worker is deemed stuck: per person the hard limit plus a grace
    (SIGALRM normally stops a person at the hard limit itself; this catches code that never returns)."""
    hard = context.get("hard_seconds")
    if not hard:
        return None
    return len(chunk) * (float(hard) + max(1.0, 0.5 * float(hard))) + 2.0


class _Watchdog:
    """Kills a pool worker whose chunk outlives chunk_budget (read from the board folder); records the chunk."""

    def __init__(self, context: Mapping[str, Any], chunks: Sequence[Chunk]) -> None:
        import tempfile
        import threading

        self.board = tempfile.mkdtemp(prefix="milp-recourse-watchdog-")
        self.budgets = {i: chunk_budget(context, ch) for i, ch in enumerate(chunks)}
        self.done: set[int] = set()
        self.abandoned: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="milp-recourse-watchdog", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        import signal
        import time

        while not self._stop.wait(0.2):
            for name in os.listdir(self.board):
                i = int(name)
                if i in self.done or i in self.abandoned or self.budgets.get(i) is None:
                    continue
                try:
                    pid, start = open(os.path.join(self.board, name)).read().split()
                except (OSError, ValueError):
                    continue
                if time.time() - float(start) > self.budgets[i]:
                    self.abandoned.add(i)
                    try:
                        os.kill(int(pid), signal.SIGKILL)
                    except OSError:
                        pass

    def finished(self, i: int) -> None:
        self.done.add(i)

    def clear(self, chunks: Mapping[int, Any]) -> None:
        for i in chunks:
            try:
                os.unlink(os.path.join(self.board, str(i)))
            except OSError:
                pass

    def close(self) -> None:
        import shutil

        self._stop.set()
        self._thread.join()
        shutil.rmtree(self.board, ignore_errors=True)


def _local(context: Mapping[str, Any], chunks: Sequence[Chunk], workers: int) -> Iterator[Any]:
    yield None  # ready
    if workers == 1:  # in this process: SIGALRM enforces the hard limit (a stuck C call cannot be killed here)
        for i, chunk in enumerate(chunks):
            yield i, _chunk_solver(context)(context, chunk)
        return
    from joblib import Parallel, delayed

    left = dict(enumerate(chunks))
    watch = _Watchdog(context, chunks) if context.get("hard_seconds") else None
    board = watch.board if watch is not None else None
    restarts = 0
    try:
        while left:
            par = Parallel(n_jobs=min(workers, len(left)), backend="loky", return_as="generator_unordered",
                           batch_size=1, pre_dispatch="2*n_jobs")
            gen = par([delayed(_indexed)(i, context, ch, board) for i, ch in left.items()])
            try:
                while True:
                    try:
                        i, rows = next(gen)
                    except StopIteration:
                        return
                    except Exception as exc:  # a worker process died (TerminatedWorkerError) or the pool broke
                        killed = sorted(watch.abandoned & set(left)) if watch is not None else []
                        for j in killed:  # killed by the watchdog: those rows are reported, the rest re-run
                            del left[j]
                            yield j, Abandoned(f"abandoned after {chunk_budget(context, chunks[j]):g} s (past the "
                                               "hard time limit); its worker was killed and replaced")
                        if not killed:
                            restarts += 1
                        if watch is not None:
                            watch.clear(left)  # posts of chunks lost with the pool (they are re-run)
                        if restarts > MAX_POOL_RESTARTS:
                            for j in list(left):
                                yield j, exc
                            return
                        break
                    if watch is not None:
                        watch.finished(i)
                    del left[i]
                    yield i, rows
            finally:
                gen.close()
    finally:
        if watch is not None:
            watch.close()


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
    session = _ray_session_dir() if started else None
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
            if session is not None:   # Ray keeps its session folder (logs, sockets) after shutdown
                _remove_session(session)


def _ray_session_dir() -> Path | None:
    """This process's Ray session folder (/tmp/ray/session_<date>_<pid>), or None where Ray does not say."""
    try:
        import ray

        node = ray._private.worker._global_node   # (no public accessor; a missing one only leaves the folder)
        return Path(node.get_session_dir_path()) if node is not None else None
    except Exception:  # noqa: BLE001
        return None


def _remove_session(session: Path) -> None:
    """Remove a finished run's Ray session folder and the session_latest link when it points there."""
    latest = session.parent / "session_latest"
    if latest.is_symlink() and Path(os.path.realpath(latest)) == session.resolve():
        latest.unlink(missing_ok=True)
    shutil.rmtree(session, ignore_errors=True)


__all__ = ["ENGINES", "Abandoned", "check_engine", "chunk_budget", "run_chunks", "ray_init"]
