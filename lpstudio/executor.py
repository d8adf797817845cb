"""Executors: how queued jobs get run. Callers only create jobs and hand over their ids.

`LocalExecutor` runs jobs in this process (blocking `run`, or a thread pool for `submit`),
on kernels from the process's kernel pool (`lpstudio.pool`, set by `[kernels]` in
lpstudio.toml). The pool starts filling when the first job ends, or at `warm()`: a
process that lives long (the scheduler, the server, a notebook) keeps it warm, while a
one-shot `lpstudio run` pays a normal kernel start and nothing for the pool.
Jobs that wait for a free worker stay queued under this process's name: it beats them as
it beats running jobs, so that a reaper on any machine tells them from those of a process
that died (or a machine that rebooted) before starting them.
It is the only executor lpstudio ships (a scheduler runs the jobs it claims in its own
workers, through the same `execute_job`); another, such as one for a Dask cluster, would
plug in behind the same methods without touching any caller.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from concurrent.futures import Future, ThreadPoolExecutor

from . import pool as kernel_pool
from .models import Job
from .runner import execute_job
from .store import Store
from .workspace import Workspace

log = logging.getLogger("lpstudio.executor")


class Executor(ABC):
    """Runs jobs that are queued in the store, to a final state."""

    @abstractmethod
    def run(self, job_id: int, progress_bar: bool = False) -> Job:
        """Runs the job now and returns its final row."""

    @abstractmethod
    def submit(self, job_id: int) -> Future[Job]:
        """Starts the job and returns at once; the future gives its final row."""

    @abstractmethod
    def close(self) -> None:
        """Releases workers; running jobs finish first."""

    def warm(self) -> None:  # noqa: B027  (optional: executors without kernels to prepare)
        """Prepares for jobs ahead of the first one (long-lived processes call it)."""


class LocalExecutor(Executor):
    """Runs jobs in this process: the default for the CLI and the Python API."""

    def __init__(self, workspace: Workspace, store: Store, workers: int = 2) -> None:
        self.workspace = workspace
        self.store = store
        self.workers = workers
        self._pool: ThreadPoolExecutor | None = None
        # Shared with every executor of this process that has the same settings; nothing
        # starts until the first job ends or `warm()`.
        self.kernels = kernel_pool.acquire(workspace.pool_settings())
        self._beat_every = float(workspace.setting("jobs", "heartbeat_seconds", 2))
        self._submitted: list[Future[Job]] = []
        self._beating: threading.Thread | None = None
        self._closed = threading.Event()
        self._lock = threading.Lock()

    def warm(self) -> None:
        """Starts filling the kernel pool now rather than at the first job."""
        if self.kernels is not None:
            self.kernels.warm()

    def run(self, job_id: int, progress_bar: bool = False) -> Job:
        return execute_job(
            self.workspace, self.store, job_id, progress_bar=progress_bar, pool=self.kernels
        )

    def submit(self, job_id: int) -> Future[Job]:
        with self._lock:  # a server submits from several threads
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="lpstudio-job")
            if self._beating is None:
                self._closed.clear()
                self._beating = threading.Thread(
                    target=self._beat_waiting, name="lpstudio-queued-beat", daemon=True
                )
                self._beating.start()
            future = self._pool.submit(
                execute_job, self.workspace, self.store, job_id, pool=self.kernels
            )
            self._submitted.append(future)
        return future

    def _beat_waiting(self) -> None:
        """Every heartbeat period while more jobs are unfinished than there are workers:
        marks alive the ones still queued (one write for all of them)."""
        while not self._closed.wait(self._beat_every):
            with self._lock:
                self._submitted = [f for f in self._submitted if not f.done()]
                waiting = len(self._submitted) > self.workers
            if not waiting:
                continue  # every unfinished job has a worker: its watchdog beats it
            try:
                self.store.beat_queued()
            except Exception:  # a busy store must not end the beats
                log.exception("heartbeat of queued jobs failed")

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        self._closed.set()
        beating, self._beating = self._beating, None
        if beating is not None:
            beating.join()
        kernels, self.kernels = self.kernels, None
        if kernels is not None:
            kernel_pool.release(kernels)
