"""The generic bundled connectors: HTTP (against a real local server), CSV file, SQL."""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import json
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest

from lpstudio.client import ConnectionClient
from lpstudio.errors import InputError
from lpstudio.registry import get_connector
from lpstudio.sdk import Connection, ConnectorError

# -- a small HTTP server that records what it receives ------------------------------------

USER, PASSWORD, TOKEN = "ada", "pa55word", "tok-9f8e7d6c5b4a"


class Recorder(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.requests: list[dict[str, Any]] = []
        self.counts: dict[str, int] = {}
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def seen(self, path: str) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.requests if r["path"] == path]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Recorder

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def answer(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def handle_any(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        record = {
            "method": self.command,
            "path": parts.path,
            "query": query,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "json": json.loads(body) if body else None,
        }
        with self.server.lock:
            self.server.requests.append(record)
            self.server.counts[parts.path] = count = self.server.counts.get(parts.path, 0) + 1
        route = parts.path.strip("/").split("/")
        extra = {"Retry-After": query["retry_after"]} if "retry_after" in query else {}
        if route[0] == "echo":
            self.answer(200, {k: record[k] for k in ("method", "path", "query", "json")})
        elif route[0] == "status":
            self.answer(int(route[1]), {"error": "as asked"}, extra)
        elif route[0] == "moved":  # /moved/<status>: a redirect to /echo, repeated in its body
            where = "/echo?token=kept-out"
            self.answer(int(route[1]), {"moved to": where}, {"Location": where})
        elif route[0] == "flaky":  # /flaky/<name>?status=503&times=1: fails, then succeeds
            if count <= int(query.get("times", "1")):
                self.answer(int(query.get("status", "503")), {"error": "busy"}, extra)
            else:
                self.answer(200, {"ok": True, "attempt": count})
        elif route[0] == "auth":
            self.check_auth(route[1], query)
        elif route[0] == "cut":  # JSON whose text an app cut inside an emoji
            body = b'{"name": "Ren\\ud83d", "id": 7}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif route[0] == "text":
            body = b"plain words"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self.answer(404, {"error": "no route"})

    def check_auth(self, kind: str, query: dict[str, str]) -> None:
        pair = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        header, wanted = {
            "none": ("authorization", None),
            "basic": ("authorization", f"Basic {pair}"),
            "bearer": ("authorization", f"Bearer {TOKEN}"),
            "api_key": (query.get("header", "x-api-key").lower(), TOKEN),
        }[kind]
        got = self.headers.get(header)
        if got == wanted:
            self.answer(200, {"ok": True})
        else:  # echoes the credential it got, as careless APIs do
            self.answer(401, {"error": "denied", "got": got})

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any


@pytest.fixture
def server(serve: Callable[[Recorder], Recorder]) -> Recorder:
    return serve(Recorder())


@pytest.fixture
def connect() -> Iterator[Callable[..., ConnectionClient]]:
    """Opens connections of a connector type; closes them after the test."""
    opened: list[Connection] = []

    def open_(kind: str, config: dict[str, Any], dry_run: bool = False) -> ConnectionClient:
        conn = Connection(kind, get_connector(kind), config, dry_run=dry_run)
        opened.append(conn)
        return ConnectionClient(conn)

    yield open_
    for conn in opened:
        conn.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- HTTP -----------------------------------------------------------------------------------

AUTH_CONFIGS = {
    "none": {},
    "basic": {"username": USER, "password": PASSWORD},
    "bearer": {"token": TOKEN},
    "api_key": {"token": TOKEN},
}


@pytest.mark.parametrize("auth_type", list(AUTH_CONFIGS))
def test_http_each_auth_type_reaches_the_server(server, connect, auth_type):
    api = connect(
        "http", {"base_url": server.url, "auth_type": auth_type, **AUTH_CONFIGS[auth_type]}
    )
    answer = api.request(method="GET", url=f"/auth/{auth_type}")
    assert answer["status"] == 200
    assert answer["json"] == {"ok": True}
    headers = server.seen(f"/auth/{auth_type}")[0]["headers"]
    if auth_type == "none":
        assert "authorization" not in headers


def test_http_api_key_in_a_custom_header(server, connect):
    api = connect(
        "http",
        {
            "base_url": server.url + "/",
            "auth_type": "api_key",
            "token": TOKEN,
            "api_key_header": "X-Acme-Key",
        },
    )
    answer = api.request(method="GET", url="auth/api_key", query={"header": "X-Acme-Key"})
    assert answer["status"] == 200
    assert server.seen("/auth/api_key")[0]["headers"]["x-acme-key"] == TOKEN


@pytest.mark.parametrize(
    ("auth_type", "config", "field"),
    [
        ("basic", {"username": USER}, "password"),
        ("basic", {"password": PASSWORD}, "username"),
        ("bearer", {}, "token"),
        ("api_key", {"token": ""}, "token"),
    ],
)
def test_http_missing_auth_field_is_named(server, connect, auth_type, config, field):
    api = connect("http", {"base_url": server.url, "auth_type": auth_type, **config})
    with pytest.raises(InputError) as caught:
        api.request(method="GET", url="/echo")
    assert caught.value.field == field
    assert server.requests == []


def test_http_request_sends_method_query_and_json(server, connect):
    api = connect("http", {})
    answer = api.request(
        method="PUT",
        url=f"{server.url}/echo",
        query={"page": 2, "q": "x y"},
        json={"a": [1, 2]},
        headers={"X-Trace": "t1"},
    )
    assert answer["json"] == {
        "method": "PUT",
        "path": "/echo",
        "query": {"page": "2", "q": "x y"},
        "json": {"a": [1, 2]},
    }
    assert server.requests[0]["headers"]["x-trace"] == "t1"
    assert answer["headers"]["content-type"] == "application/json"
    text = api.request(method="GET", url=f"{server.url}/text")
    assert (text["json"], text["text"]) == (None, "plain words")


def test_an_apps_json_holding_an_unpaired_surrogate_is_still_its_answer(server, connect):
    # Input to lpstudio refuses one (no Unicode text); an app's answer is the app's: the
    # http connector called valid JSON "not JSON" and failed the job, a POST as maybe done.
    api = connect("http", {"base_url": server.url})
    answer = api.request(method="GET", url="/cut")
    assert answer["status"] == 200 and answer["json"] == {"name": "Ren\ud83d", "id": 7}


def test_http_relative_url_without_base_url_is_refused(connect):
    with pytest.raises(InputError) as caught:
        connect("http", {}).request(method="GET", url="/echo")
    assert caught.value.field == "url"


def test_http_bad_input_is_named_before_sending(server, connect):
    api = connect("http", {"base_url": server.url})
    with pytest.raises(InputError) as caught:
        api.request(method="FETCH", url="/echo")
    assert caught.value.field == "method"
    assert server.requests == []


def test_http_requests_are_not_retried_by_default(server, connect):
    """As a Workato action: tried again only when its connection says how many times (at
    most 3)."""
    api = connect("http", {"base_url": server.url})
    with pytest.raises(ConnectorError):
        api.request(method="GET", url="/flaky/d?status=503&times=1")
    assert len(server.seen("/flaky/d")) == 1


def test_http_get_is_retried_after_503(server, connect):
    api = connect("http", {"base_url": server.url, "retries": 1})
    answer = api.request(method="GET", url="/flaky/a?status=503&times=1")
    assert answer["status"] == 200
    assert answer["json"] == {"ok": True, "attempt": 2}
    assert len(server.seen("/flaky/a")) == 2


def test_http_post_is_retried_after_429_honouring_retry_after(server, connect):
    api = connect("http", {"base_url": server.url, "retries": 1})
    started = time.monotonic()
    answer = api.request(
        method="POST", url="/flaky/b?status=429&times=1&retry_after=1", json={"n": 1}
    )
    assert answer["status"] == 200
    assert time.monotonic() - started >= 0.9
    assert [r["json"] for r in server.seen("/flaky/b")] == [{"n": 1}, {"n": 1}]


def test_http_a_fractional_retry_after_is_honoured_as_shopify_sends_it(server):
    """Shopify answers 429 with `Retry-After: 2.0`: it is a wait to honour, not noise to
    replace with a shorter back-off that runs into the limit again."""
    said: list[str] = []
    conn = Connection(
        "api", get_connector("http"), {"base_url": server.url, "retries": 1}, log=said.append
    )
    try:
        started = time.monotonic()
        answer = ConnectionClient(conn).request(
            method="POST", url="/flaky/f?status=429&times=1&retry_after=1.5", json={}
        )
        waited = time.monotonic() - started
    finally:
        conn.close()
    assert answer["status"] == 200
    assert waited >= 1.5, said
    assert "trying again in 1.5 s" in said[0]


def test_http_post_is_not_retried_after_500_or_502(server, connect):
    api = connect("http", {"base_url": server.url})
    for status in (500, 502):
        with pytest.raises(ConnectorError) as caught:
            api.request(method="POST", url=f"/status/{status}?retry_after=0", json={})
        assert caught.value.status == status
        assert caught.value.retryable is False
        assert len(server.seen(f"/status/{status}")) == 1


def test_http_get_gives_up_after_the_retries(server, connect):
    api = connect("http", {"base_url": server.url, "retries": 2})
    with pytest.raises(ConnectorError) as caught:
        api.request(method="GET", url="/status/502?retry_after=0")
    assert (caught.value.status, caught.value.retryable) == (502, True)
    assert len(server.seen("/status/502")) == 3


def test_http_a_long_retry_after_is_not_waited_for(server, connect):
    api = connect("http", {"base_url": server.url})
    with pytest.raises(ConnectorError) as caught:
        api.request(method="GET", url="/status/503?retry_after=3600")
    assert caught.value.retryable is True
    assert len(server.seen("/status/503")) == 1


def test_http_expected_status_accepts_an_error_answer(server, connect):
    api = connect("http", {"base_url": server.url})
    answer = api.request(method="DELETE", url="/status/404", expected_status=[200, 404])
    assert answer["status"] == 404
    with pytest.raises(ConnectorError) as caught:
        api.request(method="GET", url="/echo", expected_status=[201])
    assert "expected 201" in str(caught.value)


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_http_a_redirect_is_a_failure_naming_where_it_points(server, connect, status):
    """Redirects are not followed (a custom auth header would go along to another host), so
    a 3xx did nothing: it is no success, unless the recipe expects it."""
    api = connect("http", {"base_url": server.url})
    with pytest.raises(ConnectorError) as caught:
        api.request(method="POST", url=f"/moved/{status}", json={"n": 1})
    message = str(caught.value)
    assert f"answered {status}, a redirect to {server.url}/echo: use that URL" in message
    assert "kept-out" not in message  # the query may hold a credential (body included)
    assert (caught.value.status, caught.value.retryable) == (status, False)
    assert server.seen("/echo") == []
    answer = api.request(method="GET", url=f"/moved/{status}", expected_status=[status])
    assert answer["headers"]["location"] == "/echo?token=kept-out"
    with pytest.raises(ConnectorError) as caught:  # no redirect, and no body shown
        api.request(method="GET", url="/status/304")
    assert str(caught.value).endswith("answered 304")


def test_http_unreachable_server_is_a_retryable_error(connect):
    api = connect("http", {"base_url": f"http://127.0.0.1:{free_port()}", "retries": 1})
    with pytest.raises(ConnectorError) as caught:
        api.request(method="POST", url="/echo", json={})
    assert caught.value.retryable is True
    assert "ConnectError" in str(caught.value)


def test_http_errors_never_show_secrets(server, connect):
    for auth_type in ("basic", "bearer"):
        api = connect(
            "http",
            {
                "base_url": server.url,
                "auth_type": auth_type,
                "username": USER,
                "password": "wrong-" + PASSWORD,
                "token": TOKEN + "-wrong",
            },
        )
        with pytest.raises(ConnectorError) as caught:
            api.request(method="GET", url=f"/auth/{auth_type}")
        text = "".join(traceback.format_exception(caught.value))
        assert caught.value.status == 401
        assert "denied" in text
        assert PASSWORD not in text and TOKEN not in text
        wrong_pair = base64.b64encode(f"{USER}:wrong-{PASSWORD}".encode()).decode()
        assert wrong_pair not in text


def test_http_dry_run_sends_nothing_and_masks_secrets(server, connect):
    api = connect(
        "http", {"base_url": server.url, "auth_type": "bearer", "token": TOKEN}, dry_run=True
    )
    answer = api.request(
        method="POST", url="/echo", query={"a": "1"}, json={"x": 1}, headers={"X-Trace": "t1"}
    )
    assert answer == {
        "method": "POST",
        "url": f"{server.url}/echo",
        "headers": {"X-Trace": "t1", "Authorization": "****"},
        "query": {"a": "1"},  # as the recipe gave it: `query=`
        "json": {"x": 1},
    }
    assert TOKEN not in json.dumps(answer)
    assert server.requests == []
    basic = connect(
        "http",
        {"base_url": server.url, "auth_type": "basic", "username": USER, "password": PASSWORD},
        dry_run=True,
    )
    assert basic.request(method="GET", url="/echo")["headers"] == {"Authorization": "****"}
    assert server.requests == []


def test_http_connection_test(server, connect):
    assert "answered 404" in connect("http", {"base_url": server.url}).test()
    assert connect("http", {}).test() == "no base URL to test"
    with pytest.raises(ConnectorError):
        connect("http", {"base_url": f"{server.url}/status/500"}).test()


def test_http_webhook_parse():
    hook = get_connector("http").webhook_triggers["webhook"]
    assert hook.title == "Generic webhook"
    assert hook.parse({}, b'{"id": 1}') == [{"id": 1}]
    assert hook.parse({}, b'[{"id": 1}, {"id": 2}]') == [{"id": 1}, {"id": 2}]
    for body in (b"{not json", b"", b'"text"', b'[{"id": 1}, 3]'):
        with pytest.raises(InputError) as caught:
            hook.parse({}, body)
        assert caught.value.field == "body"


def test_http_webhook_verify():
    hook = get_connector("http").webhook_triggers["webhook"]
    body, secret = b'{"order": 42}', "shared-secret"
    good = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert hook.verify is not None
    assert hook.verify({"X-Lpstudio-Signature": good}, body, secret)
    assert hook.verify({"x-lpstudio-signature": f"sha256={good}"}, body, secret)
    assert hook.verify({"X-LPSTUDIO-SIGNATURE": good.upper()}, body, secret)
    assert not hook.verify({"X-Lpstudio-Signature": good}, body + b" ", secret)
    assert not hook.verify({"X-Lpstudio-Signature": good}, body, "other-secret")
    assert not hook.verify({"X-Lpstudio-Signature": "sha256=" + "0" * 64}, body, secret)
    assert not hook.verify({"X-Lpstudio-Signature": "é"}, body, secret)
    assert not hook.verify({}, body, secret)
    assert not hook.verify({"X-Lpstudio-Signature": good}, body, "")


def test_http_webhook_verify_takes_shopify_s_and_github_s_signatures():
    """A Shopify webhook (base64 in X-Shopify-Hmac-Sha256) or a GitHub-style sender
    (`sha256=<hex>` in X-Hub-Signature-256) pointed at a signed webhook was refused (401)."""
    hook = get_connector("http").webhook_triggers["webhook"]
    body, secret = b'{"id": 7, "email": "a@example.com"}', "shpss_secret"
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    shopify = base64.b64encode(digest).decode()
    assert hook.verify is not None
    assert hook.verify({"X-Shopify-Hmac-Sha256": shopify}, body, secret)
    assert hook.verify({"x-hub-signature-256": "sha256=" + digest.hex()}, body, secret)
    assert not hook.verify({"X-Shopify-Hmac-Sha256": shopify}, body + b" ", secret)
    assert not hook.verify({"X-Shopify-Hmac-Sha256": digest.hex()}, body, secret)  # not base64
    assert not hook.verify({"X-Shopify-Hmac-Sha256": "not base64!"}, body, secret)
    assert not hook.verify({"X-Hub-Signature-256": digest.hex()}, body, secret)  # no sha256=
    # One wrong signature refuses the delivery, whatever another header says.
    assert not hook.verify(
        {"X-Shopify-Hmac-Sha256": shopify, "X-Lpstudio-Signature": "0" * 64}, body, secret
    )


# -- CSV file -------------------------------------------------------------------------------


def write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def test_csv_read_rows_with_filters(tmp_path, connect):
    write_csv(
        tmp_path / "people.csv",
        ["name", "country", "age"],
        [["Ada", "FR", "36"], ["Bob", "US", ""], ["Cy", "FR", "NA"], ["Di", "FR", "7"]],
    )
    people = connect("csv_file", {"path": "people.csv", "root": str(tmp_path)})
    frame = people.read_rows(where={"country": "FR"}, columns=["name", "age"], limit=2)
    assert isinstance(frame, pd.DataFrame)
    assert frame.to_dict("records") == [{"name": "Ada", "age": "36"}, {"name": "Cy", "age": "NA"}]
    everyone = people.read_rows()
    assert len(everyone) == 4
    assert everyone.loc[1, "age"] == ""  # an empty cell stays text, not NaN
    assert people.read_rows(where={"age": 7})["name"].tolist() == ["Di"]
    for data, field in (({"columns": ["email"]}, "columns"), ({"where": {"x": "1"}}, "where")):
        with pytest.raises(InputError) as caught:
            people.run("read_rows", data)
        assert caught.value.field == field


def test_csv_test_message(tmp_path, connect):
    missing = connect("csv_file", {"path": "new.csv", "root": str(tmp_path)})
    assert "created" in missing.test()
    write_csv(tmp_path / "two.csv", ["a", "b", "c"], [[1, 2, 3], [4, 5, 6]])
    assert connect("csv_file", {"path": str(tmp_path / "two.csv")}).test() == "3 columns, 2 rows"


def test_csv_path_may_not_escape_its_base(tmp_path, connect):
    root = tmp_path / "ws"
    root.mkdir()
    for path in ("../outside.csv", "data/../../outside.csv", "..", "."):
        with pytest.raises(InputError) as caught:
            connect("csv_file", {"path": path, "root": str(root)}).read_rows()
        assert caught.value.field == "path"
    inside = connect("csv_file", {"path": "data/../ok.csv", "root": str(root)})
    assert inside.append_row(row={"a": "1"}) == {"path": "ok.csv", "row_number": 1}


def test_csv_append_creates_the_file_and_checks_keys(tmp_path, connect):
    path = tmp_path / "sub" / "log.csv"
    log = connect("csv_file", {"path": str(path), "delimiter": ";"})
    assert log.append_row(row={"id": 1, "note": "a;b", "ok": True})["row_number"] == 1
    assert log.append_row(row={"ok": None, "note": "", "id": 2})["row_number"] == 2
    before = path.read_text()
    assert before == 'id;note;ok\n1;"a;b";true\n2;;\n'
    with pytest.raises(InputError) as caught:
        log.append_row(row={"id": 3, "note": "x", "extra": "y"})
    assert caught.value.field == "row"
    assert "'extra'" in caught.value.message and "'ok'" in caught.value.message
    assert path.read_text() == before
    dry = connect("csv_file", {"path": str(path), "delimiter": ";"}, dry_run=True)
    assert dry.append_row(row={"id": 3, "note": "x", "ok": ""})["would_append"] == {
        "id": "3",
        "note": "x",
        "ok": "",
    }
    assert path.read_text() == before
    fresh = connect("csv_file", {"path": str(tmp_path / "none.csv")}, dry_run=True)
    assert fresh.append_row(row={"a": 1})["creates_file"] is True
    assert not (tmp_path / "none.csv").exists()


def test_csv_append_continues_a_file_without_final_newline(tmp_path, connect):
    path = tmp_path / "crlf.csv"
    path.write_bytes(b"a,b\r\n1,2")
    assert connect("csv_file", {"path": str(path)}).append_row(row={"a": 3, "b": 4}) == {
        "path": str(path),
        "row_number": 2,
    }
    assert path.read_bytes() == b"a,b\r\n1,2\r\n3,4\r\n"


APPENDER = r"""
import json, sys
from lpstudio.client import ConnectionClient
from lpstudio.registry import get_connector
from lpstudio.sdk import Connection

path, worker = sys.argv[1], sys.argv[2]
client = ConnectionClient(Connection("csv", get_connector("csv_file"), {"path": path}))
print("ready", flush=True)
sys.stdin.readline()
numbers = []
for n in range(25):
    row = {"worker": worker, "n": n, "text": 'comma, "quote" and\nnewline ' + "x" * 200}
    numbers.append(client.append_row(row=row)["row_number"])
print(json.dumps(numbers), flush=True)
"""


def test_csv_append_from_concurrent_processes(tmp_path):
    path = tmp_path / "shared.csv"
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", APPENDER, str(path), str(w)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for w in range(8)
    ]
    for proc in workers:  # a barrier: every process has imported and waits on its stdin
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    for proc in workers:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    numbers: list[int] = []
    for proc in workers:
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0
        numbers.extend(json.loads(out))
    assert sorted(numbers) == list(range(1, 201))
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["worker", "n", "text"]
    assert len(rows) == 201
    assert all(len(row) == 3 for row in rows)
    assert {(r[0], r[1]) for r in rows[1:]} == {
        (str(w), str(n)) for w in range(8) for n in range(25)
    }
    assert {r[2] for r in rows[1:]} == {'comma, "quote" and\nnewline ' + "x" * 200}


def test_csv_poll_new_rows_pages_and_cursor(tmp_path, connect):
    path = tmp_path / "feed.csv"
    write_csv(path, ["id", "email"], [[i, f"u{i}@example.com"] for i in range(1, 2501)])
    feed = connect("csv_file", {"path": str(path)})
    trigger = get_connector("csv_file").poll_triggers["new_rows"]
    pages, cursor = [], None
    while True:
        page = feed.poll("new_rows", "2024-01-01T00:00:00+00:00", cursor)
        pages.append(page)
        cursor = page.cursor
        if not page.more:
            break
    assert [len(p.events) for p in pages] == [1000, 1000, 500]
    assert [p.more for p in pages] == [True, True, False]
    assert cursor == 2500
    assert pages[0].events[0] == {"id": "1", "email": "u1@example.com", "_row": 1}
    assert trigger.key(pages[2].events[-1]) == "2500"
    assert feed.poll("new_rows", "", cursor).events == []
    feed.append_row(row={"id": "2501", "email": "new@example.com"})
    page = feed.poll("new_rows", "", cursor)
    assert [e["_row"] for e in page.events] == [2501]
    assert (page.cursor, page.more) == (2501, False)
    missing = connect("csv_file", {"path": str(tmp_path / "later.csv")})
    assert missing.poll("new_rows", "", None).events == []


# -- SQL ------------------------------------------------------------------------------------


@pytest.fixture
def db(tmp_path) -> Path:
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as con:
        con.execute(
            "CREATE TABLE customers (id INTEGER PRIMARY KEY, email TEXT NOT NULL, "
            "country TEXT DEFAULT 'US', created_at TIMESTAMP)"
        )
        con.executemany(
            "INSERT INTO customers (email, country, created_at) VALUES (?, ?, ?)",
            [
                ("ada@example.com", "FR", "2024-05-01 10:00:00.000000"),
                ("bob@example.com", "US", "2024-05-02 10:00:00.000000"),
            ],
        )
    con.close()
    return path


def test_sql_test_and_query(db, connect):
    sql = connect("sql", {"url": f"sqlite:///{db}"})
    assert sql.test() == "connected to the url's sqlite database"
    frame = sql.query(sql="SELECT id, email FROM customers WHERE country = :c", params={"c": "FR"})
    assert frame.to_dict("records") == [{"id": 1, "email": "ada@example.com"}]
    cte = sql.query(sql="-- all\nWITH c AS (SELECT * FROM customers) SELECT count(*) AS n FROM c;")
    assert cte["n"].tolist() == [2]
    with pytest.raises(InputError) as caught:
        sql.query(sql="SELECT * FROM customers WHERE id = :id")
    assert caught.value.field == "params"
    with pytest.raises(ConnectorError) as failed:
        sql.query(sql="SELECT * FROM nowhere")
    assert "no such table" in str(failed.value)


@pytest.mark.parametrize(
    "statement",
    [
        "DELETE FROM customers",
        "  update customers SET email = 'x'",
        "SELECT 1; DROP TABLE customers",
        "WITH gone AS (DELETE FROM customers RETURNING *) SELECT * FROM gone",
        "SELECT * INTO backup FROM customers",
        "PRAGMA writable_schema = 1",
        "/* SELECT */ CREATE TABLE t (x int)",
    ],
)
def test_sql_query_refuses_writes(db, connect, statement):
    sql = connect("sql", {"url": f"sqlite:///{db}"})
    with pytest.raises(InputError) as caught:
        sql.query(sql=statement)
    assert caught.value.field == "sql"
    assert len(sql.query(sql="SELECT * FROM customers")) == 2


def test_sql_query_allows_keywords_inside_strings(db, connect):
    sql = connect("sql", {"url": f"sqlite:///{db}"})
    frame = sql.query(sql="SELECT 'DELETE; DROP' AS word, \"email\" FROM customers LIMIT 1")
    assert frame.to_dict("records") == [{"word": "DELETE; DROP", "email": "ada@example.com"}]


def test_sql_insert(db, connect):
    sql = connect("sql", {"url": f"sqlite:///{db}"})
    rows = [
        {"email": "cy@example.com", "created_at": "2024-06-01T08:30:00"},
        {"email": "di@example.com", "country": "DE"},
    ]
    assert sql.insert(table="customers", rows=rows) == {"inserted": 2}
    assert sql.insert(table="customers", row={"email": "ed@example.com"}) == {"inserted": 1}
    frame = sql.query(sql="SELECT email, country FROM customers WHERE id > 2 ORDER BY id")
    assert frame.to_dict("records") == [
        {"email": "cy@example.com", "country": "US"},
        {"email": "di@example.com", "country": "DE"},
        {"email": "ed@example.com", "country": "US"},
    ]
    for data, field in (
        ({"table": "nowhere", "row": {"a": 1}}, "table"),
        ({"table": "customers", "rows": [{"email": "x", "phone": "1"}]}, "rows"),
        ({"table": "customers"}, "rows"),
        ({"table": "customers", "row": {"email": "x"}, "rows": []}, "rows"),
    ):
        with pytest.raises(InputError) as caught:
            sql.run("insert", data)
        assert caught.value.field == field
    dry = connect("sql", {"url": f"sqlite:///{db}"}, dry_run=True)
    assert dry.insert(table="customers", row={"email": "fy@example.com"})["would_insert"] == 1
    assert len(sql.query(sql="SELECT * FROM customers")) == 5


def test_sql_poll_new_rows_by_increasing_column(db, connect):
    with sqlite3.connect(db) as con:
        con.executemany(
            "INSERT INTO customers (email) VALUES (?)",
            [(f"u{i}@example.com",) for i in range(2098)],
        )
    con.close()
    sql = connect("sql", {"url": f"sqlite:///{db}", "poll_table": "customers", "poll_column": "id"})
    trigger = get_connector("sql").poll_triggers["new_rows"]
    sizes, cursor = [], None
    while True:
        page = sql.poll("new_rows", "", cursor)
        sizes.append(len(page.events))
        if cursor is None:
            assert page.events[0]["email"] == "ada@example.com"
            assert page.events[0]["created_at"] == "2024-05-01T10:00:00"
            assert trigger.key(page.events[0]).startswith("1|")
        assert len({trigger.key(e) for e in page.events}) == len(page.events)
        cursor = page.cursor
        if not page.more:
            break
    assert (sizes, cursor) == ([1000, 1000, 100], 2100)
    assert sql.poll("new_rows", "", cursor).events == []
    sql.insert(table="customers", row={"email": "new@example.com"})
    page = sql.poll("new_rows", "", cursor)
    assert [(e["id"], e["email"]) for e in page.events] == [(2101, "new@example.com")]
    with pytest.raises(InputError) as caught:
        connect("sql", {"url": f"sqlite:///{db}", "poll_table": "customers"}).poll(
            "new_rows", "", None
        )
    assert caught.value.field == "poll_column"


def test_sql_poll_by_time_starts_at_since_and_keeps_ties_together(db, connect):
    with sqlite3.connect(db) as con:  # 1003 more rows; the last five share one time
        stamps = [f"2024-07-01 00:{i // 60 % 60:02d}:{i % 60:02d}.000000" for i in range(998)]
        stamps += ["2024-07-02 00:00:00.000000"] * 5
        con.executemany(
            "INSERT INTO customers (email, created_at) VALUES ('x', ?)", [(s,) for s in stamps]
        )
    con.close()
    sql = connect(
        "sql", {"url": f"sqlite:///{db}", "poll_table": "customers", "poll_column": "created_at"}
    )
    first = sql.poll("new_rows", "2024-05-02T00:00:00+00:00", None)
    assert first.events[0]["email"] == "bob@example.com"  # ada is before `since`
    assert (len(first.events), first.more) == (999, True)
    assert first.cursor["seen"] == [f"[{first.events[-1]['id']}]"]
    second = sql.poll("new_rows", "", first.cursor)
    assert [e["created_at"] for e in second.events] == ["2024-07-02T00:00:00"] * 5
    assert second.more is False


def test_sql_errors_hide_the_password(connect):
    sql = connect("sql", {"url": "postgresql://user:s3cret@127.0.0.1:1/db"})
    for call in (
        sql.test,
        lambda: sql.query(sql="SELECT 1"),
        lambda: sql.insert(table="t", row={"a": 1}),
    ):
        with pytest.raises(ConnectorError) as caught:
            call()
        text = "".join(traceback.format_exception(caught.value))
        assert "s3cret" not in text and "s3cret" not in repr(caught.value)
        shown = str(caught.value)
        assert "the url's postgresql database" in shown and "127.0.0.1" not in shown
    assert "s3cret" not in repr(sql)
    with pytest.raises(InputError) as bad:
        connect("sql", {"url": "not a url with s3cret"}).test()
    assert bad.value.field == "url" and "s3cret" not in str(bad.value)


def test_sql_a_relative_sqlite_path_is_in_the_workspace_wherever_the_job_runs(
    tmp_path, connect, monkeypatch
):
    """A job's kernel runs in its recipe's folder: `sqlite:///data/app.db` must still name
    the workspace's file (as a CSV path does), not a new empty one beside the recipe."""
    root = tmp_path / "ws"
    (root / "data").mkdir(parents=True)
    with sqlite3.connect(root / "data" / "app.db") as con:
        con.execute("CREATE TABLE t (x INTEGER)")
        con.execute("INSERT INTO t VALUES (7)")
    con.close()
    recipe_folder = root / "projects" / "shop"
    recipe_folder.mkdir(parents=True)
    monkeypatch.chdir(recipe_folder)
    sql = connect("sql", {"url": "sqlite:///data/app.db", "root": str(root)})
    assert sql.query(sql="SELECT x FROM t")["x"].tolist() == [7]
    assert sql.test() == "connected to the url's sqlite database"
    assert not (recipe_folder / "data").exists()


def test_sql_a_sqlite_path_may_not_leave_the_workspace_nor_name_a_missing_file(tmp_path, connect):
    root = tmp_path / "ws"
    root.mkdir()
    (tmp_path / "outside.db").touch()
    with pytest.raises(InputError) as escaped:
        connect("sql", {"url": "sqlite:///../outside.db", "root": str(root)}).test()
    assert escaped.value.field == "url" and "leaves" in str(escaped.value)
    with pytest.raises(InputError) as missing:
        connect("sql", {"url": "sqlite:///data/typo.db", "root": str(root)}).test()
    assert missing.value.field == "url" and "does not exist" in str(missing.value)
    assert not (root / "data").exists()  # nothing was created on the way
