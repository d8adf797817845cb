"""What LivePerson's answers (or their absence) tell a campaign and a connection's test, over
real HTTP on loopback: a 200 that names no campaign leaves its recipients uncertain; a token
server refusing names the connection field to fix (the account, a URL), not always the
credentials; an unreachable host names its URL's field; and two processes sending to one
account keep within its requests per second, whichever fetched a token first.
"""

from __future__ import annotations

import json
import subprocess
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from lpstudio.client import ConnectionClient
from lpstudio.sandbox import Sandbox
from lpstudio.sdk import ConnectorError, MemoryLedger
from lpstudio.server.fixes import in_rest_terms
from lpstudio.studio import Studio

from . import test_liveperson
from .conftest import free_port
from .test_liveperson import (
    CAMPAIGN_PATH,
    SECRET,
    TOKEN_PATH,
    ForwardingProxy,
    people,
    recipients,
    requests_to,
    send_incomplete,
    settings,
)

#: test_liveperson's connections to the sandbox (one fixture, not a copy of it).
connect = test_liveperson.connect

REPO = Path(__file__).resolve().parent.parent


class Answering(ForwardingProxy):
    """Answers every request for `path` with `status` and `body` (JSON, or text when a
    string); forwards the rest to the sandbox."""

    def __init__(self, sandbox_url: str, path: str, status: int, body: Any) -> None:
        super().__init__(sandbox_url)
        self.path, self.status, self.body = path, status, body

    def answer(self, path: str) -> httpx.Response | None:
        if path != self.path:
            return None
        if isinstance(self.body, str):
            return httpx.Response(self.status, text=self.body)
        return httpx.Response(self.status, json=self.body)


# -- a 200 that names no campaign ------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [{"status": "ok"}, {}, {"proactiveCampaignId": None, "requestTraceId": "t-1"}],
)
def test_a_200_naming_no_campaign_leaves_everyone_uncertain_and_a_rerun_sends_nobody(
    connect, control, sandbox, serve, body
):
    """A proxy or portal answering the campaign's POST with a JSON object that names no
    campaign and no accepted recipient: accepted, it says, but not whom. Every recipient is
    uncertain (not accepted 0 and sent), the job fails, and a rerun sends nobody and says
    they are uncertain still (not `already_sent` with no campaign)."""
    stand_in = serve(Answering(sandbox.url, CAMPAIGN_PATH, 200, body))
    ledger = MemoryLedger()
    everyone = people(5)
    addresses = sorted(p["phone"] for p in everyone)

    error, result = send_incomplete(
        connect(ledger=ledger, proactive_base_url=stand_in.url), everyone
    )

    assert result["accepted"] == 0 and result["campaigns"] == []
    assert [sorted(u["addresses"]) for u in result["uncertain"]] == [addresses]
    assert "uncertain 5" in str(error) and "no campaign" in str(error)
    assert not error.retryable and error.uncertain
    _, again = send_incomplete(connect(ledger=ledger, proactive_base_url=stand_in.url), everyone)
    assert again["accepted"] == 0 and again["already_sent"] == []
    assert [sorted(u["addresses"]) for u in again["uncertain"]] == [addresses]
    assert stand_in.paths.count(CAMPAIGN_PATH) == 1  # the rerun sent nothing
    assert recipients(control) == {}


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (409, {"code": 409, "message": "Conflict", "requestTraceId": "t-409"}),
        (422, {"code": 422, "message": "Unprocessable", "requestTraceId": "t-422"}),
        (202, {"status": "accepted"}),
    ],
)
def test_an_answer_liveperson_does_not_document_leaves_its_batch_uncertain_and_stops(
    connect, control, sandbox, serve, status, body
):
    """LivePerson documents no 409 or 422 for a campaign and defines no error as safe to
    send again: such an answer, or a 202 that names no campaign, came after a request it may
    have acted on. That batch is uncertain (never resent), the campaign stops before it
    leaves another so, and a run on a LivePerson answering again sends only those never
    sent. They were taken for refused: every batch went, and a rerun sent them all again."""
    stand_in = serve(Answering(sandbox.url, CAMPAIGN_PATH, status, body))
    ledger = MemoryLedger()
    everyone = people(150)

    error, result = send_incomplete(
        connect(ledger=ledger, proactive_base_url=stand_in.url), everyone
    )
    _, again = send_incomplete(connect(ledger=ledger), everyone)

    assert type(error).__name__ == "ServiceTrouble" and error.uncertain and error.retryable
    assert f"HTTP {status}" in str(error) and result["rejected"] == []
    assert [u["recipients"] for u in result["uncertain"]] == [100] and result["not_sent"] == 50
    assert stand_in.paths.count(CAMPAIGN_PATH) == 1
    assert again["accepted"] == 50
    assert [u["recipients"] for u in again["uncertain"]] == [100]
    assert recipients(control) == {p["phone"]: 1 for p in everyone[100:]}


@pytest.mark.parametrize("status", [301, 308])
def test_a_campaign_url_that_redirects_names_its_field_and_sends_one_request(
    connect, control, sandbox, serve, status
):
    """A web server moving the campaign's POST elsewhere (http to https) took nothing: the
    batch is rejected, not uncertain, and the campaign stops at its first request naming
    the URL's field. Each batch was refused alike, one request per batch."""
    page = "<html><h1>Moved Permanently</h1></html>"
    stand_in = serve(Answering(sandbox.url, CAMPAIGN_PATH, status, page))

    error, result = send_incomplete(connect(proactive_base_url=stand_in.url), people(250))

    assert error.field == "proactive_base_url", error
    assert f"HTTP {status}" in error.message and "Moved Permanently" in error.message
    assert [r["recipients"] for r in result["rejected"]] == [100] and result["uncertain"] == []
    assert result["not_sent"] == 150 and stand_in.paths.count(CAMPAIGN_PATH) == 1
    assert recipients(control) == {}


# -- a web page where LivePerson's JSON is due ----------------------------------------------------

WELCOME = "<!DOCTYPE html><html><head><title>Welcome to nginx!</title></head></html>"


def test_a_web_page_answering_a_campaign_stops_it_for_good_and_a_rerun_sends_the_rest(
    connect, control, sandbox, serve
):
    """A web server at proactive_base_url answering 200: its batch is uncertain (something
    may have forwarded it), and the campaign was retryable for the 50 not sent, so each
    retry sent one more batch there, uncertain for good. It is not retried: it names the
    field to fix, and a rerun once it is fixed sends only the 50."""
    site = serve(Answering(sandbox.url, CAMPAIGN_PATH, 200, WELCOME))
    ledger = MemoryLedger()
    everyone = people(150)

    error, result = send_incomplete(connect(ledger=ledger, proactive_base_url=site.url), everyone)

    assert not error.retryable and error.uncertain and error.field == "proactive_base_url"
    assert "titled 'Welcome to nginx!'" in str(error) and "<" not in error.message, error
    assert "once proactive_base_url is fixed, a rerun sends the 50 not sent" in str(error)
    assert [u["recipients"] for u in result["uncertain"]] == [100] and result["not_sent"] == 50
    assert site.paths.count(CAMPAIGN_PATH) == 1
    _, again = send_incomplete(connect(ledger=ledger), everyone)  # fixed: the sandbox's
    assert again["accepted"] == 50 and [u["recipients"] for u in again["uncertain"]] == [100]
    assert recipients(control) == {p["phone"]: 1 for p in everyone[100:]}


def test_an_empty_200_answering_a_campaign_is_said_as_empty_and_never_resent(
    connect, control, sandbox, serve
):
    """An answer with no body was said to be a page ("an empty answer, not LivePerson's
    JSON", as a page's title is). It is said as empty; its batch stays uncertain, and the
    fix is a page's: the connection's test."""
    site = serve(Answering(sandbox.url, CAMPAIGN_PATH, 200, ""))
    ledger = MemoryLedger()
    everyone = people(150)

    error, _ = send_incomplete(connect(ledger=ledger, proactive_base_url=site.url), everyone)

    assert "answered HTTP 200 with an empty body" in str(error), error
    assert "empty answer" not in str(error) and "web page" not in str(error), error
    assert error.uncertain and error.field == "proactive_base_url"
    assert "check proactive_base_url with `lpstudio connections test lp`" in str(error.fix)
    assert "uncertain 100 are never resent" in str(error), error
    _, again = send_incomplete(connect(ledger=ledger), everyone)
    assert again["accepted"] == 50 and [u["recipients"] for u in again["uncertain"]] == [100]
    assert recipients(control) == {p["phone"]: 1 for p in everyone[100:]}


def test_a_web_page_answering_a_report_names_its_field_and_is_not_retried(connect, serve):
    """A read answered by a page was retryable: the job ran again to meet the same page."""
    site = serve(WebServerPage(200, WELCOME))

    with pytest.raises(ConnectorError) as raised:
        ConnectionClient(connect(reporting_base_url=site.url)).reporting_analytics(
            start="2026-01-01T00:00:00", end="2026-01-02T00:00:00"
        )

    error = raised.value
    assert not error.retryable and error.field == "reporting_base_url", error
    assert "`lpstudio connections update lp --field reporting_base_url=...`" in str(error.fix)


@pytest.mark.parametrize(
    ("where", "key"), [("sentinel_base_url", "access_token"), ("domain_api_url", "baseURI")]
)
def test_json_without_the_token_or_host_names_its_field_and_is_not_retried(
    connect, control, serve, where, key
):
    """A proxy's or portal's `{"status": "ok"}` answering 200 where the token server's (or
    the domain lookup's) JSON was due was retryable: each retry of the job met the same
    answer, as it does a page's."""
    site = serve(WebServerPage(200, json.dumps({"status": "ok"}), "application/json"))
    lookup = {"base_url": ""} if where == "domain_api_url" else {}
    conn = connect(**{where: site.url}, **lookup)

    with pytest.raises(ConnectorError) as raised:
        ConnectionClient(conn).test()
    error, result = send_incomplete(conn, people(3))

    for failed in (raised.value, error):
        assert not failed.retryable and failed.field == where, failed
        assert f"`lpstudio connections update lp --field {where}=...`" in str(failed.fix)
        assert f"answered HTTP 200 with no {key} in it" in failed.message, failed
    assert result is None or result["accepted"] == 0  # None: no batch was claimed
    assert recipients(control) == {}


# -- a token server's refusal names the field to fix -------------------------------------------


@pytest.mark.parametrize("found_by", ["base_url", "domain_api_url"])
def test_an_unknown_account_names_account_id_not_the_credentials(
    connect, control, sandbox, found_by
):
    """Asked of the token server, or of the domain API that finds it (the sandbox stands
    for both)."""
    lookup = {"base_url": "", "domain_api_url": sandbox.url} if found_by != "base_url" else {}
    conn = connect(account_id="99999999", **lookup)

    with pytest.raises(ConnectorError) as raised:
        ConnectionClient(conn).test()

    error = raised.value
    assert error.field == "account_id" and error.status == 404
    assert "Account 99999999 not found" in error.message
    assert "client id" not in str(error) and "secret" not in str(error)
    assert "`lpstudio connections update lp --field account_id=...`" in str(error.fix)
    assert 'PUT /lpstudio/api/v1/connections/lp {"fields": {"account_id": ...}}' in str(
        in_rest_terms(error.fix)
    )


@pytest.mark.parametrize(
    ("where", "status", "body", "said"),
    [
        ("base_url", 404, None, "No such endpoint"),  # the sandbox's own 404, under /nope
        ("sentinel_base_url", 404, {"code": 404, "message": "No such endpoint"}, "No such"),
        ("sentinel_base_url", 403, "<html><h1>403 Forbidden</h1></html>", "titled '403 Forbidden'"),
        ("base_url", 401, "<html>Sign in to the network</html>", "a web page (HTML)"),
    ],
)
def test_a_token_url_that_is_not_liveperson_s_names_its_field(
    connect, control, sandbox, serve, where, status, body, said
):
    """A wrong base URL (no such endpoint there, or a web server's page) is the URL's field
    to fix, with the command that sets it, not the client id and secret."""
    if body is None:
        url = f"{sandbox.url}/nope"
    else:
        url = serve(Answering(sandbox.url, TOKEN_PATH, status, body)).url
    conn = connect(**{where: url})

    with pytest.raises(ConnectorError) as raised:
        ConnectionClient(conn).test()
    error, result = send_incomplete(conn, people(3))

    for refused in (raised.value, error):
        assert refused.field == where, refused
        assert f"`lpstudio connections update lp --field {where}=...`" in str(refused.fix)
        assert "client id" not in str(refused) and "permission" not in str(refused)
        assert said in refused.message and SECRET not in str(refused)
        assert "<html" not in str(refused)  # said to be a page, not pasted
    assert url.split("//")[1] in raised.value.message  # the URL it asked, named
    assert result["accepted"] == 0 and sum(r["recipients"] for r in result["rejected"]) == 3
    assert recipients(control) == {}


def test_wrong_credentials_still_say_the_credentials(connect, control):
    with pytest.raises(ConnectorError) as raised:
        ConnectionClient(connect(client_secret="not-it")).test()

    assert raised.value.status == 401 and "client id and secret" in str(raised.value.fix)


def test_a_campaign_url_with_no_such_endpoint_names_its_field(connect, control, sandbox, serve):
    """The campaign's host answering 404 with no such endpoint: its URL's field, not the
    account (the token came from the right host)."""
    body = {"code": 404, "message": f"No such endpoint: {CAMPAIGN_PATH}"}
    stand_in = serve(Answering(sandbox.url, CAMPAIGN_PATH, 404, body))

    error, result = send_incomplete(connect(proactive_base_url=stand_in.url), people(3))

    assert error.field == "proactive_base_url", error
    assert "`lpstudio connections update lp --field proactive_base_url=...`" in str(error.fix)
    assert "account id" not in str(error)
    assert sum(r["recipients"] for r in result["rejected"]) == 3


class WebServerPage(ThreadingHTTPServer):
    """A web server that is not the app: answers every request with `status` and an HTML
    page of many lines (a proxy's or a default site's), as a wrong URL field finds; or with
    another fixed `page` of content type `kind`."""

    PAGE = (
        "<!DOCTYPE HTML>\n<html>\n<head><title>403 Forbidden</title>\n"
        '<link rel="stylesheet" href="/assets/site.css" type="text/css" media="all">\n'
        "</head>\n<body><h1>Forbidden</h1>\n<p>You don't have permission to access this "
        "resource on this server, which serves a web site, not an API.</p>\n"
        + "<p>More of the page.</p>\n" * 20
        + "</body></html>\n"
    )

    def __init__(
        self, status: int = 403, page: str = PAGE, kind: str = "text/html; charset=utf-8"
    ) -> None:
        super().__init__(("127.0.0.1", 0), _PageHandler)
        self.status, self.page, self.kind = status, page, kind
        self.url = f"http://127.0.0.1:{self.server_address[1]}"


class _PageHandler(BaseHTTPRequestHandler):
    server: WebServerPage

    def _page(self) -> None:
        body = self.server.page.encode()
        self.send_response(self.server.status)
        self.send_header("Content-Type", self.server.kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _page

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_a_url_leading_to_a_web_server_says_so_and_names_its_field(ws, serve):
    """A base_url that leads to a web server (a 403 page): the stored test pasted the page's
    HTML into its message, lines of it cut mid-attribute; it says it answered a web page,
    naming the field and the command that sets it."""
    site = serve(WebServerPage())
    with Studio.open(ws, user="alice") as studio:
        values = {"account_id": "12345678", "client_id": "c", "client_secret": SECRET}
        studio.connections.add(
            "lp", "liveperson_proactive", {**values, "base_url": site.url}, "alice"
        )
        tested = studio.connections.test("lp")

    message = str(tested.status_message)
    assert tested.status == "disconnected"
    assert "HTTP 403: a web page (HTML) titled '403 Forbidden', not LivePerson's JSON" in message
    assert "`lpstudio connections update lp --field base_url=...`" in message, message
    assert "<" not in message and "DOCTYPE" not in message and "stylesheet" not in message
    assert "client id" not in message and SECRET not in message


# -- an unreachable host ---------------------------------------------------------------------


@pytest.mark.parametrize("where", ["base_url", "sentinel_base_url", "domain_api_url"])
def test_an_unreachable_host_names_its_field_and_the_fix(connect, where):
    dead = f"http://127.0.0.1:{free_port()}"
    fields = {where: dead} if where != "domain_api_url" else {"base_url": "", where: dead}
    conn = connect(**fields)

    with pytest.raises(ConnectorError) as raised:
        ConnectionClient(conn).test()

    error = raised.value
    assert error.field == where, error
    assert dead.split("//")[1] in error.message and "ConnectError" in error.message
    assert f"`lpstudio connections update lp --field {where}=...`" in str(error.fix)
    assert "`lpstudio connections test lp`" in str(error.fix)
    assert error.retryable and SECRET not in str(error)


def test_liveperson_s_own_domain_api_unreachable_names_domain_api_url(connect, monkeypatch):
    """Set up as the README says (no base_url, LivePerson's own hosts), a machine that does
    not reach the domain API was told only to check that it does: the fix names
    domain_api_url, the field that stands in for it, with the command that sets it. (The
    domain API is put on a loopback port nothing listens on: no network is used.)"""
    dead = f"http://127.0.0.1:{free_port()}"
    client = test_liveperson.client_module()
    monkeypatch.setattr(client, "CSDS_URL", client.CSDS_URL.replace(client.DOMAIN_API, dead))
    monkeypatch.setattr(client, "DOMAIN_API", dead)
    conn = connect(base_url="", account_id="87654321")

    with pytest.raises(ConnectorError) as raised:
        ConnectionClient(conn).test()

    error = raised.value
    assert f"the domain API at {dead} could not be reached" in error.message, error
    assert "Connection refused" in error.message  # asked on loopback, not by name
    assert "this machine reaches 127.0.0.1" in str(error.fix)
    assert "`lpstudio connections update lp --field domain_api_url=...`" in str(error.fix)
    assert "`lpstudio connections test lp`" in str(error.fix)
    assert error.retryable and SECRET not in str(error)


def test_a_service_host_unreachable_for_every_try_names_its_field(connect, control, monkeypatch):
    """The token comes, but the handoff list's host (the test's next request), or the
    campaign's, never answers: after its tries, the error names that host's field too."""
    monkeypatch.setattr(test_liveperson.client_module(), "MAX_TRIES", 2)
    dead = f"http://127.0.0.1:{free_port()}"

    with pytest.raises(ConnectorError) as raised:
        ConnectionClient(connect(handoff_base_url=dead)).test()
    error, result = send_incomplete(connect(proactive_base_url=dead), people(3))

    for where, unreached in (("handoff", raised.value), ("proactive", error)):
        assert unreached.field == f"{where}_base_url", unreached
        assert f"could not connect to {dead}/" in unreached.message
        assert f"--field {where}_base_url=...`" in str(unreached.fix)
        assert unreached.retryable
    assert sum(r["recipients"] for r in result["rejected"]) == 3 and result["uncertain"] == []


def test_an_unreachable_host_is_said_so_by_the_stored_test(ws):
    """`lpstudio connections test` records what the connector raised: the URL's field and
    the fix, not a bare httpx error."""
    dead = f"http://127.0.0.1:{free_port()}"
    with Studio.open(ws, user="alice") as studio:
        values = {"account_id": "12345678", "client_id": "c", "client_secret": SECRET}
        studio.connections.add(
            "dead", "liveperson_proactive", {**values, "base_url": dead}, "alice"
        )
        tested = studio.connections.test("dead")

    assert tested.status == "disconnected"
    message = str(tested.status_message)
    assert message.startswith("Unavailable: LivePerson's token server at "), message
    assert "base_url" in message and "`lpstudio connections test dead`" in message
    assert SECRET not in message


# -- two processes sending to one account ----------------------------------------------------

#: One job's campaign in a process of its own, as a kernel sends it: the machine's shared
#: rate limiter (a SQLite file), its own pacer and token cache. It prints "ready" once set
#: (its token fetched first, when told so), sends `count` recipients from number `start` on
#: once it reads a line on standard input, and prints its result as JSON.
SENDER = """
import importlib, json, sys
from pathlib import Path
from lpstudio.client import ConnectionClient
from lpstudio.kernel.runtime import SQLiteRateLimiter
from lpstudio.registry import get_connector
from lpstudio.sdk import Connection, MemoryLedger

sandbox, sentinel, limits, start, count, token_first = sys.argv[1:7]
connector = get_connector("liveperson_proactive")
conn = Connection(
    "lp",
    connector,
    {
        "account_id": "12345678",
        "client_id": "sandbox-client",
        "client_secret": "sandbox-secret",
        "base_url": sandbox,
        "sentinel_base_url": sentinel,
        "recipients_per_request": 1,
        "requests_per_second": 3,
    },
    ledger=MemoryLedger(),
    limiter=SQLiteRateLimiter(Path(limits)),
)
if token_first == "1":
    client = importlib.import_module("lpstudio_connectors.liveperson_proactive.client")
    client.LivePersonClient(conn).token()
print("ready", flush=True)
sys.stdin.readline()
numbers = range(int(start), int(start) + int(count))
result = ConnectionClient(conn).send_campaign(
    handoff="H1000000001",
    campaign_name="c",
    skill="sales",
    recipients=[{"phone": f"+1415555{n:04d}", "name": f"P{n}"} for n in numbers],
    consumer_id="phone",
    variables={"1": "{name}"},
)
print(json.dumps({"accepted": result["accepted"]}), flush=True)
"""


class SlowTokens(ThreadingHTTPServer):
    """Sentinel a little slow to answer (half a second, as across an ocean): forwards each
    token request to the sandbox after `delay`."""

    def __init__(self, sandbox_url: str, delay: float) -> None:
        super().__init__(("127.0.0.1", 0), _SlowTokens)
        self.sandbox_url, self.delay = sandbox_url, delay
        self.url = f"http://127.0.0.1:{self.server_address[1]}"


class _SlowTokens(BaseHTTPRequestHandler):
    server: SlowTokens

    def do_POST(self) -> None:
        import time

        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        time.sleep(self.server.delay)  # the server's latency, not a wait for another party
        headers = {"Content-Type": self.headers.get("Content-Type", "")}
        answer = httpx.post(self.server.sandbox_url + self.path, headers=headers, content=body)
        self.send_response(answer.status_code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer.content)))
        self.end_headers()
        self.wfile.write(answer.content)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: pytest shows the test's own output."""


def sender(sandbox: Sandbox, sentinel: str, limits: Path, numbers: range, token: bool) -> Any:
    """A `SENDER` process, ready to send to `numbers` (a token in hand if `token`)."""
    given = [str(limits), str(numbers.start), str(len(numbers)), "1" if token else "0"]
    proc = subprocess.Popen(
        [sys.executable, "-c", SENDER, sandbox.url, sentinel, *given],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def test_two_processes_keep_the_account_within_its_requests_per_second(
    connect, control, sandbox, serve, tmp_path
):
    """One process holds a token, the other fetches one from a slow Sentinel: a permit
    taken before the token made its first request arrive half a second after its permit,
    in the same second as the other's next ones (a 429). Taken right before the request
    goes out, the permits are the requests: never more than 3 in a second."""
    settings(control, requests_per_second=3)
    slow = serve(SlowTokens(sandbox.url, 0.5))
    limits = tmp_path / "rate-limits.sqlite"
    procs = [
        sender(sandbox, sandbox.url, limits, range(10), token=True),
        sender(sandbox, slow.url, limits, range(100, 104), token=False),
    ]

    for proc in procs:  # both at once
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    outputs = [proc.communicate(timeout=120)[0] for proc in procs]

    assert [proc.returncode for proc in procs] == [0, 0], outputs
    assert [json.loads(out.splitlines()[-1])["accepted"] for out in outputs] == [10, 4]
    assert [e["status"] for e in requests_to(control, CAMPAIGN_PATH)] == [200] * 14
