"""One HTTP request with retries: which failures are tried again, how long to wait, and
how a final failure is reported (never with a secret in it).

Retry policy:

- idempotent methods (GET, PUT, DELETE, HEAD, OPTIONS) are tried again after any network
  failure or timeout, and after 429, 502, 503 and 504 answers;
- POST and PATCH are tried again only when the request certainly never reached the server
  (no connection could be made, or none was free in the pool) and after 429 and 503 answers,
  which say the request was not processed. A 500, 502 or 504 answer, a read timeout, or an
  answer that is not the JSON expected may come after the server acted: sending again could
  act twice, so the error says so and is not retryable.

An answer is read as it comes, at most `MAX_ANSWER_BYTES` of it once decoded (a gzipped
answer grows) and within `timeout_seconds` in all (httpx's own timeouts count each wait for
a packet, which a server that trickles its answer never trips): a job never holds more than
that, nor waits longer.

Waits grow exponentially with jitter (0.5 s, 1 s, 2 s ... up to 30 s), except that a
`Retry-After` header is honoured. A `Retry-After` longer than `MAX_RETRY_AFTER` is not
waited for inside a job: the answer is reported as a retryable error instead.

A connection with a base_url sends only to its origin (scheme, host and port), with its
credentials or without: an absolute URL elsewhere is refused, as the base_url names the app
the connection is for. A connection without a base_url sends to any URL it is given, its
credentials too.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

import httpx
import tenacity

from lpstudio import strictjson
from lpstudio.errors import InputError
from lpstudio.sdk import Connection, ConnectorError, retry_after, scrub_text

from . import config
from .auth import auth_headers, masked_headers, merge_headers
from .headers import check_headers

IDEMPOTENT = {"GET", "HEAD", "OPTIONS", "PUT", "DELETE"}
RETRY_STATUSES = {"idempotent": {429, 502, 503, 504}, "other": {429, 503}}
# Failures after which the server may have received the request are only retried when
# the method is idempotent; these three mean it certainly was not sent.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
TRANSIENT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
MAX_RETRY_AFTER = 60.0
BACKOFF = tenacity.wait_exponential_jitter(multiplier=0.5, max=30.0, jitter=0.5)
SNIPPET = 300
SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
URL_FIX = "give an absolute http(s):// URL, or a path relative to base_url"
MAYBE_DONE = "it may have been carried out, so it was not sent again"
# The most of an answer a job reads: its text and parsed JSON are held besides.
MAX_ANSWER_BYTES = 64_000_000


@dataclass
class Prepared:
    method: str
    url: str
    headers: dict[str, str]
    auth: dict[str, str]
    params: dict[str, Any] | None
    json: Any
    has_json: bool
    form: dict[str, Any] | None
    settings: config.Settings

    @property
    def body(self) -> dict[str, Any]:
        """The body as httpx takes it: none, JSON or a form."""
        if self.has_json:
            return {"json": self.json}
        return {} if self.form is None else {"data": self.form}

    @property
    def idempotent(self) -> bool:
        return self.method in IDEMPOTENT


class RetryableAnswer(Exception):
    """An answer worth trying again after `wait` seconds (None: use the back-off)."""

    def __init__(self, response: httpx.Response, wait: float | None) -> None:
        super().__init__(response.status_code)
        self.response = response
        self.wait = wait


def resolve_url(url: str, base: httpx.URL | None) -> str:
    """An absolute URL as it is; a path joined to the connection's base_url. With a
    base_url, an absolute URL must be on its origin whether or not there are credentials
    to send: the base_url names the app the connection is for."""
    found = SCHEME.match(url)
    scheme = found.group(1).lower() if found else None
    if scheme is not None and scheme not in config.DEFAULT_PORTS:
        raise InputError(
            f"'url' is a {scheme}:// URL: only http and https can be called",
            field="url",
            fix="give an http(s):// URL, or a path relative to base_url",
        )
    if scheme is not None:
        full = url
    elif base is None:
        raise InputError(
            f"'{url}' is a relative path and the connection has no base_url",
            field="url",
            fix="give an absolute http(s):// URL, or set base_url on the connection",
        )
    else:
        full = str(base).rstrip("/") + "/" + url.lstrip("/") if url else str(base)
    try:
        parsed = httpx.URL(full)
    except httpx.InvalidURL as error:
        raise InputError(
            f"'url' is not a valid URL: {error}",
            field="url",
            fix=URL_FIX,
        ) from None
    if not parsed.host:
        raise InputError(
            "'url' must be an http(s) URL with a host",
            field="url",
            fix=URL_FIX,
        )
    if parsed.userinfo:
        raise InputError(
            "'url' holds a user name or password",
            field="url",
            fix="remove them from the URL: the connection's auth_type and fields sign requests",
        )
    if base is not None and config.origin(parsed) != config.origin(base):
        raise InputError(
            f"'url' {shown_url(full)} is not on the connection's base_url "
            f"({shown_url(str(base))}), and the connection sends nowhere else",
            field="url",
            fix="give a path relative to base_url, or call that host through a connection "
            "whose base_url is on it",
        )
    return full


def shown_url(url: str) -> str:
    """A URL for messages: no user info, no query string (either may hold a credential)."""
    parsed = httpx.URL(url)
    return str(parsed.copy_with(userinfo=b"", query=None, fragment=None))


def prepare(conn: Connection, data: dict[str, Any]) -> Prepared:
    """The request to send, every argument and setting checked: nothing is sent (and a dry
    run shows nothing) that could not go out as shown."""
    settings = config.read(conn)
    auth = auth_headers(conn)
    given = dict(data.get("headers") or {})
    check_headers(given)
    if "json" in data and "form" in data:
        raise InputError(
            "a request has one body: give either 'json' or 'form', not both",
            field="form",
            fix="send the form's fields as JSON in 'json', or the JSON's as 'form'",
        )
    if "json" in data:
        try:
            json.dumps(data["json"], allow_nan=False)
        except (TypeError, ValueError) as error:
            raise InputError(
                f"'json' cannot be sent as JSON: {error}",
                field="json",
                fix="give JSON values only: dicts, lists, text, finite numbers, booleans and "
                "None (a date as text, e.g. with .isoformat())",
            ) from None
    return Prepared(
        method=data["method"].upper(),
        url=resolve_url(data["url"], settings.base_url),
        headers=merge_headers(given, auth),
        auth=auth,
        params=data.get("query") or None,
        json=data.get("json"),
        has_json="json" in data,
        form=data.get("form"),
        settings=settings,
    )


def would_send(conn: Connection, req: Prepared) -> dict[str, Any]:
    return conn.would_send(
        req.method,
        req.url,  # `would_send` masks the connection's secrets wherever they are
        headers=masked_headers(conn, req.headers, req.auth),
        query=req.params,  # named as the recipe gave it (`query=`), not as httpx takes it
        **({"form": req.form} if req.form is not None else {"json": req.json}),
    )


class Bounded(httpx.SyncByteStream):
    """An answer's body as it arrives, ended by a ReadTimeout once `deadline` (a monotonic
    time) passes: httpx's own read timeout is per read, and an answer that trickles in
    never trips it."""

    def __init__(self, response: httpx.Response, deadline: float) -> None:
        self.inner = cast(httpx.SyncByteStream, response.stream)  # a sync client's
        self.response, self.deadline = response, deadline

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.inner:
            if time.monotonic() > self.deadline:
                raise httpx.ReadTimeout("the answer took too long", request=self.response.request)
            yield chunk

    def close(self) -> None:
        self.inner.close()


def _too_large(req: Prepared, response: httpx.Response) -> ConnectorError:
    """Not retryable: the same request brings the same answer."""
    limit = MAX_ANSWER_BYTES
    shown = f"{limit / 1e6:g} MB" if limit >= 1_000_000 else f"{limit / 1e3:g} kB"
    message = (
        f"{req.method} {shown_url(req.url)} answered {response.status_code} with more than "
        f"{shown}, more than a job reads"
    )
    return ConnectorError(
        message if req.idempotent else f"{message}; {MAYBE_DONE}",
        status=response.status_code,
        uncertain=not req.idempotent,
        fix="ask the API for less at a time: a page, a filter or fewer fields in `query`",
    )


def _receive(client: httpx.Client, req: Prepared) -> httpx.Response:
    """Sends the request and reads its answer within the bounds `Bounded` sets."""
    deadline = time.monotonic() + req.settings.timeout.read
    request = client.build_request(
        req.method,
        req.url,
        headers=req.headers,
        params=req.params,
        timeout=req.settings.timeout,
        **req.body,
    )
    response = client.send(request, stream=True)
    try:
        length = response.headers.get("content-length", "")
        if length.isdigit() and int(length) > MAX_ANSWER_BYTES:
            raise _too_large(req, response)
        # Codings stacked (gzip, gzip) decode a small chunk into gigabytes at once, before
        # any count: no API sends them.
        codings = [c for c in response.headers.get("content-encoding", "").split(",") if c.strip()]
        if len(codings) > 1:
            raise ConnectorError(
                f"{req.method} {shown_url(req.url)} answered {response.status_code} "
                f"compressed {len(codings)} times ({', '.join(c.strip() for c in codings)}), "
                "which a job does not read" + ("" if req.idempotent else f"; {MAYBE_DONE}"),
                status=response.status_code,
                uncertain=not req.idempotent,
                fix="ask the API for an answer compressed once, or not at all",
            )
        response.stream = Bounded(response, deadline)
        body = bytearray()
        for chunk in response.iter_bytes():  # decoded: 64 kB of gzip can hold gigabytes
            body += chunk
            if len(body) > MAX_ANSWER_BYTES:
                raise _too_large(req, response)
        response._content = bytes(body)  # what `response.read()` keeps, read within bounds
    finally:
        response.close()
    return response


def _wait_asked(response: httpx.Response) -> float | None:
    """Seconds from a `Retry-After` header (delta-seconds, a fraction, or an HTTP date), or
    None."""
    return retry_after(response.headers.get("retry-after"))


def send(conn: Connection, req: Prepared, expected: list[int] | None) -> httpx.Response:
    """Sends with the retry policy above; returns the final answer whatever its status,
    raises ConnectorError when no answer came."""
    statuses = RETRY_STATUSES["idempotent" if req.idempotent else "other"] - set(expected or ())
    failures = TRANSIENT if req.idempotent else NOT_SENT
    retries = req.settings.retries
    client = conn.http()
    hidden = conn.secrets()

    def attempt() -> httpx.Response:
        response = _receive(client, req)
        if response.status_code in statuses:
            raise RetryableAnswer(response, _wait_asked(response))
        return response

    def should_retry(error: BaseException) -> bool:
        if isinstance(error, RetryableAnswer):
            return error.wait is None or error.wait <= MAX_RETRY_AFTER
        return isinstance(error, failures)

    def wait(state: tenacity.RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, RetryableAnswer) and error.wait is not None:
            return error.wait
        return BACKOFF(state)

    def before_sleep(state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        what = (
            f"answered {error.response.status_code}"
            if isinstance(error, RetryableAnswer)
            else f"failed ({type(error).__name__})"
        )
        delay = state.next_action.sleep if state.next_action else 0
        conn.log(
            scrub_text(
                f"{req.method} {shown_url(req.url)} {what}; trying again in {delay:.1f} s "
                f"(attempt {state.attempt_number + 1} of {retries + 1})",
                hidden,
            )
        )

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(retries + 1),
        wait=wait,
        retry=tenacity.retry_if_exception(should_retry),
        before_sleep=before_sleep,
        sleep=time.sleep,
        reraise=True,
    )
    try:
        return retrying(attempt)
    except RetryableAnswer as answer:
        return answer.response
    except httpx.HTTPError as error:
        sendable = req.idempotent or isinstance(error, NOT_SENT)
        raise ConnectorError(
            scrub_text(_no_answer(req, error), hidden),
            retryable=sendable,
            uncertain=not sendable,
        ) from None


@contextlib.contextmanager
def in_flight(conn: Connection, req: Prepared) -> Iterator[None]:
    """Records a POST or PATCH in the job's ledger while it is out: a job stopped then (its
    timeout, a cancel, a kill) ends with it uncertain (`uncertain_sends`), and the same
    request of its retry or rerun (the same method, URL and body, as often in the run) is
    refused rather than sent again. One answered (but for a server error, which may come
    after the work was done), or certainly never sent, may be sent again by a retry, as
    ever: only what nobody knows the fate of is held back. The caller checks the answer
    inside the block, so that its error settles the entry."""
    if req.idempotent:
        yield
        return
    body = json.dumps(req.body, sort_keys=True, default=str).encode()
    sent = f"{req.method} {shown_url(req.url)} {hashlib.sha256(body).hexdigest()}"
    times = conn.cache.setdefault("http.sent", {})  # per connection, for the job's run
    times[sent] = times.get(sent, 0) + 1
    key = f"http:{conn.name}:{hashlib.sha256(f'{sent} #{times[sent]}'.encode()).hexdigest()}"
    earlier = conn.ledger.claim_many([key]).get(key)
    if earlier is not None:  # never settled "accepted": held, nobody knows what became of it
        by = f"job {earlier['job_id']}" if earlier.get("job_id") else "an earlier try"
        raise ConnectorError(
            f"{req.method} {shown_url(req.url)} was sent by {by}, which got no answer: it "
            f"may have been carried out, so it was not sent again",
            retryable=False,
            uncertain=True,
            fix="check in the app whether it was carried out, and carry it out there if not: "
            "the job's retries and reruns never send it again",
        )
    detail = {"request": f"{req.method} {shown_url(req.url)}"}
    try:
        yield
    except ConnectorError as exc:  # no answer or a 5xx (uncertain), or refused or not sent
        conn.ledger.settle_many({key: "uncertain" if exc.uncertain else "rejected"}, detail)
        raise
    except Exception:
        conn.ledger.settle_many({key: "uncertain"}, detail)
        raise
    # Stopped mid-request (a timeout's or a cancel's interrupt), it stays "sending": the
    # job's end makes it uncertain and counts it in its error.
    conn.ledger.settle_many({key: "rejected"}, detail)  # answered: a retry may send it again


def _no_answer(req: Prepared, error: httpx.HTTPError) -> str:
    """What became of a request that got no answer: not sent, or sent and maybe done."""
    where = f"{req.method} {shown_url(req.url)}"
    if isinstance(error, NOT_SENT):
        return f"{where} could not be sent: {type(error).__name__}: {error}"
    if isinstance(error, httpx.TimeoutException):
        seconds = req.settings.timeout.read
        message = f"{where} got no answer within {seconds:g} s (timeout_seconds)"
    else:
        message = f"{where} got no answer: {type(error).__name__}: {str(error).rstrip('.')}"
    return message if req.idempotent else f"{message}; {MAYBE_DONE}"


def parse(conn: Connection, req: Prepared, response: httpx.Response, expect_json: bool) -> Any:
    """The JSON body when the answer is JSON (or must be), else None. A body that claims to
    be JSON, or must be, and is not is a ConnectorError saying what came instead."""
    kind = response.headers.get("content-type", "")
    if not expect_json and ("json" not in kind.lower() or not response.content):
        return None
    if not response.content:
        problem = "an empty body"
    else:
        try:
            return strictjson.loads(response.content, whole_text=False)  # the app's text
        except (ValueError, UnicodeDecodeError):
            problem = f"a body that is not JSON ({kind or 'no Content-Type'})"
    message = f"{req.method} {shown_url(req.url)} answered {response.status_code} with {problem}"
    snippet = _snippet(conn, response)
    if snippet:
        message += f": {snippet}"
    if not req.idempotent:
        message += f"; {MAYBE_DONE}"
    raise ConnectorError(
        scrub_text(message, conn.secrets()),
        retryable=req.idempotent,
        status=response.status_code,
        uncertain=not req.idempotent,
    )


def _snippet(conn: Connection, response: httpx.Response) -> str:
    """The start of a body for a message."""
    return conn.excerpt(response.text, SNIPPET)


def _redirect_note(response: httpx.Response) -> str:
    """Where a redirect points, without its query (httpx itself refuses a Location that is
    no URL); empty for a 3xx without one, such as 304."""
    location = response.headers.get("location")
    if not location:
        return ""
    where = shown_url(str(response.url.join(location)))
    return f", a redirect to {where}: use that URL (redirects are not followed)"


def _wait_note(response: httpx.Response) -> str:
    """The wait a 429 or 503 asked for, and why it was not waited for here."""
    wait = _wait_asked(response)
    if wait is None:
        return ""
    why = ", longer than a job waits" if wait > MAX_RETRY_AFTER else ""
    return f" (Retry-After {wait:g} s{why})"


def check(conn: Connection, req: Prepared, response: httpx.Response, expected: list[int] | None):
    """Raises ConnectorError for an unexpected status: any not in `expected` when given, any
    but 2xx otherwise. Redirects are not followed (they could carry the connection's
    credentials to another host), so a 3xx did nothing: it names where it points instead."""
    status = response.status_code
    ok = status in expected if expected else 200 <= status < 300
    if ok:
        return
    statuses = RETRY_STATUSES["idempotent" if req.idempotent else "other"]
    retryable = status in statuses or (req.idempotent and status >= 500)
    wanted = f" (expected {', '.join(map(str, expected))})" if expected else ""
    message = f"{req.method} {shown_url(req.url)} answered {status}{wanted}"
    if status in statuses:
        message += _wait_note(response)
    if 300 <= status < 400:  # its body may repeat the link, query and all (a signature)
        message += _redirect_note(response)
    elif snippet := _snippet(conn, response):
        message += f": {snippet}"
    uncertain = status >= 500 and not retryable
    if uncertain:
        message += f"; {MAYBE_DONE}"
    raise ConnectorError(
        scrub_text(message, conn.secrets()),
        retryable=retryable,
        status=status,
        uncertain=uncertain,
    )
