"""`LpstudioApp`: the Jupyter server extension that serves the REST API of one workspace.

It runs inside JupyterLab's server, or alone as `lpstudio serve` (`lpstudio.server.serve`).
Jupyter decides who a user is; the workspace's store decides what their role allows.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

from jupyter_server.extension.application import ExtensionApp
from jupyter_server.utils import url_path_join
from traitlets import Bool, Float, Integer, Unicode, default

from .. import kernelfiles
from ..checks import composed
from ..endpoints import serving
from ..errors import LpstudioError, StoreUnavailable, StoreUnwritable
from ..leader import SCHEDULER, Presence, StoreLease
from ..models import Job
from ..recipe import DEFAULT_CALL_TIMEOUT, MAX_TIMEOUT
from ..runner import job_named
from ..scheduler import Scheduler, say_not_ready
from ..store import RUNNING, SCHEMA_HEAD, Store
from ..studio import API_PATH, Studio
from ..workspace import ENV_VAR, Workspace, current_user
from .auth import ApiError, RateLimits
from .lookalikes import LookAlikeNames
from .readonly import ReadOnlyContents
from .routes import ROUTES, Route, handlers
from .saves import RecipeChanges
from .serveonly import ServeOnlyServerApp
from .serverlog import mask_records, mask_request_lines
from .sessions import KernelNotebooks
from .unready import UnreadyHooks

#: The acting user of what no person does: API-client lookups and webhook jobs.
SERVICE_USER = "lpstudio:server"
#: How often, in seconds at most, requests make a server look at the store's schema.
STORE_LOOK_EVERY = 2.0
#: Seconds between two attempts to open a workspace whose store was unreachable (`open_late`).
STORE_RETRY_EVERY = 5.0
#: Seconds a stop waits, by default, beyond the longest wait it expects (`stop_timeout`).
STOP_MARGIN = 15.0
#: Seconds a stop gives the requests it cut short to send their 503 before it goes on.
CUT_ANSWER_SECONDS = 5.0
#: The `PageConfig` option (ui/src/context.ts) holding `LpstudioApp.max_output_view_bytes`.
PAGE_MAX_OUTPUT_VIEW = "lpstudioMaxOutputViewBytes"
#: Where Jupyter reads its token from as it starts (`IdentityProvider.token`'s default).
TOKEN_ENV = ("JUPYTER_TOKEN", "JUPYTER_TOKEN_FILE")


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
        DEFAULT_CALL_TIMEOUT,
        config=True,
        help="Seconds a callable recipe's caller waits for its answer before a 504 (the job "
        "goes on). A recipe's settings may set its own `call_timeout`. Conversation Builder "
        "gives up after 20 s.",
    )
    repeat_window = Float(
        60.0,
        min=0.0,
        config=True,
        help="Seconds after its job's end during which a call without an Idempotency-Key "
        "that repeats an earlier one (same API client, endpoint and body) is taken for its "
        "retry: it gets the first call's answer, or waits for its job, and runs nothing. "
        "Conversation Builder sends no key and retries within 20 s. A repeat of a call "
        "whose job is queued or runs joins it however late; once the recipe answered a "
        "call (its job succeeded, below 500), the same request is a new call. 0 runs every "
        "call.",
    )
    max_body_bytes = Integer(
        1 << 20,
        min=1,
        config=True,
        help="The largest body, in bytes, of a call to a callable recipe, of a webhook "
        "delivery, or of a run or test run over REST (its parameters and event); a larger "
        "one is refused (413) before any job starts.",
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
    max_output_view_bytes = Integer(
        8 << 20,
        min=1,
        config=True,
        help="The largest output notebook, in bytes, that is viewed rather than downloaded: "
        "the server renders one as HTML (GET /jobs/{id}/output.html) only up to this size, "
        "and refuses (413) a larger one before reading it, naming output.ipynb; the lab's "
        "Open output asks first, saying its size and offering its download. What a notebook "
        "costs to render depends on its outputs, not only its size: a 46 MB one (a 200,000-row "
        "table) took 80 s and 2 GB of the server's memory, and froze a browser tab for "
        "minutes. The server renders one notebook at a time.",
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

    stop_timeout = Float(
        None,
        allow_none=True,
        config=True,
        help="Seconds a stop of the server (SIGTERM; SIGINT without a terminal) waits for "
        "the requests in progress and the running jobs before it stops without them: a "
        "request still waiting on the server is answered 503 (ServerStopping, with "
        "Retry-After), one waiting for its job has its connection closed, and a job still "
        "running is left to the schedulers on the store, which end it as its worker is lost. "
        "Default: the longest call timeout in effect (call_timeout, or a started callable "
        "recipe's own) or the hosted scheduler's grace for its running jobs, whichever is "
        "longer, plus 15 s. A second signal stops the server at once.",
    )

    routes: tuple[Route, ...] = ROUTES

    @property
    def api_root(self) -> str:
        """Where clients find the API: under the server's base URL (`/user/NAME/` in
        JupyterHub), as every link, Location and fix it answers names it."""
        return url_path_join(self.serverapp.base_url, API_PATH)

    @property
    def largest_body_bytes(self) -> int:
        """The largest body any route takes: `lpstudio serve` refuses a larger one unread."""
        return max(self.max_body_bytes, self.max_package_bytes)

    #: The setting that named `workspace`, when its default was read from one
    #: ($LPSTUDIO_WORKSPACE): said, with its own fix, where it names no workspace, as the
    #: CLI and a kernel say it (`Workspace.load`).
    workspace_named_by: str | None = None

    @default("workspace")
    def _default_workspace(self) -> str:
        if os.environ.get(ENV_VAR):
            self.workspace_named_by = ENV_VAR
            return os.environ[ENV_VAR]
        return self.serverapp.root_dir if self.serverapp is not None else os.getcwd()

    @default("anonymous_user")
    def _default_anonymous_user(self) -> str:
        return current_user()

    def user_name(self, user: Any, identity_provider: Any) -> str:
        """The lpstudio user of a Jupyter user: their name (composed, as `Studio` keeps it),
        unless Jupyter has no names."""
        from jupyter_server.auth.identity import IdentityProvider, PasswordIdentityProvider

        if type(identity_provider) in (IdentityProvider, PasswordIdentityProvider):
            return composed(self.anonymous_user)
        return composed(str(user.username))  # one user however the IdP wrote its accents

    @classmethod
    def get_extension_package(cls) -> str:
        # The package whose `_jupyter_server_extension_points` names this app.
        return "lpstudio.server"

    def _refuse_bad_settings(self) -> None:
        """Start-up settings no server can work with, refused as Jupyter refuses its own (a
        log line naming the setting, exit 1): an extension's exception would only be logged
        while the server ran on without its API or scheduler. A lease of 0 or less would let
        every server lead in turn, NaN or infinity none ever (or keep a dead leader's for
        good); a call timeout of 0, below or NaN answered every call 504 at once; a stop
        timeout below 0 or NaN means nothing, infinity is the unbounded stop it ends; no
        threads or workers ran nothing."""
        seconds = "a number of seconds above 0"
        checks = (  # the setting, whether it works, what it takes, its default, an example
            ("scheduler_lease_seconds", 0 < self.scheduler_lease_seconds < math.inf, seconds, 30),
            ("call_timeout", 0 < self.call_timeout <= MAX_TIMEOUT, seconds, 15),
            ("repeat_window", 0 <= self.repeat_window < math.inf, "0 or more seconds", 60),
            (
                "stop_timeout",
                self.stop_timeout is None or 0 <= self.stop_timeout < math.inf,
                "0 or more seconds",
                "the longest call timeout plus 15",
                60,
            ),
            ("threads", self.threads >= 1, "a whole number of threads from 1", 16),
            (
                "scheduler_workers",
                self.scheduler_workers >= 1 or not self.scheduler,  # unused without it
                "a whole number from 1",
                2,
            ),
        )
        for name, good, what, usual, *example in checks:
            if not good:
                self.log.critical(
                    "lpstudio: LpstudioApp.%s %r cannot be used: give %s (default %s), "
                    "e.g. --LpstudioApp.%s=%s",
                    name,
                    getattr(self, name),
                    what,
                    usual,
                    name,
                    example[0] if example else usual,
                )
                self.exit(1)

    def initialize_settings(self) -> None:
        self._refuse_bad_settings()
        self._forget_token_source()
        self._log_through_the_server()
        self._studios: dict[str, Studio] = {}
        self._lock = threading.Lock()
        self.pool = ThreadPoolExecutor(self.threads, thread_name_prefix="lpstudio-api")
        self._on_the_line: set[asyncio.Task[Any]] = set()  # `_answer_before_stop`
        self._working: dict[asyncio.Future[Any], asyncio.Task[Any]] = {}  # `blocking`
        self._stopping = False
        self._cut = asyncio.Event()  # the stop no longer waits (`_cut_short`)
        #: Output notebooks are rendered as HTML one at a time (`max_output_view_bytes`).
        self.html_renders = asyncio.Semaphore(1)
        self.workspace_error: dict[str, Any] | None = None
        #: Its code, in the 503 answers: StoreUnwritable for a store it may not write (the
        #: workspace is active: its permissions are to mend), else NoWorkspace.
        self.workspace_error_code = "NoWorkspace"
        self.store_upgraded: str | None = None  # the schema a newer lpstudio left, once seen
        self._store_looked = -math.inf
        self._looking: asyncio.Future[None] | None = None  # `look_within`'s look, once begun
        #: The reasons of hooks not ready the log has said (`say_not_ready`).
        self.hooks_not_ready = UnreadyHooks()
        self._scheduler: Scheduler | None = None
        self._presence: Presence | None = None  # without a hosted scheduler (`Presence`)
        self._serving = False  # the server is up: a workspace opened later starts at once
        self._store_down = False  # the workspace failed to open on its store's connection
        self._opened_at = -math.inf
        self._opening = threading.Lock()
        self._open_workspace()
        self._tell_the_lab()
        mask_request_lines(self)
        contents = self.serverapp.contents_manager
        self.saves = RecipeChanges(self)
        self.saves.install(contents)
        LookAlikeNames(self).install(contents)
        ReadOnlyContents(self).install(contents)  # outermost: a refused change is not recorded
        self.kernel_notebooks = KernelNotebooks(self)  # a renamed notebook's kernel follows it
        self.kernel_notebooks.install(self.serverapp.session_manager)

    def _forget_token_source(self) -> None:
        """Drops `TOKEN_ENV` from the server's environment, once Jupyter read its token from
        them (read here, should it not have yet): every kernel (JupyterLab's, the kernel
        pool's, the fork server and its forks) and terminal inherits that environment, and
        a recipe run as a job printed the token, or the file it names, into its output
        notebook, which every role reads: the token logs in as the server's admin. Nothing
        the server starts has started yet: kernels start once it serves."""
        told = "a token" if self.server_token else "no token"  # read now, from them if set
        for name in TOKEN_ENV:
            os.environ.pop(name, None)
        self.log.debug("lpstudio: %s read (%s), dropped from the environment", TOKEN_ENV, told)

    def _tell_the_lab(self) -> None:
        """Gives JupyterLab's page the settings the studio's UI follows (its `PageConfig`):
        the size above which Open output asks before it loads a notebook into the tab."""
        page = self.serverapp.web_app.settings.setdefault("page_config_data", {})
        page[PAGE_MAX_OUTPUT_VIEW] = self.max_output_view_bytes

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
            given = self.workspace  # first: its default says what named it
            self.lpstudio_workspace = Workspace.load(given, named_by=self.workspace_named_by)
            self.limits = RateLimits(self.lpstudio_workspace.runtime / "api-rates.sqlite")
            self.studio_for(SERVICE_USER)  # fails now if the workspace was never activated
        except LpstudioError as exc:
            self.workspace_error = {"message": exc.message, "field": exc.field, "fix": exc.fix}
            unwritable = isinstance(exc, StoreUnwritable)
            self.workspace_error_code = "StoreUnwritable" if unwritable else "NoWorkspace"
            self._store_down = isinstance(exc, StoreUnavailable)  # opened once it answers
            # What is wrong, as the CLI's error says it: a folder that is a workspace may
            # still not be served (a store it cannot write, one never activated).
            self.log.warning("lpstudio: cannot serve %s: %s", self.workspace, exc)
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
        and the server that did start stood by for the lease's length. Its log is masked
        from now on (`mask_records`), once Jupyter's start-up lines gave the token it made,
        if it made one, to log in with."""
        mask_records(self)
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
        else:  # the store's schedulers run its schedules; it runs what it takes
            self._presence = Presence(self.service.store)
            self._presence.start()
            # Its hooks and callables refuse what a recipe not ready gets: said once, as the
            # hosted scheduler says it (`Scheduler.run_forever`).
            self.pool.submit(say_not_ready, self.service, self.log)

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

    async def look_within(self, wait: float) -> None:
        """`look_at_store`, given up after `wait` s (`calls.Late`), the look going on. One
        look at a time: a look that comes while another waits waits for that one, so a
        store that hangs holds one of the extension's threads, not one per health probe."""
        from .calls import within

        if self._looking is None or self._looking.done():
            self._looking = asyncio.ensure_future(self.blocking(self.look_at_store))
        await within(wait, self._looking)

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
                studio = Studio(
                    self.lpstudio_workspace,
                    user=user,
                    api_root=self.api_root,
                    credentials=(self.server_token,),
                    call_timeout=self.call_timeout,
                )
                self._studios[user] = studio
            return studio

    @property
    def server_token(self) -> str:
        """The Jupyter server's token (empty when it has none): a request's credential
        (`request_credentials`), refused as a recipe's input (`Studio.refuse_secrets`)."""
        provider = getattr(self.serverapp, "identity_provider", None)
        return str(getattr(provider, "token", "") or "")

    @property
    def service(self) -> Studio:
        return self.studio_for(SERVICE_USER)

    def held_secrets(self) -> frozenset[str]:
        """What nothing the server answers or logs may show: the workspace's secrets (its
        connections' and its store's password, as far as they can be read: none without a
        workspace, the store's password alone from a store that is down) and the server's
        token. Blocking: it reads the store."""
        found = {self.server_token} - {""}
        if self.workspace_error is None and hasattr(self, "lpstudio_workspace"):
            with contextlib.suppress(Exception):  # the store's own failure: its error says it
                service = self.service
                found |= service.store.secrets
                found |= service.held_secrets()
        return frozenset(found)

    async def blocking(self, func: Any, *args: Any, **kwargs: Any) -> Any:
        """Runs `func` in the extension's threads and awaits it; the request it serves is
        answered before the server stops (`_answer_before_stop`), or 503 once the stop no
        longer waits for it (`_cut_short`)."""
        if self._cut.is_set():
            raise server_stopping()
        self._answer_before_stop()
        loop = asyncio.get_running_loop()
        work = loop.run_in_executor(self.pool, functools.partial(func, *args, **kwargs))
        task = asyncio.current_task()
        if task is not None:
            self._working[work] = task
            work.add_done_callback(self._working.pop)
        try:
            return await work
        except asyncio.CancelledError:
            if self._cut.is_set() and task is not None and not task.cancelling():
                raise server_stopping() from None  # cut by the stop, not by its request
            raise

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

    def _stop_seconds(self) -> float:
        """How long a stop waits (`stop_timeout`): by default the longest a request or job
        it waits for is expected to take, plus STOP_MARGIN. Runs in a thread: it reads the
        started callable recipes' own call timeouts from the store."""
        if self.stop_timeout is not None:
            return self.stop_timeout
        longest = [self.call_timeout]
        if getattr(self, "_scheduler", None) is not None:
            longest.append(self._scheduler.grace_seconds)
        if self.workspace_error is None:
            try:
                served, _ = serving(self.service)
            except Exception as exc:  # a store down: the server's own timeout stands
                self.log.warning("lpstudio: the recipes' call timeouts unread: %s", exc)
            else:
                longest += [each["call_timeout"] or 0 for each in served.values()]
        return max(longest) + STOP_MARGIN

    async def _stop_gracefully(self, store: Store | None, deadline: float) -> None:
        """Stops as the scheduler daemon does on SIGTERM: takes no more work, puts the calls
        it accepted and has not started back in the queue (a scheduler on the store runs
        them, this server's once restarted), lets running jobs end, and answers the requests
        in progress, a bot's calls on the line among them (`_answer_the_line`). Its log
        names the jobs it put back and those it waits for, until the loop's `deadline`."""
        loop = asyncio.get_running_loop()
        scheduler = getattr(self, "_scheduler", None)
        if scheduler is not None:
            scheduler.stop()  # claims nothing more, the calls put back below included
        with self._lock:
            studios = list(self._studios.values())
        for studio in studios:
            released = await loop.run_in_executor(None, studio.executor.release_queued)
            if released:
                self.log.info(
                    "lpstudio: put job(s) %s back in the queue, not started: a scheduler on "
                    "the store runs them",
                    ", ".join(map(str, sorted(released))),
                )
        if scheduler is not None:
            # Running jobs finish within the grace period or are stopped (requeued when no
            # cell ran); the lease is freed.
            await loop.run_in_executor(None, self._scheduler_thread.join)
        held = await self._held(store)  # the scheduler's have ended: the server's own
        if held.running:  # as the scheduler daemon says it (`Scheduler.drain`), with the jobs
            self.log.info(
                "lpstudio: waiting up to %d s for %d running job(s): %s",
                math.ceil(max(0.0, deadline - loop.time())),
                len(held.running),
                named_jobs(held.running),
            )
        if held.queued:
            self.log.info(
                "lpstudio: not started, queued here: %s: each is cancelled, not started "
                "(a person's run, to run again)",
                named_jobs(held.queued),
            )
        await self._answer_the_line()
        if self._presence is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._presence.stop)
        saves = getattr(self, "saves", None)
        if saves is not None:  # the saves of the last moments are versions too
            await asyncio.get_running_loop().run_in_executor(None, saves.close)
        with self._lock:
            studios, self._studios = list(self._studios.values()), {}
        for studio in studios:
            await loop.run_in_executor(None, studio.close)

    async def _held(self, store: Store | None) -> Held:
        """The jobs this process runs or queued for itself (`Store.held_jobs`), read in a
        thread; none, said, from a store that does not answer."""
        held: Sequence[Job] = ()
        if store is not None:
            try:
                held = await asyncio.get_running_loop().run_in_executor(None, store.held_jobs)
            except Exception as exc:
                self.log.warning("lpstudio: the jobs this server runs unread: %s", exc)
        return Held(
            [job for job in held if job.status == RUNNING],
            [job for job in held if job.status != RUNNING],
        )

    def _cut_short(self, why: str) -> None:
        """Stops waiting: the requests waiting on the extension's threads are answered 503
        (`blocking`); a call waiting for its job has its connection closed with the server;
        a job still running is left to the schedulers on the store (its heartbeat stops
        with the process, its kernel dies with it: it is reaped as its worker is lost). The
        process ends once the server stopped (`_end_without_waiting`)."""
        if self._cut.is_set():
            return
        waiting = len(self._on_the_line)
        self.log.warning(
            "lpstudio: %s: stopping without waiting%s",
            why,
            f" for {waiting} request(s) in progress (those waiting on the server are answered 503)"
            if waiting
            else "",
        )
        self._cut.set()
        # Called as Python starts waiting at exit for the threads still at work (before
        # `concurrent.futures` joins its own): a job runs in one.
        threading._register_atexit(_end_without_waiting)
        for work in list(self._working):
            work.cancel()

    async def _say_left(self, store: Store | None) -> None:
        """Names in the log the jobs a cut stop leaves behind, to be ended by others."""
        held = await self._held(store)
        left = [f"{named_jobs(held.running)} running"] * bool(held.running)
        left += [f"{named_jobs(held.queued)} queued"] * bool(held.queued)
        if left:
            self.log.warning(
                "lpstudio: leaving %s: the schedulers on the store end %s as %s worker is lost",
                " and ".join(left),
                *(("it", "its") if len(held.running + held.queued) == 1 else ("them", "their")),
            )

    async def stop_extension(self) -> None:
        """Stops gracefully (`_stop_gracefully`) within `stop_timeout`, then without waiting
        (`_cut_short`): a service manager kills a server whose stop takes too long, and a
        Poll now on an app that never answers held the stop for its client's retries. A
        second stop (JupyterLab's server on a second signal) stops waiting at once."""
        if self._stopping:
            self._cut_short("told to stop again")
            return
        self._stopping = True
        loop = asyncio.get_running_loop()
        seconds = await loop.run_in_executor(None, self._stop_seconds)
        store = self.service.store if self.workspace_error is None else None
        graceful = asyncio.ensure_future(self._stop_gracefully(store, loop.time() + seconds))
        cut = asyncio.ensure_future(self._cut.wait())
        await asyncio.wait({graceful, cut}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        cut.cancel()
        if not graceful.done():
            self._cut_short(f"LpstudioApp.stop_timeout of {seconds:g} s passed")
            graceful.cancel()  # not left pending as the loop closes
            # Its line, and the 503s of the requests it cut, before the IOLoop stops.
            saying = asyncio.ensure_future(self._say_left(store))
            answering = set(self._working.values())
            await asyncio.wait({graceful, saying, *answering}, timeout=CUT_ANSWER_SECONDS)
        self.kernel_notebooks.close()
        self.pool.shutdown(wait=False)


class Held(NamedTuple):
    """The jobs a stopping server holds (`Store.held_jobs`), running and queued apart, as
    its log names them (`named_jobs`)."""

    running: list[Job]
    #: Queued for itself, not started.
    queued: list[Job]


def named_jobs(jobs: Sequence[Job]) -> str:
    """Jobs as a stopping server's log names them, with what the scheduler's log says of
    its own: `job 15 (ops/sleep.ipynb, manual by ada)`."""
    return ", ".join(map(job_named, jobs))


def _end_without_waiting() -> None:
    """Ends the process, its server stopped (JupyterLab's kernels and other extensions
    in their turn), without the work its stop cut short: Python would wait at exit for the
    threads still at it, a job's run (an hour, for a job of that timeout) or a request to
    an app that never answers, and a service manager kills the process mid-way. Its
    kernels' folder goes first (exit functions do not run): it holds their signing keys."""
    kernelfiles.remove_own()
    logging.shutdown()
    os._exit(0)


def server_stopping() -> ApiError:
    """What a request the stop cut short is answered: the server is going away, and its
    restart (or another server on the store) takes the request again."""
    return ApiError(
        503,
        "ServerStopping",
        "the server is stopping: it stopped waiting for this request before it was answered",
        fix="try again shortly (Retry-After), on this server once restarted or another one",
        headers={"Retry-After": "5"},
    )
