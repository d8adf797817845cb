"""`papermill --engine lpstudio`, and lpstudio's pooled kernels, against plain papermill: a
notebook sees and leaves behind what it would on papermill's own kernel. A kernel whose
notebook ran to its end is shut down, not killed (its open files are flushed, its atexit
functions run), off the job's path; a pooled kernel sees the caller's environment and the
notebook's folder as they are when it is handed out, not as they were when it started; a
cell cut off by papermill's execution timeout keeps the error its interrupt raised; outside
any workspace the kernel is told nothing of lpstudio."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import nbformat
import papermill
import pytest
from nbclient.exceptions import CellTimeoutError

from lpstudio import runner
from lpstudio.studio import Studio

from .conftest import full_pool, printed, wait_for, write_recipe
from .test_job_faults import configure
from .test_papermill_direct import papermill_cli

LAUNCHER = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
WRITTEN = "data written by the notebook"


def leaves_files(folder: Path, gate: Path | None = None) -> str:
    """A cell that leaves a file open, unflushed, and registers an atexit function that
    writes another (once `gate` exists, if given): papermill's kernel, shut down by its
    shutdown request, flushes the one and runs the other."""
    wait = f"    while not os.path.exists({str(gate)!r}): time.sleep(0.01)\n" if gate else ""
    return (
        "import atexit, os, time\n"
        f"f = open({str(folder / 'unflushed.txt')!r}, 'w')\n"
        f"f.write({WRITTEN!r})\n"
        "def at_exit():\n"
        f"{wait}"
        f"    open({str(folder / 'atexit.txt')!r}, 'w').write('atexit ran')\n"
        "atexit.register(at_exit)"
    )


def left(folder: Path) -> tuple[str | None, str | None]:
    """What the notebook's open file and its atexit function left in `folder`."""

    def read(name: str) -> str | None:
        path = folder / name
        return path.read_text() if path.exists() else None

    return read("unflushed.txt"), read("atexit.txt")


def notebook(path: Path, *sources: str, kernel: str = "python3") -> Path:
    """A notebook of code cells on `kernel`, no parameters."""
    nb = nbformat.v4.new_notebook()
    nb.metadata.kernelspec = {"name": kernel, "display_name": kernel, "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def reaped() -> None:
    """Waits until the reaper has ended every kernel handed to it so far (one thread: the
    tasks before this one are done)."""
    runner._reaper.submit(lambda: None).result()


@pytest.fixture
def specs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Kernel specs of this interpreter beside python3: `specvar` (forked, its env sets
    SPECVAR) and `execline` (an option on its command line: pooled started cold)."""
    defined = {
        "specvar": {"argv": LAUNCHER, "env": {"SPECVAR": "from-spec"}},
        "execline": {"argv": [*LAUNCHER, "--IPKernelApp.exec_lines=['EXECLINE=42']"]},
    }
    for name, fields in defined.items():
        folder = tmp_path / "jupyter" / "kernels" / name
        folder.mkdir(parents=True)
        spec = {"display_name": name, "language": "python", **fields}
        (folder / "kernel.json").write_text(json.dumps(spec))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))


@pytest.fixture
def pooled(ws: Path) -> Iterator[Studio]:
    """A studio whose pool of python3 kernels, forked on the fork server's prepared shell,
    is full."""
    with full_pool(ws) as studio:
        yield studio


# -- 1. the end of a kernel ---------------------------------------------------------------


def test_outside_any_workspace_papermills_command_runs_the_notebook_as_papermill_does(
    tmp_path: Path,
) -> None:
    """The kernel was killed as the run ended: the notebook's open file stayed empty and its
    atexit function never ran. And it was told the notebook's path (`JPY_SESSION_NAME`),
    which only a workspace's notebook needs."""
    nb = notebook(
        tmp_path / "nb.ipynb",
        leaves_files(tmp_path),
        "import os\nprint(os.environ.get('JPY_SESSION_NAME'))",
    )

    done = papermill_cli(nb, tmp_path / "out.ipynb")

    assert done.returncode == 0, done.stderr
    assert left(tmp_path) == (WRITTEN, "atexit ran")
    assert printed(nbformat.read(tmp_path / "out.ipynb", as_version=4).cells[-1]) == "None\n"


def test_a_pooled_kernel_is_shut_down_after_its_job_off_the_jobs_path(
    pooled: Studio, ws: Path, tmp_path: Path
) -> None:
    """A forked kernel ended by the same kill. Now it is asked to shut down once the job is
    recorded: the job returns, its output written, while the kernel's atexit function
    still waits."""
    gate = tmp_path / "gate"
    write_recipe(ws, "p/leaves", cells=(leaves_files(tmp_path, gate),))

    job = pooled.run("p/leaves")

    assert job.status == "succeeded" and (ws / job.output_path).is_file()
    gate.touch()
    reaped()
    assert left(tmp_path) == (WRITTEN, "atexit ran")


def test_a_kernel_shutting_down_after_its_job_is_left_to_end_by_its_fence(
    ws: Path, tmp_path: Path
) -> None:
    """The fence, which kills a kernel whose job is no longer running under its worker,
    took a job that had ended for one taken from it: it killed the kernel while it ran its
    atexit functions (one slower than the fence's look, here)."""
    configure(ws, heartbeat_seconds=0.5)  # the fence looks every 0.5 s
    at_exit = "def at_exit():\n"
    slow = leaves_files(tmp_path).replace(at_exit, at_exit + "    time.sleep(1.5)\n")
    write_recipe(ws, "p/slow", cells=(slow,))
    with Studio.open(ws, user="alice") as studio:
        job = studio.run("p/slow")
        assert job.status == "succeeded", job.error
        reaped()
    assert left(tmp_path) == (WRITTEN, "atexit ran")


def test_papermills_api_on_a_pooled_kernel_shuts_it_down(pooled: Studio, tmp_path: Path) -> None:
    nb = notebook(tmp_path / "nb.ipynb", leaves_files(tmp_path))

    papermill.execute_notebook(str(nb), None, engine_name="lpstudio", progress_bar=False)

    reaped()
    assert left(tmp_path) == (WRITTEN, "atexit ran")


def released_with_its_names(folder: Path) -> str:
    """A cell whose object, released with the notebook's names as its kernel exits (the
    shell's exit function: what flushes the files it left open), writes whether the
    kernel's sockets were closed by then (what it needs is its own: the names are released
    in no given order)."""
    said = str(folder / "released.txt")
    return (
        "from ipykernel.kernelapp import IPKernelApp\n"
        "class Witness:\n"
        "    def __init__(self):\n"
        f"        self.app, self.said, self.open = IPKernelApp.instance(), {said!r}, open\n"
        "    def __del__(self):\n"
        "        closed = self.app.context.closed\n"
        "        self.open(self.said, 'w').write('sockets closed' if closed else 'sockets open')\n"
        "witness = Witness()"
    )


def test_a_pooled_kernel_releases_the_notebooks_names_first_as_papermills_does(
    pooled: Studio, tmp_path: Path
) -> None:
    """A forked kernel's shell was built before its sockets: its exit function, registered
    first, ran last, after the kernel closed its sockets and joined its threads, so that a
    kernel slow at that (a loaded machine) was killed before the notebook's open files were
    flushed (a CI run's `('', 'atexit ran')`)."""
    cold, forked = tmp_path / "cold", tmp_path / "forked"
    for folder, engine in ((cold, None), (forked, "lpstudio")):
        nb = notebook(folder / "nb.ipynb", released_with_its_names(folder))
        papermill.execute_notebook(str(nb), None, engine_name=engine, progress_bar=False)
    reaped()
    assert (cold / "released.txt").read_text() == "sockets open"  # papermill's own kernel
    assert (forked / "released.txt").read_text() == "sockets open"


def test_a_cancelled_jobs_kernel_is_still_killed_at_once(
    pooled: Studio, ws: Path, tmp_path: Path
) -> None:
    """Nothing of a stopped job runs once it is stopped: not its atexit functions either."""
    started, gate = tmp_path / "started", tmp_path / "gate"
    wait = f"while not os.path.exists({str(gate)!r}): time.sleep(0.01)"
    cells = (leaves_files(tmp_path) + f"\nopen({str(started)!r}, 'w').close()\n" + wait,)
    write_recipe(ws, "p/stopped", cells=cells)

    job, finished = pooled.dispatch("p/stopped")
    wait_for(started.exists, what="the job in its waiting cell")
    pooled.cancel(job.id)
    done = finished.result(timeout=120)

    assert done.status == "cancelled"
    gate.touch()
    reaped()
    assert left(tmp_path) == ("", None)


# -- 2. the caller's environment ------------------------------------------------------------


def test_a_pooled_kernel_sees_the_callers_environment_as_it_is_now(
    ws: Path, tmp_path: Path, specs: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pooled kernels kept the environment of the moment they were started: a script that
    set REGION before each run printed the first region every time. The kernel spec's own
    `env` still wins over the caller's, as in a kernel started cold. Forked kernels
    (python3, specvar) and one started cold for the pool (execline) alike."""
    probe = "import os\nprint(*(os.environ.get(k) for k in ('REGION', 'LEAVING', 'SPECVAR')))"
    monkeypatch.setenv("REGION", "us")
    monkeypatch.setenv("LEAVING", "soon")
    seen = []
    with Studio.open(ws, user="alice") as studio:
        kernels = studio.executor.kernels
        assert kernels is not None
        runs = (("python3", "eu"), ("python3", "ap"), ("specvar", "eu"), ("execline", "ap"))
        for kernel, region in runs:
            assert kernels.wait_full(kernel, timeout=120)  # started before the change
            monkeypatch.setenv("REGION", region)
            monkeypatch.setenv("SPECVAR", f"caller-{region}")
            monkeypatch.delenv("LEAVING")
            nb = notebook(tmp_path / f"{kernel}.ipynb", probe, kernel=kernel)
            out = papermill.execute_notebook(
                str(nb), None, engine_name="lpstudio", kernel_name=kernel, progress_bar=False
            )
            seen.append(printed(out.cells[-1]))
            monkeypatch.setenv("LEAVING", "soon")

    assert seen == [
        "eu None caller-eu\n",
        "ap None caller-ap\n",
        "eu None from-spec\n",
        "ap None caller-ap\n",
    ]


# -- 3. a cell cut off by papermill's execution timeout ------------------------------------


def test_a_cell_papermills_timeout_cut_off_keeps_its_interrupts_error(
    pooled: Studio, tmp_path: Path
) -> None:
    """papermill interrupts the kernel as it shuts it down, and records the error the cell
    then raises; lpstudio's output kept only what the cell printed. The cell is still
    marked failed and the cells after it pending."""
    nb = notebook(
        tmp_path / "slow.ipynb",
        "x = 1",
        "import time\nprint('start', flush=True)\ntime.sleep(60)",
        "print('after')",
    )
    out = tmp_path / "out.ipynb"

    with pytest.raises(CellTimeoutError):
        papermill.execute_notebook(
            str(nb), str(out), engine_name="lpstudio", execution_timeout=1, progress_bar=False
        )

    cells = nbformat.read(out, as_version=4).cells
    assert printed(cells[1]) == "start\n"
    (error,) = [o for o in cells[1].outputs if o.output_type == "error"]
    assert error.ename == "KeyboardInterrupt"
    assert "time.sleep(60)" in re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(error.traceback))
    statuses = [cell.metadata.papermill["status"] for cell in cells]
    assert statuses == ["completed", "failed", "pending"]


# -- 4. the kernel's folder, as IPython remembers it ---------------------------------------


@pytest.mark.parametrize("kernel", ["python3", "execline"])
def test_a_pooled_kernel_remembers_the_notebooks_folder_as_where_it_started(
    ws: Path, tmp_path: Path, specs: None, kernel: str
) -> None:
    """IPython's `_dh` and `starting_dir` named the pool's folder, where the kernel started:
    `%cd -` went back there. A forked kernel (python3) and one started cold for the pool
    (execline) are moved alike."""
    folder = (tmp_path / "notebooks").resolve()
    probe = (
        "%cd -\nimport json, os\n"
        "print(json.dumps([os.getcwd(), str(_dh[0]), get_ipython().starting_dir]))"
    )
    nb = notebook(folder / "cd.ipynb", "%cd /tmp", probe, kernel=kernel)
    with Studio.open(ws, user="alice") as studio:
        kernels = studio.executor.kernels
        assert kernels is not None and kernels.wait_full(kernel, timeout=120)
        out = papermill.execute_notebook(
            str(nb),
            None,
            engine_name="lpstudio",
            kernel_name=kernel,
            cwd=str(folder),
            progress_bar=False,
        )

    assert json.loads(printed(out.cells[-1]).splitlines()[-1]) == [str(folder)] * 3


# -- 5. what a forked kernel is told -------------------------------------------------------


def test_a_forked_kernels_command_line_is_a_cold_kernels(pooled: Studio, tmp_path: Path) -> None:
    """The fork server wrote `python -m ipykernel_launcher -f ...` in the kernel's sys.argv,
    where a kernel started cold has its launcher's file and papermill's options."""
    nb = notebook(tmp_path / "argv.ipynb", "import json, sys\nprint(json.dumps(sys.argv))")
    argv = {}
    for engine in ("lpstudio", None):
        out = papermill.execute_notebook(str(nb), None, engine_name=engine, progress_bar=False)
        argv[engine] = json.loads(printed(out.cells[-1]))

    def shape(args: list[str]) -> list[str]:  # the connection file is each kernel's own
        return [arg if i != 2 else "{connection_file}" for i, arg in enumerate(args)]

    assert shape(argv["lpstudio"]) == shape(argv[None])
