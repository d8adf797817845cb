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

from lpstudio.settings import update_settings
from lpstudio.studio import Studio
from tests.conftest import run_cli, run_json, wait_for, write_recipe
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


def test_a_webhook_an_older_lpstudio_started_without_its_secret_is_said_not_ready(
    ws: Path,
) -> None:
    """The reviewer's upgrade: a webhook recipe started by an older lpstudio while its
    connection had no token refused every delivery with 503 after the upgrade, and nobody
    on the workspace's side was told: `lpstudio recipes` showed it `started`, the server
    and the scheduler logged nothing at start-up. Each says it now, with its fix; a ready
    recipe is not named."""
    for name in ("leads/unsigned", "leads/signed"):
        trigger = {"kind": "webhook", "connection": "http"}
        metadata = {"title": name, "trigger": trigger, "connections": {"http": {"type": "http"}}}
        write_recipe(ws, name, metadata=metadata)
    with Studio.open(ws, user="alice") as studio:
        studio.connections.add("crm2", "http", {}, "alice")
        studio.connections.add("signed", "http", {"token": TOKEN}, "alice")
        for name, bound in (("leads/unsigned", "crm2"), ("leads/signed", "signed")):
            # started as an older lpstudio started it: Start's check was not there
            update_settings(
                studio.store,
                f"{name}.ipynb",
                lambda s, c=bound: {**s, "connections": {"http": c}, "state": "started"},
                "alice",
            )
    workspace = ("--workspace", str(ws))

    code, rows = run_json("recipes", *workspace)
    assert code == 0, rows
    listed = {row["recipe"]: row for row in rows}
    assert {row["state"] for row in rows} == {"started"}, rows
    _refuses_for_the_token(listed["leads/unsigned.ipynb"]["settings_problem"], CLI_FIX)
    assert listed["leads/signed.ipynb"]["settings_problem"] is None, listed
    said = run_cli("recipes", *workspace).stdout
    unsigned = said[said.index("unsigned.ipynb") :]
    assert unsigned.splitlines()[1:3] == [
        "    started but not ready: connection 'crm2' has no token, the secret its Generic "
        "webhook trigger checks each delivery's signature with: no delivery is taken until it "
        "has one",
        f"    fix: give it the secret the sender signs with: {CLI_FIX}",
    ], said
    assert "not ready" not in said[: said.index("unsigned.ipynb")], said  # signed's lines

    # A server hosting the scheduler, and one that does not, each say it once as they start.
    for options in ((), ("--LpstudioApp.scheduler=False",)):
        with serving(ws, *options) as server:

            def warned() -> list[str]:
                log = server.log.read_text().splitlines()
                return [line for line in log if "is started but cannot run" in line]

            (line,) = wait_for(warned, what="the start-up warning")
            assert line.endswith(
                "recipe leads/unsigned.ipynb is started but cannot run: connection 'crm2' has "
                "no token, the secret its Generic webhook trigger checks each delivery's "
                f"signature with: no delivery is taken until it has one; fix: give it the "
                f"secret the sender signs with: {CLI_FIX}"
            ), line
            # The REST list says it in the API's terms.
            (row,) = [
                r
                for r in server.api("alice", "GET", "/recipes").json()["recipes"]
                if r["recipe"] == "leads/unsigned.ipynb"
            ]
            _refuses_for_the_token(row["settings_problem"], REST_FIX)
            assert warned() == [line], "said once"
