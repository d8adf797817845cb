"""A running scheduler whose PostgreSQL store goes away and comes back: its log says so once
each way, as a daemon started before its database does, not three lines a tick naming its
internal steps (a reviewer's: 157 lines in 53 s of outage, and a server's hosted scheduler
a traceback a second from its lease's renewal).

Nor a line a beat from each running job's heartbeat and each beat of jobs waiting for a
worker: the process says an outage once, whichever of its loops meets it first.

Real PostgreSQL on loopback (`tests.postgres`), the daemon's own loop (`run_forever`) in a
thread, as a server hosts it; real kernels.
"""

from __future__ import annotations

import logging
import threading
from contextlib import ExitStack
from pathlib import Path

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.exc import OperationalError

from lpstudio.leader import StoreLease
from lpstudio.scheduler import Scheduler
from lpstudio.store import FINAL_STATES, Store, unreachable
from lpstudio.studio import Studio
from tests.conftest import wait_for, write_recipe
from tests.postgres import server_down
from tests.test_job_faults import configure, queue_webhook_job
from tests.test_store_outages import pg_ws, server  # noqa: F401 (fixtures)

LOST = "the store cannot be reached"
BACK = "the store answers again, after"


def _store_calls(store: Store) -> list[object]:
    """Each call of the store's engine, as it is made: an attempt to connect (each step
    through an outage makes one) or a statement (each step once it answers)."""
    calls: list[object] = []
    for made in ("do_connect", "before_cursor_execute"):
        event.listen(store.engine, made, lambda *_: calls.append(None))
    return calls


def _scheduler_log(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """The scheduler's lines, and the store's outage it says (`StoreOutage`)."""
    return [r for r in caplog.records if r.name in ("lpstudio.scheduler", "lpstudio.store")]


@pytest.mark.parametrize("hosted", [False, True], ids=["daemon", "server-hosted"])
def test_an_outage_while_running_is_said_once_and_its_end_once(
    pg_ws: Path,  # noqa: F811 (the fixture imported)
    server: str,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
    hosted: bool,
) -> None:
    with Studio.open(pg_ws, user="alice") as studio, caplog.at_level(logging.INFO, "lpstudio"):
        tries = _store_calls(studio.store)
        lease = StoreLease(studio.store, seconds=30) if hosted else None
        scheduler = Scheduler(studio, workers=1, idle_seconds=0.05, lease=lease)
        daemon = threading.Thread(target=scheduler.run_forever, daemon=True)
        daemon.start()
        try:
            ready = "took the scheduler lease" if hosted else "scheduler started"
            wait_for(lambda: ready in caplog.text, what="the scheduler to work")
            with server_down(server):
                wait_for(lambda: LOST in caplog.text, what="the outage said")
                said = len(tries)
                # Many more steps meet the outage: none of them says more.
                wait_for(lambda: len(tries) >= said + 30, what="the scheduler to keep trying")
                during = _scheduler_log(caplog)
            wait_for(lambda: BACK in caplog.text, what="the store's return said")
            back = len(tries)
            wait_for(lambda: len(tries) >= back + 10, what="the scheduler to work again")
        finally:
            scheduler.stop()
            daemon.join(60)
    assert not daemon.is_alive()
    records = _scheduler_log(caplog)
    warnings = [r for r in during if r.levelno >= logging.WARNING]
    (lost,) = warnings  # one line for the whole outage
    line = lost.getMessage()
    assert line.startswith(LOST), line
    assert "\n" not in line and lost.exc_info is None, line
    assert "[store] url in lpstudio.toml" in line and "database server runs" in line, line
    for internal in ("_store_upgraded", "tick_apart", "fill", "renew"):
        assert internal not in line, line
    (returned,) = [r for r in records if BACK in r.getMessage()]
    assert returned.levelno == logging.INFO and returned.getMessage().endswith(" s"), returned
    after = records[records.index(returned) + 1 :]
    assert not [r for r in after if r.levelno >= logging.WARNING], caplog.text
    assert "Traceback" not in caplog.text, caplog.text


def _lpstudio_log(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith("lpstudio")]


def _started(folder: Path) -> list[str]:
    """The jobs whose cell runs, by the file each touched."""
    return sorted(p.name for p in folder.glob("started-*"))


def test_an_outage_met_by_running_jobs_is_said_once_for_the_process(
    pg_ws: Path,  # noqa: F811 (the fixture imported)
    server: str,  # noqa: F811
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Each running job's watchdog and the executor's beat of a job waiting for a worker
    said the outage too, each on its own (one line a beat for the waiting job): a daemon
    and a server with jobs running through a five-minute outage wrote hundreds of lines.
    The process says it once, whichever of its parts meets it first, and its end once."""
    configure(pg_ws, heartbeat_seconds=0.1)  # many beats through a short outage
    go = tmp_path / "go"
    wait = f"import pathlib, time\npathlib.Path({str(tmp_path)!r}, f'started-{{x}}').touch()\n"
    wait += f"while not pathlib.Path({str(go)!r}).exists():\n    time.sleep(0.02)"
    write_recipe(pg_ws, "p/waits", cells=(wait,), metadata={"title": "waits", "concurrency": 9})
    with Studio.open(pg_ws, user="alice") as studio, caplog.at_level(logging.INFO, "lpstudio"):
        studio.start("p/waits")  # the scheduler runs its webhook's jobs
        tries = _store_calls(studio.store)
        scheduler = Scheduler(studio, workers=1, idle_seconds=0.05)
        daemon = threading.Thread(target=scheduler.run_forever, daemon=True)
        daemon.start()
        try:
            scheduled = queue_webhook_job(studio, "p/waits")  # the scheduler's: x = 1
            # The executor's two workers run two of them; the third waits for a worker.
            submitted = [studio.submit("p/waits", {"x": x}) for x in (2, 3, 4)]
            wait_for(lambda: len(_started(tmp_path)) == 3, timeout=180, what="three jobs running")
            assert "started-1" in _started(tmp_path), _started(tmp_path)
            with server_down(server):
                wait_for(lambda: LOST in caplog.text, what="the outage said")
                said = len(tries)
                # Many beats of every loop meet the outage: none of them says more.
                wait_for(lambda: len(tries) >= said + 60, what="the heartbeats to keep trying")
                during = _lpstudio_log(caplog)
            wait_for(lambda: BACK in caplog.text, what="the store's return said")
            go.touch()
            jobs = [future.result(timeout=180) for future in submitted]
            wait_for(
                lambda: studio.store.job(scheduled.id).status in FINAL_STATES,
                timeout=120,
                what="the scheduler's job to end",
            )
            jobs.append(studio.store.job(scheduled.id))
        finally:
            go.touch()
            scheduler.stop()
            daemon.join(120)
    assert not daemon.is_alive()
    assert [job.status for job in jobs] == ["succeeded"] * 4, [job.error for job in jobs]
    warnings = [r for r in during if r.levelno >= logging.WARNING]
    (lost,) = warnings  # one line for the whole process, not one a job or a beat
    assert lost.getMessage().startswith(LOST), caplog.text
    assert "[store] url in lpstudio.toml" in lost.getMessage(), lost.getMessage()
    records = _lpstudio_log(caplog)
    assert len([r for r in records if LOST in r.getMessage()]) == 1, caplog.text
    (returned,) = [r for r in records if BACK in r.getMessage()]
    assert returned.levelno == logging.INFO and returned.getMessage().endswith(" s"), returned
    assert "Traceback" not in caplog.text, caplog.text


def test_a_connection_answered_just_before_the_outage_does_not_say_it_over(
    pg_ws: Path,  # noqa: F811 (the fixture imported)
    server: str,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A step's connection whose ping the server answered just before it stopped, checked
    out after another step said the outage (threads take turns): the outage was said over
    "after 0.0 s", and said again by that connection's next statement (a CI run's three
    lines for one outage). Here the other step's turn comes between the pool's ping and
    the checkout, every time."""
    with Studio.open(pg_ws, user="alice") as studio, caplog.at_level(logging.INFO, "lpstudio"):
        store = studio.store
        with store.read() as session:  # a connection in the pool, pinged at its next checkout
            session.execute(text("SELECT 1"))
        outage_begun: list[bool] = []
        with ExitStack() as outage:

            def another_step_meets_the_outage(*_: object) -> None:
                if outage_begun:
                    return
                outage_begun.append(True)
                outage.enter_context(server_down(server))
                with pytest.raises(OperationalError) as refused:
                    create_engine(store.url).connect()
                store.outage.failed(logging.getLogger("lpstudio.scheduler"), refused.value, "x")

            event.listen(store.engine, "checkout", another_step_meets_the_outage, insert=True)
            with pytest.raises(OperationalError) as met, store.read() as session:
                session.execute(text("SELECT 1"))
            assert unreachable(met.value), met.value
            assert BACK not in caplog.text, caplog.text
        with store.read() as session:  # the server started again
            session.execute(text("SELECT 1"))
    lines = [r.getMessage() for r in _lpstudio_log(caplog)]
    assert [line.split(":")[0] for line in lines if LOST in line] == [LOST], lines
    assert len([line for line in lines if BACK in line]) == 1, lines  # once it answered
