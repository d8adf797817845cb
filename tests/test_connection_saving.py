"""What an admin saving a real account's connection meets: a value the connector cannot use
(a header token ending in a line break, a base address with a query string) is refused when
the connection is saved, naming the field, from the CLI and the REST API alike, rather than
by its first test; a secret typed as `--secret FIELD=VALUE` is never repeated; and an update
given nothing changes nothing."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from lpstudio.cli import main
from lpstudio.errors import InputError
from lpstudio.models import Connection as ConnectionRow
from lpstudio.studio import Studio

from .servers import rest

TOKEN = "shpat_RevCShop0123456789abcdef"
SHOP = "http://127.0.0.1:9"  # the sandbox's address in `init`: nothing here reaches it


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    """A workspace with the sandbox's two connections, `liveperson` and `shopify`."""
    root = tmp_path / "ws"
    Studio.init(root, accept_terms=True, admin="alice", sandbox=SHOP).close()
    return root


@pytest.fixture
def cli(ws: Path) -> Callable[..., Result]:
    def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
        return CliRunner().invoke(main, [*args, "--workspace", str(ws)], env=env, input="")

    return invoke


def listed(cli: Callable[..., Result]) -> dict[str, dict[str, Any]]:
    result = cli("connections", "list", "--json")
    assert result.exit_code == 0, result.output
    return {row["name"]: row for row in json.loads(result.stdout)}


def add_shop(cli: Callable[..., Result], name: str, shop: str, token: str) -> Result:
    """`connections add` of a Shopify connection, its token read from the environment."""
    return cli(
        "connections",
        "add",
        name,
        "--type",
        "shopify",
        "--field",
        f"shop={shop}",
        "--secret",
        "access_token",
        env={"LPSTUDIO_SECRET_ACCESS_TOKEN": token},
    )


def mark_connected(ws: Path, name: str) -> None:
    """As a test that reached the app leaves it (nothing here reaches one)."""
    with Studio.open(ws, user="alice") as studio, studio.store.write() as s:
        s.get_one(ConnectionRow, name).status = "connected"


# -- a header token ending in a line break -----------------------------------------------


@pytest.mark.parametrize("ending", ["\n", "\r\n"])
def test_a_header_token_ending_in_a_line_break_is_refused_when_saved(cli, ending):
    """$LPSTUDIO_SECRET_<FIELD> is taken as it is: `$` let the final line break through,
    and the connection's test failed with "no answer from Shopify (LocalProtocolError)"."""
    added = add_shop(cli, "shop-nl", SHOP, TOKEN + ending)
    updated = cli(
        "connections",
        "update",
        "shopify",
        "--secret",
        "access_token",
        env={"LPSTUDIO_SECRET_ACCESS_TOKEN": TOKEN + ending},
    )

    for result in (added, updated):
        assert result.exit_code == 2, result.output
        assert "connection field 'access_token'" in result.stderr
        assert "holds a line break, which no HTTP header can carry" in result.stderr
        assert "fix: give access_token again, on one line" in result.stderr
        assert TOKEN not in result.output
    assert "shop-nl" not in listed(cli)
    assert add_shop(cli, "shop-nl", SHOP, TOKEN).exit_code == 0


async def test_the_rest_api_refuses_a_header_token_ending_in_a_line_break(jp_fetch):
    fields = {"base_url": SHOP, "auth_type": "bearer", "token": "RestTok-D1D1D1\n"}

    status, answer = await rest(
        jp_fetch, "POST", "connections", body={"name": "crm", "type": "http", "fields": fields}
    )
    assert status == 400, answer
    assert answer["error"]["field"] == "token"
    assert "holds a line break" in answer["error"]["message"]
    assert "RestTok" not in json.dumps(answer)

    put = {"fields": {"access_token": TOKEN + "\n"}}
    status, answer = await rest(jp_fetch, "PUT", "connections", "shopify", body=put)
    assert status == 400 and answer["error"]["field"] == "access_token", answer
    status, answer = await rest(jp_fetch, "GET", "connections")
    assert "crm" not in {row["name"] for row in answer["connections"]}


def test_a_name_or_account_id_ending_in_a_line_break_is_refused(ws):
    """The same `$` let them through: a name that lists as two lines, an id LivePerson
    does not know."""
    account = {"account_id": "12345678\n", "client_id": "c", "client_secret": "app-secret-1"}
    with Studio.open(ws, user="alice") as studio:
        for name, kind, fields, field in (
            ("crm\n", "http", {}, "name"),
            ("lp2", "liveperson_proactive", account, "account_id"),
        ):
            with pytest.raises(InputError) as refused:
                studio.connections.add(name, kind, fields, "alice")
            assert refused.value.field == field, refused.value
        assert {"crm\n", "lp2"}.isdisjoint(info.name for info in studio.connections.list())


async def test_the_rest_api_refuses_a_name_ending_in_a_line_break(jp_fetch):
    post = {"name": "crm\n", "type": "http", "fields": {}}

    status, answer = await rest(jp_fetch, "POST", "connections", body=post)

    assert status == 400 and answer["error"]["field"] == "name", answer


# -- a secret typed on the command line --------------------------------------------------


def test_a_secret_given_as_field_equals_value_is_refused_without_repeating_it(cli, ws):
    typed = "shpat_TypedOnCmdLine999"
    before = listed(cli)
    shop = ("--field", f"shop={SHOP}")
    runs = [
        cli(
            "connections",
            "add",
            "x9",
            "--type",
            "shopify",
            *shop,
            "--secret",
            f"access_token={typed}",
        ),
        cli("connections", "update", "shopify", "--secret", f"access_token={typed}"),
        # given twice: the refusal of a repeated option quoted what it was given
        cli("connections", "update", "shopify", *["--secret", f"access_token={typed}"] * 2),
    ]

    for result in runs:
        assert result.exit_code == 2, result.output
        assert typed not in result.output
        assert "--secret takes a field name only, never its value" in result.stderr
        assert "fix: use --secret access_token (its value is read from " in result.stderr
        assert "$LPSTUDIO_SECRET_ACCESS_TOKEN, a hidden prompt or standard input)" in result.stderr
    other = cli("connections", "update", "shopify", "--secret", f"token={typed}", "--json")
    assert other.exit_code == 2 and typed not in other.output
    assert json.loads(other.stdout)["error"]["field"] == "--secret"
    assert "secret fields: access_token" in json.loads(other.stdout)["error"]["fix"]
    assert listed(cli) == before
    assert typed.encode() not in (ws / "lpstudio.db").read_bytes()


# -- a base address with a query string ---------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "field", "value"),
    [
        ("http", "base_url", "http://127.0.0.1:18942/?api_key=Passw0rd"),
        ("http", "base_url", "http://127.0.0.1:18942/v1#Passw0rd"),
        ("http", "base_url", "http://127.0.0.1:18942/?"),
        ("shopify", "shop", "http://127.0.0.1:18942/?key=Passw0rd"),
    ],
)
def test_a_base_address_with_a_query_or_fragment_is_refused_when_saved(cli, kind, field, value):
    """It was saved, listed and exported in clear, and refused only by the test. (The
    sandbox's `liveperson` connection has a base URL too.)"""
    env = {"LPSTUDIO_SECRET_ACCESS_TOKEN": TOKEN}
    secret = ("--secret", "access_token") if kind == "shopify" else ()
    add = ("connections", "add", "acct", "--type", kind, "--field", f"{field}={value}", *secret)
    existing = "shopify" if kind == "shopify" else "liveperson"
    update = ("connections", "update", existing, "--field", f"{field}={value}")
    before = listed(cli)

    for result in (cli(*add, env=env), cli(*update)):
        assert result.exit_code == 2, result.output
        assert f"connection field '{field}'" in result.stderr
        assert "has a query string or fragment in its URL" in result.stderr
        assert f"fix: give {field} as the address alone (https://host/path)" in result.stderr
        assert "Passw0rd" not in result.output
    assert listed(cli) == before


async def test_the_rest_api_refuses_a_base_address_with_a_query_string(jp_fetch):
    fields = {"base_url": "http://127.0.0.1:18942/?api_key=Passw0rd"}
    post = {"name": "crm", "type": "http", "fields": fields}

    status, answer = await rest(jp_fetch, "POST", "connections", body=post)
    assert status == 400 and answer["error"]["field"] == "base_url", answer
    assert "query string" in answer["error"]["message"]
    put = {"fields": {"shop": "http://127.0.0.1:9/?key=Passw0rd"}}
    status, answer = await rest(jp_fetch, "PUT", "connections", "shopify", body=put)
    assert status == 400 and answer["error"]["field"] == "shop", answer


def test_a_base_address_saved_before_the_rule_is_refused_at_its_test_with_the_command(cli, ws):
    with Studio.open(ws, user="alice") as studio:
        studio.connections.add("crm", "http", {"base_url": "http://127.0.0.1:9/v1"}, "alice")
        with studio.store.write() as s:
            s.get_one(ConnectionRow, "crm").fields = {"base_url": "http://127.0.0.1:9/?k=v"}

    result = cli("connections", "test", "crm", "--json")

    said = json.loads(result.stdout)["status_message"]
    assert "connection field 'base_url' has a query string or fragment in its URL" in said
    assert "`lpstudio connections update crm --field base_url=...`" in said


def test_a_base_address_saved_before_the_rule_leaves_other_fields_free_to_change(cli, ws):
    # An update re-checked the stored base_url: no other field (not even a new token) could
    # be saved until the address was given again.
    with Studio.open(ws, user="alice") as studio:
        studio.connections.add("crm", "http", {"base_url": "http://127.0.0.1:9/v1"}, "alice")
        with studio.store.write() as s:
            s.get_one(ConnectionRow, "crm").fields = {"base_url": "http://127.0.0.1:9/?k=v"}

    changed = cli("connections", "update", "crm", "--field", "timeout_seconds=20")
    assert changed.exit_code == 0, changed.output
    token = {"LPSTUDIO_SECRET_TOKEN": "abcdefghijk"}
    assert cli("connections", "update", "crm", "--secret", "token", env=token).exit_code == 0
    with Studio.open(ws, user="alice") as studio:
        fields = studio.connections.get("crm").fields
    assert fields["timeout_seconds"] == 20 and fields["base_url"] == "http://127.0.0.1:9/?k=v"
    # Given again, it is checked as any value given.
    again = cli("connections", "update", "crm", "--field", "base_url=http://127.0.0.1:9/?k=w")
    assert again.exit_code == 2 and "query string or fragment" in again.output, again.output


# -- an update given nothing ---------------------------------------------------------------


def test_an_update_given_nothing_is_refused_and_changes_nothing(cli, ws):
    mark_connected(ws, "shopify")

    result = cli("connections", "update", "shopify")

    assert result.exit_code == 2, result.output
    assert "nothing to update" in result.stderr
    assert "fix: give --field NAME=VALUE or --secret NAME" in result.stderr
    assert listed(cli)["shopify"]["status"] == "connected"
    audit = json.loads(cli("audit", "--json").stdout)
    assert "update_connection" not in {entry["action"] for entry in audit}


async def test_the_rest_api_answers_an_update_giving_nothing_unchanged(jp_fetch, ws):
    """What the Connections panel's Save sends when nothing changed: it made a connected
    connection untested, and was audited as a change."""
    mark_connected(ws, "shopify")
    status, before = await rest(jp_fetch, "GET", "connections", "shopify")

    for body in ({"fields": {}}, {"fields": {"access_token": "****"}}):
        status, answer = await rest(jp_fetch, "PUT", "connections", "shopify", body=body)
        assert status == 200 and answer == before, answer
    status, answer = await rest(jp_fetch, "PUT", "connections", "shopify", body={})
    assert status == 400 and answer["error"]["field"] == "fields", answer
    status, audit = await rest(jp_fetch, "GET", "audit")
    assert "update_connection" not in json.dumps(audit)
