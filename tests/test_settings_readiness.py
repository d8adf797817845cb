"""Saved settings a job could not run with say so wherever they are shown, by the rule a
job's parameters go through (`check_defaults`): a parameter declared with no value, or
whose default the recipe's refinements refuse, showed as `null [integer, default]` in
`lpstudio settings`, `settings_problem` was null and the form's Save said only "saved",
while Start refused. An emptied form field stores nothing, saved value or not (it saved
""). A refinement keyword that is no JSON Schema keyword (`minimun`) is refused when the
recipe is read (it was ignored: the recipe ran unrefined)."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import pytest

from lpstudio.settings import saved_settings
from lpstudio.studio import Studio
from lpstudio.widgets import RecipeForm
from tests.conftest import job_rows, write_recipe
from tests.servers import call_recipe

SCHEDULE = {
    "title": "S",
    "trigger": {"kind": "schedule", "cron": "0 9 * * *", "timezone": "UTC"},
}
CELL = 'days: int  # how far back\nname: str = "sales"  # a text'
NEEDS_DAYS = "parameter 'days' of lab/sched.ipynb needs a value"


def sched(ws: Path) -> None:
    """The analyst's schedule recipe: `days` declared with no value, `name` with one."""
    write_recipe(ws, "lab/sched", CELL, ("print(days)",), SCHEDULE)


def floor(ws: Path) -> None:
    """A recipe whose default its own refinement refuses."""
    metadata = {"title": "F", "parameters": {"x": {"minimum": 5}}}
    cell = "import datetime\nx: int = 1  # at least 5\nday = datetime.date.today().isoformat()"
    write_recipe(ws, "lab/floor", cell, ("print(x)",), metadata)


def answered(result: Any, code: int) -> Any:
    assert result.exit_code == code, result.output
    return json.loads(result.stdout)


def shown(value: str) -> str:
    return html.unescape(value)


# -- 1. what is not ready, said where settings are shown -----------------------------------


def test_settings_says_a_parameter_without_a_value_is_not_ready(ws: Path, cli: Any) -> None:
    sched(ws)
    said = cli("settings", "lab/sched")
    assert said.exit_code == 0, said.output
    assert "  days = (none: required)  [integer]  # how far back" in said.output, said.output
    assert "days = null" not in said.output
    assert '  name = "sales"  [string, default]  # a text' in said.output
    assert f"not ready:   {NEEDS_DAYS}" in said.output, said.output
    # The very refusal Start makes: one rule.
    refused = answered(cli("start", "lab/sched", "--json"), 2)["error"]
    problem = answered(cli("settings", "lab/sched", "--json"), 0)["settings_problem"]
    assert problem == refused and problem["field"] == "days", (problem, refused)

    saved = answered(cli("settings", "lab/sched", "-p", "days", "3", "--json"), 0)
    assert "settings_problem" not in saved and saved["parameters"] == {"days": 3}, saved
    said = cli("settings", "lab/sched")
    assert "  days = 3  [integer, saved]" in said.output and "not ready" not in said.output
    assert cli("start", "lab/sched").exit_code == 0
    assert job_rows(ws) == 0


def test_settings_says_a_default_the_refinements_refuse_is_not_ready(ws: Path, cli: Any) -> None:
    floor(ws)
    said = cli("settings", "lab/floor")
    assert "  x = 1  [integer, default refused: give a value]  # at least 5" in said.output
    assert "not ready:   parameter 'x'" in said.output, said.output
    assert "  day = (computed by the notebook)  [any, default]" in said.output, said.output
    refused = answered(cli("run", "lab/floor", "--json"), 2)["error"]
    problem = answered(cli("settings", "lab/floor", "--json"), 0)["settings_problem"]
    assert problem == refused and problem["field"] == "x", (problem, refused)
    assert cli("settings", "lab/floor", "-p", "x", "5").exit_code == 0
    said = cli("settings", "lab/floor")
    assert "  x = 5  [integer, saved]" in said.output and "not ready" not in said.output
    assert job_rows(ws) == 0


def test_settings_marks_every_default_refused_at_once_not_the_first_alone(
    ws: Path, cli: Any
) -> None:
    """A parameter needing a value and a default its refinements refuse: `lpstudio settings`
    named the first problem alone, and the other showed as a plain default until the first
    was mended."""
    write_recipe(
        ws,
        "lab/two",
        parameters='days: int  # how far back\nname: str = ""  # a name',
        metadata={"title": "two", "parameters": {"name": {"minLength": 1}}},
    )
    said = cli("settings", "lab/two")
    assert said.exit_code == 0, said.output
    assert "  days = (none: required)  [integer]" in said.output, said.output
    assert '  name = ""  [string, default refused: give a value]  # a name' in said.output


async def test_the_rest_recipe_names_the_settings_problem(jp_fetch: Any, ws: Path) -> None:
    """The lab's Settings panel shows `settings_problem` as the API gives it."""
    sched(ws)

    async def fetch(method: str, body: Any = None, *path: str) -> dict[str, Any]:
        answer = await jp_fetch(
            *("lpstudio", "api", "v1", "recipes", "lab", "sched.ipynb", *path),
            method=method,
            body=None if body is None else json.dumps(body),
            headers={"X-Test-User": "alice"},
        )
        return dict(json.loads(answer.body))

    found = await fetch("GET")
    problem = found["settings_problem"]
    assert problem is not None and problem["field"] == "days", found
    assert problem["message"].startswith(NEEDS_DAYS), problem
    body = {"parameters": {"days": 3}, "revision": found["revision"]}
    saved = await fetch("PUT", body, "settings")
    assert saved["settings_problem"] is None, saved
    assert saved["settings"]["parameters"] == {"days": 3}, saved


def test_the_form_says_why_and_save_says_it_cannot_run_yet(studio: Studio, ws: Path) -> None:
    sched(ws)
    form = RecipeForm("lab/sched", studio)
    box = shown(form.problem.value)
    assert f"incomplete: {NEEDS_DAYS}" in box, box
    assert "fix: set days below, then Save" in box, box
    assert form.save() is True, form.status.value
    status = shown(form.status.value)
    assert "cannot run yet" in status and NEEDS_DAYS in status, status

    form.fields["days"].input.value = "3"
    assert form.save() is True, form.status.value
    status = shown(form.status.value)
    assert status.endswith(">saved by alice</span>") and form.problem.value == "", status
    form.close()

    floor(ws)
    form = RecipeForm("lab/floor", studio)
    box = shown(form.problem.value)
    assert "incomplete: parameter 'x'" in box and "at least 5" in box, box
    form.close()


# -- 2. an emptied field stores nothing ----------------------------------------------------


@pytest.mark.parametrize("before", [None, "billing"], ids=["nothing-saved", "saved"])
def test_an_emptied_field_stores_nothing(studio: Studio, ws: Path, before: str | None) -> None:
    sched(ws)
    studio.save_settings("lab/sched", {"days": 3, **({"name": before} if before else {})})
    form = RecipeForm("lab/sched", studio)
    form.fields["name"].input.value = ""
    assert form.save() is True, form.status.value
    assert saved_settings(studio.store, "lab/sched.ipynb")["parameters"] == {"days": 3}
    assert form.fields["name"].raw == "sales"  # the notebook's default stands, and shows
    form.close()


def test_an_empty_text_saved_elsewhere_is_kept_by_a_save(studio: Studio, ws: Path) -> None:
    """Shown as saved (the user left it), "" is the saved value, not an emptied field."""
    sched(ws)
    studio.save_settings("lab/sched", {"days": 3, "name": ""})
    form = RecipeForm("lab/sched", studio)
    assert form.fields["name"].raw == ""
    assert form.save() is True, form.status.value
    saved = saved_settings(studio.store, "lab/sched.ipynb")["parameters"]
    assert saved == {"days": 3, "name": ""}, saved
    form.close()


# -- 3. a misspelt refinement keyword --------------------------------------------------------


@pytest.mark.parametrize(
    ("keyword", "meant"),
    [("minimun", "minimum"), ("x-picklst", "x-picklist"), ("maxLenght", "maxLength")],
)
def test_a_misspelt_refinement_keyword_is_refused_naming_it(
    ws: Path, cli: Any, keyword: str, meant: str
) -> None:
    metadata = {"title": "M", "parameters": {"x": {keyword: 5}}}
    write_recipe(ws, "lab/typo", "x: int = 1", ("print(x)",), metadata)
    error = answered(cli("run", "lab/typo", "--json"), 2)["error"]
    where = f"metadata.lpstudio.parameters.x.{keyword}"
    assert error["field"] == where, error
    assert where in error["message"] and "would be ignored" in error["message"], error
    assert f"rename '{keyword}' to '{meant}'" in error["fix"], error
    (row,) = answered(cli("recipes", "--json"), 0)
    assert row["problem"] and where in row["problem"], row
    assert job_rows(ws) == 0


def test_keywords_lpstudio_applies_are_taken(ws: Path, cli: Any) -> None:
    """JSON Schema's validation and annotation keywords, its applicators, and lpstudio's own."""
    refinements = {
        "x": {
            "minimum": 0,
            "title": "X",
            "description": "a number",
            "examples": [3],
            "default": 1,
            "deprecated": False,
            "$comment": "why",
        },
        "body_template": {"x-template": True, "format": "text", "anyOf": [{"minLength": 1}]},
    }
    metadata = {"title": "K", "parameters": refinements}
    write_recipe(ws, "lab/keys", "x: int = 1\nbody_template: str = 'hi'", ("print(x)",), metadata)
    (row,) = answered(cli("recipes", "--json"), 0)
    assert row["problem"] is None, row
    assert cli("settings", "lab/keys").exit_code == 0


ACME = """from lpstudio.sdk import Connector, Field

connector = Connector("acme", title="Acme", fields=[Field("base_url", "URL")])


@connector.test
def test(conn):
    return "ok"
"""


async def test_a_slot_whose_connector_stopped_loading_is_not_ready_wherever_shown(
    jp_fetch: Any, ws: Path, cli: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A started callable whose workspace connector broke since: `lpstudio recipes` and
    `GET /recipes` said why it is broken, and run and start refused, but its detail's
    `settings_problem` was null, `lpstudio settings` said nothing was wrong, and the server's
    log did not say which recipe a bot's call found not ready (the bot is told the field,
    and to retry: the workspace's files are its admin's)."""
    (ws / "connectors").mkdir()
    (ws / "connectors" / "acme.py").write_text(ACME)
    trigger = {"kind": "callable", "path": "lead"}
    metadata = {"title": "lead", "trigger": trigger, "connections": {"acme": {"type": "acme"}}}
    write_recipe(ws, "crm/lead", "x: int = 1", ("print(x)",), metadata)
    with Studio.open(ws, user="alice") as studio:
        studio.connections.add("acme", "acme", {"base_url": "https://acme.test"}, "alice")
        studio.start("crm/lead.ipynb")
        _, bot = studio.api_clients.create("bot", ["*"], 1000)
    with (ws / "connectors" / "acme.py").open("a") as broken:
        broken.write("def broken(:\n")
    wanted = "correct the connector's code: line 9 of connectors/acme.py"

    listed = answered(cli("recipes", "--json"), 0)
    (row,) = [r for r in listed if r["recipe"] == "crm/lead.ipynb"]
    refused = answered(cli("start", "crm/lead", "--json"), 2)["error"]
    problem = answered(cli("settings", "crm/lead", "--json"), 0)["settings_problem"]
    said = cli("settings", "crm/lead").output
    answer = await jp_fetch(
        "lpstudio", "api", "v1", "recipes", "crm", "lead.ipynb", headers={"X-Test-User": "alice"}
    )
    detail = json.loads(answer.body)["settings_problem"]
    status, called = await call_recipe(jp_fetch, "lead", {}, bot)

    assert problem == refused and problem["field"] == "connections.acme", problem
    assert problem["message"].startswith("slot 'acme' needs the acme connector, which does "), (
        problem
    )
    assert "SyntaxError" in problem["message"] and problem["fix"] == wanted, problem
    assert row["problem"] == f"{problem['message']}\n  fix: {wanted}", row
    assert f"not ready:   {problem['message']}\n  fix: {wanted}" in said, said
    assert detail == problem, detail
    error = json.loads(called)["error"]
    assert status == 503 and error["code"] == "RecipeNotReady", called
    assert error["field"] == "connections.acme" and "acme.py" not in called, error
    logged = [r.getMessage() for r in caplog.records if "(RecipeNotReady)" in r.getMessage()]
    assert logged and "recipe crm/lead.ipynb: slot 'acme'" in logged[-1], logged
    assert logged[-1].endswith(f"fix: {wanted}"), logged


async def test_a_connection_lacking_a_field_its_upgraded_connector_requires_is_not_ready(
    jp_fetch: Any, ws: Path, cli: Any, studio: Studio
) -> None:
    """An upgrade of the connector adds a required field: the connection, whose last test
    passed, was still `connected`, `lpstudio settings` and the recipe's `settings_problem`
    said nothing, start was taken and a run queued a job that failed at once with the
    field's name; only once the connection was untested did start refuse. Its state and
    the recipe's readiness say it now, each with the command that gives the field."""
    (ws / "connectors").mkdir()
    (ws / "connectors" / "acme.py").write_text(ACME)
    metadata = {"title": "lead", "connections": {"acme": {"type": "acme"}}}
    write_recipe(ws, "crm/lead", 'email: str = "a@x.com"', ("print(email)",), metadata)
    studio.connections.add("acme", "acme", {"base_url": "https://acme.test"}, "alice")
    assert studio.connections.test("acme").status == "connected"
    upgraded = ACME.replace(
        'Field("base_url", "URL")', 'Field("base_url", "URL"), Field("seats3", "Seats3")'
    )
    (ws / "connectors" / "acme.py").write_text(upgraded)
    message = (
        "connection 'acme' has no value for field 'seats3' (Seats3), which connector acme requires"
    )
    fix = "give it with `lpstudio connections update acme --field seats3=...`"

    (listed,) = answered(cli("connections", "list", "--json"), 0)
    problem = answered(cli("settings", "crm/lead", "--json"), 0)["settings_problem"]
    said = cli("settings", "crm/lead").output
    refused = answered(cli("start", "crm/lead", "--json"), 2)["error"]
    ran = answered(cli("run", "crm/lead", "-p", "email", "s3@x.com", "--json"), 2)["error"]
    answer = await jp_fetch(
        "lpstudio", "api", "v1", "recipes", "crm", "lead.ipynb", headers={"X-Test-User": "alice"}
    )
    detail = json.loads(answer.body)["settings_problem"]
    form = RecipeForm("crm/lead", studio)
    box = shown(form.problem.value)
    form.close()

    assert (listed["status"], listed["status_message"]) == (
        "disconnected",
        f"{message}\n  fix: {fix}",
    ), listed
    wanted = {"code": "InputError", "message": message, "field": "connections.acme", "fix": fix}
    assert problem == wanted, problem
    assert refused == problem and ran == problem, (refused, ran)
    assert f"not ready:   {message}\n  fix: {fix}" in said, said
    assert detail["message"] == message, detail  # the fix in REST's terms
    assert detail["fix"].endswith('/connections/acme {"fields": {"seats3": ...}}'), detail
    assert f"incomplete: {message}" in box, box
    assert "fix: give it with Edit of acme in the Connections panel" in box, box
    assert job_rows(ws) == 0
    assert saved_settings(studio.store, "crm/lead.ipynb").get("state") != "started"

    studio.connections.update("acme", {"seats3": "3"})
    assert "settings_problem" not in answered(cli("settings", "crm/lead", "--json"), 0)


def test_a_connection_lacking_a_field_in_two_slots_is_said_once_naming_both(
    ws: Path, cli: Any, studio: Studio
) -> None:
    """The same connection filling two slots said "connection 'acme' has no value..." twice,
    with the same fix twice: once per slot it fills."""
    (ws / "connectors").mkdir()
    (ws / "connectors" / "acme.py").write_text(ACME)
    slots = {"acme": {"type": "acme"}, "backup": {"type": "acme"}}  # both filled by `acme`
    write_recipe(
        ws,
        "crm/lead",
        'email: str = "a@x.com"',
        ("print(email)",),
        {"title": "lead", "connections": slots},
    )
    studio.connections.add("acme", "acme", {"base_url": "https://acme.test"}, "alice")
    upgraded = ACME.replace(
        'Field("base_url", "URL")', 'Field("base_url", "URL"), Field("seats3", "Seats3")'
    )
    (ws / "connectors" / "acme.py").write_text(upgraded)
    message = (
        "connection 'acme' has no value for field 'seats3' (Seats3), which connector acme "
        "requires (it fills slots 'acme' and 'backup')"
    )
    fix = "give it with `lpstudio connections update acme --field seats3=...`"

    problem = answered(cli("settings", "crm/lead", "--json"), 0)["settings_problem"]
    refused = answered(cli("start", "crm/lead", "--json"), 2)["error"]

    wanted = {"code": "InputError", "message": message, "field": "connections.acme", "fix": fix}
    assert problem == wanted, problem
    assert refused == problem, refused
    assert job_rows(ws) == 0


def test_a_placeholder_in_two_slots_is_said_once_naming_both(
    ws: Path, cli: Any, studio: Studio
) -> None:
    """A placeholder filling two slots was named once per slot ("connections 'hooks'
    (slot 'inbound') and 'hooks' (slot 'outbound') are placeholders"), its fix twice; it is
    said as a connection lacking a field is: once, naming both slots."""
    slots = {"inbound": {"type": "http"}, "outbound": {"type": "http"}}  # both filled by `hooks`
    write_recipe(
        ws,
        "crm/relay",
        'email: str = "a@x.com"',
        ("print(email)",),
        {"title": "relay", "connections": slots},
    )
    with studio.store.write() as s:
        studio.connections.add_placeholder("hooks", "http", {}, ["token"], "alice", s)
    message = (
        "connection 'hooks' is a placeholder: it was imported without its secrets "
        "(it fills slots 'inbound' and 'outbound')"
    )

    problem = answered(cli("settings", "crm/relay", "--json"), 0)["settings_problem"]
    refused = answered(cli("start", "crm/relay", "--json"), 2)["error"]

    assert (problem["message"], problem["field"]) == (message, "connections.inbound"), problem
    assert problem["fix"].count("lpstudio connections update hooks --secret token") == 1, problem
    assert refused == problem, refused
    assert job_rows(ws) == 0
