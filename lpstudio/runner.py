"""The one code path that runs a job, whichever way it was started.

It takes a queued job from the store, runs its recipe version through papermill with the
`lpstudio` engine, and always leaves the job in a true final state: succeeded, failed
(cell error, kernel died, timeout, internal error) or cancelled (Ctrl-C, SIGTERM,
`lpstudio cancel`). A bot's call whose cells all ran fails when they left its caller no
answer it can take (`unanswered`), in the same write as its end. A watchdog thread
heartbeats the job with its progress, enforces its timeout and notices cancel requests; it
stops a job by killing the kernel's process group, and no cell starts once the job is
stopped. A stop that lands after the last cell changes nothing: a job whose cells all ran
keeps its outcome.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import contextvars
import copy
import errno
import functools
import hashlib
import json
import logging
import os
import signal
import stat
import subprocess
import threading
import time
from collections.abc import Callable, Collection, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple, Protocol, TypeVar

import nbformat
from jupyter_core.utils import ensure_event_loop
from nbformat.v4.rwbase import split_lines, strip_transient
from sqlalchemy.exc import OperationalError

from .checks import shortened
from .connections import Connections
from .errors import rerun_error, said_and_fix
from .jsonschemas import first_problem
from .kernel import RESPONSE_MIME, RESULT_MIME, answer_status
from .kernel.errors import ERROR_MIME
from .models import Job
from .parameters import PathText, as_declared
from .pool import KernelPool, active
from .recipe import Recipe, parsed
from .redaction import (
    Secrets,
    begun_secret,
    given_text,
    scrub,
    scrub_text,
    scrub_unfinished,
    scrubbed_keys,
)
from .sdk import HELD_MIME
from .settings import saved_settings
from .store import CANCELLED, FAILED, QUEUED, STORE_WAIT, SUCCEEDED, Store, worker_id
from .workspace import Workspace

log = logging.getLogger("lpstudio.runner")
T = TypeVar("T")


ENGINE_NAME = "lpstudio"
BANNER_TAG = "lpstudio-error"  # the tag of the banner atop a cut-off job's output notebook
PROGRESS_EVERY = 1.0  # seconds between two progress writes of a running job


@dataclass
class Stop:
    """Why a job was stopped: 'timeout', 'cancelled', 'requeue' or 'lost' (the store gave
    the job away after its heartbeat went silent: this worker must stop and write nothing)."""

    reason: str
    detail: str


class JobStopped(Exception):
    """Raised in a job's thread when the job was stopped before its next cell started (a
    timeout or cancel that landed while its kernel started, or between two cells)."""


class FolderGone(Exception):
    """Raised in `execute_job`, before the job takes a kernel, when its recipe's folder is
    gone (moved, renamed or deleted since the job was queued). The job runs the version of
    its recipe it names, from the store, so its notebook file may be gone; but it runs in
    its recipe's folder, as the notebook's kernel does in JupyterLab, and its cells read and
    write files by paths relative to it (`data.csv`): run anywhere else, they would read
    other files or leave theirs where nobody looks. A forked kernel that could not move
    there ended itself (`forkserver.bind_requested`) and the job was said a dead kernel; a
    cold one failed on its `Popen` with the folder's full path and no fix."""

    def __init__(self, workspace: Workspace, job: Job, folder: Path) -> None:
        shown = workspace.stored_path(folder)
        super().__init__(f"job {job.id}'s recipe folder {shown} is gone")
        self.error = {
            "ename": "RecipeFolderGone",
            "evalue": f"the recipe's folder {shown}, where the job runs {job.recipe}, is no "
            "longer there (moved, renamed or deleted since the job was queued)",
            # A run of it put back in the queue may have left sends in doubt (`_doubt_fixed`).
            **rerun_error(job.id, f"move the folder back to {shown}"),
        }


class NotItsTurn(Exception):
    """Raised by `execute_job(in_turn=True)` when jobs of the recipe go before this one (as
    many as its `concurrency`): the job stays queued, untouched (no kernel taken, no output
    written), for its executor to start once its turn has come."""

    def __init__(self, job: Job, concurrency: int) -> None:
        super().__init__(f"job {job.id} waits for the turn of recipe {job.recipe}")
        self.job = job
        self.concurrency = concurrency


class RecipeStopped(Exception):
    """Raised by `execute_job(in_turn=True)` for a bot's call whose recipe was stopped
    before its job started: the job stays queued, untouched, for its executor to end
    (`LocalExecutor`): a stopped recipe processes nothing, and the caller is told so."""

    def __init__(self, job: Job) -> None:
        super().__init__(f"job {job.id} is a call of recipe {job.recipe}, which was stopped")
        self.job = job


def job_named(job: Job, did: str = "") -> str:
    """A job as the logs name it, with what it `did` after its id, as the scheduler daemon
    says it: `job 15 started (ops/sleep.ipynb, manual by ada)`. Its parameters and event
    are never named (they may hold what a person typed)."""
    return f"job {job.id}{did} ({job.recipe}, {job.trigger} by {job.user})"


def recipe_stopped(store: Store, recipe: str) -> bool:
    """Whether a recipe is stopped (never started, or stopped since), as `Scheduler.fill`
    reads it. It serves no call then, so a call it accepted before does not start either;
    a person's run or poll runs a stopped recipe, and a trigger's job waits for its start in
    the schedulers' queue."""
    return saved_settings(store, recipe).get("state") != "started"


class JobEnds:
    """Wakes what waits in this process for a recipe's turn (`LocalExecutor`) when one of
    its jobs ends, or a waiting job is stopped. A count, read before a look: nothing that
    happens between the look and the wait is missed."""

    def __init__(self) -> None:
        self._changed = threading.Condition()  # reentrant: a signal handler may notify
        self._count = 0

    def count(self) -> int:
        return self._count

    def notify(self) -> None:
        with self._changed:
            self._count += 1
            self._changed.notify_all()

    def wait(self, seen: int, timeout: float) -> int:
        """Waits until something happened since `seen` (a `count`), `timeout` s at most."""
        with self._changed:
            self._changed.wait_for(lambda: self._count != seen, timeout)
            return self._count


#: Told whenever a job of this process ends.
job_ends = JobEnds()


#: The statements of a recipe's settings form cell (templates' `lpstudio-form`): in a job
#: `RecipeForm.here()` shows nothing.
_FORM_STATEMENTS = frozenset(
    ast.dump(statement)
    for statement in ast.parse("from lpstudio.widgets import RecipeForm\nRecipeForm.here()").body
)


def acts(cell: Any) -> bool:
    """Whether a cell about to start may act outside its kernel (a POST, a written row), so
    that its job, run again, might do it twice: any code cell of the recipe's own. Not a
    markdown or raw cell, which nothing runs (every template opens with its title); nor
    papermill's injected parameters; nor a cell of comments alone, or the settings form's
    (`_FORM_STATEMENTS`)."""
    if cell.cell_type != "code" or "injected-parameters" in cell.metadata.get("tags", ()):
        return False
    try:
        statements = ast.parse(cell.source).body
    except SyntaxError:  # IPython's syntax (a magic, a shell escape): it may act
        return True
    return any(ast.dump(statement) not in _FORM_STATEMENTS for statement in statements)


class Watchdog(threading.Thread):
    """Heartbeats a running job with its progress, and stops it on a timeout or a cancel
    request: it kills the kernel's process group, and `checkpoint` keeps any cell from
    starting afterwards (a kernel that was still starting has no process to kill yet)."""

    def __init__(self, store: Store, job_id: int, timeout: float | None, beat: float) -> None:
        super().__init__(name=f"lpstudio-watchdog-{job_id}", daemon=True)
        self.store = store
        self.job_id = job_id
        self.timeout = timeout
        self.beat = beat
        self.deadline = time.monotonic() + timeout if timeout else None
        self.stop: Stop | None = None
        self.cells_done = 0
        self.acted = False  # a cell that may act started (`acts`): never requeued then
        self._reported = 0.0
        self._km: Any = None
        self._lock = threading.Lock()  # a stop and the end of the watch exclude each other
        self._done = threading.Event()
        self._wake = threading.Event()

    def attach(self, km: Any) -> None:
        self._km = km

    def progress(self, done: int, total: int) -> None:
        """Counts the cells done. The next heartbeat writes the count: the first cell's at
        once (its job shows it began), later ones within a second.
        The last cell ends the watch: a timeout or cancel landing after it changes nothing."""
        self.cells_done = done
        if done == total:
            self.finish()
            return
        now = time.monotonic()
        if done == 1 or now - self._reported >= PROGRESS_EVERY:
            self._reported = now
            self._wake.set()

    def checkpoint(self, cell: Any) -> None:
        """Raises `JobStopped` once the job is stopped: called before each cell starts (and
        with None before its kernel is taken). The first cell that may act (`acts`) starts
        only once the store holds that it did (`Job.acted`): a job lost or stopped from then
        on is never run again whole by a scheduler, which could repeat what the cell did."""
        if self.stop is None and cell is not None and not self.acted and acts(cell):
            # Waits for a store that cannot be reached for now, as the job's end does: a
            # moment's outage (a full disk, a failover) failed the job before its first cell.
            beat = functools.partial(self.store.heartbeat, self.job_id, self.cells_done, True)
            stop = self._stop_asked(_once_stored(self.job_id, beat, "first cell that may act"))
            self.acted = True
            if stop is not None:
                self.halt(stop)
        if self.stop is not None:
            raise JobStopped(self.stop.detail)

    @staticmethod
    def _stop_asked(asked: bool | None) -> Stop | None:
        """The stop a heartbeat's answer (`Store.heartbeat`) asks for, if any."""
        if asked is None:
            return Stop("lost", "the job is no longer this worker's to run")
        return Stop("cancelled", "cancelled by request") if asked else None

    def run(self) -> None:
        while True:
            wait = self.beat
            if self.deadline is not None:
                wait = max(0.0, min(wait, self.deadline - time.monotonic()))
            self._wake.wait(wait)
            self._wake.clear()
            if self._done.is_set():
                return
            stop = None
            if self.deadline is not None and time.monotonic() >= self.deadline:
                stop = Stop("timeout", f"timed out after {self.timeout:g} s")
            else:
                try:
                    stop = self._stop_asked(self.store.heartbeat(self.job_id, self.cells_done))
                except Exception as exc:  # a busy store must not kill the watchdog; a
                    # database restarting is said once for the process (`StoreOutage`), and
                    # the job's end waits for it (`_once_stored`)
                    self.store.outage.failed(log, exc, "heartbeat of job %s failed", self.job_id)
                    continue
            if stop is not None:
                self.halt(stop)
                return

    def finish(self) -> None:
        """Ends the watch; from now on nothing stops the job."""
        with self._lock:
            self._done.set()
        self._wake.set()

    def halt(self, stop: Stop) -> None:
        """Stops the job now, unless its watch has ended or it was stopped already."""
        with self._lock:
            if self._done.is_set() or self.stop is not None:
                return
            self.stop = stop
        kill_kernel(self._km)

    def interrupt(self, stop: Stop) -> None:
        """Stops the job on a KeyboardInterrupt in this process, even once its watch ended:
        papermill counts the cell the interrupt cut off as complete (`cell_complete`), so
        an interrupted last cell ended the watch and the job was recorded succeeded."""
        with self._lock:
            self.stop = self.stop or stop
        kill_kernel(self._km)


class Halts(Protocol):
    """What a group of jobs stops: a job's `Watchdog` here, or the stand-in of a job this
    process sent to another (`executor.DaskExecutor`)."""

    def halt(self, stop: Stop) -> None: ...


class RunningJobs:
    """Jobs of this process that are stopped together: all of them on Ctrl-C or SIGTERM,
    or the jobs one scheduler claimed when it shuts down (never another executor's). A
    job that joins once the group was stopped is stopped at once: none slips through."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._watchdogs: set[Halts] = set()
        self._stop: Stop | None = None

    def add(self, watchdog: Halts) -> None:
        with self._lock:
            self._watchdogs.add(watchdog)
            stop = self._stop
        if stop is not None:
            watchdog.halt(stop)

    def discard(self, watchdog: Halts) -> None:
        with self._lock:
            self._watchdogs.discard(watchdog)

    def interrupt(self, detail: str, reason: str = "cancelled") -> None:
        """Stops every job of the group: they end cancelled, or go back to the queue
        (`reason="requeue"`, a scheduler shutting down)."""
        stop = Stop(reason, detail)
        with self._lock:
            self._stop = stop
            watchdogs = list(self._watchdogs)
        for watchdog in watchdogs:
            watchdog.halt(stop)


#: Why a recipe's kernel dies under a cell, and what to do about it: nbclient's
#: `DeadKernelError` says only "Kernel died" (and logged "Kernel died while waiting for
#: execute reply." beside the job's own error).
KERNEL_DIED_CAUSES = (
    "it may have run out of memory (the system's out-of-memory killer ends the largest "
    "process), been killed from outside (a `kill -9`), or ended its own process (os._exit, "
    "a crash in a native library)"
)
KERNEL_DIED_FIX = (
    "find what the cell does that can end its process (with large data: read it in chunks, "
    "or give the machine more memory); the output notebook keeps what the cells before it "
    "did"
)
KERNEL_DIED_EARLY_FIX = "see whether the machine is out of memory, or what killed the kernel"


def output_not_saved_fix(exc: OSError, path: Path) -> str:
    """What the fix of a job whose output notebook (at `path`) could not be saved (`exc`)
    asks before its rerun: the cure of that error, not of every one (a full disk's is not a
    read-only folder's); an error with none of its own is said as the system said it (the
    file it names may be the temporary one beside the notebook, so the notebook is named)."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "free space on the disk of the workspace's history/ folder"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "give the user lpstudio runs as write access to the workspace's history/ folder"
    if exc.errno == errno.ENAMETOOLONG:
        return (
            "its output notebook's path is too long: move the workspace (or its [history] "
            "path) to a shorter path"
        )
    return f"mend what stops the save of {path} ({exc.strerror or exc})"


class Deadline(NamedTuple):
    """How long a job may run (None: for ever), whose limit that is, and how to change it
    (`fixed`: its error's fix, and what else says it, `rerun_error`'s): its timeout's error
    says both."""

    seconds: float | None
    whose: str
    fixed: dict[str, Any]


def deadline(workspace: Workspace, job: Job, recipe: Recipe) -> Deadline:
    """The job's own timeout (`lpstudio run --timeout`, a REST run's `timeout`, kept by its
    reruns and retries unless a rerun gives another), else its recipe's (`timeout` in its
    metadata), else the workspace's `[jobs] timeout_seconds` (0: none). With none at all, a
    cell that hangs kept its job running, heartbeating, and its recipe's queue blocked, for
    ever. A job's own is changed by its rerun, never by a new run of its recipe: that one
    has a ledger of its own, and sent the recipients the job had reached again."""
    if job.timeout:
        return Deadline(
            job.timeout,
            "the job's own timeout",
            {
                "fix": "rerun it with a longer timeout, in seconds, which sends nothing its "
                f"delivery ledger holds again: `lpstudio rerun {job.id} --timeout SECONDS`"
            },
        )
    if recipe.timeout:
        return Deadline(
            recipe.timeout,
            "the recipe's timeout, metadata.lpstudio.timeout",
            rerun_error(
                job.id,
                "raise the recipe's timeout (metadata.lpstudio.timeout, in seconds) or make "
                "its slow cell faster",
            ),
        )
    default = workspace.setting("jobs", "timeout_seconds")
    return Deadline(
        default or None,
        "the workspace's deadline for a recipe without a timeout of its own, [jobs] "
        "timeout_seconds in lpstudio.toml",
        rerun_error(
            job.id,
            "give the recipe a timeout of its own (metadata.lpstudio.timeout, in seconds), or "
            "raise [jobs] timeout_seconds in the workspace's lpstudio.toml (0: no deadline)",
        ),
    )


def _explained(error: dict[str, Any], stop: Stop | None, limit: Deadline, job_id: int) -> None:
    """Says in a job's error, in place, why the job ended (its `evalue`) and what to do
    (its `fix`, apart: the evalue is what an API answer's message quotes): for a timeout,
    whose deadline it was; for a kernel that died by itself, while which cell, what may
    have killed it, then its rerun; for a job its scheduler's stop cut off, its rerun; for
    an app's error that a run again may pass (`retryable`), its rerun after the app's own
    fix, if it gave one."""
    said, fix = said_and_fix(error)
    if error.get("uncertain") is True:  # its fix says what a rerun sends (`_end_unanswered`)
        return
    if error.get("retryable") is True:  # a connector's, raised in a cell
        error.update(evalue=said, **rerun_error(job_id, fix))
        return
    if fix is not None:  # an `LpstudioError`'s text: said already
        return
    fixed: dict[str, Any] | None = None
    if stop is not None and stop.reason == "timeout":
        fixed = limit.fixed
    elif stop is not None and stop.reason == "requeue":
        fixed = rerun_error(job_id)
    elif stop is None and error.get("ename") == "DeadKernelError":
        ran = error.get("cell") is not None
        when = "while the cell ran" if ran else "before its first cell started"
        said = f"the recipe's kernel died {when}: {KERNEL_DIED_CAUSES}"
        fixed = rerun_error(job_id, KERNEL_DIED_FIX if ran else KERNEL_DIED_EARLY_FIX)
    if fixed is not None:
        error.update(evalue=said, **fixed)


#: The error a job stopped for a reason ends with (by default: Cancelled).
_STOP_NAMES = {"timeout": "Timeout", "requeue": "WorkerStopped"}

#: The jobs this process runs or waits for: Ctrl-C and SIGTERM stop them all.
process_jobs = RunningJobs()


def interrupt_running_jobs(detail: str) -> None:
    """Cancels every job this process is running: for Ctrl-C and SIGTERM."""
    process_jobs.interrupt(detail)


def kill_kernel(km: Any) -> None:
    """Kills a kernel and anything it started (its own process group), at once."""
    process = getattr(getattr(km, "provisioner", None), "process", None)
    if process is None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


# Ends kernels off the job's critical path; its thread is joined at interpreter exit, so no
# kernel is cut short in its shutdown and no connection file is left behind.
_reaper = ThreadPoolExecutor(1, thread_name_prefix="lpstudio-reaper")


def _reaper_of_its_own() -> None:
    """A forked child (multiprocessing's, a test's) gets a reaper of its own: the parent's
    thread is not in it, and the copy of its executor, which believes it has one, never
    ran what it was given (`wait_reaped` waited for ever as the child's Studio closed)."""
    global _reaper
    _reaper = ThreadPoolExecutor(1, thread_name_prefix="lpstudio-reaper")


os.register_at_fork(after_in_child=_reaper_of_its_own)


def end_kernel(km: Any, graceful: bool) -> None:
    """Ends a kernel once its notebook is done with it, in the reaper. A kernel whose
    notebook ran to its end, or to a cell's error, is shut down as papermill's is: asked
    (`shutdown_request`) and given jupyter_client's `shutdown_wait_time`, so that its
    notebook's open files are flushed and its atexit functions run. It is asked here, not
    in the reaper: kernels ended together shut down side by side, however many the reaper
    has yet to wait for. Any other kernel was killed already (a job stopped, timed out or
    lost; a kernel that never answered)."""
    if graceful:
        try:
            run_closed(km.request_shutdown())
        except Exception:  # its files or sockets gone: the reaper kills it all the same
            log.debug("could not ask kernel %s to shut down", km.kernel_id, exc_info=True)
            graceful = False
    _reaper.submit(reap_kernel, km, km.shutdown_wait_time if graceful else 0.0)


def wait_reaped() -> None:
    """Waits until the kernels handed to the reaper so far have ended (its one thread
    takes them in turn): a pool that closes would end them mid-shutdown (a forked kernel
    dies with its fork server). At interpreter exit the reaper has ended them already."""
    with contextlib.suppress(RuntimeError):  # shut down: after its last kernel
        _reaper.submit(lambda: None).result()


def shutdown_kernel(km: Any, grace: float = 0.0) -> None:
    """Ends a job's kernel: each kernel serves one job and is then discarded. One asked to
    shut down is given `grace` seconds to end itself; then its process group is killed,
    with whatever the notebook left running in it."""
    process = getattr(getattr(km, "provisioner", None), "process", None)
    if grace and process is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
    kill_kernel(km)
    if process is not None:
        process.wait(timeout=10)
    run_closed(km.cleanup_resources())


def run_closed(coro: Coroutine[Any, Any, T]) -> T:
    """Runs a coroutine on an event loop of its own, closed once it ends.

    jupyter_core's `run_sync` keeps the loop it makes for a thread open for good (and in a
    thread whose loop is running, one on a daemon thread): collected as the interpreter
    ended, after its self-pipe, such a loop printed `Exception ignored in: <function
    BaseEventLoop.__del__ ...> ValueError: Invalid file descriptor: -1` once `lpstudio run`
    was done. Where a loop is running (a kernel the pool discards while preparing it), the
    coroutine runs on a thread of its own.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        with contextlib.closing(asyncio.new_event_loop()) as loop:
            return loop.run_until_complete(coro)
    with ThreadPoolExecutor(1, thread_name_prefix="lpstudio-cleanup") as thread:
        return thread.submit(run_closed, coro).result()


def on_a_loop_of_its_own(func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Calls `func` (papermill's engine, and so nbclient) in a context of its own, then
    closes the event loop jupyter_core's `run_sync` made for it there.

    `run_sync` keeps its loop in a context variable, one per thread, and never closes it
    (see `run_closed`). In a fresh context the job gets a loop of its own, closed as the job
    ends; a loop the caller's context holds (a test's, a server's) is neither used nor
    closed. Where a loop is running, nbclient runs on jupyter_core's thread, not on these.
    """

    def call() -> T:
        try:
            return func(*args, **kwargs)
        finally:
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                ensure_event_loop().close()  # this context's: the one nbclient ran on
                asyncio.set_event_loop(None)  # no longer the thread's current loop either

    return contextvars.Context().run(call)


def reap_kernel(km: Any, grace: float = 0.0) -> None:
    try:
        shutdown_kernel(km, grace)
    except Exception:
        log.exception("could not clean up kernel %s", getattr(km, "kernel_id", "?"))


class NotebookWriter:
    """Writes a job's output notebook, scrubbed of secrets, atomically, each time it is
    saved; keeps the last notebook so the runner can add to it after a failure.

    Each save names its job under `metadata.lpstudio.job` (`{"id", "recipe", "trigger"}`):
    a folder of output notebooks is joined to the job table without parsing file names.
    papermill's own metadata (`metadata.papermill`) is left as papermill writes it."""

    def __init__(self, path: Path, input_path: Path, job: dict[str, Any] | None = None) -> None:
        self.path = path
        self.input_path = input_path
        self.job = job
        # Set once the job has read them (reading them may fail, and that error is shown).
        self.secrets: frozenset[str] = frozenset()
        self.nb: Any = None
        self.saved = False  # a save was written: the job has a notebook at `path`

    def __call__(self, nb: Any) -> None:
        self.nb = nb
        self._held(nb)
        # papermill records the paths it was given; it is given the recipe's stored version
        # (a notebook, not a file), so the recipe's file stands for the input.
        recorded = nb.metadata.setdefault("papermill", {})
        recorded["input_path"] = str(self.input_path)
        recorded["output_path"] = str(self.path)
        if self.job is not None:
            nb.metadata.setdefault("lpstudio", {})["job"] = self.job
        # The scrubbed copy is ours: nbformat's JSON layout is applied to it in place,
        # without the deep copy and schema validation of `nbformat.write` (papermill's
        # notebook is valid by construction), which cost more than a short job's cells.
        clean = node_copy(nb, self.secrets)
        for cell in clean.cells:  # the credentials told (`_held`) are kept nowhere
            if "outputs" in cell:
                cell.outputs = [out for out in cell.outputs if HELD_MIME not in out.get("data", ())]
        text = json.dumps(
            strip_transient(split_lines(clean)),
            indent=1,
            sort_keys=True,
            separators=(",", ": "),
            ensure_ascii=False,
        )
        if not self.saved:  # its day's folder, made by the job's first save
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            replace_file(self.path, text + "\n")
        except FileNotFoundError:  # a purge removed the day's folder, empty, meanwhile
            self.path.parent.mkdir(parents=True, exist_ok=True)
            replace_file(self.path, text + "\n")
        self.saved = True

    def _held(self, nb: Any) -> None:
        """Adds to the secrets the credentials the recipe's connections obtained so far
        (`Connection.hold`), which the kernel told as `HELD_MIME` display data: what the
        recipe prints of them is masked as a stored secret is."""
        held = {
            output["data"][HELD_MIME].get("held")
            for cell in nb.cells
            for output in cell.get("outputs", ())
            if HELD_MIME in output.get("data", ())
        }
        held = {value for value in held if isinstance(value, str)} - self.secrets
        if held:
            self.secrets = Secrets(self.secrets | held, getattr(self.secrets, "given", ""))

    def add_banner(self, error: dict[str, Any]) -> None:
        """Puts the reason a job stopped at the top of its partial output notebook, and
        marks the cell it cut off (`mark_cut_off`), which the banner links to."""
        if self.nb is None:
            return
        where = ""
        said, fix = said_and_fix(error)
        cell = error.get("cell")
        if cell is not None and 0 <= cell < len(self.nb.cells):
            # By the cell's own mark, which no inserted cell shifts; or counted from 1, as
            # JupyterLab does, with this banner and papermill's anchor above it.
            count = self.nb.cells[cell].get("execution_count")
            at, mark = ("at", f"In [{count}]") if count is not None else ("in", f"cell {cell + 3}")
            where = f' {at} <a href="#papermill-error-cell">{mark}</a>'  # as papermill's links
            self.mark_cut_off(cell, error["ename"], said)
        # Where it stopped goes with what happened, before its fix (`said_and_fix`).
        fix = f"<br>fix: {fix}" if fix else ""
        banner = nbformat.v4.new_markdown_cell(
            f'<span style="color:red; font-size:2em;">lpstudio: {said}{where}{fix}</span>'
        )
        banner.metadata["tags"] = [BANNER_TAG]
        self.nb.cells.insert(0, banner)
        self(self.nb)

    def mark_cut_off(self, at: int, ename: str, said: str) -> None:
        """Marks the cell a stop or a dead kernel cut off as papermill marks a cell whose
        execution raised: the error as its output (unless it has one: the interrupt of
        papermill's own timeout gives one), papermill's anchor before it. It had neither:
        papermill-aware tools, and a reader looking for the error, found nothing there.
        papermill's next run of the notebook takes the anchor out, as it does its own."""
        from papermill.execute import ERROR_ANCHOR_MSG, ERROR_MARKER_TAG

        cell = self.nb.cells[at]
        outputs = cell.get("outputs")
        if outputs is not None and not any(out.output_type == "error" for out in outputs):
            traceback = [f"{ename}: {said}"]
            outputs.append(
                nbformat.v4.new_output("error", ename=ename, evalue=said, traceback=traceback)
            )
        anchor = nbformat.v4.new_markdown_cell(ERROR_ANCHOR_MSG)
        anchor.metadata["tags"] = [ERROR_MARKER_TAG]
        self.nb.cells.insert(at, anchor)

    def outputs(self) -> dict[str, Any] | None:
        """The recipe's result (its last `set_result`), with its `respond` answer if any."""
        if self.nb is None:
            return None
        found: dict[str, Any] = {}
        for cell in self.nb.cells:
            for output in cell.get("outputs", []):
                data = output.get("data", {})
                if RESULT_MIME in data:
                    found["result"] = data[RESULT_MIME]
                if RESPONSE_MIME in data:
                    found["response"] = data[RESPONSE_MIME]
        if not found:
            return None
        result = dict(found.get("result") or {})
        if "response" in found:
            result["response"] = found["response"]
        return scrub(json.loads(json.dumps(result)), self.secrets)

    def error_details(self, execution_count: int | None) -> dict[str, Any]:
        """What the failing cell's kernel added to its error (`lpstudio.kernel.errors`:
        whether a retry may help). The cell is found by its execution count, since papermill
        put its banner cells before it."""
        found: Any = {}
        if self.nb is None or execution_count is None:
            return {}
        for cell in self.nb.cells:
            if cell.get("execution_count") == execution_count:
                for output in cell.get("outputs", []):
                    found = output.get("data", {}).get(ERROR_MIME, found)
        # Only what the kernel's hook writes, of its types: a recipe may display anything.
        details: dict[str, Any] = {}
        if isinstance(found, dict) and isinstance(found.get("retryable"), bool):
            details["retryable"] = found["retryable"]
            status = found.get("status")
            if isinstance(status, int) and not isinstance(status, bool):
                details["status"] = status
            for flag in ("uncertain", "not_today"):
                if isinstance(found.get(flag), bool):
                    details[flag] = found[flag]
            if isinstance(found.get("check"), str):  # how to check its uncertain sends
                details["check"] = found["check"]
        return details


def mark_lost(workspace: Workspace, job: Job, store: Store) -> None:
    """Puts a reaped job's reason atop its partial output notebook, as its worker would have
    had it lived: the notebook alone then says why it stops where it does. A job whose
    process died before its notebook was first written names none, as a job that failed
    before papermill wrote anything: it would otherwise be said moved or deleted. Its error
    takes the In [N] marking its cell there, as a cut-off job's does: only the notebook
    knows it. Its result, fixed by the reaper from its ledger alone, is read again over what
    its recipe stored before sending (`final_result`), as a stopped job's is: the invoices it
    skipped, and the recipients it never reached (`not_sent`), were counted nowhere."""
    if not job.output_path or not job.error:
        return
    path = workspace.root / job.output_path
    try:
        nb = nbformat.read(path, as_version=4)  # written whole or not at all (`replace_file`)
    except FileNotFoundError:
        _amend(store, job, output_path=None)
        return
    except (OSError, ValueError):
        return
    cell = job.error.get("cell")
    if cell is not None and 0 <= cell < len(nb.cells):
        count = nb.cells[cell].get("execution_count")
        if count is not None:
            _amend(store, job, error={**job.error, "execution_count": count})
    settle_cut_off(nb, job.finished_at)
    writer = NotebookWriter(path, workspace.projects / job.recipe)
    writer.nb = nb
    if writer.outputs() is not None and (job.result or {}).get("from_ledger", True):
        _amend(store, job, result=final_result(store, job, writer, sends=True))
    writer.add_banner(job.error)


def _amend(store: Store, job: Job, **values: Any) -> None:
    """Writes `values` to a reaped job's row (the reaper's store: no second connection), and
    to `job`, unless another process moved its notebook meanwhile."""
    from sqlalchemy import update

    with store.write() as s:
        named = (Job.id == job.id, Job.output_path == job.output_path)
        s.execute(update(Job).where(*named).values(**values))
    for key, value in values.items():
        setattr(job, key, value)


def settle_cut_off(nb: Any, last_seen: datetime | None) -> None:
    """Ends the notebook of a run whose process died as papermill's engine ends a run cut
    off (`engine.keep_pending`, from papermill's own steps): the cell it was running
    failed, those it never ran stay pending, the notebook is marked with an exception. Its
    end is when the job was last heard from, or when that cell started, if later (the last
    heartbeat may precede it)."""
    from papermill.engines import NotebookExecutionManager

    from .engine import keep_pending

    if "papermill" not in nb.metadata or any("papermill" not in c.metadata for c in nb.cells):
        return  # not a notebook papermill started (`notebook_start`): nothing to settle
    nb_man = NotebookExecutionManager(nb, progress_bar=False)
    started = nb.metadata.papermill.get("start_time")
    nb_man.start_time = datetime.fromisoformat(started) if started else None
    cut = [
        (at, cell)
        for at, cell in enumerate(nb.cells)
        if cell.metadata.papermill.get("status") == nb_man.RUNNING
    ]
    if last_seen is not None:
        ended = max(
            [last_seen]
            + [
                datetime.fromisoformat(c.metadata.papermill["start_time"])
                for _, c in cut
                if c.metadata.papermill.get("start_time")
            ]
        )
        nb_man.now = lambda: ended
    for at, cell in cut:
        nb_man.cell_exception(cell, cell_index=at)
        nb_man.cell_complete(cell, cell_index=at)
    keep_pending(nb_man)
    nb_man.notebook_complete()


def node_copy(data: Any, secrets: frozenset[str], running: bool = False) -> Any:
    """A deep copy of a notebook (or any part of one) with secrets masked in its strings,
    its objects' keys too (a result or an answer keyed by one, in its output's data).
    `running`: `data` is the outputs of a cell still running (`_streams_joined`)."""
    if isinstance(data, dict):
        keys = scrubbed_keys(list(data), secrets) if secrets else data.keys()
        ran = bool(secrets) and _running(data)
        return nbformat.NotebookNode(
            {
                k: node_copy(v, secrets, ran and key == "outputs")
                for k, key, v in zip(keys, data.keys(), data.values(), strict=True)
            }
        )
    if isinstance(data, list):
        items = _streams_joined(data, secrets, running) if secrets else data
        return [node_copy(item, secrets) for item in items]
    if isinstance(data, str) and secrets:
        return scrub_text(data, secrets)
    return data


def _running(cell: dict[str, Any]) -> bool:
    """Whether `cell` is one papermill marks running: its outputs may end mid-line."""
    metadata = cell.get("metadata")
    recorded = metadata.get("papermill") if isinstance(metadata, dict) else None
    return isinstance(recorded, dict) and recorded.get("status") == "running"


def _streams_joined(outputs: list[Any], secrets: frozenset[str], running: bool) -> list[Any]:
    """A cell's outputs, a stream's joined into its first when a secret spans them: the
    kernel sends what a cell prints in chunks, each masked alone, and a secret printed in
    pieces would be whole again where JupyterLab shows them joined, or a reader joins them
    (as nbclient's `coalesce_streams` does). Other outputs are kept as they are.

    A cell still `running` may have printed all of a secret but its end, its next chunk to
    come: a stream that ends in a secret's beginning is joined too, that beginning masked
    (`scrub_unfinished`). The save may be all that is left of the run (a `kill -9`); the
    cell's outputs once it ends are masked as a finished cell's."""
    streams: dict[str, list[int]] = {}
    for at, output in enumerate(outputs):
        if isinstance(output, dict) and output.get("output_type") == "stream":
            streams.setdefault(str(output.get("name")), []).append(at)
    joined: dict[int, Any] = {}  # a stream's first output, holding all its text
    dropped: set[int] = set()  # the stream's other outputs
    for first, *rest in streams.values():
        texts = [_stream_text(outputs[at]) for at in (first, *rest)]
        whole = "".join(texts)
        if running and begun_secret(whole, secrets) is not None:
            joined[first] = {**outputs[first], "text": scrub_unfinished(whole, secrets)}
        elif rest and scrub_text(whole, secrets) != "".join(scrub_text(t, secrets) for t in texts):
            joined[first] = {**outputs[first], "text": whole}
        else:
            continue
        dropped.update(rest)
    if not joined:
        return outputs
    return [joined.get(at, output) for at, output in enumerate(outputs) if at not in dropped]


def _stream_text(output: dict[str, Any]) -> str:
    text = output.get("text", "")
    return "".join(text) if isinstance(text, list) else str(text)


def write_notebook(nb: Any, path: Path) -> None:
    """Writes a notebook atomically: readers see the old file or the new, never half."""
    replace_file(path, nbformat.writes(nb) + "\n")


def replace_file(path: Path, text: str) -> None:
    """Writes a file atomically, through a temporary file beside it."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text, encoding="utf8")
        os.replace(tmp, path)
    except OSError:  # a full disk: no half-written file is left beside it
        tmp.unlink(missing_ok=True)
        raise


def run_notebook(
    nb: Any, parameters: dict[str, Any], start_timeout: float = 60, **engine_kwargs: Any
) -> Any:
    """`papermill.execute_notebook` of a parsed recipe, with no input or output file: its
    steps (an earlier run's cells taken out and parameters injected, `parameterized`;
    metadata prepared, the engine, the error check) on a copy of the notebook. papermill's
    own would copy it through JSON, validating it twice, and serialise the executed notebook
    only to drop it (there is no output path: the job's `NotebookWriter` writes it): 0.7 ms of a
    trivial job, more for a larger notebook. Nor is its warning on parameters it cannot
    read needed: lpstudio read the parameters cell with Python's own parser and checked
    every value before the job."""
    from papermill.engines import papermill_engines
    from papermill.execute import prepare_notebook_metadata, raise_for_execution_errors

    nb = prepare_notebook_metadata(parameterized(nb, parameters), None, None)
    nb = on_a_loop_of_its_own(
        papermill_engines.execute_notebook_with_engine,
        ENGINE_NAME,
        nb,
        kernel_name=papermill_engines.nb_kernel_name(engine_name=ENGINE_NAME, nb=nb),
        input_path=None,
        output_path=None,
        log_output=False,
        start_timeout=start_timeout,
        stdout_file=None,
        stderr_file=None,
        **engine_kwargs,
    )
    raise_for_execution_errors(nb, None)
    return nb


def recipe_cells(nb: Any) -> list[Any]:
    """The notebook's cells but those a run adds to it, which an output notebook kept as a
    recipe holds: papermill's injected parameters and error markers, lpstudio's banner."""
    from papermill.execute import ERROR_MARKER_TAG

    added = {"injected-parameters", ERROR_MARKER_TAG, BANNER_TAG}
    return [cell for cell in nb.cells if added.isdisjoint(cell.metadata.get("tags", ()))]


def parameterized(nb: Any, parameters: dict[str, Any]) -> Any:
    """A copy of a recipe's notebook as a job runs it (and `--prepare-only` writes it):
    the cells an earlier run added taken out, whatever is injected now, and `parameters`
    injected, recorded in `metadata.papermill.parameters` even when there are none.
    papermill replaces an injected cell only when it injects: a job given no values ran
    the cell of the output notebook the recipe was saved from, its old values over the
    defaults and settings the form showed, while the job said it was given none; and
    lpstudio's banner of that run stayed atop the new results, counted as a cell."""
    from papermill.parameterize import parameterize_notebook

    nb = copy.copy(nb)  # the parsed recipe is shared (`parsed`): only ever read
    nb.metadata = copy.deepcopy(nb.metadata)
    nb.cells = copy.deepcopy(recipe_cells(nb))
    nb.metadata.setdefault("papermill", {})["parameters"] = parameters
    if not parameters:
        return nb
    injects_declared_types()
    return parameterize_notebook(nb, parameters, engine_name=ENGINE_NAME)


@functools.cache
def injects_declared_types() -> None:
    """Gives papermill a Python translator that writes a tuple and a path as what they are:
    its own writes any value it does not know as a string (`pair = "('b', 2)"`), and a
    `tuple[str, int]` or `Path` parameter is a tuple or a Path in the recipe, as its default
    is (`parameters.as_declared`)."""
    from papermill.translators import PythonTranslator, papermill_translators

    class TupleTranslator(PythonTranslator):
        @classmethod
        def translate(cls, val: Any) -> str:
            if isinstance(val, tuple):
                items = ", ".join(cls.translate(item) for item in val)
                return f"({items},)" if len(val) == 1 else f"({items})"
            if isinstance(val, PathText):  # the recipe may not have imported `Path` as such
                return f"__import__('pathlib').Path({cls.translate_str(str(val))})"
            return super().translate(val)  # type: ignore[no-any-return]

    papermill_translators.register("python", TupleTranslator)


def cells_to_run(nb: Any, parameters: dict[str, Any]) -> int:
    """How many cells a job runs once `parameterized` prepared its notebook: the recipe's
    own, and the injected parameters cell if it is given any."""
    return len(recipe_cells(nb)) + (1 if parameters else 0)


def output_path_for(workspace: Workspace, job: Job) -> Path:
    """history/<date>/<job id>-<recipe name>.ipynb: browsable in JupyterLab by day. One that
    holds another job's notebook is left to it, and the job's goes beside it
    (`<id>-<name>.2.ipynb`, `.3`...; the job's row names it, as every reader finds it): a
    store restored from a backup numbers its new jobs from the backup's last again, and a job
    of a reused id replaced the notebook of the job that had it. The job's own, written by
    its run that a stop interrupted (requeued), is written over. A long name is shortened
    (`shortened`): the id and the number leave a name the file system took no room, and
    every job of its recipe failed unsaved."""
    stem = shortened(Path(job.recipe).stem)
    folder = workspace.history / job.created_at.strftime("%Y-%m-%d")
    path, copy = folder / f"{job.id}-{stem}.ipynb", 1
    while _written_before(path, job.created_at):
        copy += 1
        path = folder / f"{job.id}-{stem}.{copy}.ipynb"
    return path


def _written_before(path: Path, moment: datetime) -> bool:
    """Whether a notebook file is at `path`, written over a second before `moment` (the job
    was queued; the file system's clock is coarser than the store's): one stat. Anything
    else there (a folder, a file where the day's folder goes) is not another job's
    notebook, and the save fails naming it (`OutputNotSaved`)."""
    try:
        found = path.stat()
    except OSError:
        return False
    return stat.S_ISREG(found.st_mode) and found.st_mtime < moment.timestamp() - 1


def _first(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _saved_last(
    writer: NotebookWriter, banner: dict[str, Any] | None, job_id: int
) -> dict[str, Any] | None:
    """Saves the job's output notebook as it ends (with papermill's error banner if any), or
    again with the `banner` of a job cut off, its stored error; the error to end the job
    with when it cannot be saved (a full disk): the job was left running, then taken for
    lost."""
    try:
        if banner is not None:
            writer.add_banner(banner)
        elif writer.nb is not None:
            writer(writer.nb)
    except OSError as exc:
        return _not_saved(writer, exc, job_id, ran=True)
    return None


def _not_saved(writer: NotebookWriter, exc: OSError, job_id: int, ran: bool) -> dict[str, Any]:
    """The error of a job whose output notebook could not be saved: as it ended (`ran`: its
    cells did their work, only the notebook is lost), or at its first save, when none of
    its cells ran. Either way the workspace's history/ folder is the fix, not a cell."""
    log.error("job's output notebook %s could not be saved: %s", writer.path, exc)
    said = f"its output notebook could not be saved: {exc.strerror or exc}"
    fixed = rerun_error(job_id, output_not_saved_fix(exc, writer.path))
    if ran:  # a fix said anew (sends it left in doubt) says the rerun its own way, once
        fixed["fix"] += " if its notebook is needed"
        return {"ename": "OutputNotSaved", "evalue": said, **fixed}
    return {"ename": "OutputNotSaved", "evalue": f"{said}, so none of its cells ran", **fixed}


def _once_stored(job_id: int, write: Callable[[], T], what: str = "end") -> T:
    """`write` of a job's end (or `what` else it waits on), tried again while
    the store cannot be reached. Given up at once, a job that ran to its end stayed running,
    was reaped as worker lost and retried, repeating what it had done (a webhook's POST, a
    message)."""
    deadline = time.monotonic() + STORE_WAIT
    pause, told = 0.25, False
    while True:
        try:
            return write()
        except OperationalError as exc:
            if time.monotonic() + pause > deadline:
                raise
            if not told:
                log.warning(
                    "job %s: the store cannot be reached (%s): its %s is written once it answers",
                    job_id,
                    _first(exc),
                    what,
                )
                told = True
            time.sleep(pause)  # a backoff against the database, not a synchronisation
            pause = min(pause * 2, 2.0)


#: The errors of a call's job whose cells all ran without an answer its caller can take
#: (`unanswered`): its caller gets them as 502, never as a failed job's 422.
UNANSWERED = frozenset({"NoResponse", "InvalidResponse"})


def unanswered(result: Any, response_schema: dict[str, Any]) -> dict[str, Any] | None:
    """Why a call's job whose cells all ran leaves its caller without an answer, as the
    job's error (`ename`, `evalue`, `field`, `fix`): its recipe never called respond(), or
    answered with a status that carries no body, or a success off its response schema; None
    when its answer stands. The job ends failed with it, its fix the author's, and its
    caller gets its text as 502 (`server.calls.answer_for`), told to ask the recipe's admin."""
    response = (result or {}).get("response") if isinstance(result, dict) else None
    if not isinstance(response, dict) or "status" not in response:
        return _unanswered(
            "NoResponse",
            "the recipe ended without calling respond(), so its caller has no answer",
            "the recipe must call lpstudio.kernel.respond(body, status)",
        )
    status = response["status"]
    if not answer_status(status):
        return _unanswered(
            "InvalidResponse",
            f"the recipe answered with HTTP status {status!r}, which cannot carry a body or "
            "(202) reads as a call still running",
            "respond() with a status from 200 to 599 other than 202, 204 and 304",
        )
    checked = 200 <= status < 300 and response_schema  # the schema describes successes
    problem = first_problem(response_schema, response.get("body")) if checked else None
    if problem is not None:
        field, message = problem
        where = f" at the response field {field}" if field else ""
        return _unanswered(
            "InvalidResponse",
            f"the recipe answered off its response schema{where}: {message}",
            "make the recipe's respond() body fit trigger.response_schema",
            field,
        )
    return None


def _unanswered(ename: str, evalue: str, fix: str, field: str | None = None) -> dict[str, Any]:
    return {"ename": ename, "evalue": evalue, "field": field, "fix": fix}


def call_unanswered(job: Job, metadata: dict[str, Any], result: Any) -> dict[str, Any] | None:
    """`unanswered` for a bot's call (its trigger `callable`) against the response schema of
    the version it ran; None for any other job: nobody waits for its answer (a Test run, a
    rerun). A schema that cannot be read (a `$dynamicRef` leading nowhere) is the job's
    error all the same: the job still ends."""
    if job.trigger != "callable":
        return None
    trigger = metadata.get("trigger", {})
    try:
        return unanswered(result, dict(trigger.get("response_schema") or {}))
    except Exception as exc:
        return {"ename": type(exc).__name__, "evalue": str(exc)}


def final_result(store: Store, job: Job, writer: NotebookWriter, sends: bool) -> Any:
    """The job's result: its recipe's own (with the accounting of a send that failed,
    `lpstudio.kernel`); for a job that may have sent (`sends`: its recipe binds a
    connection) whose result accounts for no send (no `accepted` count), what its ledger
    says it sent, merged over what its recipe stored: the recipients it reached count all
    the same in `show` and on the dashboard, whether it was stopped, its kernel died, or it
    succeeded with a result of its own making; and the recipients its recipe said it was
    to send (`store.TO_SEND`) that it never reached count as `not_sent`. A recipe that binds
    no connection never has its ledger read."""
    result = writer.outputs()
    if sends and not isinstance((result or {}).get("accepted"), int):
        sent = store.ledger_result(job, result)
        if sent is not None:
            return {**(result or {}), **sent}
    return result


def execute_job(
    workspace: Workspace,
    store: Store,
    job_id: int,
    progress_bar: bool = False,
    pool: KernelPool | None = None,
    group: RunningJobs | None = None,
    in_turn: bool = False,
    credentials: Collection[str] = (),
    started: Callable[[Job], object] | None = None,
) -> Job:
    """Runs a queued (or claimed) job to a final state and returns its final row.

    Its kernel comes from `pool`, else from the pool an executor of this process holds
    for the workspace's settings, else it is started for the job. Ctrl-C and SIGTERM stop
    every job of the process; `group` stops this one with others (a scheduler's). With
    `in_turn`, a queued job starts only in its recipe's turn (its `concurrency`): else
    `NotItsTurn` is raised, the job left as it was; and a call only while its recipe is
    started: else `RecipeStopped`. `credentials`, lpstudio's own that the process holds
    (a server's Jupyter token, `Studio.credentials`), are masked in its output notebook,
    result and error as the workspace's secrets are: its kernel is never given one, but
    may find one all the same (the server's user's files). `started` is told the job
    once it started (its executor's log line).
    """
    from nbclient.exceptions import DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    job = store.job(job_id)
    try:
        recipe = parsed(store.version_notebook(job.version_id), job.recipe)
        output = output_path_for(workspace, job)
        stored = workspace.stored_path(output)
    except Exception as exc:  # a claimed job is never left running
        store.finish_job(job_id, FAILED, error={"ename": type(exc).__name__, "evalue": str(exc)})
        job_ends.notify()  # no longer ahead of the recipe's later jobs
        return store.job(job_id)
    total = cells_to_run(recipe.notebook, job.parameters)
    # A test run sends nothing: it neither waits for the recipe's turn nor holds it.
    limit = recipe.concurrency if in_turn and job.trigger != "test" else None
    if in_turn and job.trigger == "callable" and recipe_stopped(store, job.recipe):
        raise RecipeStopped(job)
    if not store.start_job(job_id, total, stored, running_limit=limit):
        job = store.job(job_id)
        if limit is not None and job.status == QUEUED:
            raise NotItsTurn(job, limit)
        return job  # cancelled while it waited
    if started is not None:
        started(job)

    beat = workspace.setting("jobs", "heartbeat_seconds")
    limit = deadline(workspace, job, recipe)
    watchdog = Watchdog(store, job_id, limit.seconds, beat)
    groups = [process_jobs, *([group] if group is not None else [])]
    for joined in groups:
        joined.add(watchdog)
    watchdog.start()
    kernel_managers: list[Any] = []

    def on_kernel(km: Any) -> None:
        kernel_managers.append(km)
        watchdog.attach(km)

    identity = {"id": job.id, "recipe": job.recipe, "trigger": job.trigger}
    writer = NotebookWriter(output, workspace.projects / job.recipe, identity)
    final: Job | None = None  # the job's final row, once this process wrote it
    status, error = SUCCEEDED, None
    finished = False  # papermill ran the notebook to its end, or to a cell's own error
    between_cells = False  # stopped before a cell started
    kernels: KernelPool | None = None
    sends = False  # its recipe may send through a connection, and so claim in its ledger
    try:
        connections = Connections(store, workspace.key_path, workspace.root)
        writer.secrets = frozenset(connections.secret_values() | store.secrets | set(credentials))
        bound = store.version_settings(job.version_id).get("connections", {})
        sends = bool(bound) and job.trigger != "test"  # a test run's actions send nothing
        runtime = {
            "workspace": str(workspace.root),
            "store_url": workspace.store_url,
            "ledger": store.job_ledger(job),
            # What every job of the recipe sends once (`once_per`); hashed, as a recipe's
            # name can be longer than a ledger's. A renamed recipe starts a fresh one.
            "recipe_ledger": "recipe:" + hashlib.sha256(job.recipe.encode()).hexdigest(),
            # The kernel ends itself once the job is no longer this worker's (`_fence`).
            "fence": {"worker": worker_id(), "every": beat},
            "connections": {
                slot: dict(
                    zip(("type", "config"), connections.runnable(name), strict=True), name=name
                )
                for slot, name in bound.items()
            },
        }
        # As it was sent: `event` shows it masked where it holds a secret (0014); a
        # webhook's is sealed with its delivery's headers and query (`Studio.kept_event`).
        event, delivery = (
            connections.vault.open_sealed(job.sealed_event)
            if job.sealed_event
            else (job.event, None)
        )
        context = {
            "job_id": job.id,
            "recipe": job.recipe,
            "parameters": job.parameters,
            "event": event,
            **({"delivery": delivery} if delivery is not None else {}),  # else JobContext's
            "test_mode": job.trigger == "test",
            # The version's trigger: `lp.latest_events` applies its conditions.
            "trigger": recipe.metadata.get("trigger"),
            "runtime": runtime,
        }
        # A secret's beginning in what the job was given is no news to who gave it.
        given = given_text(job.parameters, event, delivery, hiding=writer.secrets)
        writer.secrets = Secrets(writer.secrets, given)
        cwd = (workspace.projects / job.recipe).parent
        if not cwd.is_dir():
            raise FolderGone(workspace, job, cwd)
        kernels = pool or active(workspace.pool_settings())
        run_notebook(
            recipe.notebook,
            as_declared(recipe.schema, job.parameters),
            # how long the job waits for its kernel; the pool's own starts wait their own
            start_timeout=workspace.setting("kernels", "start_timeout"),
            progress_bar=progress_bar,
            resources={"metadata": {"path": str(cwd)}},
            job_context=json.dumps(context),
            on_cell=watchdog.progress,
            before_cell=watchdog.checkpoint,
            on_kernel=on_kernel,
            reports_deaths=True,  # its stop, or its error, says its kernel died
            writer=writer,
            pool=kernels or False,
            max_output_mb=workspace.setting("jobs", "max_output_mb"),
        )
        finished = True
    except JobStopped:
        between_cells = True
    except PapermillExecutionError as exc:
        finished = True
        status = FAILED
        error = {
            "cell": exc.cell_index,
            "execution_count": exc.exec_count,
            "ename": exc.ename,
            "evalue": exc.evalue,
            "traceback": list(exc.traceback),
            **writer.error_details(exc.exec_count),
        }
    except KeyboardInterrupt:  # Python code that is not the CLI: still a true final state
        watchdog.interrupt(Stop("cancelled", "cancelled by SIGINT"))
        raise
    except FolderGone as exc:
        status, error = FAILED, exc.error
    except DeadKernelError:
        status = FAILED
        # nbclient's "Kernel died" says no more: `_explained` says when, why, and the fix
        error = {"ename": "DeadKernelError", "evalue": "the recipe's kernel died"}
    except Exception as exc:  # anything else is still a final state, never "running"
        status = FAILED
        error = {"ename": type(exc).__name__, "evalue": str(exc)}
        if isinstance(exc, OSError) and writer.nb is not None and not writer.saved:
            error = _not_saved(writer, exc, job_id, ran=False)  # its first save (`Saves`)
            writer.nb = None  # never written: nothing to save again, as for a job not run
    finally:
        ended = time.monotonic()  # its end is dated so, however long the store takes
        watchdog.finish()
        for joined in groups:
            joined.discard(watchdog)
        if not finished:  # at once: nothing of a stopped job runs once its final state is set
            for km in kernel_managers:
                kill_kernel(km)
        try:
            stop = None if finished else watchdog.stop  # a stop after the end changes nothing
            mine = Job.worker == worker_id()  # never write over a job another worker took
            if stop is not None and stop.reason == "lost":
                log.warning(
                    "job %s is no longer this process's to run (taken for lost while this "
                    "process gave no heartbeat, or by another worker): stopped, nothing "
                    "written; `lpstudio show %s` says what became of it",
                    job_id,
                    job_id,
                )
            elif (
                stop is not None and stop.reason == "requeue" and not watchdog.acted
            ):  # nothing it did reached the outside: another worker runs it whole
                if _once_stored(job_id, lambda: store.requeue(job_id, mine)):
                    output.unlink(missing_ok=True)  # the cut run's, read as failed
            else:
                done = watchdog.cells_done
                if stop is not None:
                    # A job its scheduler's stop cut off after cells ran ends, as one whose
                    # worker vanished does: run again in full, a cell's POST or written row
                    # would happen twice (its retry, if the recipe has retries, or a rerun).
                    status = CANCELLED if stop.reason == "cancelled" else FAILED
                    error = {"ename": _STOP_NAMES.get(stop.reason, "Cancelled")}
                    error["evalue"] = stop.detail
                    if stop.reason == "timeout":
                        error["evalue"] += f" ({limit.whose})"
                if error is not None and not finished:
                    # papermill ends a cell that was cut off too (`cell_complete`): it is the last
                    # one counted, unless the job stopped between cells or before any started.
                    if between_cells or not done:
                        error["cell"] = None
                        if stop is not None:
                            error["evalue"] += f", before cell {done + 1} started"  # from 1
                    else:
                        error["cell"] = done - 1
                        done -= 1
                        cells = writer.nb.cells if writer.nb is not None else []
                        if error["cell"] < len(cells):  # the In [N] marking it, as an
                            # exception's error says (`describe_error`)
                            error["execution_count"] = cells[error["cell"]].get("execution_count")
                    error.setdefault("traceback", [])
                if error is not None:
                    _explained(error, stop, limit, job_id)
                # A job cut off gets its reason atop its notebook once its end is stored,
                # from the error stored: the end may add to it (sends left in doubt).
                cut_off = error is not None and not finished
                unsaved = _saved_last(writer, None, job_id)
                if unsaved is not None and error is None:  # its end is written, saying why
                    status, error = FAILED, unsaved
                elif unsaved is not None:  # the cause it ended with stays its error
                    error["output"] = unsaved["evalue"]
                if finished and error is not None and error.get("cell") is not None:
                    done = min(done, error["cell"])  # papermill completes the failing cell too
                result = _once_stored(job_id, lambda: final_result(store, job, writer, sends))
                if status == SUCCEEDED:  # its end says whether its caller has an answer
                    error = call_unanswered(job, recipe.metadata, result)
                    status = SUCCEEDED if error is None else FAILED
                final = _once_stored(
                    job_id,
                    lambda: store.finish_job(
                        job_id,
                        status,
                        mine,
                        error=scrub(error, writer.secrets),
                        result=result,
                        cells_done=done,
                        ended_ago=time.monotonic() - ended,
                        # A job that failed before papermill wrote anything has no output
                        # notebook.
                        **({"output_path": None} if writer.nb is None else {}),
                    ),
                )
                if cut_off and unsaved is None and final is not None:
                    _saved_last(
                        writer, final.error, job_id
                    )  # a failure is logged: its end is stored
            if final is None:
                final = _once_stored(job_id, lambda: store.job(job_id))
        finally:  # the rest comes after the final row, off the job's critical path
            job_ends.notify()  # the recipe's next job may start
            for km in kernel_managers:
                end_kernel(km, graceful=finished)
                if kernels is not None:
                    kernels.replenish(km.kernel_name)
    return final
