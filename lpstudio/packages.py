"""Project packages: a project folder exported as one zip, and imported into another
workspace (Workato's "export/import a project as a package").

A package holds every recipe notebook under the folder (as stored on disk), the data files
their metadata `files` names, and `lpstudio-package.json`: who exported it, when, with which
lpstudio, each recipe's saved settings (parameter values, the connection bound to each slot,
a poll's since as its first start or poll fixed it, the failure e-mail) and each connection
those bindings name with its plain fields only. A package never holds a secret, the
encrypted blob, a failure webhook (its URL often holds a token), whether a recipe was
started, jobs, output notebooks, the outputs of its notebooks' cells (a recipe run by hand
shows customers' data there), webhook ids or API clients.

    lpstudio-package.json
    project/<path under the folder>    each notebook and data file

An import checks the whole package before it writes anything and stages its files in a
hidden folder of the workspace; then, holding the store's write lock (imports take turns,
on every server of the store), checks its targets again, writes the settings and
connections and moves the files into place in one transaction. A connection the workspace
lacks is created as a placeholder, refused by anything that would use it until `lpstudio
connections update` gives its secrets.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import uuid
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING, Any

import nbformat

from . import strictjson
from .checks import (
    Listings,
    check_file_name,
    check_path_names,
    check_unescaped,
    composed,
    distinct_path,
    quoted,
    typed_project,
)
from .connections import NAME_PATTERN, PLACEHOLDER, authorise_fix, bind_connections
from .errors import ConflictError, InputError, LpstudioError, word
from .jsonschemas import first_problem
from .models import RecipeSettings, TriggerState, utcnow
from .parameters import coerce
from .recipe import MAX_CALL_TIMEOUT, Recipe
from .redaction import scrub, scrub_text
from .registry import get_connector
from .sdk import Connector
from .settings import saved_settings
from .store import audit_in

if TYPE_CHECKING:
    from .studio import Studio

FORMAT = 1
MANIFEST = "lpstudio-package.json"
PREFIX = "project/"
#: What an import reads at most: files, and bytes once unpacked (all held in memory).
MAX_MEMBERS = 10_000
MAX_UNPACKED = 512_000_000
#: The saved settings a package carries: `state`, `started_at` stay behind (imports arrive
#: stopped), and `notify` carries its e-mail only.
CARRIED = ("parameters", "connections", "since", "notify", "call_timeout")

_SETTINGS = {  # null: a recipe broken where it was exported, carried as a file only
    "type": ["object", "null"],
    "properties": {
        "parameters": {"type": "object"},
        "connections": {"type": "object", "additionalProperties": {"type": "string"}},
        "since": {"type": "string"},
        "notify": {
            "type": "object",
            "properties": {"email": {"type": "string"}, "webhook": {"type": "string"}},
            "additionalProperties": False,
        },
        "call_timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_CALL_TIMEOUT},
    },
    "additionalProperties": False,
}

MANIFEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["format", "folder", "recipes", "connections"],
    "properties": {
        "format": {"const": FORMAT},
        "lpstudio_version": {"type": "string"},
        "exported_at": {"type": "string"},
        "exported_by": {"type": "string"},
        "folder": {"type": "string"},
        "recipes": {
            "type": "object",
            "propertyNames": {"pattern": r"\.ipynb$"},
            "additionalProperties": {
                "type": "object",
                "required": ["settings"],
                "properties": {
                    "title": {"type": ["string", "null"]},
                    "files": {"type": "array", "items": {"type": "string"}},
                    "settings": _SETTINGS,
                    "problem": {"type": ["string", "null"]},
                    "notes": {"type": "array", "items": {"type": "string"}},
                },
                "additionalProperties": False,
            },
        },
        "connections": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "required": ["type", "fields", "secrets"],
                "properties": {
                    "type": {"type": "string"},
                    "fields": {"type": "object"},
                    "secrets": {"type": "array", "items": {"type": "string"}},
                },
                "additionalProperties": False,
            },
        },
    },
    "additionalProperties": False,
}

_AGAIN = "export the project again with `lpstudio export FOLDER`"
_ELSEWHERE = "import it --into a folder of another name"
#: The note of an imported recipe whose notebook came with outputs: a package never
#: carries them (`_without_outputs`).
OUTPUTS_REMOVED = "its cells' outputs, execution counts and saved widget state were removed"


# -- export ----------------------------------------------------------------------------------


def export_project(
    studio: Studio, folder: str, out: Path | IO[bytes], field: str = "folder"
) -> dict[str, Any]:
    """Writes the package of `projects/FOLDER` (`.` for every project; `projects/shop`, as
    the file browser shows it, is `shop`) to `out`, a file that must not exist yet (written
    whole or not at all) or a binary stream (the REST API's answer); returns what it holds.
    Notebooks go without their cells' outputs (a recipe run by hand shows its customers'
    data there). Refuses a notebook or data file holding a connection's secret: a package
    never carries one. `field` is what the caller calls the folder in its errors (the
    CLI's FOLDER, the REST API's `project`)."""
    workspace = studio.workspace
    base, folder = project_folder(studio, folder, must_exist=True, field=field, typed=True)
    if isinstance(out, Path) and out.exists():
        raise InputError(
            f"{out} already exists",
            field="output",
            fix="give another file with -o, or remove that one first",
        )
    secrets = studio.connections.secret_values() | studio.store.secrets
    available = studio.connections.list()
    by_name = {info.name: info for info in available}
    recipes: dict[str, Any] = {}
    members: dict[str, bytes] = {}
    used: set[str] = set()
    for path in sorted(base.rglob("*.ipynb")):
        if not workspace.is_recipe_file(path):
            continue  # a link out of projects/, a folder named x.ipynb: no recipe of it
        rel = path.relative_to(base).as_posix()
        _check_packable(rel, f"recipes.{rel}")
        name = workspace.recipe_name(path)
        members[rel] = _refuse_secret_in(
            _without_outputs(path.read_bytes())[0], f"recipes.{rel}", secrets
        )
        entry: dict[str, Any] = {"title": None, "files": [], "settings": None, "problem": None}
        notes: list[str] = []
        try:
            recipe = Recipe.load(path, name)
        except LpstudioError as exc:
            entry["problem"] = exc.message
            notes.append("broken: exported as a file, without its settings")
        else:
            entry["title"] = recipe.title
            for data in recipe.metadata.get("files", []):
                source = path.parent / data
                if not source.is_file():
                    notes.append(f"its data file {data} is missing: not exported")
                    continue
                if not source.resolve().is_relative_to(workspace.projects.resolve()):
                    notes.append(
                        f"its data file {data} leads outside projects/ (a link): not exported"
                    )
                    continue
                data_rel = source.relative_to(base).as_posix()
                _check_packable(data_rel, f"files.{data_rel}")
                data_bytes = source.read_bytes()
                members[data_rel] = _refuse_secret_in(data_bytes, f"files.{data_rel}", secrets)
                entry["files"].append(data)
            entry["settings"] = _carried(studio, recipe, available, notes)
            entry["settings"], masked = _scrubbed(entry["settings"], secrets)
            if masked:
                notes.append("a saved value held a connection's secret and was masked")
            used |= set(entry["settings"].get("connections", {}).values())
        if notes:
            entry["notes"] = notes
        recipes[rel] = entry
    connections = {name: _connection(studio, by_name[name], secrets) for name in sorted(used)}
    manifest = {
        "format": FORMAT,
        "lpstudio_version": version("lpstudio"),
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "exported_by": studio.user,
        "folder": folder,
        "recipes": recipes,
        "connections": connections,
    }
    _write_zip(out, manifest, members)
    studio.store.audit(
        studio.user, "export", folder, recipes=sorted(recipes), connections=sorted(connections)
    )
    return {
        "package": str(out) if isinstance(out, Path) else None,
        "folder": folder,
        "recipes": [
            {"recipe": rel, "problem": e["problem"], "notes": e.get("notes", [])}
            for rel, e in recipes.items()
        ],
        "files": sorted(rel for rel in members if rel not in recipes),
        "connections": [
            {"name": name, "type": c["type"], "secrets": c["secrets"]}
            for name, c in connections.items()
        ],
    }


def _check_packable(rel: str, where: str) -> None:
    """Refuses, before anything is written, a path (under the exported folder) whose names
    an import refuses (`check_path_names`, as `_plan` checks them): a backslash, a leading
    '.' or '-', a name over the limit. Packed, the package was one no import would take,
    and its fix (export again) wrote the same package."""
    try:
        check_path_names(rel, where, "path", "")
    except InputError as exc:
        raise InputError(
            f"{exc.message}, which an import of the package would refuse",
            field=where,
            fix=f"rename it in JupyterLab's file browser (or with mv in projects/): {exc.fix}; "
            "then export again",
        ) from None


def project_folder(
    studio: Studio, folder: str, must_exist: bool, field: str, typed: bool, every: bool = True
) -> tuple[Path, str]:
    """The folder under projects/ named (`.` or empty: projects/ itself, every project, unless
    not `every`: an import's target, where it would scatter one project's recipes among the
    projects), and its name as a package keeps it; `typed` (by a user, not read from a
    package) reads it as Try recipe reads a project. Refusals name `field`, as the caller
    called the folder. An absolute folder (`/etc`) is refused, as Try recipe refuses one,
    where its `/` was dropped."""
    projects = studio.workspace.projects
    fix = "give a folder under projects/ such as shop or shop/eu" + (
        ", or . for every project"
        if every
        else ", or leave it out to import where the package was exported"
    )
    if folder.startswith("/"):
        raise InputError(f"project folder {folder} is outside projects/", field=field, fix=fix)
    if folder.strip("/") in ("", ".") and not every:
        raise InputError(
            f"project folder {quoted(folder)} is projects/ itself, not a folder in it",
            field=field,
            fix=fix + " (a package of every project, exported as ., goes back into projects/ so)",
        )
    if folder.strip("/") in ("", "."):
        return projects, "."
    if not folder.isprintable():
        raise InputError(f"invalid project folder {quoted(folder)}", field=field, fix=fix)
    if typed:
        folder = typed_project(projects, folder.rstrip("/"), field, fix)
    for part in folder.strip("/").split("/"):
        check_file_name(part, field, "project folder", fix)
    folder = distinct_path(projects, folder.strip("/"), field, "project folder")
    if not every:  # an import's target: a link on its way is refused as a file's would be
        _unlinked(projects, folder, field)
    path = studio.workspace.inside(projects / folder, projects, "folder", field)
    if (must_exist and not path.is_dir()) or (path.exists() and not path.is_dir()):
        raise InputError(
            f"projects/{folder} is not a project folder",
            field=field,
            fix="give a folder that `lpstudio recipes` lists"
            + (", or . for every project" if every else ""),
        )
    return path, path.relative_to(projects.resolve()).as_posix()


def _without_outputs(data: bytes) -> tuple[bytes, bool]:
    """A notebook as a package carries it, exported or imported: its code and metadata, no
    outputs, execution counts or saved widget state (which hold what the recipe showed, its
    customers' data, and what a notebook once trusted runs, scripts too); and whether it had
    any. One that does not read as a notebook (a broken recipe) as it is."""
    try:
        notebook = nbformat.reads(data.decode("utf-8"), as_version=4)
    except Exception:
        return data, False
    had = notebook.metadata.pop("widgets", None) is not None  # the form's Test preview
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") == "code":
            had = had or bool(cell.get("outputs")) or cell.get("execution_count") is not None
            cell["outputs"], cell["execution_count"] = [], None
    return (nbformat.writes(notebook) + "\n").encode("utf-8"), had


def _refuse_secret_in(data: bytes, where: str, secrets: set[str]) -> bytes:
    """`data`, refused when it holds a secret in any form output notebooks mask (escaped, or
    encoded in base64, URLs or hex), as written or with its escapes read as Python reads a
    string's (`'sandbox\\u002dsecret'`, as JSON too; `\\x2d`, `\\055`). A notebook's
    cells are read one by one, to name the cell to remove it from."""
    text = data.decode("utf-8", "replace")
    places: list[tuple[str, str]] = []
    if where.startswith("recipes."):
        with contextlib.suppress(Exception):  # a broken recipe is read as text only
            cells = nbformat.reads(text, as_version=4).get("cells", [])
            places = [(f" in cell {n}", cell.get("source", "")) for n, cell in enumerate(cells, 1)]
    for place, written in [*places, ("", text)]:  # its cells, then the file (its metadata)
        with warnings.catch_warnings():  # `\q` is kept as written, with a warning
            warnings.simplefilter("ignore", DeprecationWarning)
            read = written.encode("latin-1", "backslashreplace").decode(
                "unicode_escape", "backslashreplace"
            )
        if scrub_text(written, secrets) != written or scrub_text(read, secrets) != read:
            raise InputError(
                f"{where.split('.', 1)[1]} holds the secret of a connection{place}: a package "
                "never carries one",
                field=where,
                fix="remove it from the file (for a notebook: from its code) and let the "
                "recipe read it through its connection",
            )
    return data


def _carried(
    studio: Studio, recipe: Recipe, available: list[Any], notes: list[str]
) -> dict[str, Any]:
    """The recipe's saved settings a package carries, each slot bound by name: the saved
    binding, else the connection that fills it by default here (pinned, so that it keeps
    filling it in a workspace with others of its type). A poll that has polled carries
    where its polls reached (its last poll), not where they began: its importer's first
    start polls from there, neither sending again what this workspace's jobs sent (its
    ledger does not travel) nor skipping what came after."""
    saved = saved_settings(studio.store, recipe.name)
    carried = {key: saved[key] for key in CARRIED if key in saved}
    if recipe.trigger_kind == "poll":
        with studio.store.read() as s:
            polled = s.get(TriggerState, recipe.name)
        if polled is not None and (polled.seen or polled.cursor is not None):
            carried["since"] = polled.updated_at.isoformat()
    notify = dict(carried.pop("notify", None) or {})
    if notify.pop("webhook", None):
        notes.append(
            "its failure webhook was not exported (its URL may hold a token): set it again "
            f"with `lpstudio settings {word(recipe.name.removesuffix('.ipynb'))} "
            "--notify-webhook URL`"
        )
    if notify:
        carried["notify"] = notify
    slots = recipe.metadata.get("connections", {})
    known = {info.name for info in available}
    chosen = {s: n for s, n in carried.get("connections", {}).items() if s in slots}
    for slot, name in list(chosen.items()):
        if name not in known:
            notes.append(f"slot {slot} is bound to connection {name}, which is gone: not bound")
            del chosen[slot]
    for slot, spec in slots.items():
        if slot not in chosen:  # unless no connection, several or a placeholder fill it
            with contextlib.suppress(InputError):
                chosen[slot] = bind_connections({slot: spec}, {}, available)[slot]
    carried["connections"] = chosen
    return carried


def _scrubbed(settings: dict[str, Any], secrets: set[str]) -> tuple[dict[str, Any], bool]:
    """The settings with any secret masked (saved values are checked when saved: this is the
    second line of defence), and whether one was."""
    clean = scrub(settings, secrets)
    return clean, clean != settings


def _connection(studio: Studio, info: Any, secrets: set[str]) -> dict[str, Any]:
    """A connection as a package describes it: type, plain fields and the names (only) of
    the secrets it had, which its importer must give. A placeholder had none yet: all its
    connector's secrets are named."""
    withheld = list(info.secrets)
    if info.status == PLACEHOLDER:
        withheld = sorted(get_connector(info.type, studio.workspace.root).secret_fields())
    return {"type": info.type, "fields": scrub(info.fields, secrets), "secrets": withheld}


def _write_zip(out: Path | IO[bytes], manifest: dict[str, Any], members: dict[str, bytes]) -> None:
    """The package, to a stream, or to a file through a temporary one beside it (a crash
    leaves no half package under its name)."""
    if not isinstance(out, Path):
        _fill_zip(out, manifest, members)
        return
    tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "xb") as handle:
            _fill_zip(handle, manifest, members)
        os.replace(tmp, out)
    except OSError as exc:
        raise InputError(
            f"cannot write {out}: {exc.strerror}",
            field="output",
            fix="give a file in a folder you may write to with -o",
        ) from None
    finally:
        tmp.unlink(missing_ok=True)


def _fill_zip(handle: IO[bytes], manifest: dict[str, Any], members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr(MANIFEST, json.dumps(manifest, indent=1, ensure_ascii=False))
        for rel, data in sorted(members.items()):
            zipped.writestr(PREFIX + rel, data)


# -- import ----------------------------------------------------------------------------------


@dataclass
class _Plan:
    """What an import will write, once every check has passed."""

    into: str
    replace: bool = False
    files: dict[str, bytes] = field(default_factory=dict)  # target path under projects/
    fields: dict[str, str] = field(default_factory=dict)  # what a file's refusals name
    recipes: list[dict[str, Any]] = field(default_factory=list)
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    connections: list[dict[str, Any]] = field(default_factory=list)
    placeholders: list[tuple[str, str, dict[str, Any], list[str]]] = field(default_factory=list)


def import_project(
    studio: Studio, source: Path | IO[bytes], into: str | None = None, replace: bool = False
) -> dict[str, Any]:
    """Imports a package (a file, or a binary stream: the REST API's upload) into projects/
    `into` (default: the folder it was exported from). Checks everything first and writes
    nothing if anything is wrong; then writes the recipes, their settings and the
    connections they need (placeholders for those this workspace lacks). A recipe that
    exists is refused unless `replace`, which replaces its notebook and its settings but
    its failure contacts, and leaves it stopped (its notes say so). `into` is read as Try
    recipe reads a project (`projects/shop` is `shop`)."""
    members, manifest = _read(source)
    plan = _plan(studio, members, manifest, into, replace)
    if replace:
        _keep_replaced(studio, plan)
    _write(studio, plan, source)
    _after_import(studio, plan)
    return {
        "package": str(source) if isinstance(source, Path) else None,
        "into": plan.into,
        "recipes": plan.recipes,
        "connections": plan.connections,
    }


def _keep_replaced(studio: Studio, plan: _Plan) -> None:
    """Snapshots each recipe the import will write over, as a restore keeps what it writes
    over (`Studio.keep_current`): edits made since its last version would be lost for good.
    Taken before the import's transaction, which holds the store's write lock; a recipe
    another import wrote meanwhile is kept as this one found it, which was true then."""
    for name in plan.settings:
        path = studio.workspace.projects / name
        if studio.workspace.is_recipe_file(path):
            studio.keep_current(path, name)


def _after_import(studio: Studio, plan: _Plan) -> None:
    """What an import does once committed to each recipe it wrote: what it wrote is its
    newest version, by the importer, as a save makes one (a new recipe had none to list or
    restore until its first run; a replaced one listed the settings from before the import
    as current); and a replaced recipe's run of trigger errors ends, as a person's stop ends
    it (the import stopped it: its listing would say it was stopped by them). A notebook
    that does not load is no version, as a save of it is none."""
    for shown in plan.recipes:
        name = shown["recipe"]
        if shown.get("replaced"):
            studio.store.clear_trigger_errors(name)
        try:
            recipe = studio.recipe(name)
        except LpstudioError:
            continue
        settings = plan.settings[name]
        studio.store.snapshot(
            name,
            recipe.canonical_json,
            {key: settings.get(key, {}) for key in ("parameters", "connections")},
            studio.user,
            saved=True,
        )


def _refused(message: str, fix: str = _AGAIN, field: str = "package") -> InputError:
    return InputError(message, field=field, fix=fix)


def _read(source: Path | IO[bytes]) -> tuple[dict[str, bytes], dict[str, Any]]:
    """The package's files by their path under the exported folder, and its manifest;
    refuses a file that is no package, or whose members could land outside the folder."""
    fix = "give a .zip written by `lpstudio export`"
    if isinstance(source, Path) and not source.is_file():
        raise _refused(f"{source} is not a file", fix)
    try:
        with zipfile.ZipFile(source) as zipped:
            infos = zipped.infolist()
            _check_size(infos)
            names = [info.filename for info in infos if not info.is_dir()]
            if MANIFEST not in names:  # before its members: another zip is no altered package
                raise _refused(f"the zip holds no {MANIFEST}: it is no lpstudio package", fix)
            for info in infos:
                _check_member(info)
            if len(set(names)) != len(names):
                raise _refused("the package holds a file twice")
            raw = {name: zipped.read(name) for name in names}
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise _refused(f"the package is not a readable zip: {exc}", fix) from None
    try:
        manifest = strictjson.loads(raw.pop(MANIFEST))
    except (ValueError, UnicodeDecodeError) as exc:
        raise _refused(f"{MANIFEST} is not valid JSON: {exc}", field=MANIFEST) from None
    if not isinstance(manifest, dict):
        raise _refused(f"{MANIFEST} is not a JSON object", field=MANIFEST)
    if manifest.get("format") != FORMAT:
        made = manifest.get("lpstudio_version", "an unknown lpstudio")
        raise _refused(
            f"the package is of format {manifest.get('format')!r}, which this lpstudio "
            f"({version('lpstudio')}) does not read (it reads format {FORMAT})",
            fix=f"import it with the lpstudio that exported it ({made}), or {_AGAIN} with this one",
            field="format",
        )
    problem = first_problem(MANIFEST_SCHEMA, manifest)
    if problem is not None:
        where, message = problem
        raise _refused(f"{MANIFEST}: {where or 'the manifest'} is invalid: {message}", field=where)
    return _composed({name[len(PREFIX) :]: data for name, data in raw.items()}, manifest)


def _composed(
    members: dict[str, bytes], manifest: dict[str, Any]
) -> tuple[dict[str, bytes], dict[str, Any]]:
    """The package's paths with their accents composed (`composed`), as this workspace names
    its recipes: a package made on a Mac holds `été` decomposed, which `--replace` wrote as
    a second recipe beside the one it replaces, listed under the same name. Two paths that
    are one so are refused: the import would write one over the other."""
    for names in (members, manifest["recipes"]):
        seen: dict[str, str] = {}
        for rel in names:
            other = seen.setdefault(composed(rel), rel)
            if other != rel:
                raise _refused(
                    f"the package holds {other!r} and {rel!r}, one name with its accents "
                    "written two ways"
                )
    manifest["folder"] = composed(manifest["folder"])
    manifest["recipes"] = {
        composed(rel): {**entry, "files": [composed(data) for data in entry["files"]]}
        if "files" in entry
        else entry
        for rel, entry in manifest["recipes"].items()
    }
    return {composed(rel): data for rel, data in members.items()}, manifest


def _check_size(infos: list[zipfile.ZipInfo]) -> None:
    """Refuses a package of more files, or more bytes once unpacked, than a project holds
    (a zip bomb: a few kB that inflate to gigabytes in memory). The declared sizes are
    enough: Python's zip reader never inflates a member past its declared size."""
    if len(infos) > MAX_MEMBERS:
        raise _refused(
            f"the package holds {len(infos)} files, more than {MAX_MEMBERS}",
            "export a smaller project folder",
        )
    unpacked = sum(info.file_size for info in infos)
    if unpacked > MAX_UNPACKED:
        raise _refused(
            f"the package unpacks to {unpacked / 1e6:.0f} MB, more than "
            f"{MAX_UNPACKED / 1e6:.0f} MB",
            "export a smaller project folder, leaving large data files out of its recipes' `files`",
        )


def _check_member(info: zipfile.ZipInfo) -> None:
    """A member must be the manifest or a plain file under project/, with a path that
    stays there: no `..`, no absolute path or drive, no backslash, no link (zip slip)."""
    name = info.filename
    path = PurePosixPath(name)
    kind = stat.S_IFMT(info.external_attr >> 16)
    bad = (
        "\\" in name
        or "\0" in name
        or path.is_absolute()
        or not path.parts
        or ":" in path.parts[0]
        or any(part in ("..", ".") for part in name.rstrip("/").split("/"))
        or (name != MANIFEST and not name.startswith(PREFIX))
    )
    if bad:
        raise _refused(
            f"the package holds {quoted(name)}, a path that would leave the project folder",
            "import only packages written by `lpstudio export`; this one was altered",
        )
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise _refused(
            f"the package holds {quoted(name)}, which is a link, not a file",
            "import only packages written by `lpstudio export`; this one was altered",
        )


def _plan(
    studio: Studio,
    members: dict[str, bytes],
    manifest: dict[str, Any],
    into: str | None,
    replace: bool,
) -> _Plan:
    """Every check of an import, in order: paths, what exists, connections, recipes."""
    from .connections import refuse_held_secret

    # Names are shown in clear (listings, answers, the audit log): none may hold a secret.
    hidden = studio.connections.secret_values() | studio.store.secrets
    if into is None:  # as it was exported: a name under projects/ already
        refuse_held_secret(manifest["folder"], "folder", "project folder", hidden, _ELSEWHERE)
        folder = project_folder(studio, manifest["folder"], False, "folder", typed=False)[1]
    else:
        try:
            refuse_held_secret(into, "into", "project folder", hidden, "give the folder its name")
            folder = project_folder(studio, into, False, "into", typed=True, every=False)[1]
            check_unescaped(folder, "into", "project folder")
        except InputError as exc:  # named as given (the CLI says `--into`): the CLI prints
            exc.message = f"`into`: {exc.message}"  # the message alone, not the field
            exc.args = (exc.message,)
            raise
    prefix = "" if folder == "." else f"{folder}/"
    plan = _Plan(folder, replace)
    listed: dict[str, str] = {}  # path in the package -> what lists it
    for rel, entry in manifest["recipes"].items():
        listed[rel] = f"recipes.{rel}"
        for data in entry.get("files", []):
            listed[(PurePosixPath(rel).parent / data).as_posix()] = f"recipes.{rel}.files"
    for rel, where in listed.items():
        # Its field names the path, so not that: one that holds a secret names neither.
        field = "recipes" if rel in manifest["recipes"] else "files"
        refuse_held_secret(rel, field, "path", hidden, "rename it before exporting it again")
        check_path_names(rel, where, "path", _AGAIN, typed=False)
        if rel not in members:
            raise _refused(f"{where} lists {rel}, which the package lacks")
    for rel in members:
        if rel not in listed:
            raise _refused(f"the package holds {rel}, which its manifest does not list")
    listings = Listings()
    cleared: set[str] = set()
    for rel, data in members.items():
        if rel in manifest["recipes"]:  # as its export would have carried it
            data, had = _without_outputs(data)
            members[rel] = data
            if had:
                cleared.add(prefix + rel)
        label = prefix + rel
        where = f"recipes.{label.removesuffix('.ipynb')}" if rel in manifest["recipes"] else ""
        where = where or f"files.{label}"
        _check_target(studio, label, data, where, replace, rel in manifest["recipes"], listings)
        plan.files[label], plan.fields[label] = data, where
    available = _check_connections(studio, manifest, plan)
    for rel, entry in manifest["recipes"].items():
        _plan_recipe(studio, plan, prefix + rel, members[rel], entry, rel, available)
    for shown in plan.recipes:
        if shown["recipe"] in cleared:
            shown["notes"].append(OUTPUTS_REMOVED)
    return plan


def _check_target(
    studio: Studio,
    label: str,
    data: bytes,
    where: str,
    replace: bool,
    is_recipe: bool,
    listings: Listings,
) -> Path:
    """Where the file `label` (its path under projects/) is written: where nothing is, where
    a recipe is replaced, or where the same data file already is; a link on the way, a
    folder (or a file where a folder must go), or a look-alike of its name (`distinct_path`,
    each folder read once by `listings` for all of an import's files) is in the way."""
    projects = studio.workspace.projects.resolve()
    target = _unlinked(projects, label, where)
    try:  # a look-alike beside it (written before names were composed) stays as it is
        distinct_path(projects, label, where, "path", listings)
    except InputError as exc:
        exc.fix = (
            "rename the existing one in JupyterLab's file browser, or import it --into "
            "another folder"
        )
        raise
    for parent in PurePosixPath(label).parents:
        if (projects / parent).is_file():
            raise InputError(
                f"projects/{parent} is a file, where the package needs a folder",
                field=where,
                fix="import it --into another folder",
            )
    if target.is_dir() or (target.exists() and not target.is_file()):
        raise InputError(
            f"projects/{label} is a folder, where the package has a file",
            field=where,
            fix="import it --into another folder",
        )
    if target.is_file() and not replace and (is_recipe or target.read_bytes() != data):
        what = "the recipe" if is_recipe else "a different file"
        raise InputError(
            f"{what} projects/{label} already exists",
            field=where,
            fix="import with --replace to replace it, or --into another folder",
        )
    return target


def _unlinked(projects: Path, label: str, where: str) -> Path:
    """The real path of `label` under projects/, refused when a link is on its way (a folder
    of it, or the file itself): the file would be written through the link, outside the
    folder imported into, or under another recipe's name than its settings'."""
    projects = projects.resolve()
    target = projects / label
    try:
        unlinked = target.resolve() == target
    except (OSError, RuntimeError):  # a loop of links
        unlinked = False
    if unlinked:
        return target
    path = PurePosixPath(label)
    ways = [*reversed(path.parents[:-1]), path]
    link = next((way for way in ways if (projects / way).is_symlink()), path)
    raise InputError(
        f"projects/{link} is a link, where the package writes {label}: nothing is written "
        "through a link",
        field=where,
        fix=f"remove the link projects/{link}, or import it --into another folder",
    )


def _check_connections(studio: Studio, manifest: dict[str, Any], plan: _Plan) -> dict[str, str]:
    """The type of each connection the recipes' settings name, bound to this workspace's of
    that name or planned as a new one (a placeholder when secrets were withheld)."""
    existing = {info.name: info for info in studio.connections.list()}
    used = {
        name
        for entry in manifest["recipes"].values()
        for name in ((entry["settings"] or {}).get("connections") or {}).values()
    }
    types: dict[str, str] = {}
    for name, spec in manifest["connections"].items():
        where = f"connections.{name}"
        if not NAME_PATTERN.match(name):
            raise InputError(f"invalid connection name {quoted(name)}", field=where, fix=_AGAIN)
        try:
            connector = get_connector(spec["type"], studio.workspace.root)
        except LpstudioError as exc:
            raise InputError(
                f"connection {name} is of type {spec['type']!r}, which this workspace does "
                f"not have: {exc.message}",
                field=f"{where}.type",
                fix=f"install or add the {spec['type']} connector (`lpstudio connectors` "
                "lists those this workspace has), then import again",
            ) from None
        types[name] = spec["type"]
        if name not in used:
            continue
        info = existing.get(name)
        if info is not None:
            if info.type != spec["type"]:
                raise InputError(
                    f"this workspace's connection {name} is {info.type}; the package's is "
                    f"{spec['type']}",
                    field=where,
                    fix=f"remove or free this workspace's {name} (`lpstudio connections remove "
                    f"{name}`), or import into a workspace whose {name} is {spec['type']}",
                )
            placeholder = info.status == PLACEHOLDER
            plan.connections.append(
                {
                    "name": name,
                    "type": info.type,
                    "status": PLACEHOLDER if placeholder else "bound",
                    "created": False,
                    "fix": info.status_message if placeholder else None,
                }
            )
            continue
        unknown = sorted(set(spec["secrets"]) - connector.secret_fields())
        if unknown:
            raise InputError(
                f"connection {name} withholds {', '.join(unknown)}, which is no secret field "
                f"of {spec['type']}",
                field=f"{where}.secrets",
                fix=_AGAIN,
            )
        _refuse_held_secrets(studio, name, connector, spec["fields"])
        try:
            studio.connections.check_placeholder(name, spec["type"], spec["fields"])
        except InputError as exc:
            exc.field = f"{where}.fields.{exc.field}" if exc.field else f"{where}.fields"
            raise _held_in(exc, f"connection {name} of the package", exc.field) from None
        withheld = sorted(spec["secrets"])
        plan.placeholders.append((name, spec["type"], spec["fields"], withheld))
        plan.connections.append(
            {
                "name": name,
                "type": spec["type"],
                "status": PLACEHOLDER if withheld else "untested",
                "created": True,
                "fix": authorise_fix(name, withheld) if withheld else None,
            }
        )
    return types


def _refuse_held_secrets(
    studio: Studio, name: str, connector: Connector, fields: dict[str, Any]
) -> None:
    """Refuses a plain field of the package's connection `name` that holds a secret of this
    workspace, as `connections add` refuses it: the placeholder would show it in clear.
    Checked here, before the import's write transaction (the secrets are read from the
    store), and before the fields are coerced (a refusal of its type would quote it)."""
    try:
        studio.connections.refuse_held_secrets(connector, fields, {})  # a placeholder: none
    except InputError as exc:
        raise InputError(
            f"connection {name} of the package: {exc.message}",
            field=f"connections.{name}.fields.{exc.field}",
            fix=f"the package must not carry it: remove {exc.field} from connections.{name}."
            f"fields in its {MANIFEST} (or give it its right value there) and import it again; "
            f"a secret is given once imported, with `lpstudio connections update {name} "
            "--secret FIELD`",
        ) from None


def _plan_recipe(
    studio: Studio,
    plan: _Plan,
    name: str,
    data: bytes,
    entry: dict[str, Any],
    rel: str,
    types: dict[str, str],
) -> None:
    """Checks one recipe (`rel` in the package) as this workspace reads it, and its settings
    as `save_settings` checks them; every refusal names `recipes.<its name here>....`."""
    from .endpoints import check_call_timeout
    from .failures import checked_contacts
    from .times import poll_start

    label = name.removesuffix(".ipynb")
    where = f"recipes.{label}"
    shown = {"recipe": name, "settings": entry["settings"] is not None, "notes": []}
    plan.recipes.append(shown)
    if entry["settings"] is None:  # broken where it was exported: a file, nothing to check
        shown["notes"].append(f"broken: {entry.get('problem') or 'it did not load'}")
        plan.settings[name] = {}
        return
    try:
        recipe = Recipe.parse(data.decode("utf-8"), name)
    except (LpstudioError, UnicodeDecodeError) as exc:
        said = exc.message if isinstance(exc, LpstudioError) else str(exc)
        raise InputError(
            f"recipe {label} does not load here: {said}",
            field=where,
            fix="the package was altered after its export, or its notebook is broken where it "
            f"was exported: mend it there, {_AGAIN} and import that",
        ) from None
    settings = entry["settings"]

    def refuse(exc: InputError, under: str = "") -> InputError:
        """`exc`, a refusal of the recipe's settings (`under` one of them), naming the
        recipe as its field does (a package holds several) and the manifest's entry that
        holds the value."""
        held = ".".join(part for part in (f"recipes.{rel}.settings", under, exc.field) if part)
        exc.field = ".".join(part for part in (f"{where}.settings", under, exc.field) if part)
        return _held_in(exc, f"recipe {label}", held)

    try:
        parameters = coerce(
            recipe.schema,
            settings.get("parameters", {}),
            recipe=name,
            projects=studio.workspace.projects,
        )
    except InputError as exc:
        raise refuse(exc, "parameters") from None
    try:
        studio.refuse_secrets(parameters)
    except InputError as exc:  # the package's value: given here once imported, if at all
        fix = (
            f"the package must not carry it: remove {exc.field} from recipes.{rel}.settings."
            f"parameters in its {MANIFEST} (or clear it where it was exported, and export "
            f"again) and import it again; then give it its value here with `lpstudio "
            f"settings {word(label)} -p {exc.field} VALUE`"
        )
        refused = refuse(exc, "parameters")
        refused.fix = fix
        raise refused from None
    slots = recipe.metadata.get("connections", {})
    chosen = settings.get("connections", {})
    for slot, connection in chosen.items():
        field_name = f"{where}.settings.connections.{slot}"
        if slot not in slots:
            raise InputError(
                f"recipe {label} has no connection slot {slot}",
                field=field_name,
                fix=f"use one of: {', '.join(slots) or '(none)'}; {_AGAIN}",
            )
        if connection not in types:
            raise InputError(
                f"recipe {label}'s slot {slot} is bound to connection {connection}, which the "
                "package does not describe",
                field=field_name,
                fix=_AGAIN,
            )
        wanted = slots[slot].get("type")
        if wanted and types[connection] != wanted:
            raise InputError(
                f"recipe {label}'s slot {slot} needs a {wanted} connection, but {connection} "
                f"is {types[connection]}",
                field=field_name,
                fix=_AGAIN,
            )
    new: dict[str, Any] = {"parameters": parameters, "connections": dict(chosen)}
    if settings.get("notify"):
        try:
            hidden = studio.connections.secret_values() | studio.store.secrets
            new["notify"] = checked_contacts(settings["notify"], {}, hidden)
        except InputError as exc:
            raise refuse(exc) from None
    if "call_timeout" in settings and recipe.trigger_kind != "callable":
        shown["notes"].append("call_timeout left out: the recipe is not callable")
    elif "call_timeout" in settings:
        try:
            check_call_timeout(recipe, settings["call_timeout"])
        except InputError as exc:
            raise refuse(exc) from None
        new["call_timeout"] = float(settings["call_timeout"])
    if settings.get("since") and recipe.trigger_kind == "poll":
        with studio.store.read() as s:
            polled = s.get(TriggerState, name) is not None
        if polled:
            shown["notes"].append("its poll goes on from where it was here: since not changed")
        else:
            try:
                new["since"] = poll_start(settings["since"], "since").isoformat()
            except InputError as exc:
                raise refuse(exc) from None
    plan.settings[name] = new


def _held_in(exc: InputError, what: str, entry: str) -> InputError:
    """`exc`, a connector's or parser's refusal of a value the package brings, saying whose
    value it is (`what`: its connection or recipe) and that it is mended at `entry` of the
    package's manifest: its own words name neither, and the CLI prints message and fix
    alone."""
    exc.message = f"{what}: {exc.message}"
    exc.args = (exc.message,)
    exc.fix = f"mend {entry} in the package's {MANIFEST} and import it again" + (
        f": {exc.fix}" if exc.fix else ""
    )
    return exc


@contextlib.contextmanager
def _unchanged_meanwhile() -> Iterator[None]:
    """A connection (or a recipe's settings) the package brings, created by someone else
    between the import's checks and its write, is refused in the import's terms: the
    transaction wrote nothing, and the next import checks against what is there now."""
    from sqlalchemy.exc import IntegrityError

    try:
        yield
    except IntegrityError:
        raise ConflictError(
            "the workspace changed while the package was imported: a connection or a "
            "recipe's settings it brings were created meanwhile; nothing was written",
            field="package",
            fix="import it again: it is checked against the workspace as it is now",
        ) from None


def _replacing(
    name: str, old: dict[str, Any], new: dict[str, Any], notes: list[str]
) -> dict[str, Any]:
    """The settings of a recipe an import replaces: the package's, stopped, with the failure
    contacts it had here. Those say who is told here of its failures: a package never
    carries the webhook (its URL may hold a token), and its e-mail is who was told where
    it was exported. What the replace changed is said in `notes`."""
    from .failures import CONTACTS, shown_contacts

    label = name.removesuffix(".ipynb")
    if old.get("state") == "started":
        notes.append(
            f"it was started: now stopped; start it again with `lpstudio start {word(label)}`"
        )
    kept = old.get("notify") or {}
    if not kept:
        return new
    shown = shown_contacts(kept)
    said = ", ".join(
        f"{'e-mail' if kind == 'email' else kind} {shown[kind]}"
        for kind in CONTACTS
        if kind in shown
    )
    note = f"its failure contacts here were kept ({said})"
    brought = (new.get("notify") or {}).get("email")
    if brought and brought != kept.get("email"):
        note += (
            f"; the package's e-mail {brought} was not used (set it with `lpstudio settings "
            f"{label} --notify-email {brought}`)"
        )
    notes.append(note)
    return {**new, "notify": kept}


def _write(studio: Studio, plan: _Plan, source: Path | IO[bytes]) -> None:
    """Stages the files in a hidden folder of the workspace; then, holding the store's write
    lock, checks the targets again, writes the connections and settings and moves the files
    into place, all before the transaction commits. Imports take turns on that lock, on
    every server of the store: one that ran at the same time is refused (or replaces) as if
    it came after, never mixing its files or settings with another's. A failure before the
    commit puts back the files it moved, and a crash during the move leaves no half-written
    file."""
    root = studio.workspace.root
    staging = root / f".lpstudio-import-{uuid.uuid4().hex[:12]}"
    package = source.name if isinstance(source, Path) else "upload"
    moved: list[tuple[Path, Path | None]] = []
    try:
        for label, data in plan.files.items():
            staged = staging / "new" / label
            staged.parent.mkdir(parents=True, exist_ok=True)
            staged.write_bytes(data)
        with _unchanged_meanwhile(), studio.store.write() as s:
            s.connection()  # the store's write lock, held from here to the commit
            _check_again(studio, plan)
            for name, type_, fields, withheld in plan.placeholders:
                studio.connections.add_placeholder(name, type_, fields, withheld, studio.user, s)
            shown_as = {shown["recipe"]: shown for shown in plan.recipes}
            for recipe, settings in plan.settings.items():
                row = s.get(RecipeSettings, recipe, with_for_update=True)
                if row is None:
                    row = RecipeSettings(recipe=recipe)
                    s.add(row)
                elif shown_as[recipe]["replaced"]:
                    settings = _replacing(recipe, row.settings, settings, shown_as[recipe]["notes"])
                    if row.settings.get("state") == "started":
                        audit_in(s, studio.user, "stop", recipe, package=package)
                row.settings, row.updated_by, row.updated_at = settings, studio.user, utcnow()
            for shown in plan.recipes:
                audit_in(
                    s,
                    studio.user,
                    "import_recipe",
                    shown["recipe"],
                    package=package,
                    replaced=shown["replaced"],
                )
            s.flush()  # a connection created meanwhile is refused before any file moves
            _move(plan, studio.workspace.projects, staging, moved)
    except BaseException:
        _put_back(moved)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _check_again(studio: Studio, plan: _Plan) -> None:
    """The targets, checked again under the store's write lock as `_plan` checked them:
    another import may have written them meanwhile (at once, on this server or another).
    Refused as a sequential import is; whether each recipe is replaced is said here, as it
    is under the lock."""
    shown_as = {shown["recipe"]: shown for shown in plan.recipes}
    listings = Listings()  # read now, under the lock
    for label, data in plan.files.items():
        is_recipe = label in shown_as
        target = _check_target(
            studio, label, data, plan.fields[label], plan.replace, is_recipe, listings
        )
        if is_recipe:
            shown_as[label]["replaced"] = target.exists()


def _move(
    plan: _Plan, projects: Path, staging: Path, moved: list[tuple[Path, Path | None]]
) -> None:
    """Moves the staged files into place, data files first (a recipe appears with the files
    it reads), each in one rename; `moved` says how to put each back: a file it replaced is
    kept (hard-linked, in no time under the lock) until the import commits. Each target is
    checked for links once more before its folders are made: the store's lock holds no one
    off the files, and a link made since `_check_again` is refused, what was moved put back."""
    for label in sorted(plan.files, key=lambda lab: lab.endswith(".ipynb")):
        target = _unlinked(projects, label, plan.fields[label])
        target.parent.mkdir(parents=True, exist_ok=True)
        kept = None
        if target.exists():
            kept = staging / "old" / label
            kept.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(target, kept)
            except OSError:  # a file system without hard links
                shutil.copy2(target, kept)
        moved.append((target, kept))
        os.replace(staging / "new" / label, target)


def _put_back(moved: list[tuple[Path, Path | None]]) -> None:
    """Undoes `_move` of an import that failed before its commit: what it replaced comes
    back, what it added goes."""
    for target, kept in reversed(moved):
        with contextlib.suppress(OSError):
            if kept is None:
                target.unlink(missing_ok=True)
            else:
                os.replace(kept, target)
