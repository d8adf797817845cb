"""`metadata.lpstudio` is checked when a recipe is read: metadata that is no object, a
trigger key its kind does not read, a trigger naming a slot the recipe does not declare, a
poll or webhook trigger its slot's connector does not offer (or naming no slot), a slot of a
connector type lpstudio lacks, or a slot name no connection could have is refused
naming the field and the fix, and `lpstudio recipes` lists the recipe as broken and the
others as usual."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lpstudio.errors import RecipeError
from lpstudio.settings import saved_settings
from lpstudio.studio import Studio
from lpstudio.widgets.form import RecipeForm
from tests.conftest import job_rows, write_recipe


def write_metadata(ws: Path, name: str, lpstudio: Any) -> None:
    """A recipe whose `metadata.lpstudio` is `lpstudio` as written, whatever its JSON type."""
    path = write_recipe(ws, name)
    notebook = json.loads(path.read_text())
    notebook["metadata"]["lpstudio"] = lpstudio
    path.write_text(json.dumps(notebook))


def listed(cli: Any) -> dict[str, Any]:
    """`lpstudio recipes --json`, by recipe."""
    result = cli("recipes", "--json")
    assert result.exit_code == 0, result.output
    return {row["recipe"]: row for row in json.loads(result.stdout)}


def refused(cli: Any, *args: str) -> dict[str, Any]:
    """The error of a CLI command that must refuse (exit 2)."""
    result = cli(*args, "--json")
    assert result.exit_code == 2, result.output
    return json.loads(result.stdout)["error"]


# -- metadata.lpstudio that is no object --------------------------------------------------


@pytest.mark.parametrize(
    ("lpstudio", "said"),
    [("not a dict", "a string"), (5, "a number"), (None, "null"), (["title"], "a list")],
)
def test_metadata_that_is_no_object_breaks_its_recipe_only(
    ws: Path, cli: Any, lpstudio: Any, said: str
) -> None:
    """`lpstudio recipes` printed a traceback (dict() of a string, of 5, of null)."""
    write_metadata(ws, "lab/x", lpstudio)
    write_recipe(ws, "lab/ok")
    rows = listed(cli)
    assert rows["lab/ok.ipynb"]["problem"] is None
    problem = rows["lab/x.ipynb"]["problem"]
    assert f"metadata.lpstudio is {said}, not an object" in problem, problem
    error = refused(cli, "run", "lab/x")
    assert error["field"] == "metadata.lpstudio" and '"lpstudio": {"title"' in error["fix"]
    assert job_rows(ws) == 0


# -- trigger keys --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("trigger", "unknown", "known"),
    [
        (
            {"kind": "schedule", "cron": "0 9 * * *", "timzone": "Europe/Paris"},
            "timzone",
            "timezone",
        ),
        (
            {"kind": "poll", "connection": "shop", "trigger": "orders", "interval_minute": 5},
            "interval_minute",
            "interval_minutes",
        ),
        ({"kind": "webhook", "cron": "0 9 * * *"}, "cron", "input_schema"),
        ({"kind": "callable", "path": "bot", "input_shema": {}}, "input_shema", "input_schema"),
    ],
)
def test_a_trigger_key_its_kind_does_not_read_is_refused(
    ws: Path, cli: Any, trigger: dict[str, Any], unknown: str, known: str
) -> None:
    """It was ignored without a word: a schedule with `timzone` was listed healthy, and
    would have fired at 09:00 UTC."""
    slots = {"shop": {"type": "shopify"}}
    write_recipe(ws, "lab/x", metadata={"title": "x", "trigger": trigger, "connections": slots})
    field = f"metadata.lpstudio.trigger.{unknown}"
    problem = listed(cli)["lab/x.ipynb"]["problem"]
    assert problem is not None and f"'{unknown}'" in problem, problem
    error = refused(cli, "run", "lab/x")
    assert error["field"] == field, error
    assert f"a {trigger['kind']} trigger" in error["message"], error
    assert known in error["fix"], error


def test_every_key_each_trigger_kind_reads_is_accepted(ws: Path, cli: Any) -> None:
    schema = {"type": "object"}
    conditions = {"match": "any", "rules": [{"field": "total_price", "op": ">", "value": 5}]}
    slots = {"shop": {"type": "shopify"}, "hook": {"type": "http"}}
    triggers = {
        "manual": {"kind": "manual"},
        "schedule": {
            "kind": "schedule",
            "cron": "0 9 * * *",
            "timezone": "Europe/Paris",
            "missed_runs": "skip",
        },
        "poll": {
            "kind": "poll",
            "connection": "shop",
            "trigger": "new_or_updated_abandoned_checkout",
            "interval_minutes": 5,
            "batch_size": 10,
            "conditions": conditions,
        },
        "webhook": {
            "kind": "webhook",
            "connection": "hook",
            "trigger": "webhook",
            "input_schema": schema,
        },
        "callable": {
            "kind": "callable",
            "path": "bot",
            "input_schema": schema,
            "response_schema": schema,
        },
    }
    for kind, trigger in triggers.items():
        write_recipe(
            ws, f"lab/{kind}", metadata={"title": kind, "trigger": trigger, "connections": slots}
        )
    rows = listed(cli)
    assert {name: row["problem"] for name, row in rows.items()} == {
        f"lab/{kind}.ipynb": None for kind in triggers
    }


# -- a trigger's connection slot -----------------------------------------------------------


@pytest.mark.parametrize(
    "trigger",
    [
        {"kind": "webhook", "connection": "nosuch"},
        {"kind": "poll", "connection": "nosuch", "trigger": "new_or_updated_abandoned_checkout"},
    ],
)
def test_a_trigger_naming_a_slot_the_recipe_does_not_declare_is_refused(
    ws: Path, cli: Any, trigger: dict[str, Any]
) -> None:
    """It was listed fine and started; a webhook then refused every delivery (503), and a
    poll recipe ran by hand as if nothing were wrong."""
    metadata = {"title": "x", "trigger": trigger, "connections": {"shop": {"type": "shopify"}}}
    write_recipe(ws, "lab/x", metadata=metadata)
    field = "metadata.lpstudio.trigger.connection"
    assert field in listed(cli)["lab/x.ipynb"]["problem"]
    for command in ("run", "start"):
        error = refused(cli, command, "lab/x")
        assert error["field"] == field and "'nosuch'" in error["message"], error
        assert "shop" in error["fix"], error
    assert job_rows(ws) == 0


# -- the trigger a poll or webhook recipe reads -------------------------------------------

SHOP = "new_or_updated_abandoned_checkout"  # the Shopify connector's only poll trigger


@pytest.mark.parametrize(
    ("trigger", "field", "fixed_by"),
    [
        ({"kind": "poll", "trigger": SHOP}, "connection", "shop"),
        ({"kind": "poll", "connection": "shop"}, "trigger", SHOP),
        ({"kind": "poll", "connection": "shop", "trigger": SHOP[:-2] + "ot"}, "trigger", SHOP),
        # The LivePerson connector has no poll trigger: no connection could fill the slot.
        ({"kind": "poll", "connection": "lp", "trigger": SHOP}, "trigger", "csv_file, shopify"),
        # Unsigned deliveries were taken, the trigger's name ignored.
        ({"kind": "webhook", "trigger": "x"}, "connection", "hook"),
        ({"kind": "webhook", "connection": "hook", "trigger": "webook"}, "trigger", "webhook"),
        ({"kind": "webhook", "connection": "shop", "trigger": SHOP}, "trigger", "http"),
    ],
)
def test_a_trigger_its_slot_s_connector_does_not_offer_is_refused(
    ws: Path, cli: Any, trigger: dict[str, Any], field: str, fixed_by: str
) -> None:
    """Each was listed fine, and refused only at run, start, poll or delivery, some with a
    fix (bind another connection) that the slot's type made impossible."""
    slots = {
        "shop": {"type": "shopify"},
        "lp": {"type": "liveperson_proactive"},
        "hook": {"type": "http"},
    }
    write_recipe(ws, "lab/x", metadata={"title": "x", "trigger": trigger, "connections": slots})
    where = f"metadata.lpstudio.trigger.{field}"
    problem = listed(cli)["lab/x.ipynb"]["problem"]
    assert problem is not None and where in problem, problem
    for command in ("run", "start"):
        error = refused(cli, command, "lab/x")
        assert error["field"] == where and fixed_by in error["fix"], error
        assert "bind the slot to a connection" not in error["fix"], error
    assert job_rows(ws) == 0


def test_a_poll_trigger_of_the_workspace_s_own_connector_is_checked_too(ws: Path, cli: Any) -> None:
    (ws / "connectors").mkdir()
    (ws / "connectors" / "acme.py").write_text(ACME + ACME_POLL)
    for name, polled in (("lab/good", "new_lead"), ("lab/typo", "new_leed")):
        trigger = {"kind": "poll", "connection": "crm", "trigger": polled}
        slots = {"crm": {"type": "acme"}}
        write_recipe(ws, name, metadata={"title": name, "trigger": trigger, "connections": slots})
    rows = listed(cli)
    assert rows["lab/good.ipynb"]["problem"] is None
    error = refused(cli, "run", "lab/typo")
    assert error["field"] == "metadata.lpstudio.trigger.trigger", error
    assert "'new_leed'" in error["message"] and "new_lead" in error["fix"], error


# -- connection slots ----------------------------------------------------------------------

#: A workspace's own connector (`connectors/acme.py`), which only that workspace has.
ACME = """
from lpstudio.sdk import Connector, Field

connector = Connector("acme", title="Acme", fields=[Field("base_url", "API base URL", type="url")])
"""
#: A poll trigger of that connector.
ACME_POLL = """
from lpstudio.sdk import Page

@connector.poll_trigger("new_lead", title="New lead", key=lambda lead: str(lead["id"]))
def new_lead(conn, since, cursor):
    return Page([])
"""


def test_a_slot_of_a_type_lpstudio_lacks_is_refused_by_settings_and_forms_too(
    ws: Path, cli: Any
) -> None:
    """`lpstudio settings` saved and said to create a connection of the missing type, a fix
    that could never work; the form said the same in its words."""
    metadata = {"title": "x", "connections": {"crm": {"type": "nosuch"}}}
    write_recipe(ws, "lab/x", metadata=metadata)
    field = "metadata.lpstudio.connections.crm.type"
    result = cli("settings", "lab/x", "-p", "x", "3", "--json")
    assert result.exit_code == 2, result.output
    error = json.loads(result.stdout)["error"]
    assert error["field"] == field and "'nosuch'" in error["message"], error
    assert "--type nosuch" not in result.output and "http" in error["fix"]
    with Studio.open(ws, user="alice") as studio:
        assert saved_settings(studio.store, "lab/x.ipynb") == {}
        with pytest.raises(RecipeError) as form:
            RecipeForm("lab/x", studio)
    assert form.value.field == field


def test_a_slot_of_the_workspace_s_own_connector_type_is_accepted(ws: Path, cli: Any) -> None:
    """Only that workspace has the type: its recipes load, and the fix names the type."""
    (ws / "connectors").mkdir()
    (ws / "connectors" / "acme.py").write_text(ACME)
    write_recipe(ws, "lab/x", metadata={"title": "x", "connections": {"crm": {"type": "acme"}}})
    assert listed(cli)["lab/x.ipynb"]["problem"] is None
    result = cli("settings", "lab/x", "-p", "x", "3")
    assert result.exit_code == 0, result.output
    assert "--type acme" in result.output


def test_the_workspace_s_own_connector_is_found_when_projects_is_a_link(
    ws: Path, cli: Any, tmp_path: Path
) -> None:
    """`projects/` linked to a shared disk: its recipes were BROKEN, their slot's type
    looked for among the bundled connectors only."""
    (ws / "connectors").mkdir()
    (ws / "connectors" / "acme.py").write_text(ACME)
    write_recipe(ws, "lab/x", metadata={"title": "x", "connections": {"crm": {"type": "acme"}}})
    shared = tmp_path / "shared-recipes"
    (ws / "projects").rename(shared)
    (ws / "projects").symlink_to(shared)
    assert listed(cli)["lab/x.ipynb"]["problem"] is None
    assert cli("settings", "lab/x", "-p", "x", "3").exit_code == 0


@pytest.mark.parametrize("slot", ["bad slot!", "CRM", "-crm", "boutique-é"])
def test_a_slot_name_no_connection_could_have_is_refused(ws: Path, cli: Any, slot: str) -> None:
    """It was accepted, and its fix (`lpstudio connections add bad slot! --type http`)
    could not be typed."""
    write_recipe(ws, "lab/x", metadata={"title": "x", "connections": {slot: {"type": "http"}}})
    problem = listed(cli)["lab/x.ipynb"]["problem"]
    assert f"slot '{slot}'" in problem, problem
    error = refused(cli, "run", "lab/x")
    assert error["field"] == "metadata.lpstudio.connections", error
    assert "with lower-case ASCII letters a-z, digits, '-' and '_', starting" in error["fix"]
    assert "connections add" not in error["fix"]


# -- through the REST API ------------------------------------------------------------------


async def test_the_rest_api_lists_a_broken_recipe_and_serves_the_others(
    jp_fetch: Any, ws: Path
) -> None:
    """GET /recipes, every call and every webhook delivery of the workspace answered 500
    while one notebook's metadata.lpstudio was 5; a settings save of a slot whose type
    lpstudio lacks answered 200."""
    write_recipe(ws, "lab/hook", metadata={"title": "hook", "trigger": {"kind": "webhook"}})
    callable_ = {"kind": "callable", "path": "bot"}
    write_recipe(ws, "lab/bot", metadata={"title": "bot", "trigger": callable_})
    with Studio.open(ws, user="alice") as studio:
        studio.start("lab/hook")
        studio.start("lab/bot")
        hook = studio.webhook_id("lab/hook.ipynb")
        _, token = studio.api_clients.create("caller", ["*"], 1000)
    write_metadata(ws, "lab/x", 5)
    write_recipe(
        ws, "lab/odd", metadata={"title": "odd", "connections": {"crm": {"type": "nosuch"}}}
    )

    async def fetch(method: str, *path: str, body: Any = None, **kwargs: Any) -> tuple[int, Any]:
        answer = await jp_fetch(
            "lpstudio",
            "api",
            "v1",
            *path,
            method=method,
            body=None if body is None else json.dumps(body),
            headers={"X-Test-User": "alice", **kwargs.pop("headers", {})},
            raise_error=False,
            **kwargs,
        )
        return answer.code, json.loads(answer.body)

    code, answer = await fetch("GET", "recipes")
    assert code == 200, answer
    problems = {row["recipe"]: row["problem"] for row in answer["recipes"]}
    assert "metadata.lpstudio is a number" in problems["lab/x.ipynb"]
    assert problems["lab/hook.ipynb"] is None and problems["lab/bot.ipynb"] is None
    code, answer = await fetch("POST", "hooks", hook, body={"phone": "+14155550100"})
    assert code == 202, answer
    code, answer = await fetch(
        "POST", "call", "bot", body={}, params={"mode": "async"}, headers={"API-TOKEN": token}
    )
    assert code == 202, answer
    settings = {"parameters": {"x": 3}}
    code, answer = await fetch("PUT", "recipes", "lab", "odd.ipynb", "settings", body=settings)
    assert code == 400, answer
    assert answer["error"]["field"] == "metadata.lpstudio.connections.crm.type", answer


# -- numbers JSON has no form for ----------------------------------------------------------

NAN, INF = float("nan"), float("inf")
POLL = {"kind": "poll", "connection": "rows", "trigger": "new_rows"}


@pytest.mark.parametrize(
    ("metadata", "field", "said", "example"),
    [
        ({"timeout": NAN}, "timeout", "NaN", '"timeout": 600'),
        ({"timeout": INF}, "timeout", "Infinity", '"timeout": 600'),
        ({"retries": {"count": 1, "interval": NAN}}, "retries.interval", "NaN", '"retries": '),
        (
            {"trigger": {**POLL, "interval_minutes": NAN}},
            "trigger.interval_minutes",
            "NaN",
            '"interval_minutes": 10',
        ),
        (
            {
                "trigger": {
                    **POLL,
                    "conditions": {"rules": [{"field": "t", "op": ">", "value": NAN}]},
                }
            },
            "trigger.conditions.rules.0.value",
            "NaN",
            '"conditions": ',
        ),
        ({"parameters": {"x": {"maximum": NAN}}}, "parameters.x.maximum", "NaN", '"parameters": '),
        (
            {"parameters": {"x": {"minimum": -INF}}},
            "parameters.x.minimum",
            "-Infinity",
            '"parameters": ',
        ),
        (
            {"trigger": {"kind": "callable", "input_schema": {"maxProperties": INF}}},
            "trigger.input_schema.maxProperties",
            "Infinity",
            '"input_schema": ',
        ),
    ],
)
def test_a_number_that_is_not_finite_is_refused_naming_its_field(
    ws: Path, cli: Any, metadata: dict[str, Any], field: str, said: str, example: str
) -> None:
    """`"timeout": NaN` (the notebook's JSON reader takes it) passed the schema's bounds, as
    NaN compares false, and the recipe ran with no deadline at all; a retry's interval, a
    poll's, a rule's value and a parameter's bounds of NaN each broke theirs in silence."""
    write_recipe(ws, "lab/x", metadata={"title": "x", **metadata})
    field = f"metadata.lpstudio.{field}"
    assert f"{field} is {said}, not a finite number" in listed(cli)["lab/x.ipynb"]["problem"]
    for command in (("run", "lab/x"), ("start", "lab/x"), ("settings", "lab/x", "-p", "x", "3")):
        error = refused(cli, *command)
        assert error["field"] == field, (command, error)
        assert error["message"] == f"recipe lab/x.ipynb: {field} is {said}, not a finite number"
        assert error["fix"].startswith(f"give {field} a finite number in the notebook metadata")
        assert f"(example: {example}" in error["fix"], error
    with Studio.open(ws, user="alice") as studio:
        assert saved_settings(studio.store, "lab/x.ipynb") == {}
        with pytest.raises(RecipeError) as form:
            RecipeForm("lab/x", studio)
    assert form.value.field == field
    assert job_rows(ws) == 0


# -- a trigger key's value off the schema -----------------------------------------------------


@pytest.mark.parametrize(
    ("trigger", "key", "said", "example"),
    [
        (
            {"kind": "schedule", "cron": "0 9 * * *", "missed_runs": "catchup"},
            "missed_runs",
            '"catchup" is not one of ["run_once", "skip"]',
            '"missed_runs": "run_once"',
        ),
        (
            {"kind": "poll", "connection": "rows", "trigger": "new_rows", "interval_minutes": True},
            "interval_minutes",
            "true is not of type 'number'",
            '"interval_minutes": 10',
        ),
        (
            {"kind": "poll", "connection": "rows", "trigger": "new_rows", "interval_minutes": 0},
            "interval_minutes",
            "it must be above 0, not 0",
            '"interval_minutes": 10',
        ),
    ],
)
def test_a_trigger_value_off_the_schema_is_said_in_json_with_an_example_of_its_key(
    ws: Path, cli: Any, trigger: dict[str, Any], key: str, said: str, example: str
) -> None:
    """`"missed_runs": "catchup"` was refused "'catchup' is not one of ['run_once', 'skip']"
    with the trigger's cron example, which has no missed_runs; `true` was `True`, and 0 "is
    less than or equal to the minimum of 0" where the README says above 0."""
    metadata = {"title": "x", "trigger": trigger, "connections": {"rows": {"type": "csv_file"}}}
    write_recipe(ws, "lab/x", metadata=metadata)
    field = f"metadata.lpstudio.trigger.{key}"
    error = refused(cli, "start", "lab/x")
    assert error["field"] == field, error
    assert error["message"] == f"recipe lab/x.ipynb: {field} is invalid: {said}"
    assert error["fix"] == f"correct {field} in the notebook metadata (example: {example})"


# -- a trigger's schema that is no JSON Schema -------------------------------------------------

TYPES = '["array", "boolean", "integer", "null", "number", "object", "string"]'


@pytest.mark.parametrize(
    ("key", "schema", "at", "said"),
    [
        (
            "input_schema",
            {"type": "object", "properties": {"n": {"type": "strin"}}},
            "properties.n.type",
            f'"strin" is not one of {TYPES}',
        ),
        ("input_schema", {"type": ["string", "strin"]}, "type", f'"strin" is not one of {TYPES}'),
        ("response_schema", {"type": True}, "type", f"true is not one of {TYPES}"),
        ("response_schema", {"properties": True}, "properties", "true is not of type 'object'"),
    ],
)
def test_a_trigger_schema_that_is_no_json_schema_is_refused_in_json_terms(
    ws: Path, cli: Any, key: str, schema: dict[str, Any], at: str, said: str
) -> None:
    """It was refused with jsonschema's own words, in Python: "'strin' is not valid under
    any of the given schemas" (schemas of the meta-schema, which its author never wrote),
    "True is not of type 'object'" of a `true` the notebook holds."""
    trigger = {"kind": "callable", "path": "bot", key: schema}
    write_recipe(ws, "lab/x", metadata={"title": "x", "trigger": trigger})
    field = f"metadata.lpstudio.trigger.{key}.{at}"
    message = f"recipe lab/x.ipynb: {field} is not valid JSON Schema: {said}"
    assert listed(cli)["lab/x.ipynb"]["problem"].startswith(message)
    for command in (("run", "lab/x"), ("start", "lab/x")):
        error = refused(cli, *command)
        assert (error["field"], error["message"]) == (field, message), (command, error)
        assert error["fix"].startswith(f"correct {field} in the notebook metadata (example: ")
    assert job_rows(ws) == 0


# -- a misspelt keyword of a trigger's schema or of the record --------------------------------

PHONE = {"type": "object", "properties": {"phone": {"type": "string"}}}


@pytest.mark.parametrize(
    ("metadata", "at", "meant"),
    [
        (
            {
                "trigger": {
                    "kind": "callable",
                    "path": "bday",
                    "input_schema": {**PHONE, "requried": ["phone"]},
                }
            },
            "trigger.input_schema.requried",
            "rename 'requried' to 'required'",
        ),
        (
            {
                "trigger": {
                    "kind": "callable",
                    "path": "bday",
                    "input_schema": {"properties": {"phone": {"type": "string", "patern": "^[+]"}}},
                }
            },
            "trigger.input_schema.properties.phone.patern",
            "rename 'patern' to 'pattern'",
        ),
        (
            {
                "trigger": {
                    "kind": "callable",
                    "path": "bday",
                    "response_schema": {"requird": ["ok"]},
                }
            },
            "trigger.response_schema.requird",
            "rename 'requird' to 'required'",
        ),
        (
            {
                "trigger": {
                    "kind": "webhook",
                    "connection": "hook",
                    "input_schema": {"items": {"minLenght": 1}},
                }
            },
            "trigger.input_schema.items.minLenght",
            "rename 'minLenght' to 'minLength'",
        ),
        (
            {"record": {**PHONE, "additionalProperty": False}},
            "record.additionalProperty",
            "rename 'additionalProperty' to 'additionalProperties'",
        ),
        (
            {"record": {**PHONE, "definitions": {"phone": {"type": "string"}}}},
            "record.definitions",
            '"definitions" has been replaced by "$defs"',
        ),
        (
            {"record": {"$defs": {"phone": {"type": "string", "maxLenght": 16}}}},
            "record.$defs.phone.maxLenght",
            "rename 'maxLenght' to 'maxLength'",
        ),
    ],
)
def test_a_misspelt_keyword_of_a_trigger_schema_or_the_record_is_refused(
    ws: Path, cli: Any, metadata: dict[str, Any], at: str, meant: str
) -> None:
    """JSON Schema's meta-schema takes any keyword, so `requried` and `patern` were ignored:
    a callable took the calls it was meant to refuse, and a record meant closed stayed open,
    as misspelt parameter refinements (`minimun`) are refused already."""
    slots = {"hook": {"type": "http"}}
    write_recipe(ws, "lab/x", metadata={"title": "x", "connections": slots, **metadata})
    field = f"metadata.lpstudio.{at}"
    problem = listed(cli)["lab/x.ipynb"]["problem"]
    assert problem is not None and field in problem, problem
    for command in (("run", "lab/x"), ("start", "lab/x")):
        error = refused(cli, *command)
        assert error["field"] == field, (command, error)
        assert "is no JSON Schema keyword lpstudio applies" in error["message"], error
        assert meant in error["fix"], error
    assert job_rows(ws) == 0


def test_a_schema_s_annotations_and_2020_12_keywords_are_taken(ws: Path, cli: Any) -> None:
    """Annotations (`title`, `$comment`, `examples`, `default`, `deprecated`), `format`,
    `$defs` and `$ref`, lpstudio's `x-pattern-said`, and data that looks like a typo
    (an example holding `requried`) are what the schemas may hold."""
    phone = {
        "type": "string",
        "pattern": "^[+][1-9][0-9]{6,14}$",
        "x-pattern-said": "a phone number",
        "description": "the customer's phone",
        "examples": ["+14155550100"],
    }
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Birthday",
        "$comment": "what a bot sends",
        "type": "object",
        "required": ["phone"],
        "additionalProperties": False,
        "properties": {
            "phone": {"$ref": "#/$defs/phone"},
            "first_name": {"type": "string", "default": "friend", "deprecated": False},
            "born": {"type": "string", "format": "date", "readOnly": True},
            "tags": {"type": "array", "prefixItems": [{"enum": [{"requried": 1}]}]},
        },
        "$defs": {"phone": phone},
        "examples": [{"phone": "+14155550100", "requried": True}],
    }
    trigger = {"kind": "callable", "path": "bday", "input_schema": schema}
    write_recipe(ws, "lab/x", metadata={"title": "x", "trigger": trigger, "record": schema})
    assert listed(cli)["lab/x.ipynb"]["problem"] is None


def test_a_record_or_response_schema_that_is_no_json_schema_quotes_its_own_example(
    ws: Path, cli: Any
) -> None:
    """The record was not checked at all (`"type": "objekt"` passed), and a bad
    response_schema's fix quoted an input_schema example."""
    write_recipe(ws, "lab/rec", metadata={"title": "x", "record": {"type": "objekt"}})
    error = refused(cli, "run", "lab/rec")
    assert error["field"] == "metadata.lpstudio.record.type", error
    assert '"objekt" is not one of' in error["message"], error
    assert '(example: "record": {"type": "object"' in error["fix"], error
    trigger = {"kind": "callable", "path": "bday", "response_schema": {"type": "objekt"}}
    write_recipe(ws, "lab/bot", metadata={"title": "x", "trigger": trigger})
    error = refused(cli, "start", "lab/bot")
    assert error["field"] == "metadata.lpstudio.trigger.response_schema.type", error
    assert '(example: "response_schema": {' in error["fix"], error
    assert "input_schema" not in error["fix"], error


def test_a_slot_key_lpstudio_does_not_read_is_refused_naming_the_one_meant(
    ws: Path, cli: Any
) -> None:
    """A slot's `lable` was ignored: the forms showed the slot with no label."""
    slots = {"customers": {"type": "csv_file", "lable": "Customers CSV"}}
    write_recipe(ws, "lab/x", metadata={"title": "x", "connections": slots})
    error = refused(cli, "run", "lab/x")
    assert error["field"] == "metadata.lpstudio.connections.customers.lable", error
    assert "'lable', which lpstudio does not read" in error["message"], error
    assert error["fix"].startswith(
        "rename 'lable' to 'label' in metadata.lpstudio.connections.customers"
    ), error
    assert job_rows(ws) == 0


def test_a_schedule_without_its_cron_is_said_to_lack_it(ws: Path, cli: Any) -> None:
    """It was "cron '' is not a valid cron expression", of a cron nobody wrote."""
    trigger = {"kind": "schedule", "timezone": "Europe/Paris"}
    write_recipe(ws, "lab/x", metadata={"title": "x", "trigger": trigger})
    error = refused(cli, "start", "lab/x")
    assert error["field"] == "metadata.lpstudio.trigger.cron", error
    assert "metadata.lpstudio.trigger.cron is missing" in error["message"], error
    assert "''" not in error["message"], error
    assert error["fix"].startswith("add a cron to metadata.lpstudio.trigger"), error
    assert '"cron": "0 9 * * 1-5"' in error["fix"], error
