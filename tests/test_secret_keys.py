"""A connection's secret where the scrubber did not look: an object's key (`{token: 1}` in a
parameter, an event, a result, a saved setting), a saved value that became a secret after it
was saved, a caller's input quoted in a REST error answer and the server's log, and a
secret written as hex digits.
"""

from __future__ import annotations

import json
import logging
import zipfile
from pathlib import Path
from typing import Any

import pytest

from lpstudio.studio import Studio
from tests.conftest import job_rows, run_cli, write_recipe

TOKEN = "Zq7secretTOKEN4242"
OTHER = "other-Secret-7781"
MASK = "****"
PARAMETERS = "weights: dict[str, float] = {}\nname: str = 'world'"


def add_connection(ws: Path, name: str = "crm", token: str = TOKEN) -> None:
    with Studio.open(ws, user="alice") as studio:
        values = {"base_url": "https://crm.example", "auth_type": "bearer", "token": token}
        studio.connections.add(name, "http", values, "alice")


def test_a_secret_as_an_object_s_key_is_masked_and_two_such_keys_stay_apart() -> None:
    """Keys went through as they were. Two keys masking alike (two secrets, or a secret
    beside a key that is `****` already) would be one key: a value would be lost."""
    from lpstudio.sdk import scrub

    secrets = {TOKEN, OTHER}
    assert scrub({TOKEN: 1, "n": {f"Bearer {TOKEN}": [TOKEN]}}, secrets) == {
        MASK: 1,
        "n": {f"Bearer {MASK}": [MASK]},
    }
    assert scrub({TOKEN: 1, OTHER: 2, MASK: 3}, secrets) == {
        f"{MASK} (2)": 1,
        f"{MASK} (3)": 2,
        MASK: 3,
    }
    assert scrub({73019468: "pin"}, {"73019468"}) == {MASK: "pin"}  # a number as a key
    plain = {"a": 1, MASK: 2}
    assert scrub(plain, secrets) == plain


def test_a_secret_hex_encoded_in_either_case_is_masked() -> None:
    """`print(token.encode().hex())` showed the token in the output notebook, though
    secrets are masked "as text, escaped or encoded"."""
    from lpstudio.sdk import scrub_text

    raw = TOKEN.encode()
    for shown in (raw.hex(), raw.hex().upper(), (b"\x00\x01" + raw + b"\xff").hex()):
        masked = scrub_text(f"dump: {shown} end", {TOKEN})
        assert MASK in masked and raw.hex()[4:-4] not in masked.lower(), masked


def test_a_secret_as_a_key_is_refused_before_any_job_as_a_value_is(ws: Path, cli: Any) -> None:
    """`-y 'weights: {SECRET: 1}'`, `--event '{"SECRET": 1}'` and a saved setting keyed by
    the secret (the form's and the lab's Save) were accepted and kept: `lpstudio show`
    printed the key."""
    add_connection(ws)
    write_recipe(ws, "p/keys", PARAMETERS, ("print(weights)",))
    for args, field in (
        (("run", "p/keys", "-y", f"weights: {{{TOKEN}: 1}}"), "weights"),
        (("run", "p/keys", "--event", json.dumps({TOKEN: 1})), "event"),
        (("settings", "p/keys", "-p", "weights", json.dumps({TOKEN: 1})), "weights"),
    ):
        refused = cli(*args, "--json")
        assert refused.exit_code == 2, refused.output
        error = json.loads(refused.stdout)["error"]
        assert error["field"] == field, error
        assert "holds the secret of a connection" in error["message"], error
        assert TOKEN not in refused.output
    with Studio.open(ws, user="alice") as studio, pytest.raises(Exception, match="secret"):
        studio.save_settings("p/keys", {"weights": {TOKEN: 1.0}})  # what both forms call
    assert job_rows(ws) == 0
    assert TOKEN not in cli("settings", "p/keys").output


RESULT = """\
import lpstudio.kernel as lp
token = lp.connection("crm").connection.config["token"]
lp.set_result({token: 1, "kept": 2})
lp.respond({token: "v"}, 200)
print(token.encode().hex(), token.encode().hex().upper())
"""


def test_a_result_or_an_answer_keyed_by_a_secret_is_kept_masked(ws: Path) -> None:
    """`lp.set_result({token: 1})` and `lp.respond({token: ...})`: the job's stored result
    and answer held the token as a key (its text/plain output was masked). The token printed
    as hex digits stayed in the output notebook."""
    add_connection(ws)
    metadata = {"title": "Keys", "connections": {"crm": {"type": "http"}}}
    write_recipe(ws, "p/result", "x: int = 1", (RESULT,), metadata)

    proc = run_cli("run", "p/result", "--workspace", str(ws), "--json")

    assert proc.returncode == 0, proc.stdout + proc.stderr
    job = json.loads(proc.stdout)
    assert job["result"] == {MASK: 1, "kept": 2, "response": {"status": 200, "body": {MASK: "v"}}}
    shown = run_cli("show", str(job["id"]), "--workspace", str(ws), "--json")
    assert shown.returncode == 0 and MASK in shown.stdout, shown.stderr
    assert TOKEN not in proc.stdout + proc.stderr + shown.stdout + shown.stderr
    notebook = Path(job["output_path"]).read_text()
    assert TOKEN.encode().hex() not in notebook.lower() and f"{MASK} {MASK}" in notebook
    assert TOKEN not in notebook  # the result's data in its output kept it as a key


def test_a_saved_value_that_became_a_secret_refuses_runs_and_is_not_exported(
    ws: Path, cli: Any, tmp_path: Path
) -> None:
    """Values saved before the connection whose secret equals them existed went into the
    next job's row unmasked ("saved values were checked when saved"), and into the
    package's manifest as a key."""
    write_recipe(ws, "p/later", PARAMETERS, ("print(weights, name)",))
    saved = cli("settings", "p/later", "-p", "weights", json.dumps({TOKEN: 1}), "-p", "name", TOKEN)
    assert saved.exit_code == 0, saved.output
    add_connection(ws)

    refused = cli("run", "p/later", "--json")

    assert refused.exit_code == 2, refused.output
    error = json.loads(refused.stdout)["error"]
    assert error["field"] in ("weights", "name"), error
    assert error["message"] == (
        f"the saved value of parameter '{error['field']}' holds the secret of a connection"
    )
    assert f"--reset {error['field']}" in error["fix"], error
    started = cli("start", "p/later")  # nor do its schedule's, polls' or deliveries' jobs
    assert started.exit_code == 2 and "holds the secret" in started.output, started.output
    assert job_rows(ws) == 0
    shown = cli("settings", "p/later", "--json")  # says why it cannot run, masked
    assert TOKEN not in shown.output and "holds the secret of a connection" in shown.output

    package = tmp_path / "p.zip"
    assert cli("export", "p", "-o", str(package)).exit_code == 0
    with zipfile.ZipFile(package) as zipped:
        manifest = zipped.read("lpstudio-package.json").decode()
    assert TOKEN not in manifest and MASK in manifest

    assert cli("settings", "p/later", "--reset", "weights", "--reset", "name").exit_code == 0
    ran = cli("run", "p/later")  # the fix the error names is all it takes
    assert ran.exit_code == 0 and job_rows(ws) == 1, ran.output


# -- REST error answers and the server's log --------------------------------------------------

PHONE = {"type": "string", "pattern": "^[+][0-9]+$"}
INPUT_SCHEMA = {"type": "object", "properties": {"phone": PHONE}}


@pytest.fixture
def served(ws: Path) -> dict[str, str]:
    """A started callable (`/call/echo`) and webhook recipe whose input takes a phone, a
    manual recipe, the connection whose token is the secret, and an API client's token."""
    add_connection(ws)
    write_recipe(ws, "p/keys", PARAMETERS, ("print(weights)",))
    for kind, name in (("callable", "echo"), ("webhook", "hook")):
        trigger = {"kind": kind, "input_schema": INPUT_SCHEMA}
        if kind == "callable":
            trigger |= {"path": "echo", "response_schema": {"type": "object"}}
        write_recipe(ws, f"p/{name}", "x: int = 1", ("x",), {"title": name, "trigger": trigger})
    with Studio.open(ws, user="alice") as studio:
        studio.start("p/echo")
        studio.start("p/hook")
        _, token = studio.api_clients.create("bot", ["*"], 1000)
        hook = studio.webhook_id("p/hook.ipynb")
    return {"token": token, "hook": hook}


async def test_rest_error_answers_and_their_log_lines_mask_what_the_caller_sent(
    jp_fetch: Any, ws: Path, served: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    """A body off the input schema was answered (and logged) with its value quoted, a
    secret too ("phone: 'SECRET' is not a phone number"), as was `POST /call/<SECRET>`;
    a run's parameter keyed by the secret was queued (202)."""

    async def post(headers: dict[str, str], *path: str, body: Any, **kw: Any) -> tuple[int, str]:
        answer = await jp_fetch(
            "lpstudio",
            "api",
            "v1",
            *path,
            method="POST",
            body=json.dumps(body),
            headers=headers,
            raise_error=False,
            **kw,
        )
        return answer.code, answer.body.decode()

    bot = {"API-TOKEN": served["token"]}
    caplog.set_level(logging.DEBUG)
    for code, body in (
        await post(bot, "call", "echo", body={"phone": TOKEN}),
        await post(bot, "call", TOKEN, body={"phone": "+1"}),
        await post({}, "hooks", served["hook"], body={"phone": f"tel:{TOKEN}"}),
    ):
        assert code in (400, 404) and MASK in body and TOKEN not in body, (code, body)
    run = {"parameters": {"weights": {TOKEN: 1}}}
    code, body = await post({"X-Test-User": "alice"}, "recipes", "p", "keys.ipynb", "run", body=run)
    assert code == 400 and json.loads(body)["error"]["field"] == "weights", body

    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert f"/lpstudio/api/v1/call/{MASK}: no started callable recipe" in logged  # the error
    assert f"/lpstudio/api/v1/call/{MASK} (" in logged  # the request's own line
    assert f'phone: "{MASK}" does not match' in logged
    assert TOKEN not in logged, logged
    assert job_rows(ws) == 0

    # A call holding a secret, in a key too, is shown masked on its job, and sealed whole
    # for its recipe (it was refused; before that, run masked).
    call = {"phone": "+14155550100", TOKEN: "v"}
    code, body = await post(bot, "call", "echo", body=call, params={"mode": "async"})
    assert code == 202 and TOKEN not in body, body
    with Studio.open(ws, user="alice") as studio:
        kept = studio.store.job(json.loads(body)["job"])
        assert kept.event == {"phone": call["phone"], MASK: "v"}, kept.event
        assert studio.connections.vault.open_event(kept.sealed_event or "") == call


async def test_a_successful_request_s_log_line_masks_a_secret_in_its_query_too(
    jp_fetch: Any, jp_serverapp: Any, ws: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`GET /recipes?project=<secret>` lists nothing and succeeds: Jupyter logs it at debug
    level, with its query as sent; a failed request's line quotes its referer too."""
    add_connection(ws)
    (ws / "projects" / TOKEN).mkdir(parents=True)  # an existing project, with no recipes
    jp_serverapp.log.setLevel(logging.DEBUG)  # as `lpstudio serve --debug` runs
    caplog.set_level(logging.DEBUG)
    user = {"X-Test-User": "alice"}
    answer = await jp_fetch(
        "lpstudio", "api", "v1", "recipes", params={"project": TOKEN}, headers=user
    )
    assert answer.code == 200 and json.loads(answer.body)["recipes"] == [], answer.body
    referer = {**user, "Referer": f"http://127.0.0.1/lab?q={TOKEN}"}
    missing = await jp_fetch(
        "lpstudio", "api", "v1", "jobs", "999999", headers=referer, raise_error=False
    )
    assert missing.code == 404
    lines = [r.getMessage() for r in caplog.records if "/lpstudio/api/v1/" in r.getMessage()]
    assert any(f"recipes?project={MASK}" in line for line in lines), lines
    assert any(f"lab?q={MASK}" in line for line in lines), lines
    assert all(TOKEN not in line for line in lines), lines


def test_a_success_line_is_masked_only_where_a_handler_writes_it() -> None:
    """traitlets leaves its loggers at DEBUG and filters at their handlers: the secrets are
    read for a successful request's (debug) line only when `--debug` or a handler such as
    pytest's writes it, not on every request of a server at its default level."""
    from lpstudio.server.serverlog import written_at

    app = logging.getLogger("lpstudio-test-app")
    parent = logging.getLogger("lpstudio-test-app-parent")
    app.parent, app.propagate = parent, False
    app.setLevel(logging.DEBUG)
    server_handler = logging.StreamHandler()
    server_handler.setLevel(logging.INFO)  # the server's default `--log-level`
    app.addHandler(server_handler)
    try:
        assert not written_at(app, logging.DEBUG)
        assert written_at(app, logging.INFO)
        app.propagate = True
        debug_handler = logging.StreamHandler()  # level 0: writes everything
        parent.addHandler(debug_handler)
        assert written_at(app, logging.DEBUG)
        assert written_at(logging.LoggerAdapter(app), logging.DEBUG)
        app.setLevel(logging.INFO)
        assert not written_at(app, logging.DEBUG)
    finally:
        app.handlers.clear()
        parent.handlers.clear()
