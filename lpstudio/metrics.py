"""The numbers behind the dashboard, computed by the database rather than by Python.

Every figure is one aggregate query over the jobs of a time range, so the work grows with
the number of days, recipes and statuses shown, not with the length of the history:

- jobs per day and status, and per-recipe counts, search the `created_at` index for the
  range; the latest job of each recipe is picked by a window function over the same rows;
- the recipients per day search `ix_jobs_status_created` (status, created_at);
- the recipe filter's list reads `ix_jobs_recipe_created` alone (a covering index);
- connections are counted by status in their own (small) table.

`tests/test_metrics.py` checks these plans on SQLite.

Days are UTC calendar days, whatever the database's session time zone.

The one exception is the Proactive recipients per day: `accepted` and `failed` live inside
each job's `result` JSON, which recipes write freely, so they are read per job in the range
(only the `created_at` and `result` columns of succeeded and failed jobs) and summed
tolerantly. This is linear in the jobs of the range; when histories grow large, the job
runner will pre-aggregate these counts into a per-day table as each job finishes.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, case, func, select

from .models import Connection, Job
from .store import FAILED, SUCCEEDED, Store

#: The statuses a connection can have; each is reported, with 0 when none has it.
CONNECTION_STATES = ("connected", "disconnected", "untested")


def _day(store: Store) -> ColumnElement[Any]:
    """The UTC calendar day of a job's `created_at`, as the database computes it."""
    if store.engine.dialect.name == "postgresql":
        # date() of a timestamptz follows the session's time zone: pin it to UTC.
        return func.date(func.timezone("UTC", Job.created_at))
    # SQLite (and others storing naive UTC): the stored value is already UTC.
    return func.date(Job.created_at)


def _day_text(value: str | date) -> str:
    """SQLite answers 'YYYY-MM-DD' text, PostgreSQL a `date`."""
    return value if isinstance(value, str) else value.isoformat()


def _in_range(start: datetime, end: datetime) -> list[ColumnElement[bool]]:
    return [Job.created_at >= start, Job.created_at < end]


def jobs_per_day(store: Store, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """How many jobs were created each day in [start, end), by status."""
    day = _day(store).label("day")
    query = (
        select(day, Job.status, func.count().label("count"))
        .where(*_in_range(start, end))
        .group_by(day, Job.status)
        .order_by(day, Job.status)
    )
    with store.read() as s:
        rows = s.execute(query).all()
    return [{"day": _day_text(d), "status": status, "count": n} for d, status, n in rows]


def recipe_outcomes(store: Store, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Succeeded and failed jobs per recipe in [start, end), with each recipe's latest job."""
    counts = (
        select(
            Job.recipe,
            func.sum(case((Job.status == SUCCEEDED, 1), else_=0)).label("succeeded"),
            func.sum(case((Job.status == FAILED, 1), else_=0)).label("failed"),
        )
        .where(*_in_range(start, end))
        .group_by(Job.recipe)
        .order_by(Job.recipe)
    )
    ranked = (
        select(
            Job.recipe,
            Job.id,
            Job.status,
            Job.created_at,
            func.row_number()
            .over(partition_by=Job.recipe, order_by=(Job.created_at.desc(), Job.id.desc()))
            .label("rank"),
        )
        .where(*_in_range(start, end))
        .subquery()
    )
    latest_query = select(ranked.c.recipe, ranked.c.id, ranked.c.status, ranked.c.created_at).where(
        ranked.c.rank == 1
    )
    with store.read() as s:
        rows = s.execute(counts).all()
        latest = {
            recipe: {"id": job_id, "status": status, "created_at": created.isoformat()}
            for recipe, job_id, status, created in s.execute(latest_query)
        }
    return [
        {
            "recipe": recipe,
            "succeeded": int(succeeded or 0),
            "failed": int(failed or 0),
            "latest_job": latest.get(recipe),
        }
        for recipe, succeeded, failed in rows
    ]


def connection_states(store: Store) -> dict[str, int]:
    """How many connections are connected, disconnected or untested."""
    query = select(Connection.status, func.count()).group_by(Connection.status)
    with store.read() as s:
        found = dict(s.execute(query).all())
    return {state: int(found.pop(state, 0)) for state in CONNECTION_STATES} | found


def proactive_per_day(store: Store, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Proactive recipients accepted and failed per day, from finished jobs' results.

    A result counts when it holds `accepted` (an int) or `failed` (a list of recipients);
    anything else a recipe stored is ignored. See the module docstring on speed.
    """
    query = select(Job.created_at, Job.result).where(
        Job.status.in_((SUCCEEDED, FAILED)), *_in_range(start, end)
    )
    totals: dict[str, dict[str, int]] = defaultdict(lambda: {"accepted": 0, "failed": 0})
    with store.read() as s:
        for created, result in s.execute(query):
            if not isinstance(result, dict):
                continue
            accepted, failed = result.get("accepted"), result.get("failed")
            has_accepted = isinstance(accepted, int) and not isinstance(accepted, bool)
            has_failed = isinstance(failed, list)
            if not (has_accepted or has_failed):
                continue
            day = totals[created.date().isoformat()]
            day["accepted"] += accepted if has_accepted else 0
            day["failed"] += len(failed) if has_failed else 0
    return [{"day": day, **totals[day]} for day in sorted(totals)]


def recipes_with_jobs(store: Store) -> list[str]:
    """Every recipe that has at least one job, for filters (an index-only scan)."""
    with store.read() as s:
        return list(s.scalars(select(Job.recipe).distinct().order_by(Job.recipe)))


def dashboard_metrics(store: Store, start: datetime, end: datetime) -> dict[str, Any]:
    """Everything the dashboard shows for jobs created in [start, end)."""
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "jobs_per_day": jobs_per_day(store, start, end),
        "recipes": recipe_outcomes(store, start, end),
        "connections": connection_states(store),
        "proactive": proactive_per_day(store, start, end),
    }
