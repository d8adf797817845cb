"""Refusals said in a user's words, the same from the CLI, the REST API and the Python API
(README: Qualities): an unknown connector type is a 400 naming `type` over REST as the CLI
says it, a CSV path with `..` says that it leaves its folder, body variables are said to be
numbered 1, 2, ... (never a regular expression), and a too-short version to restore is
refused over REST in the CLI's words."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from lpstudio.errors import ParameterError
from lpstudio.jsonschemas import first_problem
from lpstudio.registry import get_connector
from lpstudio.studio import Studio
from tests.conftest import write_recipe
from tests.servers import API, rest


def cli_error(result: Result) -> dict[str, Any]:
    """The CLI's refusal, as `--json` prints it, once it is seen to exit 2."""
    assert result.exit_code == 2, result.output
    return json.loads(result.stdout)["error"]


# -- an unknown connector type ---------------------------------------------------------------


async def test_an_unknown_connector_type_is_a_400_naming_type_as_the_cli_says(
    jp_fetch: Any, cli: Callable[..., Result]
) -> None:
    said = cli_error(cli("connections", "add", "c", "--type", "nope", "--json"))

    status, answer = await rest(
        jp_fetch, "POST", "connections", body={"name": "c", "type": "nope", "fields": {}}
    )

    assert status == 400, answer
    error = answer["error"]
    assert error["code"] == "InputError" and error["field"] == said["field"] == "type"
    assert error["message"] == said["message"] == "unknown connector type 'nope'"
    assert "csv_file, http, liveperson_proactive" in error["fix"]
    assert said["fix"].endswith("(see `lpstudio connectors`)")
    # The same fix, its command said as the route (under the test server's base URL).
    assert error["fix"].startswith(said["fix"].split(" (see")[0] + " (see GET /")
    assert error["fix"].endswith(f"{API}/connectors)")


# -- a CSV file's path leading out of its folder ---------------------------------------------


async def test_a_csv_path_with_dot_dot_says_it_leaves_its_folder_from_cli_and_rest(
    jp_fetch: Any, cli: Callable[..., Result]
) -> None:
    said = cli_error(
        cli("connections", "add", "c", "--type", "csv_file", "--field", "path=../x.csv", "--json")
    )
    body = {"name": "c", "type": "csv_file", "fields": {"path": "../x.csv"}}

    status, answer = await rest(jp_fetch, "POST", "connections", body=body)

    assert status == 400, answer
    assert answer["error"] == said
    assert said["field"] == "path"
    assert "'../x.csv' holds '..', which leads out of its folder" in said["message"]
    assert "field's form" not in said["message"]
    assert "inside the workspace (relative to it, without '..')" in said["fix"]


# -- body variables --------------------------------------------------------------------------


def test_body_variables_not_numbered_are_said_in_words_not_as_a_pattern(ws: Path) -> None:
    with Studio.open(ws, user="alice") as studio:
        studio.try_template("cart_abandonment", "shop")
        with pytest.raises(ParameterError) as caught:
            studio.save_settings("shop/cart_abandonment", {"body_variables": {"a": "Hi"}})

    error = caught.value
    assert error.field == "body_variables"
    assert error.message == (
        "parameter 'body_variables' is invalid: the name \"a\" is not a variable's number: "
        "body variables are numbered 1, 2, ... as the handoff's {{1}}, {{2}}..."
    )
    assert "[1-9]" not in str(error) and "regular expression" not in str(error)


def test_an_action_s_variables_not_numbered_are_said_in_words_not_as_a_pattern() -> None:
    schema = get_connector("liveperson_proactive").actions["send_campaign"].input_schema
    given = {"handoff": "h", "campaign_name": "c", "skill": "s", "recipients": []}

    problem = first_problem(schema, {**given, "consumer_id": "phone", "variables": {"x": "Hi"}})

    assert problem is not None
    field, message = problem
    assert field == "variables"
    assert message.startswith('the name "x" is not a variable\'s number: body variables are')
    assert "[1-9]" not in message


# -- a version to restore, too short ---------------------------------------------------------


async def test_a_too_short_version_to_restore_is_refused_over_rest_in_the_cli_s_words(
    jp_fetch: Any, ws: Path, cli: Callable[..., Result]
) -> None:
    write_recipe(ws, "p/r")
    said = cli_error(cli("restore", "p/r", "4", "--json"))

    status, answer = await rest(
        jp_fetch, "POST", "recipes", "p/r.ipynb", "restore", body={"version": "4"}
    )

    assert status == 400, answer
    error = answer["error"]
    assert error["field"] == said["field"] == "version"
    assert error["message"] == said["message"] == "version '4' is too short to name one"
    assert said["fix"] == "give at least 4 characters of its id (`lpstudio versions p/r.ipynb`)"
    assert error["fix"].startswith("give at least 4 characters of its id (GET /")
    assert error["fix"].endswith(f"{API}/recipes/p/r.ipynb/versions)")


# -- a name a connection cannot have ---------------------------------------------------------


async def test_a_connection_name_refused_over_rest_is_said_in_words_not_as_a_pattern(
    jp_fetch: Any,
) -> None:
    for name in ("", "Bad name", "boutique-é"):  # é is a lower-case letter, not an ASCII one
        status, answer = await rest(
            jp_fetch, "POST", "connections", body={"name": name, "type": "http", "fields": {}}
        )

        assert status == 400, answer
        error = answer["error"]
        assert error["field"] == "name"
        assert error["message"] == (
            f"name: {json.dumps(name, ensure_ascii=False)} is not a name of lower-case ASCII "
            "letters a-z, digits, - or _ that starts with a letter or digit, at most 64 characters"
        )
        assert "[a-z0-9]" not in error["message"] + error["fix"]


# -- a long value refused --------------------------------------------------------------------


def test_a_long_value_refused_is_said_by_its_length_not_quoted_whole(
    ws: Path, cli: Callable[..., Result]
) -> None:
    with Studio.open(ws, user="alice") as studio:
        studio.try_template("cart_abandonment", "shop")
        with pytest.raises(ParameterError) as caught:
            studio.save_settings("shop/cart_abandonment", {"campaign_name": "x" * 5000})
    said = cli_error(
        cli("settings", "shop/cart_abandonment", "-p", "campaign_name", "y" * 5000, "--json")
    )

    for error in (caught.value.to_dict(), said):
        assert error["field"] == "campaign_name"
        assert error["message"] == (
            "parameter 'campaign_name' is invalid: a text of 5000 characters is too long"
        )
        assert error["fix"] == "give a value of at most 255 character(s)"
