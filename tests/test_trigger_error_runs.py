"""A run of trigger errors counts every poll of a started recipe's trigger, whoever asked for
it: a scheduler's tick, `lpstudio poll` or REST's Poll now. A poll that works ends the run; one
that fails adds to it, and the one that reaches `[triggers] auto_stop_after` stops the recipe,
with the scheduler's audit entry and notice to its failure contacts. A recipe that is not
started is never stopped, so its polls count nothing (an auto-stopped one keeps on show the run
that stopped it until it starts again).

Only the scheduler's polls counted: a manual poll that worked left the run of errors standing,
so one more error of the scheduler stopped a recipe whose trigger had just worked, and failed
manual polls were never counted.

Real sandbox, real store, a real Jupyter server in the test; the scheduler ticks by a clock
the test sets.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from lpstudio.sandbox import Sandbox
from lpstudio.scheduler import Scheduler
from lpstudio.settings import saved_settings
from lpstudio.store import Store
from lpstudio.studio import Studio
from tests.test_scheduler import (
    SEND,
    cli,
    db,
    notify,
    poll_recipe,
    schedule_recipe,
    trigger_errors,
    webhook,
    ws,
)

__all__ = ["db", "webhook", "ws"]  # fixtures of test_scheduler's, used here

MINUTE = timedelta(minutes=1)  # past the poll interval: every tick polls


async def poll_now(jp_fetch: Any, recipe: str) -> tuple[int, Any]:
    """alice's Poll now of `p/NAME.ipynb` through the REST API of the server in this test."""
    answer = await jp_fetch(
        "lpstudio",
        "api",
        "v1",
        "recipes",
        *recipe.split("/"),
        "poll",
        method="POST",
        body=b"{}",
        headers={"X-Test-User": "alice"},
        raise_error=False,
    )
    return answer.code, json.loads(answer.body)


def stop_after(ws: Path, errors: int) -> None:
    with (ws / "lpstudio.toml").open("a") as config:
        config.write(f"\n[triggers]\nauto_stop_after = {errors}\n")


def shop_token(studio: Studio, works: bool) -> None:
    """The sandbox's Shopify answers the trigger's polls, or refuses them all (401)."""
    studio.connections.update(
        "shopify", {"access_token": "shpat_sandbox" if works else "wrong-token"}
    )


@contextmanager
def ticking(studio: Studio) -> Iterator[Any]:
    """`tick()`: a scheduler's tick, each a minute after the one before."""
    scheduler = Scheduler(studio)
    clock = [datetime.now(UTC)]

    def tick() -> None:
        clock[0] += MINUTE
        scheduler.tick(clock[0])

    try:
        yield tick
    finally:
        scheduler.drain()


def listed(ws: Path) -> str:
    shown = cli(ws, "recipes")
    assert shown.exit_code == 0, shown.output
    return shown.output


async def test_a_poll_someone_asked_for_that_works_ends_the_run_of_errors(
    jp_fetch: Any, ws: Path, sandbox: Sandbox, db: Store, webhook: Any
) -> None:
    stop_after(ws, 3)
    recipe = poll_recipe(ws, "cart", (SEND,))
    with Studio.open(ws, user="alice") as studio, ticking(studio) as tick:
        studio.start(recipe)
        notify(studio, recipe, webhook.url)
        shop_token(studio, works=False)
        tick()
        tick()
        assert trigger_errors(db, recipe) == 2
        shop_token(studio, works=True)
        polled = cli(ws, "poll", "p/cart")
        assert (polled.exit_code, polled.output) == (0, "no new events\n")
        assert trigger_errors(db, recipe) == 0
        assert "trigger errors" not in listed(ws)
        shop_token(studio, works=False)
        tick()
        tick()
        assert trigger_errors(db, recipe) == 2
        shop_token(studio, works=True)
        assert await poll_now(jp_fetch, recipe) == (202, {"jobs": [], "warnings": []})
        assert trigger_errors(db, recipe) == 0
        shop_token(studio, works=False)
        tick()  # one error after a poll that worked: the first of a new run, not the third
        assert trigger_errors(db, recipe) == 1
        assert saved_settings(db, recipe)["state"] == "started"
    assert webhook.posts == []
    assert "1 trigger error in a row" in listed(ws)


async def test_failed_polls_anyone_asked_for_count_towards_the_auto_stop(
    jp_fetch: Any, ws: Path, sandbox: Sandbox, db: Store, webhook: Any
) -> None:
    stop_after(ws, 3)
    recipe = poll_recipe(ws, "cart", (SEND,))
    with Studio.open(ws, user="alice") as studio, ticking(studio) as tick:
        studio.start(recipe)
        notify(studio, recipe, webhook.url)
        shop_token(studio, works=False)
        tick()
        code, refused = await poll_now(jp_fetch, recipe)
        assert code == 502, refused
        assert "Invalid API key or access token" in refused["error"]["message"]
        assert trigger_errors(db, recipe) == 2
        assert saved_settings(db, recipe)["state"] == "started"
        failed = cli(ws, "poll", "p/cart")
        assert failed.exit_code != 0 and "Invalid API key" in failed.output, failed.output
        assert saved_settings(db, recipe)["state"] == "stopped"
        (told,) = webhook.posts
        assert (told["job"], told["recipe"], told["status"]) == (None, recipe, "stopped")
        assert told["error"]["ename"] == "AutoStopped"
        assert "stopped after 3 trigger errors in a row" in told["error"]["evalue"]
        # Stopped, it cannot be stopped again: its polls leave the run that stopped it on show.
        assert cli(ws, "poll", "p/cart").exit_code != 0
        shop_token(studio, works=True)
        assert cli(ws, "poll", "p/cart").exit_code == 0
        assert await poll_now(jp_fetch, recipe) == (202, {"jobs": [], "warnings": []})
        assert trigger_errors(db, recipe) == 3
        assert "stopped after 3 trigger errors in a row; last: " in listed(ws)
    assert len(webhook.posts) == 1
    audit = cli(ws, "audit", "--json")
    stops = [e for e in json.loads(audit.stdout) if e["action"] == "auto-stop"]
    assert len(stops) == 1, stops
    assert stops[0]["target"] == recipe and stops[0]["user"] == "lpstudio:scheduler"
    assert stops[0]["detail"]["reason"] == "3 consecutive trigger errors"
    assert "Invalid API key or access token" in stops[0]["detail"]["last_error"]


def test_polls_of_a_recipe_not_started_or_not_polled_count_no_trigger_error(
    ws: Path, sandbox: Sandbox, db: Store
) -> None:
    """A stopped recipe cannot be stopped: its failed polls start no run of errors. Nor is
    `lpstudio poll` of a schedule recipe (refused: it has no poll trigger) its trigger's error."""
    stop_after(ws, 1)
    recipe = poll_recipe(ws, "cart", (SEND,))
    daily = schedule_recipe(ws, "daily", {"cron": "0 9 * * *", "timezone": "UTC"})
    with Studio.open(ws, user="alice") as studio:
        studio.start(daily)
        shop_token(studio, works=False)
    for _ in range(2):
        assert cli(ws, "poll", "p/cart").exit_code != 0
    refused = cli(ws, "poll", "p/daily")
    assert refused.exit_code != 0 and "not polled" in refused.output, refused.output
    assert trigger_errors(db, recipe) == trigger_errors(db, daily) == 0
    assert saved_settings(db, daily)["state"] == "started"
    assert "trigger errors" not in listed(ws)


def test_an_auto_stop_promises_no_next_poll_and_says_how_to_start_again(
    ws: Path, sandbox: Sandbox, db: Store, webhook: Any
) -> None:
    # The stop quoted its last error as it was ("...; the next poll tries again"), though no
    # poll follows a stop; the log said nothing of rerunning, the webhook no fix of its own.
    stop_after(ws, 2)
    recipe = poll_recipe(ws, "cart", (SEND,))
    fault = {"error_rate": 1.0, "error_status": 500, "scope": "shopify"}
    with Studio.open(ws, user="alice") as studio, ticking(studio) as tick:
        studio.start(recipe)
        notify(studio, recipe, webhook.url)
        httpx.post(f"{sandbox.url}/_sandbox/faults", json=fault).raise_for_status()
        tick()
        assert "the next poll tries again" in listed(ws)  # started: one follows
        tick()
        assert saved_settings(db, recipe)["state"] == "stopped"
    shown = listed(ws)
    assert "stopped after 2 trigger errors in a row; last: " in shown, shown
    assert "Shopify answered HTTP 500" in shown and "next poll" not in shown, shown
    assert "fix: start it again once the cause is fixed: `lpstudio start p/cart.ipynb`" in shown
    (told,) = webhook.posts
    assert "next poll" not in told["error"]["evalue"], told
    assert told["error"]["fix"].startswith("start it again once the cause is fixed"), told
