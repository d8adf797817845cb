"""A started schedule whose cron or time zone is edited: its due times count from the moment
a scheduler first saw its new form, so a time that had passed when it was edited never fires
(an hourly or daily recipe ran twice in one period), and a time after it fires as usual, on
time or, missed while no scheduler ran, once under `run_once`. The form and since when are in
the store: every scheduler on it, and one restarted, agree.

Time-dependent decisions use in-process `Scheduler`s with a clock the test sets.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

import lpstudio.models
from lpstudio.scheduler import Scheduler
from lpstudio.settings import saved_settings
from lpstudio.store import SCHEMA_HEAD, Store
from lpstudio.studio import Studio
from lpstudio.workspace import Workspace
from tests.postgres import create_database, postgres_server
from tests.test_scheduler import at, back_date, due_of, jobs, schedule_recipe, tick_together
from tests.test_store_schema import migrate_to


@pytest.fixture
def db(ws: Path) -> Iterator[Store]:
    """The workspace's store, read the way any other client reads it."""
    store = Store(Workspace.load(ws).store_url)
    yield store
    store.close()


def edit(ws: Path, name: str, cron: str, timezone: str = "UTC") -> str:
    """Saves the recipe's notebook with another schedule, as an analyst's edit does."""
    return schedule_recipe(ws, name, {"cron": cron, "timezone": timezone})


def test_a_cron_edited_to_a_time_already_past_fires_nothing_until_it_comes_again(
    ws: Path, db: Store
) -> None:
    recipe = edit(ws, "hourly", "0 0 1 1 *")
    with Studio.open(ws, user="alice") as studio:
        studio.start(recipe)
        back_date(studio, recipe, at("2027-01-11T05:00"))
        scheduler = Scheduler(studio)
        try:
            assert scheduler.tick(at("2027-01-11T05:20:04")) == []
            edit(ws, "hourly", "19 * * * *")  # 05:19 has passed
            assert scheduler.tick(at("2027-01-11T05:20:05")) == []
            edit(ws, "hourly", "20 * * * *")  # 05:20 has passed too
            assert scheduler.tick(at("2027-01-11T05:21:05")) == []
            assert scheduler.tick(at("2027-01-11T06:19:59")) == []
            assert len(scheduler.tick(at("2027-01-11T06:20:01"))) == 1
            assert scheduler.tick(at("2027-01-11T06:20:30")) == []
        finally:
            scheduler.drain()
    assert due_of(jobs(db, recipe), day=True) == ["01-11T06:20"]


def test_a_daily_reminder_moved_later_in_its_day_is_not_sent_again(ws: Path, db: Store) -> None:
    """Also when it was stopped and started again since a scheduler first saw it."""
    recipe = edit(ws, "reminder", "0 9 * * *")
    with Studio.open(ws, user="alice") as studio:
        studio.start(recipe)
        back_date(studio, recipe, at("2027-01-09T12:00"))
        scheduler = Scheduler(studio)
        try:
            assert scheduler.tick(at("2027-01-09T12:00:01")) == []
            studio.stop(recipe)
            studio.start(recipe)
            back_date(studio, recipe, at("2027-01-10T12:00"))
            assert len(scheduler.tick(at("2027-01-11T09:00:02"))) == 1
            assert scheduler.tick(at("2027-01-11T09:59:58")) == []
            edit(ws, "reminder", "30 9 * * *")  # at 10:00 someone moves it to 09:30
            assert scheduler.tick(at("2027-01-11T10:00:00")) == []
            assert scheduler.tick(at("2027-01-12T09:29:59")) == []
            assert len(scheduler.tick(at("2027-01-12T09:30:01"))) == 1
        finally:
            scheduler.drain()
    assert due_of(jobs(db, recipe), day=True) == ["01-11T09:00", "01-12T09:30"]


def test_a_cron_edited_after_its_start_before_any_scheduler_saw_it_fires_nothing_past(
    ws: Path, db: Store
) -> None:
    """Started while no scheduler ran, then edited to a time past since the start: the first
    scheduler took the edited form for the one it started with (a start wrote no form) and
    fired that time at once (rs)."""
    recipe = edit(ws, "early", "0 3 * * *")
    with Studio.open(ws, user="alice") as studio:
        studio.start(recipe)
        started = datetime.fromisoformat(saved_settings(studio.store, recipe)["started_at"])
        past = (started + timedelta(minutes=1)).replace(second=0, microsecond=0)
        edit(ws, "early", f"{past.minute} {past.hour} * * *")  # due after the start, passed
        scheduler = Scheduler(studio)
        try:
            assert scheduler.tick(past + timedelta(seconds=65)) == []
            assert len(scheduler.tick(past + timedelta(days=1, seconds=1))) == 1
        finally:
            scheduler.drain()
    assert len(jobs(db, recipe)) == 1


def test_a_cron_edited_to_a_time_still_ahead_fires_then_once(ws: Path, db: Store) -> None:
    recipe = edit(ws, "ahead", "0 0 1 1 *")
    with Studio.open(ws, user="alice") as studio:
        studio.start(recipe)
        back_date(studio, recipe, at("2027-01-11T05:00"))
        scheduler = Scheduler(studio)
        try:
            assert scheduler.tick(at("2027-01-11T05:20:04")) == []
            edit(ws, "ahead", "25 * * * *")
            assert scheduler.tick(at("2027-01-11T05:20:05")) == []
            assert scheduler.tick(at("2027-01-11T05:24:59")) == []
            assert len(scheduler.tick(at("2027-01-11T05:25:01"))) == 1
            assert scheduler.tick(at("2027-01-11T05:25:30")) == []
        finally:
            scheduler.drain()
    assert due_of(jobs(db, recipe)) == ["05:25"]


def test_a_time_zone_edit_fires_no_time_already_past_there(ws: Path, db: Store) -> None:
    recipe = edit(ws, "zoned", "0 9 * * *", "Asia/Tokyo")
    with Studio.open(ws, user="alice") as studio:
        studio.start(recipe)
        back_date(studio, recipe, at("2027-01-10T12:00"))
        scheduler = Scheduler(studio)
        try:
            assert len(scheduler.tick(at("2027-01-11T00:00:02"))) == 1  # 09:00 in Tokyo
            # 09:00 in Paris was 08:00 UTC: past when the zone is changed at 10:00.
            edit(ws, "zoned", "0 9 * * *", "Europe/Paris")
            assert scheduler.tick(at("2027-01-11T10:00:00")) == []
            # 09:00 in New York is 14:00 UTC: still ahead when it is changed at 10:30.
            edit(ws, "zoned", "0 9 * * *", "America/New_York")
            assert scheduler.tick(at("2027-01-11T10:30:00")) == []
            assert scheduler.tick(at("2027-01-11T13:59:59")) == []
            assert len(scheduler.tick(at("2027-01-11T14:00:01"))) == 1
            assert scheduler.tick(at("2027-01-11T14:00:30")) == []
        finally:
            scheduler.drain()
    assert due_of(jobs(db, recipe)) == ["00:00", "14:00"]


def test_runs_missed_while_no_scheduler_ran_still_fire_once(ws: Path, db: Store) -> None:
    """`run_once` as before: a schedule never edited (never seen, or seen before the
    scheduler went away), one edited while a scheduler ran, and one edited while it was
    stopped: each fires its latest missed run once when a scheduler is back."""
    never_seen = edit(ws, "never_seen", "*/15 * * * *")
    seen = edit(ws, "seen", "*/15 * * * *")
    edited = edit(ws, "edited", "*/15 * * * *")
    stopped = edit(ws, "stopped", "*/15 * * * *")
    with Studio.open(ws, user="alice") as studio:
        for recipe in (never_seen, seen, edited, stopped):
            studio.start(recipe)
            back_date(studio, recipe, at("2027-01-11T08:01"))
        studio.stop(never_seen)  # not ticked while stopped: seen for the first time at 10:07
        first = Scheduler(studio)
        try:
            assert len(first.tick(at("2027-01-11T08:15:01"))) == 3
            edit(ws, "edited", "*/10 * * * *")
            assert first.tick(at("2027-01-11T08:16")) == []
            studio.stop(stopped)
            edit(ws, "stopped", "5 * * * *")
            assert first.tick(at("2027-01-11T08:17")) == []
        finally:
            first.drain()
        studio.start(never_seen)
        back_date(studio, never_seen, at("2027-01-11T08:20"))
        studio.start(stopped)
        back_date(studio, stopped, at("2027-01-11T08:30"))
        # No scheduler ran from 08:17 to 10:07.
        back = Scheduler(studio)
        try:
            assert len(back.tick(at("2027-01-11T10:07"))) == 4
            assert back.tick(at("2027-01-11T10:07:30")) == []
        finally:
            back.drain()
    assert due_of(jobs(db, never_seen)) == ["10:00"]
    assert due_of(jobs(db, seen)) == ["08:15", "10:00"]
    assert due_of(jobs(db, edited)) == ["08:15", "10:00"]
    assert due_of(jobs(db, stopped)) == ["08:15", "10:05"]


def test_schedulers_on_one_store_agree_on_when_an_edit_took_effect(ws: Path, db: Store) -> None:
    """Two schedulers see the edit together; one whose clock lags, and one started after
    (a restart), go by the moment the first saw it: none fires the time already past."""
    recipe = edit(ws, "shared", "0 0 1 1 *")
    studios = [Studio.open(ws, user="alice") for _ in range(3)]
    first, second, restarted = (Scheduler(studio) for studio in studios)
    try:
        studios[0].start(recipe)
        back_date(studios[0], recipe, at("2027-01-11T05:00"))
        assert tick_together([first, second], at("2027-01-11T05:10")) == [[], []]
        edit(ws, "shared", "19 * * * *")
        assert tick_together([first, second], at("2027-01-11T05:20:05")) == [[], []]
        assert second.tick(at("2027-01-11T05:20:03")) == []  # its clock two seconds behind
        assert restarted.tick(at("2027-01-11T05:20:30")) == []
        edit(ws, "shared", "21 * * * *")
        assert second.tick(at("2027-01-11T05:20:40")) == []  # seen first by the lagging one
        assert first.tick(at("2027-01-11T05:20:42")) == []
        queued = tick_together([first, second, restarted], at("2027-01-11T05:21:01"))
        assert sorted(len(ids) for ids in queued) == [0, 0, 1]
    finally:
        for scheduler in (first, second, restarted):
            scheduler.drain()
        for studio in studios:
            studio.close()
    assert due_of(jobs(db, recipe)) == ["05:21"]


def schedules_gain_forms(store: Store) -> None:
    """A store at 0014 with a schedule's runs: upgraded, it has the models' schema and no
    form yet (each is taken as of its recipe's start when first seen); a downgrade drops the
    table and keeps the runs."""
    migrate_to(store, "0014")
    with store.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO schedule_runs (recipe, due_at, skipped, created_at) "
                "VALUES ('p/old.ipynb', :at, :no, :at)"
            ),
            {"at": lpstudio.models.utcnow(), "no": False},
        )
    store.migrate()
    assert store.schema_revision() == SCHEMA_HEAD
    with store.engine.connect() as conn:
        assert (
            compare_metadata(MigrationContext.configure(conn), lpstudio.models.Base.metadata) == []
        )
        assert conn.execute(text("SELECT count(*) FROM schedule_forms")).scalar_one() == 0
    migrate_to(store, "0014", down=True)
    with store.engine.connect() as conn:
        assert "schedule_forms" not in inspect(conn).get_table_names()
        assert conn.execute(text("SELECT recipe FROM schedule_runs")).scalars().all() == [
            "p/old.ipynb"
        ]


def test_a_sqlite_store_of_the_previous_schema_upgrades(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'old.db'}", create=True)
    try:
        schedules_gain_forms(store)
    finally:
        store.close()


def test_a_postgresql_store_of_the_previous_schema_upgrades() -> None:
    with postgres_server() as url:
        store = Store(create_database(url, "schedule_forms"), create=True)
        try:
            schedules_gain_forms(store)
        finally:
            store.close()


def test_a_schedule_started_before_the_upgrade_keeps_its_missed_run(ws: Path, db: Store) -> None:
    """Right after the upgrade no schedule has a form: each is taken as of its start, so a
    run missed while every process was stopped for the upgrade fires once, as before."""
    recipe = edit(ws, "upgraded", "*/15 * * * *")
    with Studio.open(ws, user="alice") as studio:
        studio.start(recipe)
        back_date(studio, recipe, at("2027-01-11T08:01"))
    migrate_to(db, "0014", down=True)
    with Studio.open(ws, user="alice") as studio:
        assert studio.store.schema_revision() == SCHEMA_HEAD
        scheduler = Scheduler(studio)
        try:
            assert len(scheduler.tick(at("2027-01-11T10:07"))) == 1
        finally:
            scheduler.drain()
    assert due_of(jobs(db, recipe)) == ["10:00"]
