"""`Studio`: the one core API that the CLI, the server, the widgets and the scheduler share.

Every operation checks its input before it writes anything: a bad recipe, parameter or
path raises an `InputError` and leaves the store and the files as they were.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import math
import os
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Mapping
from concurrent.futures import Future
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, SupportsIndex
from urllib.parse import quote

from sqlalchemy import delete, select, update
from sqlalchemy.exc import OperationalError

from .api_clients import ApiClients, token_refused
from .checks import (
    check_defaults,
    check_event,
    check_file_name,
    check_not_option,
    check_run_event,
    check_unescaped,
    composed,
    distinct_name,
    distinct_path,
    quoted,
    recipe_name_problem,
    refused_defaults,
    shortened,
    typed_project,
    unused_defaults,
)
from .connections import ConnectionInfo, Connections, bind_connections, check_bound_exist
from .endpoints import (
    call_timeout_warning,
    check_call_timeout,
    endpoint_path,
    holder,
    serving,
)
from .errors import (
    ConflictError,
    InputError,
    LpstudioError,
    ParameterError,
    RecipeError,
    WorkspaceError,
    rerun_fix,
    word,
)
from .executor import Executor, executor_for
from .failures import after_end, after_failure
from .gallery import Gallery, copy_template, find_template, read_gallery, trying
from .handoff_fit import check_run_fit, check_saved_fit
from .idempotency import IdempotentCalls
from .jobviews import LISTED_COLUMNS, CancelOutcome, listed_job
from .models import Job, utcnow
from .parameters import as_declared, coerce, date_defaults
from .recipe import (
    DEFAULT_CALL_TIMEOUT,
    MAX_TIMEOUT,
    TRIGGER_FIELD,
    Recipe,
    missing_connector,
    notebook_file,
    restore_advice,
    timeout_refused,
)
from .roles import SET_ROLE, shown_entry
from .runner import parameterized, write_notebook
from .scalars import from_numpy, integral
from .settings import read_settings, saved_settings, saved_settings_of, update_settings
from .store import (
    FINAL_STATES,
    MAX_INTEGER,
    MAX_LISTED,
    MIN_VERSION_PREFIX,
    QUEUED,
    RUNNING,
    SCHEDULED_TRIGGERS,
    Store,
    audit_in,
    new_sqlite_file,
    open_store,
    remove_sqlite_file,
    shown_url,
    worker_id,
)
from .times import parse_moment, poll_start, said_at
from .workspace import (
    CONFIG_NAME,
    TERMS_VERSION,
    Workspace,
    current_user,
    notebook_path,
    recipe_name_checked,
    workspace_around,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    import pandas
    from sqlalchemy.orm import Session

log = logging.getLogger("lpstudio.studio")


#: The longest user name: what an admin may give a role, and what may act (the store keeps
#: names in 255 characters; PostgreSQL refuses a longer one where SQLite took it).
USER_NAME_MAX = 128


def refuse_new_user_name(name: str, field: str) -> None:
    """Refuses a name no newcomer may be given (empty, spaced, unprintable or too long): an
    admin's typo, whose user could never log in to use the role."""
    if (
        not name
        or len(name) > USER_NAME_MAX
        or any(c.isspace() or not c.isprintable() for c in name)
    ):
        raise InputError(
            f"invalid user name {quoted(name)}",
            field=field,
            fix=f"give the login name the person uses (no spaces or ':', at most {USER_NAME_MAX})",
        )


def _name_problem(name: str, alike: bool) -> dict[str, str] | None:
    """What a recipe's row says when its name breaks later (`recipe_name_problem`; `alike`:
    another recipe's name differs from it only in its accents): listed, so its user renames
    it before a command, an export or an import fails on it."""
    problem = recipe_name_problem(name, alike)
    if problem is None:
        return None
    return {
        "message": problem.message,
        "field": problem.field or "recipe",
        "fix": problem.fix or "",
    }


def _standing_warnings(recipe: Recipe, saved: dict[str, Any]) -> list[dict[str, str | None]]:
    """What a recipe's saved settings will fail at as they stand, as a save warns of it
    (`save_settings`' warnings, in their shape): said wherever they are shown (`recipes`,
    `recipe_detail`), not only once by the save that made them."""
    warning = call_timeout_warning(recipe, saved.get("call_timeout"))
    return [warning.to_dict()] if warning else []


#: Where the REST API is served by a server at `/` (`lpstudio serve`'s default), as the command
#: line names its links; a server under a base URL gives each studio its own (`api_root`).
API_PATH = "/lpstudio/api/v1"


def under_base_url(link: str, base_url: str) -> str:
    """`link`, a path of the REST API as a server at `/` serves it (a recipe's hook or
    endpoint from a studio opened without `api_root`), as a server whose base URL is
    `base_url` serves it (`/user/NAME/` in JupyterHub)."""
    return f"{base_url.rstrip('/')}{link}"


TERMS = f"""\
lpstudio terms of use (version {TERMS_VERSION})

By activating this workspace you confirm that:
  1. you may act for the brand whose data and LivePerson account this workspace uses;
  2. recipes send real messages to real people once they use real connections, and you
     hold the consent those recipients gave (LivePerson requires `consent: true`);
  3. you will keep the workspace's secret.key private: it decrypts its connections.
"""


#: The settings a save may change, as the audit log names them.
SAVED_KEYS = ("parameters", "connections", "since", "notify", "call_timeout")


def _changed_keys(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """The `SAVED_KEYS` whose values differ between the settings `old` and `new`; an empty
    value is none (`{}` parameters are no parameters saved)."""
    return [key for key in SAVED_KEYS if (old.get(key) or None) != (new.get(key) or None)]


def _changed_names(
    old: dict[str, Any], new: dict[str, Any], changed: list[str]
) -> dict[str, list[str]]:
    """Of each changed setting that holds named values (parameters, connection slots,
    failure contacts), the names whose values differ: the audit log says who set which
    one, never the value (a parameter's may be a secret)."""
    named: dict[str, list[str]] = {}
    for key in changed:
        was, now = old.get(key) or {}, new.get(key) or {}
        if isinstance(was, dict) and isinstance(now, dict):
            named[key] = sorted(name for name in {*was, *now} if was.get(name) != now.get(name))
    return named


def _gone_parameters(recipe: Recipe, saved: dict[str, Any]) -> list[str]:
    """The parameters `saved` holds a value for that the recipe's notebook no longer
    declares: renamed (`count` to `n_contacts`) or removed since the value was saved."""
    properties = recipe.schema.get("properties", {})
    return [name for name in saved.get("parameters", {}) if name not in properties]


@functools.lru_cache(maxsize=4096)
def _recipe_as_of(path: Path, name: str, mtime_ns: int, size: int) -> Recipe:
    """A recipe file parsed once per version of it (its mtime and size); for reading its
    metadata only: jobs load their recipe afresh."""
    return Recipe.load(path, name)


@functools.lru_cache(maxsize=4096)
def _may_be(kind: str, path: Path, mtime_ns: int, size: int) -> bool:
    """Whether a version of a recipe file may be a recipe of trigger `kind`, from its
    bytes, without parsing it (a new process parsed all 1,500 of a large brand's to learn
    their callables' paths: 2 s): its notebook's JSON names the kind as a string of its
    own, or holds a `\\u` escape, the one JSON escape that may spell a letter of it. One
    that cannot be read is parsed, to be told why."""
    try:
        data = path.read_bytes()
    except OSError:
        return True
    return json.dumps(kind).encode() in data or b"\\u" in data


#: The triggers whose jobs a stopped recipe holds queued until it starts, given no values
#: (`_given`): they run on the version it starts with. A retry keeps its job's.
HELD_TRIGGERS = ("schedule", "poll", "webhook")


def _given(job: Job) -> dict[str, Any]:
    """The values given for a job, which its rerun gives again over the settings saved now.
    A scheduled run's, a poll's and a webhook's were given none. A job from before they were
    kept apart (0018) gives all its parameters, saved ones too, as its rerun did then."""
    if job.given is not None:
        return job.given
    return {} if job.trigger in HELD_TRIGGERS else job.parameters


def _day_folder_name(name: str) -> bool:
    """Whether `name` is a day folder's of history/ (`2026-12-07`)."""
    try:
        return date.fromisoformat(name).isoformat() == name
    except ValueError:
        return False


def _error_kind(error: dict[str, Any] | None) -> dict[str, Any] | None:
    """What a purged job keeps of its error: which exception, in which cell, not what it said."""
    if not error:
        return None
    return {key: error[key] for key in ("ename", "cell", "execution_count") if key in error}


def _restored_choice(
    slots: dict[str, dict[str, Any]],
    then: dict[str, str],
    chosen: dict[str, str],
    available: list[ConnectionInfo],
) -> dict[str, str]:
    """The connections to save for a restored version that ran with `then` (the one each
    slot resolved to), `chosen` being those saved now. A version does not say whether a
    slot was chosen or automatic: one that resolves now as it did then keeps the current
    choice (an automatic one stays so), one the automatic choice now fills as it did then
    becomes automatic, and any other is chosen as it was; one the version has none for was
    automatic, and is again."""

    def resolved(slot: str, choice: dict[str, str]) -> str | None:
        if slot not in slots:
            return None
        try:
            return bind_connections({slot: slots[slot]}, choice, available, ready=False)[slot]
        except InputError:  # none fits: nothing it could resolve to now
            return None

    kept = {}
    for slot, connection in then.items():
        if connection == resolved(slot, chosen):
            if slot in chosen:
                kept[slot] = chosen[slot]
        elif connection != resolved(slot, {}):
            kept[slot] = connection
    return kept


def _refuse_old_history(workspace: Workspace, store: Store) -> None:
    """Refuses to start a store that holds no job over a history folder that holds output
    notebooks (the workspace's, its old store replaced): job ids start at 1 again, and a
    new job's notebook would sit beside an old one of the same id (`output_path_for`), the
    two told apart by no name. Looked at before `init`
    makes the store's schema (a database without it holds no job): refused, it leaves none
    behind, which every command then took for a workspace never activated."""
    history = workspace.history
    if next(history.rglob("*.ipynb"), None) is None:
        return
    try:
        if store.schema_revision() is not None:
            with store.read() as s:
                if s.scalar(select(Job.id).limit(1)) is not None:
                    return
    except OperationalError as exc:
        raise store.unopened(exc) from None
    shown = (
        history.relative_to(workspace.root) if history.is_relative_to(workspace.root) else history
    )
    raise WorkspaceError(
        f"{history} holds output notebooks of an earlier store's jobs, and the store "
        f"{shown_url(store.engine.url)} holds no job: its job ids start at 1 again, and a new "
        "job's output notebook would sit beside an old one of the same id",
        field="history",
        fix=f"move it aside first (`mv {shown} {shown}.old` in {workspace.root}), then run "
        "`lpstudio init` again",
    )


class Studio:
    """A workspace opened for one acting user."""

    def __init__(
        self,
        workspace: Workspace,
        user: str | None = None,
        executor: Executor | None = None,
        api_root: str = API_PATH,
        credentials: Collection[str] = (),
        call_timeout: float = DEFAULT_CALL_TIMEOUT,
    ) -> None:
        """`api_root`: where the links and fixes this studio hands out find the REST API (a
        recipe's hook and endpoint), under the base URL of the server that opened it.
        `credentials`: lpstudio's own that its callers hold besides the API clients' tokens
        (the Jupyter server's token), refused as input as those are (`refuse_secrets`), and
        masked in the output of the jobs it runs here (`execute_job`). `call_timeout`: how
        long the server that opened it lets a callable recipe's caller wait, unless the
        recipe has its own (`LpstudioApp.call_timeout`), as its recipes' details say it."""
        if not isinstance(workspace, Workspace):  # a path: AttributeError on store_url said
            # nothing of the call that opens one
            raise TypeError(
                f"Studio() takes a Workspace, not the {type(workspace).__name__} "
                f"{workspace!r}: open a workspace by its path with "
                "lpstudio.Studio.open(path, user=...)"
            )
        self.credentials = frozenset(token for token in credentials if token)
        acting = composed(user or current_user())  # one person however their name's accents came
        if not acting or len(acting) > USER_NAME_MAX:
            raise InputError(
                f"the acting user's name is {len(acting)} characters long: a user name is 1 "
                f"to {USER_NAME_MAX}",
                field="user",
                fix="set LPSTUDIO_USER (or the login of Jupyter's identity provider) to the "
                f"person's name, at most {USER_NAME_MAX} characters",
            )
        self.workspace = workspace
        self.api_root = api_root
        self.call_timeout = call_timeout
        self.store = open_store(workspace)
        self.connections = Connections(self.store, workspace.key_path, workspace.root, user=acting)
        default_role = workspace.setting("users", "default_role")  # a newcomer's: read again
        if not self.store.has_user(acting):  # a newcomer: users and the audit log show names
            try:
                self.refuse_held_secret(
                    acting, "user", "user name", "act under the login name the person uses"
                )
                default_role = workspace.current_default_role()  # as the file says it now
            except LpstudioError:
                self.store.close()
                raise
        self.user = self.store.ensure_user(acting, default_role).name
        self.executor = executor or executor_for(
            workspace, self.store, self._reap, self.credentials
        )
        self._reap()

    def _reap(self) -> None:
        """Ends the jobs whose worker is gone: retried or reported like any failure."""
        for job in self.reap_lost_jobs():
            after_failure(self, job)

    def reap_lost_jobs(self, by_silence: bool = True) -> list[Job]:
        """Fails the jobs whose worker is gone (`Store.reap_lost_jobs`), each output notebook
        saying why at its top; returns them as they ended. Without `by_silence`, only those
        whose worker's process is gone from this machine, however long silent."""
        from .runner import mark_lost

        stale = self.workspace.setting("jobs", "stale_after_seconds")
        silence = timedelta(seconds=stale) if by_silence else None
        lost = [self.store.job(i) for i in self.store.reap_lost_jobs(silence)]
        for job in lost:
            mark_lost(self.workspace, job, self.store)
        return lost

    @classmethod
    def open(cls, path: str | os.PathLike[str] | None = None, user: str | None = None) -> Studio:
        """Opens the workspace at `path`, `$LPSTUDIO_WORKSPACE`, or around this folder."""
        return cls(Workspace.find(path), user=user)

    @classmethod
    def init(
        cls,
        path: str | os.PathLike[str],
        accept_terms: bool,
        admin: str | None = None,
        sandbox: str | None = None,
    ) -> Studio:
        """Creates (or activates) a workspace; the terms must have been accepted. With
        `sandbox` (a running sandbox's URL), adds connections that point at it."""
        if not accept_terms:
            raise WorkspaceError(
                "the terms were not accepted",
                field="accept_terms",
                fix="read the terms and pass --accept-terms (accept_terms=True)",
            )
        if admin is not None and ":" in admin:
            raise InputError(
                f"{quoted(admin)} is how an API client (api:NAME) or one of lpstudio's own "
                "processes (lpstudio:PROCESS) acts, not a person: the workspace would have no "
                "admin",
                field="admin",
                fix="give the login name of the person who administers the workspace",
            )
        if admin is not None:  # `--admin ''` is a typo, not the OS user
            admin = composed(admin)
            refuse_new_user_name(admin, "admin")
        founder = admin or current_user()  # refused now, before anything is written
        if sandbox:  # a bad URL is refused before anything is written
            from .registry import get_connector
            from .sandbox import sandbox_connections

            for type_, values in sandbox_connections(sandbox).values():
                try:
                    get_connector(type_).validate_config(values)
                except InputError as exc:
                    raise InputError(
                        f"sandbox {sandbox!r} is not a sandbox's URL: {exc.message}",
                        field="sandbox",
                        fix="give the URL `lpstudio sandbox` prints, e.g. http://127.0.0.1:8765",
                    ) from None
        root = Path(path).expanduser().resolve()
        if root.exists() and not root.is_dir():
            raise WorkspaceError(
                f"{root} exists and is not a folder", field="path", fix="choose another path"
            )
        outer = workspace_around(root)  # commands run in its folders would find the inner one
        if outer is not None:
            raise WorkspaceError(
                f"{root} is inside the workspace {outer}: a workspace cannot hold another",
                field="path",
                fix=f"choose a folder outside {outer}, or use that workspace",
            )
        inner = next((p.parent for p in root.rglob(CONFIG_NAME) if p.parent != root), None)
        if inner is not None:  # and its recipes' paths could reach the inner one's key
            raise WorkspaceError(
                f"{root} holds the workspace {inner}: a workspace cannot hold another",
                field="path",
                fix=f"choose a folder that holds no workspace, or use {inner}",
            )
        written = Workspace.write_new(root)
        try:
            workspace = Workspace.load(root)
            store = Store(workspace.store_url, create=True)  # a new workspace's store, here
        except BaseException:
            Workspace.remove_made(written)
            raise
        made = new_sqlite_file(store.engine.url)  # before its first connection makes it
        try:
            _refuse_old_history(workspace, store)  # before the schema is made
            store.migrate()
            if store.activation() is None:
                store.activate(founder, TERMS_VERSION)
        except BaseException:
            store.close()
            if made is not None:  # refused: no store file left behind to activate later
                remove_sqlite_file(made)
            Workspace.remove_made(written)  # nor the workspace's folders and key
            raise
        finally:
            store.close()
        studio = cls(workspace, user=admin)
        if sandbox:
            from .sandbox import sandbox_connections

            existing = {info.name for info in studio.connections.list()}
            for name, (type_, values) in sandbox_connections(sandbox).items():
                if name not in existing:
                    studio.connections.add(name, type_, values, studio.user)
        return studio

    def close(self) -> None:
        self.executor.close()
        self.store.close()

    def __enter__(self) -> Studio:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- recipes ---------------------------------------------------------------------------

    def recipe(self, ref: str | os.PathLike[str]) -> Recipe:
        return self.load_recipe(*self.recipe_file(ref))

    def load_recipe(self, path: Path, name: str) -> Recipe:
        """`Recipe.load`, its notebook's error offering a restore where one mends it and the
        recipe has a version to restore: one never versioned has none to list."""
        try:
            return Recipe.load(path, name)
        except RecipeError as exc:
            raise self.offer_restore(exc, name) from None

    def offer_restore(self, exc: RecipeError, name: str) -> RecipeError:
        """`exc`, its fix offering to restore an earlier version of recipe `name` if that mends
        it (`restorable`)."""
        if self.restorable(exc, name):
            exc.fix = f"{exc.fix}, or {restore_advice(name)}"
        return exc

    @staticmethod
    def next_run(recipe: Recipe, state: str) -> str | None:
        """When a started schedule fires next (ISO 8601, UTC), as its scheduler will: what
        its owner checks after a start or a cron edited; None for any other recipe."""
        if recipe.trigger_kind != "schedule" or state != "started":
            return None
        from .scheduler import next_due

        trigger = recipe.metadata.get("trigger", {})
        due = next_due(trigger.get("cron", ""), trigger.get("timezone", "UTC"), utcnow())
        return due.isoformat()

    def restorable(self, exc: InputError, name: str) -> bool:
        """Whether restoring an earlier version of recipe `name` mends `exc`: its notebook does
        not read (`RecipeError.restorable`) and it has a version (`versioned_recipes`). A
        recipe row says so, so the lab offers Versions only where they mend it."""
        return isinstance(exc, RecipeError) and exc.restorable and name in self.versioned_recipes()

    def recipe_file(self, ref: str | os.PathLike[str]) -> tuple[Path, str]:
        """A recipe's file and name, whether or not it loads: what listing a broken recipe's
        versions and restoring one of them need (`versioned_file`). `ref` is its name under
        projects/ or, naming none, the path JupyterLab's file browser shows and its Copy
        Path gives (`projects/shop/cart.ipynb`), as the CLI and a jobs filter read it
        (`_browsed_readings`). Its name first: the scheduler and the forms load recipes by
        their names, and the recipe `projects/x` of a project named `projects` stays itself
        when `x` is a recipe too."""
        try:
            path = self.workspace.recipe_path(ref)
        except WorkspaceError:
            readings = self._browsed_readings(ref)
            if len(readings) == 1:
                raise
            path = self.workspace.recipe_path(self._one_recipe(ref, readings, ()))
        return path, self.workspace.recipe_name(path)

    def _browsed_readings(self, ref: str | os.PathLike[str]) -> list[str]:
        """What a recipe a person names may be: its path under projects/, and, beginning with
        the projects folder, the path JupyterLab shows, from the workspace's folder
        (`Workspace.recipe_path`'s `typed` readings, never from this process's working
        folder: a server's is no person's)."""
        readings = [os.fspath(ref)]
        if Path(ref).parts[:1] == (self.workspace.projects.name,):
            readings.append(os.fspath(self.workspace.root / ref))
        return readings

    def recipes(self) -> list[dict[str, Any]]:
        """Every recipe by project folder, with its trigger and last job (or its problem, and
        whether restoring a version mends it), why a started one cannot run
        (`settings_problem`), whether a started callable serves nothing, another holding
        its path, and what its saved settings will fail at (`warnings`, as a save's); each as
        it leaves the process (`described`)."""
        from .redaction import scrub_text

        rows: list[dict[str, Any]] = []
        paths = self.workspace.recipe_files()
        names = [self.workspace.listed_name(p) for p in paths]
        last = self.store.last_jobs(names)
        errors = self.store.trigger_errors()
        every_saved = saved_settings_of(self.store, names)  # one read, for `warnings`
        conflicts = serving(self)[1]
        secrets = self.held_secrets()  # read once for every row
        started = self.started_settings()  # a recipe not among them is stopped
        # Read once, by the first started row whose slots need them: each read opens every
        # secret (one a started row took 21 s of a listing of 300, with 200 connections).
        available = functools.cache(self.connections.list)
        spellings = Counter(composed(name) for name in names)
        for path, name in zip(paths, names, strict=True):
            row: dict[str, Any] = {"recipe": name, "project": str(Path(name).parent)}
            try:
                recipe = self.load_recipe(path, name)
                self._check_connectors(recipe)
                row.update(self.described(recipe.describe(), secrets))
                row["problem"] = None
                row["restorable"] = False
            except InputError as exc:
                row.update(title=None, trigger=None, problem=scrub_text(str(exc), secrets))
                row["restorable"] = self.restorable(exc, name)
            job = last.get(name)
            row["last_job"] = (
                {"id": job.id, "status": job.status, "created_at": job.created_at.isoformat()}
                if job
                else None
            )
            saved = started.get(name, {})
            row["state"] = saved.get("state", "stopped")
            row["settings_problem"] = (
                self._started_problem(recipe, secrets, saved, available)
                if row["state"] == "started" and not row["problem"]
                else None
            )
            row["next_run"] = None if row["problem"] else self.next_run(recipe, row["state"])
            row["warnings"] = (
                [] if row["problem"] else _standing_warnings(recipe, every_saved[name])
            )
            row["trigger_errors"] = errors.get(name, {"count": 0, "last": None})
            conflict = conflicts.get(name)
            row["endpoint_problem"] = conflict.to_dict() if conflict is not None else None
            row["name_problem"] = _name_problem(name, spellings[composed(name)] > 1)
            rows.append(row)
        return rows

    def _started_problem(
        self,
        recipe: Recipe,
        secrets: Collection[str],
        saved: dict[str, Any],
        available: Callable[[], list[ConnectionInfo]] | None = None,
    ) -> dict[str, str | None] | None:
        """Why a started recipe cannot run (`ready_settings`, as its detail's
        `settings_problem`), else None: started before a check it fails existed (a webhook
        whose connection has no secret, started by an older lpstudio), or its settings broke
        since. A stopped one is checked as it starts."""
        try:
            self.ready_settings(recipe, lambda: secrets, saved, available)
        except InputError as exc:
            return exc.mask(secrets).to_dict()
        return None

    # -- secrets and connectors ------------------------------------------------------------
    # What settings, runs, starts, webhooks and packages check alike: secrets in the values
    # given (refused, or masked in what webhooks deliver) and the connectors a recipe's
    # slots need.

    def refuse_secrets(
        self,
        values: dict[str, Any],
        secrets: Collection[str] | None = None,
        event: Any = None,
        what: str = "parameter",
    ) -> None:
        """Refuses a parameter value, or an event given by hand, that holds a connection's
        secret or the store's password (in a text, a number or an object's key): both are
        kept on the job, shown by `lpstudio show` and the API, and handed to its notebook,
        while a connection hands its secrets to the recipe's code only. `what` names the
        values (`the saved value of parameter`, `the default of parameter`). `packages`
        checks an imported recipe's settings with it too.

        lpstudio's own credentials are refused alike: a live API client's token
        (`ApiClients.live_tokens`, which reads the store only for text of a token's shape)
        and the studio's `credentials` (the Jupyter server's token): kept on the job, an
        operator would read one and call recipes as its holder. A revoked client's token,
        or text that only looks like a token, is an ordinary value."""
        from .redaction import scrub

        given = {
            (f"{what} '{name}'", name): value
            for name, value in values.items()
            if value is not None and not isinstance(value, bool)
        }
        if event is not None:
            given[("the event", "event")] = event
        if not given:
            return  # nothing that could hold one: no connection is read
        if secrets is None:
            secrets = self.connections.secret_values()
        tokens = self.api_clients.live_tokens(list(given.values())) | self.credentials
        for (what, field), value in given.items():
            # The store's first: `secrets` may be all the workspace's (`held_secrets`).
            if scrub(value, self.store.secrets) != value:  # as a connection's plain field
                raise InputError(
                    f"{what} holds the password of the workspace's store",
                    field=field,
                    fix="give another value: the store's password is for lpstudio alone, "
                    "never handed to a recipe",
                )
            if scrub(value, secrets) != value:
                raise InputError(
                    f"{what} holds the secret of a connection",
                    field=field,
                    fix="give the secret to a connection (`lpstudio connections add`) and "
                    "bind it to the recipe's slot; the recipe reads it through "
                    "lpstudio.kernel.connection(...)",
                )
            if tokens and scrub(value, tokens) != value:
                raise token_refused(
                    what,
                    field,
                    "a recipe's input",
                    fix="give another value: an API token is for calling lpstudio, never "
                    "handed to a recipe",
                )

    def check_defaults(
        self,
        recipe: Recipe,
        given: dict[str, Any],
        hidden: Callable[[], Collection[str]] | None = None,
    ) -> None:
        """The parameters cell's defaults a job of `recipe` runs with (those the values
        `given` or saved leave) as `checks.check_defaults` checks them, and one holding a
        secret of the workspace refused as a value given holding one is (`refuse_secrets`),
        naming its parameter: the job would keep it in its parameters (`lpstudio show`, the
        API) and inject it into its notebook, where a connection hands its secret to the
        recipe's code alone. As any refused default, it makes the parameter one a run must
        be given (or have saved). The recipe's descriptions show it masked (`described`);
        its notebook opens and saves as ever. `hidden` gives the workspace's secrets
        (`held_secrets`), read only when a default is left to check."""
        hidden = hidden or self.held_secrets
        check_defaults(recipe, given, self.workspace.projects, hidden)
        defaults = unused_defaults(recipe, given)
        if not defaults:
            return
        try:
            self.refuse_secrets(defaults, hidden(), what="the default of parameter")
        except InputError as exc:
            exc.fix = f"remove it from the notebook's parameters cell; {exc.fix}"
            raise

    def refused_defaults(self, recipe: Recipe, given: dict[str, Any]) -> set[str]:
        """The parameters whose default `check_defaults` would refuse, all of them (it names
        the first): `lpstudio settings` marks each, so they are mended in one go."""
        refused = refused_defaults(recipe, given, self.workspace.projects)
        secrets = self.held_secrets()
        for name, default in unused_defaults(recipe, given).items():
            try:
                self.refuse_secrets({name: default}, secrets)
            except InputError:
                refused.add(name)
        return refused

    def described(
        self,
        description: dict[str, Any],
        secrets: Collection[str] | None = None,
        kept: Collection[str] = ("recipe",),
    ) -> dict[str, Any]:
        """A description of a recipe as it leaves the process (the REST API's recipes and
        their OpenAPI schemas, `lpstudio recipes` and `settings`): the workspace's `secrets`
        (`held_secrets` by default) masked in every value its notebook gives, its title,
        description, parameters' defaults and help, and its metadata's schemas and
        examples, as in whatever else lpstudio shows: an operator reads them, and an API
        client the schemas of what it may call. The values named `kept` are how callers
        address the recipe (its name, a callable's path).

        lpstudio's own credentials are masked too, as `refuse_secrets` refuses them: a live
        API client's token (`ApiClients.live_tokens`, which reads the store only for text of
        a token's shape) and the studio's `credentials` (the Jupyter server's token). A
        default holding one is refused when it runs, but shown it would let an operator
        call recipes as its holder."""
        from .redaction import described_masker, scrub

        secrets = self.held_secrets() if secrets is None else secrets
        # One frozenset: `scrub` masks every string of the description with it, and made a
        # frozenset of any other collection for each (15 s of a listing of 1,500 recipes).
        secrets = frozenset(
            {*secrets, *self.api_clients.live_tokens(description), *self.credentials}
        )
        text = described_masker(secrets)
        return {
            key: value if key in kept else scrub(value, secrets, text)
            for key, value in description.items()
        }

    def held_secrets(self) -> set[str]:
        """The workspace's secrets (its connections' and its store's password), masked in
        what a refusal quotes of a value given, as the CLI masks them in what it prints. A
        secret.key that opens none of the connections' leaves the store's to mask."""
        try:
            return self.connections.secret_values() | self.store.secrets
        except LpstudioError:
            return set(self.store.secrets)

    def masked(self, value: Any) -> Any:
        """Saved values that cannot run, as they are shown: a connection's secret in them
        is masked (the store's password too)."""
        from .redaction import scrub

        return scrub(value, self.held_secrets())

    def kept_event(
        self,
        event: Any,
        secrets: Collection[str] | None = None,
        credentials: Collection[str] = (),
        delivery: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A new job's `event` and `sealed_event` for an event a system sent (a bot's call, a
        webhook delivery, a poll): shown masked of the workspace's `secrets` (operators read
        jobs), and, where that changed it, sealed whole with the workspace key for its
        kernel: masked, its recipe would act on what nobody sent. A person's event holding
        a secret is refused instead (`refuse_secrets`): they can put it in a connection.

        lpstudio's own credentials in it, the `credentials` its request carried (the
        Jupyter server's token) and any live API client's token (`ApiClients.live_tokens`),
        are masked as the workspace's secrets are, not refused: an event a system sent is
        run, whatever secret it holds, since its sender relays what it has (a refused
        delivery is sent again and again, and never runs). Only a call's own API token,
        and the server's, in its input are refused (`calls`): the caller put its own
        credential in the wrong place. Unlike a connection's secret, lpstudio's credentials
        are masked for the kernel too: a connection's secret may be ordinary text met by
        chance (`sales` in `wholesales-42`), which the recipe must get as sent, while a
        token is long and random and never a recipe's to use; and the worker that writes
        the output notebook (a scheduler's, a Dask cluster's) may not know the server's
        token, to mask it there.

        A webhook's `delivery` (its headers and query, `webhooks.delivery_seen`) is masked of
        lpstudio's credentials as the event is and sealed with it, whole: the job has no
        other place for it, and a rerun and a retry must see it as the first run did.
        Shown nowhere, it needs no masked copy."""
        from .redaction import Secrets, given_text, scrub

        held = {*credentials, *self.api_clients.live_tokens([event, delivery])}
        ran = scrub(event, held) if held else event
        # Its sender wrote it all: only a whole secret is news to anyone (`Secrets`).
        secrets = self.held_secrets() if secrets is None else secrets
        hidden = Secrets(secrets, given_text(event, hiding=secrets))
        shown = scrub(ran, hidden)
        vault = self.connections.vault
        if delivery and (delivery["headers"] or delivery["query"]):
            sealed = vault.seal_delivered(ran, scrub(delivery, held) if held else delivery)
        else:
            sealed = None if shown == ran else vault.seal(ran)
        return {"event": shown, "sealed_event": sealed}

    def refuse_held_secret(self, name: str, field: str, what: str, fix: str) -> None:
        """Refuses a name people type (a project, a recipe, a user, an API client) that
        holds a secret of the workspace: listings, answers and the audit log show names."""
        from .connections import refuse_held_secret

        refuse_held_secret(name, field, what, self.held_secrets(), fix)

    def _check_connectors(self, recipe: Recipe) -> None:
        """Refuses a recipe whose slots need a connector that does not load (a brand's own
        file with a mistake) or that no file provides (a misspelt type): its job would only
        fail in its kernel, and no connection could ever fill the slot."""
        from .errors import NotFoundError
        from .registry import get_connector

        for slot, spec in recipe.metadata.get("connections", {}).items():
            kind = spec.get("type") if isinstance(spec, dict) else None
            if not kind:
                continue
            try:
                get_connector(kind, self.workspace.root)
            except NotFoundError as exc:
                raise missing_connector(recipe.name, slot, kind, exc, self.workspace.root) from None
            except LpstudioError as exc:
                raise InputError(
                    f"slot '{slot}' needs the {kind} connector, which does not load: {exc.message}",
                    field=f"connections.{slot}",
                    fix=exc.fix or "correct the connector's code",
                ) from None

    def connectors(self) -> dict[str, list[dict[str, Any]]]:
        """The connectors that load, and under `broken` those that do not, with their errors."""
        from .registry import connector_listing

        return connector_listing(self.workspace.root)

    # -- lifecycle -------------------------------------------------------------------------
    # Starting and stopping a recipe, its versions, and erasing old jobs' data.

    def polled_on(self, recipe: str) -> bool:
        """Whether a poll trigger's polls have read past its since (a cursor, or events seen):
        a start goes on from there, not from its since."""
        from .models import TriggerState

        with self.store.read() as s:
            state = s.get(TriggerState, recipe)
        return state is not None and (state.cursor is not None or bool(state.seen))

    def start(self, ref: str | os.PathLike[str], reset_since: str | None = None) -> dict[str, Any]:
        """Marks a recipe started, once its settings are complete (connections bound and
        connected, values valid), with the connections it uses bound in its settings; says
        what is missing otherwise."""
        recipe = self.recipe(ref)
        hidden = functools.cache(self.held_secrets)  # read once, if a default needs them
        settings = self.ready_settings(recipe, hidden)  # its triggers' jobs run with them
        # Every connection that does not answer is named at once (one a try, before), each
        # with its fix: its test's own (the connector's error said one), else a test again.
        failing = []
        for slot, name in settings["connections"].items():
            info = self.connections.get(name)
            if info.status != "connected":
                info = self.connections.test(name)
            if info.status != "connected":
                said, _, fix = (info.status_message or "").partition("\n  fix: ")
                fix = fix or f"fix it and test it with `lpstudio connections test {name}`"
                failing.append(
                    (
                        f"connection {quoted(name)} (slot '{slot}') is {info.status}: {said}",
                        slot,
                        name,
                        fix,
                    )
                )
        if len(failing) == 1:
            said, slot, _, fix = failing[0]
            raise InputError(said, field=f"connections.{slot}", fix=fix)
        if failing:  # no one slot's field: the forms say each connection's own fix
            raise InputError(
                "; ".join(said for said, _, _, _ in failing),
                field="connections",
                fix="; ".join(f"{name}: {fix}" for _, _, name, fix in failing),
            )
        if recipe.trigger_kind == "schedule":
            from .scheduler import validate_cron

            trigger = recipe.metadata.get("trigger", {})
            validate_cron(trigger.get("cron", ""), trigger.get("timezone", "UTC"))
        since: dict[str, str] = {}
        if recipe.trigger_kind == "poll":
            if reset_since is not None:
                poll_start(reset_since, "reset_since")  # refused before anything is written
            from .triggers import open_trigger

            # A trigger its connector lacks would only fail in the scheduler, poll after
            # poll, until the recipe stopped itself.
            open_trigger(self, recipe)[0].close()
            since["since"] = self._fix_since(recipe, settings, reset_since)
        elif reset_since is not None:
            raise InputError(
                f"reset_since applies to poll triggers; {recipe.name} is triggered by "
                f"{recipe.trigger_kind}",
                field="reset_since",
                fix="start it without reset_since",
            )
        callable_ = recipe.trigger_kind == "callable"
        if callable_:
            path = endpoint_path(recipe)
            taken = holder(self, path)  # a holder whose notebook broke keeps its path too
            if taken is not None and taken != recipe.name:
                raise InputError(
                    f"endpoint /call/{path} is already served by the started recipe {taken}",
                    field="trigger.path",
                    fix=f"stop {taken}, or give this recipe another trigger.path",
                )
        # By the store's clock, as the schedulers' due runs it bounds.
        started_at = self.store.now().isoformat()
        available = self.connections.list()  # read before the write lock (see below)

        def started(saved: dict[str, Any]) -> dict[str, Any]:
            slots = recipe.metadata.get("connections", {})
            chosen = saved.get("connections", {})
            bound = bind_connections(slots, chosen, available, recipe=recipe.name)
            if bound != settings["connections"]:
                raise ConflictError(
                    f"the connections of {recipe.name} were changed elsewhere while it started",
                    field="connections",
                    fix="start it again",
                )
            # The connections it starts with are pinned: a connection added later (a second
            # one of a slot's type, one named like a slot) neither makes its slots ambiguous,
            # which would fail its triggers until it stops, nor sends through another account.
            pinned = {**chosen, **settings["connections"]}
            return {
                **saved,
                **since,  # the since its poll goes by, which a reset moved
                "connections": pinned,
                "state": "started",
                # Started again (a deploy script's start), it keeps its start: its schedule's
                # missed runs are counted from there (`missed_runs`), not dropped.
                "started_at": saved.get("started_at", started_at)
                if saved.get("state") == "started"
                else started_at,
                # The path it serves from now: it holds it while it stays started, whatever
                # its notebook says later (`endpoints._held`).
                **({"started_path": endpoint_path(recipe)} if callable_ else {}),
            }

        # What it starts with is a version: a notebook that breaks before its first job is
        # restored to it (its trigger's errors and its auto-stop say to).
        version = self.store.snapshot(
            recipe.name,
            recipe.canonical_json,
            {"parameters": settings["parameters"], "connections": settings["connections"]},
            self.user,
        )
        held = self._job_parameters(recipe, settings["parameters"], hidden)

        def check(s: Session, _new: dict[str, Any]) -> None:
            check_bound_exist(s, settings["connections"], recipe.name)
            # Its triggers' events kept while it was stopped run as it starts, with the
            # start's notebook and settings (as Workato runs them): in the start's write, so
            # no scheduler runs one on what the start replaced.
            s.execute(
                update(Job)
                .where(
                    Job.recipe == recipe.name,
                    Job.status == QUEUED,
                    Job.worker.is_(None),
                    Job.trigger.in_(HELD_TRIGGERS),
                )
                .values(version_id=version, parameters=held)
            )

        # Before the start is saved: a scheduler must never see it started with the run of
        # errors that stopped it (its next error would stop it again at once).
        self.store.clear_trigger_errors(recipe.name)
        new = update_settings(self.store, recipe.name, started, self.user, check=check).settings
        if recipe.trigger_kind == "schedule":
            self._note_schedule_form(recipe, new["started_at"])
        # A moved poll start re-sends or skips events: the audit log says where it went.
        moved = {"reset_since": since["since"]} if reset_since is not None else {}
        self.store.audit(self.user, "start", recipe.name, **moved)
        return {**settings, **new}

    def _check_since_unfixed(self, recipe: Recipe, local: bool) -> None:
        """A poll trigger's "since" is a setting only until its first start fixes it; where
        it polls from is said in the caller's terms (`said_at`)."""
        from .models import TriggerState

        with self.store.read() as s:
            state = s.get(TriggerState, recipe.name)
        if state is not None:
            since = said_at(datetime.fromisoformat(state.since), local)
            raise InputError(
                f"{recipe.name} has polled from {since} since it was "
                "first started or polled; a saved since would not move it",
                field="since",
                fix=f"move it with `lpstudio start {word(recipe.name)} --reset-since 2h` "
                "(or reset_since when starting; stop it after if it should not run yet)",
            )

    def _fix_since(self, recipe: Recipe, settings: dict[str, Any], reset: str | None) -> str:
        """A poll trigger's "since" is fixed at its first start; only `reset` changes it.
        Returns the since in force."""
        from .models import TriggerState

        with self.store.write() as s:
            state = s.get(TriggerState, recipe.name)
            if state is not None and reset is None:
                return state.since
            since = poll_start(reset, "reset_since") if reset else None
            start = (
                since
                or (
                    datetime.fromisoformat(settings["since"])
                    if settings.get("since")
                    else self.store.now(s)  # the clock the schedulers poll by
                )
            ).isoformat()
            if state is None:
                s.add(
                    TriggerState(
                        recipe=recipe.name, since=start, seen=[], errors=0, updated_at=utcnow()
                    )
                )
            else:
                state.since, state.cursor, state.seen, state.next_poll_at = start, None, [], None
            return start

    def stop(self, ref: str | os.PathLike[str]) -> dict[str, Any]:
        """Marks a recipe stopped: its triggers process nothing until it starts again. A
        recipe whose notebook broke can be stopped too, and so can a started one whose
        notebook is gone (`started_gone`). A stop of a stopped recipe (one never started
        too) does nothing: no write, so no form showing its settings is refused its next
        save as changed elsewhere, and no audit entry, which would name someone who changed
        nothing; an auto-stopped one keeps on show the errors that stopped it."""
        name = self.workspace.recipe_name(self.workspace.recipe_path(ref, kept=self.started_gone()))
        stopping: list[bool] = []

        def stop(saved: dict[str, Any]) -> dict[str, Any] | None:
            if saved.get("state") != "started":
                return None
            stopping.append(True)
            return {**saved, "state": "stopped"}

        stopped = update_settings(self.store, name, stop, self.user).settings
        if stopping:
            # A person's stop ends a run of trigger errors too: only an auto-stop keeps one.
            self.store.clear_trigger_errors(name)
            self.store.audit(self.user, "stop", name)
        return {**stopped, "state": "stopped"}  # one never started has none saved

    def started_settings(self) -> dict[str, dict[str, Any]]:
        """The saved settings of every started recipe, by name, in one read (a scheduler's
        tick reads them all)."""
        from .models import RecipeSettings

        state = RecipeSettings.settings["state"].as_string()
        with self.store.read() as s:  # rows, not objects: a call reads them all on its way
            rows = s.execute(
                select(RecipeSettings.recipe, RecipeSettings.settings)
                .where(state == "started")
                .order_by(RecipeSettings.recipe)
            )
            return {recipe: dict(settings) for recipe, settings in rows}

    def started_gone(self) -> list[str]:
        """Started recipes whose notebook is gone (deleted, or moved away): settings are kept
        by path and outlive their notebook, so a stop must still reach them, or they would
        fire for whatever notebook is written at that path next (`Scheduler._stop_gone`)."""
        present = {self.workspace.listed_name(path) for path in self.workspace.recipe_files()}
        return [name for name in self.started_settings() if name not in present]

    def versioned_recipes(self) -> list[str]:
        """Every recipe with versions in the store, its notebook there or not: versions
        outlive their notebook, and restoring one is how a deleted recipe comes back."""
        from .models import RecipeVersion

        with self.store.read() as s:
            return list(s.scalars(select(RecipeVersion.recipe).distinct()))

    def versioned_file(self, ref: str | os.PathLike[str]) -> tuple[Path, str]:
        """`recipe_file`, or the old path and name of a recipe whose notebook is gone but
        whose versions are kept (`versioned_recipes`): what `versions` and `restore` take."""
        path = self.workspace.recipe_path(ref, kept=self.versioned_recipes())
        return path, self.workspace.recipe_name(path)

    def versions(self, ref: str | os.PathLike[str]) -> list[dict[str, Any]]:
        """The recipe's versions, newest first: who made each, when, and its settings."""
        from .models import RecipeVersion

        name = self.versioned_file(ref)[1]
        with self.store.read() as s:
            rows = s.scalars(
                select(RecipeVersion)
                .where(RecipeVersion.recipe == name)
                .order_by(RecipeVersion.created_at.desc())
            ).all()
        return [
            {
                "id": v.id,
                "created_at": v.created_at.isoformat(),
                "created_by": v.created_by,
                "settings": v.settings,
            }
            for v in rows
        ]

    def restore(self, ref: str | os.PathLike[str], version: str) -> dict[str, Any]:
        """Writes an old version's notebook and parameters back as the recipe's current
        ones, and its connections as `_restored_choice` chooses them. Versions are
        content-addressed, so the restored content keeps that version's id; its file is
        written as JupyterLab saves it (`notebook_file`), reading back as that version. It is how a
        recipe whose notebook broke is mended, so the notebook is not loaded first, and how
        a deleted one comes back (its folder too)."""
        path, name = self.versioned_file(ref)
        if len(version) < MIN_VERSION_PREFIX:  # the REST API's refusal too (RESTORE_BODY)
            raise InputError(
                f"version {version!r} is too short to name one",
                field="version",
                fix=f"give at least {MIN_VERSION_PREFIX} characters of its id "
                f"(`lpstudio versions {word(name)}`)",
            )
        matches = [v for v in self.versions(ref) if v["id"].startswith(version)]
        if len(matches) != 1:
            raise InputError(
                f"{'no' if not matches else 'more than one'} version of {name} "
                f"starts with {version!r}",
                field="version",
                fix=f"list them with `lpstudio versions {word(name)}`",
            )
        chosen = matches[0]
        content = self.store.version_notebook(chosen["id"])
        kept = self.keep_current(path, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.restore")
        tmp.write_text(notebook_file(content), encoding="utf-8")
        os.replace(tmp, path)
        then = chosen["settings"]
        try:
            slots = self.recipe(name).metadata.get("connections", {})
        except LpstudioError:  # its version's settings are the ones saved (`keep_current`)
            slots = None
        available = self.connections.list()  # read before the write lock (`update_settings`)

        def restored(saved: dict[str, Any]) -> dict[str, Any]:
            connections = then.get("connections", {})
            if slots is not None:
                connections = _restored_choice(
                    slots, connections, saved.get("connections", {}), available
                )
            return {**saved, "parameters": then.get("parameters", {}), "connections": connections}

        update_settings(self.store, name, restored, self.user)
        # The version restored is the newest again: `versions` lists the current one first.
        self.store.snapshot(name, content, then, self.user, saved=True)
        self.store.audit(self.user, "restore", name, version=chosen["id"], kept=kept)
        # As `versions` lists it now: restored by whom, and when (not when first made).
        now = next((v for v in self.versions(ref) if v["id"] == chosen["id"]), chosen)
        return {**now, "recipe": name, "kept": kept}

    def keep_current(self, path: Path, name: str) -> str | None:
        """Snapshots the recipe as it is before a restore writes over it: versions are made
        by runs, starts and saves, so edits saved since the last were lost for good. Its
        settings are stored as a run stores them (each slot's connection as it resolves),
        and content a version holds already is that version, also one whose settings are
        stored as saved (a settings save's): content unchanged since makes no other. A
        notebook that no longer loads is kept as its file's text (restoring that version
        writes the same text back) with its saved settings; an unreadable file, as
        nothing."""
        saved = saved_settings(self.store, name)
        as_saved = {key: saved.get(key, {}) for key in ("parameters", "connections")}
        try:
            recipe = self.recipe(name)
        except LpstudioError:
            try:
                text = path.read_text()
            except (OSError, UnicodeDecodeError):
                return None
            return self.store.snapshot(name, text, as_saved, self.user)
        try:
            resolved = self.settings(recipe)
        except LpstudioError:  # settings that cannot run yet: as saved, as a save keeps them
            resolved = saved
        as_run = {key: resolved.get(key, {}) for key in ("parameters", "connections")}
        content = recipe.canonical_json
        for version in self.versions(name):
            if (
                version["settings"] == as_saved
                and self.store.version_notebook(version["id"]) == content
            ):
                return str(version["id"])
        return self.store.snapshot(name, content, as_run, self.user)

    def _retention(self, older_than_days: float | None) -> tuple[float, datetime]:
        """The retention period in days (the workspace's `jobs.retention_days` unless given)
        and the moment before which data is erased."""
        days = (
            older_than_days
            if older_than_days is not None
            else self.workspace.setting("jobs", "retention_days")
        )
        return days, utcnow() - timedelta(days=days)

    def purge_prepared(self, older_than_days: float | None = None) -> list[Path]:
        """Erases the notebooks `--prepare-only` wrote before the retention period, by their
        file's time: they hold a job's parameter values, as its output notebook does.
        Returns those erased. Run after `purge` (by `lpstudio purge` and the scheduler's
        daily purge): a store too busy for `purge` stops the command before any file goes."""
        days, cutoff = self._retention(older_than_days)
        folder = self.workspace.history / "prepared"
        erased = []
        for path in sorted(folder.glob("*.ipynb")) if folder.is_dir() else ():
            try:
                if datetime.fromtimestamp(path.stat().st_mtime, UTC) < cutoff:
                    path.unlink()
                    erased.append(path)
            except FileNotFoundError:  # erased meanwhile, by another purge
                continue
        if erased:
            self.store.audit(
                self.user, "purge", f"{len(erased)} prepared notebooks", older_than_days=days
            )
        return erased

    def purge(self, older_than_days: float | None = None) -> list[int]:
        """Erases the data of jobs older than the retention period (30 days by default):
        output notebooks, events, parameters, results and what an error said (its message
        and traceback may quote the data) go; id, status, times and the error's kind and
        cell stay. So do idempotency keys of that age, and the ledger's settled sends a day
        older; prepared notebooks are `purge_prepared`'s, which its callers run after.

        The store is written before any file goes, a batch at a time: a purge stopped
        part-way (a store locked past its wait, a kill) leaves each job either as it was, or
        purged with its notebook still on disk, which the next purge erases (its
        `output_path` is cleared once the file is gone). Erasing the files first told a
        locked store's caller nothing was done, with the notebooks gone and the jobs whole."""
        from .models import Job

        days, cutoff = self._retention(older_than_days)
        with self.store.read() as s:
            old = s.execute(
                select(Job.id, Job.output_path, Job.error).where(
                    Job.purged.is_(False),
                    Job.finished_at.is_not(None),
                    Job.finished_at < cutoff,
                )
            ).all()
            left = s.execute(  # purged by a purge stopped before it erased their notebooks
                select(Job.id, Job.output_path).where(Job.purged, Job.output_path.is_not(None))
            ).all()  # through `ix_jobs_purged_left`, which holds them only
        erased = {
            "purged": True,
            "event": None,
            "sealed_event": None,
            "parameters": {},
            "given": None,
        }
        rows = [
            {**erased, "result": None, "id": job_id, "error": _error_kind(error)}
            for job_id, _output, error in old
        ]
        outputs = [(job_id, output) for job_id, output, _error in old] + list(left)
        for start in range(0, max(len(rows), len(outputs)), 500):
            batch = rows[start : start + 500]
            if batch:  # each batch audited as it is written: a later one may fail
                with self.store.write() as s:
                    s.execute(update(Job), batch)  # by primary key
                self.store.audit(self.user, "purge", f"{len(batch)} jobs", older_than_days=days)
            self._erase_outputs(outputs[start : start + 500])
        ids = [row["id"] for row in rows]
        self.calls.purge(cutoff)  # idempotency keys are kept as long as the jobs' data
        # So is the ledger of what they sent, a day longer: a job dates the rows it relies
        # on as it runs, and may end (and be purged) hours after.
        self.store.purge_deliveries(cutoff - timedelta(days=1))
        # The sends counted against each day's limit, kept as long, and over today's and
        # yesterday's whatever the retention (a campaign sending across midnight counts both).
        self.store.purge_daily_counts(min(cutoff, utcnow() - timedelta(days=1)))
        if ids or left:  # nothing of theirs is left in the store's log either
            self.store.checkpoint()
        return ids

    def _erase_outputs(self, outputs: list[tuple[int, str | None]]) -> None:
        """Erases the notebooks of purged jobs, and the day folders of history/ they leave
        empty, then forgets where they were."""
        from .models import Job

        folders = set()
        for _job_id, output in outputs:
            if output:
                path = self.workspace.root / output
                path.unlink(missing_ok=True)
                folders.add(path.parent)
        self._remove_emptied(folders)
        if outputs:
            with self.store.write() as s:
                s.execute(
                    update(Job), [{"id": job_id, "output_path": None} for job_id, _ in outputs]
                )

    def _remove_emptied(self, folders: set[Path]) -> None:
        """Removes those of `folders` that are day folders of history/ (`history/<date>/`,
        as `runner.output_path_for` makes them) and hold nothing now: one a year of daily
        purges would otherwise leave 365 of. A folder still holding anything (a user's
        file) stays, and so do history/ itself and any other folder. A job queued for that
        day makes it again as its notebook is first saved (`runner.NotebookWriter`)."""
        try:
            history = os.stat(self.workspace.history)
        except OSError:
            return
        for folder in folders:
            with contextlib.suppress(OSError):  # not empty, gone already, or no day's
                if _day_folder_name(folder.name) and os.path.samestat(
                    os.stat(folder.parent), history
                ):
                    folder.rmdir()

    # -- settings --------------------------------------------------------------------------

    def settings(
        self,
        recipe: Recipe,
        saved: dict[str, Any] | None = None,
        available: Callable[[], list[ConnectionInfo]] | None = None,
    ) -> dict[str, Any]:
        """The recipe's saved settings, checked against the recipe as it is now: parameter
        values that still fit, and the connection filling each slot. `saved`: those settings
        as the caller already read them (a listing reads each recipe's once), else read;
        `available`: reads the connections, as the caller reads them once for many recipes
        (a listing), else `Connections.list`."""
        if saved is None:
            saved = saved_settings(self.store, recipe.name)
        parameters = self._saved_parameters(recipe, saved)
        slots = recipe.metadata.get("connections", {})
        # Without slots nothing is bound: the connections are not read (one read fewer for
        # each job of such a recipe).
        connections = (
            bind_connections(
                slots,
                saved.get("connections", {}),
                (available or self.connections.list)(),
                recipe=recipe.name,
                trigger=recipe.metadata.get("trigger"),
                root=self.workspace.root,
            )
            if slots
            else {}
        )
        return {**saved, "parameters": parameters, "connections": connections}

    def ready_settings(
        self,
        recipe: Recipe,
        hidden: Callable[[], Collection[str]] | None = None,
        saved: dict[str, Any] | None = None,
        available: Callable[[], list[ConnectionInfo]] | None = None,
    ) -> dict[str, Any]:
        """`settings`, refused as Start and the triggers refuse them when a job could not
        run with them alone: a slot whose connector does not load or does not exist
        (`_check_connectors`, before binding: a type no connection can be); a parameter
        nothing is saved for runs with its default, which must exist, pass the recipe's
        refinements and hold no secret (`check_defaults`, `hidden` giving the secrets); a
        webhook whose deliveries would all be refused, its connection lacking the secret
        their signatures are checked with (`webhooks.webhook_trigger`, the delivery's own
        check). What is not ready is said by this one rule wherever settings are shown
        (`lpstudio settings`, a recipe's `settings_problem`, the forms), as `lpstudio
        recipes` says it. `saved` and `available`: as `settings` takes them."""
        self._check_connectors(recipe)
        settings = self.settings(recipe, saved, available)
        self.check_defaults(recipe, settings["parameters"], hidden)
        if recipe.trigger_kind == "webhook":
            from .webhooks import webhook_trigger

            webhook_trigger(self, recipe, settings["connections"])
        return settings

    def _saved_parameters(self, recipe: Recipe, saved: dict[str, Any]) -> dict[str, Any]:
        """The saved parameter values that a job of the recipe starts from, checked against
        it as it is now. One that no longer fits is refused with how to save another, its
        value masked where a connection's secret came to equal it since it was saved (as
        `coerce` masks any refusal): the refusal is shown (a recipe's `settings_problem`,
        `lpstudio settings`, a trigger's error) where the value itself never is. One saved
        for a parameter the notebook no longer declares (renamed or removed since) can only
        be forgotten: its fix says so (any save of the settings forgets it too)."""
        for name in _gone_parameters(recipe, saved):
            known = ", ".join(recipe.schema.get("properties", {})) or "(none)"
            raise ParameterError(
                f"a value is saved for parameter '{name}', which {recipe.name} no longer "
                f"declares (its parameters: {known})",
                field=name,
                fix=f"forget it with `lpstudio settings {word(recipe.name)} --reset {name}`",
            )
        try:
            return self._checked_parameters(recipe, saved)
        except InputError as exc:
            name = (exc.field or "NAME").split(".", 1)[0]  # `weights.a`: a dict's item
            exc.fix = (
                f"save another value with `lpstudio settings {word(recipe.name)} -p {name} ...`, "
                f"or forget it with --reset {name}"
            )
            raise

    def _checked_parameters(self, recipe: Recipe, saved: dict[str, Any]) -> dict[str, Any]:
        """The saved parameter values, checked against the recipe and the connections as
        they are now: a value saved before a connection's secret came to equal it would go
        into every job's row and notebook (each run, schedule, poll and delivery reads its
        settings here)."""
        values = coerce(
            recipe.schema,
            saved.get("parameters", {}),
            recipe=recipe.name,
            projects=self.workspace.projects,
            hidden=self.held_secrets,
        )
        self.refuse_secrets(values, what="the saved value of parameter")
        return values

    def _job_parameters(
        self,
        recipe: Recipe,
        given: dict[str, Any],
        hidden: Callable[[], Collection[str]] | None = None,
    ) -> dict[str, Any]:
        """The parameters a job of the recipe gets from the values given and saved (`given`):
        those, and the defaults of its date parameters as text (`date_defaults`), once the
        defaults it runs with pass `check_defaults`. A run and its `--prepare-only` notebook
        share them."""
        self.check_defaults(recipe, given, hidden)
        return {**date_defaults(recipe.schema), **given}

    def save_settings(
        self,
        ref: str | os.PathLike[str],
        parameters: dict[str, Any] | None = None,
        *,
        parse: set[str] | None = None,
        connections: dict[str, str] | None = None,
        since: str | None = None,
        reset: str | Sequence[str] | None = (),
        notify: dict[str, Any] | None = None,
        expected_revision: int | None = None,
        call_timeout: float | None = None,
        fit_checked: bool = False,
        local: bool = False,
    ) -> dict[str, Any]:
        """Stores parameter values and connection bindings for a recipe, after checking them.
        Given values join the saved ones; `reset` names saved values to forget (a parameter
        goes back to the notebook's default, `connections.SLOT` to the automatic choice,
        `call_timeout` to the server's): a list of names, or one name by itself, which no
        one means as a list of its characters (`reset="days_ahead"`, as `--reset` takes one).
        `call_timeout` is how long a callable recipe's caller waits for its answer, in seconds
        (up to `MAX_CALL_TIMEOUT`).
        `notify` sets the failure contacts of its unattended jobs (`webhook`, `email`; None
        or empty clears one). `expected_revision` is the revision of the settings a form
        showed: settings saved since are refused (`ConflictError`), not written over.
        `fit_checked`: the caller checked the body variables against the handoff list it
        holds (the notebook's form), and the list is not asked again (`handoff_fit`).
        `local`: the caller's times are this machine's (the command line's): `since`
        without a zone is read in its zone, and a refusal says a time as the CLI prints it
        (as `parse_moment` reads them; else UTC, as the REST API's callers are elsewhere).

        A saved value of a parameter the notebook no longer declares (renamed or removed
        since) is forgotten by any save, or by name in `reset`: kept, it refused every save,
        run and start, and no value given could mend it.

        Returns the settings saved, with `warnings`: what was saved and will fail, each a
        `ParameterError` naming its field and fix (a text template that cannot fill the
        handoff's placeholders, as the form warns of it), each saved value the save
        forgot unasked as its parameter is gone, and a call timeout a Conversation Builder
        bot does not wait out (`call_timeout_warning`), for the CLI and the REST API to say.

        The saved settings are read, checked against and written in one write transaction:
        two saves at once take turns, and neither loses the other's change."""
        recipe = self.recipe(ref)
        reset = [reset] if isinstance(reset, str) else reset or ()  # None: nothing to forget
        if notify is not None and not isinstance(notify, dict):
            raise InputError("notify must be an object", field="notify", fix='give {"email": ...}')

        # What the checks read is read before the write lock is taken: each read inside it
        # would wait for a connection of the pool that the writers waiting for the lock
        # hold (sixteen saves at once stalled for the pool's 30 s).
        available, secrets = self.connections.list(), self.connections.secret_values()
        if since is not None:
            since = poll_start(since, "since", local).isoformat()  # a bad value first, by name
            if recipe.trigger_kind != "poll":  # it would be saved, shown, and never used
                raise InputError(
                    f"since applies to poll triggers; {recipe.name} is triggered by "
                    f"{recipe.trigger_kind}",
                    field="since",
                    fix="save the settings without since",
                )
            self._check_since_unfixed(recipe, local)

        if call_timeout is not None:  # a reset may forget one left from a callable past
            if "call_timeout" in reset:  # one would win unsaid, as a parameter's would
                raise InputError(
                    "call_timeout is both given and reset",
                    field="reset",
                    fix="give call_timeout a value or reset it, not both",
                )
            check_call_timeout(recipe, call_timeout)
        refit = None
        if not fit_checked:
            refit = check_saved_fit(self, recipe, parameters, parse or set(), connections, reset)

        before: list[dict[str, Any]] = []  # the settings the write found
        warnings: list[LpstudioError] = []  # of the pair it commits (`ParameterError`)

        def change(saved: dict[str, Any]) -> dict[str, Any] | None:
            """The settings to write; None for a save that changes none of them (a form's
            Save with nothing touched, `{}`): its revision stays, or a save made elsewhere
            from the settings read before it would be refused for no change at all."""
            before[:] = [saved]
            new = self._changed_settings(
                recipe, saved, parameters, parse, connections, since, reset, notify,
                available, secrets,
            )  # fmt: skip
            forgotten = self._forgotten(recipe, saved, reset, secrets)
            # Over what another save wrote meanwhile, if any.
            misfit = refit(new["parameters"]) if refit is not None else None
            # Said on any save while it stands: one saved before the warning existed too.
            kept = None if "call_timeout" in reset else saved.get("call_timeout")
            long_wait = call_timeout_warning(
                recipe, call_timeout if call_timeout is not None else kept
            )
            warnings[:] = [*forgotten, *(w for w in (misfit, long_wait) if w)]
            if call_timeout is not None:
                new["call_timeout"] = float(call_timeout)
            elif "call_timeout" in reset:
                new.pop("call_timeout", None)
            return new if _changed_keys(saved, new) else None

        stored = update_settings(
            self.store,
            recipe.name,
            change,
            self.user,
            expected_revision=expected_revision,
            # The connections given, checked against `available`: one deleted since?
            check=lambda s, new: check_bound_exist(
                s, {slot: new["connections"][slot] for slot in connections or {}}, recipe.name
            ),
            local=local,
        )
        new = stored.settings
        # What the save changed, not what it was given: a form sends every field, and the
        # CLI an empty set of parameters with a new contact. A save that changed nothing is
        # recorded nowhere (`change`).
        old = before[0] if before else {}
        changed = _changed_keys(old, new)
        if not changed:
            return {**new, "warnings": warnings}
        self.store.audit(
            self.user,
            "settings",
            recipe.name,
            changed=changed,
            **_changed_names(old, new, changed),
            revision=stored.revision,
        )
        self.store.snapshot(  # a save back to earlier settings lists that version newest
            recipe.name,
            recipe.canonical_json,
            {"parameters": new["parameters"], "connections": new["connections"]},
            self.user,
            saved=True,
        )
        return {**new, "warnings": warnings}

    def _changed_settings(
        self,
        recipe: Recipe,
        saved: dict[str, Any],
        parameters: dict[str, Any] | None,
        parse: set[str] | None,
        connections: dict[str, str] | None,
        since: str | None,
        reset: Sequence[str],
        notify: dict[str, Any] | None,
        available: list[Any],
        secrets: set[str],
    ) -> dict[str, Any]:
        """`saved` with the change of `save_settings` made, checked against the connections
        `available` and their `secrets`: run while the store's write lock is held, so it
        neither reads nor writes the store."""
        from .failures import checked_contacts

        contacts = checked_contacts(
            notify or {}, saved.get("notify") or {}, secrets | self.store.secrets
        )
        kept, kept_slots = self._forget(recipe, saved, reset, parameters, connections)
        values = {**kept, **(parameters or {})}
        parsed = (parse or set()) & set(parameters or {})
        coerced = coerce(
            recipe.schema,
            values,
            parsed,
            recipe=recipe.name,
            projects=self.workspace.projects,
            hidden=lambda: secrets | self.store.secrets,  # `held_secrets`, read before the lock
        )
        self.refuse_secrets(coerced, secrets)
        chosen = {**kept_slots, **(connections or {})}
        slots = recipe.metadata.get("connections", {})
        unknown = set(connections or {}) - set(slots)
        if unknown:
            raise InputError(
                f"recipe {recipe.name} has no connection slot {', '.join(sorted(unknown))}",
                field="connections",
                fix=f"use one of: {', '.join(slots)}"
                if slots
                else f"leave connections out: {recipe.name} declares no connection slots",
            )
        # Only what was chosen is checked: a slot nobody chose may wait for its connection
        # (values can be saved before the connections exist); running or starting needs it.
        bind_connections(
            {slot: spec for slot, spec in slots.items() if slot in chosen},
            chosen,
            available,
            ready=False,  # a placeholder may be chosen now and authorised later
            recipe=recipe.name,
        )
        new = {**saved, "parameters": coerced, "connections": chosen}
        new.pop("notify", None)
        if contacts:
            new["notify"] = contacts
        if since is not None:
            new["since"] = poll_start(since, "since").isoformat()
        return new

    def _forgotten(
        self, recipe: Recipe, saved: dict[str, Any], reset: Sequence[str], secrets: set[str]
    ) -> list[LpstudioError]:
        """What a save forgets unasked (`reset` names none of them): the saved values of
        parameters the notebook no longer declares, each with its value (masked where it
        holds a connection's secret, as `coerce` masks its refusals), to be given again to
        the parameter that took its place, if one did."""
        known = ", ".join(recipe.schema.get("properties", {})) or "(none)"
        return [
            ParameterError(
                f"forgot the value saved for parameter '{name}' "
                f"({json.dumps(saved['parameters'][name])}), which {recipe.name} no longer "
                "declares",
                field=name,
                fix=f"if one of its parameters ({known}) took its place, save the value for it",
            ).mask(secrets | self.store.secrets)
            for name in _gone_parameters(recipe, saved)
            if name not in reset
        ]

    @staticmethod
    def _forget(
        recipe: Recipe,
        saved: dict[str, Any],
        reset: Sequence[str],
        parameters: dict[str, Any] | None,
        connections: dict[str, str] | None,
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """The saved parameter values and bindings left once `reset` is forgotten, and the
        values of parameters the notebook no longer declares (`_gone_parameters`); a name
        that is neither a parameter nor `connections.SLOT`, nor saved as one (a parameter
        or slot gone since), or is also given, is refused (a slot named bare, or a parameter
        as a slot, with the name to give instead)."""
        slots = recipe.metadata.get("connections", {})
        properties = recipe.schema.get("properties", {})
        bound = {*slots, *saved.get("connections", {})}
        known = [
            *properties,
            *_gone_parameters(recipe, saved),
            *(f"connections.{s}" for s in bound),
        ]
        if recipe.trigger_kind == "callable" or "call_timeout" in saved:
            known.append("call_timeout")
        given = {*(parameters or {}), *(f"connections.{slot}" for slot in connections or {})}
        for name in reset:
            bare = name.removeprefix("connections.")
            if name not in known and (name in slots or bare in properties):
                # One spelling for each: said, not taken, in the other's.
                kind, meant = (
                    ("a connection slot", f"connections.{name}")
                    if name == bare
                    else ("a parameter", bare)
                )
                raise InputError(
                    f"{quoted(bare)} is {kind}: reset it as {meant}",
                    field="reset",
                    fix=f"reset {meant} instead",
                )
            if name not in known:
                raise InputError(
                    f"recipe {recipe.name} has no parameter or slot {quoted(name)} to reset",
                    field="reset",
                    fix=f"reset one of: {', '.join(known) or '(none)'}",
                )
            if name in given:
                raise InputError(
                    f"{name} is both given and reset",
                    field="reset",
                    fix=f"give {name} a value or reset it, not both",
                )
        dropped = set(reset)
        kept = {
            k: v
            for k, v in saved.get("parameters", {}).items()
            if k not in dropped and k in properties
        }
        kept_slots = {
            slot: name
            for slot, name in saved.get("connections", {}).items()
            if f"connections.{slot}" not in dropped
        }
        return kept, kept_slots

    # -- runs ------------------------------------------------------------------------------
    # Checking a run's input, queueing its job and running it: now, in the background
    # (`dispatch`: an API answers with the job's id at once), from a poll, again.

    def validate(
        self, ref: str | os.PathLike[str], parameters: dict[str, Any], parse: set[str] | None = None
    ) -> tuple[Recipe, dict[str, Any]]:
        """Loads the recipe and coerces the parameters: everything a run checks up front."""
        recipe = self.recipe(ref)
        values = coerce(
            recipe.schema,
            parameters,
            parse or set(),
            recipe=recipe.name,
            projects=self.workspace.projects,
            hidden=self.held_secrets,
        )
        self.refuse_secrets(values)  # the saved ones are checked by `settings`
        return recipe, values

    def run(
        self,
        ref: str | os.PathLike[str],
        parameters: dict[str, Any] | None = None,
        *,
        parse: set[str] | None = None,
        event: Any = None,
        timeout: float | None = None,
        test: bool = False,
        progress_bar: bool = False,
    ) -> Job:
        """Runs a recipe now and returns the finished job (failed jobs are returned too).

        `parameters` carry their types; names in `parse` hold text to parse into the
        declared type, as papermill's `-p` does. With `test`, actions return the requests
        they would send instead of sending them, on `event` or one sample trigger event.
        """
        job = self._queue_run(ref, parameters, parse, event, timeout, "manual", test)
        return self.executor.run(job.id, progress_bar=progress_bar)

    def _queue_run(
        self,
        ref: str | os.PathLike[str],
        parameters: dict[str, Any] | None,
        parse: set[str] | None,
        event: Any,
        timeout: float | None,
        trigger: str,
        test: bool,
        then: Callable[[Session, Job], None] | None = None,
    ) -> Job:
        """Checks a run's input and queues its job; a test run works on `event` or on one
        sample trigger event."""
        recipe, values = self.validate(ref, parameters or {}, parse)
        if trigger == "manual":  # a person's event (a call's body fits its input schema)
            try:  # a callable's as a bot's call gives it (3.0 as 3 for an integer field)
                event = check_run_event(recipe, event)
            except InputError as exc:  # checked before `refuse_secrets`, it quotes the event
                exc.mask(
                    self.held_secrets() | self.api_clients.live_tokens(event) | self.credentials
                )
                raise
            if event is None and not test and recipe.needs_event:
                # Its cells work on what was posted: a job with nothing would fail, or act
                # on a sample as if a real person had asked.
                kind = recipe.trigger_kind
                raise InputError(
                    f"recipe {recipe.name} runs on what its {kind} receives: a real run needs "
                    "that event",
                    field="event",
                    fix="give the event as JSON (`lpstudio run --event '{...}'` or "
                    "--event-file), or try the recipe with Test (`--test`: a sample event, "
                    "nothing sent)",
                )
            if event is not None:  # kept and shown as given: they can use a connection
                self.refuse_secrets({}, event=event)
            if not test:  # a Test's dry run refuses them itself, as LivePerson would
                check_run_fit(self, recipe, values)
        kept = {"event": event, "sealed_event": None}
        hidden = functools.cache(self.held_secrets)  # read once for the event and defaults
        if event is not None and trigger == "callable":  # a bot's: masked, sealed for its recipe
            kept = self.kept_event(event, hidden())
        if test:
            trigger = "test"
            if event is None:
                kept = self.sample_kept(recipe) or kept
        if trigger in ("manual", "test"):  # a person's run (bots' calls are their jobs' log)
            action, earlier = ("run" if trigger == "manual" else "test"), then

            def audited(session: Session, job: Job) -> None:  # in the job's transaction
                if earlier is not None:
                    earlier(session, job)
                audit_in(session, self.user, action, recipe.name, job=job.id)

            then = audited
        return self._queue(recipe, values, kept, trigger, timeout, then=then, hidden=hidden)

    def _queue(
        self,
        recipe: Recipe,
        parameters: dict[str, Any],
        kept: dict[str, Any],
        trigger: str,
        timeout: float | None,
        rerun_of: int | None = None,
        then: Callable[[Session, Job], None] | None = None,
        hidden: Callable[[], Collection[str]] | None = None,
    ) -> Job:
        """Queues the job; `then` (what records it elsewhere) is written with it, or neither.
        `kept`: its `event` and `sealed_event` (`kept_event`); `hidden`: the workspace's
        secrets, if read already (`job_fields`)."""
        row = self.job_fields(
            recipe, parameters, kept["event"], trigger, timeout, rerun_of, hidden=hidden
        )
        row["sealed_event"] = kept["sealed_event"]
        if then is None:
            return self.store.create_job(**row)
        return self.store.create_jobs([row], then=lambda s, jobs: then(s, jobs[0]))[0]

    def job_fields(
        self,
        recipe: Recipe,
        parameters: dict[str, Any],
        event: Any,
        trigger: str,
        timeout: float | None,
        rerun_of: int | None = None,
        hidden: Callable[[], Collection[str]] | None = None,
    ) -> dict[str, Any]:
        """A new job's row, checked, on a snapshot of the recipe and its settings; also how
        `webhooks.receive_webhook` queues a delivery's jobs, in one transaction. `hidden`
        gives the workspace's secrets (`check_defaults`), read once by a caller that needs
        them too."""
        timeout = from_numpy(timeout)
        number = isinstance(timeout, int | float) and not isinstance(timeout, bool)
        if timeout is not None and not number:  # "60" said as text: 60 is taken
            raise timeout_refused(repr(timeout))
        if timeout is not None and not (math.isfinite(timeout) and 0 < timeout <= MAX_TIMEOUT):
            raise timeout_refused(timeout)
        check_event(event)
        self._check_connectors(recipe)  # before the slots are bound: one no type can fill
        settings = self.settings(recipe)
        values = self._job_parameters(recipe, {**settings["parameters"], **parameters}, hidden)
        version = self.store.snapshot(
            recipe.name,
            recipe.canonical_json,
            {"parameters": settings["parameters"], "connections": settings["connections"]},
            self.user,
        )
        return dict(
            recipe=recipe.name,
            version_id=version,
            trigger=trigger,
            parameters=values,
            given=parameters,
            event=event,
            user=self.user,
            timeout=timeout,
            rerun_of=rerun_of,
            # This process runs it: if it dies first, the reaper fails the job (no scheduler
            # would take it). Schedulers claim the others.
            worker=None if trigger in SCHEDULED_TRIGGERS else worker_id(),
        )

    def submit(
        self,
        ref: str | os.PathLike[str],
        parameters: dict[str, Any] | None = None,
        *,
        parse: set[str] | None = None,
        event: Any = None,
        timeout: float | None = None,
    ) -> Future[Job]:
        """Queues a run and returns at once; the future gives the finished job."""
        return self.dispatch(ref, parameters, parse=parse, event=event, timeout=timeout)[1]

    def dispatch(
        self,
        ref: str | os.PathLike[str],
        parameters: dict[str, Any] | None = None,
        *,
        parse: set[str] | None = None,
        event: Any = None,
        timeout: float | None = None,
        trigger: str = "manual",
        test: bool = False,
        then: Callable[[Session, Job], None] | None = None,
    ) -> tuple[Job, Future[Job]]:
        """Queues a run and gives the queued job at once (an API answers with its id) and
        the future of the finished job. With `test`, as `run(test=True)`: nothing is sent.
        `then` is written in the job's transaction (a callable call's claim records it)."""
        job = self._queue_run(ref, parameters, parse, event, timeout, trigger, test, then)
        return job, self.executor.submit(job.id)

    def dispatch_poll(
        self, ref: str | os.PathLike[str], warnings: list[InputError] | None = None
    ) -> list[tuple[Job, Future[Job]]]:
        """Poll now in the background: `poll`'s jobs at once, queued, each with the future
        of its run (and its `warnings`). This process runs them, as `lpstudio poll` does,
        whether or not the recipe is started: the poll moved its cursor past their events,
        and a scheduler holds a stopped recipe's jobs until it starts again. Each is retried
        or reported as a scheduler's is, once it ends (`_follow_polled`). A poll that fails
        after pages it wrote raises, its jobs submitted all the same and named."""
        from .triggers import queued_before

        try:
            jobs = self.poll(ref, run=False, own=True, warnings=warnings)
        except LpstudioError as exc:  # after pages it wrote: their jobs run all the same
            ids = queued_before(exc)
            self._submit_polled(ids)
            if ids:
                exc.message += (
                    f" (before it failed, the poll queued job{'s' if len(ids) > 1 else ''} "
                    f"{', '.join(map(str, ids))} for the pages it read: they run)"
                )
                exc.args = (exc.message,)
            raise
        return list(zip(jobs, self._submit_polled([job.id for job in jobs]), strict=True))

    def _submit_polled(self, ids: list[int]) -> list[Future[Job]]:
        """Submits a poll's jobs, this process's from now on (`run_polled`), each followed
        up when its future is done: a callback's exception would be lost with it."""
        taken = self.store.take_queued(ids)
        futures = [self.executor.submit(job_id) for job_id in ids]
        for future in futures:
            future.add_done_callback(functools.partial(self._polled_done, taken))
        return futures

    def _polled_done(self, taken: Collection[int], done: Future[Job]) -> None:
        """A submitted poll's job ended: followed up, or its run's error logged, as nobody
        waits on its future (a Poll now answers at once)."""
        if (exc := done.exception()) is not None:
            log.error("a job of the poll failed to run", exc_info=exc)
        else:
            self._follow_polled(done.result(), taken)

    def dispatch_rerun(self, job_id: int, timeout: float | None = None) -> tuple[Job, Future[Job]]:
        """`rerun` in the background: the new job at once, and its future."""
        job = self._queue_rerun(job_id, timeout)
        return job, self.executor.submit(job.id)

    def prepare(
        self,
        ref: str | os.PathLike[str],
        parameters: dict[str, Any] | None = None,
        *,
        parse: set[str] | None = None,
    ) -> Path:
        """papermill's `--prepare-only`: the parameterized notebook, written but not run. It
        holds what a run's job would get: the saved settings, the values given over them,
        and the defaults a job injects (`_job_parameters`)."""
        from papermill.execute import prepare_notebook_metadata

        recipe, given = self.validate(ref, parameters or {}, parse)
        saved = self._saved_parameters(recipe, saved_settings(self.store, recipe.name))
        values = self._job_parameters(recipe, {**saved, **given})
        # As a job injects them (a tuple[...] parameter as a tuple), on a copy: the parsed
        # recipe is shared (`parsed`), and the process's next job of it would run these.
        nb = parameterized(recipe.notebook, as_declared(recipe.schema, values))
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
        path = (
            self.workspace.history
            / "prepared"
            / f"{shortened(Path(recipe.name).stem)}-{stamp}.ipynb"
        )
        # Where it was read from and is written to, as papermill's --prepare-only records.
        nb.metadata.setdefault("papermill", {})
        prepare_notebook_metadata(nb, str(self.workspace.projects / recipe.name), str(path))
        path.parent.mkdir(parents=True, exist_ok=True)
        write_notebook(nb, path)
        return path

    def sample_event(self, recipe: Recipe) -> Any:
        """One recent event of the recipe's trigger, to test it on, as its Test's job shows
        it (masked of the workspace's secrets)."""
        kept = self.sample_kept(recipe)
        return None if kept is None else kept["event"]

    def sample_kept(self, recipe: Recipe) -> dict[str, Any] | None:
        """`sample_event` as its Test's job keeps it (`kept_event`: shown masked, and sealed
        whole for its kernel); None for a trigger without samples."""
        from .triggers import sample_event

        with self._trigger_faults(recipe, "the sample poll"):
            return sample_event(self, recipe)

    def poll(
        self,
        ref: str | os.PathLike[str],
        run: bool = True,
        own: bool | None = None,
        warnings: list[InputError] | None = None,
    ) -> list[Job]:
        """Runs the recipe's poll trigger once: queues a job per new event (or batch) and,
        with `run`, runs them oldest first. With `own` (`run` unless given: its caller runs
        them, `run_polled`), they are this process's from the write that queues them, so
        no scheduler takes them, or says they wait, meanwhile; a poll interrupted (Ctrl-C,
        SIGTERM) leaves those it wrote to the schedulers. A started recipe's poll counts
        towards its auto-stop as a scheduler's does. A poll that fails after pages it wrote
        raises, its jobs kept (and run, with `run`: a recipe never started kept them queued
        for ever). Events its conditions could not compare are added to `warnings`
        (`triggers.doubt_warnings`): they did not pass, and no job says why."""
        from .scheduler import poll_counted
        from .triggers import queued_before

        recipe = self.recipe(ref)
        owner = worker_id() if (run if own is None else own) else None
        try:
            with self._trigger_faults(recipe, "the poll"):
                ids = poll_counted(self, recipe, owner, warnings)
        except LpstudioError as exc:  # after pages it wrote (`queued_before`): kept, and run
            if ids := queued_before(exc):
                self.store.audit(self.user, "poll", recipe.name, jobs=ids)
                if run:
                    self.run_polled(ids)
            raise
        except BaseException as exc:  # interrupted: nothing here runs what it wrote
            self.store.release_queued(queued_before(exc))
            raise
        self.store.audit(self.user, "poll", recipe.name, jobs=ids)
        if not run:
            return [self.store.job(job_id) for job_id in ids]
        return self.run_polled(ids)

    def run_polled(self, ids: list[int]) -> list[Job]:
        """Runs a poll's jobs here, oldest first, as `run` runs its one. They are this
        process's once it runs them (`Store.take_queued`): killed, it leaves them to the next
        command's reaper, failed as "worker lost"; until then (a poll that only queues, one
        stopped midway) they are a scheduler's. While one runs, the others are kept alive
        (`QueuedBeat`): silent, another process's reaper took them for lost."""
        from .executor import QueuedBeat

        if not ids:
            return []
        taken = self.store.take_queued(ids)
        every = self.workspace.setting("jobs", "heartbeat_seconds")
        beat = QueuedBeat(self.store, every, tend=lambda: True)
        beat.start()
        try:
            ran = []
            for job_id in ids:
                ran.append(self.executor.run(job_id))
                self._follow_polled(ran[-1], taken)
            return ran
        finally:
            beat.close()

    def _follow_polled(self, job: Job, taken: Collection[int]) -> None:
        """Retries or reports a poll's job as a scheduler would have (`after_end`), whoever
        asked for the poll, if this process ran it: one that a scheduler claimed before it
        was `taken`, or that went to another worker, is that one's to follow up, once. Its
        failure is logged: it must stop neither the poll's next job nor a future's callback."""
        if job.id not in taken or not self.executor.ran(job):
            return
        try:
            after_end(self, job)
        except Exception:
            log.exception("could not retry or report job %s of the poll", job.id)

    @contextlib.contextmanager
    def _trigger_faults(self, recipe: Recipe, what: str) -> Iterator[None]:
        """A poll trigger's own fault (its connector's code, or an app's answer it cannot
        read), said with its fix, not a traceback: `what` of the recipe failed. An app's
        failure its connector raised with no fix of its own (a custom connector's `call`
        answered 500) gets the test of the connection the trigger polls, by its name: the
        CLI, `lpstudio recipes`, the REST API and the lab each say it in their terms (it had
        none, or a made-up `<name>` over REST)."""
        from .sdk import ConnectorError

        def polled() -> str:
            slot = recipe.metadata.get("trigger", {}).get("connection")
            return str(self.settings(recipe)["connections"].get(slot, slot))

        try:
            yield
        except ConnectorError as exc:
            if exc.fix is None:
                exc.fix = (
                    f"try again once the app answers: `lpstudio connections test {polled()}` "
                    "says whether it does"
                )
            raise
        except LpstudioError:
            raise
        except Exception as exc:
            name = polled()
            raise ConnectorError(
                f"{what} of {recipe.name} failed: {type(exc).__name__}: {exc}",
                fix=f"`lpstudio connections test {name}` says whether the app answers; if it "
                "does, the connector's own code needs correcting",
            ) from exc

    def check_rerun(self, job_id: SupportsIndex) -> tuple[Job, Recipe, dict[str, Any]]:
        """The job to rerun, its recipe as it is now and its parameters checked against it;
        raises what would refuse the rerun (before a caller warns that it repeats sends)."""
        old = self.store.job(job_id)
        if old.purged:
            raise InputError(
                f"job {job_id} was purged after the retention period: its parameters and "
                "event are gone, so it cannot be rerun",
                field="job",
                fix="run the recipe anew with "
                f"`lpstudio run {word(old.recipe.removesuffix('.ipynb'))}`",
            )
        if old.status not in FINAL_STATES:
            # It runs yet, or will (a stopped recipe's kept event runs at its start): a
            # rerun now would do its work a second time, beside it.
            raise InputError(
                f"job {job_id} is {old.status}: it has not ended, so there is nothing to run "
                "again yet",
                field="job",
                fix=f"wait for it to end (`lpstudio show {job_id}`), or cancel it "
                f"(`lpstudio cancel {job_id}`) and rerun it then",
            )
        self._refuse_deleted(old)
        recipe, values = self.validate(old.recipe, _given(old))
        return old, recipe, values

    def _refuse_deleted(self, job: Job) -> None:
        """Refuses a rerun of a job whose recipe's notebook is gone but whose versions are
        kept, saying how to restore one: 'not found, list recipes' told of a recipe no list
        holds any more."""
        name = job.recipe
        if self.workspace.is_recipe_file(self.workspace.projects / name):
            return
        if name not in self.versioned_recipes():
            return  # no version to bring back: `validate`'s refusal says it is not found
        raise WorkspaceError(
            f"job {job.id}'s recipe {name} is gone: its notebook was deleted from "
            f"{self.workspace.projects} (or moved away)",
            field="recipe",
            fix=rerun_fix(
                job.id,
                f"bring it back from its versions: `lpstudio versions {word(name)}` lists "
                f"them, `lpstudio restore {word(name)} VERSION` writes one back",
            ),
        )

    def _queue_rerun(self, job_id: SupportsIndex, timeout: float | None = None) -> Job:
        """Queues a job again with the values given for it and its cached event, on the
        latest version and its settings; with the job's own timeout, or `timeout` (checked
        as a run's) instead: a job that timed out is run again with a longer one, its
        delivery ledger shared, where a new run of its recipe sent its recipients again."""
        old, recipe, values = self.check_rerun(job_id)
        # A test run's rerun is a test run too: rerunning a dry run must never send.
        trigger = "test" if old.trigger == "test" else "rerun"
        kept = {"event": old.event, "sealed_event": old.sealed_event}
        limit = old.timeout if timeout is None else timeout
        job = self._queue(recipe, values, kept, trigger, limit, rerun_of=old.id)
        # What the chain sent stays known as long as this job may be rerun: the purge
        # forgets a ledger's rows by their age, and the first job's may be past it.
        self.store.keep_ledger(self.store.job_ledger(old))
        self.store.audit(self.user, "rerun", recipe.name, job=job.id, rerun_of=old.id)
        return job

    def rerun(
        self, job_id: SupportsIndex, progress_bar: bool = False, *, timeout: float | None = None
    ) -> Job:
        """Runs a job again with the values given for it and its cached event, on the latest
        version and its settings; with its own timeout, or `timeout` seconds instead."""
        job = self._queue_rerun(job_id, timeout)
        return self.executor.run(job.id, progress_bar=progress_bar)

    def cancel(self, job_id: SupportsIndex) -> Job:
        """The job after `request_cancel`, for callers that only want the job."""
        return self.request_cancel(job_id)[0]

    def request_cancel(self, job_id: SupportsIndex) -> tuple[Job, CancelOutcome]:
        """Cancels a queued job, or asks the worker running it to stop it; a finished job
        stays as it ended (nothing to stop, nothing audited). Says which it did, as the
        job's status cannot: a running job asked to stop is still running. A job that
        ended by itself as it was asked, or by another's cancel (two people cancelling it
        at once), is `nothing`. Only the call that ended the job or first asked its worker
        is audited: the log names who cancelled a job, not everyone who asked after."""
        job = self.store.job(job_id)
        if job.status in FINAL_STATES:
            return job, "nothing"
        job, did = self.store.request_cancel(job_id)
        if did == "ended" and (job.error or {}).get("uncertain_sends"):
            after_failure(self, job)  # queued again mid-request: its contacts hear of it
        outcome: CancelOutcome = (
            "cancelled"
            if did == "ended"
            else "nothing"
            if job.status in FINAL_STATES
            else "requested"  # by this call, or by another's just before: it stops
        )
        if did is not None:
            self.store.audit(self.user, "cancel", job.recipe, job=job.id, outcome=outcome)
        return job, outcome

    # -- history ---------------------------------------------------------------------------

    def job(self, job_id: SupportsIndex, listed: bool = False) -> Job:
        """A job whole, or `listed`: without its event and result (`Store.job`)."""
        return self.store.job(job_id, listed)

    def waits(self, job: Job, local: bool = False) -> str | None:
        """Why a queued job has not started, when it is more than its turn in the queue: a
        retry not yet due, or a trigger's job (a retry too) whose recipe was stopped since,
        which a scheduler holds until it is started again. `lpstudio show` and the REST
        job's `waits` say it; it showed only "queued". A due time is said as `said_at` says
        it: with `local` in this machine's time, as `show` prints its other times."""
        return self.waits_of([job], local)[0]

    def waits_of(self, jobs: Sequence[Job], local: bool = False) -> list[str | None]:
        """Each job's `waits`, for a list's page: the settings of the recipes its held jobs
        wait for read in one query (none when no job is queued), not one a row."""
        queued = [job for job in jobs if job.status == QUEUED]
        if not queued:
            return [None] * len(jobs)
        now = self.store.now()
        due = {job.id: job.not_before for job in queued if job.not_before and job.not_before > now}
        held = {
            job.recipe for job in queued if job.id not in due and job.trigger in SCHEDULED_TRIGGERS
        }
        saved = saved_settings_of(self.store, held) if held else {}
        states = {recipe: settings.get("state") for recipe, settings in saved.items()}

        def waits(job: Job) -> str | None:
            if job.status != QUEUED:
                return None
            if job.id in due:
                return f"a {job.trigger} due at {said_at(due[job.id], local)}"
            if job.trigger not in SCHEDULED_TRIGGERS or states[job.recipe] == "started":
                return None
            return self.held(job.recipe, job.id)

        return [waits(job) for job in jobs]

    def held(self, recipe: str, job_id: int) -> str:
        """Why a stopped recipe's job waits, and what runs or drops it, its reason and its
        fixes parted by the first ': '. A recipe whose notebook is gone (deleted, or renamed
        or moved away, as JupyterLab's file browser does) cannot be started: its jobs wait
        for the notebook's return to that path, which is said, or for a cancel. They are
        kept, not ended: each holds an event its trigger will not read again, and a rename
        is undone as easily as it is made."""
        workspace = self.workspace
        path = workspace.projects / recipe
        start = f"`lpstudio start {word(recipe)}` runs its queued jobs"
        drop = f"`lpstudio cancel {job_id}` drops this one"
        if workspace.projects.is_dir() and not workspace.is_recipe_file(path):
            return (
                f"its recipe {recipe} is stopped and its notebook is gone from "
                f"{path.relative_to(workspace.root)}: put the notebook back there, then "
                f"{start} (a renamed notebook is a recipe of its own); {drop}"
            )
        return f"its recipe {recipe} is stopped: {start}, {drop}"

    def sends(self, job: Job) -> dict[str, int] | None:
        """What a running job's sends have reached so far (`Store.sends_so_far`), where one
        job is shown; None for a job not running (its result says what it sent)."""
        return self.store.sends_so_far(job) if job.status == RUNNING else None

    def jobs(
        self,
        recipe: str | None = None,
        status: str | None = None,
        since: datetime | str | None = None,
        limit: int | None = 50,
        offset: int = 0,
        before: int | None = None,
        listed: bool = False,
        project: str | None = None,
    ) -> list[Job]:
        """The newest jobs, filtered, from the `offset`th on, or after job `before` (the last
        of a page: the next page, which jobs arriving meanwhile do not shift); a filter no
        job could match is refused (a misspelt status listed nothing, as if no job had it),
        and so is a recipe that is neither a file under projects/ nor one with jobs
        (`_recipe_with_jobs`: the path JupyterLab's file browser shows is read too). `since`
        may be typed as `lpstudio jobs --since` takes it (`2h`, `2026-11-01`, in this
        machine's zone), and a naive datetime is in that zone too, as `datetime.now()` gives
        it (read as UTC, it listed jobs hours away from the same time typed). `listed`: each
        job as lists show it (`listed_job`), its event, result and the values given to it
        left unread (`LISTED`). `project`: the jobs of its recipes and its sub-folders'
        (`_project_with_jobs`; `.` is every project, as GET /recipes reads it). The pages of
        `job_pages`, joined."""
        pages = self.job_pages(
            recipe, status, since, limit, offset, before, listed=listed, project=project
        )
        return [job for page in pages for job in page]

    def _jobs_query(
        self,
        recipe: str | None,
        status: str | None,
        since: datetime | str | None,
        limit: int | None,
        offset: int,
        before: int | None,
        project: str | None,
    ) -> dict[str, Any]:
        """`jobs`' filters checked and read as `Store.list_jobs` takes them."""
        from .store import RUNNING

        statuses = (QUEUED, RUNNING, *FINAL_STATES)
        if status is not None and status not in statuses:
            raise InputError(
                f"status {status!r} is not a job status",
                field="status",
                fix=f"give one of: {', '.join(statuses)}",
            )
        # A frame's numbers are numpy's (`len(df)` is not; `df["n"].max()` is).
        limit, offset, before = (from_numpy(given) for given in (limit, offset, before))
        if limit is not None and (integral(limit) is None or limit < 1):
            raise InputError(
                f"limit must be a whole number above 0, or None for every job, not {limit!r}",
                field="limit",
                fix="give how many jobs to list, e.g. limit=50 (None: all of them)",
            )
        if integral(offset) is None or not 0 <= offset <= MAX_INTEGER:
            raise InputError(
                f"offset must be a whole number from 0 to {MAX_INTEGER}, not {offset!r}",
                field="offset",
                fix="give how many of the newest jobs to skip, e.g. offset=50",
            )
        if before is not None and (integral(before) is None or not 1 <= before <= MAX_INTEGER):
            raise InputError(
                f"before must be a job's id, a whole number from 1 to {MAX_INTEGER}, "
                f"not {before!r}",
                field="before",
                fix="give the id of the last job of the page shown, e.g. before=1234",
            )
        if isinstance(since, str | datetime):
            since = parse_moment(since, "since", local=True)
        elif since is not None:
            raise InputError(
                f"since must be a datetime or text such as '2h', not {since!r}",
                field="since",
                fix="give a datetime, an ISO date such as '2026-11-01' or a duration such as "
                "'2h' or '7d'",
            )
        if recipe is not None:
            recipe = self._recipe_with_jobs(recipe)
        if project is not None:
            project = self._project_with_jobs(project, recipe)
        return {
            "recipe": recipe,
            "project": project,
            "status": status,
            "since": since,
            "limit": limit,
            "offset": offset,
            "before": before,
        }

    def _recipe_with_jobs(self, ref: str | os.PathLike[str]) -> str:
        """The recipe a jobs filter names, by its path under projects/ or as JupyterLab's
        file browser shows it (`projects/shop/cart.ipynb`: a person types a filter), never
        from the process's working folder: a file, or one deleted or renamed since that
        still has jobs (they stay listed, and so does their filter). A filter those two
        readings take for two recipes is refused, naming both. A recipe's own name that
        names a file needs no look at the recipes with jobs (the Jobs panel sends its
        filter every two seconds)."""
        from .metrics import recipes_with_jobs

        readings = self._browsed_readings(ref)
        if len(readings) == 1:
            with contextlib.suppress(WorkspaceError):
                return self._one_recipe(ref, readings, ())
        try:
            return self._one_recipe(ref, readings, recipes_with_jobs(self.store))
        except WorkspaceError as exc:
            if exc.fix == "list recipes with `lpstudio recipes`":  # the two ways to name it
                exc.fix = (
                    "give the recipe's path under projects/, as `lpstudio recipes` lists it "
                    "(shop/cart.ipynb), or as JupyterLab's file browser shows it "
                    "(projects/shop/cart.ipynb); a deleted recipe's jobs are listed by its "
                    "old path"
                )
            raise

    def _project_with_jobs(self, ref: str | os.PathLike[str], recipe: str | None) -> str | None:
        """The project a jobs filter names, read as GET /recipes and `lpstudio export` read
        one (`project_folder`: `projects/shop` is `shop`; `.` every project, None), that is
        a folder under projects/ or one deleted since whose recipes have jobs (they stay
        listed, as a deleted recipe's do). A `recipe` outside it is refused, naming both:
        together they could list nothing."""
        from .packages import project_folder

        fix = "give a folder under projects/ such as shop or shop/eu, or . for every project"
        ref = os.fspath(ref) if isinstance(ref, os.PathLike) else ref
        if not isinstance(ref, str):
            raise InputError(
                f"project must be a folder's name, not {ref!r}", field="project", fix=fix
            )
        if not ref.strip():
            raise InputError(f"no project given ({quoted(ref)})", field="project", fix=fix)
        folder, name = project_folder(self, ref, must_exist=False, field="project", typed=True)
        if name == ".":
            return None
        if not folder.is_dir() and not self.store.list_jobs(project=name, limit=1):
            raise InputError(
                f"project {name} is no folder under projects/ and none of its recipes has jobs",
                field="project",
                fix="give a folder that `lpstudio recipes` lists, or a deleted project's old "
                "folder, whose jobs are listed by it",
            )
        if recipe is not None and not recipe.startswith(f"{name}/"):
            raise InputError(
                f"recipe {recipe} is not in project {name}, so together they list no job",
                field="project",
                fix="give the recipe alone, or the project alone for all of its recipes' jobs",
            )
        return name

    def _one_recipe(
        self, ref: str | os.PathLike[str], readings: list[str], kept: Sequence[str]
    ) -> str:
        """The one recipe `readings` of `ref` name (`Workspace.recipe_path`, `kept` naming
        deleted recipes that count); none is the first reading's refusal."""
        names: list[str] = []
        refusal: WorkspaceError | None = None
        for reading in readings:
            try:
                path = self.workspace.recipe_path(reading, kept=kept)
            except WorkspaceError as exc:
                refusal = refusal or exc
                continue
            if (name := self.workspace.recipe_name(path)) not in names:
                names.append(name)
        if len(names) > 1:
            top = self.workspace.projects.name
            # Each as it reads one way only: `shop/cart.ipynb`, and the recipe of the
            # project `projects` by the path JupyterLab shows, `projects/projects/...`.
            typed = [f"{top}/{name}" if name.startswith(f"{top}/") else name for name in names]
            raise WorkspaceError(
                f"recipe {ref} could be {' or '.join(names)}: the workspace has a project "
                f"named {top}",
                field="recipe",
                fix="give "
                + ", or ".join(f"{t} for {name}" for t, name in zip(typed, names, strict=True)),
            )
        if not names:
            assert refusal is not None
            raise refusal
        return names[0]

    def dashboard(self, start: datetime, end: datetime) -> dict[str, Any]:
        """The dashboard's figures for jobs created in [start, end) (`dashboard_metrics`),
        and its connections counted as the Connections panel shows them: the REST API's, the
        lab's and the notebook's Dashboard alike. A naive `start` or `end` is in this
        machine's zone, as `jobs(since=...)` reads one (`parse_moment`): read as UTC, the
        same datetime counted jobs hours away from the ones the frame listed."""
        from .metrics import connection_states, dashboard_metrics

        start, end = parse_moment(start, "start", local=True), parse_moment(end, "end", local=True)
        states = connection_states(info.status for info in self.connections.list())
        return {**dashboard_metrics(self.store, start, end), "connections": states}

    def job_pages(
        self,
        recipe: str | None = None,
        status: str | None = None,
        since: datetime | str | None = None,
        limit: int | None = None,
        offset: int = 0,
        before: int | None = None,
        page: int = MAX_LISTED,
        listed: bool = True,
        project: str | None = None,
    ) -> Iterator[list[Job]]:
        """The jobs `jobs` lists (every one by default, else `limit`), as lists show them
        (`listed`, else whole), read `page` at a time through the store's index, each page
        after the last one's id (`before`): a store of a million jobs is never one query's
        answer held at once, and jobs queued meanwhile shift nothing. The filters are read
        once (`7d` bounds every page alike)."""
        query = self._jobs_query(recipe, status, since, limit, offset, before, project)
        left = query["limit"]
        while left is None or left > 0:
            size = page if left is None else min(page, left)
            found = list(self.store.list_jobs(**{**query, "limit": size}, listed=listed))
            if found:
                yield found
            if len(found) < size:
                return
            left = None if left is None else left - len(found)
            query.update(offset=0, before=found[-1].id)

    def listed_jobs(self, jobs: Sequence[Job]) -> list[dict[str, Any]]:
        """A page of jobs as lists give them (`listed_job`), each with its `waits`
        (`waits_of`: one query for the page): GET /jobs, `lpstudio jobs --json`, the frame."""
        waits = self.waits_of(jobs)
        return [listed_job(job, self.workspace, why) for job, why in zip(jobs, waits, strict=True)]

    def jobs_frame(self, **filters: Any) -> pandas.DataFrame:
        """The job history as a DataFrame, one row per job as `lpstudio jobs --json` lists
        it, newest first: its status, recipe, times and progress to chart, without the
        trigger event and result (`listed_job`), which have no bound in size and would fill
        memory with thousands of webhook deliveries; `job(id)` gives one job whole. Every
        job the filters match (`job_pages`), unless a `limit` is given: a period's frame
        cut at the newest 50 gave a failure rate of those 50, and said nothing."""
        import pandas

        rows = [row for page in self.job_pages(**filters) for row in self.listed_jobs(page)]
        frame = pandas.DataFrame(rows, columns=LISTED_COLUMNS)
        for column in ("created_at", "started_at", "finished_at"):
            frame[column] = pandas.to_datetime(frame[column], utc=True)
        return frame.set_index("id")

    # -- gallery ---------------------------------------------------------------------------

    def gallery(self) -> Gallery:
        return read_gallery()

    def try_template(self, name: str, project: str, new_name: str | None = None) -> Path:
        """Copies a template into a project folder; returns the new recipe's path.

        The project may be typed as the file browser shows it: `projects/shop` is the
        project `shop` (refused when the workspace has a project named `projects` too, as
        `projects/shop` could then be either). A callable template's copy gets an endpoint
        path of its own (`optin-2`) when another recipe has its path: the copy's Start
        would be refused for it. A trailing `/` (`shop/`, as a shell completes a folder)
        is part of no folder's name."""
        from dataclasses import replace
        from itertools import count

        template = find_template(name)
        fix = "give a folder name such as billing or shop/eu"
        if not project.isprintable():  # a NUL would not even resolve
            raise InputError(f"invalid project folder {quoted(project)}", field="project", fix=fix)
        project = project.rstrip("/") or project  # `/` alone is refused below, as it was
        self.refuse_held_secret(project, "project", "project folder", fix)
        project = typed_project(self.workspace.projects, project, "project", fix)
        folder = self.workspace.inside(
            self.workspace.projects / project, self.workspace.projects, "project", "project"
        )
        for part in project.split("/"):
            check_file_name(part, "project", "project folder", fix)
        check_not_option(project, "project", "project folder")
        check_unescaped(project, "project", "project folder")
        composed = distinct_path(self.workspace.projects, project, "project", "project folder")
        if composed != project:  # its accents written composed
            project = composed
            folder = self.workspace.inside(
                self.workspace.projects / project, self.workspace.projects, "project", "project"
            )
        if folder.exists() and not folder.is_dir():
            raise InputError(
                f"project {project} is a file, not a folder",
                field="project",
                fix="give a project folder, such as the part of a recipe's path before its name",
            )
        if new_name is not None and not new_name.strip():  # "" too, as REST refuses it
            raise InputError(
                f"the recipe name {quoted(new_name)} is blank",
                field="name",
                fix="give a plain file name such as my_reminder, or none at all for the "
                f"template's name ({template.name})",
            )
        stem = template.name if new_name is None else new_name
        self.refuse_held_secret(stem, "name", "recipe name", "name the recipe for what it does")
        stem = stem.removesuffix(".ipynb")  # "reminder.v2" is a name, not a suffix to drop
        check_file_name(stem, "name", "recipe name", "give a plain file name such as my_reminder")
        check_unescaped(stem, "name", "recipe name")
        stem = distinct_name(folder, stem, "name", "recipe name", ".ipynb")
        with trying(self.workspace):  # no other try picks the same free endpoint
            endpoint = None
            if template.recipe.trigger_kind == "callable":
                wanted = endpoint_path(replace(template.recipe, name=f"{stem}.ipynb"))
                taken = self.callable_paths()
                if wanted in taken:
                    endpoint = next(
                        f"{wanted}-{n}" for n in count(2) if f"{wanted}-{n}" not in taken
                    )
            destination = folder / f"{stem}.ipynb"
            forgot = self._forget_former(destination)
            destination = copy_template(template, destination, endpoint)
        self.store.audit(
            self.user,
            "try_template",
            self.workspace.recipe_name(destination),
            template=name,
            **({"forgot": "the settings of a former recipe at this path"} if forgot else {}),
        )
        return destination

    def _forget_former(self, destination: Path) -> bool:
        """Forgets what a former recipe at a free path left in the store, before a copy is
        written there: settings are kept by path and outlive their notebook, so the copy was
        started (its schedule sent with nobody's Start) with the old values, bindings and
        contacts, and a poll's since, cursor and run of errors. Says whether there were
        settings to forget."""
        from .models import TriggerState

        name = self.workspace.recipe_name(destination)
        forgot: list[bool] = []

        def forget(saved: dict[str, Any]) -> dict[str, Any] | None:
            if not saved or destination.exists():  # one there now is refused by the copy
                return None
            forgot.append(True)
            return {}

        update_settings(self.store, name, forget, self.user)
        if not destination.exists():
            with self.store.write() as s:
                s.execute(delete(TriggerState).where(TriggerState.recipe == name))
        return bool(forgot)

    # -- recipes for the REST API ----------------------------------------------------------
    # A recipe that does not exist is a `NotFoundError` (a 404), and one recipe is given in
    # full as its page and form show it. Role checks are the caller's.

    def find_recipe(self, ref: str | os.PathLike[str]) -> Recipe:
        """`recipe`, but a recipe that does not exist is a `NotFoundError`."""
        return self.load_recipe(*self.find_recipe_file(ref))

    def find_recipe_file(self, ref: str | os.PathLike[str]) -> tuple[Path, str]:
        """`recipe_file` by a name under projects/ only (`refuse_server_path`), and a recipe
        that does not exist is a `NotFoundError`."""
        from .errors import NotFoundError

        self.workspace.refuse_server_path(os.fspath(ref))
        with recipe_name_checked(ref):
            path = self.workspace.under_projects(notebook_path(ref))
            path = self.workspace.inside(path, self.workspace.projects, "recipe", "recipe")
            if not path.is_file():
                self.workspace.refuse_folder(ref)
                raise NotFoundError(
                    f"recipe {ref} does not exist",
                    field="recipe",
                    fix=f"list recipes with GET {self.api_root}/recipes",
                )
        return self.recipe_file(path)

    def find_stoppable(self, ref: str | os.PathLike[str]) -> str:
        """`find_recipe_file`'s name, or that of a started recipe whose notebook is gone
        (`started_gone`): what a stop may name."""
        return self._find_kept(ref, self.started_gone)

    def find_versioned(self, ref: str | os.PathLike[str]) -> str:
        """`find_recipe_file`'s name, or that of a recipe whose notebook is gone but whose
        versions are kept (`versioned_recipes`): what listing versions and a restore name."""
        return self._find_kept(ref, self.versioned_recipes)

    def _find_kept(self, ref: str | os.PathLike[str], kept: Callable[[], Collection[str]]) -> str:
        """`find_recipe_file`'s name, or the name of a recipe whose notebook is gone that
        `kept` (read only then) still counts."""
        from .errors import NotFoundError

        try:
            return self.find_recipe_file(ref)[1]
        except NotFoundError:
            name = self.workspace.recipe_name(self.workspace.under_projects(notebook_path(ref)))
            if name not in kept():
                raise
            return name

    def _settings_that_hold(self, recipe: Recipe, saved: dict[str, Any]) -> dict[str, Any]:
        """Saved settings that cannot run yet, with what holds of them: each slot that can
        be filled bound (one slot lacking a connection hid the automatic choice and the pick
        lists of every other), and the parameter values as checked when they all fit."""
        try:
            parameters = self._checked_parameters(recipe, saved)
        except InputError:
            parameters = self.masked(saved.get("parameters", {}))
        chosen, available = saved.get("connections", {}), self.connections.list()
        connections = {}
        for slot in recipe.metadata.get("connections", {}):
            bound = self.slot_connection(recipe, slot, chosen, available)
            if bound is not None:
                connections[slot] = bound
            elif slot in chosen:  # shown as saved, with the problem
                connections[slot] = chosen[slot]
        return {**saved, "parameters": parameters, "connections": connections}

    def slot_connection(
        self,
        recipe: Recipe,
        slot: str,
        chosen: dict[str, str],
        available: list[ConnectionInfo],
    ) -> str | None:
        """The connection a job binds to `slot` with `chosen` (the slots chosen for): the
        chosen one, else the automatic choice's; None when it cannot bind one (none fits,
        several do, a placeholder: the settings problem says why). One rule for a recipe's
        detail (its `settings` and the `automatic` choices a form names) and the notebook's
        form, whose automatic choice names the connection it picks now."""
        spec = recipe.metadata.get("connections", {}).get(slot, {})
        try:
            return bind_connections({slot: spec}, chosen, available)[slot]
        except InputError:
            return None

    def recipe_detail(self, ref: str | os.PathLike[str]) -> dict[str, Any]:
        """One recipe for the API: its description, trigger, settings, state and last job,
        and the revision of its settings, which a form sends back with its save; as it
        leaves the process (`described`)."""
        recipe = self.find_recipe(ref)
        hidden = functools.cache(self.held_secrets)
        # Read first: settings saved meanwhile make the revision older than what is shown
        # (a form's save is refused), never newer (it would write over them).
        stored = read_settings(self.store, recipe.name)
        saved = stored.settings
        try:
            settings, problem = self.ready_settings(recipe, hidden, saved), None
        except InputError as exc:
            settings, problem = self._settings_that_hold(recipe, saved), exc.to_dict()
        last = self.store.last_jobs([recipe.name]).get(recipe.name)
        trigger = dict(recipe.metadata.get("trigger", {"kind": "manual"}))
        callable_ = recipe.trigger_kind == "callable"
        if recipe.trigger_kind == "webhook":
            trigger["hook"] = f"{self.api_root}/hooks/{self.webhook_id(recipe.name)}"
        elif callable_:
            # As a caller writes it: a path the route takes percent-encoded (`two words`).
            trigger["endpoint"] = f"{self.api_root}/call/{quote(endpoint_path(recipe))}"
        if settings.get("notify"):
            from .failures import shown_contacts

            settings = {**settings, "notify": shown_contacts(settings["notify"])}
        # Said once, as the answer's `state` (kept in the settings, where a start's and a
        # stop's write is one with the revision a form holds).
        settings.pop("state", None)
        chosen = saved.get("connections", {})
        polled = None
        if recipe.trigger_kind == "poll":
            from .models import TriggerState

            with self.store.read() as s:
                polled = s.get(TriggerState, recipe.name)
        return {
            **self.described({**recipe.describe(), "trigger": trigger}, hidden()),
            "settings": settings,
            # Where a poll goes on from once its first start or poll fixed it (a saved since
            # would not move it; a start's reset_since does), else null.
            "since_fixed": polled.since if polled is not None else None,
            # Slots no one chose a connection for, filled by the automatic choice: a form
            # shows them as that choice, not as a choice of their own to save.
            "automatic": sorted(set(settings.get("connections", {})) - set(chosen)),
            "settings_problem": problem,
            # A started callable edited onto another's path: served by neither, it says so.
            "endpoint_problem": self.endpoint_problem(recipe.name)
            if recipe.trigger_kind == "callable" and saved.get("state") == "started"
            else None,
            # A callable's caller waits its own call timeout (null: none saved), else the
            # serving app's; a form shows that number rather than "the server's".
            "call_timeout": saved.get("call_timeout") if callable_ else None,
            "call_timeout_default": self.call_timeout if callable_ else None,
            "warnings": _standing_warnings(recipe, saved),
            "revision": stored.revision,
            "state": saved.get("state", "stopped"),
            "next_run": self.next_run(recipe, saved.get("state", "stopped")),
            "last_job": self.listed_jobs([last])[0] if last else None,  # as GET /jobs
        }

    # -- users and audit -------------------------------------------------------------------

    @property
    def role(self) -> str:
        """The acting user's role: admin, analyst or operator."""
        from .models import User

        with self.store.read() as s:
            user = s.get(User, self.user)
        return user.role if user is not None else "operator"

    def users(self) -> list[dict[str, Any]]:
        """The people of the workspace: API clients (`api:NAME`) and lpstudio's own
        processes (`lpstudio:server`) act as users too, but have no role to give."""
        from .models import User

        with self.store.read() as s:
            rows = s.scalars(select(User).order_by(User.name)).all()
        return [
            {"name": u.name, "role": u.role, "created_at": u.created_at.isoformat()}
            for u in rows
            if ":" not in u.name
        ]

    def set_role(self, name: str, role: str) -> dict[str, Any]:
        """Gives a user a role; the last admin cannot lose theirs. A user not seen yet is
        created with it, so that an admin can give a newcomer a role before their first
        visit (else they come in with `users.default_role`, which may build recipes)."""
        from sqlalchemy import func

        from .models import User
        from .store import ROLES

        if role not in ROLES:
            raise InputError(
                f"unknown role {quoted(role)}", field="role", fix=f"use one of: {', '.join(ROLES)}"
            )
        name = composed(name)  # `josé` typed on a Mac is the josé who logs in
        self._refuse_no_person(name)
        self.refuse_held_secret(name, "name", "user name", "give the login name the person uses")
        with self.store.write() as s:
            user = s.get(User, name)
            # A name checked only for a newcomer: one a login already brought in (an IdP's
            # "Ada Lovelace", `LPSTUDIO_USER`) keeps whatever it is, and an admin must be
            # able to change its role.
            if user is None:
                refuse_new_user_name(name, "name")
                user = User(name=name, role=role)
                s.add(user)
                before = None
            else:
                people = User.name.not_like("%:%")  # as `_refuse_no_person` tells them apart
                admins = s.scalar(select(func.count()).where(User.role == "admin", people))
                if user.role == "admin" and role != "admin" and admins == 1:
                    raise InputError(
                        f"{name} is the last admin",
                        field="role",
                        fix="make another user admin first",
                    )
                before, user.role = user.role, role
        self.store.audit(self.user, SET_ROLE, name, role=role, before=before)
        return {"name": name, "role": role, "created": before is None}

    @staticmethod
    def _refuse_no_person(name: str) -> None:
        """Refuses a role to an API client (`api:NAME`) or one of lpstudio's own processes
        (`lpstudio:server`): they act as users, but nobody signs in as them and `users`
        lists neither. An admin role given to one was an admin no one could act as, which
        the last-admin rule counted: the last person who was admin could step down."""
        if ":" in name:
            raise InputError(
                f"{quoted(name)} is how an API client (api:NAME) or one of lpstudio's own "
                "processes (lpstudio:PROCESS) acts, not a person: it has no role to give",
                field="name",
                fix="give roles to people, by the login name they use; an API client is given "
                "the endpoints it may call instead (`lpstudio api-clients create`)",
            )

    def audit_entries(self, limit: int = 100) -> list[dict[str, Any]]:
        """The audit log, newest first, as the acting user's role reads it
        (`roles.shown_entry`): what the REST API and the CLI both answer."""
        role = self.role
        return [
            shown_entry(
                role,
                {
                    "id": e.id,
                    "at": e.at.isoformat(),
                    "user": e.user,
                    "action": e.action,
                    "target": e.target,
                    "detail": e.detail,
                },
            )
            for e in self.store.audit_log(limit)
        ]

    # -- endpoints, webhooks and API clients -----------------------------------------------
    # What serves callers from outside: callable recipes' endpoints, the API clients and
    # idempotent calls they take, and webhooks (`lpstudio.endpoints`, `lpstudio.webhooks`).

    def recipe_files(
        self, names: Iterable[str] | None = None, kind: str | None = None
    ) -> list[tuple[str, Recipe | LpstudioError]]:
        """Every recipe file by name (or those of `names` only, found without a walk of
        `projects/`: `Workspace.named_recipe_files`), parsed, or the error that keeps it
        from loading. Each call looks at the files again, but parses only those that
        changed: a callable's lookup must cost little more than a `stat` per started recipe.
        Of `kind` only: a file whose bytes show it is none (`_may_be`) is left out unparsed,
        and the rest may still be of another kind. Shared by `endpoints` and `webhooks`,
        which look a call's or a delivery's recipe up in it."""
        found: list[tuple[str, Recipe | LpstudioError]] = []
        if names is None:
            paths = self.workspace.recipe_files()
            named = [(self.workspace.listed_name(path), path) for path in paths]
        else:
            named = self.workspace.named_recipe_files(names)
        for name, path in named:
            try:
                stat = path.stat()
            except OSError:  # gone since it was listed
                continue
            if kind is not None and not _may_be(kind, path, stat.st_mtime_ns, stat.st_size):
                continue
            try:
                found.append((name, _recipe_as_of(path, name, stat.st_mtime_ns, stat.st_size)))
            except RecipeError as exc:
                found.append((name, self.offer_restore(exc, name)))
            except LpstudioError as exc:
                found.append((name, exc))
        return found

    def _note_schedule_form(self, recipe: Recipe, started_at: str) -> None:
        """The schedule's form (cron, time zone) as it starts, for the schedulers
        (`scheduler.form_since`): an edit made before one first ticks counts from when one
        sees it (a time already past when edited fired, taken for a form held since the
        start)."""
        from .models import ScheduleForm
        from .scheduler import form_since

        trigger = recipe.metadata.get("trigger", {})
        with self.store.read() as s:
            seen = s.get(ScheduleForm, recipe.name)
        started = datetime.fromisoformat(started_at)
        cron, zone = trigger.get("cron", ""), trigger.get("timezone", "UTC")
        form_since(self.store, recipe.name, cron, zone, seen, started, self.store.now())

    def broken_started(self, name: str, problem: LpstudioError) -> RecipeError | None:
        """`broken` for a started recipe, else None (a stopped one serves no call)."""
        if saved_settings(self.store, name).get("state") != "started":
            return None
        return self.broken(name, problem, "started")

    def broken(self, name: str, problem: LpstudioError, state: str | None = None) -> RecipeError:
        """A recipe's notebook that broke since it was started or saved: the error its
        callers get (a bot's call, a webhook's sender: the recipe, not their request, is at
        fault; 503, which they retry). A fault in its trigger is named, with why: the
        trigger is the contract they read (an input schema's `$ref` that leads nowhere);
        any other names the recipe alone. Shared by `endpoints` and `webhooks`."""
        state = state or saved_settings(self.store, name).get("state", "stopped")
        field, fix = "recipe", f"its admin fixes {name} (`lpstudio recipes` shows why it is broken)"
        said = str(problem)  # its message and its fix
        if (problem.field or "").startswith(TRIGGER_FIELD):
            # Its fix in the fix alone: the server's log said it twice, message and fix.
            field, fix, said = (
                problem.field,
                f"its admin fixes {name}: {problem.fix}",
                problem.message,
            )
        return RecipeError(
            f"the {state} recipe {name} cannot be loaded: {said}", field=field, fix=fix
        )

    def endpoint_problem(self, name: str) -> dict[str, Any] | None:
        """Why a started callable recipe serves nothing (another holds its path), or None."""
        conflict = serving(self)[1].get(name)
        return conflict.to_dict() if conflict is not None else None

    def endpoints(self) -> list[dict[str, Any]]:
        """The started callable recipes, by endpoint path (a path two of them name is the
        one's that held it: see `endpoints._claim_order`), as the OpenAPI document
        describes them to API clients (`described`): a call is checked against `endpoint`'s
        schemas, as written."""
        served = list(serving(self)[0].values())
        if not served:
            return []
        secrets = self.held_secrets()
        return [self.described(e, secrets, kept=("path", "recipe", "call_timeout")) for e in served]

    def endpoint(self, path: str) -> dict[str, Any]:
        """The started callable recipe at `path`; unknown or stopped is a `NotFoundError`
        about `path` alone, told to an API client (`endpoints.endpoint`)."""
        from .endpoints import endpoint

        return endpoint(self, path)

    def webhook_id(self, recipe: str) -> str:
        """A webhook recipe's hook id: an HMAC of its name with the workspace key, so it
        cannot be guessed from the name and survives restarts."""
        from .webhooks import webhook_id

        return webhook_id(self.workspace, recipe)

    def receive_webhook(
        self,
        hook_id: str,
        headers: dict[str, str],
        body: bytes,
        credentials: Collection[str] = (),
        query: Mapping[str, list[str]] | None = None,
    ) -> tuple[Recipe, list[Job], bool]:
        """Queues a `webhook` job per event of a POST to a hook; the scheduler runs them once
        the recipe is started. A trigger that verifies checks the body's signature with its
        connection's secret (see `webhooks.webhook_trigger`): a wrong or missing one is a
        `SignatureError` on the signature header.
        A delivery repeated with the same delivery id (`Idempotency-Key`,
        `X-Shopify-Webhook-Id`...) queues nothing: it gets the first delivery's jobs and True
        (a `ConflictError` while the first is being queued, and a `DeliveryError` on the id's
        header if its body differs: 409; an id too long is a plain `InputError` on it: 400).
        A first delivery whose receiver died before queueing it is queued by the first
        redelivery past `CLAIM_LEASE`. `credentials`: lpstudio's own that the request carried
        (the Jupyter server's token), masked in its events as the workspace's secrets are
        (`kept_event`). Each job keeps the delivery's headers and `query` (its values by
        name, as sent) for its recipe, less its credentials (`webhooks.delivery_seen`)."""
        from .webhooks import receive_webhook

        return receive_webhook(self, hook_id, headers, body, credentials, query)

    @cached_property
    def api_clients(self) -> ApiClients:
        """The workspace's API clients (changes audited as this user); they are given only
        endpoints that callable recipes serve."""
        from .endpoints import started_paths

        return ApiClients(
            self.store,
            self.user,
            self.callable_paths,
            lambda: started_paths(self),
            self.refuse_held_secret,
        )

    def callable_paths(self) -> set[str]:
        """The endpoint path of every callable recipe that loads, started or not."""
        from .endpoints import callable_paths

        return callable_paths(self)

    @cached_property
    def calls(self) -> IdempotentCalls:
        """Callable requests claimed by their `Idempotency-Key`."""
        return IdempotentCalls(self.store)
