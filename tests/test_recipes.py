"""Recipes and their parameters: bad input is refused before any job, with a clear fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lpstudio.errors import ParameterError
from lpstudio.parameters import coerce
from lpstudio.recipe import Recipe

from .conftest import job_rows, write_recipe

TYPED = """\
count: int = 3  # how many
ratio: float = 0.5  # a share
enabled: bool = True  # on or off
name: str = "Maria"  # who
tags: list = ["a"]  # labels
extra: dict = {"k": 1}  # more
maybe: Optional[int] = None  # optional number
channel = "sms"  # inferred from the default
"""


def typed_recipe(ws: Path) -> Recipe:
    path = write_recipe(
        ws,
        "p/typed",
        parameters=TYPED,
        metadata={"title": "Typed", "parameters": {"channel": {"enum": ["sms", "wa"]}}},
    )
    return Recipe.load(path, "p/typed.ipynb")


def test_schema_comes_from_the_parameters_cell(ws: Path) -> None:
    props = typed_recipe(ws).schema["properties"]
    assert props["count"] == {
        "title": "count",
        "type": "integer",
        "description": "how many",
        "default": 3,
    }
    assert props["ratio"]["type"] == "number"
    assert props["enabled"]["type"] == "boolean"
    assert props["name"]["default"] == "Maria"
    assert props["tags"]["type"] == "array"
    assert props["extra"]["type"] == "object"
    assert props["maybe"]["type"] == ["integer", "null"]
    assert props["channel"] == {
        "title": "channel",
        "type": "string",
        "description": "inferred from the default",
        "default": "sms",
        "enum": ["sms", "wa"],
    }


def test_text_values_are_coerced_to_their_declared_types(ws: Path) -> None:
    schema = typed_recipe(ws).schema
    values = {
        "count": "7",
        "ratio": "2",
        "enabled": "false",
        "name": "123",
        "tags": '["x", "y"]',
        "extra": "a: 1",
        "maybe": "None",
        "channel": "wa",
    }
    assert coerce(schema, values, parse=set(values)) == {
        "count": 7,
        "ratio": 2.0,
        "enabled": False,
        "name": "123",
        "tags": ["x", "y"],
        "extra": {"a": 1},
        "maybe": None,
        "channel": "wa",
    }


@pytest.mark.parametrize(
    ("name", "value", "parse", "expected"),
    [
        ("count", "abc", True, "expects an integer"),
        ("count", "1.5", True, "expects an integer"),
        ("ratio", "fast", True, "expects a number"),
        ("enabled", "maybe", True, "expects true or false"),
        ("tags", "{a: 1}", True, "expects a list"),
        ("tags", "[unclosed", True, "does not parse"),
        ("count", "7", False, "expects an integer"),  # -r keeps a raw string
        ("count", True, False, "expects an integer"),
        ("channel", "fax", True, "is not one of"),
        ("ratio", "nan", True, "which JSON cannot hold"),  # papermill's -p would take it
        ("ratio", float("inf"), False, "which JSON cannot hold"),
        ("channel", "-inf", True, "is not one of"),  # a string parameter: just text
    ],
)
def test_wrong_values_name_the_parameter(
    ws: Path, name: str, value: object, parse: bool, expected: str
) -> None:
    with pytest.raises(ParameterError) as raised:
        coerce(typed_recipe(ws).schema, {name: value}, parse={name} if parse else set())
    assert raised.value.field == name
    assert expected in raised.value.message
    assert name in raised.value.message


def test_unknown_parameter_lists_the_known_ones(ws: Path, cli) -> None:
    write_recipe(ws, "p/simple")
    result = cli("run", "p/simple", "-p", "nope", "1")
    assert result.exit_code == 2
    assert "unknown parameter 'nope'" in result.output
    assert "known parameters: x" in result.output
    assert job_rows(ws) == 0


def test_wrong_type_from_the_cli_exits_2_and_writes_nothing(ws: Path, cli) -> None:
    write_recipe(ws, "p/simple")
    result = cli("run", "p/simple", "-p", "x", "seven", "--json")
    assert result.exit_code == 2
    error = json.loads(result.stdout)["error"]
    assert error["field"] == "x" and "integer" in error["message"]
    assert job_rows(ws) == 0
    assert not any((ws / "history").iterdir())


def test_bad_yaml_and_unreadable_files_are_refused(ws: Path, cli, tmp_path: Path) -> None:
    write_recipe(ws, "p/simple")
    assert cli("run", "p/simple", "-y", "x: [").exit_code == 2
    assert cli("run", "p/simple", "-y", "- 1").exit_code == 2
    missing = cli("run", "p/simple", "-f", str(tmp_path / "none.yaml"))
    assert missing.exit_code == 2 and "cannot read parameters file" in missing.output
    assert job_rows(ws) == 0


def test_broken_notebook_is_refused(ws: Path, cli) -> None:
    path = ws / "projects" / "p" / "broken.ipynb"
    path.parent.mkdir(parents=True)
    path.write_text('{"cells": [')
    result = cli("run", "p/broken")
    assert result.exit_code == 2
    assert "not a valid notebook" in result.output and "fix:" in result.output
    assert job_rows(ws) == 0


def test_missing_parameters_cell_is_refused(ws: Path, cli) -> None:
    path = write_recipe(ws, "p/untagged")
    text = path.read_text().replace('"parameters"', '"other"')
    path.write_text(text)
    result = cli("run", "p/untagged")
    assert result.exit_code == 2
    assert "no cell tagged 'parameters'" in result.output


@pytest.mark.parametrize(
    ("metadata", "field"),
    [
        (None, "metadata.lpstudio"),
        ({"title": "T", "timeout": -1}, "metadata.lpstudio.timeout"),
        ({"title": "T", "trigger": {"kind": "sometimes"}}, "metadata.lpstudio.trigger.kind"),
        ({"description": "no title"}, "metadata.lpstudio"),
        ({"title": "T", "colour": "red"}, "metadata.lpstudio"),
        ({"title": "T", "parameters": {"y": {"minimum": 1}}}, "metadata.lpstudio.parameters"),
    ],
)
def test_invalid_metadata_is_refused_naming_the_field(
    ws: Path, cli, metadata: dict | None, field: str
) -> None:
    path = write_recipe(ws, "p/meta", metadata=metadata or {"title": "x"})
    if metadata is None:
        nb = json.loads(path.read_text())
        del nb["metadata"]["lpstudio"]
        path.write_text(json.dumps(nb))
    result = cli("run", "p/meta", "--json")
    assert result.exit_code == 2
    assert json.loads(result.stdout)["error"]["field"] == field
    assert job_rows(ws) == 0


def test_recipes_lists_by_project_with_trigger_and_problems(ws: Path, cli) -> None:
    write_recipe(ws, "alpha/one", metadata={"title": "One", "trigger": {"kind": "webhook"}})
    write_recipe(ws, "beta/sub/two")
    (ws / "projects" / "beta" / "bad.ipynb").write_text("not json")
    result = cli("recipes", "--json")
    assert result.exit_code == 0, result.output
    rows = {row["recipe"]: row for row in json.loads(result.stdout)}
    assert rows["alpha/one.ipynb"]["trigger"] == "webhook"
    assert rows["alpha/one.ipynb"]["project"] == "alpha"
    assert rows["beta/sub/two.ipynb"]["project"] == "beta/sub"
    assert rows["beta/sub/two.ipynb"]["last_job"] is None
    assert "not a valid notebook" in rows["beta/bad.ipynb"]["problem"]
    human = cli("recipes")
    assert "alpha/" in human.output and "BROKEN" in human.output
