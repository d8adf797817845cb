"""A recipe saved in JupyterLab is a version, authored by who saved it.

JupyterLab saves through Jupyter's contents API (`PUT /api/contents/...`), which no lpstudio
route sees. Inside a real Jupyter server made by jupyter_server's pytest plugin, serving the
workspace as `make studio` does, with users named by `X-Test-User` (tests/servers.py).

The server records a save's version after answering the save, one save at a time in the
order they came: once a later save's version is listed, every earlier save has been
recorded or passed over (`barrier`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest

from lpstudio.errors import WorkspaceError
from lpstudio.models import RecipeVersion
from lpstudio.store import Store
from lpstudio.studio import Studio
from tests.conftest import write_recipe

TOKEN = "tok-Zq81xwLk"  # a connection's secret


@pytest.fixture
def jp_root_dir(ws: Path) -> Path:
    """Jupyter serves the workspace: its contents API writes the recipes."""
    with Studio.open(ws, user="alice") as studio:
        values = {"auth_type": "bearer", "token": TOKEN, "base_url": "https://crm.example"}
        studio.connections.add("crm", "http", values, "alice")
    write_recipe(ws, "t/probe")
    write_recipe(ws, "t/other")
    return ws


@pytest.fixture
def served_workspace(jp_root_dir: Path) -> Path:
    return jp_root_dir


class Kept(logging.Handler):
    """Keeps the records it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def saves_log() -> Iterator[list[logging.LogRecord]]:
    """What the server logs of saves. lpstudio's loggers write through the server's log
    (`LpstudioApp._log_through_the_server`), not to the root logger caplog watches."""
    kept = Kept()
    logger = logging.getLogger("lpstudio.server.saves")
    logger.addHandler(kept)
    try:
        yield kept.records
    finally:
        logger.removeHandler(kept)


def notebook(ws: Path, recipe: str, last_cell: str) -> dict[str, Any]:
    """The recipe's notebook with its last cell edited, as JupyterLab sends it."""
    nb = nbformat.read(ws / "projects" / f"{recipe}.ipynb", as_version=4)
    nb.cells[-1].source = last_cell
    return {"type": "notebook", "format": "json", "content": nb}


async def save(fetch: Any, user: str, path: str, model: dict[str, Any]) -> int:
    """Saves `model` at `path` (from the workspace's folder) as JupyterLab does."""
    answer = await fetch(
        "api",
        "contents",
        *path.split("/"),
        method="PUT",
        body=json.dumps(model),
        headers={"X-Test-User": user},
        raise_error=False,
    )
    return int(answer.code)


async def api(fetch: Any, method: str, path: str, body: Any = None) -> Any:
    """alice's call to lpstudio's REST API."""
    kwargs: dict[str, Any] = {"method": method, "headers": {"X-Test-User": "alice"}}
    if body is not None:
        kwargs["body"] = json.dumps(body)
    answer = await fetch("lpstudio", "api", "v1", *path.strip("/").split("/"), **kwargs)
    return json.loads(answer.body)


async def versions(fetch: Any, recipe: str, until: Callable[[list[Any]], bool]) -> list[Any]:
    """The recipe's versions as the REST API lists them (newest first), once `until` holds."""
    deadline = time.monotonic() + 30
    while True:
        listed = (await api(fetch, "GET", f"/recipes/{recipe}.ipynb/versions"))["versions"]
        if until(listed):
            return listed
        assert time.monotonic() < deadline, f"versions of {recipe}: {listed}"
        await asyncio.sleep(0.02)


async def barrier(fetch: Any, ws: Path, mark: str) -> None:
    """Waits until every save made before is recorded or passed over: saves one more edit
    of t/other and waits for its version."""
    count = len(await versions(fetch, "t/other", lambda listed: True))
    edit = notebook(ws, "t/other", mark)
    assert await save(fetch, "alice", "projects/t/other.ipynb", edit) == 200
    await versions(fetch, "t/other", lambda listed: len(listed) > count)


def versioned(ws: Path) -> list[str]:
    """The recipes that have versions, as the store holds them."""
    with Studio.open(ws, user="alice") as studio, studio.store.read() as s:
        return sorted({v.recipe for v in s.query(RecipeVersion).all()})


async def test_each_save_of_new_content_is_a_version_by_who_saved_it(
    jp_fetch: Any, jp_root_dir: Path
) -> None:
    ws = jp_root_dir
    assert await versions(jp_fetch, "t/probe", lambda listed: True) == []

    first = notebook(ws, "t/probe", "print(y + 1)")
    assert await save(jp_fetch, "alice", "projects/t/probe.ipynb", first) == 200
    (by_alice,) = await versions(jp_fetch, "t/probe", lambda listed: len(listed) == 1)
    assert by_alice["created_by"] == "alice"

    # An autosave of unchanged content adds none; another user's edit is theirs.
    assert await save(jp_fetch, "alice", "projects/t/probe.ipynb", first) == 200
    second = notebook(ws, "t/probe", "print(y + 2)")
    assert await save(jp_fetch, "bob", "projects/t/probe.ipynb", second) == 200
    listed = await versions(jp_fetch, "t/probe", lambda listed: listed[0]["created_by"] == "bob")
    assert [v["created_by"] for v in listed] == ["bob", "alice"]
    assert listed[1]["id"] == by_alice["id"]

    # Edited back to the first content, that content is the newest version again, by who
    # saved it (the newest listed was the edit it undid).
    assert await save(jp_fetch, "carol", "projects/t/probe.ipynb", first) == 200
    listed = await versions(jp_fetch, "t/probe", lambda listed: listed[0]["created_by"] == "carol")
    assert [v["id"] for v in listed][:1] == [by_alice["id"]] and len(listed) == 2

    # A run names the version saved: it makes none of its own.
    job = await api(jp_fetch, "POST", "/recipes/t/probe.ipynb/run", {})
    while job["status"] not in ("succeeded", "failed", "cancelled"):
        await asyncio.sleep(0.05)
        job = await api(jp_fetch, "GET", f"/jobs/{job['id']}")
    assert job["status"] == "succeeded" and job["version"] == listed[0]["id"]
    assert await versions(jp_fetch, "t/probe", lambda listed: True) == listed

    # The first save, restored, is back as it was saved.
    await api(jp_fetch, "POST", "/recipes/t/probe.ipynb/restore", {"version": by_alice["id"]})
    answer = await jp_fetch("api", "contents", "projects", "t", "probe.ipynb")
    assert json.loads(answer.body)["content"]["cells"][-1]["source"] == "print(y + 1)"


async def test_saves_of_what_is_no_recipe_make_no_version(jp_fetch: Any, jp_root_dir: Path) -> None:
    ws = jp_root_dir
    plain = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")])
    notes = {"type": "notebook", "format": "json", "content": plain}
    assert await save(jp_fetch, "alice", "projects/t/notes.ipynb", notes) == 201
    outside = notebook(ws, "t/probe", "print(y + 1)")
    assert await save(jp_fetch, "alice", "scratch.ipynb", outside) == 201
    text = {"type": "file", "format": "text", "content": "print('helper')\n"}
    assert await save(jp_fetch, "alice", "projects/t/helper.py", text) == 201

    # A recipe broken by its save is saved all the same, and is no version.
    broken = notebook(ws, "t/probe", "print(y)")
    broken["content"].cells[0].source = "from decimal import Decimal\nx: Decimal = 1"
    assert await save(jp_fetch, "alice", "projects/t/probe.ipynb", broken) == 200
    assert "Decimal" in (ws / "projects" / "t" / "probe.ipynb").read_text()

    await barrier(jp_fetch, ws, "print('mark')")
    assert versioned(ws) == ["t/other.ipynb"]


async def test_a_version_that_cannot_be_recorded_is_logged_once_and_the_save_stands(
    jp_fetch: Any,
    jp_root_dir: Path,
    saves_log: list[logging.LogRecord],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ws = jp_root_dir
    edit = notebook(ws, "t/probe", "print(y + 1)")
    snapshot = Store.snapshot

    def failing(store: Store, recipe: str, *args: Any, **kwargs: Any) -> str:
        if recipe == "t/probe.ipynb":  # a store that refuses it, saying a secret
            raise WorkspaceError(f"cannot write {TOKEN}", field="store", fix="look at it")
        return snapshot(store, recipe, *args, **kwargs)

    monkeypatch.setattr(Store, "snapshot", failing)  # the test's server runs in this process
    assert await save(jp_fetch, "bob", "projects/t/probe.ipynb", edit) == 200
    assert "print(y + 1)" in (ws / "projects" / "t" / "probe.ipynb").read_text()

    await barrier(jp_fetch, ws, "print('mark')")
    assert versioned(ws) == ["t/other.ipynb"]
    (logged,) = [record.getMessage() for record in saves_log]
    assert "t/probe.ipynb by bob made no version" in logged, logged
    assert TOKEN not in logged and "cannot write ****" in logged


async def test_a_user_name_holding_a_secret_saves_no_recipe(
    jp_fetch: Any, jp_root_dir: Path
) -> None:
    ws = jp_root_dir
    before = (ws / "projects" / "t" / "probe.ipynb").read_bytes()
    edit = notebook(ws, "t/probe", "print(y + 1)")
    # Refused as a user, as the REST API refuses them: no role to change recipes with.
    answer = await jp_fetch(
        "api",
        "contents",
        "projects",
        "t",
        "probe.ipynb",
        method="PUT",
        body=json.dumps(edit),
        headers={"X-Test-User": f"ops-{TOKEN}"},
        raise_error=False,
    )
    assert answer.code == 403
    message = json.loads(answer.body)["message"]
    assert message.startswith("projects/t/probe.ipynb is in projects/: "), message
    assert TOKEN not in message and "fix: " in message, message
    assert (ws / "projects" / "t" / "probe.ipynb").read_bytes() == before
