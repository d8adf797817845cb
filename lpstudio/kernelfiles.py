"""Where a process's kernels keep their files, and how those of a dead process go.

Each kernel lpstudio starts has a connection file, which holds the kernel's signing key,
and five IPC socket files. jupyter_client writes the connection file to the system's
shared temporary folder unless told a path, and only a clean shutdown removes any of
them: a process killed with SIGKILL (an OOM kill, a crash) left them there for good.

So every process that starts kernels (a server, a worker, `lpstudio run`) keeps them in a
folder of its own, `<Jupyter's runtime folder>/lpstudio/<random>/`, private (0700),
on which it holds an exclusive `flock` as long as it lives. The kernel system drops the
lock when the process ends, however it ends; unlike a pid, it cannot be mistaken for a
live process of the same number (a reused pid, another pid namespace sharing the home
folder). The first kernel files of a process, and each kernel pool as it starts, remove
the folders whose lock nobody holds; so does a long-lived process's (a server's, a
worker's) next kernel once `SWEEP_EVERY` has passed, or an `lpstudio run` killed beside a
running server left its folder until the server's restart. The process's own goes at its
clean exit.

Names are short: a socket's path must fit in 107 bytes (`sockaddr_un`), and the runtime
folder's own path takes half of that in a deep home folder.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import itertools
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

from jupyter_core.paths import jupyter_runtime_dir

from .errors import WorkspaceError

#: The folder of lpstudio's kernel files in Jupyter's runtime folder.
FOLDER = "lpstudio"
#: Seconds after a sweep before a new kernel sweeps again: a pool's refill starts kernels
#: often, and each sweep opens and tries to lock every process's folder.
SWEEP_EVERY = 600.0

_lock = threading.Lock()
# This process's folders, one per runtime folder it used (`JUPYTER_RUNTIME_DIR` read at
# each call): the folder and the descriptor that holds its lock. A forked child finds its
# parent's pid here and makes its own.
_own: dict[Path, tuple[int, Path, int]] = {}
# When each runtime folder was last swept (`time.monotonic()`).
_swept: dict[Path, float] = {}


def base() -> Path:
    """The folder holding each process's folder."""
    return Path(jupyter_runtime_dir()) / FOLDER


def process_folder() -> Path:
    """This process's folder for its kernels' files, made (and the folders of processes
    that are gone removed) on the first call, and again if it was removed since; the
    folders of processes gone since are removed once `SWEEP_EVERY` has passed."""
    parent = base()
    with _lock:
        own = _own.pop(parent, None)
        if own is not None:
            if own[0] == os.getpid() and own[1].is_dir():
                _own[parent] = own
                if time.monotonic() - _swept[parent] >= SWEEP_EVERY:
                    _sweep_now(parent)
                return own[1]
            # A forked child's copy of its parent's lock (the parent keeps it), or a folder
            # removed by hand (the runtime folder cleared): another folder.
            os.close(own[2])
        try:
            parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            _sweep_now(parent)
            folder, fd = _locked_folder(parent)
        except OSError as exc:
            raise _unmade(parent, exc) from None
        _own[parent] = (os.getpid(), folder, fd)
        return folder


def _unmade(parent: Path, exc: OSError) -> WorkspaceError:
    """Why no kernel can start: its runtime folder cannot be made or written, as for a
    service user whose home is missing (`/nonexistent`). Said in one line with the fix
    (exit 2), not as a traceback whose exit 1 meant a job that failed."""
    return WorkspaceError(
        f"cannot make the kernels' runtime folder {parent}: {exc.strerror or exc}",
        field="JUPYTER_RUNTIME_DIR",
        fix="set JUPYTER_RUNTIME_DIR to a folder this user may write (in a systemd unit: "
        "RuntimeDirectory=lpstudio and Environment=JUPYTER_RUNTIME_DIR=%t/lpstudio), or give "
        "this user a home folder it may write",
    )


def kernel_path() -> Path:
    """A new kernel's name in this process's folder: its sockets are `<name>-1` to `-5`,
    its connection file `<name>.json`."""
    return process_folder() / str(next(_numbers))


_numbers = itertools.count(1)


def _sweep_now(parent: Path) -> None:
    """Sweeps `parent`, noting when (under `_lock`)."""
    _swept[parent] = time.monotonic()
    sweep(parent)


def _locked_folder(parent: Path) -> tuple[Path, int]:
    """A new private folder in `parent`, locked by this process. Another process's sweep
    may take it for a dead one's between its making and its locking: then another."""
    while True:
        folder = Path(tempfile.mkdtemp(prefix="", dir=parent))  # 0700
        try:
            fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        except FileNotFoundError:
            continue
        fcntl.flock(fd, fcntl.LOCK_EX)
        with contextlib.suppress(FileNotFoundError):
            if os.path.samestat(os.stat(folder), os.fstat(fd)):
                return folder, fd
        os.close(fd)


def sweep(parent: Path | None = None) -> list[Path]:
    """Removes the folders in `parent` (`base()`) whose process is gone: those whose lock
    nobody holds. A live process's folder, this one's too, is left alone. Returns those
    removed."""
    parent = parent if parent is not None else base()
    try:
        entries = list(os.scandir(parent))
    except FileNotFoundError:
        return []
    removed = []
    for entry in entries:
        if not entry.is_dir(follow_symlinks=False):
            continue
        try:
            fd = os.open(entry.path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except OSError:  # removed meanwhile by another sweep, or not ours to open
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # its process lives
            os.close(fd)
            continue
        try:
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(Path(entry.path))
        finally:
            os.close(fd)
    return removed


@atexit.register
def remove_own() -> None:
    """A clean exit removes the process's folders, after its pools closed (`pool` imports
    this module before it registers their closing: exit functions run last first); so does
    a server's exit that skips them (`server.app._end_without_waiting`)."""
    with _lock:
        owned = list(_own.values())
        _own.clear()
    for pid, folder, fd in owned:
        if pid == os.getpid():
            shutil.rmtree(folder, ignore_errors=True)
            os.close(fd)
