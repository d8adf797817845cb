"""A store another process keeps locked, as the CLI meets it: a clear error naming
`store.url`, in `--json` too, and an exit code a script tells from a failed job. It was an
uncaught SQLAlchemy traceback and exit 1, which `run` uses for a job that failed."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import Result

import lpstudio.store
from tests.conftest import write_recipe

#: `lpstudio`'s exit code for a store it could not write: sysexits' EX_TEMPFAIL.
STORE_BUSY = 75


@pytest.fixture
def locked(ws: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The workspace's store held by another writer, waited for a moment, not a minute."""
    monkeypatch.setattr(lpstudio.store, "BUSY_TIMEOUT", 0.2)
    holder = sqlite3.connect(ws / "lpstudio.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    yield
    holder.execute("ROLLBACK")
    holder.close()


def test_a_write_to_a_locked_store_is_refused_naming_it_with_its_own_exit_code(
    ws: Path, cli: Callable[..., Result], locked: None
) -> None:
    write_recipe(ws, "ops/every")
    for args in (("stop", "ops/every"), ("run", "ops/every")):
        result = cli(*args, "--json")
        assert result.exit_code == STORE_BUSY, result.output
        assert not isinstance(result.exception, Exception) or isinstance(
            result.exception, SystemExit
        ), result.exception
        error = json.loads(result.stdout)["error"]
        assert error["code"] == "StoreUnavailable" and error["field"] == "store.url", error
        assert "locked" in error["message"] and "try again" in error["fix"], error
        plain = cli(*args)
        assert plain.exit_code == STORE_BUSY and "Traceback" not in plain.output
        assert "lpstudio: error: " in plain.output, plain.output


def test_a_purge_that_meets_a_locked_store_erases_nothing(
    ws: Path, cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    """It erased the output notebooks, then exited 75 ("nothing was done") with the jobs
    whole: `show` blamed a missing file, and a rerun ran as if never purged (rh)."""
    write_recipe(ws, "ops/old")
    assert cli("run", "ops/old").exit_code == 0
    (output,) = (ws / "history").rglob("*-old.ipynb")
    monkeypatch.setattr(lpstudio.store, "BUSY_TIMEOUT", 0.2)
    holder = sqlite3.connect(ws / "lpstudio.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer; reads go on
    try:
        refused = cli("purge", "--older-than", "0")
    finally:
        holder.execute("ROLLBACK")
        holder.close()

    assert refused.exit_code == STORE_BUSY, refused.output
    assert output.exists()
    shown = json.loads(cli("show", "1", "--json").stdout)
    assert shown["purged"] is False and shown["output_missing"] is False, shown
    purged = cli("purge", "--older-than", "0", "--json")
    assert json.loads(purged.stdout)["purged"] == [1], purged.output
    assert not output.exists()


def test_a_notebook_left_by_a_purge_stopped_part_way_goes_with_the_next(
    ws: Path, cli: Callable[..., Result]
) -> None:
    """A purge killed after its store write, before the files: the job is purged, its
    notebook still on disk (its data, which the purge was to erase)."""
    write_recipe(ws, "ops/old")
    assert cli("run", "ops/old").exit_code == 0
    (output,) = (ws / "history").rglob("*-old.ipynb")
    with sqlite3.connect(ws / "lpstudio.db") as db:  # as the stopped purge left it
        db.execute("UPDATE jobs SET purged = 1, parameters = '{}' WHERE id = 1")

    again = cli("purge", "--older-than", "0", "--json")

    assert again.exit_code == 0 and json.loads(again.stdout)["purged"] == [], again.output
    assert not output.exists()
    assert json.loads(cli("show", "1", "--json").stdout)["output_path"] is None


def test_a_purge_leaves_no_copy_of_a_job_s_data_in_the_store_s_log(
    ws: Path, cli: Callable[..., Result]
) -> None:
    """A purged event stayed readable in lpstudio.db-wal until later writes overwrote its
    pages (rx): the purge now writes the log into the database and empties it."""
    write_recipe(ws, "ops/marked", parameters="who: str = ''", cells=("print(who)",))
    assert cli("run", "ops/marked", "-p", "who", "Purgemarker").exit_code == 0
    files = [ws / "lpstudio.db", ws / "lpstudio.db-wal"]
    assert any(b"Purgemarker" in path.read_bytes() for path in files if path.exists())

    server = sqlite3.connect(ws / "lpstudio.db")  # a server's: the log outlives the command
    try:
        server.execute("SELECT count(*) FROM jobs").fetchone()
        assert cli("purge", "--older-than", "0").exit_code == 0

        assert not any(b"Purgemarker" in path.read_bytes() for path in files if path.exists())
    finally:
        server.close()
