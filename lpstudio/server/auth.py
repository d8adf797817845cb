"""Who may do what: roles for Jupyter users, tokens and rate limits for API clients.

Roles follow Workato's (`lpstudio.roles` holds the table): each route names one permission.

API clients (bots calling callable recipes) are not Jupyter users: they send their own token
in `API-TOKEN` or `Authorization: Bearer`, and each is limited to its endpoint paths, to
a number of calls per minute and, if it has one, to a quota of calls in any 24 hours.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from ..errors import quoted
from ..roles import refusal


class ApiError(Exception):
    """An answer other than success, with its HTTP status and the error's fields. `said`:
    what the server's log says of it, for the workspace's admin, where the caller is told
    less (a bot is told no recipe path): logged at WARNING, the admin having to act."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        fix: str | None = None,
        headers: dict[str, str] | None = None,
        said: str | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.fix = fix
        self.headers = headers or {}
        self.said = said
        self.extra = extra

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "field": self.field,
            "fix": self.fix,
            **self.extra,
        }


def check_role(role: str, permission: str, action: str) -> None:
    """Refuses (403) what the role does not allow, before anything is done."""
    refused = refusal(role, permission, action)
    if refused is not None:
        raise ApiError(403, "Forbidden", refused.message, field=refused.field, fix=refused.fix)


def no_person(name: str) -> ApiError | None:
    """The refusal (403) of a Jupyter user whose name holds ':', which names no person:
    `api:NAME` and `lpstudio:PROCESS` act for API clients and lpstudio itself."""
    if ":" not in name:
        return None
    return ApiError(
        403,
        "Forbidden",
        f"the user name {quoted(name)} holds ':', which lpstudio keeps for API clients "
        "(api:NAME) and its own processes",
        field="user",
        fix="sign in under a user name without ':' (the server's identity provider "
        "names its users)",
    )


def api_token(headers: Any) -> str | None:
    """The API client token of a request: `API-TOKEN`, else `Authorization: Bearer`."""
    token = headers.get("API-TOKEN")
    if token:
        return str(token).strip()
    return _bearer(headers)


def _bearer(headers: Any) -> str | None:
    """The token of an `Authorization: Bearer` header, if one is sent."""
    scheme, _, value = str(headers.get("Authorization") or "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def one_credential(headers: Any) -> None:
    """Refuses a call that names its client twice: a token sent twice was read as one
    (`a,a`), unknown, and answered as revoked; two tokens, one in each header, ran as the
    first client, whatever the second's limits."""
    sent = headers.get_list("API-TOKEN")
    if len(sent) > 1 or (sent and _bearer(headers) is not None):
        raise ApiError(
            400,
            "InputError",
            f"API-TOKEN is sent {len(sent)} times"
            if len(sent) > 1
            else "both API-TOKEN and Authorization: Bearer are sent",
            field="API-TOKEN",
            fix="send the API client's token once, in API-TOKEN or in Authorization: Bearer",
        )


def unknown_token(headers: Any) -> ApiError:
    """401 to a request whose API client token is missing, unknown or revoked, on a call's
    route and the OpenAPI document's alike (one text), naming the header the token came in:
    one sent as `Authorization: Bearer` was said to be API-TOKEN's."""
    sent_as_bearer = not headers.get("API-TOKEN") and _bearer(headers) is not None
    return ApiError(
        401,
        "Unauthenticated",
        "missing, unknown or revoked API token",
        field="Authorization" if sent_as_bearer else "API-TOKEN",
        fix="send a live API client's token in API-TOKEN or Authorization: Bearer",
        headers={"WWW-Authenticate": 'Bearer realm="lpstudio"'},
    )


def api_token_header(headers: Any) -> str | None:
    """The header that carries an API client's token, if one does: `API-TOKEN` (Jupyter
    reads no such header), or `Authorization` when its Bearer value is shaped as a
    client's token (`TOKEN_SHAPE`: Jupyter takes its own token as Bearer too)."""
    from ..api_clients import TOKEN_SHAPE

    token = api_token(headers)
    if token is None:
        return None
    if headers.get("API-TOKEN"):
        return "API-TOKEN"
    return "Authorization" if TOKEN_SHAPE.fullmatch(token) else None


class RateLimits:
    """Calls per minute and per day (the quota) per API client, counted in one SQLite file
    of the workspace (`lpstudio.ratelimit`): every server process on the machine shares the
    counts, so a client cannot multiply its limits by the number of servers."""

    #: Leak expired entries once in this many calls, so the file stays small.
    LEAK_EVERY = 100

    def __init__(self, path: Path) -> None:
        from ..ratelimit import SharedBuckets

        self.buckets = SharedBuckets(path)
        self._lock = threading.Lock()
        self._calls = 0

    def check(self, client: str, per_minute: int, per_day: int | None = None) -> None:
        """Counts one call against the client's rate and its quota, if any, at once: a call
        either refuses is counted in neither (a bot retrying past its quota is not made to
        wait for its rate too); past either, refuses with 429 and `Retry-After`, the
        seconds until a call is free again."""
        from pyrate_limiter import Duration

        with self._lock:
            self._calls += 1
            leak = self._calls % self.LEAK_EVERY == 0
        refused = self._refusal(client, counted_rates(per_minute, per_day), leak)
        if refused is None:
            return
        period, seconds = refused
        if period != Duration.DAY.value:
            raise ApiError(
                429,
                "TooManyRequests",
                f"API client {client} is limited to {per_minute} calls per minute",
                field="rate_per_minute",
                fix=f"retry after {seconds} s, or ask an admin for a new API client with a "
                "larger --rate",
                headers={"Retry-After": str(seconds)},
            )
        raise ApiError(
            429,
            "QuotaExceeded",
            f"API client {client} is over its quota of {per_day} calls per day (in any 24 hours)",
            field="quota_per_day",
            fix=f"wait {seconds} s, until its oldest call counted is a day old, or ask an "
            "admin to raise the quota (a new API client with a larger --quota)",
            headers={"Retry-After": str(seconds)},
        )

    def _refusal(
        self, client: str, rates: list[tuple[int, Any]], leak: bool
    ) -> tuple[int, int] | None:
        """Counts one call in the client's bucket of `rates`: None when it fits them all,
        else the period (ms) of the rate refusing it and the seconds (at least 1) until
        that rate frees a call."""
        from pyrate_limiter import RateItem

        bucket = self.buckets.get_rates(client, rates)
        with self._lock:
            item = RateItem(client, bucket.now())
            if leak:
                bucket.leak(item.timestamp)
            if bucket.put(item):
                return None
            period, wait_ms = bucket.failing_rate.interval, bucket.waiting(item)
        return period, max(1, -(-int(wait_ms) // 1000))


def counted_rates(per_minute: int, per_day: int | None) -> list[tuple[int, Any]]:
    """A client's rate and quota as one bucket's (limit, period) rates, which pyrate-limiter
    wants ever larger and never denser: a quota no larger than the rate's count leaves the
    rate nothing to refuse, and a quota above a day of full minutes is never reached, so
    either limit that cannot refuse a call is left out."""
    from pyrate_limiter import Duration

    rate: tuple[int, Any] = (per_minute, Duration.MINUTE)
    if per_day is None or per_day > per_minute * (Duration.DAY.value // Duration.MINUTE.value):
        return [rate]
    quota: tuple[int, Any] = (per_day, Duration.DAY)
    return [quota] if per_day <= per_minute else [rate, quota]
