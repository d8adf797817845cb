"""Faults around a running job: a stop that lands while its kernel starts, a failure
before its first cell, a scheduler that shuts down beside other executors, progress that
must not go stale, and two reapers racing a scheduler's claim.

Each test waits on the store's state (or on a file a kernel writes), never on sleeps.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import nbformat
import papermill.execute
import pytest
from click.testing import Result
from cryptography.fernet import Fernet
from jupyter_client.asynchronous.client import AsyncKernelClient
from jupyter_client.provisioning import LocalProvisioner
from papermill.engines import NotebookExecutionManager
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from lpstudio.engine import StudioEngine
from lpstudio.executor import LocalExecutor
from lpstudio.models import Job, utcnow
from lpstudio.runner import RunningJobs, execute_job
from lpstudio.store import FINAL_STATES, Store, worker_id
from lpstudio.studio import Studio
from lpstudio.workspace import Workspace

from .conftest import (
    LPSTUDIO,
    full_pool,
    gone,
    run_json,
    scheduler_running,
    set_job,
    wait_for,
    write_recipe,
)


def append(path: Path, line: str) -> str:
    """A cell that appends a line to a file: proof that the cell ran."""
    return f"open({str(path)!r}, 'a').write({line + chr(10)!r})"


def wait_file(path: Path) -> str:
    """A cell that waits until the test creates `path`."""
    return f"import os, time\nwhile not os.path.exists({str(path)!r}):\n    time.sleep(0.01)"


def configure(ws: Path, **values: float) -> None:
    """Sets keys that lpstudio.toml already has (heartbeat_seconds, pool_size...)."""
    config = ws / "lpstudio.toml"
    lines = config.read_text().splitlines()
    for key, value in values.items():
        lines = [f"{key} = {value}" if line.startswith(f"{key} =") else line for line in lines]
    config.write_text("\n".join(lines) + "\n")


def queue_webhook_job(studio: Studio, recipe: str) -> Job:
    """A job of a webhook event: the scheduler's to run."""
    found = studio.recipe(recipe)
    version = studio.store.snapshot(
        found.name, found.canonical_json, {"parameters": {}, "connections": {}}, "alice"
    )
    return studio.store.create_job(
        recipe=found.name, version_id=version, trigger="webhook", user="alice", attempt=1
    )


# -- 1. a stop that lands while the kernel starts ---------------------------------------------


def test_a_timeout_during_kernel_start_runs_no_cell(ws: Path, tmp_path: Path) -> None:
    lines = tmp_path / "lines"
    write_recipe(ws, "p/two", cells=(append(lines, "one"), append(lines, "two")))
    code, job = run_json("run", "p/two", "--timeout", "0.05", "--workspace", str(ws))
    assert not lines.exists(), "a cell ran after the job had timed out"
    assert code == 1
    assert job["status"] == "failed" and job["error"]["ename"] == "Timeout"
    said = "timed out after 0.05 s (the job's own timeout), before cell 1 started"
    assert job["error"]["evalue"] == said
    assert job["error"]["fix"].startswith("rerun it with a longer timeout")
    assert job["error"]["cell"] is None
    assert job["progress"] == {"done": 0, "total": 3}
    nb = nbformat.read(job["output_path"], as_version=4)
    assert f"lpstudio: {said}<br>fix: rerun it with a longer timeout" in nb.cells[0].source


def watching(job_id: int) -> bool:
    """Whether the job's watchdog still watches (it ends its watch once it saw a stop)."""
    name = f"lpstudio-watchdog-{job_id}"
    return any(t.name == name and t.is_alive() for t in threading.enumerate())


class GatedLaunch:
    """Holds every kernel launch of this process until `open()`: a kernel that is starting
    but has no process yet, for as long as the test wants. Records the launched pids."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.waiting = threading.Event()
        self.pids: list[int] = []
        self._open = threading.Event()
        launch = LocalProvisioner.launch_kernel

        async def gated(provisioner: LocalProvisioner, cmd: list[str], **kw: Any) -> Any:
            self.waiting.set()
            await asyncio.get_running_loop().run_in_executor(None, self._open.wait)
            info = await launch(provisioner, cmd, **kw)
            assert provisioner.process is not None
            self.pids.append(provisioner.process.pid)
            return info

        monkeypatch.setattr(LocalProvisioner, "launch_kernel", gated)

    def open(self) -> None:
        self._open.set()


def test_a_cancel_while_the_kernel_starts_runs_no_cell_and_kills_the_kernel(
    ws: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = tmp_path / "lines"
    write_recipe(ws, "p/slow", cells=(append(lines, "one"), append(lines, "two")))
    configure(ws, heartbeat_seconds=0.1, pool_size=0)  # each job starts its own kernel
    launches = GatedLaunch(monkeypatch)
    with Studio.open(ws, user="alice") as studio:
        job, finished = studio.dispatch("p/slow")
        try:
            assert launches.waiting.wait(60), "the kernel's launch never began"
            studio.cancel(job.id)

            # The launch is held, so papermill cannot end the watch: only the cancel can.
            wait_for(lambda: not watching(job.id), what="the watchdog to see the cancel")
        finally:
            launches.open()  # the kernel starts only now, after the job was cancelled
        done = finished.result(timeout=120)
    assert not lines.exists(), "a cell ran after the job was cancelled"
    assert done.status == "cancelled"
    assert done.error["evalue"] == "cancelled by request, before cell 1 started"
    assert done.cells_done == 0
    nb = nbformat.read(ws / done.output_path, as_version=4)  # papermill's metadata too
    ran = [cell.metadata.papermill for cell in nb.cells if "papermill" in cell.metadata]
    assert [cell["status"] for cell in ran] == ["pending"] * 3  # its parameters cell too
    assert nb.metadata.papermill["exception"] is True
    (pid,) = launches.pids
    wait_for(lambda: gone(pid), what="the end of the kernel started after the cancel")


class GatedReady:
    """Holds every kernel client of this process before it waits for its kernel's first
    reply, until `open()`: a kernel whose process runs but that has not answered yet."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.waiting = threading.Event()
        self._open = threading.Event()
        ready = AsyncKernelClient.wait_for_ready

        async def gated(client: AsyncKernelClient, timeout: float | None = None) -> None:
            self.waiting.set()
            await asyncio.get_running_loop().run_in_executor(None, self._open.wait)
            await ready(client, timeout=timeout)

        monkeypatch.setattr(AsyncKernelClient, "wait_for_ready", gated)

    def open(self) -> None:
        self._open.set()


def test_a_cancel_that_kills_a_starting_kernel_logs_no_dead_kernel(
    ws: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The cancel kills the kernel before it ever answered: nbclient's "Kernel died before
    replying to kernel_info" is the stop's doing, not an error of the job to log."""
    lines = tmp_path / "lines"
    write_recipe(ws, "p/slow", cells=(append(lines, "one"),))
    configure(ws, heartbeat_seconds=0.1, pool_size=0)  # each job starts its own kernel
    ready = GatedReady(monkeypatch)
    caplog.set_level(logging.INFO)
    with Studio.open(ws, user="alice") as studio:
        job, finished = studio.dispatch("p/slow")
        try:
            assert ready.waiting.wait(60), "the kernel never started"
            studio.cancel(job.id)

            # It ends its watch once it killed the kernel.
            wait_for(lambda: not watching(job.id), what="the watchdog to see the cancel")
        finally:
            ready.open()  # the client finds its kernel dead
        done = finished.result(timeout=120)
    assert not lines.exists(), "a cell ran after the job was cancelled"
    assert done.status == "cancelled"
    assert done.error["evalue"] == "cancelled by request, before cell 1 started"
    died = [r.getMessage() for r in caplog.records if "Kernel died" in r.getMessage()]
    assert died == [], died


def test_a_stop_landing_after_the_last_cell_keeps_the_job_s_outcome(
    studio: Studio, ws: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scheduler that stops just as a job's last cell has run must not requeue it: the
    job would run (and send) twice."""
    lines = tmp_path / "lines"
    write_recipe(ws, "p/quick", cells=(append(lines, "ran"),))
    claimed = RunningJobs()
    complete = NotebookExecutionManager.notebook_complete

    def stop_then_complete(nb_man: NotebookExecutionManager, **kwargs: Any) -> None:
        claimed.interrupt("scheduler stopped before the job finished", reason="requeue")
        complete(nb_man, **kwargs)

    monkeypatch.setattr(NotebookExecutionManager, "notebook_complete", stop_then_complete)
    job = queue_webhook_job(studio, "p/quick")
    done = execute_job(studio.workspace, studio.store, job.id, group=claimed)
    assert (done.status, done.error, done.cells_done) == ("succeeded", None, 2)
    assert lines.read_text() == "ran\n"


def test_a_job_stopped_before_it_asks_for_a_kernel_takes_none(
    studio: Studio, ws: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cancel that lands while papermill prepares the notebook: no kernel is taken from
    the pool or started (a cold start costs the machine 0.7 s), and no cell runs."""
    lines = tmp_path / "lines"
    write_recipe(ws, "p/quick", cells=(append(lines, "ran"),))
    claimed = RunningJobs()
    prepare = papermill.execute.prepare_notebook_metadata

    def cancel_then_prepare(*args: Any, **kwargs: Any) -> Any:
        claimed.interrupt("cancelled by request")
        return prepare(*args, **kwargs)

    asked: list[str] = []
    monkeypatch.setattr(papermill.execute, "prepare_notebook_metadata", cancel_then_prepare)
    monkeypatch.setattr(StudioEngine, "_kernel_manager", lambda *args: asked.append("kernel"))
    job = queue_webhook_job(studio, "p/quick")
    done = execute_job(studio.workspace, studio.store, job.id, group=claimed)
    assert (done.status, done.cells_done, asked) == ("cancelled", 0, [])
    assert done.error["evalue"] == "cancelled by request, before cell 1 started"
    assert not lines.exists()


# -- 2. a failure before the first cell -------------------------------------------------------


def test_a_job_whose_secrets_cannot_be_read_fails_with_the_reason(
    studio: Studio, ws: Path, tmp_path: Path
) -> None:
    lines = tmp_path / "lines"
    write_recipe(ws, "p/crm", cells=(append(lines, "one"),))
    studio.connections.add("crm", "http", {"token": "s3cret-token"}, "alice")
    studio.start("p/crm")
    job = queue_webhook_job(studio, "p/crm")  # an event came in
    (ws / "secret.key").write_bytes(Fernet.generate_key())  # then the key was replaced
    with scheduler_running(studio):
        wait_for(
            lambda: studio.job(job.id).status in FINAL_STATES, timeout=30, what="the job's end"
        )
    ended = studio.job(job.id)
    assert ended.status == "failed" and ended.error["ename"] == "LpstudioError"
    assert "cannot be decrypted" in ended.error["evalue"]
    assert ended.output_path is None  # no output notebook was written
    assert not lines.exists()


@pytest.mark.parametrize("forked", [True, False], ids=["forked", "cold"])
def test_a_queued_job_whose_recipe_folder_moved_fails_saying_so_before_taking_a_kernel(
    ws: Path,
    tmp_path: Path,
    cli: Callable[..., Result],
    monkeypatch: pytest.MonkeyPatch,
    forked: bool,
) -> None:
    """The job runs the version it names, in its recipe's folder: moved away while the job
    waited, a forked kernel could not move there and ended itself (the job said a dead
    kernel that may have run out of memory), a cold one failed on the folder's full path
    with no fix. Either way the job now fails before any kernel is taken, naming the folder
    and how to run it again."""
    lines = tmp_path / "lines"
    write_recipe(ws, "billing/r2", cells=(append(lines, "ran"),))
    if not forked:
        configure(ws, pool_size=0)
    taken: list[str] = []
    take = StudioEngine._kernel_manager

    def taking(*args: Any) -> Any:
        taken.append(args[0])
        return take(*args)

    monkeypatch.setattr(StudioEngine, "_kernel_manager", taking)
    with full_pool(ws) if forked else Studio.open(ws, user="alice") as studio:
        job = queue_webhook_job(studio, "billing/r2")
        (ws / "projects" / "billing").rename(ws / "projects" / "billing_tmp")
        done = execute_job(studio.workspace, studio.store, job.id)
        assert (done.status, done.cells_done, done.output_path) == ("failed", 0, None)
        assert done.error["ename"] == "RecipeFolderGone", done.error
        assert done.error["evalue"] == (
            "the recipe's folder projects/billing, where the job runs billing/r2.ipynb, is "
            "no longer there (moved, renamed or deleted since the job was queued)"
        )
        fix = f"move the folder back to projects/billing; then `lpstudio rerun {job.id}`"
        assert done.error["fix"] == fix
        assert (taken, lines.exists()) == ([], False)
        shown = cli("show", str(job.id))
        assert f"RecipeFolderGone: {done.error['evalue']}\n  fix: {fix}" in shown.output

        (ws / "projects" / "billing_tmp").rename(ws / "projects" / "billing")  # the fix
        rerun = studio.rerun(job.id)
    assert rerun.status == "succeeded", rerun.error
    assert lines.read_text() == "ran\n"


def test_the_scheduler_logs_a_job_it_could_not_run(
    studio: Studio, ws: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_recipe(ws, "p/hook")
    studio.start("p/hook")

    def store_down(*_: Any, **__: Any) -> bool:
        raise OperationalError("UPDATE jobs", {}, Exception("disk I/O error"))

    monkeypatch.setattr(studio.store, "start_job", store_down)  # the store fails mid-claim
    job = queue_webhook_job(studio, "p/hook")
    logged = f"scheduler failed on job {job.id}"
    with caplog.at_level(logging.ERROR, logger="lpstudio.scheduler"), scheduler_running(studio):
        wait_for(
            lambda: any(r.message == logged for r in caplog.records),
            timeout=30,
            what="the scheduler's log line",
        )
    (record,) = [r for r in caplog.records if r.message == logged]
    assert record.exc_info is not None and "disk I/O error" in str(record.exc_info[1])


# -- 3. a scheduler that stops beside other executors -------------------------------------------


def test_stopping_a_scheduler_stops_only_the_jobs_it_claimed(
    studio: Studio, ws: Path, tmp_path: Path
) -> None:
    gate, lines = tmp_path / "gate", tmp_path / "lines"
    write_recipe(
        ws,
        "p/both",
        cells=(append(lines, "started"), wait_file(gate), append(lines, "ended")),
        metadata={"title": "both", "concurrency": 2},
    )
    studio.start("p/both")
    manual, finished = studio.dispatch("p/both")  # Run now, on the server's own executor
    try:
        with scheduler_running(studio, grace=0):
            scheduled = queue_webhook_job(studio, "p/both")
            wait_for(
                lambda: lines.exists() and lines.read_text().count("started") == 2,
                what="both jobs in their waiting cell",
            )
        # Its cell ran (it wrote a line): failed, not put back to run that cell again.
        stopped = studio.job(scheduled.id)
        assert (stopped.status, stopped.error["ename"]) == ("failed", "WorkerStopped")
        assert studio.job(manual.id).status == "running"
    finally:
        gate.touch()
    done = finished.result(timeout=120)
    assert done.status == "succeeded", done.error
    assert lines.read_text().count("ended") == 1


# -- 4. progress ------------------------------------------------------------------------------


def test_progress_counts_every_finished_cell_while_a_long_last_cell_runs(
    studio: Studio, ws: Path, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    write_recipe(ws, "p/long", cells=("a = 1", "b = 2", wait_file(gate)))
    job, finished = studio.dispatch("p/long")
    try:
        # The kernel's start included: on a loaded machine it alone takes seconds.
        wait_for(lambda: studio.job(job.id).cells_done == 3, timeout=60, what="3 cells done")
        assert studio.job(job.id).cells_total == 4
    finally:
        gate.touch()
    done = finished.result(timeout=120)
    assert (done.status, done.cells_done) == ("succeeded", 4)


def test_a_worker_whose_job_was_given_away_stops_it_and_writes_nothing(
    ws: Path, tmp_path: Path
) -> None:
    """A worker whose heartbeat went silent (a frozen process, a store locked for a minute)
    had its job reaped and claimed by another: when it comes back it must not run on beside
    the new worker, nor write over the new worker's row."""
    lines, gate = tmp_path / "lines", tmp_path / "gate"
    write_recipe(ws, "p/given", cells=(wait_file(gate), append(lines, "twice")))
    configure(ws, heartbeat_seconds=0.1)
    with Studio.open(ws, user="alice") as studio:
        job, finished = studio.dispatch("p/given")
        wait_for(lambda: studio.job(job.id).cells_done == 1, what="the parameters cell")
        with studio.store.write() as s:  # reaped and requeued, then claimed by another host
            row = s.get_one(Job, job.id)
            row.worker, row.cells_done, row.heartbeat_at = "elsewhere:1", 0, utcnow()
        try:
            finished.result(timeout=60)  # it returns although its cell still waits
        finally:
            gate.touch()
        after = studio.job(job.id)
    assert not lines.exists(), "the job ran on after it was given away"
    assert (after.status, after.worker, after.cells_done) == ("running", "elsewhere:1", 0)
    assert after.error is None and after.finished_at is None


# -- 5. two reapers and a claim ---------------------------------------------------------------


@pytest.fixture
def stores(ws: Path) -> Iterator[Callable[[], Store]]:
    """Opens stores on the workspace's database, each as another process would."""
    opened: list[Store] = []

    def open_store() -> Store:
        opened.append(Store(Workspace.load(ws).store_url))
        return opened[-1]

    yield open_store
    for store in opened:
        store.close()


def test_a_late_reaper_never_requeues_a_job_another_scheduler_just_claimed(
    studio: Studio, ws: Path, stores: Callable[[], Store]
) -> None:
    write_recipe(ws, "p/lost")
    job = queue_webhook_job(studio, "p/lost")
    with studio.store.write() as s:  # a scheduler claimed it, then went silent
        row = s.get_one(Job, job.id)
        row.status, row.worker = "running", "elsewhere:1"
        row.started_at = row.heartbeat_at = utcnow() - timedelta(minutes=10)
    late, first = stores(), stores()
    looked, go_on = threading.Event(), threading.Event()

    def hold(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if statement == "BEGIN IMMEDIATE":  # the late reaper has read the job as lost
            looked.set()
            go_on.wait(60)

    event.listen(late.engine, "before_cursor_execute", hold)

    reaped: list[list[int]] = []
    reaper = threading.Thread(
        target=lambda: reaped.append(late.reap_lost_jobs(timedelta(seconds=60)))
    )
    reaper.start()
    try:
        assert looked.wait(60)
        assert first.reap_lost_jobs(timedelta(seconds=60)) == []  # requeued: no cell ran
        assert first.claim_job(job.id, running_limit=1)  # and claimed by a live scheduler
    finally:
        go_on.set()
        reaper.join(60)
    assert reaped == [[]]
    claimed = studio.job(job.id)
    assert (claimed.status, claimed.worker) == ("running", worker_id())


# -- 5b. jobs queued by a command or server, waiting for its workers ----------------------------


def test_a_job_queued_by_a_machine_that_died_fails_once_its_heartbeat_is_stale(ws: Path) -> None:
    """A server or command on another machine (or a container, or this machine before a
    reboot) queued a job and died: whether its process lives cannot be asked from here, so
    its silence decides, as for a running job."""
    write_recipe(ws, "p/orphan")
    with Studio.open(ws, user="alice") as studio:
        found = studio.recipe("p/orphan")
        version = studio.store.snapshot(found.name, found.canonical_json, {}, "alice")
        job = studio.store.create_job(
            recipe=found.name,
            version_id=version,
            trigger="manual",
            user="alice",
            worker="rebooted-host/0123abcd:4242",
        )
        # Just queued: alive for all anyone knows.
        assert studio.store.reap_lost_jobs(timedelta(seconds=60)) == []
        assert studio.job(job.id).status == "queued"
        # Silent for two minutes by the store's clock: its machine is gone.
        set_job(studio.store, job.id, heartbeat_at=studio.store.now() - timedelta(minutes=2))
    code, shown = run_json("show", str(job.id), "--workspace", str(ws))  # any command reaps
    assert code == 0 and shown["status"] == "failed"
    assert shown["error"]["ename"] == "WorkerLost"
    assert shown["error"]["evalue"].startswith(  # alive or not: nobody here can tell
        "worker lost: the process that queued this job gave no heartbeat for 60 s before it "
        "started ([jobs] stale_after_seconds)"
    )
    # Its fix reruns it, by its own id.
    assert shown["error"]["fix"].startswith(f"`lpstudio rerun {job.id}` runs it again"), shown


def test_a_running_job_whose_machine_died_ends_when_it_was_last_seen_not_when_reaped(
    ws: Path,
) -> None:
    """Killed hours ago (kill -9, a reboot), reaped now: its duration is the time it ran
    until its last heartbeat, not until somebody next opened the store."""
    write_recipe(ws, "p/orphan")
    with Studio.open(ws, user="alice") as studio:
        found = studio.recipe("p/orphan")
        version = studio.store.snapshot(found.name, found.canonical_json, {}, "alice")
        job = studio.store.create_job(
            recipe=found.name, version_id=version, trigger="manual", user="alice"
        )
        started = studio.store.now() - timedelta(hours=3)
        last_beat = started + timedelta(seconds=20)
        set_job(
            studio.store,
            job.id,
            status="running",
            worker="rebooted-host/0123abcd:4242",
            started_at=started,
            heartbeat_at=last_beat,
            cells_done=1,
        )
        assert studio.store.reap_lost_jobs(timedelta(seconds=60)) == [job.id]
        ended = studio.job(job.id)
    assert ended.status == "failed" and ended.error["ename"] == "WorkerLost"
    assert ended.finished_at == last_beat
    assert "gave no heartbeat for 60 s" in ended.error["evalue"], ended.error


def test_a_job_whose_live_process_went_silent_is_not_said_gone(ws: Path) -> None:
    """A scheduler stopped (SIGSTOP) past `stale_after_seconds` had its job failed as "the
    process running this job is gone", though it was alive: an operator told so may start a
    second scheduler beside one only paused."""
    from lpstudio.store import worker_id

    write_recipe(ws, "p/paused")
    with Studio.open(ws, user="alice") as studio:
        found = studio.recipe("p/paused")
        version = studio.store.snapshot(found.name, found.canonical_json, {}, "alice")
        job = studio.store.create_job(
            recipe=found.name, version_id=version, trigger="manual", user="alice"
        )
        beat = studio.store.now() - timedelta(seconds=90)
        set_job(
            studio.store,
            job.id,
            status="running",
            worker=worker_id(),  # this very process: alive
            started_at=beat,
            heartbeat_at=beat,
            cells_done=1,
        )
        assert studio.store.reap_lost_jobs(timedelta(seconds=60)) == [job.id]
        said = studio.job(job.id).error["evalue"]
    assert "is gone" not in said
    assert said.startswith("worker lost: the process running this job gave no heartbeat for 60 s")
    assert "stale_after_seconds" in said


def test_jobs_waiting_for_a_live_process_s_workers_stay_alive_and_are_never_reaped(
    ws: Path, tmp_path: Path
) -> None:
    """A server whose workers are all busy keeps its other jobs queued, for minutes maybe:
    it beats them as it beats running jobs, so no reaper takes them for lost."""
    gate = tmp_path / "gate"
    write_recipe(ws, "p/busy", cells=(wait_file(gate),))
    write_recipe(ws, "p/next")
    configure(ws, heartbeat_seconds=0.1)
    workspace = Workspace.load(ws)
    store = Store(workspace.store_url)
    executor = LocalExecutor(workspace, store, workers=1)
    try:
        with Studio(workspace, user="alice", executor=executor) as studio:
            assert_a_waiting_job_is_kept_alive(studio, gate)
    finally:
        store.close()


def assert_a_waiting_job_is_kept_alive(studio: Studio, gate: Path) -> None:
    """Dispatches p/busy (held until `gate` exists) then p/next, which waits for the one
    worker: silenced, its heartbeat comes back, no reaper takes it, and both then succeed."""
    busy, busy_done = studio.dispatch("p/busy")
    waiting, waiting_done = studio.dispatch("p/next")
    try:
        wait_for(lambda: studio.job(busy.id).status == "running", what="the first job")
        silent = studio.store.now() - timedelta(minutes=10)
        set_job(studio.store, waiting.id, heartbeat_at=silent)
        wait_for(
            lambda: studio.job(waiting.id).heartbeat_at > silent,
            what="a heartbeat of the waiting job",
        )
        assert studio.store.reap_lost_jobs(timedelta(seconds=60)) == []
        assert studio.job(waiting.id).status == "queued"
    finally:
        gate.touch()
    assert busy_done.result(timeout=120).status == "succeeded"
    assert waiting_done.result(timeout=120).status == "succeeded"


# -- 6. a webhook delivery that fails half-way -------------------------------------------------


def test_a_delivery_that_fails_half_way_queues_nothing_and_its_redelivery_all_once(
    studio: Studio, ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_recipe(ws, "hooks/lead", metadata={"title": "Lead", "trigger": {"kind": "webhook"}})
    hook = studio.webhook_id("hooks/lead.ipynb")
    delivery = ({"X-Shopify-Webhook-Id": "d-42"}, b'[{"n": 1}, {"n": 2}, {"n": 3}]')
    settle = studio.calls.settle

    def locked_once(*args: Any, **kwargs: Any) -> None:
        monkeypatch.setattr(studio.calls, "settle", settle)  # the next delivery goes through
        raise OperationalError("UPDATE idempotent_calls", {}, Exception("database is locked"))

    monkeypatch.setattr(studio.calls, "settle", locked_once)
    with pytest.raises(OperationalError):
        studio.receive_webhook(hook, *delivery)
    assert studio.jobs(recipe="hooks/lead") == []  # none of its events half-queued

    _, jobs, repeated = studio.receive_webhook(hook, *delivery)
    assert not repeated and sorted(job.event["n"] for job in jobs) == [1, 2, 3]
    _, again, repeated = studio.receive_webhook(hook, *delivery)
    assert repeated and [job.id for job in again] == [job.id for job in jobs]
    assert len(studio.jobs(recipe="hooks/lead")) == 3


# -- 7. a command running jobs, stopped by a signal ------------------------------------------


@pytest.mark.parametrize("command", ["rerun", "poll"])
def test_sigterm_on_a_command_running_jobs_cancels_them_and_exits_130(
    sandbox_ws: Path, sandbox: Any, tmp_path: Path, command: str
) -> None:
    """`lpstudio rerun` and `lpstudio poll` run their jobs as `lpstudio run` does: SIGTERM
    (a CI runner stopping, `timeout`) marks them cancelled and exits 130, as Ctrl-C does,
    never leaving a job running for the next command to fail as "worker lost"."""
    gate = tmp_path / "gate"
    poll = {"kind": "poll", "connection": "shopify", "trigger": "new_or_updated_abandoned_checkout"}
    metadata = {"title": "wait", "trigger": poll, "connections": {"shopify": {"type": "shopify"}}}
    write_recipe(sandbox_ws, "p/wait", cells=(wait_file(gate),), metadata=metadata)
    with Studio.open(sandbox_ws, user="alice") as studio:
        studio.start("p/wait")  # its poll starts from now
        if command == "poll":
            added = httpx.post(f"{sandbox.url}/_sandbox/shopify/checkouts", json=[{}, {}])
            assert added.status_code == 200, added.text
            args = ["poll", "p/wait"]
        else:
            gate.touch()
            args = ["rerun", str(studio.run("p/wait").id)]
            gate.unlink()
    proc = subprocess.Popen(
        [LPSTUDIO, *args, "--workspace", str(sandbox_ws)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    def waiting() -> list[Job]:
        with Studio.open(sandbox_ws, user="alice") as studio:
            return [job for job in studio.jobs(status="running") if job.cells_done >= 1]

    (running,) = wait_for(waiting, what="the command's job waiting in its cell")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    with Studio.open(sandbox_ws, user="alice") as studio:
        found = [job for job in studio.jobs(recipe="p/wait") if job.trigger == command]
        assert len(found) == (2 if command == "poll" else 1)
        assert {job.status for job in found} == {"cancelled"}, [job.error for job in found]
        assert studio.job(running.id).error["evalue"] == "cancelled by SIGTERM"


# -- 5. sends a job leaves unanswered -----------------------------------------------------


def test_a_job_cancelled_mid_request_says_its_sends_may_have_gone_out(
    studio: Studio, ws: Path, tmp_path: Path
) -> None:
    """A job stopped while its request was out left the request's ledger rows "sending":
    nobody was told, and the recipe's next job, finding them, could not tell them from a
    send another job had under way. Its final state now turns them uncertain and says so."""
    from sqlalchemy import select

    from lpstudio.models import Delivery

    claimed, gate = tmp_path / "claimed", tmp_path / "gate"
    claim = (
        "import lpstudio.kernel as lp\n"
        "lp.connection('files').connection.ledger.claim_many(['a', 'b'])\n"
        + append(claimed, "out")  # the request is out; its answer never comes
    )
    write_recipe(
        ws,
        "p/sender",
        cells=(claim, wait_file(gate)),
        metadata={"title": "sender", "connections": {"files": {"type": "csv_file"}}},
    )
    studio.connections.add("files", "csv_file", {"path": "rows.csv"}, "alice")
    job, finished = studio.dispatch("p/sender")
    try:
        wait_for(claimed.exists, what="the job's sends claimed")
        with studio.store.read() as s:
            assert set(s.scalars(select(Delivery.status))) == {"sending"}
        studio.cancel(job.id)
        done = finished.result(timeout=120)
    finally:
        gate.touch()

    assert done.status == "cancelled"
    assert done.error["uncertain_sends"] == 2, done.error
    assert "2 sends it began got no answer before it ended" in done.error["evalue"]
    assert done.error["evalue"].startswith("cancelled by request")  # why it ended comes first
    with studio.store.read() as s:
        rows = s.execute(select(Delivery.status, Delivery.job_id)).all()
    assert sorted(rows) == [("uncertain", job.id)] * 2


def test_a_job_that_left_sends_unanswered_did_not_succeed(studio: Studio, ws: Path) -> None:
    """Its cells ended well (a recipe that caught the connector's error) or it was cancelled
    while queued again (a scheduler shut down mid-request): its sends are uncertain all the
    same, and it says so."""
    from lpstudio.kernel.runtime import StoreLedger

    write_recipe(ws, "p/caught")
    ended = []
    for _ in range(2):
        job = queue_webhook_job(studio, "p/caught")
        StoreLedger(studio.store.url, f"job:{job.id}", job.id).claim_many([f"k{job.id}"])
        ended.append(job.id)
    assert studio.store.start_job(ended[0], 2, "out.ipynb")
    assert studio.store.finish_job(ended[0], "succeeded")
    studio.cancel(ended[1])

    caught, cancelled = (studio.job(job_id) for job_id in ended)
    assert (caught.status, caught.error["ename"]) == ("failed", "UnansweredSends")
    assert caught.error["evalue"].startswith("1 send it began got no answer")
    assert (cancelled.status, cancelled.error["uncertain_sends"]) == ("cancelled", 1)


def test_a_job_put_back_in_the_queue_leaves_no_send_under_way(studio: Studio, ws: Path) -> None:
    """Its claims stayed "sending" while it waited and ran again: every other job of the
    recipe took them for a send under way, waited for them and failed. Its next run's own
    claims are told apart, and its end reports the earlier ones."""
    from lpstudio.kernel.runtime import StoreLedger

    write_recipe(ws, "p/again")
    job = queue_webhook_job(studio, "p/again")
    assert studio.store.start_job(job.id, 2, "out.ipynb")
    mine = StoreLedger(studio.store.url, f"job:{job.id}", job.id)
    mine.claim_many(["k"])
    other = StoreLedger(studio.store.url, f"job:{job.id}", job.id + 1)
    assert other.sending(["k"]) == {"k": job.id}  # under way while it runs

    studio.store.requeue(job.id)
    assert other.sending(["k"]) == {}
    assert studio.store.start_job(job.id, 2, "out.ipynb")  # run again
    mine.claim_many(["k2"])

    assert other.sending(["k", "k2"]) == {"k2": job.id}
    assert other.claim_many(["k"])["k"]["status"] == "uncertain"
    assert studio.store.finish_job(job.id, "failed", error={"ename": "Timeout", "evalue": "t"})
    assert studio.job(job.id).error["uncertain_sends"] == 2


def test_a_job_whose_process_is_gone_leaves_no_send_under_way(studio: Studio, ws: Path) -> None:
    """A job killed with `kill -9` stays running until reaped: its claims were taken for
    sends under way, so another job of the recipe waited two minutes for them and then
    reported them "still being sent by another job". Its worker's process is gone from
    this machine: they are uncertain at once (never resent)."""
    from lpstudio.kernel.runtime import StoreLedger
    from lpstudio.store import worker_id

    write_recipe(ws, "p/killed")
    job = queue_webhook_job(studio, "p/killed")
    assert studio.store.start_job(job.id, 2, "out.ipynb")
    StoreLedger(studio.store.url, f"job:{job.id}", job.id).claim_many(["k"])
    other = StoreLedger(studio.store.url, f"job:{job.id}", job.id + 1)
    assert other.sending(["k"]) == {"k": job.id}  # under way while its process lives

    ended = subprocess.Popen(["true"])
    ended.wait()  # a process of this machine that has ended
    space = worker_id().rpartition(":")[0]
    set_job(studio.store, job.id, worker=f"{space}:{ended.pid}")
    assert other.sending(["k"]) == {}
    assert other.claim_many(["k"])["k"]["status"] == "uncertain"


# -- 8. the output notebook of a stopped job ----------------------------------------------------


@pytest.mark.parametrize("stop", ["timeout", "cancel", "kernel death"])
def test_a_stopped_job_s_output_notebook_marks_the_cut_off_cell_failed_as_papermill_does(
    studio: Studio, ws: Path, tmp_path: Path, stop: str
) -> None:
    """Its papermill metadata said every cell completed, the one cut off and those it never
    ran too: only lpstudio's banner told the truth. papermill marks the cell whose execution
    raised `failed`, leaves the cells after it `pending`, and marks the notebook's
    `exception`, as it would for this run."""
    started, gate = tmp_path / "started", tmp_path / "gate"
    cut_off = "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"  # the kernel dies
    if stop != "kernel death":
        cut_off = wait_file(gate)  # never created: only the stop ends the cell
    cells = ("a = 1", append(started, "in") + "\n" + cut_off, "b = 2")
    write_recipe(ws, "p/stopped", cells=cells)
    try:
        if stop == "cancel":
            job, finished = studio.dispatch("p/stopped")
            wait_for(started.exists, what="the job in its waiting cell")
            studio.cancel(job.id)
            done = finished.result(timeout=120)
        else:
            done = studio.run("p/stopped", timeout=5 if stop == "timeout" else None)
    finally:
        gate.touch()
    assert started.exists(), f"the job stopped before its cell started: {done.error}"
    ename = {"timeout": "Timeout", "cancel": "Cancelled", "kernel death": "DeadKernelError"}
    assert done.error["ename"] == ename[stop]
    assert (done.error["cell"], done.cells_done) == (2, 2)  # the job's row, as it was

    nb = nbformat.read(ws / done.output_path, as_version=4)
    ran = [cell.metadata.papermill for cell in nb.cells if "papermill" in cell.metadata]
    assert [cell["status"] for cell in ran] == ["completed", "completed", "failed", "pending"]
    assert [cell["exception"] for cell in ran] == [False, False, True, None]
    assert ran[2]["end_time"] is not None and ran[3]["start_time"] is None
    assert nb.metadata.papermill["exception"] is True


def test_a_run_stopped_between_cells_leaves_the_cells_it_never_ran_pending(
    tmp_path: Path,
) -> None:
    """A stop seen before a cell starts (`before_cell` raising: a timeout or a cancel that
    landed between two cells) ran no more cells: papermill's cleanup marked them all
    completed, with no exception, as if the run had ended."""
    notebook = tmp_path / "three.ipynb"
    cells = [nbformat.v4.new_code_cell(f"n = {n}") for n in range(3)]
    nbformat.write(nbformat.v4.new_notebook(cells=cells), notebook)
    checks = iter([None, None, None])  # before the kernel, cell 1, cell 2; then the stop

    def before_cell(cell: object) -> None:
        if next(checks, "stop") == "stop":
            raise RuntimeError("stopped")

    with pytest.raises(RuntimeError, match="stopped"):
        papermill.execute.execute_notebook(
            str(notebook),
            str(tmp_path / "out.ipynb"),
            engine_name="lpstudio",
            kernel_name="python3",
            progress_bar=False,
            before_cell=before_cell,
            pool=False,
        )

    nb = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    ran = [cell.metadata.papermill for cell in nb.cells]
    assert [cell["status"] for cell in ran] == ["completed", "completed", "pending"]
    assert ran[2]["start_time"] is None and ran[2]["end_time"] is None
    assert nb.metadata.papermill["exception"] is True
