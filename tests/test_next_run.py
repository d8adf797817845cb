"""A started schedule says when it fires next: `lpstudio settings` in this machine's time and
in the schedule's zone, `--json` and the REST API's recipe rows and detail in UTC (the lab's
Recipes sidebar shows it in the browser's zone). A stopped one, or another trigger, has none."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import Result

from tests.conftest import write_recipe
from tests.servers import serving

PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture
def tokyo(monkeypatch: pytest.MonkeyPatch) -> Iterator[ZoneInfo]:
    """This process in Tokyo's zone, which is not the schedule's."""
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    yield ZoneInfo("Asia/Tokyo")
    monkeypatch.undo()
    time.tzset()


def next_nine_in_paris(after: datetime) -> datetime:
    """The first 09:00 in Paris after `after`, in UTC: today's, else tomorrow's."""
    there = after.astimezone(PARIS)
    nine = datetime(there.year, there.month, there.day, 9, tzinfo=PARIS)
    if nine <= there:
        tomorrow = there.date() + timedelta(days=1)
        nine = datetime(tomorrow.year, tomorrow.month, tomorrow.day, 9, tzinfo=PARIS)
    return nine.astimezone(UTC)


def daily(ws: Path) -> str:
    write_recipe(
        ws,
        "ops/daily",
        metadata={
            "title": "daily",
            "trigger": {"kind": "schedule", "cron": "0 9 * * *", "timezone": "Europe/Paris"},
        },
    )
    return "ops/daily.ipynb"


def test_settings_says_when_a_started_schedule_fires_next_in_both_zones(
    ws: Path, cli: Callable[..., Result], tokyo: ZoneInfo
) -> None:
    recipe = daily(ws)
    assert "next run" not in cli("settings", recipe).output  # stopped: none
    assert cli("start", recipe).exit_code == 0

    before = datetime.now(UTC)
    shown = cli("settings", recipe)
    as_json = cli("settings", recipe, "--json")

    due = {next_nine_in_paris(before), next_nine_in_paris(datetime.now(UTC))}
    said = {
        f"next run:    {d.astimezone(tokyo):%Y-%m-%d %H:%M:%S} "
        f"({d.astimezone(PARIS):%Y-%m-%d %H:%M} Europe/Paris, the schedule's time zone)"
        for d in due
    }
    assert any(line in shown.output for line in said), shown.output
    assert as_json.exit_code == 0, as_json.output

    assert json.loads(as_json.output)["next_run"] in {d.isoformat() for d in due}

    assert cli("stop", recipe).exit_code == 0
    assert "next run" not in cli("settings", recipe).output
    assert "next_run" not in json.loads(cli("settings", recipe, "--json").output)


def test_the_rest_api_gives_a_started_schedule_s_next_run_in_utc(
    ws: Path, cli: Callable[..., Result]
) -> None:
    recipe = daily(ws)
    write_recipe(ws, "ops/by_hand", metadata={"title": "by hand"})
    assert cli("start", recipe).exit_code == 0
    with serving(ws) as served:
        before = datetime.now(UTC)
        rows = served.api("alice", "GET", "/recipes").json()["recipes"]
        detail = served.api("alice", "GET", f"/recipes/{recipe}").json()
        due = {
            next_nine_in_paris(before).isoformat(),
            next_nine_in_paris(datetime.now(UTC)).isoformat(),
        }
    by_name = {row["recipe"]: row for row in rows}
    assert by_name[recipe]["next_run"] in due
    assert by_name["ops/by_hand.ipynb"]["next_run"] is None
    assert detail["next_run"] in due
