"""The numbers behind the dashboard, computed by the database rather than by Python.

The history may hold millions of jobs, so no figure reads the jobs of its range one by one:

- whole UTC days of the range are read from `job_counts_daily`, and the whole hours before
  and after them from `job_counts_hourly`: database triggers keep both (jobs per period,
  recipe and status, with the Proactive recipients their results report; migration 0005),
  so their cost follows days, hours and recipes, not the number of jobs;
- only the jobs of the partial hours at either edge of the range are read from `jobs`,
  through `ix_jobs_created_status_recipe` (covering) and `ix_jobs_status_created`;
- the latest job of each recipe is one search of `ix_jobs_recipe_created` per recipe;
- the recipe filter's list skips through `ix_jobs_recipe_created`, one search per recipe;
- connections are counted by status in their own (small) table.

`tests/test_metrics.py` and `tests/test_history_scale.py` check these plans on SQLite.

Days are UTC calendar days, whatever the database's session time zone.

The Proactive recipients per day come from each finished job's `result` JSON (succeeded,
failed or cancelled), which recipes write freely, or which the job's delivery ledger gives a
job stopped before its recipe gave one (`Store.ledger_result`), counted by the rule
`lpstudio show` counts them by (`lpstudio.proactive`): `accepted` a whole number, *failed*
the recipients LivePerson refused one by one (`failed`) or whole (`rejected`), each a whole
number or a list; anything else is ignored; a test run's (a job whose `trigger` is "test")
never counts, since it sent nothing (migration 0012), though its job does. A purge erases
results after the retention period but leaves the counts (migration 0006), so purged days
keep their figures in every range of whole hours, as the dashboard's ranges of whole days
are; only a partial hour at the edge of another range reads the purged jobs themselves, and
finds no result there.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    case,
    func,
    literal,
    literal_column,
    select,
    text,
    union_all,
)

from .models import Job, JobCountDaily, JobCountHourly, as_utc
from .proactive import SQLITE_FIGURES
from .store import FAILED, FINAL_STATES, SUCCEEDED, Store

#: The statuses a connection can have; each is reported, with 0 when none has it (a
#: placeholder: imported from a package, its secrets not given yet).
CONNECTION_STATES = ("connected", "disconnected", "untested", "placeholder")

HOUR, DAY = timedelta(hours=1), timedelta(days=1)


def _postgres(store: Store) -> bool:
    return store.engine.dialect.name == "postgresql"


def _day(store: Store) -> ColumnElement[Any]:
    """The UTC calendar day of a job's `created_at`, as 'YYYY-MM-DD' text."""
    if _postgres(store):
        # date() of a timestamptz follows the session's time zone: pin it to UTC.
        return func.to_char(func.timezone("UTC", Job.created_at), "YYYY-MM-DD")
    # SQLite (and others storing naive UTC): the stored value is already UTC.
    return func.date(Job.created_at)


def _result(store: Store, name: str) -> ColumnElement[Any]:
    """`reported`, `accepted` or `failed` of a job's result, computed by the database."""
    if _postgres(store):
        return literal_column(f"(lpstudio_result_counts(jobs.result)).{name}")
    # `lpstudio.proactive`'s rule, as migration 0020 keeps the counts by (on PostgreSQL
    # its `lpstudio_result_counts`); test jobs are left out by the caller, as 0012 does.
    return literal_column(SQLITE_FIGURES[name])


def _day_text(value: str | date) -> str:
    return value if isinstance(value, str) else value.isoformat()


class _Range:
    """[start, end) split into whole UTC days (read from `job_counts_daily`), whole hours
    around them (`job_counts_hourly`) and the partial hours at its edges (`jobs`)."""

    def __init__(self, start: datetime, end: datetime) -> None:
        self.start, self.end = as_utc(start), as_utc(end)
        self.hours = _whole(self.start, self.end, _floor_hour, HOUR)
        self.days = _whole(*self.hours, _floor_day, DAY)

    def union(self, rolled: Any, raw: Select[Any]) -> Any:
        """`rolled(table)` over the whole days and hours, `raw` over the partial hours."""
        (h0, h1), (d0, d1) = self.hours, self.days
        parts = [_period(rolled(JobCountDaily), JobCountDaily, d0, d1, _day_text_of)]
        parts += [
            _period(rolled(JobCountHourly), JobCountHourly, a, b, _hour_text)
            for a, b in ((h0, d0), (d1, h1))
        ]
        parts += [
            raw.where(Job.created_at >= a, Job.created_at < b)
            for a, b in ((self.start, h0), (h1, self.end))
        ]
        return union_all(*parts).subquery()


def _period(query: Select[Any], table: Any, start: datetime, end: datetime, name: Any) -> Any:
    """`query` over the rows of `table` whose period `name(moment)` is in [start, end)."""
    return query.where(table.period >= name(start), table.period < name(end))


def _floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _floor_day(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def _whole(
    start: datetime, end: datetime, floor: Any, unit: timedelta
) -> tuple[datetime, datetime]:
    """The whole units of [start, end) as [first, last): empty (first == last) if none."""
    first = floor(start) if floor(start) == start else floor(start) + unit
    first = min(first, end)
    return first, max(floor(end), first)


def _hour_text(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H")


def _day_text_of(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d")


def jobs_per_day(store: Store, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """How many jobs were created each day in [start, end), by status."""
    rows = _Range(start, end).union(
        lambda t: select(
            func.substr(t.period, 1, 10).label("day"), t.status.label("status"), t.jobs.label("n")
        ),
        select(_day(store).label("day"), Job.status.label("status"), literal(1).label("n")),
    )
    total = func.sum(rows.c.n)
    query = (
        select(rows.c.day, rows.c.status, total)
        .group_by(rows.c.day, rows.c.status)
        .having(total > 0)
        .order_by(rows.c.day, rows.c.status)
    )
    with store.read() as s:
        found = s.execute(query).all()
    return [{"day": _day_text(d), "status": status, "count": int(n)} for d, status, n in found]


def _latest(recipe: str, span: _Range) -> Any:
    """The id of `recipe`'s latest job in the range: one index search."""
    return (
        select(Job.id)
        .where(Job.recipe == recipe, Job.created_at >= span.start, Job.created_at < span.end)
        .order_by(Job.created_at.desc(), Job.id.desc())
        .limit(1)
        .scalar_subquery()
    )


def recipe_outcomes(store: Store, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Succeeded and failed jobs per recipe in [start, end), with each recipe's latest job."""
    span = _Range(start, end)
    rows = span.union(
        lambda t: select(
            t.recipe.label("recipe"),
            case((t.status == SUCCEEDED, t.jobs), else_=0).label("succeeded"),
            case((t.status == FAILED, t.jobs), else_=0).label("failed"),
            t.jobs.label("n"),
        ),
        select(
            Job.recipe.label("recipe"),
            case((Job.status == SUCCEEDED, 1), else_=0).label("succeeded"),
            case((Job.status == FAILED, 1), else_=0).label("failed"),
            literal(1).label("n"),
        ),
    )
    counts = (
        select(rows.c.recipe, func.sum(rows.c.succeeded), func.sum(rows.c.failed))
        .group_by(rows.c.recipe)
        .having(func.sum(rows.c.n) > 0)
        .order_by(rows.c.recipe)
    )
    with store.read() as s:
        found = s.execute(counts).all()
        latest_query = select(Job.recipe, Job.id, Job.status, Job.created_at).where(
            Job.id.in_([_latest(recipe, span) for recipe, _, _ in found])
        )
        latest = (
            {
                recipe: {"id": job_id, "status": status, "created_at": created.isoformat()}
                for recipe, job_id, status, created in s.execute(latest_query)
            }
            if found
            else {}
        )
    return [
        {
            "recipe": recipe,
            "succeeded": int(succeeded or 0),
            "failed": int(failed or 0),
            "latest_job": latest.get(recipe),
        }
        for recipe, succeeded, failed in found
    ]


def connection_states(statuses: Iterable[str]) -> dict[str, int]:
    """How many connections are connected, disconnected, untested or placeholders, by the
    `statuses` users see (`Connections.list`: one whose connector is gone, or lacks a field
    its connector now requires, is disconnected whatever its last test said), so that the
    dashboard counts what the Connections panel shows."""
    found = Counter(statuses)
    return {state: found.pop(state, 0) for state in CONNECTION_STATES} | dict(found)


def proactive_per_day(store: Store, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Proactive recipients accepted and failed per day, from finished jobs' results
    (cancelled ones too: what a job sent before its cancel was sent).

    A result counts by `lpstudio.proactive`'s rule (`accepted`; *failed* is `failed` and
    `rejected`, LivePerson's refusals); anything else a recipe stored is ignored, and so is
    a test run's (its actions sent nothing: what it would have sent is no traffic). Days
    without such a result are left out.
    """
    finished = FINAL_STATES  # a cancelled job's recipients were sent all the same
    rows = _Range(start, end).union(
        lambda t: select(
            func.substr(t.period, 1, 10).label("day"),
            t.reported.label("reported"),
            t.accepted.label("accepted"),
            t.failed.label("failed"),
        ).where(t.status.in_(finished)),
        select(
            _day(store).label("day"),
            _result(store, "reported").label("reported"),
            _result(store, "accepted").label("accepted"),
            _result(store, "failed").label("failed"),
        ).where(Job.status.in_(finished), Job.trigger != "test"),
    )
    query = (
        select(rows.c.day, func.sum(rows.c.accepted), func.sum(rows.c.failed))
        .group_by(rows.c.day)
        .having(func.sum(rows.c.reported) > 0)
        .order_by(rows.c.day)
    )
    with store.read() as s:
        found = s.execute(query).all()
    return [
        {"day": _day_text(day), "accepted": int(accepted), "failed": int(failed)}
        for day, accepted, failed in found
    ]


#: Each distinct recipe by one index search from the one before (a "skip scan"), so the
#: cost follows the number of recipes, not of jobs. SQLite and PostgreSQL alike.
_RECIPES = text(
    "SELECT recipe FROM (WITH RECURSIVE r(recipe) AS ("
    " SELECT min(recipe) FROM jobs"
    " UNION ALL"
    " SELECT (SELECT min(recipe) FROM jobs WHERE jobs.recipe > r.recipe) FROM r"
    " WHERE r.recipe IS NOT NULL"
    ") SELECT recipe FROM r) AS recipes WHERE recipe IS NOT NULL ORDER BY recipe"
)


def recipes_with_jobs(store: Store) -> list[str]:
    """Every recipe that has at least one job, for filters."""
    with store.read() as s:
        return list(s.scalars(_RECIPES))


def dashboard_metrics(store: Store, start: datetime, end: datetime) -> dict[str, Any]:
    """What the dashboard shows of jobs created in [start, end) (`Studio.dashboard` adds its
    connections' states, as users see them)."""
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "jobs_per_day": jobs_per_day(store, start, end),
        "recipes": recipe_outcomes(store, start, end),
        "proactive": proactive_per_day(store, start, end),
    }
