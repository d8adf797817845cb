"""The one code path that runs a job, whichever way it was started.

It takes a queued job from the store, runs its recipe version through papermill with the
`lpstudio` engine, and always leaves the job in a true final state: succeeded, failed
(cell error, kernel died, timeout, internal error) or cancelled (Ctrl-C, SIGTERM,
`lpstudio cancel`). A watchdog thread heartbeats the job, enforces its timeout and
notices cancel requests; it stops a job by killing the kernel's process group.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
from jupyter_core.utils import run_sync
from nbformat.v4.rwbase import split_lines, strip_transient

from .connections import Connections, scrub, scrub_text
from .kernel import RESPONSE_MIME, RESULT_MIME
from .models import Job
from .pool import KernelPool, active
from .recipe import parsed
from .store import CANCELLED, FAILED, SUCCEEDED, Store
from .workspace import Workspace

log = logging.getLogger("lpstudio.runner")

ENGINE_NAME = "lpstudio"
PROGRESS_EVERY = 1.0  # seconds between two progress writes of a running job


@dataclass
class Stop:
    """Why a job was stopped: 'timeout', 'cancelled' or 'requeue'."""

    reason: str
    detail: str


class Watchdog(threading.Thread):
    """Heartbeats a running job, and kills its kernel on a timeout or a cancel request."""

    def __init__(self, store: Store, job_id: int, timeout: float | None, beat: float) -> None:
        super().__init__(name=f"lpstudio-watchdog-{job_id}", daemon=True)
        self.store = store
        self.job_id = job_id
        self.timeout = timeout
        self.beat = beat
        self.deadline = time.monotonic() + timeout if timeout else None
        self.stop: Stop | None = None
        self._km: Any = None
        self._done = threading.Event()

    def attach(self, km: Any) -> None:
        self._km = km
        if self.stop is not None:  # interrupted while the kernel was starting
            kill_kernel(km)

    def run(self) -> None:
        while True:
            wait = self.beat
            if self.deadline is not None:
                wait = max(0.0, min(wait, self.deadline - time.monotonic()))
            if self._done.wait(wait):
                return
            if self.deadline is not None and time.monotonic() >= self.deadline:
                self.stop = Stop("timeout", f"timed out after {self.timeout:g} s")
            else:
                try:
                    if self.store.heartbeat(self.job_id):
                        self.stop = Stop("cancelled", "cancelled by request")
                except Exception:  # a busy store must not kill the watchdog
                    log.exception("heartbeat of job %s failed", self.job_id)
            if self.stop is not None:
                kill_kernel(self._km)
                return

    def finish(self) -> None:
        self._done.set()
        _active.discard(self)

    def interrupt(self, detail: str, reason: str = "cancelled") -> None:
        """Stops the job now: it ends cancelled (a signal), or goes back to the queue
        (`reason="requeue"`, a scheduler shutting down)."""
        self.stop = Stop(reason, detail)
        kill_kernel(self._km)


_active: set[Watchdog] = set()


def interrupt_running_jobs(detail: str) -> None:
    """Cancels every job this process is running: for Ctrl-C and SIGTERM."""
    for watchdog in list(_active):
        watchdog.interrupt(detail)


def kill_kernel(km: Any) -> None:
    """Kills a kernel and anything it started (its own process group), at once."""
    process = getattr(getattr(km, "provisioner", None), "process", None)
    if process is None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


# Finishes the shutdown of killed kernels off the job's critical path; its thread is joined
# at interpreter exit, so no connection file is left behind.
_reaper = ThreadPoolExecutor(1, thread_name_prefix="lpstudio-reaper")


def shutdown_kernel(km: Any) -> None:
    """Ends a job's kernel: each kernel serves one job and is then discarded."""
    kill_kernel(km)
    process = getattr(getattr(km, "provisioner", None), "process", None)
    if process is not None:
        process.wait(timeout=10)
    run_sync(km.cleanup_resources)()


def reap_kernel(km: Any) -> None:
    try:
        shutdown_kernel(km)
    except Exception:
        log.exception("could not clean up kernel %s", getattr(km, "kernel_id", "?"))


class NotebookWriter:
    """Writes a job's output notebook, scrubbed of secrets, atomically, each time it is
    saved; keeps the last notebook so the runner can add to it after a failure."""

    def __init__(self, path: Path, secrets: set[str], input_path: Path) -> None:
        self.path = path
        self.secrets = frozenset(secrets)
        self.input_path = input_path
        self.nb: Any = None

    def __call__(self, nb: Any) -> None:
        self.nb = nb
        # papermill records the paths it was given; it is given the recipe's stored version
        # (a notebook, not a file), so the recipe's file stands for the input.
        recorded = nb.metadata.setdefault("papermill", {})
        recorded["input_path"] = str(self.input_path)
        recorded["output_path"] = str(self.path)
        # The scrubbed copy is ours: nbformat's JSON layout is applied to it in place,
        # without the deep copy and schema validation of `nbformat.write` (papermill's
        # notebook is valid by construction), which cost more than a short job's cells.
        clean = node_copy(nb, self.secrets)
        text = json.dumps(
            strip_transient(split_lines(clean)),
            indent=1,
            sort_keys=True,
            separators=(",", ": "),
            ensure_ascii=False,
        )
        replace_file(self.path, text + "\n")

    def add_banner(self, error: dict[str, Any]) -> None:
        """Puts the reason a job stopped at the top of its partial output notebook."""
        if self.nb is None:
            return
        where = f" in cell {error['cell']}" if error.get("cell") is not None else ""
        banner = nbformat.v4.new_markdown_cell(
            f'<span style="color:red; font-size:2em;">lpstudio: {error["evalue"]}{where}</span>'
        )
        banner.metadata["tags"] = ["lpstudio-error"]
        self.nb.cells.insert(0, banner)
        self(self.nb)

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


def node_copy(data: Any, secrets: frozenset[str]) -> Any:
    """A deep copy of a notebook (or any part of one) with secrets masked in its strings."""
    if isinstance(data, dict):
        return nbformat.NotebookNode({k: node_copy(v, secrets) for k, v in data.items()})
    if isinstance(data, list):
        return [node_copy(item, secrets) for item in data]
    if isinstance(data, str) and secrets:
        return scrub_text(data, secrets)
    return data


def write_notebook(nb: Any, path: Path) -> None:
    """Writes a notebook atomically: readers see the old file or the new, never half."""
    replace_file(path, nbformat.writes(nb) + "\n")


def replace_file(path: Path, text: str) -> None:
    """Writes a file atomically, through a temporary file beside it."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf8")
    os.replace(tmp, path)


def output_path_for(workspace: Workspace, job: Job) -> Path:
    """history/<date>/<job id>-<recipe name>.ipynb: browsable in JupyterLab by day."""
    stem = Path(job.recipe).stem
    return workspace.history / job.created_at.strftime("%Y-%m-%d") / f"{job.id}-{stem}.ipynb"


def execute_job(
    workspace: Workspace,
    store: Store,
    job_id: int,
    progress_bar: bool = False,
    pool: KernelPool | None = None,
) -> Job:
    """Runs a queued job to a final state and returns its final row.

    Its kernel comes from `pool`, else from the pool an executor of this process holds
    for the workspace's settings, else it is started for the job.
    """
    import papermill
    from nbclient.exceptions import DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    job = store.job(job_id)
    recipe = parsed(store.version_notebook(job.version_id), job.recipe)
    output = output_path_for(workspace, job)
    output.parent.mkdir(parents=True, exist_ok=True)
    total = len(recipe.notebook.cells) + (1 if job.parameters else 0)
    if not store.start_job(job_id, total, str(output.relative_to(workspace.root))):
        return store.job(job_id)  # cancelled while it waited

    timeout = job.timeout or recipe.timeout
    beat = float(workspace.setting("jobs", "heartbeat_seconds", 2))
    watchdog = Watchdog(store, job_id, timeout, beat)
    _active.add(watchdog)
    watchdog.start()
    kernel_managers: list[Any] = []

    def on_kernel(km: Any) -> None:
        kernel_managers.append(km)
        watchdog.attach(km)

    cells_done = [0]
    reported = [0.0]

    def on_cell(done: int, cells: int) -> None:
        # The first cell at once (a lost job that ran a cell is never run again), then
        # at most one write a second; finish_job writes the final count.
        cells_done[0] = done
        now = time.monotonic()
        if done == 1 or now - reported[0] >= PROGRESS_EVERY:
            reported[0] = now
            store.update_job(job_id, cells_done=done, cells_total=cells)

    connections = Connections(store, workspace.key_path, workspace.root)
    secrets = connections.secret_values()
    writer = NotebookWriter(output, secrets, workspace.projects / job.recipe)
    status, error = SUCCEEDED, None
    kernels: KernelPool | None = None
    try:
        bound = store.version_settings(job.version_id).get("connections", {})
        runtime = {
            "workspace": str(workspace.root),
            "store_url": workspace.store_url,
            "ledger": f"job:{store.root_job(job)}",
            "connections": {
                slot: dict(
                    zip(("type", "config"), connections.values(name), strict=True), name=name
                )
                for slot, name in bound.items()
            },
        }
        context = {
            "job_id": job.id,
            "recipe": job.recipe,
            "parameters": job.parameters,
            "event": job.event,
            "test_mode": job.trigger == "test",
            "runtime": runtime,
        }
        cwd = (workspace.projects / job.recipe).parent
        kernels = pool or active(workspace.pool_settings())
        papermill.execute_notebook(
            recipe.notebook,
            None,
            parameters=job.parameters,
            engine_name=ENGINE_NAME,
            progress_bar=progress_bar,
            resources={"metadata": {"path": str(cwd)}},
            job_context=json.dumps(context),
            on_cell=on_cell,
            on_kernel=on_kernel,
            writer=writer,
            pool=kernels or False,
        )
    except PapermillExecutionError as exc:
        status = FAILED
        error = {
            "cell": exc.cell_index,
            "execution_count": exc.exec_count,
            "ename": exc.ename,
            "evalue": exc.evalue,
            "traceback": list(exc.traceback),
        }
    except KeyboardInterrupt:  # Python code that is not the CLI: still a true final state
        watchdog.stop = Stop("cancelled", "cancelled by SIGINT")
        raise
    except DeadKernelError as exc:
        status = FAILED
        error = {"ename": "DeadKernelError", "evalue": "kernel died", "detail": str(exc)}
    except Exception as exc:  # anything else is still a final state, never "running"
        status = FAILED
        error = {"ename": type(exc).__name__, "evalue": str(exc)}
    finally:
        watchdog.finish()
        for km in kernel_managers:
            kill_kernel(km)  # at once: nothing of the job runs once its final state is set
            _reaper.submit(reap_kernel, km)  # the rest is off the job's critical path
        stop = watchdog.stop
        if stop is not None and stop.reason == "requeue":
            store.requeue(job_id)
        else:
            if stop is not None:
                status = CANCELLED if stop.reason == "cancelled" else FAILED
                error = {"ename": "Timeout" if stop.reason == "timeout" else "Cancelled"}
                error["evalue"] = stop.detail
            if error is not None and "cell" not in error:
                # papermill completes the interrupted cell too: it is the last one reported,
                # and it did not run to its end.
                error["cell"] = cells_done[0] - 1 if cells_done[0] else None
                cells_done[0] = max(cells_done[0] - 1, 0)
                error.setdefault("traceback", [])
                writer.add_banner(error)
            elif writer.nb is not None:
                writer(writer.nb)  # the final state, with papermill's error banner if any
            store.finish_job(
                job_id,
                status,
                error=scrub(error, secrets),
                result=writer.outputs(),
                cells_done=cells_done[0],
            )
        if kernels is not None:
            for km in kernel_managers:
                kernels.replenish(km.kernel_name)
    return store.job(job_id)
