"""A cron range written backwards (`5-1`) is refused wherever a cron is checked, as standard
cron refuses it: croniter runs it as a wrap-around, so `0 9 * * 5-1`, typed for Monday to
Friday, fired on Friday, Saturday, Sunday and Monday, and `5-1 * * * *` 57 times an hour.
Ranges in ascending order, and a wrap-around split in two, still fire."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import Result

from lpstudio.settings import saved_settings
from lpstudio.studio import Studio
from tests.conftest import write_recipe
from tests.servers import Served, serving

FIELD = "metadata.lpstudio.trigger.cron"
FIX = "write ranges in ascending order (1-5); split a range that wraps: 50-59,0-10"

#: Each field's range backwards: weekdays (by number and by name), minutes, hours, days of
#: the month, months by name, and a range with a step.
BACKWARDS = [
    "0 9 * * 5-1",
    "0 9 * * fri-mon",
    "5-1 * * * *",
    "0 22-6 * * *",
    "0 9 20-10 * *",
    "0 9 1 dec-jan *",
    "50-10/5 * * * *",
]
#: Ascending ranges, names, a wrap-around split in two, and Sunday as 7.
ASCENDING = [
    "0 9 * * 1-5",
    "0 9 * * mon-fri",
    "50-59,0-10 * * * *",
    "0 9 * * 5-7",
    "*/15 9-17 * * *",
]


def schedule(ws: Path, name: str, cron: str) -> str:
    write_recipe(
        ws, f"ops/{name}", metadata={"title": name, "trigger": {"kind": "schedule", "cron": cron}}
    )
    return f"ops/{name}.ipynb"


def refused(text: str) -> bool:
    return FIELD in text and FIX in text


@pytest.mark.parametrize("cron", BACKWARDS)
def test_a_backwards_range_is_refused_at_start_and_listed_broken(
    ws: Path, cli: Callable[..., Result], studio: Studio, cron: str
) -> None:
    recipe = schedule(ws, "weekdays", cron)
    started = cli("start", recipe)
    assert started.exit_code == 2, started.output
    assert refused(started.output), started.output
    assert saved_settings(studio.store, recipe).get("state") != "started"
    listed = cli("recipes")
    assert "BROKEN" in listed.output and FIELD in listed.output, listed.output


@pytest.mark.parametrize("cron", ASCENDING)
def test_ascending_ranges_and_a_split_wrap_around_still_start(
    ws: Path, cli: Callable[..., Result], cron: str
) -> None:
    recipe = schedule(ws, "fine", cron)
    started = cli("start", recipe)
    assert started.exit_code == 0, started.output
    assert "BROKEN" not in cli("recipes").output


@pytest.mark.parametrize(
    ("cron", "said"),
    [
        ("61 * * * *", "give the minute as 0-59"),
        ("0 24 * * *", "give the hour as 0-23"),
        ("0 9 32 * *", "give the day-of-month as 1-31"),
        ("0 9 * 13 *", "give the month as 1-12 or jan-dec"),
        ("0 9 * * 8", "give the day-of-week as 0-6 (0 is Sunday) or sun-sat"),
        ("*/0 * * * *", "a step of at least 1"),
    ],
)
def test_a_value_out_of_its_field_s_range_is_refused_naming_that_field(
    ws: Path, cli: Callable[..., Result], cron: str, said: str
) -> None:
    """Each was told to "use five fields", which it had: the fix names the field at fault
    and the values it takes."""
    started = cli("start", schedule(ws, "out", cron))
    assert started.exit_code == 2 and FIELD in started.output, started.output
    assert said in started.output and "use five fields" not in started.output, started.output


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("cron") / "ws"
    Studio.init(root, accept_terms=True, admin="alice").close()
    schedule(root, "weekend", "0 9 * * 5-1")
    with serving(root) as running:
        yield running


@pytest.mark.parametrize(
    ("method", "route"),
    [
        ("POST", "/recipes/ops/weekend.ipynb/start"),
        ("PUT", "/recipes/ops/weekend.ipynb/settings"),
        ("GET", "/recipes/ops/weekend.ipynb"),
    ],
)
def test_the_rest_api_refuses_a_backwards_range_naming_the_field(
    served: Served, method: str, route: str
) -> None:
    answer = served.api("alice", method, route, **({"json": {}} if method != "GET" else {}))
    assert answer.status_code >= 400, answer.text
    error = answer.json()["error"]
    assert error["field"] == FIELD and FIX in error["fix"], error
