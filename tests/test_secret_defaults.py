"""A secret of the workspace written into a recipe's notebook: a parameter's default
(`key: str = "<token>"`), its help, or `metadata.lpstudio` (its record's examples, its
trigger's input and response schemas). The REST API's recipes answered `"default":
"<token>"` to every role, an operator too, `lpstudio settings` printed `key = "<token>"`,
and an API client read the schemas in `openapi.json`. Each shows it masked now, and a
default holding a secret is refused as any bad default is (a job kept it in its parameters,
which `lpstudio show` prints), naming the parameter and the fix, a connection, before any
job starts, from the CLI and the REST API alike. The notebook itself opens as ever.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat

from lpstudio.studio import Studio
from tests.conftest import job_rows, write_recipe

TOKEN = "Kx9recipeSECRET5151"
MASK = "****"
KEYED = f'key: str = "{TOKEN}"  # the CRM key\nx: int = 1  # a number'
REFUSED = "the default of parameter 'key' holds the secret of a connection"
#: Schemas of a callable recipe's metadata that hold the secret, as examples and a constant.
RECORD = {"type": "object", "properties": {"key": {"type": "string", "examples": [TOKEN]}}}
CALLABLE = {
    "title": "Echo",
    "description": f"answers with {TOKEN}",
    "record": RECORD,
    "trigger": {
        "kind": "callable",
        "path": "echo",
        "input_schema": RECORD,
        "response_schema": {"type": "object", "properties": {"key": {"const": TOKEN}}},
    },
}


def add_connection(ws: Path) -> None:
    with Studio.open(ws, user="alice") as studio:
        values = {"base_url": "https://crm.example", "auth_type": "bearer", "token": TOKEN}
        studio.connections.add("crm", "http", values, "alice")


def refusal(result: Any) -> dict[str, Any]:
    assert result.exit_code == 2, result.output
    assert TOKEN not in result.output, result.output
    return dict(json.loads(result.stdout)["error"])


def test_a_default_holding_a_secret_is_shown_masked_and_refused_before_any_job(
    ws: Path, cli: Any
) -> None:
    add_connection(ws)
    path = write_recipe(ws, "p/keyed", KEYED, ("print(len(key))",))

    said = cli("settings", "p/keyed")
    assert said.exit_code == 0, said.output
    assert TOKEN not in said.output, said.output
    shown = f'  key = "{MASK}"  [string, default refused: give a value]  # the CRM key'
    assert shown in said.output, said.output
    assert "  x = 1  [integer, default]  # a number" in said.output, said.output
    assert f"not ready:   {REFUSED}" in said.output, said.output
    listed = cli("recipes", "--json")
    assert listed.exit_code == 0 and TOKEN not in listed.output and MASK in listed.output

    for args in (("run", "p/keyed"), ("run", "p/keyed", "--prepare-only"), ("start", "p/keyed")):
        error = refusal(cli(*args, "--json"))
        assert error["field"] == "key" and error["message"] == REFUSED, (args, error)
        assert "parameters cell" in error["fix"] and "connections add" in error["fix"], error
    assert job_rows(ws) == 0
    # The notebook is the analyst's: it is kept as written.
    assert nbformat.read(path, as_version=4).cells[0].source == KEYED
    # As with any default refused, a value given (or saved) runs it.
    ran = cli("run", "p/keyed", "-p", "key", "other", "--json")
    assert ran.exit_code == 0, ran.output
    assert json.loads(ran.stdout)["parameters"]["key"] == "other"


async def test_the_rest_api_and_openapi_serve_a_recipe_s_secrets_masked(
    jp_fetch: Any, ws: Path
) -> None:
    add_connection(ws)
    write_recipe(ws, "p/keyed", KEYED, ("print(len(key))",))
    write_recipe(ws, "p/echo", "x: int = 1", ("import lpstudio.kernel as lp",), CALLABLE)
    with Studio.open(ws, user="alice") as studio:
        studio.start("p/echo.ipynb")
        _, bot = studio.api_clients.create("bot", ["*"], 1000)
        studio.set_role("otto", "operator")

    async def fetch(user: dict[str, str], *path: str, method: str = "GET", **kw: Any) -> Any:
        answer = await jp_fetch(
            "lpstudio", "api", "v1", *path, method=method, headers=user, raise_error=False, **kw
        )
        text = answer.body.decode()
        assert TOKEN not in text, (path, text)
        return answer.code, json.loads(text)

    otto = {"X-Test-User": "otto"}
    code, listed = await fetch(otto, "recipes")
    assert code == 200
    rows = {row["recipe"]: row for row in listed["recipes"]}
    assert rows["p/keyed.ipynb"]["parameters"]["properties"]["key"]["default"] == MASK
    assert rows["p/echo.ipynb"]["description"] == f"answers with {MASK}"
    code, listed = await fetch(otto, "recipes", params={"project": "p"})
    assert code == 200 and len(listed["recipes"]) == 2, listed
    code, keyed = await fetch(otto, "recipes", "p", "keyed.ipynb")
    assert code == 200 and keyed["parameters"]["properties"]["key"]["default"] == MASK
    assert keyed["settings_problem"]["field"] == "key", keyed
    assert keyed["settings_problem"]["message"] == REFUSED, keyed
    code, echo = await fetch(otto, "recipes", "p", "echo.ipynb")
    assert code == 200 and echo["trigger"]["input_schema"]["properties"]["key"]["examples"] == [
        MASK
    ]
    assert echo["parameters"]["x-record"]["properties"]["key"]["examples"] == [MASK], echo

    code, doc = await fetch({"API-TOKEN": bot}, "openapi.json")
    assert code == 200 and MASK in json.dumps(doc["paths"]["/call/echo"]), doc["paths"]
    code, doc = await fetch({"X-Test-User": "alice"}, "openapi.json")
    assert code == 200 and "/call/echo" in doc["paths"]

    alice = {"X-Test-User": "alice"}
    for path in (("run",), ("start",)):
        code, error = await fetch(
            alice, "recipes", "p", "keyed.ipynb", *path, method="POST", body="{}"
        )
        assert code == 400 and error["error"]["field"] == "key", error
        assert error["error"]["message"] == REFUSED, error
    assert job_rows(ws) == 0
