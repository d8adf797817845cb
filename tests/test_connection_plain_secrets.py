"""A secret of the workspace pasted into a plain connection field: plain fields are shown as
they are (`lpstudio connections list`, the REST API, the studio), so such a value is refused
on add and update, from the CLI and the REST API alike, and masked if a row already holds
one."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from lpstudio.cli import main
from lpstudio.models import Connection as ConnectionRow
from lpstudio.studio import Studio

LP_SECRET = "sandbox-secret"  # the sandbox connections' secrets (`init --sandbox`)
SHOPIFY_TOKEN = "shpat_sandbox"
LP_TYPE = "liveperson_proactive"


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    """A workspace with the sandbox's two connections (nothing here reaches the sandbox)."""
    root = tmp_path / "ws"
    Studio.init(root, accept_terms=True, admin="alice", sandbox="http://127.0.0.1:9").close()
    return root


@pytest.fixture
def cli(ws: Path) -> Callable[..., Result]:
    def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
        return CliRunner().invoke(main, [*args, "--workspace", str(ws)], env=env)

    return invoke


def listed(cli: Callable[..., Result]) -> dict[str, dict[str, Any]]:
    result = cli("connections", "list", "--json")
    assert result.exit_code == 0, result.output
    return {row["name"]: row["fields"] for row in json.loads(result.stdout)}


def add_lp(cli: Callable[..., Result], name: str, secret: str, *fields: str) -> Result:
    """`connections add` of a LivePerson connection, its secret read from the environment."""
    given = {"account_id": "12345678", "client_id": "client-7"}
    given.update(field.split("=", 1) for field in fields)
    options = [option for key, value in given.items() for option in ("--field", f"{key}={value}")]
    return cli(
        "connections",
        "add",
        name,
        "--type",
        LP_TYPE,
        *options,
        "--secret",
        "client_secret",
        env={"LPSTUDIO_SECRET_CLIENT_SECRET": secret},
    )


def assert_refused(result: Result, field: str, *secrets: str) -> None:
    """Refused naming the field and the fix, the value nowhere in what was said."""
    assert result.exit_code != 0, result.output
    assert f"'{field}'" in result.output and "holds a secret" in result.output, result.output
    assert "secret field" in result.output, result.output  # the fix
    for secret in secrets:
        assert secret not in result.output, result.output


# -- the CLI ------------------------------------------------------------------------------


def test_update_refuses_a_plain_field_holding_another_connections_secret(cli):
    result = cli("connections", "update", "liveperson", "--field", f"client_id={SHOPIFY_TOKEN}")

    assert_refused(result, "client_id", SHOPIFY_TOKEN)
    assert listed(cli)["liveperson"]["client_id"] == "sandbox-client"  # nothing written


@pytest.mark.parametrize(
    "value",
    [
        LP_SECRET,
        f"id-{LP_SECRET.upper()}",  # inside a longer text, in another case
        LP_SECRET.encode().hex(),
        base64.b64encode(LP_SECRET.encode()).decode(),
        # escaped where no encoder needs to (a URL may escape any character): saved and
        # shown in clear, to an operator too
        "http://127.0.0.1:9/?k=sandbox%2Dsecret",
        "%73andbox-secret",
    ],
)
def test_add_refuses_a_plain_field_holding_a_secret_in_any_masked_form(cli, value):
    result = add_lp(cli, "lp2", "another-secret", f"client_id={value}")

    assert_refused(result, "client_id", value, "another-secret")
    assert "lp2" not in listed(cli)  # nothing written


def test_add_refuses_a_plain_field_holding_the_connections_own_secret(cli):
    result = add_lp(cli, "lp2", "own-secret-42", "base_url=http://127.0.0.1:9/own-secret-42")

    assert_refused(result, "base_url", "own-secret-42")
    assert "lp2" not in listed(cli)


def test_a_secret_field_changed_or_given_again_is_not_refused(cli):
    for secret in (LP_SECRET, "rotated-secret", SHOPIFY_TOKEN + "-2"):
        result = cli(
            "connections",
            "update",
            "liveperson",
            "--secret",
            "client_secret",
            env={"LPSTUDIO_SECRET_CLIENT_SECRET": secret},
        )
        assert result.exit_code == 0, result.output
    assert cli("connections", "update", "liveperson", "--field", "client_id=c2").exit_code == 0
    assert listed(cli)["liveperson"]["client_id"] == "c2"


def test_a_short_secret_is_refused_and_nothing_is_saved(cli):
    """A 3-character secret was taken, then masked wherever its text met ordinary output
    (giving itself away: `****` where `abc` was) and refused in people's events."""
    refused = add_lp(cli, "lp-short", "abc")

    assert refused.exit_code == 2, refused.output
    assert "secret 'client_secret' (Client secret) is shorter than 8 characters" in refused.output
    assert "fix: give client_secret whole, as the app issued it" in refused.output
    assert "abc" not in refused.output.replace("abcd", "")  # never quoted
    assert "lp-short" not in listed(cli)
    assert add_lp(cli, "lp-long", "abc-app-secret").exit_code == 0


def test_an_integer_field_refuses_text_quoting_it_in_the_rest_api_s_words(cli):
    """`--field retries=2.5` said "expects integer, got "2.5"" while a JSON value of the wrong
    type said "(Retries) is invalid: expects an integer, got a number", with another fix:
    text is read as a recipe's `-p` reads it (2.0 is 2, as JSON's 2.0 is; 2.5 is no
    integer), and refused in one set of words that quote what was given and name the kind
    the field takes."""
    http = ["--field", "base_url=http://127.0.0.1:9", "--field", "auth_type=bearer"]
    secret = ["--secret", "token"]
    env = {"LPSTUDIO_SECRET_TOKEN": "tok-1234"}
    added = cli("connections", "add", "crm", "--type", "http", *http, *secret, env=env)
    assert added.exit_code == 0, added.output
    assert cli("connections", "update", "crm", "--field", "retries=3").exit_code == 0
    assert cli("connections", "update", "crm", "--field", "retries=2.0").exit_code == 0
    assert listed(cli)["crm"]["retries"] == 2
    assert cli("connections", "update", "crm", "--field", "retries=3").exit_code == 0
    for given in ("2.5", "two"):
        result = cli("connections", "update", "crm", "--field", f"retries={given}")
        assert result.exit_code == 2, result.output
        said = (
            f"connection field 'retries' (Retries) is invalid: expects an integer, got \"{given}\""
        )
        assert said in result.output and "fix: give retries as an integer" in result.output
    assert listed(cli)["crm"]["retries"] == 3


async def test_the_rest_api_refuses_what_the_cli_refuses_in_connection_fields(jp_fetch):
    """An integer field given JSON's 2.0 is 2, as a bot's input is (it was stored 2.0); a
    token no HTTP header can carry was taken, and refused only by the connection's test; a
    short secret was taken."""
    http = {"base_url": "http://127.0.0.1:9", "auth_type": "bearer"}
    post = {"name": "crm", "type": "http", "fields": {**http, "token": "tok-1234", "retries": 2.0}}
    status, text = await rest(jp_fetch, "POST", "connections", body=post)
    assert status == 201, text
    assert json.loads(text)["fields"]["retries"] == 2 and '"retries": 2,' in text

    refusals = [
        ({"retries": 2.5}, "retries", "expects an integer, got 2.5"),
        ({"retries": "2.5"}, "retries", 'is invalid: expects an integer, got "2.5"'),
        ({"token": "tok-1234\nX-Admin: 1"}, "token", "which no HTTP header can carry"),
        ({"token": "tök-1234-5678"}, "token", "which no HTTP header can carry"),
        ({"token": "tok"}, "token", "is shorter than 8 characters"),
    ]
    for fields, field, said in refusals:
        post = {"name": "crm2", "type": "http", "fields": {**http, "token": "tok-1234", **fields}}
        status, text = await rest(jp_fetch, "POST", "connections", body=post)
        assert status == 400, text
        error = json.loads(text)["error"]
        assert error["field"] == field and said in error["message"], error
        assert "tok-1234" not in text and "tök" not in text
        status, text = await rest(jp_fetch, "PUT", "connections", "crm", body={"fields": fields})
        assert status == 400 and json.loads(text)["error"]["field"] == field, text
    status, text = await rest(jp_fetch, "GET", "connections")
    assert "crm2" not in text


def test_a_stored_plain_field_holding_a_secret_is_shown_masked(cli, ws):
    """A row written by an older lpstudio, which did not refuse it."""
    with Studio.open(ws, user="alice") as studio, studio.store.write() as s:
        row = s.get_one(ConnectionRow, "liveperson")
        row.fields = {**row.fields, "client_id": f"id-{SHOPIFY_TOKEN}"}

    assert listed(cli)["liveperson"]["client_id"] == "id-****"
    shown = cli("connections", "list")
    assert shown.exit_code == 0 and "client_id=id-****" in shown.stdout
    assert SHOPIFY_TOKEN not in shown.output
    with Studio.open(ws, user="alice") as studio:
        assert studio.connections.get("liveperson").to_dict()["fields"]["client_id"] == "id-****"
        # Another field can still be changed; the one holding the secret is shown masked.
        info = studio.connections.update("liveperson", {"account_id": "42"})
        assert info.to_dict()["fields"]["client_id"] == "id-****"
        assert studio.connections.values("liveperson")[1]["client_id"] == f"id-{SHOPIFY_TOKEN}"


# -- the REST API --------------------------------------------------------------------------


async def rest(jp_fetch: Any, method: str, *path: str, body: Any = None) -> tuple[int, str]:
    """A request of the admin; the answer's body as text, to look for secrets in."""
    options: dict[str, Any] = {"method": method, "headers": {"X-Test-User": "alice"}}
    if body is not None:
        options["body"] = json.dumps(body)
    answer = await jp_fetch("lpstudio", "api", "v1", *path, raise_error=False, **options)
    return answer.code, answer.body.decode()


@pytest.mark.parametrize("field", ["client_id", "recipients_per_request"])
async def test_the_rest_api_refuses_a_plain_field_holding_a_secret(jp_fetch, field):
    put = {"fields": {field: LP_SECRET}}

    status, text = await rest(jp_fetch, "PUT", "connections", "liveperson", body=put)

    assert status == 400, text
    error = json.loads(text)["error"]
    assert error["field"] == field and "holds a secret" in error["message"], error
    assert "secret field" in error["fix"] and LP_SECRET not in text
    status, text = await rest(jp_fetch, "GET", "connections", "liveperson")
    assert status == 200 and LP_SECRET not in text
    assert json.loads(text)["fields"]["client_id"] == "sandbox-client"
    post = {"name": "lp2", "type": LP_TYPE, "fields": {"account_id": "1", "client_id": "c"}}
    post["fields"] |= {"client_secret": "s3cret-app-secret", field: SHOPIFY_TOKEN}
    status, text = await rest(jp_fetch, "POST", "connections", body=post)
    assert status == 400 and json.loads(text)["error"]["field"] == field, text
    assert SHOPIFY_TOKEN not in text
    status, text = await rest(jp_fetch, "GET", "connections")
    assert "lp2" not in text and LP_SECRET not in text and SHOPIFY_TOKEN not in text


async def test_the_rest_api_takes_a_secret_fields_new_value(jp_fetch):
    put = {"fields": {"client_secret": SHOPIFY_TOKEN + "-2", "client_id": "c3"}}

    status, text = await rest(jp_fetch, "PUT", "connections", "liveperson", body=put)

    assert status == 200, text
    assert json.loads(text)["fields"]["client_id"] == "c3"
