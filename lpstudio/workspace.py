"""The workspace: one folder holding everything of one brand.

lpstudio.toml   settings (the marker that makes a folder a workspace)
projects/       recipes, in folders and sub-folders
history/        output notebooks, one per job
lpstudio.db     the SQLite store (unless `store.url` points elsewhere)
secret.key      the key that encrypts connection secrets, readable by its owner only

The folder itself is its owner's only (0700): its files hold customers' data and passwords.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import getpass
import importlib.machinery
import importlib.util
import json
import os
import re
import stat
import sys
import tomllib
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from .errors import InputError, WorkspaceError, quoted

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

    from .pool import PoolSettings

CONFIG_NAME = "lpstudio.toml"
#: The file of the key that encrypts connection secrets (`Workspace.key_path`).
KEY_NAME = "secret.key"
#: A new workspace's SQLite store, beside its settings (`[store] url`'s default).
STORE_NAME = "lpstudio.db"
#: A workspace's folder of what only one machine's processes share (rate limits, locks, the
#: server's sessions, JupyterLab's layout and token): `Workspace.runtime`, or this name where
#: no Workspace is at hand (a kernel's runtime, a connector).
RUNTIME = ".runtime"
#: SQLite's files beside a database (`lpstudio.db-wal`...): the store's own too.
SQLITE_SIDE_FILES = ("", "-wal", "-shm", "-journal")


def own_file(root: Path, path: Path) -> bool:
    """Whether `path` (real: links followed) is one of lpstudio's own files in the workspace
    at `root`, never a connection's to read or write: its settings, key and SQLite store
    (with SQLite's side files), wherever `[store] url` puts it, and the folders of output
    notebooks (`[history] path`) and of the processes' runtime files."""
    try:  # read again only once its settings changed: a recipe may append rows in a loop
        changed = (root / CONFIG_NAME).stat().st_mtime_ns
    except OSError:
        changed = 0
    files, folders = _own_paths(str(root), changed)
    real = os.path.realpath(path)
    if real in files or any(Path(real).is_relative_to(folder) for folder in folders):
        return True
    # The same file under another name: a hard link (`data/key.csv` to `secret.key`), or
    # another case of its name where the file system ignores case (macOS, Windows), which
    # the names above miss. Compared by identity, as `os.path.samefile` does.
    own = _identities(files)
    if _identity(real) in own:
        return True
    inside = _identities(folders)
    return any(_identity(str(parent)) in inside for parent in Path(real).parents)


def _identity(path: str) -> tuple[int, int] | None:
    """A file's device and inode, or None when there is none to stat."""
    try:
        found = os.stat(path)
    except (OSError, ValueError):
        return None
    return found.st_dev, found.st_ino


def _identities(paths: Collection[str]) -> set[tuple[int, int]]:
    """The identities of those `paths` that exist (stat each time: the store's side files
    come and go)."""
    return {found for found in map(_identity, paths) if found is not None}


def sqlite_file(root: Path, url: str | URL) -> Path | None:
    """The SQLite file a store's URL names, whatever its driver (`sqlite+pysqlite:///`): a
    relative one in the workspace at `root`, wherever the command runs. None for another
    database, one in memory, or a URL SQLAlchemy cannot read or a SQLite URI (the store's
    checks say why)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from .store import in_memory, sqlite_uri

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return None
    if parsed.get_backend_name() != "sqlite" or in_memory(parsed) or sqlite_uri(parsed):
        return None
    return root / str(parsed.database)


@functools.lru_cache(maxsize=16)
def _own_paths(root: str, changed: int) -> tuple[frozenset[str], tuple[str, ...]]:
    """`own_file`'s real paths for a workspace's settings as of `changed`: a workspace
    whose settings cannot be read has the default names."""
    base = Path(root)
    try:
        workspace = Workspace.load(base)
        store, history = workspace.store_url, workspace.history
    except Exception:  # its own checks say what is wrong, where they are made
        defaults = Workspace(base)
        store, history = defaults.store_url, defaults.history
    files = [base / CONFIG_NAME, base / KEY_NAME]
    database = sqlite_file(base, store)
    if database is not None:
        files += [Path(f"{database}{side}") for side in SQLITE_SIDE_FILES]
    real_files = frozenset(os.path.realpath(file) for file in files)
    return real_files, (os.path.realpath(history), os.path.realpath(base / RUNTIME))


ENV_VAR = "LPSTUDIO_WORKSPACE"
TERMS_VERSION = "2026-11"

#: A new workspace's lpstudio.toml: `{table[key]}` is that setting's line with its default
#: (`default_lines`).
DEFAULT_CONFIG = """\
# lpstudio workspace settings.

[workspace]
name = {name!r}
created = {created!r}

[store]
# Any SQLAlchemy URL; a relative SQLite path is inside the workspace.
{store[url]}

[history]
# Where output notebooks go: relative to the workspace, or absolute (a shared folder).
{history[path]}

[users]
# Role given to a user seen for the first time: admin, analyst or operator.
{users[default_role]}

[jobs]
# A running job (or one queued by a process that has not started it) whose worker has
# not been heard from for this long is failed as lost.
{jobs[stale_after_seconds]}
{jobs[heartbeat_seconds]}
# `lpstudio purge` (and the scheduler, daily) erases the data of jobs older than this.
{jobs[retention_days]}
# A job of a recipe without a `timeout` of its own fails once it has run this long (0: never).
{jobs[timeout_seconds]}
# Megabytes of outputs a job's cells may keep in its output notebook, all cells together:
# past them its outputs are dropped (its cells still run) and the notebook says so.
{jobs[max_output_mb]}

[webhooks]
# An unsigned delivery without a delivery id is queued once per identical body within this
# many seconds: a sender's retry of it is answered as a repeat (0: every delivery queued).
{webhooks[repeat_window_seconds]}

[kernels]
# Kernels started and connected ahead of jobs, per kernel spec; each serves one job and
# is then shut down. 0 turns the pool off (every job starts its own kernel).
{kernels[pool_size]}
# Modules the kernels' fork server imports once, so that each new kernel has them already.
{kernels[preimport]}
# Kernel specs pooled from the start (others are pooled after their first job).
{kernels[warm]}
# Fork new kernels from a process that has imported ipykernel and `preimport` (false:
# start each pooled kernel as a new Python process).
{kernels[fork]}
# Seconds a job's kernel may take to start, or a pooled one to take the job's first cell,
# before the job fails (raise it on a machine too loaded to start kernels in time).
{kernels[start_timeout]}
"""


def _names(value: Any) -> bool:
    return isinstance(value, list | tuple) and all(isinstance(v, str) and v for v in value)


class Number(NamedTuple):
    """A numeric setting's range, checked when the workspace is read (TOML numbers may be
    nan or inf): `low` itself allowed or not, whole numbers only or not, and what the
    number counts, as its error says."""

    low: float
    high: float
    unit: str
    low_allowed: bool = True
    whole: bool = False


class Setting(NamedTuple):
    """One setting of lpstudio.toml: its default (None: none) and, for a number, its range."""

    default: Any = None
    number: Number | None = None


#: Every setting lpstudio.toml may hold, by table, with its default: anything else is a
#: misspelling that would silently leave its default in force (`[kernel]`, `pool_sise`). A
#: heartbeat under a tenth of a second made every job's watchdog and the executor's looker
#: spin, burning a core to beat the store.
KNOWN_SETTINGS: dict[str, dict[str, Setting]] = {
    "workspace": {"name": Setting(), "created": Setting()},
    "store": {"url": Setting(f"sqlite:///{STORE_NAME}")},
    "history": {"path": Setting("history")},
    "users": {"default_role": Setting("analyst")},
    "jobs": {
        "heartbeat_seconds": Setting(2, Number(0.1, 3_600, "seconds")),
        "stale_after_seconds": Setting(60, Number(0, 86_400, "seconds", low_allowed=False)),
        "retention_days": Setting(30, Number(0, 36_500, "days")),
        "timeout_seconds": Setting(3_600, Number(0, 10**9, "seconds")),
        "max_output_mb": Setting(50, Number(1, 10_000, "megabytes of outputs")),
    },
    "triggers": {
        "auto_stop_after": Setting(
            60, Number(1, 1_000_000, "consecutive trigger errors", whole=True)
        )
    },
    "webhooks": {"repeat_window_seconds": Setting(600, Number(0, 86_400, "seconds"))},
    "kernels": {
        "pool_size": Setting(2),
        "preimport": Setting(("pandas", "httpx")),
        "warm": Setting(("python3",)),
        "fork": Setting(True),
        "start_timeout": Setting(60, Number(1, 3_600, "seconds")),
    },
    "executor": {
        "dask_scheduler": Setting(),
        "workers": Setting(2, Number(1, 64, "jobs run at once", whole=True)),
    },
    "smtp": {
        "host": Setting("127.0.0.1"),
        "port": Setting(25),
        "from": Setting("lpstudio@localhost"),
    },
}


def default_lines() -> dict[str, dict[str, str]]:
    """Each setting's line with its default, `key = value`, by table: a new workspace's
    settings (`DEFAULT_CONFIG`) and the examples errors give. JSON writes these defaults
    (numbers, strings, lists and booleans) as TOML does."""
    return {
        table: {key: f"{key} = {json.dumps(known.default)}" for key, known in keys.items()}
        for table, keys in KNOWN_SETTINGS.items()
    }


def _value(config: dict[str, Any], config_path: Path, table: str, key: str) -> Any:
    """`[table] key` as `config` sets it, else its default (`KNOWN_SETTINGS`)."""
    return _table(config, table, config_path).get(key, KNOWN_SETTINGS[table][key].default)


def notebook_path(ref: str | os.PathLike[str]) -> Path:
    """A recipe's reference as its notebook's path: `.ipynb` added unless it ends so (a dot
    is part of a name: `demo/reminder.v2` is `demo/reminder.v2.ipynb`)."""
    path = Path(ref)
    if not path.name or path.suffix == ".ipynb":  # `.`, `/`: a folder, said as such by the lookup
        return path
    return path.with_name(path.name + ".ipynb")


#: How a recipe is named where a name is refused: the CLI's words, which the REST API's
#: error answers say as its route (`in_rest_terms`).
RECIPE_NAME_FIX = "give a recipe's path under projects/, as `lpstudio recipes` lists it"


def _could_be(ref: str | os.PathLike[str], paths: Sequence[Path], projects: Path) -> WorkspaceError:
    """The refusal of a recipe name that reads as several files: running the wrong one
    could send a campaign. Look-alikes (`_spellings`) are named under `projects` (as the
    REST API names recipes): their paths are the same on screen, so one is to be renamed."""
    from .checks import composed

    if len({composed(os.fspath(path)) for path in paths}) == 1:
        names = " or ".join(Path(os.path.relpath(path, projects)).as_posix() for path in paths)
        return WorkspaceError(
            f"recipe {ref} could be {names}, whose names differ only in how their accents "
            "are written",
            field="recipe",
            fix="rename all but one in JupyterLab's file browser, each to a name of its own",
        )
    shown = " or ".join(str(path) for path in paths)
    return WorkspaceError(
        f"recipe {ref} could be {shown}",
        field="recipe",
        fix=f"give the one you mean by its absolute path: {shown}",
    )


def _spellings(base: Path, path: Path) -> list[Path]:
    """The entries on disk, from `base`, whose every name composes (NFC) as `path`'s
    (composed) does: each folder on the way read once (`look_alikes`, case aside), a name
    as it is first. Several are look-alikes of each other."""
    from .checks import look_alikes

    parts = path.parts
    if path.is_absolute():
        base, parts = Path(path.anchor), parts[1:]
    found = [base]
    for part in parts:
        spelled: list[Path] = []
        for folder in found:
            if (folder / part).exists():
                spelled.append(folder / part)
            with contextlib.suppress(OSError):  # no folder, or not ours to read
                spelled += [folder / other for other in look_alikes(folder, part, case=False)]
        found = spelled
    return found


@contextlib.contextmanager
def recipe_name_checked(ref: str | os.PathLike[str]) -> Iterator[None]:
    """Refuses `ref` as a recipe name no file can have, for the look-up run inside: a NUL
    in it, or a name longer than the file system takes (its own limit, as the look-up
    meets it). Either failed inside the file system's calls: a 500 over REST, a traceback
    from the CLI."""
    if "\0" in os.fspath(ref):
        raise WorkspaceError(f"invalid recipe name {ref!r}", field="recipe", fix=RECIPE_NAME_FIX)
    try:
        yield
    except OSError as exc:
        if exc.errno != errno.ENAMETOOLONG:
            raise
        raise WorkspaceError(
            f"invalid recipe name {ref!r}: too long for the file system",
            field="recipe",
            fix=RECIPE_NAME_FIX,
        ) from None


def _table(config: dict[str, Any], name: str, config_path: Path) -> dict[str, Any]:
    """The settings of `[name]`; a value that is no table is refused, naming where."""
    section = config.get(name, {})
    if not isinstance(section, dict):
        article = "an" if name[0] in "aeiou" else "a"
        raise WorkspaceError(
            f"{config_path} {name} must be a table, not {section!r}",
            field=name,
            fix=f"write these settings under {article} [{name}] header in {config_path}",
        )
    return section


def _check_numbers(config: dict[str, Any], config_path: Path) -> None:
    """Refuses numeric settings out of their range, naming the key and the file, when the
    workspace is read: used later, a NaN retention would crash `purge`, a negative one would
    erase the data of every job, and a bad `auto_stop_after` would break a scheduler's tick
    at the first trigger error."""
    for name, keys in KNOWN_SETTINGS.items():
        for key, (_, number) in keys.items():
            if number is not None:
                _check_number(
                    name, key, number, _value(config, config_path, name, key), config_path
                )
    beat = _value(config, config_path, "jobs", "heartbeat_seconds")
    stale = _value(config, config_path, "jobs", "stale_after_seconds")
    if stale < 2 * beat:  # one late beat would make a live job's worker look gone
        least = max(KNOWN_SETTINGS["jobs"]["stale_after_seconds"].default, 2 * beat)
        raise WorkspaceError(
            f"{config_path} [jobs] stale_after_seconds ({stale:g}) must be at least two "
            f"heartbeats ({2 * beat:g} s): a running job's worker would be taken for lost "
            "between two of its beats",
            field="jobs.stale_after_seconds",
            fix=f"raise stale_after_seconds to {least:g} or more, or lower "
            f"heartbeat_seconds, under [jobs] in {config_path}",
        )


def _check_number(name: str, key: str, number: Number, value: Any, config_path: Path) -> None:
    """Refuses `[name] key` unless `value` is a number in its range."""
    low, high, unit, low_allowed, whole = number
    if (  # nan fails every comparison, and inf the highest bound
        isinstance(value, int if whole else int | float)
        and not isinstance(value, bool)
        and (low <= value if low_allowed else low < value)
        and value <= high
    ):
        return
    kind = "a whole number" if whole else "a number"
    least = f"from {low:g}" if low_allowed else f"above {low:g}"
    example = default_lines()[name][key]
    raise WorkspaceError(
        f"{config_path} [{name}] {key} must be {kind} of {unit} {least} to {high:g}, not {value!r}",
        field=f"{name}.{key}",
        fix=f"set it to a number such as `{example}` under [{name}] in {config_path}",
    )


#: The schemes of Dask's comms a scheduler may listen on.
DASK_SCHEMES = ("tcp", "tls", "ws", "wss", "ucx")


def _check_executor(config: dict[str, Any], config_path: Path) -> None:
    """Refuses an `[executor] dask_scheduler` that cannot name a Dask scheduler, or one set
    where `distributed` is not installed, when the workspace is read: never at a job."""
    address = _value(config, config_path, "executor", "dask_scheduler")
    if address is None:
        return
    field_name, example = "executor.dask_scheduler", 'dask_scheduler = "tcp://10.0.0.5:8786"'
    scheme, sep, rest = address.partition("://") if isinstance(address, str) else ("", "", "")
    host, colon, port = rest.rpartition(":")
    # A port out of range was only found by each job, after Dask's 30 s connect timeout.
    numbered = port.isascii() and port.isdigit() and 1 <= int(port) <= 65535
    # Dask's addresses take no user or password (a cluster is secured by TLS certificates):
    # one given was quoted in every job's error, and never hidden.
    plain = host and not re.search(r"[@/\s]", host)
    if not (sep and scheme in DASK_SCHEMES and plain and colon and numbered):
        shown = re.sub(r"^([^:]*://)[^@]*@", r"\1***@", address) if sep else address
        raise WorkspaceError(
            f"{config_path} [executor] dask_scheduler must be a Dask scheduler's address "
            f"such as tcp://HOST:8786 (a port from 1 to 65535, no user or password), "
            f"not {shown!r}",
            field=field_name,
            fix=f"set it to the address `dask scheduler` prints, e.g. `{example}` under "
            f"[executor] in {config_path}, or remove it to run jobs on this machine",
        )
    if importlib.util.find_spec("distributed") is None:
        raise WorkspaceError(
            f"{config_path} [executor] dask_scheduler is set, but Dask's `distributed` "
            "package is not installed",
            field=field_name,
            fix="install it with `pip install 'lpstudio[dask]'` (`pip install -e '.[dask]'` in "
            "lpstudio's checkout), or remove the setting to run jobs on this machine",
        )


#: The workspace's folders that are not the history's to share, with what they hold.
OWN_FOLDERS = {
    "projects": "recipes: output notebooks there would be listed, run and exported as "
    "recipes, customers' data and all",
    "connectors": "the workspace's connectors, whose code lpstudio imports",
    RUNTIME: "this machine's rate limits, locks and sessions",
}


def history_folder(root: Path, path: str) -> Path:
    """`[history] path` as a folder: relative to the workspace at `root`, or absolute."""
    return root / Path(path).expanduser()


def _check_history(config: dict[str, Any], config_path: Path) -> None:
    """Refuses a `[history] path` that is no folder when the workspace is read: a URL
    (`s3://...`, `file:///...`) was taken for a folder of that name in the workspace; a file
    (`secret.key`) failed every job with `NotADirectoryError`; and a folder that is (or
    holds) one of the workspace's own (`OWN_FOLDERS`) mixed output notebooks into it."""
    path = _value(config, config_path, "history", "path")
    fix = (
        "give a folder, relative to the workspace or absolute (a shared file "
        'system\'s, e.g. path = "/mnt/shared/history"); object storage is used mounted '
        f"as a folder, under [history] in {config_path}"
    )
    if not isinstance(path, str) or not path.strip() or "://" in path or "\0" in path:
        raise WorkspaceError(
            f"{config_path} [history] path must be a folder, not {path!r}",
            field="history.path",
            fix=fix,
        )
    root = config_path.parent
    folder = history_folder(root, path)
    there = next(p for p in (folder, *folder.parents) if os.path.exists(p))
    if not there.is_dir():
        raise WorkspaceError(
            f"{config_path} [history] path {path!r} must be a folder: {there} is a file",
            field="history.path",
            fix=f'{fix} (the default is path = "history")',
        )
    real = Path(os.path.realpath(folder))
    for name, holds in OWN_FOLDERS.items():
        own = Path(os.path.realpath(root / name))
        if real.is_relative_to(own) or own.is_relative_to(real):
            where = "is in" if real.is_relative_to(own) else "holds"
            raise WorkspaceError(
                f"{config_path} [history] path {path!r} {where} the workspace's {name}/, "
                f"which holds {holds}",
                field="history.path",
                fix=f'{fix}, outside {name}/ (the default is path = "history")',
            )


def _checked_smtp(config: dict[str, Any], config_path: Path) -> dict[str, Any]:
    """`[smtp]`, each key with its default; one that cannot send is refused, when the
    workspace is read and again when a failure e-mail is sent (`Workspace.current_smtp`):
    it is first used when a job fails, and its failure e-mail would be lost to a log line
    then."""
    from email.utils import parseaddr

    from .failures import mail_address

    smtp = {key: _value(config, config_path, "smtp", key) for key in KNOWN_SETTINGS["smtp"]}
    host, port, sender = smtp["host"], smtp["port"], smtp["from"]
    problems = (
        (
            "host",
            not isinstance(host, str) or not host.strip() or any(c in host for c in "\r\n"),
            "a host name",
            'host = "smtp.brand.example"',
        ),
        (
            "port",
            isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535,
            "a whole number from 1 to 65535",
            "port = 587",
        ),
        (
            "from",
            not isinstance(sender, str)
            or "@" not in parseaddr(sender)[1]
            or any(c in sender for c in "\r\n")  # a header: one line
            or mail_address(sender) is None,  # a domain mail servers cannot be given
            "an e-mail address",
            'from = "lpstudio@brand.example"',
        ),
    )
    for key, bad, wanted, example in problems:
        if bad:
            raise WorkspaceError(
                f"{config_path} [smtp] {key} must be {wanted}, not {smtp[key]!r}",
                field=f"smtp.{key}",
                fix=f"set it, e.g. `{example}` under [smtp] in {config_path}",
            )
    return smtp


def _runtime_refused(folder: Path) -> WorkspaceError:
    """Why the machine's runtime folder (`.runtime`: rate limits, locks) cannot be used:
    a link to a folder this machine lacks (the README's Scaling out links it to each
    machine's own disk), or a file in its place. The link's target is not named, as the
    REST API names no server folder: `readlink` shows it to whoever can fix it."""
    if folder.is_symlink():
        return WorkspaceError(
            f"{folder} is a symbolic link to a folder that does not exist on this machine: "
            "lpstudio keeps this machine's rate limits and locks there",
            field=RUNTIME,
            fix="create the folder it links to on this machine: `mkdir -p "
            f"\"$(readlink {folder.name})\"` in the workspace's folder (see the README's "
            "Scaling out), or remove the link to keep them in the workspace",
        )
    return WorkspaceError(
        f"{folder} is a file, not a folder: lpstudio keeps this machine's rate limits and "
        "locks there",
        field=RUNTIME,
        fix=f"remove the file {folder.name} (lpstudio creates the folder), or make it a "
        "symbolic link to a folder of this machine's own disk",
    )


def _check_runtime(root: Path) -> None:
    """Refuses a `.runtime` that cannot be a folder when the workspace is read, before any
    job: its first user (a job's send cell, Try recipe) failed with `FileExistsError`."""
    folder = root / RUNTIME
    if os.path.lexists(folder) and not folder.is_dir():
        raise _runtime_refused(folder)


def _owner_only(root: Path) -> None:
    """Closes a workspace other users of the machine can read (one an older lpstudio made,
    0755) to all but its owner, saying so once: it holds the store, output notebooks and
    settings with passwords, whose files are made as the umask says (0644). Several
    machines share a workspace as one service user (the README's Scaling out), whom this
    leaves as it was; a workspace of another user's is only warned of."""
    info = root.stat()
    was = stat.S_IMODE(info.st_mode)
    if not was & 0o077:
        return
    if info.st_uid == os.geteuid():
        with contextlib.suppress(OSError):  # a read-only file system: warned of below
            root.chmod(was & 0o700)
            print(
                f"lpstudio: the workspace {root} could be read by other users of this machine "
                f"(mode {was:o}): made it its owner's only ({was & 0o700:o})",
                file=sys.stderr,
                flush=True,
            )
            return
    print(
        f"lpstudio: warning: the workspace {root} can be read by other users of this machine "
        f"(mode {was:o}): its owner should run `chmod go= {root}`",
        file=sys.stderr,
        flush=True,
    )


def session_file(root: Path, kernel_id: str) -> Path:
    """Where the studio's server keeps the path the notebook of its kernel `kernel_id` has
    now (`server.sessions`), which that kernel reads (`kernel.runtime.notebook_path`):
    `$JPY_SESSION_NAME` is the path it had when the kernel started, and a notebook renamed
    in JupyterLab keeps its kernel."""
    return root / RUNTIME / "sessions" / kernel_id


def runtime_folder(folder: Path) -> Path:
    """`folder` (a workspace's `.runtime`) made if missing, for files only this machine's
    processes share; refused as `_check_runtime` does should it have broken since the
    workspace was read (a long-running server's)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:  # a dangling link, or a file: `exist_ok` covers only folders
        raise _runtime_refused(folder) from None
    return folder


def _module_found(name: str) -> bool:
    """Whether the module `name` (`pandas.io.json`) is installed for this Python, found
    without importing it or the packages it is in: lpstudio's own process never runs what
    only kernels use (`[kernels] preimport`). A package not imported yet is searched where
    its spec says its modules are, as importing it would."""
    parts = name.split(".")
    try:
        spec = importlib.util.find_spec(parts[0])
        for depth in range(2, len(parts) + 1):
            package, dotted = ".".join(parts[: depth - 1]), ".".join(parts[:depth])
            if package in sys.modules:  # its own import machinery (`os.path`)
                spec = importlib.util.find_spec(dotted)
            elif spec is None or spec.submodule_search_locations is None:
                return False  # a module holds no modules
            else:
                locations = list(spec.submodule_search_locations)
                spec = importlib.machinery.PathFinder.find_spec(dotted, locations)
            if spec is None:
                return False
    except (ImportError, ValueError):  # a parent that is no package, a module without spec
        return False
    return spec is not None


def _check_known(config: dict[str, Any], config_path: Path) -> None:
    """Refuses tables and keys lpstudio does not read, naming the closest known one, and a
    default role that is not a role: every new user would get it, and could do nothing."""
    from difflib import get_close_matches

    from .store import ROLES

    def unknown(name: str, field: str, known: Sequence[str], shown: str) -> WorkspaceError:
        close = get_close_matches(name, known, n=1)
        names = [shown.format(k) for k in known]
        return WorkspaceError(
            f"{config_path} has an unknown setting {shown.format(name)}: lpstudio would ignore it",
            field=field,
            fix=(f"did you mean {shown.format(close[0])}? " if close else "")
            + f"known: {', '.join(names)} (the README's Configuration lists each)",
        )

    for table in config:
        if table not in KNOWN_SETTINGS:
            raise unknown(table, table, list(KNOWN_SETTINGS), "[{}]")
        for key in _table(config, table, config_path):
            if key not in KNOWN_SETTINGS[table]:
                raise unknown(key, f"{table}.{key}", KNOWN_SETTINGS[table], f"[{table}] {{}}")
    role = _value(config, config_path, "users", "default_role")
    if role not in ROLES:
        raise WorkspaceError(
            f"{config_path} [users] default_role must be a role, not {role!r}",
            field="users.default_role",
            fix=f"set it to one of {', '.join(ROLES)} under [users] in {config_path}",
        )


def current_user() -> str:
    """The OS user, or `$LPSTUDIO_USER`: the person acting on the command line. Names with
    ':' are how API clients (`api:NAME`) and lpstudio's processes act, so no person may
    take one: their role and audit entries are theirs."""
    name = os.environ.get("LPSTUDIO_USER") or getpass.getuser()
    if ":" in name:
        raise InputError(
            f"LPSTUDIO_USER {quoted(name)} is how an API client (api:NAME) or one of lpstudio's "
            "own processes (lpstudio:PROCESS) acts, not a person",
            field="LPSTUDIO_USER",
            fix="set LPSTUDIO_USER to the login name of the person acting, without ':'",
        )
    return name


@functools.lru_cache(maxsize=8)
def _folder_pattern(*folders: str) -> re.Pattern[str]:
    """A whole path naming one of `folders` (longest first), with its `/` if a path in it
    follows: not preceded or followed by what continues a name, but for a URL of no host
    (`sqlite:////srv/ws/...`, `file:///srv/ws`) (`Workspace.shown_paths`)."""
    names = "|".join(re.escape(f) for f in sorted(set(folders), key=len, reverse=True))
    return re.compile(rf"(?:(?<![\w.~/:-])|(?<=:///))(?:{names})(?:/|(?![\w~-]|\.[\w.~-]))")


@functools.cache
def _library_folders() -> re.Pattern[str]:
    """The folders modules are imported from (Python's library, the installed packages,
    lpstudio's own checkout), as `_folder_pattern` finds them: a traceback's frames in them
    are shown by their module's path (`Workspace.shown_paths`)."""
    import sys

    folders = [Path(__file__).resolve().parent.parent, *map(Path, sys.path)]
    found = {str(f) for f in folders if f.is_absolute() and f.is_dir() and f != Path("/")}
    return _folder_pattern(*found, *(os.path.realpath(f) for f in found))


def workspace_around(root: Path) -> Path | None:
    """The workspace a folder at `root` lies in (below its own), if any: one that `lpstudio
    init` refuses to make there, as a workspace cannot hold another."""
    return next((outer for outer in root.parents if (outer / CONFIG_NAME).is_file()), None)


def _no_workspace(root: Path, named_by: str | None) -> WorkspaceError:
    """Why `root` is no workspace, with a fix that works: `lpstudio init` only where it can
    make one (no such path, or a folder; it refuses a file, and a folder in a workspace,
    whose own folder is offered instead); the setting that named `root` (`named_by`:
    $LPSTUDIO_WORKSPACE) said, and its own fix first."""
    there = next(p for p in (root, *root.parents) if os.path.exists(p))
    why = f"{there} is a file, not a folder" if not there.is_dir() else f"no {CONFIG_NAME}"
    outer = workspace_around(root)
    init = f"`lpstudio init {root} --accept-terms`" if there.is_dir() and not outer else None
    folder = f"the workspace's folder {outer}" if outer else "a workspace's folder"
    if named_by is None:
        return WorkspaceError(
            f"{root} is not an lpstudio workspace ({why})",
            field="workspace",
            fix=f"create one with {init}"
            if init
            else f"give the path of {folder} (the one holding {CONFIG_NAME})",
        )
    fix = (
        f"set {named_by} to {folder} (the one holding {CONFIG_NAME}), or unset it "
        f"(`unset {named_by}`) to use the workspace of the folder you are in"
    )
    return WorkspaceError(
        f"{named_by} names {root}, which is not an lpstudio workspace ({why})",
        field=named_by,
        fix=f"{fix}; or make it one with {init}" if init else fix,
    )


def _read_config(root: Path, named_by: str | None = None) -> dict[str, Any]:
    """The workspace's lpstudio.toml as TOML reads it, or why it cannot be read."""
    config_path = root / CONFIG_NAME
    try:
        return tomllib.loads(config_path.read_text())
    except (FileNotFoundError, NotADirectoryError):
        raise _no_workspace(root, named_by) from None
    except OSError as exc:
        raise WorkspaceError(
            f"cannot read {config_path}: {exc.strerror}",
            field="workspace",
            fix=f"give the user running lpstudio read access to {root}",
        ) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError) as exc:
        # tomllib recurses on nested arrays, and reads text: each said as the file's fault.
        why = {
            UnicodeDecodeError: "is not UTF-8 text",
            RecursionError: "nests arrays or tables deeper than TOML's reader goes",
        }.get(type(exc), f"is not valid TOML: {exc}")
        raise WorkspaceError(
            f"{config_path} {why}", field="workspace", fix=f"correct {config_path}"
        ) from None


@dataclass(frozen=True)
class Workspace:
    """Paths and settings of one workspace; holds no open resources."""

    root: Path
    config: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, root: str | os.PathLike[str], named_by: str | None = None) -> Workspace:
        """Reads the workspace at `root`; `~` means the home folder, as in a shell (the
        path may come from Python, `--workspace=~/x` or `$LPSTUDIO_WORKSPACE`: `named_by`,
        said where `root` is no workspace)."""
        root = Path(root).expanduser().resolve()
        config_path = root / CONFIG_NAME
        config = _read_config(root, named_by)
        _check_known(config, config_path)
        _check_numbers(config, config_path)
        _check_executor(config, config_path)
        _check_history(config, config_path)
        _checked_smtp(config, config_path)
        _check_runtime(root)
        _owner_only(root)
        workspace = cls(root, config)
        workspace._check_store()
        return workspace

    @classmethod
    def find(
        cls, explicit: str | os.PathLike[str] | None = None, around: Path | None = None
    ) -> Workspace:
        """From `--workspace`, then `$LPSTUDIO_WORKSPACE`, then the folder `around` (a
        notebook's) and its parents, then this folder and its parents."""
        if explicit:
            return cls.load(explicit)
        if os.environ.get(ENV_VAR):
            return cls.load(os.environ[ENV_VAR], named_by=ENV_VAR)
        here = Path.cwd().resolve()
        for start in (*([around.resolve()] if around else []), here):
            for folder in (start, *start.parents):
                if (folder / CONFIG_NAME).is_file():
                    return cls.load(folder)
        raise WorkspaceError(
            f"no lpstudio workspace in {here} or its parents",
            field="workspace",
            fix=f"pass --workspace PATH, set {ENV_VAR}, or create one with "
            "`lpstudio init PATH --accept-terms`",
        )

    @staticmethod
    def write_new(root: Path) -> list[Path]:
        """Writes the folders, the key and, last, the settings file that marks a workspace,
        so that a failure part way leaves no folder that passes for one. Says what it made,
        in order: what `lpstudio init` removes again if its store is refused
        (`remove_made`)."""
        from cryptography.fernet import Fernet

        parts = ("projects", "history", KEY_NAME, CONFIG_NAME)
        made = [
            p for p in (*reversed(root.parents), root, *(root / n for n in parts)) if not p.exists()
        ]
        try:
            root.mkdir(mode=0o700, parents=True, exist_ok=True)
            if not (root / CONFIG_NAME).exists():  # a folder made beforehand becomes one too
                root.chmod(0o700)  # its owner's only (`_owner_only`), before anything is in it
            (root / "projects").mkdir(exist_ok=True)
            (root / "history").mkdir(exist_ok=True)
            key_path = root / KEY_NAME
            if not key_path.exists():
                fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as handle:
                    handle.write(Fernet.generate_key())
            config_path = root / CONFIG_NAME
            if not config_path.exists():
                created = datetime.now(UTC).isoformat(timespec="seconds")
                config_path.write_text(
                    DEFAULT_CONFIG.format(name=root.name, created=created, **default_lines())
                )
        except OSError as exc:
            where = f" ({exc.filename})" if exc.filename and exc.filename != str(root) else ""
            raise WorkspaceError(
                f"cannot create the workspace at {root}: {exc.strerror}{where}",
                field="path",
                fix="choose a folder you may write to, e.g. `lpstudio init ~/brand --accept-terms`",
            ) from None
        return made

    @staticmethod
    def remove_made(made: list[Path]) -> None:
        """Removes what `write_new` made, last first: a refused `lpstudio init` leaves the
        folder as it was."""
        for path in reversed(made):
            with contextlib.suppress(OSError):  # kept: something else was put in it
                if path.is_dir():
                    path.rmdir()
                else:
                    path.unlink(missing_ok=True)

    # -- settings --------------------------------------------------------------------------

    def setting(self, section: str, key: str) -> Any:
        """`[section] key` of lpstudio.toml, else its default (`KNOWN_SETTINGS`): a number
        that may have a fraction as a float, whatever the file wrote (`2` or `2.0`)."""
        value = _value(self.config, self.root / CONFIG_NAME, section, key)
        number = KNOWN_SETTINGS[section][key].number
        return float(value) if number is not None and not number.whole else value

    def _current(self, table: str) -> dict[str, Any]:
        """`[table]` alone as lpstudio.toml says it now, checked as when the workspace is
        read (a misspelt key, a default role that is none): what a long-running server or
        scheduler reads again where the value it started with would be out of date. Only
        `[table]` is checked: another setting broken since holds up nothing here."""
        config_path = self.root / CONFIG_NAME
        current = {table: _table(_read_config(self.root), table, config_path)}
        _check_known(current, config_path)
        return current

    def current_smtp(self) -> dict[str, Any]:
        """`[smtp]` as lpstudio.toml says it now, each key with its default: read again for
        each failure e-mail (rare, and cheap), since a long-running server or scheduler
        would else send through the settings it started with."""
        return _checked_smtp(self._current("smtp"), self.root / CONFIG_NAME)

    def current_default_role(self) -> str:
        """`[users] default_role` as lpstudio.toml says it now: read again for each
        newcomer, since a running server kept giving the role it started with (an admin
        who set `operator` so that not everyone may build recipes saw newcomers of the
        server come in as analysts, and the CLI's as operators)."""
        current = self._current("users")
        return str(_value(current, self.root / CONFIG_NAME, "users", "default_role"))

    def pool_settings(self) -> PoolSettings:
        """The `[kernels]` section, checked: how many ready kernels, what they pre-import."""
        from .pool import PoolSettings

        where = f"{self.root / CONFIG_NAME} [kernels]"
        examples = default_lines()["kernels"]

        def bad(key: str, what: str) -> WorkspaceError:
            return WorkspaceError(
                f"{where} {key} must be {what}, not {self.setting('kernels', key)!r}",
                field=f"kernels.{key}",
                fix=f"set it to {examples[key]} in {self.root / CONFIG_NAME}",
            )

        size = self.setting("kernels", "pool_size")
        if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= 64:
            raise bad("pool_size", "a whole number from 0 to 64")
        preimport = self.setting("kernels", "preimport")
        if not _names(preimport) or not all(
            part.isidentifier() for name in preimport for part in name.split(".")
        ):
            raise bad("preimport", "a list of module names")
        # The fork server imports them with this Python: one it lacks (a misspelling, of a
        # package or of a module in it) made every kernel start cold, with a line in the log
        # per job.
        absent = [name for name in preimport if not _module_found(name)]
        if absent:
            raise bad("preimport", f"a list of modules installed here ({', '.join(absent)} is not)")
        warm = self.setting("kernels", "warm")
        if not _names(warm):
            raise bad("warm", "a list of kernel spec names")
        from .recipe import missing_kernels

        installed = missing_kernels(warm)
        if installed is not None:  # a misspelt spec kept nothing warm, without a word
            raise bad("warm", f"a list of installed kernel specs ({installed})")
        fork = self.setting("kernels", "fork")
        if not isinstance(fork, bool):
            raise bad("fork", "true or false")
        return PoolSettings(size=size, preimport=tuple(preimport), warm=tuple(warm), fork=fork)

    @property
    def projects(self) -> Path:
        return self.root / "projects"

    @property
    def runtime(self) -> Path:
        """This machine's folder of the workspace (`RUNTIME`), as it is: `runtime_folder`
        makes it, or says why it cannot be used."""
        return self.root / RUNTIME

    @property
    def history(self) -> Path:
        """Where output notebooks go: `[history] path`, relative to the workspace or
        absolute (a folder every machine of the brand shares, when scaled out)."""
        return history_folder(self.root, self.setting("history", "path"))

    def stored_path(self, path: Path) -> str:
        """A path as the store keeps it: relative to the workspace when inside it (the
        workspace may move), absolute otherwise (a shared history folder)."""
        return str(path.relative_to(self.root) if path.is_relative_to(self.root) else path)

    def shown_paths(self, text: str) -> str:
        """`text` naming the workspace's files by their path in it (`projects/shop/data.csv`)
        and the workspace itself as "the workspace", and a module of Python's library, the
        installed packages or lpstudio by its path in them (`httpx/_client.py`): what REST
        error answers and a job's error as given out say, so that a caller (a bot, a browser
        app) learns nothing of the server's folders. Only a whole path is read so: the
        folder's name inside another path, a longer name or a URL (`/app` in `/application`,
        `https://x/app/`) is left as it is. The server's log, a job's stored row and its
        output notebook keep the full paths, for the server's admin."""
        found = _folder_pattern(str(self.root), str(self.root.resolve()))
        text = found.sub(lambda m: "" if m.group().endswith("/") else "the workspace", text)
        return _library_folders().sub(lambda m: "" if m.group().endswith("/") else m.group(), text)

    def shown_in(self, data: Any) -> Any:
        """`shown_paths` on every string of a JSON-like value: an error answer, a job's error
        (its traceback a list of strings)."""
        if isinstance(data, str):
            return self.shown_paths(data)
        if isinstance(data, dict):
            return {key: self.shown_in(value) for key, value in data.items()}
        if isinstance(data, list):
            return [self.shown_in(item) for item in data]
        return data

    @property
    def key_path(self) -> Path:
        return self.root / KEY_NAME

    @property
    def store_url(self) -> str:
        """`[store] url`, its SQLite file (`sqlite_file`) named in full: every process,
        wherever it runs, opens the one store."""
        url = self.setting("store", "url")
        if not isinstance(url, str):
            raise WorkspaceError(
                f"[store] url in lpstudio.toml must be text, not {url!r}",
                field="store.url",
                fix=f"write it quoted, e.g. {default_lines()['store']['url']}",
            )
        database = sqlite_file(self.root, url)
        if database is None:
            return url
        from sqlalchemy.engine import make_url

        # Its driver and query kept: `sqlite+pysqlite:///x.db?timeout=5`.
        return make_url(url).set(database=str(database)).render_as_string(hide_password=False)

    def _check_store(self) -> None:
        """Refuses, when the workspace is read, a SQLite `[store] url` that keeps no store
        of the workspace's: one in memory (`sqlite://`; `sqlite:///:memory:` made a file of
        that name in the workspace), which forgets every job, user and setting as each
        command ends, or a file in projects/ or the history folder, among recipes (listed,
        exported) or output notebooks."""
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        from .store import in_memory

        config_path = self.root / CONFIG_NAME
        fix = (
            f"give the store's file, e.g. {default_lines()['store']['url']} under [store] in "
            f"{config_path}"
        )
        try:
            given, url = make_url(self.setting("store", "url")), make_url(self.store_url)
        except (ArgumentError, ValueError):  # the store's own checks say why
            return
        if in_memory(given):
            raise WorkspaceError(
                f"{config_path} [store] url names a database in memory: a store that forgets "
                "every job, user and setting as each lpstudio process ends",
                field="store.url",
                fix=fix,
            )
        misplaced = self.misplaced_store(url)
        if misplaced is not None:
            name, folder, among = misplaced
            raise WorkspaceError(
                f"{config_path} [store] url puts the store in {name}: its users, jobs and "
                f"connections would lie among {among}",
                field="store.url",
                fix=f"{fix}, outside {folder} (move the file there first to keep its data)",
            )

    def misplaced_store(self, url: URL) -> tuple[str, Path, str] | None:
        """The folder of the workspace's that may keep no store but would keep the SQLite
        store at `url` (its name as errors say it, the folder, what lies there), or None:
        projects/ and the history folder, among recipes (listed, exported) or output
        notebooks. `[store] url` is refused there, and a `store-copy` target with it."""
        database = sqlite_file(self.root, url)
        if database is None:
            return None
        real = Path(os.path.realpath(database))
        folders = (
            ("projects/", self.projects, "recipes, which are listed and exported"),
            ("the history folder ([history] path)", self.history, "output notebooks"),
        )
        for name, folder, among in folders:
            if real.is_relative_to(os.path.realpath(folder)):
                return name, folder, among
        return None

    @property
    def default_store(self) -> bool:
        """Whether `[store] url` is the default, a new workspace's (`sqlite:///lpstudio.db`)."""
        return self.setting("store", "url") == KNOWN_SETTINGS["store"]["url"].default

    # -- paths -----------------------------------------------------------------------------

    def inside(self, path: Path, base: Path, what: str, field_name: str) -> Path:
        """Resolves `path` and refuses it unless it stays inside `base`. The refusal quotes
        `path` as it was typed: from `base` (`base / "../../x"` as `../../x`), or else in
        full. Resolved, a path typed from `base` named the server's folders above the
        workspace, or where a link in it leads."""
        resolved = path.resolve()
        if not resolved.is_relative_to(base.resolve()):
            typed = path.relative_to(base) if path.is_relative_to(base) else os.path.abspath(path)
            if Path(os.path.normpath(os.path.abspath(path))).is_relative_to(base.absolute()):
                raise WorkspaceError(  # inside as written: a link leads out (its target unsaid)
                    f"{what} {typed} is a link (or in a linked folder) leading outside {base}",
                    field=field_name,
                    fix=f"copy the {'folder' if resolved.is_dir() else 'file'} into {base} in "
                    "place of the link",
                )
            raise WorkspaceError(
                f"{what} {typed} is outside {base}",
                field=field_name,
                fix=f"give a path inside {base}",
            )
        return resolved

    def recipe_path(
        self, ref: str | os.PathLike[str], typed: bool = False, kept: Collection[str] = ()
    ) -> Path:
        """Finds a recipe, inside `projects/`, from its name there (`shop/cart`, as the store,
        the REST API and the Python API name it) or its absolute path. `typed` (a name a
        person typed at a terminal: the CLI's) reads it also as the path JupyterLab's file
        browser shows (`projects/shop/cart.ipynb`, from the workspace's folder) and as a path
        from the working folder (a terminal in the recipe's folder types `cart.ipynb`, as for
        papermill); readings that name two recipes are refused: running the wrong one could
        send a campaign. A stored name is never read from a server's working folder.
        `kept` names recipes whose notebook is gone but that still count (a filter of jobs,
        which outlive their recipe): a reading naming one is a recipe too, at its old path."""
        if not str(ref).strip():
            raise WorkspaceError(
                "no recipe given",
                field="recipe",
                fix="give one, e.g. shop/cart (`lpstudio recipes` lists them)",
            )
        from .checks import composed

        with recipe_name_checked(ref):
            bases, notebook = self._bases(str(ref), typed), notebook_path(ref)
            readings = self._readings(notebook, bases)
            projects = self.projects.resolve()
            found = list(dict.fromkeys(path.resolve() for path in readings if path.is_file()))
            gone = (path.resolve() for path in readings if kept and not path.is_file())
            recipes = [path for path in found if path.is_relative_to(projects)]
            # A deleted recipe as its jobs name it, however its accents were written on disk
            # (a decomposed name, run by its composed one, is stored decomposed); of deleted
            # look-alikes, the one named exactly as typed is the one meant.
            kept_as: dict[str, list[str]] = {}
            for name in kept:
                kept_as.setdefault(composed(name), []).append(name)
            exact = {(base / notebook).resolve() for base in bases} if kept else set()
            for path in gone:
                if path.is_relative_to(projects):
                    alike = [
                        projects / n
                        for n in kept_as.get(composed(path.relative_to(projects).as_posix()), ())
                    ]
                    recipes += [p for p in alike if p in exact] or alike
            recipes = list(dict.fromkeys(recipes))  # each once, in order
            if len(recipes) > 1:
                raise _could_be(ref, recipes, projects)
            if not recipes or str(ref).endswith(("/", os.sep)):  # `shop/` names a folder
                folder = self._folder_named(ref, typed)
                if folder is not None:
                    raise self._not_a_recipe(ref, folder, recipes[0] if recipes else None)
            if not recipes:
                named = next((path for path in readings if path.is_file()), readings[0])
                self.inside(named, self.projects, "recipe", "recipe")
                raise WorkspaceError(
                    f"recipe {ref} not found in {self.projects}",
                    field="recipe",
                    fix="list recipes with `lpstudio recipes`",
                )
            return self.projects / recipes[0].relative_to(projects)  # as `recipe_files` names it

    def refuse_server_path(self, ref: str) -> None:
        """Refuses a recipe named by its absolute path: the REST API names one by its path
        under `projects/` only (the README), as a caller knows nothing of the server's
        folders; the CLI, on the server's own machine, takes such a path."""
        if not Path(ref).is_absolute():
            return
        path = Path(os.path.normpath(ref))
        bases = (self.projects, self.projects.resolve())
        name = next((path.relative_to(b).as_posix() for b in bases if path.is_relative_to(b)), None)
        # One outside the workspace is named as given: the caller's own text, no folder of
        # the server's that it did not know.
        outside = "" if name else f"recipe {path} is outside projects/: "
        raise WorkspaceError(
            f"{outside}the REST API names a recipe by its path under projects/, not by its "
            "path on the server",
            field="recipe",
            fix=f"give its path under projects/: {name}" if name else RECIPE_NAME_FIX,
        )

    def under_projects(self, path: str | os.PathLike[str]) -> Path:
        """`path` under `projects/`, as `recipe_path` reads a stored name (the REST API's):
        as given when that is there, else the one file whose name composes as its composed
        name does (`_readings`); two such look-alikes are refused as `recipe_path` refuses
        them."""
        readings = self._readings(Path(path), (self.projects,))
        if len(readings) > 1:
            raise _could_be(path, readings, self.projects)
        return readings[0]

    def _readings(self, path: Path, bases: Sequence[Path]) -> tuple[Path, ...]:
        """`path` from each of `bases` (`_bases`), exactly as given when that is there; else
        the entries on disk whose names compose (`composed`) as its composed name does
        (`_spellings`), each a reading: a name typed decomposed (on a Mac) finds the recipe
        lpstudio named composed, one typed composed (a keyboard's) what a file manager wrote
        decomposed (`été` on a Mac, or checked out or synced from one). Where look-alikes
        are both on disk, the name as given is the one meant: read composed first, a name
        typed decomposed ran the composed one, another notebook."""
        from .checks import composed

        nfc = Path(composed(os.fspath(path)))
        readings: list[Path] = []
        walked: set[Path] = set()  # an absolute path is each base's: read once
        for base in bases:
            if (base / path).exists():
                readings.append(base / path)
            elif base / nfc not in walked:  # a miss only: a read of each folder on the way
                walked.add(base / nfc)
                readings += _spellings(base, nfc) or [base / nfc]
        return tuple(readings)

    def _bases(self, given: str, typed: bool) -> tuple[Path, ...]:
        """What a recipe's path may be relative to: `projects/`; when `typed`, also the
        working folder and the workspace's folder (none count when it is absolute), and
        only the working folder when `given` starts with `./` or `../`, as in a shell."""
        if not typed:
            return (self.projects,)
        if given.startswith(("./", "../")) or given in (".", ".."):
            return (Path(),)
        return self.projects, Path(), self.root

    def _folder_named(self, ref: str | os.PathLike[str], typed: bool) -> Path | None:
        """The folder inside `projects/` that `ref` names, read as `recipe_path` reads a
        recipe, if any: `shop/` is a project, not a recipe."""
        for reading in self._readings(Path(ref), self._bases(str(ref), typed)):
            if reading.is_dir() and reading.resolve().is_relative_to(self.projects.resolve()):
                return reading.resolve()
        return None

    def refuse_folder(self, ref: str | os.PathLike[str]) -> None:
        """Refuses a stored name (the REST API's) that is a folder (`_not_a_recipe`), as
        `recipe_path` refuses a typed one: `p/x.ipynb/`, a folder, was said not to exist
        over REST, where the CLI named one of its recipes."""
        folder = self._folder_named(ref, typed=False)
        if folder is not None:
            raise self._not_a_recipe(ref, folder, None)

    def _not_a_recipe(
        self, ref: str | os.PathLike[str], folder: Path, recipe: Path | None
    ) -> WorkspaceError:
        """Why a folder (`lpstudio run shop/`) is no recipe, giving one of its recipes, and
        the recipe the name is without its `/`, when there is one."""
        inner = self.recipe_files(folder)
        choices = [f"one of its recipes, e.g. {self.recipe_name(inner[0])}"] if inner else []
        if recipe is not None:
            name = self.recipe_name(recipe)
            choices.append(f"{name.removesuffix('.ipynb')} for the recipe {name}")
        return WorkspaceError(
            f"recipe {ref} is a folder, not a recipe",
            field="recipe",
            fix=f"give {' or '.join(choices)}"
            if choices
            else "copy a recipe into it first, e.g. `lpstudio gallery try TEMPLATE --project "
            "FOLDER`",
        )

    def recipe_files(self, folder: Path | None = None) -> list[Path]:
        """Every recipe notebook under `folder` (`projects/` by default), each once, by its
        real path under `projects/`: what every listing of recipes reads (`lpstudio
        recipes`, the scheduler, every callable's path). Nothing outside `projects/` is ever
        run, so a notebook linked in from outside is no recipe, as for `export`; a link to a
        recipe inside it is that recipe, listed under its own name only (listed twice, it
        was polled twice a tick). A broken link, a folder named `x.ipynb` and JupyterLab's
        checkpoints are no recipes either."""
        projects = self.projects.resolve()
        found = {path.resolve() for path in (folder or self.projects).rglob("*.ipynb")}
        # Named under `projects/` as the workspace has it (a link itself, to a shared disk):
        # a recipe finds its workspace's own connectors from there (`recipe._workspace_of`).
        # Each real path is resolved once: every listing of recipes walks them all.
        return sorted(
            self.projects / path.relative_to(projects)
            for path in found
            if _is_recipe_real(path, projects)
        )

    def named_recipe_files(self, names: Iterable[str]) -> list[tuple[str, Path]]:
        """The recipe notebooks of `names` (recipe names, as the store keeps them), each by
        its name, as `recipe_files` lists them, read without walking `projects/`: a call or a
        delivery looks at the started recipes' files only, whatever else the workspace
        holds. A name that is a link, a folder or a checkpoint now, or not there, or one
        that goes through a link, is none (a name is its notebook's real path under
        `projects/`, exactly): one `lstat` a name and one a folder they share, where
        `realpath` looked at each name's every folder again."""
        listed = self.projects  # a property: made once, not once a name
        projects = os.path.realpath(listed)
        folders: dict[str, bool] = {}  # whether each is a folder, not a link: looked at once
        found = []
        for name in dict.fromkeys(names):  # strings, not paths: a call reads each of them
            named = os.path.join(projects, name)
            if (
                os.path.normpath(named) == named  # no `..`, `.` or `//` in it
                and _is_recipe_name(name)
                and _is_kind(named, stat.S_ISREG)
                and all(_is_folder(folder, folders) for folder in _folders_of(projects, name))
            ):
                found.append((listed / name, name))
        return [(name, path) for path, name in sorted(found)]

    def notebook_names(self) -> Iterator[str]:
        """The name under `projects/` of each `*.ipynb` there, unresolved and unchecked: the
        names any recipe may have (`recipe_files` lists some of them), found without a
        `stat` of each (a webhook delivery's hook id is matched against them)."""
        for path in self.projects.rglob("*.ipynb"):
            yield path.relative_to(self.projects).as_posix()

    def is_recipe_file(self, path: Path) -> bool:
        """Whether `path` is a recipe's notebook: a file `*.ipynb` whose real path is under
        `projects/`, not a JupyterLab checkpoint (`recipe_files`' rule, and a save's)."""
        return _is_recipe_real(path.resolve(), self.projects.resolve())

    def is_in_history(self, path: Path) -> bool:
        """Whether `path`'s real path is the history folder or inside it: a job's output
        notebook or anything else there, which only jobs write (the folder too: made or
        filled by hand, it would hold history no job wrote)."""
        return path.resolve().is_relative_to(self.history.resolve())

    def holds_history(self, path: Path) -> bool:
        """Whether `path`'s real path is a folder the history folder is in, at any depth:
        moved or deleted, it takes job history with it."""
        real, history = path.resolve(), self.history.resolve()
        return real != history and history.is_relative_to(real)

    def is_in_projects(self, path: Path) -> bool:
        """Whether `path`'s real path is the projects folder or inside it: a recipe, or a
        file or folder beside recipes, which only a role that builds changes."""
        return path.resolve().is_relative_to(self.projects.resolve())

    def holds_projects(self, path: Path) -> bool:
        """Whether `path`'s real path is a folder the projects folder is in, at any depth:
        moved or deleted, it takes the recipes with it."""
        real, projects = path.resolve(), self.projects.resolve()
        return real != projects and projects.is_relative_to(real)

    def recipe_name(self, path: Path) -> str:
        """The recipe's name in the store: its path under `projects/`, with `/`."""
        return path.resolve().relative_to(self.projects.resolve()).as_posix()

    def listed_name(self, path: Path) -> str:
        """`recipe_name` of a path `recipe_files` listed, read without the disk: listed under
        `projects/` by its real path, it is its name already (a listing names every
        recipe)."""
        return path.relative_to(self.projects).as_posix()


def _folders_of(projects: str, name: str) -> Iterator[str]:
    """The folders under `projects` that a name under it goes through (`shop`, `shop/eu`)."""
    parts = name.split("/")[:-1]
    for depth in range(1, len(parts) + 1):
        yield os.path.join(projects, *parts[:depth])


def _is_kind(path: str, kind: Callable[[int], bool]) -> bool:
    """Whether `path` is there, of `kind` (`stat.S_ISREG`, `stat.S_ISDIR`), itself and not
    through a link."""
    try:
        return kind(os.lstat(path).st_mode)
    except OSError:
        return False


def _is_folder(path: str, seen: dict[str, bool]) -> bool:
    """`_is_kind` of a folder, each looked at once (`seen`): a project holds many recipes."""
    if path not in seen:
        seen[path] = _is_kind(path, stat.S_ISDIR)
    return seen[path]


def _is_recipe_real(real: Path, projects: Path) -> bool:
    """`Workspace.is_recipe_file` of a real path, given the projects folder's real path."""
    return (
        real.is_relative_to(projects)
        and _is_recipe_name(real.relative_to(projects).as_posix())
        and real.is_file()
    )


def _is_recipe_name(name: str) -> bool:
    """Whether a name under `projects/` may be a recipe's: `*.ipynb`, not in a JupyterLab
    checkpoints folder."""
    return os.path.splitext(name)[1] == ".ipynb" and ".ipynb_checkpoints" not in name.split("/")
