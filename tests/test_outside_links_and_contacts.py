"""What a security review found reachable by every role: a notebook linked into projects/
from outside it (it stopped the scheduler and broke every listing of recipes), a failure
contact holding a connection's secret (stored, then shown in clear), and a sql connection's
secret url quoted by its messages (its SQLite file, user, host and database name)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from lpstudio.cli import main
from lpstudio.errors import InputError
from lpstudio.scheduler import Scheduler
from lpstudio.sdk import ConnectorError
from lpstudio.studio import Studio

from .conftest import set_settings, write_recipe
from .test_connectors_generic import connect

__all__ = ["connect"]  # a fixture shared with that test's module

LP_SECRET = "sandbox-secret"  # the liveperson connection's client_secret (`init --sandbox`)
EVERY_MINUTE = {"kind": "schedule", "cron": "* * * * *", "timezone": "UTC"}
RECIPE = "shop/reminder.ipynb"


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    """A workspace with the sandbox's connections (none is reached) and a schedule recipe
    started; `outside/` beside it holds a copy of that recipe."""
    root = tmp_path / "ws"
    Studio.init(root, accept_terms=True, admin="alice", sandbox="http://127.0.0.1:9").close()
    path = write_recipe(root, "shop/reminder", metadata={"title": "r", "trigger": EVERY_MINUTE})
    (tmp_path / "outside").mkdir()
    shutil.copy(path, tmp_path / "outside" / "outside.ipynb")
    with Studio.open(root, user="alice") as studio:
        studio.start("shop/reminder")
        begun = datetime(2027, 1, 11, 8, 0, tzinfo=UTC).isoformat()
        set_settings(studio.store, RECIPE, started_at=begun)
    return root


@pytest.fixture
def cli(ws: Path) -> Callable[..., Result]:
    def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
        return CliRunner().invoke(main, [*args, "--workspace", str(ws)], env=env)

    return invoke


async def rest(
    jp_fetch: Any, user: str, method: str, *path: str, body: Any = None
) -> tuple[int, str]:
    options: dict[str, Any] = {"method": method, "headers": {"X-Test-User": user}}
    if body is not None:
        options["body"] = json.dumps(body)
    answer = await jp_fetch("lpstudio", "api", "v1", *path, raise_error=False, **options)
    return answer.code, answer.body.decode()


def listed(cli: Callable[..., Result]) -> list[str]:
    result = cli("recipes", "--json")
    assert result.exit_code == 0, result.output
    return [row["recipe"] for row in json.loads(result.stdout)]


def fired(ws: Path) -> list[int]:
    """The jobs one scheduler tick queues, at a minute the started recipe is due."""
    with Studio.open(ws, user="alice") as studio:
        scheduler = Scheduler(studio)
        try:
            return scheduler.tick(datetime(2027, 1, 11, 8, 5, 30, tzinfo=UTC))
        finally:
            scheduler.drain()


# -- 1. a notebook linked into projects/ -----------------------------------------------------


def test_a_notebook_linked_from_outside_projects_is_no_recipe_and_stops_nothing(ws, cli):
    (ws / "projects" / "shop" / "shared.ipynb").symlink_to(ws.parent / "outside" / "outside.ipynb")

    assert listed(cli) == [RECIPE]
    assert len(fired(ws)) == 1  # the started recipe's schedule fires as usual
    with Studio.open(ws, user="alice") as studio:
        assert studio.callable_paths() == set()  # callables' lookup lists recipe files too


def test_a_folder_holding_only_a_link_out_of_projects_is_said_to_hold_no_recipe(ws, cli):
    (ws / "projects" / "linked").mkdir()
    (ws / "projects" / "linked" / "x.ipynb").symlink_to(ws.parent / "outside" / "outside.ipynb")

    result = cli("run", "linked/")

    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert "is a folder, not a recipe" in result.output and "copy a recipe into it" in result.output


def test_a_link_to_another_recipe_inside_projects_is_that_recipe_listed_once(ws, cli):
    (ws / "projects" / "shop" / "alias.ipynb").symlink_to("reminder.ipynb")

    assert listed(cli) == [RECIPE]
    assert len(fired(ws)) == 1


async def test_the_rest_recipe_list_skips_a_notebook_linked_from_outside(ws, jp_fetch):
    (ws / "projects" / "shop" / "shared.ipynb").symlink_to(ws.parent / "outside" / "outside.ipynb")

    status, text = await rest(jp_fetch, "olga", "GET", "recipes")

    assert status == 200, text
    assert [row["recipe"] for row in json.loads(text)["recipes"]] == [RECIPE]


# -- 2. failure contacts holding a secret ----------------------------------------------------


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--notify-email", f"{LP_SECRET}-lp@example.com"),
        ("--notify-webhook", f"https://{LP_SECRET}-lp.example.com/x"),
        ("--notify-webhook", f"https://hooks.example.com/{LP_SECRET.upper()}"),
    ],
)
def test_a_failure_contact_holding_a_secret_is_refused_before_it_is_stored(cli, option, value):
    result = cli("settings", "shop/reminder", option, value, "--json")

    assert result.exit_code == 2, result.output
    error = json.loads(result.stdout)["error"]
    assert error["field"] == f"notify.{option.rsplit('-', 1)[-1]}", error
    assert "holds a secret" in error["message"] and "secret field" in error["fix"], error
    assert LP_SECRET not in result.output.lower()
    shown = cli("settings", "shop/reminder", "--json")
    assert "notify" not in json.loads(shown.stdout), shown.output


def test_a_failure_contact_without_a_secret_is_still_taken(cli):
    result = cli("settings", "shop/reminder", "--notify-email", "ops@brand.example", "--json")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["notify"] == {"email": "ops@brand.example"}


async def test_the_rest_api_refuses_a_failure_contact_holding_a_secret(ws, jp_fetch):
    body = {"notify": {"email": f"x@{LP_SECRET}-lp.com"}}

    status, text = await rest(jp_fetch, "alice", "PUT", "recipes", RECIPE, "settings", body=body)

    assert status == 400, text
    assert json.loads(text)["error"]["field"] == "notify.email" and LP_SECRET not in text
    status, text = await rest(jp_fetch, "olga", "GET", "recipes", RECIPE)
    assert status == 200 and LP_SECRET not in text and "notify" not in json.loads(text)["settings"]


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("email", "ops@brand.example\u0000"),
        ("email", "ops@brand.example\t"),
        ("webhook", "https://hooks.example.com/x\u007f"),
    ],
)
async def test_a_failure_contact_holding_a_control_character_is_refused(ws, jp_fetch, kind, value):
    # A NUL passed the address check, which refused line breaks alone: stored, and failing
    # only once a failure report was due.
    body = {"notify": {kind: value}}

    status, text = await rest(jp_fetch, "alice", "PUT", "recipes", RECIPE, "settings", body=body)

    assert status == 400, text
    error = json.loads(text)["error"]
    assert error["field"] == f"notify.{kind}" and "control character" in error["message"], error
    status, text = await rest(jp_fetch, "olga", "GET", "recipes", RECIPE)
    assert status == 200 and "notify" not in json.loads(text)["settings"], text


# -- 3. a sql connection's secret url --------------------------------------------------------


def test_a_missing_sqlite_file_is_said_without_the_url_s_path(ws, cli):
    url = "sqlite:///SECRET-XYZ-123-db.sqlite"
    env = {"LPSTUDIO_SECRET_URL": url}
    added = cli("connections", "add", "db", "--type", "sql", "--secret", "url", env=env)
    assert added.exit_code == 0, added.output

    tested = cli("connections", "test", "db", "--json")
    listing = cli("connections", "list", "--json")

    for said in (tested.output, listing.output):
        assert "SECRET-XYZ-123" not in said and str(ws) not in said, said
    row = next(row for row in json.loads(listing.stdout) if row["name"] == "db")
    assert "the url's SQLite file does not exist" in row["status_message"], row


@pytest.mark.parametrize(
    "path", ["../secret-outside.db", "secret.key", "secret-folder", "secret\0name.db"]
)
def test_a_sqlite_file_the_workspace_refuses_is_said_without_its_path(tmp_path, connect, path):
    root = tmp_path / "ws"
    (root / "secret-folder").mkdir(parents=True)
    (root / "secret.key").touch()
    with pytest.raises(InputError) as caught:
        connect("sql", {"url": f"sqlite:///{path}", "root": str(root)}).test()

    said = str(caught.value)
    assert caught.value.field == "url" and "the url's SQLite file" in said, said
    assert "secret" not in said.replace("secret key", "").replace("secret field", ""), said
    assert str(tmp_path) not in said, said


def test_a_postgresql_url_s_user_host_and_database_are_never_said(connect):
    url = "postgresql+psycopg://ada-user:s3cret@127.0.0.1:1/warehouse-db?connect_timeout=5"
    db = connect("sql", {"url": url})
    for call in (db.test, lambda: db.query(sql="SELECT 1")):
        with pytest.raises(ConnectorError) as caught:
            call()
        said = str(caught.value)
        assert "the url's postgresql database" in said, said
        for part in ("ada-user", "s3cret", "127.0.0.1", "warehouse-db"):
            assert part not in said, said
