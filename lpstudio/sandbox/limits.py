"""The limits the emulated APIs enforce, with the clock passed in.

LivePerson counts requests in a sliding one-second window; Shopify's REST API is a leaky
bucket. Both answer how long to wait, which becomes the `Retry-After` header. What a
LivePerson channel sends is limited apart from the requests that asked for it: a daily cap
and a steady pace. Taking `now` as an argument keeps them pure: the caller owns the clock
and the lock.
"""

from __future__ import annotations

import math
from collections import deque
from datetime import UTC, date, datetime


def retry_after(seconds: float) -> int:
    """Whole seconds for `Retry-After`: never 0, so a client honouring it always waits."""
    return max(1, math.ceil(seconds))


class SlidingWindow:
    """At most `limit` admitted requests in any window of `period` seconds."""

    def __init__(self, period: float = 1.0) -> None:
        self.period = period
        self._admitted: deque[float] = deque()

    def admit(self, now: float, limit: int) -> float:
        """Admit one request at `now`, or refuse it: returns 0, or the seconds to wait."""
        while self._admitted and self._admitted[0] <= now - self.period:
            self._admitted.popleft()
        if len(self._admitted) >= limit:
            return self._admitted[len(self._admitted) - limit] + self.period - now
        self._admitted.append(now)
        return 0.0


class LeakyBucket:
    """A bucket that each request fills by one and that drains at a steady rate."""

    def __init__(self) -> None:
        self.level = 0.0
        self._last = 0.0

    def admit(self, now: float, size: int, leak_per_second: float) -> float:
        """Admit one request at `now`, or refuse it: returns 0, or the seconds to wait."""
        self.level = max(0.0, self.level - (now - self._last) * leak_per_second)
        self._last = now
        if self.level + 1 > size:
            return (self.level + 1 - size) / leak_per_second
        self.level += 1
        return 0.0

    def used(self) -> int:
        """The fill level as Shopify reports it in `X-Shopify-Shop-Api-Call-Limit`."""
        return math.ceil(self.level)


class DailyQuota:
    """At most `limit` units per key in each UTC day; a new day starts from 0."""

    def __init__(self) -> None:
        self._used: dict[str, tuple[date, int]] = {}

    def take(self, key: str, now: float, wanted: int, limit: int) -> int:
        """Take up to `wanted` of today's `limit` for `key` at `now` (epoch seconds): how
        many were granted (the rest are over the limit)."""
        today = datetime.fromtimestamp(now, UTC).date()
        day, used = self._used.get(key, (today, 0))
        used = used if day == today else 0
        granted = max(0, min(wanted, limit - used))
        self._used[key] = (today, used + granted)
        return granted


class PacedQueue:
    """Items leave each key's queue at a steady rate, in the order they were queued."""

    def __init__(self) -> None:
        self._free_at: dict[str, float] = {}

    def enqueue(self, key: str, now: float, count: int, per_second: float) -> float:
        """Queue `count` items at `now`: the seconds the first waits for its turn."""
        start = max(now, self._free_at.get(key, now))
        self._free_at[key] = start + count / per_second
        return start - now
