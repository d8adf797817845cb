"""The Shopify connector's abandoned-checkout poll trigger against the sandbox.

Real HTTP on loopback, a fresh sandbox per test; time-dependent behaviour (the leaky bucket)
is reached by lowering the sandbox's limits, never by sleeping.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any

import httpx
import pytest

from lpstudio.client import ConnectionClient
from lpstudio.errors import InputError
from lpstudio.registry import get_connector
from lpstudio.sandbox import Sandbox
from lpstudio.sdk import Connection, ConnectorError, Page

from .conftest import free_port

TRIGGER = "new_or_updated_abandoned_checkout"
CHECKOUTS_PATH = "/admin/api/2026-10/checkouts.json"


@pytest.fixture
def connect(sandbox: Sandbox) -> Iterator[Callable[..., Connection]]:
    opened: list[Connection] = []

    def make(**config: Any) -> Connection:
        values = {"shop": sandbox.url, "access_token": "shpat_sandbox", **config}
        conn = Connection("shop", get_connector("shopify"), values)
        opened.append(conn)
        return conn

    yield make
    for conn in opened:
        conn.close()


def poll(conn: Connection, since: str, cursor: Any = None) -> Page:
    return ConnectionClient(conn).poll(TRIGGER, since, cursor)


def poll_all(conn: Connection, since: str, cursor: Any = None) -> tuple[list[dict], Any]:
    """Polls until no more events wait, as the trigger runner does."""
    events: list[dict[str, Any]] = []
    while True:
        page = poll(conn, since, cursor)
        events.extend(page.events)
        cursor = page.cursor
        if not page.more:
            return events, cursor


def ago(**delta: float) -> str:
    return (datetime.now(UTC) - timedelta(**delta)).isoformat()


def at(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def add(control: httpx.Client, checkouts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    answer = control.post("/_sandbox/shopify/checkouts", json=checkouts)
    assert answer.status_code == 200, answer.text
    return answer.json()["checkouts"]


def checkout_requests(control: httpx.Client) -> list[dict[str, Any]]:
    log = control.get("/_sandbox/requests").json()["requests"]
    return [entry for entry in log if entry["path"] == CHECKOUTS_PATH]


def order(events: list[dict[str, Any]]) -> list[tuple[str, int]]:
    return [(e["updated_at"], e["id"]) for e in events]


def test_seeded_checkouts_come_oldest_first_with_the_template_s_fields(connect):
    page = poll(connect(), ago(days=1))

    assert len(page.events) == 5 and page.more is False
    assert order(page.events) == sorted(order(page.events))
    for checkout in page.events:
        assert checkout["completed_at"] is None
        assert checkout["abandoned_checkout_url"].startswith("https://")
        assert checkout["customer"]["first_name"] and checkout["phone"]
        assert checkout["line_items"][0]["title"] and checkout["total_price"]
    assert page.cursor["updated_at"] == page.events[-1]["updated_at"]


def test_more_than_two_pages_are_followed_through_link_headers(connect, control):
    base = datetime.now(UTC) - timedelta(hours=10)
    # Ids ascend while updated_at descends: the connector must still deliver oldest first.
    added = add(
        control,
        [
            {"created_at": at(base), "updated_at": at(base + timedelta(seconds=600 - n))}
            for n in range(600)
        ],
    )

    events, _ = poll_all(connect(), ago(days=1))

    ids = [e["id"] for e in events]
    assert len(ids) == len(set(ids)) == 605
    assert {c["id"] for c in added} <= set(ids)
    assert order(events) == sorted(order(events))
    assert len(checkout_requests(control)) == 3  # 250 + 250 + 105, one poll


def test_a_poll_that_stops_between_pages_resumes_without_losing_an_event(
    connect, control, monkeypatch
):
    # One page per poll instead of ten, so 605 checkouts need three polls to page through.
    module = sys.modules[get_connector("shopify").poll_triggers[TRIGGER].poll.__module__]
    monkeypatch.setattr(module, "MAX_PAGES_PER_POLL", 1)
    add(control, [{} for _ in range(600)])
    conn = connect()

    first = poll(conn, ago(days=1))
    events, cursor = poll_all(conn, ago(days=1), first.cursor)

    # A window narrowed to what one page holds: its events, then the later ones.
    assert first.more is True and 0 < len(first.events) <= 250
    assert order(first.events + events) == sorted(order(first.events + events))
    # Where two windows meet a checkout may come twice: the trigger's seen keys drop it.
    assert len({e["id"] for e in [*first.events, *events]}) == 605
    assert "next" not in cursor


def test_since_leaves_out_older_checkouts(connect, control):
    now = datetime.now(UTC)
    old, edge, recent = add(
        control,
        [
            {"created_at": at(now - timedelta(days=4)), "updated_at": at(now - timedelta(days=3))},
            {"created_at": at(now - timedelta(days=4)), "updated_at": at(now - timedelta(days=2))},
            {"created_at": at(now - timedelta(days=4)), "updated_at": at(now - timedelta(hours=1))},
        ],
    )

    page = poll(connect(), at(now - timedelta(days=2)))

    ids = [e["id"] for e in page.events]
    # Updated before `since`: left out, even though created long ago like the others.
    assert old["id"] not in ids
    assert edge["id"] in ids and recent["id"] in ids  # `since` itself is included
    assert ids[0] == edge["id"]
    assert poll(connect(), ago(seconds=-3600)).events == []  # since in the future: nothing


def test_the_cursor_resumes_with_new_and_updated_checkouts_and_loses_none(connect, control):
    conn = connect()
    first = poll(conn, ago(days=1))
    later = datetime.now(UTC) + timedelta(minutes=30)
    new = add(
        control,
        [
            {"created_at": at(later), "updated_at": at(later + timedelta(seconds=n))}
            for n in range(3)
        ],
    )

    second = poll(conn, ago(days=1), first.cursor)
    third = poll(conn, ago(days=1), second.cursor)

    new_ids = [c["id"] for c in new]
    second_ids = [e["id"] for e in second.events]
    assert second_ids[-3:] == new_ids  # oldest first
    # Only what was updated at or after the cursor comes again (the boundary checkout
    # may repeat: the trigger runner de-duplicates by id and updated_at).
    assert set(second_ids) - set(new_ids) <= {first.events[-1]["id"]}
    # Updated past the shop's clock at the read: the next poll starts from that clock (less
    # its margin) and reads them again, each the same key as before, which the runner drops.
    assert {e["id"] for e in third.events} <= set(new_ids)
    keys = {get_connector("shopify").poll_triggers[TRIGGER].key(e) for e in third.events}
    assert keys <= {get_connector("shopify").poll_triggers[TRIGGER].key(e) for e in new}


def test_completed_checkouts_are_left_out(connect, control):
    now = datetime.now(UTC)
    done, still_open = add(
        control,
        [
            {"created_at": at(now - timedelta(hours=1)), "completed_at": at(now)},
            {"created_at": at(now - timedelta(hours=1))},
        ],
    )

    page = poll(connect(), ago(days=1))

    ids = [e["id"] for e in page.events]
    assert still_open["id"] in ids and done["id"] not in ids
    assert all(e["completed_at"] is None for e in page.events)


def test_pages_wait_for_room_in_the_shop_s_leaky_bucket(connect, control):
    """The first page fills a bucket of one: the next waits for it to leak (by the answer's
    X-Shopify-Shop-Api-Call-Limit) instead of running into a 429."""
    answer = control.patch(
        "/_sandbox/settings", json={"shopify_bucket_size": 1, "shopify_leak_per_second": 4.0}
    )
    assert answer.status_code == 200
    add(control, [{} for _ in range(300)])

    events, _ = poll_all(connect(), ago(days=1))

    assert len({e["id"] for e in events}) == 305
    assert [e["status"] for e in checkout_requests(control)] == [200, 200]


def test_a_poll_on_a_new_connection_waits_for_the_room_the_last_one_left(connect, control):
    """Each poll (and each job) opens its own connection: the room the last poll's answer
    reported was forgotten, and the next poll of a backlog ran into a 429 at once."""
    answer = control.patch(
        "/_sandbox/settings", json={"shopify_bucket_size": 1, "shopify_leak_per_second": 4.0}
    )
    assert answer.status_code == 200

    poll(connect(), ago(days=1))
    poll(connect(), ago(days=1))

    assert [e["status"] for e in checkout_requests(control)] == [200, 200]


def test_a_wrong_token_is_a_connector_error_without_the_token(connect):
    conn = connect(access_token="shpat_wrong_0815")

    with pytest.raises(ConnectorError) as raised:
        poll(conn, ago(days=1))
    with pytest.raises(ConnectorError):
        ConnectionClient(conn).test()

    assert raised.value.status == 401
    assert "shpat_wrong_0815" not in str(raised.value)


def test_the_connection_test_names_the_store(connect, sandbox):
    assert ConnectionClient(connect()).test() == f"store {sandbox.url}"


def test_a_shop_that_is_not_a_myshopify_name_is_refused(connect, control):
    with pytest.raises(ConnectorError, match=r"myshopify\.com") as raised:
        poll(connect(shop="example.com"), ago(days=1))

    assert raised.value.field == "shop"


@pytest.mark.parametrize(
    "version", ["2025-1", "2025-01/../../x", "latest", "2025-01\n", "2026-13", "2026-02"]
)
def test_an_api_version_shopify_does_not_have_is_named_before_asking(connect, control, version):
    """Shopify's versions are YYYY-MM of a quarter (or `unstable`): another value would only
    come back as a 404 from the shop, so it is refused naming the field, with nothing asked
    (2026-13 passed the pattern of four digits, a dash and two)."""
    with pytest.raises(ConnectorError) as raised:
        poll(connect(api_version=version), ago(days=1))

    assert raised.value.field == "api_version" and "YYYY-MM" in str(raised.value)
    assert control.get("/_sandbox/requests").json()["requests"] == []


@pytest.mark.parametrize(
    "version", ["bogus", "2025-01/../../x", "latest", "2025-01\n", "2026-13", "2026-05"]
)
def test_an_api_version_shopify_does_not_have_is_refused_when_the_connection_is_saved(version):
    """It was saved, and refused at the first poll only (by the scheduler, in its log)."""
    values = {
        "shop": "brand.myshopify.com",
        "access_token": "shpat_x-test-token",
        "api_version": version,
    }
    with pytest.raises(InputError) as raised:
        get_connector("shopify").validate_config(values)
    assert raised.value.field == "api_version" and "YYYY-MM" in raised.value.fix


@pytest.mark.parametrize("shop", ["not a shop!", "brand", "brand.shopify.com", "ftp://x.example"])
def test_a_shop_that_is_no_myshopify_name_nor_url_is_refused_when_the_connection_is_saved(shop):
    """It was saved, and refused at the connection's test or first poll only."""
    values = {"shop": shop, "access_token": "shpat_x-test-token"}
    with pytest.raises(InputError) as raised:
        get_connector("shopify").validate_config(values)
    assert raised.value.field == "shop" and "your-store.myshopify.com" in raised.value.fix


@pytest.mark.parametrize(
    "shop", ["brand.myshopify.com", "brand-2.myshopify.com/", "http://127.0.0.1:9/"]
)
def test_a_myshopify_name_or_a_url_is_a_shop(shop):
    assert get_connector("shopify").validate_config(
        {"shop": shop, "access_token": "shpat_x-test-token"}
    )


def test_an_empty_api_version_is_the_default(connect):
    assert len(poll(connect(api_version=""), ago(days=1)).events) == 5


def fixed_page(
    serve: Any,
    body: bytes,
    headers: dict[str, str],
    tokens: list[str | None] | None = None,
    status: int = 200,
) -> str:
    """A loopback server that answers every GET with `status`, `headers` and `body`,
    recording in `tokens` the access token each request carried; returns its URL."""
    from http.server import ThreadingHTTPServer

    class Fixed(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if tokens is not None:
                tokens.append(self.headers.get("X-Shopify-Access-Token"))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

    server = serve(ThreadingHTTPServer(("127.0.0.1", 0), Fixed))
    return f"http://127.0.0.1:{server.server_address[1]}"


def test_a_next_page_on_another_host_never_gets_the_token(connect, serve):
    """The token goes only to the shop: a `Link` to a page elsewhere ends the poll naming
    it, before anything is sent there."""
    tokens: list[str | None] = []
    other = fixed_page(serve, b'{"checkouts": []}', {}, tokens)
    elsewhere = f"{other}{CHECKOUTS_PATH}?page_info=x"
    shop = fixed_page(serve, b'{"checkouts": []}', {"Link": f'<{elsewhere}>; rel="next"'})
    with pytest.raises(ConnectorError, match="another host") as raised:
        poll(connect(shop=shop), ago(days=1))

    assert tokens == []
    assert "shpat_sandbox" not in str(raised.value)


def test_a_page_that_is_not_shopify_json_is_a_retryable_error(connect, serve):
    """A proxy's or login page answered 200: a clear retryable error, not JSONDecodeError."""
    page = b"<html>Sign in to continue</html>"
    portal = fixed_page(serve, page, {"Content-Type": "text/html; charset=utf-8"})
    with pytest.raises(ConnectorError, match="no checkouts list") as raised:
        poll(connect(shop=portal), ago(days=1))
    assert raised.value.retryable and "text/html" in str(raised.value)


def test_an_unreachable_shop_is_a_retryable_connector_error(connect):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    conn = connect(shop=f"http://127.0.0.1:{port}")

    with pytest.raises(ConnectorError) as raised:
        poll(conn, ago(days=1))

    assert raised.value.retryable is True
    assert "Shopify" in str(raised.value)


def test_a_shop_answering_404_gives_the_command_that_sets_shop_and_api_version(connect, serve):
    """A 404 in JSON from where the shop should be: the fix said to check shop and
    api_version and to run the test, which only tries them again; it gives the command
    that sets them, then the test, said in every surface's terms."""
    from lpstudio.server.fixes import in_rest_terms
    from lpstudio.widgets.common import lab_text

    elsewhere = fixed_page(serve, b'{"errors": "Not Found"}', {}, status=404)
    with pytest.raises(ConnectorError) as raised:
        ConnectionClient(connect(shop=elsewhere)).test()

    error = raised.value
    assert error.status == 404, error
    fix = str(error.fix)
    command = "`lpstudio connections update shop --field shop=... --field api_version=...`"
    assert f"{command}, then `lpstudio connections test shop`" in fix, fix
    rest = 'PUT /lpstudio/api/v1/connections/shop {"fields": {"shop": ..., "api_version": ...}}'
    assert f"{rest}, then POST /lpstudio/api/v1/connections/shop/test" in str(in_rest_terms(fix))
    lab = "give them with Edit of shop in the Connections panel, then Test shop in the Connections"
    assert lab in lab_text(fix) and lab in lab_text(str(in_rest_terms(fix)))
    assert "lpstudio" not in lab_text(fix) and "shpat_sandbox" not in str(error)


def test_a_shop_that_cannot_be_reached_names_shop_and_the_command_that_sets_it(connect):
    """No connection to the shop (a name that does not resolve, or, here, a loopback port
    nothing listens on): most likely a wrong shop, not Shopify being down. Its test said
    only to try again later; it names `shop` and the command that sets it."""
    dead = f"http://127.0.0.1:{free_port()}"

    with pytest.raises(ConnectorError) as raised:
        ConnectionClient(connect(shop=dead)).test()

    error = raised.value
    assert error.field == "shop" and error.retryable, error
    assert f"Shopify at {dead} could not be reached (ConnectError" in error.message, error
    assert "`lpstudio connections update shop --field shop=...`" in str(error.fix)
    assert "`lpstudio connections test shop`" in str(error.fix)
    assert "try again later" not in str(error.fix) and "shpat_sandbox" not in str(error)


def test_a_shop_url_leading_to_a_web_server_says_so_and_names_shop(connect, serve):
    """A shop URL where a web server answers a 403 page: the test pasted the page's HTML
    and told the admin to replace the access token. It says a web page answered, naming
    `shop` and the command that sets it."""
    from .test_liveperson_answers import WebServerPage

    site = serve(WebServerPage())

    with pytest.raises(ConnectorError) as raised:
        ConnectionClient(connect(shop=site.url)).test()

    error, said = raised.value, str(raised.value)
    assert error.field == "shop" and error.status == 403, error
    assert "HTTP 403 with a web page (HTML) titled '403 Forbidden'" in error.message, error
    assert "`lpstudio connections update shop --field shop=...`" in str(error.fix)
    assert "<" not in said and "DOCTYPE" not in said and "access_token" not in said


def test_a_lost_answer_is_asked_again(connect, control):
    answer = control.post(
        "/_sandbox/faults", json={"drop_rate": 1.0, "scope": "shopify", "count": 1}
    )
    assert answer.status_code == 200

    page = poll(connect(), ago(days=1))

    assert len(page.events) == 5
    assert [e["dropped"] for e in checkout_requests(control)] == [True, False]


def test_a_long_retry_after_is_not_waited_for(connect, control):
    # The bucket refills once every 100 s: waiting would stall the poll for minutes.
    answer = control.patch(
        "/_sandbox/settings", json={"shopify_bucket_size": 1, "shopify_leak_per_second": 0.01}
    )
    assert answer.status_code == 200
    conn = connect()
    poll(conn, ago(days=1))
    started = time.monotonic()

    with pytest.raises(ConnectorError) as raised:
        poll(conn, ago(days=1))

    assert time.monotonic() - started < 5
    assert raised.value.retryable is True and raised.value.status == 429


def test_a_retry_after_given_as_an_http_date_is_waited_out(connect, sandbox, serve):
    """RFC 9110 allows `Retry-After` as an HTTP date; a proxy or CDN in front of a shop may
    send that form. It is a wait like any other, not a crash of the poll."""
    import email.utils
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    asked: list[float] = []

    class DateThen(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # the first request: 429 with a date; then the sandbox's
            asked.append(time.time())
            if len(asked) == 1:
                self.send_response(429)
                retry_at = email.utils.formatdate(int(time.time()) + 2, usegmt=True)
                self.send_header("Retry-After", retry_at)
                body = b'{"errors": "Exceeded the call limit for api client."}'
            else:
                answer = httpx.get(
                    sandbox.url + self.path,
                    headers={"X-Shopify-Access-Token": self.headers["X-Shopify-Access-Token"]},
                )
                self.send_response(answer.status_code)
                body = answer.content
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

    server = serve(ThreadingHTTPServer(("127.0.0.1", 0), DateThen))
    page = poll(connect(shop=f"http://127.0.0.1:{server.server_address[1]}"), ago(days=1))

    assert len(page.events) == 5
    assert len(asked) == 2 and asked[1] - asked[0] >= 1.0


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_passing_server_error_is_asked_again(connect, control, status):
    """Shopify's edge answers the odd 5xx; a read changes nothing, so the poll asks again
    rather than fail (and count towards the recipe's automatic stop)."""
    answer = control.post(
        "/_sandbox/faults",
        json={"error_rate": 1.0, "error_status": status, "scope": "shopify", "count": 1},
    )
    assert answer.status_code == 200

    page = poll(connect(), ago(days=1))

    assert len(page.events) == 5
    assert [e["status"] for e in checkout_requests(control)] == [status, 200]


def test_a_server_error_that_lasts_is_a_retryable_connector_error(connect, control):
    answer = control.post(
        "/_sandbox/faults", json={"error_rate": 1.0, "error_status": 503, "scope": "shopify"}
    )
    assert answer.status_code == 200

    with pytest.raises(ConnectorError) as raised:
        poll(connect(), ago(days=1))

    assert raised.value.retryable is True and raised.value.status == 503
    assert "next poll" in str(raised.value)
    assert str(raised.value.fix).startswith("try again later")  # the shop's own trouble
    assert raised.value.field is None


class _Between(BaseHTTPRequestHandler):
    """Forwards to the sandbox (keeping the Host, so page links come back here), running the
    server's `before_page(n)` before the n-th checkouts request is forwarded."""

    server: Any

    def do_GET(self) -> None:
        self.server.pages += 1
        self.server.before_page(self.server.pages)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "accept-encoding"}
        answer = httpx.get(self.server.sandbox_url + self.path, headers=headers)
        self.send_response(answer.status_code)
        for name, value in answer.headers.items():
            if name.lower() not in ("content-length", "transfer-encoding", "connection", "date"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.content)))
        self.end_headers()
        self.wfile.write(answer.content)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def between(sandbox, serve) -> Any:
    """A loopback stand-in for the shop that lets a test change checkouts between pages."""
    from http.server import ThreadingHTTPServer

    server = serve(ThreadingHTTPServer(("127.0.0.1", 0), _Between))
    server.sandbox_url, server.pages, server.before_page = sandbox.url, 0, lambda n: None
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    return server


def test_a_checkout_updated_on_a_page_already_read_is_not_lost(connect, control, between):
    """Pages come in id order, not update order: while a poll reads page 2, a customer
    edits a checkout of page 1 and, a moment later, one of page 2. The next poll must
    still bring the first edit, although the newest `updated_at` seen is later."""
    add(control, [{} for _ in range(300)])
    first_id = poll(connect(), ago(days=1)).events[0]["id"]
    last_id = first_id + 304
    now = datetime.now(UTC)

    def edit(page: int) -> None:
        if page == 2:  # page 1 (with first_id) is read; page 2 (with last_id) is next
            for checkout_id, moment in ((first_id, now), (last_id, now + timedelta(seconds=3))):
                answer = control.patch(
                    f"/_sandbox/shopify/checkouts/{checkout_id}",
                    json={"updated_at": at(moment), "total_price": "1.00"},
                )
                assert answer.status_code == 200, answer.text

    between.before_page = edit
    conn = connect(shop=between.url)
    events, cursor = poll_all(conn, ago(days=1))
    later, _ = poll_all(conn, ago(days=1), cursor)

    assert {e["id"] for e in events} == set(range(first_id, last_id + 1))
    seen = {(e["id"], e["updated_at"]) for e in events + later}
    assert (first_id, at(now)) in seen
    assert (last_id, at(now + timedelta(seconds=3))) in seen
