"""A process killed with SIGKILL (an OOM kill, a crash) leaves its kernels' files behind:
each kernel's connection file, which holds its signing key, and its IPC sockets. They are
kept in a private folder of the process's own, never in the shared temporary folder, and
the next kernel pool to start removes those of processes that are gone, never a live
one's; a running pool removes those gone since as it refills, once a while has passed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lpstudio import kernelfiles
from lpstudio.pool import KernelPool, PoolSettings, discard

#: A studio whose pool holds its ready kernels: it prints one's connection file, then
#: waits for its standard input to close.
HOLDER = textwrap.dedent(
    """
    import sys
    from lpstudio.studio import Studio
    studio = Studio.open(sys.argv[1], user="alice")
    pool = studio.executor.kernels
    assert pool.wait_full("python3", 120)
    print(pool._ready["python3"][0].km.connection_file, flush=True)
    sys.stdin.read()
    studio.close()
    """
)


@pytest.fixture
def holders(ws: Path, tmp_path: Path) -> Iterator[list[subprocess.Popen[str]]]:
    """Studios started with their own runtime and temporary folders; any left is killed."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def start(ws: Path, tmp_path: Path, started: list[subprocess.Popen[str]]) -> tuple[int, Path]:
    """A studio holding ready kernels: its pid and one kernel's connection file."""
    (tmp_path / "tmp").mkdir(exist_ok=True)
    env = {
        **os.environ,
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "TMPDIR": str(tmp_path / "tmp"),
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(ws)],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    started.append(proc)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    assert line, f"the studio ended first (exit {proc.wait()})"
    return proc.pid, Path(line)


def kernel_files(folder: Path) -> set[str]:
    return {path.name for path in folder.iterdir()} if folder.exists() else set()


def test_a_killed_servers_kernel_files_go_when_the_next_pool_starts_and_a_live_ones_stay(
    ws: Path, tmp_path: Path, holders: list[subprocess.Popen[str]]
) -> None:
    killed_pid, killed_file = start(ws, tmp_path, holders)
    _, live_file = start(ws, tmp_path, holders)
    runtime = tmp_path / "runtime"
    for file in (killed_file, live_file):
        # Beside its sockets, in a folder only its user can enter, under lpstudio's own.
        assert file.parent.parent == runtime / "lpstudio"
        assert file.parent.stat().st_mode & 0o777 == 0o700
        assert file.stat().st_mode & 0o777 == 0o600
        info = json.loads(file.read_text())
        assert info["key"] and info["ip"] == str(file.with_suffix(""))
        assert {f"{file.stem}-{n}" for n in range(1, 6)} <= kernel_files(file.parent)
    assert not list((tmp_path / "tmp").iterdir())  # no key in the temporary folder

    os.kill(killed_pid, 9)
    holders[0].wait()
    assert killed_file.exists()  # nothing could remove it as it died
    live_before = kernel_files(live_file.parent)

    _, new_file = start(ws, tmp_path, holders)
    assert not killed_file.parent.exists()
    assert kernel_files(live_file.parent) >= live_before  # a live process's files stay
    assert new_file.exists() and new_file.parent != live_file.parent
    assert not list((tmp_path / "tmp").iterdir())

    # A clean end removes the process's own folder.
    for proc in holders[1:]:
        assert proc.stdin is not None
        proc.stdin.close()
        assert proc.wait(timeout=120) == 0
    assert not list((runtime / "lpstudio").iterdir())


def test_a_running_pool_removes_a_killed_runs_kernel_files_as_it_refills(
    ws: Path, tmp_path: Path, holders: list[subprocess.Popen[str]], monkeypatch: Any
) -> None:
    """A server's pool, long started, removes the folder of an `lpstudio run` killed beside
    it when it next starts a kernel after `SWEEP_EVERY`: not at each kernel, nor only
    at the server's restart."""
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    pool = KernelPool(PoolSettings(size=1))

    def refill() -> None:
        ready = pool.take("python3")
        assert ready is not None
        discard(ready.km, ready.kc)
        assert pool.wait_full("python3", 120)

    try:
        assert pool.wait_full("python3", 120)
        own = pool._ready["python3"][0].km.connection_file
        killed_pid, killed_file = start(ws, tmp_path, holders)
        os.kill(killed_pid, 9)
        holders[0].wait()

        refill()  # the last sweep was just now (the pool's start)
        assert killed_file.exists()

        monkeypatch.setattr(kernelfiles, "SWEEP_EVERY", 0.0)  # ... it is long ago
        refill()
        assert not killed_file.parent.exists()
        assert Path(own).parent.is_dir()  # the pool's own stays
    finally:
        pool.close()
