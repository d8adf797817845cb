"""Fixtures: a real workspace on disk, real recipe notebooks, the real CLI."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import nbformat
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import update
from traitlets.config import Config

from lpstudio import runner
from lpstudio.cli import main
from lpstudio.models import Job
from lpstudio.scheduler import Scheduler
from lpstudio.settings import update_settings
from lpstudio.store import Store
from lpstudio.studio import Studio

LPSTUDIO = str(Path(sys.executable).parent / "lpstudio")

#: jupyter_server's own fixtures (jp_serverapp, jp_fetch): the API tested inside a server.
pytest_plugins = ("pytest_jupyter.jupyter_server",)


def write_recipe(
    root: Path,
    name: str,
    parameters: str = "x: int = 1  # a number",
    cells: tuple[str, ...] = ("y = x * 2", "print(y)"),
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Writes a recipe notebook at projects/<name>.ipynb of the workspace at `root`."""
    nb = nbformat.v4.new_notebook()
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata.lpstudio = metadata if metadata is not None else {"title": name}
    params = nbformat.v4.new_code_cell(parameters)
    params.metadata.tags = ["parameters"]
    nb.cells = [params, *(nbformat.v4.new_code_cell(source) for source in cells)]
    path = root / "projects" / f"{name}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def set_setting(ws: Path, key: str, value: str) -> None:
    """Sets `key` (a line `lpstudio init` wrote in the workspace's lpstudio.toml) to `value`,
    as an admin edits it."""
    config = ws / "lpstudio.toml"
    lines = config.read_text().splitlines()
    assert any(line.startswith(f"{key} =") for line in lines), "written by init"
    config.write_text(
        "\n".join(f"{key} = {value}" if line.startswith(f"{key} =") else line for line in lines)
        + "\n"
    )


@pytest.fixture(autouse=True)
def _no_stop_left_in_this_process() -> Iterator[None]:
    """A CLI command run in this process installs its Ctrl-C and SIGTERM handlers, and a
    stop leaves the process's jobs stopped for good (by design: no job slips through): a
    test that stopped them would cancel every job of the tests after it in this worker."""
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    yield
    for sig, handler in handlers.items():
        signal.signal(sig, handler)
    runner.process_jobs._stop = None  # the test process's own state


@pytest.fixture(autouse=True)
def _empty_connector_caches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with the LivePerson connector's process caches empty: a sandbox or
    proxy that gets a port an earlier test's had must not be sent that test's token (the
    sandbox refuses it with a 401, which a test counting requests then sees)."""
    client = sys.modules.get("lpstudio_connectors.liveperson_proactive.client")
    if client is not None:
        for cache in ("_tokens", "_domains", "_pacers"):
            monkeypatch.setattr(client, cache, {})


@contextmanager
def read_only(path: Path) -> Iterator[None]:
    """`path` as a file this user may not write: immutable for root, whom no mode stops."""
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i", str(path)], check=True)
    else:
        path.chmod(0o444)
    try:
        yield
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        else:
            path.chmod(0o644)


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    """A fresh, activated workspace; alice is its admin."""
    root = tmp_path / "ws"
    Studio.init(root, accept_terms=True, admin="alice").close()
    return root


@pytest.fixture
def served_workspace(ws: Path) -> Path:
    """The workspace a test's Jupyter server serves: `ws`, unless a module names another."""
    return ws


@pytest.fixture
def jp_server_config(served_workspace: Path) -> Config:
    """pytest-jupyter's server configuration: lpstudio's extension on `served_workspace`."""
    from .servers import extension_config  # servers.py imports this module's helpers

    return extension_config(served_workspace)


@pytest.fixture
def sandbox() -> Iterator[Any]:
    """The LivePerson and Shopify emulators on loopback."""
    from lpstudio.sandbox import Sandbox

    with Sandbox() as running:
        yield running


@pytest.fixture
def control(sandbox: Any) -> Iterator[Any]:
    """An HTTP client for the sandbox's control API (`/_sandbox/...`)."""
    import httpx

    with httpx.Client(base_url=sandbox.url, timeout=10) as http:
        yield http


@pytest.fixture
def sandbox_ws(tmp_path: Path, sandbox: Any) -> Path:
    """A workspace whose `liveperson` and `shopify` connections point at the sandbox."""
    root = tmp_path / "sandboxed"
    Studio.init(root, accept_terms=True, admin="alice", sandbox=sandbox.url).close()
    return root


@pytest.fixture
def studio(ws: Path) -> Iterator[Studio]:
    with Studio.open(ws, user="alice") as opened:
        yield opened


@contextmanager
def full_pool(root: Path) -> Iterator[Studio]:
    """A studio of this process on the workspace at `root` whose pool of python3 kernels,
    forked on the fork server's prepared shell, is full: a job takes a ready kernel."""
    with Studio.open(root, user="alice") as studio:
        kernels = studio.executor.kernels
        assert kernels is not None, "the pool is on by default"
        kernels.warm()
        assert kernels.wait_full("python3", timeout=120)
        assert kernels._ready["python3"][0].prepared
        yield studio


@pytest.fixture
def cli(ws: Path) -> Callable[..., Result]:
    """Runs the CLI in-process against the workspace (fast: for checks that start no kernel)."""

    def invoke(*args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(main, [*args, "--workspace", str(ws)], input=input)

    return invoke


def run_cli(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Runs the real `lpstudio` executable in its own process."""
    return subprocess.run(
        [LPSTUDIO, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        timeout=timeout,
    )


def run_json(*args: str, **kwargs: Any) -> tuple[int, Any]:
    proc = run_cli(*args, "--json", **kwargs)
    return proc.returncode, json.loads(proc.stdout) if proc.stdout.strip() else None


def set_job(store: Store, job_id: int, **fields: Any) -> None:
    """Writes `fields` on a job's row as they are, past the store's guarded transitions
    (start, finish, claim): a test's way to set up a state those reach only with time."""
    with store.write() as s:
        s.execute(update(Job.__table__).where(Job.id == job_id).values(**fields))


def set_settings(store: Store, recipe: str, user: str = "alice", **fields: Any) -> None:
    """Writes `fields` over a recipe's saved settings, past the checks of `Studio`'s saves:
    a test's way to set up settings an earlier lpstudio saved, or a start back in time."""
    update_settings(store, recipe, lambda saved: {**saved, **fields}, user)


T = TypeVar("T")


def free_port() -> int:
    """A loopback port nothing listens on now (see `on_a_free_port`)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PortTaken(Exception):
    """A server found the port it was given taken: `on_a_free_port` gives it another."""


def on_a_free_port(start: Callable[[int], T], tries: int = 5) -> T:
    """`start(port)` on a free port, again on a new one while it raises `PortTaken`: a port
    free when chosen may be taken before the server binds it (by a kernel, or a server of
    another worker), and a server given its port tries no other."""
    for _attempt in range(tries - 1):
        try:
            return start(free_port())
        except PortTaken:
            pass
    return start(free_port())


def wait_for(predicate: Callable[[], Any], timeout: float = 60, what: str = "condition") -> Any:
    """Polls a condition until it holds (waiting on state, not on time)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def printed(cell: Any) -> str:
    """What a cell printed to stdout: its stream outputs joined, as JupyterLab shows them.
    The kernel flushes a print in as many outputs as its IOPub thread's timer splits it (a
    loaded machine can send "acme2" and its "\\n" apart)."""
    return "".join(
        "".join(o.text) if isinstance(o.text, list) else o.text
        for o in cell.get("outputs", [])
        if o.get("output_type") == "stream" and o.get("name") == "stdout"
    )


def job_rows(ws: Path) -> int:
    with Studio.open(ws, user="alice") as opened:
        return len(opened.jobs(limit=10_000))


@contextmanager
def scheduler_running(
    studio: Studio, clock: Callable[[], datetime] | None = None, grace: float = 10
) -> Iterator[Scheduler]:
    """The daemon's loop (`run_forever`) in a thread of this process, as a server hosts it."""
    options: dict[str, Any] = {"clock": clock} if clock else {}
    scheduler = Scheduler(studio, workers=2, grace_seconds=grace, idle_seconds=0.05, **options)
    thread = threading.Thread(target=scheduler.run_forever, daemon=True)
    thread.start()
    try:
        yield scheduler
    finally:
        scheduler.stop()
        thread.join(120)
        assert not thread.is_alive()


def selects_on_jobs(store: Any, run: Callable[[], Any]) -> list[tuple[str, Any]]:
    """The SELECT statements on the jobs table that `run()` sends, with their parameters,
    for a test to EXPLAIN them (which indexes serve the history's queries)."""
    from sqlalchemy import event

    statements: list[tuple[str, Any]] = []

    def record(_conn, _cursor, statement, parameters, _context, _many) -> None:  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("SELECT") and "jobs" in statement:
            statements.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", record)
    try:
        run()
    finally:
        event.remove(store.engine, "before_cursor_execute", record)
    return statements


def finished_job(ws: Path, minutes_ago: float) -> int:
    """A job that ended a few minutes ago, written straight to the store (no kernel)."""
    write_recipe(ws, "p/done")
    with Studio.open(ws, user="alice") as studio:
        version = studio.store.snapshot("p/done.ipynb", "{}", {}, "alice")
        job = studio.store.create_job(
            recipe="p/done.ipynb", version_id=version, trigger="manual", user="alice"
        )
        ended = datetime.now(UTC) - timedelta(minutes=minutes_ago)
        set_job(studio.store, job.id, status="succeeded", finished_at=ended)
        return job.id


def purged(ws: Path, job_id: int) -> bool:
    """Whether the job was purged, read from the store itself (not through the workspace's
    settings, which a test may have made invalid)."""
    from lpstudio.models import Job
    from lpstudio.store import Store

    store = Store(f"sqlite:///{ws / 'lpstudio.db'}")
    try:
        with store.read() as s:
            return bool(s.get_one(Job, job_id).purged)
    finally:
        store.close()


ServerT = TypeVar("ServerT", bound=ThreadingHTTPServer)


@pytest.fixture
def serve() -> Iterator[Callable[[ServerT], ServerT]]:
    """Serves loopback stand-ins (a proxy, a recording server) for the test, then stops
    them: `server = serve(SomeServer(...))`."""
    running: list[ThreadingHTTPServer] = []

    def start(server: ServerT) -> ServerT:
        threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True).start()
        running.append(server)
        return server

    yield start
    for server in running:
        server.shutdown()
        server.server_close()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead too: only its parent has not reaped it yet. Reaped meanwhile, its
    # /proc entry is gone (FileNotFoundError) or fails the read (ProcessLookupError).
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError):
        return False


def gone(pid: int) -> bool:
    """True once the process has ended (a zombie has ended too)."""
    return not alive(pid)
