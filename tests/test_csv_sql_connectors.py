"""The CSV file and SQL connectors at their edges: paths that leave the workspace, files that
cannot be read, large files, statements that would write, URLs that hide a password."""

from __future__ import annotations

import csv
import json
import os
import sqlite3
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from lpstudio.errors import InputError
from lpstudio.registry import get_connector
from lpstudio.sdk import Connection, ConnectorError, inside_workspace
from lpstudio.studio import Studio
from tests.test_connectors_generic import connect, write_csv
from tests.test_postgres import server

__all__ = ["connect", "server"]  # fixtures shared with those tests' modules


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A workspace folder, with a folder beside it that is not the workspace's."""
    (tmp_path / "ws").mkdir()
    (tmp_path / "outside").mkdir()
    return tmp_path / "ws"


# -- CSV: paths -----------------------------------------------------------------------------


def test_csv_paths_that_leave_the_workspace_are_refused(root, connect):
    outside = root.parent / "outside"
    write_csv(outside / "private.csv", ["a"], [["secret"]])
    (root / "link.csv").symlink_to(outside / "private.csv")
    (root / "data").symlink_to(outside, target_is_directory=True)
    for path in ("link.csv", "data/private.csv", "data/new.csv", str(outside / "private.csv")):
        with pytest.raises(InputError) as caught:
            connect("csv_file", {"path": path, "root": str(root)}).read_rows()
        assert caught.value.field == "path"
        assert path in caught.value.message and "workspace" in str(caught.value)
        with pytest.raises(InputError):
            connect("csv_file", {"path": path, "root": str(root)}).append_row(row={"a": "x"})
    assert sorted(os.listdir(outside)) == ["private.csv"]  # no lock file, no new file
    inside = str(root / "in.csv")  # an absolute path inside the workspace is fine
    # Answered by its path in the workspace, as its messages name it: an action's result
    # reaches the job's result and the REST API, which never show the server's folders.
    assert connect("csv_file", {"path": inside, "root": str(root)}).append_row(row={"a": 1}) == {
        "path": "in.csv",
        "row_number": 1,
    }


def test_the_workspace_s_own_files_are_no_connection_s_file(root, connect):
    """A csv_file or SQLite connection named secret.key, lpstudio.toml, the store or the
    history: a builder's connection read the key into a job's error (its 'columns'), and
    appends would have written into the settings or the store."""
    (root / "secret.key").write_text("KEYKEYKEY\n")
    (root / "lpstudio.toml").write_text("[workspace]\n")
    sqlite_db(root / "lpstudio.db")
    (root / ".runtime").mkdir()
    (root / "history" / "2026-11-30").mkdir(parents=True)
    for path in (
        "secret.key",
        "./lpstudio.toml",
        "data/../lpstudio.db",
        "lpstudio.db-wal",
        ".runtime/api-rates.sqlite",
        "history/2026-11-30/1-x.ipynb",
        str(root / "secret.key"),
    ):
        for act in ("read_rows", "append_row"):
            conn = connect("csv_file", {"path": path, "root": str(root)})
            with pytest.raises(InputError) as caught:
                conn.read_rows() if act == "read_rows" else conn.append_row(row={"a": "x"})
            assert caught.value.field == "path", (path, act)
            assert "the workspace's own" in caught.value.message, caught.value.message
            assert "KEYKEYKEY" not in str(caught.value)
    assert (root / "secret.key").read_text() == "KEYKEYKEY\n"
    assert not (root / "history" / "2026-11-30" / "1-x.ipynb").exists()
    with pytest.raises(InputError) as caught:
        connect("sql", {"url": "sqlite:///lpstudio.db", "root": str(root)}).query(
            sql="SELECT x FROM t"
        )
    assert caught.value.field == "url" and "the workspace's own" in caught.value.message
    assert (
        connect("csv_file", {"path": "data/history.csv", "root": str(root)}).append_row(
            row={"a": 1}
        )["row_number"]
        == 1
    )


def test_the_workspace_s_own_files_under_another_name_are_no_connection_s_file(root, connect):
    """A hard link to the key or the store (or, where names ignore case, `SECRET.KEY`) is the
    same file under another name: its name was compared, so a connection read the key."""
    (root / "secret.key").write_text("KEYKEYKEY\n")
    sqlite_db(root / "lpstudio.db")
    (root / "history").mkdir()
    (root / "data").mkdir()
    os.link(root / "secret.key", root / "data" / "key.csv")
    os.link(root / "lpstudio.db", root / "data" / "copy.db")
    for path in ("data/key.csv", "data/copy.db"):
        with pytest.raises(InputError) as caught:
            connect("csv_file", {"path": path, "root": str(root)}).read_rows()
        assert "the workspace's own" in caught.value.message, path
        assert "KEYKEYKEY" not in str(caught.value)
    with pytest.raises(InputError) as caught:
        connect("sql", {"url": "sqlite:///data/copy.db", "root": str(root)}).query(sql="SELECT 1")
    assert caught.value.field == "url" and "the workspace's own" in caught.value.message


def test_the_workspace_s_own_files_are_found_where_its_settings_put_them(tmp_path, connect):
    """A store at `sqlite:///state.db` and a history in `outputs/` were a connection's to
    read and write (only the default names were refused), and `lpstudio.db` was refused
    where it was not the store."""
    root = tmp_path / "ws"
    Studio.init(root, accept_terms=True, admin="ada").close()
    config = root / "lpstudio.toml"
    config.write_text(
        config.read_text()
        .replace('url = "sqlite:///lpstudio.db"', 'url = "sqlite:///state.db"')
        .replace('path = "history"', 'path = "outputs"')
    )
    (root / "lpstudio.db").rename(root / "state.db")
    (root / "outputs").mkdir()
    for path in ("state.db", "state.db-wal", "outputs/2026-11-30/1-x.ipynb"):
        with pytest.raises(InputError) as caught:
            connect("csv_file", {"path": path, "root": str(root)}).read_rows()
        assert "the workspace's own" in caught.value.message, path
    with pytest.raises(InputError) as caught:
        connect("sql", {"url": "sqlite:///state.db", "root": str(root)}).query(sql="SELECT 1")
    assert caught.value.field == "url" and "the workspace's own" in caught.value.message
    assert connect("csv_file", {"path": "lpstudio.db", "root": str(root)}).read_rows().empty


def test_any_connector_keeps_a_path_inside_the_workspace_with_the_sdk_s_one_rule(root, monkeypatch):
    """The rule the CSV and SQL connectors follow, for a brand's own connector too."""
    outside = root.parent / "outside"
    (root / "out").symlink_to(outside, target_is_directory=True)
    conn = Connection("files", get_connector("csv_file"), {"root": str(root)})
    for raw in ("../outside/x.json", "out/x.json", str(outside / "x.json"), ".", ""):
        with pytest.raises(InputError) as caught:
            inside_workspace(conn, raw, "file", "the JSON file", "data/leads.json")
        assert caught.value.field == "file", raw
        assert f"the JSON file '{raw}'" in caught.value.message
        assert "data/leads.json" in (caught.value.fix or "")
        if raw not in (".", ""):
            assert caught.value.message.endswith("leaves the workspace")
            assert str(root) not in caught.value.message
            assert "links out of it are not followed" in (caught.value.fix or "")
    assert inside_workspace(conn, "data/../x.json", "file", "it", "x") == root / "x.json"
    assert inside_workspace(conn, str(root / "x.json"), "file", "it", "x") == root / "x.json"
    monkeypatch.chdir(outside)  # without a workspace, the working directory is the limit
    alone = Connection("files", get_connector("csv_file"), {})
    assert inside_workspace(alone, "a/../b.json", "file", "it", "x") == outside / "b.json"
    assert inside_workspace(alone, "/tmp/../etc/x", "file", "it", "x") == Path("/etc/x")
    with pytest.raises(InputError) as caught:
        inside_workspace(alone, "../x.json", "file", "it", "x")
    assert "leaves the working directory" in caught.value.message


# -- CSV: files that cannot be read -----------------------------------------------------------


def test_csv_in_another_encoding_names_the_file_and_the_encoding_field(root, connect):
    (root / "latin.csv").write_bytes("name,city\nJosé,Zürich\n".encode("latin-1"))
    conn = connect("csv_file", {"path": "latin.csv", "root": str(root)})
    for call in (
        conn.read_rows,
        conn.test,
        lambda: conn.poll("new_rows", "", None),
        lambda: conn.append_row(row={"name": "Ada", "city": "Paris"}),
    ):
        with pytest.raises(InputError) as caught:
            call()
        assert caught.value.field == "encoding"
        assert "latin.csv" in caught.value.message and "utf-8" in caught.value.message
        assert "latin-1" in (caught.value.fix or "")
    latin = connect("csv_file", {"path": "latin.csv", "root": str(root), "encoding": "latin-1"})
    assert latin.read_rows().to_dict("records") == [{"name": "José", "city": "Zürich"}]


def test_csv_a_value_its_encoding_cannot_hold_is_named_and_nothing_is_written(root, connect):
    """A raw UnicodeEncodeError came out, after a new file's header had been written."""
    conn = connect("csv_file", {"path": "latin.csv", "root": str(root), "encoding": "latin-1"})
    dry = connect(
        "csv_file", {"path": "latin.csv", "root": str(root), "encoding": "latin-1"}, dry_run=True
    )
    for call in (dry.append_row, conn.append_row):
        with pytest.raises(InputError) as caught:
            call(row={"name": "Zoë", "price": "9 €"})
        assert caught.value.field == "row.price" and "latin-1" in caught.value.message
        assert "utf-8" in (caught.value.fix or "")
    assert not (root / "latin.csv").exists()
    with pytest.raises(InputError) as caught:
        conn.append_row(row={"name": "Zoë", "prix €": "9"})
    assert caught.value.field == "row.prix €" and not (root / "latin.csv").exists()
    assert conn.append_row(row={"name": "Zoë", "price": "9 EUR"})["row_number"] == 1
    assert (root / "latin.csv").read_bytes() == "name,price\nZoë,9 EUR\n".encode("latin-1")


def test_csv_with_a_row_longer_than_its_header_names_the_file_and_line(root, connect):
    (root / "ragged.csv").write_text("a,b\n1,2\n3,4,5\n")
    with pytest.raises(ConnectorError) as caught:
        connect("csv_file", {"path": "ragged.csv", "root": str(root)}).read_rows()
    assert caught.value.field == "path" and not caught.value.retryable
    assert "ragged.csv" in caught.value.message and "line 3" in caught.value.message
    assert "delimiter" in (caught.value.fix or "")


def test_csv_whose_first_row_is_longer_than_its_header_is_refused_not_shifted(root, connect):
    """pandas read the first row's extra field as an index column: no error, and every
    column held its right-hand neighbour's value."""
    (root / "ragged.csv").write_text("a,b\n\n1,200.00,USD\n3,4\n")
    with pytest.raises(ConnectorError) as caught:
        connect("csv_file", {"path": "ragged.csv", "root": str(root)}).read_rows()
    assert caught.value.field == "path" and not caught.value.retryable
    said = "ragged.csv cannot be read as CSV: line 3 has 3 fields, the header 2"
    assert caught.value.message == said, caught.value.message
    assert "quote values holding the delimiter" in (caught.value.fix or "")


def test_csv_with_an_unclosed_quote_names_the_file(root, connect):
    (root / "quote.csv").write_text('a,b\n"1,2\n3,4\n')
    with pytest.raises(ConnectorError) as caught:
        connect("csv_file", {"path": "quote.csv", "root": str(root)}).read_rows()
    assert caught.value.field == "path" and "quote.csv" in caught.value.message
    assert "quote" in (caught.value.fix or "")


def test_csv_in_utf_16_without_its_mark_names_the_encoding_field(root, connect):
    (root / "a.csv").write_text("a,b\n1,2\n")
    with pytest.raises(InputError) as caught:
        connect("csv_file", {"path": "a.csv", "root": str(root), "encoding": "utf-16"}).read_rows()
    assert caught.value.field == "encoding" and "a.csv" in caught.value.message


@pytest.mark.parametrize("delimiter", ['"', "\n", "\r"])
def test_csv_delimiter_may_not_be_a_quote_or_a_line_break(root, connect, delimiter):
    (root / "a.csv").write_text("a,b\n1,2\n")
    with pytest.raises(InputError) as caught:
        connect("csv_file", {"path": "a.csv", "root": str(root), "delimiter": delimiter}).test()
    assert caught.value.field == "delimiter"


def test_csv_short_rows_and_empty_files_read_as_text(root, connect):
    (root / "short.csv").write_text("a,b\n1,2\n6\n")
    short = connect("csv_file", {"path": "short.csv", "root": str(root)}).read_rows()
    assert short.to_dict("records") == [{"a": "1", "b": "2"}, {"a": "6", "b": ""}]
    (root / "empty.csv").write_text("")
    (root / "header.csv").write_text("a,b\n")
    for name in ("empty.csv", "header.csv"):
        assert connect("csv_file", {"path": name, "root": str(root)}).read_rows().empty


def test_csv_values_a_spreadsheet_would_run_read_back_as_appended(root, connect):
    # Written with a `'` before them (Excel shows them as text), and read back by the
    # connection (read_rows, its where, new_rows) as they were given: one that started with
    # `'` and a formula's character gets two, so that it too reads back as given. A value
    # starting with + or - that holds only digits, blanks and . , : / ( ) + - (a phone, an
    # amount, an offset, a "-" placeholder) is written as it is: pandas in a notebook, a CRM
    # import or any other reader of the file gets it unchanged.
    conn = connect("csv_file", {"path": "f.csv", "root": str(root)})
    plain = ["+14155550188", "-3.5", "1e3", "it's", "+1 415 555 0188", "-1,234.50", "-3,5"]
    plain += ["+02:00", "-", "+1 (415) 555-0188", "'-3.5"]
    run = ["-x", "- call back", "-2+3+cmd|' /C calc'!A0", '+HYPERLINK("http://e")']
    given = ["=1+1", "'=1+1", "@x", "\tx", *plain, *run]
    for value in given:
        conn.append_row(row={"=v": value})
    with (root / "f.csv").open(newline="") as handle:
        written = [row[0] for row in csv.reader(handle)]
    assert written[:5] == ["'=v", "'=1+1", "''=1+1", "'@x", "'\tx"], written
    assert written[5 : 5 + len(plain)] == plain, written
    assert written[5 + len(plain) :] == ["'" + value for value in run], written
    assert conn.read_rows()["=v"].tolist() == given
    assert conn.read_rows(where={"=v": "'=1+1"})["=v"].tolist() == ["'=1+1"]
    assert conn.read_rows(where={"=v": "'-3.5"})["=v"].tolist() == ["'-3.5"]
    assert conn.read_rows(where={"=v": "- call back"})["=v"].tolist() == ["- call back"]
    events = conn.poll("new_rows", "", None).events
    assert [event["=v"] for event in events] == given


def test_csv_a_value_holding_a_line_break_stays_in_its_row(root, connect):
    """A CR in a value (a note typed on an old Mac, a form's text) was written bare in a file
    whose lines end with LF, which every reader then took for two rows: the next append's
    row number, read_rows and new_rows were all one row off."""
    conn = connect("csv_file", {"path": "notes.csv", "root": str(root)})
    notes = ["call back\rafter 5", "line\nbreak", "both\r\nends", "\r", "last"]
    numbers = [conn.append_row(row={"note": note, "id": "x"})["row_number"] for note in notes]
    assert numbers == [1, 2, 3, 4, 5]
    assert conn.read_rows()["note"].tolist() == notes
    assert [event["note"] for event in conn.poll("new_rows", "", None).events] == notes
    with (root / "notes.csv").open(newline="") as handle:
        assert [row[0] for row in csv.reader(handle)] == ["note", *notes[:3], "'\r", "last"]


def test_csv_blank_lines_before_the_header_are_not_the_header(root, connect):
    """A file of blank lines got its first appended row with no header above it (the row
    then read as the header), and blank lines above a header made every row nameless."""
    (root / "blank.csv").write_text("\n\n")
    blank = connect("csv_file", {"path": "blank.csv", "root": str(root)})
    assert blank.append_row(row={"name": "Ada", "city": "Paris"})["row_number"] == 1
    assert blank.append_row(row={"name": "Bo", "city": "Oslo"})["row_number"] == 2
    assert blank.read_rows().to_dict("records") == [
        {"name": "Ada", "city": "Paris"},
        {"name": "Bo", "city": "Oslo"},
    ]
    (root / "late.csv").write_text("\r\n\r\na,b\r\n1,2\r\n")
    late = connect("csv_file", {"path": "late.csv", "root": str(root)})
    assert late.read_rows().to_dict("records") == [{"a": "1", "b": "2"}]
    assert late.append_row(row={"a": "3", "b": "4"})["row_number"] == 2
    assert late.read_rows().to_dict("records") == [{"a": "1", "b": "2"}, {"a": "3", "b": "4"}]


def test_csv_unknown_column_names_the_file_and_its_columns(root, connect):
    write_csv(root / "people.csv", ["name", "email"], [["Ada", "ada@example.com"]])
    with pytest.raises(InputError) as caught:
        connect("csv_file", {"path": "people.csv", "root": str(root)}).read_rows(columns=["phone"])
    assert caught.value.field == "columns"
    assert "'phone'" in caught.value.message and "people.csv" in caught.value.message
    assert "name, email" in (caught.value.fix or "")


# -- CSV: large files -----------------------------------------------------------------------


class CountingReader:
    """pandas' chunk reader, counting the rows of each chunk it hands out."""

    def __init__(self, reader, sizes: list[int]) -> None:
        self.reader, self.sizes = reader, sizes

    def __enter__(self) -> CountingReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.reader.close()

    def __iter__(self) -> Iterator[pd.DataFrame]:
        for chunk in self.reader:
            self.sizes.append(len(chunk))
            yield chunk


def test_csv_read_rows_streams_a_large_file_in_chunks(root, connect, monkeypatch):
    rows = [[i, "FR" if i % 3 == 0 else "US", f"u{i}@example.com"] for i in range(1, 25001)]
    write_csv(root / "big.csv", ["id", "country", "email"], rows)
    read_csv, sizes = pd.read_csv, []

    def chunked(*args, **kwargs):
        assert kwargs.get("chunksize"), "the whole file was read at once"
        return CountingReader(read_csv(*args, **kwargs), sizes)

    monkeypatch.setattr(pd, "read_csv", chunked)
    big = connect("csv_file", {"path": "big.csv", "root": str(root)})
    every = big.read_rows(where={"country": "FR"}, columns=["id", "email"])
    assert len(every) == len(rows) // 3 and every.index.tolist() == list(range(len(every)))
    assert every.loc[0].to_dict() == {"id": "3", "email": "u3@example.com"}
    assert sum(sizes) == len(rows) and max(sizes) < len(rows)


def test_csv_read_rows_stops_reading_at_the_limit(root, connect):
    rows = [[i, f"u{i}@example.com"] for i in range(1, 20001)]
    write_csv(root / "big.csv", ["id", "email"], rows)
    with open(root / "big.csv", "a") as handle:
        handle.write("broken,row,with,too,many,fields\n")
    big = connect("csv_file", {"path": "big.csv", "root": str(root)})
    assert big.read_rows(limit=3)["id"].tolist() == ["1", "2", "3"]
    with pytest.raises(ConnectorError) as caught:
        big.read_rows()
    assert "line 20002" in caught.value.message


# -- SQL: read only -------------------------------------------------------------------------

# Text a statement checker that knows only standard quoting reads as one SELECT, and
# PostgreSQL reads as a SELECT, a COMMIT and a DELETE (E'' strings take backslash escapes;
# comments nest).
SMUGGLED = [
    "SELECT E'\\'' AS a; COMMIT; DELETE FROM t; -- '",
    "SELECT E'\\'' AS a, '\\' ; COMMIT; DELETE FROM t; --'",
    "SELECT 1 AS a /* /* */ ' */ ; COMMIT; DELETE FROM t; -- '",
]


@pytest.mark.parametrize("statement", SMUGGLED)
def test_sql_query_cannot_write_on_postgresql(server, connect, statement):
    engine = sa.create_engine(server)
    with engine.begin() as db:
        db.exec_driver_sql("DROP TABLE IF EXISTS t")
        db.exec_driver_sql("CREATE TABLE t (x int)")
        db.exec_driver_sql("INSERT INTO t VALUES (1), (2)")
    with pytest.raises(InputError) as caught:
        connect("sql", {"url": server}).query(sql=statement)
    assert caught.value.field == "sql"
    with engine.connect() as db:
        assert db.exec_driver_sql("SELECT count(*) FROM t").scalar() == 2
    engine.dispose()


def test_sql_query_is_one_statement_on_postgresql_whatever_the_checker_lets_through(
    server, connect, monkeypatch
):
    """The read-only transaction is the guarantee: text that slipped past the statement
    checker still runs as one statement, which cannot commit the transaction."""
    engine = sa.create_engine(server)
    with engine.begin() as db:
        db.exec_driver_sql("DROP TABLE IF EXISTS t")
        db.exec_driver_sql("CREATE TABLE t (x int)")
        db.exec_driver_sql("INSERT INTO t VALUES (1), (2)")
    sql = connect("sql", {"url": server})
    for _ in range(2):
        frame = sql.query(sql="SELECT x FROM t WHERE x > :n ORDER BY x", params={"n": 1})
        assert frame["x"].tolist() == [2]
    checker_missed = lambda text: None  # noqa: E731
    monkeypatch.setattr(sys.modules["lpstudio_connectors.sql"], "check_read_only", checker_missed)
    for statement in ("SELECT 1 AS a; COMMIT; DELETE FROM t", "DELETE FROM t RETURNING x"):
        with pytest.raises(ConnectorError):
            sql.query(sql=statement)
    with engine.connect() as db:
        assert db.exec_driver_sql("SELECT count(*) FROM t").scalar() == 2
    engine.dispose()


def test_sql_query_cannot_write_on_sqlite_whatever_the_checker_lets_through(
    tmp_path, connect, monkeypatch
):
    """SQLite's `query_only` lets ATTACH, most PRAGMAs and VACUUM INTO through: the database
    must refuse them itself should the statement checker ever miss one."""
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("CREATE TABLE t (x int)")
        db.execute("INSERT INTO t VALUES (1)")
    db.close()
    sql = connect("sql", {"url": f"sqlite:///{path}"})
    checker_missed = lambda text: None  # noqa: E731
    monkeypatch.setattr(sys.modules["lpstudio_connectors.sql"], "check_read_only", checker_missed)
    for statement in (
        f"ATTACH '{tmp_path / 'other.db'}' AS other",
        f"VACUUM INTO '{tmp_path / 'copy.db'}'",
        "PRAGMA journal_mode = DELETE",
        "PRAGMA user_version = 5",
        "DELETE FROM t",
        "CREATE TEMP TABLE z (x int)",
    ):
        with pytest.raises(ConnectorError):
            sql.query(sql=statement)
    assert sorted(os.listdir(tmp_path)) == ["app.db"]
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM t").fetchone() == (1,)
        assert db.execute("PRAGMA user_version").fetchone() == (0,)
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    db.close()
    assert sql.query(sql="SELECT x FROM t WHERE x = :x", params={"x": 1})["x"].tolist() == [1]


@pytest.mark.parametrize(
    "statement",
    [
        *SMUGGLED,
        "SELECT 1 AS a /*! INTO OUTFILE '/tmp/x' */",
        "SELECT 1 AS a /*M! INTO OUTFILE '/tmp/x' */",
        "SELECT 'C:\\data' AS path",
    ],
)
def test_sql_query_refuses_text_databases_read_differently(tmp_path, connect, statement):
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE t (x int)")
    db.close()
    with pytest.raises(InputError) as caught:
        connect("sql", {"url": f"sqlite:///{path}"}).query(sql=statement)
    assert caught.value.field == "sql" and ":name" in (caught.value.fix or "")


def test_sql_query_keeps_comments_and_quotes_that_read_one_way(tmp_path, connect):
    path = tmp_path / "app.db"
    sqlite3.connect(path).close()
    db = connect("sql", {"url": f"sqlite:///{path}"})
    frame = db.query(sql="/* a note */ SELECT 'it''s' AS a, :p AS b -- done", params={"p": "\\"})
    assert frame.to_dict("records") == [{"a": "it's", "b": "\\"}]


def test_sql_query_tells_how_to_write_a_colon_that_is_no_parameter(tmp_path, connect):
    path = tmp_path / "app.db"
    sqlite3.connect(path).close()
    db = connect("sql", {"url": f"sqlite:///{path}"})
    with pytest.raises(InputError) as caught:
        db.query(sql="SELECT 'at :noon' AS a")
    assert caught.value.field == "params" and "\\:" in (caught.value.fix or "")
    assert db.query(sql="SELECT 'at \\:noon' AS a")["a"].tolist() == ["at :noon"]


# -- SQL: URLs ------------------------------------------------------------------------------


def sqlite_db(path: Path) -> Path:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE t (x int)")
        db.execute("INSERT INTO t VALUES (7)")
    db.close()
    return path


def test_sql_sqlite_files_outside_the_workspace_are_refused(root, connect):
    outside = root.parent / "outside"
    sqlite_db(outside / "other.db")
    (root / "link.db").symlink_to(outside / "other.db")
    for url in (
        f"sqlite:///{outside / 'other.db'}",
        "sqlite:///link.db",
        f"sqlite:///file:{outside / 'other.db'}?uri=true",
        f"sqlite:///file:{outside / 'new.db'}?mode=rwc&uri=true",
        "sqlite:///file:../outside/other.db?uri=true",
    ):
        with pytest.raises(InputError) as caught:
            connect("sql", {"url": url, "root": str(root)}).query(sql="SELECT x FROM t")
        assert caught.value.field == "url" and "workspace" in str(caught.value), url
    assert sorted(os.listdir(outside)) == ["other.db"]
    sqlite_db(root / "app.db")
    for url in (f"sqlite:///{root / 'app.db'}", "sqlite:///file:app.db?mode=ro&uri=true"):
        db = connect("sql", {"url": url, "root": str(root)})
        assert db.query(sql="SELECT x FROM t")["x"].tolist() == [7]


def test_sql_a_missing_sqlite_file_behind_a_uri_is_not_created(root, connect):
    with pytest.raises(InputError) as caught:
        connect("sql", {"url": "sqlite:///file:typo.db?uri=true", "root": str(root)}).test()
    assert caught.value.field == "url" and "does not exist" in caught.value.message
    assert os.listdir(root) == []


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("nosuchdb://ada:s3cret@db.example/app", "nosuchdb"),
        ("mysql://ada:s3cret@127.0.0.1/app", "not installed"),
    ],
)
def test_sql_unknown_database_kinds_and_missing_drivers_name_the_url_field(connect, url, said):
    with pytest.raises(InputError) as caught:
        connect("sql", {"url": url}).test()
    assert caught.value.field == "url" and said in caught.value.message
    assert caught.value.fix and "s3cret" not in str(caught.value)


def test_sql_a_password_in_the_url_query_never_shows(connect):
    url = "postgresql+psycopg://ada@127.0.0.1:1/app?password=s3cret&connect_timeout=5"
    db = connect("sql", {"url": url})
    for call in (db.test, lambda: db.query(sql="SELECT 1")):
        with pytest.raises(ConnectorError) as caught:
            call()
        text = "".join(traceback.format_exception(caught.value))
        assert "s3cret" not in text
        shown = str(caught.value)
        assert "the url's postgresql database" in shown and "ada@" not in shown
    dry = connect("sql", {"url": url}, dry_run=True)
    with pytest.raises(ConnectorError) as caught:
        dry.insert(table="t", row={"x": 1})
    assert "s3cret" not in str(caught.value)


# -- SQL: the poll trigger as the scheduler runs it ----------------------------------------


def test_sql_rows_sharing_a_time_each_start_a_job(tmp_path):
    """Orders placed in the same second are distinct events: each starts its own job, and
    a second poll starts none."""
    from lpstudio.studio import Studio
    from tests.conftest import write_recipe

    ws = tmp_path / "ws"
    Studio.init(ws, accept_terms=True, admin="alice").close()
    with sqlite3.connect(ws / "shop.db") as db:
        db.execute("CREATE TABLE orders (id integer primary key, email text, at datetime)")
        db.executemany(
            "INSERT INTO orders (email, at) VALUES (?, '2026-03-01 10:00:00.000000')",
            [("ada@example.com",), ("bob@example.com",), ("cy@example.com",)],
        )
    db.close()
    trigger = {"kind": "poll", "connection": "shop", "trigger": "new_rows"}
    metadata = {"title": "Orders", "trigger": trigger, "connections": {"shop": {"type": "sql"}}}
    write_recipe(ws, "p/orders", metadata=metadata)
    with Studio.open(ws, user="alice") as studio:
        values = {"url": "sqlite:///shop.db", "poll_table": "orders", "poll_column": "at"}
        studio.connections.add("shop", "sql", values, "alice")
        studio.save_settings("p/orders", since="2026-03-01T00:00:00+00:00")
        jobs = studio.poll("p/orders", run=False)
        assert sorted(job.event["email"] for job in jobs) == [
            "ada@example.com",
            "bob@example.com",
            "cy@example.com",
        ]
        assert studio.poll("p/orders", run=False) == []


def test_sql_new_rows_are_json_even_holding_infinity(tmp_path, connect):
    """A float column's infinity became an event JSON cannot carry (`Infinity`), and a
    numeric column's stopped the poll (OverflowError)."""
    with sqlite3.connect(tmp_path / "m.db") as db:
        db.execute("CREATE TABLE m (id integer primary key, reading real, amount numeric)")
        db.executemany(
            "INSERT INTO m (reading, amount) VALUES (?, ?)",
            [(1.5, 2), (9e999, 9e999), (-9e999, -9e999)],
        )
    db.close()
    values = {"url": f"sqlite:///{tmp_path / 'm.db'}", "poll_table": "m", "poll_column": "id"}
    page = connect("sql", values).poll("new_rows", "", None)
    assert json.loads(json.dumps(page.events, allow_nan=False)) == [
        {"id": 1, "reading": 1.5, "amount": 2, "_cursor": 1},
        {"id": 2, "reading": "Infinity", "amount": "Infinity", "_cursor": 2},
        {"id": 3, "reading": "-Infinity", "amount": "-Infinity", "_cursor": 3},
    ]
