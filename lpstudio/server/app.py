"""`LpstudioApp`: the Jupyter server extension that serves the REST API of one workspace.

It runs inside JupyterLab's server, or alone as `lpstudio serve` (`lpstudio.server.serve`).
Jupyter decides who a user is; the workspace's store decides what their role allows.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Float, Integer, Unicode, default

from ..errors import LpstudioError, StoreUnavailable
from ..leader import SCHEDULER, StoreLease
from ..recipe import MAX_TIMEOUT
from ..scheduler import Scheduler
from ..store import SCHEMA_HEAD
from ..studio import Studio
from ..workspace import ENV_VAR, Workspace, current_user
from .auth import RateLimits
from .routes import ROUTES, Route, handlers
from .saves import SavedVersions
from .serveonly import ServeOnlyServerApp

#: The acting user of what no person does: API-client lookups and webhook jobs.
SERVICE_USER = "lpstudio:server"
#: How often, in seconds at most, requests make a server look at the store's schema.
STORE_LOOK_EVERY = 2.0
#: Seconds between two attempts to open a workspace whose store was unreachable (`open_late`).
STORE_RETRY_EVERY = 5.0


class LpstudioApp(ExtensionApp):
    """Serves `/lpstudio/api/v1/...` for the workspace named by `workspace`."""

    name = "lpstudio"
    description = "lpstudio: recipes, jobs, connections and callable recipes over REST"
    extension_url = "/lpstudio/api/v1/openapi.json"
    #: `lpstudio serve` is headless: only this extension, not JupyterLab's, in a server
    #: without Jupyter's own services (JupyterLab's server is made by JupyterLab).
    load_other_extensions = False
    serverapp_class = ServeOnlyServerApp

    workspace = Unicode(
        "",
        config=True,
        help="The lpstudio workspace folder. Default: $LPSTUDIO_WORKSPACE, else the server's "
        "root_dir.",
    )
    call_timeout = Float(
        15.0,
        config=True,
        help="Seconds a callable recipe's caller waits for its answer before a 504 (the job "
        "goes on). A recipe's settings may set its own `call_timeout`. Conversation Builder "
        "gives up after 20 s.",
    )
    repeat_window = Float(
        60.0,
        min=0.0,
        config=True,
        help="Seconds during which a call without an Idempotency-Key that repeats an earlier "
        "one (same API client, endpoint and body) is taken for its retry: it gets the first "
        "call's answer, or waits for its job, and runs nothing. Conversation Builder sends no "
        "key and retries within 20 s. A repeat of a call whose job still runs joins it "
        "however late; once the recipe answered a call (its job succeeded, below 500), the "
        "same request is a new call. 0 runs every call.",
    )
    max_body_bytes = Integer(
        1 << 20,
        min=1,
        config=True,
        help="The largest body, in bytes, of a call to a callable recipe or of a webhook "
        "delivery; a larger one is refused (413) before any job starts.",
    )
    max_package_bytes = Integer(
        64 << 20,
        min=1,
        config=True,
        help="The largest project package, in bytes, that an import through the REST API "
        "takes (the studio's Import package); a larger one is refused (413) before it is "
        "read. `lpstudio serve` refuses a body larger than this and max_body_bytes before "
        "reading it; in JupyterLab's server, Jupyter's ServerApp.max_body_size (512 MB) "
        "does. `lpstudio import` on the server takes any size.",
    )
    anonymous_user = Unicode(
        "",
        config=True,
        help="The lpstudio user that Jupyter's anonymous users act as. Jupyter's default "
        "identity provider (a single-user server with a token or password) gives each browser "
        "a random name; they are all the server's owner. Default: $LPSTUDIO_USER, else the OS "
        "user running the server, as on the command line.",
    )
    threads = Integer(
        16,
        config=True,
        help="Threads for store and kernel work, so that the server's IOLoop never waits.",
    )

    scheduler = Bool(
        True,
        config=True,
        help="Host the scheduler (schedules, polls, webhook and retry jobs) in this server. "
        "Servers that share a store elect one leader by a lease in the store; the others "
        "stand by and take over when the leader's lease expires. Turn off when "
        "`lpstudio scheduler` daemons run the store's jobs instead.",
    )
    scheduler_workers = Integer(2, config=True, help="Jobs the hosted scheduler runs at once.")
    scheduler_lease_seconds = Float(
        30.0,
        config=True,
        help="How long the scheduler lease lasts unless renewed (every second while "
        "leading): how long a dead leader's schedules wait before another server takes over.",
    )

    routes: tuple[Route, ...] = ROUTES

    @property
    def largest_body_bytes(self) -> int:
        """The largest body any route takes: `lpstudio serve` refuses a larger one unread."""
        return max(self.max_body_bytes, self.max_package_bytes)

    @default("workspace")
    def _default_workspace(self) -> str:
        root = self.serverapp.root_dir if self.serverapp is not None else os.getcwd()
        return os.environ.get(ENV_VAR) or root

    @default("anonymous_user")
    def _default_anonymous_user(self) -> str:
        return current_user()

    def user_name(self, user: Any, identity_provider: Any) -> str:
        """The lpstudio user of a Jupyter user: their name, unless Jupyter has no names."""
        from jupyter_server.auth.identity import IdentityProvider, PasswordIdentityProvider

        if type(identity_provider) in (IdentityProvider, PasswordIdentityProvider):
            return self.anonymous_user
        return str(user.username)

    @classmethod
    def get_extension_package(cls) -> str:
        # The package whose `_jupyter_server_extension_points` names this app.
        return "lpstudio.server"

    def _refuse_bad_settings(self) -> None:
        """Start-up settings no server can work with, refused as Jupyter refuses its own (a
        log line naming the setting, exit 1): an extension's exception would only be logged
        while the server ran on without its API or scheduler. A lease of 0 or less would let
        every server lead in turn, NaN or infinity none ever (or keep a dead leader's for
        good); a call timeout of 0, below or NaN answered every call 504 at once; no threads
        or workers ran nothing."""
        seconds = "a number of seconds above 0"
        checks = (
            ("scheduler_lease_seconds", 0 < self.scheduler_lease_seconds < math.inf, seconds, 30),
            ("call_timeout", 0 < self.call_timeout <= MAX_TIMEOUT, seconds, 15),
            ("repeat_window", 0 <= self.repeat_window < math.inf, "0 or more seconds", 60),
            ("threads", self.threads >= 1, "a whole number of threads from 1", 16),
            (
                "scheduler_workers",
                self.scheduler_workers >= 1 or not self.scheduler,  # unused without it
                "a whole number from 1",
                2,
            ),
        )
        for name, good, what, usual in checks:
            if not good:
                self.log.critical(
                    "lpstudio: LpstudioApp.%s %r cannot be used: give %s (default %s), "
                    "e.g. --LpstudioApp.%s=%s",
                    name,
                    getattr(self, name),
                    what,
                    usual,
                    name,
                    usual,
                )
                self.exit(1)

    def initialize_settings(self) -> None:
        self._refuse_bad_settings()
        self._log_through_the_server()
        self._studios: dict[str, Studio] = {}
        self._lock = threading.Lock()
        self.pool = ThreadPoolExecutor(self.threads, thread_name_prefix="lpstudio-api")
        self._on_the_line: set[asyncio.Task[Any]] = set()  # `_answer_before_stop`
        self._stopping = False
        self.workspace_error: dict[str, Any] | None = None
        self.store_upgraded: str | None = None  # the schema a newer lpstudio left, once seen
        self._store_looked = -math.inf
        self._scheduler: Scheduler | None = None
        self._serving = False  # the server is up: a workspace opened later starts at once
        self._store_down = False  # the workspace failed to open on its store's connection
        self._opened_at = -math.inf
        self._opening = threading.Lock()
        self._open_workspace()
        self.saves = SavedVersions(self)
        self.serverapp.contents_manager.register_post_save_hook(self.saves.saved)

    def _log_through_the_server(self) -> None:
        """lpstudio's own loggers (the hosted scheduler's line per job start and end, the
        retries, the pool's warnings) write through the server's log, as its lines: they had
        no handler, so Python printed their warnings bare and dropped the rest. Loggers
        that whoever embeds the server configured are left as they are."""
        ours = logging.getLogger("lpstudio")
        if ours.handlers or ours.level != logging.NOTSET:
            return
        for handler in self.serverapp.log.handlers:
            ours.addHandler(handler)
        ours.setLevel(logging.INFO)
        ours.propagate = False

    def _open_workspace(self) -> bool:
        """Opens the workspace; on failure keeps the error every request is answered with."""
        self._opened_at = time.monotonic()
        try:
            self.lpstudio_workspace = Workspace.load(Path(self.workspace).expanduser())
            self.limits = RateLimits(self.lpstudio_workspace.root / ".runtime" / "api-rates.sqlite")
            self.studio_for(SERVICE_USER)  # fails now if the workspace was never activated
        except LpstudioError as exc:
            self.workspace_error = {"message": exc.message, "field": exc.field, "fix": exc.fix}
            self._store_down = isinstance(exc, StoreUnavailable)  # opened once it answers
            self.log.warning("lpstudio: no workspace at %s: %s", self.workspace, exc)
            return False
        self.log.info("lpstudio: serving workspace %s", self.lpstudio_workspace.root)
        self.lease = StoreLease(self.service.store, SCHEDULER, self.scheduler_lease_seconds)
        self.workspace_error = None
        return True

    @property
    def store_down(self) -> bool:
        """The workspace did not open because its store could not be reached (yet)."""
        return self._store_down

    def open_late(self) -> None:
        """Opens, at most every STORE_RETRY_EVERY seconds, a workspace whose store could not
        be reached when the server started (a database server that starts after it, or is
        restarted with it): such a server answered 503 forever, and did not exit for a
        supervisor to restart it. Any other error stays until the server is restarted."""
        if not self._store_down or time.monotonic() - self._opened_at < STORE_RETRY_EVERY:
            return
        with self._opening:
            if self.workspace_error is None or not self._store_down:
                return  # opened by the request before
            if self._open_workspace() and self._serving:
                self._start_service()

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        """Once the server serves (its port bound, its start-up checks passed): a server
        refused at start took the scheduler's lease and fired due schedules as it exited,
        and the server that did start stood by for the lease's length."""
        with self._opening:
            self._serving = True
            if self.workspace_error is None:
                self._start_service()

    def _start_service(self) -> None:
        """Warms the kernel pool and starts the hosted scheduler."""
        self.service.executor.warm()  # callable recipes answer from ready kernels at once
        if self.scheduler:
            self._scheduler = Scheduler(
                self.service, workers=self.scheduler_workers, lease=self.lease
            )
            self._scheduler_thread = threading.Thread(
                target=self._scheduler.run_forever, name="lpstudio-scheduler", daemon=True
            )
            self._scheduler_thread.start()

    def store_look_due(self) -> bool:
        """Whether the store's schema is to be looked at again (`look_at_store`)."""
        return time.monotonic() - self._store_looked >= STORE_LOOK_EVERY

    def look_at_store(self) -> None:
        """Notes a schema a newer lpstudio upgraded the store to meanwhile (another machine
        upgraded first): this server then answers 503 rather than serve on with the studios
        it opened before, on a schema it cannot read."""
        revision = self.service.store.schema_revision()
        self._store_looked = time.monotonic()
        self.store_upgraded = None if revision == SCHEMA_HEAD else revision

    def scheduler_status(self) -> dict[str, Any]:
        """Whether this server hosts the scheduler, and which server leads."""
        if self.workspace_error is not None:
            return {"hosted": False, "leader": None, "expires_at": None, "is_leader": False}
        return {"hosted": self._scheduler is not None, **self.lease.status()}

    def initialize_handlers(self) -> None:
        self.handlers.extend(handlers(self.routes))

    def studio_for(self, user: str) -> Studio:
        """The workspace opened for one acting user (created on first sight, then kept)."""
        with self._lock:
            studio = self._studios.get(user)
            if studio is None:
                studio = Studio(self.lpstudio_workspace, user=user)
                self._studios[user] = studio
            return studio

    @property
    def service(self) -> Studio:
        return self.studio_for(SERVICE_USER)

    async def blocking(self, func: Any, *args: Any, **kwargs: Any) -> Any:
        """Runs `func` in the extension's threads and awaits it; the request it serves is
        answered before the server stops (`_answer_before_stop`)."""
        self._answer_before_stop()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, functools.partial(func, *args, **kwargs))

    @property
    def stopping(self) -> bool:
        """The server is told to stop: it starts no queued job any more."""
        return self._stopping

    def _answer_before_stop(self) -> None:
        """Has a stop of the server answer the running request before it shuts the threads
        and the store the answer needs, and Jupyter drops the connections: a bot's call
        waiting for its job was answered 500 without its job, or not at all."""
        task = asyncio.current_task()
        if task is not None and task not in self._on_the_line:
            self._on_the_line.add(task)
            task.add_done_callback(self._on_the_line.discard)

    async def _answer_the_line(self) -> None:
        """Waits until every request in progress is answered: a call within its call timeout
        (its job's answer, else the 504 naming the job), one put back in the queue at once
        (202 with the job)."""
        if self._on_the_line:  # said, or a stop waiting on a slow app looks hung
            self.log.info(
                "lpstudio: answering %d request(s) in progress before stopping (a call waits "
                "for its job or its call timeout, a Poll now for its app)",
                len(self._on_the_line),
            )
        while self._on_the_line:
            await asyncio.wait(set(self._on_the_line))

    async def stop_extension(self) -> None:
        """Stops as the scheduler daemon does on SIGTERM: takes no more work, puts the calls
        it accepted and has not started back in the queue (a scheduler on the store runs
        them, this server's once restarted), lets running jobs end, and answers the requests
        in progress, a bot's calls on the line among them (`_answer_the_line`)."""
        self._stopping = True
        scheduler = getattr(self, "_scheduler", None)
        if scheduler is not None:
            scheduler.stop()  # claims nothing more, the calls put back below included
        with self._lock:
            studios = list(self._studios.values())
        for studio in studios:
            await asyncio.get_running_loop().run_in_executor(None, studio.executor.release_queued)
        if scheduler is not None:
            # Running jobs finish within the grace period or are requeued; the lease is freed.
            await asyncio.get_running_loop().run_in_executor(None, self._scheduler_thread.join)
        await self._answer_the_line()
        saves = getattr(self, "saves", None)
        if saves is not None:  # the saves of the last moments are versions too
            await asyncio.get_running_loop().run_in_executor(None, saves.close)
        with self._lock:
            studios, self._studios = list(self._studios.values()), {}
        for studio in studios:
            await asyncio.get_running_loop().run_in_executor(None, studio.close)
        self.pool.shutdown(wait=False)
