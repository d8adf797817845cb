"""lpstudio's own credentials written into a recipe's notebook as a parameter's default (a
live API client's token, the Jupyter server's token). A job refused the default, but the
recipe's descriptions showed it in clear: `lpstudio settings` and `lpstudio recipes`, the
REST API's recipes to every role, an operator too, and an API client's `openapi.json`; so
did the notebook's settings form (`lpstudio.widgets.RecipeForm`), which showed a
connection's secret as a default too, in its field, its help and the form's header. Each
shows it masked now, as the lab's form does; a token no live client holds is an ordinary
value, and the store is read only for text of a token's shape.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from lpstudio.studio import Studio
from lpstudio.widgets.form import RecipeForm
from tests.conftest import write_recipe
from tests.test_secret_defaults import KEYED, MASK, TOKEN, add_connection
from tests.test_tokens_refused_as_input import client_token


def tokened(ws: Path, token: str, **metadata: Any) -> Path:
    """A recipe `p/tokened` whose `key` defaults to `token`, named in its help too."""
    parameters = f'key: str = "{token}"  # the key {token}\nx: int = 1  # a number'
    return write_recipe(ws, "p/tokened", parameters, ("print(len(key))",), metadata or None)


def test_cli_settings_and_recipes_show_a_live_token_default_masked(
    cli: Callable[..., Result], ws: Path
) -> None:
    token = client_token(ws)
    tokened(ws, token)

    said = cli("settings", "p/tokened")
    assert said.exit_code == 0, said.output
    assert token not in said.output, said.output
    shown = f'  key = "{MASK}"  [string, default refused: give a value]  # the key {MASK}'
    assert shown in said.output, said.output
    listed = cli("recipes", "--json")
    assert listed.exit_code == 0 and token not in listed.output, listed.output
    row = next(r for r in json.loads(listed.stdout) if r["recipe"] == "p/tokened.ipynb")
    assert row["parameters"]["properties"]["key"]["default"] == MASK, row


def test_a_revoked_token_default_is_an_ordinary_value_and_no_token_reads_no_store(
    cli: Callable[..., Result], ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    revoked = client_token(ws, revoked=True)
    tokened(ws, revoked)
    said = cli("settings", "p/tokened")
    assert said.exit_code == 0 and f'  key = "{revoked}"  [string, default]' in said.output

    with Studio.open(ws, user="alice") as studio:
        plain = studio.recipe("p/tokened").describe() | {"parameters": {"properties": {}}}
        plain["description"] = "no token here"
        held = studio.held_secrets()

        def unread() -> Any:
            raise AssertionError("the store was read for text holding no token")

        monkeypatch.setattr(studio.store, "read", unread)
        assert studio.described(plain, held)["description"] == "no token here"


async def test_the_rest_api_and_openapi_serve_lpstudio_s_tokens_masked(
    jp_fetch: Any, jp_serverapp: Any, ws: Path
) -> None:
    server = jp_serverapp.identity_provider.token
    assert server
    token = client_token(ws)
    tokened(ws, token)
    callable_ = {
        "title": "Echo",
        "description": f"answers with {token} or {server}",
        "trigger": {"kind": "callable", "path": "echo"},
    }
    write_recipe(ws, "p/echo", f'x: str = "{server}"', ("print(1)",), callable_)
    with Studio.open(ws, user="alice") as studio:
        studio.start("p/echo.ipynb")
        studio.set_role("otto", "operator")

    async def fetch(user: dict[str, str], *path: str) -> Any:
        answer = await jp_fetch("lpstudio", "api", "v1", *path, headers=user, raise_error=False)
        text = answer.body.decode()
        assert token not in text and server not in text, (path, text)
        assert answer.code == 200, (path, text)
        return json.loads(text)

    otto = {"X-Test-User": "otto"}
    rows = {row["recipe"]: row for row in (await fetch(otto, "recipes"))["recipes"]}
    assert rows["p/tokened.ipynb"]["parameters"]["properties"]["key"]["default"] == MASK
    assert rows["p/echo.ipynb"]["parameters"]["properties"]["x"]["default"] == MASK
    assert rows["p/echo.ipynb"]["description"] == f"answers with {MASK} or {MASK}"
    detail = await fetch(otto, "recipes", "p", "tokened.ipynb")
    assert detail["parameters"]["properties"]["key"]["default"] == MASK, detail
    assert detail["parameters"]["properties"]["key"]["description"] == f"the key {MASK}"
    doc = await fetch({"API-TOKEN": token}, "openapi.json")
    assert MASK in json.dumps(doc["paths"]["/call/echo"]), doc["paths"]["/call/echo"]


@pytest.mark.parametrize("secret", ["token", "connection"])
def test_the_settings_form_shows_a_secret_default_masked_and_saves_no_mask(
    ws: Path, secret: str
) -> None:
    if secret == "token":
        value = client_token(ws)
        tokened(ws, value, title=f"Tokened {value}", description=f"uses {value}")
        name = "p/tokened"
    else:
        value = TOKEN
        add_connection(ws)
        write_recipe(ws, "p/keyed", KEYED, ("print(len(key))",), {"title": f"K {TOKEN}"})
        name = "p/keyed"
    with Studio.open(ws, user="alice") as studio:
        form = RecipeForm(name, studio)
        try:
            key = form.fields["key"]
            assert key.input.value == MASK
            shown = [key.help.value, form.header.value, form.problem.value]
            assert all(value not in text for text in shown), shown
            assert MASK in form.header.value, form.header.value
            # Left as shown, the masked default stays the notebook's: nothing is saved for it.
            form.fields["x"].input.value = "2"
            assert form.save() is True, form.status.value
            assert value not in form.status.value and value not in form.differences.value
            saved = studio.settings(studio.recipe(name))["parameters"]
            assert saved == {"x": 2}, saved
        finally:
            form.close()
