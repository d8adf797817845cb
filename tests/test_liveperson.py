"""The LP Proactive Messaging connector against the sandbox, over real HTTP on loopback.

Each test gets a fresh sandbox on a free port (so the connector's per-process token cache,
keyed by base URL, starts empty) and its own ledger. What was really sent is read back from
the sandbox's control API: every address must arrive at most once, whatever failed.
"""

from __future__ import annotations

import email.utils
import importlib
import json
import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import httpx
import nbformat
import pytest

from lpstudio.client import ConnectionClient
from lpstudio.errors import InputError
from lpstudio.kernel.runtime import StoreLedger
from lpstudio.registry import get_connector
from lpstudio.sandbox import Sandbox, SandboxSettings
from lpstudio.sdk import Connection, ConnectorError, Ledger, MemoryLedger
from lpstudio.studio import Studio

from .conftest import run_cli, run_json

ACCOUNT = "12345678"
SECRET = "sandbox-secret"
CAMPAIGN_PATH = f"/api/v2/account/{ACCOUNT}/campaign"
TOKEN_PATH = f"/sentinel/api/account/{ACCOUNT}/app/token"


class HookedLedger(MemoryLedger):
    """A memory ledger that calls `before(n)` when batch n is claimed, i.e. right before
    the connector sends it: the way to make something happen *between* batches."""

    def __init__(self, before: Callable[[int], None] | None = None) -> None:
        super().__init__()
        self.before = before
        self.claims = 0

    def claim_many(
        self, keys: Sequence[str], check: str | None = None
    ) -> dict[str, dict[str, Any]]:
        self.claims += 1
        if self.before is not None:
            self.before(self.claims)
        return super().claim_many(keys, check)


class DyingLedger(StoreLedger):
    """A job's ledger in the store whose process dies once the batch is claimed, before
    its request goes out: its claims stay "being sent"."""

    def claim_many(
        self, keys: Sequence[str], check: str | None = None
    ) -> dict[str, dict[str, Any]]:
        super().claim_many(keys, check)
        raise SystemExit("killed while sending")


def campaign_module() -> ModuleType:
    """The connector's campaign module as the registry loaded it."""
    get_connector("liveperson_proactive")
    return importlib.import_module("lpstudio_connectors.liveperson_proactive.campaign")


def client_module() -> ModuleType:
    """The connector's HTTP module as the registry loaded it (under `lpstudio_connectors`)."""
    get_connector("liveperson_proactive")
    return importlib.import_module("lpstudio_connectors.liveperson_proactive.client")


class ForwardingProxy(ThreadingHTTPServer):
    """Stands for a LivePerson host on loopback in front of the sandbox: records the path of
    every request it gets and forwards it to the sandbox, unless `answer` answers it."""

    def __init__(self, sandbox_url: str) -> None:
        super().__init__(("127.0.0.1", 0), _Forward)
        self.sandbox_url = sandbox_url
        self.paths: list[str] = []
        self.url = f"http://127.0.0.1:{self.server_address[1]}"

    def answer(self, path: str) -> httpx.Response | None:
        """Its own answer to a request for `path`; None forwards the request."""
        return None


class RetryAfterDateProxy(ForwardingProxy):
    """Answers the first request to `path` with `status` and a `Retry-After` HTTP date (the
    form the sandbox never sends)."""

    def __init__(self, sandbox_url: str, path: str, status: int, header: str | None = None) -> None:
        super().__init__(sandbox_url)
        self.path, self.status = path, status
        self.header = header  # a `Retry-After` to send instead of the date
        self.retry_at: float | None = None  # the date it gave, in epoch seconds

    def answer(self, path: str) -> httpx.Response | None:
        if self.retry_at is not None or path != self.path:
            return None
        self.retry_at = math.ceil(time.time()) + 1.0  # a whole second ahead, at least
        return httpx.Response(
            self.status,
            json={"code": self.status, "message": "slow down"},
            headers={
                "Retry-After": self.header or email.utils.formatdate(self.retry_at, usegmt=True)
            },
        )


class _Forward(BaseHTTPRequestHandler):
    server: ForwardingProxy

    def _answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        proxy = self.server
        path = self.path.split("?")[0]
        proxy.paths.append(path)
        answer = proxy.answer(path)
        if answer is None:
            headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
            answer = httpx.request(
                self.command, proxy.sandbox_url + self.path, headers=headers, content=body
            )
        self.send_response(answer.status_code)
        for name in ("Content-Type", "Retry-After"):
            if name in answer.headers:
                self.send_header(name, answer.headers[name])
        self.send_header("Content-Length", str(len(answer.content)))
        self.end_headers()
        self.wfile.write(answer.content)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: pytest shows the test's own output."""


class HandoffsElsewhere(ThreadingHTTPServer):
    """Stands for LivePerson in front of the sandbox with a handoff list in another shape
    (LivePerson does not publish its field names): `count` handoffs under `data`, as
    `handoffId`/`name`/`channels: [{"type": ...}]`, paged by `limit` and `offset` with no
    `total`; or, with `ignore_offset`, always the first page. Other requests go on to the
    sandbox."""

    def __init__(self, sandbox_url: str, count: int, ignore_offset: bool = False) -> None:
        super().__init__(("127.0.0.1", 0), _HandoffsElsewhere)
        self.sandbox_url, self.count, self.ignore_offset = sandbox_url, count, ignore_offset
        self.pages_asked = 0
        self.url = f"http://127.0.0.1:{self.server_address[1]}"


class _HandoffsElsewhere(BaseHTTPRequestHandler):
    server: HandoffsElsewhere

    def _answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        url = httpx.URL(self.path)
        if url.path.endswith("/app/prmsg/handoffs/list"):
            self.server.pages_asked += 1
            limit = int(url.params.get("limit", "30"))
            offset = 0 if self.server.ignore_offset else int(url.params.get("offset", "0"))
            items = [
                {"handoffId": f"H{n:010d}", "name": f"Handoff {n}", "channels": [{"type": "sms"}]}
                for n in range(offset, min(offset + limit, self.server.count))
            ]
            answer = httpx.Response(200, json={"data": items})
        else:
            headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
            answer = httpx.request(
                self.command, self.server.sandbox_url + self.path, headers=headers, content=body
            )
        self.send_response(answer.status_code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer.content)))
        self.end_headers()
        self.wfile.write(answer.content)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: pytest shows the test's own output."""


@pytest.fixture
def connect(sandbox: Sandbox) -> Iterator[Callable[..., Connection]]:
    opened: list[Connection] = []

    def make(*, ledger: Ledger | None = None, dry_run: bool = False, **config: Any) -> Connection:
        values = {
            "account_id": ACCOUNT,
            "client_id": "sandbox-client",
            "client_secret": SECRET,
            "base_url": sandbox.url,
            **config,
        }
        conn = Connection(
            "lp",
            get_connector("liveperson_proactive"),
            values,
            dry_run=dry_run,
            ledger=ledger if ledger is not None else MemoryLedger(),
        )
        opened.append(conn)
        return conn

    yield make
    for conn in opened:
        conn.close()


@pytest.fixture
def proxy(sandbox: Sandbox, serve: Callable[[Any], Any]) -> Callable[[], ForwardingProxy]:
    """Starts forwarding proxies in front of the sandbox, each standing for another host."""
    return lambda: serve(ForwardingProxy(sandbox.url))


class FakeLivePerson:
    """LivePerson's real hosts, as an httpx transport: the domain API names `domains`
    (service -> host), the token server gives a token, any other host an empty list; every
    request is kept to see where it went and what it carried."""

    def __init__(self, **domains: str) -> None:
        self.domains = {
            "agentVep": "va.agentvep.liveperson.net",
            "sentinel": "va.sentinel.liveperson.net",
            "accountConfigReadOnly": "va.ac.liveperson.net",
            **domains,
        }
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path.endswith("/baseURI.json"):
            service = request.url.path.split("/")[-2]
            return httpx.Response(200, json={"service": service, "baseURI": self.domains[service]})
        if request.url.path == TOKEN_PATH:
            return httpx.Response(200, json={"access_token": "a.jwt", "token_type": "Bearer"})
        return httpx.Response(200, json=[])

    def hosts(self) -> set[tuple[str, str]]:
        """(scheme, host) of every request."""
        return {(r.url.scheme, r.url.host) for r in self.requests}


@pytest.fixture
def fake_liveperson(
    connect: Callable[..., Connection],
) -> Callable[..., tuple[Connection, FakeLivePerson]]:
    """A connection with no `base_url`, whose HTTP goes to a `FakeLivePerson` (the
    connector's caches are emptied for every test by conftest)."""

    def make(
        domains: dict[str, str] | None = None, **config: Any
    ) -> tuple[Connection, FakeLivePerson]:
        fake = FakeLivePerson(**(domains or {}))
        conn = connect(base_url="", **config)
        conn.http(transport=httpx.MockTransport(fake))
        return conn, fake

    return make


def people(count: int, start: int = 0) -> list[dict[str, Any]]:
    return [
        {"phone": f"+1415555{n:04d}", "name": f"Person {n}"} for n in range(start, start + count)
    ]


def send(conn: Connection, recipients: Any, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "handoff": "H1000000001",
        "campaign_name": "Cart recovery",
        "skill": "sales",
        "recipients": recipients,
        "consumer_id": "phone",
        "variables": {"1": "{name}"},
        **overrides,
    }
    return ConnectionClient(conn).send_campaign(**data)


def send_incomplete(
    conn: Connection, recipients: Any, **overrides: Any
) -> tuple[ConnectorError, dict[str, Any]]:
    """Sends a campaign that must fail for recipients not accepted: the error, and the
    accounting of every recipient that it carries."""
    with pytest.raises(ConnectorError) as raised:
        send(conn, recipients, **overrides)
    return raised.value, raised.value.result


def recipients(control: httpx.Client) -> dict[str, int]:
    rows = control.get("/_sandbox/liveperson/recipients").json()["recipients"]
    return {row["address"]: row["count"] for row in rows}


def campaigns(control: httpx.Client) -> list[dict[str, Any]]:
    return control.get("/_sandbox/liveperson/campaigns").json()["campaigns"]


def requests_to(control: httpx.Client, path: str) -> list[dict[str, Any]]:
    log = control.get("/_sandbox/requests").json()["requests"]
    return [entry for entry in log if entry["path"] == path]


def fault(control: httpx.Client, **plan: Any) -> None:
    answer = control.post("/_sandbox/faults", json=plan)
    assert answer.status_code == 200, answer.text


def settings(control: httpx.Client, **changes: Any) -> None:
    answer = control.patch("/_sandbox/settings", json=changes)
    assert answer.status_code == 200, answer.text


def assert_each_once(control: httpx.Client, expected: list[dict[str, Any]]) -> None:
    """Every expected address arrived exactly once, and nothing else arrived."""
    assert recipients(control) == {person["phone"]: 1 for person in expected}


# -- batching ------------------------------------------------------------------------------


def test_250_recipients_go_as_100_100_50_each_address_once(connect, control):
    everyone = people(250)

    result = send(connect(), everyone)

    assert result["accepted"] == 250
    assert result["batches"] == 3
    assert [c["accepted"] for c in result["campaigns"]] == [100, 100, 50]
    assert all(c["proactiveCampaignId"] for c in result["campaigns"])
    assert result["failed"] == result["uncertain"] == result["rejected"] == []
    assert [len(c["request"]["consumers"]) for c in campaigns(control)] == [100, 100, 50]
    assert len(requests_to(control, CAMPAIGN_PATH)) == 3
    assert_each_once(control, everyone)


def test_a_dataframe_of_recipients_is_sent_like_a_list(connect, control):
    import pandas as pd

    everyone = people(120)

    result = send(connect(), pd.DataFrame(everyone))

    assert result["accepted"] == 120
    assert [c["accepted"] for c in result["campaigns"]] == [100, 20]
    assert_each_once(control, everyone)


def test_a_series_of_recipients_is_refused_naming_recipients_and_the_frame_to_give(
    connect, control
):
    """A frame's column (`frame["phone"]`) is a Series: it crashed deep in the send
    ("Series.to_dict() takes 1 positional argument"), naming neither the input nor the fix."""
    import pandas as pd

    from lpstudio.errors import InputError

    with pytest.raises(InputError) as raised:
        send(connect(dry_run=True), pd.DataFrame(people(3))["phone"])

    assert raised.value.field == "recipients"
    assert "'recipients' is a pandas Series" in raised.value.message
    assert "a DataFrame or a list of records" in raised.value.message
    assert "series.to_frame()" in str(raised.value.fix)
    assert "frame[[column, ...]]" in str(raised.value.fix)
    assert control.get("/_sandbox/requests").json()["requests"] == []


def test_bad_recipients_are_reported_one_by_one_and_the_rest_are_sent(connect, control):
    good = people(150)
    bad = [
        {"phone": "4155550101", "name": "No plus"},
        {"phone": "+1 415 555 0102", "name": "Spaces"},
        {"phone": "+1415555\uff10\uff11\uff10\uff13", "name": "Full-width digits"},
        {"phone": None, "name": "No phone"},
        {"phone": "+14155559999"},  # no name for variable {{1}}
        {"phone": "+14155559998", "name": "n" * 1551},  # LivePerson takes 1550 at most
    ]
    duplicate = {"phone": good[10]["phone"], "name": "Same number, second batch"}
    everyone = [*good[:100], *bad, *good[100:], duplicate]

    result = send(connect(), everyone)

    assert result["accepted"] == 150
    assert [c["accepted"] for c in result["campaigns"]] == [100, 50]
    assert result["failed"] == []  # LivePerson refused none: it was sent none of them
    failures = {(f["address"], f["errorMessage"].split(":")[0]) for f in result["unsendable"]}
    assert failures == {
        ("4155550101", "INVALID_NUMBER"),
        ("+1 415 555 0102", "INVALID_NUMBER"),
        ("+1415555\uff10\uff11\uff10\uff13", "INVALID_NUMBER"),  # \d would take them
        (None, "MISSING_CONSUMER_ID=phone"),
        ("+14155559999", "MISSING_FIELD=name"),
        ("+14155559998", "VARIABLE_TOO_LONG=1"),
        (good[10]["phone"], "DUPLICATE_NUMBER"),
    }
    assert_each_once(control, good)


def test_a_record_the_campaign_cannot_send_is_named_by_its_ids_and_a_twin_by_the_first(
    connect, control
):
    """A second invoice of a number already reminded was listed as that number alone,
    `DUPLICATE_NUMBER`: the address accepted for the first invoice, and the invoice not
    reminded named nowhere. Each record the campaign drops is named by its ids (its fields
    named like `invoice_id`, or those `record_id` names), and a twin says whose address it
    has; LivePerson, sent none of them, refused none (`failed`)."""
    first, other = (
        {**person, "invoice_id": f"INV-{n}", "order": f"O-{n}"}
        for n, person in enumerate(people(2), start=129)
    )
    twin = {**first, "invoice_id": "INV-00130", "order": "O-130"}
    no_phone = {**other, "phone": None, "invoice_id": "INV-00131", "order": "O-131"}
    said = (
        f"DUPLICATE_NUMBER: {first['phone']} is the address of an earlier record "
        "(invoice_id INV-129), which the campaign messages once"
    )

    for dry_run in (True, False):
        result = send(connect(dry_run=dry_run), [first, other, twin, no_phone])

        assert result["failed"] == [] and result["unsendable"] == [
            {"address": first["phone"], "invoice_id": "INV-00130", "errorMessage": said},
            {
                "address": None,
                "invoice_id": "INV-00131",
                "errorMessage": "MISSING_CONSUMER_ID=phone",
            },
        ]
    assert result["accepted"] == 2 and recipients(control) == {first["phone"]: 1, other["phone"]: 1}

    named = send(connect(dry_run=True), [first, twin], record_id=["order", "invoice_id"])
    assert named["unsendable"] == [
        {
            "address": first["phone"],
            "order": "O-130",
            "invoice_id": "INV-00130",
            "errorMessage": f"DUPLICATE_NUMBER: {first['phone']} is the address of an earlier "
            "record (order O-129, invoice_id INV-129), which the campaign messages once",
        }
    ]


@pytest.mark.parametrize("dry_run", [True, False])
def test_a_record_id_an_unsendable_entry_holds_itself_is_refused_before_any_send(
    connect, control, dry_run
):
    """`record_id="address"` (a customer's postal address field) replaced the recipient's
    address in each unsendable entry: the number the campaign could not send was lost."""
    person = {**people(1)[0], "address": "1 Main St"}
    for named in ("address", ["invoice_id", "errorMessage"]):
        with pytest.raises(InputError) as caught:
            send(connect(dry_run=dry_run), [person], record_id=named)
        taken = named if isinstance(named, str) else named[1]
        assert caught.value.field == "record_id", caught.value
        assert caught.value.message.startswith(f"record_id names the field {taken}, which each ")
        assert caught.value.fix == (
            f"take {taken} out of record_id; name records by fields such as invoice_id"
        )
    assert recipients(control) == {}


def test_once_per_a_field_named_address_keeps_the_recipient_s_address_in_unsendable(
    connect, control
):
    """`once_per="address"` (once per postal address) put the record's address field in
    place of the recipient's number in each unsendable entry, as `record_id` did."""
    first, second = ({**p, "address": "1 Main St"} for p in people(2))
    result = send(connect(dry_run=True), [first, second], once_per="address")
    assert result["unsendable"] == [
        {"address": second["phone"], "errorMessage": "DUPLICATE_ONCE_PER=address"}
    ], result["unsendable"]


def test_a_field_under_an_empty_parent_renders_empty_and_a_typo_is_missing(connect, control):
    # A guest checkout's `customer` is null: its first name rendered MISSING_FIELD, though a
    # null field renders as empty text.
    guest, known = people(2)
    guest["customer"], known["customer"] = None, {"first_name": "Ada"}
    result = send(connect(), [guest, known], variables={"1": "Hi {customer.first_name}!"})
    assert result["accepted"] == 2 and result["failed"] == [], result
    sent = {
        c["consumerContent"]["sms"]: c["variables"]["1"]
        for campaign in campaigns(control)
        for c in campaign["request"]["consumers"]
    }
    assert sent == {guest["phone"]: "Hi !", known["phone"]: "Hi Ada!"}
    # A misspelt parent is missing: for every recipient, so the job fails naming it.
    error, typo = send_incomplete(
        connect(), people(2, 5), variables={"1": "Hi {custmer.first_name}!"}
    )
    assert [f["errorMessage"] for f in typo["unsendable"]] == [
        "MISSING_FIELD=custmer.first_name"
    ] * 2
    assert (
        str(error).splitlines()[0]
        == "No recipient could be sent: all 2 are unsendable, with MISSING_FIELD=custmer.first_name"
    )
    assert error.field == "variables" and "'custmer.first_name' is in none" in str(error.fix)
    assert len(campaigns(control)) == 1  # the first send's only


def test_a_format_no_recipient_s_value_takes_fails_the_job_saying_what_to_write(connect, control):
    everyone = [{"phone": f"+1415555010{n}", "total_price": "188.9"} for n in range(2)]
    error, result = send_incomplete(
        connect(), everyone, variables={"1": "Your cart: {total_price:d}"}
    )
    message = str(error).splitlines()[0]
    said = "No recipient could be sent: all 2 are unsendable, with BAD_TEMPLATE=1 ("
    assert message.startswith(said), message
    assert "{total_price:d} cannot show total_price" in message and "{total_price:.2f}" in message
    assert error.field == "variables.1" and len(result["unsendable"]) == 2
    assert control.get("/_sandbox/requests").json()["requests"] == []


@pytest.mark.parametrize(
    ("recipient", "overrides", "field", "code"),
    [
        (
            {"phone": "+14155550100"},
            {"variables": {"1": "Hi {name}"}},
            "variables",
            "MISSING_FIELD=name",
        ),
        ({"mobile": "+14155550100", "name": "Ada"}, {}, "consumer_id", "MISSING_CONSUMER_ID=phone"),
        ({"phone": "4155550100", "name": "Ada"}, {}, "consumer_id", "INVALID_NUMBER"),
        (
            {"phone": "+14155550100", "name": "Ada", "checkout_id": " "},
            {"once_per": "checkout_id"},
            "once_per",
            "MISSING_ONCE_PER=checkout_id",
        ),
    ],
)
def test_recipients_all_failing_for_one_reason_fail_the_job_naming_the_input(
    connect, control, recipient, overrides, field, code
):
    """A field no record has (or numbers none of which is E.164) is the recipe's mistake:
    the job fails naming it, in a dry run too, rather than succeed having sent nobody."""
    everyone = [{**recipient, "n": n} for n in range(3)]
    for dry_run in (True, False):
        error, result = send_incomplete(connect(dry_run=dry_run), everyone, **overrides)
        said = f"No recipient could be sent: all 3 are unsendable, with {code}"
        assert str(error).splitlines()[0] == said
        assert error.field == field and not error.retryable
        assert [f["errorMessage"] for f in result["unsendable"]] == [code] * 3
    assert control.get("/_sandbox/requests").json()["requests"] == []


@pytest.mark.parametrize(
    ("handoff", "variables", "message"),
    [
        ("H1000000001", {"1": "{name}", "2": "extra"}, "TOO_MANY_VARIABLES"),
        ("H1000000003", {"1": "{name}"}, "INSUFFICIENT_VARIABLES"),
    ],
)
def test_wrong_variable_counts_fail_the_campaign_after_one_request_naming_variables(
    connect, control, handoff, variables, message
):
    """Every recipient gets the same variables: when LivePerson refuses a whole batch for
    their count, every other batch would fail alike. The campaign stops there and fails
    naming `variables` (it used to "succeed" having sent nobody), with LivePerson's
    message per recipient in its result; a run with the variables fixed sends them all."""
    fine = people(3)
    wrong = people(250, start=100)
    right_count = {"1": "{name}"} if handoff == "H1000000001" else {"1": "{name}", "2": "$10"}
    first = send(connect(), fine, handoff=handoff, variables=right_count)
    conn = connect()

    error, result = send_incomplete(conn, wrong, handoff=handoff, variables=variables)

    assert first["accepted"] == 3 and first["failed"] == []
    assert error.field == "variables" and message in str(error)
    assert len(requests_to(control, CAMPAIGN_PATH)) == 2  # the first run's and one batch
    assert result["accepted"] == 0 and result["batches"] == 1
    assert result["campaigns"][0]["failed"] == 100
    assert sorted((f["address"], f["errorMessage"]) for f in result["failed"]) == sorted(
        (person["phone"], message) for person in wrong[:100]
    )
    assert send(conn, wrong, handoff=handoff, variables=right_count)["accepted"] == 250
    assert_each_once(control, fine + wrong)


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        (
            {"handoff": "H1000000002", "variables": {"1": "{name}", "2": "A1"}},
            "channels",
            "MISSING_CONSUMER_INFORMATION==WA",
        ),
        (
            {"header_variables": {"image": "https://example.com/cart.png"}},
            "header_variables",
            "INVALID_HEADER_VARIABLE=image",
        ),
    ],
)
def test_channels_or_a_header_the_handoff_does_not_take_fail_the_campaign_naming_them(
    connect, control, overrides, field, message
):
    """A WhatsApp-first handoff sent with the default channels (SMS only), or a WhatsApp
    header on an SMS handoff: LivePerson refuses every recipient alike, so the campaign
    stops after one request and fails naming the input, instead of succeeding unsent."""
    error, result = send_incomplete(connect(), people(250), **overrides)

    assert error.field == field and message in str(error)
    assert len(requests_to(control, CAMPAIGN_PATH)) == 1
    assert result["accepted"] == 0 and {f["errorMessage"] for f in result["failed"]} == {message}
    assert recipients(control) == {}


# -- each recipient once, however the recipients change -----------------------------------


def test_a_retry_with_changed_recipients_sends_only_those_never_sent(connect, control):
    # Like a reminder job retried after its invoices file changed: the earlier 150 and 50
    # new ones, in another order, so that no batch of the retry is a batch of the first run.
    ledger = MemoryLedger()
    first = send(connect(ledger=ledger), people(150))
    changed = list(reversed(people(200)))

    retry = send(connect(ledger=ledger), changed)

    ids = [c["proactiveCampaignId"] for c in first["campaigns"]]
    assert retry["accepted"] == 50 and retry["batches"] == 2
    [campaign] = campaigns(control)[2:]
    assert [c["consumerContent"]["sms"] for c in campaign["request"]["consumers"]] == [
        p["phone"] for p in changed[:50]
    ]
    already = [
        (e["batch"], e["proactiveCampaignId"], e["recipients"]) for e in retry["already_sent"]
    ]
    assert already == [(1, ids[1], 50), (2, ids[0], 100)]
    # Counted, not listed: a rerun of a campaign to 100,000 kept every address in its result.
    assert not any("addresses" in e for e in retry["already_sent"])
    assert_each_once(control, people(200))


def test_recipients_refused_one_by_one_may_be_sent_later(connect, control):
    ledger = MemoryLedger()
    everyone = people(3)

    _, refused = send_incomplete(
        connect(ledger=ledger), everyone, variables={"1": "{name}", "2": "extra"}
    )
    fixed = send(connect(ledger=ledger), everyone)

    assert refused["accepted"] == 0 and len(refused["failed"]) == 3
    assert fixed["accepted"] == 3 and fixed["already_sent"] == []
    assert_each_once(control, everyone)


def test_a_recipient_liveperson_refuses_is_named_by_its_record_as_an_unsendable_one_is(
    connect, control
):
    """LivePerson's refusal names a number: the result names the record it was sent for
    too (its `_id` fields, or `record_id`'s), so the campaign owner knows which to mend;
    an unsendable one in the same run is named alike."""
    records = [{**p, "invoice_id": f"INV-{n}"} for n, p in enumerate(people(2))]
    records.append({"phone": "0612345678", "name": "Local", "invoice_id": "INV-9"})

    _, refused = send_incomplete(connect(), records, variables={"1": "{name}", "2": "extra"})
    _, named = send_incomplete(
        connect(),
        [{**r, "customer": f"C{n}"} for n, r in enumerate(records)],
        variables={"1": "{name}", "2": "extra"},
        record_id="customer",
    )

    assert [(f["address"], f["invoice_id"]) for f in refused["failed"]] == [
        ("+14155550000", "INV-0"),
        ("+14155550001", "INV-1"),
    ]
    assert refused["unsendable"] == [
        {"address": "0612345678", "invoice_id": "INV-9", "errorMessage": "INVALID_NUMBER"}
    ]
    assert [{k: v for k, v in f.items() if k != "errorMessage"} for f in named["failed"]] == [
        {"address": "+14155550000", "batch": 1, "customer": "C0"},
        {"address": "+14155550001", "batch": 1, "customer": "C1"},
    ]


def test_a_batch_liveperson_keeps_refusing_stops_the_campaign_and_a_retry_sends_everyone(
    connect, control, monkeypatch
):
    """A batch refused (429) for every try stops the campaign: the next batch would meet
    the same limit. Nothing was accepted, so a retry sends everyone."""
    monkeypatch.setattr(client_module(), "MAX_TRIES", 2)  # two refusals give up, not six
    ledger = MemoryLedger()
    conn = connect(ledger=ledger)
    ConnectionClient(conn).test()  # a token is in hand: the fault hits the campaign requests
    fault(control, error_rate=1.0, error_status=429, scope="liveperson", count=2)
    everyone = people(150)

    error, result = send_incomplete(conn, everyone)

    message = str(error)
    assert message.startswith("The campaign stopped at batch 1")
    assert "LivePerson did not accept the request after 2 tries: HTTP 429" in message
    assert (
        "accepted 0 before, 50 not sent; the job run again (a retry or a rerun) sends the 50 "
        "not sent and the 100 rejected"
    ) in message
    assert error.retryable and result["accepted"] == 0 and result["not_sent"] == 50
    [rejected] = result["rejected"]
    assert rejected["batch"] == 1 and rejected["addresses"] == [p["phone"] for p in everyone[:100]]
    assert len(requests_to(control, CAMPAIGN_PATH)) == 2 and recipients(control) == {}

    retry = send(connect(ledger=ledger), everyone)

    assert retry["accepted"] == 150 and retry["rejected"] == retry["already_sent"] == []
    assert_each_once(control, everyone)


class TokenServerDown(ForwardingProxy):
    """Stands for Sentinel: gives the first token, then answers 503 to every request."""

    def __init__(self, sandbox_url: str) -> None:
        super().__init__(sandbox_url)
        self.tokens = 0

    def answer(self, path: str) -> httpx.Response | None:
        self.tokens += 1
        if self.tokens == 1:
            return None
        return httpx.Response(
            503, json={"code": 503, "message": "down"}, headers={"Retry-After": "0"}
        )


@pytest.mark.parametrize(
    ("cause", "reason"),
    [
        ("429", "did not accept the request after 2 tries: HTTP 429"),
        ("token server", "did not accept the request after 2 tries: LivePerson's token server"),
        ("400", "Unknown templateId: H9999999999"),
    ],
)
def test_the_ledger_keeps_the_final_reason_of_a_batch_refused_whole(
    connect, control, sandbox, serve, monkeypatch, cause, reason
):
    """Each try refused whole releases the batch "to be tried again"; after the last one,
    its recipients' ledger rows say why it was refused, as the job's result does."""
    monkeypatch.setattr(client_module(), "MAX_TRIES", 2)
    handoff = "H9999999999" if cause == "400" else "H1000000001"
    if cause == "token server":  # the token expires as the batch goes out; no new one comes
        ledger = HookedLedger(lambda n: fault(control, expire_tokens=True) if n == 1 else None)
        conn = connect(ledger=ledger, sentinel_base_url=serve(TokenServerDown(sandbox.url)).url)
    else:
        ledger = HookedLedger()
        conn = connect(ledger=ledger)
    if cause == "429":
        ConnectionClient(conn).test()  # a token is in hand: the fault hits the campaign
        fault(control, error_rate=1.0, error_status=429, scope="liveperson", count=2)
    everyone = people(3)

    _, result = send_incomplete(conn, everyone, handoff=handoff)

    [rejected] = result["rejected"]
    assert reason in rejected["message"]
    campaign = campaign_module()
    rows = [ledger._records[campaign.send_key(ACCOUNT, handoff, p["phone"])] for p in everyone]
    assert [row["status"] for row in rows] == ["rejected"] * 3
    assert [row["detail"]["message"] for row in rows] == [rejected["message"]] * 3
    assert recipients(control) == {}
    if cause != "400":  # rejected, so a retry on the same ledger sends them
        assert send(connect(ledger=ledger), everyone)["accepted"] == 3
        assert_each_once(control, everyone)


def test_a_lost_region_lookup_sends_nothing_claims_nobody_and_a_retry_sends_everyone(
    connect, control, sandbox, monkeypatch
):
    client = client_module()
    monkeypatch.setattr(client, "_domains", {})
    lookup = f"{sandbox.url}/api/account/{{account}}/service/{{service}}/baseURI.json"
    monkeypatch.setattr(client, "CSDS_URL", lookup)
    fault(control, drop_rate=1.0, scope="liveperson", count=1)  # the lookup's answer is lost
    ledger = MemoryLedger()
    everyone = people(20)

    with pytest.raises(ConnectorError) as raised:
        send(connect(ledger=ledger, base_url=""), everyone)

    assert "domain lookup for agentVep failed" in str(raised.value)
    assert "nothing was sent" in str(raised.value) and raised.value.retryable
    assert requests_to(control, CAMPAIGN_PATH) == []
    retry = send(connect(ledger=ledger), everyone)  # the network is back (here: base_url)
    assert retry["accepted"] == 20 and retry["uncertain"] == retry["already_sent"] == []
    assert_each_once(control, everyone)


class PageProxy(ForwardingProxy):
    """Answers requests for `path` with 200 and an HTML page instead of the API's JSON (a
    captive portal, or a proxy in the way); forwards the rest."""

    def __init__(self, sandbox_url: str, path: str) -> None:
        super().__init__(sandbox_url)
        self.path = path

    def answer(self, path: str) -> httpx.Response | None:
        if path != self.path:
            return None
        return httpx.Response(200, text="<html>Sign in to the network</html>")


def test_a_token_answer_that_is_a_page_sends_nothing_and_a_rerun_sends_everyone(
    connect, control, sandbox, serve
):
    """Nothing was sent without a token: the recipients are rejected (not left claimed, and
    so never uncertain), the error names the token server and the field that leads to the
    page, and is not retried (the page stays until the field is fixed); a rerun then sends
    them all."""
    proxy = serve(PageProxy(sandbox.url, TOKEN_PATH))
    ledger = MemoryLedger()
    everyone = people(5)

    error, result = send_incomplete(
        connect(ledger=ledger, sentinel_base_url=proxy.url, client_id="portal-client"), everyone
    )

    assert "token server" in str(error) and not error.retryable
    assert error.field == "sentinel_base_url" and "sentinel_base_url=..." in str(error.fix)
    # Nothing reached LivePerson: it was said to have "refused batch 1 whole".
    said = "batch 1 never reached Proactive Messaging (the connection's sentinel_base_url"
    assert str(error).startswith(said) and "LivePerson's token server" in str(error), error
    assert "refused" not in str(error), error
    assert result["uncertain"] == [] and sum(r["recipients"] for r in result["rejected"]) == 5
    assert SECRET not in str(error)
    retry = send(connect(ledger=ledger), everyone)
    assert retry["accepted"] == 5 and retry["uncertain"] == retry["already_sent"] == []
    assert_each_once(control, everyone)


def test_a_campaign_answer_that_cannot_be_read_is_uncertain_and_never_resent(
    connect, control, sandbox, serve
):
    proxy = serve(PageProxy(sandbox.url, CAMPAIGN_PATH))
    ledger = MemoryLedger()
    everyone = people(5)

    error, result = send_incomplete(connect(ledger=ledger, proactive_base_url=proxy.url), everyone)

    assert "uncertain 5" in str(error) and not error.retryable
    assert [sorted(u["addresses"]) for u in result["uncertain"]] == [
        sorted(p["phone"] for p in everyone)
    ]
    _, again = send_incomplete(connect(ledger=ledger), everyone)
    assert again["accepted"] == 0 and sum(u["recipients"] for u in again["uncertain"]) == 5
    assert recipients(control) == {}


@pytest.mark.parametrize(("path", "status"), [(CAMPAIGN_PATH, 429), (TOKEN_PATH, 503)])
def test_retry_after_as_an_http_date_is_waited_out(connect, control, sandbox, serve, path, status):
    proxy = serve(RetryAfterDateProxy(sandbox.url, path, status))
    everyone = people(5)
    result = send(connect(base_url=proxy.url), everyone)

    assert result["accepted"] == 5
    [arrived] = requests_to(control, path)
    assert proxy.retry_at is not None and arrived["time"] >= proxy.retry_at
    assert_each_once(control, everyone)


def test_a_retry_after_too_long_to_wait_in_a_job_stops_the_campaign_at_once(
    connect, control, sandbox, serve
):
    """An hour's `Retry-After` is not waited out inside a job (its timeout would kill it
    mid-wait and leave the batch claimed, i.e. uncertain and never resent), nor ignored:
    the batch is rejected at once, no other goes, and a retry sends them all."""
    proxy = serve(RetryAfterDateProxy(sandbox.url, CAMPAIGN_PATH, 429, header="3600"))
    ledger = MemoryLedger()
    everyone = people(150)
    started = time.monotonic()
    error, result = send_incomplete(connect(base_url=proxy.url, ledger=ledger), everyone)

    assert time.monotonic() - started < 30
    assert error.retryable and "3600" in str(error) and "stopped at batch 1" in str(error)
    assert [entry["batch"] for entry in result["rejected"]] == [1]
    assert result["accepted"] == 0 and result["uncertain"] == [] and result["not_sent"] == 50
    assert proxy.paths.count(CAMPAIGN_PATH) == 1
    retry = send(connect(ledger=ledger), everyone)
    assert retry["accepted"] == 150
    assert_each_once(control, everyone)


# -- what goes wrong on the way ------------------------------------------------------------


def test_a_token_expiring_between_batches_is_renewed_and_nobody_gets_two(connect, control):
    def expire_before_second_batch(batch: int) -> None:
        if batch == 2:
            fault(control, expire_tokens=True)

    everyone = people(250)

    result = send(connect(ledger=HookedLedger(expire_before_second_batch)), everyone)

    assert result["accepted"] == 250 and result["rejected"] == []
    statuses = [entry["status"] for entry in requests_to(control, CAMPAIGN_PATH)]
    assert statuses == [200, 401, 200, 200]
    assert len(requests_to(control, TOKEN_PATH)) == 2
    assert_each_once(control, everyone)


def test_short_lived_tokens_are_renewed_for_every_batch(connect, control):
    # Tokens live 0.5 s; one request per second: the second batch finds its token expired,
    # renews it once and goes through (the renewed token is not left to age in the wait).
    settings(control, token_ttl_seconds=0.5)
    everyone = people(150)

    result = send(connect(requests_per_second=1), everyone)

    assert result["accepted"] == 150 and result["rejected"] == []
    assert [e["status"] for e in requests_to(control, CAMPAIGN_PATH)] == [200, 401, 200]
    assert len(requests_to(control, TOKEN_PATH)) == 2
    assert_each_once(control, everyone)


def test_tokens_the_server_forgot_are_renewed(connect, control):
    # A reset (like a revoked key or a restarted server) invalidates the cached token: the
    # answer is 401 "invalid signature", not "jwt expired"; a fresh token must be fetched.
    conn = connect()
    send(conn, people(5))
    assert control.post("/_sandbox/reset").status_code == 200
    everyone = people(5, start=10)

    result = send(conn, everyone)

    assert result["accepted"] == 5 and result["rejected"] == []
    assert_each_once(control, everyone)


def test_429_bursts_are_waited_out_and_every_batch_is_accepted_once(connect, control):
    settings(control, requests_per_second=2)
    everyone = people(500)

    result = send(connect(requests_per_second=10), everyone)

    assert result["accepted"] == 500
    assert [c["batch"] for c in result["campaigns"]] == [1, 2, 3, 4, 5]
    statuses = [entry["status"] for entry in requests_to(control, CAMPAIGN_PATH)]
    assert 429 in statuses
    assert statuses.count(200) == 5
    assert_each_once(control, everyone)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_server_error_answer_leaves_its_batch_uncertain_never_resent(connect, control, status):
    """LivePerson defines no error as safe to resend, and a gateway's 5xx may come after it
    acted: the batch is named uncertain, and neither the campaign nor its retry sends it.
    The campaign stops there (each later batch sent into the fault would be uncertain too),
    and its retry sends the rest."""
    ledger = MemoryLedger()
    conn = connect(ledger=ledger)
    ConnectionClient(conn).test()  # a token is in hand: the fault hits the campaign request
    fault(control, error_rate=1.0, error_status=status, scope="liveperson", count=1)
    everyone = people(150)

    error, result = send_incomplete(conn, everyone)

    assert "stopped at batch 1" in str(error) and "uncertain 100 are never resent" in str(error)
    assert error.retryable and result["accepted"] == 0 and result["rejected"] == []
    assert result["not_sent"] == 50
    [unsure] = result["uncertain"]
    assert unsure["addresses"] == [p["phone"] for p in everyone[:100]]
    assert unsure["reason"].startswith(f"LivePerson answered HTTP {status}")
    assert [e["status"] for e in requests_to(control, CAMPAIGN_PATH)] == [status]

    error, retry = send_incomplete(connect(ledger=ledger), everyone)
    assert retry["accepted"] == 50 and len(retry["uncertain"]) == 1 and not error.retryable
    assert [e["status"] for e in requests_to(control, CAMPAIGN_PATH)] == [status, 200]
    assert recipients(control) == {p["phone"]: 1 for p in everyone[100:]}  # nobody resent


@pytest.mark.parametrize("status", [503, 429])
def test_a_token_server_error_is_retried_too(connect, control, status):
    # The very first request of a fresh connection is the token request.
    fault(control, error_rate=1.0, error_status=status, scope="liveperson", count=1)
    everyone = people(20)

    result = send(connect(), everyone)

    assert result["accepted"] == 20, result
    assert [e["status"] for e in requests_to(control, TOKEN_PATH)] == [status, 200]
    assert_each_once(control, everyone)


def test_a_dropped_answer_is_reported_uncertain_and_never_resent(connect, control):
    def drop_second_batch(batch: int) -> None:
        if batch == 2:
            fault(control, drop_rate=1.0, scope="liveperson", count=1)

    ledger = HookedLedger(drop_second_batch)
    everyone = people(250)

    error, result = send_incomplete(connect(ledger=ledger), everyone)

    # The campaign stops at the batch left in doubt; the 50 after it are not sent.
    assert "stopped at batch 2" in str(error) and error.retryable
    assert result["accepted"] == 100 and result["not_sent"] == 50
    assert [c["batch"] for c in result["campaigns"]] == [1]
    [uncertain] = result["uncertain"]
    assert uncertain["batch"] == 2 and uncertain["recipients"] == 100
    assert uncertain["addresses"] == [p["phone"] for p in everyone[100:200]]
    assert "may have been accepted" in uncertain["reason"]
    # The sandbox did accept the batch whose answer was lost.
    assert [c["answerDropped"] for c in campaigns(control)] == [False, True]
    assert_each_once(control, everyone[:200])

    # Its retry (the same ledger) sends the 50, and fails again, not to be retried: the 100
    # recipients left in doubt still need a person to look them up in LivePerson.
    ledger.before = None
    error, again = send_incomplete(connect(ledger=ledger), everyone)

    assert "accepted 50, rejected 0, uncertain 100, already sent 100" in str(error)
    assert not error.retryable
    assert [e["batch"] for e in again["already_sent"]] == [1]
    [unanswered] = again["uncertain"]
    assert unanswered["batch"] == 2 and unanswered["addresses"] == uncertain["addresses"]
    log = requests_to(control, CAMPAIGN_PATH)
    assert [e["dropped"] for e in log] == [False, True, False]
    assert_each_once(control, everyone)


def test_a_campaign_that_leaves_recipients_uncertain_says_so_to_its_job(connect, control):
    """A scheduled job's retries could never send its uncertain recipients (the ledger
    holds them), so each failed on them anew and its failure contacts heard only after the
    last. Its error now says `uncertain` (the job is reported at once) and asks for a retry
    (`retryable`) only while recipients are left to send; a campaign with recipients only
    rejected still asks for its retry."""
    ledger = MemoryLedger()
    conn = connect(ledger=ledger)
    ConnectionClient(conn).test()  # a token is in hand: the fault hits the campaign request
    fault(control, error_rate=1.0, error_status=500, scope="liveperson", count=1)
    everyone = people(150)

    stopped, _ = send_incomplete(conn, everyone)
    rerun, result = send_incomplete(connect(ledger=ledger), everyone)

    assert type(stopped).__name__ == "ServiceTrouble" and stopped.uncertain
    assert stopped.retryable  # for the 50 it never sent
    assert (
        "50 not sent; the job run again (a retry or a rerun) sends the 50 not sent; "
        "uncertain 100 are never resent"
    ) in str(stopped)
    assert type(rerun).__name__ == "CampaignIncomplete" and rerun.uncertain
    assert result["accepted"] == 50 and not rerun.retryable
    assert recipients(control) == {p["phone"]: 1 for p in everyone[100:]}

    fault(control, error_rate=1.0, error_status=413, scope="liveperson", count=1)
    refused, result = send_incomplete(connect(), people(5, start=200))
    assert result["rejected"] and result["uncertain"] == []
    assert refused.retryable and not refused.uncertain


def test_the_same_campaign_twice_on_one_ledger_sends_nothing_the_second_time(connect, control):
    ledger = MemoryLedger()
    everyone = people(250)

    first = send(connect(ledger=ledger), everyone)
    second = send(connect(ledger=ledger), everyone)

    assert first["accepted"] == 250
    assert second["accepted"] == 0 and second["campaigns"] == []
    ids = [c["proactiveCampaignId"] for c in first["campaigns"]]
    assert [e["proactiveCampaignId"] for e in second["already_sent"]] == ids
    assert [e["recipients"] for e in second["already_sent"]] == [100, 100, 50]
    assert len(campaigns(control)) == 3
    assert_each_once(control, everyone)


class FreedAfterTheLook(MemoryLedger):
    """A ledger whose every recipient another job is sending when a batch looks whether it
    has any left to send (read), and free again (that job's try refused whole) when the
    batch claims them."""

    def earlier_many(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        return {key: {"status": "sending", "detail": {}, "job_id": 7} for key in keys}


def test_recipients_freed_after_a_batch_looked_are_sent_once_as_any_batch(connect, control):
    """A batch that looks first (so that one with nobody left asks for no token) and finds
    its recipients freed when it claims them sends them as any batch does: accepted once,
    none said uncertain for its own claim."""
    everyone = people(3)

    result = send(connect(ledger=FreedAfterTheLook()), everyone)

    assert result["accepted"] == 3 and len(result["campaigns"]) == 1, result
    assert result["uncertain"] == result["already_sent"] == result["rejected"] == []
    assert_each_once(control, everyone)


def test_a_request_refused_whole_stops_the_campaign_and_a_fixed_run_sends_everyone(
    connect, control
):
    """An unknown handoff is refused whole, and every batch would be: one request goes,
    not one per batch, and the recipients never reached are counted."""
    ledger = MemoryLedger()
    everyone = people(250)

    error, refused = send_incomplete(connect(ledger=ledger), everyone, handoff="H9999999999")

    [rejected] = refused["rejected"]
    assert rejected["status"] == 400 and "Unknown templateId" in rejected["message"]
    assert rejected["recipients"] == 100 and refused["not_sent"] == 150
    assert str(error).startswith("LivePerson refused batch 1 whole (HTTP 400: Unknown templateId")
    assert (
        str(error)
        .splitlines()[0]
        .endswith("Nothing more was sent: accepted 0 before, 150 not sent")
    )
    assert error.status == 400 and not error.retryable and "handoff" in str(error.fix)
    assert len(requests_to(control, CAMPAIGN_PATH)) == 1

    fixed = send(connect(ledger=ledger), everyone)
    assert fixed["accepted"] == 250 and fixed["already_sent"] == []
    assert_each_once(control, everyone)


# -- dry run, pick lists, status, reporting, rate limit, credentials -----------------------


def test_dry_run_sends_nothing_and_returns_the_requests(connect, control, sandbox):
    everyone = people(250)

    result = send(connect(dry_run=True), everyone)

    assert result["dry_run"] is True
    assert result["recipients"] == 250 and result["batches"] == 3
    # A real run's keys too, with nothing sent: a recipe reading them passes its Test (the
    # README's `sent["campaigns"], sent["accepted"]...` failed with KeyError in a dry run).
    assert {key: result[key] for key in ("campaigns", "accepted", "uncertain")} == {
        "campaigns": [],
        "accepted": 0,
        "uncertain": [],
    }
    assert (result["already_sent"], result["rejected"], result["not_sent"]) == ([], [], 0)
    assert result["failed"] == []
    requests = result["requests"]
    assert result["requests_total"] == 3
    assert [r["method"] for r in requests] == ["POST"] * 3
    assert {r["url"] for r in requests} == {f"{sandbox.url}{CAMPAIGN_PATH}"}
    assert [len(r["json"]["consumers"]) for r in requests] == [100, 100, 50]
    first = requests[0]["json"]
    assert first["templateId"] == "H1000000001" and first["consent"] is True
    assert first["consumers"][0] == {
        "consumerContent": {"sms": everyone[0]["phone"]},
        "variables": {"1": everyone[0]["name"]},
    }
    assert SECRET not in json.dumps(result)
    # It only reads: the handoff list, to check the variables against the handoff's text,
    # and the status of no campaign, to check the campaigns' host answers.
    log = control.get("/_sandbox/requests").json()["requests"]
    assert {(entry["method"], entry["path"]) for entry in log} == {
        ("POST", TOKEN_PATH),
        ("GET", f"/api/account/{ACCOUNT}/app/prmsg/handoffs/list"),
        ("GET", f"{CAMPAIGN_PATH}/00000000-0000-0000-0000-000000000000/conversations"),
    }
    assert recipients(control) == {}


def test_a_dry_run_shows_its_first_requests_and_counts_them_all(connect, control):
    """The README says a dry run returns the requests it would send: a long one shows the
    first 20 (a 100,000-recipient test's thousand would bury the answer) and says how many
    there are, so nobody takes 20 for all."""
    everyone = people(50)

    result = send(connect(dry_run=True, recipients_per_request=2), everyone)

    assert result["recipients"] == 50 and result["batches"] == 25
    assert result["requests_total"] == 25
    assert len(result["requests"]) == 20
    assert result["requests"][-1]["json"]["consumers"][0]["variables"] == {"1": "Person 38"}
    assert recipients(control) == {}


def test_pick_lists_show_the_handoffs_with_their_channels_and_the_skills(connect):
    client = ConnectionClient(connect())

    handoffs = client.picklist("handoffs")
    skills = client.picklist("skills")

    assert [h.value for h in handoffs] == ["H1000000001", "H1000000002", "H1000000003"]
    assert [h.extra["channels"] for h in handoffs] == [["sms"], ["wa", "sms"], ["sms"]]
    assert handoffs[1].label == "Order update WhatsApp, SMS fallback (wa, sms)"
    assert [s.value for s in skills] == ["billing", "sales", "support"]


def test_campaign_status_and_reporting_give_the_sandbox_s_answers(connect, control):
    settings(control, campaign_progress_seconds=0, sms_window_start_hour=0, sms_window_end_hour=24)
    conn = connect()
    everyone = people(120)
    sent = send(conn, [*everyone, {"phone": "+14155559999"}])
    client = ConnectionClient(conn)
    first_id = sent["campaigns"][0]["proactiveCampaignId"]

    status = client.campaign_status(campaign_id=first_id)
    now_ms = int(time.time() * 1000)
    report = client.reporting_analytics(start=now_ms - 60_000, end=now_ms + 60_000)

    assert status["campaignStatus"] == "FINISHED"
    assert len(status["conversations"]) == 100
    assert {c["status"] for c in status["conversations"]} == {"DELIVERED"}
    [row] = report["data"]
    assert (row["channel"], row["skill"]) == ("sms", "sales")
    assert row["attempted"] == row["eligible"] == row["delivered"] == 120
    with pytest.raises(ConnectorError, match="404"):
        client.campaign_status(campaign_id="no-such-campaign")


def test_reporting_accepts_iso_times(connect):
    client = ConnectionClient(connect())

    report = client.reporting_analytics(start="2026-01-01T00:00:00", end="2026-01-02T00:00:00")

    assert report == {"data": []}


def test_reporting_takes_aware_datetimes_and_names_a_naive_one(connect, control):
    """`start=datetime.now(UTC) - ...` was refused as "a value of 79 characters is not of
    type 'string', 'integer'": an aware datetime is the time it says, in any zone; a naive
    one (which day?) and a value JSON has no form for are refused naming the field."""
    from datetime import UTC, date, datetime, timedelta, timezone

    settings(control, campaign_progress_seconds=0, sms_window_start_hour=0, sms_window_end_hour=24)
    conn = connect()
    send(conn, people(3))
    client = ConnectionClient(conn)
    now = datetime.now(UTC)
    paris = timezone(timedelta(hours=1))
    [row] = client.reporting_analytics(
        start=(now - timedelta(minutes=1)).astimezone(paris), end=now + timedelta(minutes=1)
    )["data"]
    assert row["attempted"] == 3
    earlier = {"start": now - timedelta(days=3), "end": now - timedelta(days=2)}
    assert client.reporting_analytics(**earlier) == {"data": []}

    with pytest.raises(InputError) as naive:
        client.reporting_analytics(start=datetime.now() - timedelta(days=1), end=now)
    assert naive.value.field == "start"
    assert "'start' is a datetime without a time zone" in str(naive.value)
    assert "datetime.now(UTC)" in naive.value.fix
    with pytest.raises(InputError) as day:
        client.reporting_analytics(start=date.today(), end=now)
    assert day.value.field == "start"
    assert "a Python date is not of type 'string', 'integer'" in str(day.value)
    assert "characters" not in str(day.value)


def test_a_reporting_window_liveperson_would_refuse_is_named_before_asking(connect, control):
    """Outbound Reporting answers at most 60 days: a longer window, an end before its start
    or a time that is not one is an input error naming the field, and nothing is asked."""
    from lpstudio.errors import InputError

    client = ConnectionClient(connect())
    now_ms = int(time.time() * 1000)
    day_ms = 24 * 3600 * 1000
    for start, end, field in (
        (now_ms - 90 * day_ms, now_ms, "start"),
        (now_ms, now_ms - day_ms, "end"),
        ("last tuesday", now_ms, "start"),
    ):
        with pytest.raises(InputError) as raised:
            client.reporting_analytics(start=start, end=end)
        assert raised.value.field == field

    assert client.reporting_analytics(start=now_ms - 60 * day_ms, end=now_ms) == {"data": []}
    assert len(requests_to(control, f"/api/account/{ACCOUNT}/app/prmsg/analytics/")) == 1


def test_the_connection_s_rate_limit_keeps_requests_within_requests_per_second(connect, control):
    settings(control, requests_per_second=4)
    everyone = people(700)

    result = send(connect(requests_per_second=3), everyone)

    assert result["accepted"] == 700
    log = requests_to(control, CAMPAIGN_PATH)
    assert [e["status"] for e in log] == [200] * 7  # never a 429
    times = sorted(e["time"] for e in log)
    # The fourth request waits for the first to age out of its second (about 1 s apart at
    # the client; arrival times at the sandbox jitter on a loaded machine, hence 0.5 s,
    # while without the limit all seven arrive within milliseconds).
    assert all(times[i + 3] - times[i] >= 0.5 for i in range(len(times) - 3)), times
    assert_each_once(control, everyone)


def test_a_wrong_client_secret_fails_without_showing_the_secret(connect, control):
    wrong = "not-the-secret-4711"
    conn = connect(client_secret=wrong)

    with pytest.raises(ConnectorError) as raised:
        ConnectionClient(conn).test()
    error, result = send_incomplete(conn, people(150))

    message = str(raised.value)
    assert "client id and secret" in message and wrong not in message
    assert raised.value.status == 401
    # Said as a fix naming the connection (pick lists and `connections test` show it so).
    assert "(HTTP 401)" in raised.value.message and "secret" not in raised.value.message
    assert "lpstudio connections test lp" in str(raised.value.fix)
    # The token was refused: the batch's request never went out.
    assert str(error).startswith(
        "batch 1 never reached Proactive Messaging (LivePerson refused the app credentials"
    ), error
    assert "client id and secret" in str(error) and "50 not sent" in str(error)
    assert wrong not in str(error) and wrong not in repr(error)
    assert result["accepted"] == 0 and len(result["rejected"]) == 1 and result["not_sent"] == 50
    assert wrong not in json.dumps(result)
    assert wrong not in repr(conn) and "****" in repr(conn)
    assert recipients(control) == {}


class EchoingGateway(ThreadingHTTPServer):
    """A Proactive host (a gateway in front of it) whose error answers quote the request's
    headers, the bearer token among them, answering every campaign with `status`."""

    def __init__(self, status: int) -> None:
        super().__init__(("127.0.0.1", 0), _EchoHeaders)
        self.status = status
        self.tokens: list[str] = []
        self.url = f"http://127.0.0.1:{self.server_address[1]}"


class _EchoHeaders(BaseHTTPRequestHandler):
    server: EchoingGateway

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.tokens.append(self.headers["Authorization"].removeprefix("Bearer "))
        said = {"code": self.server.status, "message": f"refused, headers: {dict(self.headers)}"}
        body = json.dumps(said).encode()
        self.send_response(self.server.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: pytest shows the test's own output."""


@pytest.mark.parametrize("status", [400, 500])
def test_an_answer_quoting_the_bearer_token_shows_it_masked(connect, serve, status):
    """The AppJWT fetched with the client secret is a credential for the whole account for
    an hour: an error answer that quotes it (a 400's message, a 5xx's) must not carry it
    into the job's error and result (kept in the store, shown to operators)."""
    gateway = serve(EchoingGateway(status))
    conn = connect(proactive_base_url=gateway.url)

    error, result = send_incomplete(conn, people(5))

    [token] = set(gateway.tokens)
    shown = {"error": str(error), "repr": repr(error), "result": json.dumps(result)}
    assert [where for where, text in shown.items() if token in text] == []
    assert "Bearer ****" in shown["result"]


def test_bad_input_is_named_before_anything_is_sent(connect, control):
    from lpstudio.errors import InputError

    with pytest.raises(InputError, match="handoff"):
        send(connect(), people(3), handoff="")
    with pytest.raises(InputError, match="outbound_number"):
        send(connect(), people(3), outbound_number="not a number")
    # Digits are ASCII digits (Python's \d takes any script's), with no line break after.
    for number in ("+14155550000\n", "+١٤١٥٥٥٥٠٠٠٠"):
        with pytest.raises(InputError, match="outbound_number"):
            send(connect(), people(3), outbound_number=number)

    assert control.get("/_sandbox/requests").json()["requests"] == []


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"campaign_name": "   "}, "campaign_name"),
        ({"skill": " "}, "skill"),
        ({"handoff": "\t"}, "handoff"),
        ({"consumer_id": " "}, "consumer_id"),
        ({"variables": {"first": "{name}"}}, "variables"),
        ({"variables": {"1\n": "{name}"}}, "variables"),
        ({"variables": {"1": "Hi {name"}}, "variables.1"),
        ({"variables": {"1": "Hi {}"}}, "variables.1"),
    ],
)
def test_input_liveperson_would_refuse_for_everyone_is_named_before_anything_is_sent(
    connect, control, overrides, field
):
    """A blank campaign name, skill or handoff (LivePerson refuses every request), variables
    not named for the {{n}} placeholders, or a variable template that cannot be read (every
    recipient fails alike): the campaign fails naming the input, and nothing is sent or
    claimed, rather than "succeed" having sent nobody or send every batch to be refused."""
    from lpstudio.errors import InputError

    ledger = MemoryLedger()
    with pytest.raises(InputError) as raised:
        send(connect(ledger=ledger), people(3), **overrides)

    assert raised.value.field == field
    assert control.get("/_sandbox/requests").json()["requests"] == []
    assert send(connect(ledger=ledger), people(3))["accepted"] == 3


def test_variables_skipping_a_placeholder_fail_the_campaign_naming_variables(connect, control):
    """{{1}} and {{3}} for a message of {{1}} and {{2}}: LivePerson refuses every recipient
    with MISSING_VARIABLE=2, so the campaign stops after one request naming `variables`."""
    error, result = send_incomplete(
        connect(), people(250), handoff="H1000000003", variables={"1": "{name}", "3": "$10"}
    )

    assert error.field == "variables" and "MISSING_VARIABLE=2" in str(error)
    assert len(requests_to(control, CAMPAIGN_PATH)) == 1
    assert result["accepted"] == 0 and recipients(control) == {}


@pytest.mark.parametrize("campaign_id", ["", "../../x", "a/b", "abc?x=1", "abc\n"])
def test_a_campaign_id_that_is_no_id_is_named_before_asking(connect, control, campaign_id):
    """The id goes into the status URL: one that would ask another path (with the token)
    is refused naming it."""
    from lpstudio.errors import InputError

    with pytest.raises(InputError) as raised:
        ConnectionClient(connect()).campaign_status(campaign_id=campaign_id)

    assert raised.value.field == "campaign_id"
    assert control.get("/_sandbox/requests").json()["requests"] == []


def test_a_wrong_secret_never_borrows_the_token_of_a_right_one(connect, control):
    right = connect()
    assert send(right, people(3))["accepted"] == 3
    wrong = connect(client_secret="not-the-secret-4711")

    _, result = send_incomplete(wrong, people(3, start=50))

    assert result["accepted"] == 0 and len(result["rejected"]) == 1
    assert "refused the app credentials" in result["rejected"][0]["message"]
    assert_each_once(control, people(3))


def test_a_lost_answer_to_a_read_is_simply_asked_again(connect, control):
    client = ConnectionClient(connect())
    client.test()  # a token is in hand: the fault hits the next read
    fault(control, drop_rate=1.0, scope="liveperson", count=1)

    handoffs = client.picklist("handoffs")

    assert len(handoffs) == 3
    path = f"/api/account/{ACCOUNT}/app/prmsg/handoffs/list"
    assert [e["dropped"] for e in requests_to(control, path)] == [False, True, False]


@pytest.mark.parametrize("count", [45, 60])
def test_every_handoff_is_listed_when_the_answer_gives_no_total(connect, sandbox, serve, count):
    """An account with more handoffs than one page: the pick list must offer all of them,
    whatever names the answer uses, and stop at the first page that is not full."""
    proxy = serve(HandoffsElsewhere(sandbox.url, count))
    handoffs = ConnectionClient(connect(base_url=proxy.url)).picklist("handoffs")

    assert [h.value for h in handoffs] == [f"H{n:010d}" for n in range(count)]
    assert handoffs[0].label == "Handoff 0 (sms)"
    assert proxy.pages_asked == count // 30 + 1


def test_a_handoff_list_that_ignores_the_offset_is_read_once(connect, sandbox, serve):
    proxy = serve(HandoffsElsewhere(sandbox.url, 45, ignore_offset=True))
    handoffs = ConnectionClient(connect(base_url=proxy.url)).picklist("handoffs")

    assert [h.value for h in handoffs] == [f"H{n:010d}" for n in range(30)]
    assert proxy.pages_asked == 2


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"recipients_per_request": 1001}, "recipients_per_request"),
        ({"recipients_per_request": -5}, "recipients_per_request"),
        ({"requests_per_second": -1}, "requests_per_second"),
    ],
)
def test_limits_out_of_liveperson_s_range_are_named_before_anything_is_sent(
    connect, control, config, field
):
    """Recipients per request is 100, or 1000 on older accounts: more is refused whole by
    LivePerson for every batch, and a negative rate would never let a request go."""
    from lpstudio.errors import InputError

    with pytest.raises(InputError) as raised:
        send(connect(**config), people(3))

    assert raised.value.field == field
    assert control.get("/_sandbox/requests").json()["requests"] == []


def test_more_recipients_per_request_than_the_account_takes_names_the_setting(connect, control):
    """Older documents allow 1000 recipients per request, current ones 100: a connection
    set above its account's limit is refused whole for every batch, and the fix says which
    connection setting to lower, not only the campaign's fields."""
    everyone = people(150)

    error, result = send_incomplete(connect(recipients_per_request=150), everyone)

    assert error.status == 400 and "Too many consumers" in str(error)
    assert "recipients_per_request" in str(error.fix)
    assert result["not_sent"] == 0 and sum(r["recipients"] for r in result["rejected"]) == 150
    assert send(connect(), everyone)["accepted"] == 150
    assert_each_once(control, everyone)


def test_transactions_come_every_page_within_24_hours(connect, control):
    """Outbound Reporting's transactions: a row per recipient, at most 5000 a page and 24
    hours a request; a longer window is named before anything is asked."""
    from lpstudio.errors import InputError

    settings(control, recipients_per_request=1000)
    conn = connect(recipients_per_request=1000)
    everyone = people(5050)
    assert send(conn, everyone)["accepted"] == 5050
    client = ConnectionClient(conn)
    now_ms = int(time.time() * 1000)
    path = f"/api/account/{ACCOUNT}/app/prmsg/transactions/"

    rows = client.reporting_transactions(start=now_ms - 3_600_000, end=now_ms + 60_000)["data"]
    billing = client.reporting_transactions(
        start=now_ms - 3_600_000, end=now_ms + 60_000, skills=["billing"]
    )
    with pytest.raises(InputError) as raised:
        client.reporting_transactions(start=now_ms - 25 * 3_600_000, end=now_ms)

    assert len(rows) == 5050 and {row["skill"] for row in rows} == {"sales"}
    assert len({row["consumerId"] for row in rows}) == 5050
    assert billing == {"data": []}
    assert raised.value.field == "start"
    assert "from 'start' to 'end' is longer than LivePerson's 24 hours" in str(raised.value)
    assert "pieces of at most 24 hours" in (raised.value.fix or ""), raised.value.fix
    assert [entry["status"] for entry in requests_to(control, path)] == [200, 200, 200]


# -- hosts: per-service base URLs, lookups that name outside hosts, one budget per account --

SERVICE_PATHS = {
    "sentinel_base_url": TOKEN_PATH,
    "proactive_base_url": CAMPAIGN_PATH,
    "handoff_base_url": f"/api/account/{ACCOUNT}/app/prmsg/handoffs/list",
    "reporting_base_url": f"/api/account/{ACCOUNT}/app/prmsg/analytics/",
    "account_config_base_url": f"/api/account/{ACCOUNT}/configuration/le-users/skills",
}


def use_every_service(conn: Connection) -> None:
    """A campaign (token, proactive), both pick lists (handoff, skills) and a report."""
    assert send(conn, people(3))["accepted"] == 3
    client = ConnectionClient(conn)
    client.picklist("handoffs")
    client.picklist("skills")
    client.reporting_analytics(start=0, end=60_000)


@pytest.mark.parametrize("field", sorted(SERVICE_PATHS))
def test_a_service_s_own_base_url_takes_its_requests_and_base_url_the_others(
    connect, control, proxy, field
):
    elsewhere = proxy()

    use_every_service(connect(**{field: elsewhere.url}))

    assert set(elsewhere.paths) == {SERVICE_PATHS[field]}
    arrived = {entry["path"] for entry in control.get("/_sandbox/requests").json()["requests"]}
    assert set(SERVICE_PATHS.values()) <= arrived  # the others came to base_url directly


def test_the_region_lookup_asks_the_domain_api_the_connection_names(connect, control):
    """Every host must be overridable by configuration (API-FACTS): the domain API's was
    not, so the sandbox's could never stand in for it and the region's hosts were found
    only from LivePerson itself."""
    conn = connect(base_url="", domain_api_url=control.base_url)
    client = client_module().LivePersonClient(conn)

    # The sandbox names the agentVep host of region va: the Proactive host of zone 1.
    assert client.host("proactive") == "https://proactive-messaging.z1.fs.liveperson.com"
    asked = [e["path"] for e in control.get("/_sandbox/requests").json()["requests"]]
    assert asked == [f"/api/account/{ACCOUNT}/service/agentVep/baseURI.json"]


def test_a_service_s_own_base_url_takes_its_requests_and_the_region_the_others(
    fake_liveperson,
):
    conn, fake = fake_liveperson(proactive_base_url="http://proactive.example.test/")
    client = ConnectionClient(conn)

    client.campaign_status(campaign_id="c1")
    client.picklist("handoffs")
    client.picklist("skills")
    client.reporting_analytics(start=0, end=60_000)

    assert fake.hosts() == {
        ("http", "api.liveperson.net"),  # the domain API, plain http as LivePerson gives it
        ("https", "va.sentinel.liveperson.net"),
        ("http", "proactive.example.test"),
        ("https", "va.handoff.liveperson.net"),
        ("https", "va.ac.liveperson.net"),
        ("https", "va.cx-reporting.liveperson.net"),
    }
    [status] = [r for r in fake.requests if r.url.host == "proactive.example.test"]
    assert status.url.path == f"{CAMPAIGN_PATH}/c1/conversations"


@pytest.mark.parametrize(
    ("service", "field", "picklist", "named"),
    [
        ("sentinel", "sentinel_base_url", "handoffs", "evil.example.com"),
        (
            "sentinel",
            "sentinel_base_url",
            "handoffs",
            "va.sentinel.liveperson.net.evil.example.com",
        ),
        ("sentinel", "sentinel_base_url", "handoffs", "evil.example.com/va.liveperson.net"),
        ("sentinel", "sentinel_base_url", "handoffs", "evil.example.com#.liveperson.net"),
        ("sentinel", "sentinel_base_url", "handoffs", "user@evil.example.com"),
        ("sentinel", "sentinel_base_url", "handoffs", "va.sentinel.liveperson.net:8443"),
        ("accountConfigReadOnly", "account_config_base_url", "skills", "evil.example.com"),
    ],
)
def test_a_lookup_naming_a_host_outside_liveperson_gets_neither_secret_nor_token(
    fake_liveperson, service, field, picklist, named
):
    """The domain API is plain http: a tampered answer must not draw the client secret (to
    a false token server) or a token (to a false skills host)."""
    conn, fake = fake_liveperson({service: named})

    with pytest.raises(ConnectorError) as raised:
        ConnectionClient(conn).picklist(picklist)

    message = str(raised.value)
    assert service in message and named in message and field in message
    assert raised.value.field == field and SECRET not in message
    # The fix gives the command that sets the field, then the test (it named the field only).
    fix = (
        f"`lpstudio connections update lp --field {field}=...`, then `lpstudio connections test lp`"
    )
    assert fix in str(raised.value.fix), raised.value.fix
    # Only lookups went out: nothing to the host named, nor any secret or token anywhere.
    assert {r.url.host for r in fake.requests} == {"api.liveperson.net"}
    assert all(r.url.path.endswith("/baseURI.json") and not r.content for r in fake.requests)


def test_connections_to_one_account_count_in_one_rate_budget_however_they_find_its_host(
    connect, sandbox
):
    client = client_module()
    real = "https://proactive-messaging.z1.fs.liveperson.com"
    found = client.LivePersonClient(connect(base_url=""))  # by the region lookup
    given = client.LivePersonClient(connect(base_url="", proactive_base_url=real))
    stand_in = client.LivePersonClient(connect())  # the sandbox: counts apart
    assert found.rate_key == given.rate_key == f"liveperson:{ACCOUNT}"
    assert stand_in.rate_key == f"liveperson:{ACCOUNT}@{sandbox.url}"


def test_two_connections_to_one_account_share_its_requests_per_second(connect, control, proxy):
    """Connections configured apart but sending campaigns to one account's Proactive host
    share one budget: each request leaves a second after the answers of the
    `requests_per_second` before it, whichever connection sent them."""
    settings(control, requests_per_second=2)
    fault(control, latency_ms=400, scope="liveperson")
    other = proxy()  # the second connection's host for everything but campaigns
    first = connect(requests_per_second=2)
    second = connect(
        requests_per_second=2, base_url=other.url, proactive_base_url=first.config["base_url"]
    )
    results: dict[str, dict[str, Any]] = {}

    def run(name: str, conn: Connection, start: int) -> None:
        results[name] = send(conn, people(200, start=start))

    threads = [
        threading.Thread(target=run, args=("first", first, 0)),
        threading.Thread(target=run, args=("second", second, 1000)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert results["first"]["accepted"] == results["second"]["accepted"] == 200
    assert CAMPAIGN_PATH not in other.paths and TOKEN_PATH in other.paths
    log = requests_to(control, CAMPAIGN_PATH)
    assert [e["status"] for e in log] == [200] * 4  # never a 429
    # Recorded when answered: the third waited a second after the first's answer, and then
    # the sandbox's 0.4 s (apart, each connection would keep only its own two a second).
    times = sorted(e["time"] for e in log)
    assert all(times[i + 2] - times[i] >= 1.25 for i in range(len(times) - 2)), times


def test_each_service_s_base_url_is_checked_as_a_url_like_base_url():
    from lpstudio.errors import InputError

    connector = get_connector("liveperson_proactive")
    required = {"account_id": ACCOUNT, "client_id": "c", "client_secret": SECRET}
    for field in SERVICE_PATHS:
        assert connector.validate_config({**required, field: "https://lp.example.com"})
        with pytest.raises(InputError, match="is invalid") as raised:
            connector.validate_config({**required, field: "lp.example.com"})
        assert raised.value.field == field


# -- once per checkout, across the jobs of a recipe -------------------------------------------

CART = "demo/cart_abandonment"


def checkout(id_: int, phone: str, **fields: Any) -> dict[str, Any]:
    """A Shopify abandoned checkout as the poll trigger gives it (one trigger event)."""
    line = {"title": "Trail shoes", "quantity": 1, "price": "89.00"}
    return {
        "id": id_,
        "phone": phone,
        "customer": {"first_name": "Ava"},
        "line_items": [line],
        "total_price": "89.00",
        "currency": "EUR",
        "updated_at": "2026-01-05T10:00:00+00:00",
        "abandoned_checkout_url": f"https://shop.example.com/checkouts/{id_}/recover",
        **fields,
    }


def updated(cart: dict[str, Any]) -> dict[str, Any]:
    """The same checkout after its customer added an item: what the trigger gives again."""
    more = {"title": "Socks", "quantity": 2, "price": "9.00"}
    return {
        **cart,
        "line_items": [*cart["line_items"], more],
        "total_price": "107.00",
        "updated_at": "2026-01-05T10:25:00+00:00",
    }


@pytest.fixture
def cart_ws(sandbox_ws: Path) -> Path:
    """The sandbox's workspace with the cart abandonment template tried into `demo`."""
    with Studio.open(sandbox_ws, user="alice") as studio:
        studio.try_template("cart_abandonment", "demo")
    return sandbox_ws


def cart_job(ws: Path, *args: str, event: Any = None) -> dict[str, Any]:
    """A job of the cart recipe through the real `lpstudio` executable (given `event`, a
    batch of checkouts, else Run now's: none); returns it, whatever its status."""
    extra = ["--event", json.dumps(event)] if event is not None else []
    code, job = run_json(*(args or ("run", CART)), *extra, "--workspace", str(ws))
    assert code in (0, 1) and job["status"] in ("succeeded", "failed"), job
    return job


def test_an_updated_checkout_is_messaged_once_whichever_job_gets_it(cart_ws, control):
    """Shopify's trigger gives a checkout again when its customer changes it: that is a new
    event and a new job, which must not send the recovery message a second time, even to
    the new phone number the customer gave. Test sends nothing and claims nothing."""
    first_cart = checkout(7001, "+14155550170")

    tested = cart_job(cart_ws, "run", CART, "--test", event=[first_cart])
    assert tested["status"] == "succeeded" and tested["result"]["dry_run"] is True
    first = cart_job(cart_ws, event=[first_cart])
    second = cart_job(cart_ws, event=[updated(first_cart)])
    moved = cart_job(cart_ws, event=[{**updated(first_cart), "phone": "+14155550171"}])

    assert first["status"] == "succeeded" and first["result"]["accepted"] == 1, first
    [campaign] = first["result"]["campaigns"]
    for later in (second, moved):
        assert later["status"] == "succeeded", later
        result = later["result"]
        assert result["accepted"] == 0 and result["campaigns"] == [], result
        [before] = result["already_sent"]
        assert before["job_id"] == first["id"] and before["recipients"] == 1
        assert before["proactiveCampaignId"] == campaign["proactiveCampaignId"]
    assert recipients(control) == {"+14155550170": 1}


def test_run_now_and_the_next_poll_send_nothing_to_checkouts_a_poll_job_messaged(
    cart_ws, sandbox, control
):
    """The poll's job messages every checkout; a customer then edits a cart (the trigger
    gives it again) and someone presses Run now, which takes the store's latest checkouts
    and sends for real: nobody hears twice."""
    token = {"X-Shopify-Access-Token": SandboxSettings().shopify_token}
    seeded = httpx.get(
        f"{sandbox.url}/admin/api/2026-10/checkouts.json", params={"limit": 250}, headers=token
    ).json()["checkouts"]
    # The seeded carts are hours old: a first poll from now (as a start) would skip them.
    since = run_cli("settings", CART, "--since", "1d", "--workspace", str(cart_ws))
    assert since.returncode == 0, since.stderr

    code, [polled] = run_json("poll", CART, "--workspace", str(cart_ws))
    assert code == 0 and polled["status"] == "succeeded", polled
    messaged = recipients(control)
    assert messaged == dict.fromkeys({c["phone"] for c in seeded}, 1)

    edited = seeded[-1]
    more = [*edited["line_items"], {"title": "Socks", "quantity": 2, "price": "9.00"}]
    control.patch(f"/_sandbox/shopify/checkouts/{edited['id']}", json={"line_items": more})
    code, [listed] = run_json("poll", CART, "--workspace", str(cart_ws))
    assert code == 0 and listed["status"] == "succeeded", listed
    _, again = run_json("show", str(listed["id"]), "--workspace", str(cart_ws))  # its result
    assert again["result"]["checkouts"] == 1 and again["result"]["accepted"] == 0
    assert [e["job_id"] for e in again["result"]["already_sent"]] == [polled["id"]]

    now = cart_job(cart_ws)
    assert now["status"] == "succeeded" and now["result"]["checkouts"] == 3, now
    assert now["result"]["accepted"] == 0 and now["result"]["campaigns"] == []
    assert sum(e["recipients"] for e in now["result"]["already_sent"]) == 3
    assert {e["job_id"] for e in now["result"]["already_sent"]} == {polled["id"]}
    assert recipients(control) == messaged


def test_run_now_of_the_cart_template_takes_only_checkouts_its_conditions_pass(cart_ws, control):
    """An analyst adds a trigger condition (carts of 100 or more) and presses Run now, which
    takes the store's latest checkouts: it messaged the small carts the condition leaves
    out, as Test (which applies it) never showed."""
    path = cart_ws / "projects" / f"{CART}.ipynb"
    notebook = nbformat.read(path, as_version=4)
    rule = {"field": "total_price", "op": ">=", "value": 100}
    notebook.metadata["lpstudio"]["trigger"]["conditions"] = {"rules": [rule]}
    nbformat.write(notebook, path)
    carts = [
        {"phone": "+14155550181", "total_price": "5.00"},
        {"phone": "+14155550182", "total_price": "250.00"},
        {"phone": "+14155550183", "total_price": "6.00"},
    ]
    added = control.post("/_sandbox/shopify/checkouts", json=carts)
    assert added.status_code in (200, 201), added.text

    now = cart_job(cart_ws)

    assert now["status"] == "succeeded", now
    messaged = recipients(control)
    assert messaged.get("+14155550182") == 1, messaged
    assert "+14155550181" not in messaged and "+14155550183" not in messaged, messaged


def test_a_failed_cart_job_s_rerun_sends_once_and_a_later_job_not_again(cart_ws, control):
    """A job LivePerson refused sent nobody: its rerun sends the checkout, as before, and
    the job of the checkout's update finds it sent by the rerun."""
    cart = checkout(7002, "+14155550172")
    fault(control, error_rate=1.0, error_status=400, scope="liveperson", count=1)

    failed = cart_job(cart_ws, event=[cart])
    assert failed["status"] == "failed" and recipients(control) == {}, failed
    rerun = cart_job(cart_ws, "rerun", str(failed["id"]))
    later = cart_job(cart_ws, event=[updated(cart)])

    assert rerun["status"] == "succeeded" and rerun["result"]["accepted"] == 1, rerun
    assert later["status"] == "succeeded" and later["result"]["accepted"] == 0, later
    assert [e["job_id"] for e in later["result"]["already_sent"]] == [rerun["id"]]
    assert recipients(control) == {"+14155550172": 1}


def test_a_rerun_with_nobody_left_to_send_asks_no_token_while_liveperson_fails(cart_ws, control):
    """The reviewer's case: a cart job sent to every checkout, then LivePerson's token
    server answered 500; the job's rerun had nobody left to send, yet asked for a token 6
    times a batch and failed without naming the outage. It asks LivePerson nothing and ends
    as a rerun with nothing to send ends: succeeded, counting those the job sent."""
    carts = [checkout(7003, "+14155550173"), checkout(7004, "+14155550174")]
    sent = cart_job(cart_ws, event=carts)
    assert sent["status"] == "succeeded" and sent["result"]["accepted"] == 2, sent
    fault(control, error_rate=1.0, error_status=500, scope="liveperson")
    tokens = len(requests_to(control, TOKEN_PATH))

    rerun = cart_job(cart_ws, "rerun", str(sent["id"]))

    assert rerun["status"] == "succeeded", rerun
    assert rerun["result"]["accepted"] == 0 and rerun["result"]["campaigns"] == [], rerun
    assert sum(e["recipients"] for e in rerun["result"]["already_sent"]) == 2, rerun
    assert len(requests_to(control, TOKEN_PATH)) == tokens
    assert len(requests_to(control, CAMPAIGN_PATH)) == 1
    assert recipients(control) == {"+14155550173": 1, "+14155550174": 1}


def test_once_per_is_shared_by_the_jobs_of_a_recipe_and_their_retries(connect, control, ws):
    """Two jobs' ledgers in one recipe's scope (the runner's payload): a value claimed by
    one is not sent by the other, whoever the recipient; another value is; a retry of either
    job finds what it sent; another recipe's jobs are in a scope of their own."""
    with Studio.open(ws, user="alice") as studio:
        url = studio.store.url

    def job(number: int, recipe: str = "recipe:cart") -> Connection:
        return connect(ledger=StoreLedger(url, f"job:{number}", number, recipe))

    ava = {"phone": "+14155550180", "name": "Ava", "checkout_id": 1}
    first = send(job(1), [ava], once_per="checkout_id")
    moved = {**ava, "phone": "+14155550181", "checkout_id": "1"}  # its id as text, now
    another = {**ava, "checkout_id": 2.0}  # a DataFrame's float for a column with a gap
    second = send(job(2), [moved, another], once_per="checkout_id")
    # A retry of job 1 is a job of its own (4) on job 1's ledger; a run of job 1 itself
    # again (put back in the queue) would count Ava as its own.
    retry = send(
        connect(ledger=StoreLedger(url, "job:1", 4, "recipe:cart")), [ava], once_per="checkout_id"
    )
    elsewhere = send(job(3, "recipe:other"), [moved], once_per="checkout_id")

    assert first["accepted"] == 1 and second["accepted"] == 1
    [before] = second["already_sent"]
    assert before["job_id"] == 1 and before["recipients"] == 1
    assert retry["accepted"] == 0 and [e["job_id"] for e in retry["already_sent"]] == [1]
    assert elsewhere["accepted"] == 1
    assert recipients(control) == {"+14155550180": 2, "+14155550181": 1}
    sent = [c["request"]["consumers"] for c in campaigns(control)]
    assert [[c["consumerContent"]["sms"] for c in batch] for batch in sent] == [
        ["+14155550180"],
        ["+14155550180"],  # checkout 2, not 1
        ["+14155550181"],  # the other recipe
    ]


def test_once_per_holds_across_a_new_handoff_and_a_failed_claim(connect, control, ws):
    """A new handoff (the message's template, a parameter of the cart recipe) messaged every
    checkout again; and a job's own claim that failed after the recipe's committed left
    the checkout "sending" for good, so every later job took it for uncertain."""
    with Studio.open(ws, user="alice") as studio:
        url = studio.store.url

    class ClaimFails(StoreLedger):
        def claim_many(self, keys: Any, check: Any = None) -> dict[str, dict[str, Any]]:
            raise OSError("database is locked")

    ava = {"phone": "+14155550182", "name": "Ava", "checkout_id": 1}
    bo = {"phone": "+14155550183", "name": "Bo", "checkout_id": 2}
    send(connect(ledger=StoreLedger(url, "job:1", 1, "recipe:cart")), [ava], once_per="checkout_id")
    renamed = send(
        connect(ledger=StoreLedger(url, "job:2", 2, "recipe:cart")),
        [ava],
        once_per="checkout_id",
        handoff="H1000000003",
        variables={"1": "{name}", "2": "{checkout_id}"},
    )
    with pytest.raises(OSError):
        send(
            connect(ledger=ClaimFails(url, "job:3", 3, "recipe:cart")), [bo], once_per="checkout_id"
        )
    later = send(
        connect(ledger=StoreLedger(url, "job:4", 4, "recipe:cart")), [bo], once_per="checkout_id"
    )

    assert renamed["accepted"] == 0 and [e["job_id"] for e in renamed["already_sent"]] == [1]
    assert later["accepted"] == 1 and later["uncertain"] == []
    assert recipients(control) == {ava["phone"]: 1, bo["phone"]: 1}


def test_a_value_a_later_job_relied_on_outlives_the_purge_of_the_job_that_sent_it(
    connect, control, ws
):
    """Job 2 found checkout 1 sent by job 1 and wrote nothing of it: job 1's row went with
    job 1's purge, and a rerun of job 2 (still within the retention) sent it again."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    from lpstudio.models import Delivery

    with Studio.open(ws, user="alice") as studio:
        store = studio.store
    ava = {"phone": "+14155550193", "name": "Ava", "checkout_id": 1}
    send(
        connect(ledger=StoreLedger(store.url, "job:1", 1, "recipe:cart")),
        [ava],
        once_per="checkout_id",
    )
    with store.write() as s:  # job 1 and what it sent, 40 days ago
        s.execute(update(Delivery).values(updated_at=datetime.now(UTC) - timedelta(days=40)))
    second = send(
        connect(ledger=StoreLedger(store.url, "job:2", 2, "recipe:cart")),
        [ava],
        once_per="checkout_id",
    )
    store.purge_deliveries(datetime.now(UTC) - timedelta(days=31))  # the daily purge
    rerun = send(
        connect(ledger=StoreLedger(store.url, "job:2", 3, "recipe:cart")),
        [ava],
        once_per="checkout_id",
    )

    assert second["accepted"] == rerun["accepted"] == 0
    assert recipients(control) == {ava["phone"]: 1}


def running_cart_jobs(ws: Path, count: int, running: int = 1) -> tuple[str, list[int]]:
    """The store's URL and `count` jobs of the cart recipe, the first `running` started."""
    with Studio.open(ws, user="alice") as studio:
        version = studio.store.snapshot("shop/cart.ipynb", "{}", {}, "alice")
        jobs = [
            studio.store.create_job(recipe="shop/cart.ipynb", version_id=version, user="alice").id
            for _ in range(count)
        ]
        for job_id in jobs[:running]:
            assert studio.store.start_job(job_id, 2, "out.ipynb")
        return studio.store.url, jobs


def waits(monkeypatch: pytest.MonkeyPatch, *meanwhile: Callable[[], None]) -> list[float]:
    """The campaign's waits for other jobs, each running the next of `meanwhile` (what the
    other job does while this one waits): no real sleep. Returns the waits asked for."""
    campaign = campaign_module()
    asked: list[float] = []
    steps = list(meanwhile)

    def sleep(seconds: float) -> None:
        asked.append(seconds)
        if steps:
            steps.pop(0)()

    clock = iter(range(10_000))  # each look at the clock a second later
    fake = SimpleNamespace(sleep=sleep, monotonic=lambda: float(next(clock)))
    monkeypatch.setattr(campaign, "time", fake)
    return asked


def test_a_value_another_running_job_is_sending_is_waited_for(connect, control, ws, monkeypatch):
    """Run now beside a poll job of the cart recipe, on the same checkout: the second job
    took the first's live claim for an answer lost, and failed alerting a person (nothing
    was sent twice, but the alarm was false). It waits for that job's answer instead."""
    url, (running, later) = running_cart_jobs(ws, 2)
    value = campaign_module().send_key(ACCOUNT, "once_per", "checkout_id", "1")
    sender = StoreLedger(url, f"job:{running}", running, "recipe:cart").across_recipe()
    sender.claim_many([value])  # its request is out, its answer to come
    ava = {"phone": "+14155550184", "name": "Ava", "checkout_id": 1}
    answered = partial(sender.settle_many, {value: "accepted"}, {"proactiveCampaignId": 7})
    asked = waits(monkeypatch, lambda: None, answered)  # answered during the second wait

    result = send(
        connect(ledger=StoreLedger(url, f"job:{later}", later, "recipe:cart")),
        [ava],
        once_per="checkout_id",
    )

    assert len(asked) == 2 and result["accepted"] == 0 and result["uncertain"] == []
    [before] = result["already_sent"]
    assert before["job_id"] == running and before["proactiveCampaignId"] == 7
    assert "in_progress" not in result
    assert recipients(control) == {}


def test_a_value_the_other_job_could_not_send_is_sent(connect, control, ws, monkeypatch):
    """The other job's recipient was refused (the customer's old number): the second job,
    which had skipped the value while it was under way, never sent it to the new one."""
    url, (running, later) = running_cart_jobs(ws, 2)
    value = campaign_module().send_key(ACCOUNT, "once_per", "checkout_id", "1")
    sender = StoreLedger(url, f"job:{running}", running, "recipe:cart").across_recipe()
    sender.claim_many([value])
    refused = partial(sender.settle_many, {value: "rejected"}, {"message": "INVALID_NUMBER"})
    waits(monkeypatch, refused)
    ava = {"phone": "+14155550185", "name": "Ava", "checkout_id": 1}

    result = send(
        connect(ledger=StoreLedger(url, f"job:{later}", later, "recipe:cart")),
        [ava],
        once_per="checkout_id",
    )

    assert result["accepted"] == 1 and "in_progress" not in result
    assert recipients(control) == {ava["phone"]: 1}


def test_a_value_still_under_way_at_the_end_of_the_wait_fails_to_be_retried(
    connect, control, ws, monkeypatch
):
    """Still being sent when the wait is over: the job fails, retryable, naming the other
    job; once that job dies unanswered, it says so, and the value is uncertain from then."""
    url, (running, later, third) = running_cart_jobs(ws, 3)
    value = campaign_module().send_key(ACCOUNT, "once_per", "checkout_id", "1")
    StoreLedger(url, f"job:{running}", running, "recipe:cart").across_recipe().claim_many([value])
    asked = waits(monkeypatch)
    ava = {"phone": "+14155550186", "name": "Ava", "checkout_id": 1}
    client = client_module().LivePersonClient
    tries: list[str] = []
    request = client.request

    def counted(self: Any, method: str, service: str, *args: Any, **kwargs: Any) -> Any:
        tries.append(service)
        return request(self, method, service, *args, **kwargs)

    monkeypatch.setattr(client, "request", counted)

    error, result = send_incomplete(
        connect(ledger=StoreLedger(url, f"job:{later}", later, "recipe:cart")),
        [ava],
        once_per="checkout_id",
    )

    wait = campaign_module().IN_PROGRESS_WAIT
    assert 0 < len(asked) <= wait and sum(asked) <= wait + 1
    # Waiting takes none of the account's requests (each one a rate-limit permit), nor
    # does the batch that found its one recipient under way: it had nobody to send.
    assert tries == [], tries
    assert error.retryable and "still being sent by another job 1" in str(error)
    [busy] = result["in_progress"]
    assert busy["job_id"] == running and busy["addresses"] == [ava["phone"]]
    assert result["uncertain"] == [] and recipients(control) == {}
    # That job dies before its answer came: it says so, and the value is uncertain from now.
    with Studio.open(ws, user="alice") as studio:
        assert studio.store.finish_job(running, "failed", error={"ename": "Timeout"})
        assert studio.job(running).error["uncertain_sends"] == 1
    _, again = send_incomplete(
        connect(ledger=StoreLedger(url, f"job:{third}", third, "recipe:cart")),
        [ava],
        once_per="checkout_id",
    )
    assert again["uncertain"][0]["job_id"] == running and "in_progress" not in again
    assert recipients(control) == {}


def accounted(result: dict[str, Any]) -> int:
    """How many recipients a campaign's result accounts for, in every field."""
    kinds = ("rejected", "uncertain", "already_sent", "in_progress")
    named = sum(entry["recipients"] for kind in kinds for entry in result.get(kind, []))
    dropped = len(result["failed"]) + len(result["unsendable"])
    return result["accepted"] + result["not_sent"] + dropped + named


def test_a_campaign_stopped_accounts_for_the_values_it_waited_for(
    connect, control, ws, monkeypatch
):
    """A request refused whole for good (an unknown handoff) stops the campaign: the
    recipient whose value another job was sending was in no field of its result."""
    url, (running, later) = running_cart_jobs(ws, 2)
    value = campaign_module().send_key(ACCOUNT, "once_per", "checkout_id", "0")
    StoreLedger(url, f"job:{running}", running, "recipe:cart").across_recipe().claim_many([value])
    waits(monkeypatch)
    everyone = [{**p, "checkout_id": n} for n, p in enumerate(people(101))]

    _, result = send_incomplete(
        connect(ledger=StoreLedger(url, f"job:{later}", later, "recipe:cart")),
        everyone,
        once_per="checkout_id",
        handoff="H9999999999",
    )

    assert accounted(result) == 101, result


def test_a_value_is_named_with_the_job_sending_it_now(connect, control, ws, monkeypatch):
    """The first job's recipient refused, a third job took the value before this one looked
    again: `in_progress` named the first job, which a person would check in vain; and a
    stop during the wait left recipients in no field."""
    url, (first, third, later) = running_cart_jobs(ws, 3, running=2)
    key = partial(campaign_module().send_key, ACCOUNT, "once_per", "checkout_id")
    ledgers = {
        n: StoreLedger(url, f"job:{n}", n, "recipe:cart").across_recipe() for n in (first, third)
    }
    ledgers[first].claim_many([key("1")])

    def handed_over() -> None:
        ledgers[first].settle_many({key("1"): "rejected"}, {"message": "INVALID_NUMBER"})
        ledgers[third].claim_many([key("1")])

    waits(monkeypatch, handed_over)
    ava = {"phone": "+14155550187", "name": "Ava", "checkout_id": 1}

    _, result = send_incomplete(
        connect(ledger=StoreLedger(url, f"job:{later}", later, "recipe:cart")),
        [ava],
        once_per="checkout_id",
    )

    [busy] = result["in_progress"]
    assert busy["job_id"] == third, busy
    assert accounted(result) == 1 and recipients(control) == {}


def test_a_rerun_beside_its_job_leaves_no_value_sending_for_a_send_it_never_made(
    connect, control, ws
):
    """A job (of a version without once_per) has Ava's request out; its rerun (once_per
    added since) found it under way and recorded the value "sending", as its own: other jobs
    waited on the rerun, and its end reported a send it never made."""
    from sqlalchemy import select

    from lpstudio.models import Delivery

    url, (job, rerun) = running_cart_jobs(ws, 2, running=2)
    out = campaign_module().send_key(ACCOUNT, "H1000000001", "+14155550184")
    StoreLedger(url, f"job:{job}", job, "recipe:cart").claim_many([out])  # its request
    ava = {"phone": "+14155550184", "name": "Ava", "checkout_id": 1}

    _, result = send_incomplete(
        connect(ledger=StoreLedger(url, f"job:{job}", rerun, "recipe:cart")),
        [ava],
        once_per="checkout_id",
    )

    assert result["uncertain"][0]["addresses"] == [ava["phone"]]
    assert recipients(control) == {}
    with Studio.open(ws, user="alice") as studio, studio.store.read() as s:
        rows = set(s.execute(select(Delivery.ledger, Delivery.status, Delivery.job_id)))
    assert rows == {(f"job:{job}", "sending", job), ("recipe:cart", "uncertain", rerun)}, rows


def test_a_value_another_job_left_unanswered_or_claimed_is_never_resent(connect, control, ws):
    """Job 1's answer was lost (uncertain), job 2 died while sending (its claim is still
    "sending"): job 3 of the recipe sends neither again and fails naming them, as a retry
    of job 1 or job 2 would."""
    with Studio.open(ws, user="alice") as studio:
        url = studio.store.url
    ledgers = [StoreLedger(url, f"job:{n}", n, "recipe:cart") for n in (1, 2, 3)]
    ava = {"phone": "+14155550190", "name": "Ava", "checkout_id": 1}
    bo = {"phone": "+14155550191", "name": "Bo", "checkout_id": 2}

    lost = connect(ledger=ledgers[0])
    ConnectionClient(lost).test()  # a token in hand: the fault hits the campaign request
    fault(control, drop_rate=1.0, scope="liveperson", count=1)
    _, unanswered = send_incomplete(lost, [ava], once_per="checkout_id")
    assert unanswered["uncertain"][0]["addresses"] == [ava["phone"]]
    with pytest.raises(SystemExit):
        send(
            connect(ledger=DyingLedger(url, "job:2", 2, "recipe:cart")),
            [bo],
            once_per="checkout_id",
        )
    error, result = send_incomplete(connect(ledger=ledgers[2]), [ava, bo], once_per="checkout_id")

    assert result["accepted"] == 0 and not error.retryable
    assert sorted((e["job_id"], e["addresses"]) for e in result["uncertain"]) == [
        (1, [ava["phone"]]),
        (2, [bo["phone"]]),
    ]
    assert recipients(control) == {ava["phone"]: 1}  # accepted, its answer lost; Bo never


def test_a_recipient_without_the_once_per_field_is_refused_and_the_rest_are_sent(connect, control):
    everyone = [{**person, "checkout_id": n} for n, person in enumerate(people(3))]
    everyone[1]["checkout_id"] = None
    duplicate = {**people(1, 7)[0], "checkout_id": 2}

    result = send(connect(), [*everyone, duplicate], once_per="checkout_id")

    assert result["accepted"] == 2
    assert {(f["address"], f["errorMessage"]) for f in result["unsendable"]} == {
        (everyone[1]["phone"], "MISSING_ONCE_PER=checkout_id"),
        (duplicate["phone"], "DUPLICATE_ONCE_PER=checkout_id"),
    }
    assert recipients(control) == {everyone[0]["phone"]: 1, everyone[2]["phone"]: 1}


def test_a_recipient_a_job_sent_before_it_said_once_per_keeps_its_value_from_other_jobs(
    connect, control, ws
):
    """A job that failed is rerun after the recipe gained `once_per`: its first attempt sent
    Ava without it. The rerun sends her nothing, and records her checkout as sent, so the
    job of its update sends nothing either."""
    with Studio.open(ws, user="alice") as studio:
        url = studio.store.url
    ava = {"phone": "+14155550195", "name": "Ava", "checkout_id": 5}

    send(connect(ledger=StoreLedger(url, "job:1", 1, "recipe:cart")), [ava])
    rerun = send(
        connect(ledger=StoreLedger(url, "job:1", 2, "recipe:cart")), [ava], once_per="checkout_id"
    )
    update = {**ava, "phone": "+14155550196"}
    later = send(
        connect(ledger=StoreLedger(url, "job:3", 3, "recipe:cart")),
        [update],
        once_per="checkout_id",
    )

    assert rerun["accepted"] == 0 and [e["job_id"] for e in rerun["already_sent"]] == [1]
    assert later["accepted"] == 0 and [e["job_id"] for e in later["already_sent"]] == [2]
    assert recipients(control) == {ava["phone"]: 1}


@pytest.mark.parametrize("status", [400, 403])
def test_a_read_liveperson_refuses_says_to_check_the_app_s_credentials(connect, control, status):
    """A refusal of a read (the handoff list, which `connections test` reads) said LivePerson's
    words alone, with no fix, where the token's refusal says what to check."""
    client = ConnectionClient(connect())
    client.test()  # a token is in hand: the fault hits the next read
    fault(control, error_rate=1.0, error_status=status, scope="liveperson", count=1)

    with pytest.raises(ConnectorError) as refused:
        client.picklist("handoffs")

    assert f"LivePerson answered HTTP {status}" in refused.value.message
    assert "check the client id and secret" in (refused.value.fix or "")
