"""Fixes that say what to give: a date parameter given a number (YAML's `d: 20261101`, a
JSON body's 20261101) was told to "pass a string, for example: text"; a connection field
off its pattern quoted the pattern's regex where the field says its form in words; a
`list[int]`'s item took 2.0 where an `int` refused 7.0."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from click.testing import Result

from lpstudio.studio import Studio
from lpstudio.widgets import RecipeForm
from tests.conftest import write_recipe
from tests.servers import serving
from tests.test_forms import refused

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
    assert "'/etc/passwd' is absolute, where the file is named from the workspace" in said.output
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


INTS = (
    "n: int = 1\nxs: list[int] = []\nby_day: dict[str, int] = {}\npair: tuple[int, str] = (1, 'a')"
)


def test_an_integer_item_is_read_as_an_integer_parameter_is(
    ws: Path, cli: Callable[..., Result], tmp_path: Path
) -> None:
    """A `list[int]`'s items (a dict's values, a tuple's) follow the one rule for integers
    (`scalars.whole`) that `-p n 7.0` does: 2.0 is 2, as JSON Schema's integer takes it, and
    2.5 is refused by every surface alike, naming the parameter and the item."""
    write_recipe(ws, "t/ints", INTS, cells=("print(xs)",))
    given = tmp_path / "given.yaml"
    given.write_text("by_day: {mon: 2.5}\n")
    for args, field in (
        (["-p", "xs", "[1, 2.5]"], "xs.1"),
        (["-y", "xs: [2.5]"], "xs.0"),
        (["-f", str(given)], "by_day.mon"),
        (["-p", "pair", '[2.5, "a"]'], "pair.0"),
    ):
        said = cli("run", "t/ints", *args, "--json")
        assert said.exit_code == 2, (args, said.output)
        error = json.loads(said.stdout)["error"]
        assert error["field"] == field, (args, error)
        assert error["message"] == f"parameter '{field}' expects an integer, got 2.5", error
        assert error["fix"] == f"give an integer at {field}", error
        if args[0] == "-p":  # settings takes -p only
            said = cli("settings", "t/ints", *args, "--json")
            assert json.loads(said.stdout)["error"]["field"] == field, (args, said.output)
    assert json.loads(cli("jobs", "--json").stdout) == []
    assert json.loads(cli("settings", "t/ints", "--json").stdout)["parameters"] == {}

    with Studio.open(ws, user="alice") as studio:
        form = RecipeForm("t/ints", studio)
        said = refused(form, "xs", "[2.5]")
        assert "parameter 'xs.0' expects an integer, got 2.5" in said, said
        form.close()

    with serving(ws) as server:
        for method, route in (("POST", "run"), ("PUT", "settings")):
            body = {"parameters": {"xs": [2.5]}}
            answer = server.api("alice", method, f"/recipes/t/ints.ipynb/{route}", json=body)
            assert answer.status_code == 400, answer.text
            assert answer.json()["error"]["field"] == "xs.0", answer.text
    assert json.loads(cli("jobs", "--json").stdout) == []
    assert cli("run", "t/ints", "-p", "xs", "[2]", "--prepare-only").exit_code == 0
    # A whole float is the integer it is, in a list and a tuple alike.
    saved = cli("settings", "t/ints", "-p", "xs", "[1, 2.0]", "-p", "pair", '[3.0, "a"]', "--json")
    assert saved.exit_code == 0, saved.output
    assert json.loads(cli("settings", "t/ints", "--json").stdout)["parameters"] == {
        "xs": [1, 2],
        "pair": [3, "a"],
    }
