"""lpstudio's own credentials in what a system sends: a signed webhook delivery holding the
Jupyter server's token, and a bot's call holding another API client's token, were queued
and kept in clear, in the job's event and its output notebook, where operators read them
(a call's input holding the caller's own token, or the server's, was refused). They are
masked as the workspace's secrets are in what such a system sends (not refused: an event
a system sent is run), in what its recipe gets too, so that no job, notebook, answer or log
line keeps them. The store is read for it only when the input holds text of a token's shape.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from pathlib import Path
from typing import Any

import nbformat
import pytest
from sqlalchemy import event

from lpstudio.studio import Studio
from tests.conftest import write_recipe
from tests.servers import call_recipe

MASK = "****"
#: The shared secret of the webhook's signatures (the http connection's token).
HOOK_SECRET = "hooksecret-held-7731"
PHONE = {"type": "string", "pattern": "^[+][0-9]+$"}
#: Prints the event its recipe got (and answers it to a caller).
PRINT = ("import lpstudio.kernel as lp", "print(lp.event)")
ECHO = (*PRINT, "lp.respond(lp.event)")


@pytest.fixture
def served(ws: Path) -> dict[str, str]:
    """A started signed webhook recipe and callable recipe that print what they got, the
    bot's API client and another client's token (its partner system's, say)."""
    hook = {
        "title": "hook",
        "trigger": {"kind": "webhook", "connection": "crm", "trigger": "webhook"},
        "connections": {"crm": {"type": "http"}},
    }
    write_recipe(ws, "p/hook", "x: int = 1", PRINT, hook)
    schema = {"type": "object", "properties": {"note": {"type": "string"}, "phone": PHONE}}
    trigger = {"kind": "callable", "path": "echo", "input_schema": schema}
    write_recipe(ws, "p/echo", "x: int = 1", ECHO, {"title": "echo", "trigger": trigger})
    with Studio.open(ws, user="alice") as studio:
        studio.connections.add("crm", "http", {"token": HOOK_SECRET}, "alice")
        studio.start("p/hook.ipynb")
        studio.start("p/echo.ipynb")
        _, bot = studio.api_clients.create("bot", ["*"], 1000)
        _, other = studio.api_clients.create("partner", ["*"], 1000)
        hook_id = studio.webhook_id("p/hook.ipynb")
    return {"bot": bot, "other": other, "hook": hook_id}


def output_text(ws: Path, studio: Studio, job_id: int) -> str:
    job = studio.job(job_id)
    assert job.status == "succeeded" and job.output_path, job.error
    return nbformat.writes(nbformat.read(ws / job.output_path, as_version=4))


async def test_a_delivery_holding_the_server_s_token_keeps_it_nowhere(
    jp_fetch: Any, jp_serverapp: Any, ws: Path, served: dict[str, str]
) -> None:
    server = jp_serverapp.identity_provider.token
    other = served["other"]
    body = json.dumps({"note": f"from {server}", "lead": {other: 1}}).encode()
    signature = hmac.new(HOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    answer = await jp_fetch(
        "lpstudio",
        "api",
        "v1",
        "hooks",
        served["hook"],
        method="POST",
        body=body,
        headers={"X-Lpstudio-Signature": signature},
    )
    assert answer.code == 202, answer.body
    (job_id,) = json.loads(answer.body)["jobs"]
    shown = await jp_fetch(
        "lpstudio", "api", "v1", "jobs", str(job_id), headers={"X-Test-User": "alice"}
    )
    kept = json.loads(shown.body)["event"]
    assert kept == {"note": f"from {MASK}", "lead": {MASK: 1}}, kept
    with Studio.open(ws, user="alice") as studio:
        assert studio.executor.run(job_id).status == "succeeded"
        printed = output_text(ws, studio, job_id)
    assert "from ****" in printed and server not in printed and other not in printed
    stored = (ws / "lpstudio.db").read_bytes().decode("latin-1")
    assert server not in stored and other not in stored


async def test_a_call_holding_another_client_s_token_keeps_it_nowhere(
    jp_fetch: Any, ws: Path, served: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    other = served["other"]

    async def call(body: Any) -> tuple[int, str]:
        return await call_recipe(jp_fetch, "echo", body, served["bot"])

    caplog.set_level(logging.DEBUG)
    code, said = await call({"note": f"relay {other}"})
    assert code == 200 and json.loads(said) == {"note": f"relay {MASK}"}, said
    # Quoted back by the input check, it is masked in the answer and the log line too.
    code, said = await call({"phone": other})
    assert code == 400 and MASK in said and other not in said, said
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert 'phone: "****"' in logged and other not in logged
    with Studio.open(ws, user="alice") as studio:
        (job,) = studio.jobs(recipe="p/echo.ipynb")
        assert studio.job(job.id).event == {"note": f"relay {MASK}"}
        printed = output_text(ws, studio, job.id)
    assert f"relay {MASK}" in printed and other not in printed
    assert other not in (ws / "lpstudio.db").read_bytes().decode("latin-1")


def test_only_text_shaped_as_a_token_is_looked_up(ws: Path, served: dict[str, str]) -> None:
    """A bot's call is a hot path: its input is looked up among the clients' tokens only
    when it holds text of a token's shape."""
    looked: list[str] = []

    def record(_conn, _cursor, statement, _parameters, _context, _many) -> None:  # type: ignore[no-untyped-def]
        if "api_clients" in statement:
            looked.append(statement)

    with Studio.open(ws, user="alice") as studio:
        event.listen(studio.store.engine, "before_cursor_execute", record)
        plain = {"note": "lps_ is how its tokens begin", "n": 1}
        assert studio.kept_event(plain) == {"event": plain, "sealed_event": None}
        assert looked == []
        revoked = studio.api_clients.create("gone", ["*"], 10)[1]
        studio.api_clients.revoke("gone")
        looked.clear()
        kept = studio.kept_event({"a": served["other"], "b": revoked})
        assert kept["event"] == {"a": MASK, "b": revoked}  # a revoked token opens nothing
        assert len(looked) == 1, looked
