"""The database tables: the store is the only place lpstudio keeps state.

The schema is owned by the Alembic migrations in `lpstudio/migrations`; these models must
match the latest migration (a test compares them).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator, TypeEngine

from .times import as_utc  # the rule for naive times is one, in .times


def utcnow() -> datetime:
    """Timestamps are stored as aware UTC datetimes."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, whatever the database does with time zones.

    SQLite drops them: a naive value read back is UTC. PostgreSQL keeps instants but
    answers in the session's time zone (the server's `timezone` setting, often local
    time), and reads a naive value given to it in that zone too: values read are turned
    to UTC, and a naive value given is taken as UTC, as SQLite takes it.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else as_utc(value)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else as_utc(value)


def unbounded(length: int) -> TypeEngine[str]:
    """Text as long as users make it: a recipe's path (its folders' names) and what is named
    after it. SQLite ignores a VARCHAR's length where PostgreSQL refuses a longer value, so
    on PostgreSQL it is TEXT (migration 0007): a store takes the same values on both. It is
    ordered by code point there too, as SQLite and Python order it, whatever the database's
    locale (in en_US "p/abandoned" comes before "p/Winback")."""
    return String(length).with_variant(Text(collation="C"), "postgresql")


#: The ids of the tables that grow with a brand's traffic, and the references to them:
#: 64-bit, as SQLite's row ids (INTEGER there) always are; PostgreSQL's SERIAL stops at
#: 2**31 (migration 0007).
BIG_ID = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    pass


class Activation(Base):
    """Who accepted the terms, and when: a workspace without a row is not activated."""

    __tablename__ = "activation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    accepted_by: Mapped[str] = mapped_column(String(255))
    accepted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    terms_version: Mapped[str] = mapped_column(String(32))


class StoreIdentity(Base):
    """The store's own random id, in its one row (migration 0022): job ids start at 1 in
    every store, and a Dask worker tells its server's store from another by this."""

    __tablename__ = "store_identity"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)


class User(Base):
    """A person (or the OS user on the command line), created on first sight."""

    __tablename__ = "users"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    role: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Notebook(Base):
    """One stored copy per distinct notebook content, keyed by its SHA-256."""

    __tablename__ = "notebooks"

    sha: Mapped[str] = mapped_column(String(64), primary_key=True)
    content: Mapped[str] = mapped_column(Text)


class RecipeVersion(Base):
    """A content-addressed snapshot of a recipe: its notebook plus its settings."""

    __tablename__ = "recipe_versions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    recipe: Mapped[str] = mapped_column(unbounded(1024), index=True)
    notebook_sha: Mapped[str] = mapped_column(ForeignKey("notebooks.sha"))
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(255))


class Job(Base):
    """One run of one recipe version for one trigger event."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_recipe_created", "recipe", "created_at"),
        Index("ix_jobs_status_created", "status", "created_at"),
        Index("ix_jobs_created_status_recipe", "created_at", "status", "recipe"),
        Index("ix_jobs_recipe_status_created", "recipe", "status", "created_at"),
        Index("ix_jobs_purged_finished", "purged", "finished_at"),  # the daily purge
        # A purged job whose notebook a purge stopped part-way left on disk (migration 0016).
        Index(
            "ix_jobs_purged_left",
            "id",
            postgresql_where=text("purged AND output_path IS NOT NULL"),
            sqlite_where=text("purged = 1 AND output_path IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    recipe: Mapped[str] = mapped_column(unbounded(1024))
    version_id: Mapped[str] = mapped_column(ForeignKey("recipe_versions.id"))
    status: Mapped[str] = mapped_column(String(16))
    trigger: Mapped[str] = mapped_column(String(32), default="manual")
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: Of `parameters`, the values given for this job (by hand, a bot's call, a rerun's
    #: job), not the saved settings under them: a rerun gives these again over the settings
    #: saved then. None for a job from before 0018.
    given: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    event: Mapped[Any] = mapped_column(JSON, nullable=True)
    #: The event as a system sent it, where `event` shows it masked: a Fernet token of its
    #: JSON (the workspace key), opened for its kernel alone (0014).
    sealed_event: Mapped[str | None] = mapped_column(Text, nullable=True)
    user: Mapped[str] = mapped_column(String(255))
    rerun_of: Mapped[int | None] = mapped_column(BIG_ID, ForeignKey("jobs.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    timeout: Mapped[float | None] = mapped_column(Float, nullable=True)
    cells_done: Mapped[int] = mapped_column(Integer, default=0)
    cells_total: Mapped[int] = mapped_column(Integer, default=0)
    #: Whether it started a cell that may act outside its kernel (`runner.acts`), told
    #: before that cell starts: from then on, run again, it might repeat what the cell did,
    #: so a lost or stopped job is never requeued (0021). The database's default: a row
    #: written by Python names none of it, as a store of an older schema has none.
    acted: Mapped[bool] = mapped_column(server_default="0")
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    output_path: Mapped[str | None] = mapped_column(unbounded(2048), nullable=True)
    worker: Mapped[str | None] = mapped_column(String(255), nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    purged: Mapped[bool] = mapped_column(default=False)

    #: The workspace folder `output_path` is stored relative to, for a job read from a
    #: workspace's store (`Store.root`); not a column.
    root: ClassVar[Path | None] = None

    def output_in(self, root: Path) -> str | None:
        """The output notebook's absolute path in the workspace at `root`: the one rule for
        the `output_path` that lists, REST and `--json` give, and for `output_file`."""
        return str(root / self.output_path) if self.output_path else None

    @property
    def duration(self) -> float | None:
        """Seconds from its start to its end, to the millisecond, as lists, REST and
        `--json` give it; None until it ended (or for one that never started)."""
        if self.started_at is None or self.finished_at is None:
            return None
        return round((self.finished_at - self.started_at).total_seconds(), 3)

    @property
    def output_file(self) -> str | None:
        """The output notebook's absolute path, as `jobs_frame`, `--json` and REST give its
        `output_path` (stored relative to the workspace, which moves with it): a path to
        open from any folder (`nbformat.read(studio.job(id).output_file, as_version=4)`)."""
        return self.output_in(self.root) if self.root else self.output_path


class _JobCounts:
    """How many jobs of one recipe were created in one UTC period and now have one status,
    with the Proactive recipients their results report: what the dashboard sums. A test
    run's job counts, but its result reports none: it sent nothing (0012).

    Kept by database triggers on `jobs` (migration 0005), never written by Python code; a
    purge leaves them as they were (0006). A count may fall to 0 as jobs change status;
    such rows are harmless and kept.
    """

    recipe: Mapped[str] = mapped_column(unbounded(1024), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    jobs: Mapped[int] = mapped_column(Integer)
    reported: Mapped[int] = mapped_column(Integer)
    accepted: Mapped[int] = mapped_column(BigInteger)
    failed: Mapped[int] = mapped_column(BigInteger)


class JobCountHourly(_JobCounts, Base):
    """Counts per UTC hour; `period` is "YYYY-MM-DD HH"."""

    __tablename__ = "job_counts_hourly"

    period: Mapped[str] = mapped_column(String(13), primary_key=True, sort_order=-1)  # hour


class JobCountDaily(_JobCounts, Base):
    """Counts per UTC day; `period` is "YYYY-MM-DD"."""

    __tablename__ = "job_counts_daily"

    period: Mapped[str] = mapped_column(String(10), primary_key=True, sort_order=-1)  # day


class Connection(Base):
    """A named, authorised link to an app; secret fields are one Fernet token."""

    __tablename__ = "connections"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(255))
    fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    secrets: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="untested")
    status_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    tested_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(255))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # A placeholder's secrets still to be given (migration 0009); None for any other.
    withheld: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)


class RecipeSettings(Base):
    """What an analyst chose for a recipe: parameter values and connection bindings."""

    __tablename__ = "recipe_settings"

    recipe: Mapped[str] = mapped_column(unbounded(1024), primary_key=True)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(255))
    #: Counted up by every write of the row (1: its first), as SQLAlchemy counts a
    #: version_id_col: a form sends the revision it showed, to refuse overwriting a change
    #: it did not see (`lpstudio.settings`).
    revision: Mapped[int] = mapped_column(Integer, server_default="1")

    __mapper_args__: ClassVar[dict[str, Any]] = {"version_id_col": revision}


class Delivery(Base):
    """One send of a job to an app (a campaign's recipient, keyed by a hash): the ledger
    that stops a retry or rerun sending it twice."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("ledger", "key", name="uq_deliveries_ledger_key"),
        Index("ix_deliveries_updated_at", "updated_at"),  # the daily purge (migration 0010)
        # The sends a job left unanswered when it ends (migration 0011): only rows in flight.
        Index(
            "ix_deliveries_sending",
            "job_id",
            sqlite_where=text("status = 'sending'"),
            postgresql_where=text("status = 'sending'"),
        ),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    ledger: Mapped[str] = mapped_column(String(255))
    key: Mapped[str] = mapped_column(unbounded(64))  # a connector's: not always a hash
    status: Mapped[str] = mapped_column(String(16))
    # A claim's: the day it was made and its connector's check, by its digest
    # (`DeliveryCheck`, `StoreLedger.claim_many`); a settled send's: what its connector said
    # of it (a check by its digest too).
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    job_id: Mapped[int | None] = mapped_column(BIG_ID, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DeliveryCheck(Base):
    """A connector's check of sends in doubt (`Ledger.claim_many`: how to find out what the
    app did with them), stored once: one per campaign, not per recipient. Each delivery row
    that keeps it names it by `digest` (`store.kept_check`); a copy on every row made a
    campaign to 100,000 recipients 40 MB larger. The purge drops those no row names."""

    __tablename__ = "delivery_checks"

    digest: Mapped[str] = mapped_column(String(32), primary_key=True)
    text: Mapped[str] = mapped_column(Text)


class DailyCount(Base):
    """The sends of a day under an app's daily limit (`scope`: a LivePerson account's
    channel), whichever job, recipe or process sent them: each campaign reserves its
    recipients here before they go out, so that the campaigns of a day together stay
    under the limit, not each on its own."""

    __tablename__ = "daily_counts"

    scope: Mapped[str] = mapped_column(String(255), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # UTC, ISO 8601
    used: Mapped[int] = mapped_column(Integer, default=0)


class TriggerState(Base):
    """A poll trigger's durable cursor, its fixed "since", and the keys it has seen."""

    __tablename__ = "trigger_state"

    recipe: Mapped[str] = mapped_column(unbounded(1024), primary_key=True)
    since: Mapped[str] = mapped_column(String(64))
    cursor: Mapped[Any] = mapped_column(JSON, nullable=True)
    seen: Mapped[list[str]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    next_poll_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)


class ScheduleRun(Base):
    """One due run of a schedule, claimed once: the unique key is (recipe, due time)."""

    __tablename__ = "schedule_runs"
    __table_args__ = (UniqueConstraint("recipe", "due_at", name="uq_schedule_runs_recipe_due"),)

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    recipe: Mapped[str] = mapped_column(unbounded(1024))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    job_id: Mapped[int | None] = mapped_column(BIG_ID, nullable=True)
    skipped: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ScheduleForm(Base):
    """A started schedule's cron and time zone, and since when: the moment the first
    scheduler on the store saw them under its current start. Its due times count from no
    earlier, so an edit never fires a time that had passed when it was made (migration
    0015). Not a poll's `TriggerState`: a recipe switched between the two would read the
    other's row."""

    __tablename__ = "schedule_forms"

    recipe: Mapped[str] = mapped_column(unbounded(1024), primary_key=True)
    cron: Mapped[str] = mapped_column(Text)
    timezone: Mapped[str] = mapped_column(String(255))
    since: Mapped[datetime] = mapped_column(UTCDateTime())


class AuditEntry(Base):
    """Who changed what, and when."""

    __tablename__ = "audit"

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    user: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(unbounded(1024))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Lease(Base):
    """A named lease (the scheduler leader's), held until it expires."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(255))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ApiClient(Base):
    """A caller of callable recipes (a bot, a partner system): only the SHA-256 of its token
    is kept, with the endpoint paths it may call, its rate limit and its quota (calls in any
    24 hours; None: no quota)."""

    __tablename__ = "api_clients"
    __table_args__ = (UniqueConstraint("token_sha256", name="uq_api_clients_token"),)

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64))
    endpoints: Mapped[list[str]] = mapped_column(JSON, default=list)
    rate_per_minute: Mapped[int] = mapped_column(Integer, default=60)
    quota_per_day: Mapped[int | None] = mapped_column(Integer, nullable=True)
    revoked: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(255))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class IdempotentCall(Base):
    """A call made with an `Idempotency-Key`: the job it started and, once known, its answer,
    so that a retried request is answered the same without running again."""

    __tablename__ = "idempotent_calls"
    __table_args__ = (UniqueConstraint("client", "key", name="uq_idempotent_calls_client_key"),)

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    client: Mapped[str] = mapped_column(unbounded(255))  # "webhook:RECIPE" too
    key: Mapped[str] = mapped_column(String(255))
    endpoint: Mapped[str] = mapped_column(unbounded(1024))
    request_sha256: Mapped[str] = mapped_column(String(64))
    job_id: Mapped[int | None] = mapped_column(BIG_ID, nullable=True)
    status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    answer: Mapped[Any] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
