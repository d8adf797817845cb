"""The notebook each kernel of JupyterLab's server runs, as it is named now.

jupyter_server tells a kernel its notebook's path once, as it starts (`JPY_SESSION_NAME`). A
notebook renamed or moved in JupyterLab (File > Rename Notebook) keeps its kernel, which
went on taking the old path for its notebook: its recipe form showed no form, or the form of
a recipe created since at the old path, whose buttons then acted on that recipe. JupyterLab
tells the server of a rename by updating the notebook's session (`PATCH /api/sessions/ID`:
its path, then its name). `KernelNotebooks` keeps the path each session's kernel would be
told now in a file of the served workspace's `.runtime/` that only the server's user can
read (`workspace.session_file`), written when a session is made or changed and removed when
its kernel ends; the kernel reads its own there (`lpstudio.kernel.runtime.notebook_path`).
"""

from __future__ import annotations

import functools
import logging
import os
import uuid
from typing import TYPE_CHECKING, Any

from ..errors import LpstudioError
from ..workspace import runtime_folder, session_file

if TYPE_CHECKING:
    from .app import LpstudioApp

log = logging.getLogger("lpstudio.server.sessions")


class KernelNotebooks:
    """Keeps, for each kernel of a session manager's sessions, its notebook's path now."""

    def __init__(self, app: LpstudioApp) -> None:
        self.app = app
        self._written: set[str] = set()  # the kernels whose file this server wrote

    def install(self, session_manager: Any) -> None:
        """Wraps the instance's `create_session`, `update_session` and `delete_session`
        (jupyter_server has no hooks for sessions), as `ReadOnlyContents` wraps the contents
        manager's methods: each stays a coroutine function, as Jupyter's handlers await it."""
        sm = session_manager
        create, update, delete = sm.create_session, sm.update_session, sm.delete_session

        @functools.wraps(create)
        async def create_session(*args: Any, **kwargs: Any) -> Any:
            model = await create(*args, **kwargs)
            self.note(sm, model)
            return model

        @functools.wraps(update)
        async def update_session(session_id: str, **kwargs: Any) -> Any:
            done = await update(session_id, **kwargs)
            self.note(sm, await sm.get_session(session_id=session_id))
            return done

        @functools.wraps(delete)
        async def delete_session(session_id: str) -> Any:
            try:
                return await delete(session_id)
            finally:
                self.prune(sm)  # its kernel shut down with it

        sm.create_session, sm.update_session = create_session, update_session
        sm.delete_session = delete_session

    def note(self, session_manager: Any, model: dict[str, Any]) -> None:
        """Writes the path the session's kernel would be told now, as jupyter_server tells
        it (`get_kernel_env`); forgets kernels that ended since. Never raises: a session is
        never refused for it (its kernel then takes the path it started with)."""
        kernel_id, path = str((model.get("kernel") or {}).get("id")), model.get("path")
        try:
            uuid.UUID(kernel_id)  # Jupyter's ids: never a path out of the folder
            if isinstance(path, str):
                told = session_manager.get_kernel_env(path, model.get("name"))
                self._write(kernel_id, told["JPY_SESSION_NAME"])
        except (ValueError, OSError, LpstudioError) as exc:
            log.warning("lpstudio: the notebook path of kernel %s is not kept: %s", kernel_id, exc)
        self.prune(session_manager)

    def prune(self, session_manager: Any) -> None:
        """Removes the files of this server's kernels that ended (shut down, culled, died)."""
        for kernel_id in [k for k in self._written if k not in session_manager.kernel_manager]:
            self._remove(kernel_id)

    def close(self) -> None:
        """Removes every file this server wrote: its kernels end with it."""
        for kernel_id in list(self._written):
            self._remove(kernel_id)

    def _write(self, kernel_id: str, path: str) -> None:
        """Writes the file whole (a kernel never reads half a path), readable by the server's
        user alone, as `launch.token_file` writes JupyterLab's token: a path names a notebook
        and its folders, which other users of the machine are not to list."""
        workspace = getattr(self.app, "lpstudio_workspace", None)
        if workspace is None:
            return  # no workspace served: the server said why when it started
        target = session_file(workspace.root, kernel_id)
        runtime_folder(target.parent.parent)  # `.runtime`, refused if it broke since
        target.parent.mkdir(mode=0o700, exist_ok=True)
        written = target.with_name(f".{kernel_id}.tmp")
        fd = os.open(written, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(path)
        os.replace(written, target)
        self._written.add(kernel_id)

    def _remove(self, kernel_id: str) -> None:
        self._written.discard(kernel_id)
        workspace = getattr(self.app, "lpstudio_workspace", None)
        if workspace is not None:
            try:
                session_file(workspace.root, kernel_id).unlink(missing_ok=True)
            except OSError as exc:
                log.warning("lpstudio: kernel %s's notebook path not removed: %s", kernel_id, exc)
