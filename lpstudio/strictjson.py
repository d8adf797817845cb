"""JSON as every JSON client reads it.

Python's `json` reads and writes NaN and Infinity, which are not JSON: a value holding them,
once stored, makes every later answer that includes it unreadable to a browser or a bot.
Input from outside (request bodies, webhook deliveries) is read with `loads`, which refuses
them like any other malformed JSON, a name given twice in one object, and a value nested
deeper than `MAX_DEPTH`: what walks it later (checks, masking, storing) recurses, and would
fail on it far from the edge. Each of those refusals, and bytes that are no UTF-8, is a
`NotJson` carrying the fix for its cause, where "send JSON" would not help its sender.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

#: How deep arrays and objects may nest in input: far beyond any real payload.
MAX_DEPTH = 100


#: A UTF-16 surrogate: JSON's `\\ud800` escape reads as one when no pair follows it.
SURROGATE = re.compile("[\ud800-\udfff]")


class NotJson(ValueError):
    """Input that JSON's grammar may take but `loads` refuses (text that is no UTF-8, NaN, a
    name given twice, nesting too deep), with the `fix` for that cause: a caller's own fix
    ("send a JSON object") answers other malformed JSON only (`fix_for`)."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message)
        self.fix = fix


def fix_for(error: ValueError, otherwise: str) -> str:
    """The fix for input `loads` refused with `error`: its cause's (`NotJson`, a trailing
    comma), else `otherwise`, the reader's fix for malformed JSON."""
    if isinstance(error, NotJson):
        return error.fix
    return _trailing_comma(error) or otherwise


def _trailing_comma(error: ValueError) -> str | None:
    """The fix for a comma before the } or ] that closes an object or array, which
    JavaScript and Python take and JSON does not: "send JSON" would not tell its sender,
    who did, what to change. None for any other cause."""
    if not isinstance(error, json.JSONDecodeError):
        return None
    closing = error.doc[error.pos : error.pos + 1]
    if closing not in ("}", "]") or not error.doc[: error.pos].rstrip().endswith(","):
        return None
    return (
        f"remove the comma before {closing} at line {error.lineno}, column {error.colno}: "
        "JSON allows none after an object's or array's last item"
    )


def _refuse(name: str) -> Any:
    raise NotJson(
        f"{name} is not a JSON number",
        "write no NaN, Infinity or -Infinity, which JSON has no form for: use null",
    )


def _finite(text: str) -> float:
    """A JSON number as a float; one past a float's range (1e400) would be infinity."""
    number = float(text)
    if not math.isfinite(number):
        raise NotJson(
            f"{text} is not a JSON number a float holds (too large)",
            "give numbers within a float's range (about ±1.8e308), or the value as a string",
        )
    return number


def depth(value: Any) -> int:
    """How deep arrays and objects nest in `value`, found without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list | tuple):  # tuples: Python values, not JSON's
            deepest = max(deepest, level)
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, level + 1) for child in children)
    return deepest


def _first(value: Any, odd: Callable[[Any], bool]) -> tuple[list[str | int], Any] | None:
    """The first item of `value` (itself, or in a dict, list or tuple at any depth) that is
    `odd`, as (its path: keys and indexes, the item); None when none is. Found without
    recursion."""
    stack: list[tuple[list[str | int], Any]] = [([], value)]
    while stack:
        path, item = stack.pop()
        if odd(item):
            return path, item
        if isinstance(item, dict | list | tuple):  # the first child on top: found first
            children = item.items() if isinstance(item, dict) else enumerate(item)
            stack.extend(([*path, at], child) for at, child in reversed(list(children)))
    return None


def non_finite(value: Any) -> tuple[list[str | int], float] | None:
    """The first NaN or infinity in `value` (a float, or in a dict, list or tuple at any
    depth), as (its path: keys and indexes, the number); None when it holds none. Python's
    own readers take them (a notebook's metadata, YAML's `.nan`), which JSON has no form
    for."""
    return _first(value, lambda item: isinstance(item, float) and not math.isfinite(item))


def not_json(value: Any) -> tuple[list[str | int], Any] | None:
    """The first value in `value` that JSON has no form for (a NaN or infinity, a datetime,
    a Decimal, numpy's int64), as (its path, the value); None when it holds none. A dict's
    keys are not checked: `json.dumps` writes numbers as text, and refuses the rest itself."""
    return _first(
        value,
        lambda item: (
            not isinstance(item, _JSON_TYPES)
            or (isinstance(item, float) and not math.isfinite(item))
        ),
    )


#: What `json.dumps` writes without a `default`: a tuple as a list.
_JSON_TYPES = (str, int, float, type(None), dict, list, tuple)


def dumps(value: Any, **options: Any) -> str:
    """`json.dumps` that every JSON client reads: a NaN or infinity kept from before it was
    refused (an event of an older poll) is written as null, where it made the whole answer
    unreadable (a 500 for every Jobs list holding that job, NaN in `--json`)."""
    try:
        return json.dumps(value, allow_nan=False, **options)
    except ValueError:
        plain = json.loads(
            json.dumps(value, default=options.get("default")), parse_constant=lambda _: None
        )
        return json.dumps(plain, allow_nan=False, **options)


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object whose names are all different: of two values under one name Python's
    parser keeps the last unsaid, where another reader may keep the first (RFC 8259 leaves
    it open), so a body meant one way would run another."""
    found = dict(pairs)
    if len(found) < len(pairs):
        seen: set[str] = set()
        for name, _ in pairs:
            if name in seen:
                raise NotJson(
                    f"the name {name!r} is given twice in one object",
                    "give each name once in an object",
                )
            seen.add(name)
    return found


def _unpaired_surrogate(value: Any) -> str | None:
    """The first text in `value` (a name or a string) holding an unpaired surrogate: no
    Unicode text, it fails whatever encodes it later (the kernel's messages, a file)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if SURROGATE.search(item):
                return item
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


def loads(raw: str | bytes, whole_text: bool = True) -> Any:
    """`json.loads` without NaN, Infinity and -Infinity, written or reached by a number too
    large for a float, nor a name given twice in one object, nor arrays and objects nested
    deeper than `MAX_DEPTH`, nor (`whole_text`) an unpaired surrogate (`\\ud800` alone) in a
    string (`NotJson`, a `ValueError` as malformed JSON is). An app's answer is read without
    that last check: its text cut inside an emoji is the app's, and a recipe may still use
    the rest."""
    try:
        value = json.loads(
            raw, parse_constant=_refuse, parse_float=_finite, object_pairs_hook=_unique
        )
    except UnicodeDecodeError as exc:  # bytes in another charset (ISO-8859-1's é is E9)
        raise NotJson(
            str(exc), "encode the JSON text as UTF-8, as JSON requires (é as the bytes C3 A9)"
        ) from None
    except RecursionError:  # the parser's own limit, about a thousand levels
        value = None
    else:
        if depth(value) <= MAX_DEPTH:
            text = _unpaired_surrogate(value) if whole_text else None
            if text is not None:
                raise NotJson(
                    f"the string {text.encode('utf-8', 'backslashreplace').decode()[:40]!r} "
                    "holds an unpaired surrogate (\\ud800 to \\udfff alone), which is no "
                    "Unicode text",
                    "escape a character beyond \\uffff as its pair (\\ud83d\\ude00 is one "
                    "emoji), or write it as itself in UTF-8",
                )
            return value
    raise nested_too_deep()


def nested_too_deep() -> NotJson:
    return NotJson(
        f"arrays and objects nest deeper than {MAX_DEPTH} levels",
        f"nest arrays and objects at most {MAX_DEPTH} levels deep",
    )


def too_deep(raw: str | bytes) -> NotJson | None:
    """The refusal `loads` gives JSON text whose arrays and objects nest deeper than
    `MAX_DEPTH`, for a reader that takes what `loads` refuses (nbformat's, of a notebook:
    NaN and all) yet recurses on nesting (a RecursionError, far from the edge, that failed
    whatever read the file); None when it nests no deeper, or is no JSON."""
    try:
        value = json.loads(raw)
    except RecursionError:  # the parser's own limit, about a thousand levels
        return nested_too_deep()
    except ValueError:
        return None
    return nested_too_deep() if depth(value) > MAX_DEPTH else None
