"""JSON as every JSON client reads it.

Python's `json` reads and writes NaN and Infinity, which are not JSON: a value holding them,
once stored, makes every later answer that includes it unreadable to a browser or a bot.
Input from outside (request bodies, webhook deliveries) is read with `loads`, which refuses
them like any other malformed JSON.
"""

from __future__ import annotations

import json
import math
from typing import Any


def _refuse(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    """A JSON number as a float; one past a float's range (1e400) would be infinity."""
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text} is not a JSON number a float holds (too large)")
    return number


def loads(raw: str | bytes) -> Any:
    """`json.loads` without NaN, Infinity and -Infinity, written or reached by a number too
    large for a float (`ValueError`, as malformed JSON)."""
    return json.loads(raw, parse_constant=_refuse, parse_float=_finite)
