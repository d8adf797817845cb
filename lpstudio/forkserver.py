"""Fresh IPython kernels at the cost of a fork, instead of a Python start-up and imports.

A cold kernel starts a Python interpreter and imports IPython, ipykernel, zmq and whatever
the recipes need (pandas, httpx, lpstudio.kernel): about 0.5 CPU-seconds each. The fork
server is one helper process that pays those imports once, and builds what every kernel
builds alike (the kernel application's configuration and the IPython shell,
`prepare_kernel`), before it creates any zmq context or thread; then it forks one child per
kernel, which only opens its sockets and threads on the connection file it is given. Each
kernel is still a new process that serves one job: nothing passes from one kernel to the
next, since every child forks from the same pristine server, never from a kernel. Such a
kernel binds its job from the metadata of the job's first execute request
(`bind_requested`), so a job needs no separate bootstrap request.

Protocol: one JSON line per request on the server's stdin (`{"connection_file", "cwd",
"env", "argv"}`, `argv` the kernel's command line after the interpreter), one JSON line per
answer on its stdout (`{"pid"}` or `{"error"}`).

Lifetimes, so that nothing is left behind:

- the server runs in its own session (a terminal's Ctrl-C reaches the studio, which stops
  its jobs, not the server) and exits when its stdin closes, that is when the studio closes
  it or dies;
- each kernel leads its own process group (the runner kills the group on a timeout or a
  cancel), asks the kernel to SIGKILL it when the server dies (`PR_SET_PDEATHSIG`), and
  watches the server with ipykernel's parent poller as a second guard;
- the server ignores SIGCHLD, so the kernel reaps its dead children at once; the studio
  follows each kernel through a pidfd, which also makes signals safe from pid reuse;
- a kernel shut down by its shutdown request ends as a cold one does, for its notebook
  (`exit_shut_down`): its threads are waited for, its atexit functions run and the files
  it left open are flushed; a kernel that fails ends at once.

`ForkProvisioner` is the jupyter_client side: a `LocalProvisioner` whose launch asks the
server for a child instead of `Popen`, so ports, connection files, interrupt, kill and
poll keep jupyter_client's semantics.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import functools
import gc
import importlib
import importlib.util
import json
import os
import select
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from jupyter_client import localinterfaces
from jupyter_client.connect import KernelConnectionInfo
from jupyter_client.provisioning import LocalProvisioner

PR_SET_PDEATHSIG = 1

# What every kernel imports anyway: paid once in the server.
KERNEL_IMPORTS = (
    "ipykernel.kernelapp",
    "ipykernel.ipkernel",
    "ipykernel.debugger",  # imported by every IPythonKernel, with debugpy: about 0.13 s
    "lpstudio.kernel",
    "lpstudio.kernel.runtime",  # the job bootstrap
    "lpstudio.kernel.errors",  # installed by the job bootstrap
    "lpstudio.kernel.streams",  # every kernel's sys.stdout and sys.stderr
    "lpstudio.client",  # lpstudio.kernel.connection()
    # The first connection a job calls opens its delivery ledger in the store (SQLAlchemy):
    # about 0.3 s, which the opt-in template's one lookup paid on every call.
    "lpstudio.store",
)


class ForkServerError(RuntimeError):
    """The fork server could not start a kernel (it died, or refused the request)."""


#: How a `ForkServerError` of a server that could not start begins.
NOT_STARTED = "the fork server did not start"


#: The kernel spec's argv a fork of the server stands in for: ipykernel's launcher on the
#: connection file, and nothing else (an option would configure the kernel differently
#: from the server's prepared one, or be lost: `--IPKernelApp.exec_lines=...`).
LAUNCHERS = (["-m", "ipykernel_launcher"], ["-m", "ipykernel"])

# Environment variables read only as a process starts (by the interpreter: sys.path, the
# hash seed, the I/O encoding; by the dynamic loader; by the locale and time modules and by
# the numeric libraries the server imports, as they load): a fork inherits the server's
# values, whatever its environment says. A kernel spec that sets one otherwise is started
# as a new process.
START_ENV = ("PYTHON", "LD_", "LC_", "LANG", "TZ", "OMP_", "OPENBLAS_", "MKL_")

#: The matplotlib backend ipykernel chooses for a kernel whose environment names none
#: (`IPKernelApp.init_gui_pylab`), in MPLBACKEND, which matplotlib reads as it is imported.
KERNEL_MPLBACKEND = "module://matplotlib_inline.backend_inline"


def forkable(argv: list[str], env: dict[str, str] | None = None) -> bool:
    """True for a kernel spec that runs ipykernel on this very interpreter, in its standard
    form and with the environment a new interpreter would start alike: the only kind a fork
    of this server can stand in for, so that a forked kernel behaves as a cold one."""
    if argv[1:3] not in LAUNCHERS or argv[3:] != ["-f", "{connection_file}"]:
        return False
    if any(
        key.startswith(START_ENV) and value != os.environ.get(key)
        for key, value in (env or {}).items()
    ):
        return False
    exe = argv[0]
    if exe in ("python", "python3", "{python}"):
        return True
    with contextlib.suppress(OSError):
        return Path(exe).resolve() == Path(sys.executable).resolve()
    return False


class ForkServer:
    """The studio's handle on one fork server process. Thread-safe; `close()` ends it."""

    def __init__(
        self, preimports: list[str] | tuple[str, ...] = (), cwd: str | None = None
    ) -> None:
        self.preimports = list(preimports)
        self.cwd = cwd
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[str] | None = None
        self._booting: subprocess.Popen[str] | None = None  # importing, not yet ready
        self._closed = False

    def _start(self) -> subprocess.Popen[str]:
        if self._closed:
            raise ForkServerError("the fork server was closed")
        self._booting = proc = subprocess.Popen(
            [sys.executable, "-m", "lpstudio.forkserver", *self.preimports],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
            start_new_session=True,
            cwd=self.cwd,
        )
        assert proc.stdout is not None
        try:
            hello = json.loads(proc.stdout.readline() or "{}")
        finally:
            self._booting = None
        if "ready" not in hello:
            proc.kill()
            proc.wait()
            raise ForkServerError(f"{NOT_STARTED}: {hello.get('error', 'EOF')}")
        return proc

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self) -> None:
        """Starts the server now (it is otherwise started on the first `spawn`)."""
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._proc = self._start()

    def spawn(
        self, connection_file: str, cwd: str, env: dict[str, str], argv: list[str]
    ) -> tuple[int, bool]:
        """Forks a kernel on `connection_file`; returns its pid, and whether it was built on
        the server's prepared shell (and so binds a job from its first request). `argv` is
        its command line after the interpreter (`-m ipykernel_launcher -f ...`)."""
        request = json.dumps(
            {"connection_file": connection_file, "cwd": cwd, "env": env, "argv": argv}
        )
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._proc = self._start()
            proc = self._proc
            assert proc.stdin is not None and proc.stdout is not None
            try:
                proc.stdin.write(request + "\n")
                proc.stdin.flush()
                answer = json.loads(proc.stdout.readline() or "{}")
            except (OSError, ValueError) as exc:
                raise ForkServerError(f"the fork server failed: {exc}") from exc
        if "pid" not in answer:
            raise ForkServerError(f"the fork server refused: {answer.get('error', 'EOF')}")
        return int(answer["pid"]), bool(answer.get("prepared"))

    def close(self) -> None:
        """Ends the server; its kernels die with it (PR_SET_PDEATHSIG)."""
        self._closed = True
        booting = self._booting
        if booting is not None:  # do not wait for its imports: `spawn` then fails at once
            with contextlib.suppress(OSError):
                booting.kill()
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(OSError):
            assert proc.stdin is not None
            proc.stdin.close()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def readable(fd: int, timeout: float) -> bool:
    """Whether `fd` (a pidfd: the process ended) is readable within `timeout` seconds.
    poll, not select: a long-lived server's descriptors can pass select's 1024 limit."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(max(0, int(timeout * 1000))))


class ForkedProcess:
    """A kernel forked by the server, with the part of `Popen`'s API jupyter_client and
    the runner use. It is not our child: it is followed through a pidfd."""

    stdin = stdout = stderr = None

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        try:
            self._fd: int | None = os.pidfd_open(pid)
        except ProcessLookupError:  # already gone
            self._fd = None
            self.returncode = -signal.SIGKILL

    def _exited(self, timeout: float) -> bool:
        if self.returncode is not None:
            return True
        assert self._fd is not None
        if readable(self._fd, timeout):
            # Not our child: the exit status belongs to the fork server, which reaps it.
            self.returncode = -signal.SIGKILL
            self.close()
        return self.returncode is not None

    def poll(self) -> int | None:
        self._exited(0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if not self._exited(timeout if timeout is not None else 1e9):
            raise subprocess.TimeoutExpired(f"kernel {self.pid}", timeout or 0)
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.returncode is not None or self._fd is None:
            return
        with contextlib.suppress(ProcessLookupError):
            signal.pidfd_send_signal(self._fd, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def __del__(self) -> None:
        self.close()


class ForkProvisioner(LocalProvisioner):
    """jupyter_client's local provisioner, launching through a fork server."""

    server: ForkServer | None = None  # set by whoever creates it (the kernel pool)
    prepared = False  # the kernel was built on the server's prepared shell

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> KernelConnectionInfo:
        assert self.server is not None
        connection_file = self.parent.connection_file  # written by pre_launch
        env = dict(kwargs.get("env") or os.environ)
        cwd = str(kwargs.get("cwd") or os.getcwd())
        pid, self.prepared = self.server.spawn(connection_file, cwd, env, cmd[1:])
        self.process = ForkedProcess(pid)  # type: ignore[assignment]
        self.pid = self.pgid = pid  # each kernel leads its own process group
        self.cwd = cwd
        return self.connection_info

    async def cleanup(self, restart: bool = False) -> None:
        process = self.process
        if isinstance(process, ForkedProcess):
            process.close()
        await super().cleanup(restart)


# -- the server process ------------------------------------------------------------------


# Environment variables that decide where a kernel finds its configuration and profile: a
# kernel whose environment sets them differently from the server's is built from scratch.
CONFIG_ENV = (
    "HOME",
    "IPYTHONDIR",
    "JUPYTER_CONFIG_DIR",
    "JUPYTER_CONFIG_PATH",
    "JUPYTER_PLATFORM_DIRS",
    "JUPYTER_PREFER_ENV_PATH",
    "XDG_CONFIG_HOME",
)

# Modules a kernel imports while it builds its shell and its first cell runs.
SHELL_IMPORTS = (
    "IPython.core.completerlib",
    "IPython.core.debugger",
    "IPython.extensions.storemagic",
    "faulthandler",
    "sqlite3",
    "tornado.platform.asyncio",
)


def kernel_argv(server_pid: int) -> list[str]:
    """The options of every forked kernel (the connection file aside)."""
    return [
        f"--IPKernelApp.parent_handle={server_pid}",
        # History in memory: many short-lived kernels would otherwise contend for one
        # SQLite file in the profile folder.
        "--HistoryManager.hist_file=:memory:",
        # ipykernel sleeps 0.5 ms after each execution in case a client reads the reply
        # before the outputs; papermill's client waits for the outputs' end on IOPub.
        "--Kernel._execute_sleep=0",
    ]


def skip_empty_flushes() -> None:
    """ipykernel flushes stdout and stderr four times per execution, each a round trip to
    its IOPub thread even when nothing was written: a third of a trivial cell's CPU.
    Patched in forked kernels to return at once when the stream holds nothing; output
    still leaves in order, since everything bound for IOPub goes through the one thread."""
    from ipykernel.iostream import OutStream

    if not hasattr(OutStream, "_rotate_buffers"):
        return  # another ipykernel layout: leave it alone
    flush = OutStream.flush

    def flush_if_written(self: OutStream) -> None:
        if getattr(self, "_buffers", True):
            flush(self)

    OutStream.flush = flush_if_written  # type: ignore[method-assign]


class MainThreadShell:
    """Stands for ipykernel 7's shell channel thread in a forked job kernel, which has none:
    that thread takes each shell message and hands it to the main thread over an inproc
    socket (and the reply back), a quarter of a trivial cell's kernel CPU, for subshells
    that papermill never asks for. The kernel then reads its shell socket in the main
    thread, as ipykernel does without the thread; this stand-in is false (no thread, no
    subshells) but names the main thread where ipykernel asks which thread is the
    shell's (a cell with top-level `await` does)."""

    def __init__(self) -> None:
        self.parent_thread = threading.current_thread()

    def __bool__(self) -> bool:
        return False


def without_shell_channel_thread() -> bool:
    """Makes ipykernel take a false shell channel thread for "no subshells" (it tests for
    None in places, for truth in others). False if this ipykernel has no such thread, or
    not where this was written for: its kernels are then left as they are."""
    from ipykernel.kernelapp import IPKernelApp
    from ipykernel.kernelbase import Kernel

    if not isinstance(getattr(Kernel, "_supports_kernel_subshells", None), property):
        return False
    if not hasattr(IPKernelApp, "shell_channel_thread"):
        return False
    Kernel._supports_kernel_subshells = property(  # type: ignore[assignment]
        lambda self: bool(self.shell_channel_thread)
    )
    return True


def started_here(shell: Any) -> None:
    """Makes IPython remember this folder as the one the kernel started in (`starting_dir`,
    and `_dh`, the folder history `%cd -` goes back through), as a kernel started in it
    would: a pooled kernel started in the pool's folder, then moved to its notebook's."""
    shell.starting_dir = os.getcwd()
    shell.history_manager.dir_hist[:] = [Path.cwd()]


def set_environ(changes: dict[str, str | None]) -> None:
    """Applies what the caller's environment changed since the kernel was started (None:
    unset): a pooled kernel sees it as it is when the kernel is handed out."""
    for key, value in changes.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def bind_requested() -> None:
    """A prepared kernel's `pre_execute` hook: the job's first execute request carries the
    job's folder, the caller's changes to the environment and the job's context in its
    metadata (`engine.StudioNotebookClient`), so no separate bootstrap request is needed.
    A kernel that cannot bind its job ends at once, before any of the job's code runs: the
    job fails as a dead kernel. Its folder gone is found before the job takes a kernel
    (`runner.FolderGone`), and said so."""
    from IPython import get_ipython

    shell = get_ipython()
    parent = shell.kernel.get_parent() if shell is not None and shell.kernel else None
    found = (parent or {}).get("metadata", {}).get("lpstudio")
    if not found:
        return
    try:
        os.chdir(found["cwd"])
        started_here(shell)
        set_environ(found.get("environ") or {})
        if found.get("context") is not None:
            import lpstudio.kernel

            lpstudio.kernel._bind(found["context"])
    except BaseException:
        import traceback

        traceback.print_exc(file=sys.__stderr__)
        os._exit(70)


def prepare_kernel(server_pid: int) -> Any:
    """Builds, once in the server, the part of a kernel that every kernel builds the same
    way and that holds no socket, thread or event loop: the application's configuration
    (command line, config files, profile) and the IPython shell. A child then only opens
    its sockets and threads and creates its `IPythonKernel` around the prepared shell:
    about 30 ms of CPU instead of 80. Each child gets its own copy of these objects (the
    fork copies them); the server never runs code in the shell, so every kernel starts
    from the same pristine one."""
    from ipykernel import debugger
    from ipykernel.kernelapp import IPKernelApp
    from IPython.core.application import BaseIPythonApplication

    from lpstudio.kernel import streams

    for name in SHELL_IMPORTS:
        importlib.import_module(name)
    # A kernel's connection settings default its address to this machine's localhost,
    # which jupyter_client finds once per process by importing psutil and listing the
    # network interfaces: 17 ms of CPU in every child, unless found here.
    localinterfaces.localhost()
    # A job kernel is never debugged (papermill does not), and building the debugger scans
    # every loaded module: about 5 ms per kernel.
    debugger._is_debugpy_available = False
    skip_empty_flushes()
    threadless = without_shell_channel_thread()
    app = IPKernelApp.instance()
    BaseIPythonApplication.initialize(app, kernel_argv(server_pid))
    if app.outstream_class == IPKernelApp.outstream_class.default_value:  # not configured
        app.outstream_class = streams.CLASS_NAME
    app.init_pdb()
    app.init_blackhole()
    shell_class = app.kernel_class.shell_class.default_value
    shell = shell_class.instance(
        parent=app,
        profile_dir=app.profile_dir,
        user_module=None,
        user_ns=app.user_ns,  # what the app passes on to its kernel, then to the shell
        kernel=None,
        compiler_class=app.kernel_class.compiler_class.default_value,
    )
    shell.events.register("pre_execute", bind_requested)
    app.lpstudio_threadless = threadless  # for `finish_kernel`, in each child
    return app


def finish_kernel(app: Any, connection_file: str) -> None:
    """In the child: `IPKernelApp.initialize` from where `prepare_kernel` stopped."""
    app.connection_file = connection_file
    app.init_connection_file()
    app.init_poller()
    app.init_sockets()
    threadless = getattr(app, "lpstudio_threadless", False)
    if threadless:
        app.shell_channel_thread = None  # built, never started: nothing of it runs
    app.init_heartbeat()
    app.write_connection_file()
    app.log_connection_info()
    app.init_io()
    app.init_signal()
    app.init_kernel()  # IPythonKernel takes the prepared shell (a singleton) ...
    if threadless:
        app.kernel.shell_channel_thread = MainThreadShell()
    shell = app.kernel.shell
    shell.kernel = shell.parent = app.kernel  # ... which it would have been built for
    # Exit functions run last registered first. A cold kernel's shell registers its own
    # (which releases the notebook's names: its open files flushed) after the sockets' and
    # threads' closing; the prepared shell's came before them, so a shut-down kernel shut
    # its sockets and joined its threads before the notebook's files were flushed, and one
    # slow at that (a loaded machine) was killed with them unwritten. Registered again here,
    # it runs where a cold kernel's does.
    atexit.unregister(shell.atexit_operations)
    atexit.register(shell.atexit_operations)
    started_here(shell)  # the kernel's folder, not the server's
    app.init_path()
    app.init_shell()
    app.init_gui_pylab()
    app.init_extensions()
    app.init_code()
    sys.stdout.flush()
    sys.stderr.flush()


def kernel_backend_default() -> None:
    """Chooses matplotlib's backend in the server as ipykernel does in a kernel, before the
    pre-imports: matplotlib fixes it from MPLBACKEND as it is imported, and a kernel cold
    imports it after ipykernel chose (figures inline), unless its environment names one.
    Chosen here rather than in each kernel: matplotlib's first check of the inline backend
    reads every installed package's entry points, about 25 ms."""
    if not os.environ.get("MPLBACKEND"):
        os.environ["MPLBACKEND"] = KERNEL_MPLBACKEND


def backend_of_kernel(server_backend: str | None) -> None:
    """In a child whose environment names another matplotlib backend than the server's
    (a kernel spec's `env`), sets it as matplotlib does from MPLBACKEND as it is imported.
    ipykernel has chosen its default by then (`init_gui_pylab`)."""
    matplotlib = sys.modules.get("matplotlib")
    wanted = os.environ.get("MPLBACKEND")
    if matplotlib is not None and wanted and wanted != server_backend:
        matplotlib.rcParams["backend"] = wanted


def same_config(env: dict[str, str]) -> bool:
    """Whether a kernel with this environment would find the server's configuration."""
    return all(env.get(key) == os.environ.get(key) for key in CONFIG_ENV)


@functools.cache
def launcher_file(module: str) -> str:
    """The file `python -m module` runs, which it names as sys.argv[0]."""
    spec = importlib.util.find_spec(module)
    if spec is not None and spec.submodule_search_locations is not None:  # a package
        spec = importlib.util.find_spec(f"{module}.__main__")
    return spec.origin if spec is not None and spec.origin else module


def death_signal(signum: int, parent: int) -> Callable[[], None]:
    """What a child of `parent` calls first (a fork's first step, a `preexec_fn`): Linux then
    sends it `signum` as `parent` dies (as the thread of it that started the child ends), by
    SIGKILL too; a child whose parent died before that, and so is watched by nobody, ends at
    once. `prctl` is looked up now, by the caller: the child of a process with threads must
    load no library."""
    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def die_with_parent() -> None:
        prctl(PR_SET_PDEATHSIG, signum)
        if os.getppid() != parent:  # it died between the fork and prctl
            os._exit(1)

    return die_with_parent


def kernel_sys_argv(argv: list[str]) -> list[str]:
    """The sys.argv of a kernel started cold as `python -m MODULE ARGS` (`argv`, which
    `forkable` vouches for): the module's file, then its arguments."""
    return [launcher_file(argv[1]), *argv[2:]]


def _child(
    request: dict[str, Any], server_pid: int, prepared: Any, use: bool, argv: list[str]
) -> NoReturn:
    """In the forked child: become a kernel on the requested connection file, and end as
    a kernel started cold ends once it is shut down (`exit_shut_down`). Never returns: any
    failure ends the child at once."""
    forked_with = set(sys.modules)
    server_backend = os.environ.get("MPLBACKEND")
    try:
        os.setsid()
        death_signal(signal.SIGKILL, server_pid)()
        for signum in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM, signal.SIGPIPE):
            signal.signal(signum, signal.SIG_DFL)
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, 0)
        # stdout was the answer pipe. A job's output goes to its notebook (`streams`),
        # never to the studio's stdout (`lpstudio run --json`'s answer).
        os.dup2(devnull, 1)
        os.close(devnull)
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        _fresh_randomness()
        connection_file = request["connection_file"]
        sys.argv = argv
        if use:
            app = prepared
            finish_kernel(app, connection_file)
        else:  # built from scratch, as `python -m ipykernel_launcher` would
            from ipykernel.kernelapp import IPKernelApp
            from ipykernel.zmqshell import ZMQInteractiveShell

            # Forget what the server prepared, or began to prepare before it failed.
            ZMQInteractiveShell.clear_instance()
            IPKernelApp.clear_instance()
            app = IPKernelApp.instance()
            app.initialize(["-f", connection_file, *kernel_argv(server_pid)])
        backend_of_kernel(server_backend)
        app.start()
    except BaseException:
        import traceback

        traceback.print_exc()
        with contextlib.suppress(BaseException):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(1)
    exit_shut_down(forked_with)


def _fresh_randomness() -> None:
    """A forked kernel draws random numbers of its own, as a cold one does. The standard
    library's `random` reseeds itself in a forked child; numpy's global generator, which a
    pre-import (pandas) loaded in the server, does not: every job drew the same "random"
    numbers (an A/B split's sample, a jitter). A string's hash stays the server's: an
    interpreter's hash seed is set at its start (README: Speed)."""
    generator = sys.modules.get("numpy.random")
    if generator is not None:
        generator.seed()  # from the operating system's entropy, as at numpy's import


def exit_shut_down(forked_with: set[str]) -> NoReturn:
    """Ends a kernel that was shut down (its shutdown request) as the interpreter's own
    exit would, as far as its notebook can tell: the notebook's threads are waited for and
    its atexit functions run (IPython's among them, which releases the notebook's names:
    the files it left open are flushed and closed), then the modules it imported are
    released too. `os._exit` alone lost all of that.

    Only the fork server's own objects, which the kernel shares with it page by page, are
    not torn down: the interpreter's teardown of them wrote to nearly every page, about
    55 ms of CPU per kernel against 5 for all of this (its atexit functions, mostly).
    multiprocessing's forked children end the same way (`threading._shutdown`, then
    `os._exit`)."""
    threading._shutdown()  # type: ignore[attr-defined]
    atexit._run_exitfuncs()
    for name in set(sys.modules) - forked_with:
        del sys.modules[name]
    gc.collect()  # the kernel's objects only: the server's are frozen (`serve`)
    with contextlib.suppress(BaseException):
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(0)


def serve(preimports: list[str]) -> None:
    """The server's main loop: imports, says ready, then forks a kernel per request."""
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # debugpy warns at import about frozen modules, as it does in any kernel; once is plenty.
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    out = sys.stdout
    kernel_backend_default()
    for name in (*KERNEL_IMPORTS, *preimports):
        try:
            importlib.import_module(name)
        except Exception as exc:  # a module that fails as it is imported, or is gone since
            said = f"cannot import {name}: {type(exc).__name__}: {exc}"
            if name in preimports and name not in KERNEL_IMPORTS:
                said += (
                    "; fix: correct or remove it in [kernels] preimport of the workspace's "
                    "lpstudio.toml (each job's kernel starts cold meanwhile)"
                )
            out.write(json.dumps({"error": said}) + "\n")
            out.flush()
            return
    server_pid = os.getpid()
    try:
        prepared = prepare_kernel(server_pid)
    except Exception:  # kernels are then built from scratch: slower, still right
        import traceback

        traceback.print_exc()
        prepared = None
    # Kernels never collect the server's objects: no copy-on-write of their pages.
    gc.freeze()
    # `-m` put the server's folder first on sys.path: a kernel has its own folder ('').
    if sys.path and sys.path[0] == os.getcwd():
        del sys.path[0]
    out.write(json.dumps({"ready": os.getpid()}) + "\n")
    out.flush()
    for line in sys.stdin:
        try:
            request = json.loads(line)
            for key in ("connection_file", "cwd", "env", "argv"):
                if key not in request:
                    raise ValueError(f"missing {key}")
            argv = kernel_sys_argv(request["argv"])
        except ValueError as exc:
            out.write(json.dumps({"error": str(exc)}) + "\n")
            out.flush()
            continue
        out.flush()
        sys.stderr.flush()
        use = prepared is not None and same_config(request["env"])
        pid = os.fork()
        if pid == 0:
            _child(request, server_pid, prepared, use, argv)
        out.write(json.dumps({"pid": pid, "prepared": use}) + "\n")
        out.flush()


if __name__ == "__main__":
    serve(sys.argv[1:])
