"""What the CLI writes, readable on any terminal: streams that escape what their encoding
cannot take, JSON that stays JSON on them, values as people read them, table columns padded
by display width.

A Latin-1 or cp1252 console (`PYTHONIOENCODING=latin-1`, a redirect on such a locale) took
a recipe named in Japanese with a UnicodeEncodeError after the work was done: `run` exited 1
for a job that succeeded (a rerun under cron, a second send), `settings -p` saved and then
failed. Tables padded by code points went out of line on CJK, emoji and combining accents.
"""

from __future__ import annotations

import sys
from typing import Any, Literal

import wcwidth

from .. import strictjson


def escaping_streams() -> None:
    """Makes stdout and stderr write what their encoding cannot take as `\\u30ad` escapes,
    once, before anything is printed: a name the terminal cannot show is still told apart,
    and the exit code keeps its meaning. A handler the user chose (`PYTHONIOENCODING=
    latin-1:replace`) is kept."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None and getattr(stream, "errors", None) == "strict":
            reconfigure(errors="backslashreplace")


def json_document(data: Any) -> str:
    """`--json`'s document: its text as it is where stdout can encode it, else with JSON's
    own `\\u30ad` escapes, so that it stays JSON (the stream's `\\x` escapes would not be)."""
    text = strictjson.dumps(data, indent=2, default=str, ensure_ascii=False)
    try:
        text.encode(getattr(sys.stdout, "encoding", None) or "utf-8")
    except UnicodeEncodeError:  # an unpaired surrogate too, kept from before it was refused
        return strictjson.dumps(data, indent=2, default=str)
    return text


def value_text(value: Any) -> str:
    """A value on a line of text (a job's params, event and result, an audit entry's detail,
    a saved setting): JSON as its reader wrote it, `été 👋`, not `\\u00e9t\\u00e9 \\ud83d...`."""
    return strictjson.dumps(value, ensure_ascii=False, default=str)


def cell(text: Any, width: int, align: Literal["<", ">"] = "<") -> str:
    """`text` padded to `width` terminal columns, as `f"{text:<width}"` pads to code points:
    a Japanese character or an emoji takes two columns, a combining accent none."""
    pad = wcwidth.ljust if align == "<" else wcwidth.rjust
    return pad(str(text), width)
