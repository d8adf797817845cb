"""A trigger's error quoting a connection's secret: masked where the poll's caller saw it,
it was kept in clear in the recipe's trigger errors (`lpstudio recipes`, the REST recipe)
and in the scheduler's log line. An app may echo the credential it was called with, and a
connector's `key` function may quote what it was given."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from lpstudio.scheduler import Scheduler
from lpstudio.studio import Studio
from tests.conftest import write_recipe

SECRET = "sk-notes-SUPERSECRET-1234567890"

LEAKY = """
from lpstudio.sdk import Connector, Field, Page

connector = Connector("leaky", title="Leaky", fields=[Field("api_key", "API key", secret=True)])


@connector.poll_trigger("new", title="New", key=lambda e: str(int(e["id"])))
def new(conn, since, cursor):
    return Page([{"id": conn.config["api_key"]}], cursor=cursor)
"""


@pytest.fixture
def leaky(ws: Path) -> str:
    (ws / "connectors").mkdir(exist_ok=True)
    (ws / "connectors" / "leaky.py").write_text(LEAKY)
    write_recipe(
        ws,
        "rw/poll_notes",
        metadata={
            "title": "Poll notes",
            "trigger": {"kind": "poll", "connection": "leaky", "trigger": "new"},
            "connections": {"leaky": {"type": "leaky"}},
        },
    )
    with Studio.open(ws, user="alice") as studio:
        studio.connections.add("leaky", "leaky", {"api_key": SECRET}, "alice")
        studio.start("rw/poll_notes")
    return "rw/poll_notes.ipynb"


def test_a_trigger_error_is_kept_and_listed_with_the_secret_masked(
    ws: Path, cli: Callable[..., Result], leaky: str
) -> None:
    polled = cli("poll", leaky)
    assert polled.exit_code != 0 and SECRET not in polled.output, polled.output
    listed = cli("recipes", "--json")
    assert SECRET not in listed.output, listed.output
    (row,) = [r for r in json.loads(listed.stdout) if r["recipe"] == leaky]
    assert row["trigger_errors"]["count"] == 1 and "****" in row["trigger_errors"]["last"]


def test_the_scheduler_logs_a_failed_poll_with_the_secret_masked(
    ws: Path, leaky: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="lpstudio.scheduler")
    with Studio.open(ws, user="alice") as studio:
        Scheduler(studio).tick()
    said = [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]
    assert said and all(SECRET not in line for line in said), said
