"""Job history, read-only through Jupyter's contents API.

An output notebook opened in JupyterLab (Jobs panel, Open output) was an editable document:
its kernel filled metadata, the tab was marked changed and autosave wrote the notebook back
into `history/`, even over a job that was still writing it (a cancelled job's history was
rewritten with the snapshot taken at open). Only jobs write their history. JupyterLab saves
nothing whose contents model says `"writable": false` (its autosave checks `canSave`) and
offers Save As instead; the pre-save hook refuses whatever is sent anyway.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tornado.web import HTTPError

if TYPE_CHECKING:
    from .app import LpstudioApp


class ReadOnlyHistory:
    """Makes the served workspace's history folder read-only on one contents manager."""

    def __init__(self, app: LpstudioApp) -> None:
        self.app = app

    def install(self, contents_manager: Any) -> None:
        """Registers the pre-save hook and wraps the instance's `is_writable`.

        `FileContentsManager` sets a model's `writable` from `is_writable(path)` alone, and
        has no hook for the models it reads: the instance's method is wrapped (not the
        class replaced, which a brand may configure) so that history answers false. A
        contents manager without `is_writable` keeps its models; the hook still refuses."""
        contents_manager.register_pre_save_hook(self.refuse_save)
        writable: Callable[[str], bool] | None = getattr(contents_manager, "is_writable", None)
        if writable is None:
            return

        def is_writable(path: str) -> bool:
            return bool(writable(path)) and not self.in_history(path, contents_manager)

        contents_manager.is_writable = is_writable

    def refuse_save(
        self, model: dict[str, Any], path: str, contents_manager: Any, **_: Any
    ) -> None:
        """Jupyter's pre-save hook: a save into history answers 403 (Jupyter re-raises a
        hook's HTTPError), the file left as its job wrote it."""
        if self.in_history(path, contents_manager):
            raise HTTPError(
                403,
                "%s is in job history, which is read-only: only its job writes it. "
                "fix: File > Save Notebook As... to a folder under projects/ to keep an "
                "editable copy",
                path.strip("/"),
            )

    def in_history(self, path: str, contents_manager: Any) -> bool:
        """Whether the API path is inside the served workspace's history folder (a
        workspace that did not load has none)."""
        workspace = getattr(self.app, "lpstudio_workspace", None)
        root = getattr(contents_manager, "root_dir", None)
        if workspace is None or root is None:
            return False
        try:
            return workspace.is_history_file(Path(root, *path.strip("/").split("/")))
        except (OSError, RuntimeError, ValueError):  # a symlink loop, a null byte
            return False  # no file Jupyter could serve: it answers for it itself
