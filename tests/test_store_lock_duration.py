"""A job whose end waits for a store another process holds locked: its duration is its run,
not the wait. A job ending while a write of its own process held the write turn (its
heartbeat, itself waiting for the locked store) counted the wait: a 1 s job locked out for 4 s
said 5 s, so durations grew with the store's contention.

A real kernel, SQLite locked by another process (`BEGIN IMMEDIATE`) from the recipe's last
cell, which ends as soon as the lock is held; and the process's write turn held by a thread.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from lpstudio.studio import Studio
from tests.conftest import write_recipe

#: Holds the store locked for `hold` seconds (the fault), prints "held" once it has the
#: lock, and writes the time it let go to `released`.
HOLDER = """
import sqlite3, sys, time
db, hold, released = sys.argv[1], float(sys.argv[2]), sys.argv[3]
con = sqlite3.connect(db, timeout=60, isolation_level=None)
con.execute("BEGIN IMMEDIATE")
print("held", flush=True)
time.sleep(hold)
con.execute("ROLLBACK")
open(released, "w").write(repr(time.time()))
"""

#: The last cell: starts the holder and ends once it holds the lock.
LOCK_THE_STORE = """
import subprocess, sys
holder = subprocess.Popen(
    [sys.executable, "-c", {holder!r}, {db!r}, "3", {released!r}], stdout=subprocess.PIPE, text=True
)
assert holder.stdout.readline() == "held\\n"
"""


def test_a_job_s_end_that_waits_for_a_locked_store_is_dated_when_its_run_ended(ws: Path) -> None:
    released = ws.parent / "released"
    cell = LOCK_THE_STORE.format(holder=HOLDER, db=str(ws / "lpstudio.db"), released=str(released))
    write_recipe(ws, "p/locked", cells=(cell,))
    with Studio.open(ws, user="alice") as studio:
        job = studio.run("p/locked", {})
    assert job.status == "succeeded", job.error
    let_go = datetime.fromtimestamp(float(released.read_text()), UTC)
    assert job.finished_at is not None and job.started_at is not None
    assert job.finished_at < let_go, (job.finished_at, let_go)  # dated before the wait ended
    assert (job.finished_at - job.started_at).total_seconds() < 3  # its run, not the hold


def test_a_job_s_end_waiting_for_another_write_of_its_process_is_dated_when_asked(
    ws: Path,
) -> None:
    """The same wait where it did count: the process's write turn held by another of its
    writes (its heartbeat, itself waiting for the locked store) while the job ended."""
    write_recipe(ws, "p/turn")
    with Studio.open(ws, user="alice") as studio:
        store = studio.store
        version = store.snapshot("p/turn.ipynb", "{}", {}, "alice")
        job = store.create_job(
            recipe="p/turn.ipynb", version_id=version, trigger="manual", user="alice"
        )
        assert store.start_job(job.id, 1, "history/turn.ipynb")
        holding, let_go = threading.Event(), [datetime.max.replace(tzinfo=UTC)]

        def hold() -> None:
            with store.write():
                holding.set()
                time.sleep(1.5)  # the fault: a write of this process that takes its time
                let_go[0] = datetime.now(UTC)

        holder = threading.Thread(target=hold)
        holder.start()
        holding.wait(10)
        asked = datetime.now(UTC)
        ended = store.finish_job(job.id, "succeeded")
        holder.join()
    assert ended is not None and ended.finished_at is not None
    assert asked <= ended.finished_at < let_go[0]


def test_the_holder_really_held_the_store(ws: Path) -> None:
    """The fault is real: a write from another process waits until the holder lets go."""
    released = ws.parent / "released"
    Studio.open(ws, user="alice").close()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(ws / "lpstudio.db"), "1", str(released)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    with Studio.open(ws, user="alice") as studio:
        studio.store.ensure_user("otto", "operator")  # a write: waits for the lock
        wrote = datetime.now(UTC)
    holder.wait(timeout=60)
    assert wrote >= datetime.fromtimestamp(float(released.read_text()), UTC)
