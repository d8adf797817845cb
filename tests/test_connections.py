"""Connections through the CLI and Studio: secrets stay secret, tests record their status,
recipes bind connections to their slots (refused clearly before any job when ambiguous).

A fresh sandbox per test stands in for LivePerson and Shopify; the workspace gets its
connections from `Studio.init(..., sandbox=url)`. Checks that start no kernel run the CLI
in-process; the one real job runs the real `lpstudio` executable.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from lpstudio.cli import main
from lpstudio.errors import InputError
from lpstudio.models import Connection as ConnectionRow
from lpstudio.sandbox import Sandbox
from lpstudio.settings import saved_settings
from lpstudio.studio import Studio

from .conftest import job_rows, run_cli, run_json, set_settings, write_recipe
from .servers import rest

SECRET = "sandbox-secret"
LP_TYPE = "liveperson_proactive"


@pytest.fixture
def ws(tmp_path: Path, sandbox: Sandbox) -> Path:
    root = tmp_path / "ws"
    Studio.init(root, accept_terms=True, admin="alice", sandbox=sandbox.url).close()
    return root


@pytest.fixture
def cli(ws: Path) -> Callable[..., Result]:
    def invoke(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
        return CliRunner().invoke(main, [*args, "--workspace", str(ws)], input=input, env=env)

    return invoke


def as_json(result: Result) -> Any:
    assert result.stdout.strip(), result.output
    return json.loads(result.stdout)


def listed(cli: Callable[..., Result]) -> dict[str, dict[str, Any]]:
    result = cli("connections", "list", "--json")
    assert result.exit_code == 0, result.output
    return {row["name"]: row for row in as_json(result)}


def store_bytes(ws: Path) -> bytes:
    """The SQLite store as it lies on disk, write-ahead log included."""
    return b"".join(p.read_bytes() for p in sorted(ws.glob("lpstudio.db*")))


def add_lp(cli: Callable[..., Result], name: str, base_url: str, **kwargs: Any) -> Result:
    return cli(
        "connections",
        "add",
        name,
        "--type",
        LP_TYPE,
        "--field",
        "account_id=12345678",
        "--field",
        "client_id=sandbox-client",
        "--field",
        f"base_url={base_url}",
        "--secret",
        "client_secret",
        **kwargs,
    )


# -- listing and adding --------------------------------------------------------------------


def test_list_masks_every_secret(cli, sandbox):
    rows = listed(cli)

    assert set(rows) == {"liveperson", "shopify"}
    assert rows["liveperson"]["fields"] == {
        "account_id": "12345678",
        "client_id": "sandbox-client",
        "base_url": sandbox.url,
        "client_secret": "****",
    }
    assert rows["shopify"]["fields"]["access_token"] == "****"
    assert all(row["status"] == "untested" and row["tested_at"] is None for row in rows.values())
    text = cli("connections", "list")
    assert text.exit_code == 0 and "client_secret=****" in text.stdout
    assert SECRET not in text.output and "shpat_sandbox" not in text.output


def test_a_secret_is_read_from_the_environment(cli, sandbox, ws):
    result = add_lp(cli, "lp-env", sandbox.url, env={"LPSTUDIO_SECRET_CLIENT_SECRET": SECRET})

    assert result.exit_code == 0, result.output
    assert listed(cli)["lp-env"]["fields"]["client_secret"] == "****"
    tested = cli("connections", "test", "lp-env", "--json")
    assert tested.exit_code == 0 and as_json(tested)["status"] == "connected"
    assert SECRET.encode() not in store_bytes(ws)


def test_a_secret_is_read_from_standard_input(cli, sandbox, ws):
    result = add_lp(cli, "lp-stdin", sandbox.url, input=f"{SECRET}\n")

    assert result.exit_code == 0, result.output
    assert SECRET not in result.output
    tested = cli("connections", "test", "lp-stdin", "--json")
    assert tested.exit_code == 0 and as_json(tested)["status"] == "connected"


@pytest.mark.parametrize("given", ["", "\n", "  \r\n"])
def test_no_secret_on_standard_input_is_refused(cli, sandbox, ws, given):
    """No line, or an empty one: it was stored as the secret, which looked set and failed."""
    result = add_lp(cli, "lp-none", sandbox.url, input=given)

    assert result.exit_code == 2
    assert "no value for secret field 'client_secret'" in result.stderr
    assert "LPSTUDIO_SECRET_CLIENT_SECRET" in result.stderr
    assert "lp-none" not in listed(cli)
    # Nor through the API: a blank required field is no value.
    with Studio.open(ws, user="alice") as studio, pytest.raises(InputError) as refused:
        fields = {"account_id": "1", "client_id": "a", "client_secret": " "}
        studio.connections.add("lp-none", LP_TYPE, fields, "alice")
    assert refused.value.field == "client_secret" and "is required" in refused.value.message
    assert "lp-none" not in listed(cli)


def test_a_secret_on_the_command_line_is_refused_and_nothing_is_stored(cli, sandbox, ws):
    leaked = "cmdline-secret-9931"
    before = listed(cli)

    result = cli(
        "connections",
        "add",
        "lp-cmd",
        "--type",
        LP_TYPE,
        "--field",
        "account_id=12345678",
        "--field",
        "client_id=sandbox-client",
        "--field",
        f"client_secret={leaked}",
    )

    assert result.exit_code == 2
    assert "'client_secret' is a secret field" in result.stderr
    assert "--secret client_secret" in result.stderr
    assert leaked not in result.output
    assert listed(cli) == before
    assert leaked.encode() not in store_bytes(ws)


def test_unknown_connector_type_and_unknown_field_are_refused_by_name(cli):
    unknown_type = cli("connections", "add", "x", "--type", "salesforce", "--json")
    unknown_field = cli(
        "connections", "add", "x", "--type", "shopify", "--field", "colour=red", "--json"
    )
    not_secret = cli("connections", "add", "x", "--type", "shopify", "--secret", "shop")

    assert unknown_type.exit_code == 2
    assert as_json(unknown_type)["error"]["field"] == "type"
    assert "unknown connector type 'salesforce'" in unknown_type.stderr
    assert LP_TYPE in unknown_type.stderr  # the fix lists the known ones
    assert unknown_field.exit_code == 2
    assert as_json(unknown_field)["error"]["field"] == "colour"
    assert "no field 'colour'" in unknown_field.stderr
    assert not_secret.exit_code == 2 and "'shop' is not a secret field" in not_secret.stderr
    assert "x" not in listed(cli)


def test_a_name_with_a_letter_beyond_ascii_is_refused_saying_the_letters_are_ascii(cli, ws):
    """`boutique-é` was refused with "use lower-case letters, ...": é is one, to a French
    user; the rule is ASCII's a-z, for a connection's name and an API client's alike."""
    rule = "use lower-case ASCII letters a-z, digits, '-' and '_', starting with a letter or"
    connection = cli("connections", "add", "boutique-é", "--type", "http")
    assert connection.exit_code == 2, connection.output
    assert "invalid connection name 'boutique-é'" in connection.stderr
    assert f"fix: {rule}" in connection.stderr, connection.stderr
    client = CliRunner().invoke(
        main,
        ["api-clients", "create", "bot-é", "--endpoint", "x", "-w", str(ws)],
        env={"LPSTUDIO_USER": "alice"},  # an admin's
    )
    assert client.exit_code == 2, client.output
    assert "invalid API client name 'bot-é'" in client.stderr
    assert f"fix: {rule}" in client.stderr, client.stderr
    assert "boutique-é" not in listed(cli)


#: Names a user may type, each as a message quotes it: as typed, a backslash once (repr
#: doubled it: `'a\\b'`), one holding `'` in double quotes (`'it's'` read as two quotes).
TYPED_NAMES = {"it's": '"it\'s"', "a\\b": "'a\\b'"}


@pytest.mark.parametrize("typed", TYPED_NAMES)
def test_a_typed_name_no_connection_or_api_client_has_is_quoted_as_typed(cli, ws, typed):
    """A connection's name was said `'it's'` (no telling where it ends) and an API
    client's `'a\\\\b'`, with a backslash the user never typed, while a recipe's name was
    quoted as typed."""
    shown = TYPED_NAMES[typed]
    removed = cli("connections", "remove", typed)
    added = cli("connections", "add", typed, "--type", "http")
    assert removed.exit_code == 2 and f"no connection named {shown}\n" in removed.stderr
    assert added.exit_code == 2 and f"invalid connection name {shown}\n" in added.stderr

    def api_clients(*args: str) -> Result:
        return CliRunner().invoke(
            main, ["api-clients", *args, "-w", str(ws)], env={"LPSTUDIO_USER": "alice"}
        )

    revoked = api_clients("revoke", typed)
    created = api_clients("create", typed, "--endpoint", "x")
    assert revoked.exit_code == 2 and f"no API client named {shown}\n" in revoked.stderr
    assert created.exit_code == 2 and f"invalid API client name {shown}\n" in created.stderr


def test_a_field_of_the_wrong_type_is_refused_by_name(cli, sandbox):
    result = add_lp(
        cli,
        "lp-rps",
        sandbox.url,
        env={"LPSTUDIO_SECRET_CLIENT_SECRET": SECRET},
    )
    assert result.exit_code == 0
    bad = cli("connections", "update", "lp-rps", "--field", "requests_per_second=fast", "--json")

    assert bad.exit_code == 2
    assert as_json(bad)["error"]["field"] == "requests_per_second"
    missing = cli("connections", "add", "lp-x", "--type", LP_TYPE, "--field", "account_id=1")
    assert missing.exit_code == 2 and "client_id" in missing.stderr
    # An account id is digits: `1/../12345678` even tested as connected (the URL's path
    # was normalised), and `abc` was only found by LivePerson.
    for wrong in ("abc", "1/../12345678", " 12345678"):
        bad = cli("connections", "update", "lp-rps", "--field", f"account_id={wrong}", "--json")
        assert bad.exit_code == 2, bad.output
        error = as_json(bad)["error"]
        assert error["field"] == "account_id" and "digits" in error["fix"], error
        assert repr(wrong) in error["message"], error
    assert listed(cli)["lp-rps"]["fields"]["account_id"] == "12345678"
    # A CSV file outside the workspace was saved, and refused by its first use only.
    for outside in ("/etc/passwd", "../../secret.key", "data/../../x.csv", "ok.csv\n"):
        csv = cli("connections", "add", "rows", "--type", "csv_file", "--field", f"path={outside}")
        assert csv.exit_code == 2 and "path" in csv.stderr, csv.output
    assert "rows" not in listed(cli)


# -- testing, updating, removing -----------------------------------------------------------


def test_connection_test_records_connected_and_disconnected_with_the_time(cli):
    good = cli("connections", "test", "liveperson", "--json")
    shop = cli("connections", "test", "shopify", "--json")

    assert good.exit_code == 0 and shop.exit_code == 0
    info = as_json(good)
    assert info["status"] == "connected"
    assert info["status_message"] == "3 handoffs, 3 skills"
    assert info["tested_at"]
    assert as_json(shop)["status"] == "connected"

    wrong = "wrong-secret-5150"
    updated = cli(
        "connections",
        "update",
        "liveperson",
        "--secret",
        "client_secret",
        "--json",
        env={"LPSTUDIO_SECRET_CLIENT_SECRET": wrong},
    )
    assert updated.exit_code == 0
    assert as_json(updated)["status"] == "untested"  # a changed connection is tested again
    bad = cli("connections", "test", "liveperson", "--json")

    assert bad.exit_code == 1
    info = as_json(bad)
    assert info["status"] == "disconnected" and info["tested_at"]
    assert "client id and secret" in info["status_message"]
    assert wrong not in bad.output
    row = listed(cli)["liveperson"]
    assert row["status"] == "disconnected" and row["tested_at"] == info["tested_at"]
    assert row["fields"]["client_secret"] == "****"


def test_update_changes_plain_fields_keeps_secrets_and_remove_deletes(cli, sandbox, ws):
    updated = cli(
        "connections", "update", "liveperson", "--field", "requests_per_second=5", "--json"
    )

    assert updated.exit_code == 0, updated.output
    assert as_json(updated)["fields"]["requests_per_second"] == 5
    assert as_json(updated)["fields"]["client_secret"] == "****"
    tested = cli("connections", "test", "liveperson", "--json")
    assert tested.exit_code == 0, tested.output  # the secret survived the update

    removed = cli("connections", "remove", "liveperson", "--json")
    again = cli("connections", "remove", "liveperson")
    unknown = cli("connections", "update", "nosuch", "--field", "a=b")

    assert removed.exit_code == 0 and as_json(removed) == {"removed": "liveperson"}
    assert again.exit_code == 2 and "no connection named 'liveperson'" in again.stderr
    assert unknown.exit_code == 2
    assert set(listed(cli)) == {"shopify"}


def test_an_emptied_plain_field_is_cleared_and_a_required_one_refused(cli, sandbox, ws):
    """A per-service URL set once could not be taken back (empty was refused as no URL,
    and a form leaving it out kept it): now empty clears it, as a form's emptied field."""
    cli("connections", "update", "liveperson", "--field", "proactive_base_url=http://127.0.0.1:9")
    cleared = cli("connections", "update", "liveperson", "--field", "proactive_base_url=", "--json")
    assert cleared.exit_code == 0, cleared.output
    assert "proactive_base_url" not in as_json(cleared)["fields"]
    assert cli("connections", "test", "liveperson").exit_code == 0  # the sandbox again
    required = cli("connections", "update", "liveperson", "--field", "account_id=")
    assert required.exit_code == 2 and "account_id" in required.stderr
    assert listed(cli)["liveperson"]["fields"]["account_id"]  # nothing was written


@pytest.mark.parametrize(
    ("name", "secret", "legacy", "field"),
    [
        ("liveperson", "client_secret", "sec-123", ("requests_per_second", "5", 5)),
        ("shopify", "access_token", "shpat_töken", ("api_version", "2024-10", "2024-10")),
    ],
)
def test_a_secret_stored_before_its_rule_does_not_block_changing_another_field(
    cli, ws, name, secret, legacy, field
):
    """A secret saved by an older lpstudio, shorter than `sdk.MIN_SECRET_LENGTH` or no
    header's value, made `update --field` of any other field fail on it, naming a secret
    the user did not give: an update checks what it changes. A new value is still checked."""
    with Studio.open(ws, user="alice") as studio, studio.store.write() as s:
        row = s.get_one(ConnectionRow, name)  # as `Connections.update` writes it
        row.secrets = studio.connections.vault.seal({secret: legacy})
    key, value, stored = field

    updated = cli("connections", "update", name, "--field", f"{key}={value}", "--json")

    assert updated.exit_code == 0, updated.output
    assert as_json(updated)["fields"][key] == stored
    assert as_json(updated)["fields"][secret] == "****" and legacy not in updated.output
    with Studio.open(ws, user="alice") as studio:
        assert studio.connections.values(name)[1][secret] == legacy  # kept as it was
    env = {f"LPSTUDIO_SECRET_{secret.upper()}": legacy}
    again = cli("connections", "update", name, "--secret", secret, "--json", env=env)
    assert again.exit_code == 2 and as_json(again)["error"]["field"] == secret, again.output


def test_the_store_never_holds_a_secret_in_clear(cli, sandbox, ws):
    other = "another-secret-2718"
    add_lp(cli, "lp-two", sandbox.url, env={"LPSTUDIO_SECRET_CLIENT_SECRET": other})
    cli("connections", "test", "liveperson")
    cli("connections", "test", "lp-two")
    cli(
        "connections",
        "update",
        "lp-two",
        "--secret",
        "client_secret",
        env={"LPSTUDIO_SECRET_CLIENT_SECRET": other + "-v2"},
    )

    data = store_bytes(ws)

    assert b"sandbox-client" in data  # plain fields are there: we are reading the store
    for secret in (SECRET, "shpat_sandbox", other, other + "-v2"):
        assert secret.encode() not in data
    assert SECRET.encode() not in (ws / "lpstudio.toml").read_bytes()


# -- connectors ----------------------------------------------------------------------------


def test_connectors_lists_the_bundled_ones_with_what_they_offer(cli):
    result = cli("connectors", "--json")

    assert result.exit_code == 0, result.output
    found = {item["name"]: item for item in as_json(result)["connectors"]}
    assert {LP_TYPE, "shopify", "http", "csv_file", "sql"} <= set(found)
    lp = found[LP_TYPE]
    assert {"send_campaign", "campaign_status", "reporting_analytics"} <= set(lp["actions"])
    assert set(lp["picklists"]) == {"handoffs", "skills"}
    assert lp["fields"]["properties"]["client_secret"]["writeOnly"] is True
    assert lp["actions"]["send_campaign"]["input"]["required"]
    shopify = found["shopify"]["triggers"]["new_or_updated_abandoned_checkout"]
    assert shopify == {
        "title": "New or updated abandoned checkout",
        "kind": "poll",
        "object": "checkout",
    }
    assert "request" in found["http"]["actions"]
    assert found["http"]["triggers"]["webhook"]["kind"] == "webhook"
    assert {"read_rows", "append_row"} <= set(found["csv_file"]["actions"])
    assert {"query", "insert"} <= set(found["sql"]["actions"])
    text = cli("connectors")
    assert "client_secret (secret)" in text.stdout


ACME = """
from lpstudio.sdk import Connector, Field

connector = Connector(
    "acme",
    title="Acme CRM",
    fields=[Field("base_url", "API base URL", type="url"),
            Field("api_key", "API key", secret=True),
            Field("pin", "PIN", type="integer", secret=True, required=False)],
)


@connector.action("create_lead", title="Create lead")
def create_lead(conn, data):
    return conn.would_send("POST", "/leads", json=data)
"""


def test_threads_loading_connectors_at_once_all_get_them(ws: Path) -> None:
    """A server's threads answer several requests at once; each may be the first to load
    the workspace's connectors (a slow import makes the window wide)."""
    import threading

    from lpstudio.registry import forget, load_connectors

    (ws / "connectors").mkdir()
    (ws / "connectors" / "acme.py").write_text("import time\ntime.sleep(0.3)\n" + ACME)
    forget()  # as in a server process that has not loaded them yet
    start = threading.Barrier(6)
    found: list[set[str]] = []
    errors: list[Exception] = []

    def load() -> None:
        start.wait()
        try:
            found.append(set(load_connectors(ws)))
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=load) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(found) == 6 and all("acme" in names for names in found)


def test_a_workspace_connector_is_listed_and_usable(ws):
    (ws / "connectors").mkdir()
    (ws / "connectors" / "acme.py").write_text(ACME)

    code, found = run_json("connectors", "--workspace", str(ws))
    added = run_cli(
        "connections",
        "add",
        "acme-prod",
        "--type",
        "acme",
        "--field",
        "base_url=https://acme.example",
        "--secret",
        "api_key",
        "--workspace",
        str(ws),
        env={"LPSTUDIO_SECRET_API_KEY": "acme-key-1234"},
    )
    code2, rows = run_json("connections", "list", "--workspace", str(ws))

    assert code == 0
    acme = {item["name"]: item for item in found["connectors"]}["acme"]
    assert acme["title"] == "Acme CRM"
    assert acme["source"] == "connectors/acme.py"  # in the workspace, none of its folders
    assert "create_lead" in acme["actions"]
    assert added.returncode == 0, added.stderr
    assert code2 == 0
    assert {r["name"]: r for r in rows}["acme-prod"]["fields"]["api_key"] == "****"


def test_connections_list_says_why_a_connection_is_disconnected_and_the_fix(ws, cli):
    """`list` printed `disconnected` alone: why (its connector gone, here) and the fix were
    only in its --json or a test's answer."""
    (ws / "connectors").mkdir()
    (ws / "connectors" / "acme.py").write_text(ACME)
    added = cli(
        "connections",
        "add",
        "crm",
        "--type",
        "acme",
        "--field",
        "base_url=https://a.example",
        "--secret",
        "api_key",
        input="acme-key-1234\n",
    )
    assert added.exit_code == 0, added.output
    (ws / "connectors" / "acme.py").unlink()

    listed = cli("connections", "list").output.splitlines()

    row = next(i for i, line in enumerate(listed) if line.startswith("crm "))
    assert "disconnected" in listed[row], listed
    assert "unknown connector type 'acme'" in listed[row + 1], listed
    assert listed[row + 2].startswith("    fix: ") and "acme" in listed[row + 2], listed


def test_a_badly_typed_secret_is_refused_without_echoing_it(ws):
    (ws / "connectors").mkdir()
    (ws / "connectors" / "acme.py").write_text(ACME)

    proc = run_cli(
        "connections",
        "add",
        "acme-pin",
        "--type",
        "acme",
        "--field",
        "base_url=https://acme.example",
        "--secret",
        "api_key",
        "--secret",
        "pin",
        "--workspace",
        str(ws),
        env={"LPSTUDIO_SECRET_API_KEY": "acme-key-1234", "LPSTUDIO_SECRET_PIN": "pin-4u-77"},
    )

    assert proc.returncode == 2
    assert "pin" in proc.stderr
    assert "pin-4u-77" not in proc.stderr + proc.stdout


def test_a_json_value_of_the_wrong_type_is_refused_saying_its_kind_not_its_value(
    ws: Path,
) -> None:
    """`{"token": 123}` over REST was "invalid: fails the 'type' rule", with the field's
    help for a fix; a plain field quoted jsonschema's words."""
    with Studio.open(ws, user="alice") as studio:
        for fields, field, said in (
            ({"token": 123}, "token", "expects text, got a number"),
            ({"token": ["t0ken-123"]}, "token", "expects text, got a list"),
            ({"base_url": "https://x.example", "timeout_seconds": True}, "timeout_seconds", None),
        ):
            with pytest.raises(InputError) as refused:
                studio.connections.add("crm", "http", fields, "alice")
            error = refused.value
            assert error.field == field, error
            if said is not None:
                assert said in error.message and "t0ken-123" not in str(error), error
                assert error.fix.startswith("give token as text"), error
            else:
                assert error.message.endswith("expects a number, got true"), error
        assert "crm" not in {info.name for info in studio.connections.list()}


def test_a_url_holding_a_password_is_refused_in_a_plain_field(ws: Path) -> None:
    """It was saved, listed and stored in clear; only the connection's test said so (rx)."""
    with Studio.open(ws, user="alice") as studio:
        for name, kind, fields, field in (
            ("crm", "http", {"base_url": "https://bob:hunter2pw@api.example.com/v1"}, "base_url"),
            ("crm", "http", {"base_url": "HTTPS://svc@api.example.com"}, "base_url"),
            ("shop2", "shopify", {"shop": "https://admin:ShopPw9988@127.0.0.1:9"}, "shop"),
        ):
            with pytest.raises(InputError) as refused:
                studio.connections.add(name, kind, fields, "alice")
            error = refused.value
            assert error.field == field and "user name or password" in error.message, error
            assert "hunter2pw" not in str(error) and "ShopPw9988" not in str(error), error
        names = {info.name for info in studio.connections.list()}
        assert not {"crm", "shop2"} & names
        studio.connections.add("crm", "http", {"base_url": "https://api.example.com/v1"}, "alice")


SLOW = """
import threading

from lpstudio.sdk import Connector, Field

connector = Connector("slow", title="Slow app", fields=[Field("base_url", "URL", type="url")])
connector.release = threading.Event()  # the test that hangs waits on it


@connector.test
def test(conn):
    connector.release.wait()
    return "answered at last"
"""


def test_a_connection_test_that_hangs_fails_after_the_time_limit(cli, ws, monkeypatch):
    """A test that never returned held the CLI, the REST call and the server's exit."""
    from lpstudio import connections
    from lpstudio.registry import get_connector

    (ws / "connectors").mkdir()
    (ws / "connectors" / "slow.py").write_text(SLOW)
    added = cli("connections", "add", "slow", "--type", "slow", "--field", "base_url=http://x.test")
    assert added.exit_code == 0, added.output
    monkeypatch.setattr(connections, "TEST_TIMEOUT", 0.2)
    try:
        tested = cli("connections", "test", "slow", "--json")
    finally:
        get_connector("slow", ws).release.set()

    assert tested.exit_code == 1, tested.output
    info = as_json(tested)
    assert info["status"] == "disconnected" and info["tested_at"]
    assert info["status_message"].startswith("the test did not end within 0.2 s")
    assert "URL" in info["status_message"], info
    # By its path in the workspace, as answers name its files: not the server's folders.
    assert "; the connector's test is in connectors/slow.py" in info["status_message"], info
    assert str(ws) not in info["status_message"], info
    assert "`lpstudio connections update slow --field base_url=...`" in info["status_message"]
    assert listed(cli)["slow"]["status"] == "disconnected"


HANG = """
import threading

from lpstudio.sdk import Connector, Field

connector = Connector("hang", title="Hang", fields=[Field("k", "Key")])
connector.release = threading.Event()


@connector.test
def test(conn):
    connector.release.wait()
"""


async def test_a_rest_test_that_hangs_names_the_connector_s_file_in_the_workspace(
    jp_fetch, ws, monkeypatch
):
    """`POST /connections/hg/test` of a workspace connector whose test hangs: the status
    message named the connector's file by the server's absolute folder."""
    from lpstudio import connections
    from lpstudio.registry import get_connector

    (ws / "connectors").mkdir()
    (ws / "connectors" / "hang.py").write_text(HANG)
    new = {"name": "hg", "type": "hang", "fields": {"k": "abc"}}
    assert (await rest(jp_fetch, "POST", "connections", body=new))[0] == 201
    monkeypatch.setattr(connections, "TEST_TIMEOUT", 0.2)
    try:
        status, info = await rest(jp_fetch, "POST", "connections", "hg", "test", body={})
    finally:
        get_connector("hang", ws).release.set()

    assert status == 200 and info["status"] == "disconnected", info
    said, _, fix = info["status_message"].partition("\n  fix: ")
    assert said == "the test did not end within 0.2 s", info
    assert fix.startswith("check the app's URL, then POST /"), info  # under the base URL
    assert fix.endswith(
        "/lpstudio/api/v1/connections/hg/test; the connector's test is in connectors/hang.py"
    ), info
    assert str(ws) not in fix, info


@pytest.mark.parametrize(("name", "field"), [("liveperson", "base_url"), ("shopify", "shop")])
def test_a_test_the_app_does_not_answer_in_time_names_the_url_s_field(
    cli, control, sandbox, monkeypatch, name, field
):
    """The sandbox answering slower than the test's time limit: the message named the
    bundled connector's source folder, which an admin cannot act on; it names the field the
    silent host's URL came from, with the command that sets it."""
    from lpstudio import connections

    monkeypatch.setattr(connections, "TEST_TIMEOUT", 1.0)
    faults = {"latency_ms": 4000, "scope": "all"}
    assert control.post("/_sandbox/faults", json=faults).status_code == 200

    tested = cli("connections", "test", name, "--json")

    assert tested.exit_code == 1, tested.output
    message = as_json(tested)["status_message"]
    assert message.startswith("the test did not end within 1 s: "), message
    assert f"{sandbox.url} did not answer in time" in message, message
    assert f"`lpstudio connections update {name} --field {field}=...`" in message, message
    assert "connectors/" not in message and "connector's test" not in message, message


def test_the_process_exits_while_a_timed_out_connection_test_still_hangs(cli, ws):
    """`lpstudio serve` on SIGTERM waited for the connector's sleep to end (ten minutes)."""
    (ws / "connectors").mkdir()
    (ws / "connectors" / "slow.py").write_text(SLOW)
    added = cli("connections", "add", "slow", "--type", "slow", "--field", "base_url=http://x.test")
    assert added.exit_code == 0, added.output
    code = (
        "import sys, lpstudio.connections as c; c.TEST_TIMEOUT = 0.2\n"
        "from lpstudio.cli import main\n"
        "main(['connections', 'test', 'slow', '--workspace', sys.argv[1]])\n"
    )

    # Nothing releases the connector here: the process must end without it.
    proc = subprocess.run(
        [sys.executable, "-c", code, str(ws)], capture_output=True, text=True, timeout=60
    )

    assert proc.returncode == 1, proc.stderr
    assert "slow: disconnected: the test did not end within 0.2 s" in proc.stdout


DASHY = """
from lpstudio.sdk import Connector, Field

connector = Connector(
    "dashy",
    title="Dashy",
    fields=[Field("base_url", "API base URL", type="url"),
            Field("api-key", "API key", secret=True)],
)


@connector.test
def test(conn):
    return f"key of {len(conn.config['api-key'])} characters"
"""


def test_a_connection_whose_connector_renamed_a_field_is_fixed_by_giving_it(cli, ws):
    """Renamed, the field could be given by no update (the old one was refused as unknown)
    and a test failed with the connector's own KeyError."""
    (ws / "connectors").mkdir()
    connector = ws / "connectors" / "dashy.py"
    connector.write_text(DASHY)
    added = cli(
        "connections",
        "add",
        "dashy",
        "--type",
        "dashy",
        "--field",
        "base_url=https://dashy.test",
        "--secret",
        "api-key",
        input="old-key-4242\n",
    )
    assert added.exit_code == 0, added.output
    connector.write_text(DASHY.replace("api-key", "api_key"))

    tested = cli("connections", "test", "dashy", "--json")

    assert tested.exit_code == 2, tested.output
    error = as_json(tested)["error"]
    assert error["field"] == "api_key"
    assert "'api_key' (API key)" in error["message"] and "api-key" in error["message"]
    assert "lpstudio connections update dashy --secret api_key" in error["fix"]
    # A run of a recipe using it is refused before any job, saying the same.
    uses = (
        "import lpstudio.kernel as lp\nprint(lp.connection('dashy').connection.config['api_key'])"
    )
    slots = {"dashy": {"type": "dashy"}}
    write_recipe(ws, "p/uses", cells=(uses,), metadata={"title": "uses", "connections": slots})
    ran = cli("run", "p/uses", "--json")
    refused = as_json(ran)["error"]
    assert ran.exit_code == 2 and refused["field"] == "connections.dashy", ran.output
    assert (refused["message"], refused["fix"]) == (error["message"], error["fix"]), refused
    assert job_rows(ws) == 0

    updated = cli(
        "connections",
        "update",
        "dashy",
        "--secret",
        "api_key",
        "--json",
        env={"LPSTUDIO_SECRET_API_KEY": "new-key-31337"},
    )

    assert updated.exit_code == 0, updated.output
    assert as_json(updated)["fields"] == {"base_url": "https://dashy.test", "api_key": "****"}
    entry = next(e for e in as_json(cli("audit", "--json")) if e["action"] == "update_connection")
    assert entry["detail"]["dropped"] == ["api-key"]  # said where changes are recorded
    again = cli("connections", "test", "dashy", "--json")
    assert again.exit_code == 0, again.output
    assert as_json(again)["status_message"] == "key of 13 characters"
    assert "new-key-31337" not in again.output + updated.output


# -- binding connections to a recipe's slots -----------------------------------------------

SLOT_CELL = """\
import lpstudio.kernel as lp
client = lp.connection("messaging")
lp.set_result({"name": client.connection.name, "type": client.connection.connector.name})
"""


def slot_recipe(ws: Path, slot: str = "messaging") -> None:
    write_recipe(
        ws,
        "outbound/notify",
        cells=(SLOT_CELL.replace("messaging", slot),),
        metadata={"title": "Notify", "connections": {slot: {"type": LP_TYPE}}},
    )


def test_settings_binds_a_slot_and_refuses_a_connection_of_the_wrong_type(cli, ws):
    slot_recipe(ws)

    wrong_type = cli("settings", "outbound/notify", "--connection", "messaging=shopify")
    missing = cli("settings", "outbound/notify", "--connection", "messaging=nosuch")
    no_slot = cli("settings", "outbound/notify", "--connection", "sms=liveperson")
    right = cli("settings", "outbound/notify", "--connection", "messaging=liveperson", "--json")

    assert wrong_type.exit_code == 2
    assert "needs a liveperson_proactive connection, but 'shopify' is" in wrong_type.stderr
    assert missing.exit_code == 2 and "'nosuch', which does not exist" in missing.stderr
    assert no_slot.exit_code == 2 and "no connection slot sms" in no_slot.stderr
    assert right.exit_code == 0, right.output
    assert as_json(right)["connections"] == {"messaging": "liveperson"}


#: The fix for a connection named in another case than its own (names are lower case only).
LOWER_CASE = "connection names are lower case: did you mean 'liveperson'?"


def test_a_connection_named_in_another_case_is_told_its_name(cli, ws):
    """`LivePerson` was told to bind an existing connection, or to list them, where the one
    meant exists in lower case."""
    slot_recipe(ws)
    bound = cli("settings", "outbound/notify", "--connection", "messaging=LivePerson", "--json")
    tested = cli("connections", "test", "LivePerson", "--json")
    for refused in (bound, tested):
        assert refused.exit_code != 0, refused.output
        assert as_json(refused)["error"]["fix"] == LOWER_CASE, refused.output
    unknown = cli("connections", "test", "Nosuch", "--json")
    assert as_json(unknown)["error"]["fix"] == "list them with `lpstudio connections list`"


async def test_the_rest_api_tells_a_connection_named_in_another_case_its_name(jp_fetch, ws):
    slot_recipe(ws)
    for method, path, body in (
        ("GET", ("connections", "LivePerson"), None),
        ("POST", ("connections", "LivePerson", "test"), {}),
        (
            "PUT",
            ("recipes", "outbound", "notify.ipynb", "settings"),
            {"connections": {"messaging": "LivePerson"}},
        ),
    ):
        status, answer = await rest(jp_fetch, method, *path, body=body)
        assert status in (400, 404) and answer["error"]["fix"] == LOWER_CASE, answer


def test_a_recipe_without_slots_is_told_to_leave_connections_out(cli, ws):
    """It was told "use one of: (none)"."""
    write_recipe(ws, "outbound/plain")
    refused = cli("settings", "outbound/plain", "--connection", "x=liveperson", "--json")
    assert refused.exit_code == 2, refused.output
    fix = as_json(refused)["error"]["fix"]
    assert fix == "leave connections out: outbound/plain.ipynb declares no connection slots", fix


def test_values_are_saved_before_a_slot_has_its_connection_which_running_then_needs(cli, ws):
    write_recipe(
        ws,
        "reports/daily",
        cells=("import lpstudio.kernel as lp\nlp.connection('warehouse')",),
        parameters="days: int = 7  # days to report",
        metadata={"title": "Daily", "connections": {"warehouse": {"type": "sql"}}},
    )

    saved = cli("settings", "reports/daily", "-p", "days", "3")
    shown = cli("settings", "reports/daily", "--json")
    refused = cli("run", "reports/daily", "--json")

    assert saved.exit_code == 0, saved.output
    assert "days = 3  [integer, saved]" in saved.output
    assert "not ready:   no sql connection for slot 'warehouse'" in saved.output
    assert as_json(shown)["parameters"] == {"days": 3}
    assert as_json(shown)["settings_problem"]["field"] == "connections.warehouse"
    assert as_json(shown)["connections"] == {}
    assert refused.exit_code == 2
    assert as_json(refused)["error"]["field"] == "connections.warehouse"
    assert as_json(cli("jobs", "--json")) == []


def test_settings_reset_forgets_a_saved_value_or_binding(cli, ws):
    slot_recipe(ws)
    chosen = cli("settings", "outbound/notify", "-p", "x", "4", "--connection", "messaging=lp")
    assert chosen.exit_code == 2  # no connection lp: nothing saved
    bound = "messaging=liveperson"
    saved = cli("settings", "outbound/notify", "-p", "x", "4", "--connection", bound)
    assert saved.exit_code == 0, saved.output

    forgot = cli(
        "settings", "outbound/notify", "--reset", "x", "--reset", "connections.messaging", "--json"
    )
    unknown = cli("settings", "outbound/notify", "--reset", "y")

    assert forgot.exit_code == 0, forgot.output
    assert as_json(forgot)["parameters"] == {}  # the notebook's default again
    assert as_json(forgot)["connections"] == {"messaging": "liveperson"}  # found by name
    with Studio.open(ws, user="alice") as studio:
        assert saved_settings(studio.store, "outbound/notify.ipynb").get("connections") == {}
    assert unknown.exit_code == 2 and "no parameter or slot 'y'" in unknown.stderr
    assert "x, connections.messaging" in unknown.stderr


def test_an_ambiguous_slot_is_refused_before_any_job_and_says_how_to_choose(cli, ws, sandbox):
    slot_recipe(ws)
    assert add_lp(cli, "lp-backup", sandbox.url, input=f"{SECRET}\n").exit_code == 0

    refused = cli("run", "outbound/notify", "--json")

    assert refused.exit_code == 2
    error = as_json(refused)["error"]
    assert error["field"] == "connections.messaging"
    message = error["message"]
    assert "several liveperson_proactive connections could fill slot 'messaging'" in message
    assert "liveperson, lp-backup" in message
    assert "lpstudio settings outbound/notify.ipynb --connection messaging=NAME" in error["fix"]
    assert as_json(cli("jobs", "--json")) == []

    chosen = cli("settings", "outbound/notify", "--connection", "messaging=lp-backup")
    assert chosen.exit_code == 0, chosen.output
    code, job = run_json("run", "outbound/notify", "--workspace", str(ws))

    assert code == 0, job
    assert job["result"] == {"name": "lp-backup", "type": LP_TYPE}

    # The bound connection cannot be removed while the recipe's settings use it.
    kept = cli("connections", "remove", "lp-backup")
    assert kept.exit_code == 2 and "outbound/notify.ipynb (slot messaging)" in kept.stderr
    assert len(as_json(cli("jobs", "--json"))) == 1


def test_every_slot_s_problem_is_named_at_once_and_the_filled_slots_listed(tmp_path):
    """Two http connections and no LivePerson one: `lpstudio settings` named only the
    ambiguous slot, and the missing one only once it was chosen. It names both, each with
    its fix (in the REST API's terms too), and lists the slots a connection fills."""
    from lpstudio.server.fixes import in_rest_terms

    root = tmp_path / "ws"
    Studio.init(root, accept_terms=True, admin="alice").close()
    with Studio.open(root, user="alice") as studio:
        for name, url in (("h1", "https://a.example"), ("h2", "https://b.example")):
            studio.connections.add(name, "http", {"base_url": url}, "alice")
        studio.try_template("new_lead", "p")

    def settings() -> Result:
        return CliRunner().invoke(main, ["settings", "p/new_lead", "--workspace", str(root)])

    both = settings()
    with Studio.open(root, user="alice") as studio:
        problem = studio.recipe_detail("p/new_lead")["settings_problem"]
        lp = {"account_id": "12345678", "client_id": "c", "client_secret": SECRET}
        studio.connections.add("lp", LP_TYPE, lp, "alice")
    one = settings()

    assert both.exit_code == 0, both.output
    assert (
        "not ready:   several http connections could fill slot 'http': h1, h2; "
        "no liveperson_proactive connection for slot 'liveperson'"
    ) in both.output
    choose = "choose one with `lpstudio settings p/new_lead.ipynb --connection http=NAME`"
    create = "create one with `lpstudio connections add liveperson --type liveperson_proactive"
    assert f"  fix: {choose}; {create}" in both.output
    assert "connection:" not in both.output  # neither slot is filled
    assert problem["field"] == "connections.http"
    rest = str(in_rest_terms(problem["fix"]))
    assert 'settings {"connections": {"http": "NAME"}}; create one with POST ' in rest, rest
    assert '{"name": "liveperson", "type": "liveperson_proactive"' in rest
    assert "connection:  liveperson = lp  (automatic)" in one.output, one.output
    assert "not ready:   several http connections could fill slot 'http': h1, h2\n" in one.output


def test_a_slot_named_like_a_connection_needs_no_binding(cli, ws):
    slot_recipe(ws, slot="liveperson")

    shown = cli("settings", "outbound/notify", "--json")

    assert shown.exit_code == 0, shown.output
    assert as_json(shown)["connections"] == {"liveperson": "liveperson"}


def test_api_clients_from_the_cli_are_for_admins_and_show_the_token_once(
    tmp_path: Path,
) -> None:
    from click.testing import CliRunner

    from lpstudio.cli import main

    root = tmp_path / "ws"
    with Studio.init(root, accept_terms=True, admin="ada") as studio:
        studio.try_template("cb_optin", "bots")  # serves the endpoint `optin`
    runner = CliRunner()
    made = runner.invoke(
        main,
        [
            "api-clients",
            "create",
            "cb",
            "--endpoint",
            "optin",
            "--rate",
            "30/min",
            "--json",
            "-w",
            str(root),
        ],
        env={"LPSTUDIO_USER": "ada"},
    )
    assert made.exit_code == 0, made.output
    token = json.loads(made.stdout)["token"]
    assert token.startswith("lps_")
    listed = runner.invoke(
        main, ["api-clients", "list", "--json", "-w", str(root)], env={"LPSTUDIO_USER": "ada"}
    )
    assert token not in listed.output and '"rate_per_minute": 30' in listed.output
    assert token.encode() not in (root / "lpstudio.db").read_bytes()
    refused = runner.invoke(
        main, ["api-clients", "list", "-w", str(root)], env={"LPSTUDIO_USER": "bob"}
    )
    assert refused.exit_code == 2 and "only admins" in refused.output
    for rate in ("lots", "0/min", "100001/min"):  # 0/min would refuse every call
        bad = runner.invoke(
            main,
            ["api-clients", "create", "x", "--endpoint", "optin", "--rate", rate, "-w", str(root)],
            env={"LPSTUDIO_USER": "ada"},
        )
        assert bad.exit_code == 2 and "--rate" in bad.output, rate


def test_admins_give_roles_from_the_cli(tmp_path: Path) -> None:
    """Roles could be given only over the REST API (`PUT /users/NAME/role`), which the
    README never named: an admin at the command line had no way to make an operator."""
    from click.testing import CliRunner

    from lpstudio.cli import main

    root = tmp_path / "ws"
    Studio.init(root, accept_terms=True, admin="ada").close()
    runner = CliRunner()

    def as_user(user: str, *args: str) -> Result:
        return runner.invoke(main, [*args, "-w", str(root)], env={"LPSTUDIO_USER": user})

    given = as_user("ada", "users", "role", "otto", "operator", "--json")
    assert given.exit_code == 0, given.output
    assert json.loads(given.stdout) == {"name": "otto", "role": "operator", "created": True}
    listed = as_user("ada", "users", "list", "--json")
    assert {u["name"]: u["role"] for u in json.loads(listed.stdout)} == {
        "ada": "admin",
        "otto": "operator",
    }
    with Studio.open(root, user="otto") as studio:
        assert studio.role == "operator"
    refused = as_user("otto", "users", "role", "otto", "admin")
    assert refused.exit_code == 2 and "only admins give roles" in refused.output
    for args, field in ((("bob", "boss"), "role"), (("api:cb", "analyst"), "name")):
        bad = as_user("ada", "users", "role", *args, "--json")
        assert bad.exit_code == 2 and json.loads(bad.stdout)["error"]["field"] == field
    last = as_user("ada", "users", "role", "ada", "operator")
    assert last.exit_code == 2 and "last admin" in last.output
    # A login that brought in a name no admin could type (`LPSTUDIO_USER="bo b"`, an IdP's
    # "Ada Lovelace") got the default role for good: its role was refused as invalid.
    assert as_user("bo b", "recipes").exit_code == 0
    moved = as_user("ada", "users", "role", "bo b", "operator", "--json")
    assert moved.exit_code == 0, moved.output
    assert json.loads(moved.stdout) == {"name": "bo b", "role": "operator", "created": False}
    new = as_user("ada", "users", "role", "new person", "operator", "--json")
    assert new.exit_code == 2 and json.loads(new.stdout)["error"]["field"] == "name"


# -- connections that recipes use -----------------------------------------------------------


def audited(cli: Callable[..., Result], action: str) -> list[str]:
    return [e["target"] for e in as_json(cli("audit", "--json")) if e["action"] == action]


def test_a_connection_bound_to_a_slot_is_kept_until_the_slot_is_rebound(cli, ws, sandbox):
    slot_recipe(ws)
    assert add_lp(cli, "lp-backup", sandbox.url, input=f"{SECRET}\n").exit_code == 0
    assert cli("settings", "outbound/notify", "--connection", "messaging=lp-backup").exit_code == 0

    refused = cli("connections", "remove", "lp-backup", "--json")

    assert refused.exit_code == 2, refused.output
    error = as_json(refused)["error"]
    assert error["field"] == "connection"
    assert error["message"] == (
        "connection 'lp-backup' is used by 1 recipe: outbound/notify.ipynb (slot messaging)"
    )
    assert "lpstudio settings outbound/notify.ipynb --connection messaging=OTHER" in error["fix"]
    assert "lp-backup" in listed(cli) and audited(cli, "delete_connection") == []
    shown = cli("settings", "outbound/notify", "--json")
    assert shown.exit_code == 0 and as_json(shown)["connections"] == {"messaging": "lp-backup"}
    with Studio.open(ws, user="alice") as studio, pytest.raises(InputError) as raised:
        studio.connections.remove("lp-backup")
    assert raised.value.message == error["message"]

    assert cli("settings", "outbound/notify", "--connection", "messaging=liveperson").exit_code == 0
    removed = cli("connections", "remove", "lp-backup")
    assert removed.exit_code == 0, removed.output
    assert "lp-backup" not in listed(cli) and audited(cli, "delete_connection") == ["lp-backup"]


def test_start_pins_the_connections_a_recipe_uses_by_default(cli, ws, sandbox):
    # Started on the only liveperson connection, it must go on sending through it once
    # others are added: a second one made its slot ambiguous (every trigger failing until
    # the auto-stop), and one named like its slot took the slot over (another account).
    slot_recipe(ws)
    assert cli("start", "outbound/notify").exit_code == 0
    for name in ("lp-backup", "messaging"):
        assert add_lp(cli, name, sandbox.url, input=f"{SECRET}\n").exit_code == 0

    shown = as_json(cli("settings", "outbound/notify", "--json"))
    code, job = run_json("run", "outbound/notify", "--workspace", str(ws))

    assert shown["connections"] == {"messaging": "liveperson"}
    assert code == 0, job
    assert job["result"] == {"name": "liveperson", "type": LP_TYPE}
    kept = cli("connections", "remove", "liveperson")
    assert kept.exit_code == 2 and "outbound/notify.ipynb (slot messaging)" in kept.stderr


def test_a_recipe_started_before_pinning_keeps_the_connection_it_uses_by_default(cli, ws):
    from lpstudio.store import Store
    from lpstudio.workspace import Workspace

    watch = {"title": "Watch", "connections": {"store": {"type": "shopify"}}}
    write_recipe(ws, "shop/watch", metadata=watch)
    write_recipe(ws, "shop/idle", metadata={**watch, "title": "Idle"})  # never started
    store = Store(Workspace.load(ws).store_url)  # started by an earlier lpstudio: no pins
    set_settings(store, "shop/watch.ipynb", "ana", state="started")
    store.close()

    refused = cli("connections", "remove", "shopify", "--json")

    assert refused.exit_code == 2, refused.output
    error = as_json(refused)["error"]
    assert error["message"] == (
        "connection 'shopify' is used by 1 recipe: "
        "shop/watch.ipynb (slot store, by default, started)"
    )
    assert "lpstudio stop shop/watch.ipynb" in error["fix"]
    assert "shopify" in listed(cli)
    assert cli("stop", "shop/watch").exit_code == 0
    assert cli("connections", "remove", "shopify").exit_code == 0
    assert "shopify" not in listed(cli)


def test_bindings_of_recipes_or_slots_that_are_gone_do_not_keep_a_connection(cli, ws, sandbox):
    slot_recipe(ws)
    assert add_lp(cli, "lp-backup", sandbox.url, input=f"{SECRET}\n").exit_code == 0
    assert cli("settings", "outbound/notify", "--connection", "messaging=lp-backup").exit_code == 0
    slot_recipe(ws, slot="sms")  # the recipe no longer has the slot `messaging`
    assert cli("connections", "remove", "lp-backup").exit_code == 0
    assert cli("settings", "outbound/notify", "--connection", "sms=liveperson").exit_code == 0
    (ws / "projects" / "outbound" / "notify.ipynb").unlink()  # the recipe is deleted
    assert cli("connections", "remove", "liveperson").exit_code == 0
    assert set(listed(cli)) == {"shopify"}


# -- through the REST API --------------------------------------------------------------------


async def test_the_rest_api_keeps_a_connection_that_a_recipe_uses(jp_fetch, cli, ws):
    slot_recipe(ws)
    assert cli("settings", "outbound/notify", "--connection", "messaging=liveperson").exit_code == 0

    status, answer = await rest(jp_fetch, "DELETE", "connections", "liveperson")

    assert status == 400, answer
    assert answer["error"]["field"] == "connection"
    assert "outbound/notify.ipynb (slot messaging)" in answer["error"]["message"]
    assert "liveperson" in listed(cli)
    slot_recipe(ws, slot="sms")
    assert await rest(jp_fetch, "DELETE", "connections", "liveperson") == (
        200,
        {"removed": "liveperson"},
    )


@pytest.mark.parametrize("typed", TYPED_NAMES)
async def test_the_rest_api_quotes_an_unknown_connection_or_api_client_as_sent(jp_fetch, ws, typed):
    """The 404 of a connection or an API client no one has quotes the name as sent, as the
    command line does (a backslash once, a name holding `'` in double quotes)."""
    shown = TYPED_NAMES[typed]
    status, answer = await rest(jp_fetch, "GET", "connections", typed)
    assert status == 404 and answer["error"]["message"] == f"no connection named {shown}"
    status, answer = await rest(jp_fetch, "DELETE", "api-clients", typed)
    assert status == 404 and answer["error"]["message"] == f"no API client named {shown}"


async def test_the_rest_api_gives_api_clients_only_endpoints_that_recipes_serve(jp_fetch, cli, ws):
    with Studio.open(ws, user="alice") as studio:
        studio.try_template("cb_optin", "bots")  # endpoint `optin`, not started

    status, answer = await rest(
        jp_fetch, "POST", "api-clients", body={"name": "bot", "endpoints": ["optin", "nosuch"]}
    )

    assert status == 400, answer
    error = answer["error"]
    assert error["field"] == "endpoints" and "'nosuch'" in error["message"]
    assert "optin" in error["fix"] and "*" in error["fix"]
    for rate in (0, 100_001, 1.5):
        body = {"name": "bot", "endpoints": ["optin"], "rate_per_minute": rate}
        status, answer = await rest(jp_fetch, "POST", "api-clients", body=body)
        assert status == 400 and answer["error"]["field"] == "rate_per_minute", (rate, answer)
    assert (await rest(jp_fetch, "GET", "api-clients"))[1] == {"api_clients": []}
    made = await rest(jp_fetch, "POST", "api-clients", body={"name": "bot", "endpoints": ["optin"]})
    assert made[0] == 201 and made[1]["endpoints"] == ["optin"]


def test_api_clients_are_refused_endpoints_that_no_recipe_serves(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    Studio.init(root, accept_terms=True, admin="ada").close()

    def create(*args: str) -> Result:
        command = ["api-clients", "create", "bot", *args, "--json", "-w", str(root)]
        return CliRunner().invoke(main, command, env={"LPSTUDIO_USER": "ada"})

    none_yet = create("--endpoint", "optin")
    assert none_yet.exit_code == 2, none_yet.output
    error = as_json(none_yet)["error"]
    # The CLI names the option typed (the studio names its field `endpoints`, as REST).
    assert error["field"] == "--endpoint" and "'optin'" in error["message"]
    assert "no recipe is callable yet" in error["fix"] and "*" in error["fix"]
    with Studio.open(root, user="ada") as studio:
        studio.try_template("cb_optin", "bots")
        for endpoints in (["nosuch"], [], ["optin", ""]):
            with pytest.raises(InputError) as raised:
                studio.api_clients.create("bot", endpoints)
            assert raised.value.field == "endpoints", endpoints
        with pytest.raises(InputError) as raised:
            studio.api_clients.create("bot", ["optin"], rate_per_minute=0)
        assert raised.value.field == "rate_per_minute"
    typo = create("--endpoint", "optins")
    assert typo.exit_code == 2 and "optin" in as_json(typo)["error"]["fix"]
    for rate in ("²/min", "1e3", "-5"):
        bad = create("--endpoint", "optin", "--rate", rate)
        assert bad.exit_code == 2 and "--rate" in bad.output and "Traceback" not in bad.output
    listed_clients = CliRunner().invoke(
        main, ["api-clients", "list", "--json", "-w", str(root)], env={"LPSTUDIO_USER": "ada"}
    )
    assert as_json(listed_clients) == []
    made = create("--endpoint", "optin", "--endpoint", "*")
    assert made.exit_code == 0, made.output
    assert as_json(made)["endpoints"] == ["optin", "*"]


def test_a_slot_no_connection_fills_hides_nothing_of_the_other_slots(ws):
    """One slot lacking a connection answered the recipe's settings as saved, whole: the
    other slots showed no automatic choice, and their pick lists (skills) none of theirs."""
    slots = {"liveperson": {"type": LP_TYPE}, "files": {"type": "csv_file"}}
    write_recipe(ws, "p/two", metadata={"title": "Two", "connections": slots})
    with Studio.open(ws, user="alice") as studio:
        detail = studio.recipe_detail("p/two")

    assert detail["settings_problem"]["field"] == "connections.files"
    assert detail["settings"]["connections"] == {"liveperson": "liveperson"}
    assert detail["automatic"] == ["liveperson"]


def test_a_start_names_every_connection_that_does_not_answer_with_one_fix(cli) -> None:
    """It named the first, and the next only once that one answered: a start a try."""
    tried = cli("gallery", "try", "cart_abandonment", "--project", "shop")
    assert tried.exit_code == 0, tried.output
    for name, secret in (("liveperson", "client_secret"), ("shopify", "access_token")):
        env = {f"LPSTUDIO_SECRET_{secret.upper()}": f"wrong-{name}-5150"}
        updated = cli("connections", "update", name, "--secret", secret, env=env)
        assert updated.exit_code == 0, updated.output
    started = cli("start", "shop/cart_abandonment")
    assert started.exit_code == 2, started.output
    said = started.stderr
    assert "connection 'liveperson' (slot 'liveperson') is disconnected: " in said, said
    assert "; connection 'shopify' (slot 'shopify') is disconnected: " in said, said
    (fix,) = [line for line in said.splitlines() if "fix:" in line]  # one, for both
    assert fix.startswith("  fix: liveperson: check the client id and secret of the connection"), (
        fix
    )
    assert "; shopify: give connection shopify an Admin API access token" in fix, fix
    assert "wrong-liveperson-5150" not in said and "wrong-shopify-5150" not in said
