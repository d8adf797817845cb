"""The kernel pool and its fork server: one kernel per job, fallbacks, deaths, no leaks.

These tests prove behaviour, never timings: the benchmarks in `bench/` measure speed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import papermill
import pytest

from lpstudio import pool as kernel_pool
from lpstudio import runner
from lpstudio.errors import WorkspaceError
from lpstudio.forkserver import ForkProvisioner
from lpstudio.pool import KernelPool, PoolSettings
from lpstudio.studio import Studio
from lpstudio.workspace import Workspace

from .conftest import alive, full_pool, gone, printed, wait_for, write_recipe

# Each job reports its kernel's pid and what it can see of earlier jobs.
PROBE = """\
import os, random, sys
import numpy
import lpstudio.kernel as lp
seen = {
    "pid": os.getpid(),
    "numpy_draw": float(numpy.random.rand()),
    "random_draw": random.random(),
    "cwd": os.getcwd(),
    "leaked_global": "leak" in globals(),
    "leaked_env": os.environ.get("LPSTUDIO_TEST_LEAK"),
    "leaked_module": "lpstudio_test_leak" in sys.modules,
    "job": lp.context().job_id,
}
leak = 42
os.environ["LPSTUDIO_TEST_LEAK"] = "yes"
sys.modules["lpstudio_test_leak"] = sys
lp.set_result(seen)
"""


@pytest.fixture
def pooled(ws: Path) -> Iterator[Studio]:
    """A studio whose pool (two python3 kernels, fork server) is full."""
    with full_pool(ws) as studio:
        yield studio


@pytest.fixture
def new_loops(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[asyncio.AbstractEventLoop]]:
    """Every event loop made from now on, kept so that none is collected unseen."""
    made: list[asyncio.AbstractEventLoop] = []
    init = asyncio.BaseEventLoop.__init__

    def recording(self: asyncio.BaseEventLoop, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(asyncio.BaseEventLoop, "__init__", recording)
    yield made
    for loop in made:
        if not loop.is_closed() and not loop.is_running():
            loop.close()


def open_loops(made: list[asyncio.AbstractEventLoop]) -> list[asyncio.AbstractEventLoop]:
    """The loops of `made` left open, once the reaper has cleaned up every killed kernel."""
    runner._reaper.submit(lambda: None).result()  # one thread: the tasks before are done
    return [loop for loop in made if not loop.is_closed()]


class Taken:
    """Records what the pool hands out."""

    def __init__(self, pool: KernelPool, monkeypatch: pytest.MonkeyPatch) -> None:
        self.pids: list[int | None] = []
        take = pool.take

        def recording(name: str) -> Any:
            ready = take(name)
            self.pids.append(ready.km.provisioner.pid if ready else None)
            return ready

        monkeypatch.setattr(pool, "take", recording)


def test_each_job_gets_its_own_fresh_kernel_from_the_pool(
    pooled: Studio, ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert pooled.executor.kernels is not None
    taken = Taken(pooled.executor.kernels, monkeypatch)
    write_recipe(ws, "p/probe", cells=(PROBE,))
    first = pooled.run("p/probe")
    assert pooled.executor.kernels.wait_full("python3", timeout=120)
    second = pooled.run("p/probe")

    assert first.status == second.status == "succeeded", (first.error, second.error)
    assert None not in taken.pids, "both jobs ran on pool kernels"
    one, two = first.result, second.result
    assert one is not None and two is not None
    assert [one["pid"], two["pid"]] == taken.pids
    assert one["pid"] != two["pid"]
    # Nothing the first job did reached the second one.
    assert two == {**two, "leaked_global": False, "leaked_env": None, "leaked_module": False}
    # Each draws random numbers of its own: numpy's generator, loaded in the fork server by
    # its pandas pre-import, was forked with its state, and every job drew the same ones.
    assert one["numpy_draw"] != two["numpy_draw"] and one["random_draw"] != two["random_draw"]
    assert (one["job"], two["job"]) == (first.id, second.id)
    # Each ran in its recipe's folder, as papermill starts kernels; and each kernel is gone.
    assert one["cwd"] == two["cwd"] == str(ws / "projects" / "p")
    wait_for(lambda: gone(one["pid"]) and gone(two["pid"]), what="the used kernels to end")


def test_a_pooled_kernel_imports_modules_beside_its_recipe(pooled: Studio, ws: Path) -> None:
    (ws / "projects" / "p").mkdir(parents=True)
    (ws / "projects" / "p" / "helper_module.py").write_text("VALUE = 7\n")
    code = "import helper_module, lpstudio.kernel as lp\nlp.set_result({'v': helper_module.VALUE})"
    write_recipe(ws, "p/imports", cells=(code,))
    job = pooled.run("p/imports")
    assert job.status == "succeeded", job.error
    assert job.result == {"v": 7}


def test_an_empty_pool_falls_back_to_a_normal_start(
    studio: Studio, ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kernels = studio.executor.kernels
    assert kernels is not None
    assert kernels.take("python3") is None, "a pool that never filled has nothing ready"
    taken = Taken(kernels, monkeypatch)
    monkeypatch.setattr(kernels, "_fill", lambda name: None)  # and it stays empty
    write_recipe(ws, "p/probe", cells=(PROBE,))
    job = studio.run("p/probe", {"x": 5})
    assert job.status == "succeeded", job.error
    assert taken.pids == [None]
    assert job.result is not None and job.result["job"] == job.id
    assert job.result["cwd"] == str(ws / "projects" / "p")
    nb = nbformat.read(ws / job.output_path, as_version=4)
    assert any("x = 5" in c.source for c in nb.cells)


def test_a_kernel_that_dies_in_the_pool_is_replaced_and_never_handed_out(
    pooled: Studio, ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kernels = pooled.executor.kernels
    assert kernels is not None
    waiting = [e.km.provisioner.pid for e in kernels._ready["python3"]]
    victim = waiting[0]
    os.kill(victim, signal.SIGKILL)

    def replaced() -> bool:
        pids = [e.km.provisioner.pid for e in kernels._ready["python3"]]
        return victim not in pids and len(pids) == kernels.settings.size

    wait_for(replaced, timeout=120, what="the dead kernel to be replaced")
    taken = Taken(kernels, monkeypatch)
    write_recipe(ws, "p/probe", cells=(PROBE,))
    job = pooled.run("p/probe")
    assert job.status == "succeeded", job.error
    assert taken.pids[0] is not None and taken.pids[0] != victim
    assert job.result is not None and job.result["pid"] == taken.pids[0]


def test_a_kernel_that_died_unnoticed_is_not_handed_out(
    pooled: Studio, monkeypatch: pytest.MonkeyPatch
) -> None:
    kernels = pooled.executor.kernels
    assert kernels is not None
    monkeypatch.setattr(kernels, "_fill", lambda name: None)
    entries = list(kernels._ready["python3"])
    for entry in entries:
        pid = entry.km.provisioner.pid
        os.kill(pid, signal.SIGKILL)
        # Reaped (the fork server reaps its children): every thread of it has ended. A
        # kernel still dying (SIGKILL sent, threads exiting) may still be handed out and
        # its job then fails as a dead kernel, as if it had died a moment later.
        wait_for(lambda pid=pid: not Path(f"/proc/{pid}").exists(), what="the kernel to end")
    # Whether or not the watcher saw them die first, none of them is handed out.
    assert kernels.take("python3") is None


def test_the_fork_server_starts_on_a_machine_with_no_jupyter_runtime_folder_yet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `make bench` on a new machine started the server first, in a folder not made yet.
    runtime = tmp_path / "not" / "made" / "runtime"
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(runtime))
    pool = KernelPool(PoolSettings(size=1))
    try:
        assert pool.server is not None
        pool.server.start()
        assert pool.server.pid is not None and alive(pool.server.pid)
        assert runtime.is_dir()
    finally:
        pool.close()


def test_a_fork_server_that_cannot_start_leaves_normal_kernel_starts() -> None:
    pool = KernelPool(PoolSettings(size=1, preimport=("lpstudio_no_such_module",)))
    ready = None
    try:
        pool.warm()
        assert pool.wait_full("python3", timeout=120)
        (entry,) = pool._ready["python3"]
        assert type(entry.km.provisioner).__name__ == "GuardedProvisioner"
        ready = pool.take("python3")
        assert ready is not None
        reply = asyncio.run(ready.kc.execute_interactive("1 + 1", timeout=60))
        assert reply["content"]["status"] == "ok"
    finally:
        if ready is not None:
            kernel_pool.discard(ready.km, ready.kc)
        pool.close()


def test_a_preimport_failing_as_it_is_imported_is_said_once_naming_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Found, but failing in the fork server: each kernel logged that the fork server did not
    start, naming no setting, and started cold."""
    (tmp_path / "lpstudio_breaks_on_import.py").write_text("raise RuntimeError('broken')\n")
    monkeypatch.setenv("PYTHONPATH", f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    caplog.set_level(logging.WARNING)
    pool = KernelPool(PoolSettings(size=2, preimport=("lpstudio_breaks_on_import",)))
    try:
        pool.warm()
        assert pool.wait_full("python3", timeout=120)
    finally:
        pool.close()
    said = [r.getMessage() for r in caplog.records if "lpstudio_breaks" in r.getMessage()]
    assert len(said) == 1, said
    assert "lpstudio_breaks_on_import: RuntimeError: broken" in said[0], said
    assert "[kernels] preimport" in said[0] and "lpstudio.toml" in said[0], said


def test_papermill_output_notebooks_have_the_same_structure(
    pooled: Studio, ws: Path, tmp_path: Path
) -> None:
    cells = ("y = x * 2", "print(y)", "raise ValueError('boom')", "z = 1")
    recipe = write_recipe(ws, "p/same", cells=cells)
    # A recipe saved from a failed run's output keeps that run's error markers: both drop
    # them, and mark this run's error alone.
    saved = nbformat.read(recipe, as_version=4)
    marker = nbformat.v4.new_markdown_cell("An Exception was encountered (an earlier run)")
    marker.metadata["tags"] = ["papermill-error-cell-tag"]
    saved.cells.insert(0, marker)
    nbformat.write(saved, recipe)
    job = pooled.run("p/same", {"x": 3})
    assert job.status == "failed" and job.error["ename"] == "ValueError"
    ours = nbformat.read(ws / job.output_path, as_version=4)
    theirs_path = tmp_path / "papermill.ipynb"
    with pytest.raises(papermill.PapermillExecutionError):
        papermill.execute_notebook(
            str(recipe), str(theirs_path), parameters={"x": 3}, progress_bar=False
        )
    theirs = nbformat.read(theirs_path, as_version=4)

    nbformat.validate(ours)
    assert set(ours.metadata) == set(theirs.metadata)
    assert set(ours.metadata.papermill) == set(theirs.metadata.papermill)
    assert ours.metadata.papermill["parameters"] == theirs.metadata.papermill["parameters"]
    assert ours.metadata.papermill["exception"] is theirs.metadata.papermill["exception"] is True
    assert ours.metadata.language_info == theirs.metadata.language_info
    # The paths papermill records: the recipe's file for the stored version that ran.
    assert ours.metadata.papermill["input_path"] == str(recipe)
    assert ours.metadata.papermill["output_path"] == str(ws / job.output_path)

    def outputs(cell: Any) -> list[tuple[Any, ...]]:
        # A print reaches the notebook in as many stream outputs as the kernel's IOPub
        # thread flushed it (every 0.2 s: a loaded machine can split "6" from its "\n"),
        # in papermill's notebooks too; what a reader sees is the same text.
        found: list[list[Any]] = []
        for o in cell.get("outputs", []):
            shown = [o.output_type, o.get("name"), o.get("text"), o.get("ename")]
            if found and o.output_type == "stream" and found[-1][:2] == shown[:2]:
                found[-1][2] += o.text
            else:
                found.append(shown)
        return [tuple(o) for o in found]

    def shape(nb: Any) -> list[tuple[Any, ...]]:
        return [
            (
                c.cell_type,
                c.source,
                c.get("execution_count"),
                tuple(c.metadata.get("tags", [])),
                tuple(sorted(c.metadata.get("papermill", {}))),
                c.metadata.get("papermill", {}).get("status"),
                outputs(c),
            )
            for c in nb.cells
        ]

    assert shape(ours) == shape(theirs)
    # papermill's error banner first, the injected parameters after the parameters cell.
    assert "papermill-error-cell-tag" in ours.cells[0].metadata.tags
    assert not any("an earlier run" in c.source for c in ours.cells)
    tags = [c.metadata.get("tags", []) for c in ours.cells]
    assert tags.index(["injected-parameters"]) == tags.index(["parameters"]) + 1


def test_papermill_engine_uses_the_process_pool_and_discards_the_kernel(
    pooled: Studio, ws: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kernels = pooled.executor.kernels
    assert kernels is not None
    taken = Taken(kernels, monkeypatch)
    recipe = write_recipe(ws, "p/pm", cells=("import os\nprint(os.getpid(), os.getcwd())",))
    out = tmp_path / "out.ipynb"
    papermill.execute_notebook(
        str(recipe), str(out), parameters={"x": 2}, engine_name="lpstudio", progress_bar=False
    )
    (pid,) = taken.pids
    assert pid is not None
    shown = printed(nbformat.read(out, as_version=4).cells[-1]).split()
    assert shown == [str(pid), str(Path.cwd())]
    wait_for(lambda: gone(pid), what="the kernel to be shut down")


def test_closing_the_last_studio_stops_the_pool_and_its_kernels(ws: Path) -> None:
    studio = Studio.open(ws, user="alice")
    other = Studio.open(ws, user="alice")
    kernels = studio.executor.kernels
    assert kernels is not None and other.executor.kernels is kernels, "one pool per process"
    kernels.warm()
    assert kernels.wait_full("python3", timeout=120)
    assert kernels.server is not None and kernels.server.pid is not None
    pids = [kernels.server.pid, *(e.km.provisioner.pid for e in kernels._ready["python3"])]
    studio.close()
    assert all(alive(pid) for pid in pids), "still in use by the other studio"
    other.close()
    assert kernel_pool.active() is None
    wait_for(lambda: all(gone(pid) for pid in pids), what="the pool's processes to end")


def test_a_kernel_start_that_closing_the_pool_cuts_short_logs_no_error(
    ws: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A refill still starting when the scheduler stops (or the studio closes) failed with
    # "the fork server was closed", which jupyter_client logged as an error with its
    # traceback: on every shutdown.
    launching, go = threading.Event(), threading.Event()
    launch = ForkProvisioner.launch_kernel

    async def gated(self: ForkProvisioner, cmd: list[str], **kw: Any) -> Any:
        launching.set()
        await asyncio.get_running_loop().run_in_executor(None, go.wait)
        return await launch(self, cmd, **kw)

    monkeypatch.setattr(ForkProvisioner, "launch_kernel", gated)
    caplog.set_level(logging.INFO)
    studio = Studio.open(ws, user="alice")
    kernels = studio.executor.kernels
    assert kernels is not None and kernels.server is not None
    kernels.warm()
    assert launching.wait(120)
    closing = threading.Thread(target=studio.close)
    closing.start()
    wait_for(lambda: kernels.server._closed, what="the fork server to close")
    go.set()  # the start goes on, and finds the server closed
    closing.join(60)

    assert not closing.is_alive()
    assert kernel_pool.active() is None
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_closing_the_pool_waits_for_no_kernel_in_its_warm_up(
    ws: Path, monkeypatch: pytest.MonkeyPatch, new_loops: list[asyncio.AbstractEventLoop]
) -> None:
    """A one-shot `lpstudio run` refills the pool as its job ends and closes it at once: a
    kernel that the close killed in its warm-up was waited for until `start_timeout` (the
    command hung for a minute after printing its job)."""
    warming, go = threading.Event(), threading.Event()
    warm_up = kernel_pool.warm_up

    async def gated(km: Any, kc: Any, timeout: float, stopped: Any) -> None:
        warming.set()
        await asyncio.get_running_loop().run_in_executor(None, go.wait)
        os.kill(km.provisioner.pid, signal.SIGKILL)  # as the close leaves it, or worse
        await warm_up(km, kc, timeout, stopped)

    monkeypatch.setattr(kernel_pool, "warm_up", gated)
    studio = Studio.open(ws, user="alice")
    kernels = studio.executor.kernels
    assert kernels is not None
    kernels.warm()
    assert warming.wait(120)
    closing = threading.Thread(target=studio.close)
    closing.start()
    wait_for(lambda: kernels._closed, what="the pool to close")
    go.set()
    closing.join(20)  # start_timeout is 60 s

    assert not closing.is_alive()
    assert kernel_pool.active() is None
    # The kernel was discarded inside its preparation's loop: its cleanup's loop is closed.
    assert open_loops(new_loops) == []


def test_a_run_leaves_no_event_loop_open(
    ws: Path, new_loops: list[asyncio.AbstractEventLoop]
) -> None:
    """About one `lpstudio run` in seven printed `Exception ignored in: <function
    BaseEventLoop.__del__ ...> ValueError: Invalid file descriptor: -1` as it exited: the
    loops jupyter_core's `run_sync` made (nbclient's for the job, one for each kernel's
    cleanup) were never closed, and one collected with the interpreter, after its self-pipe,
    failed to close then."""
    write_recipe(ws, "p/probe", cells=(PROBE,))
    jobs: list[Any] = []

    def run() -> None:  # on a thread no loop was made for yet, as the CLI's is
        with Studio.open(ws, user="alice") as studio:
            jobs.append(studio.run("p/probe"))

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(120)
    assert jobs and jobs[0].status == "succeeded", jobs
    assert new_loops, "the job ran on an event loop"
    assert open_loops(new_loops) == []


def test_a_killed_parent_leaves_no_kernels_behind(ws: Path) -> None:
    script = textwrap.dedent(
        f"""
        import json, sys
        from lpstudio.studio import Studio
        studio = Studio.open({str(ws)!r}, user="alice")
        kernels = studio.executor.kernels
        kernels.warm()
        assert kernels.wait_full("python3", timeout=120)
        pids = [kernels.server.pid, *(e.km.provisioner.pid for e in kernels._ready["python3"])]
        print(json.dumps(pids), flush=True)
        sys.stdin.read()
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        pids = json.loads(proc.stdout.readline())
        assert all(alive(pid) for pid in pids)
    finally:
        proc.kill()
        proc.wait()
    wait_for(lambda: all(gone(pid) for pid in pids), what="the orphans to end")


def test_the_pool_settings_are_checked(tmp_path: Path) -> None:
    root = tmp_path / "w"
    Workspace.write_new(root)
    assert Workspace.load(root).pool_settings() == PoolSettings()
    config = root / "lpstudio.toml"
    text = config.read_text()
    for bad, field in (
        ("pool_size = -1", "kernels.pool_size"),
        ('pool_size = "2"', "kernels.pool_size"),
        ('preimport = ["pandas", "not a module"]', "kernels.preimport"),
        ('warm = "python3"', "kernels.warm"),
        ('warm = ["pyhton3"]', "kernels.warm"),  # kept nothing warm, without a word
        ('preimport = ["pandsa"]', "kernels.preimport"),  # every kernel then started cold
        ('preimport = ["pandas", "pandas.nosuch"]', "kernels.preimport"),  # a module of one
        ('preimport = ["json.decoder.nosuch"]', "kernels.preimport"),  # in a module, no package
        ('fork = "yes"', "kernels.fork"),
    ):
        key = bad.split(" =")[0]
        lines = [line for line in text.splitlines() if not line.startswith(f"{key} =")]
        config.write_text("\n".join(lines).replace("[kernels]", f"[kernels]\n{bad}") + "\n")
        with pytest.raises(WorkspaceError) as caught:
            Workspace.load(root).pool_settings()
        assert caught.value.field == field and "lpstudio.toml" in caught.value.fix
    config.write_text(
        text.replace('preimport = ["pandas"', 'preimport = ["pandas.io.json", "os.path"')
    )
    assert Workspace.load(root).pool_settings().preimport == ("pandas.io.json", "os.path", "httpx")
    config.write_text(text.replace("pool_size = 2", "pool_size = 0"))
    assert kernel_pool.acquire(Workspace.load(root).pool_settings()) is None


def test_a_pool_of_size_zero_starts_every_kernel_for_its_job(ws: Path) -> None:
    config = ws / "lpstudio.toml"
    config.write_text(config.read_text().replace("pool_size = 2", "pool_size = 0"))
    write_recipe(ws, "p/probe", cells=(PROBE,))
    with Studio.open(ws, user="alice") as studio:
        assert studio.executor.kernels is None
        job = studio.run("p/probe")
    assert job.status == "succeeded", job.error


def run_in(ready: Any, code: str) -> str:
    """Runs `code` on a pooled kernel and returns what it printed."""
    printed: list[str] = []

    def output(msg: dict[str, Any]) -> None:
        if msg["msg_type"] == "stream":
            printed.append(msg["content"]["text"])

    reply = asyncio.run(ready.kc.execute_interactive(code, timeout=60, output_hook=output))
    assert reply["content"]["status"] == "ok", reply["content"]
    return "".join(printed)


def install_specs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, specs: dict[str, dict[str, str]]
) -> None:
    """Kernel specs running ipykernel on this interpreter, each with its environment."""
    for name, env in specs.items():
        folder = tmp_path / "jupyter" / "kernels" / name
        folder.mkdir(parents=True)
        spec = {
            "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": name,
            "language": "python",
            "env": env,
        }
        (folder / "kernel.json").write_text(json.dumps(spec))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))


def test_forked_kernels_are_ipython_kernels_of_their_own_folder_and_profile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fork server prepares what every kernel builds alike (configuration, IPython
    shell) once; a kernel spec whose environment names another IPython folder still gets
    a kernel configured from that folder, built from scratch."""
    ipython_dir = tmp_path / "other-ipython"
    specs = {"plain": {}, "own-profile": {"IPYTHONDIR": str(ipython_dir)}}
    install_specs(tmp_path, monkeypatch, specs)
    pool = KernelPool(PoolSettings(size=1, warm=("plain", "own-profile")))
    taken = []
    try:
        pool.warm()
        assert pool.wait_full("plain", 120) and pool.wait_full("own-profile", 120)
        plain, own = taken = [pool.take("plain"), pool.take("own-profile")]
        assert plain is not None and own is not None
        assert type(plain.km.provisioner).__name__ == "ForkProvisioner"
        probe = textwrap.dedent("""\
            import os
            ip = get_ipython()
            print(ip.profile_dir.location, os.getcwd(), ip.kernel is not None, ip.user_ns['_dh'])
            """)
        location, cwd, has_kernel, history = run_in(plain, probe).split(maxsplit=3)
        assert not location.startswith(str(ipython_dir)) and has_kernel == "True"
        assert cwd == pool.cwd and cwd in history
        assert run_in(own, probe).split()[0].startswith(str(ipython_dir))
        # Output written at once and output flushed at the end both reach the client
        # (the kernel skips only flushes of streams that hold nothing).
        code = "import sys\nprint('one', flush=True)\nsys.stderr.write('two\\n')\nprint('three')"
        assert sorted(run_in(plain, code).splitlines()) == ["one", "three", "two"]
    finally:
        for ready in taken:
            if ready is not None:
                kernel_pool.discard(ready.km, ready.kc)
        pool.close()


def test_a_forked_kernel_gives_every_kind_of_output(pooled: Studio) -> None:
    """The shell a forked kernel takes over from the fork server displays, plots, runs magics
    and shell commands and returns results like any kernel."""
    kernels = pooled.executor.kernels
    assert kernels is not None
    ready = kernels.take("python3")
    assert ready is not None and type(ready.km.provisioner).__name__ == "ForkProvisioner"
    outputs: list[tuple[str, Any]] = []

    def output(msg: dict[str, Any]) -> None:
        content = msg["content"]
        if msg["msg_type"] in ("execute_result", "display_data"):
            outputs.append((msg["msg_type"], sorted(content["data"])))
        elif msg["msg_type"] == "stream":
            outputs.append(("stream", content["text"].strip()))

    code = textwrap.dedent("""\
        import matplotlib.pyplot as plt
        import pandas as pd
        from IPython.display import Markdown, display
        display(Markdown("**hi**"))
        plt.plot([1, 2]); plt.show()
        %config InlineBackend.figure_formats = ["png"]
        !echo from-the-shell
        pd.DataFrame({"a": [1]})
        """)
    try:
        reply = asyncio.run(ready.kc.execute_interactive(code, timeout=60, output_hook=output))
    finally:
        kernel_pool.discard(ready.km, ready.kc)
    assert reply["content"]["status"] == "ok" and reply["content"]["execution_count"] == 1
    assert outputs == [
        ("display_data", ["text/markdown", "text/plain"]),
        ("display_data", ["image/png", "text/plain"]),
        ("stream", "from-the-shell"),
        ("execute_result", ["text/html", "text/plain"]),
    ]


def test_a_forked_kernel_reads_its_shell_in_the_main_thread_and_awaits(pooled: Studio) -> None:
    """Forked kernels run without ipykernel 7's shell channel thread (a quarter of a short
    cell's kernel CPU went to handing messages over from it); a cell with top-level
    `await` still runs (ipykernel asks which thread is the shell's there: without the
    stand-in it hung), a failing cell still aborts the requests queued behind it, and
    output and interrupts work as in any kernel."""
    kernels = pooled.executor.kernels
    assert kernels is not None
    ready = kernels.take("python3")
    assert ready is not None
    kc, printed = ready.kc, []

    def output(msg: dict[str, Any]) -> None:
        if msg["msg_type"] == "stream":
            printed.append(msg["content"]["text"].strip())

    async def session() -> list[str]:
        awaited = await kc.execute_interactive(
            "import asyncio, threading\nawait asyncio.sleep(0)\n"
            "print(sorted(t.name for t in threading.enumerate()))",
            timeout=30,
            output_hook=output,
        )
        ids = [kc.execute(code) for code in ("1/0", "print('never')")]
        statuses = []
        for _ in ids:
            statuses.append((await kc.get_shell_msg(timeout=30))["content"]["status"])
        slow = kc.execute("import time; print('sleeping', flush=True); time.sleep(30)")
        while True:  # interrupted once its code runs: a signal before that (even after the
            # execute_input message) lands in ipykernel's handler, not in the cell
            msg = await kc.get_iopub_msg(timeout=30)
            if msg["parent_header"].get("msg_id") == slow and msg["msg_type"] == "stream":
                break
        await ready.km.interrupt_kernel()
        reply = await kc.get_shell_msg(timeout=30)
        assert reply["parent_header"]["msg_id"] == slow
        return [awaited["content"]["status"], *statuses, reply["content"]["ename"]]

    try:
        assert asyncio.run(session()) == ["ok", "error", "aborted", "KeyboardInterrupt"]
    finally:
        kernel_pool.discard(ready.km, ready.kc)
    assert "Shell channel" not in printed[0] and "MainThread" in printed[0]
    assert "never" not in printed


def test_a_job_is_bound_on_prepared_and_on_rebuilt_kernels_alike(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kernel forked on the server's prepared shell takes the job's folder and context
    from the job's first request; one built from scratch (its spec names another IPython
    folder) takes them from a bootstrap request. Jobs cannot tell the difference."""
    install_specs(tmp_path, monkeypatch, {"own-profile": {"IPYTHONDIR": str(tmp_path / "ipy")}})
    root = tmp_path / "ws"
    Studio.init(root, accept_terms=True, admin="alice").close()
    write_recipe(root, "p/probe", cells=(PROBE,))
    own = write_recipe(root, "p/own", cells=(PROBE,))
    nb = nbformat.read(own, as_version=4)
    nb.metadata.kernelspec = {"name": "own-profile", "display_name": "own", "language": "python"}
    nbformat.write(nb, own)
    with Studio.open(root, user="alice") as studio:
        kernels = studio.executor.kernels
        assert kernels is not None
        kernels.warm(("python3", "own-profile"))
        assert kernels.wait_full("python3", 120) and kernels.wait_full("own-profile", 120)
        assert kernels._ready["python3"][0].prepared
        assert not kernels._ready["own-profile"][0].prepared
        jobs = [studio.run("p/probe", {"x": 2}), studio.run("p/own", {"x": 2})]
    for job in jobs:
        assert job.status == "succeeded", job.error
        assert job.result is not None
        assert job.result["job"] == job.id and job.result["cwd"] == str(root / "projects" / "p")


def test_a_kernel_that_cannot_bind_its_job_runs_none_of_its_cells(
    pooled: Studio, ws: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    recipe = write_recipe(ws, "p/marker", cells=(f"open({str(marker)!r}, 'w').close()",))
    kernels = pooled.executor.kernels
    assert kernels is not None and kernels._ready["python3"][0].prepared
    with pytest.raises(Exception, match=r"[Kk]ernel died"):
        papermill.execute_notebook(
            str(recipe),
            None,
            engine_name="lpstudio",
            progress_bar=False,
            job_context="{not json",
            pool=kernels,
        )
    assert not marker.exists()


def test_a_save_slower_than_the_save_interval_is_not_repeated_at_every_cell(
    pooled: Studio, ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A running job's output notebook is saved at once, then once a second at most. The
    second was counted from the start of a save: a notebook whose save takes longer (a
    large output, scrubbed of secrets) was saved again at every cell, and a job of many
    cells took minutes. Each save here takes 2 s of the engine's clock."""
    from lpstudio import engine, runner

    class Clock:
        now = 0.0

        def monotonic(self) -> float:
            return self.now

    clock = Clock()
    monkeypatch.setattr(engine, "time", clock)
    saves: list[int] = []
    write = runner.NotebookWriter.__call__

    def slow_write(self: runner.NotebookWriter, nb: Any) -> None:
        clock.now += 2.0
        saves.append(len(nb.cells))
        write(self, nb)

    monkeypatch.setattr(runner.NotebookWriter, "__call__", slow_write)
    write_recipe(ws, "p/many", cells=tuple(f"y{n} = {n}" for n in range(12)))

    job = pooled.run("p/many")

    assert job.status == "succeeded"
    assert len(saves) == 2, saves  # at the start, and the final notebook by the runner
