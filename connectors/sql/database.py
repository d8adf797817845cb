"""The database behind a connection: its engine, its safe name, and errors without its url.

One engine is made per `Connection` and kept in `conn.cache["sql.engine"]`. It uses
`NullPool`: every action checks a DBAPI connection out and closes it when done, so an
engine never holds an open database connection between actions and nothing leaks when a
`Connection` is dropped without `Connection.close()` (which disposes the engines in its
cache). `weakref.finalize` still disposes the engine when its `Connection` is collected,
and `dispose(conn)` does it at once.

The url is a secret field, yet a connection's status message and its actions' errors are
shown to every role: they name the database by its kind only (`the url's postgresql
database`), and say nothing of the url's parts (its user, host, database name or SQLite
file), which a driver's own error quotes too.
"""

from __future__ import annotations

import math
import os
import re
import urllib.parse
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.pool import NullPool
from sqlalchemy.util import asbool

from lpstudio.errors import InputError
from lpstudio.sdk import MASK, Connection, ConnectorError, inside_workspace, scrub_text

ENGINE_KEY = "sql.engine"
#: How messages name the SQLite file of a url (not by its path, a part of the secret url).
SQLITE_FILE = "the url's SQLite file"
URL_EXAMPLE = "sqlite:///data/app.db or postgresql+psycopg://user:password@host:5432/db"


def parsed_url(conn: Connection) -> URL:
    text = conn.config.get("url")
    if not text:
        raise InputError(
            "the connection has no database URL", field="url", fix=f"e.g. {URL_EXAMPLE}"
        )
    try:
        url = make_url(str(text))
    except (sa.exc.ArgumentError, ValueError):
        # The text itself is not repeated: it may hold a password.
        raise InputError(
            "the connection's url is not a SQLAlchemy database URL",
            field="url",
            fix=f"e.g. {URL_EXAMPLE}",
        ) from None
    path = _sqlite_file(url)
    if path is None or (path.is_absolute() and not conn.config.get("root")):
        return url  # another database, or a file given in full outside any workspace
    try:
        target = inside_workspace(conn, str(path), "url", SQLITE_FILE, "sqlite:///data/app.db")
    except InputError as refused:
        raise _unquoted(conn, refused) from None
    return url.set(database=f"file:{target}" if _is_uri(url) else str(target))


def _unquoted(conn: Connection, refused: InputError) -> InputError:
    """The workspace's refusal of the url's SQLite file (`inside_workspace`) without the
    path it quotes or the workspace's folder it names: masked, then left out."""
    said = scrub_text(refused.message, _url_parts(conn))
    for quoted in (f" '{MASK}'", f" ({MASK})"):
        said = said.replace(quoted, "")
    return InputError(said, field="url", fix=refused.fix)


def _is_uri(url: URL) -> bool:
    """pysqlite reads `sqlite:///file:...?uri=true` as a SQLite URI, and only then."""
    return (url.database or "").startswith("file:") and asbool(url.query.get("uri", False))


def _sqlite_file(url: URL) -> Path | None:
    """The file a SQLite URL names (a `file:` URI's too); None for another database or an
    in-memory one."""
    database = url.database or ""
    if url.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return None
    if _is_uri(url):
        if url.query.get("mode") == "memory":
            return None
        database = urllib.parse.unquote(urllib.parse.urlsplit(database).path)
        if database in ("", ":memory:"):
            return None
    return Path(database)


def name(conn: Connection) -> str:
    """The database as messages name it: by the kind of database its url names, no part
    of the url itself."""
    try:
        return f"the url's {make_url(str(conn.config.get('url'))).get_backend_name()} database"
    except (sa.exc.ArgumentError, ValueError):
        return "the url's database"


def _url_parts(conn: Connection) -> set[str]:
    """What of the connection's url messages must not show, beside its secrets: the user,
    host and database it names (libpq's query options may name them too), its SQLite
    file as given, and the workspace's folder, where a relative one is found. Parts
    shorter than 3 characters are left, as secrets are: they would mask ordinary text."""
    root = conn.config.get("root")
    parts = {str(Path(os.path.abspath(root))) if root else None}
    try:
        url = make_url(str(conn.config.get("url")))
    except (sa.exc.ArgumentError, ValueError):
        return set()
    options = [url.query.get(key) for key in ("host", "hostaddr", "user", "dbname")]
    parts |= {url.username, url.host, url.database, *options, str(_sqlite_file(url) or "")}
    return {part for part in parts if isinstance(part, str) and len(part) >= 3}


def scrub(conn: Connection, text: str) -> str:
    """`text` without the connection's url, its secrets or any part of the url (what a
    driver's error quotes: `password authentication failed for user "ada"`)."""
    return scrub_text(text, conn.secrets() | _url_parts(conn))


def describe_error(conn: Connection, error: BaseException) -> str:
    orig = getattr(error, "orig", None)
    if orig is not None:
        detail = f"{type(orig).__name__}: {orig}"
    else:
        lines = str(error).strip().splitlines()
        detail = f"{type(error).__name__}: {lines[0] if lines else ''}"
    return scrub(conn, detail.strip())


def engine(conn: Connection) -> Engine:
    cached = conn.cache.get(ENGINE_KEY)
    if cached is not None:
        return cached
    url = parsed_url(conn)
    path = _sqlite_file(url)
    if path is not None and not path.is_file():
        # SQLite would create an empty database there, and every query would then fail
        # with "no such table" against a file nobody meant.
        raise InputError(
            f"{SQLITE_FILE} does not exist",
            field="url",
            fix="check the file the url names (a relative path is inside the workspace), or "
            "create the database first",
        )
    try:
        made = sa.create_engine(url, poolclass=NullPool)
    except sa.exc.NoSuchModuleError:
        raise InputError(
            f"the connection's url names an unknown kind of database ({url.drivername})",
            field="url",
            fix=f"use a SQLAlchemy URL such as {URL_EXAMPLE}",
        ) from None
    except ImportError as error:
        raise InputError(
            f"the database driver for {url.drivername} is not installed ({error})",
            field="url",
            fix="install it (PostgreSQL: pip install 'lpstudio[postgres]'), or name an "
            "installed driver in the URL, e.g. postgresql+psycopg://",
        ) from None
    except sa.exc.SQLAlchemyError as error:
        raise ConnectorError(
            f"cannot open {name(conn)}: {describe_error(conn, error)}",
        ) from None
    weakref.finalize(conn, made.dispose)
    conn.cache[ENGINE_KEY] = made
    return made


def dispose(conn: Connection) -> None:
    """Drops the connection's engine now (it holds no open connections in any case)."""
    made = conn.cache.pop(ENGINE_KEY, None)
    if made is not None:
        made.dispose()


@contextmanager
def connect(conn: Connection) -> Iterator[sa.Connection]:
    """A database connection; failures become ConnectorErrors naming the database safely.
    Whatever was not committed is rolled back on the way out."""
    made = engine(conn)
    try:
        connection = made.connect()
    except (sa.exc.SQLAlchemyError, ImportError, OSError) as error:
        raise ConnectorError(
            f"cannot connect to {name(conn)}: {describe_error(conn, error)}", retryable=True
        ) from None
    try:
        yield connection
    except sa.exc.SQLAlchemyError as error:
        raise ConnectorError(
            f"{name(conn)}: {describe_error(conn, error)}",
            retryable=bool(getattr(error, "connection_invalidated", False)),
        ) from None
    finally:
        connection.close()


def reflect(connection: sa.Connection, table: str, field: str, shown: str) -> sa.Table:
    """The table as the database describes it; `schema.table` names another schema."""
    schema, _, bare = table.rpartition(".")
    try:
        return sa.Table(bare, sa.MetaData(), schema=schema or None, autoload_with=connection)
    except sa.exc.NoSuchTableError:
        known = sa.inspect(connection).get_table_names(schema=schema or None)
        raise InputError(
            f"no table '{table}' in {shown}",
            field=field,
            fix=f"use one of: {', '.join(known)}" if known else "create the table first",
        ) from None


def python_type(column: sa.Column) -> type | None:
    try:
        return column.type.python_type
    except NotImplementedError:
        return None


def to_column(column: sa.Column, value: Any) -> Any:
    """A JSON value as the column's Python type (ISO text to dates, numbers to Decimal)."""
    kind = python_type(column)
    if value is None or kind is None or isinstance(value, kind):
        return value
    try:
        if kind is datetime and isinstance(value, str):
            return datetime.fromisoformat(value)
        if kind is date and isinstance(value, str):
            return date.fromisoformat(value)
        if kind is time and isinstance(value, str):
            return time.fromisoformat(value)
        if kind is Decimal and isinstance(value, int | float | str):
            return Decimal(str(value))
    except ValueError:
        raise InputError(
            f"column '{column.name}' holds {kind.__name__} values, not {value!r}",
            field=column.name,
            fix="give an ISO 8601 date or time" if kind in (datetime, date, time) else None,
        ) from None
    return value


def to_json(value: Any) -> Any:
    """A database value as JSON can carry it: infinities and NaN (which PostgreSQL's float
    and numeric columns hold) as the text PostgreSQL writes for them."""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, float | Decimal) and not math.isfinite(value):
        return "NaN" if value != value else ("-Infinity" if value < 0 else "Infinity")
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, int | float | str | bool) or value is None:
        return value
    return str(value)


def poll_key(column: sa.Column, dialect: str) -> sa.ColumnElement[Any]:
    """What the `new_rows` poll orders rows by and compares with its cursor: the column,
    but a SQLite date-time column as the text SQLite keeps, which its index orders (the
    column compared as a time is bound as 2024-06-01 10:00:00.000000, above the
    2024-06-01 10:00:00 that `CURRENT_TIMESTAMP` writes; `datetime(column)` no index
    holds, and it is NULL for a form it cannot read, such as Python's ...10:00:00+0000)."""
    if dialect == "sqlite" and python_type(column) is datetime:
        return sa.type_coerce(column, sa.String())
    return column


#: A time kept as text, up to its second (or the last part it has).
_UP_TO_SECOND = re.compile(r"\d+-\d+-\d+(?:[ T]\d+:\d+(?::\d+)?)?")


def to_second(text: str) -> str:
    """A time kept as text cut after its second, in its own form (2024-06-01 10:00:00 of
    2024-06-01 10:00:00.000000+0000, 2024-06-01T10:00:00 of 2024-06-01T10:00:00Z): it
    sorts at or below every text that second is written in with that form, so rows read
    from it on hold all the second's rows, whatever each writer added to it."""
    found = _UP_TO_SECOND.match(text)
    return found.group() if found else text


def since_value(column: sa.Column, since: str) -> Any:
    """`since` as the column's type for a date or time column, else None."""
    kind = python_type(column)
    if kind not in (datetime, date) or not since:
        return None
    try:
        moment = datetime.fromisoformat(since)
    except ValueError:
        return None
    if kind is date:
        return moment.date()
    if moment.tzinfo is not None and not getattr(column.type, "timezone", False):
        # A column without time zones is taken to hold UTC times.
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment
