"""The Proactive figures count every refusal and every whole number, as `lpstudio show` does.

The counts of migration 0005 took `accepted` only as a JSON integer and `failed` only as a
list's length: a request LivePerson refused whole (`rejected`, which `show` and the Jobs
panel count) was counted nowhere, a recipe's own count of failures (`"failed": 2`, a pandas
sum) was not counted, and a whole `accepted` written as a float (`5.0`, a sum of a column
with a NaN) was dropped. They now follow `lpstudio.proactive`'s rule: `accepted` a whole
number; the refused recipients `failed` plus `rejected`, each a whole number or a list
(an entry of a batch counting its `recipients`); a number of 16 digits or more is none.

The rule is frozen here (a later change of `lpstudio.proactive` needs a migration of its
own). The count triggers (SQLite) or `lpstudio_result_counts` (PostgreSQL) are made again
by it, and the figures kept are corrected by the difference each job's result makes under
the new rule: a purged job's result is erased, so its figures stay as they were counted.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07
"""

from typing import Any

from alembic import context, op
from sqlalchemy import text

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

FIGURES = ("reported", "accepted", "failed")
#: Each count trigger of 0005 and the rows whose figures it counts.
TRIGGERS = {
    "jobs_count_insert": ("NEW",),
    "jobs_count_update": ("OLD", "NEW"),
    "jobs_count_delete": ("OLD",),
}
REFUSED = ("failed", "rejected")
TOO_MANY = 10**15

# -- SQLite -------------------------------------------------------------------------------


def _sqlite_whole(json: str, path: str) -> str:
    value = f"json_extract({json}, '{path}')"
    return (
        f"(json_type({json}, '{path}') = 'integer' OR json_type({json}, '{path}') = 'real' "
        f"AND {value} = CAST({value} AS INTEGER)) AND abs({value}) < {TOO_MANY}"
    )


def _sqlite_recipients(json: str, path: str) -> str:
    entry = (
        f"CASE WHEN e.type = 'object' AND {_sqlite_whole('e.value', '$.recipients')} "
        "THEN CAST(json_extract(e.value, '$.recipients') AS INTEGER) ELSE 1 END"
    )
    return (
        f"CASE WHEN {_sqlite_whole(json, path)} THEN CAST(json_extract({json}, '{path}') AS "
        f"INTEGER) WHEN json_type({json}, '{path}') = 'array' THEN (SELECT coalesce(sum("
        f"{entry}), 0) FROM json_each({json}, '{path}') AS e) ELSE 0 END"
    )


def sqlite_figures(json: str, valid: str) -> dict[str, str]:
    """The figures of the JSON text `json`, counted when `valid` holds."""
    refusals = [f"$.{key}" for key in REFUSED]
    listed = " OR ".join(
        f"{_sqlite_whole(json, path)} OR json_type({json}, '{path}') = 'array'" for path in refusals
    )
    return {
        "reported": f"CASE WHEN {valid} AND ({_sqlite_whole(json, '$.accepted')} OR {listed}) "
        "THEN 1 ELSE 0 END",
        "accepted": f"CASE WHEN {valid} AND {_sqlite_whole(json, '$.accepted')} "
        f"THEN CAST(json_extract({json}, '$.accepted') AS INTEGER) ELSE 0 END",
        "failed": f"CASE WHEN {valid} THEN "
        + " + ".join(f"({_sqlite_recipients(json, path)})" for path in refusals)
        + " ELSE 0 END",
    }


def _sqlite_before(row: str) -> dict[str, str]:
    """The figures of a trigger's `row` as 0005 wrote them and 0012 edited them."""
    counts = context.script.get_revision("0005").module
    old = {
        "reported": counts._SQLITE_REPORTED,
        "accepted": counts._SQLITE_ACCEPTED,
        "failed": counts._SQLITE_FAILED,
    }
    tested = f"CASE WHEN {row}.\"trigger\" <> 'test' AND json_valid({row}.result)"
    return {
        name: expression.format(row=row).replace(f"CASE WHEN json_valid({row}.result)", tested, 1)
        for name, expression in old.items()
    }


def _sqlite_after(row: str) -> dict[str, str]:
    valid = f"{row}.\"trigger\" <> 'test' AND json_valid({row}.result)"
    return sqlite_figures(f"{row}.result", valid)


def _sqlite_recreate(forward: bool) -> None:
    """SQLite cannot alter a trigger: each is made again from its own SQL, each figure of
    each row edited; one not found means the trigger was changed by hand since."""
    bind = op.get_bind()
    for name, rows in TRIGGERS.items():
        sql = bind.execute(
            text("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = :name"),
            {"name": name},
        ).scalar_one()
        for row in rows:
            before, after = _sqlite_before(row), _sqlite_after(row)
            for figure in FIGURES:
                old, new = (before, after) if forward else (after, before)
                if old[figure] not in sql:
                    raise RuntimeError(f"{name} is not as migrations 0005 to 0019 left it: {sql}")
                sql = sql.replace(old[figure], new[figure])
        op.execute(f"DROP TRIGGER {name}")
        op.execute(sql)


# -- PostgreSQL ---------------------------------------------------------------------------

_PG_RULE = f"""
CREATE OR REPLACE FUNCTION lpstudio_whole_count(value json) RETURNS bigint
    LANGUAGE sql IMMUTABLE AS $$
SELECT CASE WHEN json_typeof(value) = 'number'
    AND (value::text)::numeric = trunc((value::text)::numeric)
    AND abs((value::text)::numeric) < {TOO_MANY}
    THEN (value::text)::numeric::bigint END $$;
CREATE OR REPLACE FUNCTION lpstudio_recipients(value json) RETURNS bigint
    LANGUAGE sql IMMUTABLE AS $$
SELECT CASE WHEN lpstudio_whole_count(value) IS NOT NULL THEN lpstudio_whole_count(value)
    WHEN json_typeof(value) = 'array' THEN (
        SELECT coalesce(sum(CASE WHEN json_typeof(e) = 'object'
            THEN coalesce(lpstudio_whole_count(e -> 'recipients'), 1) ELSE 1 END), 0)::bigint
        FROM json_array_elements(value) AS e)
    END $$;
CREATE OR REPLACE FUNCTION lpstudio_result_counts(result json, OUT reported int,
    OUT accepted bigint, OUT failed bigint)
    LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    taken bigint;
    refused bigint;
    rejected bigint;
BEGIN
    reported := 0;
    accepted := 0;
    failed := 0;
    IF result IS NULL OR json_typeof(result) <> 'object' THEN
        RETURN;
    END IF;
    taken := lpstudio_whole_count(result -> 'accepted');
    refused := lpstudio_recipients(result -> 'failed');
    rejected := lpstudio_recipients(result -> 'rejected');
    IF taken IS NULL AND refused IS NULL AND rejected IS NULL THEN
        RETURN;
    END IF;
    reported := 1;
    accepted := coalesce(taken, 0);
    failed := coalesce(refused, 0) + coalesce(rejected, 0);
END $$;
"""

#: `lpstudio_result_counts` as migrations 0005 and 0007 left it, for a downgrade.
_PG_BEFORE = """
CREATE OR REPLACE FUNCTION lpstudio_result_counts(result json, OUT reported int,
    OUT accepted bigint, OUT failed bigint)
    LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    is_int boolean := false;
    is_list boolean := false;
BEGIN
    IF result IS NOT NULL AND json_typeof(result) = 'object' THEN
        is_int := json_typeof(result -> 'accepted') = 'number'
            AND (result ->> 'accepted') ~ '^-?[0-9]{1,15}$';
        is_list := json_typeof(result -> 'failed') = 'array';
    END IF;
    reported := CASE WHEN is_int OR is_list THEN 1 ELSE 0 END;
    accepted := CASE WHEN is_int THEN (result ->> 'accepted')::bigint ELSE 0 END;
    failed := CASE WHEN is_list THEN json_array_length(result -> 'failed') ELSE 0 END;
END $$;
DROP FUNCTION IF EXISTS lpstudio_recipients(json);
DROP FUNCTION IF EXISTS lpstudio_whole_count(json);
"""

_PG_PERIODS = {
    "job_counts_hourly": "lpstudio_job_hour(jobs.created_at)",
    "job_counts_daily": "lpstudio_job_day(jobs.created_at)",
}
_PG_FIGURES = {name: f"(lpstudio_result_counts(jobs.result)).{name}" for name in FIGURES}

# -- Both ---------------------------------------------------------------------------------

Sums = dict[tuple[str, str, str, str], tuple[int, ...]]


def _sums(periods: dict[str, str], figures: dict[str, str]) -> Sums:
    """Each counts table's figures of the jobs a result is kept for, by period, recipe and
    status, as `figures` compute them (a test job's count nowhere: 0012)."""
    bind = op.get_bind()
    sums = ", ".join(f"sum({figures[name]})" for name in FIGURES)
    found: Sums = {}
    for table, period in periods.items():
        rows = bind.execute(
            text(
                f"SELECT {period}, jobs.recipe, jobs.status, {sums} FROM jobs "
                "WHERE jobs.result IS NOT NULL AND jobs.\"trigger\" <> 'test' "
                "GROUP BY 1, 2, 3"
            )
        )
        for period_of, recipe, status, *values in rows:
            found[table, period_of, recipe, status] = tuple(int(v or 0) for v in values)
    return found


def _correct(before: Sums, after: Sums) -> None:
    """The kept figures moved by what each group's results count now, less what they did."""
    changes: dict[str, list[dict[str, Any]]] = {}
    for key, now in after.items():
        then = before.get(key, (0,) * len(FIGURES))
        moved = dict(zip(FIGURES, (b - a for a, b in zip(then, now, strict=True)), strict=True))
        if any(moved.values()):
            table, period, recipe, status = key
            row = {"period": period, "recipe": recipe, "status": status, **moved}
            changes.setdefault(table, []).append(row)
    for table, rows in changes.items():
        values = ", ".join(f"{name} = {name} + :{name}" for name in FIGURES)
        op.get_bind().execute(
            text(
                f"UPDATE {table} SET {values} "
                "WHERE period = :period AND recipe = :recipe AND status = :status"
            ),
            rows,
        )


def _migrate(forward: bool) -> None:
    if op.get_bind().dialect.name == "postgresql":
        before = _sums(_PG_PERIODS, _PG_FIGURES)
        op.execute(_PG_RULE if forward else _PG_BEFORE)
        _correct(before, _sums(_PG_PERIODS, _PG_FIGURES))
        return
    counts = context.script.get_revision("0005").module
    periods = {table: period.format(row="jobs") for table, period in counts.PERIODS.items()}
    old = {
        "reported": counts._SQLITE_REPORTED.format(row="jobs"),
        "accepted": counts._SQLITE_ACCEPTED.format(row="jobs"),
        "failed": counts._SQLITE_FAILED.format(row="jobs"),
    }
    new = sqlite_figures("jobs.result", "json_valid(jobs.result)")
    before, after = (old, new) if forward else (new, old)
    _correct(_sums(periods, before), _sums(periods, after))
    _sqlite_recreate(forward)


def upgrade() -> None:
    _migrate(forward=True)


def downgrade() -> None:
    _migrate(forward=False)
