"""Rate-limit buckets shared by every process of a machine: pyrate-limiter's SQLite bucket,
one file, under a file lock. Kernels use them to keep an account's API within its limit
across jobs; servers use them to hold each API client to its calls per minute and its quota
of calls per day."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .workspace import runtime_folder


class SharedBuckets:
    """The buckets in the SQLite file at `path`, one per key and its rates (limit,
    period in ms)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._buckets: dict[tuple[str, tuple[tuple[int, int], ...]], Any] = {}
        self._lock = threading.Lock()

    def get(self, key: str, limit: int, period: Any) -> Any:
        """The bucket allowing `limit` items per `period` (ms, or a pyrate-limiter
        `Duration`) under `key`, made on first use."""
        return self.get_rates(key, [(limit, period)])

    def get_rates(self, key: str, rates: Sequence[tuple[int, Any]]) -> Any:
        """The bucket under `key` allowing an item only while each (limit, period) of `rates`
        has room, made on first use: one table, so a put is counted in every rate or in
        none. pyrate-limiter wants the rates ever longer, with ever larger limits and never
        denser."""
        from pyrate_limiter import Rate, SQLiteBucket

        periods = tuple((limit, int(getattr(period, "value", period))) for limit, period in rates)
        with self._lock:
            bucket = self._buckets.get((key, periods))
            if bucket is None:
                runtime_folder(self.path.parent)
                bucket = SQLiteBucket.init_from_file(
                    [Rate(limit, period_ms) for limit, period_ms in periods],
                    table=_table(key, periods),
                    db_path=str(self.path),
                    use_file_lock=True,
                )
                self._buckets[(key, periods)] = bucket
            return bucket


def _table(key: str, periods: tuple[tuple[int, int], ...]) -> str:
    """The table of a key and its rates: named by a hash of both, as SQL names take neither
    as they are, and a name made of them with their other characters replaced would give
    two keys one count (`q-a` and `q_a`; `a` at 5 a minute and `a_5_60000`)."""
    named = json.dumps([key, periods], separators=(",", ":"))
    return "rl_" + hashlib.sha256(named.encode()).hexdigest()[:24]
