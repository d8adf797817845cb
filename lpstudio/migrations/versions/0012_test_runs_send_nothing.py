"""A test run's result counts among no Proactive recipients: it sent nothing.

A recipe's Test (a job whose `trigger` is "test") runs its actions dry, yet the job counts
of migration 0005 took the recipients its result reports (`failed`, `accepted`) as they take
a real run's, so the dashboard showed dry runs as traffic. The count triggers now give a
test job's result no `reported`, `accepted` or `failed` (it still counts among the jobs per
status: it ran), and count again when a job's `trigger` changes.

The counts already kept are corrected for each period, recipe and status that holds a test
job: recounted from its jobs when none of its real jobs was purged. A purge (0006) erased
those results and kept their figures in the counts, so where purged real jobs share the
period with test jobs, only the figures of the test jobs' results still held are taken
away: a purged test job's cannot be told from theirs.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""

from alembic import context, op
from sqlalchemy import text

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

#: Each count trigger of 0005, and the rows whose figures it counts.
TRIGGERS = {
    "jobs_count_insert": ("NEW",),
    "jobs_count_update": ("OLD", "NEW"),
    "jobs_count_delete": ("OLD",),
}
FIGURES = ("reported", "accepted", "failed")

#: The columns whose change recounts a job: 0005's, and the trigger.
UPDATE_OF = "AFTER UPDATE OF status, result, recipe, created_at"
UPDATE_OF_TRIGGER = f'{UPDATE_OF}, "trigger"'


def _sqlite_edits(row: str) -> tuple[str, str]:
    """Each figure of 0005's SQLite triggers starts with this test of the result (0 when it
    fails): a test job's fails it too."""
    return f"CASE WHEN json_valid({row}.result)", (
        f"CASE WHEN {row}.\"trigger\" <> 'test' AND json_valid({row}.result)"
    )


def _pg_edits(row: str) -> tuple[str, str]:
    """What `lpstudio_count_job` counts of a job's result: nothing of a test job's, as of
    no result at all."""
    return f"lpstudio_result_counts({row}.result)", (
        f"lpstudio_result_counts(CASE WHEN {row}.\"trigger\" = 'test' THEN NULL "
        f"ELSE {row}.result END)"
    )


def _edited(what: str, definition: str, edits: list[tuple[str, str]]) -> str:
    """`definition` with each edit made everywhere; one that is not found means the object
    was changed by hand since: it is not edited blindly."""
    for old, new in edits:
        if old not in definition:
            raise RuntimeError(f"{what} is not as migrations 0005 to 0011 left it: {definition}")
        definition = definition.replace(old, new)
    return definition


def _sqlite_recreate(forward: bool) -> None:
    """SQLite cannot alter a trigger: each is made again from its own SQL, edited."""
    bind = op.get_bind()
    for name, rows in TRIGGERS.items():
        sql = bind.execute(
            text("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = :name"),
            {"name": name},
        ).scalar_one()
        edits = [_sqlite_edits(row) for row in rows]
        if name == "jobs_count_update":
            edits.append((f"{UPDATE_OF} ON jobs", f"{UPDATE_OF_TRIGGER} ON jobs"))
        op.execute(f"DROP TRIGGER {name}")
        op.execute(_edited(name, sql, edits if forward else [(b, a) for a, b in edits]))


def _postgres_recreate(forward: bool) -> None:
    """PostgreSQL can replace a function but not a trigger's columns: both are made again
    from their own definitions, edited."""
    bind = op.get_bind()
    function = bind.execute(
        text("SELECT pg_get_functiondef('lpstudio_count_job()'::regprocedure)")
    ).scalar_one()
    trigger = bind.execute(
        text(
            "SELECT pg_get_triggerdef(oid) FROM pg_trigger "
            "WHERE tgname = 'jobs_count_update' AND tgrelid = 'jobs'::regclass"
        )
    ).scalar_one()
    edits = [_pg_edits(row) for row in ("OLD", "NEW")]
    # PostgreSQL writes the column list back as it holds it: `trigger` is not quoted.
    columns = [(f"{UPDATE_OF} ON ", f"{UPDATE_OF}, trigger ON ")]
    if not forward:
        edits, columns = [(b, a) for a, b in edits], [(b, a) for a, b in columns]
    op.execute(_edited("lpstudio_count_job", function, edits))
    op.execute("DROP TRIGGER jobs_count_update ON jobs")
    op.execute(_edited("jobs_count_update", trigger, columns))


def _sqlite_figures() -> tuple[dict[str, str], dict[str, str]]:
    """Each counts table's period of a job, and what a job's result reports, in SQLite:
    0005's own expressions (the rules the counts were kept by)."""
    counts = context.script.get_revision("0005").module
    result = {
        "reported": counts._SQLITE_REPORTED,
        "accepted": counts._SQLITE_ACCEPTED,
        "failed": counts._SQLITE_FAILED,
    }
    return (
        {table: period.format(row="jobs") for table, period in counts.PERIODS.items()},
        {name: expression.format(row="jobs") for name, expression in result.items()},
    )


def _postgres_figures() -> tuple[dict[str, str], dict[str, str]]:
    periods = {
        "job_counts_hourly": "lpstudio_job_hour(jobs.created_at)",
        "job_counts_daily": "lpstudio_job_day(jobs.created_at)",
    }
    return periods, {name: f"(lpstudio_result_counts(jobs.result)).{name}" for name in FIGURES}


def _recount(forward: bool) -> None:
    """The kept figures of each period, recipe and status that holds a test job, brought to
    the rules of 0012 (`forward`) or back to those of 0005.

    A pass over the jobs' triggers finds the recipes and statuses that have test jobs; only
    the results of their jobs are read then, so a store that was never tested reads none
    (500,000 jobs, all of them so read: about 3 s on SQLite).
    """
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    periods, result = _postgres_figures() if postgres else _sqlite_figures()
    test, real = "jobs.\"trigger\" = 'test'", "jobs.\"trigger\" <> 'test'"
    sums = ", ".join(
        f"sum(CASE WHEN {kind} THEN {result[name]} ELSE 0 END) AS {prefix}_{name}"
        for prefix, kind in (("test", test), ("real", real))
        for name in FIGURES
    )
    for table, period in periods.items():
        groups = bind.execute(
            text(
                f"SELECT {period} AS period, jobs.recipe, jobs.status, {sums}, "
                f"max(CASE WHEN {real} AND jobs.purged THEN 1 ELSE 0 END) AS purged_real "
                "FROM jobs JOIN (SELECT DISTINCT recipe, status FROM jobs "
                f"WHERE {test}) AS tested ON tested.recipe = jobs.recipe "
                "AND tested.status = jobs.status "
                f"GROUP BY 1, 2, 3 HAVING max(CASE WHEN {test} THEN 1 ELSE 0 END) = 1"
            )
        ).mappings()
        rows = [dict(group) for group in groups]
        if not rows:
            continue
        if forward:  # recounted, or the test jobs' figures taken away
            values = ", ".join(
                f"{name} = CASE WHEN :purged_real = 1 THEN {name} - :test_{name} "
                f"ELSE :real_{name} END"
                for name in FIGURES
            )
        else:  # given back (a purged test job's figures are gone for good)
            values = ", ".join(f"{name} = {name} + :test_{name}" for name in FIGURES)
        bind.execute(
            text(
                f"UPDATE {table} SET {values} "
                "WHERE period = :period AND recipe = :recipe AND status = :status"
            ),
            rows,
        )


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _postgres_recreate(forward=True)
    else:
        _sqlite_recreate(forward=True)
    _recount(forward=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _postgres_recreate(forward=False)
    else:
        _sqlite_recreate(forward=False)
    _recount(forward=False)
