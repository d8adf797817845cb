"""The store's schema revision as a workspace is opened: one a newer lpstudio wrote is
refused, an older one is upgraded with what it holds."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

import lpstudio.models
import lpstudio.store
from lpstudio.settings import read_settings, update_settings
from lpstudio.store import SCHEMA_HEAD, Store


def test_a_store_upgraded_by_a_newer_lpstudio_is_refused_untouched(ws: Path, cli) -> None:
    database = ws / "lpstudio.db"
    with closing(sqlite3.connect(database)) as conn, conn:
        conn.execute("UPDATE alembic_version SET version_num = '0099'")
    before = database.read_bytes()
    result = cli("jobs", "--json")
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "Can't locate" not in result.output
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "WorkspaceError" and error["field"] == "store"
    assert "0099" in error["message"] and SCHEMA_HEAD in error["message"]
    assert "newer lpstudio" in error["message"] and "Nothing was changed" in error["message"]
    assert "Upgrading" in error["fix"]
    assert database.read_bytes() == before


def test_an_upgrade_of_an_existing_store_is_said(ws: Path, cli) -> None:
    """The first command of a newer lpstudio upgraded the store without a word, and older
    versions could not open it afterwards: it is said once, on stderr, naming both schemas
    (a fresh store says nothing)."""
    store = Store(f"sqlite:///{ws / 'lpstudio.db'}")
    try:
        migrate_to(store, "0010", down=True)
    finally:
        store.close()
    upgraded = cli("jobs", "--json")
    assert upgraded.exit_code == 0, upgraded.output
    assert (
        "upgrading the store" in upgraded.stderr
        and f"from schema 0010 to {SCHEMA_HEAD}" in upgraded.stderr
    )
    assert json.loads(upgraded.stdout) == []
    again = cli("jobs", "--json")
    assert "upgrading" not in again.stderr


def test_only_the_process_that_upgrades_the_store_says_so(
    ws: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """Two commands started together on an old store each read its old revision, waited
    for the write lock and each said it upgraded the store, though the second found it
    upgraded: the revision is read again once the lock is held."""
    url = f"sqlite:///{ws / 'lpstudio.db'}"
    first, second = Store(url), Store(url)
    try:
        migrate_to(first, "0010", down=True)
        read = Store.schema_revision

        def raced(store: Store) -> str | None:
            """The old revision read, then the other process upgrades before this one locks."""
            revision = read(store)
            if store is second:
                first.migrate()
            return revision

        monkeypatch.setattr(Store, "schema_revision", raced)
        second.migrate()
        said = capfd.readouterr().err
        assert said.count("upgrading the store") == 1, said
        assert f"from schema 0010 to {SCHEMA_HEAD}" in said
        assert read(second) == SCHEMA_HEAD
    finally:
        first.close()
        second.close()


def migrate_to(store: Store, revision: str, down: bool = False) -> None:
    """The store's schema brought to `revision` (an older one than lpstudio's)."""
    config = Config()
    config.set_main_option(
        "script_location", str(Path(lpstudio.store.__file__).parent / "migrations")
    )
    with store.engine.execution_options(lpstudio_write=True).begin() as conn:
        config.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(config, revision)


def settings_gain_revisions(store: Store) -> None:
    """A store at 0007 with saved settings: upgraded, they are at revision 1 (a recipe never
    saved is at 0), a save on revision 1 counts it up, and a downgrade drops the column."""
    migrate_to(store, "0007")
    with store.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO recipe_settings (recipe, settings, updated_at, updated_by) "
                "VALUES ('p/one.ipynb', :settings, :at, 'alice')"
            ),
            {"settings": '{"parameters": {"x": 2}}', "at": lpstudio.models.utcnow()},
        )
    store.migrate()
    assert store.schema_revision() == SCHEMA_HEAD
    with store.engine.connect() as conn:
        assert (
            compare_metadata(MigrationContext.configure(conn), lpstudio.models.Base.metadata) == []
        )
    before = read_settings(store, "p/one.ipynb")
    assert (before.settings, before.revision, before.updated_by) == (
        {"parameters": {"x": 2}},
        1,
        "alice",
    )
    assert read_settings(store, "p/other.ipynb").revision == 0
    after = update_settings(
        store, "p/one.ipynb", lambda s: {**s, "state": "stopped"}, "bob", expected_revision=1
    )
    assert after.revision == 2 and after.settings == {"parameters": {"x": 2}, "state": "stopped"}
    migrate_to(store, "0007", down=True)
    with store.engine.connect() as conn:
        columns = {c["name"] for c in inspect(conn).get_columns("recipe_settings")}
        assert "revision" not in columns and "settings" in columns


def test_settings_saved_before_revisions_upgrade_to_revision_1(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'old.db'}", create=True)
    try:
        settings_gain_revisions(store)
    finally:
        store.close()
