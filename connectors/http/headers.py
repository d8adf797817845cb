"""Which headers can be sent at all: checked before sending, so that a bad one is named by
its field instead of failing inside httpx as "no answer" (with its value, perhaps a
credential, in the message)."""

from __future__ import annotations

import re

from lpstudio.errors import InputError

# RFC 9110: a field name is a token; a value is visible ASCII with inner spaces or tabs
# (httpx sends header values as ASCII).
NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
VALUE = re.compile(r"([\x21-\x7e]([\x20-\x7e\t]*[\x21-\x7e])?)?")
# httpx sets these from the body: a recipe's own value would contradict it.
COMPUTED = {"content-length", "transfer-encoding"}


def name_problem(name: str) -> str | None:
    """Why `name` cannot be a header name, or None."""
    if not NAME.fullmatch(name):
        return "is not a header name (letters, digits and - only; no spaces or line breaks)"
    return None


def value_problem(value: str) -> str | None:
    """Why `value` cannot be a header value, or None. Never quotes the value."""
    if not VALUE.fullmatch(value):
        return (
            "holds a line break, a space at an end, or a character outside ASCII, "
            "which no HTTP header can carry"
        )
    return None


def check_headers(headers: dict[str, str]) -> None:
    """InputError naming `headers.<name>` for the first header a request cannot carry."""
    for name, value in headers.items():
        problem = name_problem(name) or value_problem(value)
        if name.lower() in COMPUTED:
            problem = "is set from the body by the connector"
        if problem:
            raise InputError(
                f"header '{name}' {problem}",
                field=f"headers.{name}",
                fix="remove the header"
                if name.lower() in COMPUTED
                else "give a header name and a one-line ASCII value",
            )
