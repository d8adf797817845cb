"""Dashboard metrics: every figure, on rows placed around the range's boundaries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, insert

from lpstudio.metrics import dashboard_metrics, recipes_with_jobs
from lpstudio.models import Connection, Job, utcnow
from lpstudio.store import SCHEMA_HEAD, Store
from lpstudio.studio import Studio
from tests.conftest import set_job
from tests.test_store_schema import migrate_to

START = datetime(2026, 3, 1, tzinfo=UTC)
END = datetime(2026, 3, 4, tzinfo=UTC)
TICK = timedelta(microseconds=1)


def at(day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, second, tzinfo=UTC)


class History:
    """A workspace's store, and a way to add job rows with chosen fields."""

    def __init__(self, store: Store, studio: Studio | None = None) -> None:
        self.store = store
        self.studio = studio  # the workspace's, when the test opened it
        self.versions: dict[str, str] = {}

    def job(self, recipe: str, status: str, created_at: datetime, result: Any = None) -> int:
        if recipe not in self.versions:
            self.versions[recipe] = self.store.snapshot(recipe, "{}", {}, "alice")
        # Its own columns only (the ORM names every column): a store of an older schema
        # has none of those added since.
        row = dict(recipe=recipe, status=status, user="alice", created_at=created_at)
        with self.store.write() as s:
            return s.execute(
                insert(Job.__table__)
                .values(**row, version_id=self.versions[recipe], result=result)
                .returning(Job.id)
            ).scalar_one()


@pytest.fixture
def history(tmp_path: Path) -> History:
    with Studio.init(tmp_path / "ws", accept_terms=True, admin="alice") as studio:
        yield History(studio.store, studio)


@pytest.fixture
def filled(history: History) -> dict[str, int]:
    """Jobs of two recipes in, before and after [START, END); ids by a short name."""
    h = history
    ids = {
        "before": h.job("a/one.ipynb", "succeeded", START - TICK, {"accepted": 7, "failed": []}),
        "at_start": h.job(
            "a/one.ipynb", "succeeded", START, {"accepted": 3, "failed": [{"id": "c1"}]}
        ),
        "failed_day1": h.job(
            "a/one.ipynb", "failed", at(1, 12), {"accepted": 1, "failed": [{"id": "c2"}, {}]}
        ),
        # 2026-03-02 01:00 at UTC+2 is still 2026-03-01 in UTC.
        "queued_tz": h.job(
            "b/two.ipynb", "queued", datetime(2026, 3, 2, 1, tzinfo=timezone(timedelta(hours=2)))
        ),
        "ok_day2": h.job("a/one.ipynb", "succeeded", at(2, 10), {"accepted": 5}),
        "running_day2": h.job("b/two.ipynb", "running", at(2, 11), {"accepted": 100}),
        "odd_result": h.job(
            "b/two.ipynb", "failed", END - timedelta(seconds=1), {"accepted": "many", "failed": 2}
        ),
        "cancelled_day3": h.job("a/one.ipynb", "cancelled", at(3, 8)),
        "at_end": h.job("b/two.ipynb", "succeeded", END, {"accepted": 50, "failed": []}),
        # Inserted last (highest id) but created earlier: not the recipe's latest job.
        "late_insert": h.job("a/one.ipynb", "succeeded", at(1, 6), {"failed": [{"id": "c3"}]}),
    }
    with h.store.write() as s:
        for name, status in [
            ("lp-prod", "connected"),
            ("lp-test", "connected"),
            ("shop", "disconnected"),
            ("files", "untested"),
        ]:
            s.add(Connection(name=name, type="http", fields={}, status=status, created_by="alice"))
    return ids


def test_jobs_per_day_groups_by_utc_day_and_status(history: History, filled: dict) -> None:
    metrics = dashboard_metrics(history.store, START, END)
    assert metrics["jobs_per_day"] == [
        {"day": "2026-03-01", "status": "failed", "count": 1},
        {"day": "2026-03-01", "status": "queued", "count": 1},
        {"day": "2026-03-01", "status": "succeeded", "count": 2},
        {"day": "2026-03-02", "status": "running", "count": 1},
        {"day": "2026-03-02", "status": "succeeded", "count": 1},
        {"day": "2026-03-03", "status": "cancelled", "count": 1},
        {"day": "2026-03-03", "status": "failed", "count": 1},
    ]


def test_recipes_count_outcomes_and_name_the_latest_job(history: History, filled: dict) -> None:
    metrics = dashboard_metrics(history.store, START, END)
    assert metrics["recipes"] == [
        {
            "recipe": "a/one.ipynb",
            "succeeded": 3,
            "failed": 1,
            "latest_job": {
                "id": filled["cancelled_day3"],
                "status": "cancelled",
                "created_at": at(3, 8).isoformat(),
            },
        },
        {
            "recipe": "b/two.ipynb",
            "succeeded": 0,
            "failed": 1,
            "latest_job": {
                "id": filled["odd_result"],
                "status": "failed",
                "created_at": (END - timedelta(seconds=1)).isoformat(),
            },
        },
    ]


def test_connections_are_counted_by_status_as_the_connections_panel_shows_them(
    history: History, filled: dict
) -> None:
    """A connection whose connector is gone was counted connected, as its last test left it,
    while the Connections panel showed it disconnected."""
    with history.store.write() as s:
        s.add(Connection(name="crm", type="gone", fields={}, status="connected", created_by="a"))
    assert history.studio is not None
    metrics = history.studio.dashboard(START, END)
    states = {"connected": 2, "disconnected": 2, "untested": 1, "placeholder": 0}
    assert metrics["connections"] == states
    assert {info.status for info in history.studio.connections.list() if info.name == "crm"} == {
        "disconnected"
    }


def test_proactive_sums_results_of_finished_jobs(history: History, filled: dict) -> None:
    metrics = dashboard_metrics(history.store, START, END)
    # Day 1: 3 + 1 accepted, 1 + 2 + 1 failed (the late insert counts on its own day);
    # day 2: the running job's result is not counted; day 3: a count of failures counts
    # (`"failed": 2`, as `lpstudio show` counts it), text for `accepted` is ignored.
    assert metrics["proactive"] == [
        {"day": "2026-03-01", "accepted": 4, "failed": 4},
        {"day": "2026-03-02", "accepted": 5, "failed": 0},
        {"day": "2026-03-03", "accepted": 0, "failed": 2},
    ]


def test_range_boundaries_include_start_and_exclude_end(history: History, filled: dict) -> None:
    just_start = dashboard_metrics(history.store, START, START + TICK)
    assert just_start["jobs_per_day"] == [{"day": "2026-03-01", "status": "succeeded", "count": 1}]
    assert [r["latest_job"]["id"] for r in just_start["recipes"]] == [filled["at_start"]]
    assert just_start["proactive"] == [{"day": "2026-03-01", "accepted": 3, "failed": 1}]

    before = dashboard_metrics(history.store, START - TICK, START)
    assert before["jobs_per_day"] == [{"day": "2026-02-28", "status": "succeeded", "count": 1}]
    assert before["proactive"] == [{"day": "2026-02-28", "accepted": 7, "failed": 0}]

    after = dashboard_metrics(history.store, END, END + timedelta(days=1))
    assert after["jobs_per_day"] == [{"day": "2026-03-04", "status": "succeeded", "count": 1}]
    assert after["recipes"][0]["latest_job"]["id"] == filled["at_end"]
    assert after["proactive"] == [{"day": "2026-03-04", "accepted": 50, "failed": 0}]


def test_an_empty_range_or_store_has_empty_figures(history: History) -> None:
    assert history.studio is not None
    metrics = history.studio.dashboard(START, END)
    assert metrics["jobs_per_day"] == [] and metrics["recipes"] == []
    assert metrics["proactive"] == []
    assert metrics["connections"] == dict.fromkeys(
        ("connected", "disconnected", "untested", "placeholder"), 0
    )
    assert recipes_with_jobs(history.store) == []


def test_recipes_with_jobs_lists_each_recipe_once(history: History, filled: dict) -> None:
    assert recipes_with_jobs(history.store) == ["a/one.ipynb", "b/two.ipynb"]


def test_no_query_scans_the_whole_jobs_table(history: History, filled: dict) -> None:
    """Each query the dashboard runs reads the jobs through an index (SQLite's plan says
    `SCAN jobs` for a full table scan)."""
    statements: list[tuple[str, Any]] = []

    def record(_conn, _cursor, statement, parameters, _context, _many) -> None:  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("SELECT") and "jobs" in statement:
            statements.append((statement, parameters))

    event.listen(history.store.engine, "before_cursor_execute", record)
    try:
        dashboard_metrics(history.store, START, END)
        recipes_with_jobs(history.store)
    finally:
        event.remove(history.store.engine, "before_cursor_execute", record)
    assert len(statements) == 5
    with history.store.engine.connect() as conn:
        for statement, parameters in statements:
            plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
            details = [row[-1] for row in plan]
            assert "SCAN jobs" not in details, (statement, details)
            assert any("INDEX" in detail for detail in details), (statement, details)


def test_purged_jobs_keep_their_figures_on_the_dashboard(history: History, tmp_path: Path) -> None:
    """Purge erases a job's data after the retention period (30 days), but the dashboard
    shows up to 366 days: jobs and Proactive recipients of purged days still count."""
    store = history.store
    long_ago = utcnow() - timedelta(days=40)
    ids = [
        history.job("a/one.ipynb", "succeeded", long_ago, {"accepted": 3, "failed": [{}]}),
        history.job("a/one.ipynb", "failed", long_ago + TICK, {"accepted": 1}),
    ]
    for job_id in ids:
        set_job(store, job_id, finished_at=long_ago)
    now = utcnow()
    before = dashboard_metrics(store, now - timedelta(days=90), now)
    assert before["proactive"] == [{"day": long_ago.date().isoformat(), "accepted": 4, "failed": 1}]

    with Studio.open(tmp_path / "ws", user="alice") as studio:
        assert studio.purge() == ids
    assert [store.job(job_id).result for job_id in ids] == [None, None]
    assert dashboard_metrics(store, now - timedelta(days=90), now) == before


def test_a_job_across_midnight_counts_on_the_utc_day_it_was_created(history: History) -> None:
    """A job created a second before midnight (UTC) and ending after it stays in its day's
    figures, with its final status and recipients; the next day shows nothing of it, and a
    recipe whose only job lies outside the range is not listed."""
    late = history.job("a/one.ipynb", "queued", at(1, 23, 59, 59))
    history.job("c/idle.ipynb", "succeeded", at(5))
    set_job(history.store, late, status="running", started_at=at(2, 0, 0, 1))
    assert history.store.finish_job(late, "succeeded", result={"accepted": 2, "failed": [{}]})
    day1 = dashboard_metrics(history.store, at(1), at(2))
    assert day1["jobs_per_day"] == [{"day": "2026-03-01", "status": "succeeded", "count": 1}]
    assert day1["proactive"] == [{"day": "2026-03-01", "accepted": 2, "failed": 1}]
    assert [(row["recipe"], row["succeeded"]) for row in day1["recipes"]] == [("a/one.ipynb", 1)]
    day2 = dashboard_metrics(history.store, at(2), at(3))
    assert (day2["jobs_per_day"], day2["recipes"], day2["proactive"]) == ([], [], [])


def upgrade_leaves_test_runs_out(store: Store) -> None:
    """A store of schema 0011 counted test runs' results as Proactive traffic: upgraded, its
    kept counts leave them out (recounted per hour and per day, a purged real job's figures
    kept), every job still counts by status, and a job whose trigger changes is counted
    again. A downgrade gives back the figures of the test results still held."""
    migrate_to(store, "0011")
    history = History(store)

    def job(created_at: datetime, result: Any, *changes: dict, status: str = "succeeded") -> int:
        """A job, then each change written in turn, as the store writes it."""
        job_id = history.job("a/one.ipynb", status, created_at, result)
        for change in changes:
            set_job(store, job_id, **change)
        return job_id

    purge = {"purged": True, "event": None, "parameters": {}, "result": None}  # Studio.purge's
    test = {"trigger": "test"}
    job(at(1, 9, 40), {"accepted": 3, "failed": [{}]})
    job(at(1, 9, 50), {"accepted": 0, "failed": [{}, {}]}, test)  # a dry run's
    job(at(2, 10), {"failed": [{}]}, test)  # a day of test runs only
    job(at(3, 10), {"accepted": 5}, purge)  # purged: its figures live in the counts only
    job(at(3, 11), {"failed": [{}]}, test)
    job(at(4, 10), {"failed": [{}, {}]}, test, purge)
    job(at(4, 10, 30), {"accepted": 1})
    real = job(at(5, 10), {"accepted": 2, "failed": [{}]}, status="failed")
    job(at(5, 10, 5), {"failed": [{}]}, test, status="failed")

    # Whole days (daily counts), whole hours around days (hourly counts), hours at either
    # edge (the jobs themselves).
    ranges = [
        (at(1), at(8)),
        (at(1, 1), at(5, 23)),
        (at(3, 1), at(4, 23)),
        (at(1, 9, 30), at(5, 22, 30)),
    ]

    def shown(start: datetime, end: datetime) -> dict[str, tuple[int, int]]:
        found = dashboard_metrics(store, start, end)["proactive"]
        return {row["day"]: (row["accepted"], row["failed"]) for row in found}

    def within(start: datetime, end: datetime, days: dict[int, tuple[int, int]]) -> dict:
        return {at(d).date().isoformat(): n for d, n in days.items() if start <= at(d, 10) < end}

    counted_as_sent = {1: (3, 3), 2: (0, 1), 3: (5, 1), 4: (1, 2), 5: (2, 2)}
    for start, end in ranges[:3]:  # what schema 0011 showed
        assert shown(start, end) == within(start, end, counted_as_sent), (start, end)
    jobs_before = dashboard_metrics(store, at(1), at(8))["jobs_per_day"]

    store.migrate()
    assert store.schema_revision() == SCHEMA_HEAD
    sent = {1: (3, 1), 3: (5, 0), 4: (1, 0), 5: (2, 1)}
    for start, end in ranges:
        assert shown(start, end) == within(start, end, sent), (start, end)
    assert dashboard_metrics(store, at(1), at(8))["jobs_per_day"] == jobs_before

    migrate_to(store, "0011", down=True)  # the purged test job's figures are gone for good
    for start, end in ranges[:3]:
        expected = within(start, end, {**counted_as_sent, 4: (1, 0)})
        assert shown(start, end) == expected, (start, end)
    store.migrate()
    for start, end in ranges:
        assert shown(start, end) == within(start, end, sent), (start, end)

    set_job(store, real, trigger="test")  # counted again as it changes, either way
    for start, end in ranges:
        assert shown(start, end) == within(start, end, {1: (3, 1), 3: (5, 0), 4: (1, 0)})
    set_job(store, real, trigger="manual")
    for start, end in ranges:
        assert shown(start, end) == within(start, end, sent), (start, end)
    assert dashboard_metrics(store, at(1), at(8))["jobs_per_day"] == jobs_before


def test_an_upgraded_store_takes_test_runs_out_of_its_proactive_figures(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'old.db'}", create=True)
    try:
        upgrade_leaves_test_runs_out(store)
    finally:
        store.close()
