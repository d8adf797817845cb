"""Versions and audit entries of the recipe changes made through Jupyter's contents API.

JupyterLab writes a notebook through Jupyter's contents API, which no lpstudio route sees:
runs, starts and settings saves made versions, and edits saved in between were lost for
good (two saves between runs left only the last, and the run's version named its runner).
`RecipeChanges.saved` is the contents manager's post-save hook: each save of a recipe that
loads is a version, authored by who saved it, once per distinct content (`Store.snapshot`).

Nor did the audit log see that API's changes: a recipe deleted, renamed or edited in the
file browser left no entry (a started recipe's delete was seen only in the scheduler's
auto-stop, under the scheduler's name). Each save that makes a version (new content, not an
autosave of the same) is audited `save_recipe` with it, a checkpoint restored over a recipe
as a save, and so is each recipe of a folder copied; a delete `delete_recipe` and a rename or
move `rename_recipe`, once done, for each recipe it took (a folder's each), under the person
who made the change.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_server import CallContext
from sqlalchemy.exc import DBAPIError

from ..errors import LpstudioError
from ..recipe import parsed
from ..redaction import scrub_text
from ..settings import saved_settings
from ..store import audit_in, first_line
from .readonly import guard, served_file

if TYPE_CHECKING:
    from ..recipe import Recipe
    from ..studio import Studio
    from ..workspace import Workspace
    from .app import LpstudioApp

log = logging.getLogger("lpstudio.server.saves")

#: One recipe's audit entry: its name, and the entry's detail.
Entry = tuple[str, dict[str, Any]]


class RecipeChanges:
    """Records the versions and audit entries of the recipes that the server's contents
    manager saves, deletes and renames."""

    def __init__(self, app: LpstudioApp) -> None:
        self.app = app
        # One thread, in the order of the changes: versions are listed by when they were
        # made, audit entries in the order they were done, and the IOLoop that runs the
        # hooks never waits on the store.
        self._recorder = ThreadPoolExecutor(1, thread_name_prefix="lpstudio-saves")

    def install(self, contents_manager: Any) -> None:
        """Registers the post-save hook, and wraps the instance's `delete`, `rename` and
        `restore_checkpoint` (Jupyter has hooks for saves only), as `ReadOnlyContents`
        does: each names the recipes it will change before, audited once it returned."""
        cm = contents_manager
        cm.register_post_save_hook(self.saved)
        guard(cm, "delete", lambda path: self._deleting(cm, path))
        guard(cm, "rename", lambda old_path, new_path: self._renaming(cm, old_path, new_path))
        guard(cm, "restore_checkpoint", lambda checkpoint_id, path: self._restoring(cm, path))
        # A folder's copy (the file browser's Copy, then Paste) writes its files without a
        # save; a notebook's copy is saved, and its hook records it. Jupyter's public `copy`
        # does not say where a folder went: its `_copy_dir` is given the new folder's path.
        guard(
            cm,
            "_copy_dir",
            lambda from_path, to_path_original, to_name, to_path: self._copying(cm, to_path),
        )

    def saved(self, os_path: str, model: dict[str, Any], contents_manager: Any) -> None:
        """Jupyter's post-save hook, run on the IOLoop once the file is written. It never
        raises: Jupyter answers a save whose hook raised with 500, the file written."""
        try:
            path = self._recipe_path(Path(os_path))
            if path is None:
                return
            # Read now: a later save could overwrite the file before the recorder reads it,
            # and this save's content would be lost, its author given to the next.
            text = path.read_text(encoding="utf-8")
            self._recorder.submit(self._record, path, text, self._changer())
        except (OSError, UnicodeDecodeError):
            return  # gone already, or no notebook: nothing a run could use
        except Exception as exc:  # a save is never refused for its version
            self._failed(f"the save of {os_path}", None, exc, "made no version")

    def close(self) -> None:
        """Records the changes still pending, then stops (before the studios are closed)."""
        self._recorder.shutdown(wait=True)

    def _workspace(self) -> Workspace | None:
        """The served workspace whose recipes are recorded (none: the server said why when
        it started; one whose store is down is tried, and its failure logged)."""
        workspace = getattr(self.app, "lpstudio_workspace", None)
        if workspace is None or (self.app.workspace_error is not None and not self.app.store_down):
            return None
        return workspace

    def _recipe_path(self, file: Path) -> Path | None:
        """The file, if it is a notebook under the served workspace's `projects/`
        (checkpoints aside, as `Studio.recipes` lists them)."""
        workspace = self._workspace()
        path = file.resolve()
        return path if workspace is not None and workspace.is_recipe_file(path) else None

    def _changer(self) -> str:
        """The lpstudio user the request in progress acts as, as the REST API names it
        (`LpstudioApp.user_name`). Jupyter keeps the request's handler in its call context
        for the hooks and methods, which are given none; a change made without a request
        (by the server itself) is the server's acting user's."""
        handler = CallContext.get(CallContext.JUPYTER_HANDLER)
        user = getattr(handler, "current_user", None)
        if user is None:
            return self.app.anonymous_user
        return self.app.user_name(user, handler.identity_provider)

    def _record(self, path: Path, text: str, user: str) -> None:
        """Stores the save's version, audited if it is one (new content, or content saved
        before made the newest again); none for a notebook that is no recipe or no longer
        loads (its save stands; the recipe list and its trigger's errors say what is wrong)."""
        name = self.app.lpstudio_workspace.recipe_name(path)
        try:
            recipe = parsed(text, name, path)
        except LpstudioError:
            return
        what = f"the save of {name}"
        if ":" in user:  # api:NAME and lpstudio:PROCESS act for no person (`no_person`)
            self._failed(what, user, "a user name holding ':' names no person", "made no version")
            return
        try:
            studio = self.app.studio_for(user)
            settings = _version_settings(studio, recipe)

            def audited(session: Any, version: str) -> None:
                audit_in(session, studio.user, "save_recipe", name, version=version)

            studio.store.snapshot(
                name, recipe.canonical_json, settings, studio.user, saved=True, then=audited
            )
        except Exception as exc:  # logged: the recorder's thread has no caller to tell
            self._failed(what, user, exc, "made no version")

    def _deleting(self, contents_manager: Any, path: str) -> Callable[[], None] | None:
        """The audit of a delete at `path`, once done: each recipe it takes (a folder's
        too, named in its entry)."""
        file = served_file(contents_manager, path)
        if file is None or self._workspace() is None:
            return None
        folder = {"folder": path.strip("/")} if file.is_dir() else {}
        entries = [(name, folder) for _, name in self._recipes_at(file) if name is not None]
        return lambda: self._submit_audit("delete_recipe", entries)

    def _renaming(
        self, contents_manager: Any, old_path: str, new_path: str
    ) -> Callable[[], None] | None:
        """The audit of a rename or move from `old_path` to `new_path`, once done: each
        recipe it moves (a folder's each), or that it makes by moving a notebook into
        `projects/`, from and to its path as Jupyter names it."""
        old, new = served_file(contents_manager, old_path), served_file(contents_manager, new_path)
        workspace = self._workspace()
        if old is None or new is None or workspace is None:
            return None
        was = dict(self._recipes_at(old, every_notebook=True))
        old_path, new_path = old_path.strip("/"), new_path.strip("/")

        def audit() -> None:
            entries = []
            for relative, name in was.items():
                moved = new.joinpath(relative) if relative else new
                try:
                    if name is None and self._recipe_path(moved) is None:
                        continue  # a notebook outside projects/ moved where no recipe is
                    target = name or workspace.recipe_name(moved)
                except (OSError, RuntimeError, ValueError):  # gone again, a symlink loop
                    continue
                joined = f"/{relative}" if relative else ""
                entries.append((target, {"from": old_path + joined, "to": new_path + joined}))
            self._submit_audit("rename_recipe", entries)

        return audit

    def _restoring(self, contents_manager: Any, path: str) -> Callable[[], None] | None:
        """A checkpoint restored over a recipe (File > Revert Notebook to Checkpoint) is
        written as a save is, once done: its version, audited as a save."""
        file = served_file(contents_manager, path)
        if file is None:
            return None
        return lambda: self.saved(str(file), {}, contents_manager)

    def _copying(self, contents_manager: Any, path: str) -> Callable[[], None] | None:
        """A folder copied to `path`: once done, each recipe in it is recorded as its save
        is (a version, audited `save_recipe`), where it had none and no entry."""
        if self._workspace() is None:
            return None

        def record() -> None:
            folder = served_file(contents_manager, path)
            if folder is None:
                return
            for relative, _ in self._recipes_at(folder):
                self.saved(str(folder / relative), {}, contents_manager)

        return record

    def _recipes_at(self, file: Path, every_notebook: bool = False) -> list[tuple[str, str | None]]:
        """The recipes at `file` (itself, or each under the folder), by their path from
        it ('' for itself), with their names; `every_notebook`, every other notebook there
        too, named None (moved, it may become a recipe)."""
        try:
            notebooks = [file] if file.is_file() else sorted(file.rglob("*.ipynb"))
        except (OSError, RuntimeError, ValueError):  # no file Jupyter could change
            return []
        found = []
        for notebook in notebooks:
            try:
                recipe = self._recipe_path(notebook)
            except (OSError, RuntimeError, ValueError):  # a symlink loop
                continue
            if recipe is None and not every_notebook:
                continue
            name = None if recipe is None else self.app.lpstudio_workspace.recipe_name(recipe)
            found.append(("" if notebook == file else notebook.relative_to(file).as_posix(), name))
        return found

    def _submit_audit(self, action: str, entries: list[Entry]) -> None:
        """Has the recorder audit `entries` under the request's user, after the changes
        submitted before. It never raises: the change is done, and answered as done."""
        if not entries:
            return
        try:
            self._recorder.submit(self._audit, action, entries, self._changer())
        except Exception as exc:  # a recorder closed as the server stops
            self._failed(_audit_of(action, entries), None, exc, "went unaudited")

    def _audit(self, action: str, entries: list[Entry], user: str) -> None:
        """Writes the entries, all or none."""
        what = _audit_of(action, entries)
        if ":" in user:  # as `_record`: no person to audit
            self._failed(what, user, "a user name holding ':' names no person", "went unaudited")
            return
        try:
            studio = self.app.studio_for(user)
            with studio.store.write() as session:
                for name, detail in entries:
                    audit_in(session, studio.user, action, name, **detail)
        except Exception as exc:  # logged: the recorder's thread has no caller to tell
            self._failed(what, user, exc, "went unaudited")

    def _failed(self, what: str, user: str | None, exc: Exception | str, outcome: str) -> None:
        """One entry in the server's log, the workspace's secrets masked: a user's name or a
        store's error may hold one."""
        level = logging.WARNING
        if isinstance(exc, str):
            reason = exc
        elif isinstance(exc, DBAPIError):  # the database's reason, not the statement's values
            reason = f"the store cannot be written: {first_line(exc)}"
        elif isinstance(exc, LpstudioError):
            reason = exc.message + (f"; fix: {exc.fix}" if exc.fix else "")
        else:  # lpstudio's own failure: its traceback, as tornado logs a handler's
            level, reason = logging.ERROR, "".join(traceback.format_exception(exc)).rstrip()
        by = f" by {user}" if user is not None else ""
        line = f"{what}{by} {outcome}: {reason}"
        log.log(level, scrub_text(line, self.app.held_secrets()))


def _audit_of(action: str, entries: list[Entry]) -> str:
    """Audit entries as the server's log names them."""
    return f"the {action} of {', '.join(name for name, _ in entries)}"


def _version_settings(studio: Studio, recipe: Recipe) -> dict[str, Any]:
    """The settings a job of the recipe would run with, as runs snapshot them: its next run
    then names this version instead of making its own. Settings that no longer fit the
    saved notebook are kept as saved: the version is still one to restore."""
    try:
        settings = studio.settings(recipe)
    except LpstudioError:
        settings = saved_settings(studio.store, recipe.name)
    return {key: settings.get(key, {}) for key in ("parameters", "connections")}
