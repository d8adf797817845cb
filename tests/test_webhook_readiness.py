"""A webhook recipe is ready only when its deliveries can be taken (README: Webhooks), through
a real `lpstudio serve` on loopback and the CLI.

The reviewer's steps: the new-lead template's `http` slot bound to a connection without a
`token` started (200) and showed no problem (`settings_problem: null`), then refused every
lead with 503 until someone noticed: the signature check's secret was looked for only when
a delivery came. Start now refuses it, and the settings say why, naming `token` and how to
give it; once given, the recipe starts and takes signed leads.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

from tests.conftest import run_cli, run_json
from tests.servers import Served, serving
from tests.test_webhook_verify import _error, _post, _signed

TOKEN = "crm2-signing-token-5b1e"
RECIPE = "leads2/new_lead.ipynb"
#: What the REST API says to do: its own route, not the CLI's command.
REST_FIX = 'PUT /lpstudio/api/v1/connections/crm2 {"fields": {"token": ...}}'
CLI_FIX = "`lpstudio connections update crm2 --secret token`"


def _bound_without_token(server: Served) -> None:
    """The reviewer's set-up, as an admin over REST."""
    made = server.api(
        "alice", "POST", "/connections", json={"name": "crm2", "type": "http", "fields": {}}
    )
    assert made.status_code == 201, made.text
    tried = server.api(
        "alice", "POST", "/gallery/try", json={"template": "new_lead", "project": "leads2"}
    )
    assert tried.status_code in (200, 201), tried.text
    saved = server.api(
        "alice", "PUT", f"/recipes/{RECIPE}/settings", json={"connections": {"http": "crm2"}}
    )
    assert saved.status_code == 200, saved.text


def _refuses_for_the_token(error: dict[str, str | None], fix: str) -> None:
    assert error["field"] == "token", error
    assert "connection 'crm2' has no token" in (error["message"] or ""), error
    assert fix in (error["fix"] or ""), error


def test_start_refuses_a_webhook_whose_connection_has_no_token(sandbox_ws: Path) -> None:
    with serving(sandbox_ws) as server:
        _bound_without_token(server)

        shown = server.api("alice", "GET", f"/recipes/{RECIPE}").json()
        assert shown["settings_problem"] is not None, shown
        # In the API's terms, as its Start refusal says it (it gave the CLI's command).
        _refuses_for_the_token(shown["settings_problem"], REST_FIX)
        started = server.api("alice", "POST", f"/recipes/{RECIPE}/start", json={})
        _refuses_for_the_token(_error(started, 400), REST_FIX)
        assert server.api("alice", "GET", f"/recipes/{RECIPE}").json()["state"] == "stopped"

        # The CLI says the same: `settings` shows it, `start` exits 2 (bad input).
        workspace = ("--workspace", str(sandbox_ws))
        as_alice = {"LPSTUDIO_USER": "alice"}
        code, settings = run_json("settings", RECIPE, *workspace, env=as_alice)
        assert code == 0, settings
        _refuses_for_the_token(settings["settings_problem"], CLI_FIX)
        code, refused = run_json("start", RECIPE, *workspace, env=as_alice)
        assert code == 2, refused
        _refuses_for_the_token(refused["error"], CLI_FIX)

        # Given its token, it starts and takes a signed lead.
        given = server.api("alice", "PUT", "/connections/crm2", json={"fields": {"token": TOKEN}})
        assert given.status_code == 200, given.text
        started = server.api("alice", "POST", f"/recipes/{RECIPE}/start", json={})
        assert started.status_code == 200, started.text
        assert started.json()["state"] == "started"
        assert started.json()["settings_problem"] is None, started.json()
        hook = started.json()["trigger"]["hook"]
        lead = json.dumps({"first_name": "Kim", "phone": "+14155550100"}).encode()
        signed = {"X-Lpstudio-Signature": _signed(TOKEN)(lead)}
        sent = _post(server, hook, lead, **signed)
        assert sent.status_code == 202 and sent.json()["accepted"] == 1, sent.text


def test_start_with_no_connection_names_the_token_its_webhook_needs(sandbox_ws: Path) -> None:
    """`lpstudio start` of a tried new-lead template without an `http` connection said to
    create one with `lpstudio connections add http --type http --field ...`: created so,
    its start was refused again, for the token its deliveries are signed with. The first
    refusal names the token, as `connections add` takes a secret, and following it starts
    the recipe."""
    workspace = ("--workspace", str(sandbox_ws))
    as_alice = {"LPSTUDIO_USER": "alice"}
    code, tried = run_json("gallery", "try", "new_lead", "--project", "hooks", *workspace)
    assert code == 0, tried

    code, refused = run_json("start", "hooks/new_lead", *workspace, env=as_alice)
    assert code == 2, refused
    error = refused["error"]
    assert error["field"] == "connections.http", error
    assert "signature with the connection's token" in error["message"], error
    commands = re.findall(r"`lpstudio ([^`]*)`", error["fix"])
    assert commands == ["connections add http --type http --secret token"], error
    assert "read from $LPSTUDIO_SECRET_TOKEN, a hidden prompt or standard input" in error["fix"]

    added = run_cli(
        *shlex.split(commands[0]), *workspace, env={**as_alice, "LPSTUDIO_SECRET_TOKEN": TOKEN}
    )
    assert added.returncode == 0, added.stderr
    code, started = run_json("start", "hooks/new_lead", *workspace, env=as_alice)
    assert code == 0, started
    assert started["state"] == "started", started
    assert TOKEN not in added.stdout + added.stderr + json.dumps(started)


def test_start_with_no_connections_names_each_one_and_its_secrets(ws: Path) -> None:
    """On a fresh workspace both of the new-lead template's slots lack a connection: the
    refusal named only the first, and each fix followed met the next refusal. It names
    the fields each connector requires, and the secrets as `connections add` reads them."""
    workspace = ("--workspace", str(ws))
    code, tried = run_json("gallery", "try", "new_lead", "--project", "hooks", *workspace)
    assert code == 0, tried
    code, refused = run_json("start", "hooks/new_lead", *workspace, env={"LPSTUDIO_USER": "alice"})
    assert code == 2, refused
    error = refused["error"]
    assert "no http connection for slot 'http'" in error["message"], error
    assert "nor a liveperson_proactive connection for slot 'liveperson'" in error["message"]
    assert re.findall(r"`lpstudio ([^`]*)`", error["fix"]) == [
        "connections add http --type http --secret token",
        "connections add liveperson --type liveperson_proactive --field account_id=... "
        "--field client_id=... --secret client_secret",
    ], error
    assert "$LPSTUDIO_SECRET_TOKEN, $LPSTUDIO_SECRET_CLIENT_SECRET" in error["fix"], error
