"""History at scale: job counts per hour and per day kept by triggers, and indexes.

The dashboard sums `job_counts_daily` for the whole UTC days of its range and
`job_counts_hourly` for the whole hours around them, and reads only the jobs of the partial
hours at its edges, so its cost follows days, hours and recipes, not the number of jobs.
Database triggers keep the counts (one row per period, recipe and status), because jobs are
written from several places (the store, the scheduler, poll triggers, purge) and a count
kept by Python code could miss one.

`accepted` and `failed` are the Proactive recipients of the jobs' results, read as
`lpstudio.metrics` always read them: a result counts (`reported`) when it holds `accepted`
(an integer) or `failed` (a list).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

#: Each counts table and how a job's `created_at` names its period, in SQLite.
PERIODS = {
    "job_counts_hourly": "strftime('%Y-%m-%d %H', {row}.created_at)",
    "job_counts_daily": "date({row}.created_at)",
}
TRIGGERS = ("jobs_count_insert", "jobs_count_update", "jobs_count_delete")

# -- SQLite -------------------------------------------------------------------------------

_SQLITE_ACCEPTED = (
    "CASE WHEN json_valid({row}.result) AND json_type({row}.result, '$.accepted') = 'integer' "
    "THEN json_extract({row}.result, '$.accepted') ELSE 0 END"
)
_SQLITE_FAILED = (
    "CASE WHEN json_valid({row}.result) AND json_type({row}.result, '$.failed') = 'array' "
    "THEN json_array_length({row}.result, '$.failed') ELSE 0 END"
)
_SQLITE_REPORTED = (
    "CASE WHEN json_valid({row}.result) AND (json_type({row}.result, '$.accepted') = 'integer' "
    "OR json_type({row}.result, '$.failed') = 'array') THEN 1 ELSE 0 END"
)


def _sqlite_add(row: str) -> str:
    statements = []
    for table, period in PERIODS.items():
        values = ", ".join(
            e.format(row=row)
            for e in (
                period,
                "{row}.recipe",
                "{row}.status",
                "1",
                _SQLITE_REPORTED,
                _SQLITE_ACCEPTED,
                _SQLITE_FAILED,
            )
        )
        statements.append(
            f"INSERT INTO {table} (period, recipe, status, jobs, reported, accepted, failed) "
            f"VALUES ({values}) ON CONFLICT (period, recipe, status) DO UPDATE SET "
            "jobs = jobs + 1, reported = reported + excluded.reported, "
            "accepted = accepted + excluded.accepted, failed = failed + excluded.failed;"
        )
    return " ".join(statements)


def _sqlite_remove(row: str) -> str:
    return " ".join(
        f"UPDATE {table} SET jobs = jobs - 1, "
        f"reported = reported - ({_SQLITE_REPORTED.format(row=row)}), "
        f"accepted = accepted - ({_SQLITE_ACCEPTED.format(row=row)}), "
        f"failed = failed - ({_SQLITE_FAILED.format(row=row)}) "
        f"WHERE period = {period.format(row=row)} AND recipe = {row}.recipe "
        f"AND status = {row}.status;"
        for table, period in PERIODS.items()
    )


SQLITE_TRIGGERS = {
    "jobs_count_insert": f"AFTER INSERT ON jobs BEGIN {_sqlite_add('NEW')} END",
    "jobs_count_update": (
        "AFTER UPDATE OF status, result, recipe, created_at ON jobs BEGIN "
        f"{_sqlite_remove('OLD')} {_sqlite_add('NEW')} END"
    ),
    "jobs_count_delete": f"AFTER DELETE ON jobs BEGIN {_sqlite_remove('OLD')} END",
}

SQLITE_BACKFILL = [
    f"INSERT INTO {table} (period, recipe, status, jobs, reported, accepted, failed) "
    f"SELECT {period.format(row='jobs')}, recipe, status, count(*), "
    f"sum({_SQLITE_REPORTED.format(row='jobs')}), sum({_SQLITE_ACCEPTED.format(row='jobs')}), "
    f"sum({_SQLITE_FAILED.format(row='jobs')}) FROM jobs GROUP BY 1, 2, 3"
    for table, period in PERIODS.items()
]

# -- PostgreSQL ---------------------------------------------------------------------------

_PG_FUNCTIONS = """
CREATE OR REPLACE FUNCTION lpstudio_job_hour(created timestamptz) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$ SELECT to_char(created AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24') $$;
CREATE OR REPLACE FUNCTION lpstudio_job_day(created timestamptz) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$ SELECT to_char(created AT TIME ZONE 'UTC', 'YYYY-MM-DD') $$;
CREATE OR REPLACE FUNCTION lpstudio_result_counts(result json, OUT reported int,
    OUT accepted bigint, OUT failed bigint)
    LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    is_int boolean := false;
    is_list boolean := false;
BEGIN
    IF result IS NOT NULL AND json_typeof(result) = 'object' THEN
        is_int := json_typeof(result -> 'accepted') = 'number'
            AND (result ->> 'accepted') ~ '^-?[0-9]+$';
        is_list := json_typeof(result -> 'failed') = 'array';
    END IF;
    reported := CASE WHEN is_int OR is_list THEN 1 ELSE 0 END;
    accepted := CASE WHEN is_int THEN (result ->> 'accepted')::bigint ELSE 0 END;
    failed := CASE WHEN is_list THEN json_array_length(result -> 'failed') ELSE 0 END;
END $$;
CREATE OR REPLACE FUNCTION lpstudio_count_job() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    c record;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        SELECT * INTO c FROM lpstudio_result_counts(OLD.result);
        UPDATE job_counts_hourly SET jobs = jobs - 1, reported = reported - c.reported,
            accepted = accepted - c.accepted, failed = failed - c.failed
        WHERE period = lpstudio_job_hour(OLD.created_at) AND recipe = OLD.recipe
            AND status = OLD.status;
        UPDATE job_counts_daily SET jobs = jobs - 1, reported = reported - c.reported,
            accepted = accepted - c.accepted, failed = failed - c.failed
        WHERE period = lpstudio_job_day(OLD.created_at) AND recipe = OLD.recipe
            AND status = OLD.status;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        SELECT * INTO c FROM lpstudio_result_counts(NEW.result);
        INSERT INTO job_counts_hourly AS t (period, recipe, status, jobs, reported, accepted,
            failed)
        VALUES (lpstudio_job_hour(NEW.created_at), NEW.recipe, NEW.status, 1, c.reported,
            c.accepted, c.failed)
        ON CONFLICT (period, recipe, status) DO UPDATE SET jobs = t.jobs + 1,
            reported = t.reported + excluded.reported, accepted = t.accepted + excluded.accepted,
            failed = t.failed + excluded.failed;
        INSERT INTO job_counts_daily AS t (period, recipe, status, jobs, reported, accepted,
            failed)
        VALUES (lpstudio_job_day(NEW.created_at), NEW.recipe, NEW.status, 1, c.reported,
            c.accepted, c.failed)
        ON CONFLICT (period, recipe, status) DO UPDATE SET jobs = t.jobs + 1,
            reported = t.reported + excluded.reported, accepted = t.accepted + excluded.accepted,
            failed = t.failed + excluded.failed;
    END IF;
    RETURN NULL;
END $$;
"""

_PG_TRIGGERS = """
CREATE TRIGGER jobs_count_insert AFTER INSERT ON jobs
    FOR EACH ROW EXECUTE FUNCTION lpstudio_count_job();
CREATE TRIGGER jobs_count_delete AFTER DELETE ON jobs
    FOR EACH ROW EXECUTE FUNCTION lpstudio_count_job();
CREATE TRIGGER jobs_count_update AFTER UPDATE OF status, result, recipe, created_at ON jobs
    FOR EACH ROW EXECUTE FUNCTION lpstudio_count_job();
"""

_PG_BACKFILL = [
    f"""
INSERT INTO {table} (period, recipe, status, jobs, reported, accepted, failed)
SELECT {period}(created_at), recipe, status, count(*), sum((c).reported),
    sum((c).accepted), sum((c).failed)
FROM (SELECT created_at, recipe, status, lpstudio_result_counts(result) AS c FROM jobs) AS j
GROUP BY 1, 2, 3
"""
    for table, period in (
        ("job_counts_hourly", "lpstudio_job_hour"),
        ("job_counts_daily", "lpstudio_job_day"),
    )
]


def upgrade() -> None:
    for table, length in (("job_counts_hourly", 13), ("job_counts_daily", 10)):
        op.create_table(
            table,
            sa.Column("period", sa.String(length), primary_key=True),
            sa.Column("recipe", sa.String(1024), primary_key=True),
            sa.Column("status", sa.String(16), primary_key=True),
            sa.Column("jobs", sa.Integer, nullable=False),
            sa.Column("reported", sa.Integer, nullable=False),
            sa.Column("accepted", sa.BigInteger, nullable=False),
            sa.Column("failed", sa.BigInteger, nullable=False),
        )
    # (created_at, status, recipe) covers what the dashboard reads of the partial hours at
    # the edges of its range; it makes the single-column created_at index redundant.
    op.drop_index("ix_jobs_created_at", table_name="jobs")
    op.create_index("ix_jobs_created_status_recipe", "jobs", ["created_at", "status", "recipe"])
    # The jobs list filtered by recipe and status, newest first.
    op.create_index("ix_jobs_recipe_status_created", "jobs", ["recipe", "status", "created_at"])
    bind = op.get_bind()
    dialect = bind.dialect.name
    if dialect == "sqlite":
        for statement in SQLITE_BACKFILL:
            op.execute(statement)
        for name, body in SQLITE_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {body}")
        if sa.inspect(bind).has_table("sqlite_stat1"):
            # Someone ran ANALYZE: without statistics for the new indexes beside those of
            # the old ones, SQLite's planner would misjudge them.
            op.execute("ANALYZE jobs")
    elif dialect == "postgresql":
        op.execute(_PG_FUNCTIONS)
        for statement in _PG_BACKFILL:
            op.execute(statement)
        op.execute(_PG_TRIGGERS)
    else:  # pragma: no cover - lpstudio supports SQLite and PostgreSQL
        raise NotImplementedError(f"job counts are not maintained on {dialect}")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for name in TRIGGERS:
        op.execute(
            f"DROP TRIGGER IF EXISTS {name}" + (" ON jobs" if dialect == "postgresql" else "")
        )
    if dialect == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS lpstudio_count_job()")
        op.execute("DROP FUNCTION IF EXISTS lpstudio_result_counts(json)")
        op.execute("DROP FUNCTION IF EXISTS lpstudio_job_hour(timestamptz)")
        op.execute("DROP FUNCTION IF EXISTS lpstudio_job_day(timestamptz)")
    op.drop_index("ix_jobs_recipe_status_created", table_name="jobs")
    op.drop_index("ix_jobs_created_status_recipe", table_name="jobs")
    op.create_index("ix_jobs_created_at", "jobs", ["created_at"])
    op.drop_table("job_counts_daily")
    op.drop_table("job_counts_hourly")
