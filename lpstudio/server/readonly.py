"""Job history, read-only through Jupyter's contents API.

An output notebook opened in JupyterLab (Jobs panel, Open output) was an editable document:
its kernel filled metadata, the tab was marked changed and autosave wrote the notebook back
into `history/`, even over a job that was still writing it (a cancelled job's history was
rewritten with the snapshot taken at open). Only jobs write their history. JupyterLab saves
nothing whose contents model says `"writable": false` (its autosave checks `canSave`) and
offers Save As instead; the pre-save hook refuses whatever is sent anyway.

The same API, which JupyterLab's file browser uses, renamed, moved, deleted, made and
uploaded files there too, and restored a checkpoint over an output notebook. Jupyter has
hooks for saves only: the contents manager's other methods that change files are guarded on
the instance, each refusing history with a 403 whose message (what JupyterLab shows) names
the path and the real way, a copy under `projects/` to change, the retention purge to erase.
Reading, and copying out of history, stay as they were.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tornado.web import HTTPError

from ..workspace import Workspace

if TYPE_CHECKING:
    from .app import LpstudioApp

#: The fix of a change, a move or a rename refused in history.
COPY_IT = (
    "copy it to a folder under projects/ (File > Save Notebook As..., or Copy, then Paste "
    "there, in the file browser) and change the copy"
)
#: The fix of a file refused as it would be made, uploaded, copied or moved into history.
PUT_IT_ELSEWHERE = "put it in a folder under projects/ instead"
#: The fix of a delete refused in history (README, `jobs.retention_days`).
LET_PURGE_ERASE_IT = (
    "lpstudio erases old history itself: a job's output notebook goes with its data once "
    "older than jobs.retention_days in lpstudio.toml (30 days by default; the scheduler "
    "purges daily), or at once with `lpstudio purge --older-than DAYS`"
)


class ReadOnlyHistory:
    """Makes the served workspace's history folder read-only on one contents manager."""

    def __init__(self, app: LpstudioApp) -> None:
        self.app = app

    def install(self, contents_manager: Any) -> None:
        """Registers the pre-save hook, and wraps the instance's `is_writable` and the
        methods of Jupyter's contents handlers that change files.

        `FileContentsManager` sets a model's `writable` from `is_writable(path)` alone, and
        has no hook for the models it reads nor for renames, deletes, copies or checkpoints:
        the instance's methods are wrapped (not the class replaced, which a brand may
        configure) so that history answers false and is refused. A method a contents
        manager lacks stays missing; the hook still refuses saves."""
        contents_manager.register_pre_save_hook(self.refuse_save)
        for name, check in self._checks(contents_manager).items():
            guard(contents_manager, name, check)
        writable: Callable[[str], bool] | None = getattr(contents_manager, "is_writable", None)
        if writable is None:
            return

        def is_writable(path: str) -> bool:
            return bool(writable(path)) and not self.in_history(path, contents_manager)

        contents_manager.is_writable = is_writable

    def _checks(self, contents_manager: Any) -> dict[str, Callable[..., None]]:
        """The refusals, each taking its method's arguments, by method. A checkpoint's
        delete stays allowed: it erases the lab's own copy (made before history was
        read-only), never what a job wrote."""
        cm = contents_manager

        def rename(old_path: str, new_path: str) -> None:  # PATCH, a move in the browser
            self.refuse(old_path, cm, COPY_IT, holding=True)
            self.refuse(new_path, cm, PUT_IT_ELSEWHERE)

        def delete(path: str) -> None:
            self.refuse(path, cm, LET_PURGE_ERASE_IT, holding=True)

        def new(model: Any = None, path: str = "") -> None:  # a PUT of a new file, an upload
            self.refuse(path, cm, PUT_IT_ELSEWHERE)

        def new_untitled(path: str = "", **_: Any) -> None:  # `path` is its folder
            self.refuse(path, cm, PUT_IT_ELSEWHERE)

        def copy(from_path: str, to_path: str | None = None) -> None:
            # Without a destination, Jupyter copies beside the original.
            into = from_path.strip("/").rpartition("/")[0] if to_path is None else to_path
            self.refuse(into, cm, PUT_IT_ELSEWHERE)

        def create_checkpoint(path: str) -> None:  # written in history's .ipynb_checkpoints
            self.refuse(path, cm, COPY_IT)

        def restore_checkpoint(checkpoint_id: str, path: str) -> None:
            self.refuse(path, cm, COPY_IT)

        return {
            "rename": rename,
            "delete": delete,
            "new": new,
            "new_untitled": new_untitled,
            "copy": copy,
            "create_checkpoint": create_checkpoint,
            "restore_checkpoint": restore_checkpoint,
        }

    def refuse_save(
        self, model: dict[str, Any], path: str, contents_manager: Any, **_: Any
    ) -> None:
        """Jupyter's pre-save hook: a save into history answers 403 (Jupyter re-raises a
        hook's HTTPError), the file left as its job wrote it."""
        self.refuse(path, contents_manager, COPY_IT)

    def refuse(self, path: str, contents_manager: Any, fix: str, *, holding: bool = False) -> None:
        """Raises the 403 of a change at `path` if it is in history (or, `holding`, if it
        is a folder history is in). The message is formatted here: Jupyter's API answers
        an HTTPError's message without its arguments."""
        name = path.strip("/")
        if self.in_history(path, contents_manager):
            where = f"{name} is in job history"
        elif holding and name and self._related(path, contents_manager, Workspace.holds_history):
            where = f"{name} holds job history"  # (Jupyter itself refuses the root's delete)
        else:
            return
        raise HTTPError(403, f"{where}, which is read-only: only its jobs write it. fix: {fix}")

    def in_history(self, path: str, contents_manager: Any) -> bool:
        """Whether the API path is the served workspace's history folder or inside it."""
        return self._related(path, contents_manager, Workspace.is_in_history)

    def _related(
        self, path: str, contents_manager: Any, relation: Callable[[Workspace, Path], bool]
    ) -> bool:
        """Whether the API path's file stands in `relation` to the served workspace's
        history (a workspace that did not load has none)."""
        workspace = getattr(self.app, "lpstudio_workspace", None)
        root = getattr(contents_manager, "root_dir", None)
        if workspace is None or root is None:
            return False
        try:
            return relation(workspace, Path(root, *path.strip("/").split("/")))
        except (OSError, RuntimeError, ValueError):  # a symlink loop, a null byte
            return False  # no file Jupyter could serve: it answers for it itself


def guard(contents_manager: Any, name: str, check: Callable[..., None]) -> None:
    """Makes the instance's method `name` call `check` with its arguments first. An async
    method stays a coroutine function, which Jupyter's handlers await as they would the
    method (a sync one is awaited through `ensure_async`)."""
    method = getattr(contents_manager, name, None)
    if method is None:
        return
    if inspect.iscoroutinefunction(method):

        @functools.wraps(method)
        async def guarded_async(*args: Any, **kwargs: Any) -> Any:
            check(*args, **kwargs)
            return await method(*args, **kwargs)

        setattr(contents_manager, name, guarded_async)
        return

    @functools.wraps(method)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        check(*args, **kwargs)
        return method(*args, **kwargs)

    setattr(contents_manager, name, guarded)
