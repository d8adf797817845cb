"""lpstudio's own credentials (a live API client's token, the Jupyter server's token) given
as a recipe's input by a person: a parameter value or an event given by hand. Accepted,
the token was kept in clear on the job (`lpstudio show`, GET /jobs/N), in its output
notebook and in what the recipe wrote, where an operator, who must not hold secrets, read
it and called recipes as the bot. It is refused before any job or save, naming its field,
as a bot's call refuses its own token in its input."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from lpstudio.api_clients import TOKEN_SHAPE
from lpstudio.studio import Studio
from tests.conftest import job_rows, write_recipe
from tests.servers import rest

RECIPE = "shop/cart"
PARAMETERS = "campaign_name: str = 'spring'  # the campaign's name"


def client_token(ws: Path, name: str = "bot", revoked: bool = False) -> str:
    """A new API client's token, made (and revoked if asked) by the admin alice."""
    with Studio.open(ws, user="alice") as studio:
        _, token = studio.api_clients.create(name, ["*"])
        if revoked:
            studio.api_clients.revoke(name)
    return token


def saved_parameters(ws: Path) -> dict[str, Any]:
    with Studio.open(ws, user="alice") as studio:
        return dict(studio.settings(studio.recipe(RECIPE))["parameters"])


def refused(result: Result, field: str, token: str) -> dict[str, Any]:
    """The CLI's refusal (exit 2) under --json, naming `field`, the token quoted nowhere."""
    assert result.exit_code == 2, result.output
    assert token not in result.output
    error = json.loads(result.stdout)["error"]
    assert error["field"] == field, error
    return error


@pytest.fixture
def recipe(ws: Path) -> Path:
    return write_recipe(ws, RECIPE, PARAMETERS, cells=("print(campaign_name)",))


def test_a_live_token_in_a_cli_run_s_event_is_refused_before_any_job(
    cli: Callable[..., Result], ws: Path, recipe: Path
) -> None:
    token = client_token(ws)
    event = json.dumps({"consumer_id": token, "phone": "+14155550111"})
    error = refused(cli("run", RECIPE, "--event", event, "--json"), "event", token)
    assert error["message"] == "the event holds an API token, which is never a recipe's input"
    assert error["fix"].startswith("give another value: an API token is for calling lpstudio")
    assert job_rows(ws) == 0


@pytest.mark.parametrize("option", ["-p", "-r"])
def test_a_live_token_as_a_cli_run_s_parameter_is_refused_before_any_job(
    cli: Callable[..., Result], ws: Path, recipe: Path, option: str
) -> None:
    token = client_token(ws)
    result = cli("run", RECIPE, option, "campaign_name", token, "--json")
    error = refused(result, "campaign_name", token)
    assert error["message"] == (
        "parameter 'campaign_name' holds an API token, which is never a recipe's input"
    )
    assert job_rows(ws) == 0


def test_a_live_token_saved_as_a_parameter_is_refused_and_nothing_saved(
    cli: Callable[..., Result], ws: Path, recipe: Path
) -> None:
    token = client_token(ws)
    assert cli("settings", RECIPE, "-p", "campaign_name", "summer").exit_code == 0
    result = cli("settings", RECIPE, "-p", "campaign_name", f"x-{token}-y", "--json")
    refused(result, "campaign_name", token)
    assert saved_parameters(ws) == {"campaign_name": "summer"}


def test_a_revoked_token_or_text_shaped_like_one_is_an_ordinary_value(
    cli: Callable[..., Result], ws: Path, recipe: Path
) -> None:
    """Only a live token is a credential: a revoked one opens nothing, and text of a
    token's shape that no client holds is a value like any other."""
    lookalike = "lps_" + "A" * 43
    assert TOKEN_SHAPE.fullmatch(lookalike)
    for value in (client_token(ws, revoked=True), lookalike):
        result = cli("settings", RECIPE, "-p", "campaign_name", value)
        assert result.exit_code == 0, result.output
        assert saved_parameters(ws) == {"campaign_name": value}


async def test_a_live_token_in_a_rest_run_s_event_is_refused_before_any_job(
    jp_fetch: Any, ws: Path, recipe: Path
) -> None:
    token = client_token(ws)
    event = {"consumer_id": token, "phone": "+14155550111", "channel": "sms", "opt_in": True}
    for route in ("run", "test"):
        code, answer = await rest(
            jp_fetch, "POST", "recipes", f"{RECIPE}.ipynb", route, body={"event": event}
        )
        assert code == 400 and token not in json.dumps(answer), answer
        error = answer["error"]
        assert error["field"] == "event" and "holds an API token" in error["message"], error
    assert job_rows(ws) == 0


async def test_the_server_s_token_as_a_rest_run_s_parameter_is_refused_before_any_job(
    jp_fetch: Any, jp_serverapp: Any, ws: Path, recipe: Path
) -> None:
    """The Jupyter server's token is no API client's, and found by no look-up in the
    store: the server hands it to the studios it opens."""
    token = jp_serverapp.identity_provider.token
    assert token
    body = {"parameters": {"campaign_name": token}}
    code, answer = await rest(jp_fetch, "POST", "recipes", f"{RECIPE}.ipynb", "run", body=body)
    assert code == 400 and token not in json.dumps(answer), answer
    assert answer["error"]["field"] == "campaign_name", answer
    assert job_rows(ws) == 0


async def test_a_live_token_saved_over_rest_is_refused_and_nothing_saved(
    jp_fetch: Any, ws: Path, recipe: Path
) -> None:
    token, revoked = client_token(ws), client_token(ws, "old-bot", revoked=True)
    path = ("recipes", f"{RECIPE}.ipynb", "settings")
    code, answer = await rest(jp_fetch, "PUT", *path, body={"parameters": {"campaign_name": token}})
    assert code == 400 and token not in json.dumps(answer), answer
    error = answer["error"]
    assert error["field"] == "campaign_name" and "holds an API token" in error["message"], error
    assert saved_parameters(ws) == {}
    code, answer = await rest(
        jp_fetch, "PUT", *path, body={"parameters": {"campaign_name": revoked}}
    )
    assert code == 200, answer
    assert saved_parameters(ws) == {"campaign_name": revoked}
