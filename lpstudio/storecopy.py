"""Copying a workspace's store into a new database: how a brand that prototyped on SQLite
moves to PostgreSQL (README: Scaling out) keeping its users and roles, connections, saved
settings, versions, API clients, audit log, schedules' and polls' state, delivery ledger and
job history. A new database is a new store, with an identity of its own (`_NOT_COPIED`),
so the copy goes only into one whose lpstudio tables hold no row, and only from a store no
process uses (no job queued or running, no scheduler holding its lease): jobs a process
still ran would be left behind.

It is all or nothing. The target's schema is made by lpstudio's own migrations and every row
written in one transaction on the target (PostgreSQL and SQLite both take DDL in a
transaction), so a failure part way (a row the target refuses, a lost connection, Ctrl-C)
rolls all of it back and leaves the target as it was; a SQLite file the copy created is
removed. The source is read in one snapshot (REPEATABLE READ on PostgreSQL, one read
transaction on SQLite): the copy is the store at one moment.

Tables go in dependency order, streamed `BATCH` rows at a time (a store may hold a million
jobs), every id kept. JSON values are copied as the text stored, so an SQL NULL stays NULL
and a JSON null stays null (the ORM writes both; some queries tell them apart). The job
counts that database triggers keep (migration 0005) are copied as they are, with the
triggers off: a purge keeps the counts of results it erased, which no job row holds any
more. On PostgreSQL each id sequence then goes on from its table's highest id.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Connection,
    Table,
    Text,
    bindparam,
    cast,
    func,
    insert,
    inspect,
    literal,
    select,
    text,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError

from .errors import InputError, LpstudioError, WorkspaceError
from .leader import SCHEDULER
from .models import Base, Job, Lease, StoreIdentity
from .store import (
    QUEUED,
    RUNNING,
    SCHEMA_HEAD,
    Store,
    in_memory,
    new_sqlite_file,
    refuse_taken_tables,
    remove_sqlite_file,
    shown_url,
    upgrade_schema,
    url_passwords,
)
from .workspace import CONFIG_NAME, SQLITE_SIDE_FILES, Workspace

#: Rows read and written at a time.
BATCH = 2000

#: The tables a copy keeps as the target's own migrations made them: a copy is a new store,
#: with an identity of its own, so a Dask worker left on the old one is refused its jobs.
_NOT_COPIED = {StoreIdentity.__tablename__}

#: How a JSON column's stored text is named in a batch of rows (not its column's name: an
#: insert reserves those for its own parameters).
_RAW = "stored_"

#: The names of a PostgreSQL server on this machine, which one database may be reached by.
_LOOPBACK = ("", "localhost", "127.0.0.1", "::1")

NEW_DATABASE_FIX = (
    "give the URL of a new, empty database: postgresql+psycopg://USER:PASSWORD@HOST/DATABASE "
    "(create it first, e.g. `createdb DATABASE`; percent-encode @ : / in the password, e.g. "
    "@ as %40) or sqlite:///FILE (a file that does not exist yet; a relative one is in the "
    "workspace)"
)


@dataclass(frozen=True)
class CopiedStore:
    """What `copy_store` copied: the stores as lpstudio shows them (no password), the
    value `[store] url` takes now, and the rows of each table."""

    source: str
    target: str
    setting: str
    config: Path
    tables: dict[str, int]
    hidden: bool  # whether `setting` hides a password

    @property
    def rows(self) -> int:
        return sum(self.tables.values())

    @property
    def next_step(self) -> str:
        given = " (with the password you gave, hidden here)" if self.hidden else ""
        return (
            f'set url = "{self.setting}" under [store] in {self.config}{given}, then start '
            "the workspace's processes again"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "target": self.target,
            "tables": self.tables,
            "rows": self.rows,
            "next": self.next_step,
        }


def copy_store(workspace: Workspace, source: Store, url: str) -> CopiedStore:
    """Copies `source`, the store of `workspace`, into the new, empty database at `url`
    (read as `[store] url` is read: a relative SQLite path is in the workspace), in one
    transaction on it. Refused before anything is written: a URL that names no store, the
    workspace's store itself, a file where the workspace keeps no store (projects/, the
    history folder), a store in use, and a source with jobs queued or running or a
    scheduler holding its lease."""
    moved = dataclasses.replace(workspace, config={**workspace.config, "store": {"url": url}})
    try:
        target = Store(moved.store_url, create=True)  # the store's own checks of its URL
    except WorkspaceError as exc:
        raise InputError(
            exc.message.replace("[store] url", "the target URL", 1),
            field="url",
            fix=NEW_DATABASE_FIX,
        ) from None
    shown = shown_url(target.engine.url)
    try:
        # As given, too: a relative `sqlite:///:memory:` is read as a file in the workspace.
        if in_memory(target.engine.url) or in_memory(make_url(url)):
            raise InputError(
                f"the target {shown} is a database in memory: the copy would be gone once "
                "this command ends",
                field="url",
                fix=NEW_DATABASE_FIX,
            )
        if _same_database(source.engine.url, target.engine.url):
            raise InputError(
                f"the target {shown} is the workspace's store itself",
                field="url",
                fix=NEW_DATABASE_FIX,
            )
        misplaced = workspace.misplaced_store(target.engine.url)
        if misplaced is not None:  # as `[store] url` there would be, by every command
            name, folder, among = misplaced
            raise InputError(
                f"the target {shown} is in {name}: as [store] url, it would put the "
                f"workspace's users, jobs and connections among {among}, and every command "
                "would refuse it",
                field="url",
                fix=f"{NEW_DATABASE_FIX}, outside {folder}",
            )
        created = new_sqlite_file(target.engine.url)
        try:
            tables = _copy(source, target)
        except BaseException:
            if created is not None:  # as it was: no file
                target.close()
                remove_sqlite_file(created)
            raise
    finally:
        target.close()
    setting = make_url(url)
    return CopiedStore(
        source=shown_url(source.engine.url),
        target=shown,
        setting=shown_url(setting),
        config=workspace.root / CONFIG_NAME,
        tables=tables,
        hidden=bool(url_passwords(setting)),
    )


def _same_database(a: URL, b: URL) -> bool:
    """Whether two URLs name one database: one SQLite file (by its real path), or one
    PostgreSQL database of one server, its loopback address written any way. (Any other
    alias of the source holds its rows, and is refused as a store in use.)"""
    if a.get_backend_name() != b.get_backend_name():
        return False
    if a.get_backend_name() == "sqlite":
        files = (a.database, b.database)
        if not all(files) or ":memory:" in files:
            return False
        source = os.path.realpath(str(a.database))  # with its side files: they go with it
        return os.path.realpath(str(b.database)) in {source + side for side in SQLITE_SIDE_FILES}

    def server(url: URL) -> tuple[str, int, str | None]:
        host = (url.host or "").lower()
        return ("localhost" if host in _LOOPBACK else host, url.port or 5432, url.database)

    return server(a) == server(b)


def _copy(source: Store, target: Store) -> dict[str, int]:
    """The copy itself, in the source's snapshot and the target's one transaction."""
    shown = shown_url(target.engine.url)
    reading = source.engine
    if reading.dialect.name == "postgresql":
        reading = reading.execution_options(isolation_level="REPEATABLE READ")
    with reading.connect() as snapshot, snapshot.begin():
        _check_idle(source, snapshot)
        try:
            opened = target.engine.execution_options(lpstudio_write=True).connect()
        except DBAPIError as exc:
            raise InputError(
                f"cannot open the target {shown}: {_reason(exc, source, target)}",
                field="url",
                fix="check that its database server runs and this machine may reach it, and "
                "the user, password and database of the URL (the database must exist: "
                "`createdb DATABASE`); for SQLite, that its folder exists and you may write there",
            ) from None
        copied: dict[str, int] = {}
        step = "its schema"
        try:
            with opened as writing, writing.begin():  # the target's write lock, as writers take it
                _check_new(writing, shown)
                upgrade_schema(writing)  # in this transaction: rolled back with the rows
                with _triggers_off(writing):
                    for table in Base.metadata.sorted_tables:
                        if table.name in _NOT_COPIED:
                            continue
                        step = f"its {table.name} table"
                        copied[table.name] = _copy_table(table, snapshot, writing)
                    step = "its triggers"
                step = "its id sequences"
                if writing.dialect.name == "postgresql":
                    _continue_sequences(writing)
                step = "its commit"
        except DBAPIError as exc:
            raise LpstudioError(
                f"copying the store into {shown} stopped at {step}: "
                f"{_reason(exc, source, target)}. Nothing was copied: the target is as it was",
                field="url",
                fix="mend what stopped it (a row of the workspace's store, or the target's "
                "server), then run `lpstudio store-copy` again",
            ) from None
    return copied


def _check_idle(source: Store, snapshot: Connection) -> None:
    """Refuses a store that processes still use: a running job, one a process queued for
    itself, or a scheduler or server at work (a leader's lease, a presence) would go
    on in the old store while the new one is used. A job queued for no process (a stopped
    recipe's kept event) is copied as it is, and waits for its recipe's start there."""
    held = (Job.status == QUEUED) & Job.worker.is_not(None)
    busy = snapshot.execute(
        select(Job.id, Job.status).where((Job.status == RUNNING) | held).order_by(Job.id)
    ).all()
    if busy:
        named = ", ".join(f"job {job_id} ({status})" for job_id, status in busy[:5])
        more = f" and {len(busy) - 5} more" if len(busy) > 5 else ""
        raise WorkspaceError(
            f"the workspace's store has jobs queued or running: {named}{more}; a copy now "
            "would leave them behind",
            field="jobs",
            fix="stop every process on the workspace once its jobs end (servers, `lpstudio "
            "scheduler` daemons, Dask workers: README, Upgrading), cancel those left queued "
            "with `lpstudio cancel ID`, then copy again",
        )
    now = source.now()
    lease = snapshot.execute(
        select(Lease.name, Lease.holder, Lease.expires_at).where(Lease.expires_at > now)
    ).first()
    if lease is not None:
        until = lease.expires_at.astimezone().strftime("%Y-%m-%d %H:%M:%S")
        raise WorkspaceError(
            f"a scheduler or server of the workspace is running: {lease.holder} holds its lease "
            f"until {until}",
            field=SCHEDULER,
            fix="stop every process on the workspace (README, Upgrading); a process that was "
            f"killed gives its lease up at {until}: copy then",
        )


def _check_new(writing: Connection, shown: str) -> None:
    """Refuses a target that `lpstudio init` would refuse as a new store (another
    application's tables named as lpstudio's: `refuse_taken_tables`), one whose lpstudio
    tables hold a row (a store in use: this workspace's or another's), or one whose schema
    is not this lpstudio's."""
    refuse_taken_tables(writing, f"the target {shown}", field="url", fix=NEW_DATABASE_FIX)
    present = set(inspect(writing).get_table_names())
    used = [
        table.name
        for table in Base.metadata.sorted_tables
        if table.name in present
        and table.name not in _NOT_COPIED
        and writing.execute(select(literal(1)).select_from(table).limit(1)).first()
    ]
    if used:
        raise InputError(
            f"the target {shown} is a store in use, not a new one: its {', '.join(used)} "
            "tables hold rows",
            field="url",
            fix=f"{NEW_DATABASE_FIX}; if it is this workspace's copy already, set url under "
            "[store] in lpstudio.toml to it",
        )
    if "alembic_version" in present:
        revision = writing.scalar(text("SELECT version_num FROM alembic_version"))
        if revision not in (None, SCHEMA_HEAD):
            raise InputError(
                f"the target {shown} has lpstudio's tables of schema {revision}, not this "
                f"lpstudio's {SCHEMA_HEAD}",
                field="url",
                fix=NEW_DATABASE_FIX,
            )


@contextmanager
def _triggers_off(writing: Connection) -> Iterator[None]:
    """The target's triggers do not fire while the rows go in: what they keep (the job
    counts of migration 0005) is copied as it is, not counted again from the jobs copied
    (which a purge left without the results counted), and on PostgreSQL the upserts of one
    count row for each job copied, in one transaction, slowed as its row versions piled up.
    PostgreSQL disables them (foreign keys, its system triggers, are still checked); SQLite,
    which cannot, drops them and makes them again from their own SQL, as the migrations do.
    Both in the copy's transaction: a copy that fails leaves them as they were."""
    quote = writing.dialect.identifier_preparer.quote
    if writing.dialect.name == "postgresql":
        tables = [quote(table.name) for table in Base.metadata.sorted_tables]
        for table in tables:
            writing.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
        yield
        for table in tables:
            writing.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER USER"))
        return
    made = writing.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"))
    triggers = made.all()
    for name, _sql in triggers:
        writing.execute(text(f"DROP TRIGGER {quote(name)}"))
    yield
    for _name, sql in triggers:
        writing.execute(text(sql))


def _copy_table(table: Table, snapshot: Connection, writing: Connection) -> int:
    """Copies the rows of `table`, `BATCH` at a time in the order of its key (a job before
    its reruns); says how many."""
    stored = {c.key for c in table.c if isinstance(c.type, JSON)}
    read = select(
        *(cast(c, Text).label(_RAW + c.key) if c.key in stored else c for c in table.c)
    ).order_by(*table.primary_key.columns)
    write = insert(table).values({key: _stored_json(table, key, writing) for key in stored})
    copied = 0
    for batch in snapshot.execution_options(yield_per=BATCH).execute(read).partitions():
        writing.execute(write, [row._asdict() for row in batch])
        copied += len(batch)
    return copied


def _stored_json(table: Table, key: str, writing: Connection) -> Any:
    """A JSON column's value given as its stored text: PostgreSQL casts it to json, SQLite
    keeps text as SQLAlchemy's JSON writes it."""
    given = bindparam(_RAW + key, type_=Text)
    return cast(given, table.c[key].type) if writing.dialect.name == "postgresql" else given


def _continue_sequences(writing: Connection) -> None:
    """Each PostgreSQL id sequence goes on from its table's highest id: the first job after
    the copy gets the next number, not 1 (which is taken)."""
    for table in Base.metadata.sorted_tables:
        column = table.autoincrement_column
        if column is not None:
            sequence = func.pg_get_serial_sequence(table.name, column.name)
            writing.execute(
                select(func.setval(sequence, func.coalesce(func.max(column), 0) + 1, False))
            )


def _reason(exc: DBAPIError, *stores: Store) -> str:
    """The database's first line of why, without a password of either store's URL."""
    reason = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else type(exc).__name__
    for store in stores:
        for password in url_passwords(store.engine.url):
            reason = reason.replace(password, "***")
    return reason
