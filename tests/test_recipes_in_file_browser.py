"""Recipes changed through Jupyter's contents API (JupyterLab's file browser and editor).

An operator may not create, edit or delete recipes, and the REST API refuses them; this API
deleted a started recipe for them, renamed, made and saved recipes, and none of it (nor an
analyst's delete) reached the audit log. Inside a real Jupyter server serving the workspace
(tests/servers.py, users named by `X-Test-User`): an operator reads recipes, marked not
writable, and every change under `projects/` is refused in the REST API's words, under an
async contents manager (Jupyter's default) and a sync one; everyone else's deletes, renames
and moves, and saves that make a version, are audited under who made them.

The server records a change after answering it, one at a time in the order they came: a
test waits for the entry (`audited`) or for a later change's (`barrier`).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import pytest
from traitlets.config import Config

from lpstudio.models import RecipeVersion
from lpstudio.settings import saved_settings
from lpstudio.studio import Studio
from tests.conftest import write_recipe
from tests.servers import extension_config
from tests.test_history_read_only import both_managers, files

STARTED = "bots/optin2.ipynb"  # a started recipe: deleted, it would stop answering its bot
#: What an operator's refusal says, after the path and where it is.
ASK_AN_ADMIN = "fix: ask an admin; this needs the role admin or analyst"


@pytest.fixture
def jp_root_dir(ws: Path) -> Path:
    """Jupyter serves the workspace: p/a, p/b, a started bots/optin2 and marks/m (for
    `barrier`); a notebook outside projects/; olga an operator, ann an analyst."""
    write_recipe(ws, "marks/m")
    write_recipe(ws, "p/a")
    write_recipe(ws, "p/b")
    write_recipe(ws, "bots/optin2")
    nbformat.write(nbformat.v4.new_notebook(), ws / "scratch.ipynb")
    with Studio.open(ws, user="alice") as studio:
        studio.set_role("olga", "operator")
        studio.set_role("ann", "analyst")
        studio.start(STARTED)
    return ws


@pytest.fixture
def served_workspace(jp_root_dir: Path) -> Path:
    return jp_root_dir


@pytest.fixture
def contents_manager(request: pytest.FixtureRequest) -> str:
    """Jupyter's contents manager: its default, async one, unless a test names the sync
    one (`indirect`)."""
    return getattr(request, "param", "AsyncLargeFileManager")


@pytest.fixture
def jp_server_config(served_workspace: Path, contents_manager: str) -> Config:
    config = extension_config(served_workspace)
    config.ServerApp.contents_manager_class = (
        f"jupyter_server.services.contents.largefilemanager.{contents_manager}"
    )
    return config


async def contents(
    jp_fetch: Any, user: str, method: str, path: str, body: Any = None, *more: str
) -> Any:
    """A request of `user`'s JupyterLab to the contents API at `path` (and `more`)."""
    options: dict[str, Any] = {
        "method": method,
        "headers": {"X-Test-User": user},
        "raise_error": False,
    }
    if body is not None or method == "POST":  # tornado sends no POST without a body
        options["body"] = json.dumps(body) if body is not None else ""
    return await jp_fetch("api", "contents", *path.split("/"), *more, **options)


def edited(ws: Path, recipe: str, last_cell: str) -> dict[str, Any]:
    """The recipe's notebook with its last cell edited, as JupyterLab saves it."""
    nb = nbformat.read(ws / "projects" / recipe, as_version=4)
    nb.cells[-1].source = last_cell
    return {"type": "notebook", "format": "json", "content": nb}


def refused(answer: Any, path: str, action: str, where: str = "is in projects/") -> None:
    """The answer is a 403 whose message, as JupyterLab shows it, names `path`, says what an
    operator cannot do there and gives the fix, in the REST API's words."""
    assert answer.code == 403, answer.body
    message = json.loads(answer.body)["message"]
    assert message == f"{path} {where}: an operator cannot {action}. {ASK_AN_ADMIN}"


def entries(ws: Path) -> list[dict[str, Any]]:
    """The audit log, oldest first, without the roles alice gave and her start."""
    with Studio.open(ws, user="alice") as studio:
        listed = studio.audit_entries(1000)
    return [
        {key: e[key] for key in ("user", "action", "target", "detail")}
        for e in reversed(listed)
        if e["action"] not in ("set_role", "start")
    ]


async def audited(ws: Path, until: Callable[[list[dict[str, Any]]], bool]) -> list[Any]:
    """The audit log (`entries`) once `until` holds."""
    deadline = time.monotonic() + 30
    while not until(listed := entries(ws)):
        assert time.monotonic() < deadline, listed
        await asyncio.sleep(0.02)
    return listed


async def barrier(jp_fetch: Any, ws: Path) -> list[dict[str, Any]]:
    """The audit log once every change made before is recorded or passed over: alice saves
    one more edit of marks/m and waits for its entry."""
    mark = f"print({time.monotonic_ns()})"
    saved = await contents(
        jp_fetch, "alice", "PUT", "projects/marks/m.ipynb", edited(ws, "marks/m.ipynb", mark)
    )
    assert saved.code == 200, saved.body
    listed = await audited(ws, lambda listed: any(e["user"] == "alice" for e in listed))
    return [e for e in listed if e["user"] != "alice"]


async def test_an_operator_reads_recipes_marked_read_only(jp_fetch: Any) -> None:
    for user, writable in (("olga", False), ("ann", True)):
        answer = await contents(jp_fetch, user, "GET", "projects/p/a.ipynb")
        assert answer.code == 200, answer.body
        model = json.loads(answer.body)
        assert model["content"]["cells"] and model["writable"] is writable
        listing = json.loads((await contents(jp_fetch, user, "GET", "projects/p")).body)
        assert {e["name"]: e["writable"] for e in listing["content"]} == {
            "a.ipynb": writable,
            "b.ipynb": writable,
        }
    # Outside projects/, an operator's files are theirs.
    scratch = json.loads((await contents(jp_fetch, "olga", "GET", "scratch.ipynb")).body)
    assert scratch["writable"] is True


@both_managers
async def test_an_operators_changes_of_recipes_are_refused_and_change_nothing(
    jp_fetch: Any, ws: Path
) -> None:
    notebook = {"type": "notebook", "format": "json", "content": nbformat.v4.new_notebook()}
    checkpoint = await contents(
        jp_fetch, "alice", "POST", "projects/p/b.ipynb", None, "checkpoints"
    )
    assert checkpoint.code == 201, checkpoint.body
    checkpoint_id = json.loads(checkpoint.body)["id"]
    before = files(ws / "projects")

    async def olga(method: str, path: str, body: Any = None, *more: str) -> Any:
        return await contents(jp_fetch, "olga", method, path, body, *more)

    refused(await olga("DELETE", f"projects/{STARTED}"), f"projects/{STARTED}", "delete recipes")
    refused(await olga("DELETE", "projects/bots"), "projects/bots", "delete recipes")
    to = {"path": "projects/p/renamed.ipynb"}
    refused(
        await olga("PATCH", "projects/p/a.ipynb", to),
        "projects/p/a.ipynb",
        "rename or move recipes",
    )
    out = {"path": "a.ipynb"}
    refused(
        await olga("PATCH", "projects/p/a.ipynb", out),
        "projects/p/a.ipynb",
        "rename or move recipes",
    )
    into = {"path": "projects/p/scratch.ipynb"}
    refused(
        await olga("PATCH", "scratch.ipynb", into),
        "projects/p/scratch.ipynb",
        "rename or move recipes",
    )
    refused(await olga("PATCH", "projects", {"path": "old"}), "projects", "rename or move recipes")
    refused(await olga("POST", "projects/p", {"type": "notebook"}), "projects/p", "create recipes")
    refused(await olga("POST", "projects", {"type": "directory"}), "projects", "create recipes")
    copy = {"copy_from": "scratch.ipynb"}
    refused(await olga("POST", "projects/p", copy), "projects/p", "create recipes")
    refused(
        await olga("PUT", "projects/p/new.ipynb", notebook),
        "projects/p/new.ipynb",
        "create recipes",
    )
    changed = edited(ws, "p/b.ipynb", "print('olga')")
    refused(await olga("PUT", "projects/p/b.ipynb", changed), "projects/p/b.ipynb", "edit recipes")
    restore = await olga("POST", "projects/p/b.ipynb", None, "checkpoints", checkpoint_id)
    refused(restore, "projects/p/b.ipynb", "edit recipes")

    assert files(ws / "projects") == before
    assert (ws / "scratch.ipynb").exists()
    # Outside projects/, an operator saves as anyone does.
    saved = await olga("PUT", "notes.ipynb", notebook)
    assert saved.code == 201, saved.body
    with Studio.open(ws, user="alice") as studio:
        assert studio.recipe(STARTED)  # still there, and started
        assert saved_settings(studio.store, STARTED)["state"] == "started"
        assert studio.versions("p/b") == []  # no version of olga's
    assert await barrier(jp_fetch, ws) == []


async def test_deletes_renames_and_saves_of_new_content_are_audited_by_who_made_them(
    jp_fetch: Any, ws: Path
) -> None:
    async def ann(method: str, path: str, body: Any = None) -> int:
        return int((await contents(jp_fetch, "ann", method, path, body)).code)

    # A save of new content is audited with its version; its autosave adds nothing.
    first = edited(ws, "p/b.ipynb", "print('ann')")
    assert await ann("PUT", "projects/p/b.ipynb", first) == 200
    assert await ann("PUT", "projects/p/b.ipynb", first) == 200
    # A rename, a move out of projects/ and one into it, a folder moved, deletes.
    assert await ann("PATCH", "projects/p/a.ipynb", {"path": "projects/p/renamed.ipynb"}) == 200
    assert await ann("PATCH", "projects/p/renamed.ipynb", {"path": "renamed.ipynb"}) == 200
    assert await ann("PATCH", "scratch.ipynb", {"path": "projects/p/scratch.ipynb"}) == 200
    assert await ann("PATCH", "projects/p", {"path": "projects/q"}) == 200
    assert await ann("DELETE", f"projects/{STARTED}") == 204
    assert await ann("DELETE", "projects/q") == 204
    assert await ann("DELETE", "renamed.ipynb") == 204  # no recipe: not audited

    listed = await barrier(jp_fetch, ws)
    with Studio.open(ws, user="alice") as studio, studio.store.read() as s:
        (version,) = s.query(RecipeVersion).filter_by(recipe="p/b.ipynb").all()
    assert version.created_by == "ann"
    assert listed == [
        {
            "user": "ann",
            "action": "save_recipe",
            "target": "p/b.ipynb",
            "detail": {"version": version.id},
        },
        {
            "user": "ann",
            "action": "rename_recipe",
            "target": "p/a.ipynb",
            "detail": {"from": "projects/p/a.ipynb", "to": "projects/p/renamed.ipynb"},
        },
        {
            "user": "ann",
            "action": "rename_recipe",
            "target": "p/renamed.ipynb",
            "detail": {"from": "projects/p/renamed.ipynb", "to": "renamed.ipynb"},
        },
        {
            "user": "ann",
            "action": "rename_recipe",
            "target": "p/scratch.ipynb",
            "detail": {"from": "scratch.ipynb", "to": "projects/p/scratch.ipynb"},
        },
        *(
            {
                "user": "ann",
                "action": "rename_recipe",
                "target": f"p/{name}",
                "detail": {"from": f"projects/p/{name}", "to": f"projects/q/{name}"},
            }
            for name in ("b.ipynb", "scratch.ipynb")
        ),
        {"user": "ann", "action": "delete_recipe", "target": STARTED, "detail": {}},
        *(
            {
                "user": "ann",
                "action": "delete_recipe",
                "target": f"q/{name}",
                "detail": {"folder": "projects/q"},
            }
            for name in ("b.ipynb", "scratch.ipynb")
        ),
    ]


async def test_a_checkpoint_restored_over_a_recipe_is_audited_as_its_save(
    jp_fetch: Any, ws: Path
) -> None:
    made = await contents(jp_fetch, "ann", "POST", "projects/p/b.ipynb", None, "checkpoints")
    checkpoint = json.loads(made.body)["id"]
    changed = edited(ws, "p/b.ipynb", "print('ann')")
    assert (await contents(jp_fetch, "ann", "PUT", "projects/p/b.ipynb", changed)).code == 200

    # File > Revert Notebook to Checkpoint, by another analyst.
    with Studio.open(ws, user="alice") as studio:
        studio.set_role("bob", "analyst")
    back = await contents(
        jp_fetch, "bob", "POST", "projects/p/b.ipynb", None, "checkpoints", checkpoint
    )
    assert back.code == 204, back.body

    listed = await barrier(jp_fetch, ws)
    assert [(e["user"], e["action"], e["target"]) for e in listed] == [
        ("ann", "save_recipe", "p/b.ipynb"),
        ("bob", "save_recipe", "p/b.ipynb"),
    ]
    with Studio.open(ws, user="alice") as studio:
        newest = studio.versions("p/b")[0]
    assert newest["created_by"] == "bob" and listed[1]["detail"] == {"version": newest["id"]}


async def test_a_folder_copied_makes_each_recipe_s_version_audited_as_its_save(
    jp_fetch: Any, ws: Path
) -> None:
    """The file browser's Copy and Paste of a project folder made recipes with no version to
    restore and no audit entry (Jupyter copies a folder's files without a save)."""
    copied = await contents(jp_fetch, "ann", "POST", "projects", {"copy_from": "projects/p"})
    assert copied.code == 201, copied.body
    folder = json.loads(copied.body)["path"]  # projects/p-Copy1
    listed = await barrier(jp_fetch, ws)
    names = [f"{folder.removeprefix('projects/')}/{name}" for name in ("a.ipynb", "b.ipynb")]
    assert [(e["user"], e["action"], e["target"]) for e in listed] == [
        ("ann", "save_recipe", name) for name in names
    ]
    with Studio.open(ws, user="alice") as studio:
        for name, entry in zip(names, listed, strict=True):
            (version,) = studio.versions(name)
            assert version["created_by"] == "ann" and entry["detail"] == {"version": version["id"]}
