"""A recipe's `concurrency` binds every job of it, whoever starts it: a call, Run now, a
rerun, `lpstudio run`, `Studio.run` (until now only the jobs schedulers claimed waited).

A job waits for its turn queued, holding no worker of its executor; Ctrl-C, SIGTERM and
`lpstudio cancel` end it while it waits, and a job that holds the turn in a dead worker is
reaped meanwhile. Each test waits on job rows, files a cell waits for, or the executor's
"waits for the turn" message, never on sleeps; real kernels, the real store.
"""

from __future__ import annotations

import _thread
import logging
import re
import signal
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import event

from lpstudio import executor as executors
from lpstudio import runner
from lpstudio.errors import WorkspaceError
from lpstudio.executor import LocalExecutor
from lpstudio.models import Job, utcnow
from lpstudio.runner import RunningJobs
from lpstudio.store import Store, worker_id
from lpstudio.studio import Studio
from lpstudio.workspace import Workspace

from .conftest import LPSTUDIO, set_job, wait_for, write_recipe
from .servers import serving
from .test_job_faults import configure, queue_webhook_job

#: A cell that holds the job until the test creates the file `gate-<n>` (or `gate-all`,
#: at the test's end whatever happened) in `folder`.
HOLD = """\
import os, time
gates = [os.path.join(folder, f"gate-{n}"), os.path.join(folder, "gate-all")]
while not any(os.path.exists(gate) for gate in gates):
    time.sleep(0.01)
"""
PARAMETERS = "n: int = 1\nfolder: str = ''"


def held_recipe(ws: Path, name: str, concurrency: int | None = None) -> None:
    metadata: dict[str, object] = {"title": name}
    if concurrency is not None:
        metadata["concurrency"] = concurrency
    write_recipe(ws, name, parameters=PARAMETERS, cells=(HOLD,), metadata=metadata)


@pytest.fixture
def gates(tmp_path: Path) -> Path:
    folder = tmp_path / "gates"
    folder.mkdir()
    return folder


@contextmanager
def released(gates: Path) -> Iterator[None]:
    """Opens every gate when the test ends, even failed: its studio can then close."""
    try:
        yield
    finally:
        (gates / "gate-all").touch()


@pytest.fixture
def turns(caplog: pytest.LogCaptureFixture) -> Callable[[], list[str]]:
    """The executor's "waits for the turn" messages, as they come."""
    caplog.set_level(logging.INFO, logger="lpstudio.executor.turns")
    return lambda: [r.getMessage() for r in caplog.records if r.name.endswith(".turns")]


def waits(turns: Callable[[], list[str]], job_id: int) -> str:
    """Waits until the executor said that job `job_id` waits for its recipe's turn."""
    return wait_for(
        lambda: next((m for m in turns() if m.startswith(f"job {job_id} waits")), None),
        what=f"job {job_id} to wait for its turn",
    )


def newest_job(studio: Studio, recipe: str, count: int) -> Job:
    """The newest job of `recipe`, once it has `count` jobs."""
    found = wait_for(
        lambda: (jobs := studio.jobs(recipe=recipe)) and len(jobs) >= count and jobs,
        what=f"job {count} of {recipe}",
    )
    return found[0]


@pytest.fixture
def fast(ws: Path) -> Path:
    """The workspace, beating (and so looking for a waiting job's turn) ten times a second."""
    configure(ws, heartbeat_seconds=0.1)
    return ws


@pytest.fixture
def executor_of(fast: Path, gates: Path) -> Iterator[Callable[[int], Studio]]:
    """Opens the workspace with a local executor of `workers` threads."""
    opened: list[tuple[Studio, Store]] = []

    def open_with(workers: int) -> Studio:
        workspace = Workspace.load(fast)
        store = Store(workspace.store_url)
        studio = Studio(workspace, user="alice", executor=LocalExecutor(workspace, store, workers))
        opened.append((studio, store))
        return studio

    with released(gates):
        yield open_with
    for studio, store in opened:
        studio.close()
        store.close()


def test_two_runs_of_a_recipe_in_two_threads_run_one_after_the_other(
    fast: Path, gates: Path, turns: Callable[[], list[str]]
) -> None:
    held_recipe(fast, "p/turns")
    with Studio.open(fast, user="alice") as studio, released(gates):
        ran: dict[int, Job] = {}

        def run(n: int) -> None:
            ran[n] = studio.run("p/turns", {"n": n, "folder": str(gates)})

        first = threading.Thread(target=run, args=(1,))
        first.start()
        wait_for(lambda: newest_job(studio, "p/turns", 1).status == "running", what="job 1")
        second = threading.Thread(target=run, args=(2,))
        second.start()
        waiting = newest_job(studio, "p/turns", 2)
        # Without its turn it would start now, beside the first: seen running, or waiting.
        wait_for(
            lambda: (
                studio.job(waiting.id).status == "running"
                or any(m.startswith(f"job {waiting.id} waits") for m in turns())
            ),
            what="the second job to start or wait",
        )
        (gates / "gate-1").touch()
        (gates / "gate-2").touch()
        first.join(120)
        second.join(120)
    assert [ran[1].status, ran[2].status] == ["succeeded", "succeeded"]
    assert ran[2].started_at >= ran[1].finished_at
    assert waits(turns, ran[2].id) == (
        f"job {ran[2].id} waits for the turn of recipe p/turns.ipynb (1 running, concurrency 1)"
    )


def test_a_test_run_neither_waits_for_the_turn_nor_holds_it(
    fast: Path, gates: Path, turns: Callable[[], list[str]]
) -> None:
    """A test run sends nothing: the form's Test waited behind a running job of the
    recipe (the notebook blocked), and a real run would have waited behind a test."""
    held_recipe(fast, "p/tried")
    with Studio.open(fast, user="alice") as studio, released(gates):
        ran: dict[str, Job] = {}
        real = threading.Thread(
            target=lambda: ran.update(real=studio.run("p/tried", {"n": 1, "folder": str(gates)}))
        )
        real.start()
        wait_for(lambda: newest_job(studio, "p/tried", 1).status == "running", what="job 1")
        (gates / "gate-2").touch()
        trying = threading.Thread(
            target=lambda: ran.update(
                tried=studio.run("p/tried", {"n": 2, "folder": str(gates)}, test=True)
            )
        )
        trying.start()
        wait_for(lambda: "tried" in ran, timeout=60, what="the test run, beside job 1")
        tried = ran["tried"]
        assert tried.status == "succeeded" and tried.trigger == "test"
        (gates / "gate-1").touch()
        real.join(120)
        trying.join(120)
    assert ran["real"].status == "succeeded"
    assert tried.finished_at <= ran["real"].finished_at  # it ran beside the real job
    assert not [m for m in turns() if "waits" in m]


def test_parked_jobs_hold_no_worker_and_then_run_in_order(
    executor_of: Callable[[int], Studio], gates: Path, turns: Callable[[], list[str]]
) -> None:
    """Two workers; one runs a job of p/one, two more of p/one wait for their turn: a job
    of another recipe, submitted after them, runs at once on the other worker."""
    studio = executor_of(2)
    ws = studio.workspace.root
    held_recipe(ws, "p/one")
    held_recipe(ws, "p/other")
    given = {"folder": str(gates)}
    one = [studio.dispatch("p/one", {**given, "n": n}) for n in (1, 2, 3)]
    for job, _ in one[1:]:
        waits(turns, job.id)
    (gates / "gate-9").touch()
    other = studio.submit("p/other", {**given, "n": 9})
    assert other.result(timeout=120).status == "succeeded"
    assert [studio.job(job.id).status for job, _ in one] == ["running", "queued", "queued"]
    for n in (1, 2, 3):
        (gates / f"gate-{n}").touch()
    ended = [future.result(timeout=120) for _, future in one]
    assert [job.status for job in ended] == ["succeeded"] * 3
    assert ended[1].started_at >= ended[0].finished_at
    assert ended[2].started_at >= ended[1].finished_at


def test_a_recipe_of_concurrency_two_runs_two_at_once_and_parks_the_third(
    executor_of: Callable[[int], Studio], gates: Path, turns: Callable[[], list[str]]
) -> None:
    studio = executor_of(3)
    held_recipe(studio.workspace.root, "p/pair", concurrency=2)
    given = {"folder": str(gates)}
    three = [studio.dispatch("p/pair", {**given, "n": n}) for n in (1, 2, 3)]
    jobs = [job for job, _ in three]
    wait_for(
        lambda: [studio.job(job.id).status for job in jobs[:2]] == ["running", "running"],
        what="the first two jobs to run at once",
    )
    # Said once, when it first tried: job 2 may not have started yet then (its worker and
    # job 3's try at once), so the message counts it running or queued before it.
    said = waits(turns, jobs[2].id)
    assert re.search(r"\((2 running|1 running, 1 queued before it), concurrency 2\)$", said), said
    assert studio.job(jobs[2].id).status == "queued"
    (gates / "gate-1").touch()
    third = three[2][1]
    (gates / "gate-3").touch()
    assert third.result(timeout=120).status == "succeeded"
    assert studio.job(jobs[1].id).status == "running"  # still held: two ran at once again
    (gates / "gate-2").touch()
    ended = [future.result(timeout=120) for _, future in three]
    assert [job.status for job in ended] == ["succeeded"] * 3
    assert ended[2].started_at >= ended[0].finished_at


def saying_it_waits(args: list[str], stderr: Path) -> tuple[subprocess.Popen[str], str]:
    """Starts `lpstudio ARGS`, its stderr to `stderr`, and returns it once it said that a
    job of it waits for its recipe's turn, with what it said."""
    with stderr.open("w") as err:
        command = subprocess.Popen([LPSTUDIO, *args], stdout=subprocess.PIPE, stderr=err, text=True)
    try:
        said = wait_for(
            lambda: "waits for the turn" in stderr.read_text() and stderr.read_text(),
            what=f"lpstudio {args[0]} to say that its job waits",
        )
    except BaseException:
        command.kill()
        raise
    return command, said


def test_ctrl_c_of_lpstudio_run_waiting_for_its_turn_cancels_its_job_only(
    fast: Path, gates: Path, tmp_path: Path
) -> None:
    held_recipe(fast, "p/cc")
    stderr = tmp_path / "stderr"
    with Studio.open(fast, user="alice") as studio, released(gates):
        running, done = studio.dispatch("p/cc", {"n": 1, "folder": str(gates)})
        wait_for(lambda: studio.job(running.id).status == "running", what="the first job")
        given = ["-p", "n", "2", "-p", "folder", str(gates), "--workspace", str(fast)]
        command, said = saying_it_waits(["run", "p/cc", *given], stderr)
        try:
            waiting = newest_job(studio, "p/cc", 2)
            assert said.count("waits for the turn") == 1
            assert (
                f"lpstudio: job {waiting.id} waits for the turn of recipe p/cc.ipynb "
                "(1 running, concurrency 1)" in said
            )
            command.send_signal(signal.SIGINT)
            assert command.wait(60) == 130
        finally:
            if command.poll() is None:
                command.kill()
        cancelled = studio.job(waiting.id)
        assert cancelled.status == "cancelled" and cancelled.started_at is None
        assert cancelled.error["evalue"] == (
            "cancelled by SIGINT, while it waited for its recipe's turn"
        )
        assert cancelled.output_path is None
        assert studio.job(running.id).status == "running"  # unharmed
        (gates / "gate-1").touch()
        assert done.result(timeout=120).status == "succeeded"


def test_keyboard_interrupt_of_studio_run_waiting_for_its_turn_cancels_its_job(
    fast: Path, gates: Path, turns: Callable[[], list[str]]
) -> None:
    """In Python (a notebook, a script): Ctrl-C raises KeyboardInterrupt where `run`
    waits, in the caller's own thread."""
    # Python's own Ctrl-C, as in a notebook: a CLI command run earlier in this process left
    # its handler, which would cancel every job of the process, this test's and later ones'.
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        _interrupted_while_waiting(fast, gates, turns)
    finally:
        signal.signal(signal.SIGINT, before)


def _interrupted_while_waiting(fast: Path, gates: Path, turns: Callable[[], list[str]]) -> None:
    held_recipe(fast, "p/kb")
    with Studio.open(fast, user="alice") as studio, released(gates):
        running, done = studio.dispatch("p/kb", {"n": 1, "folder": str(gates)})
        wait_for(lambda: studio.job(running.id).status == "running", what="the first job")

        def interrupt_when_it_waits() -> None:
            waits(turns, running.id + 1)
            _thread.interrupt_main()

        interrupter = threading.Thread(target=interrupt_when_it_waits)
        interrupter.start()
        try:
            with pytest.raises(KeyboardInterrupt):
                studio.run("p/kb", {"n": 2, "folder": str(gates)})
        finally:
            interrupter.join(60)
        cancelled = studio.job(running.id + 1)
        assert cancelled.status == "cancelled" and cancelled.started_at is None
        assert cancelled.error["evalue"] == (
            "cancelled by SIGINT, while it waited for its recipe's turn"
        )
        assert studio.job(running.id).status == "running"
        (gates / "gate-1").touch()
        assert done.result(timeout=120).status == "succeeded"


def test_sigterm_of_a_server_ends_its_parked_jobs_cancelled(
    executor_of: Callable[[int], Studio],
    gates: Path,
    turns: Callable[[], list[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`process_jobs.interrupt` (Ctrl-C, SIGTERM) halts the running jobs and ends the
    parked ones, whose futures resolve: none is left queued for a reaper to fail later."""
    group = RunningJobs()  # this process's jobs, for this test only
    monkeypatch.setattr(runner, "process_jobs", group)
    monkeypatch.setattr(executors, "process_jobs", group)
    studio = executor_of(2)
    held_recipe(studio.workspace.root, "p/term")
    given = {"folder": str(gates)}
    (running, ran), (parked, waited) = (
        studio.dispatch("p/term", {**given, "n": n}) for n in (1, 2)
    )
    wait_for(lambda: studio.job(running.id).status == "running", what="the first job")
    waits(turns, parked.id)
    group.interrupt("cancelled by SIGTERM")
    ended = waited.result(timeout=60)
    assert ended.status == "cancelled" and ended.started_at is None
    assert ended.error["evalue"] == "cancelled by SIGTERM, while it waited for its recipe's turn"
    assert ran.result(timeout=60).status == "cancelled"


def test_a_server_told_to_stop_cancels_its_waiting_job_and_exits(fast: Path, gates: Path) -> None:
    """SIGTERM to `lpstudio serve` with a Run now waiting for its turn (held by another
    process's job): the server waited until that job ended, then started the waiting one
    after its stop; a second SIGTERM lost the job and the server never exited."""
    held_recipe(fast, "p/srv")
    holder = subprocess.Popen(
        [LPSTUDIO, "run", "p/srv", "-p", "n", "1", "-p", "folder", str(gates), "-w", str(fast)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with Studio.open(fast, user="alice") as studio, released(gates):
            wait_for(lambda: newest_job(studio, "p/srv", 1).status == "running", what="job 1")
            with serving(fast) as server:
                posted = server.api(
                    "alice",
                    "POST",
                    "/recipes/p/srv.ipynb/run",
                    json={"parameters": {"n": 2, "folder": str(gates)}},
                )
                assert posted.status_code == 202, posted.text
                waiting = posted.json()["id"]  # waits for its turn, or is about to
                server.kill(signal.SIGTERM)  # returns once it exited (60 s at most)
            ended = studio.job(waiting)
            assert ended.status == "cancelled" and ended.started_at is None
            assert "while it waited for its recipe's turn" in ended.error["evalue"]
            assert studio.job(waiting - 1).status == "running"  # another process's job
    finally:
        (gates / "gate-all").touch()
        holder.wait(120)


def test_a_job_waits_for_a_turn_held_by_a_dead_worker_until_the_reaper_fails_it(
    fast: Path, turns: Callable[[], list[str]]
) -> None:
    write_recipe(fast, "p/after")
    gone = subprocess.Popen(["true"])
    gone.wait()  # a process id on this host that no longer runs
    with Studio.open(fast, user="alice") as studio:  # it reaps at its start: not this one
        found = studio.recipe("p/after")
        version = studio.store.snapshot(found.name, found.canonical_json, {}, "alice")
        lost = studio.store.create_job(
            recipe=found.name, version_id=version, trigger="manual", user="alice"
        )
        set_job(
            studio.store,
            lost.id,
            status="running",
            worker=f"{socket.gethostname()}:{gone.pid}",
            started_at=utcnow(),
            heartbeat_at=utcnow() - timedelta(minutes=5),
        )
        job = studio.submit("p/after").result(timeout=120)
        reaped = studio.job(lost.id)
    assert (reaped.status, reaped.error["ename"]) == ("failed", "WorkerLost")
    assert job.status == "succeeded"
    assert job.started_at >= reaped.finished_at
    assert waits(turns, job.id).endswith("(1 running, concurrency 1)")


def test_lpstudio_cancel_of_a_parked_job_resolves_its_future_cancelled(
    executor_of: Callable[[int], Studio],
    gates: Path,
    turns: Callable[[], list[str]],
    cli_of: Callable[..., object],
) -> None:
    studio = executor_of(2)
    held_recipe(studio.workspace.root, "p/cancel")
    given = {"folder": str(gates)}
    (running, ran), (parked, waited) = (
        studio.dispatch("p/cancel", {**given, "n": n}) for n in (1, 2)
    )
    waits(turns, parked.id)
    result = cli_of(studio.workspace.root, "cancel", str(parked.id))
    assert result.exit_code == 0, result.output
    said = f"job {parked.id} is cancelled: it was still queued, so it ended at once\n"
    assert result.output == said
    ended = waited.result(timeout=60)  # while the first job still holds the turn
    assert ended.status == "cancelled" and ended.started_at is None
    assert studio.job(running.id).status == "running"
    (gates / "gate-1").touch()
    assert ran.result(timeout=120).status == "succeeded"


def test_a_scheduler_claims_no_later_job_while_an_older_job_of_the_recipe_waits(
    studio: Studio, ws: Path
) -> None:
    """A call queued first waits in its process for the turn; a scheduler that claimed
    the webhook's jobs queued after it took the turn from it for good (it claims them as
    soon as each job ends, and the call only looks every heartbeat)."""
    write_recipe(ws, "p/fifo")
    found = studio.recipe("p/fifo")
    version = studio.store.snapshot(found.name, found.canonical_json, {}, "alice")
    call = studio.store.create_job(
        recipe=found.name, version_id=version, trigger="manual", user="alice", worker=worker_id()
    )
    later = queue_webhook_job(studio, "p/fifo")
    assert not studio.store.claim_job(later.id, running_limit=1)
    assert studio.store.start_job(call.id, 2, "out.ipynb", running_limit=1)
    assert not studio.store.claim_job(later.id, running_limit=1)  # it runs: the limit
    studio.store.finish_job(call.id, "succeeded")
    assert studio.store.claim_job(later.id, running_limit=1)
    assert studio.job(later.id).status == "running"


def test_a_job_s_start_counts_its_recipe_s_jobs_through_an_index(studio: Studio) -> None:
    """The turn is tested in the update that starts every job (and claims a scheduler's):
    a search of the recipe's running and queued jobs, whatever the size of the history."""
    with studio.store.engine.connect() as conn:
        updates: list[str] = []

        def record(_conn, _cursor, statement, _parameters, _context, _many) -> None:  # type: ignore[no-untyped-def]
            if statement.lstrip().upper().startswith("UPDATE JOBS"):
                updates.append(statement)

        event.listen(studio.store.engine, "before_cursor_execute", record)
        try:
            studio.store.start_job(10**9, 1, "x", running_limit=1)
            studio.store.claim_job(10**9, running_limit=1)
        finally:
            event.remove(studio.store.engine, "before_cursor_execute", record)
        assert len(updates) == 2
        for statement in updates:
            params = (10**9,) * statement.count("?")
            details = [
                row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params)
            ]
            assert not [d for d in details if d.startswith("SCAN jobs")], details
            searches = [d for d in details if "ix_jobs_recipe_status_created" in d]
            assert len(searches) == 2, details


@pytest.fixture
def cli_of() -> Callable[..., object]:
    from click.testing import CliRunner

    from lpstudio.cli import main

    return lambda ws, *args: CliRunner().invoke(main, [*args, "--workspace", str(ws)])


def test_a_workspace_s_executor_workers_run_that_many_submitted_jobs_at_once(
    fast: Path, gates: Path
) -> None:
    """A server runs calls and Run nows on its executor's workers: two, unless
    `[executor] workers` says more (eight bots calling at once would wait in line for two).
    Three jobs that each wait for the others to have started all run at once with three."""
    with (fast / "lpstudio.toml").open("a") as config:
        config.write("\n[executor]\nworkers = 3\n")
    held_recipe(fast, "p/three", concurrency=8)
    with released(gates), Studio.open(fast, user="alice") as studio:
        three = [studio.dispatch("p/three", {"folder": str(gates), "n": n}) for n in (1, 2, 3)]
        wait_for(
            lambda: [studio.job(job.id).status for job, _ in three] == ["running"] * 3,
            what="three jobs running at once",
        )
        for n in (1, 2, 3):
            (gates / f"gate-{n}").touch()
        assert [future.result(timeout=120).status for _, future in three] == ["succeeded"] * 3


@pytest.mark.parametrize("workers", ["0", "2.5", '"four"', "65"])
def test_executor_workers_out_of_range_are_refused_naming_the_setting(
    ws: Path, workers: str
) -> None:
    with (ws / "lpstudio.toml").open("a") as config:
        config.write(f"\n[executor]\nworkers = {workers}\n")
    with pytest.raises(WorkspaceError) as refused:
        Workspace.load(ws)
    assert refused.value.field == "executor.workers"
    assert "from 1 to 64" in str(refused.value)
