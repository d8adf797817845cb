"""Times at their edges: a poll's interval past any date, a since past the year 9999, a
naive datetime given to `Studio.jobs`, an offset's `+` read as a space in a URL's query,
and the dashboard's days, which are UTC days."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from lpstudio.errors import InputError, quoted
from lpstudio.studio import Studio
from lpstudio.widgets.dashboard import range_label

from .conftest import finished_job, write_recipe
from .servers import serving

FAR_AHEAD = "9999-12-31T23:00-05:00"  # 10000-01-01T04:00 in UTC: no datetime holds it


def write_poll(ws: Path, **trigger: Any) -> None:
    """A poll recipe p/poll on a CSV file's rows, and the connection its slot needs."""
    with Studio.open(ws, user="alice") as studio:
        if not studio.connections.list():
            studio.connections.add("rows", "csv_file", {"path": "data/in.csv"}, "alice")
    metadata = {
        "title": "poll",
        "trigger": {"kind": "poll", "connection": "rows", "trigger": "new_rows", **trigger},
        "connections": {"rows": {"type": "csv_file"}},
    }
    write_recipe(ws, "p/poll", cells=("print(x)",), metadata=metadata)


def refusal(result: Any) -> dict[str, Any]:
    assert result.exit_code == 2, result.output
    return dict(json.loads(result.stdout)["error"])


# -- a poll's interval ----------------------------------------------------------------------


def test_a_poll_interval_past_any_date_is_refused_when_the_recipe_is_read(ws: Path, cli) -> None:
    """`interval_minutes: 100000000000` started, then every tick failed with an
    OverflowError (now + the interval is no date) until 60 of them stopped the recipe."""
    write_poll(ws, interval_minutes=100_000_000_000)
    error = refusal(cli("start", "p/poll", "--json"))
    assert error["field"] == "metadata.lpstudio.trigger.interval_minutes", error
    assert "525600" in error["message"], error  # the longest, a year
    assert "started" not in cli("recipes").output

    write_poll(ws, interval_minutes=525_600)
    assert cli("start", "p/poll").exit_code == 0


@pytest.mark.parametrize("interval", [0, -1, "5", 10**11])
def test_a_poll_trigger_s_key_is_shown_a_poll_s_example(ws: Path, cli, interval: Any) -> None:
    """The fix quoted the schedule's cron trigger, the trigger's own example, to a poll."""
    write_poll(ws, interval_minutes=interval)
    error = refusal(cli("start", "p/poll", "--json"))
    assert error["fix"] == (
        "correct metadata.lpstudio.trigger.interval_minutes in the notebook metadata "
        '(example: "interval_minutes": 10)'
    )


@pytest.mark.parametrize(("key", "value"), [("batch_size", 0), ("connection", 5), ("trigger", 5)])
def test_every_key_of_a_poll_trigger_has_an_example_of_its_own(
    ws: Path, cli, key: str, value: Any
) -> None:
    write_poll(ws, **{key: value})
    error = refusal(cli("start", "p/poll", "--json"))
    assert error["field"] == f"metadata.lpstudio.trigger.{key}", error
    assert f'(example: "{key}": ' in error["fix"] and "cron" not in error["fix"], error


# -- a since past the year 9999 -------------------------------------------------------------


def test_a_since_past_the_year_9999_is_too_far_ahead_not_back(ws: Path, cli) -> None:
    """`--since 9999-12-31T23:00-05:00` was refused as "too far back", to give a date
    after the year 1."""
    error = refusal(cli("jobs", "--since", FAR_AHEAD, "--json"))
    said = f"--since {quoted(FAR_AHEAD)} is too far ahead: past the year 9999 in UTC"
    assert error["message"] == said
    assert error["fix"] == (
        "give a moment before the year 10000 in UTC, such as 2026-11-01, or a duration back "
        "from now such as 2h or 7d"
    )
    back = refusal(cli("jobs", "--since", "0001-01-01T00:00+05:00", "--json"))
    assert back["message"].endswith("is too far back: before 1970 in UTC"), back

    write_poll(ws)
    for command in (("start", "p/poll", "--reset-since"), ("settings", "p/poll", "--since")):
        poll = refusal(cli(*command, FAR_AHEAD, "--json"))
        assert "is in the future" in poll["message"], poll  # as for a since in 2099
    assert "started" not in cli("recipes").output


# -- a since before 1970 ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "since", ["0001-01-01", "1969-12-31", "1969-12-31T23:59:59+00:00", "100000d"]
)
def test_a_since_before_1970_is_refused_by_its_option_before_anything_is_saved(
    ws: Path, cli, los_angeles: None, since: str
) -> None:
    """`--since 0001-01-01` west of UTC was saved, then `settings` and `start` crashed
    printing it (no local time holds it) and `jobs` took it; 1970 is the earliest taken."""
    write_poll(ws)
    for command, option in (
        (("jobs", "--since"), "--since"),
        (("settings", "p/poll", "--since"), "--since"),
        (("start", "p/poll", "--reset-since"), "--reset-since"),
    ):
        error = refusal(cli(*command, since, "--json"))
        assert error["field"] == option, error
        assert error["message"] == f"{option} {quoted(since)} is too far back: before 1970 in UTC"
        assert error["fix"] == (
            "give a moment from 1970-01-01T00:00:00+00:00 on, such as 2026-11-01, or a "
            "shorter duration such as 30d"
        )
    assert json.loads(cli("settings", "p/poll", "--json").stdout) == {
        "parameters": {},
        "connections": {"rows": "rows"},
    }
    assert "started" not in cli("recipes").output
    with serving(ws) as server:
        put = server.api("alice", "PUT", "/recipes/p/poll.ipynb/settings", json={"since": since})
    assert put.status_code == 400 and put.json()["error"]["field"] == "since", put.text


@pytest.mark.parametrize("zone", ["Etc/GMT+8", "Etc/GMT-12", "UTC"])
def test_the_cli_prints_any_datetime_in_any_zone(
    monkeypatch: pytest.MonkeyPatch, zone: str
) -> None:
    """`local_text(datetime.min)` raised OverflowError west of UTC: a time the zone cannot
    show is printed with its own offset, a naive one read as UTC."""
    from lpstudio.times import local_text

    monkeypatch.setenv("TZ", zone)
    time.tzset()
    try:
        east, west = timezone(timedelta(hours=14)), timezone(timedelta(hours=-12))
        for moment in (
            datetime.min,
            datetime.max,
            datetime.min.replace(tzinfo=east),
            datetime.max.replace(tzinfo=west),
            datetime.min.replace(tzinfo=UTC).isoformat(),
        ):
            printed = local_text(moment)
            assert datetime.fromisoformat(printed), (moment, printed)  # `--since` reads it
        assert local_text(datetime.min) == "0001-01-01 00:00:00" or zone != "UTC"
    finally:
        monkeypatch.undo()
        time.tzset()


# -- Studio.jobs: a naive datetime is a local time --------------------------------------------


@pytest.fixture
def los_angeles(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This process in a zone 8 hours behind UTC all year (Etc/GMT+8 is UTC-8)."""
    monkeypatch.setenv("TZ", "Etc/GMT+8")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_studio_jobs_reads_a_naive_datetime_as_its_text_in_this_machine_s_zone(
    ws: Path, los_angeles: None
) -> None:
    """`since="2026-12-01T18:12"` was a local time, `since=datetime(2026, 12, 1, 18, 12)`
    the same digits in UTC: they listed jobs 8 hours apart."""
    job_id = finished_job(ws, minutes_ago=0)
    before, after = datetime.now() - timedelta(minutes=1), datetime.now() + timedelta(minutes=1)
    with Studio.open(ws, user="alice") as studio:
        for since in (before, before.isoformat(timespec="minutes")):
            assert [job.id for job in studio.jobs(since=since)] == [job_id], since
            assert list(studio.jobs_frame(since=since).index) == [job_id], since
        for since in (after, after.isoformat(timespec="seconds")):
            assert studio.jobs(since=since) == [], since
        assert studio.jobs(since=before.astimezone(UTC)) != []  # an aware one as it is
        assert studio.jobs(since=after.astimezone(timezone(timedelta(hours=5)))) == []
        far = datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-5)))
        with pytest.raises(InputError, match="too far ahead") as raised:
            studio.jobs(since=far)
        assert raised.value.field == "since"


# -- the REST API's since ---------------------------------------------------------------------


def test_the_rest_since_says_too_far_ahead_and_how_to_write_a_plus(ws: Path) -> None:
    """An unescaped `+` (a space once read) was refused without saying to write it %2B, and
    a since past the year 9999 as too far back."""
    with serving(ws) as server:
        plain = server.api("alice", "GET", "/jobs?since=2026-12-02T02:05:00+00:00")
        ahead = server.api("alice", "GET", "/jobs", params={"since": FAR_AHEAD})
        escaped = server.api("alice", "GET", "/jobs?since=2026-12-02T02:05:00%2B00:00")
    assert plain.status_code == 400, plain.text
    error = plain.json()["error"]
    assert error["field"] == "since" and "'2026-12-02T02:05:00 00:00'" in error["message"]
    assert "2026-12-02T02:05:00%2B00:00" in error["fix"], error
    assert ahead.status_code == 400 and "too far ahead" in ahead.json()["error"]["message"]
    assert escaped.status_code == 200, escaped.text


# -- the dashboard's days ---------------------------------------------------------------------


def test_the_studio_dashboard_says_its_days_are_utc_days(tmp_path: Path, ws: Path) -> None:
    """The panel offered "today" and "last 7 days" and counted UTC days; the notebook's
    widget says `today (UTC)`."""
    from .test_studio_ui import alice_lab, command

    with alice_lab(ws, tmp_path / "home") as page:
        command(page, "lpstudio:open-dashboard")
        page.locator(".lps-dashboard select").wait_for()
        offered = page.eval_on_selector_all(
            ".lps-dashboard select option", "options => options.map(o => [o.value, o.text])"
        )
    assert {int(days): label for days, label in offered} == {
        days: range_label(days) for days in (1, 7, 30, 90, 366)
    }


# -- times said and read in this machine's zone ------------------------------------------------


@pytest.fixture
def machine_zone(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """Puts this process in a zone (`TZ`), as a machine set to it runs the CLI."""

    def put(zone: str) -> None:
        monkeypatch.setenv("TZ", zone)
        time.tzset()

    yield put
    monkeypatch.undo()
    time.tzset()


def test_a_fixed_since_is_refused_in_the_machine_s_time_as_settings_shows_it(
    ws: Path, cli, machine_zone: Callable[[str], None]
) -> None:
    """In Tokyo, `settings` showed `since: 2026-12-06 18:00:00` and `settings --since 2h`
    was refused saying it "has polled from 2026-12-06 09:00:00 UTC"."""
    machine_zone("Asia/Tokyo")
    write_poll(ws)
    assert cli("start", "p/poll", "--reset-since", "2025-06-01T18:00").exit_code == 0
    assert "since:       2025-06-01 18:00:00\n" in cli("settings", "p/poll").output

    error = refusal(cli("settings", "p/poll", "--since", "2h", "--json"))
    assert error["message"] == (
        "p/poll.ipynb has polled from 2025-06-01 18:00:00 since it was first started or "
        "polled; a saved since would not move it"
    )
    # Callers elsewhere (the REST API's) are told it in ISO form, in UTC.
    with Studio.open(ws, user="alice") as studio, pytest.raises(InputError) as raised:
        studio.save_settings("p/poll", since="2h")
    assert "has polled from 2025-06-01T09:00:00+00:00 since" in raised.value.message


@pytest.mark.parametrize(
    ("typed", "said", "utc"),
    [
        # 02:00 to 03:00 is skipped on 2025-03-30: the first moment after the gap, as a
        # schedule due at 02:30 fires then (`scheduler.due_times`); it was 01:30.
        ("2025-03-30T02:30", "2025-03-30 03:00:00", "2025-03-30T01:00:00+00:00"),
        # 02:00 to 03:00 is met twice on 2024-10-27: its first pass, as a schedule fires.
        ("2024-10-27T02:30", "2024-10-27 02:30:00", "2024-10-27T00:30:00+00:00"),
    ],
)
def test_a_since_in_an_hour_clocks_skip_or_repeat_is_read_as_the_scheduler_reads_it(
    ws: Path, cli, machine_zone: Callable[[str], None], typed: str, said: str, utc: str
) -> None:
    machine_zone("Europe/Paris")
    write_poll(ws)
    started = cli("start", "p/poll", "--reset-since", typed)
    assert started.output == f"started p/poll.ipynb; its poll starts again from {said}\n"
    assert json.loads(cli("settings", "p/poll", "--json").stdout)["since"] == utc


def test_a_time_past_the_year_9999_in_utc_is_too_far_ahead_in_the_machine_s_zone(
    ws: Path, cli, machine_zone: Callable[[str], None]
) -> None:
    """In New York, `--since 9999-12-31T23:00` (10000-01-01 04:00 in UTC) listed "no jobs",
    read as UTC at the calendar's end; with its offset given it was refused."""
    machine_zone("America/New_York")
    error = refusal(cli("jobs", "--since", "9999-12-31T23:00", "--json"))
    assert error["message"] == (
        "--since '9999-12-31T23:00' is too far ahead: past the year 9999 in UTC"
    )
    machine_zone("Asia/Tokyo")  # 9999-12-31 14:00 in UTC: a time like any other
    assert cli("jobs", "--since", "9999-12-31T23:00").output == "no jobs\n"
