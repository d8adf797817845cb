"""HTTP: call any REST API, and receive any JSON webhook.

    api = lpstudio.kernel.connection("crm")
    api.request(method="POST", url="/contacts", json={"email": "ada@example.com"})
    # -> {"status": 201, "headers": {...}, "json": {...}, "text": "..."}
    api.request(method="POST", url="/token", form={"grant_type": "client_credentials"})

Relative URLs are joined to the connection's base_url; the connection's credentials are
added as headers (basic, bearer or an API key header), go only to the base_url's scheme,
host and port (to any URL when there is no base_url), and never appear in a dry run's
answer, a log line or an error message, nor in the text and headers of an answer that
echoes them (whole, or cut short by the app). See `request.py` for which failures are tried
again.
"""

from __future__ import annotations

from typing import Any

from lpstudio.sdk import (
    HEADER_VALUE,
    Connection,
    Connector,
    ConnectorError,
    Field,
    scrub,
    scrub_answer,
    scrub_text,
)

from . import webhook as _webhook
from .auth import AUTH_TYPES, auth_headers
from .config import MAX_RETRIES, MAX_TIMEOUT

# `.request` (httpx, tenacity) is imported by the functions that send: every process that
# lists connectors imports this module, and most never send a request.
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")

connector = Connector(
    "http",
    title="HTTP",
    description="Any REST API: requests with retries and authentication, and JSON webhooks.",
    fields=[
        Field(
            "base_url",
            "Base URL",
            type="url",
            required=False,
            hint="when set, request paths are relative to it, e.g. https://api.example.com/v1, "
            "and credentials go only to its host",
        ),
        Field(
            "auth_type",
            "Authentication",
            default="none",
            choices=AUTH_TYPES,
            hint="basic needs username and password; bearer and api_key need token",
        ),
        Field("username", "User name", required=False, hint="for basic authentication"),
        Field("password", "Password", required=False, secret=True, hint="for basic auth"),
        Field(
            "token",
            "Token or API key",
            required=False,
            secret=True,
            hint="the bearer token, or the API key's value",
            pattern=HEADER_VALUE,  # sent in a header: refused when saved, not at its test
        ),
        Field(
            "api_key_header",
            "API key header",
            default="X-API-Key",
            hint="the header that carries the API key",
        ),
        Field(
            "retries",
            "Retries",
            type="integer",
            default=0,
            minimum=0,
            maximum=MAX_RETRIES,
            hint="how many times a failed request is tried again (0 to 3; by default never)",
        ),
        Field(
            "timeout_seconds",
            "Timeout (seconds)",
            type="number",
            default=30,
            minimum=0,
            exclusive_minimum=True,
            maximum=MAX_TIMEOUT,
            hint="how long to wait for an answer (at most 3600)",
        ),
    ],
)

REQUEST_INPUT: dict[str, Any] = {
    "type": "object",
    "required": ["method", "url"],
    "additionalProperties": False,
    "properties": {
        "method": {"type": "string", "enum": list(METHODS)},
        "url": {
            "type": "string",
            "description": "an absolute http(s) URL, or a path relative to base_url",
        },
        "headers": {"type": "object", "additionalProperties": {"type": "string"}},
        "query": {
            "type": "object",
            "description": "query string parameters",
            "additionalProperties": {
                "type": ["string", "number", "boolean", "null", "array"],
                "items": {"type": ["string", "number", "boolean"]},
            },
        },
        "json": {"description": "a JSON body (any JSON value)"},
        "form": {
            "type": "object",
            "description": "a form body (application/x-www-form-urlencoded), instead of json; "
            "a list sends its field once per item",
            "additionalProperties": {
                "type": ["string", "number", "boolean", "array"],
                "items": {"type": ["string", "number", "boolean"]},
            },
        },
        "expect_json": {
            "type": "boolean",
            "description": "true: the answer must be a JSON body, whatever its Content-Type "
            "(default: parsed when its Content-Type says JSON)",
        },
        "expected_status": {
            "type": "array",
            "items": {"type": "integer", "minimum": 100, "maximum": 599},
            "description": "the statuses that count as success (default: any 2xx; "
            "redirects are not followed)",
        },
    },
}

REQUEST_OUTPUT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "status": {"type": "integer"},
        "headers": {"type": "object", "additionalProperties": {"type": "string"}},
        "json": {
            "description": "the parsed body when the answer is JSON, else null (a body "
            "that claims to be JSON and is not fails the request)"
        },
        "text": {"type": "string"},
    },
}


@connector.test
def test(conn: Connection) -> str:
    import httpx

    from .config import read
    from .request import shown_url

    settings = read(conn)
    headers = auth_headers(conn)
    if settings.base_url is None:
        return "no base URL to test"
    where = f"GET {shown_url(str(settings.base_url))}"
    try:
        response = conn.http().get(settings.base_url, headers=headers, timeout=settings.timeout)
    except httpx.HTTPError as error:
        raise ConnectorError(
            scrub_text(f"{where} failed: {type(error).__name__}: {error}", conn.secrets()),
            retryable=True,
        ) from None
    if response.status_code == 401:
        raise ConnectorError(
            f"{where} answered 401: the API refused "
            + ("the connection's credentials" if headers else "a request without credentials"),
            status=401,
            fix="check auth_type and its fields (token, or username and password)",
        )
    if response.status_code >= 500:
        raise ConnectorError(
            f"{where} answered {response.status_code}",
            retryable=True,
            status=response.status_code,
        )
    return f"{where} answered {response.status_code}"  # shown after "connected: "


@connector.action(
    "request",
    title="Send a request",
    description="Sends one HTTP request and returns the answer's status, headers and body.",
    input_schema=REQUEST_INPUT,
    output_schema=REQUEST_OUTPUT,
)
def request(conn: Connection, data: dict[str, Any]) -> dict[str, Any]:
    from .request import check, in_flight, parse, prepare, send, would_send

    req = prepare(conn, data)
    if conn.dry_run:
        return would_send(conn, req)
    expected = data.get("expected_status")
    # Checked and read in flight: a POST answered 5xx, or with no JSON where JSON was
    # expected, may have been carried out, and its ledger entry says so (uncertain), so that
    # no retry or rerun of the job sends it again.
    with in_flight(conn, req):
        response = send(conn, req, expected)
        check(conn, req, response, expected)
        body = parse(conn, req, response, bool(data.get("expect_json")))
    # An app may echo the credentials it got, cut short: what is left of them is masked here,
    # in its headers, text and JSON alike, as no masking of the recipe's output finds a
    # secret's beginning (`scrub_answer`).
    hidden = conn.secrets()
    return {
        "status": response.status_code,
        "headers": {name: scrub_answer(value, hidden) for name, value in response.headers.items()},
        "json": scrub(body, hidden, scrub_answer),
        "text": scrub_answer(response.text, hidden),
    }


connector.webhook_trigger(
    "webhook",
    title="Generic webhook",
    description=(
        "A POST with a JSON body: an object is one event, a list one event per item. With a "
        f"shared secret, the raw body's HMAC-SHA256 must come in {_webhook.SIGNED_IN}."
    ),
    verify=_webhook.verify,
    signature_headers=_webhook.SIGNATURE_FORMATS,
    secret_field="token",  # of its two secret fields (`password` is basic auth's)
)(_webhook.parse)

__all__ = ["connector"]
