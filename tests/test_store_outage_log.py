"""A running scheduler whose PostgreSQL store goes away and comes back: its log says so once
each way, as a daemon started before its database does, not three lines a tick naming its
internal steps (a reviewer's: 157 lines in 53 s of outage, and a server's hosted scheduler
a traceback a second from its lease's renewal).

Real PostgreSQL on loopback (`tests.postgres`), the daemon's own loop (`run_forever`) in a
thread, as a server hosts it.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest
from sqlalchemy import event

from lpstudio.leader import StoreLease
from lpstudio.scheduler import Scheduler
from lpstudio.store import Store
from lpstudio.studio import Studio
from tests.conftest import wait_for
from tests.postgres import server_down
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
    return [r for r in caplog.records if r.name == "lpstudio.scheduler"]


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
