"""CSV file: read and filter rows, append rows safely from many jobs, and trigger on new rows.

    contacts = lpstudio.kernel.connection("contacts")
    frame = contacts.read_rows(where={"country": "FR"}, columns=["email"], limit=100)
    contacts.append_row(row={"email": "ada@example.com", "country": "FR"})

Values are read as text (no guessed numbers or dates, and an empty cell stays ""). A value
appended that a spreadsheet would run as a formula (it starts with =, @, a tab or a CR, as
a bot's `=HYPERLINK(...)` does, or with + or - and holds more than digits, blanks and
`. , : / ( ) + -`, as `- call back` does: phones, amounts, offsets and a "-" placeholder,
`+1 415 555 0188`, `-1,234.50`, `+02:00`, stay as they are for every reader of the file) is
written with a `'` before it, as OWASP advises against CSV injection: Excel and LibreOffice
show it as text. Read back (`read_rows`, `new_rows`), a cell that starts with `'` and such
a formula loses one `'`, so each value reads as it was appended; one typed into the file as
`'=x` reads as `=x`. The file
is in the workspace (`config["root"]`, passed by the runtime): a relative path is relative to
it, and no path may lead out of it, through `..`, an absolute path or a symbolic link, nor
name one of lpstudio's own files there (settings, key, store, history/, .runtime/): refused
when the connection is saved (by their default names) and where the file is opened. A file
that cannot be decoded with the connection's encoding, or whose rows do not fit its header,
is reported naming the file and the fix. The connection names its file by its path in the
workspace (`data/contacts.csv`): its test's message and its errors reach the REST API's
answers, which name none of the server's folders.
"""

from __future__ import annotations

import re
from itertools import islice
from typing import TYPE_CHECKING, Any

from lpstudio.errors import InputError
from lpstudio.sdk import Connection, Connector, Field, Page, first_row_longer
from lpstudio.workspace import (
    CONFIG_NAME,
    KEY_NAME,
    KNOWN_SETTINGS,
    RUNTIME,
    SQLITE_SIDE_FILES,
    STORE_NAME,
)

from .files import (
    DELIMITER_HINT,
    DELIMITER_PATTERN,
    ENCODING_HINT,
    ENCODING_PATTERN,
    CsvFile,
    Locked,
    as_given,
    check_file,
    count_records,
    dialect,
    iter_records,
    malformed,
    read_header,
    readable,
    resolve,
    write_row,
    written,
)

if TYPE_CHECKING:
    import pandas as pd

PAGE_SIZE = 1000
# Rows read_rows parses at a time: memory stays bounded by the rows it keeps.
CHUNK_ROWS = 10_000

# The workspace's own files by their default names (`lpstudio.workspace.own_file`), after
# any `./` and before any trailing `/`: a connection saved on one looked ready, and its
# first test or job refused it. The names are the workspace's (`lpstudio.workspace`); a
# field's pattern knows no workspace, so where `[store] url` and `[history] path` put them
# elsewhere, only the check where the file is opened (`resolve`, by `own_file`) knows.
_HISTORY = KNOWN_SETTINGS["history"]["path"].default
_SIDES = "|".join(side for side in SQLITE_SIDE_FILES if side)
_OWN_FILES = (
    rf"(?:{re.escape(CONFIG_NAME)}|{re.escape(KEY_NAME)}|{re.escape(STORE_NAME)}(?:{_SIDES})?)"
    r"(?:[/\\]+\.?)*"
)
_OWN_FOLDERS = rf"(?:{re.escape(_HISTORY)}|{re.escape(RUNTIME)})(?:[/\\].*)?"
_NOT_OWN = rf"(?!\s*(?:\.[/\\]+)*(?:{_OWN_FILES}|{_OWN_FOLDERS})\s*$)"

connector = Connector(
    "csv_file",
    title="CSV file",
    description="A CSV file on disk: read and filter rows, append rows, trigger on new rows.",
    fields=[
        Field(
            "path",
            "File path",
            hint="e.g. data/contacts.csv: a file of your own inside the workspace (relative "
            f"to it, without '..'), not one of lpstudio's ({CONFIG_NAME}, {KEY_NAME}, "
            f"{STORE_NAME}, {_HISTORY}/, {RUNTIME}/)",
            # Refused when the connection is saved: not absolute, no `..`, none of the
            # workspace's own files, no NUL (which no file name holds) (a symbolic link
            # out of the workspace, or to one of them, is refused where the file is opened).
            pattern=r"^(?![/\\])(?![A-Za-z]:)(?!(?:.*[/\\])?\.\.(?:[/\\]|$))"
            + _NOT_OWN
            + r"[^\n\x00]+(?!\n)$",
            reasons=(
                (
                    r"(?:^|[/\\])\.\.(?:[/\\]|$)",
                    "holds '..', which leads out of its folder and can leave the workspace",
                ),
                (
                    r"^(?:[/\\]|[A-Za-z]:)",
                    "is absolute, where the file is named from the workspace",
                ),
                (
                    rf"^\s*(?:\.[/\\]+)*(?:{_OWN_FILES}|{_OWN_FOLDERS})\s*$",
                    "is one of lpstudio's own files",
                ),
                (r"[\n\x00]", "holds a line break or a NUL character"),
            ),
        ),
        # Refused when the connection is saved, by the rules its file is read with.
        Field(
            "delimiter", "Delimiter", default=",", hint=DELIMITER_HINT, pattern=DELIMITER_PATTERN
        ),
        Field(
            "encoding", "Encoding", default="utf-8", hint=ENCODING_HINT, pattern=ENCODING_PATTERN
        ),
    ],
)

connector.object(
    "row",
    {
        "type": "object",
        "description": "one data row: the file's columns as text, and its 1-based number",
        "properties": {"_row": {"type": "integer"}},
        "additionalProperties": {"type": "string"},
    },
)

_CELL = {"type": ["string", "number", "integer", "boolean", "null"]}


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _unknown(names: list[str], header: list[str], field: str, file: CsvFile) -> None:
    missing = [name for name in names if name not in header]
    if missing:
        raise InputError(
            f"no column {', '.join(repr(m) for m in missing)} in {file.name}",
            field=field,
            fix=f"use the file's columns: {', '.join(header)}",
        )


@connector.test
def test(conn: Connection) -> str:
    file = resolve(conn)
    delimiter, reading, _ = dialect(conn)
    with Locked(file):
        if not check_file(file):
            return f"{file.name} does not exist yet: it will be created on the first append_row"
        header = read_header(file, delimiter, reading)
        rows = count_records(file, delimiter, reading) if header else 0
    if header is None:
        return f"{file.name} is empty: the first append_row writes its header"
    return f"{len(header)} columns, {rows} rows"


@connector.action(
    "read_rows",
    title="Read rows",
    description=(
        "Reads the file's rows as text into a DataFrame, keeping rows whose columns equal the "
        "`where` values, then the `columns` asked for, then the first `limit` rows. The file "
        "is read in chunks and only until `limit` rows are found, so a large file is never "
        "held whole. A file that does not exist yet reads as no rows."
    ),
    input_schema={
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "columns": {"type": "array", "items": {"type": "string"}},
            "where": {"type": "object", "additionalProperties": _CELL},
            "limit": {"type": "integer", "minimum": 0},
        },
    },
    output_schema={
        "type": "array",
        "items": {"type": "object", "additionalProperties": {"type": "string"}},
    },
)
def read_rows(conn: Connection, data: dict[str, Any]) -> pd.DataFrame:
    import pandas as pd  # imported when used: every process that lists connectors loads this

    file = resolve(conn)
    delimiter, reading, _ = dialect(conn)
    columns = list(data.get("columns") or [])
    where = {column: _text(value) for column, value in (data.get("where") or {}).items()}
    limit = data.get("limit")
    kept: list[pd.DataFrame] = []
    with Locked(file):
        header = read_header(file, delimiter, reading)
        if header is None:
            conn.log(f"{file.name} does not exist or is empty: no rows")
            return pd.DataFrame(columns=columns, dtype=str)
        _unknown(list(where), header, "where", file)
        _unknown(columns, header, "columns", file)
        with readable(file, reading, delimiter):  # pandas would shift every column
            longer = first_row_longer(file.path, delimiter, reading)
        if longer:
            raise malformed(file, delimiter, longer)
        found = 0
        # In chunks: a large file is never held whole, and reading stops at the limit.
        try:
            with (
                readable(file, reading, delimiter),
                pd.read_csv(
                    file.path,
                    sep=delimiter,
                    encoding=reading,
                    dtype=str,
                    keep_default_na=False,
                    chunksize=CHUNK_ROWS,
                ) as chunks,
            ):
                for chunk in chunks:
                    chunk.columns = [as_given(name) for name in chunk.columns]
                    _take_off_quotes(chunk)
                    for column, value in where.items():
                        chunk = chunk[chunk[column] == value]
                    kept.append(chunk[columns] if columns else chunk)
                    found += len(chunk)
                    if limit is not None and found >= limit:
                        break
        except pd.errors.ParserError as error:
            raise malformed(file, delimiter, str(error)) from None
    if not kept:  # a header without rows
        return pd.DataFrame(columns=columns or header, dtype=str)
    frame = pd.concat(kept, ignore_index=True)
    return frame if limit is None else frame.head(limit)


def _take_off_quotes(chunk: pd.DataFrame) -> None:
    """Takes the `'` that `neutral` put before a cell off it, in place, before `where`
    compares values as given: only in the cells that start with `'`, found by their first
    character (numpy's, five times as fast as `.str.startswith`), as a regex over every
    cell doubled the time a large file took to read."""
    quoted = chunk.to_numpy().astype("U1") == "'"
    for index in quoted.any(axis=0).nonzero()[0]:
        rows = quoted[:, index]
        chunk.iloc[rows, index] = chunk.iloc[rows, index].map(as_given)


@connector.action(
    "append_row",
    title="Append a row",
    description=(
        "Appends one row. A new file gets a header from the row's keys; otherwise the keys "
        'must be exactly the file\'s columns (give an empty value as ""). Safe when several '
        "jobs append at once."
    ),
    input_schema={
        "type": "object",
        "required": ["row"],
        "additionalProperties": False,
        "properties": {
            "row": {"type": "object", "minProperties": 1, "additionalProperties": _CELL},
        },
    },
    output_schema={
        "type": "object",
        "properties": {"path": {"type": "string"}, "row_number": {"type": "integer"}},
    },
)
def append_row(conn: Connection, data: dict[str, Any]) -> dict[str, Any]:
    file = resolve(conn)
    delimiter, reading, writing = dialect(conn)
    row = dict(data["row"])
    if conn.dry_run:
        header = read_header(file, delimiter, reading)
        _check_keys(row, header)
        _check_encodable(row, header, writing)
        columns = header or list(row)
        cells = written(_text(row[c]) for c in columns)  # as the file gets them: with a `'`
        return {
            "would_append": dict(zip(columns, cells, strict=True)),
            "path": file.name,
            "creates_file": header is None,
        }
    file.path.parent.mkdir(parents=True, exist_ok=True)
    with Locked(file):
        header = read_header(file, delimiter, reading)
        _check_keys(row, header)
        _check_encodable(row, header, writing)
        columns = header or list(row)
        number = count_records(file, delimiter, reading) + 1 if header else 1
        write_row(
            file.path,
            [_text(row[c]) for c in columns],
            delimiter=delimiter,
            encoding=writing,
            header=None if header else columns,
        )
    return {"path": file.name, "row_number": number}  # its path in the workspace, as said


def _check_encodable(row: dict[str, Any], header: list[str] | None, encoding: str) -> None:
    """InputError naming `row.<column>` when the file's encoding cannot hold its value (or,
    for a new file, its name), before anything is written."""
    for key, value in row.items():
        for text in (_text(value), key) if header is None else (_text(value),):
            try:
                text.encode(encoding)
            except UnicodeEncodeError as error:
                raise InputError(
                    f"row.{key}: {encoding} cannot hold {error.object[error.start]!r}, so the "
                    "row cannot be written to the file",
                    field=f"row.{key}",
                    fix="leave the character out, or keep the file in an encoding that holds "
                    "every character, such as utf-8 (the connection's encoding)",
                ) from None


def _check_keys(row: dict[str, Any], header: list[str] | None) -> None:
    if header is None:
        return
    extra = [k for k in row if k not in header]
    missing = [c for c in header if c not in row]
    if extra or missing:
        problems = []
        if extra:
            problems.append(f"unknown column(s) {', '.join(map(repr, extra))}")
        if missing:
            problems.append(f"missing column(s) {', '.join(map(repr, missing))}")
        raise InputError(
            f"the row does not match the file's columns: {'; '.join(problems)}",
            field="row",
            fix=f'give exactly the columns {", ".join(header)} ("" for an empty value)',
        )


@connector.poll_trigger("new_rows", title="New rows", key=lambda e: str(e["_row"]), object="row")
def new_rows(conn: Connection, since: str, cursor: Any) -> Page:
    """Rows appended since the last poll, oldest first, each with its 1-based `_row` number.

    The cursor is the number of data rows already seen. `since` is ignored: a CSV file has
    no timestamps to compare it with, so the first poll returns every row already in the
    file. A file that shrank (replaced or truncated) gives no events until it grows past the
    cursor again; the connection's log says so.
    """
    file = resolve(conn)
    delimiter, reading, _ = dialect(conn)
    seen = int(cursor or 0)
    with Locked(file):
        taken = list(islice(iter_records(file, delimiter, reading, skip=seen), PAGE_SIZE + 1))
        if not taken and seen and count_records(file, delimiter, reading) < seen:
            conn.log(f"{file.name} has fewer rows than the {seen} already seen: was it replaced?")
    events = [{**row, "_row": number} for number, row in taken[:PAGE_SIZE]]
    return Page(
        events=events,
        cursor=events[-1]["_row"] if events else seen,
        more=len(taken) > PAGE_SIZE,
    )


__all__ = ["connector"]
