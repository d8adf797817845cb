"""Executors: how queued jobs get run. Callers only create jobs and hand over their ids.

`LocalExecutor` runs jobs in this process (blocking `run`, or a thread pool for `submit`),
on kernels from the process's kernel pool (`lpstudio.pool`, set by `[kernels]` in
lpstudio.toml). The pool starts filling when the first job ends, or at `warm()`: a
process that lives long (the scheduler, the server, a notebook) keeps it warm, while a
one-shot `lpstudio run` pays a normal kernel start and nothing for the pool.

`DaskExecutor` (`[executor] dask_scheduler` in lpstudio.toml) sends each job to a worker
of a Dask distributed cluster, which opens the same workspace folder (shared by every
machine) and runs it through the same `execute_job`, on kernels from a pool of its own
process. The worker starts the job with the conditional write of `Store.start_job`: a task
Dask runs again (its first worker died) finds the job taken and runs nothing; the reaper
then fails the job as "worker lost".

Jobs that wait for a free worker (here, or in Dask's queue) stay queued under this
process's name: it beats them as it beats running jobs (`QueuedBeat`; `LocalExecutor`'s
looker), so that a reaper on any machine tells them from those of a process that died (or
a machine that rebooted) before starting them.

`LocalExecutor` starts a job only in its recipe's turn: its `concurrency`, counting the
recipe's jobs that run anywhere and older ones processes queued for themselves
(`Store.start_job`). A job whose turn has not come stays queued, holding no worker: `submit`
parks it, and one thread (the looker) tries it again when a job of this process ends and
each heartbeat period (other processes' jobs end unseen), meanwhile beating the waiting
jobs and reaping those whose worker is gone (one may hold the turn); `run` waits so in its
caller's thread. Ctrl-C or SIGTERM (`process_jobs`) cancels a waiting job, and so does its
recipe's stop a bot's call not yet started (waiting for its turn, at the looker's next look,
or for a worker, as one takes it): a stopped recipe serves no call (its admin may have
stopped it for what it sends), and the caller is answered now, not at some later start. A
server that
stops (`release_queued`) puts its calls' jobs that have not started back in the queue, for a
scheduler on the store (its own, restarted, or another's) to run: the bot was told they were
queued, and cannot tell them to run again. A job sent to Dask starts at once: there a
recipe's concurrency binds only the scheduler's jobs.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import socket
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Collection
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from . import pool as kernel_pool
from .errors import LpstudioError, NotFoundError, WorkspaceError
from .failures import describe_error
from .models import Job
from .runner import (
    NotItsTurn,
    RecipeStopped,
    Stop,
    execute_job,
    job_ends,
    job_named,
    process_jobs,
    recipe_stopped,
)
from .store import (
    CANCELLED,
    FAILED,
    FINAL_STATES,
    QUEUED,
    RUNNING,
    SCHEDULED_TRIGGERS,
    SCHEMA_HEAD,
    Store,
    reaped,
    shown_url,
    worker_id,
    worker_is_gone,
)
from .workspace import CONFIG_NAME, Workspace

log = logging.getLogger("lpstudio.executor")
#: Says once that a job waits for its recipe's turn (`lpstudio run` shows it on stderr).
turn_log = logging.getLogger("lpstudio.executor.turns")


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

    def ran(self, job: Job) -> bool:
        """Whether this process's run ended the job it gave back, rather than another worker
        it went to (put back in the queue while silent): only the one that ran it follows
        it up (`failures.after_end`), once."""
        return True

    def warm(self) -> None:  # noqa: B027  (optional: executors without kernels to prepare)
        """Prepares for jobs ahead of the first one (long-lived processes call it)."""

    def release_queued(self) -> set[int]:
        """For a server that stops: puts the jobs it queued for calls and has not started
        back in the queue, for a scheduler to run; `close` then ends the rest. Returns
        their ids, for the server's log. None by default: Dask runs what it was sent."""
        return set()


class QueuedBeat:
    """A thread that, every heartbeat period, calls `tend` and, when it says some jobs this
    process queued wait for a worker, marks them alive (`Store.beat_queued`, one write for
    all of them). Jobs that have a worker are beaten by its watchdog."""

    def __init__(self, store: Store, every: float, tend: Callable[[], bool]) -> None:
        self.store = store
        self.every = every
        self.tend = tend
        self._thread: threading.Thread | None = None
        self._closed = threading.Event()
        self._lock = threading.Lock()

    def start(self) -> None:
        """Starts the beats, unless they run already."""
        with self._lock:
            if self._thread is None:
                self._closed.clear()
                self._thread = threading.Thread(
                    target=self._beat, name="lpstudio-queued-beat", daemon=True
                )
                self._thread.start()

    def _beat(self) -> None:
        while not self._closed.wait(self.every):
            try:
                if self.tend():
                    self.store.beat_queued()
            except Exception as exc:  # a busy store must not end the beats
                self.store.outage.failed(log, exc, "heartbeat of queued jobs failed")

    def close(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
            self._closed.set()
        if thread is not None:
            thread.join()


#: Why a job waiting for its recipe's turn ends when its executor closes.
CLOSING = Stop("cancelled", "cancelled as its process stopped")
#: Why a bot's call that has not started ends when its recipe is stopped (`RecipeStopped`).
RECIPE_STOPPED = Stop("cancelled", "cancelled as its recipe was stopped")
#: Why a job its server queued and never started goes back to the queue (`release_queued`).
RELEASED = Stop("requeue", "put back in the queue as its server stopped")
#: The jobs a stopping server leaves to the schedulers: a bot's calls, whose caller cannot
#: tell them to run again, and the jobs of triggers (a Poll now's), which were theirs anyway.
#: A person's run (Run now, a rerun, a test) is cancelled: its person sees it and may run it.
LEFT_TO_SCHEDULERS = ("callable", *SCHEDULED_TRIGGERS)


@dataclass(eq=False)
class _Waiting:
    """A job of this process that waits for its recipe's turn: one of the process's jobs,
    which Ctrl-C and SIGTERM cancel (`halt` only marks it, as a signal handler may call
    it: its waiter writes the end)."""

    job_id: int
    #: Its future, for a job `submit` parked; None for the one `run` waits for.
    future: Future[Job] | None = None
    #: From its `NotItsTurn`: the recipe, how many of its jobs may run at once, and the
    #: job's trigger (a call ends when its recipe is stopped).
    recipe: str = ""
    concurrency: int = 1
    trigger: str = ""
    stop: Stop | None = None

    @property
    def waited(self) -> str:
        """What it waited for, as its cancel says it (`_cancel_waiting`)."""
        return "its recipe's turn" if self.recipe else "a free worker"

    def halt(self, stop: Stop) -> None:
        if stop.reason in ("cancelled", "requeue") and self.stop is None:
            self.stop = stop
            job_ends.notify()  # wakes its waiter


class LocalExecutor(Executor):
    """Runs jobs in this process: the default for the CLI and the Python API.

    `reap` fails jobs whose worker is gone (`Studio`'s reaper, with retries and
    notifications): while a job waits for its recipe's turn, the one that holds the turn
    may be such a job. Without it, other processes' reapers end those."""

    def __init__(
        self,
        workspace: Workspace,
        store: Store,
        workers: int = 2,
        reap: Callable[[], object] | None = None,
        credentials: Collection[str] = (),
    ) -> None:
        self.workspace = workspace
        self.store = store
        self.workers = workers
        self.reap = reap
        self.credentials = credentials  # masked in its jobs' output (`execute_job`)
        self.every = workspace.setting("jobs", "heartbeat_seconds")
        self._pool: ThreadPoolExecutor | None = None
        # Shared with every executor of this process that has the same settings; nothing
        # starts until the first job ends or `warm()`.
        self.kernels = kernel_pool.acquire(workspace.pool_settings())
        self._submitted: list[_Waiting] = []
        self._parked: list[_Waiting] = []
        self._looker: threading.Thread | None = None
        self._closing = False
        self._released = False  # its server stops: the calls not started go back (`release_queued`)
        self._lock = threading.Lock()

    def ran(self, job: Job) -> bool:
        return job.worker == worker_id()

    def warm(self) -> None:
        """Starts filling the kernel pool now rather than at the first job."""
        if self.kernels is not None:
            self.kernels.warm()

    def run(self, job_id: int, progress_bar: bool = False) -> Job:
        """Runs the job in this thread, once its recipe's turn has come; Ctrl-C while it
        waits cancels it."""
        waiting: _Waiting | None = None
        seen, tended = job_ends.count(), time.monotonic()
        try:
            while True:
                try:
                    return execute_job(
                        self.workspace,
                        self.store,
                        job_id,
                        progress_bar=progress_bar,
                        pool=self.kernels,
                        in_turn=True,
                        credentials=self.credentials,
                    )
                except NotItsTurn as turn:
                    if waiting is None:
                        waiting = _Waiting(job_id)
                        process_jobs.add(waiting)  # halted at once if the process was
                        self._say_waits(turn)
                except RecipeStopped:
                    return self._cancel_waiting(job_id, RECIPE_STOPPED)
                while waiting.stop is None:
                    left = tended + self.every - time.monotonic()
                    if left <= 0:
                        self._tend(reap=True)
                        tended = time.monotonic()
                        break
                    after = job_ends.wait(seen, left)
                    if after != seen:
                        seen = after
                        break
                if waiting.stop is not None:
                    return self._cancel_waiting(job_id, waiting.stop)
        except KeyboardInterrupt:  # not the CLI (whose handler halts `waiting`): Python's
            self._cancel_waiting(job_id, Stop("cancelled", "cancelled by SIGINT"))
            raise
        finally:
            if waiting is not None:
                process_jobs.discard(waiting)

    def submit(self, job_id: int) -> Future[Job]:
        future: Future[Job] = Future()
        future.set_running_or_notify_cancel()
        with self._lock:  # a server submits from several threads
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="lpstudio-job")
            if self._looker is None:
                self._closing = self._released = False
                self._looker = threading.Thread(
                    target=self._look, name="lpstudio-looker", daemon=True
                )
                self._looker.start()
            waiting = _Waiting(job_id, future)
            self._submitted.append(waiting)
            self._pool.submit(self._attempt, waiting)
        return future

    def _attempt(self, waiting: _Waiting) -> None:
        """Runs a submitted job in a worker, or parks it, the worker freed, if its turn has
        not come. Its server stopping, it starts none (`release_queued`): a Run now that
        waited for this worker started in the middle of the stop."""
        assert waiting.future is not None
        if self._released:
            waiting.halt(RELEASED)  # back in the queue if a scheduler may run it, else cancelled
        try:
            if waiting.stop is not None:
                job = self._end_waiting(waiting.job_id, waiting.stop, waiting.waited)
            else:
                job = execute_job(
                    self.workspace,
                    self.store,
                    waiting.job_id,
                    pool=self.kernels,
                    in_turn=True,
                    credentials=self.credentials,
                    started=_say_started,
                )
                _say_ended(job)
        except RecipeStopped:
            self._resolve(waiting, self._cancel_waiting(waiting.job_id, RECIPE_STOPPED))
            return
        except NotItsTurn as turn:
            first = not waiting.recipe
            waiting.recipe, waiting.concurrency = turn.job.recipe, turn.concurrency
            waiting.trigger = turn.job.trigger
            with self._lock:
                closing = self._closing
                if not closing:
                    self._parked.append(waiting)
            if closing:  # its process stops: it would wait for a turn nobody here gives
                self._resolve(waiting, self._end_waiting(waiting.job_id, self._stopped_by()))
                return
            if first:  # then a stop finds it parked, and its looker ends it
                process_jobs.add(waiting)
                self._say_waits(turn)
            return
        except BaseException as exc:  # the future carries it, as a pool's would
            self._resolve(waiting, exc)
            return
        self._resolve(waiting, job)

    def _resolve(self, waiting: _Waiting, outcome: Job | BaseException) -> None:
        assert waiting.future is not None
        process_jobs.discard(waiting)
        if isinstance(outcome, BaseException):
            waiting.future.set_exception(outcome)
        else:
            waiting.future.set_result(outcome)

    def _look(self) -> None:
        """The looker: starts parked jobs again, oldest first, when a job of this process
        ended (their turn may have come), and each heartbeat period; then also beats the
        jobs that wait, reaps, and sees which parked jobs ended meanwhile (`lpstudio
        cancel`). It ends with the executor."""
        seen, tended = job_ends.count(), time.monotonic()
        while True:
            seen = job_ends.wait(seen, max(0.0, tended + self.every - time.monotonic()))
            with self._lock:  # closed: once its submitted jobs ended (`close`)
                if self._closing and self._looker is None and not self._parked:
                    return
                self._submitted = [w for w in self._submitted if not w.future.done()]
                parked = sorted(self._parked, key=lambda each: each.job_id)
                waiting = len(self._submitted) - len(parked) > self.workers
            periodic = time.monotonic() >= tended + self.every
            if periodic:
                tended = time.monotonic()
                if waiting or parked:
                    self._tend(reap=bool(parked))
            try:
                self._retry(parked, all_of_them=periodic)
            except Exception:  # a busy store must not end the looker
                log.exception("could not start again the jobs waiting for their turn")

    def _retry(self, parked: list[_Waiting], all_of_them: bool) -> None:
        """Hands parked jobs back to the workers, oldest first and as many of a recipe as
        may run at once; ends those stopped, and the calls of a recipe stopped since they
        parked (at its stop, not when their turn comes); with `all_of_them`, resolves those
        that ended while parked (`lpstudio cancel`)."""
        tried: Counter[str] = Counter()
        stopped = self._stopped_recipes(parked)
        for waiting in parked:
            if waiting.stop is not None:
                self._unpark(waiting, self._end_waiting(waiting.job_id, waiting.stop))
            elif waiting.trigger == "callable" and waiting.recipe in stopped:
                self._unpark(waiting, self._cancel_waiting(waiting.job_id, RECIPE_STOPPED))
            elif tried[waiting.recipe] < waiting.concurrency:
                tried[waiting.recipe] += 1
                self._unpark(waiting, None)
            elif all_of_them and (job := self.store.job(waiting.job_id)).status != QUEUED:
                self._unpark(waiting, job)

    def _stopped_recipes(self, parked: list[_Waiting]) -> set[str]:
        """Of the recipes whose calls are parked, those stopped (one read each)."""
        recipes = {each.recipe for each in parked if each.trigger == "callable"}
        return {recipe for recipe in recipes if recipe_stopped(self.store, recipe)}

    def _unpark(self, waiting: _Waiting, ended: Job | None) -> None:
        """Resolves a parked job's future with its row once it `ended`, else hands the job
        back to the workers."""
        with self._lock:
            self._parked.remove(waiting)
            if ended is None:
                try:
                    assert self._pool is not None
                    self._pool.submit(self._attempt, waiting)
                except (AssertionError, RuntimeError):  # the workers are gone: never lost
                    ended = self._end_waiting(waiting.job_id, self._stopped_by())
        if ended is not None:
            self._resolve(waiting, ended)

    def _tend(self, reap: bool) -> None:
        """Each heartbeat period while jobs wait: marks the jobs this process queued alive
        (`Store.beat_queued`), and, when some wait for their turn, has the reaper end the
        jobs whose worker is gone, frozen or dead (one may hold the turn)."""
        try:
            self.store.beat_queued()
            if reap and self.reap is not None:
                self.reap()
        except Exception as exc:  # a busy store must not end the wait
            self.store.outage.failed(log, exc, "heartbeat of waiting jobs failed")

    def _stopped_by(self) -> Stop:
        """How a job that would wait now ends, its executor stopping."""
        return RELEASED if self._released else CLOSING

    def _end_waiting(self, job_id: int, stop: Stop, waited: str = "its recipe's turn") -> Job:
        """Ends the wait of a job stopped before it started: back in the queue when its
        server stops and a scheduler may run it (`release_queued`), else cancelled."""
        if stop.reason == "requeue":
            if self._requeue([job_id]):
                return self.store.job(job_id)
            stop = CLOSING  # a person's run: cancelled, as when its process stops
        return self._cancel_waiting(job_id, stop, waited)

    def _requeue(self, job_ids: list[int]) -> set[int]:
        """Leaves to the schedulers those of the jobs, still queued here, that they may run
        (`LEFT_TO_SCHEDULERS`): queued, of no process. One write; the ids it left."""
        return self.store.release_queued(job_ids, Job.trigger.in_(LEFT_TO_SCHEDULERS))

    def release_queued(self) -> set[int]:
        """For a server that stops: nothing starts from now on, and the calls' jobs that
        have not started (waiting for their recipe's turn, or for a worker) go back to the
        queue at once, for a scheduler on the store to run (this server's, once restarted,
        or another's), as a scheduler daemon requeues its jobs on SIGTERM: accepted calls
        are never lost. A person's runs are left to `close`; running jobs go on."""
        with self._lock:
            self._closing = self._released = True
            waiting = [each for each in self._submitted if not each.future.done()]
        released = self._requeue([each.job_id for each in waiting])
        for each in waiting:
            if each.job_id in released:
                each.halt(RELEASED)  # its looker, or its worker, resolves it
        return released

    def _cancel_waiting(self, job_id: int, stop: Stop, waited: str = "its recipe's turn") -> Job:
        """Ends a job stopped while it waited for its turn (or what it `waited` for),
        cancelled with why (if it is still queued: it may have ended or started meanwhile)."""
        self.store.finish_job(
            job_id,
            CANCELLED,
            Job.status == QUEUED,
            error={
                "ename": "Cancelled",
                "evalue": f"{stop.detail}, while it waited for {waited}",
                "cell": None,
                "traceback": [],
            },
        )
        return self.store.job(job_id)

    def _say_waits(self, turn: NotItsTurn) -> None:
        """Says once why a job waits: how many jobs of its recipe run, and queued before it."""
        job = turn.job
        running, before = self.store.turn_of(job.id)  # counted, not every job of it read
        queued = f", {before} queued before it" if before else ""
        turn_log.info(
            "job %s waits for the turn of recipe %s (%d running%s, concurrency %d)",
            job.id,
            job.recipe,
            running,
            queued,
            turn.concurrency,
        )

    def close(self) -> None:
        """Waits for the submitted jobs to end, then releases the workers. A job waiting
        for its recipe's turn is cancelled: the turn may be held elsewhere for hours, and
        a server told to stop would wait for it, then start the job after its stop."""
        with self._lock:
            self._closing = True  # nothing parks from now on
            submitted, parked = list(self._submitted), list(self._parked)
        for waiting in parked:
            waiting.halt(CLOSING)  # its looker ends it
        for waiting in submitted:  # each resolves with its final row (or queued, released)
            waiting.future.exception()
        with self._lock:
            looker, self._looker = self._looker, None
        job_ends.notify()
        if looker is not None:
            looker.join()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        kernels, self.kernels = self.kernels, None
        if kernels is not None:
            kernel_pool.release(kernels)


def _say_started(job: Job) -> None:
    """The start line of a job a server (or a notebook) runs, as the scheduler daemon's:
    an admin reading the server's log sees which job ran when."""
    log.info("%s", job_named(job, " started"))


def _say_ended(job: Job) -> None:
    """The end line of a job `_say_started` said: its state, its seconds, and what went
    wrong as the daemon says it (`describe_error`: the stored error is scrubbed of
    secrets). None for a job that never started, that went to another worker, or that a
    reaper ended (its end is theirs to say, as the daemon leaves it: `reaped`)."""
    if job.started_at is None or job.finished_at is None:
        return
    if job.worker != worker_id() or reaped(job):
        return
    seconds = (job.finished_at - job.started_at).total_seconds()
    why = f": {describe_error(job.error, job.cells_total)}" if job.error else ""
    log.info("%s in %.1f s%s", job_named(job, f" {job.status}"), seconds, why)


# -- Dask ----------------------------------------------------------------------------------

#: What each Dask worker process opened, per workspace folder: its settings, its store and
#: its kernel pool, kept for the process's life (the first job pays for them).
_opened: dict[str, tuple[Workspace, Store, kernel_pool.KernelPool | None]] = {}
_opened_lock = threading.Lock()


def _open_on_worker(root: str) -> tuple[Workspace, Store, kernel_pool.KernelPool | None]:
    """What this worker opened for the workspace folder `root`: opened at its first job,
    from the lpstudio.toml this machine reads there. A store it cannot open is said with the
    CLI's reason and fix, as this worker's (a job failed with the driver's bare error). Its
    schema revision is read once a call (`_same_schema`): as it is opened, else again."""
    with _opened_lock:
        opened = _opened.get(root)
        if opened is None:
            try:  # a bad lpstudio.toml on this machine: said as this worker's, not the server's
                workspace = Workspace.load(root)
                store = Store(workspace.store_url, root=workspace.root)
            except LpstudioError as exc:
                raise _on_this_worker(exc, root) from None
            try:
                _same_schema(store, root)
            except BaseException:
                store.close()
                raise
            _opened[root] = (workspace, store, kernel_pool.acquire(workspace.pool_settings()))
            return _opened[root]
    _same_schema(opened[1], root)
    return opened


def _same_schema(store: Store, root: str) -> None:
    """Refuses a store this worker cannot open, or one at another schema revision than its
    lpstudio's: a worker left on an older lpstudio (or given a newer one) would run jobs
    on a schema its code does not know. Looked at before each job (`_open_on_worker`), as
    an upgrade made while the worker runs (README: Upgrading) changes it."""
    try:
        revision = store.schema_revision()
        if revision is None:
            raise store.absent()
    except OperationalError as exc:
        raise _on_this_worker(store.unopened(exc), root) from None
    except WorkspaceError as exc:
        raise _on_this_worker(exc, root) from None
    if revision != SCHEMA_HEAD:
        raise WorkspaceError(
            f"the Dask worker {_worker_name()} runs an lpstudio that knows the store's schema "
            f"up to revision {SCHEMA_HEAD}, and the store {shown_url(store.engine.url)} is at "
            f"revision {revision}: the server and every worker must run the same lpstudio",
            field="store",
            fix="install on the Dask worker's machine the lpstudio the server runs (README: "
            "Upgrading), then restart the Dask workers",
        )


def _worker_name() -> str:
    """This Dask worker as its operator knows it: its name, and its address."""
    from distributed import get_worker

    try:
        worker = get_worker()
    except ValueError:  # not in a worker's task (a test calls it directly)
        return f"on {socket.gethostname()}"
    name, address = str(worker.name), str(worker.address)
    return address if name == address else f"{name} ({address})"


def _on_this_worker(error: LpstudioError, root: str) -> LpstudioError:
    """`error`, met by this worker about the store its own lpstudio.toml names, said as this
    worker's: the server's store may be fine, and the fix is made on the worker's machine."""
    return type(error)(
        f"the Dask worker {_worker_name()}: {error.message}",
        field=error.field,
        fix=f"on the Dask worker's machine, in {root}/{CONFIG_NAME}: {error.fix}; then restart "
        "the Dask workers",
    )


@functools.cache
def lpstudio_build() -> str:
    """This process's lpstudio, as a Dask worker compares it with its sender's: its version
    and a digest of its modules, as every build of a checkout is version 0.1.0 (README:
    Upgrading). The connectors a wheel bundles are left out: a wheel and a checkout of the
    same lpstudio agree."""
    package = Path(__file__).parent
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package)
        if relative.parts[0] != "bundled_connectors":
            digest.update(f"{relative.as_posix()}\0".encode() + path.read_bytes())
    return f"{version('lpstudio')} (build {digest.hexdigest()[:12]})"


def _same_lpstudio(sent: str) -> None:
    """Refuses a job sent by another lpstudio than this worker's, before it reads
    lpstudio.toml: a worker left on an older one blamed the shared file for a setting its
    lpstudio did not know ("unknown setting"), and one of the same schema ran the job by
    other code than its sender's."""
    mine = lpstudio_build()
    if mine != sent:
        raise WorkspaceError(
            f"the Dask worker {_worker_name()} runs lpstudio {mine}, and the process that "
            f"sent the job runs lpstudio {sent}: the server and every worker must run the "
            "same lpstudio. The worker ran nothing",
            field="lpstudio",
            fix=f"install lpstudio {sent} on the Dask worker's machine, as the server's (README: "
            "Upgrading), then restart the Dask workers",
        )


def _same_store(store: Store, root: str, sent: str) -> None:
    """Refuses a store other than the sender's, before any job in it is touched: job ids
    start at 1 in every store, and a worker whose lpstudio.toml named another store that
    held the id ran that store's job. Its identity is read once per worker (`Store.identity`):
    a store upgraded since is told by its schema revision, read before each job."""
    try:
        mine = store.identity
    except OperationalError as exc:
        raise _on_this_worker(store.unopened(exc), root) from None
    if mine != sent:
        raise _other_store(
            store,
            root,
            f"it ran no job of the store {shown_url(store.engine.url)}, which is not the store "
            "the job was sent from",
        )


def _holds(store: Store, job_id: int) -> bool:
    """Whether the store holds the job."""
    try:
        store.job(job_id)
    except NotFoundError:
        return False
    return True


def _other_store(store: Store, root: str, why: str) -> WorkspaceError:
    """Why this worker refuses a job of another store than its sender's (its lpstudio.toml
    names another `[store] url`): another store's identity, or, in a copy of the sender's
    file (which keeps its identity), no such job."""
    return _on_this_worker(
        WorkspaceError(
            f"{why}: this worker reads another store than the server's",
            field="store.url",
            fix="make [store] url there the same store as the server's lpstudio.toml names",
        ),
        root,
    )


def warm_worker(root: str) -> None:
    """Opens the workspace in a Dask worker and starts filling its kernel pool."""
    kernels = _open_on_worker(root)[2]
    if kernels is not None:
        kernels.warm()


def sender(store: Store) -> dict[str, str]:
    """What a job's Dask task carries of the process that sends it, for its worker to
    check (`run_on_worker`): its lpstudio (`lpstudio_build`) and its store's identity. A dict, so
    that a worker of another version, whose task may carry other keys, still reads the
    version and says it differs."""
    return {"lpstudio": lpstudio_build(), "store": store.identity}


def run_on_worker(root: str, job_id: int, claimed_by: str | None, sent_by: dict[str, str]) -> str:
    """The Dask task of one job: runs it on this worker, if it is still to run, and returns
    its state. A job a scheduler claimed (`claimed_by`, its process) is taken over first,
    by a conditional write: a task that comes late (the scheduler requeued the job meanwhile)
    or twice (Dask ran it again after its worker died) runs nothing. A worker of another
    lpstudio, or of another store, than its sender's (`sent_by`: `sender`) refuses the task
    before it touches any job."""
    _same_lpstudio(sent_by["lpstudio"])
    workspace, store, kernels = _open_on_worker(root)  # its schema looked at
    _same_store(store, root, sent_by["store"])
    try:
        if claimed_by is not None and not store.hand_over(job_id, claimed_by):
            return store.job(job_id).status  # requeued or taken meanwhile: not this task's
        return execute_job(workspace, store, job_id, pool=kernels).status
    except NotFoundError as exc:
        if exc.field == "job" and not _holds(store, job_id):
            why = f"job {job_id} does not exist in the store {shown_url(store.engine.url)}"
            raise _other_store(store, root, why) from None
        raise


@dataclass(eq=False)
class _Sent:
    """A job sent to the cluster, until its final row is known."""

    job_id: int
    future: Future[Job]
    #: Sent by `run_claimed`: a scheduler of this process claimed it.
    scheduled: bool
    #: Still this process's claim: no worker has taken it over yet.
    claimed: bool = False
    #: Set when Dask's task ends: the reason a job it never started fails with.
    ended: str | None = None
    #: What to do about `ended`, when it is this machine's to mend.
    fix: str | None = None
    #: Dask's future of its task, once sent.
    task: Any = None
    #: Stops it with this process's jobs until it is resolved.
    member: _CancelOnHalt | None = None


@dataclass(eq=False)
class _CancelOnHalt:
    """A job on the cluster as one of this process's jobs: Ctrl-C or SIGTERM (which cancel
    this process's jobs) ask its worker to stop it, through the store; one still waiting in
    Dask's queue ends at once."""

    executor: DaskExecutor
    sent: _Sent

    def halt(self, stop: Stop) -> None:
        if stop.reason == "cancelled":
            self.executor.cancel(self.sent)


def _refused_at_once(address: str) -> None:
    """Raises `ConnectionRefusedError` when nothing listens at a scheduler's TCP address:
    Dask tries a refused connection again for its whole connect timeout (30 s), as it waits
    for a host that does not answer, and every job waited that long to fail. A host that
    does not answer at once is left to Dask, which waits for it."""
    from distributed.comm import parse_address
    from distributed.comm.addressing import parse_host_port

    scheme, location = parse_address(address)
    if scheme not in ("tcp", "tls", "ws", "wss"):  # over TCP: ucx is not
        return
    host, port = parse_host_port(location)
    try:
        socket.create_connection((host, port), timeout=1).close()
    except ConnectionRefusedError:
        raise ConnectionRefusedError(
            f"connection refused: no Dask scheduler listens at {host}:{port}"
        ) from None
    except OSError:  # slow, or no route: Dask's own wait says
        return


class DaskExecutor(Executor):
    """Runs jobs on a Dask distributed cluster whose workers share the workspace folder.

    The client connects at the first job (or `warm`), so that commands that run no job
    never wait on the cluster. `reap` fails jobs whose worker is gone (`Studio`'s reaper,
    with retries and notifications): a job whose worker died ends through it. The job runs
    on a worker, so `run` shows no progress bar; `lpstudio cancel` stops it there.
    """

    def __init__(
        self,
        workspace: Workspace,
        store: Store,
        address: str,
        reap: Callable[[], object],
    ) -> None:
        self.workspace = workspace
        self.store = store
        self.address = address
        self.reap = reap
        self._client: Any = None
        self._sent: list[_Sent] = []
        self._lock = threading.Lock()
        self._connecting = threading.Lock()
        self._beat = QueuedBeat(store, workspace.setting("jobs", "heartbeat_seconds"), self._tend)

    def _connect(self) -> Any:
        with self._connecting:  # not `_lock`: the beats go on while a connection is tried
            if self._client is None:
                from distributed import Client

                # Built in two steps so that one that fails part way (a tls:// address with
                # no TLS configured) is closed now: left to its `__del__`, it held the
                # process's exit for 60 s and printed a traceback.
                _refused_at_once(self.address)
                client = Client.__new__(Client)
                try:
                    client.__init__(self.address, set_as_default=False)  # type: ignore[misc]
                except BaseException:
                    with contextlib.suppress(Exception):
                        client.close(timeout=1)
                    raise
                self._client = client
            return self._client

    def _unreachable(self, exc: Exception) -> tuple[str, str]:
        """Why the scheduler cannot be reached, and the fix: a job fails with them, and a
        daemon's `warm` says them in one line (a traceback named no setting)."""
        return (
            f"cannot reach the Dask scheduler at {self.address}: {exc}",
            f"start `dask scheduler` at {self.address} (and its workers, which share the "
            f"workspace's folder), correct [executor] dask_scheduler in "
            f"{self.workspace.root / CONFIG_NAME}, or remove it to run jobs on this machine",
        )

    def warm(self) -> None:
        """Connects, and starts filling the kernel pool of every worker of the cluster."""
        try:
            client = self._connect()
        except Exception as exc:  # each job then fails at once with the same reason and fix
            log.warning("could not warm the Dask workers: %s; fix: %s", *self._unreachable(exc))
            return
        try:
            client.run(warm_worker, str(self.workspace.root))
        except Exception as exc:  # jobs then start their kernels, or fail with the reason
            log.warning(
                "could not warm the Dask workers at %s: %s: %s",
                self.address,
                type(exc).__name__,
                exc,
            )

    def run(self, job_id: int, progress_bar: bool = False) -> Job:
        return self.submit(job_id).result()

    def submit(self, job_id: int) -> Future[Job]:
        return self._send(job_id, scheduled=False)

    def run_claimed(self, job_id: int) -> Job:
        """Runs a job this process claimed (a scheduler's) on the cluster; returns its row
        once final, or as it is when `release_claimed` let it go."""
        return self._send(job_id, scheduled=True).result()

    def _send(self, job_id: int, scheduled: bool) -> Future[Job]:
        # Its store's identity, read at the first job: before the job is this executor's, so
        # that a store that fails the read raises, as the job's creation would have.
        sent_by = sender(self.store)
        future: Future[Job] = Future()
        future.set_running_or_notify_cancel()
        sent = _Sent(job_id, future, scheduled, claimed=scheduled)
        with self._lock:
            self._sent.append(sent)
        if not scheduled:  # a scheduler's jobs on the cluster end there when it stops
            sent.member = _CancelOnHalt(self, sent)
            process_jobs.add(sent.member)
        try:
            task = self._connect().submit(
                run_on_worker,
                str(self.workspace.root),
                job_id,
                worker_id() if scheduled else None,
                sent_by,
                key=f"lpstudio-job-{job_id}-{uuid.uuid4().hex}",
                pure=False,
            )
        except Exception as exc:  # never left queued (or claimed) with nobody to run it
            sent.ended, sent.fix = self._unreachable(exc)
            self._settle(sent)
            return future
        sent.task = task
        self._beat.start()
        task.add_done_callback(lambda done: self._task_ended(sent, done))
        return future

    def cancel(self, sent: _Sent) -> None:
        """Cancels a job sent to the cluster: its worker stops it (`Store.request_cancel`);
        one still queued is cancelled now, and its task with it."""
        job, _ = self.store.request_cancel(sent.job_id)
        if job.status in FINAL_STATES:
            if sent.task is not None:
                sent.task.cancel()
            self._resolve(sent, job)

    def _task_ended(self, sent: _Sent, task: Any) -> None:
        if task.cancelled():
            reason = "its task was cancelled"
        elif isinstance(exc := task.exception(), LpstudioError):  # the worker's, with its fix
            reason, sent.fix = exc.message, exc.fix
        elif exc is not None:
            reason = f"{type(exc).__name__}: {exc}"
        else:
            reason = "its task ended without starting it"
        sent.ended = f"the Dask cluster did not run the job: {reason}"
        try:
            self._settle(sent)
        except Exception:  # a busy store: `_tend` settles it at the next beat
            log.exception("could not read job %s", sent.job_id)

    def _settle(self, sent: _Sent) -> None:
        """Once Dask's task ended: resolves the job's future with its final row. A job the
        task left unfinished was never started (Dask failed or dropped the task: it fails
        here, with the reason), or its worker died running it: the reaper ends it (`_tend`)."""
        job = self.store.job(sent.job_id)
        if sent.scheduled and job.status == QUEUED:  # requeued (nothing acted): a scheduler's
            self._resolve(sent, job)
            return
        if job.status not in FINAL_STATES:
            mine = (Job.status == RUNNING, Job.worker == worker_id())
            self.store.finish_job(
                sent.job_id,
                FAILED,
                *(mine if sent.claimed else (Job.status == QUEUED,)),
                error={
                    "ename": "ExecutorError",
                    "evalue": sent.ended,
                    "cell": None,
                    "traceback": [],
                    **({"fix": sent.fix} if sent.fix else {}),
                },
            )
            job = self.store.job(sent.job_id)
        if job.status in FINAL_STATES:
            self._resolve(sent, job)

    def _resolve(self, sent: _Sent, job: Job) -> None:
        """Gives the job's future its row, once (Dask's callback and the beats both may)."""
        with self._lock:
            if sent in self._sent:
                self._sent.remove(sent)
            if sent.future.done():
                return
            sent.future.set_result(job)
        if sent.member is not None:
            process_jobs.discard(sent.member)

    def _tend(self) -> bool:
        """Each heartbeat period: beats the claimed jobs still waiting for a worker, ends
        through the reaper the jobs whose worker died, resolves those that ended or went
        back to their scheduler's queue meanwhile, and says whether jobs this process
        queued wait in Dask's queue."""
        with self._lock:
            sent = list(self._sent)
        for each in sent:
            if each.claimed and self.store.heartbeat(each.job_id, 0) is None:
                each.claimed = False  # a worker took it over: its watchdog beats it
        ended = [each for each in sent if each.ended is not None]
        # A worker that died unseen by Dask (its task rescheduled onto one that waits, or
        # never ended) left its job running: the reaper ends it by its worker's process, and
        # its future is resolved here, or it (and `close`) waited for ever.
        working = [each for each in sent if each.ended is None and not each.claimed]
        rows = self._rows([each.job_id for each in working])
        if ended or any(r.status == RUNNING and worker_is_gone(r.worker) for r in rows):
            self.reap()
            rows = self._rows([each.job_id for each in working])
        for each in ended:
            self._settle(each)
        for row in rows:
            each = next(each for each in working if each.job_id == row.id)
            if row.status in FINAL_STATES:
                self._resolve(each, row)
            elif each.scheduled and row.status == QUEUED:  # requeued: its scheduler's again
                if each.task is not None:  # a late task would find it not its own anyway
                    each.task.cancel()
                self._resolve(each, row)
        return any(not each.scheduled and each.ended is None for each in sent)

    def _rows(self, job_ids: list[int]) -> list[Job]:
        """Those jobs' rows, in one read."""
        if not job_ids:
            return []
        with self.store.read() as s:
            return list(s.scalars(select(Job).where(Job.id.in_(job_ids))))

    def release_claimed(self) -> None:
        """For a scheduler that stops: requeues the jobs it claimed that no worker took over
        (for another scheduler to run), and stops waiting for those the cluster runs (they
        end there)."""
        with self._lock:
            scheduled = [each for each in self._sent if each.scheduled]
        for each in scheduled:
            if each.claimed:
                self.store.requeue(each.job_id, Job.worker == worker_id())
                if each.task is not None:  # a late task would find it requeued anyway
                    each.task.cancel()
            self._resolve(each, self.store.job(each.job_id))

    def close(self) -> None:
        with self._lock:
            waiting = [each.future for each in self._sent]
        for future in waiting:  # as `LocalExecutor`: submitted jobs finish first
            future.exception()
        self._beat.close()
        with self._connecting:
            client, self._client = self._client, None
        if client is not None:
            self._close_client(client)

    def _close_client(self, client: Any) -> None:
        """Closes the client; one that lost the scheduler says so in one line. Its jobs
        ended all the same (their workers wrote their ends to the store, read by `_tend`),
        but the close cancelled Dask's reconnecting, which logged some 30 lines of chained
        tracebacks after the job's end."""
        if client.status == "running":
            client.close()
            return
        log.warning(
            "the Dask scheduler at %s went away: its workers finish the jobs they run and "
            "write their ends; fix: start `dask scheduler` there again for the next jobs",
            self.address,
        )
        quiet = logging.getLogger("distributed.client")
        disabled, quiet.disabled = quiet.disabled, True
        try:
            client.close()
        finally:
            quiet.disabled = disabled


def executor_for(
    workspace: Workspace,
    store: Store,
    reap: Callable[[], object],
    credentials: Collection[str] = (),
) -> Executor:
    """The executor the workspace's settings name: Dask's when `[executor] dask_scheduler`
    is set (checked when the workspace was read), else local workers, which mask
    `credentials` in their jobs' output (the cluster's workers are not given them)."""
    address = workspace.setting("executor", "dask_scheduler")
    if address is None:
        workers = workspace.setting("executor", "workers")
        return LocalExecutor(workspace, store, workers, reap, credentials)
    return DaskExecutor(workspace, store, address, reap)
