"""A connector's webhook `verify`, through a real server: it is given the connection's secret
field whatever its name, and a delivery it cannot check is refused. It was called only when
the secret field was named `token`: a forged delivery to any other connector's hook queued
jobs."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from lpstudio.errors import InputError, RecipeError
from lpstudio.registry import get_connector
from lpstudio.sdk import Connector, Field
from lpstudio.server.unready import UnreadyHooks
from lpstudio.studio import Studio
from tests.conftest import write_recipe
from tests.servers import Served, serving

HOOK_SECRET = "hooksecret-ABCDEF-42"
API_KEY = "acme-api-key-7d41"
PLAIN_TOKEN = "plain-token-93c2"

#: The connector of the report, and one with two secret fields whose trigger names its own.
CONNECTORS = {
    "acmehook": """
connector = Connector(
    "acmehook", title="Acme hooks", fields=[Field("signing_secret", "Signing secret", secret=True)]
)
""",
    "acmepair": """
connector = Connector(
    "acmepair",
    title="Acme with a key",
    fields=[
        Field("api_key", "API key", secret=True),
        Field("signing_secret", "Signing secret", secret=True),
    ],
)
""",
}
TRIGGER = """
def verify(headers, body, secret):
    got = {k.lower(): v for k, v in headers.items()}.get("x-acme-signature", "")
    return hmac.compare_digest(got, hmac.new(secret.encode(), body, hashlib.sha256).hexdigest())


@connector.webhook_trigger(
    "lead_created", title="Lead created", verify=verify, signature_headers=["X-Acme-Signature"]%s
)
def parse(headers, body):
    return [json.loads(body)]
"""


def _connector_file(root: Path, name: str, secret_field: str | None = None) -> None:
    named = f", secret_field={secret_field!r}" if secret_field else ""
    source = "import hashlib, hmac, json\nfrom lpstudio.sdk import Connector, Field\n"
    path = root / "connectors" / f"{name}.py"
    path.parent.mkdir(exist_ok=True)
    path.write_text(source + CONNECTORS[name] + TRIGGER % named)


def _hook_recipe(root: Path, name: str, slot: str, type_: str, trigger: str) -> None:
    write_recipe(
        root,
        name,
        metadata={
            "title": name,
            "trigger": {"kind": "webhook", "connection": slot, "trigger": trigger},
            "connections": {slot: {"type": type_}},
        },
    )


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, dict[str, str]]]:
    """A server on a workspace with three webhook recipes: an acmehook one, an acmepair one
    and a generic one bound to an http connection that has no token; their hook URLs."""
    root = tmp_path_factory.mktemp("hooks") / "ws"
    with Studio.init(root, accept_terms=True, admin="alice") as studio:
        _connector_file(root, "acmehook")
        _connector_file(root, "acmepair", secret_field="signing_secret")
        studio.connections.add("hooks", "acmehook", {"signing_secret": HOOK_SECRET}, "alice")
        secrets = {"api_key": API_KEY, "signing_secret": HOOK_SECRET}
        studio.connections.add("pair", "acmepair", secrets, "alice")
        studio.connections.add("plain", "http", {"base_url": "https://crm.example"}, "alice")
        _hook_recipe(root, "crm/hook", "hooks", "acmehook", "lead_created")
        _hook_recipe(root, "crm/pair", "pair", "acmepair", "lead_created")
        _hook_recipe(root, "crm/plain", "plain", "http", "webhook")
        hooks = {
            name: f"/lpstudio/api/v1/hooks/{studio.webhook_id(f'crm/{name}.ipynb')}"
            for name in ("hook", "pair", "plain")
        }
    with serving(root) as server:
        yield server, hooks


def _post(server: Served, hook: str, body: bytes, **headers: str) -> httpx.Response:
    return httpx.post(f"{server.url}{hook}", content=body, headers=headers, timeout=30)


def _signed(secret: str) -> Callable[[bytes], str]:
    return lambda body: hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _error(answer: httpx.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    return answer.json()["error"]


def _not_ready(answer: httpx.Response) -> None:
    """The 503 a hook that cannot take deliveries answers its (unauthenticated) sender: to
    retry, and nothing of the workspace (its connections, routes, settings' fields)."""
    assert answer.status_code == 503, answer.text
    assert answer.headers["Retry-After"] == "60", answer.headers
    assert answer.json() == {
        "error": {
            "code": "RecipeNotReady",
            "message": "this hook cannot take deliveries yet",
            "field": "hook",
            "fix": "deliver it again later: its workspace has been told why",
        }
    }


def _queued(server: Served, recipe: str) -> list[Any]:
    """The events of the recipe's jobs, newest first (each job's own: a list leaves it out)."""
    found = server.api("alice", "GET", "/jobs", params={"recipe": f"crm/{recipe}.ipynb"})
    return [
        server.api("alice", "GET", f"/jobs/{j['id']}").json()["event"] for j in found.json()["jobs"]
    ]


def test_a_forged_delivery_to_a_custom_connectors_hook_is_refused(served: Any) -> None:
    """The report's connector: its secret field is `signing_secret`, and `verify` was never
    called, so a forged signature queued a job."""
    server, hooks = served
    body = json.dumps({"email": "eve@example.com"}).encode()
    for headers in ({"X-Acme-Signature": "forged"}, {}):
        error = _error(_post(server, hooks["hook"], body, **headers), 401)
        assert error["code"] == "BadSignature" and error["field"] == "X-Acme-Signature"
        assert "signing_secret" in error["fix"]
    assert _queued(server, "hook") == []

    good = json.dumps({"email": "kim@example.com"}).encode()
    answer = _post(server, hooks["hook"], good, **{"X-Acme-Signature": _signed(HOOK_SECRET)(good)})
    assert answer.status_code == 202 and answer.json()["accepted"] == 1, answer.text
    assert _queued(server, "hook") == [{"email": "kim@example.com"}]


def test_a_delivery_its_connector_cannot_read_is_refused_naming_the_body(served: Any) -> None:
    """A connector's `parse` and `verify` were called bare: invalid JSON, or a signature
    header `verify` could not compare, answered 500 InternalError, and a body that is no
    object was queued (202), each of its jobs failing on it."""
    server, hooks = served
    sign = _signed(HOOK_SECRET)
    for body in (b"{oops", b'"just text"', b"[1, 2]"):
        error = _error(_post(server, hooks["hook"], body, **{"X-Acme-Signature": sign(body)}), 400)
        assert error["field"] == "body" and error["fix"], error
    good = json.dumps({"email": "kim@example.com"}).encode()
    unreadable = {"X-Acme-Signature": "é".encode("latin-1")}
    answer = httpx.post(f"{server.url}{hooks['hook']}", content=good, headers=unreadable)
    assert _error(answer, 401)["field"] == "X-Acme-Signature"
    assert all(event == {"email": "kim@example.com"} for event in _queued(server, "hook"))


def test_a_signed_delivery_sent_again_queues_nothing_whatever_its_delivery_id(
    served: Any,
) -> None:
    """A delivery id is not signed: a captured signed delivery sent again without one, or
    under a new one, queued its jobs again (each lead messaged as often as it was sent)."""
    server, hooks = served
    body = json.dumps({"email": "replayed@example.com"}).encode()
    signed = {"X-Acme-Signature": _signed(HOOK_SECRET)(body)}
    first = _post(server, hooks["hook"], body, **signed)
    assert first.status_code == 202 and first.json()["repeated"] is False, first.text
    for again in ({}, {"X-Delivery-Id": "a-new-id-1"}, {"X-Delivery-Id": "a-new-id-2"}):
        answer = _post(server, hooks["hook"], body, **signed, **again)
        assert answer.status_code == 200 and answer.json()["repeated"] is True, answer.text
        assert answer.json()["jobs"] == first.json()["jobs"]
    assert _queued(server, "hook").count({"email": "replayed@example.com"}) == 1
    other = json.dumps({"email": "replayed@example.com", "at": 2}).encode()
    signed = {"X-Acme-Signature": _signed(HOOK_SECRET)(other)}
    answer = _post(server, hooks["hook"], other, **signed)
    assert answer.status_code == 202 and answer.json()["repeated"] is False, answer.text


def test_verify_is_given_the_secret_field_its_trigger_names(served: Any) -> None:
    """Of two secret fields, the one `secret_field=` names: a body signed with the other
    (the API key) is refused."""
    server, hooks = served
    body = json.dumps({"email": "lee@example.com"}).encode()
    with_key = {"X-Acme-Signature": _signed(API_KEY)(body)}
    assert _error(_post(server, hooks["pair"], body, **with_key), 401)["code"] == "BadSignature"
    right = {"X-Acme-Signature": _signed(HOOK_SECRET)(body)}
    assert _post(server, hooks["pair"], body, **right).status_code == 202
    assert _queued(server, "pair") == [{"email": "lee@example.com"}]


def test_a_hook_whose_connection_lacks_the_secret_refuses_every_delivery(served: Any) -> None:
    """The http connection has no token: its deliveries were taken unchecked. Now each is
    refused (503: the sender retries it once the admin sets the secret). The answer named
    the connection and the admin's route to an unauthenticated sender; it says only to
    retry, and the server's log says why, once however often the sender retries."""
    server, hooks = served
    body = b'{"email": "eve@example.com"}'
    for headers in ({}, {"X-Lpstudio-Signature": _signed("guess")(body)}, {}):
        _not_ready(_post(server, hooks["plain"], body, **headers))
    assert _queued(server, "plain") == []
    told = "recipe crm/plain.ipynb takes no webhook delivery until it is ready"
    said = [line for line in server.log.read_text().splitlines() if told in line]
    assert len(said) == 1, said
    assert "connection 'plain' has no token" in said[0], said
    assert "`lpstudio connections update plain --secret token`" in said[0], said

    # Mended, it takes a delivery; broken again the same way, the log says so again, once.
    given = server.api(
        "alice", "PUT", "/connections/plain", json={"fields": {"token": PLAIN_TOKEN}}
    )
    assert given.status_code == 200, given.text
    signed = {"X-Lpstudio-Signature": _signed(PLAIN_TOKEN)(body)}
    assert _post(server, hooks["plain"], body, **signed).status_code == 202
    assert server.api("alice", "DELETE", "/connections/plain").status_code in (200, 204)
    made = {"name": "plain", "type": "http", "fields": {"base_url": "https://crm.example"}}
    assert server.api("alice", "POST", "/connections", json=made).status_code == 201
    for _ in range(3):
        _not_ready(_post(server, hooks["plain"], body))
    said = [line for line in server.log.read_text().splitlines() if told in line]
    assert len(said) == 2 and "connection 'plain' has no token" in said[1], said


def test_a_server_says_each_hook_not_ready_again_once_it_forgot_it() -> None:
    """What the log said is kept bounded: the oldest is forgotten first, and said again."""
    told = UnreadyHooks(limit=2)
    assert told.first("a", "no token") and not told.first("a", "no token")
    assert told.first("a", "no connection") and told.first("b", "no token")
    assert told.first("a", "no token")  # the oldest, forgotten for the newest
    assert not told.first("b", "no token")
    told.ready("b")  # it took a delivery
    assert told.first("b", "no token")


@pytest.mark.parametrize(
    ("trigger", "field"),
    [
        ({"connection": "hooks", "trigger": "lead_creatd"}, "trigger.trigger"),
        ({"connection": "hook", "trigger": "lead_created"}, "trigger.connection"),
    ],
    ids=["trigger-not-declared", "slot-not-declared"],
)
def test_a_hook_whose_trigger_is_not_the_connectors_takes_no_delivery(
    ws: Path, trigger: dict[str, str], field: str
) -> None:
    """Either was read as the http connector's generic webhook, unsigned: a typo in the
    trigger's name let any delivery in. Such a recipe is refused when read now, and one
    started before its notebook broke refuses every delivery."""
    _connector_file(ws, "acmehook")
    _hook_recipe(ws, "crm/hook", "hooks", "acmehook", "lead_created")
    recipe = ws / "projects/crm/hook.ipynb"
    with Studio.open(ws, user="alice") as studio:
        studio.connections.add("hooks", "acmehook", {"signing_secret": HOOK_SECRET}, "alice")
        studio.start("crm/hook.ipynb")
        notebook = json.loads(recipe.read_text())
        notebook["metadata"]["lpstudio"]["trigger"].update(trigger)
        recipe.write_text(json.dumps(notebook))
        with pytest.raises(RecipeError) as broken:
            studio.recipe("crm/hook.ipynb")
        assert broken.value.field == f"metadata.lpstudio.{field}"
        with pytest.raises(RecipeError) as refused:
            studio.receive_webhook(studio.webhook_id("crm/hook.ipynb"), {}, b'{"email": "e"}')
        # the trigger at fault is named, as for a call (`Studio.broken`)
        assert refused.value.field == broken.value.field
        assert broken.value.message in refused.value.message
        assert studio.jobs() == []


# -- the declaration ---------------------------------------------------------------------------


def _verify(headers: dict[str, str], body: bytes, secret: str) -> bool:
    return False


def _parse(headers: dict[str, str], body: bytes) -> list[dict[str, Any]]:
    return []


def _declare(fields: list[Field], **options: Any) -> Connector:
    connector = Connector("acme", title="Acme", fields=fields)
    connector.webhook_trigger("lead", title="Lead", **options)(_parse)
    return connector


SECRET = Field("signing_secret", "Signing secret", secret=True)
KEY = Field("api_key", "API key", secret=True)
PLAIN = Field("account", "Account")


def test_verify_reads_the_only_secret_field_unless_told() -> None:
    assert _declare([PLAIN, SECRET], verify=_verify).webhook_triggers["lead"].secret_field == (
        "signing_secret"
    )
    chosen = _declare([KEY, SECRET], verify=_verify, secret_field="signing_secret")
    assert chosen.webhook_triggers["lead"].secret_field == "signing_secret"
    assert _declare([KEY]).webhook_triggers["lead"].secret_field is None  # nothing to verify
    # Bundled: the http connector's password and token; its webhook's secret is the token.
    assert get_connector("http").webhook_triggers["webhook"].secret_field == "token"


@pytest.mark.parametrize(
    ("fields", "options", "field", "fix"),
    [
        ([KEY, SECRET], {"verify": _verify}, "secret_field", "secret_field='api_key'"),
        ([PLAIN], {"verify": _verify}, "secret_field", "secret=True"),
        (
            [PLAIN, SECRET],
            {"verify": _verify, "secret_field": "account"},
            "secret_field",
            "secret_field='signing_secret'",
        ),
        (
            [SECRET],
            {"verify": _verify, "secret_field": "signing"},
            "secret_field",
            "secret_field='signing_secret'",
        ),
        ([SECRET], {"secret_field": "signing_secret"}, "secret_field", "verify="),
    ],
    ids=["two-secrets", "no-secret", "not-secret", "unknown", "without-verify"],
)
def test_a_trigger_whose_secret_is_unclear_is_refused_when_declared(
    fields: list[Field], options: dict[str, Any], field: str, fix: str
) -> None:
    """Refused where the connector is written (its file is listed as broken), not at its
    first delivery."""
    with pytest.raises(InputError) as refused:
        _declare(fields, **options)
    assert refused.value.field == f"triggers.lead.{field}"
    assert fix in (refused.value.fix or ""), refused.value.fix
