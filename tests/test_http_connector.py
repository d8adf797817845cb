"""The HTTP connector as an analyst, a bot or a webhook meets it: bad settings and arguments
refused before anything is sent, faults reported truly, credentials kept to their host and
out of every message."""

from __future__ import annotations

import gzip
import importlib
import math
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from lpstudio.client import ConnectionClient
from lpstudio.errors import InputError
from lpstudio.registry import get_connector
from lpstudio.sdk import Connection, ConnectorError
from lpstudio.studio import Studio
from tests import test_connectors_generic as generic
from tests.conftest import wait_for, write_recipe
from tests.test_connectors_generic import TOKEN, Handler, Recorder

connect = generic.connect  # the same fixture: connections closed after the test


class MoreHandler(Handler):
    """The recording server's routes, and more: an answer given by the query
    (`/raw/<status>?type=...&body=...`), the body and Content-Type received
    (`/echo-body`), one held until the test ends (`/hold`), a 400
    that echoes the Authorization header after `pad` characters (`/echo-auth?pad=N`), a
    body of `size` bytes, chunked without a length with `chunked=1`, gzipped with `gzip=1`
    (`/big?size=N`), and
    one of `n` bytes sent one every 0.1 s until the test ends (`/drip?n=N`)."""

    server: Server

    def handle_any(self) -> None:
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        route = parts.path.strip("/").split("/")
        if route[0] not in ("raw", "hold", "echo-auth", "big", "drip", "echo-body"):
            return super().handle_any()
        sent = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.server.lock:
            self.server.requests.append({"method": self.command, "path": parts.path})
        if route[0] in ("big", "drip"):
            try:
                self.slow_or_big(route[0], query)
            except OSError:  # the client hung up, as it should
                self.close_connection = True
            return
        if route[0] == "echo-body":
            echoed = {"type": self.headers.get("Content-Type"), "body": sent.decode()}
            return self.answer(200, echoed)
        if route[0] == "hold":
            self.server.release.wait(30)
            status, kind, body = 200, "application/json", '{"late": true}'
        elif route[0] == "raw":
            status, kind, body = int(route[1]), query.get("type", ""), query.get("body", "")
        else:
            pad = "x" * int(query.get("pad", "0"))
            status, kind, body = 400, "text/plain", pad + (self.headers["Authorization"] or "")
        data = body.encode()
        self.send_response(status)
        if kind:
            self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def slow_or_big(self, route: str, query: dict[str, str]) -> None:
        chunked = route == "big" and query.get("chunked") == "1"
        size = int(query.get("size") or query.get("n") or "0")
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        if query.get("gzip") in ("1", "2"):
            packed = gzip.compress(b"x" * size)
            if query["gzip"] == "2":  # compressed twice
                packed = gzip.compress(packed)
            self.send_header("Content-Encoding", ", ".join(["gzip"] * int(query["gzip"])))
            self.send_header("Content-Length", str(len(packed)))
            self.end_headers()
            self.wfile.write(packed)
            return
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(size))
        self.end_headers()
        if route == "drip":
            for _ in range(size):
                if self.server.release.wait(0.1):
                    break
                self.wfile.write(b"x")
                self.wfile.flush()
            return
        block = b"x" * 1024
        for start in range(0, size, len(block)):
            part = block[: size - start]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part) if chunked else part)
        if chunked:
            self.wfile.write(b"0\r\n\r\n")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any


class Server(Recorder):
    def __init__(self) -> None:
        super().__init__()
        self.RequestHandlerClass = MoreHandler
        self.release = threading.Event()


@pytest.fixture
def server(serve: Callable[[Server], Server]) -> Iterator[Server]:
    running = serve(Server())
    yield running
    running.release.set()  # a held answer goes out, so the server can stop


@pytest.fixture
def other(serve: Callable[[Server], Server]) -> Server:
    """A second server: another origin than `server`."""
    return serve(Server())


def refused(api: ConnectionClient, **data: Any) -> InputError:
    with pytest.raises(InputError) as caught:
        api.request(**data)
    return caught.value


def failed(api: ConnectionClient, **data: Any) -> ConnectorError:
    with pytest.raises(ConnectorError) as caught:
        api.request(**data)
    return caught.value


# -- settings and arguments ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"auth_type": "bearer", "token": "tok-123\nsecret-tail"}, "token"),
        ({"auth_type": "bearer", "token": "tok-123-secret-tail\n"}, "token"),
        ({"auth_type": "api_key", "token": " tok-123-secret-tail"}, "token"),
        ({"auth_type": "bearer", "token": "tok-123-sécret-tail"}, "token"),
        ({"auth_type": "basic", "username": "ada\r\n", "password": "pw-secret-1"}, "username"),
        ({"auth_type": "basic", "username": "ada:x", "password": "pw-secret-1"}, "username"),
        (
            {"auth_type": "api_key", "token": TOKEN, "api_key_header": "X Acme Key"},
            "api_key_header",
        ),
        ({"auth_type": "api_key", "token": TOKEN, "api_key_header": "X-Key\n"}, "api_key_header"),
    ],
)
def test_credentials_that_cannot_go_in_a_header_are_named_and_never_shown(
    server, connect, config, field
):
    """A token pasted with its line break used to fail as "got no answer", retryable, with
    the token in the message; now the field is named and nothing is sent."""
    for dry_run in (False, True):
        api = connect("http", {"base_url": server.url, **config}, dry_run=dry_run)
        error = refused(api, method="GET", url="/echo")
        assert error.field == field
        assert "secret-tail" not in str(error) and "tok-123" not in str(error)
    assert server.requests == []


@pytest.mark.parametrize(
    ("headers", "field"),
    [
        ({"X-Trace": "a\r\nX-Injected: 1"}, "headers.X-Trace"),
        ({"X-Trace": "café"}, "headers.X-Trace"),
        ({"X Trace": "t1"}, "headers.X Trace"),
        ({"Content-Length": "5"}, "headers.Content-Length"),
        ({"transfer-encoding": "chunked"}, "headers.transfer-encoding"),
    ],
)
def test_request_headers_that_cannot_be_sent_are_refused_before_sending(
    server, connect, headers, field
):
    api = connect("http", {"base_url": server.url})
    for method in ("GET", "POST"):
        error = refused(api, method=method, url="/echo", headers=headers, json={"n": 1})
        assert error.field == field
        assert error.fix
    assert server.requests == []


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"retries": -1}, "retries"),
        ({"retries": 4}, "retries"),
        ({"retries": "many"}, "retries"),
        ({"timeout_seconds": 0}, "timeout_seconds"),
        ({"timeout_seconds": -5}, "timeout_seconds"),
        ({"timeout_seconds": 86401}, "timeout_seconds"),
    ],
)
def test_out_of_range_retries_and_timeout_are_named(server, connect, config, field):
    """A negative timeout was a bare ValueError, zero silently became 30 s, and a thousand
    retries kept a job waiting for hours."""
    api = connect("http", {"base_url": server.url, **config})
    assert refused(api, method="GET", url="/echo").field == field
    with pytest.raises(InputError) as caught:
        api.test()
    assert caught.value.field == field
    assert server.requests == []


@pytest.mark.parametrize(
    ("base_url", "why"),
    [
        ("http://ada:pa55@127.0.0.1:9/v1", "user"),
        ("http://127.0.0.1:9/v1?api_key=k-1", "query"),
        ("http:///v1", "host"),
        ("ftp://127.0.0.1:9/v1", "http"),
    ],
)
def test_a_base_url_that_cannot_be_a_base_is_named(connect, base_url, why):
    api = connect("http", {"base_url": base_url})
    error = refused(api, method="GET", url="/echo")
    assert error.field == "base_url"
    assert why in str(error)
    assert "pa55" not in str(error) and "k-1" not in str(error)


def test_urls_with_credentials_or_another_scheme_are_refused(server, connect):
    api = connect("http", {"base_url": server.url})
    error = refused(api, method="GET", url=f"http://ada:pa55@127.0.0.1:{server.server_port}/")
    assert error.field == "url" and "pa55" not in str(error)
    error = refused(api, method="GET", url="ftp://127.0.0.1/file")
    assert error.field == "url" and "http" in error.fix
    error = refused(api, method="GET", url="http://[::1/x")
    assert error.field == "url" and error.fix
    assert server.requests == []


def test_credentials_go_only_to_the_base_urls_origin(server, other, connect):
    """An absolute URL (from an event, say) on another host, port or scheme would have been
    sent the connection's token: it is refused; paths anywhere on the base's origin are
    fine, and a connection without a base_url may call anywhere."""
    api = connect("http", {"base_url": server.url + "/v1", "auth_type": "bearer", "token": TOKEN})
    error = refused(api, method="POST", url=f"{other.url}/echo", json={"n": 1})
    assert error.field == "url"
    assert "base_url" in error.fix
    assert other.requests == []
    assert api.request(method="GET", url=f"{server.url}/echo")["status"] == 200
    assert server.requests[0]["headers"]["authorization"] == f"Bearer {TOKEN}"
    downgrade = connect(
        "http", {"base_url": "https://127.0.0.1:9", "auth_type": "bearer", "token": TOKEN}
    )
    assert refused(downgrade, method="GET", url="http://127.0.0.1:9/x").field == "url"
    anywhere = connect("http", {})
    assert anywhere.request(method="GET", url=f"{other.url}/echo")["status"] == 200


@pytest.mark.parametrize("body", [{"n": math.nan}, {"when": datetime(2026, 11, 30)}])
def test_a_json_body_that_is_no_json_is_refused_in_test_mode_too(server, connect, body):
    """A dry run used to show such a body as fine, and the real run then failed with a bare
    ValueError or TypeError."""
    for dry_run in (True, False):
        api = connect("http", {"base_url": server.url}, dry_run=dry_run)
        error = refused(api, method="POST", url="/echo", json=body)
        assert error.field == "json"
    assert server.requests == []


# -- answers -------------------------------------------------------------------------------


def test_an_answer_labelled_json_that_is_not_json_is_a_clear_error(server, connect):
    """`json` was silently None, so a recipe failed later on `None["id"]`; a POST's answer
    says it was sent once and not again."""
    api = connect("http", {"base_url": server.url})
    page = "<html>Sign in</html>"
    error = failed(api, method="GET", url=f"/raw/200?type=application/json&body={page}")
    assert (error.status, error.retryable) == (200, True)
    assert "not JSON" in str(error) and "Sign in" in str(error)
    error = failed(api, method="POST", url="/raw/201?type=application/json&body=NaN", json={})
    assert (error.status, error.retryable) == (201, False)
    assert "not sent again" in str(error)
    assert len(server.seen("/raw/201")) == 1


def test_expect_json_refuses_any_other_answer_and_reads_mislabelled_json(server, connect):
    api = connect("http", {"base_url": server.url})
    error = failed(
        api, method="GET", url="/raw/200?type=text/html&body=<p>hi</p>", expect_json=True
    )
    assert "not JSON" in str(error) and "text/html" in str(error)
    error = failed(api, method="GET", url="/raw/204", expect_json=True)
    assert "empty" in str(error)
    answer = api.request(
        method="GET", url='/raw/200?type=text/plain&body={"id": 7}', expect_json=True
    )
    assert answer["json"] == {"id": 7}
    assert api.request(method="GET", url="/raw/200?type=text/plain&body=hi")["json"] is None


# -- faults --------------------------------------------------------------------------------


def test_a_post_whose_answer_is_lost_is_sent_once_and_said_so(server, connect):
    api = connect("http", {"base_url": server.url, "timeout_seconds": 0.3, "retries": 3})
    error = failed(api, method="POST", url="/hold", json={"n": 1})
    message = str(error)
    assert error.retryable is False
    assert error.uncertain is True  # nor sent again by a retry of its job
    assert "no answer within 0.3 s" in message
    assert "may have been carried out" in message and "not sent again" in message
    assert len(server.seen("/hold")) == 1


POST_HELD = """\
import lpstudio.kernel as lp
lp.connection("crm").request(method="POST", url="/hold", json={"order": 1})
"""


def test_a_post_out_when_its_job_is_stopped_is_not_sent_again_by_the_job_s_chain(ws, server):
    """The job's timeout stopped it mid-request, and its retry sent the POST again (three
    times in all): a stop mid-request is no answer either. Stopped here by a cancel once
    the app holds the request, so that the POST is surely out (the timeout's stop is the
    same stop); the chain's next job, a rerun here, shares the retry's ledger."""
    metadata = {"title": "Post", "connections": {"crm": {"type": "http"}}}
    write_recipe(ws, "p/post", cells=(POST_HELD,), metadata=metadata)
    with Studio.open(ws, user="alice") as studio:
        studio.connections.add("crm", "http", {"base_url": server.url}, "alice")
        running = studio.submit("p/post")
        wait_for(lambda: server.seen("/hold"), timeout=120, what="the POST at the app")
        (first,) = studio.jobs()
        studio.cancel(first.id)
        stopped = running.result(timeout=120)
        again = studio.rerun(first.id)
    assert len(server.seen("/hold")) == 1
    assert (stopped.status, stopped.error["uncertain_sends"]) == ("cancelled", 1)
    assert again.status == "failed" and again.error["uncertain"] is True
    assert f"POST {server.url}/hold was sent by job {first.id}" in again.error["evalue"]


POST_500_CAUGHT = """\
import lpstudio.kernel as lp
from lpstudio.sdk import ConnectorError
try:
    lp.connection("crm").request(method="POST", url="/status/500", json={"order": 1})
except ConnectorError as error:
    print("caught:", error)
"""


def test_a_post_answered_500_is_in_doubt_even_when_its_recipe_catches_the_error(ws, server):
    """A 500 may come after the work was done. It was recorded "rejected" (free to send
    again): the job succeeded, and its rerun POSTed the order again."""
    metadata = {"title": "Post", "connections": {"crm": {"type": "http"}}}
    write_recipe(ws, "p/post500", cells=(POST_500_CAUGHT,), metadata=metadata)
    with Studio.open(ws, user="alice") as studio:
        studio.connections.add("crm", "http", {"base_url": server.url, "retries": 2}, "alice")
        first = studio.submit("p/post500").result(timeout=120)
        again = studio.rerun(first.id)
    assert first.status == "failed" and first.error["uncertain_sends"] == 1
    assert "may have gone out" in first.error["evalue"]
    assert again.rerun_of == first.id
    assert len(server.seen("/status/500")) == 1  # the rerun was refused it (and caught that)


def test_a_get_whose_answer_is_lost_is_tried_again(server, connect):
    api = connect("http", {"base_url": server.url, "timeout_seconds": 0.3, "retries": 1})
    error = failed(api, method="GET", url="/hold")
    assert error.retryable is True
    assert "no answer within 0.3 s" in str(error)
    assert len(server.seen("/hold")) == 2


def test_a_retry_after_too_long_to_wait_is_named(server, connect):
    api = connect("http", {"base_url": server.url})
    error = failed(api, method="POST", url="/status/429?retry_after=3600", json={})
    assert (error.status, error.retryable) == (429, True)
    assert "Retry-After 3600 s" in str(error)
    assert len(server.seen("/status/429")) == 1


# -- secrets -------------------------------------------------------------------------------


@pytest.mark.parametrize("pad", [280, 286])
def test_an_error_body_cut_short_never_shows_part_of_a_secret(server, connect, pad):
    """The body was cut at 300 characters before secrets were masked, so a token that
    straddled the cut showed its first characters."""
    api = connect("http", {"base_url": server.url, "auth_type": "bearer", "token": TOKEN})
    message = str(failed(api, method="GET", url=f"/echo-auth?pad={pad}"))
    assert TOKEN[:4] not in message.replace("x" * pad, "")


def test_retry_log_lines_never_show_a_secret(server):
    """A URL path may hold the connection's key (some APIs want it there)."""
    said: list[str] = []
    key = "k-4bd19e72"
    conn = Connection(
        "api",
        get_connector("http"),
        {"base_url": server.url, "auth_type": "api_key", "token": key, "retries": 1},
        log=said.append,
    )
    try:
        with pytest.raises(ConnectorError):
            ConnectionClient(conn).request(method="GET", url=f"/status/503/{key}?retry_after=0")
    finally:
        conn.close()
    assert said and all(key not in line for line in said)


def test_connection_test_fails_when_the_credentials_are_refused(server, connect):
    """A wrong token was reported "connected: GET ... answered 401"."""
    api = connect(
        "http",
        {"base_url": f"{server.url}/auth/bearer", "auth_type": "bearer", "token": "wrong-tok"},
    )
    with pytest.raises(ConnectorError) as caught:
        api.test()
    assert caught.value.status == 401 and caught.value.retryable is False
    assert "wrong-tok" not in str(caught.value)
    good = connect(
        "http", {"base_url": f"{server.url}/auth/bearer", "auth_type": "bearer", "token": TOKEN}
    )
    # Shown as "crm: connected: <this>": it said "connected: connected: GET ...".
    assert good.test() == f"GET {server.url}/auth/bearer answered 200"


def test_a_post_answered_500_says_it_was_not_sent_again(server, connect):
    api = connect("http", {"base_url": server.url})
    error = failed(api, method="PATCH", url="/status/500", json={"n": 1})
    assert (error.status, error.retryable, error.uncertain) == (500, False, True)
    assert str(error).endswith("; it may have been carried out, so it was not sent again")
    assert len(server.seen("/status/500")) == 1


# -- large and slow answers ------------------------------------------------------------------


@pytest.mark.parametrize("chunked", ["0", "1"])
def test_an_answer_too_large_to_hold_is_refused_naming_the_limit(
    server, connect, monkeypatch, chunked
):
    """A GET of an export the size of a disk filled the kernel's memory before any error."""
    get_connector("http")
    module = importlib.import_module("lpstudio_connectors.http.request")
    monkeypatch.setattr(module, "MAX_ANSWER_BYTES", 10_000)
    api = connect("http", {"base_url": server.url})
    assert len(api.request(method="GET", url="/big?size=10000")["text"]) == 10_000
    error = failed(api, method="POST", url=f"/big?size=50000&chunked={chunked}", json={})
    message = str(error)
    assert "more than 10 kB" in message and error.retryable is False
    assert "may have been carried out" in message
    assert error.fix and "page" in error.fix
    assert len(server.seen("/big")) == 2


def test_a_small_compressed_answer_too_large_once_decoded_is_refused(server, connect, monkeypatch):
    """The limit counted the bytes as sent: 64 kB of gzip decoding to gigabytes filled the
    kernel's memory."""
    get_connector("http")
    module = importlib.import_module("lpstudio_connectors.http.request")
    monkeypatch.setattr(module, "MAX_ANSWER_BYTES", 10_000)
    api = connect("http", {"base_url": server.url})
    assert api.request(method="GET", url="/big?size=9000&gzip=1")["text"] == "x" * 9000
    error = failed(api, method="GET", url="/big?size=5000000&gzip=1")
    assert "more than 10 kB" in str(error) and error.retryable is False
    # Twice compressed, one chunk decodes whole before any count: refused unread.
    twice = failed(api, method="GET", url="/big?size=900&gzip=2")
    assert "compressed 2 times (gzip, gzip)" in str(twice) and twice.retryable is False


def test_timeout_seconds_bounds_an_answer_that_trickles_in(server, connect):
    """A byte every 0.1 s never tripped httpx's timeout, which is per read: the job waited
    for as long as the server cared to send."""
    api = connect("http", {"base_url": server.url, "timeout_seconds": 1, "retries": 0})
    started = time.monotonic()
    error = failed(api, method="GET", url="/drip?n=150")
    assert time.monotonic() - started < 10
    assert "no answer within 1 s (timeout_seconds)" in str(error) and error.retryable is True


# -- bodies ---------------------------------------------------------------------------------


def test_a_form_body_is_sent_url_encoded(server, connect):
    """Token endpoints and many older APIs take a form, not JSON: there was no way to send
    one (`form` was refused as an unknown input)."""
    api = connect("http", {"base_url": server.url})
    form = {"To": "+14155550100", "Body": "Hi & bye", "tag": ["a", "b"], "n": 2}
    echoed = api.request(method="POST", url="/echo-body", form=form)["json"]
    assert echoed == {
        "type": "application/x-www-form-urlencoded",
        "body": "To=%2B14155550100&Body=Hi+%26+bye&tag=a&tag=b&n=2",
    }
    dry = connect("http", {"base_url": server.url}, dry_run=True)
    assert dry.request(method="POST", url="/echo-body", form=form)["form"] == form
    error = refused(api, method="POST", url="/echo-body", form=form, json={"a": 1})
    assert error.field == "form" and "not both" in str(error)
    assert len(server.seen("/echo-body")) == 1
