"""Who may do what: roles for Jupyter users, tokens and rate limits for API clients.

Roles follow Workato's (`lpstudio.roles` holds the table): each route names one permission.

API clients (bots calling callable recipes) are not Jupyter users: they send their own token
in `API-TOKEN` or `Authorization: Bearer`, and each is limited to its endpoint paths and to
a number of calls per minute.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from ..roles import refusal


class ApiError(Exception):
    """An answer other than success, with its HTTP status and the error's fields."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        fix: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.fix = fix
        self.headers = headers or {}
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


def api_token(headers: Any) -> str | None:
    """The API client token of a request: `API-TOKEN`, else `Authorization: Bearer`."""
    token = headers.get("API-TOKEN")
    if token:
        return str(token).strip()
    scheme, _, value = str(headers.get("Authorization") or "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


class RateLimits:
    """Calls per minute per API client, counted in one SQLite file of the workspace
    (`lpstudio.ratelimit`): every server process on the machine shares the count, so a
    client cannot multiply its limit by the number of servers."""

    #: Leak expired entries once in this many calls, so the file stays small.
    LEAK_EVERY = 100

    def __init__(self, path: Path) -> None:
        from ..ratelimit import SharedBuckets

        self.buckets = SharedBuckets(path)
        self._lock = threading.Lock()
        self._calls = 0

    def check(self, client: str, per_minute: int) -> None:
        """Counts one call; past the limit, refuses with 429 and `Retry-After`."""
        from pyrate_limiter import Duration, RateItem

        bucket = self.buckets.get(client, per_minute, Duration.MINUTE)
        with self._lock:
            item = RateItem(client, bucket.now())
            self._calls += 1
            if self._calls % self.LEAK_EVERY == 0:
                bucket.leak(item.timestamp)
            if bucket.put(item):
                return
            wait_ms = bucket.waiting(item)
        seconds = max(1, -(-int(wait_ms) // 1000))
        raise ApiError(
            429,
            "TooManyRequests",
            f"API client {client} is limited to {per_minute} calls per minute",
            field="API-TOKEN",
            fix=f"retry after {seconds} s",
            headers={"Retry-After": str(seconds)},
        )
