"""Rate-limit buckets shared by every process of a machine: pyrate-limiter's SQLite bucket,
one file, under a file lock. Kernels use them to keep an account's API within its limit
across jobs; servers use them to hold each API client to its calls per minute and its quota
of calls per day."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from .workspace import runtime_folder


class SharedBuckets:
    """The buckets in the SQLite file at `path`, one per (key, limit, period in ms)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._buckets: dict[tuple[str, int, int], Any] = {}
        self._lock = threading.Lock()

    def get(self, key: str, limit: int, period: Any) -> Any:
        """The bucket allowing `limit` items per `period` (ms, or a pyrate-limiter
        `Duration`) under `key`, made on first use."""
        from pyrate_limiter import Rate, SQLiteBucket

        period_ms = int(getattr(period, "value", period))
        with self._lock:
            bucket = self._buckets.get((key, limit, period_ms))
            if bucket is None:
                runtime_folder(self.path.parent)
                safe = "".join(c if c.isalnum() else "_" for c in key)
                bucket = SQLiteBucket.init_from_file(
                    [Rate(limit, period_ms)],
                    table=f"rl_{safe}_{limit}_{period_ms}",
                    db_path=str(self.path),
                    use_file_lock=True,
                )
                self._buckets[(key, limit, period_ms)] = bucket
            return bucket
