"""Versions of the recipes Jupyter saves.

JupyterLab writes a notebook through Jupyter's contents API, which no lpstudio route sees:
runs, starts and settings saves made versions, and edits saved in between were lost for
good (two saves between runs left only the last, and the run's version named its runner).
`SavedVersions.saved` is the contents manager's post-save hook: each save of a recipe that
loads is a version, authored by who saved it, once per distinct content (`Store.snapshot`).
"""

from __future__ import annotations

import logging
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_server import CallContext
from sqlalchemy.exc import DBAPIError

from ..errors import LpstudioError
from ..recipe import parsed
from ..redaction import scrub_text
from ..settings import saved_settings
from ..store import first_line

if TYPE_CHECKING:
    from ..recipe import Recipe
    from ..studio import Studio
    from .app import LpstudioApp

log = logging.getLogger("lpstudio.server.saves")


class SavedVersions:
    """Records the version of each recipe saved through the server's contents manager."""

    def __init__(self, app: LpstudioApp) -> None:
        self.app = app
        # One thread, in the order of the saves: versions are listed by when they were
        # made, and the IOLoop that runs the hook never waits on the store.
        self._recorder = ThreadPoolExecutor(1, thread_name_prefix="lpstudio-saves")

    def saved(self, os_path: str, model: dict[str, Any], contents_manager: Any) -> None:
        """Jupyter's post-save hook, run on the IOLoop once the file is written. It never
        raises: Jupyter answers a save whose hook raised with 500, the file written."""
        try:
            path = self._recipe_path(os_path)
            if path is None:
                return
            # Read now: a later save could overwrite the file before the recorder reads it,
            # and this save's content would be lost, its author given to the next.
            text = path.read_text(encoding="utf-8")
            self._recorder.submit(self._record, path, text, self._saver())
        except (OSError, UnicodeDecodeError):
            return  # gone already, or no notebook: nothing a run could use
        except Exception as exc:  # a save is never refused for its version
            self._failed(os_path, None, exc)

    def close(self) -> None:
        """Records the saves still pending, then stops (before the studios are closed)."""
        self._recorder.shutdown(wait=True)

    def _recipe_path(self, os_path: str) -> Path | None:
        """The saved file, if it is a notebook under the served workspace's `projects/`
        (checkpoints aside, as `Studio.recipes` lists them)."""
        workspace = getattr(self.app, "lpstudio_workspace", None)
        if workspace is None or (self.app.workspace_error is not None and not self.app.store_down):
            return None  # no workspace served: the server said why when it started
        path = Path(os_path).resolve()
        return path if workspace.is_recipe_file(path) else None

    def _saver(self) -> str:
        """The lpstudio user the saving request acts as, as the REST API names it
        (`LpstudioApp.user_name`). Jupyter keeps the request's handler in its call context
        for the hook, which is given none; a save made without a request (by the server
        itself) is the server's acting user's."""
        handler = CallContext.get(CallContext.JUPYTER_HANDLER)
        user = getattr(handler, "current_user", None)
        if user is None:
            return self.app.anonymous_user
        return self.app.user_name(user, handler.identity_provider)

    def _record(self, path: Path, text: str, user: str) -> None:
        """Stores the save's version; none for a notebook that is no recipe or no longer
        loads (its save stands; the recipe list and its trigger's errors say what is wrong)."""
        name = self.app.lpstudio_workspace.recipe_name(path)
        try:
            recipe = parsed(text, name, path)
        except LpstudioError:
            return
        if ":" in user:  # api:NAME and lpstudio:PROCESS act for no person (`prepare_user`)
            self._failed(name, user, "a user name holding ':' names no person")
            return
        try:
            studio = self.app.studio_for(user)
            settings = _version_settings(studio, recipe)
            studio.store.snapshot(name, recipe.canonical_json, settings, studio.user, saved=True)
        except Exception as exc:  # logged: the recorder's thread has no caller to tell
            self._failed(name, user, exc)

    def _failed(self, what: str, user: str | None, exc: Exception | str) -> None:
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
        line = f"the save of {what}{by} made no version: {reason}"
        log.log(level, scrub_text(line, self.app.held_secrets()))


def _version_settings(studio: Studio, recipe: Recipe) -> dict[str, Any]:
    """The settings a job of the recipe would run with, as runs snapshot them: its next run
    then names this version instead of making its own. Settings that no longer fit the
    saved notebook are kept as saved: the version is still one to restore."""
    try:
        settings = studio.settings(recipe)
    except LpstudioError:
        settings = saved_settings(studio.store, recipe.name)
    return {key: settings.get(key, {}) for key in ("parameters", "connections")}
