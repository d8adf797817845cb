"""What a sender, a caller and the server's log are told, through a real `lpstudio serve` on
loopback (README: Bots and other systems; Webhooks; Shopify):

- a stopped webhook recipe whose notebook no longer loads answers 503 `RecipeNotReady`, as a
  started one does, not 404 "check the URL": the sender retries, and its delivery is kept
  once the notebook loads again;
- a poll the shop refuses (a wrong access token, a failing shop) is said with a fix that
  names the connection and what to do (the fix said `connections/NAME/test`, and the CLI
  said none);
- a redelivery that meets a claim its request left (its server killed before queueing) is
  told when the claim can be taken over, not to retry in 5 s for 5 minutes;
- a secret sent in a query (or a path) escaped in part (`%2B` alone, as the README advises,
  or a needless `%73`) is masked in the server's log line of the request.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote, unquote_plus

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import update

from lpstudio.cli import main
from lpstudio.idempotency import CLAIM_LEASE
from lpstudio.models import IdempotentCall, utcnow
from lpstudio.redaction import MASK
from lpstudio.sandbox.app import Sandbox
from lpstudio.studio import Studio
from tests.conftest import wait_for, write_recipe
from tests.servers import API, Served, serving
from tests.test_webhook_verify import _not_ready

#: A connection's secret as the README's reviewer sent it: `+` must be written `%2B`.
SECRET = "Zk9/q+Lp7=Wx4mN2"
#: Another, sent with needless escapes (`%2D` for `-`, `%73` for `s`).
OTHER_SECRET = "supersecretTok3n-XYZ987"
WRONG_TOKEN = "shpat_wrong_0815"
HOOKS = ("stopped", "started", "claimed")
ECHO_INPUT = {
    "type": "object",
    "required": ["n"],
    "properties": {"n": {"type": "integer"}, "name": {"type": "string"}},
}
POLL = {
    "title": "carts",
    "connections": {"shop": {"type": "shopify"}},
    "trigger": {
        "kind": "poll",
        "connection": "shop",
        "trigger": "new_or_updated_abandoned_checkout",
    },
}


def _hook(root: Path, name: str) -> None:
    """An unsigned webhook recipe at hooks/<name>."""
    write_recipe(root, f"hooks/{name}", metadata={"title": name, "trigger": {"kind": "webhook"}})


@pytest.fixture(scope="module")
def shop() -> Iterator[Sandbox]:
    with Sandbox() as running:
        yield running


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory, shop: Sandbox) -> Path:
    """Two http connections holding the secrets; the Shopify connection `down`, whose access
    token the shop refuses, and the poll recipe shop2/carts on it; the started callable
    t/echo; the webhook recipes hooks/stopped, hooks/started (started) and hooks/claimed."""
    root = tmp_path_factory.mktemp("answers") / "ws"
    with Studio.init(root, accept_terms=True, admin="alice") as studio:
        studio.connections.add("crm", "http", {"token": SECRET}, "alice")
        studio.connections.add("crm2", "http", {"token": OTHER_SECRET}, "alice")
        values = {"shop": shop.url, "access_token": WRONG_TOKEN}
        studio.connections.add("down", "shopify", values, "alice")
        write_recipe(root, "shop2/carts", metadata=POLL)
        trigger = {"kind": "callable", "path": "echo", "input_schema": ECHO_INPUT}
        write_recipe(root, "t/echo", metadata={"title": "echo", "trigger": trigger})
        studio.start("t/echo.ipynb")
        for name in HOOKS:
            _hook(root, name)
        studio.start("hooks/started.ipynb")
    return root


@pytest.fixture(scope="module")
def server(ws: Path) -> Iterator[Served]:
    with serving(ws, "--LpstudioApp.scheduler=False") as served:
        yield served


def _hook_url(ws: Path, name: str) -> str:
    with Studio.open(ws, user="alice") as studio:
        return f"{API}/hooks/{studio.webhook_id(f'hooks/{name}.ipynb')}"


def _deliver(server: Served, url: str, body: bytes, **headers: str) -> httpx.Response:
    return httpx.post(f"{server.url}{url}", content=body, headers=headers, timeout=30)


# -- a webhook recipe whose notebook no longer loads ------------------------------------------


def test_a_stopped_hook_whose_notebook_broke_answers_503_as_a_started_one_does(
    ws: Path, server: Served
) -> None:
    """Stopped, it answered 404 "no webhook... check the URL": the sender dropped the
    delivery, which the recipe would have kept until it starts."""
    urls = {name: _hook_url(ws, name) for name in ("stopped", "started")}
    for name in urls:
        (ws / "projects" / "hooks" / f"{name}.ipynb").write_text("{broken")
    body = json.dumps({"order": 1}).encode()

    answers = {
        name: _deliver(server, url, body, **{"X-Webhook-Id": "b-1"}) for name, url in urls.items()
    }

    # A sender learns no more of a stopped recipe than of a started one: to retry; the
    # server's log says why, naming the recipe.
    for name, answer in answers.items():
        _not_ready(answer)
        assert f"recipe hooks/{name}.ipynb takes no webhook delivery" in server.log.read_text()

    _hook(ws, "stopped")  # its admin fixes the notebook: the sender's retry is kept
    kept = _deliver(server, urls["stopped"], body, **{"X-Webhook-Id": "b-1"})
    assert kept.status_code == 202, kept.text
    assert kept.json()["accepted"] == 1 and kept.json()["state"] == "stopped"


# -- a poll the shop refuses ---------------------------------------------------------------


def test_a_poll_refused_by_the_shop_names_the_connection_and_the_token_to_update(
    ws: Path, server: Served
) -> None:
    """The fix said `test the connection with POST .../connections/NAME/test`, and the
    CLI's `lpstudio poll` said none."""
    answer = server.api("alice", "POST", "/recipes/shop2/carts.ipynb/poll")

    assert answer.status_code == 502, answer.text
    error = answer.json()["error"]
    assert error["code"] == "AppError" and "HTTP 401" in error["message"], error
    assert error["field"] == "access_token", error
    assert "NAME" not in error["fix"], error
    assert f'PUT {API}/connections/down {{"fields": {{"access_token": ...}}}}' in error["fix"]
    assert WRONG_TOKEN not in answer.text

    said = CliRunner().invoke(main, ["poll", "shop2/carts", "--workspace", str(ws)])
    assert said.exit_code != 0
    assert "`lpstudio connections update down --secret access_token`" in said.output, said.output


def test_a_failing_shop_is_said_with_the_connection_to_test_later(
    ws: Path, server: Served, shop: Sandbox
) -> None:
    faults = {"error_rate": 1.0, "error_status": 503, "scope": "shopify"}
    assert httpx.post(f"{shop.url}/_sandbox/faults", json=faults, timeout=10).status_code == 200
    try:
        answer = server.api("alice", "POST", "/recipes/shop2/carts.ipynb/poll")
    finally:
        httpx.post(f"{shop.url}/_sandbox/faults", json={"error_rate": 0.0}, timeout=10)

    assert answer.status_code == 502, answer.text
    error = answer.json()["error"]
    assert "HTTP 503" in error["message"], error
    assert "later" in error["fix"] and f"POST {API}/connections/down/test" in error["fix"], error
    assert "NAME" not in error["fix"]


# -- a delivery whose receiver died before queueing it ------------------------------------------


def _claim(ws: Path, key: str, body: bytes, age: timedelta) -> None:
    """The claim a request made `age` ago on delivery `key` of hooks/claimed, and left
    (its server killed before it queued the delivery)."""
    recipe = "hooks/claimed.ipynb"
    digest = hashlib.sha256(body).hexdigest()
    with Studio.open(ws, user="alice") as studio:
        claim, made = studio.calls.claim(f"webhook:{recipe}", key, recipe, digest)
        assert made
        with studio.store.write() as s:
            s.execute(
                update(IdempotentCall)
                .where(IdempotentCall.id == claim["id"])
                .values(created_at=utcnow() - age)
            )


def test_a_redelivery_is_told_when_a_left_claim_can_be_taken_over(ws: Path, server: Served) -> None:
    """It was told `Retry-After: 5` and "retry in a few seconds" until the claim was 5
    minutes old; a claim just made (its request alive) is still told 5 s."""
    url = _hook_url(ws, "claimed")
    body = json.dumps({"order": 2}).encode()
    _claim(ws, "kill-1", body, timedelta(minutes=2))

    left = _deliver(server, url, body, **{"X-Shopify-Webhook-Id": "kill-1"})

    assert left.status_code == 409, left.text
    wait = int(left.headers["Retry-After"])
    assert 170 <= wait <= 180, wait
    error = left.json()["error"]
    assert error["field"] == "X-Shopify-Webhook-Id"
    assert re.search(r"in 1[78]\d s\b", error["fix"]) and "a few seconds" not in error["fix"]

    _claim(ws, "fresh-1", body, timedelta(0))
    fresh = _deliver(server, url, body, **{"X-Shopify-Webhook-Id": "fresh-1"})
    assert fresh.status_code == 409 and fresh.headers["Retry-After"] == "5", fresh.text
    assert "a few seconds" in fresh.json()["error"]["fix"]

    # Once the wait it was told has passed, the redelivery is queued.
    _claim(ws, "kill-2", body, CLAIM_LEASE + timedelta(seconds=1))
    queued = _deliver(server, url, body, **{"X-Shopify-Webhook-Id": "kill-2"})
    assert queued.status_code == 202 and queued.json()["accepted"] == 1, queued.text


# -- a secret in a query escaped in part ------------------------------------------------------


@pytest.fixture(scope="module")
def token(server: Served) -> str:
    return server.client_token()


def _decodings(text: str) -> set[str]:
    """`text` and what each percent-decoding of it (with `+` as a space or not) gives."""
    found, todo = set(), [text]
    while todo:
        seen = todo.pop()
        if seen not in found:
            found.add(seen)
            todo += [unquote(seen), unquote_plus(seen)]
    return found


@pytest.mark.parametrize(
    ("sent", "shown"),
    [
        (f"/call/echo?n=x&name={SECRET.replace('+', '%2B')}", f"/call/echo?n=x&name={MASK}"),
        ("/call/echo?n=x&name=supersecretTok3n%2DXYZ987", f"/call/echo?n=x&name={MASK}"),
        ("/call/echo?n=x&name=%73upersecretTok3n-XYZ987", f"/call/echo?n=x&name={MASK}"),
        (
            "/call/echo?n=x&name=a%2520supersecretTok3n%252DXYZ987",
            f"/call/echo?n=x&name=a%2520{MASK}",
        ),
        # The README's form (only `+` escaped), encoded again as a URL put in a URL is.
        ("/call/echo?n=x&name=Zk9%2Fq%252BLp7%3DWx4mN2", f"/call/echo?n=x&name={MASK}"),
        (f"/call/echo?n=x&{SECRET.replace('+', '%2B')}=1", f"/call/echo?n=x&{MASK}=1"),
        ("/call/supersecretTok3n%2DXYZ987?n=1", f"/call/{MASK}?n=1"),
    ],
)
def test_a_secret_escaped_in_part_is_masked_in_the_request_s_log_line(
    server: Served, token: str, sent: str, shown: str
) -> None:
    """`scrub_text` ran over the URI as sent: a secret escaped in part was logged whole."""
    answer = httpx.get(f"{server.url}{API}{sent}", headers={"API-TOKEN": token}, timeout=30)
    assert answer.status_code in (400, 404), answer.text

    line = wait_for(
        lambda: next(
            (s for s in server.log.read_text().splitlines() if f"GET {API}{shown} (" in s), None
        ),
        what=f"the log line of GET {shown}",
    )
    assert line.startswith("[W"), line  # a refusal's line
    for decoded in _decodings(server.log.read_text()):
        assert SECRET not in decoded and OTHER_SECRET not in decoded, decoded
