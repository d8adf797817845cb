"""What the server's log has said of hooks that took no delivery (`HookHandler.say_not_ready`).

A sender retries a refused delivery for hours (503, `Retry-After`), and each retry would say
the same reason again: each is said once per hook. Kept for the server's life, the record
grew with every hook and reason it met, and a hook mended then broken again was never said
again, though its admin would look in the log for why. So a hook's reasons are forgotten
when it takes a delivery, and at most `limit` are kept, the oldest forgotten first.
"""

from __future__ import annotations

import threading
from collections import Counter


class UnreadyHooks:
    """The (hook id, reason) pairs the log has said, bounded; safe across the server's
    threads (a delivery's reason is said in one of its workers)."""

    def __init__(self, limit: int = 1024) -> None:
        self.limit = limit
        self._said: dict[tuple[str, str], None] = {}  # oldest first
        self._hooks: Counter[str] = Counter()  # how many reasons each hook has said
        self._lock = threading.Lock()

    def first(self, hook_id: str, reason: str) -> bool:
        """Whether `reason` is new for the hook (to be said), which it no longer is after."""
        key = (hook_id, reason)
        with self._lock:
            if key in self._said:
                return False
            self._said[key] = None
            self._hooks[hook_id] += 1
            if len(self._said) > self.limit:
                oldest = next(iter(self._said))
                del self._said[oldest]
                self._drop(oldest[0])
            return True

    def ready(self, hook_id: str) -> None:
        """Forgets what was said of the hook, which took a delivery: broken again, it is
        said again. No work for a hook never said (every delivery calls this)."""
        if not self._hooks[hook_id]:
            return
        with self._lock:
            for key in [key for key in self._said if key[0] == hook_id]:
                del self._said[key]
                self._drop(hook_id)

    def _drop(self, hook_id: str) -> None:
        self._hooks[hook_id] -= 1
        if not self._hooks[hook_id]:
            del self._hooks[hook_id]
