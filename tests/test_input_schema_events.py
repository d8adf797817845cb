"""A callable or webhook recipe's input schema met by an event given by hand (`lpstudio run
--event`, REST's run, the form's Test) or delivered to a webhook, as a bot's call meets it:
a `$dynamicRef` that leads nowhere refuses the recipe when it is read, naming the field and
the fix (it raised referencing's `Unresolvable`: a traceback on the command line, a 500 to
the REST client and the webhook's sender), under a nested `$id` too (a base of its own),
and a whole float given for an integer field is an int in the job's event, as a bot's call
makes it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from lpstudio.errors import RecipeError
from lpstudio.studio import Studio
from lpstudio.widgets import RecipeForm
from tests.conftest import job_rows, run_json, write_recipe
from tests.servers import rest
from tests.test_call_query import NOWHERE

#: The field the refusal names: the `$dynamicRef` of `NOWHERE`.
FIELD = "metadata.lpstudio.trigger.input_schema.properties.n.$dynamicRef"


def _takes(ws: Path, name: str, kind: str, schema: dict[str, Any]) -> str:
    """A recipe `name` of trigger `kind` taking `schema`, answering its event's `n` as a
    count (`range`, which a float fails); its name as the CLI takes it."""
    path = "n" if kind == "callable" else None
    write_recipe(
        ws,
        name,
        parameters="unused: int = 0  # the input is the event",
        cells=(
            "import lpstudio.kernel as lp",
            "lp.set_result({'count': len(range(lp.event['n'])), 'n': repr(lp.event['n'])})",
        ),
        metadata={
            "title": name,
            "trigger": {"kind": kind, "input_schema": schema, **({"path": path} if path else {})},
        },
    )
    return name


def _refused(said: Result) -> dict[str, Any]:
    assert said.exit_code == 2, said.output
    error: dict[str, Any] = json.loads(said.stdout)["error"]
    return error


@pytest.mark.parametrize("kind", ["callable", "webhook"])
def test_a_dynamic_ref_leading_nowhere_refuses_the_recipe_on_the_command_line(
    ws: Path, cli: Callable[..., Result], kind: str
) -> None:
    # `run --event` ended in referencing's Unresolvable, a traceback; `--test` too.
    name = _takes(ws, f"bots/{kind}", kind, NOWHERE)
    for how in (["--event", '{"n": 3}'], ["--test", "--event", '{"n": 3}'], ["--test"]):
        error = _refused(cli("run", name, *how, "--json"))
        assert error["field"] == FIELD, (how, error)
        assert "'#/$defs/nowhere' leads nowhere in the schema" in error["message"], error
        assert error["fix"].startswith(f"point {FIELD} at a definition of the same schema"), error
    problem = {row["recipe"]: row["problem"] for row in json.loads(cli("recipes", "--json").stdout)}
    assert FIELD in problem[f"{name}.ipynb"], problem
    assert job_rows(ws) == 0


def test_a_dynamic_ref_leading_nowhere_refuses_the_form_s_test(ws: Path) -> None:
    _takes(ws, "bots/form", "callable", NOWHERE)
    with Studio.open(ws, user="alice") as studio, pytest.raises(RecipeError) as raised:
        RecipeForm("bots/form.ipynb", studio)
    assert raised.value.field == FIELD and "leads nowhere" in raised.value.message
    assert job_rows(ws) == 0


async def test_a_dynamic_ref_leading_nowhere_refuses_rest_runs_and_deliveries(
    jp_fetch: Any, ws: Path
) -> None:
    # REST's run with an event, and a delivery to the started webhook recipe once its
    # schema broke, answered 500 with referencing's Unresolvable in the server's log.
    _takes(ws, "bots/rest", "callable", NOWHERE)
    hook = _takes(ws, "hooks/lead", "webhook", {"type": "object"})
    with Studio.open(ws, user="alice") as studio:
        studio.start(f"{hook}.ipynb")
        hook_id = studio.webhook_id(f"{hook}.ipynb")
    _takes(ws, hook, "webhook", NOWHERE)

    async def fetch(*path: str, body: Any) -> tuple[int, dict[str, Any]]:
        code, answer = await rest(jp_fetch, "POST", *path, body=body)
        return code, answer["error"]

    for path, body in (
        (("recipes", "bots", "rest.ipynb", "run"), {"event": {"n": 3}}),
        (("recipes", "bots", "rest.ipynb", "test"), {"event": {"n": 3}}),
    ):
        code, error = await fetch(*path, body=body)
        assert code == 400 and error["field"] == FIELD, (path, code, error)
        assert error["fix"].startswith(f"point {FIELD} at a definition"), error
    code, error = await fetch("hooks", hook_id, body={"n": 3})
    # Its (unauthenticated) sender is told to retry, nothing of the notebook's schema.
    assert code == 503 and error["field"] == "hook", (code, error)
    assert "nowhere" not in json.dumps(error), error
    assert job_rows(ws) == 0


#: References to nowhere inside a subschema that is a resource of its own (`$id`), by the
#: field their refusal names: jsonschema resolves them against that `$id`, not the root.
NESTED_NOWHERE: dict[str, dict[str, Any]] = {
    "properties.n.$dynamicRef": {
        "type": "object",
        "properties": {"n": {"$id": "urn:x", "$dynamicRef": "#/nope"}},
    },
    "properties.n.$ref": {
        # `#/$defs/missing` is the nested resource's: the root's definition does not count.
        "$defs": {"missing": {"type": "integer"}},
        "properties": {"n": {"$id": "https://example.com/n", "$ref": "#/$defs/missing"}},
    },
}


@pytest.mark.parametrize("kind", ["callable", "webhook"])
@pytest.mark.parametrize("at", list(NESTED_NOWHERE))
def test_a_reference_leading_nowhere_under_a_nested_id_refuses_the_recipe(
    ws: Path, cli: Callable[..., Result], kind: str, at: str
) -> None:
    # Skipped when the recipe was read, it ended `run --event` in referencing's
    # Unresolvable (a traceback; a 500 to REST runs and webhook deliveries).
    name = _takes(ws, f"bots/{kind}", kind, NESTED_NOWHERE[at])
    field = f"metadata.lpstudio.trigger.input_schema.{at}"
    for how in (["--event", '{"n": 3}'], ["--test", "--event", '{"n": 3}']):
        error = _refused(cli("run", name, *how, "--json"))
        assert error["field"] == field, (how, error)
        assert "leads nowhere in the schema" in error["message"], error
        assert error["fix"].startswith(f"point {field} at a definition of the same schema"), error
    assert job_rows(ws) == 0


#: An input schema whose references each resolve from the resource they stand in: `n` is a
#: resource of its own (`$id`) referring to its own definition, to its own anchor, and to
#: the root by the root's `$id`; the root refers to `n` by its `$id`, relative to its own.
NESTED_RESOLVING: dict[str, Any] = {
    "$id": "https://example.com/lead",
    "type": "object",
    "required": ["n"],
    "$defs": {"capped": {"maximum": 100}},
    "properties": {
        "n": {
            "$id": "https://example.com/n",
            "$defs": {
                "whole": {"type": "integer"},
                "positive": {"$anchor": "positive", "minimum": 0},
            },
            "allOf": [
                {"$ref": "#/$defs/whole"},
                {"$ref": "#positive"},
                {"$dynamicRef": "lead#/$defs/capped"},
            ],
        },
        "m": {"$ref": "n"},
    },
}


def test_a_schema_whose_references_resolve_under_a_nested_id_runs(
    ws: Path, cli: Callable[..., Result]
) -> None:
    # Each reference is followed from its own base: the event is checked through every one
    # (an `n` past the root's cap or under the anchor's minimum, an `m` of text that spells no
    # integer, is refused; "3" is 3, as a bot's call of it is).
    name = _takes(ws, "bots/nested", "callable", NESTED_RESOLVING)
    for event, said in (
        ('{"n": 101}', "n: 101 is greater than the maximum of 100"),
        ('{"n": -1}', "n: -1 is less than the minimum of 0"),
        ('{"n": 3, "m": "three"}', """m: "three" is not of type 'integer'"""),
    ):
        error = _refused(cli("run", name, "--event", event, "--json"))
        assert error["field"] == "--event" and said in error["message"], (event, error)
    assert job_rows(ws) == 0
    code, job = run_json("run", name, "--event", '{"n": "3", "m": 4}', "--workspace", str(ws))
    assert code == 0 and job["status"] == "succeeded", job
    assert job["result"] == {"count": 3, "n": "3"}, job


def test_a_whole_float_given_by_hand_is_an_int_as_in_a_bot_s_call(ws: Path) -> None:
    # A bot's call of 3.0 for an integer field ran on 3; `run --event` ran on 3.0 and the
    # job failed in its cell (`range(3.0)`), on an input the input schema takes.
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    name = _takes(ws, "bots/count", "callable", schema)
    for event in ('{"n": 3.0}', '{"n": 3e0}'):
        code, job = run_json("run", name, "--event", event, "--workspace", str(ws))
        assert code == 0 and job["status"] == "succeeded", job
        assert job["result"] == {"count": 3, "n": "3"}, job
        _, shown = run_json("show", str(job["id"]), "--workspace", str(ws))
        assert shown["event"] == {"n": 3}, shown
