"""A SQLite store whose disk is full: said for what it is, naming the store's folder and
the cure (free space there), never as the outage of a database server ("try again shortly;
check that the database server runs", reviewer AG, finding 2); as for one, nothing was done
and it may run again: exit 75 and a 503 `StoreUnavailable`, as before (reviewer AJ: scripts
retry on them, and a full disk is often freed by a log rotation). A scheduler meeting it
says so once, and once as its writes pass again, not two lines a second naming its
internal methods (finding 3).

The full disk is SQLite's own: each connection's `PRAGMA max_page_count` pins the store at
the pages it has, so that a write needing one more page fails with SQLITE_FULL ("database
or disk is full"), as on a full disk, without a mount or root.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from sqlalchemy import event
from sqlalchemy.pool import Pool

from lpstudio.scheduler import Scheduler
from lpstudio.store import SCHEMA_HEAD, Store
from lpstudio.studio import Studio
from lpstudio.workspace import STORE_NAME, Workspace
from tests.conftest import write_recipe
from tests.servers import rest
from tests.test_store_schema import migrate_to

#: A value too big for the pages a store has left: its write needs new pages.
BIG = "x" * 200_000


@contextmanager
def full_disk() -> Iterator[Callable[[], None]]:
    """Every SQLite store of this process pinned at the pages it has (each connection as
    it is checked out), until the function yielded frees space."""
    limit: list[str] = ["page_count"]

    def pin(dbapi_connection: Any, *_: Any) -> None:
        pages = (
            "1073741823"
            if not limit
            else dbapi_connection.execute("PRAGMA page_count").fetchone()[0]
        )
        dbapi_connection.execute(f"PRAGMA max_page_count = {pages}")

    event.listen(Pool, "checkout", pin)
    try:
        yield limit.clear
    finally:
        limit.clear()
        event.remove(Pool, "checkout", pin)


def _the_disk_said(error: dict[str, Any], ws: Path) -> None:
    assert error["code"] == "StoreUnavailable" and error["field"] == "store.url", error
    assert "disk is full" in error["message"], error
    assert f"free space on the disk holding {ws}" in error["fix"], error
    for outage in ("database server", "try again shortly", "cannot be reached"):
        assert outage not in error["message"] + error["fix"], error


def test_a_full_disk_is_said_at_the_cli_naming_the_folder_and_exit_75(
    ws: Path, cli: Callable[..., Result]
) -> None:
    """It said "the store cannot be reached: database or disk is full", fix "check that the
    database server runs": no server there, and not the cure."""
    write_recipe(ws, "ops/note", parameters='note: str = ""  # a note')
    with full_disk():
        result = cli("settings", "ops/note", "-p", "note", BIG, "--json")
    assert result.exit_code == 75, result.output
    assert "Traceback" not in result.output, result.output
    _the_disk_said(json.loads(result.stdout)["error"], ws)
    assert "free space on the disk holding" in result.stderr, result.stderr
    # Space freed: the same command passes.
    assert cli("settings", "ops/note", "-p", "note", "short").exit_code == 0


def test_a_full_disk_met_as_the_store_opens_is_said_as_for_a_write_and_exit_75(
    ws: Path, cli: Callable[..., Result]
) -> None:
    """A store an upgrade of lpstudio migrates, its disk full: the migration's write was
    said as a folder to make writable ("check that the folder of the SQLite file exists
    and that you may write to it", exit 2), neither the disk nor its cure."""
    store = Store(Workspace.load(ws).store_url)
    migrate_to(store, "0016", down=True)
    store.close()
    with closing(sqlite3.connect(ws / STORE_NAME)) as db:
        db.execute("VACUUM")  # no free pages left for the migration to take
    with full_disk():
        result = cli("jobs", "--json")
    assert result.exit_code == 75, result.output
    _the_disk_said(json.loads(result.stdout)["error"], ws)
    assert "may write to it" not in result.output, result.output
    # Space freed: the same command migrates the store and passes.
    assert cli("jobs").exit_code == 0
    with closing(Store(Workspace.load(ws).store_url)) as migrated:
        assert migrated.schema_revision() == SCHEMA_HEAD


async def test_a_full_disk_is_a_503_naming_the_cure(ws: Path, jp_fetch: Any) -> None:
    write_recipe(ws, "ops/note", parameters='note: str = ""  # a note')
    with full_disk():
        code, answer = await rest(
            jp_fetch,
            "PUT",
            "recipes",
            "ops/note.ipynb",
            "settings",
            body={"parameters": {"note": BIG}},
        )
    assert code == 503, answer
    error = answer["error"]
    assert error["code"] == "StoreUnavailable" and "disk is full" in error["message"], error
    assert "free space on the disk" in error["fix"], error
    assert "database server" not in error["fix"] and "try again shortly" not in error["fix"]


def test_a_scheduler_meeting_a_full_disk_says_it_once_and_its_end_once(
    ws: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A hosted scheduler on a full disk logged "could not renew the scheduler lease" and
    "scheduler _say_present failed" each second, naming no cure and never the end."""
    write_recipe(ws, "ops/note", parameters='note: str = ""  # a note')
    with Studio.open(ws, user="alice") as studio, caplog.at_level(logging.INFO, "lpstudio"):
        scheduler = Scheduler(studio)

        def save(note: str) -> Callable[[], object]:
            return lambda: studio.save_settings("ops/note", parameters={"note": note})

        try:
            with full_disk() as free_space:
                for _ in range(20):
                    assert scheduler._step(save(BIG), "record that it is alive") is None
                during = [r for r in caplog.records if r.name.startswith("lpstudio")]
                free_space()
                scheduler._step(save("short"), "record that it is alive")
                scheduler._step(save("again"), "record that it is alive")
        finally:
            scheduler.drain()
    warnings = [r for r in during if r.levelno >= logging.WARNING]
    (full,) = warnings  # one line for the whole outage
    line = full.getMessage()
    assert "disk is full" in line and f"free space on the disk holding {ws}" in line, line
    assert "_say_present" not in line and "\n" not in line, line
    records = [r.getMessage() for r in caplog.records if r.name.startswith("lpstudio")]
    back = [line for line in records if "the store answers again, after" in line]
    assert len(back) == 1, records
