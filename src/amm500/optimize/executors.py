"""Where tasks run: in this process, in a pool of local processes, or on a Dask cluster.

All three give the same rows for the same tasks (a backtest is a pure function of config and data);
only the order in which results arrive differs. Callers keep a bounded number of tasks in flight
(``submit`` as slots free, ``next_done`` to collect), so a stop loses at most the running ones.
"""

from __future__ import annotations

import concurrent.futures as cf
import itertools
import multiprocessing as mp
import os
import signal
import uuid
from abc import ABC, abstractmethod
from collections import deque
from typing import Any

from amm500.config import ConfigError
from amm500.optimize.evaluate import Task, evaluate


class Executor(ABC):
    """A place that evaluates tasks, ``workers`` at a time."""

    workers: int
    description: str

    @abstractmethod
    def submit(self, task: Task) -> None: ...

    @abstractmethod
    def next_done(self) -> dict[str, Any]:
        """Block until any submitted task finishes and return its row (raises what the task raised)."""

    @abstractmethod
    def in_flight(self) -> int: ...

    @abstractmethod
    def close(self, kill: bool = False) -> None:
        """Release the workers; ``kill`` stops running tasks now instead of letting them finish."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        self.close(kill=exc_type is not None)


class SerialExecutor(Executor):
    """Runs each task in this process when it is collected: one worker, easiest to debug."""

    def __init__(self) -> None:
        self.workers = 1
        self.description = "1 worker (this process)"
        self._queue: deque[Task] = deque()

    def submit(self, task: Task) -> None:
        self._queue.append(task)

    def next_done(self) -> dict[str, Any]:
        return evaluate(self._queue.popleft())

    def in_flight(self) -> int:
        return len(self._queue)

    def close(self, kill: bool = False) -> None:
        self._queue.clear()


def _worker_init() -> None:
    # Ctrl-C goes to the whole process group; only the parent handles it (it saves results and
    # stops the workers), so a worker never dies halfway through writing anything.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class LocalExecutor(Executor):
    """A pool of worker processes on this machine (``spawn``: no inherited threads or locks)."""

    def __init__(self, workers: int | None = None) -> None:
        n = workers or os.cpu_count() or 1
        if n < 1:
            raise ConfigError(f"--jobs {workers}: must be >= 1")
        self.workers = n
        self.description = f"{n} local worker process{'es' if n > 1 else ''}"
        self._pool = cf.ProcessPoolExecutor(max_workers=n, mp_context=mp.get_context("spawn"), initializer=_worker_init)
        self._futures: set[cf.Future[dict[str, Any]]] = set()

    def submit(self, task: Task) -> None:
        self._futures.add(self._pool.submit(evaluate, task))

    def next_done(self) -> dict[str, Any]:
        done, _ = cf.wait(self._futures, return_when=cf.FIRST_COMPLETED)
        fut = next(iter(done))
        self._futures.discard(fut)
        return fut.result()

    def in_flight(self) -> int:
        return len(self._futures)

    def close(self, kill: bool = False) -> None:
        if kill:
            # ProcessPoolExecutor has no public way to stop running tasks before Python 3.14
            # (terminate_workers); a stopped search must not wait for a long backtest to end.
            for proc in list(getattr(self._pool, "_processes", {}).values()):
                proc.terminate()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._futures.clear()


class DaskExecutor(Executor):
    """Tasks on a dask.distributed cluster; each worker process keeps its own market cache.

    The data directory must be readable at the same path on every worker (a shared filesystem).
    Start workers with one thread each (``dask worker --nthreads 1 --nworkers N``): a backtest is
    one CPU-bound loop, and threads in one process would only share its market cache.
    """

    def __init__(self, scheduler: str) -> None:
        try:
            from distributed import Client
        except ImportError:  # pragma: no cover - dist extra missing
            raise ConfigError("--engine dask needs dask.distributed: pip install 'amm500[dist]'") from None
        try:
            self._client = Client(scheduler, timeout="10s", set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise ConfigError(f"--scheduler {scheduler}: cannot connect ({exc})") from None
        threads = sum(self._client.nthreads().values())
        if threads < 1:
            self._client.close()
            raise ConfigError(f"--scheduler {scheduler}: the cluster has no workers")
        self.workers = threads
        self.description = f"Dask cluster {scheduler} ({threads} worker thread{'s' if threads > 1 else ''})"
        from distributed import as_completed

        self._futures: set[Any] = set()
        self._done = as_completed(loop=self._client.loop)  # yields each added future as it finishes
        self._run = uuid.uuid4().hex[:8]
        self._serial = itertools.count()

    def submit(self, task: Task) -> None:
        # pure=False: the same task resubmitted after a failure must run again, not hit Dask's cache.
        key = f"amm500-point-{task.key}-{self._run}-{next(self._serial)}"
        fut = self._client.submit(evaluate, task, pure=False, key=key)
        self._futures.add(fut)
        self._done.add(fut)

    def next_done(self) -> dict[str, Any]:
        fut = next(self._done)
        self._futures.discard(fut)
        return fut.result()

    def in_flight(self) -> int:
        return len(self._futures)

    def close(self, kill: bool = False) -> None:
        if self._futures:
            self._client.cancel(list(self._futures))
        self._futures.clear()
        self._client.close()


def make_executor(engine: str, jobs: int | None, scheduler: str | None) -> Executor:
    """``--engine local|dask`` with ``--jobs`` / ``--scheduler`` checked together."""
    if engine == "local":
        if scheduler:
            raise ConfigError("--scheduler is only used with --engine dask")
        if jobs is not None and jobs < 1:
            raise ConfigError(f"--jobs {jobs}: must be >= 1")
        return SerialExecutor() if jobs == 1 else LocalExecutor(jobs)
    if engine == "dask":
        if not scheduler:
            raise ConfigError("--engine dask needs --scheduler tcp://HOST:PORT")
        return DaskExecutor(scheduler)
    raise ConfigError(f"--engine {engine!r}: allowed: local, dask")
