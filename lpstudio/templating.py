"""Message templates: `{first_name}` or `{customer.first_name}` filled from a record.

One renderer for the connector that sends and for the form that previews, so the preview
shows exactly what is sent. SMS length uses smsutil's GSM 03.38 / UCS-2 segment rules.
"""

from __future__ import annotations

import string
from typing import Any

MAX_VARIABLE = 1550


class _Fields(string.Formatter):
    def get_field(self, field_name: str, args: Any, kwargs: Any) -> tuple[Any, str]:
        return lookup(kwargs, field_name, missing=KeyError), field_name


FORMATTER = _Fields()


def lookup(record: Any, path: str, missing: Any = None) -> Any:
    """A dotted path in a nested record; `missing` is returned (or raised, if an exception
    class) when a part is absent."""
    value = record
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(missing, type) and issubclass(missing, Exception):
            raise missing(path)
        else:
            return missing
    return "" if value is None else value


def placeholders(template: str) -> list[str]:
    """The `{names}` a template uses, in order; ValueError for a malformed template."""
    return [name for _, name, _, _ in FORMATTER.parse(template) if name]


def render(record: dict[str, Any], variables: dict[str, str]) -> tuple[dict[str, str], str | None]:
    """The variables for one record, or LivePerson-style error code that keeps it unsent."""
    rendered: dict[str, str] = {}
    for name, template in variables.items():
        try:
            value = FORMATTER.format(template, **record)
        except KeyError as exc:
            return {}, f"MISSING_FIELD={exc.args[0]}"
        except (ValueError, IndexError) as exc:
            return {}, f"BAD_TEMPLATE={name}: {exc}"
        if len(value) > MAX_VARIABLE:
            return {}, f"VARIABLE_TOO_LONG={name}"
        rendered[name] = value
    return rendered, None


def sms_segments(text: str) -> tuple[int, str]:
    """How many SMS a text takes, and its encoding (gsm0338 or utf_16_be)."""
    import smsutil

    if not text:
        return 0, "gsm0338"
    result = smsutil.split(text)
    return len(result.parts), result.encoding


def flatten_schema(schema: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted field paths of an object schema, for placeholder pick lists."""
    paths: list[str] = []
    for name, spec in (schema.get("properties") or {}).items():
        path = f"{prefix}{name}"
        if spec.get("type") == "object" and spec.get("properties"):
            paths.extend(flatten_schema(spec, f"{path}."))
        elif spec.get("type") != "array":
            paths.append(path)
    return paths
