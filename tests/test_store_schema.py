"""The store's schema revision as a workspace is opened: one a newer lpstudio wrote is refused."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

from lpstudio.store import SCHEMA_HEAD


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
    assert "pip install -U lpstudio" in error["fix"]
    assert database.read_bytes() == before
