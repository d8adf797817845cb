"""Job history, and an operator's recipes, read-only through Jupyter's contents API.

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

An operator may not create, edit or delete recipes (`lpstudio.roles`: no `build`), and the
REST API refuses them, yet this API deleted, renamed, made and saved recipes for them (a
started callable recipe deleted stopped answering its bot, its only trace the scheduler's
auto-stop). The same guards refuse a change under `projects/` (or of a folder holding it) to
a caller whose role may not build, in `roles.refusal`'s words, and its models say
`"writable": false` to them. The caller is the request's user (Jupyter keeps its handler in
its call context); their role is read from the store once per request, in the extension's
threads before an async method runs (a sync contents manager reads it on the IOLoop, where
it does its own file work).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import weakref
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_server import CallContext
from sqlalchemy.exc import OperationalError
from tornado.web import HTTPError

from ..errors import LpstudioError
from ..roles import refusal
from ..store import unavailable
from ..workspace import Workspace
from .auth import ApiError, no_person

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
#: The permission a change under projects/ needs: the REST API's changes of recipes need it.
CHANGE_RECIPES = "build"

#: What a guard runs first with its method's arguments: it raises to refuse, or returns
#: what to do once the method has returned (None: nothing).
Check = Callable[..., Callable[[], None] | None]


class ReadOnlyContents:
    """Makes the served workspace's history folder read-only on one contents manager, and
    its `projects/` folder read-only to a caller whose role may not build."""

    def __init__(self, app: LpstudioApp) -> None:
        self.app = app
        # The role (or why none can be read) of each request in progress, by its handler.
        self._roles: weakref.WeakKeyDictionary[Any, str | LpstudioError | ApiError] = (
            weakref.WeakKeyDictionary()
        )

    def install(self, contents_manager: Any) -> None:
        """Registers the pre-save hook, and wraps the instance's `is_writable` and the
        methods of Jupyter's contents handlers that change files.

        `FileContentsManager` sets a model's `writable` from `is_writable(path)` alone, and
        has no hook for the models it reads nor for renames, deletes, copies or checkpoints:
        the instance's methods are wrapped (not the class replaced, which a brand may
        configure) so that history (and projects/, to a caller who may not build) answers
        false and is refused. `get` and `save` are wrapped too, to read the caller's role
        before `is_writable` and the pre-save hook need it. A method a contents manager
        lacks stays missing; the hook still refuses saves."""
        cm = contents_manager
        cm.register_pre_save_hook(self.refuse_save)
        for name, check in self._checks(cm).items():
            guard(cm, name, check, ready=self.know_caller)
        for name in ("get", "save"):
            guard(cm, name, None, ready=self.know_caller)
        writable: Callable[[str], bool] | None = getattr(cm, "is_writable", None)
        if writable is None:
            return

        def is_writable(path: str) -> bool:
            return bool(writable(path)) and self.refusal(path, cm, COPY_IT, "edit recipes") is None

        cm.is_writable = is_writable

    def _checks(self, contents_manager: Any) -> dict[str, Check]:
        """The refusals, each taking its method's arguments, by method. A checkpoint's
        delete stays allowed: it erases the lab's own copy (made before history was
        read-only), never what a job wrote or a recipe holds."""
        cm = contents_manager

        def rename(old_path: str, new_path: str) -> None:  # PATCH, a move in the browser
            self.refuse(old_path, cm, COPY_IT, "rename or move recipes", holding=True)
            self.refuse(new_path, cm, PUT_IT_ELSEWHERE, "rename or move recipes")

        def delete(path: str) -> None:
            self.refuse(path, cm, LET_PURGE_ERASE_IT, "delete recipes", holding=True)

        def new(model: Any = None, path: str = "") -> None:  # a PUT of a new file, an upload
            self.refuse(path, cm, PUT_IT_ELSEWHERE, "create recipes")

        def new_untitled(path: str = "", **_: Any) -> None:  # `path` is its folder
            self.refuse(path, cm, PUT_IT_ELSEWHERE, "create recipes")

        def copy(from_path: str, to_path: str | None = None) -> None:
            # Without a destination, Jupyter copies beside the original.
            into = from_path.strip("/").rpartition("/")[0] if to_path is None else to_path
            self.refuse(into, cm, PUT_IT_ELSEWHERE, "create recipes")

        def create_checkpoint(path: str) -> None:  # written in history's .ipynb_checkpoints
            self.refuse(path, cm, COPY_IT, "edit recipes")

        def restore_checkpoint(checkpoint_id: str, path: str) -> None:
            self.refuse(path, cm, COPY_IT, "edit recipes")

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
        """Jupyter's pre-save hook: a save into history, or an operator's under projects/,
        answers 403 (Jupyter re-raises a hook's HTTPError), the file left as it was."""
        self.refuse(path, contents_manager, COPY_IT, "edit recipes")

    def refuse(
        self, path: str, contents_manager: Any, fix: str, action: str, *, holding: bool = False
    ) -> None:
        """Raises the 403 of a change at `path` that `refusal` refuses. The message is
        formatted here: Jupyter's API answers an HTTPError's message without its arguments."""
        refused = self.refusal(path, contents_manager, fix, action, holding=holding)
        if refused is not None:
            raise Refused(403, refused)

    def refusal(
        self, path: str, contents_manager: Any, fix: str, action: str, *, holding: bool = False
    ) -> str | None:
        """Why a change at `path` is refused, as JupyterLab shows it; None when it is not.
        History (a folder it is in, `holding`) is refused to anyone, with `fix`; projects/
        (a folder it is in, `holding`) to a caller who may not `action` there."""
        name = path.strip("/")
        cm = contents_manager
        if self.in_history(path, cm):
            where = f"{name} is in job history"
        elif holding and name and self._related(path, cm, Workspace.holds_history):
            where = f"{name} holds job history"  # (Jupyter itself refuses the root's delete)
        else:
            return self._recipes_refusal(path, cm, action, holding)
        return f"{where}, which is read-only: only its jobs write it. fix: {fix}"

    def _recipes_refusal(
        self, path: str, contents_manager: Any, action: str, holding: bool
    ) -> str | None:
        """Why the caller may not `action` at `path`, under projects/ (or, `holding`, a
        folder projects/ is in): `roles.refusal`'s words, as the REST API says them."""
        name, cm = path.strip("/"), contents_manager
        if self._related(path, cm, Workspace.is_in_projects):
            where = f"{name} is in projects/"
        elif holding and name and self._related(path, cm, Workspace.holds_projects):
            where = f"{name} holds projects/"
        else:
            return None
        refused = self._caller_refusal(action)
        if refused is None:
            return None
        return f"{where}: {refused.message}. fix: {refused.fix}"

    def _caller_refusal(self, action: str) -> LpstudioError | ApiError | None:
        """Why the request's user may not `action` (None: they may, or no request asks: the
        server's own change). Their role is read once per request (`know_caller`)."""
        handler = CallContext.get(CallContext.JUPYTER_HANDLER)
        if getattr(handler, "current_user", None) is None:
            return None
        role = self._roles.get(handler)
        if role is None:  # a sync contents manager's: no thread read it before
            role = self._roles[handler] = self._role(handler)
        if not isinstance(role, str):
            return role
        return refusal(role, CHANGE_RECIPES, action)

    async def know_caller(self) -> None:
        """Reads the request's user's role in the extension's threads, once per request,
        before an async method needs it: the IOLoop never waits on the store."""
        handler = CallContext.get(CallContext.JUPYTER_HANDLER)
        if getattr(handler, "current_user", None) is None or handler in self._roles:
            return
        if getattr(self.app, "lpstudio_workspace", None) is None:
            return  # no workspace served: no projects/ to refuse
        loop = asyncio.get_running_loop()
        self._roles[handler] = await loop.run_in_executor(self.app.pool, self._role, handler)

    def _role(self, handler: Any) -> str | LpstudioError | ApiError:
        """The role of the request's user in the workspace, as the REST API reads it (a
        newcomer is given `users.default_role`), or why none can be read, which refuses
        their changes under projects/: a user name holding ':' (`no_person`) or refused
        as a user, a store that cannot be reached."""
        name = self.app.user_name(handler.current_user, handler.identity_provider)
        refused = no_person(name)
        if refused is not None:
            return refused
        try:
            return self.app.studio_for(name).role
        except LpstudioError as exc:
            return exc
        except OperationalError as exc:  # the database stopped, or stayed locked
            return unavailable(exc)

    def in_history(self, path: str, contents_manager: Any) -> bool:
        """Whether the API path is the served workspace's history folder or inside it."""
        return self._related(path, contents_manager, Workspace.is_in_history)

    def _related(
        self, path: str, contents_manager: Any, relation: Callable[[Workspace, Path], bool]
    ) -> bool:
        """Whether the API path's file stands in `relation` to the served workspace (a
        workspace that did not load has none)."""
        workspace = getattr(self.app, "lpstudio_workspace", None)
        file = served_file(contents_manager, path)
        if workspace is None or file is None:
            return False
        try:
            return relation(workspace, file)
        except (OSError, RuntimeError, ValueError):  # a symlink loop, a null byte
            return False  # no file Jupyter could serve: it answers for it itself


class Refused(HTTPError):
    """A contents-API refusal (each guard's and hook's here and in `lookalikes`), which
    JupyterLab shows as written. jupyter_server's API answer is `log_message`, which tornado
    gives with each '%' doubled (a logging format) when the error has no arguments: a name
    holding a percent-escape was said as `a%%2Fb`, a move to `history/50%off.ipynb` as
    `50%%off.ipynb`. tornado logs `get_message()`, the message as written, either way."""

    @property
    def log_message(self) -> str | None:
        return self._log_message


def served_file(contents_manager: Any, path: str) -> Path | None:
    """The file an API path names under the contents manager's root (None without one)."""
    root = getattr(contents_manager, "root_dir", None)
    if root is None:
        return None
    return Path(root, *path.strip("/").split("/"))


def guard(
    contents_manager: Any,
    name: str,
    check: Check | None,
    ready: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Makes the instance's method `name` call `check` with its arguments first, and what
    `check` returned once the method returned. An async method awaits `ready` before
    (what `check` reads that a thread looks up), and stays a coroutine function, which
    Jupyter's handlers await as they would the method (a sync one is awaited through
    `ensure_async`)."""
    method = getattr(contents_manager, name, None)
    if method is None:
        return
    checked: Check = check or _nothing_to_check
    if inspect.iscoroutinefunction(method):

        @functools.wraps(method)
        async def guarded_async(*args: Any, **kwargs: Any) -> Any:
            if ready is not None:
                await ready()
            then = checked(*args, **kwargs)
            result = await method(*args, **kwargs)
            if then is not None:
                then()
            return result

        setattr(contents_manager, name, guarded_async)
        return

    @functools.wraps(method)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        then = checked(*args, **kwargs)
        result = method(*args, **kwargs)
        if then is not None:
            then()
        return result

    setattr(contents_manager, name, guarded)


def _nothing_to_check(*_: Any, **__: Any) -> None:
    """A guard's check where its method is wrapped for `ready` alone."""
    return None
