"""Executors: how queued jobs get run. Callers only create jobs and hand over their ids.

`LocalExecutor` runs jobs in this process (blocking `run`, or a thread pool for `submit`).
The worker-pool executor of the scheduler and the Dask executor plug in behind the same
two methods without touching any caller.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from concurrent.futures import Future, ThreadPoolExecutor

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


class LocalExecutor(Executor):
    """Runs jobs in this process: the default for the CLI and the Python API."""

    def __init__(self, workspace: Workspace, store: Store, workers: int = 2) -> None:
        self.workspace = workspace
        self.store = store
        self.workers = workers
        self._pool: ThreadPoolExecutor | None = None

    def run(self, job_id: int, progress_bar: bool = False) -> Job:
        return execute_job(self.workspace, self.store, job_id, progress_bar=progress_bar)

    def submit(self, job_id: int) -> Future[Job]:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="lpstudio-job")
        return self._pool.submit(execute_job, self.workspace, self.store, job_id)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
