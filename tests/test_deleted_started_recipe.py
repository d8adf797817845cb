"""A started recipe whose notebook is deleted never sends again without a Start: settings are
kept by path and outlive the notebook, so it stayed started, nothing could stop it (`lpstudio
stop` and the REST route said it was not found), and a notebook written at its path later,
or a template tried there, fired on its schedule though nobody had started it.

A person's stop of it stops it; a scheduler that finds it stops it, audited and logged once;
a template tried at its path starts from none of its settings."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import Result

from lpstudio.models import TriggerState
from lpstudio.scheduler import Scheduler
from lpstudio.settings import saved_settings
from lpstudio.studio import Studio
from tests.conftest import write_recipe
from tests.servers import serving

RECIPE = "ops/gone.ipynb"


def every_minute(ws: Path, title: str = "gone") -> Path:
    """A schedule recipe at ops/gone that fires every minute."""
    trigger = {"kind": "schedule", "cron": "* * * * *", "timezone": "UTC"}
    return write_recipe(ws, "ops/gone", metadata={"title": title, "trigger": trigger})


def started_then_deleted(studio: Studio) -> None:
    notebook = every_minute(studio.workspace.root)
    studio.start(RECIPE)
    notebook.unlink()


def state(studio: Studio) -> str | None:
    return saved_settings(studio.store, RECIPE).get("state")


def entries(studio: Studio, action: str) -> list[dict[str, object]]:
    return [e for e in studio.audit_entries() if e["action"] == action and e["target"] == RECIPE]


def test_lpstudio_stop_stops_a_started_recipe_whose_notebook_is_gone(
    studio: Studio, cli: Callable[..., Result]
) -> None:
    started_then_deleted(studio)
    stopped = cli("stop", "ops/gone")
    assert stopped.exit_code == 0, stopped.output
    assert "stopped" in stopped.output
    assert state(studio) == "stopped"
    assert entries(studio, "stop")
    # A path that never held a started recipe is still no recipe.
    never = cli("stop", "ops/never")
    assert never.exit_code == 2 and "not found" in never.output, never.output


def test_the_rest_stop_route_stops_a_started_recipe_whose_notebook_is_gone(ws: Path) -> None:
    with Studio.open(ws, user="alice") as studio:
        started_then_deleted(studio)
    with serving(ws, "--LpstudioApp.scheduler=False") as served:  # a person's stop alone
        answer = served.api("alice", "POST", f"/recipes/{RECIPE}/stop")
        assert answer.status_code == 200, answer.text
        assert answer.json()["state"] == "stopped"
        missing = served.api("alice", "POST", "/recipes/ops/never.ipynb/stop")
        assert missing.status_code == 404, missing.text
    with Studio.open(ws, user="alice") as studio:
        assert state(studio) == "stopped"


def test_a_scheduler_stops_a_started_recipe_whose_notebook_is_gone(
    studio: Studio, caplog: pytest.LogCaptureFixture
) -> None:
    started_then_deleted(studio)
    scheduler = Scheduler(studio)
    now = studio.store.now() + timedelta(minutes=2)  # a minute of its schedule is due
    try:
        with caplog.at_level(logging.INFO, logger="lpstudio.scheduler"):
            assert scheduler.tick(now) == []
            assert scheduler.tick(now + timedelta(seconds=1)) == []
        assert state(studio) == "stopped"
        [entry] = entries(studio, "auto-stop")
        assert entry["user"] == "lpstudio:scheduler" and "notebook" in str(entry["detail"])
        said = [r.getMessage() for r in caplog.records if RECIPE in r.getMessage()]
        assert len(said) == 1 and "stopped" in said[0], said

        # Another notebook written at that path later is stopped: it fires nothing.
        every_minute(studio.workspace.root, title="someone else's")
        assert scheduler.tick(now + timedelta(minutes=3)) == []
        [row] = [r for r in studio.recipes() if r["recipe"] == RECIPE]
        assert row["state"] == "stopped"
    finally:
        scheduler.drain()


def test_a_template_tried_where_a_started_recipe_was_is_stopped_with_no_settings(
    studio: Studio, cli: Callable[..., Result]
) -> None:
    started_then_deleted(studio)
    tried = cli("gallery", "try", "payment_reminder", "--project", "ops", "--name", "gone")
    assert tried.exit_code == 0, tried.output
    [row] = [r for r in studio.recipes() if r["recipe"] == RECIPE]
    assert row["state"] == "stopped"
    assert row["trigger_errors"]["count"] == 0
    assert saved_settings(studio.store, RECIPE) == {}


def test_a_poll_template_tried_where_a_polled_recipe_was_polls_from_its_own_start(
    studio: Studio,
) -> None:
    # A poll recipe at shop/gone polled from a week ago (its first start fixed that), then
    # was deleted: the copy's first start would have polled from there, a week of carts.
    write_recipe(studio.workspace.root, "shop/gone")
    week_ago = (studio.store.now() - timedelta(days=7)).isoformat()
    with studio.store.write() as s:
        s.add(TriggerState(recipe="shop/gone.ipynb", since=week_ago, seen=[], errors=3))
    (studio.workspace.projects / "shop" / "gone.ipynb").unlink()
    studio.try_template("cart_abandonment", "shop", "gone")
    detail = studio.recipe_detail("shop/gone.ipynb")
    assert detail["since_fixed"] is None and detail["state"] == "stopped"
