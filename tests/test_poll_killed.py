"""`lpstudio poll` runs the jobs it queued one by one, as `lpstudio run` runs its one: killed
with `kill -9` mid-job, the jobs it had queued and not started stayed `queued` for ever (no
worker, no heartbeat), and a later `lpstudio start` sent their old events. They are the
poll's own now: the next command that opens the workspace fails them as "worker lost", as
Ctrl-C cancels them. `--no-run` still leaves them to a scheduler, and while the poll runs
its first job, its others are kept alive by its heartbeat.

Waits on job rows, files a cell waits for and the command's stderr, never on sleeps; real
kernels, the real store, a real SQL table polled.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from lpstudio.models import Job
from lpstudio.studio import Studio

from .conftest import LPSTUDIO, run_json, wait_for, write_recipe
from .test_concurrency import HOLD, PARAMETERS, released, saying_it_waits
from .test_job_faults import configure


@pytest.fixture
def gates(tmp_path: Path) -> Iterator[Path]:
    """The folder of the files the recipe's cell waits for (`HOLD`), all opened at the end."""
    folder = tmp_path / "gates"
    folder.mkdir()
    with released(folder):
        yield folder


def rows_recipe(ws: Path, gates: Path) -> None:
    """A recipe polling two new rows of a table, never started: two jobs, each waiting for
    gate-1 (a job's `n`) in `gates`; one runs at a time."""
    with sqlite3.connect(ws / "rows.db") as db:
        db.execute("CREATE TABLE rows (id integer primary key)")
        db.executemany("INSERT INTO rows (id) VALUES (?)", [(1,), (2,)])
    db.close()
    write_recipe(
        ws,
        "p/rows",
        parameters=PARAMETERS,
        cells=(HOLD,),
        metadata={
            "title": "rows",
            "trigger": {"kind": "poll", "connection": "rows", "trigger": "new_rows"},
            "connections": {"rows": {"type": "sql"}},
            "concurrency": 1,
        },
    )
    with Studio.open(ws, user="alice") as studio:
        table = {"url": "sqlite:///rows.db", "poll_table": "rows", "poll_column": "id"}
        studio.connections.add("rows", "sql", table, "alice")
        studio.save_settings("p/rows", {"folder": str(gates)})


def polled(studio: Studio) -> list[Job]:
    """The recipe's poll jobs, oldest first."""
    return sorted(
        (job for job in studio.jobs(recipe="p/rows") if job.trigger == "poll"),
        key=lambda job: job.id,
    )


#: The poll's process: `lpstudio poll`, or Python's `Studio.poll` (a notebook's kernel).
POLLERS = {
    "cli": lambda ws: [LPSTUDIO, "poll", "p/rows", "--workspace", str(ws)],
    "python": lambda ws: [
        sys.executable,
        "-c",
        "import sys; from lpstudio.studio import Studio; "
        "Studio.open(sys.argv[1], user='alice').poll('p/rows')",
        str(ws),
    ],
}


@pytest.mark.parametrize("poller", sorted(POLLERS))
def test_a_killed_poll_fails_the_jobs_it_had_not_started(
    ws: Path, gates: Path, tmp_path: Path, poller: str
) -> None:
    rows_recipe(ws, gates)
    with (tmp_path / "log").open("w") as log:
        command = subprocess.Popen(POLLERS[poller](ws), stdout=log, stderr=log)
    try:
        with Studio.open(ws, user="alice") as studio:

            def first_in_its_cell() -> list[Job] | None:
                jobs = polled(studio)
                return jobs if jobs and jobs[0].cells_done >= 1 else None

            first, second = wait_for(first_in_its_cell, what="the poll's first job running")
            assert (first.status, second.status) == ("running", "queued")
    finally:
        command.kill()  # kill -9
        command.wait(timeout=60)

    code, jobs = run_json("jobs", "--recipe", "p/rows", "--workspace", str(ws))  # reaps
    assert code == 0
    ended = {job["id"]: job for job in jobs}
    assert ended[first.id]["status"] == "failed"
    assert ended[second.id]["status"] == "failed", ended[second.id]
    error = ended[second.id]["error"]
    assert error["ename"] == "WorkerLost", error
    assert "the process that queued this job is gone before it started" in error["evalue"]


def test_a_poll_that_only_queues_leaves_its_jobs_to_a_scheduler(ws: Path, gates: Path) -> None:
    """`--no-run`: the jobs are a scheduler's, queued for the recipe's start; the command's
    end is no loss of them."""
    rows_recipe(ws, gates)
    code, queued = run_json("poll", "p/rows", "--no-run", "--workspace", str(ws))
    assert code == 0 and [job["status"] for job in queued] == ["queued", "queued"]
    code, jobs = run_json("jobs", "--recipe", "p/rows", "--workspace", str(ws))  # reaps
    assert code == 0 and [job["status"] for job in jobs] == ["queued", "queued"], jobs
    with Studio.open(ws, user="alice") as studio:
        assert [job.worker for job in polled(studio)] == [None, None]


def test_the_jobs_a_poll_has_not_started_stay_alive_while_its_first_runs(
    ws: Path, gates: Path, tmp_path: Path
) -> None:
    """The poll's second job was beaten while its first waited for the recipe's turn, then
    went silent while the first ran: another process's reaper failed it as "worker lost"
    though its poll was alive and about to run it."""
    configure(ws, heartbeat_seconds=0.1, stale_after_seconds=0.5)
    rows_recipe(ws, gates)
    with Studio.open(ws, user="alice") as studio, released(gates):  # before it closes
        holder, held = studio.dispatch("p/rows", {"n": 2, "folder": str(gates)})  # gate-2
        wait_for(lambda: studio.job(holder.id).status == "running", what="the turn's holder")
        command, _ = saying_it_waits(["poll", "p/rows", "--workspace", str(ws)], tmp_path / "err")
        try:
            wait_for(
                lambda: (jobs := polled(studio)) and jobs[1].heartbeat_at is not None,
                what="the poll's jobs beaten while they wait for the turn",
            )
            (gates / "gate-2").touch()  # the holder ends: the poll's first job runs
            assert held.result(timeout=120).status == "succeeded"
            first = wait_for(
                lambda: (jobs := polled(studio)) and jobs[0].status == "running" and jobs[0],
                what="the poll's first job running",
            )
            silence = timedelta(seconds=1)  # twice `stale_after_seconds`
            wait_for(
                lambda: studio.store.now() - first.started_at > silence,
                what="the first job running longer than a queued job may stay silent",
            )
            studio.reap_lost_jobs()
            assert polled(studio)[1].status == "queued", polled(studio)[1].error
            (gates / "gate-1").touch()
            out, _ = command.communicate(timeout=120)
        finally:
            if command.poll() is None:
                command.kill()
        assert command.returncode == 0, out
        assert [job.status for job in polled(studio)] == ["succeeded", "succeeded"]
