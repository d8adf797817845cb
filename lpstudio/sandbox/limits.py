"""The two rate limiters the emulated APIs enforce, with the clock passed in.

LivePerson counts requests in a sliding one-second window; Shopify's REST API is a leaky
bucket. Both answer how long to wait, which becomes the `Retry-After` header. Taking `now`
as an argument keeps them pure: the caller owns the clock and the lock.
"""

from __future__ import annotations

import math
from collections import deque


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
