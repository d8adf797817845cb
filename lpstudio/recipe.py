"""Recipes: notebooks with a `parameters` cell and `metadata.lpstudio`, checked on load.

A recipe that cannot run (not a notebook, no parameters cell, a parameters cell that is not
Python, no kernel named, metadata that does not match `METADATA_SCHEMA`, a trigger naming a
slot the recipe does not declare, a slot of a connector type lpstudio lacks, parameter
refinements, trigger schemas or a record that are not JSON Schema or hold a keyword it does
not know, a schedule that cannot fire) is refused here with a message saying what to fix,
before any job exists.
"""

from __future__ import annotations

import copy
import difflib
import json
import os
import posixpath
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import jsonschema
import nbformat
from jsonschema_specifications import REGISTRY as SPECIFICATIONS
from nbformat.v4.rwbase import strip_transient

from . import strictjson
from .connections import NAME_PATTERN, NAME_SAID
from .errors import InputError, LpstudioError, NotFoundError, RecipeError, quoted, word
from .jsonschemas import PATTERN_SAID, dangling_reference, said_in_json, schema_keywords
from .parameters import Parameter, build_schema, inspect_parameters

if TYPE_CHECKING:
    from .sdk import Connector

#: The keys each trigger kind reads (the scheduler, the poll and webhook triggers, the
#: callable endpoints): any other is refused, as a misspelt one would be ignored without a
#: word (a schedule's `timzone` would fire it in UTC).
TRIGGER_KEYS: dict[str, tuple[str, ...]] = {
    "manual": ("kind",),
    "schedule": ("kind", "cron", "timezone", "missed_runs"),
    "poll": ("kind", "connection", "trigger", "interval_minutes", "batch_size", "conditions"),
    "webhook": ("kind", "connection", "trigger", "input_schema"),
    "callable": ("kind", "path", "input_schema", "response_schema"),
}
TRIGGER_KINDS = tuple(TRIGGER_KEYS)
#: How a refusal names a part of a recipe's trigger (`metadata.lpstudio.trigger.path`).
TRIGGER_FIELD = "metadata.lpstudio.trigger."

#: The characters of a callable's `trigger.path` (its segments: `_check_call_path`).
CALL_PATH = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_./-]*(?!\n)$")
#: What a segment of `CALL_PATH` holds, in words: its letters are ASCII's (`é`, `オ` are not).
_CALL_PATH_SAID = "ASCII letters A-Z or a-z, digits, '_', '.' or '-'"
#: The segments of a path that no URL reaches as written, and why: a client removes `.`
#: and `..` (RFC 3986, section 5.2.4), and a proxy may merge `//` (nginx's `merge_slashes`).
_UNREACHABLE_SEGMENTS = {
    "": "an empty segment (// or a / at an end), which a proxy may merge away",
    ".": "a . segment, which a client removes before sending (RFC 3986)",
    "..": "a .. segment, which a client removes with the one before it (RFC 3986)",
}

#: The longest a job may be given, in seconds (about 31 years): every surface refuses more.
MAX_TIMEOUT = 10**9
#: The longest a callable recipe's caller may be made to wait for its answer, in seconds.
MAX_CALL_TIMEOUT = 600
#: The longest call timeout whose 504 still reaches a Conversation Builder bot, in seconds:
#: the bot gives up at 20 s whatever the server allows (API-FACTS.md section 2), and loses
#: a later 504, the JSON answer it could branch on.
BOT_CALL_TIMEOUT = 18
#: How long a callable recipe's caller waits without a timeout of its own, in seconds:
#: `lpstudio serve`'s default (`LpstudioApp.call_timeout`), which a server may change.
DEFAULT_CALL_TIMEOUT = 15.0
#: The longest wait before a failed job's retry, in seconds (a week): a retry any later is
#: no retry, and past about 3e11 s no date can hold it.
MAX_RETRY_INTERVAL = 7 * 24 * 3600
#: The longest wait between a poll trigger's polls, in minutes (a year): past about 4e9 the
#: next poll is after the year 9999, and every tick failed until the recipe stopped.
MAX_POLL_INTERVAL = 365 * 24 * 60

METADATA_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "metadata.lpstudio of a recipe notebook",
    "type": "object",
    "required": ["title"],
    "additionalProperties": False,
    "properties": {
        "title": {"type": "string", "minLength": 1, "maxLength": 200},
        "description": {"type": "string"},
        # What an output notebook says of its job (`runner.NotebookWriter`): one saved as a
        # recipe again keeps it, unread, until its own job's output says its own.
        "job": {"type": "object", "description": "in an output notebook: the job it is of"},
        "trigger": {
            "type": "object",
            "required": ["kind"],
            "examples": [{"kind": "schedule", "cron": "0 9 * * 1-5", "timezone": "Europe/Paris"}],
            "properties": {
                "kind": {"enum": list(TRIGGER_KINDS)},
                "cron": {"type": "string"},
                "timezone": {"type": "string"},
                # A poll's keys have examples of their own: the trigger's is a schedule's.
                "connection": {"type": "string", "examples": ["shopify"]},
                "trigger": {"type": "string", "examples": ["new_or_updated_abandoned_checkout"]},
                "interval_minutes": {
                    "type": "number",
                    "exclusiveMinimum": 0,
                    "maximum": MAX_POLL_INTERVAL,
                    "examples": [10],
                },
                "batch_size": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 10000,
                    "examples": [100],
                },
                "conditions": {
                    "description": "filters on trigger records, e.g. {'match': 'all', 'rules': "
                    "[{'field': 'total_price', 'op': '>=', 'value': 50}]}",
                    "examples": [
                        {
                            "match": "all",
                            "rules": [{"field": "total_price", "op": ">=", "value": 50}],
                        }
                    ],
                    "type": "object",
                    "required": ["rules"],
                    # A misspelt key is refused, not ignored: a rule's `vaule` compared every
                    # event with no value, and a poll dropped them all without a word.
                    "additionalProperties": False,
                    "properties": {
                        "match": {"enum": ["all", "any"]},
                        "rules": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["field", "op"],
                                "additionalProperties": False,
                                "properties": {
                                    "field": {"type": "string", "minLength": 1},
                                    "op": {
                                        "enum": [
                                            "==",
                                            "!=",
                                            ">",
                                            ">=",
                                            "<",
                                            "<=",
                                            "contains",
                                            "exists",
                                        ]
                                    },
                                    "value": {"type": ["string", "number", "boolean", "null"]},
                                },
                                # Every op but `exists` compares with a value; `<`, `>`... with
                                # a number or a text (as a number when it reads as one).
                                "allOf": [
                                    {
                                        "if": {"properties": {"op": {"const": "exists"}}},
                                        "else": {"required": ["value"]},
                                    },
                                    {
                                        "if": {
                                            "properties": {"op": {"enum": ["<", "<=", ">", ">="]}}
                                        },
                                        "then": {
                                            "properties": {"value": {"type": ["string", "number"]}}
                                        },
                                    },
                                ],
                            },
                        },
                    },
                },
                "missed_runs": {"enum": ["run_once", "skip"]},
                "path": {"type": "string", "pattern": CALL_PATH.pattern},
                "input_schema": {"type": "object"},
                "response_schema": {"type": "object"},
            },
            "allOf": [
                {
                    "if": {"required": ["kind"], "properties": {"kind": {"const": kind}}},
                    "then": {"propertyNames": {"enum": list(keys)}},
                }
                for kind, keys in TRIGGER_KEYS.items()
            ],
        },
        "connections": {
            "description": "connection slots: slot name -> the connector type it needs",
            "type": "object",
            "examples": [{"crm": {"type": "http", "label": "CRM"}}],
            # A slot is filled by the connection named like it: a name no connection could
            # have would make the fix `lpstudio connections add SLOT ...` one that fails.
            "propertyNames": {"pattern": NAME_PATTERN.pattern},
            "additionalProperties": {
                "type": "object",
                "required": ["type"],
                "properties": {"type": {"type": "string"}, "label": {"type": "string"}},
                # A misspelt `lable` would leave the slot unlabelled without a word.
                "additionalProperties": False,
            },
        },
        "parameters": {
            "description": "JSON Schema keywords refining parameters, e.g. enum or minimum",
            "type": "object",
            "additionalProperties": {"type": "object"},
        },
        "files": {
            "description": "data files beside the notebook that travel with it",
            "type": "array",
            "items": {"type": "string", "pattern": "^[^/\\\\]+$"},
            "examples": [["contacts.csv"]],
        },
        "timeout": {
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": MAX_TIMEOUT,
            "examples": [600],
        },
        "concurrency": {"type": "integer", "minimum": 1, "examples": [1]},
        "retries": {
            "type": "object",
            "examples": [{"count": 2, "interval": 60}],
            "properties": {
                "count": {"type": "integer", "minimum": 0, "maximum": 3},
                "interval": {"type": "number", "minimum": 0, "maximum": MAX_RETRY_INTERVAL},
            },
            "additionalProperties": False,
        },
        "group": {"type": "string"},
        "record": {
            "description": "JSON Schema of the record that message templates render over, "
            "with `examples` (the form offers its fields as placeholders and previews them)",
            "type": "object",
        },
    },
}


def _example_of(path: Any) -> str:
    """An example of the innermost metadata key on the error's path that has one (its own,
    say `"conditions": {...}` for a rule's typo, not the trigger's cron example; a choice's
    first choice, `"missed_runs": "run_once"`), else of the metadata as a whole."""
    found, node = _METADATA_EXAMPLE, METADATA_SCHEMA
    for key in path or ():
        node = node.get("items", {}) if isinstance(key, int) else node.get("properties", {})
        node = node if isinstance(key, int) else node.get(key, {})
        example = node.get("examples") or node.get("enum")
        if example and not isinstance(key, int):
            found = f'"{key}": {json.dumps(example[0])}'
    return found


_ANNOTATIONS = (
    "one of int, float, bool, str, date, datetime, list, dict or Any, a Literal[...] of "
    'choices such as Literal["sms", "wa"], any of them as `X | None`, or no annotation'
)
_METADATA_EXAMPLE = '"lpstudio": {"title": "My recipe", "trigger": {"kind": "manual"}}'
_PARAMETERS_EXAMPLE = (
    '"parameters": {"days_ahead": {"minimum": 0, "maximum": 365}, '
    '"channel": {"enum": ["sms", "whatsapp"]}, "code": {"pattern": "^[A-Z]{3}$"}}'
)
_PICKLIST_EXAMPLE = '"x-picklist": {"connection": "liveperson", "list": "handoffs"}'
#: lpstudio's own keywords of a parameter's refinement: its pick list, the marks of a
#: message template (`x-body-variables` the older one) and of a record field's name, and
#: a `pattern` said in words (`jsonschemas.PATTERN_SAID`).
_LPSTUDIO_KEYWORDS = (
    "x-picklist",
    "x-template",
    "x-body-variables",
    "x-object-field",
    PATTERN_SAID,
)
#: An example of each JSON Schema a recipe's metadata holds, by its key.
_SCHEMA_EXAMPLES = {
    "input_schema": '"input_schema": {"type": "object", "required": ["phone"], '
    '"properties": {"phone": {"type": "string"}}}',
    "response_schema": '"response_schema": {"type": "object", "required": ["status"], '
    '"properties": {"status": {"type": "string"}}}',
    "record": '"record": {"type": "object", "properties": {"first_name": {"type": "string"}}, '
    '"additionalProperties": false, "examples": [{"first_name": "Maria"}]}',
}
_2020_12 = "https://json-schema.org/draft/2020-12/"


@lru_cache(maxsize=1)
def _known_keywords() -> frozenset[str]:
    """The keywords a recipe's JSON Schemas (refinements, trigger schemas, `record`) may
    use: JSON Schema 2020-12's, as the vocabularies its meta-schema is made of list them
    (validation, applicators, annotations such as `title` and `examples`, `format`, core's
    `$ref`...), and `_LPSTUDIO_KEYWORDS`."""
    vocabularies = SPECIFICATIONS.contents(f"{_2020_12}schema")["allOf"]
    return frozenset(_LPSTUDIO_KEYWORDS).union(
        *(SPECIFICATIONS.contents(_2020_12 + part["$ref"])["properties"] for part in vocabularies)
    )


def _replaced_keywords() -> dict[str, str]:
    """Older drafts' keywords that 2020-12 replaced (`definitions`), with the meta-schema's
    own words for what replaces each: 2020-12 validators no longer apply them."""
    older = SPECIFICATIONS.contents(f"{_2020_12}schema")["properties"]
    return {keyword: str(spec.get("$comment", "")) for keyword, spec in older.items()}


@lru_cache(maxsize=1024)
def _schema_refusal(schema: str) -> jsonschema.SchemaError | None:
    """jsonschema's refusal of a JSON Schema (its JSON text), else None. Checked once per
    schema: checking one against the 2020-12 meta-schema costs milliseconds, four a recipe,
    and a brand's recipes copied from a few templates share theirs (60 s of a first
    listing of 1,500). A value no JSON holds (a date default) is checked as its text, as
    the meta-schema takes any value where one can stand."""
    try:
        jsonschema.Draft202012Validator.check_schema(json.loads(schema))
    except jsonschema.SchemaError as error:
        return error
    return None


@lru_cache(maxsize=8)
def _kernel_specs(*where: str | None) -> Any:
    """The kernel spec manager of the Jupyter folders `where` names, shared by every
    recipe's check (a new one per recipe costs a millisecond and more on a job's path)."""
    from jupyter_client.kernelspec import KernelSpecManager

    return KernelSpecManager()


def missing_kernels(names: Sequence[str]) -> str | None:
    """Whether a kernel spec of `names` is not installed here: None when all are, else the
    installed ones, named for a fix ("python3, ir", or "none")."""
    from jupyter_client.kernelspec import NoSuchKernel

    from .pool import find_kernel_spec

    manager = _installed_kernel_specs()
    try:
        for name in names:
            find_kernel_spec(manager, name)  # looked up on disk at most every few seconds
    except NoSuchKernel:
        return _installed_kernels(manager)
    return None


def _installed_kernels(manager: Any) -> str:
    """The kernels installed where `manager` looks, named for a fix ("python3, ir")."""
    return ", ".join(sorted(manager.find_kernel_specs())) or "none"


def _installed_kernel_specs() -> Any:
    """The kernel spec manager of the Jupyter folders this process's environment names."""
    return _kernel_specs(*(os.environ.get(v) for v in ("JUPYTER_PATH", "JUPYTER_DATA_DIR")))


def check_kernel_language(name: str, spec: Any, what: str) -> None:
    """Refuses a recipe whose kernel is not Python (`pool.runs_python`): lpstudio binds each
    job in its kernel with Python code (its connections, event, ledger), which a kernel of
    another language cannot run. `what` names the recipe."""
    from .pool import runs_python

    if not runs_python(spec):
        raise RecipeError(
            f"{what} runs on kernel '{name}' (metadata.kernelspec.name), whose language is "
            f"{spec.language}: lpstudio runs recipes on Python kernels only (it binds each "
            "job in the kernel with Python)",
            field="metadata.kernelspec.name",
            fix="choose a Python kernel (such as python3) in JupyterLab (Kernel > Change "
            f"Kernel...) and save it; a {spec.language} notebook runs with papermill itself "
            "(`papermill --engine lpstudio` too), outside any job",
        )


#: JSON's names of the values a notebook's text may hold instead of its object.
_JSON_KINDS = {type(None): "null", list: "an array", str: "a string", bool: "true or false"}


def _too_deep(name: str, text: str) -> RecipeError:
    """A notebook nested too deep for the readers that recurse (nbformat's, its validator):
    looked for only when one failed, so a notebook read well pays nothing for it."""
    deep = strictjson.too_deep(text) or strictjson.nested_too_deep()
    return _unreadable(
        name,
        str(deep),
        f"{deep.fix} (JupyterLab: right-click it in the file browser, Open With > Editor)",
    )


def _not_object(text: str) -> str | None:
    """What JSON value `text` holds when it is no object (`[]`, `null`): nbformat's own error
    for it was "'NoneType' object has no attribute 'get'". None for an object, or no JSON."""
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return None if isinstance(value, dict) else _JSON_KINDS.get(type(value), "a number")


def timeout_refused(given: object) -> InputError:
    """The refusal of a job's timeout that is no number of seconds above 0 up to
    `MAX_TIMEOUT`: a run's and a rerun's (`Studio.job_fields`), and the text typed in the
    JobsView's Timeout (seconds), said alike."""
    return InputError(
        f"timeout must be a positive number of seconds up to {MAX_TIMEOUT:g}, got {given}",
        field="timeout",
        fix="give the timeout as a number of seconds above 0",
    )


def restore_advice(name: str) -> str:
    """How to bring back an earlier version of recipe `name`: the other fix of a notebook that
    does not read (`RecipeError.restorable`), offered where the recipe has a version."""
    return (
        f"restore an earlier version (`lpstudio versions {word(name)}`, then "
        f"`lpstudio restore {word(name)} VERSION`)"
    )


def _unreadable(name: str, said: str, fix: str) -> RecipeError:
    """A recipe whose notebook does not read: an earlier version of it, if it has one, mends
    it too (`RecipeError.restorable`)."""
    error = RecipeError(f"recipe {name} is not a valid notebook: {said}", field="recipe", fix=fix)
    error.restorable = True
    return error


def _not_json(name: str, exc: json.JSONDecodeError) -> RecipeError:
    """A recipe whose file is not JSON (a comma too many, cut short), said where JSON's
    parser stopped: nbformat quotes only the file's first characters. JupyterLab cannot
    open it as a notebook ("Unreadable Notebook"), so the fix is its text editor's."""
    where = f"line {exc.lineno}, column {exc.colno}"
    return _unreadable(
        name,
        f"its JSON is broken at {where}: {exc.msg}",
        f"correct it at {where} (JupyterLab: right-click it in the file browser, Open With > "
        "Editor)",
    )


@dataclass(frozen=True)
class Recipe:
    """A validated recipe notebook; `name` is its path under `projects/`."""

    name: str
    notebook: nbformat.NotebookNode
    source: str
    path: Path | None = None

    @classmethod
    def load(cls, path: Path, name: str) -> Recipe:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise RecipeError(
                f"recipe {name} cannot be read: {exc}", field="recipe", fix="check the file"
            ) from None
        return parsed(text, name, path)

    @classmethod
    def parse(cls, text: str, name: str, path: Path | None = None) -> Recipe:
        fix_nb = "open it in JupyterLab and save it again"
        try:
            # `nbformat.reads` less its validation, which only logs: `validate` below raises.
            nb = nbformat.reader.reads(text)
            held_ids = nb.nbformat == 4 and nb.nbformat_minor >= 5
            if nb.nbformat != 4:  # into nbformat's nodes: papermill takes v3's for no notebook
                nb = nbformat.from_dict(nbformat.convert(nb, 4))
        except Exception as exc:  # nbformat raises JSON, reader and version errors alike
            if isinstance(exc, RecursionError) or isinstance(exc.__cause__, RecursionError):
                raise _too_deep(name, text) from None
            if isinstance(exc.__cause__, json.JSONDecodeError):
                raise _not_json(name, exc.__cause__) from None
            if kind := _not_object(text):
                raise _unreadable(
                    name,
                    f'its JSON is {kind}, where a notebook is an object ({{"cells": [...], ...}})',
                    "write a notebook's object in its place (JupyterLab: right-click it in the "
                    "file browser, Open With > Editor)",
                ) from None
            raise _unreadable(name, str(exc).splitlines()[0], fix_nb) from None
        try:
            if held_ids:
                _mend_cell_ids(nb)
            nbformat.validate(nb)
        except nbformat.ValidationError as exc:
            raise _unreadable(name, exc.message, fix_nb) from None
        except RecursionError:  # nested deep enough for the validator's recursion, not the reader's
            raise _too_deep(name, text) from None
        except Exception as exc:  # its repair of cell ids: one that is a list has no hash
            raise _unreadable(name, str(exc).splitlines()[0], fix_nb) from None
        try:
            if not held_ids:
                _add_cell_ids(nb)
            recipe = cls(name=name, notebook=_as_papermill_loads(nb), source=text, path=path)
            recipe._check()
        except nbformat.ValidationError as exc:
            raise _unreadable(name, exc.message, fix_nb) from None
        except RecursionError:  # nested deep enough for the validator's recursion, not the reader's
            raise _too_deep(name, text) from None
        return recipe

    def _check(self) -> None:
        if "lpstudio" not in self.notebook.metadata:
            raise RecipeError(
                f"recipe {self.name} has no metadata.lpstudio",
                field="metadata.lpstudio",
                fix=f"add to the notebook metadata: {_METADATA_EXAMPLE}",
            )
        given = self.notebook.metadata.lpstudio
        if not isinstance(given, dict):  # read as a dict by everything after this check
            raise RecipeError(
                f"recipe {self.name}: metadata.lpstudio is {_json_type(given)}, not an object",
                field="metadata.lpstudio",
                fix=f"make it an object in the notebook metadata: {_METADATA_EXAMPLE}",
            )
        self._check_finite()
        self._check_call_path()
        for error in sorted(
            _metadata_validator().iter_errors(self.metadata), key=lambda e: list(e.absolute_path)
        ):
            raise self._metadata_error(error)
        self._check_trigger_connection()
        tagged = [
            cell
            for cell in self.notebook.cells
            if "parameters" in cell.get("metadata", {}).get("tags", [])
        ]
        if not tagged:
            raise RecipeError(
                f"recipe {self.name} has no cell tagged 'parameters'",
                field="parameters",
                fix="tag the cell that defines the recipe's inputs with 'parameters' "
                "(JupyterLab: Property Inspector > Cell Tags)",
            )
        if len(tagged) > 1:
            places = [
                str(index + 1)
                for index, cell in enumerate(self.notebook.cells)
                if any(cell is other for other in tagged)
            ]
            where = ", ".join(places[:-1]) + " and " + places[-1]
            raise RecipeError(
                f"recipe {self.name} has {len(tagged)} cells tagged 'parameters' (cells "
                f"{where}, counted from 1): papermill injects values after the first only, "
                "and a later one would undo them",
                field="parameters",
                fix="keep all parameters in one cell and remove the tag 'parameters' from the "
                "others (JupyterLab: Property Inspector > Cell Tags)",
            )
        if tagged[0].cell_type != "code":
            raise RecipeError(
                f"recipe {self.name}: the cell tagged 'parameters' is not a code cell",
                field="parameters",
                fix="tag a code cell that assigns the parameters, e.g. `days_ahead: int = 7`",
            )
        if not self.notebook.metadata.get("kernelspec", {}).get("name"):
            raise RecipeError(
                f"recipe {self.name} names no kernel (metadata.kernelspec): papermill cannot "
                "tell how to run it",
                field="metadata.kernelspec",
                fix="open it in JupyterLab, choose a kernel (Kernel > Change Kernel...) and save "
                'it, or add to the notebook metadata: "kernelspec": {"name": "python3", '
                '"display_name": "Python 3", "language": "python"}',
            )
        self._check_kernel()
        try:
            declared = self.parameters
        except SyntaxError as exc:
            line = f"line {exc.lineno}" if exc.lineno else "a line"
            raise RecipeError(
                f"recipe {self.name}: the parameters cell is not valid Python ({exc.msg}, "
                f"{line} of the cell)",
                field="parameters",
                fix=f"correct {line} of the parameters cell; write each parameter as "
                "`name: type = value  # help`",
            ) from None
        for parameter in declared.values():
            if parameter.unchecked:
                raise RecipeError(
                    f"recipe {self.name}: parameter '{parameter.name}' is annotated "
                    f"`{parameter.unchecked}`, a type lpstudio cannot check, so any text "
                    "would pass for it",
                    field=f"parameters.{parameter.name}",
                    fix=f"annotate {parameter.name} in the parameters cell with {_ANNOTATIONS}",
                )
        unknown = set(self.metadata.get("parameters", {})) - set(declared)
        if unknown:
            raise RecipeError(
                f"recipe {self.name}: metadata.lpstudio.parameters refines unknown "
                f"parameters {', '.join(sorted(unknown))}",
                field="metadata.lpstudio.parameters",
                fix="refine only names assigned in the parameters cell: "
                + ", ".join(sorted(self.parameters)),
            )
        self._check_record()  # before the refinements: the built schema reads it
        self._check_refinements()
        self._check_picklists()
        self._check_connector_types()
        self._check_trigger_name()
        self._check_condition_fields()
        self._check_trigger_schemas()
        if self.trigger_kind == "schedule":
            self._check_schedule()

    def _check_finite(self) -> None:
        """Refuses NaN and Infinity anywhere in the metadata, which the notebook's JSON
        reader takes (JSON has neither): NaN passes every bound, as it compares false, so a
        `timeout` or a retry's `interval` of NaN disabled the job's deadline, and a rule's
        `value` of NaN dropped every event; an infinite `timeout` is no deadline either."""
        found = strictjson.non_finite(self.metadata)
        if found is None:
            return
        path, number = found
        where = ".".join(["metadata.lpstudio", *map(str, path)])
        example = _example_of(path)  # a JSON Schema's own, as its other refusals show
        if path[:1] == ["parameters"]:
            example = _PARAMETERS_EXAMPLE
        elif path[:2] in (["trigger", "input_schema"], ["trigger", "response_schema"]):
            example = _SCHEMA_EXAMPLES[path[1]]
        elif path[:1] == ["record"]:
            example = _SCHEMA_EXAMPLES["record"]
        raise RecipeError(
            f"recipe {self.name}: {where} is {json.dumps(number)}, not a finite number",
            field=where,
            fix=f"give {where} a finite number in the notebook metadata (example: {example})",
        )

    def _metadata_error(self, error: jsonschema.ValidationError) -> RecipeError:
        """The refusal of metadata off `METADATA_SCHEMA`, naming the field and the fix; a
        key of the trigger or a slot's name (`propertyNames`) in words, not as a regex or
        an enum of keys."""
        where = ".".join(["metadata.lpstudio", *map(str, error.absolute_path)])
        if "propertyNames" in error.schema_path and list(error.absolute_path) == ["trigger"]:
            return self._unknown_trigger_key(str(error.instance))
        if "propertyNames" in error.schema_path:
            return RecipeError(
                f"recipe {self.name}: {where} declares slot {error.instance!r}, which is no "
                "connection name (the connection named like a slot fills it)",
                field=where,
                fix=f"rename the slot in {where}, and where the recipe names it, with "
                f"{NAME_SAID}, e.g. crm",
            )
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            return self._unknown_key(where, error)
        return RecipeError(
            f"recipe {self.name}: {where} is invalid: {said_in_json(error)}",
            field=where,
            fix=f"correct {where} in the notebook metadata "
            f"(example: {_example_of(error.absolute_path)})",
        )

    def _unknown_key(self, where: str, error: jsonschema.ValidationError) -> RecipeError:
        """The refusal of a key lpstudio does not read (a slot's `lable`, `retries.intervall`),
        with the one it may be a misspelling of (it would be ignored without a word) and an
        example of the object that holds it."""
        keys = list(error.schema.get("properties", {}))
        key = next((str(k) for k in error.instance if k not in keys), "")
        close = difflib.get_close_matches(key, keys, n=1)
        change = f"rename '{key}' to '{close[0]}' in" if close else f"remove '{key}' from"
        return RecipeError(
            f"recipe {self.name}: {where} has '{key}', which lpstudio does not read (it would "
            "be ignored)",
            field=f"{where}.{key}",
            fix=f"{change} {where}; its keys are {', '.join(keys)} "
            f"(example: {_example_of(error.absolute_path)})",
        )

    def _unknown_trigger_key(self, key: str) -> RecipeError:
        """The refusal of a trigger key its kind does not read, with the key it may be a
        misspelling of, or the kind that reads it."""
        kind = self.trigger_kind
        keys = TRIGGER_KEYS[kind]
        close = difflib.get_close_matches(key, keys, n=1)
        readers = [other for other, read in TRIGGER_KEYS.items() if key in read]
        if close:
            change = f"rename '{key}' to '{close[0]}' in metadata.lpstudio.trigger"
        else:
            change = f"remove '{key}' from metadata.lpstudio.trigger" + (
                f" (only a {' or '.join(readers)} trigger reads it)" if readers else ""
            )
        return RecipeError(
            f"recipe {self.name}: metadata.lpstudio.trigger has '{key}', which a {kind} "
            "trigger does not read (it would be ignored)",
            field=f"metadata.lpstudio.trigger.{key}",
            fix=f"{change}; a {kind} trigger's keys are {', '.join(keys)}",
        )

    def _no_slot(self, where: str, slot: str) -> RecipeError:
        """The refusal of `where` in the metadata naming `slot`, no connection slot of the
        recipe: no connection could ever be bound to it."""
        return RecipeError(
            f"recipe {self.name}: {where} '{slot}' is no connection slot of the recipe",
            field=where,
            fix=self._name_a_slot(),
        )

    def _name_a_slot(self) -> str:
        """The fix of a trigger or pick list that names no slot of the recipe."""
        slots = self.metadata.get("connections", {})
        return "name one of the recipe's connection slots: " + (
            ", ".join(slots) or "(none yet: declare it in metadata.lpstudio.connections)"
        )

    def _check_trigger_connection(self) -> None:
        """A trigger's connection must be a slot of the recipe: a webhook recipe would
        otherwise start and refuse every delivery (503), and a poll one be refused only at
        Start, after runs by hand that seemed fine. A poll needs one, and so does a webhook
        that names a trigger: without it the name was ignored and unsigned deliveries taken."""
        trigger = self.metadata.get("trigger", {})
        slot, kind = trigger.get("connection"), self.trigger_kind
        if slot and slot not in self.metadata.get("connections", {}):
            raise self._no_slot("metadata.lpstudio.trigger.connection", slot)
        if slot or not (kind == "poll" or (kind == "webhook" and trigger.get("trigger"))):
            return
        why = (
            "nothing could be polled"
            if kind == "poll"
            else f"its trigger '{trigger['trigger']}' would be ignored and unsigned deliveries "
            "taken"
        )
        raise RecipeError(
            f"recipe {self.name}: its {kind} trigger names no connection slot "
            f"(metadata.lpstudio.trigger.connection), so {why}",
            field="metadata.lpstudio.trigger.connection",
            fix=self._name_a_slot()
            + ("" if kind == "poll" else "; or remove 'trigger' to take unsigned deliveries"),
        )

    def _check_call_path(self) -> None:
        """A callable's `trigger.path` must be reached by a URL as it is written: a client
        sends `/call/v1/x/../y` as `/call/v1/y`, so a path with a `.` or `..` segment, or an
        empty one (`v1//y`, `v1/`), would be listed in the OpenAPI document and started,
        while its calls reach another path (404). Checked before the rest of the metadata,
        to say so in words rather than as `CALL_PATH`'s regular expression. A recipe that
        gives none is called at its file's stem (`endpoint_path`): one holding a character
        outside ASCII's printable ones (`🛒.ipynb`, `café.ipynb`) started and was shown at
        `/call/🛒`, which no URL reaches (the route takes ASCII escapes only), so it is
        refused; other ASCII (`two words`, `a&b`) is reached percent-encoded, as callers
        already call such recipes, and is left alone."""
        trigger = self.metadata.get("trigger")
        if not isinstance(trigger, dict) or trigger.get("kind") != "callable":
            return
        where = "metadata.lpstudio.trigger.path"
        path = trigger.get("path")
        if path is None:
            stem = Path(self.name).stem
            found = None if stem.isascii() and stem.isprintable() else _unreachable(stem)
            if found is not None:
                raise RecipeError(
                    f"recipe {self.name} gives no {where}, so it is called at its file "
                    f"name {stem!r}, which {found}",
                    field=where,
                    fix=f"give {where} in the notebook's metadata ({_closest_said(stem)}): "
                    f"segments of {_CALL_PATH_SAID} separated by single slashes; or rename "
                    "the notebook to such a name",
                )
            return
        if not isinstance(path, str):
            return  # not text: `METADATA_SCHEMA` says so
        found = _unreachable(path)
        if found is None:
            return
        raise RecipeError(
            f"recipe {self.name}: {where} {path!r} {found}",
            field=where,
            fix=f"write {where} as segments of {_CALL_PATH_SAID} separated by single slashes, "
            f"no . or .., the first starting with a letter or digit ({_closest_said(path)})",
        )

    def _check_trigger_name(self) -> None:
        """A poll or webhook trigger must be one its slot's connector offers: it was
        refused only at Start, a poll or a delivery, with a fix to bind another connection,
        which the slot's type forbids. A connector not found here (a stored version, one
        that does not load) is left to where the recipe runs, as `_check_connector_types`
        leaves it; a poll that names no trigger is refused all the same."""
        trigger, kind = self.metadata.get("trigger", {}), self.trigger_kind
        slot, where = trigger.get("connection"), "metadata.lpstudio.trigger.trigger"
        if kind not in ("poll", "webhook") or not slot:
            return
        name = trigger.get("trigger", "webhook" if kind == "webhook" else "")  # as read
        connectors = self._connectors()
        connector = connectors.get(self.metadata["connections"][slot]["type"])
        if name and (connector is None or name in _triggers_of(connector, kind)):
            return
        if not name:
            said = f"its poll trigger names no trigger of its connector ({where})"
        elif "trigger" not in trigger:
            said = (
                f"its webhook trigger names no trigger, and the {connector.name} connector "
                f"(slot {slot}) has no webhook trigger {quoted(name)}, the one read then"
            )
        else:
            said = (
                f"{where} {quoted(name)} is no {kind} trigger of the {connector.name} connector "
                f"(slot {slot})"
            )
        raise RecipeError(
            f"recipe {self.name}: {said}",
            field=where,
            fix=_trigger_fix(connectors, connector, kind, slot)
            if connector is not None
            else f"name in {where} a poll trigger of the connector of slot {slot} "
            "(`lpstudio connectors` lists them)",
        )

    def _check_condition_fields(self) -> None:
        """A poll trigger's conditions must name fields its records have, where its
        connector declares them all (the schema of the trigger's `object` closes them with
        `additionalProperties: false`, as Shopify's checkout does): on a misspelt one
        (`totl_price`) every event failed the rule, and the poll dropped them all without a
        word. A path may go down into a field that is an object (`customer.first_name`, as
        `triggers.matches` reads it), not into a list or a text; below a field whose own
        fields are not all declared, and for records whose fields no connector can know (a
        SQL table's rows, a CSV file's), any field is taken."""
        trigger = self.metadata.get("trigger", {})
        rules = trigger.get("conditions", {}).get("rules", [])
        slot = self.metadata.get("connections", {}).get(trigger.get("connection"), {})
        connector = self._connectors().get(slot.get("type")) if rules else None
        polled = connector.poll_triggers.get(trigger.get("trigger", "")) if connector else None
        record = connector.objects.get(polled.object or "") if connector and polled else None
        if connector is None or polled is None or record is None:
            return
        for index, rule in enumerate(rules):
            where = f"metadata.lpstudio.trigger.conditions.rules.{index}.field"
            problem = _unknown_field(record, rule["field"], polled.object or "record")
            outcome = "no event has it, so the rule would compare nothing, and a poll would "
            outcome += "pass or drop every event alike"
            if problem is None:
                problem = _unordered(record, rule, polled.object or "record")
                outcome = "no event passes the rule, so a poll would drop every event"
            if problem is not None:
                said, fix = problem
                raise RecipeError(
                    f"recipe {self.name}: {where} '{rule['field']}' {said} (the records of "
                    f"the {connector.name} trigger {polled.name}): {outcome}",
                    field=where,
                    fix=f"correct {where}: {fix}",
                )

    def _connectors(self) -> dict[str, Connector]:
        """The connectors that load where the recipe is (bundled, installed and its
        workspace's own); none for a recipe read without its file."""
        if self.path is None:
            return {}
        from .registry import load_connectors  # here: loading connectors imports their code

        return load_connectors(_workspace_of(self.path, self.name))

    def _check_connector_types(self) -> None:
        """Each slot's connector type must be one lpstudio has (bundled, installed or the
        workspace's own, in its `connectors/` folder): no connection could fill the slot,
        and `lpstudio settings` and the forms would say to create one of that type. A
        recipe read without its file (a stored version, a package's) is not checked: the
        workspace whose connectors it may use is not known. A connector that does not load
        is the workspace's to fix, not the recipe's: where the recipe runs says so."""
        if self.path is None:
            return
        from .registry import get_connector  # here: loading connectors imports their code

        root = _workspace_of(self.path, self.name)
        for slot, spec in self.metadata.get("connections", {}).items():
            try:
                get_connector(spec["type"], root)
            except NotFoundError as exc:
                raise missing_connector(self.name, slot, spec["type"], exc, root) from None
            except LpstudioError:
                continue

    def _check_kernel(self) -> None:
        """The kernel the notebook names must be installed here, and run Python: papermill
        would otherwise fail the job it had already made (NoSuchKernel, or lpstudio's
        bootstrap refused)."""
        from jupyter_client.kernelspec import NoSuchKernel

        from .pool import find_kernel_spec

        name, manager = self.notebook.metadata.kernelspec.name, _installed_kernel_specs()
        try:  # once: each lookup builds a KernelSpec, a tenth of a millisecond
            spec = find_kernel_spec(manager, name)
        except NoSuchKernel:
            raise RecipeError(
                f"recipe {self.name} names kernel '{name}' (metadata.kernelspec.name), which "
                "is not installed here",
                field="metadata.kernelspec.name",
                fix=f"choose an installed kernel ({_installed_kernels(manager)}) in JupyterLab "
                f"(Kernel > Change Kernel...) and save it, or install '{name}'",
            ) from None
        check_kernel_language(name, spec, f"recipe {self.name}")

    def _check_refinements(self) -> None:
        """The refinements must be JSON Schema themselves: a `minimum` that is not a number
        or a `pattern` that is not a regular expression would otherwise break every check of
        a value, at run time; and a keyword none applies (`minimun`) would refine nothing
        without a word."""
        # In the built schema the refinement sits at properties.<name>.<keyword>... The
        # record it holds is checked as a document of its own (`_check_record`): its `$ref`s
        # lead into its own `$defs`, not the built schema's.
        built = {key: value for key, value in self.schema.items() if key != "x-record"}
        self._check_json_schema(built, "metadata.lpstudio.parameters", _PARAMETERS_EXAMPLE, skip=1)
        for name, spec in self.metadata.get("parameters", {}).items():
            self._check_keywords(spec, f"metadata.lpstudio.parameters.{name}", "a refinement")

    def _check_keywords(self, schema: Any, where: str, what: str) -> None:
        """Refuses a keyword of `schema` (found at `where` in the notebook metadata), or of
        one of its subschemas, that is no JSON Schema keyword lpstudio applies: the
        meta-schema allows any, so a misspelt `requried` or `patern` would check nothing
        without a word, and a callable would take the calls it was meant to refuse."""
        known = _known_keywords()
        for path, keyword in schema_keywords(schema):
            if keyword not in known:
                raise self._unknown_keyword(".".join([where, *map(str, path)]), keyword, what)

    def _unknown_keyword(self, where: str, keyword: str, what: str) -> RecipeError:
        """The refusal of a keyword at `where` that is no JSON Schema keyword lpstudio
        applies, with the one it may be a misspelling of, or what replaced it since an
        older draft (`definitions`: `$defs`)."""
        replaced = _replaced_keywords().get(keyword)
        close = difflib.get_close_matches(keyword, sorted(_known_keywords()), n=1)
        if replaced is not None:
            change = f"replace '{keyword}' in {where} ({replaced})"
        elif close:
            change = f"rename '{keyword}' to '{close[0]}' in {where}"
        else:
            change = f"remove '{keyword}' from {where}"
        return RecipeError(
            f"recipe {self.name}: {where}.{keyword} is no JSON Schema keyword lpstudio "
            "applies (it would be ignored)",
            field=f"{where}.{keyword}",
            fix=f"{change}; {what} takes JSON Schema 2020-12's keywords (such as minimum, "
            "maxLength, pattern, enum, required, properties) and lpstudio's "
            + ", ".join(_LPSTUDIO_KEYWORDS),
        )

    def _check_picklists(self) -> None:
        """A parameter's pick list (`"x-picklist": {"connection": SLOT, "list": NAME}`) must
        name a connection slot of the recipe and a list of that slot's connector: the form
        would otherwise only say to choose a connection, which could never help. A list is
        checked where the connector is installed with lpstudio (a workspace's own connector
        is not known here)."""
        from .registry import load_connectors  # here: loading connectors imports their code

        slots = self.metadata.get("connections", {})
        for name, spec in self.metadata.get("parameters", {}).items():
            if "x-picklist" not in spec:
                continue
            picklist, where = spec["x-picklist"], f"metadata.lpstudio.parameters.{name}.x-picklist"
            if not (
                isinstance(picklist, dict)
                and isinstance(picklist.get("connection"), str)
                and isinstance(picklist.get("list"), str)
            ):
                raise RecipeError(
                    f"recipe {self.name}: {where} names no connection slot and list",
                    field=where,
                    fix=f"correct {where} in the notebook metadata (example: {_PICKLIST_EXAMPLE})",
                )
            slot, listed = picklist["connection"], picklist["list"]
            if slot not in slots:
                raise self._no_slot(f"{where}.connection", slot)
            connector = load_connectors().get(slots[slot].get("type"))
            if connector is not None and listed not in connector.picklists:
                raise RecipeError(
                    f"recipe {self.name}: {where}.list '{listed}' is no pick list of the "
                    f"{connector.name} connector (slot {slot})",
                    field=f"{where}.list",
                    fix=f"name one of the pick lists of {connector.name}: "
                    + (", ".join(connector.picklists) or "(it has none)"),
                )

    def _check_trigger_schemas(self) -> None:
        """A trigger's input and response schemas must be JSON Schema: a `pattern` that is
        no regular expression would otherwise fail every delivery, call or answer with
        jsonschema's own error, rather than be named where a broken recipe is (`lpstudio
        recipes`, and 503 to the recipe's callers and senders once it is started)."""
        trigger = self.metadata.get("trigger", {})
        for key in ("input_schema", "response_schema"):
            where = f"metadata.lpstudio.trigger.{key}"
            self._check_json_schema(trigger.get(key, {}), where, _SCHEMA_EXAMPLES[key])
            self._check_keywords(trigger.get(key, {}), where, f"a trigger's {key}")

    def _check_record(self) -> None:
        """The record that templates render over must be JSON Schema too: its fields are
        the placeholders and the `x-object-field` choices, and a misspelt
        `additionalProperty` left it open, so that none of them was checked."""
        record = self.metadata.get("record", {})
        where = "metadata.lpstudio.record"
        self._check_json_schema(record, where, _SCHEMA_EXAMPLES["record"])
        self._check_keywords(record, where, "a record")

    def _check_json_schema(
        self, schema: dict[str, Any], where: str, example: str, skip: int = 0
    ) -> None:
        """A `RecipeError` naming the keyword of `schema` (found at `where` in the notebook
        metadata, less `skip` leading parts of its path) that is not JSON Schema."""
        error = _schema_refusal(json.dumps(schema, sort_keys=True, default=str))
        if error is not None:
            field = ".".join([where, *map(str, list(error.path)[skip:])])
            cause = f" ({error.cause})" if error.cause else ""
            raise RecipeError(
                f"recipe {self.name}: {field} is not valid JSON Schema: "
                f"{said_in_json(error)}{cause}",
                field=field,
                fix=f"correct {field} in the notebook metadata (example: {example})",
            )
        # A reference is followed only when a value is checked: one that leads nowhere would
        # fail every delivery, call or run with jsonschema's error, not name the recipe.
        reference = dangling_reference(schema)
        if reference is not None:
            path, keyword, ref = reference.path, reference.keyword, reference.ref
            field = ".".join([where, *map(str, path[skip:]), keyword])
            raise RecipeError(
                f"recipe {self.name}: {field} {ref!r} leads nowhere in the schema",
                field=field,
                fix=f"point {field} at a definition of the same schema, such as "
                "'#/$defs/phone' (other documents are not fetched)",
            )

    def _check_schedule(self) -> None:
        """A schedule's cron and time zone, checked when the recipe is read rather than when
        it is started, so that `recipes`, `run` and the forms report them too."""
        from .scheduler import validate_cron  # here: the scheduler imports this module

        trigger = self.metadata.get("trigger", {})
        if "cron" not in trigger:
            raise RecipeError(
                f"recipe {self.name}: {TRIGGER_FIELD}cron is missing: a schedule trigger "
                "fires at the times its cron expression gives",
                field=f"{TRIGGER_FIELD}cron",
                fix=f"add a cron to {TRIGGER_FIELD[:-1]} in the notebook metadata "
                f"(example: {_example_of(['trigger'])})",
            )
        try:
            validate_cron(trigger.get("cron", ""), trigger.get("timezone", "UTC"))
        except InputError as exc:
            where = f"metadata.lpstudio.{exc.field}"
            raise RecipeError(
                f"recipe {self.name}: metadata.lpstudio.{exc.message}",
                field=where,
                fix=f"set {where} in the notebook metadata: {exc.fix}",
            ) from None

    @property
    def metadata(self) -> dict[str, Any]:
        return dict(self.notebook.metadata.get("lpstudio", {}))

    @property
    def title(self) -> str:
        return str(self.metadata["title"])

    @property
    def trigger_kind(self) -> str:
        return str(self.metadata.get("trigger", {}).get("kind", "manual"))

    @property
    def needs_event(self) -> bool:
        """Whether its cells work on what is posted to it (a webhook's delivery, a call's
        body): a real run without an event cannot do its work."""
        return self.trigger_kind in ("webhook", "callable")

    @property
    def timeout(self) -> float | None:
        return self.metadata.get("timeout")

    @property
    def concurrency(self) -> int:
        """How many of its jobs run at once, whoever started them (default 1: in turn). A
        test run, which sends nothing, neither waits nor counts; with a Dask executor it
        binds only the jobs schedulers run."""
        return int(self.metadata.get("concurrency", 1))

    @cached_property
    def parameters(self) -> dict[str, Parameter]:
        return inspect_parameters(self.notebook)

    @cached_property
    def schema(self) -> dict[str, Any]:
        metadata = self.metadata
        return build_schema(self.parameters, metadata.get("parameters", {}), metadata.get("record"))

    def describe(self) -> dict[str, Any]:
        """The JSON shape of a recipe for listings and `--json`."""
        return {
            "recipe": self.name,
            "title": self.title,
            "description": self.metadata.get("description", ""),
            "trigger": self.trigger_kind,
            "connections": self.metadata.get("connections", {}),
            "parameters": self.schema,
        }

    @cached_property
    def canonical_json(self) -> str:
        """The notebook's content in a stable form, for content-addressed versions."""
        return _canonical(self.notebook)


def _unreachable(path: str) -> str | None:
    """Why no URL reaches a callable's path as written, in words; None when one does."""
    segments = path.split("/")
    found = next((_UNREACHABLE_SEGMENTS[s] for s in segments if s in _UNREACHABLE_SEGMENTS), None)
    if found is not None:
        return f"has {found}: its calls would reach another path"
    if not CALL_PATH.match(path):
        return (
            "holds a character other than ASCII letters A-Z or a-z, digits, '_', '.', '-' or "
            "'/', or does not start with a letter or digit"
        )
    return None


def _closest_said(path: str) -> str:
    """The valid callable path nearest `path`, in its refusal's fix (`_closest_path`): each
    segment it could not spell in ASCII (`オプトイン`) kept as a NAME to write, not dropped."""
    closest, lost = _closest_path(path)
    if closest is None:
        return "such as 'v1/optin'"
    if not lost:
        return f"closest: {closest!r}"
    names = ", ".join(f"{name}: {segment!r}" for name, segment in lost.items())
    return f"closest: {closest!r}, {names} spelt in ASCII letters"


def _closest_path(path: str) -> tuple[str | None, dict[str, str]]:
    """The valid callable path nearest `path` (None when none is near), and the segments
    it holds a NAME for (`NAME`, `NAME1`...: the segment each stands for). Its segments as
    a client sends them (`.` and `..` resolved, `//` merged, as `posixpath.normpath` does)
    with their accents dropped (`été` as `ete`) and each run of other characters as one
    `-`, none at a segment's ends (`Opt In!` as `Opt-In`), and what leads it that is no
    letter or digit (`/lead` as `lead`) dropped; a segment whose letters or digits none
    are Latin (`オプトイン`) as a NAME, which a path holding it keeps in its place."""
    segments = [s for s in posixpath.normpath(path).split("/") if s not in _UNREACHABLE_SEGMENTS]
    plain = [_ascii_segment(segment) for segment in segments]
    lost = [s for s, said in zip(segments, plain, strict=True) if not said and _named(s)]
    names = {s: "NAME" if len(lost) == 1 else f"NAME{n}" for n, s in enumerate(lost, 1)}
    closest = "/".join(said or names.get(s, "") for s, said in zip(segments, plain, strict=True))
    closest = re.sub("^[^A-Za-z0-9]+", "", re.sub("//+", "/", closest).strip("/"))
    if not closest or _unreachable(closest) is not None:
        return None, {}
    return closest, {name: segment for segment, name in names.items()}


def _ascii_segment(segment: str) -> str:
    """`segment` in the characters of `CALL_PATH`: its Latin letters without their accents
    (NFKD, combining marks dropped), each run of other characters one `-`, none at its ends."""
    plain = "".join(
        c for c in unicodedata.normalize("NFKD", segment) if not unicodedata.combining(c)
    )
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", plain).strip("-")


def _named(segment: str) -> bool:
    """Whether `segment` holds a letter or digit of any script: a name, not punctuation."""
    return any(c.isalnum() for c in segment)


def _triggers_of(connector: Connector, kind: str) -> dict[str, Any]:
    """The connector's triggers a trigger of `kind` (poll or webhook) may name."""
    return connector.poll_triggers if kind == "poll" else connector.webhook_triggers


#: How a condition's refusal calls a record field of a JSON type that holds no fields.
_NO_FIELDS = {
    "array": "a list",
    "string": "a text",
    "number": "a number",
    "integer": "a number",
    "boolean": "true or false",
}


def _unknown_field(schema: dict[str, Any], path: str, record: str) -> tuple[str, str] | None:
    """Why no record of `schema` (a `record`, say a checkout) has the dotted field `path`,
    and the fix naming the nearest fields it has; None when one may have it."""
    node, parts = schema, path.split(".")
    for depth, part in enumerate(parts):
        above = ".".join(parts[:depth])
        kinds = node.get("type", "object")
        kinds = [kinds] if isinstance(kinds, str) else list(kinds)
        if "object" not in kinds:
            holds = next((_NO_FIELDS[k] for k in kinds if k in _NO_FIELDS), "null")
            return (
                f"reads inside '{above}', which is {holds} in a {record}, not an object with "
                "fields",
                f"compare '{above}' itself (`contains` finds a text in it), or name another "
                f"field of a {record}",
            )
        known = node.get("properties", {})
        if part in known:
            node = known[part]
            continue
        if node.get("additionalProperties", True) is not False or node.get("patternProperties"):
            return None
        names = sorted(known)
        close = difflib.get_close_matches(part, names, n=3, cutoff=0.5)
        prefix = f"{above}." if above else ""
        listed = [prefix + name for name in (close or names)]
        named = ", ".join(listed[:-1]) + " or " + listed[-1] if len(listed) > 1 else listed[0]
        return (
            f"is no field of a {record}" if not above else f"is no field of a {record}'s {above}",
            f"name a field a {record} has, " + (f"perhaps {named}" if close else f"one of {named}"),
        )
    return None


def _declared(schema: dict[str, Any], path: str) -> dict[str, Any] | None:
    """The schema a record of `schema` declares for its dotted field `path`; None where it
    declares none (a field below one whose own fields are not all declared)."""
    node: Any = schema
    for part in path.split("."):
        node = node.get("properties", {}).get(part) if isinstance(node, dict) else None
        if node is None:
            return None
    return node if isinstance(node, dict) else None


def _unordered(schema: dict[str, Any], rule: dict[str, Any], record: str) -> tuple[str, str] | None:
    """Why a rule that orders (`>`, `<=`...) can never order the field it names, which a
    record of `schema` declares a list, an object or true or false (`line_items > 5`):
    each event failed it, and a poll dropped them all for good, said only in the server's
    log. None when the field may hold a number or a text."""
    declared = (
        _declared(schema, rule["field"]) if rule.get("op") in ("<", "<=", ">", ">=") else None
    )
    kinds = (declared or {}).get("type")
    kinds = [kinds] if isinstance(kinds, str) else list(kinds or [])
    held = [kind for kind in kinds if kind != "null"]
    if not held or any(kind in ("string", "number", "integer") for kind in held):
        return None
    holds = " or ".join(
        {"object": "an object"}.get(kind, _NO_FIELDS.get(kind, kind)) for kind in held
    )
    return (
        f"is {holds} in a {record}, which `{rule['op']}` cannot order: it orders numbers and texts",
        f"order a field that holds a number or a text, or compare '{rule['field']}' with == "
        "or !=, or test it with exists",
    )


def _trigger_fix(
    connectors: dict[str, Connector], connector: Connector, kind: str, slot: str
) -> str:
    """How to name a trigger of `kind` that `slot`'s connector offers; when it offers
    none, the slot's type must change (no connection of its type could ever do)."""
    offered = _triggers_of(connector, kind)
    if offered:
        return f"name one of the {kind} triggers of {connector.name}: {', '.join(offered)}"
    types = sorted(c.name for c in connectors.values() if _triggers_of(c, kind))
    return (
        f"the {connector.name} connector has no {kind} trigger: give slot {slot} a type that "
        f"has one ({', '.join(types) or 'none is installed'}) in "
        f"metadata.lpstudio.connections.{slot}.type, or use another trigger kind"
    )


def missing_connector(
    name: str, slot: str, kind: str, missing: NotFoundError, root: Path | None
) -> RecipeError:
    """The refusal of recipe `name`, whose `slot` needs a connector of type `kind` that
    lpstudio does not have (`missing`, the registry's answer), in workspace `root`: most
    often one removed since (its package uninstalled, its file deleted), which installing
    again mends, else a type misspelt in its metadata, which no connection could fill."""
    from .registry import known_types  # here: loading connectors imports their code

    where = f"metadata.lpstudio.connections.{slot}.type"
    return RecipeError(
        f"recipe {name}: slot '{slot}' needs a connector of type '{kind}', which lpstudio "
        "does not have",
        field=where,
        fix=f"{missing.fix}; or, if '{kind}' is misspelt, correct {where} in the notebook "
        f"metadata: {known_types(root)}",
    )


def _workspace_of(path: Path, name: str) -> Path | None:
    """The workspace whose `projects/` holds the recipe at `path` (`name` is its path
    there), else None (a gallery template). Read from the path as given first: `projects/`
    may be a link to a folder named otherwise (a shared disk)."""
    from .workspace import CONFIG_NAME

    depth = len(PurePosixPath(name).parts)
    for folders in (Path(os.path.abspath(path)).parents, path.resolve().parents):
        if len(folders) > depth and folders[depth - 1].name == "projects":
            root = folders[depth]
            if (root / CONFIG_NAME).is_file():
                return root
    return None


def _json_type(value: Any) -> str:
    """What JSON calls the type of `value`, for a message (`metadata.lpstudio is null`)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "a list" if isinstance(value, list) else "a string"


def _add_cell_ids(nb: nbformat.NotebookNode) -> None:
    """Upgrades a notebook written without cell ids (before nbformat 4.5) as nbformat's
    `upgrade` does, but with ids from each cell's position: `upgrade` (which papermill calls)
    draws random ones, so the same file would hash to a new version on every read."""
    for index, cell in enumerate(nb.cells):
        cell.id = f"cell-{index}"
    nb.metadata.setdefault("orig_nbformat_minor", nb.nbformat_minor)
    nb.nbformat_minor = nbformat.v4.nbformat_minor


def _mend_cell_ids(nb: nbformat.NotebookNode) -> None:
    """Gives a cell of a 4.5+ notebook that has no id, or one an earlier cell has, an id from
    its position, before `nbformat.validate` draws random ones: the same file hashed to a
    new version on every read (a notebook written by a script, or merged by hand)."""
    seen: set[str] = set()
    for index, cell in enumerate(nb.cells):
        given = cell.get("id")
        if "id" not in cell or (isinstance(given, str) and given in seen):
            base = f"{given[:48]}-" if isinstance(given, str) else "cell-"
            mended, extra = f"{base}{index}", 0
            while mended in seen:  # an earlier cell's own id (a later one's is mended)
                extra += 1
                mended = f"{base}{index}-{extra}"
            cell["id"] = given = mended
        if isinstance(given, str):
            seen.add(given)


def without_papermill(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of `nb` without what papermill's `load_notebook_node` adds to a notebook it
    reads: the notebook's `metadata.papermill` when it is the one this papermill's loader
    writes (empty parameters and environment, its version), each cell's `metadata.papermill`
    when empty and `metadata.tags` when empty. Loading the copy again gives `nb` back, so a
    version written to a file without them reads back as the same version. Anything else
    stays: a user's papermill metadata and tags, and the metadata another papermill's loader
    added (this one would keep it, where it would add its own version in its place)."""
    from papermill.version import version  # imported as `Recipe.parse` imports papermill

    nb = copy.deepcopy(nb)
    added = {"default_parameters": {}, "parameters": {}, "environment_variables": {}}
    if nb.metadata.get("papermill") == {**added, "version": version}:
        del nb.metadata["papermill"]
    for cell in nb.cells:
        for key in ("papermill", "tags"):
            if cell.metadata.get(key, None) in ({}, []):
                del cell.metadata[key]
    return nb


def notebook_file(content: str) -> str:
    """The file's text that a stored version's `content` is written back as (by a restore):
    the notebook as JupyterLab saves it (nbformat's `writes`, and a newline at its end),
    without what papermill's loader added (`without_papermill`). Versions are
    stored and hashed in `Recipe.canonical_json`'s form, which is no notebook file's: written
    as it is, every cell's metadata gained papermill's keys and `git diff` showed each line
    changed. Content in no such form (the text of a notebook that did not load, kept by
    `Studio.keep_current`) is written back as it is."""
    try:
        held = json.loads(content)
        if not (isinstance(held, dict) and _canonical(held) == content):
            return content
        nb = nbformat.from_dict(held)
        nbformat.validate(nb)
    except (ValueError, RecursionError, nbformat.ValidationError):  # JSON, depth, schema
        return content
    return nbformat.writes(without_papermill(nb)) + "\n"


def _canonical(notebook: Any) -> str:
    """The text versions are stored and hashed as: changing it would give every recipe a new
    version id."""
    return json.dumps(notebook, sort_keys=True, ensure_ascii=False, indent=1)


def _as_papermill_loads(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """papermill's `load_notebook_node` (papermill/iorw.py) of a notebook read and validated
    here, without its JSON round trip: papermill writes the node to text and reads it back
    (`nbformat.writes`, `nbformat.reads`), validating it twice more and copying it, most of
    a cold parse's cost. Of a node just read, that round trip changes only nbformat's
    transient keys (`strip_transient`, which its reader applies) and the order of keys:
    sorted, the notebook's metadata keeps it (`_keys_sorted`: the order a recipe's slots are
    read in), and every writer sorts the rest anyway; the rest are papermill's own lines: its
    upgrade, the notebook's `papermill` metadata, and tags and `papermill` metadata on every cell.
    tests/test_recipe_papermill_load.py compares the two, so that a papermill normalising
    otherwise fails it."""
    from papermill.version import version

    nb = nbformat.v4.upgrade(strip_transient(nb))
    # In the order the round trip left: keys sorted (the order a recipe's connection slots
    # are listed and checked in), then papermill's own added.
    nb.metadata = _keys_sorted(nb.metadata)
    # Set as papermill sets them, by item: a NotebookNode makes a dict given so a node too.
    if "papermill" not in nb.metadata:
        nb.metadata["papermill"] = {
            "default_parameters": {},
            "parameters": {},
            "environment_variables": {},
            "version": version,
        }
    for cell in nb.cells:
        if "tags" not in cell.metadata:
            cell.metadata["tags"] = []
        if "papermill" not in cell.metadata:
            cell.metadata["papermill"] = {}
    return nb


def _keys_sorted(value: Any) -> Any:
    """`value` with the keys of every object in it sorted, as nbformat's writer sorts them."""
    if isinstance(value, dict):
        return nbformat.NotebookNode({key: _keys_sorted(value[key]) for key in sorted(value)})
    if isinstance(value, list):
        return [_keys_sorted(item) for item in value]
    return value


@lru_cache(maxsize=1)
def _metadata_validator() -> jsonschema.Draft202012Validator:
    """The validator of `METADATA_SCHEMA`, built once: it keeps the references it has
    resolved, and every parse checks a recipe's metadata against it."""
    return jsonschema.Draft202012Validator(METADATA_SCHEMA)


@lru_cache(maxsize=4096)
def parsed(text: str, name: str, path: Path | None = None) -> Recipe:
    """`Recipe.parse`, once per content: every run, listing and form check reads the same
    files and stored versions again and again, and parsing (nbformat's validation,
    papermill's normalisation and parameter inspection) costs milliseconds each time. A
    recipe is only read: papermill copies the notebook it is given before changing it.

    Bounded far above a workspace's recipe count: a listing and a scheduler's tick read
    every recipe in the same order, so a bound below it (256 was) evicts each recipe
    before it is read again, and parsed all 1,500 of a large brand's on every listing
    (52 s) and every tick. Each holds its notebook as text and as nodes: some 70 KB for a
    template's 14 KB notebook, 110 MB for 1,500 of them."""
    return Recipe.parse(text, name, path)
