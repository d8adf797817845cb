"""Fixes that say what to give: a date parameter given a number (YAML's `d: 20261101`, a
JSON body's 20261101) was told to "pass a string, for example: text"; a connection field
off its pattern quoted the pattern's regex where the field says its form in words."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from click.testing import Result

from tests.conftest import write_recipe

DATES = (
    "from datetime import date, datetime\nd: date = date(2026, 11, 1)  # a day\n"
    "days: list[date] = []  # more days"
)


def test_a_date_given_a_number_is_told_to_give_iso_text(
    ws: Path, cli: Callable[..., Result]
) -> None:
    write_recipe(ws, "t/m", DATES, cells=("print(d)",))
    said = cli("run", "t/m", "-y", "d: 20261101", "--json")
    assert said.exit_code == 2, said.output
    error = json.loads(said.stdout)["error"]
    assert error["field"] == "d" and "a date as ISO 8601 text" in error["message"], error
    assert error["fix"] == "pass a date as ISO 8601 text, for example: 2026-11-29", error
    assert json.loads(cli("jobs", "--json").stdout) == []
    # A list's item too (it was told to give "a string at days.0").
    said = cli("run", "t/m", "-y", "days: [20261101]", "--json")
    error = json.loads(said.stdout)["error"]
    assert error["field"] == "days.0" and "a date as ISO 8601 text" in error["message"], error
    assert error["fix"].endswith("for example: 2026-11-29"), error


def test_a_connection_field_off_its_form_says_it_in_words(cli: Callable[..., Result]) -> None:
    said = cli("connections", "add", "f", "--type", "csv_file", "--field", "path=/etc/passwd")
    assert said.exit_code == 2, said.output
    assert "'/etc/passwd' is not of the field's form" in said.output
    assert "(?!" not in said.output and "fix:" in said.output, said.output


def test_text_holding_a_control_character_is_refused_before_any_job(
    ws: Path, cli: Callable[..., Result]
) -> None:
    """A skill of `\\u0000` passed its `\\S` pattern, and the job failed at LivePerson (or
    sent a campaign named with an escape sequence)."""
    write_recipe(ws, "t/c", 'skill: str = "billing"  # the skill', cells=("print(skill)",))
    for how in (
        ["-p", "skill", "bill\x1b[31m"],
        ["-y", 'skill: "\\0"'],
        ["-f", str(ws / "s.json")],
    ):
        (ws / "s.json").write_text(json.dumps({"skill": "a\u0085b"}))
        said = cli("run", "t/c", *how, "--json")
        assert said.exit_code == 2, (how, said.output)
        error = json.loads(said.stdout)["error"]
        assert error["field"] == "skill" and "holds the control character U+" in error["message"]
        assert error["fix"] == "give skill again without it (tabs and line breaks are kept)"
    assert json.loads(cli("jobs", "--json").stdout) == []
    kept = cli("run", "t/c", "-p", "skill", "line one\n\tline two", "--json")
    assert kept.exit_code == 0, kept.output
