"""How a value that breaks a JSON Schema is named: one rule for the REST API's checks and
the kernel's checks of action inputs, which must not load the server's modules; and where a
schema's references lead, for the recipes' and connectors' checks of their schemas."""

from __future__ import annotations

import copy
import functools
import json
import re
import sys
from collections import deque
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, NamedTuple

import jsonschema
from jsonschema.exceptions import best_match
from jsonschema_specifications import REGISTRY as SPECIFICATIONS
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

from .scalars import whole

if TYPE_CHECKING:
    from referencing._core import Resolver  # referencing exports it nowhere else

#: How an E.164 `pattern` starts (the SDK's `E164_PATTERN`, and the ways recipes write it).
E164_START = ("^\\+[1-9]", "^[+][1-9]")
E164_SAID = "a phone number in E.164 (+, the country code and the number, digits only)"
#: The number refusals give as an example of E.164.
E164_EXAMPLE = "+14155550100"
#: A schema's words for what its `pattern` asks (`"x-pattern-said": "an https:// URL"`): a
#: value it refuses is said to be no such thing, as an E.164 number is, where quoting the
#: regular expression (`^[1-9][0-9]*(?!\n)$`) told a user nothing they could act on.
PATTERN_SAID = "x-pattern-said"


def is_e164_pattern(pattern: Any) -> bool:
    """Whether a schema's `pattern` asks for an E.164 number: a value it refuses is then
    said to be no E.164 phone number, not shown the regular expression. It must start as
    E.164 patterns do and take `E164_EXAMPLE`: a pattern of the recipe's own (a space after
    the country code) refused a valid E.164 number saying it was none, with that example."""
    text = str(pattern)
    try:
        return text.startswith(E164_START) and re.search(text, E164_EXAMPLE) is not None
    except re.error:
        return False


def _only_ints(checker: Any, instance: Any) -> bool:
    return isinstance(instance, int) and not isinstance(instance, bool)


#: JSON Schema's validator, but an `integer` is an int only (JSON Schema's own takes 3.0 for
#: one): a parameter's `list[int]` item as strictly as the parameter itself, and where a
#: call's input has 3.0 of the wrong type, the place its schema types `integer`.
IntsOnly = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("integer", _only_ints),
)


def integers_as_ints(schema: dict[str, Any], value: Any) -> Any:
    """`value` with each integral float that `schema` types `integer` as an int (3.0 and
    3e2 as 3 and 300), wherever the schema declares it (a `$ref`, an `allOf`, a branch of
    an `anyOf`, an array's items): JSON has one number type and a bot's JSON library may
    write 3 as 3.0, which JSON Schema takes as an integer while a recipe's `range(n)` fails
    on it. A float with a fraction stays, for the input check to refuse; `value` is not
    changed. Raises `referencing`'s `Unresolvable` as the check does."""
    errors, places = deque(IntsOnly(schema).iter_errors(value)), []
    while errors:  # the schema's own errors, then each branch's
        error = errors.popleft()
        errors.extend(error.context or ())
        kinds = error.validator_value if error.validator == "type" else ()
        integral = whole(error.instance) is not None  # an int is no error: a float
        if integral and "integer" in ([kinds] if isinstance(kinds, str) else kinds):
            places.append(list(error.absolute_path))
    if not places:
        return value
    if [] in places:  # the value itself
        return whole(value)
    value = copy.deepcopy(value)
    for *way, last in places:
        holder = value
        for part in way:
            holder = holder[part]
        holder[last] = whole(holder[last])
    return value


#: The formats a schema's `format` asks for are checked, not only annotations (as JSON
#: Schema's default has them): an `email` or a `date-time` a recipe names is what it gets.
FORMATS = jsonschema.FormatChecker(())
FORMATS.checkers = dict(jsonschema.Draft202012Validator.FORMAT_CHECKER.checkers)


@functools.cache
def _iri_syntax() -> Callable[[str, str], bool]:
    """rfc3987-syntax's check, imported at the first IRI a schema asks for: lpstudio's
    processes go without it (`lpstudio/__init__.py`: its import costs seconds), so
    jsonschema's own `iri` and `iri-reference` checks were missing and any text passed."""
    if "rfc3987_syntax" in sys.modules and sys.modules["rfc3987_syntax"] is None:
        del sys.modules["rfc3987_syntax"]
    from rfc3987_syntax import is_valid_syntax

    return is_valid_syntax


for _format, _rule in (("iri", "iri"), ("iri-reference", "iri_reference")):

    def _is(instance: object, rule: str = _rule) -> bool:
        return not isinstance(instance, str) or _iri_syntax()(rule, instance)

    FORMATS.checks(_format, raises=ValueError)(_is)


def first_error(schema: dict[str, Any], instance: Any) -> jsonschema.ValidationError | None:
    """The first way `instance` breaks `schema` (the one nearest its root), its `format`s
    included (`FORMATS`); None when it fits."""
    validator = jsonschema.Draft202012Validator(schema, format_checker=FORMATS)
    errors = validator.iter_errors(instance)
    return min(errors, key=lambda e: [str(p) for p in e.absolute_path], default=None)


def first_problem(schema: dict[str, Any], instance: Any) -> tuple[str | None, str] | None:
    """The first way `instance` breaks `schema` as (field, message); None when it fits
    (`first_error`).

    The field is the dotted path to the value, or the missing or unexpected property."""
    error = first_error(schema, instance)
    return None if error is None else problem_of(error)


def problem_of(error: jsonschema.ValidationError) -> tuple[str | None, str]:
    """A schema's refusal as (field, message): `first_problem`'s words for `error`."""
    path = [str(p) for p in error.absolute_path]
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [p for p in error.validator_value if p not in error.instance]
        path.append(str(missing[0]) if missing else "")
    elif error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = set(error.schema.get("properties", {}))
        extra = sorted(str(k) for k in error.instance if k not in known)
        path.append(extra[0] if extra else "")
    field = ".".join(p for p in path if p) or None
    if error.validator == "pattern" and is_e164_pattern(error.validator_value):
        return field, f"{refused_value(error.instance)} is not {E164_SAID}, such as {E164_EXAMPLE}"
    return field, said_in_words(error) or said_in_json(error)


#: A JSON type in words, as a refusal's fix asks for it.
TYPE_WORDS = {
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "string": "a string",
    "array": "a list",
    "object": "a mapping (JSON object)",
}


def spelled_as_text(
    schema: dict[str, Any], instance: Any, at: list[Any], written: str | None = None
) -> str | None:
    """The text that the number or true/false at path `at` of `instance` stands for: as it
    was `written` (YAML's `+14155550199`, read as 14155550199), else as JSON writes it
    (12345 for `"consumer_id": 12345`, a bot's variable left out of quotes), when `schema`
    takes that text in its place; None for any other value (null, a list, an
    object), or for text refused there too (`1` for a choice of "sms" and "wa"). The whole
    schema judges it: a field may be declared through a `$ref` or a branch of an `anyOf`."""
    value = instance
    for part in at:
        value = value[part]
    if value is None or not isinstance(value, bool | int | float):
        return None
    text = json.dumps(value) if written is None else written
    changed: Any = text
    if at:  # a copy holding the text in the value's place
        changed = holder = copy.deepcopy(instance)
        for part in at[:-1]:
            holder = holder[part]
        holder[at[-1]] = text
    errors = jsonschema.Draft202012Validator(schema, format_checker=FORMATS).iter_errors(changed)
    refused = any(list(error.absolute_path)[: len(at)] == at for error in errors)
    return None if refused else text


def in_quotes_fix(key: str | None, text: str, bot: bool = False) -> str:
    """The fix of a number or true/false sent where `key` (a list's item: None) takes
    `text` (`spelled_as_text`): the same in quotes, as the JSON it came in writes it; for a
    `bot`'s call, as Conversation Builder quotes its variable (`"{$botContext.x}"`)."""
    quoted = json.dumps(text) if key is None else f"{json.dumps(key)}: {json.dumps(text)}"
    fix = f"send it as text, in quotes: {quoted}"
    return fix + (
        f' (a bot\'s variable in quotes too: "{{$botContext.{key}}}")' if bot and key else ""
    )


#: Each bound keyword of a number, a text or a list, as the fix for a value past it says it.
_BOUNDS = {
    "minimum": "at least {}",
    "maximum": "at most {}",
    "exclusiveMinimum": "above {}",
    "exclusiveMaximum": "below {}",
    "minLength": "of at least {} character(s)",
    "maxLength": "of at most {} character(s)",
    "minItems": "of at least {} item(s)",
    "maxItems": "of at most {} item(s)",
}


def fix_in_words(error: jsonschema.ValidationError) -> str | None:
    """What to give instead of the value `error` refuses, read from the schema that
    refused it: a range (both its ends where the schema has both), a type with the
    schema's example, the fields an object takes, the choices of an `enum`, what a
    `pattern` asks for. None where the error says nothing more useful than the schema, so
    the caller points at the schema itself: "see the request schema" told a client that
    sent 0 for a rate from 1 to 100000 nothing it could act on."""
    keyword, limit = error.validator, error.validator_value
    own = error.schema if isinstance(error.schema, dict) else {}
    if keyword == "enum" and isinstance(limit, list):
        return "use one of: " + ", ".join(as_json(choice) for choice in limit)
    if keyword == "type":
        return "give " + _type_in_words(limit) + _example(own)
    if keyword in ("minimum", "maximum") and "minimum" in own and "maximum" in own:
        return f"give a number from {own['minimum']} to {own['maximum']}"
    if keyword in _BOUNDS:
        what = "a number" if str(keyword).endswith("imum") else "a value"
        return f"give {what} {_BOUNDS[str(keyword)].format(limit)}"
    if keyword == "additionalProperties" and isinstance(error.instance, dict):
        known = list(own.get("properties", {}))
        extra = next((k for k in sorted(map(str, error.instance)) if k not in known), None)
        if extra is not None:
            takes = ", ".join(known) if known else "none"
            return f"leave out {extra!r}: the fields are {takes}"
    if keyword == "required" and isinstance(error.instance, dict):
        missing = next((str(k) for k in limit if k not in error.instance), None)
        said = own.get("properties", {}).get(missing, {})
        about = said.get("description") if isinstance(said, dict) else None
        return f"add {missing!r}" + (f" ({about})" if about else "")
    if keyword == "format":
        return f"give text in the {limit} format" + _example(own)
    return _pattern_fix(error)


def expected(schema: dict[str, Any]) -> str:
    """What a query parameter, a body's field or a call's input field takes, for the fix of
    its error: its values, its range, or what its description says."""
    if "enum" in schema:
        return "one of: " + ", ".join(map(str, schema["enum"]))
    if schema.get("type") == "boolean":
        return "true or false"
    if schema.get("type") not in ("integer", "number"):
        return str(schema.get("description") or schema.get("type", "text"))
    kind = "a whole number" if schema["type"] == "integer" else "a number"
    low, high = schema.get("minimum"), schema.get("maximum")
    if low is not None and high is not None:
        return f"{kind} from {low} to {high}"
    if low is not None:
        return f"{kind} of at least {low}"
    if high is not None:
        return f"{kind} of at most {high}"
    return kind


def _pattern_fix(error: jsonschema.ValidationError) -> str | None:
    """What a refused `pattern` asks for: an E.164 number, the schema's own words for it,
    or its regular expression when it gives none."""
    if error.validator != "pattern":
        return None
    if is_e164_pattern(error.validator_value):
        return f"write it as + then digits only, for example: {E164_EXAMPLE}"
    said = pattern_words(error)
    if said is not None:
        return f"give {said}"
    return f"give a value that matches the regular expression {error.validator_value}"


def _type_in_words(kinds: Any) -> str:
    """A `type` keyword's value in words: `["integer", "null"]` as "an integer or null"."""
    listed = [kinds] if isinstance(kinds, str) else list(kinds)
    wanted = " or ".join(TYPE_WORDS.get(kind, kind) for kind in listed if kind != "null")
    return wanted + (" or null" if "null" in listed else "")


def _example(schema: dict[str, Any]) -> str:
    """A schema's first example (or its default, if not null) as a fix shows it."""
    examples = schema.get("examples")
    if isinstance(examples, list) and examples:
        return f", e.g. {as_json(examples[0])}"
    if schema.get("default") is not None:
        return f", e.g. {as_json(schema['default'])}"
    return ""


def pattern_words(error: jsonschema.ValidationError) -> str | None:
    """The words a refused `pattern`'s schema gives for what it asks (`PATTERN_SAID`)."""
    said = error.schema.get(PATTERN_SAID) if isinstance(error.schema, dict) else None
    return said if error.validator == "pattern" and isinstance(said, str) and said else None


def said_in_words(error: jsonschema.ValidationError) -> str | None:
    """A refused `pattern` said by its schema's words, not its regular expression; None
    where the schema gives none."""
    said = pattern_words(error)
    if said is None:
        return None
    # Under `propertyNames` the refused value is a key of the object the error is at.
    named = list(error.schema_path)[-2:-1] == ["propertyNames"]
    return f"{'the name ' if named else ''}{refused_value(error.instance)} is not {said}"


#: The longest refused value a message quotes as it is; a longer one is said by its size.
SHOWN_VALUE = 60


def refused_value(value: Any) -> str:
    """A refused value as a message quotes it: as the JSON that gave it, a long one by its
    kind and size alone (a 5000-character name filled the form's error). Not cut to its
    start: a cut could end inside a secret, which masking then no longer finds whole. A
    value JSON has no form for (a Python `datetime` given from code) is named by its type:
    its length, or its repr, would speak of characters of something that is no text."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return f"a Python {type(value).__name__}"
    if len(text) <= SHOWN_VALUE:
        return text
    if isinstance(value, str):
        return f"a text of {len(value)} characters"
    if isinstance(value, list):
        return f"a list of {len(value)} items"
    if isinstance(value, dict):
        return f"an object of {len(value)} fields"
    return f"a value of {len(text)} characters"


def as_json(value: Any) -> str:
    """A value as the JSON that gave it (`true`, `null`, `"a"`), its repr when it is none."""
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def said_in_json(error: jsonschema.ValidationError | jsonschema.SchemaError) -> str:
    """jsonschema's message with the refused value (and an enum's choices) written as JSON:
    its own quote Python (`True is not of type 'integer'`) to clients that sent `true`. An
    exclusive bound is said as the README says it (`it must be above 0, not 0`): jsonschema
    said 0 "is less than or equal to the minimum of 0", a minimum 0 itself would meet.

    A schema that is no JSON Schema (`SchemaError`) failing alternatives of the
    meta-schema is said by the one nearest its value (`_nearest`): "'strin' is not valid
    under any of the given schemas" named schemas its author never wrote, where
    `"strin" is not one of ["array", ...]` says what `type` takes."""
    if isinstance(error, jsonschema.SchemaError) and error.context:
        return said_in_json(_nearest(error.context))
    message, said = error.message, repr(error.instance)
    if error.validator in ("exclusiveMinimum", "exclusiveMaximum"):
        bound = _BOUNDS[str(error.validator)].format(as_json(error.validator_value))
        return f"it must be {bound}, not {refused_value(error.instance)}"
    if not message.startswith(said):
        return message
    if error.validator == "enum" and isinstance(error.validator_value, list):
        return f"{refused_value(error.instance)} is not one of {as_json(error.validator_value)}"
    return refused_value(error.instance) + message[len(said) :]


def _nearest(errors: list[jsonschema.ValidationError]) -> jsonschema.ValidationError:
    """Of the ways a value fails each alternative, the one at its deepest part (the item
    `"strin"` of `"type": ["string", "strin"]`, not the list), then jsonschema's best."""
    deepest = max(len(error.absolute_path) for error in errors)
    return best_match(error for error in errors if len(error.absolute_path) == deepest)


#: Keywords whose values are data, not schemas: a `$ref` there is no reference.
_DATA_KEYWORDS = frozenset({"default", "const", "enum", "examples"})


#: Keywords whose values map names (a property's, a definition's) to subschemas.
_NAMED_SCHEMAS = frozenset(
    {"properties", "$defs", "definitions", "patternProperties", "dependentSchemas"}
)


#: The keywords that refer to another part of a schema: jsonschema resolves a `$dynamicRef`
#: from where it stands first, as a `$ref` (then, to a `$dynamicAnchor`, in the dynamic
#: scope), so one that leads nowhere fails as a `$ref` does.
_REFERENCES = ("$ref", "$dynamicRef")


class Reference(NamedTuple):
    """One reference of a schema (`references`)."""

    #: The path to the object that holds it.
    path: tuple[Any, ...]
    #: Its keyword (`_REFERENCES`).
    keyword: str
    #: The reference itself.
    ref: str
    #: The path to the object whose `$id` it is resolved against: () for the root's base.
    base: tuple[Any, ...]
    #: It resolved from where it stands, as jsonschema resolves it when a value is checked.
    resolver: Resolver


def references(schema: Any) -> Iterator[Reference]:
    """Every reference of a JSON Schema that jsonschema follows when it checks a value:
    not in data (`default`, `enum`...), and under a nested `$id` too, resolved against that
    base, as jsonschema's validator resolves it (with the meta-schemas it knows: a `$ref`
    to the 2020-12 one resolves; other documents are not fetched)."""
    resolver = SPECIFICATIONS.resolver_with_root(DRAFT202012.create_resource(schema))
    yield from _references(schema, (), (), resolver, named=False)


def _references(
    node: Any, path: tuple[Any, ...], base: tuple[Any, ...], resolver: Resolver, named: bool
) -> Iterator[Reference]:
    """`references` of `node`, found at `path` in a resource whose `$id` is at `base`.
    `named`: `node` maps names to subschemas (a property may be named `default`)."""
    if isinstance(node, dict) and named:
        for key, value in node.items():
            yield from _references(value, (*path, key), base, resolver, named=False)
    elif isinstance(node, dict):
        if isinstance(node.get("$id"), str):  # its own base, for its own references too
            resolver, base = resolver.in_subresource(DRAFT202012.create_resource(node)), path
        for keyword in _REFERENCES:
            if isinstance(node.get(keyword), str):
                yield Reference(path, keyword, node[keyword], base, resolver)
        for key, value in node.items():
            if key not in _DATA_KEYWORDS:
                yield from _references(value, (*path, key), base, resolver, key in _NAMED_SCHEMAS)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _references(value, (*path, index), base, resolver, named=False)


def dangling_reference(schema: Any) -> Reference | None:
    """The first reference of `schema` (`references`) that resolves to nothing: jsonschema
    follows one only when a value is checked, so it would fail every check of a value with
    referencing's `Unresolvable`, naming neither the schema nor its owner."""
    for reference in references(schema):
        try:
            reference.resolver.lookup(reference.ref)
        except Unresolvable:
            return reference
    return None


def schema_keywords(
    schema: Any, path: tuple[Any, ...] = ()
) -> Iterator[tuple[tuple[Any, ...], str]]:
    """Each keyword of a JSON Schema and of its subschemas, with the path to the object
    holding it: subschemas as `referencing` finds them for 2020-12 (under `properties`,
    `items`, `allOf`...), not data (`examples`, `enum`) nor the values of unknown keywords,
    which no validator reads. `schema` must be JSON Schema (`check_schema`) already."""
    if not isinstance(schema, dict):
        return
    for key in schema:
        yield path, key
    # `subresources_of` gives the subschemas themselves, not where they are: found by identity.
    children = {id(child) for child in DRAFT202012.subresources_of(schema)}
    for key, value in schema.items():
        if id(value) in children:
            yield from schema_keywords(value, (*path, key))
            continue
        inner = enumerate(value) if isinstance(value, list) else ()
        inner = value.items() if isinstance(value, dict) else inner
        for part, item in inner:
            if id(item) in children:
                yield from schema_keywords(item, (*path, key, part))
