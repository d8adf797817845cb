"""Kernels started and connected ahead of jobs, each handed to exactly one job.

Starting a kernel (about 0.6 s) is almost all of a short recipe run; running its cells on
a kernel that is already started and connected takes milliseconds. A `KernelPool` keeps,
per kernel spec, `size` kernels that are started, connected (an `AsyncKernelClient` whose
IOPub subscription is known to be live) and idle. `take()` hands one to one job and
refills in the background; the job's runner shuts it down afterwards. A kernel is never
given back, so nothing a recipe does (variables, imports, monkey-patches, environment,
working directory) can reach another job. An empty pool answers None and the engine starts
a kernel the normal way.

Kernels are forked from a `ForkServer` when their spec runs ipykernel on this interpreter
in its standard form (the common case: `forkserver.forkable`), which costs a fraction of a
cold start; other specs of Python (launcher options, an environment only a new interpreter
reads) are pre-started the normal way, which still takes the start off the job's critical
path. Kernels of other languages are never pooled (`runs_python`).

A kernel that dies while it waits in the pool is noticed at once (its pidfd becomes
readable), discarded and replaced; `take()` checks again before handing one out.

Every kernel dies with the process that started it, even killed by `kill -9`: a forked one
with its fork server (`lpstudio.forkserver`), one started the normal way (here or for a
job the pool could not serve) with its guard (`GuardedProvisioner`), which kills its whole
process group, a wrapper's children too. Neither waits on the kernel: one that hangs while
it starts, or whose cell holds the GIL so that its own parent poller never runs, ends all
the same.

Each kernel is prepared in its own short-lived event loop (`asyncio.run`), closed before
the hand-out: the client's zmq sockets then register with the job's loop on first use
and no other loop is left watching them.

Pools are shared per process and per settings (`acquire`/`release`): the executors of
every `Studio` in a process that have the same settings share one pool and one fork
server, and the last `release` shuts them down.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import os
import select
import signal
import subprocess
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import zmq.asyncio
from jupyter_client.connect import KernelConnectionInfo
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager, NoSuchKernel
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning import LocalProvisioner
from jupyter_core.paths import jupyter_runtime_dir
from traitlets.log import get_logger

from . import kernelfiles
from .forkserver import (
    NOT_STARTED,
    ForkProvisioner,
    ForkServer,
    ForkServerError,
    forkable,
    readable,
)
from .workspace import KNOWN_SETTINGS

log = logging.getLogger("lpstudio.pool")

#: The ZeroMQ context of every pooled kernel's client: one I/O thread for all of them,
#: instead of one started with each kernel and stopped (joined) on the job's path as the
#: job ends. Never terminated: each client closes its own sockets (with no linger).
_CONTEXT = zmq.asyncio.Context()


class QuietOnStop(logging.LoggerAdapter):  # type: ignore[type-arg]
    """A logger for the kernel of one job, or of the pool, whose owner may stop it on purpose.

    The owner stops a kernel by killing it (a job's timeout or cancel) or by closing the
    fork server it starts from (the pool closing), and jupyter_client and nbclient then log
    errors as for any failure: "Kernel died while waiting for execute reply", "the fork
    server was closed". Once `stopped()` is true, records whose text holds `about` (any
    record, without it) are dropped: the owner says why it stopped. Before that, and for
    anything else, everything is logged."""

    def __init__(
        self, logger: logging.Logger, stopped: Callable[[], bool], about: str | None = None
    ) -> None:
        super().__init__(logger, {})
        self.stopped = stopped
        self.about = about

    def log(self, level: int, msg: Any, *args: Any, **kwargs: Any) -> None:
        if (
            self.isEnabledFor(level)
            and self.stopped()
            and (self.about is None or self.about in _text(msg, args))
        ):
            return
        super().log(level, msg, *args, **kwargs)


def _text(msg: Any, args: tuple[Any, ...]) -> str:
    """A log record's message, formatted as `LogRecord.getMessage` would."""
    try:
        return str(msg) % args if args else str(msg)
    except (TypeError, ValueError):
        return str(msg)


#: The `[kernels]` defaults, written once in the workspace's table of settings.
_KERNELS = KNOWN_SETTINGS["kernels"]


@dataclass(frozen=True)
class PoolSettings:
    """The `[kernels]` section of lpstudio.toml (see `Workspace.pool_settings`); its
    defaults, a pool's outside any workspace (`papermill --engine lpstudio` elsewhere)."""

    size: int = _KERNELS["pool_size"].default
    preimport: tuple[str, ...] = _KERNELS["preimport"].default
    warm: tuple[str, ...] = _KERNELS["warm"].default
    fork: bool = _KERNELS["fork"].default
    start_timeout: float = 60.0


@dataclass
class ReadyKernel:
    """A started kernel with a connected client, owned by one job from `take()` on."""

    name: str
    km: AsyncKernelManager
    kc: Any
    pidfd: int | None = field(default=None, repr=False)
    # Its kernel_info reply: the output notebook's language_info, without asking again.
    info: dict[str, Any] | None = field(default=None, repr=False)
    # Forked from a prepared fork server: it binds a job's context from the metadata of
    # the job's first execute request (`lpstudio.forkserver.bind_requested`).
    prepared: bool = False
    # This process's environment when the kernel was started (`environ_changes`).
    environ: dict[str, str] = field(default_factory=dict, repr=False)

    def environ_changes(self) -> dict[str, str | None]:
        """What this process's environment changed since the kernel was started (None:
        unset), for the kernel to apply as it is handed out: a kernel started now would
        see the environment as it is now. The kernel spec's own `env` wins, as it does
        when a kernel starts. Nothing, at the cost of comparing two dicts, when nothing
        changed (the usual case)."""
        now = dict(os.environ)
        if now == self.environ:
            return {}
        own = self.km.kernel_spec.env if self.km.kernel_spec else {}
        changes: dict[str, str | None] = {
            key: value for key, value in now.items() if self.environ.get(key) != value
        }
        changes.update((key, None) for key in self.environ if key not in now)
        return {key: value for key, value in changes.items() if key not in own}


SPEC_TTL = 10.0  # seconds a kernel spec found on disk is used before it is looked up again
_specs: dict[tuple[str, tuple[str, ...]], tuple[float, dict[str, Any]]] = {}


def find_kernel_spec(manager: Any, kernel_name: str) -> KernelSpec:
    """The kernel spec of this name, looked up on disk at most every SPEC_TTL seconds
    (each lookup searches every Jupyter data folder: milliseconds per kernel)."""
    key = (kernel_name, tuple(manager.kernel_dirs))  # where it is looked for counts too
    now = time.monotonic()
    found = _specs.get(key)
    if found is None or found[0] < now:
        spec = manager.get_kernel_spec(kernel_name)
        fields = {**spec.to_dict(), "resource_dir": spec.resource_dir}
        found = _specs[key] = (now + SPEC_TTL, fields)
    return KernelSpec(**found[1])  # a copy per kernel manager


#: A kernel's guard (`GuardedProvisioner`): it waits for the end of its standard input,
#: whose other end only this process holds, then kills the kernel's process group.
GUARD = ["/bin/sh", "-c", 'read _; kill -9 -"$1"', "lpstudio-kernel-guard"]


class GuardedProvisioner(LocalProvisioner):
    """jupyter_client's local provisioner, whose kernel dies with this process, however
    this process ends.

    jupyter_client starts a kernel in a session of its own and counts on the kernel to
    notice its parent's death (ipykernel's parent poller, a thread): a kernel that hangs as
    it starts, or whose cell holds the GIL, outlived a killed `lpstudio run` or `serve` for
    hours, and so did a kernel spec's wrapper's children. A guard process per kernel
    (`GUARD`, in a session of its own: a terminal's Ctrl-C does not end it) kills the
    kernel's whole process group once this process's end of its standard input closes, as
    every descriptor does when a process dies. `PR_SET_PDEATHSIG` in the kernel (as forked
    kernels have it) would end the kernel alone, and would fire when the thread that
    started it ends (a pool's threads end as the pool closes, when jobs may still run on
    kernels they started).

    The guard ends with the kernel's resources (`cleanup`), and so does anything left in
    the kernel's process group: jupyter_client shuts a kernel down by interrupting its
    group and waiting for the kernel alone (nbclient does so for a kernel that did not
    answer in its start timeout), and a wrapper's child that ignores SIGINT, as a shell's
    background job does, was left running."""

    guard: subprocess.Popen[bytes] | None = None

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> KernelConnectionInfo:
        # Not this process's stdout (`lpstudio run --json`'s answer): a kernel's output
        # goes to its notebook (`lpstudio.kernel.streams`), as a forked kernel's does.
        kwargs.setdefault("stdout", subprocess.DEVNULL)
        info = await super().launch_kernel(cmd, **kwargs)
        if self.pgid is not None and self.pgid == self.pid:  # it leads its own group
            self.guard = subprocess.Popen(
                [*GUARD, str(self.pgid)],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        return info

    async def cleanup(self, restart: bool = False) -> None:
        guard, self.guard = self.guard, None
        if guard is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)  # its group: it led one (`launch_kernel`)
            guard.kill()
            guard.wait()
            assert guard.stdin is not None
            guard.stdin.close()
        await super().cleanup(restart)


def new_kernel_manager(
    kernel_name: str, server: ForkServer | None = None, **kw: Any
) -> AsyncKernelManager:
    """A kernel manager on IPC sockets (no TCP port), launching through `server` when the
    spec allows it, else guarded (`GuardedProvisioner`) unless its spec names a provisioner
    of its own. Its sockets and its connection file (with the kernel's key) are named alike
    in this process's private folder (`kernelfiles`), never in the shared /tmp."""
    name = str(kernelfiles.kernel_path())
    km = AsyncKernelManager(
        kernel_name=kernel_name,
        transport="ipc",
        ip=name,
        connection_file=f"{name}.json",
        **kw,
    )
    km._kernel_spec = find_kernel_spec(km.kernel_spec_manager, kernel_name)
    km.kernel_id = str(uuid.uuid4())
    spec = km.kernel_spec
    if server is not None and forkable(spec.argv, spec.env):
        provisioner = ForkProvisioner(kernel_id=km.kernel_id, kernel_spec=spec, parent=km)
        provisioner.server = server
        km.provisioner = provisioner
        return km
    wanted = spec.metadata.get("kernel_provisioner", {})
    if wanted.get("provisioner_name", "local-provisioner") == "local-provisioner":
        config = wanted.get("config", {})
        km.provisioner = GuardedProvisioner(
            kernel_id=km.kernel_id, kernel_spec=spec, parent=km, **config
        )
    return km


def papermill_arguments(km: AsyncKernelManager) -> list[str]:
    """The options papermill's client (nbclient) gives the kernels it starts: the history
    of an IPython kernel in memory. A pooled kernel gets them too, and so is configured,
    and shows them in its sys.argv, as papermill's would be."""
    from nbclient import NotebookClient

    history = NotebookClient.ipython_hist_file.default_value
    return [f"--HistoryManager.hist_file={history}"] if km.ipykernel and history else []


def runs_python(spec: KernelSpec) -> bool:
    """Whether a kernel spec's kernels run Python (its `language`): lpstudio moves a pooled
    kernel to its notebook's folder and binds a job in it with Python code, which a kernel
    of another language cannot run."""
    return spec.language.lower().startswith("python")


def _never() -> bool:
    return False


async def wait_until_ready(
    km: AsyncKernelManager, kc: Any, timeout: float, stopped: Callable[[], bool] = _never
) -> dict[str, Any]:
    """Waits for a kernel_info reply and a live IOPub subscription; returns the reply.

    jupyter_client's `wait_for_ready` then waits for 0.2 s of IOPub silence; stale IOPub
    messages are harmless here (nbclient keeps only the replies to its own requests).
    `stopped` ends the wait (the pool closed: nobody wants the kernel any more).
    """
    deadline = time.monotonic() + timeout
    while True:
        if stopped():
            raise RuntimeError("the kernel pool closed while the kernel started")
        kc.kernel_info()
        with contextlib.suppress(Exception):  # queue.Empty on a timeout
            msg = await kc.shell_channel.get_msg(timeout=1)
            if msg["msg_type"] == "kernel_info_reply":
                with contextlib.suppress(Exception):
                    await kc.iopub_channel.get_msg(timeout=0.2)
                    kc._handle_kernel_info_reply(msg)
                    return msg
        if not await km.is_alive():
            raise RuntimeError("kernel died before replying to kernel_info")
        if time.monotonic() > deadline:
            raise RuntimeError(f"kernel did not answer in {timeout:g} s")


async def warm_up(
    km: AsyncKernelManager, kc: Any, timeout: float, stopped: Callable[[], bool] = _never
) -> None:
    """Runs nothing once in a kernel that waits for its job: a fresh kernel's first
    execution pays for what its shell builds lazily (its displayhook, its stdout's first
    write and flush), and a forked one for the memory pages it first writes to (each copied
    from the fork server's): a fifth of a short job's kernel time, now paid before the job
    comes. Not silent, so that the path a job's cells take is the one warmed (a silent
    `pass` left the first cell of each job 4 ms slower), but out of history: no name, no
    output, no execution count is left for the job to see. Like `wait_until_ready`, it
    ends as soon as the kernel dies or `stopped` says so, not at `timeout`: closing the
    pool (a one-shot `lpstudio run` that just refilled it) waits for no dead kernel."""
    msg_id = kc.execute('print(end="")', store_history=False)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if stopped():
            raise RuntimeError("the kernel pool closed during the kernel's warm-up")
        with contextlib.suppress(Exception):  # queue.Empty on a timeout
            wait = min(1.0, max(0.0, deadline - time.monotonic()))
            msg = await kc.shell_channel.get_msg(timeout=wait)
            if msg["parent_header"].get("msg_id") == msg_id:
                return
        if not await km.is_alive():
            raise RuntimeError("kernel died during its warm-up")
    raise RuntimeError(f"kernel did not run its warm-up in {timeout:g} s")


def discard(km: AsyncKernelManager, kc: Any = None) -> None:
    """Stops a kernel for good: its client, its process group, its files."""
    from .runner import shutdown_kernel

    if kc is not None:
        with contextlib.suppress(Exception):
            kc.stop_channels()
    try:
        shutdown_kernel(km)
    except Exception:
        log.exception("could not shut down kernel %s", km.kernel_id)


class KernelPool:
    """Ready kernels per kernel spec; see the module's docstring."""

    def __init__(self, settings: PoolSettings, cwd: str | None = None) -> None:
        self.settings = settings
        # The kernels' files' folder made now, and those of processes gone removed: a
        # server starting again sweeps what its killed predecessor left.
        kernelfiles.process_folder()
        self.cwd = cwd if cwd is not None else jupyter_runtime_dir()  # the fork server's
        self.server = ForkServer(settings.preimport, self.cwd) if settings.fork else None
        self._ready: dict[str, deque[ReadyKernel]] = {}
        self._starting: dict[str, int] = {}
        self._wanted: set[str] = set()
        self._python: dict[str, bool] = {}  # per spec, whether it is pooled (`_pools`)
        self._cond = threading.Condition()
        self._closed = False
        self._started = False
        self._served = False  # a kernel has been ready: the fork server is up
        self._server_failed = False
        self._workers = ThreadPoolExecutor(
            max(2, min(settings.size, 8)), thread_name_prefix="lpstudio-pool"
        )
        self._wake_r, self._wake_w = os.pipe()
        self._retired: list[int] = []  # pidfds the watcher closes once out of its select
        self._monitor = threading.Thread(
            target=self._watch, name="lpstudio-pool-watch", daemon=True
        )

    # -- public ------------------------------------------------------------------------

    def warm(self, kernel_names: tuple[str, ...] | list[str] | None = None) -> None:
        """Starts filling the pool (in the background) for these specs, or the settings'."""
        names = tuple(kernel_names) if kernel_names is not None else self.settings.warm
        self._want(names)
        for name in names:
            self._fill(name)

    def _want(self, names: tuple[str, ...]) -> None:
        names = tuple(name for name in names if self._pools(name))
        with self._cond:
            if self._closed:
                return
            if not self._started:
                self._started = True
                self._monitor.start()
            self._wanted.update(names)

    def take(self, kernel_name: str) -> ReadyKernel | None:
        """A ready kernel for one job, or None if none is ready (the caller starts one).

        Once the pool has served, a job that finds it empty while kernels are being
        prepared waits for the first of them. Until then (the first job of a process,
        unless `warm()` was called) the job starts its own kernel at once and the pool
        starts filling only when that job ends: a one-shot `lpstudio run` does not pay for
        a pool it will not use.

        While other kernels remain ready the refill waits for `replenish` (the end of the
        job): starting a kernel takes CPU from the job that just began.

        A kernel of another language than Python is never pooled (`runs_python`): it would
        wait in the pool's folder, and only Python code could move it to its notebook's."""
        if not self._pools(kernel_name):
            return None
        self._want((kernel_name,))
        found = None
        dead = []
        with self._cond:
            if self._served and not self._ready.get(kernel_name):
                # Under load a kernel being prepared is ready sooner than a new one would
                # be, and a new one would slow down those being prepared.
                self._cond.wait_for(
                    lambda: (
                        self._closed
                        or self._ready.get(kernel_name)
                        or not self._starting.get(kernel_name)
                    ),
                    self.settings.start_timeout,
                )
            queue = self._ready.get(kernel_name)
            while queue:
                entry = queue.popleft()
                if _alive(entry):
                    found = entry
                    break
                dead.append(entry)
            for entry in (*dead, *([found] if found else [])):
                self._retire(entry)
        for entry in dead:
            discard(entry.km, entry.kc)
        if self._served and (found is None or not self.ready_count(kernel_name)):
            self._fill(kernel_name)
        return found

    def replenish(self, kernel_name: str) -> None:
        """Brings this spec's kernels back to `size` (called when a job is done)."""
        self._fill(kernel_name)

    def manager(self, kernel_name: str) -> AsyncKernelManager:
        """An unstarted kernel manager for a job the pool could not serve: forked if the
        fork server is already up, else a normal start."""
        server = self.server
        if server is None or server.pid is None or self._server_failed:
            server = None
        return new_kernel_manager(kernel_name, server)

    def ready_count(self, kernel_name: str) -> int:
        with self._cond:
            return len(self._ready.get(kernel_name, ()))

    def wait_full(self, kernel_name: str, timeout: float) -> bool:
        """Blocks until `size` kernels of this spec are ready (benchmarks, tests); False at
        once for a spec the pool never pools."""
        self.warm((kernel_name,))
        with self._cond:
            return (
                self._cond.wait_for(
                    lambda: (
                        self._closed
                        or kernel_name not in self._wanted
                        or len(self._ready.get(kernel_name, ())) >= self.settings.size
                    ),
                    timeout,
                )
                and kernel_name in self._wanted
            )

    def close(self) -> None:
        """Shuts down every waiting kernel and the fork server. Kernels already handed
        out belong to their jobs; those being shut down after their job are waited for
        first, as a forked kernel dies with its fork server."""
        from .runner import wait_reaped

        with self._cond:
            if self._closed:
                return
            self._closed = True
            entries = [e for queue in self._ready.values() for e in queue]
            self._ready.clear()
            self._cond.notify_all()
        self._wake()
        if self._monitor.is_alive():
            self._monitor.join(timeout=5)
        wait_reaped()
        # The server first: a kernel being prepared then dies with it at once (its
        # preparation fails fast) instead of being waited for; one not started never is.
        if self.server is not None:
            self.server.close()
        self._workers.shutdown(wait=True, cancel_futures=True)
        for entry in entries:
            discard(entry.km, entry.kc)
        for fd in self._retired + [e.pidfd for e in entries if e.pidfd is not None]:
            os.close(fd)
        self._retired.clear()
        with self._cond:
            os.close(self._wake_r)
            os.close(self._wake_w)
            self._wake_r = self._wake_w = -1

    def _pools(self, kernel_name: str) -> bool:
        """Whether kernels of this spec are pooled: those of Python (`runs_python`) only;
        known once per spec (a look-up on disk costs a millisecond)."""
        pools = self._python.get(kernel_name)
        if pools is None:
            try:
                spec = find_kernel_spec(KernelSpecManager(), kernel_name)
            except NoSuchKernel:  # not installed: the job's own start fails, as papermill's
                return False
            pools = self._python[kernel_name] = runs_python(spec)
        return pools

    # -- filling ---------------------------------------------------------------------------

    def _fill(self, kernel_name: str) -> None:
        with self._cond:
            if self._closed or kernel_name not in self._wanted:
                return
            have = len(self._ready.get(kernel_name, ())) + self._starting.get(kernel_name, 0)
            missing = self.settings.size - have
            self._starting[kernel_name] = self._starting.get(kernel_name, 0) + max(missing, 0)
        for _ in range(missing):
            try:
                self._workers.submit(self._prepare_one, kernel_name)
            except RuntimeError:  # shut down meanwhile
                with self._cond:
                    self._starting[kernel_name] -= 1

    def _prepare_one(self, kernel_name: str) -> None:
        entry = None
        retry = False
        try:
            entry = asyncio.run(self._prepare(kernel_name))
        except Exception as exc:
            # The fork server's failure is said once, by the first to meet it; each kernel
            # it failed is started again, the normal way.
            retry = isinstance(exc, ForkServerError)
            with self._cond:
                said = retry and self._server_failed
                self._server_failed |= retry  # from now on, normal starts
            if not self._closed and not said:  # else stopped on purpose by `close()`
                log.warning("could not pre-start a %s kernel: %s", kernel_name, exc)
        with self._cond:
            self._starting[kernel_name] -= 1
            keep = entry is not None and not self._closed
            if keep:
                assert entry is not None
                self._ready.setdefault(kernel_name, deque()).append(entry)
                self._served = True
            self._cond.notify_all()
        if retry:
            self._fill(kernel_name)
        if keep:
            self._wake()
        elif entry is not None:
            if entry.pidfd is not None:
                os.close(entry.pidfd)
            discard(entry.km, entry.kc)

    def _is_closed(self) -> bool:
        return self._closed

    async def _prepare(self, kernel_name: str) -> ReadyKernel:
        server = None if self._server_failed else self.server
        # A start that `close()` cuts short is no failure to log (jupyter_client logs any),
        # nor is a fork server that did not start: `_prepare_one` says it once.
        quiet = QuietOnStop(
            QuietOnStop(get_logger(), lambda: self._closed), lambda: True, NOT_STARTED
        )
        km = new_kernel_manager(kernel_name, server, log=quiet)
        environ = dict(os.environ)
        await km.start_kernel(cwd=self.cwd, extra_arguments=papermill_arguments(km))
        kc = km.client(context=_CONTEXT)
        try:
            # No heartbeat thread per kernel: liveness is asked of the manager (its pidfd).
            kc.start_channels(hb=False)
            info = await wait_until_ready(km, kc, self.settings.start_timeout, self._is_closed)
            if info["content"].get("language_info", {}).get("name") == "python":
                await warm_up(km, kc, self.settings.start_timeout, self._is_closed)
            kc.allow_stdin = False
            pid = km.provisioner.pid  # type: ignore[union-attr]
            prepared = bool(getattr(km.provisioner, "prepared", False))
            return ReadyKernel(kernel_name, km, kc, os.pidfd_open(pid), info, prepared, environ)
        except BaseException:
            discard(km, kc)
            raise

    # -- watching ----------------------------------------------------------------------------

    def _wake(self) -> None:
        with self._cond, contextlib.suppress(OSError):
            if self._wake_w >= 0:  # closed: the number may belong to another file now
                os.write(self._wake_w, b"x")

    def _watch(self) -> None:
        """Replaces any waiting kernel whose process ends (its pidfd becomes readable)."""
        while True:
            with self._cond:
                if self._closed:
                    return
                fds = {
                    e.pidfd: (name, e)
                    for name, queue in self._ready.items()
                    for e in queue
                    if e.pidfd is not None
                }
            poller = select.poll()
            for fd in (self._wake_r, *fds):
                poller.register(fd, select.POLLIN)
            ready = [fd for fd, _ in poller.poll()]
            if self._wake_r in ready:
                os.read(self._wake_r, 4096)
            with self._cond:
                retired, self._retired = self._retired, []
            for fd in retired:
                os.close(fd)
            for fd in ready:
                if fd not in fds:
                    continue
                name, entry = fds[fd]
                with self._cond:
                    queue = self._ready.get(name)
                    if queue is None or entry not in queue:
                        continue  # taken meanwhile: its job owns it now
                    queue.remove(entry)
                log.warning("a waiting %s kernel died; replacing it", name)
                os.close(fd)
                entry.pidfd = None
                discard(entry.km, entry.kc)
                self._fill(name)

    def _retire(self, entry: ReadyKernel) -> None:
        """Leaves the entry's pidfd to the watcher to close (it may be in its select)."""
        if entry.pidfd is not None:
            self._retired.append(entry.pidfd)
            entry.pidfd = None
        self._wake()


def _alive(entry: ReadyKernel) -> bool:
    return entry.pidfd is not None and not readable(entry.pidfd, 0)


# -- one pool per process and settings ---------------------------------------------------

_shared: dict[PoolSettings, tuple[KernelPool, int]] = {}
_shared_lock = threading.Lock()


@atexit.register
def _close_all() -> None:
    """Pools of studios never closed: their kernels' files go too (the kernels and the
    fork server would end anyway, with this process)."""
    with _shared_lock:
        pools = [pool for pool, _ in _shared.values()]
        _shared.clear()
    for pool in pools:
        pool.close()


def acquire(settings: PoolSettings) -> KernelPool | None:
    """The process's pool for these settings (None when `size` is 0); pair with `release`."""
    if settings.size <= 0:
        return None
    with _shared_lock:
        pool, users = _shared.get(settings, (None, 0))
        if pool is None:
            pool = KernelPool(settings)
        _shared[settings] = (pool, users + 1)
        return pool


def release(pool: KernelPool) -> None:
    """Drops one user of a shared pool; the last one shuts it down."""
    with _shared_lock:
        _, users = _shared.get(pool.settings, (pool, 1))
        if users > 1:
            _shared[pool.settings] = (pool, users - 1)
            return
        _shared.pop(pool.settings, None)
    pool.close()


def active(settings: PoolSettings | None = None) -> KernelPool | None:
    """The pool some executor of this process holds for `settings` (or any, if None)."""
    with _shared_lock:
        if settings is not None:
            found = _shared.get(settings)
            return found[0] if found else None
        return next((pool for pool, _ in _shared.values()), None)
