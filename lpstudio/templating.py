"""Message templates: `{first_name}` or `{customer.first_name}` filled from a record.

One renderer for the connector that sends and for the form that previews, so the preview
shows exactly what is sent. Placeholders take Python's format specs, numbers that arrive as
text included; a format that no value could take is refused when the template is read
(`placeholders`), and one that a record's value does not take raises `TemplateError` naming
the placeholder, what the field holds and what to write instead. SMS length uses smsutil's
GSM 03.38 / UCS-2 segment rules.

A handoff's own message has LivePerson's `{{1}}`, `{{2}}`... filled by the body variables:
whether the variables fit them (`variables_misfit`) is decided here too, once for the dry
run and for `handoff_fit` (the form, saved settings, a run given them), so all refuse what
LivePerson refuses, with its code.
"""

from __future__ import annotations

import math
import re
import string
import sys
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .errors import InputError

MAX_VARIABLE = 1550
#: The LivePerson connection's field that says how many characters LivePerson sends as one
#: SMS (a longer body goes as several); its default is the connector's.
CHARACTERS_PER_SMS = "characters_per_sms"


#: Format types that take a number: `{total_price:.2f}` on the text "188.9" formats it.
_NUMBER_TYPES = frozenset("bcdoxXn") | frozenset("eEfFgG%")
_WHOLE_TYPES = frozenset("bcdoxX")
#: Python's format spec mini-language, to tell a number format from a text one.
_SPEC = re.compile(
    r"(?:(?P<fill>.)?(?P<align>[<>=^]))?(?P<sign>[-+ ])?(?P<z>z)?(?P<alt>#)?(?P<zero>0)?"
    r"(?P<width>\d+)?(?P<grouping>[,_])?(?:\.(?P<precision>\d+))?(?P<type>[a-zA-Z%])?",
    re.DOTALL,
)
#: The largest power of ten a number may have to be formatted (a float's is 308): past it,
#: "1e999999999" would take a kernel hours to write out.
_LARGEST = 400
#: A strftime directive: a date or time value takes any format, read as one.
_DATE_FORMAT = re.compile(r"%[a-zA-Z]")
#: One value of each kind a record holds, to find a format none of them takes.
_KINDS: tuple[Any, ...] = ("1", 1, Decimal("1.5"))


class TemplateError(ValueError):
    """A placeholder whose format its value does not take, or that no value could take; the
    message names the placeholder, what the field holds and what to write instead."""


@dataclass(frozen=True)
class _Field:
    """A looked-up value with its placeholder, so that a failing format can name both."""

    name: str
    value: Any
    conversion: str | None = None

    def placeholder(self, spec: str) -> str:
        conversion = f"!{self.conversion}" if self.conversion else ""
        return f"{{{self.name}{conversion}{':' + spec if spec else ''}}}"


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
        return _Field(field_name, lookup(kwargs, field_name, missing=KeyError)), field_name

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        if not conversion:
            return value
        return _Field(value.name, super().convert_field(value.value, conversion), conversion)

    def format_field(self, value: Any, format_spec: str) -> str:
        """Numbers that arrive as text (Shopify's prices, a web form's fields) take number
        formats; a missing value (empty) renders empty whatever its format; a format the
        value does not take raises `TemplateError` saying what would."""
        field, value = value, value.value
        if isinstance(value, str) and not value:
            return ""
        number = _is_number_format(format_spec)
        try:
            if number and isinstance(value, str | float | Decimal):
                value = _number(value, format_spec)
            return super().format_field(value, format_spec)
        except (ValueError, TypeError) as exc:
            raise TemplateError(_misfit(field, format_spec, exc)) from None


def _is_number_format(spec: str) -> bool:
    """A format that only numbers take: a number type (`d`, `.2f`, `%`), or options that
    Python gives numbers only (`+`, `,`, `08`, `=` alignment)."""
    found = _SPEC.fullmatch(spec)
    if not found:
        return False
    if found["type"]:
        return found["type"] in _NUMBER_TYPES
    return any(found[o] for o in ("sign", "z", "alt", "zero", "grouping")) or (
        found["align"] == "="
    )


def _number(value: str | float | Decimal, spec: str) -> Any:
    """The number a text holds, for a number format, and a whole number for `d` and its kind
    (3.0, as pandas turns an integer column holding a NaN, takes `d` as 3). The value itself
    when it holds no such number (or one too large to write): formatting it then fails, and
    says why. A float otherwise stays a float, with its own shortest digits."""
    try:
        number = Decimal(value.strip()) if isinstance(value, str) else Decimal(value)
    except (ArithmeticError, ValueError):
        return value
    if not number.is_finite() or abs(number.adjusted()) > _LARGEST:
        return value
    if spec[-1:] in _WHOLE_TYPES:
        return int(number) if number == number.to_integral_value() else value
    return number if isinstance(value, str) else value


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _misfit(field: _Field, spec: str, error: Exception) -> str:
    """Why `field` cannot take `spec`, and the placeholder to write instead."""
    value, name, placeholder = field.value, field.name, field.placeholder(spec)
    shown = f"{placeholder} cannot show {name}"
    if isinstance(value, str) and _is_number_format(spec):
        if _number(value, "") is value:
            return (
                f"{shown}: it is the text {_shown(value)}, which holds no number, and "
                f"{spec!r} formats numbers; write {{{name}}} without a format, or a text "
                f"format such as {{{name}:>10}}"
            )
        if spec[-1:] in _WHOLE_TYPES:
            return (
                f"{shown}: it is the text {_shown(value)}, a decimal number, and {spec!r} "
                "takes whole numbers only (prices and amounts often come as text with "
                f"decimals, as Shopify's do); write {{{name}:.2f}} for two decimals, or "
                f"{{{name}:.0f}} to round it"
            )
    if isinstance(value, bool | dict | list):
        if isinstance(value, dict):
            what, write = "an object", f"a field under it, such as {{{name}.<field>}}"
        else:
            what = "true or false" if isinstance(value, bool) else "a list"
            write = f"{{{name}}} without a format"
        return f"{shown}: it is {what} ({_shown(value)}), which takes no format; write {write}"
    if isinstance(value, int | float | Decimal):
        kind, example = ("an integer", "d") if isinstance(value, int) else ("a number", ".2f")
        return (
            f"{shown}: it is {kind} ({_shown(value)}), which {spec!r} does not format "
            f"({error}); write {{{name}}} or a number format such as {{{name}:{example}}}"
        )
    what = f"the text {_shown(value)}" if isinstance(value, str) else f"a {type(value).__name__}"
    return (
        f"{shown}: it is {what}, which {spec!r} does not format ({error}); write {{{name}}} "
        "without a format"
    )


def _check_format(name: str, spec: str, conversion: str | None) -> None:
    """Refuses a conversion or a format that no value could take (`{x:zz}`, `{x!q}`): it
    would fail every recipient alike."""
    placeholder = _Field(name, None, conversion).placeholder(spec)
    if conversion not in (None, "r", "s", "a"):
        raise TemplateError(
            f"{placeholder}: !{conversion} is no conversion; write {{{name}}}, or !r, !s or "
            "!a before the format"
        )
    if "{" in spec or _DATE_FORMAT.search(spec):  # made of other fields; a date's strftime
        return
    for kind in _KINDS:
        try:
            FORMATTER.format_field(_Field(name, kind), spec)
            return
        except TemplateError:
            continue
    raise TemplateError(
        f"{placeholder}: {spec!r} is a format no value takes; write a format of Python's "
        f"format mini-language, such as {{{name}:.2f}} (a number with two decimals), "
        f"{{{name}:,}} (thousands separated) or {{{name}:>10}} (text aligned right)"
    )


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
    """The `{names}` a template uses, in order; ValueError for a malformed template, or
    `TemplateError` for a format or conversion that no value could take."""
    names = []
    for _, name, spec, conversion in FORMATTER.parse(template):
        if name:
            _check_format(name, spec or "", conversion)
            names.append(name)
    return names


def check_placeholders(field: str, template: str, fields: Sequence[str], among: str) -> None:
    """Refuses, as an `InputError` naming `field` (`body_template`, `body_variables.1`), a
    template whose placeholders are not all `fields`, the ones `among` says (`the columns of
    invoices.csv`): a recipe checks what it reads before sending, where each recipient would
    fail one by one. The fix lists the placeholders it may use."""
    unknown = [name for name in placeholders(template) if name not in fields]
    if unknown:
        named = ", ".join(f"{{{name}}}" for name in unknown)
        raise InputError(
            f"{field} uses {named}, not among {among}",
            field=field,
            fix=f"use any of: {', '.join(f'{{{name}}}' for name in fields)}",
        )


def fields_used(templates: Iterable[str]) -> list[str]:
    """The fields some templates' placeholders name, each once in order of use; a template
    that cannot be read names none (its preview says why)."""
    used: dict[str, None] = {}
    for template in templates:
        try:
            used.update(dict.fromkeys(placeholders(template)))
        except ValueError:  # TemplateError too
            continue
    return list(used)


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


def sms_segments(text: str, characters: int | None) -> tuple[int, str]:
    """How many SMS a text takes, and its encoding (gsm0338 or utf_16_be): LivePerson sends
    up to `characters` (a connection's `CHARACTERS_PER_SMS`) as one and splits a longer
    body, even one GSM 03.38 fits; None counts by the encoding alone (a connection whose
    connector sets no such limit)."""
    import smsutil

    if not text:
        return 0, "gsm0338"
    result = smsutil.split(text)
    longer = characters is not None and len(text) > characters
    return max(len(result.parts), 2 if longer else 1), result.encoding


#: LivePerson's placeholders in a handoff's message: {{1}}, {{2}}...
HANDOFF_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")


def numbered(name: str) -> tuple[int, str]:
    """A sort key for body variables in their placeholders' order: 2 before 10."""
    return len(name), name


def variables_misfit(variables: Collection[str], expected: Collection[str]) -> str | None:
    """The code LivePerson refuses each recipient with when the body variables are not the
    handoff's placeholders `expected`: their count first, then the first placeholder not
    given; None when they fit."""
    if len(variables) > len(expected):
        return "TOO_MANY_VARIABLES"
    if len(variables) < len(expected):
        return "INSUFFICIENT_VARIABLES"
    missing = sorted(set(expected) - set(variables), key=numbered)
    return f"MISSING_VARIABLE={missing[0]}" if missing else None


def channels_misfit(given: Collection[str], channels: Collection[str]) -> str | None:
    """The code LivePerson refuses each recipient with when the campaign gives no address
    on a channel of the handoff (`channels`, in the handoff's order): the first such one;
    None when every channel has one. Both name channels as a campaign's `consumerContent`
    does (`sms`, `wa`): the handoff list's names are made so where it is read."""
    missing = next((channel for channel in channels if channel not in given), None)
    return None if missing is None else f"MISSING_CONSUMER_INFORMATION=={missing.upper()}"


def record_fields(record: dict[str, Any] | None) -> tuple[list[str], dict[str, Any]]:
    """The fields a recipe's record schema (`metadata.lpstudio.record`) offers templates,
    and its first example, the sample record templates are previewed and checked on."""
    record = record or {}
    examples = record.get("examples") or [{}]
    sample = examples[0] if isinstance(examples, list) and isinstance(examples[0], dict) else {}
    return flatten_schema(record), sample


def required_fields(record: dict[str, Any] | None) -> list[str]:
    """The fields a template's placeholders must be among: those of a closed record schema
    (`"additionalProperties": false`, as a record the recipe builds itself); none for an
    open one, whose records may hold more than it names (a webhook's lead passes its own
    fields through), so that a placeholder it does not name is no error."""
    record = record or {}
    return record_fields(record)[0] if record.get("additionalProperties") is False else []


def preview(template: str, fields: list[str], sample: dict[str, Any]) -> tuple[str, list[str]]:
    """The text a template renders for the sample record, and what keeps it from being sent:
    it cannot be read, a placeholder is none of `fields` (when there are any), the sample's
    value does not take its format, or the text is too long. The form's preview and the
    parameters' check both ask here, so that they refuse the same templates."""
    problems: list[str] = []
    try:
        used = placeholders(template)
    except TemplateError as exc:  # it reads, but its format or conversion never works
        used, problems = [], [str(exc)]
    except ValueError as exc:
        used, problems = [], [f"malformed template: {exc}"]
    unknown = [name for name in used if fields and name not in fields]
    if unknown:
        named = ", ".join("{" + name + "}" for name in unknown)
        problems.append(f"unknown placeholder {named}; use: {', '.join(fields)}")
    rendered = template
    if not problems and used:
        try:  # the sender's own formatter: the preview is what is sent
            rendered = FORMATTER.format(template, **sample)
        except KeyError:
            pass  # the sample lacks a field: its placeholder is shown as it is
        except (ValueError, IndexError) as exc:  # TemplateError says why, and what to write
            problems.append(str(exc))
    if len(rendered) > MAX_VARIABLE:
        problems.append(f"{len(rendered)} characters: over LivePerson's {MAX_VARIABLE}")
    return rendered, problems


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
