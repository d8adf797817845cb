"""Checks of what people and senders give, made at the edge before anything is written:
names typed for files and projects, events (given by hand or delivered to a webhook) and
the defaults a job would run with. Each refusal is an `InputError` naming the field and
the fix. Shared by `Studio`, the CLI, webhooks and packages.
"""

from __future__ import annotations

import contextlib
import json
import re
import unicodedata
from collections import deque
from collections.abc import Callable, Collection, Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

from jsonschema import Draft202012Validator, ValidationError
from referencing.exceptions import Unresolvable

from . import strictjson
from .errors import InputError, quoted
from .jsonschemas import (
    FORMATS,
    expected,
    first_error,
    first_problem,
    fix_in_words,
    in_quotes_fix,
    integers_as_ints,
    spelled_as_text,
)
from .parameters import check_required, coerce
from .scalars import parse_scalar

if TYPE_CHECKING:
    from .recipe import Recipe


#: The longest name of a file or folder a user gives, in UTF-8 bytes (what file systems
#: count): a recipe's path holds several, and a file system takes 255 for the whole name.
MAX_NAME_BYTES = 100


def check_file_name(name: str, field: str, what: str, fix: str, typed: bool = True) -> None:
    """A file or folder name a user typed: one plain, visible name the file system takes.
    Each cause is said as it is, a length in the bytes the limit counts (a Japanese
    character takes 3: 33 fill it), with its own fix where the user can change the name
    (`typed`); else (a path a package holds) with `fix`, for any cause."""
    size = len(name.encode())
    hidden = next((char for char in name if not char.isprintable()), None)
    if not name:
        cause, own = "is empty", fix
    elif name != name.strip():
        cause, own = "begins or ends with a blank", "remove the blanks around it"
    elif name.startswith("."):
        cause, own = "begins with '.', which hides it", "remove the leading '.'"
    elif "/" in name:
        cause, own = "holds '/'", fix
    elif "\\" in name:
        cause = "holds '\\', which a package (`lpstudio export`) cannot carry"
        own = "write '_' or '-' in its place"
    elif size > MAX_NAME_BYTES:
        cause = f"is {size} bytes in UTF-8, more than {MAX_NAME_BYTES}"
        own = (
            f"shorten it to at most {MAX_NAME_BYTES} bytes (a letter beyond ASCII takes 2 to 4: "
            "33 Japanese or 50 Hebrew characters fill it)"
        )
    elif hidden is not None:
        cause, own = f"holds {hidden!r}, a character that shows as nothing", "remove it"
    else:
        return
    raise InputError(
        f"invalid {what} {quoted(name)}: it {cause}", field=field, fix=own if typed else fix
    )


def check_not_option(name: str, field: str, what: str) -> None:
    """Refuses a new name directly under projects/ (a project, or a recipe of none) that
    begins with '-': it starts a recipe's name, which a command then reads as an option
    (`lpstudio run -z/r`). One further in (`shop/-x`, a data file `-raw.csv`) starts no
    argument, and is left alone."""
    if name.startswith("-"):
        raise InputError(
            f"invalid {what} {quoted(name)}: it begins with '-', which a command reads as an "
            "option",
            field=field,
            fix="remove the leading '-'",
        )


def check_path_names(path: str, field: str, what: str, fix: str, typed: bool = True) -> None:
    """Each name of `path` (`shop/eu/cart.ipynb`, under projects/) as `check_file_name`
    takes it, a notebook's without its `.ipynb` (as Try recipe checks the name typed): what
    a new name in JupyterLab's file browser and the paths a package holds are held to, as
    the names Try recipe makes are."""
    *folders, last = path.split("/")
    for part in folders:
        check_file_name(part, field, what, fix, typed)
    check_file_name(last.removesuffix(".ipynb") or last, field, what, fix, typed)


def shortened(name: str, limit: int = MAX_NAME_BYTES) -> str:
    """`name` cut to at most `limit` bytes in UTF-8 (whole characters), marked `…` where it
    was cut: a file named after it beside other words (a job's output notebook,
    `<id>-<name>.ipynb`) then fits the 255 bytes a file system takes for a name, and keeps
    the start that says whose it is."""
    if len(name.encode()) <= limit:
        return name
    cut = name.encode()[: limit - len("…".encode())].decode(errors="ignore")
    return f"{cut}…"


#: A percent-escape, a byte as a URL writes it (`%2F` is `/`): the REST API's routes decode
#: one in a recipe's path, as README says, so a name holding one names another recipe there
#: (`a%2Fb/r.ipynb`, listed so, ran `a/b/r.ipynb`).
ESCAPE = re.compile("%[0-9A-Fa-f]{2}")


def escape_read(escape: str) -> str:
    """What a percent-escape (`ESCAPE`) in a name is to the REST API, said alike of a new
    name refused and of a recipe's on disk listed (`holds '%2F', which a URL reads as '/'`)."""
    return f"holds {quoted(escape)}, which a URL reads as {quoted(unquote(escape))}"


#: How a name is written without a percent-escape, said alike wherever one is refused.
UNESCAPED = "without a % before two hex digits"


def check_unescaped(name: str, field: str, what: str) -> None:
    """Refuses a new name (Try's project and recipe, an import's folder) holding a
    percent-escape (`ESCAPE`); one already on disk is listed with its `name_problem`
    (`recipe_name_problem`)."""
    found = ESCAPE.search(name)
    if found is None:
        return
    raise InputError(
        f"invalid {what} {quoted(name)}: it {escape_read(found[0])}, so the REST API would "
        "take it for another name",
        field=field,
        fix=f"write it {UNESCAPED}, e.g. {quoted(without_escapes(name))}",
    )


def without_escapes(name: str) -> str:
    """`name` with the `%` of each percent-escape dropped (`x%2Fy` as `x2Fy`): a name to
    suggest in its place."""
    return re.sub("%(?=[0-9A-Fa-f]{2})", "", name)


def composed(name: str) -> str:
    """`name` with its accents composed (NFC: `é` one code point), as lpstudio keeps every
    name: typed or pasted on a Mac, or packed there, `é` comes decomposed (`e` and a
    combining accent), a name that looks the same and is other bytes."""
    return unicodedata.normalize("NFC", name)


def recipe_name_problem(name: str, alike: bool = False) -> InputError | None:
    """Why the name of a recipe on disk (made before such a name was refused, by hand, or by
    a file manager) breaks later, the first rule it breaks; None when it is fine. Listed as
    its row's `name_problem`, so its user renames it before a command, an export or an
    import fails on it; each with field `recipe` and a fix naming the rename. `alike`:
    another recipe's name differs from it only in how its accents are written."""
    if alike:
        return _look_alike_recipe(name)
    return _escaped_recipe(name) or _unpathable_recipe(name)


def _look_alike_recipe(name: str) -> InputError:
    """Two recipes whose names differ only in how their accents are written (made before
    such a name was refused, `lookalikes`): listed, they look the same, and their jobs and
    audit entries are told apart by bytes alone. The one written decomposed (as a Mac
    writes it) is the one to rename."""
    this = name != composed(name)
    return InputError(
        f"recipe {name} has the same name on screen as another recipe: "
        + ("this one's accents are" if this else "the other's accents are")
        + " written decomposed (as a Mac writes them)",
        field="recipe",
        fix="rename "
        + ("this one" if this else "the other")
        + " in JupyterLab's file browser, to a name of its own",
    )


def _escaped_recipe(name: str) -> InputError | None:
    """A recipe whose name holds a percent-escape (`check_unescaped` refuses it in a new
    name): the REST API decodes it, so its path as listed names another recipe there
    (`a%2Fb/r.ipynb` ran `a/b/r.ipynb`)."""
    found = ESCAPE.search(name)
    if found is None:
        return None
    return InputError(
        f"recipe {name} {escape_read(found[0])}: the REST API reads {name} as "
        f"{unquote(name)}, and this recipe only as {quote(name, safe='/')}",
        field="recipe",
        fix=f"rename it {UNESCAPED} (in JupyterLab's file browser, or with mv), e.g. "
        + without_escapes(name),
    )


def _unpathable_recipe(name: str) -> InputError | None:
    """A recipe whose path `check_path_names` would refuse made (`shop/-x.ipynb`, `a\\b`):
    a name beginning with '-' that a command reads as an option, a backslash that a package
    cannot carry, one longer than an import takes, a hidden one."""
    try:
        check_path_names(name, "recipe", "name", "rename it")
        check_not_option(name, "recipe", "name")
    except InputError as exc:
        return InputError(
            f"recipe {name} has an {exc.message}",
            field="recipe",
            fix=f"rename it in JupyterLab's file browser (or with mv in projects/): {exc.fix}",
        )
    return None


def distinct_name(
    folder: Path,
    name: str,
    field: str,
    what: str,
    suffix: str = "",
    *,
    case: bool = True,
    listings: Listings | None = None,
) -> str:
    """`name` as a new entry of `folder` takes it: composed (NFC), refused when an entry
    there (of the names ending in `suffix`, which is left off) differs from it only in how
    its accents are written or, with `case`, in case (`look_alike`; read from `listings`
    when given). The two look alike wherever they are listed, and are one file on a
    case-insensitive disk (a Mac's, where a project is cloned)."""
    name = composed(name)
    if not folder.is_dir() or (folder / f"{name}{suffix}").exists():  # that one, as it is
        return name
    if listings is None:
        other = look_alike(folder, name, suffix, case=case)
    else:
        other = next(iter(listings.look_alikes(folder, name, suffix, case=case)), None)
    if other is not None:
        raise look_alike_refused(name, other, field, what, case=case)
    return name


def look_alike(folder: Path, name: str, suffix: str = "", *, case: bool = True) -> str | None:
    """The first of `look_alikes`; None when there is none."""
    return next(look_alikes(folder, name, suffix, case=case), None)


def look_alikes(folder: Path, name: str, suffix: str = "", *, case: bool = True) -> Iterator[str]:
    """The entries of `folder` (of those ending in `suffix`, left off) other than `name`
    itself that differ from it only in how their accents are written or, with `case`, in
    case: one read of the folder."""
    key = _spelling(name, case)
    yield from (
        other
        for other in _entries(folder, suffix)
        if other != name and _spelling(other, case) == key
    )


def _entries(folder: Path, suffix: str) -> Iterator[str]:
    """The names of `folder`'s entries ending in `suffix`, left off."""
    for entry in folder.iterdir():
        if entry.name.endswith(suffix):
            yield entry.name.removesuffix(suffix)


def _spelling(name: str, case: bool) -> str:
    """What `name` and its look-alikes share: its composed name, case-folded with `case`."""
    return composed(name).casefold() if case else composed(name)


class Listings:
    """Folders' entries by `_spelling`, each folder read once while kept: checking many
    names in one folder (each file an import writes, `distinct_path`) reads it once, not
    once per name, which was quadratic in the folder's size. Kept for one check of a set
    of names, during which nothing is written there."""

    def __init__(self) -> None:
        self._read: dict[tuple[Path, str, bool], dict[str, list[str]]] = {}

    def look_alikes(
        self, folder: Path, name: str, suffix: str = "", *, case: bool = True
    ) -> list[str]:
        """`look_alikes(folder, name, suffix, case=case)`, the folder read at most once."""
        read = self._read.get((folder, suffix, case))
        if read is None:
            read = self._read[folder, suffix, case] = {}
            for other in _entries(folder, suffix):
                read.setdefault(_spelling(other, case), []).append(other)
        return [other for other in read.get(_spelling(name, case), []) if other != name]


def look_alike_refused(name: str, other: str, field: str, what: str, *, case: bool) -> InputError:
    """The refusal of `name` beside its look-alike `other` (`look_alike`)."""
    how = "case or in how its accents are" if case else "how its accents are"
    return InputError(
        f"{what} {quoted(name)} differs from the existing {quoted(other)} only in {how} written",
        field=field,
        fix=f"give {other} for that one, or a name of its own",
    )


def distinct_path(
    root: Path, path: str, field: str, what: str, listings: Listings | None = None
) -> str:
    """Each folder of `path` (`shop/eu`) under `root`, as `distinct_name` takes it."""
    parts: list[str] = []
    for part in path.split("/"):
        parts.append(distinct_name(root.joinpath(*parts), part, field, what, listings=listings))
    return "/".join(parts)


def typed_project(projects: Path, project: str, field: str, fix: str) -> str:
    """The project a person typed, by its path under `projects`: `projects/shop`, as
    JupyterLab's file browser shows it, is the project `shop` (refused, naming both
    readings, when the workspace also has a project named `projects`)."""
    top, _, rest = project.partition("/")
    if top != projects.name:
        return project
    if not rest:
        raise InputError(
            f"project {project} is the workspace's folder of projects, not one in it",
            field=field,
            fix=fix,
        )
    ambiguous = rest != top and not rest.startswith(f"{top}/")  # projects/projects: it
    if (projects / top).is_dir() and ambiguous:
        raise InputError(
            f"project {project} could be {top}/{rest} or {top}/{top}/{rest}: the workspace "
            f"has a project named {top}",
            field=field,
            fix=f"give {rest} for {top}/{rest}, or {top}/{top}/{rest} for the other",
        )
    return rest


def check_event(event: Any) -> None:
    """Events are stored as JSON: NaN or Infinity would make every answer unreadable, and
    one nested too deep fails whatever walks it."""
    if strictjson.depth(event) > strictjson.MAX_DEPTH:
        raise InputError(
            f"the event nests arrays and objects deeper than {strictjson.MAX_DEPTH} levels",
            field="event",
            fix="give a flatter event",
        )
    found = strictjson.non_finite(event)
    if found is not None:
        path, number = found
        where = ".".join(map(str, path)) or "the event itself"
        raise InputError(
            f"the event holds {json.dumps(number)} at {where}, which JSON cannot hold",
            field="event",
            fix="give finite numbers only, or null",
        )


def input_problem(recipe: Recipe, event: Any) -> tuple[str | None, str, str] | None:
    """How `event` breaks the recipe's `trigger.input_schema` (what a webhook recipe
    takes), as (field, message, what to give there: the field's `description`); None when
    it fits or there is no schema. The field is named as a call's is (`first_problem`)."""
    schema = recipe.metadata.get("trigger", {}).get("input_schema")
    problem = None if schema is None else first_problem(schema, event)
    if problem is None:
        return None
    field, message = problem
    wanted = schema
    for part in field.split(".") if field else ():
        if not isinstance(wanted, dict):
            break
        items = wanted.get("items") if part.isdigit() else None
        wanted = wanted.get("properties", {}).get(part, items)
    described = wanted.get("description") if isinstance(wanted, dict) else None
    return field, message, described or f"see trigger.input_schema of recipe {recipe.name}"


#: The JSON literals (RFC 8259) a query value may spell.
_LITERALS: dict[str, Any] = {"true": True, "false": False, "null": None}
#: A decimal number as a bot variable may hold one: a sign, leading zeros, a fraction, an
#: exponent (`+5`, `05`, `-0.50`, `.5`, `3e2`); ASCII digits, no space nor `_`.
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
#: Text that spells no value (`_spelled`).
_NO_VALUE = object()


def _spelled(text: str) -> Any:
    """The value a query's text (or a body's field given as text) spells: a JSON literal, or
    a decimal number read as `lpstudio settings -p` reads one (`parse_scalar`): a whole
    number as `int(text, 10)` reads it, `05` and `+5` too, else a float (`2.50`, `3e2`),
    none past a float's range; else `_NO_VALUE`."""
    if text in _LITERALS:
        return _LITERALS[text]
    if _DECIMAL.fullmatch(text):
        for kind in ("integer", "number"):
            with contextlib.suppress(ValueError):  # NotFinite too
                return parse_scalar(kind, text)
    return _NO_VALUE


def _misfits(
    schema: dict[str, Any], event: dict[str, Any], names: Collection[str]
) -> dict[str, list[ValidationError]]:
    """How the input `event` breaks `schema` at each of its top-level fields `names` (a
    query's names are never dotted paths), read in the whole schema: a field may be declared
    through a `$ref`, an `allOf` or a branch of an `anyOf`, whose schema means nothing taken
    out of it."""
    validator = Draft202012Validator(schema, format_checker=FORMATS)
    errors = deque(validator.iter_errors(event))
    found: dict[str, list[ValidationError]] = {name: [] for name in names}
    while errors:  # the schema's own errors first, then those of each branch
        error = errors.popleft()
        errors.extend(error.context or ())
        at = list(error.absolute_path)[:1]
        if at and at[0] in found:
            found[at[0]].append(error)
    return found


def _wrong_type(errors: list[ValidationError]) -> bool:
    return any(error.validator == "type" for error in errors)


def typed_input(
    schema: dict[str, Any], given: dict[str, Any], texts: dict[str, str] | None = None
) -> dict[str, Any]:
    """The input `given` with the top-level fields `texts` in it (by default, those `given`
    holds as text), each in the type its field takes: one reading of a callable's input,
    whether a bot calls it or a user gives it by hand (Test, `run --event`, a REST run). A
    query holds text, and a bot's builder quotes its variables in a body too
    (`"{$botContext.count}"`), so `3` (or `03`, `+3`) is 3 for an integer field and `true`
    is true for a boolean one, while `007` stays text for a string one. A field's text when
    it fits, else the value it spells (`_spelled`) when that fits, or has the type the text
    lacks (out of its range, the input check names the range); else its text, which the
    input check refuses, naming the type. The input is checked at most twice, whatever the
    number of its fields."""
    if texts is None:
        texts = {name: value for name, value in given.items() if isinstance(value, str)}
    event = {**given, **texts}
    spelled = {name: _spelled(text) for name, text in texts.items()}
    spelled = {name: value for name, value in spelled.items() if value is not _NO_VALUE}
    if not spelled:
        return event
    try:
        as_text = {name: e for name, e in _misfits(schema, event, spelled).items() if e}
        retyped = {name: spelled[name] for name in as_text}
        as_value = _misfits(schema, {**event, **retyped}, retyped) if retyped else {}
    except Unresolvable:  # the input check answers it, as it does a body's (503)
        return event
    return event | {
        name: value
        for name, value in retyped.items()
        if not as_value[name] or (_wrong_type(as_text[name]) and not _wrong_type(as_value[name]))
    }


def input_fix(
    schema: dict[str, Any], event: Any, field: str | None, where: str = "", bot: bool = False
) -> str | None:
    """What to give where `event` breaks `schema` (at `field`, as `first_problem` names it),
    in one set of words for a call and an event given by hand: a number or true/false sent
    where text is taken, in quotes (`in_quotes_fix`, as a `bot` quotes its variable); what
    the field's own schema says plainly (its choices, its range, its description:
    `expected`), else what the refusal says to give (`fix_in_words`: a type, a format, a
    missing field); None where neither says more than the schema. `where` ("in the query ")
    says where it was given."""
    error = first_error(schema, event)
    if error is None:
        return None
    at = list(error.absolute_path)
    if error.validator in ("anyOf", "oneOf"):  # a branch's words, not "see the schema"
        error = next((e for e in error.context or () if list(e.absolute_path) == at), error)
    if error.validator == "type" and (text := spelled_as_text(schema, event, at)) is not None:
        return in_quotes_fix(at[-1] if at and isinstance(at[-1], str) else None, text, bot)
    own = error.schema if isinstance(error.schema, dict) else {}
    plain = own.get("type") in ("integer", "number", "boolean")
    if field and error.absolute_path and ("enum" in own or "description" in own or plain):
        return f"give {field} {where}as {expected(own)}"
    return fix_in_words(error)


def unused_defaults(recipe: Recipe, given: Collection[str]) -> dict[str, Any]:
    """The parameters cell's defaults that a job runs with: those of the parameters no
    value is `given` (or saved) for."""
    return {
        name: spec["default"]
        for name, spec in recipe.schema.get("properties", {}).items()
        if "default" in spec and name not in given
    }


def check_defaults(
    recipe: Recipe,
    given: dict[str, Any],
    projects: Path | None = None,
    hidden: Callable[[], Collection[str]] | None = None,
) -> None:
    """The parameters cell's defaults that a job runs with (no value given or saved) must
    pass the recipe's refinements as given values do: a default out of them (say, an empty
    name where one is required, or a `Path` that leads out of `projects`, links followed)
    means the parameter needs a value, as one declared with no default (`days: int`) does.
    `hidden` gives the workspace's secrets, masked in a refusal that quotes a default
    (`coerce`)."""
    check_required(recipe.schema, given, recipe.name)
    defaults = unused_defaults(recipe, given)
    if not defaults:
        return  # every parameter given: nothing to check on a job's path
    try:
        coerce(recipe.schema, defaults, recipe=recipe.name, projects=projects, hidden=hidden)
    except InputError as exc:  # its kind kept: a default refused as a given value is
        raise type(exc)(
            f"{exc.message} (the default of the parameters cell, as no value was given)",
            field=exc.field,
            fix=f"give {exc.field} a value, or save one in the recipe's settings: {exc.fix}",
        ) from None


def refused_defaults(recipe: Recipe, given: dict[str, Any], projects: Path | None) -> set[str]:
    """The parameters whose default `check_defaults` would refuse, all of them (it names
    the first): `lpstudio settings` marks each, so they are mended in one go."""
    refused = set()
    for name, default in unused_defaults(recipe, given).items():
        try:
            coerce(recipe.schema, {name: default}, projects=projects)
        except InputError:
            refused.add(name)
    return refused


def check_run_event(recipe: Recipe, event: Any, name: str = "event") -> Any:
    """An event given by hand (`--event`, `event=`) has the shape its trigger gives the
    recipe: one JSON object (a record), or a list of them for a poll trigger that dispatches
    batches; a webhook or callable recipe's must fit its input schema, as its deliveries
    and calls must (a job on an input no call can send tries nothing a bot meets), and a
    callable's input schema may take other JSON than an object. `name` is what the user
    typed it as. Returns the event a job takes (`_check_input`)."""
    if event is None:
        return None
    trigger = recipe.metadata.get("trigger", {})
    schema = trigger.get("input_schema", {})
    if trigger.get("kind") == "callable" and schema.get("type", "object") != "object":
        return _check_input(recipe, event, name)
    kinds = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    given = kinds.get(type(event), "a number")
    if trigger.get("kind") == "poll" and trigger.get("batch_size"):
        if isinstance(event, list) and all(isinstance(item, dict) for item in event):
            return event
        if isinstance(event, list):
            given = "a list holding something other than objects"
        fix = 'give a list of records such as [{"phone": "+14155550100"}]'
        if isinstance(event, dict):
            fix = _one_record_fix(event)
        raise InputError(
            f"{name} must be a JSON list of objects (recipe {recipe.name} gets its trigger's "
            f"records in batches), not {given}",
            field="event",
            fix=fix,
        )
    if not isinstance(event, dict):
        raise InputError(
            f"{name} must be a JSON object (one record of the recipe's trigger), not {given}",
            field="event",
            fix='give one record such as {"phone": "+14155550100"}',
        )
    if recipe.trigger_kind in ("webhook", "callable"):
        return _check_input(recipe, event, name)
    if recipe.trigger_kind == "schedule":
        _check_due_at(event, name)
    return event


def _one_record_fix(event: dict[str, Any]) -> str:
    """How an object given where a batch recipe takes a list is given: an answer wrapping
    its list, whose only key it is (the sandbox's `{"checkouts": [...]}`, Shopify's
    checkouts.json), as the list inside; any other as one record in a list, since a list
    of its own (a checkout's `line_items`) holds no events."""
    if len(event) == 1:
        [(key, inner)] = event.items()
        if isinstance(inner, list) and all(isinstance(item, dict) for item in inner):
            return f"give the list under {key!r} inside it, not the object around it"
    return "give a list of the event objects, this one as [{...}]"


def _check_due_at(event: dict[str, Any], name: str) -> None:
    """A schedule recipe's event given by hand is one its scheduler would give: the run's
    due time, `{"due_at": ISO 8601}` (a recipe reads it with `datetime.fromisoformat`; text
    it cannot read failed the job in its cell, after it started)."""
    due = event.get("due_at")
    try:
        readable = isinstance(due, str) and bool(datetime.fromisoformat(due))
    except ValueError:
        readable = False
    if not readable:
        shown = "it has none" if due is None else f"not {due!r}"
        raise InputError(
            f"{name} of a schedule recipe holds the run's due time as ISO 8601 text in "
            f"due_at, {shown}",
            field="event.due_at",
            fix='give it as the scheduler does, e.g. {"due_at": "2027-01-11T09:00:00+13:00"}, '
            "or run the recipe without an event",
        )


def _check_input(recipe: Recipe, event: Any, name: str) -> Any:
    """Refuses an event given by hand that its recipe's input schema refuses, naming the
    field as `event.<field>` (`event.phone`): the path in what the user gave. The
    problem is the one a call or a delivery is refused with (`first_problem`), and its fix
    the call's (`input_fix`). A callable's event is read as its call is: its fields given as
    text typed by the schema (`typed_input`: a bot's quoted "5" is 5), its whole floats ints
    where the schema says integer (`integers_as_ints`), so that it is taken and refused alike,
    and a job's event is the same whichever way it came (a webhook's delivery is kept as
    sent)."""
    schema = recipe.metadata.get("trigger", {}).get("input_schema", {})
    callable_ = recipe.trigger_kind == "callable"
    if callable_ and isinstance(event, dict):  # "5" is 5 for an integer field, as in a call
        event = typed_input(schema, event)
    problem = input_problem(recipe, event)
    if problem is not None:
        field, message, wanted = problem
        fix = input_fix(schema, event, field, bot=callable_)
        raise InputError(
            f"{name} does not fit the input schema of recipe {recipe.name}: "
            f"{field or 'the event'}: {message}",
            field=f"event.{field}" if field else "event",
            fix=fix or f"give {field or 'the event'} as the recipe takes it ({wanted})",
        )
    return integers_as_ints(schema, event) if callable_ else event
