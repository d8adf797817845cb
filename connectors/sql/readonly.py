"""Telling a read statement from a write one, before anything is sent.

This is a first line of defence with a clear error; the `query` action also runs every
statement in a transaction that is rolled back, read-only where the database supports it
(SQLite's `query_only`, PostgreSQL's `SET TRANSACTION READ ONLY`), and sends it where the
database takes one statement only (SQLite's driver; a prepared statement on PostgreSQL).

Databases do not all split text alike: PostgreSQL's `E'...'` strings (and MySQL's) take
backslash escapes, and PostgreSQL nests comments. Text they could read as more than the one
statement checked here (a backslash inside quotes, `/*` inside a comment, MySQL's executable
`/*! */` comments) is refused: such values belong in bound parameters.
"""

from __future__ import annotations

import re

from lpstudio.errors import InputError

_TOKENS = re.compile(
    r"""
      (?P<comment>--[^\n]*|/\*.*?\*/)
    | (?P<string>'(?:[^']|'')*'|"(?:[^"]|"")*"|`[^`]*`|\$(?P<tag>\w*)\$.*?\$(?P=tag)\$)
    | (?P<word>[A-Za-z_][A-Za-z_0-9$]*)
    | (?P<semicolon>;)
    | (?P<other>\S)
    """,
    re.VERBOSE | re.DOTALL,
)
READS = {"select", "with", "values"}
# Words that write or change something; `into` catches SELECT ... INTO a new table.
WRITES = {
    "alter", "attach", "call", "copy", "create", "delete", "detach", "drop", "exec", "execute",
    "grant", "insert", "into", "lock", "merge", "pragma", "reindex", "revoke", "truncate",
    "update", "upsert", "vacuum",
}  # fmt: skip


def check_read_only(sql: str) -> None:
    """InputError naming `sql` unless it is one SELECT (or WITH ... SELECT) statement."""
    words: list[str] = []
    statement_ended = False
    for token in _TOKENS.finditer(sql):
        kind = token.lastgroup
        _check_unambiguous(kind, token.group())
        if kind == "comment":
            continue
        if statement_ended and kind != "semicolon":
            raise InputError(
                "query runs one statement, and this text holds several",
                field="sql",
                fix="remove everything after the first ';'",
            )
        if kind == "semicolon":
            statement_ended = True
        elif kind == "word":
            words.append(token.group().lower())
    if not words or words[0] not in READS:
        first = words[0].upper() if words else "nothing"
        raise InputError(
            f"query only reads: it takes a SELECT or WITH statement, not {first}",
            field="sql",
            fix="use the insert action to write rows",
        )
    writes = sorted({w for w in words if w in WRITES})
    if writes:
        raise InputError(
            f"query only reads, and this statement contains {', '.join(w.upper() for w in writes)}",
            field="sql",
            fix="write with the insert action; quote a column named like a keyword",
        )


def _check_unambiguous(kind: str | None, text: str) -> None:
    """InputError when a database could end this string or comment elsewhere than here."""
    # `\:` is SQLAlchemy's escape for a colon that starts no parameter: it never reaches
    # the database.
    if kind == "string" and text[0] in "'\"" and "\\" in text.replace("\\:", ""):
        raise InputError(
            "query refuses a backslash inside quotes: databases read it in different ways",
            field="sql",
            fix="pass the value as a parameter (:name in the SQL, its value in params)",
        )
    executable = text[2:3] == "!" or text[2:4] == "M!"  # MySQL's and MariaDB's
    if kind == "comment" and text.startswith("/*") and ("/*" in text[2:] or executable):
        raise InputError(
            "query refuses '/*' inside a comment and '/*!' comments: databases read them "
            "in different ways",
            field="sql",
            fix="remove the inner '/*' (or the '!'); pass text as a parameter (:name in "
            "the SQL, its value in params)",
        )
