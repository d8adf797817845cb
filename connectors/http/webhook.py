"""The generic webhook: a JSON body turned into events, and its HMAC-SHA256 signature."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from lpstudio import strictjson
from lpstudio.errors import InputError

SIGNATURE_HEADER = "X-Lpstudio-Signature"


def parse(headers: dict[str, str], body: bytes) -> list[dict[str, Any]]:
    """A JSON object is one event; a JSON list is one event per item (an item that is not an
    object becomes `{"value": item}`)."""
    try:
        payload = strictjson.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise InputError(
            f"the webhook body is not valid JSON: {error}",
            field="body",
            fix="send a JSON object (one event) or a JSON list (one event per item)",
        ) from None
    if isinstance(payload, dict):
        return [payload]
    if isinstance(payload, list):
        return [item if isinstance(item, dict) else {"value": item} for item in payload]
    raise InputError(
        f"the webhook body is a JSON {type(payload).__name__}, not an object or a list",
        field="body",
        fix="send a JSON object (one event) or a JSON list (one event per item)",
    )


def signature(body: bytes, secret: str) -> str:
    """The hex HMAC-SHA256 of the raw body: what a sender puts in X-Lpstudio-Signature."""
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify(headers: dict[str, str], body: bytes, secret: str) -> bool:
    """True when `X-Lpstudio-Signature` (any letter case, optionally prefixed `sha256=`) is
    the HMAC-SHA256 of the raw body with the shared secret. No secret, no signature: False."""
    if not secret:
        return False
    given = next(
        (value for name, value in headers.items() if name.lower() == SIGNATURE_HEADER.lower()),
        None,
    )
    if not given:
        return False
    given = given.strip()
    if given[:7].lower() == "sha256=":
        given = given[7:]
    expected = signature(body, secret)
    return hmac.compare_digest(expected.encode("ascii"), given.lower().encode("utf-8"))
