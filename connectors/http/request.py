"""One HTTP request with retries: which failures are tried again, how long to wait, and
how a final failure is reported (never with a secret in it).

Retry policy:

- idempotent methods (GET, PUT, DELETE, HEAD, OPTIONS) are tried again after any network
  failure or timeout, and after 429, 502, 503 and 504 answers;
- POST and PATCH are tried again only when the request certainly never reached the server
  (no connection could be made, or none was free in the pool) and after 429 and 503 answers,
  which say the request was not processed. A 500, 502 or 504 answer, or a read timeout, may
  come after the server acted: sending again could act twice.

Waits grow exponentially with jitter (0.5 s, 1 s, 2 s ... up to 30 s), except that a
`Retry-After` header is honoured. A `Retry-After` longer than `MAX_RETRY_AFTER` is not
waited for inside a job: the answer is reported as a retryable error instead.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import httpx
import tenacity

from lpstudio.errors import InputError
from lpstudio.sdk import Connection, ConnectorError
from lpstudio.sdk import retry_after as parse_retry_after

from .auth import auth_headers, masked_headers, merge_headers, scrub, secrets

IDEMPOTENT = {"GET", "HEAD", "OPTIONS", "PUT", "DELETE"}
RETRY_STATUSES = {"idempotent": {429, 502, 503, 504}, "other": {429, 503}}
# Failures after which the server may have received the request are only retried when
# the method is idempotent; these three mean it certainly was not sent.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
TRANSIENT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
MAX_RETRY_AFTER = 60.0
BACKOFF = tenacity.wait_exponential_jitter(multiplier=0.5, max=30.0, jitter=0.5)


@dataclass
class Prepared:
    method: str
    url: str
    headers: dict[str, str]
    auth: dict[str, str]
    params: dict[str, Any] | None
    json: Any
    has_json: bool


class RetryableAnswer(Exception):
    """An answer worth trying again after `wait` seconds (None: use the back-off)."""

    def __init__(self, response: httpx.Response, wait: float | None) -> None:
        super().__init__(response.status_code)
        self.response = response
        self.wait = wait


def resolve_url(conn: Connection, url: str) -> str:
    """An absolute URL as it is; a path joined to the connection's base_url."""
    if url.lower().startswith(("http://", "https://")):
        full = url
    else:
        base = conn.config.get("base_url")
        if not base:
            raise InputError(
                f"'{url}' is a relative path and the connection has no base_url",
                field="url",
                fix="give an absolute http(s):// URL, or set base_url on the connection",
            )
        full = str(base).rstrip("/") + "/" + url.lstrip("/") if url else str(base)
    try:
        parsed = httpx.URL(full)
    except httpx.InvalidURL as error:
        raise InputError(f"'url' is not a valid URL: {error}", field="url") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise InputError(
            "'url' must be an http(s) URL with a host",
            field="url",
            fix="give an absolute http(s):// URL, or a path relative to base_url",
        )
    return full


def shown_url(url: str) -> str:
    """A URL for messages: no user info, no query string (either may hold a credential)."""
    parsed = httpx.URL(url)
    return str(parsed.copy_with(userinfo=b"", query=None, fragment=None))


def prepare(conn: Connection, data: dict[str, Any]) -> Prepared:
    auth = auth_headers(conn)
    method = data["method"].upper()
    return Prepared(
        method=method,
        url=resolve_url(conn, data["url"]),
        headers=merge_headers(dict(data.get("headers") or {}), auth),
        auth=auth,
        params=data.get("query") or None,
        json=data.get("json"),
        has_json="json" in data,
    )


def would_send(conn: Connection, req: Prepared) -> dict[str, Any]:
    return conn.would_send(
        req.method,
        scrub(req.url, secrets(conn)),
        headers=masked_headers(conn, req.headers, req.auth),
        params=req.params,
        json=req.json,
    )


def retry_after(response: httpx.Response) -> float | None:
    """Seconds from a `Retry-After` header (delta-seconds, a fraction, or an HTTP date), or
    None."""
    return parse_retry_after(response.headers.get("retry-after"))


def timeout(conn: Connection) -> httpx.Timeout:
    seconds = float(conn.config.get("timeout_seconds") or 30)
    return httpx.Timeout(seconds, connect=min(seconds, 10.0))


def send(conn: Connection, req: Prepared, expected: list[int] | None) -> httpx.Response:
    """Sends with the retry policy above; returns the final answer whatever its status,
    raises ConnectorError when no answer came."""
    idempotent = req.method in IDEMPOTENT
    statuses = RETRY_STATUSES["idempotent" if idempotent else "other"] - set(expected or ())
    failures = TRANSIENT if idempotent else NOT_SENT
    configured = conn.config.get("retries")
    retries = max(0, int(3 if configured is None else configured))
    client = conn.http()
    request_timeout = timeout(conn)
    body: dict[str, Any] = {"json": req.json} if req.has_json else {}

    def attempt() -> httpx.Response:
        response = client.request(
            req.method,
            req.url,
            headers=req.headers,
            params=req.params,
            timeout=request_timeout,
            **body,
        )
        if response.status_code in statuses:
            raise RetryableAnswer(response, retry_after(response))
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
            f"{req.method} {shown_url(req.url)} {what}; trying again in {delay:.1f} s "
            f"(attempt {state.attempt_number + 1} of {retries + 1})"
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
        certainly_unsent = isinstance(error, NOT_SENT)
        raise ConnectorError(
            scrub(
                f"{req.method} {shown_url(req.url)} got no answer: {type(error).__name__}: {error}",
                secrets(conn),
            ),
            retryable=idempotent or certainly_unsent,
        ) from None


def parse(response: httpx.Response) -> Any:
    """The JSON body when the answer is JSON, else None."""
    kind = response.headers.get("content-type", "")
    if "json" not in kind.lower() or not response.content:
        return None
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


def _redirect_note(response: httpx.Response) -> str:
    """Where a redirect points, without its query (httpx itself refuses a Location that is
    no URL); empty for a 3xx without one, such as 304."""
    location = response.headers.get("location")
    if not location:
        return ""
    where = shown_url(str(response.url.join(location)))
    return f", a redirect to {where}: use that URL (redirects are not followed)"


def check(conn: Connection, req: Prepared, response: httpx.Response, expected: list[int] | None):
    """Raises ConnectorError for an unexpected status: any not in `expected` when given, any
    but 2xx otherwise. Redirects are not followed (they could carry the connection's
    credentials to another host), so a 3xx did nothing: it names where it points instead."""
    status = response.status_code
    ok = status in expected if expected else 200 <= status < 300
    if ok:
        return
    statuses = RETRY_STATUSES["idempotent" if req.method in IDEMPOTENT else "other"]
    retryable = status in statuses or (req.method in IDEMPOTENT and status >= 500)
    snippet = response.text[:300].strip()
    wanted = f" (expected {', '.join(map(str, expected))})" if expected else ""
    message = f"{req.method} {shown_url(req.url)} answered {status}{wanted}"
    if 300 <= status < 400:  # its body may repeat the link, query and all (a signature)
        message += _redirect_note(response)
    elif snippet:
        message += f": {snippet}"
    raise ConnectorError(scrub(message, secrets(conn)), retryable=retryable, status=status)
