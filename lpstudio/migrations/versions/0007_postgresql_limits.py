"""On PostgreSQL, none of the limits that SQLite does not have: names of any length,
64-bit ids, and text ordered as SQLite orders it.

SQLite ignores a VARCHAR's length, its ids are 64-bit and it orders text by code point.
PostgreSQL refused a recipe in deep folders (a path over 1024 characters), the webhook
deliveries of a recipe whose path passes 247 characters (claimed as "webhook:PATH") and a
custom connector's ledger keys longer than a hash; its SERIAL ids stop at 2**31, which the
ledger (a row per recipient of every campaign, kept), the claims of callable calls and their
jobs reach on a large brand's store; in a database whose locale is not C (en_US is common)
recipe lists came in another order; and a job's result whose `accepted` no 64-bit integer
holds could not be stored, so the job never ended.

Recipe paths and what is named after them become TEXT ordered by code point (their indexes
are rebuilt), those ids BIGINT (this rewrites `jobs`, `deliveries`, `idempotent_calls`,
`audit` and `schedule_runs` once, holding the store's write lock meanwhile), and such an
`accepted` is left uncounted. SQLite's schema is left as it is.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy import text

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

#: Unbounded, and ordered by code point as SQLite orders text, whatever the database's locale.
TEXT = sa.Text(collation="C")

#: (table, column): the type it had, and the one it gets.
NARROW_WIDE = {
    **{
        (table, "recipe"): (sa.String(1024), TEXT)
        for table in (
            "recipe_versions",
            "jobs",
            "job_counts_hourly",
            "job_counts_daily",
            "recipe_settings",
            "trigger_state",
            "schedule_runs",
        )
    },
    ("jobs", "output_path"): (sa.String(2048), TEXT),
    ("audit", "target"): (sa.String(1024), TEXT),
    ("deliveries", "key"): (sa.String(64), TEXT),
    ("idempotent_calls", "client"): (sa.String(255), TEXT),
    ("idempotent_calls", "endpoint"): (sa.String(1024), TEXT),
    **{
        key: (sa.Integer(), sa.BigInteger())
        for key in (
            ("jobs", "id"),
            ("jobs", "rerun_of"),
            ("deliveries", "id"),
            ("deliveries", "job_id"),
            ("idempotent_calls", "id"),
            ("idempotent_calls", "job_id"),
            ("audit", "id"),
            ("schedule_runs", "id"),
            ("schedule_runs", "job_id"),
        )
    },
}


def _retype(wide: bool) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    # PostgreSQL cannot retype a column that a trigger names (`UPDATE OF recipe`): the
    # trigger is made again from its own definition, as 0006 left it.
    definition = bind.execute(
        text(
            "SELECT pg_get_triggerdef(oid) FROM pg_trigger "
            "WHERE tgname = 'jobs_count_update' AND tgrelid = 'jobs'::regclass"
        )
    ).scalar_one()
    op.execute("DROP TRIGGER jobs_count_update ON jobs")
    for (table, column), (narrow, wider) in NARROW_WIDE.items():
        new, old = (wider, narrow) if wide else (narrow, wider)
        op.alter_column(table, column, type_=new, existing_type=old)
        if column == "id":  # a SERIAL's sequence has a type of its own
            sequence = bind.execute(
                text("SELECT pg_get_serial_sequence(:table, 'id')"), {"table": table}
            ).scalar_one()
            op.execute(f"ALTER SEQUENCE {sequence} AS {'bigint' if wide else 'integer'}")
    op.execute(definition)


#: How `lpstudio_result_counts` (0005) tells an integer `accepted`: its cast of one that 64
#: bits cannot hold failed the statement that ended the job. A number of 16 digits or more
#: is no count of recipients, and the counts (BIGINT sums of a recipe's jobs per hour and
#: day) could overflow adding a few of them: it is left out. (SQLite counts it as an
#: approximate real number.)
ANY_DIGITS = "AND (result ->> 'accepted') ~ '^-?[0-9]+$';"
SIXTY_FOUR_BITS = "AND (result ->> 'accepted') ~ '^-?[0-9]{1,15}$';"


def _edit_result_counts(old: str, new: str) -> None:
    """PostgreSQL cannot edit a function: it is made again from its own definition, edited."""
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    definition = bind.execute(
        text("SELECT pg_get_functiondef('lpstudio_result_counts(json)'::regprocedure)")
    ).scalar_one()
    if old not in definition:  # changed by hand since: not edited blindly
        raise RuntimeError(f"lpstudio_result_counts is not as migration 0005 left it: {definition}")
    op.execute(definition.replace(old, new, 1))


def upgrade() -> None:
    _retype(wide=True)
    _edit_result_counts(ANY_DIGITS, SIXTY_FOUR_BITS)


def downgrade() -> None:
    _edit_result_counts(SIXTY_FOUR_BITS, ANY_DIGITS)
    _retype(wide=False)
