"""A connector author's mistakes in a trigger's code, through the real CLI and a real server:
a poll whose cursor cycles with more=True spun for ever (Ctrl-C did nothing), and a bug in a
webhook's `parse` or `verify` was answered as the sender's fault (400, 401: the delivery
lost, the exception nowhere)."""

from __future__ import annotations

import hashlib
import hmac
import json
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from lpstudio import triggers
from lpstudio.models import TriggerState
from lpstudio.studio import Studio
from tests.conftest import LPSTUDIO, run_cli, wait_for, write_recipe
from tests.servers import Served, serving
from tests.test_webhook_verify import _not_ready

POLLS = """
import threading
from pathlib import Path

from lpstudio.sdk import Connector, Field, Page

connector = Connector("acme", title="Acme", fields=[Field("base_url", "API base URL")])


@connector.poll_trigger("cycle", title="Cycle", key=lambda e: str(e["id"]))
def cycle(conn, since, cursor):
    return Page([], cursor="B" if cursor == "A" else "A", more=True)


@connector.poll_trigger("endless", title="Endless", key=lambda e: str(e["id"]))
def endless(conn, since, cursor):
    return Page([], cursor=(cursor or 0) + 1, more=True)


@connector.poll_trigger("slow", title="Slow", key=lambda e: str(e["id"]))
def slow(conn, since, cursor):
    if cursor is None:
        return Page([{"id": 1}], cursor=1, more=True)
    (Path(__file__).parent / "second-page").touch()
    threading.Event().wait()  # an app that never answers the second page
"""


def _poll_recipe(ws: Path, trigger: str) -> str:
    write_recipe(
        ws,
        f"crm/{trigger}",
        metadata={
            "title": trigger,
            "connections": {"acme": {"type": "acme"}},
            "trigger": {"kind": "poll", "connection": "acme", "trigger": trigger},
        },
    )
    return f"crm/{trigger}.ipynb"


@pytest.fixture
def polls(ws: Path) -> Path:
    """The workspace with the acme connector, its connection, and two errors to stop."""
    (ws / "connectors").mkdir(exist_ok=True)
    (ws / "connectors" / "acme.py").write_text(POLLS)
    with (ws / "lpstudio.toml").open("a") as config:
        config.write("\n[triggers]\nauto_stop_after = 2\n")
    with Studio.open(ws, user="alice") as studio:
        studio.connections.add("acme", "acme", {"base_url": "https://acme.example"}, "alice")
    return ws


def _state(ws: Path, recipe: str) -> TriggerState:
    with Studio.open(ws, user="alice") as studio, studio.store.read() as s:
        state = s.get(TriggerState, recipe)
        assert state is not None
        s.expunge(state)
        return state


def _poll(ws: Path, recipe: str, *options: str) -> tuple[int, Any]:
    """`lpstudio poll --json`, killed (failing the test) if it runs on."""
    done = run_cli("poll", recipe, "--json", "--workspace", str(ws), *options, timeout=60)
    return done.returncode, json.loads(done.stdout) if done.stdout.strip() else done.stderr


def test_a_poll_whose_cursor_cycles_is_refused_naming_the_trigger(polls: Path) -> None:
    """`return Page([], cursor="B" if cursor == "A" else "A", more=True)` spun for ever at
    100% CPU: a cursor the poll was already given is refused, counted as a trigger error."""
    recipe = _poll_recipe(polls, "cycle")
    with Studio.open(polls, user="alice") as studio:
        studio.start(recipe)

    code, said = _poll(polls, recipe)
    error = said["error"]

    assert code == 1, error  # the connector's failure, as an app's
    assert "acme.cycle returned more=True with a cursor it was given before" in error["message"]
    assert error["field"] == "triggers.cycle" and "cursor" in error["fix"], error
    assert _state(polls, recipe).errors == 1
    assert _poll(polls, recipe)[0] == 1
    with Studio.open(polls, user="alice") as studio:
        assert studio.recipe_detail(recipe)["state"] == "stopped"  # the auto-stop applies


def test_a_poll_that_says_more_for_ever_ends_after_its_pages_keeping_its_cursor(
    polls: Path,
) -> None:
    """A cursor that moves on for ever with no events held the poll (a scheduler's thread,
    a REST Poll now) for ever; it ends after `PAGES` pages, and the next goes on from there."""
    recipe = _poll_recipe(polls, "endless")

    assert _poll(polls, recipe, "--no-run") == (0, [])
    assert _state(polls, recipe).cursor == triggers.PAGES
    assert _poll(polls, recipe, "--no-run") == (0, [])
    state = _state(polls, recipe)
    assert state.cursor == 2 * triggers.PAGES and not state.errors


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_lpstudio_poll_stops_on_a_signal_between_pages(polls: Path, signum: int) -> None:
    """Ctrl-C and SIGTERM cancelled only the jobs `lpstudio poll` ran: while it polled they
    did nothing, and only kill -9 ended it. The pages it wrote are kept."""
    recipe = _poll_recipe(polls, "slow")
    command = [LPSTUDIO, "poll", recipe, "--workspace", str(polls)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for((polls / "connectors" / "second-page").exists, timeout=60, what="page 2")
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
        proc.wait()

    assert proc.returncode == 130, (out, err)
    assert "interrupted" in err, err
    assert _state(polls, recipe).cursor == 1  # the first page's, kept
    with Studio.open(polls, user="alice") as studio:
        assert [job.event for job in studio.jobs()] == [{"id": 1}]


# -- webhooks -------------------------------------------------------------------------------

HOOK_SECRET = "hooksecret-QWERTY-77"
HOOKS = """
import hashlib, hmac, json

from lpstudio.sdk import Connector, Field, InputError

connector = Connector(
    "buggy", title="Buggy", fields=[Field("signing_secret", "Signing secret", secret=True)]
)


def good_verify(headers, body, secret):
    got = {k.lower(): v for k, v in headers.items()}.get("x-buggy-signature", "")
    return hmac.compare_digest(got, hmac.new(secret.encode(), body, hashlib.sha256).hexdigest())


def str_key_verify(headers, body, secret):
    return hmac.new(secret, body, hashlib.sha256).hexdigest() == headers.get("x-buggy-signature")


def quoting_verify(headers, body, secret):
    raise RuntimeError("cannot sign with " + secret)


@connector.webhook_trigger("misparsed", title="Misparsed", verify=good_verify)
def misparsed(headers, body):
    return [jsn.loads(body)]


@connector.webhook_trigger("misverified", title="Misverified", verify=str_key_verify)
def misverified(headers, body):
    return [json.loads(body)]


@connector.webhook_trigger("quoting", title="Quoting", verify=quoting_verify)
def quoting(headers, body):
    return [json.loads(body)]


@connector.webhook_trigger("careful", title="Careful", verify=good_verify)
def careful(headers, body):
    return [json.loads(body)]


@connector.webhook_trigger("batched", title="Batched", verify=good_verify)
def batched(headers, body):
    return json.loads(body)["events"]


@connector.webhook_trigger("strict", title="Strict", verify=good_verify)
def strict(headers, body):
    event = json.loads(body)
    if "amount" not in event:
        raise ValueError("no amount in " + event["email"])
    return [event]


@connector.webhook_trigger("picky", title="Picky", verify=good_verify)
def picky(headers, body):
    event = json.loads(body)
    if "lead" not in event:
        raise InputError("no lead in the body", field="body")
    if "email" not in event["lead"]:
        raise InputError("the lead has no email", field="lead.email", fix="send the lead's email")
    return [event["lead"]]
"""
TRIGGERS = ("misparsed", "misverified", "quoting", "careful", "batched", "strict", "picky")


@pytest.fixture(scope="module")
def hooks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, dict[str, str]]]:
    """A server on a workspace with a webhook recipe per trigger of the buggy connector."""
    root = tmp_path_factory.mktemp("faults") / "ws"
    with Studio.init(root, accept_terms=True, admin="alice") as studio:
        (root / "connectors").mkdir()
        (root / "connectors" / "buggy.py").write_text(HOOKS)
        studio.connections.add("buggy", "buggy", {"signing_secret": HOOK_SECRET}, "alice")
        for trigger in TRIGGERS:
            write_recipe(
                root,
                f"crm/{trigger}",
                metadata={
                    "title": trigger,
                    "trigger": {"kind": "webhook", "connection": "buggy", "trigger": trigger},
                    "connections": {"buggy": {"type": "buggy"}},
                },
            )
        urls = {
            t: f"/lpstudio/api/v1/hooks/{studio.webhook_id(f'crm/{t}.ipynb')}" for t in TRIGGERS
        }
    with serving(root) as server:
        yield server, urls


def _deliver(server: Served, hook: str, body: bytes) -> httpx.Response:
    signature = hmac.new(HOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = {"X-Buggy-Signature": signature}
    return httpx.post(f"{server.url}{hook}", content=body, headers=headers, timeout=30)


@pytest.mark.parametrize(
    ("trigger", "said"),
    [
        ("misparsed", "NameError: name 'jsn' is not defined"),
        ("misverified", "TypeError"),
        ("quoting", "RuntimeError: cannot sign with ****"),
        ("batched", "KeyError: 'events'"),
        ("strict", "ValueError: no amount in kim@example.com"),
    ],
)
def test_a_bug_in_a_webhooks_code_is_the_recipes_fault_not_the_senders(
    hooks: Any, trigger: str, said: str
) -> None:
    """A NameError in `parse` answered 400 (senders do not retry: the delivery was lost), a
    bug in `verify` 401 BadSignature, and neither was in the server's log. Now 503, as a
    recipe that is not ready (the sender retries, told nothing of the connector), the error
    logged for the author."""
    server, urls = hooks
    answer = _deliver(server, urls[trigger], b'{"email": "kim@example.com"}')

    _not_ready(answer)
    part = "verify" if trigger in ("misverified", "quoting") else "parse"
    logged = server.log.read_text()
    assert (
        f"recipe crm/{trigger}.ipynb takes no webhook delivery until it is ready (each is "
        f"answered 503, which its sender retries): the {part} of connector buggy's {trigger} "
        "trigger failed on a delivery: its code needs correcting"
    ) in logged, logged
    assert f"connector buggy's {trigger} trigger" in logged and said in logged, logged
    assert HOOK_SECRET not in logged and HOOK_SECRET not in answer.text


def test_a_body_the_trigger_cannot_read_is_still_the_senders_to_fix(hooks: Any) -> None:
    server, urls = hooks
    answer = _deliver(server, urls["careful"], b"{oops")
    assert answer.status_code == 400 and answer.json()["error"]["field"] == "body", answer.text
    assert _deliver(server, urls["careful"], b'{"email": "kim@example.com"}').status_code == 202


def test_nan_in_a_delivery_is_the_senders_to_fix_naming_the_body(hooks: Any) -> None:
    """A body holding NaN (which Python's `json` reads) answered 503 RecipeNotReady, "until
    its admin completes its settings", though only the sender can correct it."""
    server, urls = hooks
    answer = _deliver(server, urls["batched"], b'{"events": [{"id": 1}, {"id": 2, "n": NaN}]}')

    error = answer.json()["error"]
    assert answer.status_code == 400 and error["field"] == "body", answer.text
    assert error["message"] == "event 1: the event holds NaN at n, which JSON cannot hold"
    assert "finite numbers" in error["fix"], error


def test_a_parse_refusing_the_body_as_readme_shows_is_the_senders_to_fix(hooks: Any) -> None:
    """README's `raise InputError(field="body")` answered 503 (a TypeError: no message) and
    the sender retried for ever; with a message, the 400 carried no fix. README now shows the
    message; a refusal without a fix gets one, and one of another field is the sender's too
    (it answered 503 RecipeNotReady, as the recipe's settings)."""
    server, urls = hooks

    answer = _deliver(server, urls["picky"], b'{"nolead": 2}')
    error = answer.json()["error"]
    assert answer.status_code == 400, answer.text
    assert (error["message"], error["field"]) == ("no lead in the body", "body"), error
    assert error["fix"] == (
        "send the body the recipe's Picky trigger takes: a JSON object per event"
    ), error

    answer = _deliver(server, urls["picky"], b'{"lead": {}}')
    error = answer.json()["error"]
    assert answer.status_code == 400, answer.text
    assert (error["field"], error["fix"]) == ("lead.email", "send the lead's email"), error
    assert _deliver(server, urls["picky"], b'{"lead": {"email": "a@b.c"}}').status_code == 202
