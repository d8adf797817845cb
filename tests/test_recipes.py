"""Recipes and their parameters: bad input is refused before any job, with a clear fix."""

from __future__ import annotations

import json
import os
from datetime import date, datetime
from functools import reduce
from pathlib import Path
from typing import Any

import nbformat
import pytest

from lpstudio.errors import InputError, ParameterError
from lpstudio.parameters import coerce
from lpstudio.recipe import Recipe
from lpstudio.sdk import E164_PATTERN
from lpstudio.studio import Studio

from .conftest import job_rows, run_cli, run_json, write_recipe

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


def test_json_numbers_in_a_list_or_dict_stay_numbers(ws: Path) -> None:
    schema = typed_recipe(ws).schema
    # YAML 1.1 would read 1e-05 as text; the form fills these fields with JSON.
    got = coerce(
        schema, {"extra": '{"rate": 1e-05, "cap": 1e16}', "tags": "[1e-05]"}, {"extra", "tags"}
    )
    assert got == {"extra": {"rate": 1e-05, "cap": 1e16}, "tags": [1e-05]}
    assert coerce(schema, {"extra": "a: 1"}, {"extra"}) == {"extra": {"a": 1}}  # YAML too


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
        ("extra", "{a: .nan}", True, "which JSON cannot hold"),  # nested, from YAML
        ("channel", "-inf", True, "is not one of"),  # a string parameter: just text
        pytest.param("ratio", 10**400, False, "too large for a float", id="huge-int"),
        ("tags", "[" * 5000 + "]" * 5000, True, "does not parse"),
        ("tags", "- " * 3000, True, "does not parse"),  # YAML's parser recursed too
        ("tags", reduce(lambda inner, _: [inner], range(200), []), False, "deeper than 100"),
        ("tags", reduce(lambda inner, _: (inner,), range(5000), ()), False, "deeper than 100"),
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


def test_a_default_out_of_the_refinements_needs_a_value_before_any_job(ws: Path, cli) -> None:
    """A job run on the default ran with a value `-p` would have been refused for (an
    empty name where one is required: the recipe's way of asking for a value)."""
    refined = {"title": "Named", "parameters": {"name": {"minLength": 1}}}
    write_recipe(ws, "p/named", "name: str = ''  # who", ("print(name)",), refined)
    refused = cli("run", "p/named", "--json")
    assert refused.exit_code == 2, refused.output
    error = json.loads(refused.stdout)["error"]
    assert error["field"] == "name" and "the default of the parameters cell" in error["message"]
    # Refused as a given value is (its code too), with the ways to give one, then what to give.
    assert error["code"] == "ParameterError", error
    assert error["fix"] == (
        "give name a value, or save one in the recipe's settings: give a value of at least "
        "1 character(s)"
    ), error
    assert job_rows(ws) == 0
    assert cli("run", "p/named", "-p", "name", "Ada").exit_code == 0
    assert cli("settings", "p/named", "-p", "name", "Bo").exit_code == 0
    assert cli("run", "p/named").exit_code == 0  # the saved value
    assert job_rows(ws) == 2
    # Nor does a trigger start to run on it: its jobs would run on the default.
    daily = {**refined, "trigger": {"kind": "schedule", "cron": "0 9 * * *", "timezone": "UTC"}}
    write_recipe(ws, "p/daily", "name: str = ''  # who", ("print(name)",), daily)
    started = cli("start", "p/daily", "--json")
    assert started.exit_code == 2 and json.loads(started.stdout)["error"]["field"] == "name"


def test_dates_inside_lists_and_mappings_are_checked_and_kept_as_text(ws: Path, cli) -> None:
    """YAML's dates inside a mapping crashed the store (no JSON form) after a version was
    written, and the items of a `list[date]` were never read as dates."""
    params = "from datetime import date\nmeta: dict = {}\ndays: list[date] = []"
    write_recipe(ws, "p/loose", params, ("print(meta, days)",))
    saved = cli("settings", "p/loose", "-p", "meta", "{due: 2026-11-29}", "--json")
    assert saved.exit_code == 0, saved.output
    assert json.loads(saved.stdout)["parameters"]["meta"] == {"due": "2026-11-29"}
    for given in ('["not a date"]', '["2026-13-45"]'):
        refused = cli("settings", "p/loose", "-p", "days", given, "--json")
        assert refused.exit_code == 2, refused.output
        assert json.loads(refused.stdout)["error"]["field"] == "days.0"
    for option, value in (("-p", "days=[2026-W48-1]"), ("-y", "days: [2026-11-23]")):
        args = ("-p", *value.split("=")) if option == "-p" else (option, value)
        ran = cli("run", "p/loose", *args, "--json")
        assert ran.exit_code == 0, ran.output
        assert json.loads(ran.stdout)["parameters"]["days"] == ["2026-11-23"]
    with Studio.open(ws, user="alice") as studio, pytest.raises(ParameterError) as refused:
        studio.run("p/loose", {"meta": {"seen": {1, 2}}})
    assert refused.value.field == "meta"


def test_a_slot_of_a_connector_type_lpstudio_lacks_breaks_the_recipe(ws: Path, cli) -> None:
    """It was listed as fine, and a run's fix (`connections add --type nosuch...`) could
    never work: the type is the recipe's mistake."""
    metadata = {"title": "Odd", "connections": {"lp": {"type": "nosuchconnector"}}}
    write_recipe(ws, "p/odd", metadata=metadata)
    where = "metadata.lpstudio.connections.lp.type"
    (listed,) = json.loads(cli("recipes", "--json").stdout)
    assert where in listed["problem"] and "liveperson_proactive" in listed["problem"]
    ran = cli("run", "p/odd", "--json")
    assert ran.exit_code == 2, ran.output
    error = json.loads(ran.stdout)["error"]
    assert error["field"] == where and "nosuchconnector" in error["message"]
    started = cli("start", "p/odd", "--json")  # its fix named a connection type to add
    assert started.exit_code == 2 and json.loads(started.stdout)["error"]["field"] == where
    assert job_rows(ws) == 0


@pytest.mark.parametrize(
    ("picklist", "field", "fix"),
    [
        (
            {"connection": "crm", "list": "handoffs"},
            "metadata.lpstudio.parameters.handoff.x-picklist.connection",
            "name one of the recipe's connection slots: liveperson",
        ),
        (
            {"connection": "liveperson", "list": "handofs"},
            "metadata.lpstudio.parameters.handoff.x-picklist.list",
            "name one of the pick lists of liveperson_proactive: handoffs, skills",
        ),
        (
            {"slot": "liveperson"},
            "metadata.lpstudio.parameters.handoff.x-picklist",
            '{"connection": "liveperson", "list": "handoffs"}',
        ),
    ],
)
def test_a_pick_list_naming_no_slot_or_list_is_refused_when_the_recipe_is_read(
    ws: Path, cli, picklist: dict, field: str, fix: str
) -> None:
    """The form said "choose a connection for 'crm' first", a fix that could never work."""
    write_recipe(
        ws,
        "p/picked",
        parameters='handoff: str = "H1"',
        metadata={
            "title": "Picked",
            "connections": {"liveperson": {"type": "liveperson_proactive"}},
            "parameters": {"handoff": {"x-picklist": picklist}},
        },
    )

    result = cli("run", "p/picked", "--json")

    assert result.exit_code == 2, result.output
    error = json.loads(result.stdout)["error"]
    assert error["field"] == field and fix in error["fix"], error
    assert job_rows(ws) == 0


def test_a_pick_list_of_a_connector_not_installed_here_is_left_to_it(ws: Path) -> None:
    """A brand's own connector (in the workspace's `connectors/`) is not known to the
    recipe's check: its lists are checked where it loads, not refused here."""
    (ws / "connectors").mkdir()
    (ws / "connectors" / "acme.py").write_text(
        "from lpstudio.sdk import Connector\n\n"
        "connector = Connector('acme', title='Acme', fields=[])\n"
    )
    path = write_recipe(
        ws,
        "p/custom",
        parameters='owner: str = ""',
        metadata={
            "title": "Custom",
            "connections": {"crm": {"type": "acme"}},
            "parameters": {"owner": {"x-picklist": {"connection": "crm", "list": "owners"}}},
        },
    )
    assert Recipe.load(path, "p/custom.ipynb").schema["properties"]["owner"]["x-picklist"]


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


@pytest.mark.parametrize(
    ("text", "kind"), [("null", "null"), ("[]", "an array"), ("3", "a number")]
)
def test_a_notebook_whose_json_is_no_object_says_so_and_how_to_mend_it(
    ws: Path, cli, text: str, kind: str
) -> None:
    """Valid JSON that is no object said nbformat's "'NoneType' object has no attribute
    'get'", with the fix to open it in JupyterLab and save it again (JupyterLab cannot read
    it either)."""
    from lpstudio.widgets.common import lab_text

    path = write_recipe(ws, "p/empty")
    good = path.read_text()
    path.write_text(text)
    result = cli("run", "p/empty")
    assert result.exit_code == 2
    said, fix = result.output.split("\n  fix: ")
    assert said.endswith(
        f"recipe p/empty.ipynb is not a valid notebook: its JSON is {kind}, where a notebook is "
        'an object ({"cells": [...], ...})'
    ), said
    write = (
        "write a notebook's object in its place (JupyterLab: right-click it in the file "
        "browser, Open With > Editor)"
    )
    assert fix == f"{write}\n", fix  # never versioned: no version to restore
    with Studio.open(ws, user="alice") as studio:
        studio.store.snapshot("p/empty.ipynb", good, {}, "alice")
    fix = cli("run", "p/empty").output.split("\n  fix: ")[1]
    assert fix.startswith(f"{write}, or restore an earlier version (`lpstudio versions"), fix
    assert "lpstudio" not in lab_text(fix)  # the lab's Versions, then Restore
    assert job_rows(ws) == 0


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ('{"cells": [ this is not json', "its JSON is broken at line 1, column 13"),
        ("[]", "its JSON is an array"),
        ('{"nbformat": 9, "nbformat_minor": 0, "metadata": {}, "cells": []}', "version 9"),
        (
            '{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{"id": "a", '
            '"cell_type": "bogus", "metadata": {}, "source": ""}]}',
            "is not valid under any of the given schemas",
        ),
    ],
)
def test_a_broken_notebook_offers_a_restore_only_when_it_has_a_version(
    ws: Path, cli, text: str, said: str
) -> None:
    """A notebook that does not read offered to restore an earlier version even if it had
    none: `lpstudio versions` of a recipe never saved nor run answers that it has none."""
    path = write_recipe(ws, "mine/notjson")
    good = path.read_text()
    path.write_text(text)
    restore = (
        "restore an earlier version (`lpstudio versions mine/notjson.ipynb`, then "
        "`lpstudio restore mine/notjson.ipynb VERSION`)"
    )
    never = cli("run", "mine/notjson")
    assert never.exit_code == 2 and said in never.output, never.output
    assert "fix: " in never.output and "restore" not in never.output, never.output
    assert "no versions of mine/notjson yet" in cli("versions", "mine/notjson").output
    with Studio.open(ws, user="alice") as studio:
        studio.store.snapshot("mine/notjson.ipynb", good, {}, "alice")
    versioned = cli("run", "mine/notjson")
    assert versioned.exit_code == 2 and said in versioned.output, versioned.output
    assert versioned.output.rstrip().endswith(f", or {restore}"), versioned.output
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
        # A failed job's retry was queued at a date out of range: the job ended in a crash.
        ({"title": "T", "retries": {"interval": 1e12}}, "metadata.lpstudio.retries.interval"),
        ({"title": "T", "trigger": {"kind": "sometimes"}}, "metadata.lpstudio.trigger.kind"),
        ({"description": "no title"}, "metadata.lpstudio"),
        ({"title": "T", "colour": "red"}, "metadata.lpstudio.colour"),
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


def test_invalid_metadata_is_shown_an_example_of_its_own_key(ws: Path, cli) -> None:
    """A bad `retries` was shown a whole recipe's metadata as its example, `{"title": "My
    recipe", "trigger": {"kind": "manual"}}`, which says nothing of retries."""
    write_recipe(ws, "p/retries", metadata={"title": "T", "retries": {"count": 5}})
    result = cli("run", "p/retries", "--json")
    assert result.exit_code == 2
    error = json.loads(result.stdout)["error"]
    assert error["field"] == "metadata.lpstudio.retries.count"
    assert error["fix"] == (
        "correct metadata.lpstudio.retries.count in the notebook metadata "
        '(example: "retries": {"count": 2, "interval": 60})'
    )
    write_recipe(ws, "p/colour", metadata={"title": "T", "colour": "red"})
    other = json.loads(cli("run", "p/colour", "--json").stdout)["error"]
    assert '"title": "My recipe"' in other["fix"]  # no key of its own: the whole metadata


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


def test_a_broken_recipe_s_listing_says_its_state_and_its_run_of_trigger_errors(
    ws: Path, cli
) -> None:
    """A started recipe whose notebook broke (a save cut off mid-edit) has its trigger fail
    until the scheduler stops it: its row said BROKEN only, neither started nor stopped,
    nor the errors that stopped it."""
    from lpstudio.models import TriggerState

    write_recipe(ws, "p/tick", metadata={"title": "T", "trigger": {"kind": "webhook"}})
    with Studio.open(ws, user="alice") as studio:
        studio.start("p/tick")
        with studio.store.write() as s:
            s.add(
                TriggerState(
                    recipe="p/tick.ipynb",
                    since="x",
                    seen=[],
                    errors=3,
                    last_error="RecipeError: not a valid notebook",
                )
            )
    (ws / "projects" / "p" / "tick.ipynb").write_text('{"cells": [')

    shown = cli("recipes").output

    line = next(line for line in shown.splitlines() if "tick.ipynb" in line)
    assert "BROKEN" in line and "started" in line, shown
    assert "3 trigger errors in a row; last: RecipeError" in shown, shown


@pytest.mark.parametrize(
    ("refinement", "field", "reason"),
    [
        ({"n": {"minimum": "zero"}}, "metadata.lpstudio.parameters.n.minimum", "'number'"),
        ({"s": {"pattern": "["}}, "metadata.lpstudio.parameters.s.pattern", "unterminated"),
        ({"s": {"enum": "abc"}}, "metadata.lpstudio.parameters.s.enum", "'array'"),
        (
            {"s": {"items": {"pattern": "(?<x)"}}},
            "metadata.lpstudio.parameters.s.items.pattern",
            "regex",
        ),
    ],
)
def test_refinements_that_are_not_json_schema_are_refused_at_load(
    ws: Path, cli, refinement: dict, field: str, reason: str
) -> None:
    write_recipe(
        ws,
        "p/refined",
        parameters="n: int = 1\ns: str = 'a'",
        metadata={"title": "T", "parameters": refinement},
    )
    result = cli("run", "p/refined", "-p", "n", "3", "--json")
    assert result.exit_code == 2, result.output
    error = json.loads(result.stdout)["error"]
    assert error["field"] == field
    assert reason in error["message"] and field in error["fix"]
    assert job_rows(ws) == 0
    rows = {row["recipe"]: row for row in json.loads(cli("recipes", "--json").stdout)}
    assert field in rows["p/refined.ipynb"]["problem"]


@pytest.mark.parametrize(
    ("trigger", "field"),
    [
        ({"cron": "99 * * *"}, "metadata.lpstudio.trigger.cron"),
        ({}, "metadata.lpstudio.trigger.cron"),
        (
            {"cron": "0 9 * * *", "timezone": "Mars/Olympus_Mons"},
            "metadata.lpstudio.trigger.timezone",
        ),
    ],
)
def test_a_bad_schedule_is_refused_at_load(ws: Path, cli, trigger: dict, field: str) -> None:
    write_recipe(ws, "p/daily", metadata={"title": "T", "trigger": {"kind": "schedule", **trigger}})
    result = cli("run", "p/daily", "--json")
    assert result.exit_code == 2, result.output
    error = json.loads(result.stdout)["error"]
    assert error["field"] == field and error["fix"]
    assert job_rows(ws) == 0
    rows = {row["recipe"]: row for row in json.loads(cli("recipes", "--json").stdout)}
    assert field in rows["p/daily.ipynb"]["problem"]


def test_a_notebook_without_cell_ids_keeps_one_version(ws: Path) -> None:
    """nbformat 4.4 has no cell ids; reading one must not make a new version each time."""
    path = write_recipe(ws, "p/old", cells=("print(x)",))
    nb = json.loads(path.read_text())
    nb["nbformat_minor"] = 4
    for cell in nb["cells"]:
        del cell["id"]
    path.write_text(json.dumps(nb))
    for _ in range(2):  # each command is a new process, as from cron
        proc = run_cli("settings", "p/old", "-p", "x", "2", "--workspace", str(ws))
        assert proc.returncode == 0, proc.stderr
    code, job = run_json("run", "p/old", "--workspace", str(ws))
    assert code == 0, job
    code, versions = run_json("versions", "p/old", "--workspace", str(ws))
    assert code == 0 and len(versions) == 1
    assert job["version"] == versions[0]["id"]
    output = nbformat.read(job["output_path"], as_version=nbformat.NO_CONVERT)
    nbformat.validate(output)
    assert output.nbformat_minor >= 5


def test_a_recipe_whose_notebook_broke_is_stopped_and_restored_from_the_cli(ws: Path) -> None:
    """The error of a broken recipe says to restore an earlier version, but `stop`,
    `versions` and `restore` each loaded the recipe first and failed on it."""
    path = write_recipe(ws, "p/fragile", cells=("print(x)",))
    assert run_cli("start", "p/fragile", "--workspace", str(ws)).returncode == 0
    code, job = run_json("run", "p/fragile", "--workspace", str(ws))
    assert code == 0, job
    path.write_text("{not json")
    assert run_cli("run", "p/fragile", "--workspace", str(ws)).returncode == 2
    stopped = run_cli("stop", "p/fragile", "--workspace", str(ws))
    assert stopped.returncode == 0, stopped.stderr
    code, versions = run_json("versions", "p/fragile", "--workspace", str(ws))
    assert code == 0 and [v["id"] for v in versions] == [job["version"]]
    restored = run_cli("restore", "p/fragile", job["version"][:6], "--workspace", str(ws))
    assert restored.returncode == 0, restored.stderr
    code, again = run_json("run", "p/fragile", "-p", "x", "4", "--workspace", str(ws))
    assert code == 0 and again["version"] == job["version"], again


def test_a_recipe_broken_after_its_start_before_any_run_is_restored_to_what_started(
    ws: Path,
) -> None:
    """A start made no version: a recipe broken before its first job had none to restore,
    though its errors say to restore one."""
    path = write_recipe(ws, "p/started", cells=("print(x)",))
    none = run_cli("versions", "p/started", "--workspace", str(ws))
    assert none.returncode == 0 and "no versions of p/started yet" in none.stdout
    assert run_cli("start", "p/started", "--workspace", str(ws)).returncode == 0
    path.write_text("{not json")
    code, versions = run_json("versions", "p/started", "--workspace", str(ws))
    assert code == 0 and len(versions) == 1, versions
    (line,) = run_cli("versions", "p/started", "--workspace", str(ws)).stdout.splitlines()
    assert line.endswith("  no parameter set"), line  # its settings' JSON was cut at 60
    restored = run_cli("restore", "p/started", versions[0]["id"][:8], "--workspace", str(ws))
    assert restored.returncode == 0, restored.stderr
    code, job = run_json("run", "p/started", "-p", "x", "5", "--workspace", str(ws))
    assert code == 0 and job["status"] == "succeeded" and job["version"] == versions[0]["id"]


def test_a_restore_keeps_the_recipe_as_it_was_as_a_version_it_can_go_back_to(
    ws: Path,
) -> None:
    """Edits saved since the last run, start or settings save were in no version: a restore
    wrote over them for good."""
    path = write_recipe(ws, "p/edited", cells=("print('first')",))
    code, first = run_json("run", "p/edited", "--workspace", str(ws))
    assert code == 0, first
    write_recipe(ws, "p/edited", cells=("print('edited, never run')",))
    restored = run_cli("restore", "p/edited", first["version"][:8], "--workspace", str(ws))
    assert restored.returncode == 0, restored.stderr
    assert "first" in path.read_text() and "never run" not in path.read_text()
    code, versions = run_json("versions", "p/edited", "--workspace", str(ws))
    (kept,) = [v["id"] for v in versions if v["id"] != first["version"]]
    assert f"as it was, it is version {kept[:12]}" in restored.stdout, restored.stdout
    short = run_json("restore", "p/edited", kept[:2], "--workspace", str(ws))
    assert short[0] == 2 and short[1]["error"]["field"] == "version", short  # as over REST
    back = run_cli("restore", "p/edited", kept[:12], "--workspace", str(ws))
    assert back.returncode == 0 and "never run" in path.read_text(), back.stderr
    # One that no longer loads is kept as the text it holds.
    path.write_text('{"half": ')
    assert (
        run_cli("restore", "p/edited", first["version"][:8], "--workspace", str(ws)).returncode == 0
    )
    code, versions = run_json("versions", "p/edited", "--workspace", str(ws))
    assert code == 0 and len(versions) == 3, versions
    assert versions[0]["id"] == first["version"]  # the one restored, listed newest again
    (broken,) = [v["id"] for v in versions if v["id"] not in (first["version"], kept)]
    assert run_cli("restore", "p/edited", broken[:12], "--workspace", str(ws)).returncode == 0
    assert path.read_text() == '{"half": '


def test_a_restore_answers_the_version_as_the_list_then_shows_it(ws: Path) -> None:
    """The answer kept the version's first date and author; the list, read right after,
    showed it restored now, by whoever restored it."""
    write_recipe(ws, "p/back", cells=("print('first')",))
    with Studio.open(ws, user="alice") as studio:
        found = studio.recipe("p/back")
        first = studio.store.snapshot(found.name, found.canonical_json, {}, "alice")
    write_recipe(ws, "p/back", cells=("print('second')",))
    with Studio.open(ws, user="alice") as studio:
        answer = studio.restore("p/back", first[:8])
        (newest, *_) = studio.versions("p/back")
    assert newest["id"] == answer["id"] == first
    assert (answer["created_at"], answer["created_by"]) == (
        newest["created_at"],
        newest["created_by"],
    )


def test_settings_tell_where_a_webhook_or_callable_recipe_is_reached(ws: Path) -> None:
    """A webhook's URL holds an id made with the workspace key: only the REST API told it,
    so a CLI user could not give it to Shopify."""
    write_recipe(ws, "p/hook", metadata={"title": "Hook", "trigger": {"kind": "webhook"}})
    write_recipe(ws, "p/bot", metadata={"title": "Bot", "trigger": {"kind": "callable"}})
    hook = run_cli("settings", "p/hook", "--workspace", str(ws))
    assert hook.returncode == 0, hook.stderr
    code, shown = run_json("settings", "p/hook", "--workspace", str(ws))
    assert code == 0 and shown["url"].startswith("/lpstudio/api/v1/hooks/")
    assert f"receives:    POST {shown['url']}" in hook.stdout
    assert "p/hook" not in shown["url"] and len(shown["url"].rsplit("/", 1)[1]) == 40
    code, bot = run_json("settings", "p/bot", "--workspace", str(ws))
    assert code == 0 and bot["url"] == "/lpstudio/api/v1/call/bot"
    write_recipe(ws, "p/plain")  # run by hand: nothing reaches it
    code, plain = run_json("settings", "p/plain", "--workspace", str(ws))
    assert code == 0 and "url" not in plain


# A recipe author's parameters cell in today's Python: papermill's line-based inspection
# drops `str | None`, any line with a second "=" (in the default or the help) and reads
# no syntax errors; each of these parameters must still be known, typed and documented,
# beside IPython's own syntax (a magic), which the kernel runs.
AUTHORED = """\
%xmode Plain
contact: str | None = None  # who to write to; empty for everyone
days: int = 7  # days ahead (0 = due today)
endpoint: str = "https://crm.example.com/leads?status=open"  # where the leads come from
channels: list[str] = [
    "sms",
    "wa",
]  # channels, in order
region = "emea"
"""


def test_parameters_papermill_cannot_read_are_read_as_python(ws: Path) -> None:
    path = write_recipe(
        ws,
        "p/authored",
        parameters=AUTHORED,
        cells=(
            "import lpstudio.kernel as lp\n"
            "lp.set_result({'contact': contact, 'days': days, 'endpoint': endpoint,"
            " 'channels': channels})",
        ),
    )
    props = Recipe.load(path, "p/authored.ipynb").schema["properties"]
    assert list(props) == ["contact", "days", "endpoint", "channels", "region"]
    assert props["contact"] == {
        "title": "contact",
        "type": ["string", "null"],
        "description": "who to write to; empty for everyone",
        "default": None,
    }
    assert props["days"]["description"] == "days ahead (0 = due today)"
    assert props["endpoint"]["default"] == "https://crm.example.com/leads?status=open"
    assert props["channels"]["type"] == "array" and props["channels"]["default"] == ["sms", "wa"]
    assert props["channels"]["description"] == "channels, in order"
    assert props["region"] == {"title": "region", "type": "string", "default": "emea"}

    # A digit string given to `str | None` stays a string in the job, as declared; and
    # papermill, which cannot read that line, no longer warns of an "unknown parameter".
    proc = run_cli(
        "run",
        "p/authored",
        "-p",
        "contact",
        "0612",
        "-p",
        "days",
        "0",
        "--workspace",
        str(ws),
        "--json",
    )
    code, job = proc.returncode, json.loads(proc.stdout)
    assert code == 0, job
    assert "unknown parameter" not in proc.stderr, proc.stderr
    assert job["result"] == {
        "contact": "0612",
        "days": 0,
        "endpoint": "https://crm.example.com/leads?status=open",
        "channels": ["sms", "wa"],
    }


# Help written where notebooks often write it: on the lines above the assignment.
HELP_ABOVE = """\
# LivePerson skill that answers
skill: str = "sales"

# Said when a record has no first name;
# keep it short
fallback_name = "friend"
# Section: sending
days: int = 3  # days ahead
body_variables: dict = {
    "1": "Hi {first_name}",  # the greeting
}  # body variables 1, 2...
"""


def test_a_help_comment_above_a_parameter_is_its_help(ws: Path, cli) -> None:
    """It was dropped without a word: `lpstudio settings` and the forms showed no help. A
    comment ending the assignment stays its help, and one inside its value a comment."""
    write_recipe(ws, "p/above", parameters=HELP_ABOVE)
    result = cli("settings", "p/above")
    assert result.exit_code == 0, result.output
    assert 'skill = "sales"  [string, default]  # LivePerson skill that answers' in result.output
    said = "# Said when a record has no first name; keep it short"
    assert f'fallback_name = "friend"  [string, default]  {said}' in result.output
    assert "days = 3  [integer, default]  # days ahead" in result.output
    assert "# body variables 1, 2..." in result.output, result.output
    assert "Section" not in result.output and "the greeting" not in result.output


def test_a_value_over_several_lines_takes_the_comment_ending_its_first_line_as_help(
    ws: Path, cli
) -> None:
    """A list's or dict's help written where it opens was dropped without a word; a comment
    on one of its lines is a note about that line, and the recipe runs as before."""
    cell = (
        'channels: list = [  # channels, in order\n    "sms",\n]\n'
        'body_variables: dict = {\n    "1": "Hi {first_name}",  # the greeting\n}'
    )
    write_recipe(ws, "p/inside", parameters=cell)
    result = cli("settings", "p/inside")
    assert result.exit_code == 0, result.output
    assert "# channels, in order" in result.output, result.output
    assert "the greeting" not in result.output
    listed = json.loads(cli("recipes", "--json").stdout)
    assert not listed[0].get("problem"), listed  # readable, as before


def test_a_form_feed_or_a_line_separator_in_the_cell_moves_no_help(ws: Path, cli) -> None:
    """A form feed on a line of its own (PEP 8's page break) or a U+2028 in a string ends
    a line for `str.splitlines`, not for Python: each later parameter was given the help of
    the line above its own, or none."""
    cell = 'days: int = 3  # days ahead\n\x0c\nnote = "a\u2028b"  # the note\n'
    cell += 'skill = "sales"  # who'
    write_recipe(ws, "p/paged", parameters=cell)
    result = cli("settings", "p/paged")
    assert result.exit_code == 0, result.output
    assert "days = 3  [integer, default]  # days ahead\n" in result.output, result.output
    assert "  # the note\n" in result.output
    assert 'skill = "sales"  [string, default]  # who\n' in result.output


def test_a_parameters_cell_that_is_not_python_is_refused_naming_the_line(ws: Path, cli) -> None:
    write_recipe(ws, "p/typo", parameters='days: int = 7\nname: str = "Ana  # unclosed')
    result = cli("run", "p/typo", "--json")
    assert result.exit_code == 2, result.output
    error = json.loads(result.stdout)["error"]
    assert error["field"] == "parameters"
    assert "line 2" in error["message"] and "parameters cell" in error["fix"]
    assert job_rows(ws) == 0


def test_a_notebook_without_a_kernel_is_refused_and_listed_as_broken(ws: Path, cli) -> None:
    """A notebook saved by a tool that wrote no kernelspec: papermill can neither inspect
    nor run it. It must be refused with the fix, and not break the listing of the others."""
    write_recipe(ws, "p/fine")
    path = write_recipe(ws, "p/nokernel")
    nb = json.loads(path.read_text())
    del nb["metadata"]["kernelspec"]
    path.write_text(json.dumps(nb))
    result = cli("run", "p/nokernel", "--json")
    assert result.exit_code == 2, result.output
    error = json.loads(result.stdout)["error"]
    assert error["field"] == "metadata.kernelspec" and "python3" in error["fix"]
    listing = cli("recipes", "--json")
    assert listing.exit_code == 0, listing.output
    rows = {row["recipe"]: row for row in json.loads(listing.stdout)}
    assert "kernelspec" in rows["p/nokernel.ipynb"]["problem"]
    assert rows["p/fine.ipynb"].get("problem") is None
    assert job_rows(ws) == 0


PANDAS_RESULT = """\
from datetime import datetime, timezone

import numpy as np
import pandas as pd

import lpstudio.kernel as lp

invoices = pd.DataFrame({"amount": [12, 30, 7], "open": [True, False, True]})
answer = {
    "due": invoices["open"].sum(),
    "total": invoices["amount"].sum(),
    "any_open": invoices["open"].any(),
    "rows": invoices.index.values[invoices["open"].values],
    "at": datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc),
    "day": pd.Timestamp("2026-12-01").date(),
}
lp.respond(answer)
lp.set_result(answer)
"""


def test_numbers_pandas_computes_stay_numbers_in_results_and_answers(ws: Path) -> None:
    """A recipe's counts come from pandas as numpy scalars (not int or bool subclasses):
    they must reach the job's result and a callable's answer as JSON numbers and booleans,
    not as the text "2", or the answer breaks its response schema; dates are ISO 8601."""
    write_recipe(ws, "p/counts", cells=(PANDAS_RESULT,))
    code, job = run_json("run", "p/counts", "--workspace", str(ws))
    assert code == 0, job
    expected = {
        "due": 2,
        "total": 49,
        "any_open": True,
        "rows": [0, 2],
        "at": "2026-12-01T09:00:00+00:00",
        "day": "2026-12-01",
    }
    assert job["result"]["response"] == {"status": 200, "body": expected}
    assert {k: v for k, v in job["result"].items() if k != "response"} == expected


DATED = """\
from datetime import date, datetime

start: date = "2026-11-01"  # first day
day: date = date(2026, 11, 1)  # written as Python
at: datetime | None = None  # when, if at a set time
since = datetime(2026, 1, 5, 9, 30)  # inferred from the default
"""


def dated_recipe(ws: Path) -> Path:
    return write_recipe(
        ws,
        "p/dated",
        parameters=DATED,
        cells=(
            "import lpstudio.kernel as lp\n"
            "lp.set_result({'start': [type(start).__name__, start], 'at': at,"
            " 'day': [type(day).__name__, str(day)]})",
        ),
    )


def test_dates_are_strings_of_a_date_format(ws: Path) -> None:
    props = Recipe.load(dated_recipe(ws), "p/dated.ipynb").schema["properties"]
    assert props["start"] == {
        "title": "start",
        "type": "string",
        "format": "date",
        "description": "first day",
        "default": "2026-11-01",
    }
    assert props["day"]["format"] == "date" and props["day"]["default"] == "2026-11-01"
    assert props["at"]["type"] == ["string", "null"] and props["at"]["format"] == "date-time"
    assert props["since"]["type"] == "string" and props["since"]["format"] == "date-time"
    assert props["since"]["default"] == "2026-01-05T09:30:00"


def test_only_the_standard_library_s_date_makers_give_a_default(ws: Path) -> None:
    nb = write_recipe(
        ws,
        "p/other",
        parameters="import pendulum\n\nwhen: datetime = pendulum.datetime(2026, 11, 1)",
    )
    when = Recipe.load(nb, "p/other.ipynb").schema["properties"]["when"]
    assert when["format"] == "date-time" and "default" not in when  # runs in the kernel only


def test_dates_are_coerced_to_iso_text(ws: Path) -> None:
    schema = Recipe.load(dated_recipe(ws), "p/dated.ipynb").schema
    texts = {"start": "2026-W48-1", "at": "2026-11-29 09:30", "since": "None"}
    with pytest.raises(ParameterError, match="since"):
        coerce(schema, texts, parse=set(texts))
    texts["since"] = "2026-11-29T09:30:00+01:00"
    assert coerce(schema, texts, parse=set(texts)) == {
        "start": "2026-11-23",
        "at": "2026-11-29T09:30:00",
        "since": "2026-11-29T09:30:00+01:00",
    }
    given = {"start": date(2026, 11, 29), "at": datetime(2026, 11, 29, 9, 30), "day": None}
    with pytest.raises(ParameterError, match="day"):
        coerce(schema, given)
    given["day"] = "2026-11-30"
    assert coerce(schema, given) == {
        "start": "2026-11-29",
        "at": "2026-11-29T09:30:00",
        "day": "2026-11-30",
    }


@pytest.mark.parametrize(
    ("name", "value", "parse", "expected"),
    [
        ("start", "tomorrow", True, 'expects a date like 2026-11-29, got "tomorrow"'),
        ("start", "2026-11-31", True, "expects a date like"),
        ("start", "2026-11-29T09:30:00", False, "expects a date like"),
        ("start", datetime(2026, 11, 29, 9, 30), False, "expects a date like"),
        ("at", "at nine", True, "expects a date and time like 2026-11-29T09:30:00"),
    ],
)
def test_wrong_dates_name_the_parameter(
    ws: Path, name: str, value: object, parse: bool, expected: str
) -> None:
    schema = Recipe.load(dated_recipe(ws), "p/dated.ipynb").schema
    with pytest.raises(ParameterError) as raised:
        coerce(schema, {name: value}, parse={name} if parse else set())
    assert raised.value.field == name and expected in raised.value.message
    assert "for example: 2026-11-29" in str(raised.value.fix)  # in no one surface's terms


def test_a_date_from_the_cli_is_checked_before_the_job_and_arrives_as_iso_text(
    ws: Path, cli
) -> None:
    dated_recipe(ws)
    result = cli("run", "p/dated", "-p", "start", "tomorrow", "--json")
    assert result.exit_code == 2, result.output
    error = json.loads(result.stdout)["error"]
    assert error["field"] == "start" and 'got "tomorrow"' in error["message"]
    assert job_rows(ws) == 0

    code, job = run_json(
        "run", "p/dated", "-p", "start", "2026-11-29", "-y", "at: 2026-11-29 09:30:00",
        "--workspace", str(ws),
    )  # fmt: skip
    assert code == 0, job
    assert job["result"] == {
        "start": ["str", "2026-11-29"],
        "at": "2026-11-29T09:30:00",
        "day": ["str", "2026-11-01"],  # its default, injected as text like a given value
    }


def test_a_literal_annotation_is_a_choice_the_cli_enforces(ws: Path, cli) -> None:
    """`channel: Literal["sms", "wa"]` offered any text, and a job ran with "email"."""
    write_recipe(
        ws,
        "p/lit",
        parameters='from typing import Literal, Optional\nchannel: Literal["sms", "wa"] = "sms"\n'
        "level: Optional[Literal[1, 2]] = None",
    )
    props = Recipe.load(ws / "projects/p/lit.ipynb", "p/lit.ipynb").schema["properties"]
    assert props["channel"]["type"] == "string" and props["channel"]["enum"] == ["sms", "wa"]
    assert props["level"]["type"] == ["integer", "null"]
    assert props["level"]["enum"] == [1, 2, None]
    for command in (("run", "p/lit"), ("settings", "p/lit")):
        result = cli(*command, "-p", "channel", "email", "--json")
        assert result.exit_code == 2, result.output
        error = json.loads(result.stdout)["error"]
        assert error["field"] == "channel"
        assert '"email" is not one of' in error["message"]
        assert '"sms", "wa"' in error["fix"]
    assert json.loads(cli("settings", "p/lit", "-p", "level", "2", "--json").stdout)[
        "parameters"
    ] == {"level": 2}
    assert job_rows(ws) == 0


def test_a_phone_that_is_not_e164_is_refused_with_an_example(ws: Path, cli) -> None:
    """A parameter refined with the E.164 pattern was refused with the raw regular
    expression and "satisfy the recipe's parameter schema" as its fix."""
    from lpstudio.sdk import E164_PATTERN

    write_recipe(
        ws,
        "p/phone",
        parameters='phone: str = "+14155550100"  # who to text',
        metadata={"title": "P", "parameters": {"phone": {"pattern": E164_PATTERN}}},
    )
    result = cli("run", "p/phone", "-p", "phone", "415 555 0100", "--json")
    assert result.exit_code == 2, result.output
    error = json.loads(result.stdout)["error"]
    assert error["field"] == "phone"
    assert "E.164" in error["message"] and "+14155550100" in error["fix"]
    assert "[0-9]" not in error["message"]
    assert job_rows(ws) == 0


def test_a_phone_pattern_of_the_recipe_s_own_is_not_called_e164(ws: Path, cli) -> None:
    """A pattern that starts as E.164's but wants a space after the country code refused a
    valid E.164 number as "no E.164 number", its fix the very value typed."""
    pattern = "^\\+[1-9][0-9]{0,2} [0-9]{4,12}$"
    write_recipe(
        ws,
        "p/spaced",
        parameters='phone: str = "+44 7700900123"  # with a space',
        metadata={"title": "P", "parameters": {"phone": {"pattern": pattern}}},
    )
    result = cli("run", "p/spaced", "-p", "phone", "+447700900123", "--json")
    assert result.exit_code == 2, result.output
    error = json.loads(result.stdout)["error"]
    assert error["field"] == "phone"
    assert "E.164" not in error["message"], error
    assert error["fix"] == f"give a value that matches the regular expression {pattern}"
    assert job_rows(ws) == 0


def test_two_parameters_cells_are_refused(ws: Path, cli) -> None:
    """papermill injects after the first one only: the second silently undid a value given."""
    path = write_recipe(ws, "p/two", parameters="n: int = 1")
    nb = nbformat.read(path, as_version=4)
    second = nbformat.v4.new_code_cell("n = 3")
    second.metadata.tags = ["parameters"]
    nb.cells.append(second)
    nbformat.write(nb, path)
    result = cli("run", "p/two", "-p", "n", "2", "--json")
    assert result.exit_code == 2, result.output
    error = json.loads(result.stdout)["error"]
    assert error["field"] == "parameters"
    assert "2 cells tagged 'parameters'" in error["message"] and "cells 1 and 4" in error["message"]
    assert "remove the tag" in error["fix"]
    assert job_rows(ws) == 0


def test_a_kernel_that_is_not_installed_is_refused_before_any_job(ws: Path, cli) -> None:
    """A job was made and failed (exit 1) with jupyter_client's NoSuchKernel."""
    path = write_recipe(ws, "p/kern")
    nb = json.loads(path.read_text())
    nb["metadata"]["kernelspec"]["name"] = "nosuchkernel"
    path.write_text(json.dumps(nb))
    result = cli("run", "p/kern", "--json")
    assert result.exit_code == 2, result.output
    error = json.loads(result.stdout)["error"]
    assert error["field"] == "metadata.kernelspec.name"
    assert "nosuchkernel" in error["message"] and "python3" in error["fix"]
    assert job_rows(ws) == 0
    assert not (ws / "history").exists() or not any((ws / "history").rglob("*.ipynb"))


def test_the_items_of_a_typed_list_or_dict_are_checked_before_any_job(ws: Path, cli) -> None:
    """`ids: list[int]` took `-p ids '["7", "x"]'` and the job ran with text in it."""
    write_recipe(
        ws,
        "p/items",
        parameters="from typing import Literal, Optional\n"
        "ids: list[int] = [1]\n"
        "limits: dict[str, float] = {}\n"
        "pair: tuple[str, int] = ('a', 1)\n"
        'channels: list[Literal["sms", "wa"]] = ["sms"]\n'
        "maybe: list[Optional[int]] = []",
    )
    props = Recipe.load(ws / "projects/p/items.ipynb", "p/items.ipynb").schema["properties"]
    assert props["ids"]["items"] == {"type": "integer"}
    assert props["limits"]["additionalProperties"] == {"type": "number"}
    assert props["maybe"]["items"] == {"type": ["integer", "null"]}
    refused = {
        "ids": ('["7", "x"]', "ids.0", "an integer"),
        "limits": ('{"a": "lots"}', "limits.a", "a number"),
        "pair": ('["a", "b"]', "pair.1", "an integer"),
        "channels": ('["email"]', "channels.0", '"sms", "wa"'),
    }
    for name, (value, where, wanted) in refused.items():
        for command in ("run", "settings"):
            result = cli(command, "p/items", "-p", name, value, "--json")
            assert result.exit_code == 2, result.output
            error = json.loads(result.stdout)["error"]
            assert error["field"] == where, error
            assert wanted in error["message"] + error["fix"], error
    shown = json.loads(
        cli(
            "settings", "p/items", "-p", "ids", "[2, 3]", "-p", "maybe", "[null, 4]", "--json"
        ).stdout
    )["parameters"]
    assert shown == {"ids": [2, 3], "maybe": [None, 4]}
    # A whole number given for a float item keeps the declared type (the job got an int).
    saved = cli("settings", "p/items", "-p", "limits", '{"a": 1, "b": 2.5}', "--json")
    limits = json.loads(saved.stdout)["parameters"]["limits"]
    assert limits == {"a": 1.0, "b": 2.5} and type(limits["a"]) is float
    assert job_rows(ws) == 0


def test_a_list_s_fix_gives_an_example_its_items_type_takes(ws: Path, cli) -> None:
    """`counts: list[int]` given `3` was told "for example: ["a", "b"]", refused in turn."""
    write_recipe(
        ws,
        "p/lists",
        parameters="from datetime import date\n"
        "counts: list[int] = [1]\n"
        "ratios: list[float] = [0.5]\n"
        "flags: list[bool] = [True]\n"
        "days: list[date] = []\n"
        "pair: tuple[str, int] = ('a', 1)",
    )
    examples = {
        "counts": "[1, 2]",
        "ratios": "[1.5, 2]",
        "flags": "[true, false]",
        "days": '["2026-11-29"]',
        "pair": '["a", 1]',
    }
    for name, example in examples.items():
        result = cli("settings", "p/lists", "-p", name, "3", "--json")
        assert result.exit_code == 2, result.output
        fix = json.loads(result.stdout)["error"]["fix"]
        assert fix == f"pass a list, for example: {example}", fix
        taken = cli("settings", "p/lists", "-p", name, example, "--json")
        assert taken.exit_code == 0, taken.output
    schema = Recipe.load(ws / "projects/p/lists.ipynb", "p/lists.ipynb").schema
    with pytest.raises(ParameterError) as typed:  # a body's string, as REST sends it
        coerce(schema, {"counts": "1,2"})
    assert typed.value.fix == "give a list, not a string, for example: [1, 2]"


def test_a_mapping_s_fix_gives_an_example_its_values_type_takes(ws: Path, cli) -> None:
    """`limits: dict[str, int]` given `3` was told "for example: {"key": "value"}", refused
    in turn."""
    write_recipe(ws, "p/maps", parameters="limits: dict[str, int] = {}\nnotes: dict = {}")
    for name, example in (("limits", '{"key": 1}'), ("notes", '{"key": "value"}')):
        result = cli("settings", "p/maps", "-p", name, "3", "--json")
        assert result.exit_code == 2, result.output
        fix = json.loads(result.stdout)["error"]["fix"]
        assert fix == f"pass a mapping (JSON object), for example: {example}", fix
        taken = cli("settings", "p/maps", "-p", name, example, "--json")
        assert taken.exit_code == 0, taken.output


def test_a_path_parameter_leading_out_of_projects_is_refused_before_any_job(ws: Path, cli) -> None:
    """`-p invoices_csv ../../secret.key` (or `/etc/passwd`) started a job that read it."""
    write_recipe(
        ws,
        "billing/paths",
        parameters="from pathlib import Path\n"
        'data: Path = "invoices.csv"  # a CSV next to the recipe\n'
        "extra: Path | None = None",
        cells=("print(open(data).read())",),
    )
    (ws / "projects/billing/invoices.csv").write_text("id\n1\n")
    props = Recipe.load(ws / "projects/billing/paths.ipynb", "billing/paths.ipynb").schema
    assert props["properties"]["data"]["type"] == "string"
    assert props["properties"]["data"]["format"] == "path"
    # pandas (and fsspec) read `~` as the home folder and `file:`, `http://`... as URLs: the
    # folder check took `~/../WS/secret.key` for a folder named `~` under projects/.
    home_key = f"~/{os.path.relpath(ws / 'secret.key', Path.home())}"
    for wrong in (
        "../../secret.key",
        "/etc/passwd",
        "../../lpstudio.toml",
        " ",
        home_key,
        "file:///etc/passwd",
        "file:/etc/passwd",
        "http://127.0.0.1:9/x.csv",
    ):
        for command in ("run", "settings"):
            result = cli(command, "billing/paths", "-p", "data", wrong, "--json")
            assert result.exit_code == 2, result.output
            error = json.loads(result.stdout)["error"]
            assert error["field"] == "data", error
            assert "for example: data/invoices.csv" in error["fix"], error
    (ws / "projects/shared").mkdir()
    for right in ("invoices.csv", "../shared/list.csv", "./sub/../invoices.csv"):
        saved = cli("settings", "billing/paths", "-p", "data", right, "--json")
        assert saved.exit_code == 0, saved.output
        assert json.loads(saved.stdout)["parameters"]["data"] == right
    assert cli("settings", "billing/paths", "-p", "extra", "None", "--json").exit_code == 0
    assert job_rows(ws) == 0


def test_a_path_default_is_shown_as_its_path_text(ws: Path, cli) -> None:
    """`src: Path = Path("leads.csv")` showed its default as `null`; unannotated, it was
    not even known to be a path."""
    write_recipe(
        ws,
        "crm/pathuse",
        parameters="import pathlib\nfrom pathlib import Path\n"
        'src: Path = Path("leads.csv")  # input\n'
        'out = pathlib.PurePath("out", "report.csv")\nkept = Path(7)',
    )

    shown = cli("settings", "crm/pathuse")
    props = Recipe.load(ws / "projects/crm/pathuse.ipynb", "crm/pathuse.ipynb").schema

    assert shown.exit_code == 0, shown.output
    assert '  src = "leads.csv"  [string, default]  # input' in shown.output.splitlines()
    assert props["properties"]["out"]["format"] == "path"
    assert props["properties"]["out"]["default"] == "out/report.csv"
    assert "default" not in props["properties"]["kept"]  # Path(7) fails in the kernel too
    refused = cli("settings", "crm/pathuse", "-p", "out", "../../secret.key", "--json")
    assert refused.exit_code == 2 and json.loads(refused.stdout)["error"]["field"] == "out"


def test_paths_inside_a_list_or_dict_are_kept_under_projects_too(ws: Path, cli) -> None:
    """`files: list[Path]` took `["/etc/passwd"]`: only a top-level Path was checked."""
    write_recipe(
        ws,
        "billing/many",
        parameters="import pathlib\nfiles: list[pathlib.Path] = []\n"
        "named: dict[str, pathlib.Path] = {}",
        cells=("print(files, named)",),
    )
    for name, given, where in (
        ("files", '["ok.csv", "/etc/passwd"]', "files.1"),
        ("named", '{"a": "../../secret.key"}', "named.a"),
    ):
        result = cli("settings", "billing/many", "-p", name, given, "--json")
        assert result.exit_code == 2, result.output
        error = json.loads(result.stdout)["error"]
        assert error["field"] == where and "projects/" in error["fix"], error
    saved = cli("settings", "billing/many", "-p", "files", '["a.csv", "sub/b.csv"]', "--json")
    assert saved.exit_code == 0, saved.output


def test_body_variables_that_skip_a_number_are_refused_before_any_job(ws: Path, cli) -> None:
    """`{"2": "..."}` without `{{1}}` started a job that LivePerson refused recipient by
    recipient (MISSING_VARIABLE=1)."""
    write_recipe(ws, "p/vars", parameters='body_variables: dict = {"1": "Hi"}')
    for given, missing in (('{"2": "Hi"}', "{{1}}"), ('{"1": "a", "3": "b"}', "{{2}}")):
        for command in ("run", "settings"):
            result = cli(command, "p/vars", "-p", "body_variables", given, "--json")
            assert result.exit_code == 2, result.output
            error = json.loads(result.stdout)["error"]
            assert error["field"] == "body_variables", error
            assert missing in error["message"] and "none skipped" in error["fix"], error
    for odd in ('{"0": "a", "1": "b"}', '{"01": "a"}'):  # "0" read "has {{1}} but no {{1}}"
        result = cli("settings", "p/vars", "-p", "body_variables", odd, "--json")
        assert result.exit_code == 2, result.output
        assert "1, 2..." in json.loads(result.stdout)["error"]["message"]
    superscript = cli("settings", "p/vars", "-p", "body_variables", '{"\u00b2": "a"}', "--json")
    assert superscript.exit_code in (0, 2) and "Traceback" not in superscript.output
    for right in ("{}", '{"1": "a", "2": "b"}'):
        saved = cli("settings", "p/vars", "-p", "body_variables", right, "--json")
        assert saved.exit_code == 0, saved.output
    assert job_rows(ws) == 0


@pytest.mark.parametrize("annotation", ["Decimal", "pd.Timestamp", "list[int] | str"])
def test_an_annotation_lpstudio_cannot_check_is_refused_naming_the_parameter(
    ws: Path, cli, annotation: str
) -> None:
    """Such a parameter took any text (`-p amount abc` ran the job)."""
    write_recipe(ws, "p/ann", parameters=f"n: int = 1\namount: {annotation} = 1  # money")
    result = cli("settings", "p/ann", "-p", "n", "2", "--json")
    assert result.exit_code == 2, result.output
    error = json.loads(result.stdout)["error"]
    assert error["field"] == "parameters.amount"
    assert annotation in error["message"]
    assert "Literal[" in error["fix"] and "| None" in error["fix"]
    assert job_rows(ws) == 0


def test_annotations_papermill_leaves_open_stay_open(ws: Path) -> None:
    write_recipe(ws, "p/any", parameters="from typing import Any\na: Any = 1\nb: object = 'x'")
    props = Recipe.load(ws / "projects/p/any.ipynb", "p/any.ipynb").schema["properties"]
    assert "type" not in props["a"] and "type" not in props["b"]


# -- what a webhook recipe takes: its trigger's input schema ---------------------------------

LEAD_SCHEMA = {
    "type": "object",
    "properties": {
        "phone": {
            "type": "string",
            "pattern": E164_PATTERN,
            "description": "E.164 phone number, such as +14155550100",
        },
        "first_name": {"type": "string"},
    },
}


def lead_hook(ws: Path, **trigger: Any) -> str:
    """A webhook recipe p/lead taking leads of `LEAD_SCHEMA`; its name."""
    write_recipe(
        ws,
        "p/lead",
        metadata={
            "title": "Lead",
            "trigger": {"kind": "webhook", "input_schema": LEAD_SCHEMA, **trigger},
            "connections": {"http": {"type": "http"}} if trigger else {},
        },
    )
    return "p/lead.ipynb"


@pytest.mark.parametrize(
    ("kind", "schema", "field", "reason"),
    [
        ("webhook", {"input_schema": {"type": "objekt"}}, "input_schema.type", '"objekt"'),
        (
            "webhook",
            {"input_schema": {"properties": {"phone": {"pattern": "+1["}}}},
            "input_schema.properties.phone.pattern",
            "regex",
        ),
        ("callable", {"input_schema": {"required": "n"}}, "input_schema.required", "'array'"),
        ("callable", {"response_schema": {"minProperties": -1}}, "response_schema", "-1"),
        (  # every delivery failed with jsonschema's PointerToNowhere: 500 to the sender
            "webhook",
            {"input_schema": {"properties": {"phone": {"$ref": "#/$defs/phone"}}}},
            "input_schema.properties.phone.$ref",
            "leads nowhere",
        ),
        (
            "callable",
            {"input_schema": {"$ref": "https://example.com/lead.json"}},
            "input_schema.$ref",
            "leads nowhere",
        ),
        (  # a property named like a data keyword is still a schema
            "webhook",
            {"input_schema": {"properties": {"default": {"$ref": "#/$defs/gone"}}}},
            "input_schema.properties.default.$ref",
            "leads nowhere",
        ),
    ],
)
def test_a_trigger_schema_that_is_not_json_schema_is_refused_at_load(
    ws: Path, cli, kind: str, schema: dict, field: str, reason: str
) -> None:
    """Every event (or answer) would otherwise meet jsonschema's own error at run time, after
    the sender was told the delivery was taken."""
    field = f"metadata.lpstudio.trigger.{field}"
    write_recipe(ws, "p/schema", metadata={"title": "T", "trigger": {"kind": kind, **schema}})
    result = cli("run", "p/schema", "--test", "--json")
    assert result.exit_code == 2, result.output
    error = json.loads(result.stdout)["error"]
    assert error["field"].startswith(field), error
    assert reason in error["message"] and error["field"] in error["fix"]
    assert job_rows(ws) == 0
    rows = {row["recipe"]: row for row in json.loads(cli("recipes", "--json").stdout)}
    assert field in rows["p/schema.ipynb"]["problem"]


@pytest.mark.parametrize(
    "schema",
    [
        {"properties": {"p": {"$ref": "#phone"}}, "$defs": {"d": {"$anchor": "phone"}}},
        {"properties": {"p": {"$ref": "urn:x:phone"}}, "$defs": {"d": {"$id": "urn:x:phone"}}},
        {"properties": {"p": {"type": "object", "default": {"$ref": "#/nowhere"}}}},
        {"properties": {"s": {"$ref": "https://json-schema.org/draft/2020-12/schema"}}},
        {"properties": {"p": {"$id": "urn:y:p", "$defs": {"b": {}}, "$ref": "#/$defs/b"}}},
    ],
    ids=["anchor", "embedded-id", "ref-in-a-default", "meta-schema", "relative-to-an-id"],
)
def test_a_trigger_schema_whose_refs_jsonschema_follows_loads(ws: Path, schema: dict) -> None:
    """The check of `$ref`s at load refused references jsonschema follows."""
    trigger = {"kind": "webhook", "input_schema": {"type": "object", **schema}}
    write_recipe(ws, "p/refs", metadata={"title": "refs", "trigger": trigger})
    with Studio.open(ws, user="alice") as studio:
        assert studio.recipe("p/refs").trigger_kind == "webhook"


def test_a_delivery_that_does_not_fit_the_input_schema_queues_nothing(ws: Path) -> None:
    name = lead_hook(ws)
    with Studio.open(ws, user="alice") as studio:
        hook = studio.webhook_id(name)
        delivery = {"X-Webhook-Id": "lead-1"}
        bad = {"first_name": "Kim", "phone": "0415 555 0142"}
        with pytest.raises(InputError) as refused:
            studio.receive_webhook(hook, delivery, json.dumps(bad).encode())
        assert refused.value.field == "phone"
        assert "0415 555 0142" in refused.value.message
        assert "nothing was queued" in refused.value.message
        assert "+14155550100" in (refused.value.fix or "")
        assert studio.jobs() == []

        # Nothing was claimed: the sender's corrected redelivery, same id, is queued.
        good = json.dumps({**bad, "phone": "+61415550142"}).encode()
        _, jobs, repeated = studio.receive_webhook(hook, delivery, good)
        assert len(jobs) == 1 and not repeated

        # One bad item of a list refuses the whole delivery, naming the item.
        items = [{"phone": "+14155550100"}, {"phone": "+14155550101"}, {"phone": 14155550102}]
        with pytest.raises(InputError) as refused:
            studio.receive_webhook(hook, {}, json.dumps(items).encode())
        assert refused.value.field == "2.phone"
        with pytest.raises(InputError, match="first_name"):
            studio.receive_webhook(hook, {}, b'[{"first_name": ["Kim"]}]')
        assert [job.event for job in studio.jobs()] == [{**bad, "phone": "+61415550142"}]


def test_a_redelivery_of_a_queued_delivery_is_repeated_after_the_schema_tightened(
    ws: Path,
) -> None:
    """The sender's retry of a delivery that was queued got 400 once the recipe's schema
    refused what it had taken: the sender took its delivery for refused."""
    write_recipe(ws, "p/lead", metadata={"title": "Lead", "trigger": {"kind": "webhook"}})
    delivery, body = {"X-Webhook-Id": "lead-7"}, b'{"phone": "0415 555 0142"}'
    with Studio.open(ws, user="alice") as studio:
        hook = studio.webhook_id("p/lead.ipynb")
        _, jobs, repeated = studio.receive_webhook(hook, delivery, body)
        assert len(jobs) == 1 and not repeated
    lead_hook(ws)  # the same recipe, now taking E.164 phones only
    with Studio.open(ws, user="alice") as studio:
        _, again, repeated = studio.receive_webhook(hook, delivery, body)
        assert repeated and [job.id for job in again] == [jobs[0].id]
        with pytest.raises(InputError, match="phone"):  # a new delivery is checked
            studio.receive_webhook(hook, {"X-Webhook-Id": "lead-8"}, body)
        assert len(studio.jobs()) == 1


def test_an_event_given_by_hand_must_fit_the_input_schema(ws: Path, cli) -> None:
    name = lead_hook(ws)
    bad = '{"first_name": "Kim", "phone": "0415 555 0142"}'
    for test in ((), ("--test",)):
        result = cli("run", "p/lead", "--event", bad, *test, "--json")
        assert result.exit_code == 2, result.output
        error = json.loads(result.stdout)["error"]
        assert error["field"] == "--event"  # the option typed, as every refusal of the CLI names
        assert "phone" in error["message"] and "0415 555 0142" in error["message"], error
        assert "+14155550100" in error["fix"]
    with Studio.open(ws, user="alice") as studio:
        for start in (studio.run, studio.dispatch):
            with pytest.raises(InputError) as refused:
                start(name, event=json.loads(bad))
            assert refused.value.field == "event.phone"
        with pytest.raises(InputError) as refused:
            studio.run(name, event={"phone": "+14155550100", "first_name": 7}, test=True)
        assert refused.value.field == "event.first_name"
        assert studio.jobs() == []


def test_a_refused_signature_names_the_header_the_sender_signed_in(ws: Path) -> None:
    """It was always X-Lpstudio-Signature: a Shopify or GitHub sender was told to fix a
    header it never sent."""
    name = lead_hook(ws, connection="http", trigger="webhook")
    body = b'{"phone": "+14155550100"}'
    with Studio.open(ws, user="alice") as studio:
        studio.connections.add("http", "http", {"token": "hook-secret"}, "alice")
        hook = studio.webhook_id(name)
        for sent in ("X-Shopify-Hmac-Sha256", "x-hub-signature-256", "X-Lpstudio-Signature"):
            with pytest.raises(InputError) as refused:
                studio.receive_webhook(hook, {sent: "sha256=00"}, body)
            assert refused.value.field.lower() == sent.lower()
            assert "signature" in refused.value.message
        with pytest.raises(InputError) as refused:
            studio.receive_webhook(hook, {"X-Webhook-Id": "unsigned"}, body)
        assert refused.value.field == "X-Lpstudio-Signature"
        assert studio.jobs() == []


def test_a_settings_save_back_to_earlier_values_lists_that_version_newest(ws: Path) -> None:
    """As a JupyterLab save back to earlier content does: the top of `lpstudio versions`
    showed the values undone, and an admin restoring "the one before" picked the current."""
    write_recipe(ws, "p/set", "n: int = 1")
    for n in ("5", "6", "5"):
        saved = run_cli("settings", "p/set", "-p", "n", n, "--workspace", str(ws))
        assert saved.returncode == 0, saved.stderr
    code, versions = run_json("versions", "p/set", "--workspace", str(ws))
    assert code == 0 and len(versions) == 2, versions
    with Studio.open(ws, user="alice") as studio:
        newest = studio.store.version_settings(versions[0]["id"])
    assert newest["parameters"] == {"n": 5}, versions


@pytest.mark.parametrize(
    "heading",
    ["# Parameters", "# parameters cell", "# default parameters", "# Papermill parameters:"],
)
def test_a_comment_heading_the_parameters_cell_is_no_parameters_help(
    ws: Path, cli, heading: str
) -> None:
    """`# Parameters` atop the cell, as papermill's docs write it, was shown as the first
    parameter's help; help written below it, or at the top when it is help, stays help."""
    cell = f'{heading}\n# the handoff to send with\nhandoff = "H123"\nskill = "sales"'
    write_recipe(ws, "p/heading", parameters=cell)
    write_recipe(ws, "p/alone", parameters=f'{heading}\nskill = "sales"')
    write_recipe(ws, "p/helped", parameters='# parameters of the skill\nskill = "sales"')

    shown = cli("settings", "p/heading")
    assert shown.exit_code == 0, shown.output
    assert 'handoff = "H123"  [string, default]  # the handoff to send with\n' in shown.output
    assert 'skill = "sales"  [string, default]\n' in shown.output
    alone = cli("settings", "p/alone").output
    assert 'skill = "sales"  [string, default]\n' in alone, alone
    helped = cli("settings", "p/helped").output
    assert 'skill = "sales"  [string, default]  # parameters of the skill\n' in helped, helped
