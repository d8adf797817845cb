"""Where the CSV file is, how it is locked, and how its rows are read and appended.

Every read and write holds `<path>.lock` (a `filelock.FileLock`, which works across
processes), so a reader never sees half of a row another job is appending, and two jobs
appending at once never interleave or both write a header.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import filelock

from lpstudio.errors import InputError
from lpstudio.sdk import Connection, ConnectorError, csv_problem, inside_workspace

LOCK_TIMEOUT = 60.0
# filelock polls a held lock (50 ms by default); appends hold it for about a millisecond.
POLL_INTERVAL = 0.002


@dataclass(frozen=True)
class CsvFile:
    """The file a connection names: its `path` to open, and its `name` for what the
    connection says of it (its test's message, its log, its errors), which reaches the REST
    API's answers and is stored with the connection: the file's path in the workspace
    (`data/contacts.csv`), never the server's folders (its full path outside a workspace)."""

    path: Path
    name: str


def resolve(conn: Connection) -> CsvFile:
    """The file, inside the workspace (`lpstudio.sdk.inside_workspace`)."""
    raw = str(conn.config.get("path") or "").strip()
    if not raw:
        raise InputError(
            "the connection has no CSV file path",
            field="path",
            fix="set 'path' to a file such as data/contacts.csv",
        )
    path = inside_workspace(conn, raw, "path", "the CSV path", "data/contacts.csv")
    root = conn.config.get("root")
    base = Path(os.path.abspath(root)) if root else None
    name = path.relative_to(base).as_posix() if base and path.is_relative_to(base) else str(path)
    return CsvFile(path, name)


#: Names a tab is given by as the delimiter: a tab itself is blank, which a connection's
#: form takes for no value.
TAB_NAMES = ("\\t", "tab", "TAB")
#: The delimiter: one character other than a quote or a line break, or a tab's name.
DELIMITER_PATTERN = "^(?:" + "|".join(map(re.escape, TAB_NAMES)) + r'|[^"\r\n])(?!\n)$'
DELIMITER_HINT = "one character other than a quote or a line break, such as , ; or |; \\t for a tab"

#: Python's codecs that read no file's text: bytes to bytes or text to text (`base64`,
#: `rot13`), none at all (`undefined`), or Windows' only (`mbcs`, `oem`).
_NOT_TEXT = frozenset(
    {
        *("base64_codec", "bz2_codec", "hex_codec", "quopri_codec", "uu_codec", "zlib_codec"),
        *("rot_13", "undefined", "mbcs", "oem", "aliases"),
    }
)


def _encodings() -> tuple[str, ...]:
    """The names Python's codec registry reads a text encoding by (`utf_8` and its aliases
    `utf8`, `u8`...), in the form it brings a name to (lower case, `_` between words), found
    from the `encodings` package's modules and aliases without importing a codec: importing
    all of them took a quarter of a second, in every process that loads the connector."""
    import encodings
    import pkgutil
    from encodings.aliases import aliases

    modules = {found.name for found in pkgutil.iter_modules(encodings.__path__)} - _NOT_TEXT
    # An alias that is not in lower case (`csHPRoman8`) is one the registry never finds.
    named = {alias for alias, module in aliases.items() if module in modules and alias.islower()}
    return tuple(sorted(modules | named))


ENCODINGS = _encodings()
#: An encoding's name, in any case, with `-`, `_` or a space between its words (`UTF-8`,
#: `Shift JIS`, `iso_8859_15`): each of them one Python reads. ASCII only: a letter that a
#: case-blind match takes for an ASCII one (`ſ` for `s`) is one the registry drops.
ENCODING_PATTERN = (
    "^(?=[ -~]*$)(?i:"
    + "|".join(re.escape(name).replace("_", "[-_ ]") for name in ENCODINGS)
    + ")(?!\\n)$"
)
ENCODING_HINT = "a text encoding's name, such as utf-8, latin-1 or cp1252"


def dialect(conn: Connection) -> tuple[str, str, str]:
    """(delimiter, encoding to read with, encoding to write with), as the connection's
    fields take them (`DELIMITER_PATTERN`, `ENCODING_PATTERN`): checked again here, for a
    connection given without being saved (the SDK used directly)."""
    delimiter = str(conn.config.get("delimiter") or ",")
    if not re.search(DELIMITER_PATTERN, delimiter):
        raise InputError(
            f"the delimiter must be one character other than a quote or a line break, "
            f"not {delimiter!r}",
            field="delimiter",
            fix=f"use {DELIMITER_HINT}",
        )
    if delimiter in TAB_NAMES:
        delimiter = "\t"
    encoding = str(conn.config.get("encoding") or "utf-8")
    if not re.search(ENCODING_PATTERN, encoding):
        raise InputError(
            f"unknown encoding {encoding!r}",
            field="encoding",
            fix=f"use {ENCODING_HINT}",
        )
    # A UTF-8 file saved by Excel starts with a byte-order mark: read past it.
    reading = "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding
    return delimiter, reading, encoding


def lock(path: Path) -> filelock.FileLock:
    return filelock.FileLock(str(path) + ".lock", timeout=LOCK_TIMEOUT)


class Locked:
    """`with Locked(file):` holds the file's lock, or raises a retryable ConnectorError."""

    def __init__(self, file: CsvFile) -> None:
        self.file = file
        self._lock = lock(file.path)

    def __enter__(self) -> Locked:
        if not self.file.path.parent.is_dir():
            return self  # nothing to lock yet; appending creates the folder first
        try:
            self._lock.acquire(poll_interval=POLL_INTERVAL)
        except filelock.Timeout:
            raise ConnectorError(
                f"{self.file.name} stayed locked by another job for {LOCK_TIMEOUT:.0f} s",
                retryable=True,
            ) from None
        return self

    def __exit__(self, *exc: object) -> None:
        if self._lock.is_locked:
            self._lock.release()


def check_file(file: CsvFile) -> bool:
    """True when the file exists; raises when the path is something else."""
    if not file.path.exists():
        return False
    if not file.path.is_file():
        raise InputError(f"the CSV path {file.name} is not a file", field="path")
    return True


@contextmanager
def readable(file: CsvFile, encoding: str, delimiter: str) -> Iterator[None]:
    """Turns a file that cannot be decoded or parsed into an error naming it and the fix."""
    try:
        yield
    except UnicodeError:  # a byte the encoding cannot decode, a UTF-16 file without BOM...
        shown = "utf-8" if encoding == "utf-8-sig" else encoding
        raise InputError(
            f"{file.name} is not {shown} text",
            field="encoding",
            fix="set the connection's encoding to the file's (latin-1 or cp1252 for a file "
            "saved by older Windows programs), or save the file as UTF-8",
        ) from None
    except csv.Error as error:
        raise malformed(file, delimiter, str(error)) from None


def malformed(file: CsvFile, delimiter: str, detail: str) -> ConnectorError:
    """A file whose rows cannot be read as CSV: not retried, as it would fail again."""
    return ConnectorError(
        f"{file.name} cannot be read as CSV: {csv_problem(detail)}",
        field="path",
        fix=f"give every row the header's columns, quote values holding the delimiter "
        f"({delimiter!r}), or set the connection's delimiter to the file's",
    )


def read_header(file: CsvFile, delimiter: str, encoding: str) -> list[str] | None:
    """The header row, or None for a missing or empty file."""
    if not check_file(file):
        return None
    with (
        readable(file, encoding, delimiter),
        open(file.path, newline="", encoding=encoding) as handle,
    ):
        for row in csv.reader(handle, delimiter=delimiter):
            if row:
                return [as_given(name) for name in row]
    return None


def iter_records(
    file: CsvFile, delimiter: str, encoding: str, skip: int = 0
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(1-based data row number, row) after the first `skip` data rows; blank lines are not
    rows (as pandas counts them). A row longer than the header keeps the rest in `_extra`."""
    header = read_header(file, delimiter, encoding)  # blank lines above it are no header
    if header is None:
        return
    with (
        readable(file, encoding, delimiter),
        open(file.path, newline="", encoding=encoding) as handle,
    ):
        lines = csv.reader(handle, delimiter=delimiter)
        while not next(lines):  # up to the header's line
            pass
        reader = csv.DictReader(handle, header, delimiter=delimiter, restval="", restkey="_extra")
        for number, row in enumerate(reader, start=1):
            if number > skip:
                yield number, {k: v if k == "_extra" else as_given(v) for k, v in row.items()}


def count_records(file: CsvFile, delimiter: str, encoding: str) -> int:
    count = 0
    for _ in iter_records(file, delimiter, encoding):
        count += 1
    return count


def line_ending(path: Path) -> str:
    """The line ending the file's header uses ("\\n" for a new file)."""
    with open(path, "rb") as handle:
        first = handle.readline()
    return "\r\n" if first.endswith(b"\r\n") else "\n"


def ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        if handle.tell() == 0:
            return True
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) in (b"\n", b"\r")


#: The characters that make a spreadsheet (Excel, LibreOffice, Google Sheets) run a cell as a
#: formula when they start it (OWASP's CSV injection), + and - aside (`_number_like`).
_FORMULA_STARTS = frozenset("=@\t\r")
#: Digits a spreadsheet reads in a number: ASCII ones only.
_DIGITS = frozenset("0123456789")
#: What a number-like value holds after its + or -: digits, blanks (a space and the no-break
#: ones, not a tab or a line break) and `. , : / ( ) + -`.
_NUMBER_MARKS = _DIGITS | frozenset(" \u00a0\u202f.,:/()+-")


def _number_like(rest: str) -> bool:
    """True when `rest`, what follows a leading + or -, is number-like: `_NUMBER_MARKS`
    alone, then at most an exponent (`e` or `E`, one sign at most, digits) after a digit.
    Phones, amounts, offsets and a "-" placeholder are written so (`+1 415 555 0188`,
    `-1,234.50`, `-3,5`, `+02:00`, `-`, `-1.5E-3`): a spreadsheet reads them as a number or
    as text and calls nothing, so they are written as they are, for every other reader of
    the file (pandas, a CRM import). `- call back` or `-2+3+cmd|' /C calc'!A0` hold more,
    which Excel runs."""
    mantissa, e, exponent = rest.replace("E", "e").partition("e")
    if not set(mantissa) <= _NUMBER_MARKS:
        return False
    if not e:
        return True
    digits = exponent[1:] if exponent.startswith(("+", "-")) else exponent
    return mantissa[-1:] in _DIGITS and bool(digits) and set(digits) <= _DIGITS


def runs_as_formula(text: str) -> bool:
    """True when a spreadsheet would run `text` as a formula once the `'`s before it (a
    value's own, or one `neutral` put there) are taken off: it starts with one of
    `_FORMULA_STARTS`, or with + or - before a rest that is not `_number_like`."""
    formula = text.lstrip("'")
    first, rest = formula[:1], formula[1:]
    if first in ("+", "-"):
        return not _number_like(rest)
    return first in _FORMULA_STARTS


def neutral(text: str) -> str:
    """`text` as a cell a spreadsheet shows as text and never runs (a bot's
    `=HYPERLINK(...)` sent the other rows to its author once the file was opened): a `'`
    before one that `runs_as_formula`, which is how Excel is told a cell is text. `as_given`
    takes it off again; a value that starts with `'` and a formula (`'=x`) gets one more,
    so that every value reads back as given."""
    return "'" + text if runs_as_formula(text) else text


def as_given(text: str) -> str:
    """A cell as it was given to `neutral`: without the `'` that it put before it."""
    return text[1:] if text.startswith("'") and runs_as_formula(text) else text


def written(values: Iterable[Any]) -> list[str]:
    """The cells `write_row` writes for `values`: each as text, `neutral`. A dry run shows
    them (`append_row`'s `would_append`), so that what it shows is what the file gets."""
    return [neutral(str(value)) for value in values]


def _line(cells: list[str], delimiter: str, terminator: str) -> str:
    """One row of the file, ending with `terminator`. Python's csv quotes a cell holding its
    line terminator's characters only, so a CR in a cell of a file whose lines end with LF
    was written bare, and split its row in two for every reader: formatted as for CRLF
    endings, a cell holding either is quoted, whatever the file's."""
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerow(cells)
    return buffer.getvalue().removesuffix("\r\n") + terminator


def write_row(
    path: Path,
    values: list[Any],
    *,
    delimiter: str,
    encoding: str,
    header: list[str] | None,
) -> None:
    """Appends one row (after `header`, given when the file has none yet: it may hold blank
    lines), its cells `written`, then flushes and fsyncs."""
    new = not path.exists() or path.stat().st_size == 0
    terminator = "\n" if new else line_ending(path)
    prefix = "" if new or ends_with_newline(path) else terminator
    rows = ([] if header is None else [header]) + [values]
    with open(path, "a", newline="", encoding=encoding) as handle:
        handle.write(prefix + "".join(_line(written(row), delimiter, terminator) for row in rows))
        handle.flush()
        os.fsync(handle.fileno())
