"""The generic webhook: a JSON body turned into events, and its HMAC-SHA256 signature as
lpstudio, Shopify and GitHub-style senders write it."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from typing import Any

from lpstudio import strictjson
from lpstudio.errors import InputError

SIGNATURE_HEADER = "X-Lpstudio-Signature"
#: The fix for a body that is no JSON, or JSON of another shape.
WHAT_TO_SEND = "send a JSON object (one event) or a JSON list (one event per item)"


def parse(headers: dict[str, str], body: bytes) -> list[dict[str, Any]]:
    """A JSON object is one event; a JSON list is one event per item, each an object (an
    item that is not was wrapped as `{"value": item}`, and its job failed on it)."""
    try:
        payload = strictjson.loads(body)
    except ValueError as error:  # UnicodeDecodeError too
        raise InputError(
            f"the webhook body is not valid JSON: {error}",
            field="body",
            fix=strictjson.fix_for(error, WHAT_TO_SEND),
        ) from None
    if isinstance(payload, dict):
        return [payload]
    if isinstance(payload, list):
        for index, item in enumerate(payload):
            if not isinstance(item, dict):
                raise InputError(
                    f"item {index} of the webhook body is a JSON {type(item).__name__}, not "
                    "an object: each item of a list is one event",
                    field="body",
                    fix='send each event as a JSON object, e.g. [{"id": 1}, {"id": 2}]',
                )
        return payload
    raise InputError(
        f"the webhook body is a JSON {type(payload).__name__}, not an object or a list",
        field="body",
        fix=WHAT_TO_SEND,
    )


def _hex(given: str) -> bytes | None:
    """A hex digest, optionally prefixed `sha256=` (any letter case)."""
    given = given.strip()
    given = given[7:] if given[:7].lower() == "sha256=" else given
    try:
        return bytes.fromhex(given)
    except ValueError:
        return None


def _prefixed_hex(given: str) -> bytes | None:
    """`sha256=<hex>`, as GitHub and the many senders that copy it write it."""
    return _hex(given) if given.strip()[:7].lower() == "sha256=" else None


def _base64(given: str) -> bytes | None:
    try:
        return base64.b64decode(given.strip(), validate=True)
    except ValueError:
        return None


#: The headers senders sign a body in: how each writes the HMAC-SHA256 digest (as the
#: trigger's description and the OpenAPI document say it), and how it is read.
SIGNATURE_HEADERS: dict[str, tuple[str, Callable[[str], bytes | None]]] = {
    SIGNATURE_HEADER: ("hex, optionally prefixed sha256=", _hex),
    "X-Shopify-Hmac-Sha256": ("base64", _base64),  # Shopify's webhooks
    "X-Hub-Signature-256": ("sha256=<hex>", _prefixed_hex),
}
#: What each of `SIGNATURE_HEADERS` holds, by header (the trigger's `signature_headers`).
SIGNATURE_FORMATS = {
    name: f"the HMAC-SHA256 of the raw body as {written}"
    for name, (written, _) in SIGNATURE_HEADERS.items()
}
_SIGNED = [f"{name} ({written})" for name, (written, _) in SIGNATURE_HEADERS.items()]
#: Where the trigger's description says a signature comes: each header, and how it holds it.
SIGNED_IN = f"{', '.join(_SIGNED[:-1])} or {_SIGNED[-1]}"


def verify(headers: dict[str, str], body: bytes, secret: str) -> bool:
    """True when the body is signed with the shared secret (an HMAC-SHA256 of the raw body)
    in `X-Lpstudio-Signature` (hex, optionally `sha256=`), Shopify's `X-Shopify-Hmac-Sha256`
    (base64) or `X-Hub-Signature-256` (`sha256=<hex>`), header names in any letter case.
    Every signature given must match; no secret or no signature: False."""
    if not secret:
        return False
    lowered = {name.lower(): value for name, value in headers.items()}
    given = [
        (read, lowered[name.lower()])
        for name, (_, read) in SIGNATURE_HEADERS.items()
        if lowered.get(name.lower())
    ]
    if not given:
        return False
    expected = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    return all(hmac.compare_digest(expected, read(value) or b"") for read, value in given)
