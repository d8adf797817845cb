"""The connection's plain settings as a request uses them, each checked before anything is
sent: the connector SDK checks only their types when the connection is saved, so a value
out of range is named here (by a request and by the connection test) with its fix."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from lpstudio.errors import InputError
from lpstudio.sdk import Connection, plain_url_problem

MAX_RETRIES = 3  # API-FACTS: an action is retried at most 3 times, by default never
MAX_TIMEOUT = 3600.0
DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Settings:
    base_url: httpx.URL | None
    retries: int
    timeout: httpx.Timeout


def read(conn: Connection) -> Settings:
    """The checked settings; InputError naming the first bad field."""
    seconds = _number(conn, "timeout_seconds", 30, 0, MAX_TIMEOUT, whole=False)
    return Settings(
        base_url=_base_url(conn),
        retries=int(_number(conn, "retries", 0, 0, MAX_RETRIES, whole=True)),
        timeout=httpx.Timeout(seconds, connect=min(seconds, 10.0)),
    )


def origin(url: httpx.URL) -> tuple[str, str, int | None]:
    """Scheme, host and port: where a credential may go once it may go to `url`."""
    return url.scheme, url.host, url.port or DEFAULT_PORTS.get(url.scheme)


def _number(
    conn: Connection, name: str, default: float, low: float, high: float, whole: bool
) -> float:
    value: Any = conn.config.get(name)
    try:
        number = default if value in (None, "") else (int(value) if whole else float(value))
    except (TypeError, ValueError):
        number = None
    # `low` itself is allowed for retries (0: never again), not for a timeout.
    too_low = number is not None and (number < low if whole else number <= low)
    if number is None or too_low or number > high or number != number:
        within = f"from {low:g} to {high:g}" if whole else f"above {low:g}, at most {high:g}"
        kind = "a whole number" if whole else "a number of seconds"
        raise InputError(
            f"connection field '{name}' must be {kind} {within}, not {value!r}",
            field=name,
            fix=f"set {name} on the connection (default {default:g})",
        )
    return number


def _base_url(conn: Connection) -> httpx.URL | None:
    """The base URL, which must be a plain http(s) address (`sdk.plain_url_problem`)."""
    text = conn.config.get("base_url")
    if not text:
        return None
    try:
        url = httpx.URL(str(text))
    except httpx.InvalidURL:
        url = None
    problem = None
    if url is None or url.scheme not in DEFAULT_PORTS:
        problem = "must be an http:// or https:// URL"
    elif not url.host:
        problem = "has no host"
    else:  # as a connection is saved: this one may have been saved before the rule
        problem = plain_url_problem(str(text))
    if problem is None:
        return url
    raise InputError(
        f"connection field 'base_url' {problem}",
        field="base_url",
        fix="give the API's address such as https://api.example.com/v1 with `lpstudio "
        f"connections update {conn.name} --field base_url=...`; put credentials in auth_type "
        "and its fields, and query parameters in each request's `query`",
    )
