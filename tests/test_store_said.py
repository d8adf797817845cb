"""A store's database errors said for what they are: a setting to mend (exit 2, naming
`[store] url` and the fix), never a traceback, nor an outage to wait out (exit 75, "try
again shortly"), which retrying never cured (helper 446's reviewer, following README's
Configuration, Upgrading and Scaling out)."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from lpstudio.cli import main
from tests.conftest import read_only, write_recipe
from tests.servers import rest


def _refused(result: Result, says: str, code: str = "WorkspaceError") -> dict[str, Any]:
    """A setting to mend: exit 2, no traceback, `store.url` named, under --json too."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output, result.output
    error = json.loads(result.stdout)["error"]
    assert error["code"] == code and error["field"] == "store.url", error
    assert says in error["message"], error
    return error


def _store_url(ws: Path, url: str) -> None:
    """`[store] url` of the workspace's lpstudio.toml set to `url`."""
    config = ws / "lpstudio.toml"
    config.write_text(re.sub(r"(?m)^url = .*$", f'url = "{url}"', config.read_text(), count=1))


def test_init_on_a_database_holding_a_table_named_as_lpstudio_s_leaves_nothing(
    tmp_path: Path,
) -> None:
    """It said "the store cannot be reached: table users already exists", exit 75, and left
    the workspace's key and folders behind (PostgreSQL: a traceback)."""
    root = tmp_path / "brand"
    root.mkdir()
    other = sqlite3.connect(root / "app.db")
    other.execute("CREATE TABLE users (login TEXT)")
    other.commit()
    other.close()
    (root / "lpstudio.toml").write_text('[store]\nurl = "sqlite:///app.db"\n')

    result = CliRunner().invoke(main, ["init", str(root), "--accept-terms", "--json"])

    error = _refused(result, "users")
    assert "lpstudio's" in error["message"] and "Nothing was changed" in error["message"]
    assert "empty database" in error["fix"] and "lpstudio.toml" in error["fix"], error
    assert sorted(p.name for p in root.iterdir()) == ["app.db", "lpstudio.toml"]
    tables = sqlite3.connect(root / "app.db").execute("SELECT name FROM sqlite_master").fetchall()
    assert tables == [("users",)]


@pytest.mark.parametrize(
    "args",
    [("users", "role", "bob", "operator"), ("settings", "ops/every", "-p", "x", "2")],
    ids=["users-role", "settings"],
)
def test_a_read_only_store_is_refused_naming_the_file_not_as_an_outage(
    ws: Path, cli: Callable[..., Result], args: tuple[str, ...]
) -> None:
    """Every writing command said exit 75 "the store cannot be reached: attempt to write a
    readonly database", fix "try again shortly"."""
    write_recipe(ws, "ops/every")
    with read_only(ws / "lpstudio.db"):
        error = _refused(cli(*args, "--json"), str(ws / "lpstudio.db"), "StoreUnwritable")
    assert "cannot be written" in error["message"], error
    assert "write access" in error["fix"] and "try again" not in error["fix"], error


async def test_a_read_only_store_is_no_503_in_the_rest_api(ws: Path, jp_fetch: Any) -> None:
    with read_only(ws / "lpstudio.db"):
        code, answer = await rest(
            jp_fetch, "PUT", "users", "bob", "role", body={"role": "operator"}
        )
    assert code == 400, answer
    error = answer["error"]
    assert error["code"] == "StoreUnwritable" and error["field"] == "store.url", error
    assert "cannot be written" in error["message"] and "write access" in error["fix"], error


@pytest.mark.parametrize(
    ("option", "says"),
    [("timeout=abc", "'abc'"), ("check_same_thread=maybe", "'maybe'")],
    ids=["timeout", "check_same_thread"],
)
def test_an_option_of_the_wrong_type_in_the_store_url_is_refused_as_a_setting(
    ws: Path, cli: Callable[..., Result], option: str, says: str
) -> None:
    """A ValueError traceback from create_engine."""
    _store_url(ws, f"sqlite:///lpstudio.db?{option}")
    error = _refused(cli("jobs", "--json"), "was refused")
    assert says in error["message"] and option in error["message"], error
    assert "options (after `?`)" in error["fix"], error


@pytest.mark.parametrize(
    ("named", "says"),
    [
        ("secret.key", "is not a SQLite database"),
        ("lpstudio.toml", "is not a SQLite database"),
        (".", "is a folder"),
    ],
    ids=["key", "settings", "folder"],
)
def test_a_store_url_naming_no_store_file_says_so(
    ws: Path, cli: Callable[..., Result], named: str, says: str
) -> None:
    """A file that is no database got the fix of a URL's port and options; a folder the
    fix of a folder that does not exist or may not be written."""
    _store_url(ws, f"sqlite:///{named}")
    error = _refused(cli("jobs", "--json"), says)
    assert "not an lpstudio store" in error["message"], error
    assert 'url = "sqlite:///lpstudio.db"' in error["fix"], error
    assert "65535" not in error["fix"] and "folder" not in error["fix"], error


def test_a_postgres_scheme_is_told_to_be_postgresql_psycopg(
    ws: Path, cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    """It was "a database lpstudio does not support (SQLite, PostgreSQL)": PostgreSQL is.
    `store-copy` says it as the store does (one check)."""
    url = "postgres://alice:Hunter2pw@db.internal/brand"
    _store_url(ws, url)
    error = _refused(cli("jobs", "--json"), "postgresql+psycopg://")
    assert "does not support" not in error["message"] and "Hunter2pw" not in json.dumps(error)
    _store_url(ws, "sqlite:///lpstudio.db")
    monkeypatch.setenv("LPSTUDIO_USER", "alice")  # an admin copies the store
    copied = cli("store-copy", url, "--json")
    assert copied.exit_code == 2, copied.output
    said = json.loads(copied.stdout)["error"]
    assert "postgresql+psycopg://" in said["message"] and "does not support" not in said["message"]


@pytest.mark.parametrize(
    "url",
    ["sqlite:///file:{ws}/lpstudio.db?mode=ro&uri=true", "sqlite:///file:lpstudio.db?uri=true"],
    ids=["absolute-read-only", "relative"],
)
def test_a_sqlite_uri_store_url_is_refused_naming_the_path_form(
    ws: Path, cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    """SQLAlchemy's URI form was read as a file `file:...` in the workspace: "unable to open
    database file" for an absolute one, and a relative one made an empty file of that name
    beside the store (uri=true passed over the check that never makes one)."""
    before = sorted(path.name for path in ws.iterdir())
    _store_url(ws, url.format(ws=ws))
    error = _refused(cli("jobs", "--json"), "is a SQLite URI")
    assert "sqlite:///lpstudio.db" in error["fix"] and "uri=true" in error["fix"], error
    assert sorted(path.name for path in ws.iterdir()) == before

    _store_url(ws, "sqlite:///lpstudio.db")
    monkeypatch.setenv("LPSTUDIO_USER", "alice")  # an admin copies the store
    copied = cli("store-copy", "sqlite:///file:copy.db?uri=true", "--json")
    assert copied.exit_code == 2, copied.output
    said = json.loads(copied.stdout)["error"]
    assert said["field"] == "url" and "is a SQLite URI" in said["message"], said
    assert sorted(path.name for path in ws.iterdir()) == before
