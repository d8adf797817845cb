"""SQL database: query into a DataFrame, insert rows, and trigger on new rows.

    db = lpstudio.kernel.connection("warehouse")
    frame = db.query(sql="SELECT email FROM customers WHERE country = :c", params={"c": "FR"})
    db.insert(table="optins", rows=[{"email": "ada@example.com", "channel": "sms"}])

Any database SQLAlchemy reaches (SQLite built in; PostgreSQL with the `[postgres]` extra).
A relative SQLite file (`sqlite:///data/app.db`) is in the workspace, wherever the job runs,
and may not climb out of it; a SQLite file that does not exist is refused rather than
created empty.
The URL is a secret field, as it usually holds a password; messages name the database by
its kind only, never by the url's parts (user, host, database name, SQLite file). See
`database.py` for how engines are kept and disposed of.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from itertools import groupby
from typing import TYPE_CHECKING, Any

from lpstudio.errors import InputError
from lpstudio.sdk import Connection, Connector, Field, Page

from .readonly import check_read_only

if TYPE_CHECKING:
    import pandas as pd
    import sqlalchemy as sa

# pandas and SQLAlchemy (and `.database`, which needs SQLAlchemy) are imported by the
# functions that use them: every process that lists connectors imports this module.

PAGE_SIZE = 1000

connector = Connector(
    "sql",
    title="SQL database",
    description="A database reached through SQLAlchemy: read queries, inserts, new rows.",
    fields=[
        Field(
            "url",
            "Database URL",
            secret=True,
            hint="a SQLAlchemy URL, e.g. postgresql+psycopg://user:password@host:5432/db, "
            "or sqlite:///data/app.db (a relative SQLite file is in the workspace)",
        ),
        Field(
            "poll_table",
            "Table to watch",
            required=False,
            hint="for the 'New rows' trigger: the table whose new rows start jobs",
        ),
        Field(
            "poll_column",
            "Increasing column",
            required=False,
            hint="for the 'New rows' trigger: a column that grows with each new row, such as "
            "an id or the time it was added (rows may share a time)",
        ),
    ],
)

_VALUE = {"type": ["string", "number", "integer", "boolean", "null"]}
_ROW = {"type": "object", "additionalProperties": _VALUE}


def dispose(conn: Connection) -> None:
    """Drops the connection's engine now (see `database.py`)."""
    from .database import dispose as drop

    drop(conn)


@connector.test
def test(conn: Connection) -> str:
    import sqlalchemy as sa

    from .database import connect, name

    with connect(conn) as connection:
        connection.execute(sa.text("SELECT 1")).scalar()
    return f"connected to {name(conn)}"


def _reads(action: int, *_: object) -> int:
    """A SQLite authorizer: reading is allowed, anything else (ATTACH, PRAGMA, VACUUM INTO,
    writes, which `query_only` does not all stop) is denied."""
    import sqlite3

    reading = (sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION)
    if action in reading or action == sqlite3.SQLITE_RECURSIVE:
        return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


def _read_only(connection: sa.Connection) -> None:
    """Makes the database itself refuse writes, whatever the statement checker missed.
    SQLite's driver runs one statement per call, under `query_only` and an authorizer that
    allows reading only; on PostgreSQL the query goes as a prepared statement, which is one
    statement, so no `COMMIT` slipped in after it can end the read-only transaction."""
    dialect = connection.dialect.name
    if dialect == "sqlite":
        connection.exec_driver_sql("PRAGMA query_only = ON")
        connection.connection.driver_connection.set_authorizer(_reads)
    elif dialect == "postgresql":
        connection.exec_driver_sql("SET TRANSACTION READ ONLY")
        driver = connection.connection.driver_connection
        if hasattr(driver, "prepare_threshold"):  # psycopg 3: prepare from the first run
            driver.prepare_threshold = 0


@connector.action(
    "query",
    title="Run a query",
    description=(
        "Runs one SELECT (or WITH ... SELECT) statement with bound parameters (`:name` in the "
        "SQL, its value in `params`) and returns the rows as a DataFrame. Writes are refused."
    ),
    input_schema={
        "type": "object",
        "required": ["sql"],
        "additionalProperties": False,
        "properties": {
            "sql": {"type": "string", "minLength": 1},
            "params": {"type": "object", "additionalProperties": _VALUE},
        },
    },
    output_schema={"type": "array", "items": {"type": "object"}},
)
def query(conn: Connection, data: dict[str, Any]) -> pd.DataFrame:
    import pandas as pd
    import sqlalchemy as sa

    from .database import connect

    sql = data["sql"]
    check_read_only(sql)
    params = dict(data.get("params") or {})
    statement = sa.text(sql)
    needed = set(statement.compile().params)
    missing, extra = sorted(needed - set(params)), sorted(set(params) - needed)
    if missing or extra:
        problems = []
        if missing:
            problems.append(f"no value for {', '.join(':' + m for m in missing)}")
        if extra:
            problems.append(f"{', '.join(extra)} not used in the SQL")
        raise InputError(
            f"query params do not match the SQL: {'; '.join(problems)}",
            field="params",
            fix="give one value in params for each :name in the SQL (write a colon that "
            "starts no parameter as \\:, even inside quotes)",
        )
    with connect(conn) as connection:
        _read_only(connection)
        try:
            frame = pd.read_sql(statement, connection, params=params)
        except pd.errors.DatabaseError as error:
            # pandas wraps the SQLAlchemy error; `connect` reports the original, scrubbed.
            if isinstance(error.__cause__, sa.exc.SQLAlchemyError):
                raise error.__cause__ from None
            raise
        finally:
            # Nothing a query did is kept. (Its DBAPI connection is closed next, NullPool, so
            # query_only ends with it; it is reset anyway should the pool ever change.)
            with contextlib.suppress(sa.exc.SQLAlchemyError):
                connection.rollback()
                if connection.dialect.name == "sqlite":
                    connection.connection.driver_connection.set_authorizer(None)
                    connection.exec_driver_sql("PRAGMA query_only = OFF")
    return frame


@connector.action(
    "insert",
    title="Insert rows",
    description=(
        "Inserts `rows` (a list of objects) or one `row` into `table`; keys are column names. "
        "All rows are written in one transaction, or none."
    ),
    input_schema={
        "type": "object",
        "required": ["table"],
        "additionalProperties": False,
        "properties": {
            "table": {"type": "string", "minLength": 1},
            "rows": {"type": "array", "items": _ROW},
            "row": _ROW,
        },
    },
    output_schema={"type": "object", "properties": {"inserted": {"type": "integer"}}},
)
def insert(conn: Connection, data: dict[str, Any]) -> dict[str, Any]:
    from .database import connect, name, reflect, to_column

    if ("rows" in data) == ("row" in data):
        raise InputError(
            "insert takes either `rows` (a list of objects) or `row` (one object)",
            field="rows",
            fix="give exactly one of rows and row",
        )
    field = "rows" if "rows" in data else "row"
    given = list(data["rows"]) if field == "rows" else [data["row"]]
    shown = name(conn)
    with connect(conn) as connection:
        table = reflect(connection, data["table"], "table", shown)
        known = list(table.columns.keys())
        unknown = sorted({key for row in given for key in row if key not in table.columns})
        if unknown:
            raise InputError(
                f"table '{data['table']}' has no column {', '.join(map(repr, unknown))}",
                field=field,
                fix=f"use its columns: {', '.join(known)}",
            )
        rows = [{k: to_column(table.columns[k], v) for k, v in row.items()} for row in given]
        if conn.dry_run:
            return {
                "would_insert": len(rows),
                "table": data["table"],
                "columns": [c for c in known if any(c in row for row in rows)],
                "database": shown,
            }
        if not rows:
            return {"inserted": 0}
        # One executemany per run of rows with the same keys, so that a key one row leaves
        # out takes the column's default rather than NULL; the order of rows is kept.
        for _keys, run in groupby(rows, key=lambda row: tuple(sorted(row))):
            connection.execute(table.insert(), list(run))
        connection.commit()
    return {"inserted": len(rows)}


def _row_key(event: dict[str, Any]) -> str:
    """A row's identity for de-duplication: its column value and a digest of the whole row,
    as rows often share the column's value (orders placed in the same second) and each is
    its own event. Two rows equal in every column are one event."""
    return f"{event['_cursor']}|{_digest(event)}"


def _digest(event: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(event, sort_keys=True).encode()).hexdigest()[:32]


#: The label of the value the poll orders rows by (`database.poll_key`) in its query.
_KEY = "_lpstudio_poll_key"


@connector.poll_trigger("new_rows", title="New rows by an increasing column", key=_row_key)
def new_rows(conn: Connection, since: str, cursor: Any) -> Page:
    """Rows of the connection's `poll_table` in the order of its `poll_column`, at most 1000
    per page. Each event is the row (values as JSON) with its column value repeated as
    `_cursor`. On the first poll a date or time column starts at `since`; any other column
    starts from its first row.

    Rows may share a value (orders placed in the same second), and one may be committed
    with the value of the last row a poll read after that poll. So the cursor is that
    value with the rows read at it, `{"value": ..., "seen": [...]}` (told apart by the
    table's primary key, else by all their values), and the next poll reads from that
    value on, leaving those rows out: none is lost, and none comes twice, even updated in
    place (but for a table without a primary key: all its values are then another row). A
    column that is the table's primary key holds no value twice: its cursor is the last
    value read, and the next poll reads above it (as a cursor kept before cursors held
    rows is read, once). A page ends before a value its last rows share, unless they fill
    it: they then come in as many pages as they fill. A SQLite time is text, in whatever
    form its writer gave it: rows are read in the order of that text (the column's index
    finds them), and the value they share is their second, as `database.to_second` cuts it.
    """
    import sqlalchemy as sa

    from .database import connect, name, poll_key, reflect

    table_name, column_name = conn.config.get("poll_table"), conn.config.get("poll_column")
    for field, value in (("poll_table", table_name), ("poll_column", column_name)):
        if not value:
            raise InputError(
                f"the 'New rows' trigger needs the connection field '{field}'",
                field=field,
                fix="set poll_table and poll_column on the connection",
            )
    with connect(conn) as connection:
        table = reflect(connection, str(table_name), "poll_table", name(conn))
        if column_name not in table.columns:
            raise InputError(
                f"table '{table_name}' has no column '{column_name}'",
                field="poll_column",
                fix=f"use one of: {', '.join(table.columns.keys())}",
            )
        column = table.columns[column_name]
        primary = list(table.primary_key.columns)
        shared = not (len(primary) == 1 and primary[0] is column)  # rows may share values
        value, seen = _resumed(cursor, shared)
        key = poll_key(column, connection.dialect.name)
        statement = (
            sa.select(table, key.label(_KEY))
            .where(column.is_not(None))
            .order_by(*dict.fromkeys([column, *primary]))
        )
        if (where := _where(column, key, since, cursor, seen)) is not None:
            statement = statement.where(where)
        # The rows seen at the cursor's value come again first, to be left out.
        limit = len(seen or ()) + PAGE_SIZE + 1
        fetched = _fetched(connection, statement.limit(limit), str(table_name))
        connection.rollback()
    ids = [c.name for c in primary]
    read = [_keyed_event(row, str(column_name), key is not column) for row in fetched]
    fresh = [(k, e) for k, e in read if seen is None or k != value or _id(e, ids) not in seen]
    page, more = fresh[:PAGE_SIZE], len(fresh) > PAGE_SIZE
    if more and fresh[PAGE_SIZE][0] == page[-1][0]:  # the rows of a value come together
        page = [(k, e) for k, e in page if k != page[-1][0]] or page
    events = [event for _, event in page]
    if not page:
        return Page(events=events, cursor=cursor, more=more)
    if not shared:
        return Page(events=events, cursor=events[-1]["_cursor"], more=more)
    last = page[-1][0]
    kept = (seen or set()) if last == value else set()
    kept |= {_id(event, ids) for k, event in page if k == last}
    return Page(events=events, cursor={"value": last, "seen": sorted(kept)}, more=more)


def _where(
    column: sa.Column, key: sa.ColumnElement[Any], since: str, cursor: Any, seen: set[str] | None
) -> sa.ColumnElement[bool] | None:
    """Which rows a poll reads: on the first, a date or time column's from `since`; then
    those above the cursor's value when every row at it was read (`seen` is None), else
    those from it on. `key` (`database.poll_key`) is the column, or on SQLite its text:
    the column's index finds the rows either way; as text, from the second's own text,
    which sorts at or below every form of that second."""
    from .database import since_value, to_column, to_second

    if cursor is None:
        start = since_value(column, since)
        if start is None:
            return None
        return key >= (start if key is column else to_second(str(start)))
    value = cursor.get("value") if isinstance(cursor, dict) else cursor
    if seen is None:
        return column > to_column(column, value)
    return key >= (to_column(column, value) if key is column else value)


def _fetched(connection: sa.Connection, statement: sa.Select[Any], table: str) -> list[Any]:
    """The rows a poll reads. A value its column's type cannot read (a time written
    2024-06-02 9:00:00) stops the poll, naming it: the row is neither lost nor sent
    without its value."""
    try:
        return list(connection.execute(statement).mappings().all())
    except ValueError as error:
        raise InputError(
            f"a row of table '{table}' holds a value its column's type cannot read ({error})",
            field="poll_table",
            fix="write that row's dates and times as ISO 8601 text (2024-06-01 10:00:00), "
            "as the table's other rows are",
        ) from None


def _resumed(cursor: Any, shared: bool) -> tuple[Any, set[str] | None]:
    """The value a poll resumes at, and the rows read at it (None: read above it, every
    row at it was read: a column whose rows never share a value, or a cursor kept before
    cursors held rows)."""
    if not isinstance(cursor, dict):
        return cursor, None
    return cursor.get("value"), set(cursor.get("seen") or ()) if shared else None


def _keyed_event(row: Any, column: str, text: bool) -> tuple[Any, dict[str, Any]]:
    """A fetched row as its poll key (as JSON, as a cursor keeps it; a time kept as
    `text`, its second) and its event."""
    from .database import to_json, to_second

    event = {str(k): to_json(v) for k, v in row.items() if k != _KEY}
    kept = row[_KEY]
    key = to_second(kept) if text and isinstance(kept, str) else to_json(kept)
    return key, {**event, "_cursor": to_json(row[column])}


def _id(event: dict[str, Any], primary: list[str]) -> str:
    """Which row an event is, as a cursor keeps those it read: by the table's primary key
    (a row updated in place is the same row), else by all its values."""
    return json.dumps([event[name] for name in primary]) if primary else _digest(event)


__all__ = ["connector", "dispose"]
