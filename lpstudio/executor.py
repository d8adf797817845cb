"""Executors: how queued jobs get run. Callers only create jobs and hand over their ids.

`LocalExecutor` runs jobs in this process (blocking `run`, or a thread pool for `submit`),
on kernels from the process's kernel pool (`lpstudio.pool`, set by `[kernels]` in
lpstudio.toml). The pool starts filling when the first job ends, or at `warm()`: a
process that lives long (the scheduler, the server, a notebook) keeps it warm, while a
one-shot `lpstudio run` pays a normal kernel start and nothing for the pool.
It is the only executor lpstudio ships (a scheduler runs the jobs it claims in its own
workers, through the same `execute_job`); another, such as one for a Dask cluster, would
plug in behind the same methods without touching any caller.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from concurrent.futures import Future, ThreadPoolExecutor

from . import pool as kernel_pool
from .models import Job
from .runner import execute_job
from .store import Store
from .workspace import Workspace


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

    def warm(self) -> None:
        """Starts filling the kernel pool now rather than at the first job."""
        if self.kernels is not None:
            self.kernels.warm()

    def run(self, job_id: int, progress_bar: bool = False) -> Job:
        return execute_job(
            self.workspace, self.store, job_id, progress_bar=progress_bar, pool=self.kernels
        )

    def submit(self, job_id: int) -> Future[Job]:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="lpstudio-job")
        return self._pool.submit(execute_job, self.workspace, self.store, job_id, pool=self.kernels)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        kernels, self.kernels = self.kernels, None
        if kernels is not None:
            kernel_pool.release(kernels)
