"""A large history stays fast: the dashboard and the jobs list never scan the jobs table.

Timing belongs to `bench/bench_history.py` (a million jobs); these tests check what makes
it fast and keeps it right: the query plans (SQLite's `EXPLAIN QUERY PLAN`), the job counts
that triggers keep in step with every change of a job, figures equal to a plain count over
every job, and the upgrade of an existing 0004 store.
"""

from __future__ import annotations

import random
import sqlite3
from collections import defaultdict
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import delete, insert, select, text, update

import lpstudio.store
from lpstudio.metrics import dashboard_metrics, recipes_with_jobs
from lpstudio.models import Job
from lpstudio.proactive import proactive as recipients_of
from lpstudio.store import SCHEMA_HEAD, Store
from lpstudio.studio import Studio
from tests.conftest import selects_on_jobs, set_job

T0 = datetime(2026, 3, 1, tzinfo=UTC)
RECIPES = ("a/one.ipynb", "a/two.ipynb", "b/three.ipynb")
STATUSES = ("succeeded", "succeeded", "succeeded", "failed", "cancelled", "queued", "running")
RESULTS: tuple[Any, ...] = (
    None,
    {"accepted": 3, "failed": [{"address": "+1"}]},
    {"accepted": 5},
    {"failed": [{}, {}]},
    {"accepted": "many", "failed": 2},  # ignored: not an int, not a list
    {"accepted": True},  # ignored: a bool is not a count
    [1, 2],
    "text",
)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store(f"sqlite:///{tmp_path / 'lpstudio.db'}", create=True)
    store.migrate()
    yield store
    store.close()


def add_jobs(store: Store, count: int, seed: int = 7) -> None:
    """`count` jobs over 10 days, at random times, with every kind of result."""
    rng = random.Random(seed)
    versions = {r: store.snapshot(r, "{}", {}, "alice") for r in RECIPES}
    rows = []
    for _ in range(count):
        recipe = rng.choice(RECIPES)
        rows.append(
            dict(
                recipe=recipe,
                version_id=versions[recipe],
                status=rng.choice(STATUSES),
                user="alice",
                created_at=T0 + timedelta(seconds=rng.randrange(10 * 86400)),
                result=rng.choice(RESULTS),
            )
        )
    # Their own columns only (the ORM names every column): a store of schema 0004 has none
    # of those added since.
    with store.write() as s:
        s.execute(insert(Job.__table__), rows)


def reference(store: Store, start: datetime, end: datetime) -> dict[str, Any]:
    """The dashboard's figures counted in Python over every job (the rules of 0004, and
    `lpstudio.proactive`'s for the recipients, as `lpstudio show` counts them)."""
    with store.read() as s:
        jobs = s.scalars(select(Job).order_by(Job.id)).all()
    jobs = [j for j in jobs if start <= j.created_at < end]
    per_day: dict[tuple[str, str], int] = defaultdict(int)
    recipes: dict[str, dict[str, Any]] = {}
    proactive: dict[str, dict[str, int]] = defaultdict(lambda: {"accepted": 0, "failed": 0})
    for job in jobs:
        day = job.created_at.date().isoformat()
        per_day[(day, job.status)] += 1
        row = recipes.setdefault(job.recipe, {"succeeded": 0, "failed": 0, "latest": None})
        row["succeeded"] += job.status == "succeeded"
        row["failed"] += job.status == "failed"
        if row["latest"] is None or (job.created_at, job.id) > row["latest"][:2]:
            row["latest"] = (job.created_at, job.id, job.status)
        counted = recipients_of(job.result)
        if job.status in ("succeeded", "failed", "cancelled") and counted is not None:
            proactive[day]["accepted"] += counted[0]
            proactive[day]["failed"] += counted[1]
    return {
        "jobs_per_day": [
            {"day": d, "status": st, "count": n} for (d, st), n in sorted(per_day.items())
        ],
        "recipes": [
            {
                "recipe": name,
                "succeeded": row["succeeded"],
                "failed": row["failed"],
                "latest_job": {
                    "id": row["latest"][1],
                    "status": row["latest"][2],
                    "created_at": row["latest"][0].isoformat(),
                },
            }
            for name, row in sorted(recipes.items())
        ],
        "proactive": [{"day": d, **proactive[d]} for d in sorted(proactive)],
    }


def figures(store: Store, start: datetime, end: datetime) -> dict[str, Any]:
    found = dashboard_metrics(store, start, end)
    return {k: found[k] for k in ("jobs_per_day", "recipes", "proactive")}


RANGES = [
    (T0, T0 + timedelta(days=10)),  # whole days only
    (T0 + timedelta(hours=5), T0 + timedelta(days=3, hours=7)),  # whole hours around days
    (T0 + timedelta(hours=5, minutes=17), T0 + timedelta(days=8, hours=2, seconds=3)),
    (T0 + timedelta(days=2, minutes=1), T0 + timedelta(days=2, minutes=59)),  # within an hour
    (T0 + timedelta(hours=23, minutes=30), T0 + timedelta(days=1, minutes=30)),  # over midnight
    (T0 - timedelta(days=1), T0 + timedelta(days=20)),  # beyond the history
    (T0 + timedelta(days=3), T0 + timedelta(days=3)),  # empty
]


def test_figures_equal_a_count_over_every_job_for_any_range(store: Store) -> None:
    add_jobs(store, 600)
    for start, end in RANGES:
        assert figures(store, start, end) == reference(store, start, end), (start, end)
    # A range given in another time zone: its UTC days and hours are what count.
    paris = timezone(timedelta(hours=2))
    start, end = datetime(2026, 3, 3, 1, 30, tzinfo=paris), datetime(2026, 3, 6, tzinfo=paris)
    assert figures(store, start, end) == reference(store, start, end)


def test_counts_follow_every_change_of_a_job(store: Store) -> None:
    add_jobs(store, 300)
    with store.write() as s:
        ids = s.scalars(select(Job.id).order_by(Job.id)).all()
        s.execute(update(Job).where(Job.id.in_(ids[:40])).values(status="running"))
        s.execute(
            update(Job)
            .where(Job.id.in_(ids[40:80]))
            .values(status="succeeded", result={"accepted": 9, "failed": [{}]})
        )
        s.execute(
            update(Job).where(Job.id.in_(ids[100:110])).values(created_at=T0 + timedelta(days=9))
        )
        s.execute(update(Job).where(Job.id.in_(ids[110:115])).values(recipe="c/renamed.ipynb"))
        s.execute(delete(Job).where(Job.id.in_(ids[115:130])))
    store.finish_job(ids[0], "failed", result={"accepted": 1})
    store.requeue(ids[1])
    for start, end in RANGES:
        assert figures(store, start, end) == reference(store, start, end), (start, end)
    for table, period in (("job_counts_hourly", 13), ("job_counts_daily", 10)):
        with store.read() as s:
            kept = s.execute(
                text(f"SELECT period, recipe, status, jobs FROM {table} WHERE jobs > 0")
            ).all()
            counted = s.execute(
                text(
                    f"SELECT substr(strftime('%Y-%m-%d %H', created_at), 1, {period}), recipe, "
                    "status, count(*) FROM jobs GROUP BY 1, 2, 3"
                )
            ).all()
        assert sorted(kept) == sorted(counted)


def counts(store: Store) -> dict[str, list[Any]]:
    with store.read() as s:
        return {
            table: sorted(s.execute(text(f"SELECT * FROM {table} WHERE jobs > 0")).all())
            for table in ("job_counts_hourly", "job_counts_daily")
        }


def test_a_purge_keeps_the_counts_of_the_jobs_it_erases(store: Store) -> None:
    """Purge erases results after the retention period, while the dashboard shows up to
    366 days (whole UTC days, read from the counts): the counts keep the purged jobs'
    figures as they were. Only the partial hours at the edges of a range not aligned on
    hours read the jobs themselves, and find nothing left there."""
    add_jobs(store, 300)
    with store.read() as s:
        ids = s.scalars(select(Job.id).where(Job.status.in_(("succeeded", "failed")))).all()
    kept = counts(store)
    whole = [(start, end) for start, end in RANGES if start.minute == end.minute == 0]
    before = {(start, end): figures(store, start, end) for start, end in whole}
    with store.write() as s:  # what `Studio.purge` writes
        s.execute(
            update(Job)
            .where(Job.id.in_(ids[:200]))
            .values(purged=True, event=None, parameters={}, result=None, output_path=None)
        )
    assert counts(store) == kept
    for start, end in whole:
        assert figures(store, start, end) == before[(start, end)], (start, end)
    # A later change of a purged job (none happens: they are final) still moves its count.
    set_job(store, ids[0], status="cancelled")
    with store.read() as s:
        total = s.scalar(text("SELECT sum(jobs) FROM job_counts_daily"))
    assert total == 300


def plans_of(store: Store, run: Any) -> list[tuple[str, list[str]]]:
    statements = selects_on_jobs(store, run)
    found = []
    with store.engine.connect() as conn:
        for statement, parameters in statements:
            plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
            found.append((statement, [row[-1] for row in plan]))
    return found


def test_the_dashboard_never_scans_the_jobs_table_or_an_index_of_it(store: Store) -> None:
    add_jobs(store, 200)
    for start, end in RANGES[:5]:
        found = plans_of(
            store, lambda s=start, e=end: (dashboard_metrics(store, s, e), recipes_with_jobs(store))
        )
        assert len(found) == 5
        for statement, details in found:
            # "SCAN jobs" reads the table, "SCAN jobs USING ... INDEX" a whole index: both
            # grow with the history. Every read of jobs must be a SEARCH.
            assert not [d for d in details if d.startswith("SCAN jobs")], (statement, details)
            assert any(d.startswith("SEARCH jobs") for d in details), (statement, details)


@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"recipe": "a/one.ipynb"},
        {"status": "failed"},
        {"recipe": "a/one.ipynb", "status": "running"},
        {"recipe": "a/one.ipynb", "since": T0 + timedelta(days=5)},
        {"status": "failed", "since": T0 + timedelta(days=5)},
        {"recipe": "a/one.ipynb", "status": "failed", "since": T0 + timedelta(days=5)},
    ],
)
def test_a_jobs_page_reads_an_index_in_order_without_sorting(
    store: Store, filters: dict[str, Any]
) -> None:
    add_jobs(store, 200)
    [(statement, details)] = plans_of(store, lambda: store.list_jobs(limit=50, **filters))
    assert not [d for d in details if d == "SCAN jobs"], (statement, details)
    # Rows come in the page's order from the index: no sort of every matching job (a
    # "RIGHT PART OF ORDER BY" sort only orders jobs created in the same microsecond).
    assert "USE TEMP B-TREE FOR ORDER BY" not in details, (statement, details)


def test_a_0004_store_is_upgraded_with_its_jobs_counted(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    store = Store(f"sqlite:///{path}", create=True)
    config = Config()
    config.set_main_option(
        "script_location", str(Path(lpstudio.store.__file__).parent / "migrations")
    )
    with store.engine.execution_options(lpstudio_write=True).begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0004")
    assert store.schema_revision() == "0004"
    add_jobs(store, 150)  # no triggers yet: the upgrade must count these
    with sqlite3.connect(path) as db:
        db.execute("ANALYZE")  # statistics of the old indexes only

    store.migrate()

    assert store.schema_revision() == SCHEMA_HEAD
    for start, end in RANGES:
        assert figures(store, start, end) == reference(store, start, end), (start, end)
    add_jobs(store, 50, seed=8)  # and the triggers count new jobs from now on
    for start, end in RANGES:
        assert figures(store, start, end) == reference(store, start, end), (start, end)
    [(_, details)] = plans_of(store, lambda: store.list_jobs(recipe="a/one.ipynb", limit=50))
    assert "USE TEMP B-TREE FOR ORDER BY" not in details, details
    store.close()


def test_each_recipe_s_last_job_is_one_search_in_order(store: Store) -> None:
    """The recipes list shows each recipe's last job: one index search each, read in
    order (the first entry is the one), never every job of the recipe."""
    add_jobs(store, 200)
    last = store.last_jobs([*RECIPES, "c/none.ipynb"])
    assert {name: job.id for name, job in last.items()} == {
        name: store.list_jobs(recipe=name, limit=1)[0].id for name in RECIPES
    }
    [(statement, details)] = plans_of(store, lambda: store.last_jobs(RECIPES))
    searches = [d for d in details if d.startswith("SEARCH jobs USING")]
    assert len([d for d in searches if "ix_jobs_recipe_created (recipe=?)" in d]) == 3, details
    assert not [d for d in details if d.startswith("SCAN jobs")], (statement, details)
    assert not [d for d in details if "TEMP B-TREE" in d], (statement, details)


def test_the_daily_purge_reads_only_the_jobs_it_purges(tmp_path: Path) -> None:
    with Studio.init(tmp_path / "ws", accept_terms=True, admin="alice") as studio:
        add_jobs(studio.store, 100)
        with studio.store.write() as s:
            s.execute(update(Job).values(finished_at=Job.created_at))
        found = plans_of(studio.store, lambda: studio.purge(older_than_days=0))
        assert found, "purge read no jobs"
        for statement, details in found:
            assert not [d for d in details if d.startswith("SCAN jobs")], (statement, details)
            assert any("ix_jobs_purged_finished" in d for d in details), (statement, details)


def test_the_daily_purge_forgets_the_ledger_s_old_settled_sends_through_an_index(
    tmp_path: Path,
) -> None:
    """The ledger kept a row per recipient for ever: a daily campaign to 100,000 added
    three million a month. Settled sends past the retention go; uncertain ones and those
    of a job that died sending stay for a person; recent ones stay."""
    from sqlalchemy import event

    from lpstudio.kernel.runtime import StoreLedger
    from lpstudio.models import Delivery

    with Studio.init(tmp_path / "ws", accept_terms=True, admin="alice") as studio:
        old = StoreLedger(studio.store.url, "job:1", 1)
        old.claim_many(["sent", "refused", "unsure", "dying"])
        old.settle_many({"sent": "accepted", "refused": "rejected"}, {})
        old.settle_many({"unsure": "uncertain"}, {})
        with studio.store.write() as s:  # 40 days ago, past the 30 days' retention
            s.execute(update(Delivery).values(updated_at=datetime.now(UTC) - timedelta(days=40)))
        new = StoreLedger(studio.store.url, "recipe:cart", 2)
        new.claim_many(["recent"])
        new.settle_many({"recent": "accepted"}, {})
        deletes: list[str] = []

        def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            if statement.lstrip().upper().startswith("DELETE FROM DELIVERIES"):
                deletes.append(statement)

        event.listen(studio.store.engine, "before_cursor_execute", seen)
        try:
            studio.purge()
        finally:
            event.remove(studio.store.engine, "before_cursor_execute", seen)
        with studio.store.read() as s:
            kept = {row.key: row.status for row in s.execute(select(Delivery.key, Delivery.status))}
        [statement] = deletes
        with studio.store.engine.connect() as conn:
            cutoff = datetime.now(UTC)
            plan = conn.exec_driver_sql(
                f"EXPLAIN QUERY PLAN {statement}", (cutoff, "sending", "uncertain")
            ).all()
    assert kept == {"unsure": "uncertain", "dying": "sending", "recent": "accepted"}
    assert any("ix_deliveries_updated_at" in row[-1] for row in plan), plan
