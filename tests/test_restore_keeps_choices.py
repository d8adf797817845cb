"""`lpstudio restore` brings back a version's notebook and parameters without turning
automatic connection choices into fixed ones, and makes no version of content that did not
change.

A version holds the connection each slot resolved to when it was made (a JupyterLab save or
a run stores them as a job runs with them), not whether the slot was chosen or automatic: a
slot the automatic choice fills now as it did then stays automatic (or keeps its current
choice, where that gives the same), and one filled otherwise is chosen as it was.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from lpstudio.settings import saved_settings
from lpstudio.studio import Studio
from tests.conftest import write_recipe
from tests.test_versions_on_save import notebook, save, versions

SLOTS = {"title": "probe", "connections": {"crm": {"type": "http"}}}


def add_connection(ws: Path, name: str) -> None:
    """An http connection that needs nothing but its token (as a webhook's)."""
    with Studio.open(ws, user="alice") as studio:
        studio.connections.add(
            name, "http", {"auth_type": "bearer", "token": "tok-1-secret"}, "alice"
        )


def shown_connection(cli: Any) -> str:
    """The connection line `lpstudio settings` prints for the slot."""
    result: Result = cli("settings", "t/probe")
    assert result.exit_code == 0, result.output
    (line,) = [line for line in result.output.splitlines() if line.startswith("connection:")]
    return line


@pytest.fixture
def jp_root_dir(ws: Path) -> Path:
    """Jupyter serves the workspace; the recipe's slot is filled by the only http
    connection, automatically."""
    add_connection(ws, "crm-a")
    write_recipe(ws, "t/probe", metadata=SLOTS)
    return ws


@pytest.fixture
def served_workspace(jp_root_dir: Path) -> Path:
    return jp_root_dir


async def test_a_restore_of_a_jupyterlab_save_keeps_the_slot_automatic_and_adds_no_version(
    jp_fetch: Any, jp_root_dir: Path, cli: Any
) -> None:
    """The slot was made fixed (a connection added later no longer changed it, and the one
    it held could not be removed), and a second version of the same content was listed."""
    ws = jp_root_dir
    edit = notebook(ws, "t/probe", "print(y + 1)")
    assert await save(jp_fetch, "alice", "projects/t/probe.ipynb", edit) == 200
    (saved,) = await versions(jp_fetch, "t/probe", lambda listed: len(listed) == 1)
    assert saved["settings"]["connections"] == {"crm": "crm-a"}  # as a run would use it
    assert shown_connection(cli) == "connection:  crm = crm-a  (automatic)"

    result = cli("restore", "t/probe", saved["id"][:12], "--json")
    assert result.exit_code == 0, result.output
    restored = json.loads(result.stdout)
    assert restored["id"] == restored["kept"] == saved["id"], restored
    assert restored["recipe"] == "t/probe.ipynb", restored  # not its path on this machine
    assert await versions(jp_fetch, "t/probe", lambda listed: True) == [saved]
    assert shown_connection(cli) == "connection:  crm = crm-a  (automatic)"

    add_connection(ws, "crm")  # named like the slot: the automatic choice now
    assert shown_connection(cli) == "connection:  crm = crm  (automatic)"
    assert cli("connections", "remove", "crm-a").exit_code == 0


@pytest.mark.parametrize(
    ("then", "now", "restored"),
    [
        # Automatic when its version ran, fixed to another since: automatic again.
        ({}, {"crm": "crm-b"}, {}),
        # Fixed when its version ran to a connection the automatic choice does not give.
        ({"crm": "crm-b"}, {}, {"crm": "crm-b"}),
        # Fixed since to what it ran with: the choice is kept.
        ({}, {"crm": "crm"}, {"crm": "crm"}),
    ],
    ids=["was-automatic", "was-chosen", "chosen-alike"],
)
def test_a_restore_brings_back_what_a_run_ran_with_choosing_only_what_it_must(
    ws: Path, then: dict[str, str], now: dict[str, str], restored: dict[str, str]
) -> None:
    """A run's version holds the connection the slot resolved to. The settings saved since
    are a version too (stored as saved): the restore keeps that, and makes no other."""
    add_connection(ws, "crm")  # named like the slot: the automatic choice
    add_connection(ws, "crm-b")
    write_recipe(ws, "t/probe", metadata=SLOTS)
    with Studio.open(ws, user="alice") as studio:
        studio.save_settings("t/probe", {"x": 5}, connections=then)
        job = studio.run("t/probe")
        assert job.status == "succeeded", job.error
        reset = [f"connections.{slot}" for slot in then if slot not in now]
        studio.save_settings("t/probe", {"x": 9}, connections=now, reset=reset)
        before = [v["id"] for v in studio.versions("t/probe")]

        studio.restore("t/probe", job.version_id)
        saved = saved_settings(studio.store, "t/probe.ipynb")
        assert saved["parameters"] == {"x": 5}
        assert saved["connections"] == restored
        recipe = studio.recipe("t/probe")
        assert studio.settings(recipe)["connections"] == {"crm": then.get("crm", "crm")}
        after = [v["id"] for v in studio.versions("t/probe")]
        assert sorted(after) == sorted(before)  # each was a version: none made
        assert after[0] == job.version_id  # the one restored, listed newest again
