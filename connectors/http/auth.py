"""The connection's authentication: which fields each `auth_type` needs, the headers it adds,
and how secrets are kept out of dry-run answers and error messages."""

from __future__ import annotations

import base64
import unicodedata
from typing import Any

from lpstudio.errors import InputError
from lpstudio.sdk import MASK, Connection

from .headers import name_problem, value_problem

AUTH_TYPES = ("none", "basic", "bearer", "api_key")
NEEDED = {
    "none": (),
    "basic": ("username", "password"),
    "bearer": ("token",),
    "api_key": ("token",),
}
# Headers that carry credentials even when a recipe sets them itself.
SENSITIVE_HEADERS = {"authorization", "proxy-authorization", "cookie", "x-api-key"}


def auth_headers(conn: Connection) -> dict[str, str]:
    """The headers `auth_type` adds; InputError naming the first missing field."""
    config = conn.config
    auth_type = config.get("auth_type") or "none"
    if auth_type not in NEEDED:
        raise InputError(
            f"connection field 'auth_type' is '{auth_type}', which is not an auth type",
            field="auth_type",
            fix=f"use one of: {', '.join(AUTH_TYPES)}",
        )
    for name in NEEDED[auth_type]:
        # A basic-auth password may be empty (some APIs take a key as the user name).
        missing = config.get(name) is None if name == "password" else not config.get(name)
        if missing:
            raise InputError(
                f"auth_type '{auth_type}' needs the connection field '{name}'",
                field=name,
                fix=f"set '{name}' on the connection, or choose another auth_type",
            )
    if auth_type == "basic":
        username, password = str(config["username"]), str(config["password"])
        _check_basic("username", username, colon=True)
        _check_basic("password", password, colon=False)
        pair = f"{username}:{password}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}
    if auth_type == "none":
        return {}
    token = str(config["token"])
    if value_problem(token):
        raise InputError(
            f"the connection's token {value_problem(token)}",
            field="token",
            fix="give the token again, without line breaks or spaces at its ends",
        )
    if auth_type == "bearer":
        return {"Authorization": f"Bearer {token}"}
    header = str(config.get("api_key_header") or "X-API-Key")
    if name_problem(header):
        raise InputError(
            f"connection field 'api_key_header' {name_problem(header)}",
            field="api_key_header",
            fix="give the header the API reads its key from, such as X-API-Key",
        )
    return {header: token}


def _check_basic(name: str, value: str, colon: bool) -> None:
    """RFC 7617: no control characters in either part, no colon in the user name (the
    server would split the pair there). The value is never quoted."""
    if any(unicodedata.category(char) == "Cc" for char in value) or (colon and ":" in value):
        what = "a colon or a control character" if colon else "a control character"
        raise InputError(
            f"the connection's {name} holds {what} (such as a line break), which basic "
            "authentication cannot carry",
            field=name,
            fix=f"give the {name} again, without it",
        )


def merge_headers(given: dict[str, str], auth: dict[str, str]) -> dict[str, str]:
    """The recipe's headers with the connection's auth headers winning, case-insensitively,
    keeping each header's spelling."""
    merged = dict(given)
    for name, value in auth.items():
        for existing in [k for k in merged if k.lower() == name.lower()]:
            del merged[existing]
        merged[name] = value
    return merged


def masked_headers(
    conn: Connection, headers: dict[str, str], auth: dict[str, str]
) -> dict[str, Any]:
    """Headers as a dry run shows them: credential values replaced by "****"."""
    sensitive = {*SENSITIVE_HEADERS, *(name.lower() for name in auth)}
    api_key_header = conn.config.get("api_key_header")
    if api_key_header:
        sensitive.add(str(api_key_header).lower())
    # Other values keep theirs: `Connection.would_send` masks secrets inside any of them.
    return {name: MASK if name.lower() in sensitive else value for name, value in headers.items()}
