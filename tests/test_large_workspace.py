"""A large brand's workspace (1,500 recipes, 300 started): a listing and a scheduler's tick
read every recipe in the same order, and past the 256 recipes the parse cache held, each
parsed every notebook again: `lpstudio recipes` took 52 s, GET /recipes 40 to 150 s, and
each tick 4 s of CPU before firing anything. A listing also read every connection, opening
each secret, once per started recipe."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from lpstudio.connections import Connections
from lpstudio.models import RecipeSettings
from lpstudio.recipe import Recipe
from lpstudio.scheduler import Scheduler
from lpstudio.studio import Studio

from .conftest import set_settings, write_recipe

#: More recipes than the parse cache held (256).
MANY = 300
#: A schedule that is never due in these tests.
NEW_YEAR = {"kind": "schedule", "cron": "0 0 1 1 *", "timezone": "UTC"}
STARTED = {"state": "started", "parameters": {}, "connections": {}}


def counting(monkeypatch: pytest.MonkeyPatch, cls: type, method: str) -> list[Any]:
    """The calls of `cls.method` from now on, each its first argument after the receiver."""
    calls: list[Any] = []
    original = getattr(cls, method)
    if isinstance(cls.__dict__[method], classmethod):

        def counted_class(kind: type, *args: Any, **kwargs: Any) -> Any:
            calls.append(args[0] if args else None)
            return original(*args, **kwargs)

        monkeypatch.setattr(cls, method, classmethod(counted_class))
    else:

        def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
            calls.append(args[0] if args else None)
            return original(self, *args, **kwargs)

        monkeypatch.setattr(cls, method, counted)
    return calls


def test_a_listing_or_a_tick_over_a_large_workspace_parses_only_the_notebook_edited(
    ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(MANY):
        write_recipe(ws, f"p{n % 10}/r{n}", metadata={"title": f"R{n}", "trigger": NEW_YEAR})
    with Studio.open(ws, user="alice") as studio:
        with studio.store.write() as s:  # one write: a test's setup, not 300 starts
            s.add_all(
                RecipeSettings(recipe=f"p{n % 10}/r{n}.ipynb", settings=STARTED, updated_by="alice")
                for n in range(MANY)
            )
        first = studio.recipes()
        assert len(first) == MANY and {row["state"] for row in first} == {"started"}
        parses = counting(monkeypatch, Recipe, "parse")

        assert studio.recipes() == first
        scheduler = Scheduler(studio)
        try:
            for minute in (0, 1):
                assert scheduler.tick(datetime(2026, 6, 1, 12, minute, tzinfo=UTC)) == []
        finally:
            scheduler.drain()
        assert parses == []

        write_recipe(ws, "p7/r7", metadata={"title": "Renamed", "trigger": NEW_YEAR})
        edited = studio.recipes()
    assert len(parses) == 1 and '"Renamed"' in parses[0]
    assert [row["title"] for row in edited if row["recipe"] == "p7/r7.ipynb"] == ["Renamed"]


def test_a_listing_reads_the_connections_once_for_all_its_started_recipes(
    ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    slots = {"files": {"type": "csv_file"}}
    for name in ("a", "b", "c", "lost"):
        write_recipe(ws, f"p/{name}", metadata={"title": name, "connections": slots})
    with Studio.open(ws, user="alice") as studio:
        for name in ("a", "b"):
            (ws / f"{name}.csv").write_text("id\n1\n")
            studio.connections.add(name, "csv_file", {"path": f"{name}.csv"}, "alice")
        for name, bound in (("a", "a"), ("b", "b"), ("c", "a"), ("lost", "gone")):
            set_settings(
                studio.store, f"p/{name}.ipynb", state="started", connections={"files": bound}
            )
        reads: list[Any] = counting(monkeypatch, Connections, "list")
        listed: Callable[[str], Any] = {
            row["recipe"]: row["settings_problem"] for row in studio.recipes()
        }.get

    assert len(reads) == 1
    assert [listed(f"p/{name}.ipynb") for name in ("a", "b", "c")] == [None, None, None]
    assert listed("p/lost.ipynb")["field"] == "connections.files"


def test_recipes_copied_from_one_template_check_its_schemas_once_and_each_refuses_alike(
    ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Checking a schema against JSON Schema's meta-schema was 60 s of a first listing of
    1,500 recipes copied from four templates: each copy checked the same schemas again."""
    import jsonschema

    trigger = {"kind": "callable", "path": "optin", "input_schema": {"type": "object"}}
    metadata = {"title": "Opt-in", "trigger": trigger, "parameters": {"x": {"maximum": 9}}}
    broken = {**metadata, "trigger": {**trigger, "input_schema": {"type": "objekt"}}}
    for n in range(3):
        write_recipe(ws, f"p/ok{n}", metadata={**metadata, "title": f"Opt-in {n}"})
        write_recipe(ws, f"p/bad{n}", metadata={**broken, "title": f"Broken {n}"})
    checks = counting(monkeypatch, jsonschema.Draft202012Validator, "check_schema")
    with Studio.open(ws, user="alice") as studio:
        rows = {row["recipe"]: row["problem"] for row in studio.recipes()}

    assert len(checks) <= 4  # one a distinct schema: the refinements, {}, and the two inputs
    assert [rows[f"p/ok{n}.ipynb"] for n in range(3)] == [None, None, None]
    for n in range(3):
        assert (
            "metadata.lpstudio.trigger.input_schema.type is not valid JSON Schema"
            in rows[f"p/bad{n}.ipynb"]
        )


def test_a_listing_masks_each_text_recipes_share_once_and_a_new_secret_at_once(
    ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Copies of one template describe themselves in the same strings (help, schema keys):
    a listing of 1,500 masked each again for every recipe, half of a warm listing's time."""
    from lpstudio import redaction

    later = "tok-later-0123456789"
    help_text = f"the greeting; never the token {later}"
    for n in range(20):
        write_recipe(
            ws,
            f"p/copy{n}",
            parameters=f"greeting: str = 'hi'  # {help_text}",
            metadata={"title": f"Copy {n}", "description": "Sends a reminder to each contact"},
        )
    with Studio.open(ws, user="alice") as studio:
        studio.connections.add("crm", "http", {"token": "tok-first-0123456789"}, "alice")
        redaction.described_masker.cache_clear()
        masked: list[str] = []  # each text searched for secrets
        search = redaction._secret_spans

        def counted(text: str, *args: Any) -> list[tuple[int, int]]:
            masked.append(text)
            return search(text, *args)

        monkeypatch.setattr(redaction, "_secret_spans", counted)
        first = studio.recipes()
        once = len(masked)
        assert studio.recipes() == first and len(masked) == once  # all masked before
        assert once < 5 * 20  # each copy's own title, and what the copies share, once

        studio.connections.add("crm2", "http", {"token": later}, "alice")
        rows = studio.recipes()
    helps = {row["parameters"]["properties"]["greeting"]["description"] for row in rows}
    assert helps == {"the greeting; never the token ****"}
