"""Message templates: `{first_name}` or `{customer.first_name}` filled from a record.

One renderer for the connector that sends and for the form that previews, so the preview
shows exactly what is sent. SMS length uses smsutil's GSM 03.38 / UCS-2 segment rules.
"""

from __future__ import annotations

import math
import string
import sys
from typing import Any

MAX_VARIABLE = 1550
#: The SMS body LivePerson sends as one message; a longer one goes as several.
SMS_BODY = 140


#: Format types that take a number: `{total_price:.2f}` on the text "188.9" formats it.
_NUMBER_TYPES = frozenset("bcdoxXn") | frozenset("eEfFgG%")


class _Fields(string.Formatter):
    def parse(self, format_string: str) -> Any:
        for literal, name, spec, conversion in super().parse(format_string):
            if name == "" or (name is not None and name.isdigit()):
                raise ValueError(
                    f"the placeholder {{{name}}} names no field: put a record field's name "
                    "inside the braces, e.g. {first_name}"
                )
            yield literal, name, spec, conversion

    def get_field(self, field_name: str, args: Any, kwargs: Any) -> tuple[Any, str]:
        return lookup(kwargs, field_name, missing=KeyError), field_name

    def format_field(self, value: Any, format_spec: str) -> str:
        """Numbers that arrive as text (Shopify's prices, a web form's fields) take number
        formats; a missing value (empty) renders empty whatever its format."""
        if isinstance(value, str) and format_spec and format_spec[-1] in _NUMBER_TYPES:
            if not value.strip():
                return ""
            value = _number(value, format_spec[-1])
        return super().format_field(value, format_spec)


def _number(text: str, kind: str) -> Any:
    """The number a text holds, for format type `kind`; the text itself if it holds none."""
    from decimal import Decimal, InvalidOperation

    try:
        return int(text.strip(), 10) if kind in "bcdoxX" else Decimal(text.strip())
    except (ValueError, InvalidOperation):
        return text  # formatting fails as before, naming the format and the type


FORMATTER = _Fields()


def lookup(record: Any, path: str, missing: Any = None) -> Any:
    """A dotted path in a nested record; `missing` is returned (or raised, if an exception
    class) when a part is absent. A part that is there but empty (Shopify's `customer` of a
    guest checkout is null) makes the fields below it empty too, not absent."""
    value = record
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif value is not record and is_missing(value):
            return ""
        elif isinstance(missing, type) and issubclass(missing, Exception):
            raise missing(path)
        else:
            return missing
    return "" if is_missing(value) else value


def is_missing(value: Any) -> bool:
    """None, or the NaN, NA or NaT a DataFrame holds in its place: pandas turns a missing
    text into NaN (in pandas 3, whenever its column holds text), and a recipient's record
    must never say "nan" in a message or be sent to the address "nan"."""
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    pandas = sys.modules.get("pandas")  # only a record made by pandas can hold NA or NaT
    return pandas is not None and (value is pandas.NA or value is pandas.NaT)


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
