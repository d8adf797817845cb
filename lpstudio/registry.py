"""Finding connectors: the bundled `connectors/` folder, the workspace's own `connectors/`
folder (a brand's custom connectors), and packages registering on the entry-point group
`lpstudio.connectors`. Each module or package there defines a module-level `connector`.

A connector that does not load (a syntax error, no `connector`, a declaration lpstudio
cannot use, a name defined twice) breaks no other: it is kept aside with its error, which
whoever asks for it by name gets (naming its file, the field and the fix), so a brand's
half-written connector never stops the recipes that use the others. A name belongs to the
place read first: an installed package cannot take a bundled connector's, nor a workspace
file a bundled or installed one's (the package or file is kept aside, and the connector of
that name keeps working); two files of one folder, or two packages, that give one name are
both kept aside, so that neither silently replaces the other, even once one of them stops
loading (the name a file that did not load gives is read from its text). The workspace's
folder is read again whenever one of its files changes, so a long-running server or
scheduler sees a connector added or edited in JupyterLab without a restart.
"""

from __future__ import annotations

import importlib.util
import re
import sys
import threading
import traceback
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from stat import S_ISREG
from typing import Any

from .errors import InputError, LpstudioError, NotFoundError
from .sdk import Connector

ENTRY_POINT_GROUP = "lpstudio.connectors"


@dataclass
class _Found:
    """Connectors by name, and the errors of those that did not load (by connector name,
    else by file stem or entry-point name: what a user would ask for)."""

    connectors: dict[str, Connector] = field(default_factory=dict)
    broken: dict[str, LpstudioError] = field(default_factory=dict)
    #: The places of each name defined more than once: none of them is used.
    twice: dict[str, list[str]] = field(default_factory=dict)
    #: What each connector that loaded is listed under if a place read before it holds its
    #: name: its file's stem, or its entry point's name (by connector name).
    listed_as: dict[str, str] = field(default_factory=dict)
    #: The places that did not load, with their errors, by each name they may give.
    unloaded: dict[str, list[tuple[str, LpstudioError]]] = field(default_factory=dict)

    def add(self, connector: Connector, listed_as: str) -> None:
        name = connector.name
        places = self._places(name)
        if not places:
            self.connectors[name] = connector
            self.listed_as[name] = listed_as
            return
        self.twice[name] = [*places, connector.shown_source]
        self._refuse(name)

    def failed(self, listed_as: str, names: set[str], where: str, error: LpstudioError) -> None:
        """A place that did not load, listed with its error. A connector of a name it may
        give (`names`) is not used either: it is often the old copy of the file that broke,
        which would otherwise silently run in its place."""
        self.broken.setdefault(listed_as, error)
        for name in sorted(names):
            self.unloaded.setdefault(name, []).append((where, error))
            if name in self.connectors or name in self.twice:
                self.twice[name] = [*self._places(name), where]
                self._refuse(name)

    def _places(self, name: str) -> list[str]:
        """The places giving `name` so far (its connector, if one was added, is taken out)."""
        earlier = self.connectors.pop(name, None)
        if earlier is not None:
            return [earlier.shown_source]
        return self.twice.get(name) or [where for where, _ in self.unloaded.get(name, [])]

    def _refuse(self, name: str) -> None:
        """Keeps every place giving `name` aside, naming them all (and why those that did
        not load failed): none of them is used, so that none silently replaces another."""
        failures = "".join(f"; {error.message}" for _, error in self.unloaded.get(name, []))
        self.broken[name] = InputError(
            f"connector '{name}' is defined more than once: {' and '.join(self.twice[name])}; "
            f"none of them is used, so that none silently replaces another{failures}",
            field="type",
            fix="rename all but one of them (the name given to `Connector(...)`), or remove "
            "the copies" + ("; correct any that fails to load" if failures else ""),
        )

    def merged(self, later: _Found) -> _Found:
        """These connectors with those of a place read `later` (the installed ones after the
        bundled, a workspace's after both), which cannot take a name these hold: they are
        listed as broken, and the connector of that name keeps working for every recipe."""
        both = _Found(
            dict(self.connectors),
            dict(self.broken),
            {**later.twice, **self.twice},
            dict(self.listed_as),
        )
        for name, error in later.broken.items():
            both.broken.setdefault(name, error)
        for name, places in later.twice.items():
            if name in self.connectors:  # copies of a file that took a held name
                both.broken[name] = _taken(name, places, self.connectors[name].shown_source)
        for name, connector in later.connectors.items():
            if name in self.connectors:
                error = _taken(name, [connector.shown_source], self.connectors[name].shown_source)
                both.broken.setdefault(later.listed_as[name], error)
            else:
                both.add(connector, later.listed_as[name])
        # Kept for lookups only (`get_connector`), once the names are settled: an earlier
        # place's failure does not keep a later connector of its name aside.
        for name in {*self.unloaded, *later.unloaded}:
            both.unloaded[name] = [*self.unloaded.get(name, []), *later.unloaded.get(name, [])]
        return both


def _taken(name: str, places: list[str], holder: str) -> InputError:
    """The error of connectors that give a name a place read before theirs holds."""
    return InputError(
        f"connector '{name}' of {' and '.join(places)} is not used: the name is already "
        f"taken by {holder}, and no other file or package may replace it",
        field="name",
        fix="rename it: give its `Connector(...)` a name of its own (connections and recipes "
        "name it as their type)",
    )


_base: _Found | None = None
_workspaces: dict[Path, tuple[tuple[Any, ...], _Found]] = {}
#: One loader at a time: a module is in `sys.modules` before its code has run, so a second
#: thread loading at once would find it without its `connector` yet (a server's threads do).
_loading = threading.RLock()


def bundled_dir() -> Path:
    """The bundled connectors: packaged in the wheel, or the repository's folder."""
    packaged = Path(__file__).parent / "bundled_connectors"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "connectors"


def _module_of(path: Path, prefix: str) -> types.ModuleType:
    """Imports a connector module file or package folder under a private module name."""
    stem = path.stem if path.is_file() else path.name
    module_name = f"{prefix}.{stem}"
    if prefix not in sys.modules:  # a parent, so that relative imports inside packages work
        parent = types.ModuleType(prefix)
        parent.__path__ = []
        sys.modules[prefix] = parent
    if module_name in sys.modules:
        return sys.modules[module_name]
    init = path if path.is_file() else path / "__init__.py"
    locations = None if path.is_file() else [str(path)]
    spec = importlib.util.spec_from_file_location(
        module_name, init, submodule_search_locations=locations
    )
    if spec is None or spec.loader is None:
        raise InputError(f"cannot load connector {path}", field="type", fix="rename the file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


def _connector_in(value: Any, where: str) -> Connector:
    """The connector a module defines (or that an entry point names directly)."""
    connector = getattr(value, "connector", None) if isinstance(value, types.ModuleType) else value
    if not isinstance(connector, Connector):
        raise InputError(
            f"{where} defines no `connector = Connector(...)`",
            field="type",
            fix="define a module-level `connector = Connector(...)`",
        )
    return connector


def _failed(
    where: str, exc: Exception, fix: str, at: tuple[str, int] | None = None
) -> LpstudioError:
    """A connector's load error, naming where it is: its own field and fix when lpstudio
    refused a declaration, else the exception, with the file and line it failed at (`at`,
    where known) in its message and fix: a TypeError of a declaration
    (`@connector.action("go")` without its title) named neither, and a SyntaxError names
    its file bare (`__init__.py`), where `at` names it as `where` is named."""
    if isinstance(exc, LpstudioError):
        return InputError(
            f"connector {where}: {exc.message}", field=exc.field or "type", fix=exc.fix or fix
        )
    said = f"{type(exc).__name__}: {exc}"
    if at is not None:
        file, line = at
        text = exc.msg if isinstance(exc, SyntaxError) else exc
        said = f"{type(exc).__name__}: {text} ({file}, line {line})"
        fix = f"{fix}: line {line} of {file}"
    return InputError(f"connector {where} failed to load: {said}", field="type", fix=fix)


def _failed_at(exc: BaseException, path: Path, shown: str) -> tuple[str, int] | None:
    """Where a connector's file (or package folder) `path`, shown as `shown`, failed to
    load: a SyntaxError's line, else the innermost frame of the traceback in its files
    (the line that called the SDK, not the SDK's own); None when none of them is in it."""
    if isinstance(exc, SyntaxError):
        places = [(exc.filename, exc.lineno)]
    else:
        places = [
            (frame.filename, frame.lineno) for frame in traceback.extract_tb(exc.__traceback__)
        ]
    root = path.resolve()
    for filename, line in reversed(places):
        if not filename or not line:
            continue
        file = Path(filename).resolve()
        if file == root:
            return shown, line
        if file.is_relative_to(root):
            return f"{shown}/{file.relative_to(root).as_posix()}", line
    return None


def code_place(
    connector: Connector, func: Callable[..., Any], exc: BaseException
) -> tuple[str, int] | None:
    """Where `exc` left `func`, code of `connector` (its test), as a load error names it
    (`_failed_at`): the innermost line of the connector's files, a workspace's or bundled
    one's by the path `source` shows (`connectors/acme.py`), a package's in its installed
    folder (`acme_crm/__init__.py`); None when none of its lines is in the traceback."""
    if connector.source and Path(connector.source).is_absolute():
        return _failed_at(exc, Path(connector.source), connector.shown_source)
    top = sys.modules.get(func.__module__.partition(".")[0])
    folders = getattr(top, "__path__", None)
    file = getattr(top, "__file__", None)
    if folders:
        return _failed_at(exc, Path(next(iter(folders))), top.__name__)  # type: ignore[union-attr]
    if file:
        return _failed_at(exc, Path(file), Path(file).name)
    return None


#: How a connector file gives its name: `Connector("acme", ...)`, as the README writes it.
_DECLARED = re.compile(r"""\bConnector\(\s*(?:name\s*=\s*)?(["'])([a-z][a-z0-9_]*)\1""")


def _names_in(path: Path) -> set[str]:
    """The connector names a file or package that did not load may give: those its text
    declares (a syntax error elsewhere leaves them readable), else its file's stem."""
    files = [path] if path.is_file() else sorted(path.rglob("*.py"))
    declared: set[str] = set()
    for file in files:
        try:
            text = file.read_text(errors="replace")
        except OSError:  # gone since the listing: the stem is all there is
            continue
        declared |= {match[2] for match in _DECLARED.finditer(text)}
    return declared or {path.stem if path.is_file() else path.name}


def _load_files(folder: Path, prefix: str, check: bool, shown_as: str) -> _Found:
    """The connectors of `folder`; each one's `shown_source`, and the error of one that
    does not load, names it by its place in `shown_as` (`connectors`, the workspace's, or
    `lpstudio:connectors`, the bundled), as `lpstudio connectors` and the REST API say it
    (README: relative to the workspace): none of the server's folders."""
    found = _Found()
    for path in _candidates(folder):
        shown = f"{shown_as}/{path.name}"
        try:
            connector = _connector_in(_module_of(path, prefix), shown)
            if check:
                connector.check()
        except Exception as exc:
            name = path.stem if path.is_file() else path.name
            at = _failed_at(exc, path, shown)
            error = _failed(shown, exc, "correct the connector's code", at)
            found.failed(name, _names_in(path), shown, error)
            continue
        connector.source, connector.shown_source = str(path), shown
        found.add(connector, path.stem if path.is_file() else path.name)
    return found


def _installed_at(module: str) -> tuple[Path, Path] | None:
    """Where an entry point's `module` is installed, found without running it: its
    top-level package's folder (or its module file), which a developer knows its files by
    (`acme_crm/__init__.py`), and `module`'s own file or folder; None when not found."""
    top, *rest = module.split(".")
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or not Path(spec.origin).is_file():
        return None
    root = Path(spec.origin).parent if spec.submodule_search_locations else Path(spec.origin)
    own = root.joinpath(*rest)
    return root, own if own.is_dir() or not rest else own.with_suffix(".py")


def _load_entry_points() -> _Found:
    """The connectors packages register. One that fails to load is filed under its entry
    point's name and under the names its module's text declares (`_names_in`): an entry
    point named otherwise than its connector (`acme_crm = acme_crm:connector` giving
    `acme`) left what uses `acme` without its error. The error names the package's file
    and line it failed at, by its module path (`acme_crm/__init__.py`)."""
    found = _Found()
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        where = f"entry point {entry.name} = {entry.value}"
        try:
            connector = _connector_in(entry.load(), where)
            connector.check()
        except Exception as exc:
            installed = _installed_at(entry.module)
            names = {entry.name}
            at = None
            if installed is not None:
                root, own = installed
                at = _failed_at(exc, root, root.name)
                names |= _names_in(own) if own.exists() else set()
            fix = "correct or reinstall the package that provides it"
            found.failed(entry.name, names, where, _failed(where, exc, fix, at))
            continue
        connector.source = connector.shown_source = f"entry point {entry.value}"
        found.add(connector, entry.name)
    return found


def _candidates(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(
        p
        for p in folder.iterdir()
        if not p.name.startswith(("_", "."))
        and ((p.is_file() and p.suffix == ".py") or (p / "__init__.py").is_file())
    )


def _fingerprint(folder: Path) -> tuple[Any, ...]:
    """What changes when a workspace connector is added, edited or removed: any of its
    files (a package may read a schema of its own at import), not Python's bytecode caches
    nor hidden files (an editor's swap file changes as one types)."""
    if not folder.is_dir():
        return ()
    files = []
    for path in sorted(folder.rglob("*")):
        parts = path.relative_to(folder).parts
        if any(p == "__pycache__" or p.startswith(".") for p in parts):
            continue
        try:
            info = path.stat()
        except FileNotFoundError:  # an editor's temporary file, gone since the listing
            continue
        if S_ISREG(info.st_mode):
            files.append((str(path), info.st_mtime_ns, info.st_size))
    return tuple(files)


def _found(workspace_root: Path | None) -> _Found:
    global _base
    with _loading:
        if _base is None:
            bundled = _load_files(
                bundled_dir(), "lpstudio_connectors", check=False, shown_as="lpstudio:connectors"
            )
            _base = bundled.merged(_load_entry_points())
        if workspace_root is None:
            return _base
        folder = workspace_root / "connectors"
        fingerprint = _fingerprint(folder)
        cached = _workspaces.get(workspace_root)
        if cached is not None and cached[0] == fingerprint:
            return cached[1]
        prefix = f"lpstudio_workspace_{abs(hash(workspace_root))}"
        for name in [m for m in sys.modules if m.startswith(f"{prefix}.")]:
            del sys.modules[name]  # edited since: run the files again
        found = _base.merged(_load_files(folder, prefix, check=True, shown_as="connectors"))
        _workspaces[workspace_root] = (fingerprint, found)
        return found


def load_connectors(workspace_root: Path | None = None) -> dict[str, Connector]:
    """Every connector that loaded, by name (`connector_listing` also lists the others)."""
    return _found(workspace_root).connectors


def connector_listing(workspace_root: Path | None = None) -> dict[str, list[dict[str, Any]]]:
    """What `lpstudio connectors --json` and the REST API answer: the connectors that load,
    and those that do not with their errors, so that a brand's half-written connector shows
    why it is missing instead of being left out without a word."""
    found = _found(workspace_root)
    return {
        "connectors": [c.describe() for c in found.connectors.values()],
        "broken": [{"name": n, **e.to_dict()} for n, e in sorted(found.broken.items())],
    }


def get_connector(name: str, workspace_root: Path | None = None) -> Connector:
    """The connector of type `name`. One that did not load raises its error, and so does a
    name only a place that did not load may give (an entry point named otherwise than its
    connector). A type no place gives, where it is stored (a connection's) or written (a
    recipe's), is most often a connector since removed (its package uninstalled, its file
    deleted): the NotFoundError says to install it again."""
    found = _found(workspace_root)
    if name in found.connectors:
        return found.connectors[name]
    if name in found.broken:
        raise found.broken[name]
    failures = [error for _, error in found.unloaded.get(name, [])]
    if len(failures) == 1:
        raise failures[0]
    if failures:
        raise InputError(
            "; ".join(error.message for error in failures),
            field="type",
            fix="; ".join(dict.fromkeys(error.fix or "" for error in failures)),
        )
    others = "".join(f"; {error.message}" for error in found.broken.values())
    raise NotFoundError(
        f"unknown connector type '{name}'{others}",
        field="type",
        fix=f"install again the connector package, or restore the connectors/ file, that "
        f"provided '{name}' (`lpstudio connectors` lists the connectors there are)",
    )


def given_connector(name: str, workspace_root: Path | None = None) -> Connector:
    """`get_connector` for a type a user gives (a new connection's `type`): one lpstudio
    lacks is that input's mistake, refused as bad input (a REST 400 naming `type`) with the
    types there are, where elsewhere (a stored connection's) it is a connector gone
    missing."""
    try:
        return get_connector(name, workspace_root)
    except NotFoundError as exc:
        raise InputError(exc.message, field=exc.field, fix=known_types(workspace_root)) from None


def known_types(workspace_root: Path | None = None) -> str:
    """The fix of a connector type given wrong (a new connection's, a recipe's misspelt
    one): the types there are."""
    known = ", ".join(sorted(load_connectors(workspace_root)))
    return f"use one of: {known} (see `lpstudio connectors`)"


def forget() -> None:
    """Drops the cache, so that every connector loads again."""
    global _base
    with _loading:
        _base = None
        _workspaces.clear()
