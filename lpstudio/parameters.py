"""Recipe parameters: the parameters cell (papermill's tag and conventions) is their one source.

From it comes a JSON Schema (types, defaults, help, plus any refinements the recipe's
`metadata.lpstudio.parameters` adds, such as `enum` or `minimum`) that the CLI, the REST API
and the widget forms all use to coerce and validate values before a job starts. Message
templates among them (`"x-template": true`) are read then too, with the form's own check: a
template no record can fill would otherwise fail only inside the job.
"""

from __future__ import annotations

import ast
import copy
import io
import json
import posixpath
import re
import shlex
import tokenize
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from importlib import resources
from pathlib import Path, PurePath, PurePosixPath
from typing import Any, Literal

import jsonschema

from . import strictjson, strictyaml
from .errors import ParameterError, word
from .jsonschemas import (
    E164_SAID,
    TYPE_WORDS,
    IntsOnly,
    as_json,
    fix_in_words,
    in_quotes_fix,
    integers_as_ints,
    is_e164_pattern,
    pattern_words,
    refused_value,
    said_in_json,
    said_in_words,
    spelled_as_text,
)
from .scalars import SCALARS, NotFinite, from_numpy, parse_scalar, whole
from .strictyaml import Written
from .templating import MAX_VARIABLE, lookup, preview, record_fields, required_fields

_SIMPLE_TYPES = {
    "int": "integer",
    "float": "number",
    "bool": "boolean",
    "str": "string",
    "list": "array",
    "tuple": "array",
    "dict": "object",
}
_PY_TYPES = {
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    list: "array",
    tuple: "array",
    dict: "object",
}
#: Annotations (and Python values) that are JSON Schema strings of a format: papermill's
#: translators inject a date as ISO text, so that is what a job receives.
_FORMATS = {"date": "date", "datetime": "date-time", "path": "path", "purepath": "path"}
_PY_FORMATS = {date: "date", datetime: "date-time", PurePosixPath: "path"}
#: How each format is read, and an example for its error's fix.
_FORMAT_PARSERS = {"date": date.fromisoformat, "date-time": datetime.fromisoformat}
#: The examples of values of each type (`list_examples.json`, which the lab's form reads too).
_VALUE_EXAMPLES = json.loads(
    resources.files("lpstudio").joinpath("list_examples.json").read_text("utf-8")
)
FORMAT_HUMAN = {
    "date": ("a date", _VALUE_EXAMPLES["formats"]["date"]),
    "date-time": ("a date and time", _VALUE_EXAMPLES["formats"]["date-time"]),
}
_EXAMPLES = {
    "integer": "7",
    "number": "2.5",
    "boolean": "true",
    "string": "text",
    "array": '["a", "b"]',
    "object": '{"key": "value"}',
}
#: Items for an example list of each item type: a `list[int]`'s fix gave ["a", "b"], which is
#: refused too. A tuple's example takes the first of each of its items' types.
_ITEM_EXAMPLES: dict[str, tuple[Any, ...]] = {
    kind: tuple(items) for kind, items in _VALUE_EXAMPLES["items"].items()
}
#: The gallery's message templates, by name: `body_template` is one text, `body_variables`
#: LivePerson's {{1}}, {{2}}... each a text. `"x-template": true` in a recipe's
#: `metadata.lpstudio.parameters` makes any other parameter one (`false`: not one), and so
#: does `"x-body-variables": true`, the form's older mark of body variables.
_TEMPLATE_NAMES = frozenset({"body_template", "body_variables"})
_SHORTEN_FIX = (
    f"shorten it to at most {MAX_VARIABLE} characters, as the recipe's sample record fills "
    "its placeholders"
)
#: The mark of a tuple among arrays (`tuple[str, int]`, `tuple`, a `("a", 1)` default): JSON
#: has no tuple, so a value is kept as a list and given to the recipe as a tuple again
#: (`as_declared`).
_TUPLE = {"x-tuple": True}


@dataclass(frozen=True)
class Parameter:
    """One parameter of a recipe, as its parameters cell declares it."""

    name: str
    type: str | None  # a JSON Schema type name; None when it cannot be inferred
    nullable: bool
    default: Any
    has_default: bool
    help: str
    format: str | None = None  # a JSON Schema string format: "date" or "date-time"
    enum: tuple[Any, ...] | None = None  # a `Literal[...]` annotation's values
    #: A Python annotation lpstudio cannot check (`Decimal`), as written: the recipe is
    #: refused, since any text would pass for it.
    unchecked: str | None = None
    #: The JSON Schema of a typed container's items (`list[int]`: `{"items": ...}`).
    contents: dict[str, Any] | None = None
    #: Declared with no value (`days: int`): only papermill's injection assigns it, so a job
    #: needs one given or saved (`check_required`).
    required: bool = False

    def schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {
            "title": self.name,
            **_value_schema(self.type, self.nullable, self.format, self.enum, self.contents),
        }
        if self.help:
            schema["description"] = self.help
        if self.has_default:
            schema["default"] = self.default
        return schema


def _value_schema(
    kind: str | None,
    nullable: bool,
    form: str | None,
    enum: tuple[Any, ...] | None,
    contents: dict[str, Any] | None,
) -> dict[str, Any]:
    """What a parameter's (or an item's) annotation allows, as JSON Schema keywords."""
    schema: dict[str, Any] = {}
    if kind:
        schema["type"] = [kind, "null"] if nullable else kind
    if form:
        schema["format"] = form
    if enum is not None:
        schema["enum"] = [*enum, None] if nullable else list(enum)
    return {**schema, **(contents or {})}


def _name(node: ast.expr) -> str:
    """The last part of a (dotted) name: `date` for `date` and `datetime.date`."""
    return node.id if isinstance(node, ast.Name) else getattr(node, "attr", "")


@dataclass(frozen=True)
class _Annotation:
    """What an annotation means for a value: its schema type, format and choices, whether
    None is allowed, and whether lpstudio can check it at all."""

    type: str | None = None
    format: str | None = None
    nullable: bool = False
    enum: tuple[Any, ...] | None = None
    checked: bool = True
    contents: dict[str, Any] | None = None

    def schema(self) -> dict[str, Any]:
        return _value_schema(self.type, self.nullable, self.format, self.enum, self.contents)


#: Annotations that take any value, as papermill does.
_OPEN = frozenset({"any", "object"})
_JSON_OF = {bool: "boolean", int: "integer", float: "number", str: "string"}


def _annotation_type(annotation: str) -> _Annotation:
    """Reads an annotation such as `int`, `list[str]`, `str | None`, `Optional[dict]`,
    `date` or `Literal["sms", "wa"]`."""
    try:
        node = ast.parse(annotation.strip().strip("'\""), mode="eval").body
    except SyntaxError:
        return _Annotation(checked=False)
    members = _union_members(node)
    nullable = any(_is_none(m) for m in members)
    rest = [m for m in members if not _is_none(m)]
    names = [_name(m.value if isinstance(m, ast.Subscript) else m) for m in rest]
    if names and all(name == "Literal" for name in names):
        return _literal(rest, nullable)
    lowered = {name.lower() for name in names}
    if lowered == {"int", "float"}:  # `int | float`: any number
        return _Annotation("number", nullable=nullable)
    if len(rest) != 1:
        return _Annotation(nullable=nullable, checked=False)
    name = names[0].lower()
    if name in _FORMATS:
        return _Annotation("string", _FORMATS[name], nullable)
    if name in _OPEN:
        return _Annotation(nullable=nullable)
    kind = _SIMPLE_TYPES.get(name)
    contents = _contents(name, rest[0].slice) if isinstance(rest[0], ast.Subscript) else None
    if name == "tuple":
        contents = {**(contents or {}), **_TUPLE}
    return _Annotation(kind, nullable=nullable, checked=kind is not None, contents=contents)


def _item_schema(node: ast.expr) -> dict[str, Any]:
    """An item's annotation as a schema; an item lpstudio cannot check is left open (the
    container itself is still checked)."""
    read = _annotation_type(ast.unparse(node))
    return read.schema() if read.checked else {}


def _contents(name: str, index: ast.expr) -> dict[str, Any] | None:
    """The schema of `list[int]`'s, `tuple[str, int]`'s or `dict[str, float]`'s items. A
    JSON object's keys are text, so a dict's key type is not checked."""
    items = index.elts if isinstance(index, ast.Tuple) else [index]
    if name == "list" and len(items) == 1:
        return {"items": _item_schema(items[0])}
    if name == "dict" and len(items) == 2:
        return {"additionalProperties": _item_schema(items[1])}
    if name == "tuple" and len(items) == 2 and _is_ellipsis(items[1]):  # tuple[int, ...]
        return {"items": _item_schema(items[0])}
    if name == "tuple" and not any(_is_ellipsis(item) for item in items):
        return {
            "prefixItems": [_item_schema(item) for item in items],
            "minItems": len(items),
            "maxItems": len(items),
        }
    return None


def _is_ellipsis(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is Ellipsis


def _literal(nodes: list[ast.expr], nullable: bool) -> _Annotation:
    """`Literal["sms", "wa"]` (or a union of them) as a choice of values; their type when
    they share one."""
    values: list[Any] = []
    for node in nodes:
        if not isinstance(node, ast.Subscript):  # a bare `Literal`
            return _Annotation(nullable=nullable, checked=False)
        items = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        for item in items:
            try:
                value = ast.literal_eval(item)
            except _UNREADABLE:
                return _Annotation(nullable=nullable, checked=False)
            if value is None:
                nullable = True
            elif type(value) in _JSON_OF:
                values.append(value)
            else:
                return _Annotation(nullable=nullable, checked=False)
    kinds = {_JSON_OF[type(value)] for value in values}
    if not values:
        return _Annotation(nullable=nullable, checked=False)
    return _Annotation(kinds.pop() if len(kinds) == 1 else None, None, nullable, tuple(values))


def _union_members(node: ast.expr) -> list[ast.expr]:
    """`A | B`, `Optional[A]` and `Union[A, B]` as their members; anything else alone."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _union_members(node.left) + _union_members(node.right)
    if isinstance(node, ast.Subscript):
        name = _name(node.value)
        inner = node.slice
        if name == "Optional":
            return [*_union_members(inner), ast.Constant(None)]
        if name == "Union":
            items = inner.elts if isinstance(inner, ast.Tuple) else [inner]
            return [member for item in items for member in _union_members(item)]
    return [node]


def _is_none(node: ast.expr) -> bool:
    return (isinstance(node, ast.Constant) and node.value is None) or (
        isinstance(node, ast.Name) and node.id in ("None", "NoneType")
    )


@dataclass(frozen=True)
class _Declared:
    """A parameter as written: its name, annotation, default and help, all as source text;
    no default for an annotation alone (`days: int`)."""

    name: str
    annotation: str | None
    default: str | None
    help: str


_TYPE_COMMENT = re.compile(r"type:\s*(?P<type>\S*)\s*(?P<help>.*)")
#: The words of a comment heading a parameters cell, as papermill's docs and notebooks write
#: one (`# Parameters`, `# parameters cell`, `# default parameters`, `# papermill
#: parameters`): it names the cell, and is no help of the parameter below it.
_PARAMETER_WORDS = frozenset({"parameters", "parameter", "params"})
_HEADING_WORDS = _PARAMETER_WORDS | {"cell", "default", "defaults", "papermill"}


def _python_declarations(source: str) -> list[_Declared]:
    """The assignments of a Python parameters cell, read with Python's own parser.

    papermill's inspection reads the cell line by line with a regular expression: it skips
    any line holding a second `=` (`"https://x?a=b"`, a help text saying `0 = today`), every
    `str | None` annotation, and does not notice a syntax error, so those parameters would
    be unknown to the CLI and the form. Its conventions are kept: the help is the comment
    ending the assignment's last line (else the comment lines directly above it, as
    notebooks often write it, the cell's heading aside (`_heading`), else the one ending
    the first line of a value over several, `channels = [  # in order`: a comment on a line
    of the value is a note of its own), and `# type: int` is read as an annotation. An
    annotation alone (`days: int`) declares a parameter with no default, which papermill
    injects as it does any (`-p days 3`); one after an assignment of its name changes
    nothing.
    A cell that is not valid Python raises SyntaxError.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError as error:
        # IPython syntax (`%matplotlib inline`, `!ls`) runs in the kernel: read the cell as
        # IPython turns it into Python, line for line. Still not Python: the error stands.
        from IPython.core.inputtransformer2 import TransformerManager

        source = TransformerManager().transform_cell(source)
        try:
            tree = ast.parse(source)
        except SyntaxError:
            raise error from None
    lines, comments = source.splitlines(), _comments(source)
    comments.pop(_heading(lines, comments), None)
    found: list[_Declared] = []
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            name, annotation = node.target.id, ast.get_source_segment(source, node.annotation)
            if node.value is None and any(known.name == name for known in found):
                continue  # `days = 3` then `days: int`: still 3
        elif (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
        ):
            name, annotation = node.targets[0].id, None
        else:
            continue
        value = node.value
        default = None if value is None else ast.get_source_segment(source, value) or ""
        # Offsets count UTF-8 bytes: the rest of the statement's last line, as text.
        rest = lines[node.end_lineno - 1].encode()[node.end_col_offset :].decode().strip()
        comment = rest[1:].strip() if rest.startswith("#") else ""
        typed = _TYPE_COMMENT.fullmatch(comment)
        if typed and annotation is None and not typed.group("type").startswith("ignore"):
            annotation, comment = typed.group("type"), typed.group("help")
        opening = comments.get(node.lineno, (True, ""))  # of a value over several lines
        comment = (
            comment.strip()
            or _comment_above(comments, node.lineno)
            or ("" if opening[0] or node.end_lineno == node.lineno else opening[1])
        )
        found.append(_Declared(name, annotation, default, comment))
    return found


def _comments(source: str) -> dict[int, tuple[bool, str]]:
    """The cell's comments by line (counted from 1): whether each is a line of its own, and
    its text without `#`. Python's tokenizer tells them from a `#` in a string."""
    found: dict[int, tuple[bool, str]] = {}
    readline = io.StringIO(source).readline
    for token in tokenize.generate_tokens(readline):
        if token.type == tokenize.COMMENT:
            alone = not token.line[: token.start[1]].strip()
            found[token.start[0]] = (alone, token.string[1:].strip())
    return found


def _heading(lines: list[str], comments: dict[int, tuple[bool, str]]) -> int | None:
    """The line (counted from 1) of the comment heading the cell, if any: its first line
    with text, a comment alone made of `_HEADING_WORDS` only, one of them naming parameters.
    Read as help, `# Parameters` was the first parameter's."""
    first = next((number for number, line in enumerate(lines, 1) if line.strip()), None)
    alone, text = comments.get(first or 0, (False, ""))
    words = set(re.findall(r"\w+", text.casefold()))
    named = bool(words & _PARAMETER_WORDS)
    return first if alone and named and words <= _HEADING_WORDS else None


def _comment_above(comments: dict[int, tuple[bool, str]], line: int) -> str:
    """The help written on comment lines of their own directly above `line`, joined."""
    above: list[str] = []
    while comments.get(line - 1 - len(above), (False, ""))[0]:
        above.insert(0, comments[line - 1 - len(above)][1])
    return " ".join(text for text in above if text)


def _is_python(nb: Any) -> bool:
    kernelspec = nb.metadata.get("kernelspec", {})
    language = kernelspec.get("language") or nb.metadata.get("language_info", {}).get("name")
    if language:
        return str(language).lower() == "python"
    return str(kernelspec.get("name", "")).startswith("python")


def _declarations(nb: Any) -> list[_Declared]:
    """The parameters cell's assignments: Python's parser for Python notebooks, papermill's
    translator inspection for other languages."""
    if _is_python(nb):
        from papermill.utils import find_first_tagged_cell_index

        index = find_first_tagged_cell_index(nb, "parameters")
        return _python_declarations(nb.cells[index].source) if index >= 0 else []
    from papermill.inspection import _infer_parameters

    return [
        _Declared(
            raw.name,
            None if raw.inferred_type_name in ("None", "NoneType") else raw.inferred_type_name,
            raw.default,
            raw.help,
        )
        for raw in _infer_parameters(nb)
    ]


#: The standard library's date and path makers a default may call (`pendulum.datetime` is
#: another). A path is read as a pure one: its text, not the file, is the default.
_MAKERS: dict[str, Any] = {
    "date": date,
    "datetime": datetime,
    "datetime.date": date,
    "datetime.datetime": datetime,
    "Path": PurePosixPath,
    "PurePath": PurePosixPath,
    "pathlib.Path": PurePosixPath,
    "pathlib.PurePath": PurePosixPath,
}
#: What reading a default with `ast` may raise (`date(10**100, 1, 1)`: OverflowError).
_UNREADABLE = (ValueError, SyntaxError, TypeError, OverflowError, MemoryError, RecursionError)


def _literal_default(source: str) -> tuple[Any, bool]:
    """A default written as a literal, or as a date, datetime or path made of literals
    (`date(2026, 11, 1)`, `datetime.datetime(2026, 11, 1, 9, 30)`, `Path("leads.csv")`), in
    lists, tuples and dicts too (`[date(2026, 12, 25)]`), and whether it is one: anything
    else runs only in the kernel, and the default stays unknown."""
    try:
        return _made(ast.parse(source.strip(), mode="eval").body), True
    except _UNREADABLE:
        return None, False


def _made(node: ast.expr) -> Any:
    """What a literal node, or a call of one of `_MAKERS` on literals, makes, at any depth of
    lists, tuples and dicts; ValueError for anything else."""
    if isinstance(node, ast.Call) and ast.unparse(node.func) in _MAKERS:
        return _MAKERS[ast.unparse(node.func)](
            *(_made(arg) for arg in node.args),
            **{str(k.arg): _made(k.value) for k in node.keywords},
        )
    if isinstance(node, ast.List):
        return [_made(item) for item in node.elts]
    if isinstance(node, ast.Tuple):
        return tuple(_made(item) for item in node.elts)
    if isinstance(node, ast.Dict) and None not in node.keys:  # no `**spread`
        return {_made(k): _made(v) for k, v in zip(node.keys, node.values, strict=True)}  # type: ignore[arg-type]
    return ast.literal_eval(node)


def _as_given(value: Any) -> Any:
    """A default as a value given for it is held (JSON): dates and paths as their text,
    tuples as lists, at any depth."""
    if isinstance(value, (list, tuple)):
        return [_as_given(item) for item in value]
    if isinstance(value, dict):
        return {key: _as_given(item) for key, item in value.items()}
    if isinstance(value, date):
        return value.isoformat()  # as a job receives it
    if isinstance(value, PurePath):
        return str(value)  # as it is given and stored: its text
    return value


def inspect_parameters(nb: Any) -> dict[str, Parameter]:
    """The recipe's parameters, in the order of its parameters cell; SyntaxError for a
    Python parameters cell that does not parse."""
    parameters: dict[str, Parameter] = {}
    python = _is_python(nb)  # other languages' type names are papermill's inferences
    for raw in _declarations(nb):
        required = raw.default is None
        default, has_default = (None, False) if required else _literal_default(raw.default)
        read = _annotation_type(raw.annotation) if raw.annotation else _Annotation()
        kind, form, nullable, contents = read.type, read.format, read.nullable, read.contents
        if not raw.annotation and has_default and type(default) in _PY_FORMATS:
            kind, form = "string", _PY_FORMATS[type(default)]
        elif not raw.annotation and has_default:
            kind = _PY_TYPES.get(type(default))
            contents = _TUPLE if isinstance(default, tuple) else None
        if has_default and default is None:
            nullable = True
        default = _as_given(default)
        parameters[raw.name] = Parameter(
            name=raw.name,
            type=kind,
            nullable=nullable,
            default=default,
            has_default=has_default,
            help=raw.help.strip(),
            format=form,
            enum=read.enum,
            unchecked=raw.annotation if python and not read.checked else None,
            contents=contents,
            required=required,
        )
    return parameters


def build_schema(
    parameters: dict[str, Parameter],
    refinements: dict[str, Any],
    record: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The recipe's parameters as a JSON Schema object; `required` names those a job needs a
    value for (declared with none), `x-template` marks the message templates, and `x-record`
    holds the record schema they render over (with its sample)."""
    properties = {}
    for name, parameter in parameters.items():
        spec = {**parameter.schema(), **refinements.get(name, {})}
        if "x-template" not in spec and (name in _TEMPLATE_NAMES or spec.get("x-body-variables")):
            spec["x-template"] = True
        properties[name] = spec
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    required = [name for name, parameter in parameters.items() if parameter.required]
    if required:
        schema["required"] = required
    if record:
        schema["x-record"] = record
        # Its fields with their sample's values, as forms offer them (a record field's
        # drop-down in the studio): read here, as templates read them.
        fields, sample = record_fields(record)
        schema["x-record-fields"] = [[field, _sample_text(sample, field)] for field in fields]
    return schema


def _sample_text(sample: dict[str, Any], field: str) -> str:
    """A field's value in a record's sample, as a form shows it beside the field's name."""
    value = lookup(sample, field, "")
    return "" if isinstance(value, dict | list) else str(value)


def type_name(schema: dict[str, Any]) -> tuple[str | None, bool]:
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        return (kinds[0] if kinds else None), "null" in kind
    return kind, False


#: How a value was given: text to read as its declared type (`-p`, a form's field), text
#: passed as it is (papermill's `-r`), a value with a type of its own (JSON over REST, the
#: Python API, saved settings), or one YAML typed, `-y`'s or `-f`'s, as it was written
#: there (a top-level scalar: `Written`). A value of the wrong type is refused saying so.
Given = Literal["text", "raw", "typed"] | Written


def _example(kind: str, spec: dict[str, Any] | None) -> str:
    """An example value of `kind` for a fix, as JSON; a list's holds items of the type its
    `spec` (the parameter's schema) declares, where a fix's example must be taken itself."""
    if kind == "object":  # a `dict[str, int]`'s values of their type: {"key": 1}
        values = _item_examples((spec or {}).get("additionalProperties"))
        return json.dumps({"key": values[0]}) if values else _EXAMPLES[kind]
    items = (spec or {}).get("prefixItems") or [(spec or {}).get("items")]
    examples = [_item_examples(item) for item in items]
    if kind != "array" or None in examples:
        return _EXAMPLES[kind]
    if len(examples) == 1:  # a list of one type: two of its items
        return json.dumps(list(examples[0]))
    return json.dumps([example[0] for example in examples])  # a tuple: one of each


def mapping_example(schema: dict[str, Any]) -> str | None:
    """`name: value` for the first of a recipe's parameters (`schema`) with a type: the example
    of a mapping of its values (`-y`, `-f`), which named `days_ahead`, one recipe's. The value
    is one it takes (one of its choices, a date in ISO 8601), as JSON, which YAML reads. None
    for a recipe with no typed parameter."""
    for name, spec in schema.get("properties", {}).items():
        kind, _ = type_name(spec)
        if kind not in _EXAMPLES:
            continue
        if spec.get("enum"):
            return f"{name}: {json.dumps(spec['enum'][0])}"
        if spec.get("format") in FORMAT_HUMAN:
            return f"{name}: {FORMAT_HUMAN[spec['format']][1]}"
        return f"{name}: {_example(kind, spec)}"
    return None


def _item_examples(spec: Any) -> tuple[Any, ...] | None:
    """Example items of the type `spec` declares (a date's as ISO text); None for one
    without an example (a list of lists, a union)."""
    if not isinstance(spec, dict):
        return None
    if spec.get("format") in FORMAT_HUMAN:
        return (FORMAT_HUMAN[spec["format"]][1],)
    kind, _ = type_name(spec)
    return _ITEM_EXAMPLES.get(kind) if kind else None


def _wrong_type(
    name: str, kind: str, got: Any, given: Given = "text", spec: dict[str, Any] | None = None
) -> ParameterError:
    """A value not of its parameter's type (`spec`: its schema), with the fix for how it was
    `given`: text that holds the value (`3` for an integer) is not wrong, the way it was sent
    is. A date's is text in ISO 8601 (`20261101` was told to pass "a string, for example:
    text")."""
    human, example = TYPE_WORDS[kind], _example(kind, spec)
    form = (spec or {}).get("format")
    if form in FORMAT_HUMAN and kind == "string":
        what, example = FORMAT_HUMAN[form]
        human = f"{what} as ISO 8601 text"
    if isinstance(given, Written) and got is not None:
        return _misread(name, kind, human, example, got, given, spec)
    typed_text = given == "typed" and kind == "string"  # a number sent where text is taken
    if typed_text and (text := spelled_as_text(spec or {}, got, [])) is not None:
        return ParameterError(
            f"parameter '{name}' expects {human}, got {as_json(got)}",
            field=name,
            fix=in_quotes_fix(name, text),
        )
    if not isinstance(got, str) or given == "text":
        return ParameterError(
            f"parameter '{name}' expects {human}, got {as_json(got)}",
            field=name,
            fix=f"pass {human}, for example: {example}",
        )
    read = _read_as_text(name, kind, got, spec)
    if given == "raw":
        return ParameterError(
            f"parameter '{name}' expects {human}, but -r passes its value as text: {as_json(got)}",
            field=name,
            fix=f"pass it with -p, which reads it as {human}: "
            f"-p {name} {shlex.quote(got if read is not None else example)}",
        )
    instead = f": {json.dumps(read)}, without quotes" if read is not None else ""
    return ParameterError(
        f"parameter '{name}' expects {human}, got the string {as_json(got)}",
        field=name,
        fix=f"give {human}, not a string" + (instead or f", for example: {example}"),
    )


def _read_as_text(name: str, kind: str, text: str, spec: dict[str, Any] | None) -> Any:
    """The value `text` holds, read as -p reads it; None where it holds none."""
    try:
        return _from_text(name, kind, False, text, spec)
    except ParameterError:
        return None


def _misread(
    name: str,
    kind: str,
    human: str,
    example: str,
    got: Any,
    given: Written,
    spec: dict[str, Any] | None,
) -> ParameterError:
    """A value of `-y` or `-f` that YAML 1.1 read as another type than the user meant
    (`strictyaml`): the scalar as written and as read (`0612345670` is the octal 103402424,
    `no` is false, `1e3` text), and the fix in YAML: in quotes for text, or the value as
    YAML reads one of `kind`."""
    where = given.said()
    if isinstance(got, str):
        message = f"but YAML reads {given.value} in {where} as text"
    elif given.value == as_json(got):
        message = f"got {given.value} in {where}"
    else:
        number = isinstance(got, int | float) and not isinstance(got, bool)
        read_as = f"{'the number ' * number}{as_json(got)}"
        message = f"but YAML reads {given.value} in {where} as {read_as}"
    fix = f"pass {human}, for example: {example}"
    text = spelled_as_text(spec or {}, got, [], given.value) if kind == "string" else None
    read = _read_as_text(name, kind, got, spec) if isinstance(got, str) else None
    if text is not None:
        fix = f"write it in quotes: {given.instead(given.in_quotes())}"
    elif read is not None:
        fix = f"write it as YAML reads {human}: {given.instead(strictyaml.as_yaml(read))}"
    return ParameterError(f"parameter '{name}' expects {human}, {message}", field=name, fix=fix)


def date_defaults(schema: dict[str, Any]) -> dict[str, Any]:
    """The defaults of the parameters holding dates or date-times (`list[date]` too), as
    ISO text. A job injects them even when no value was given: the notebook's own
    `date(2026, 11, 1)` would reach the recipe as a date, where a given value arrives as
    text (papermill injects text)."""
    return {
        name: spec["default"]
        for name, spec in schema.get("properties", {}).items()
        if "default" in spec and _holds_dates(spec)
    }


def _holds_dates(spec: Any) -> bool:
    """Whether a parameter's schema takes a date or date-time, at any depth (its items, a
    tuple's, a dict's values, a choice of types)."""
    if isinstance(spec, list):
        return any(_holds_dates(item) for item in spec)
    if not isinstance(spec, dict):
        return False
    if spec.get("format") in _FORMAT_PARSERS:
        return True
    inner = ("items", "prefixItems", "additionalProperties", "anyOf", "oneOf")
    return any(_holds_dates(spec.get(key)) for key in inner)


def _check_format(name: str, form: str | None, value: Any) -> Any:
    """Reads a date or date-time string as Python does and gives it back as ISO text (a week
    date or `2026-11-29 09:30` become `2026-11-29`, `2026-11-29T09:30:00`); other values
    pass as they are."""
    parse = _FORMAT_PARSERS.get(form or "")
    if parse is None or not isinstance(value, str):
        return value
    try:
        return parse(value.strip()).isoformat()
    except ValueError:
        what, example = FORMAT_HUMAN[str(form)]
        raise ParameterError(
            f"parameter '{name}' expects {what} like {example}, got {as_json(value)}",
            field=name,
            fix=f"pass {what} in ISO 8601, for example: {example}",
        ) from None


def _from_text(
    name: str, kind: str | None, nullable: bool, text: str, spec: dict[str, Any] | None = None
) -> Any:
    """Parses a value typed as text (`-p`, a form field) into the declared type (`spec`: the
    parameter's schema, for its fixes' examples)."""
    stripped = text.strip()
    if nullable and stripped in ("None", "null", ""):
        return None
    if kind is None:
        from papermill.cli import _resolve_type

        return _check_typed(name, kind, nullable, _resolve_type(text), "text")
    if kind == "string":
        return text
    if kind in SCALARS:  # as a connection's field reads it
        try:
            return parse_scalar(kind, text)
        except NotFinite as exc:
            raise _not_finite(name, exc.value) from None
        except ValueError:
            raise _wrong_type(name, kind, text) from None
    try:  # JSON first: YAML 1.1 reads JSON's 1e-05 as a string
        value = strictjson.loads(text)
    except ValueError:  # a JSON name given twice too: YAML refuses it naming the key
        value = strictyaml.load_given(  # as papermill's -y: dates stay text
            text,
            f"parameter '{name}'",
            name,
            f"{TYPE_WORDS[kind]} as JSON or YAML",
            f"pass valid JSON, for example: {_example(kind, spec)}",
        )
    return _check_typed(name, kind, nullable, value, "text", spec)


def _not_finite(name: str, value: Any) -> ParameterError:
    """Parameters are stored as JSON, which has no NaN or Infinity."""
    return ParameterError(
        f"parameter '{name}' holds NaN or Infinity ({as_json(value)}), which JSON cannot hold",
        field=name,
        fix="give finite numbers only (no nan, inf, .nan or .inf)",
    )


def _as_json(name: str, value: Any) -> Any:
    """The value as parameters are kept, in JSON: dates (YAML's, Python's) as ISO text, at
    any depth, numpy's numbers as Python's (`from_numpy`), and anything else JSON has no
    form for refused, naming the parameter."""
    value = from_numpy(value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, PurePath):  # the Python API's `Path("leads.csv")`: its text
        return value.as_posix()
    if isinstance(value, dict):  # JSON's keys are text: YAML's `{1: a}` is {"1": "a"}
        if not all(isinstance(key, str | int) and not isinstance(key, bool) for key in value):
            raise ParameterError(
                f"parameter '{name}' has keys that are not text, which JSON cannot hold",
                field=name,
                fix="give a mapping whose keys are text",
            )
        return {str(key): _as_json(name, item) for key, item in value.items()}
    if isinstance(value, list | tuple):  # a tuple's JSON is a list
        return [_as_json(name, item) for item in value]
    if value is None or isinstance(value, str | int | float):
        return value
    raise ParameterError(
        f"parameter '{name}' holds a {type(value).__name__}, which JSON cannot hold",
        field=name,
        fix="give text, numbers, true or false, lists and mappings of them",
    )


def _check_typed(
    name: str,
    kind: str | None,
    nullable: bool,
    value: Any,
    given: Given,
    spec: dict[str, Any] | None = None,
) -> Any:
    """Checks a value that already has a type (YAML, JSON), or read from text as `given`
    says; widens int to float, and takes a whole float as an integer (`whole`: 3.0 is 3).
    `spec`: the parameter's schema, whose format (a date's) and items its fix's example
    follows."""
    if value is None and nullable:
        return None
    if strictjson.depth(value) > strictjson.MAX_DEPTH:  # what checks it next recurses
        raise ParameterError(
            f"parameter '{name}' nests lists or dicts deeper than {strictjson.MAX_DEPTH} levels",
            field=name,
            fix="give a flatter value",
        )
    value = _as_json(name, value)
    if strictjson.non_finite(value) is not None:  # YAML's .nan and .inf nest in lists too
        raise _not_finite(name, value)
    if kind is None:
        return value
    if kind == "integer" and (integral := whole(value)) is not None:  # JSON's 3.0 is 3
        return integral
    if kind == "number" and isinstance(value, int) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:  # no float holds it (JSON and YAML read any integer)
            raise ParameterError(
                f"parameter '{name}' is a number too large for a float",
                field=name,
                fix="give a number below about 1.8e308",
            ) from None
    expected = {
        "integer": int,
        "number": float,
        "boolean": bool,
        "string": str,
        "array": list,
        "object": dict,
    }[kind]
    if not isinstance(value, expected) or (kind == "integer" and isinstance(value, bool)):
        raise _wrong_type(name, kind, value, given, spec)
    return value


def _check_text(name: str, value: Any) -> None:
    """Refuses text holding a control character (`_CONTROL`), however it was given."""
    if isinstance(value, str) and (control := _CONTROL.search(value)):
        raise ParameterError(
            f"parameter '{name}' holds the control character U+{ord(control[0]):04X} at "
            f"character {control.start() + 1}: no name, address or message carries one",
            field=name,
            fix=f"give {name} again without it (tabs and line breaks are kept)",
        )


#: A control character text may not hold (a NUL, an escape): all of Unicode's but the tab
#: and line breaks a message or a template may have. A skill `\u0000` passed `\S`.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def coerce(
    schema: dict[str, Any],
    values: dict[str, Any],
    parse: frozenset[str] | set[str] = frozenset(),
    recipe: str = "the recipe",
    projects: Path | None = None,
    raw: Collection[str] = (),
    hidden: Callable[[], Collection[str]] | None = None,
    written: Mapping[str, Written] | None = None,
) -> dict[str, Any]:
    """Turns raw values into typed, validated parameters, or raises `ParameterError`.

    Names in `parse` hold text to parse into the declared type (papermill's `-p`, form
    fields); the others already carry a type (`-y`/`-f` YAML, JSON bodies), but for those
    in `raw`: text passed as it is (papermill's `-r`), refused saying so where the
    parameter is not text. Those `written` are YAML's scalars, refused for their type as
    written (`+14155550199`) and as YAML read them (14155550199).
    A `Path` parameter (read from the recipe's folder, where its job runs) must name a file
    under the workspace's `projects/`: given the `projects` folder, with its links followed;
    without it, by its text (see `_check_path`).
    A refusal quotes what was given (a value, a parameter's name, a key), and a value that
    holds a secret is refused by its type or pattern before anything looks for one: `hidden`
    gives the workspace's secrets, read only then, and they are masked in it (`LpstudioError.mask`).
    So the Python API and the form say what the CLI and the REST API print, and the
    traceback a notebook keeps of it holds no secret.
    """
    try:
        return _coerced(schema, values, parse, recipe, projects, raw, written or {})
    except ParameterError as exc:
        if hidden is not None:
            exc.mask(hidden())
        raise


def _coerced(
    schema: dict[str, Any],
    values: dict[str, Any],
    parse: frozenset[str] | set[str],
    recipe: str,
    projects: Path | None,
    raw: Collection[str],
    written: Mapping[str, Written],
) -> dict[str, Any]:
    """`coerce`'s checks, whose refusals quote values as they were given."""
    properties: dict[str, Any] = schema.get("properties", {})
    coerced: dict[str, Any] = {}
    for name, sent in values.items():
        if name not in properties:
            known = ", ".join(sorted(properties)) or "(none)"
            raise ParameterError(
                f"unknown parameter '{name}' for {recipe}; known parameters: {known}",
                field=name,
                fix=f"use one of: {known}",
            )
        kind, nullable = type_name(properties[name])
        if name in parse:
            value = _from_text(name, kind, nullable, str(sent), properties[name])
        else:
            given: Given = "raw" if name in raw else written.get(name, "typed")
            value = _check_typed(name, kind, nullable, sent, given, properties[name])
        coerced[name] = _check_format(name, properties[name].get("format"), value)
        _check_text(name, value)
        for spec, holder, key, item, where in _nested(properties[name], coerced[name], name):
            if type_name(spec)[0] == "number" and type(item) is int:  # dict[str, float]
                item = _check_typed(where, "number", False, item, "typed")
            _check_text(where, item)
            holder[key] = _check_format(where, spec.get("format"), item)  # list[date] too
        for where, path in _paths(properties[name], coerced[name], name):
            _check_path(where, path, recipe, projects)
    # Values arrive in parts (given over saved): a job's whole set is `check_required`'s.
    partial = {key: value for key, value in schema.items() if key != "required"}
    coerced = integers_as_ints(partial, coerced)  # a `list[int]`'s 2.0 is 2, as an int's 7.0
    validator = IntsOnly(partial)  # and its 2.5 refused
    for error in sorted(validator.iter_errors(coerced), key=lambda e: list(e.absolute_path)):
        raise _refused(error)
    fields = required_fields(schema.get("x-record"))
    _check_record_fields(properties, coerced, fields)
    templates = [name for name in coerced if properties[name].get("x-template")]
    if templates:
        _, sample = record_fields(schema.get("x-record"))
        for name in templates:
            _check_template(name, coerced[name], fields, sample)
    return coerced


#: How `check_required`'s fix begins: the forms read it as a value never given, to be set
#: (not corrected) in their field.
NOT_GIVEN = "give it with "


def check_required(schema: dict[str, Any], values: Collection[str], recipe: str) -> None:
    """Refuses a job whose `values` (given and saved) lack a parameter the cell declares
    with no value (`days: int`): nothing but papermill's injection assigns it, so the job
    failed in its cell with a NameError."""
    missing = [name for name in schema.get("required", []) if name not in values]
    if not missing:
        return
    name = missing[0]
    raise ParameterError(
        f"parameter '{name}' of {recipe} needs a value: its parameters cell declares it with "
        "no default" + (f" ({', '.join(missing[1:])} too)" if missing[1:] else ""),
        field=name,
        fix=f"{NOT_GIVEN}`lpstudio run {word(recipe)} -p {name} VALUE`, or save one with "
        f"`lpstudio settings {word(recipe)} -p {name} VALUE`",
    )


def as_declared(schema: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """Checked values (`coerce`'s, as stored: JSON) as the recipe declares them, for papermill
    to inject: a tuple parameter, or a tuple among a list's or a dict's items, is a tuple
    again, and a `Path` one a `Path` (`src.read_text()`), as the notebook's own default is."""
    properties: dict[str, Any] = schema.get("properties", {})
    declared = {}
    for name, given in values.items():
        spec, value = properties.get(name, {}), copy.deepcopy(given)
        # The deepest first: a tuple's items are what they declare before it is made.
        for sub, holder, key, item, _ in reversed(list(_nested(spec, value, name))):
            holder[key] = _declared(sub, item)
        declared[name] = _declared(spec, value)
    return declared


class PathText(str):
    """A `Path` parameter's value as papermill is given it: text where it is kept as JSON
    (the notebook's metadata), a `Path` where it is injected (`runner.injects_declared_types`)."""


def _declared(spec: dict[str, Any], value: Any) -> Any:
    """One value, kept in JSON, as its schema says the recipe declares it."""
    if spec.get("x-tuple") and isinstance(value, list):
        return tuple(value)
    if spec.get("format") == "path" and isinstance(value, str):
        return PathText(value)
    return value


def _check_record_fields(
    properties: dict[str, Any], values: dict[str, Any], fields: list[str]
) -> None:
    """Refuses a value naming a field of the recipe's record (`x-object-field`, such as the
    recipients' `consumer_id`) that a closed record does not have: its job failed on it."""
    if not fields:  # an open record may hold fields its schema does not name
        return
    for name, value in values.items():
        named = properties[name].get("x-object-field") and isinstance(value, str)
        if named and value not in fields:
            raise ParameterError(
                f"parameter '{name}': {as_json(value)} is not a field of the recipe's record",
                field=name,
                fix=f"use one of: {', '.join(fields)}",
            )


def _nested(
    spec: dict[str, Any], value: Any, where: str
) -> Iterator[tuple[dict[str, Any], Any, Any, Any, str]]:
    """Each item a value holds, at any depth, as (its schema, its list or dict, its index or
    key, the item, where it is: `files.2`): the items of a `list[date]`, `tuple[str, Path]`
    or `dict[str, Path]`, whose schemas say what each holds."""
    if isinstance(value, list):
        prefix = spec.get("prefixItems", [])
        for index, item in enumerate(value):
            sub = prefix[index] if index < len(prefix) else spec.get("items")
            if isinstance(sub, dict):
                yield sub, value, index, item, f"{where}.{index}"
                yield from _nested(sub, item, f"{where}.{index}")
    if isinstance(value, dict) and isinstance(spec.get("additionalProperties"), dict):
        sub = spec["additionalProperties"]
        for key, item in value.items():
            yield sub, value, key, item, f"{where}.{key}"
            yield from _nested(sub, item, f"{where}.{key}")


def _paths(spec: dict[str, Any], value: Any, where: str) -> Iterator[tuple[str, str]]:
    """The paths a value holds, where it holds them: itself for a `Path`, and the items of
    a `list[Path]`, `tuple[str, Path]` or `dict[str, Path]` (None, for a `Path | None`,
    holds none)."""
    if spec.get("format") == "path" and isinstance(value, str):
        yield where, value
    for sub, _, _, item, at in _nested(spec, value, where):
        if sub.get("format") == "path" and isinstance(item, str):
            yield at, item


#: A scheme before a colon (`file:`, `http://`, `s3://`): readers such as pandas open it as a
#: URL, whatever folder it seems to be in.
_URL_LIKE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")


def _check_path(name: str, value: str, recipe: str, projects: Path | None) -> None:
    """Refuses a path for a recipe that leads out of the workspace's `projects/`: an API
    client or an operator could otherwise have a job read any file of the machine, or the
    workspace's own secret key and database; a default of the parameters cell as much (a
    job runs with it, see `checks.check_defaults`). `name` is where it is (`files.2`).
    Without `projects` (a check where the workspace is not known) the path is judged by its
    text from the recipe's folder: links are followed only where it is known."""
    fix = (
        "give a file under projects/, relative to the recipe's folder, for example: "
        "data/invoices.csv"
    )
    if not value.strip() or "\0" in value:
        raise ParameterError(
            f"parameter '{name}' expects a file path, got {as_json(value)}", field=name, fix=fix
        )
    if value.startswith("~") or _URL_LIKE.match(value):
        raise ParameterError(
            f"parameter '{name}' is read as a home folder or a URL by pandas and the like, "
            f"not as a file under projects/: {as_json(value)}",
            field=name,
            fix=fix,
        )
    folder = PurePosixPath(recipe).parent
    if projects is None:
        outside = _climbs_out(folder / value)
    else:
        outside = not (projects / folder / value).resolve().is_relative_to(projects.resolve())
    if outside:
        raise ParameterError(
            f"parameter '{name}' leads outside the workspace's projects/ folder: {as_json(value)}",
            field=name,
            fix=fix,
        )


def _climbs_out(path: PurePosixPath) -> bool:
    """Whether a path relative to `projects/` leads out of it by its text: absolute, or
    with more `..` than folders before them."""
    return path.is_absolute() or posixpath.normpath(path).split("/", 1)[0] == ".."


def _refused(error: jsonschema.ValidationError) -> ParameterError:
    """A value the recipe's refinements refuse, with a fix in the user's terms: the choices
    of an `enum`, the bound of a `minimum`, an example of an E.164 phone number."""
    name = ".".join(str(part) for part in error.absolute_path) or None
    keyword, limit = error.validator, error.validator_value
    fix = fix_in_words(error) or (
        "give a value that satisfies the recipe's parameter schema (`lpstudio recipes --json`)"
    )
    message = f"parameter '{name}' is invalid: {said_in_json(error)}"
    if keyword == "type":  # an item of a typed list or dict (the value's own type is read first)
        kinds = [limit] if isinstance(limit, str) else list(limit)
        form = error.schema.get("format") if isinstance(error.schema, dict) else None
        human = dict(TYPE_WORDS)
        example = ""
        if form in FORMAT_HUMAN:  # a `list[date]`'s item, as a date parameter is told
            what, shown = FORMAT_HUMAN[form]
            human["string"], example = f"{what} as ISO 8601 text", f", for example: {shown}"
        wanted = " or ".join(human.get(kind, kind) for kind in kinds if kind != "null")
        wanted += " or null" if "null" in kinds else ""
        message = f"parameter '{name}' expects {wanted}, got {refused_value(error.instance)}"
        fix = f"give {wanted} at {name}{example}"
    elif keyword == "pattern" and is_e164_pattern(limit):
        message = f"parameter '{name}' expects {E164_SAID}, got {refused_value(error.instance)}"
    elif keyword == "pattern" and pattern_words(error):
        message = f"parameter '{name}' is invalid: {said_in_words(error)}"
    return ParameterError(message, field=name, fix=fix)


def _where(name: str, key: str | None) -> str:
    """A template parameter, or one of its body variables, as a refusal names it."""
    return f"parameter '{name}'" + (f" variable {key}" if key is not None else "")


def _empty(name: str, key: str | None, fix: str) -> ParameterError:
    """A blank text template, or body variable `key`, refused in one wording: LivePerson
    would send each recipient an empty message (a text template goes as {{1}})."""
    return ParameterError(
        f"{_where(name, key)} is empty: an empty variable is never sent", field=name, fix=fix
    )


def _check_numbered(name: str, variables: dict[str, Any]) -> None:
    """LivePerson's body variables fill the handoff's {{1}}, {{2}}...: one skipped fails
    every recipient (MISSING_VARIABLE), so it is refused before any job."""
    fix = "number the variables as the handoff's {{n}} placeholders: 1, 2... with none skipped"
    odd = next((key for key in variables if not re.fullmatch(r"[1-9][0-9]*", key)), None)
    if odd is not None:  # "0", "01"
        raise ParameterError(
            f"parameter '{name}' has a variable named {as_json(odd)}: LivePerson's are 1, 2...",
            field=name,
            fix=fix,
        )
    empty = next((k for k, v in variables.items() if isinstance(v, str) and not v.strip()), None)
    if empty is not None:  # LivePerson counts it: TOO_MANY_VARIABLES, MISSING_VARIABLE...
        raise _empty(
            name,
            empty,
            fix=f"give variable {empty} a text, or take it out of {name} (and {fix})",
        )
    numbers = sorted(int(key) for key in variables)
    missing = next((n for n, key in enumerate(numbers, 1) if key != n), None)
    if missing is not None:
        raise ParameterError(
            f"parameter '{name}' has {{{{{numbers[-1]}}}}} but no {{{{{missing}}}}}: "
            "LivePerson would refuse every recipient (MISSING_VARIABLE)",
            field=name,
            fix=fix,
        )


def _check_template(name: str, value: Any, fields: list[str], sample: dict[str, Any]) -> None:
    """Refuses a message template (or, for body variables, each one) that is blank, or that
    the form's preview refuses: one that cannot be read, that the recipe's sample record
    cannot fill (or fills past LivePerson's length), or with a placeholder none of `fields`
    (a closed record's, see `required_fields`)."""
    if isinstance(value, dict) and all(re.fullmatch(r"[0-9]+", str(key)) for key in value):
        _check_numbered(name, value)  # ASCII digits only: "²" is no number to LivePerson
    if isinstance(value, str) and not value.strip():
        raise _empty(name, None, fix=f"give {name} a text")
    texts = value.items() if isinstance(value, dict) else [(None, value)]
    for key, text in texts:
        if not isinstance(text, str):
            continue
        rendered, problems = preview(text, fields, sample)
        if problems:
            raise ParameterError(
                f"{_where(name, key)}: {problems[0]}",
                field=name if key is None else f"{name}.{key}",
                fix=template_fix(rendered, problems, fields, sample),
            )


def template_fix(
    rendered: str, problems: list[str], fields: list[str], sample: dict[str, Any]
) -> str:
    """The fix for the first of a template's `problems` (`preview`'s, which rendered it as
    `rendered`): the notebook's form says it as the CLI and REST do."""
    # `preview` says the length last: first, it is the only problem.
    too_long = len(problems) == 1 and len(rendered) > MAX_VARIABLE
    return _SHORTEN_FIX if too_long else _placeholders_fix(fields, sample)


def _placeholders_fix(fields: list[str], sample: dict[str, Any]) -> str:
    """How to write a template's placeholders, with examples from the recipe's own record
    (`fields`, `sample`): a fixed example named fields a record may lack ({customer.first_name}
    for a cart, whose record has none), suggesting the placeholder just refused."""
    if not fields:  # an open record: any field of its events
        said, number = "{first_name} or {customer.first_name}", "total_price"
    else:
        said = " or ".join(f"{{{field}}}" for field in fields[:2])
        # A float's field for the format (a price), not an id's that happens to be a number.
        numbers = [f for f in fields if type(lookup(sample, f, None)) is float]
        number = numbers[0] if numbers else None
    formatted = f" ({{{number}:.2f}})" if number else ""
    return (
        f"write record fields in braces, such as {said}, with a format of Python's format "
        f"mini-language if any{formatted}, and a literal brace as {{{{ or }}}}"
    )
