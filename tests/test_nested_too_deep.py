"""A notebook whose JSON nests arrays and objects far deeper than any real one (3.7 KB of
`[[[...]]]` in its metadata) is an unreadable recipe like any other, said so: Python's
readers recurse on it, and the RecursionError escaped to whatever read it (the listing, a
started recipe's calls, every scheduler tick, an import)."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from click.testing import Result

from lpstudio.packages import MANIFEST, PREFIX, export_project
from lpstudio.scheduler import Scheduler
from lpstudio.studio import Studio
from tests.conftest import write_recipe
from tests.servers import serving

SAID = "is not a valid notebook: arrays and objects nest deeper than 100 levels"
SCHEDULE = {"kind": "schedule", "cron": "* * * * *", "timezone": "UTC"}
CALLABLE = {"kind": "callable", "path": "echo", "input_schema": {"type": "object"}}


def deep(levels: int = 1500) -> str:
    """A notebook's text whose metadata nests `levels` arrays, as the reviewer's did."""
    nested = "[" * levels + "]" * levels
    return '{"cells": [], "metadata": {"deep": ' + nested + '}, "nbformat": 4, "nbformat_minor": 5}'


def test_the_listing_and_a_started_callable_say_the_deep_notebook_is_unreadable(
    ws: Path,
) -> None:
    write_recipe(ws, "p/good")
    echo = write_recipe(ws, "bots/echo", metadata={"title": "echo", "trigger": CALLABLE})
    with Studio.open(ws, user="alice") as studio:
        studio.start("bots/echo.ipynb")
    (ws / "projects" / "p" / "deep.ipynb").write_text(deep(), encoding="utf-8")
    echo.write_text(deep(), encoding="utf-8")
    with serving(ws, "--LpstudioApp.scheduler=False") as served:
        listed = served.api("otto", "GET", "/recipes")
        assert listed.status_code == 200, listed.text
        rows = {row["recipe"]: row for row in listed.json()["recipes"]}
        assert rows["p/good.ipynb"]["problem"] is None
        for name in ("p/deep.ipynb", "bots/echo.ipynb"):
            assert f"recipe {name} {SAID}" in rows[name]["problem"], rows[name]
        token = served.client_token()
        called = served.api("bot", "POST", "/call/echo", json={}, headers={"API-TOKEN": token})
        assert called.status_code == 503, called.text
        assert called.json()["error"]["code"] == "RecipeNotReady", called.text


def test_lpstudio_recipes_lists_it_beside_the_others(ws: Path, cli: Callable[..., Result]) -> None:
    write_recipe(ws, "p/good")
    (ws / "projects" / "p" / "deep.ipynb").write_text(deep(), encoding="utf-8")
    listed = cli("recipes", "--json")
    assert listed.exit_code == 0, listed.output
    rows = {row["recipe"]: row for row in json.loads(listed.output)}
    assert rows["p/good.ipynb"]["problem"] is None
    assert SAID in rows["p/deep.ipynb"]["problem"]


def test_a_scheduler_tick_fires_the_other_schedules(studio: Studio) -> None:
    root = studio.workspace.root
    write_recipe(root, "ops/good", metadata={"title": "good", "trigger": SCHEDULE})
    broken = write_recipe(root, "ops/deep", metadata={"title": "deep", "trigger": SCHEDULE})
    studio.start("ops/good.ipynb")
    studio.start("ops/deep.ipynb")
    broken.write_text(deep(), encoding="utf-8")
    scheduler = Scheduler(studio)
    try:
        fired = scheduler.tick(studio.store.now() + timedelta(minutes=2))
        assert [studio.job(job).recipe for job in fired] == ["ops/good.ipynb"]
    finally:
        scheduler.drain()


def test_import_refuses_a_package_holding_it_naming_the_member(
    ws: Path, cli: Callable[..., Result]
) -> None:
    write_recipe(ws, "p/good")
    with Studio.open(ws, user="alice") as studio:
        export_project(studio, "p", ws.parent / "p.zip")
    altered = io.BytesIO()
    with zipfile.ZipFile(ws.parent / "p.zip") as given, zipfile.ZipFile(altered, "w") as out:
        out.writestr(MANIFEST, given.read(MANIFEST))
        out.writestr(f"{PREFIX}good.ipynb", deep())
    (ws.parent / "deep.zip").write_bytes(altered.getvalue())
    imported = cli("import", str(ws.parent / "deep.zip"), "--into", "cli")
    assert imported.exit_code != 0 and "Traceback" not in imported.output, imported.output
    assert f"recipe cli/good does not load here: recipe cli/good.ipynb {SAID}" in imported.output
    with serving(ws, "--LpstudioApp.scheduler=False") as served:
        answer = served.api(
            "alice",
            "POST",
            "/packages?into=rest",
            content=altered.getvalue(),
            headers={"Content-Type": "application/zip"},
        )
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"]["field"] == "recipes.rest/good", answer.text
        assert not (ws / "projects" / "rest").exists() and not (ws / "projects" / "cli").exists()
