"""The engine on kernels that are not what lpstudio's own are: a kernel of another language,
a pooled kernel that never answers, and a notebook named relative to papermill's `--cwd`.
`papermill --engine lpstudio` must run each as papermill does, or refuse it clearly, with
the output notebook's cell statuses telling the truth."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import papermill
import pytest

from lpstudio import pool as kernel_pool
from lpstudio.errors import LpstudioError, RecipeError
from lpstudio.pool import KernelPool, PoolSettings
from lpstudio.studio import Studio

from .conftest import LPSTUDIO, full_pool, gone, job_rows, printed, wait_for, write_recipe

PAPERMILL = str(Path(sys.executable).parent / "papermill")

# A wrapper kernel that is no Python: it knows assignments and arithmetic, one a line, and
# refuses anything else (as a bash or R kernel refuses Python) quoting the line.
CALC_KERNEL = """\
import ast, operator
from ipykernel.kernelbase import Kernel

OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul}


class CalcKernel(Kernel):
    implementation = language = "calc"
    implementation_version = language_version = "0.1"
    language_info = {"name": "calc", "mimetype": "text/plain", "file_extension": ".calc"}
    banner = "calc"
    names = {}

    def value(self, node):
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            return self.names[node.id]
        if isinstance(node, ast.BinOp) and type(node.op) in OPS:
            return OPS[type(node.op)](self.value(node.left), self.value(node.right))
        raise SyntaxError("calc understands only arithmetic")

    def do_execute(self, code, silent, store_history=True, user_expressions=None,
                   allow_stdin=False):
        result = None
        try:
            for line in filter(None, (line.strip() for line in code.splitlines())):
                statement = ast.parse(line).body[0]
                if isinstance(statement, ast.Assign):
                    self.names[statement.targets[0].id] = self.value(statement.value)
                elif isinstance(statement, ast.Expr):
                    result = self.value(statement.value)
                else:
                    raise SyntaxError("calc: unsupported statement: " + line)
        except Exception as exc:
            error = {"ename": type(exc).__name__, "evalue": str(exc), "traceback": [str(exc)]}
            if not silent:
                self.send_response(self.iopub_socket, "error", error)
            return {"status": "error", "execution_count": self.execution_count, **error}
        if not silent and result is not None:
            data = {"text/plain": repr(result)}
            content = {"execution_count": self.execution_count, "data": data, "metadata": {}}
            self.send_response(self.iopub_socket, "execute_result", content)
        return {"status": "ok", "execution_count": self.execution_count, "payload": [],
                "user_expressions": {}}


if __name__ == "__main__":
    from ipykernel.kernelapp import IPKernelApp

    IPKernelApp.launch_instance(kernel_class=CalcKernel)
"""


@pytest.fixture
def kernels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Installs `calc` (the calc kernel, language calc) and `pycalc` (the same kernel, whose
    spec says it is Python) in a Jupyter folder of their own; returns that folder."""
    where = tmp_path / "jupyter"
    program = where / "calckernel.py"
    for name, language in (("calc", "calc"), ("pycalc", "python")):
        folder = where / "kernels" / name
        folder.mkdir(parents=True)
        spec = {
            "argv": [sys.executable, str(program), "-f", "{connection_file}"],
            "display_name": name,
            "language": language,
        }
        (folder / "kernel.json").write_text(json.dumps(spec))
    program.write_text(CALC_KERNEL)
    monkeypatch.setenv("JUPYTER_PATH", str(where))
    return where


def notebook(path: Path, kernel: str, *sources: str) -> Path:
    """A notebook of code cells on kernel `kernel`, no parameters."""
    nb = nbformat.v4.new_notebook()
    nb.metadata.kernelspec = {"name": kernel, "display_name": kernel, "language": kernel}
    nb.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def shown(nb: Any) -> list[tuple[Any, str, list[str]]]:
    """Each cell's execution count, papermill status and text outputs."""
    return [
        (
            cell.execution_count,
            cell.metadata.papermill["status"],
            [out.get("data", {}).get("text/plain") or out.get("evalue") for out in cell.outputs],
        )
        for cell in nb.cells
    ]


CALC = ("n = 2", "1+2", "n*3")
CALC_RUN = [(1, "completed", []), (2, "completed", ["3"]), (3, "completed", ["6"])]


def test_a_recipe_on_a_kernel_that_is_not_python_is_refused_as_it_is_read(
    kernels: Path, ws: Path
) -> None:
    recipe = write_recipe(ws, "p/calc", parameters="n = 2", cells=("n*3",))
    nb = nbformat.read(recipe, as_version=4)
    # papermill finds a parameter translator for bash: the recipe reads as one.
    nb.metadata.kernelspec = {"name": "calc", "display_name": "Calc", "language": "bash"}
    nbformat.write(nb, recipe)

    with Studio.open(ws, user="alice") as studio, pytest.raises(RecipeError) as refused:
        studio.run("p/calc")

    assert refused.value.field == "metadata.kernelspec.name"
    assert "calc" in refused.value.message and "Python" in refused.value.message
    assert refused.value.fix is not None and "python3" in refused.value.fix
    assert job_rows(ws) == 0


def test_papermill_runs_a_notebook_on_another_language_as_papermill_does(
    kernels: Path, tmp_path: Path
) -> None:
    """No Python is sent to the kernel: it runs the notebook's cells alone."""
    calc = notebook(tmp_path / "nb" / "calc.ipynb", "calc", *CALC)
    ours, theirs = tmp_path / "ours.ipynb", tmp_path / "theirs.ipynb"

    papermill.execute_notebook(str(calc), str(ours), engine_name="lpstudio", progress_bar=False)
    papermill.execute_notebook(str(calc), str(theirs), progress_bar=False)

    assert shown(nbformat.read(ours, as_version=4)) == CALC_RUN
    assert shown(nbformat.read(theirs, as_version=4)) == CALC_RUN


def test_a_pool_never_hands_out_a_kernel_of_another_language(kernels: Path, tmp_path: Path) -> None:
    """A pooled kernel runs in the pool's folder until Python code moves it: a kernel of
    another language is started for its notebook, in the notebook's folder, as papermill
    starts it."""
    calc = notebook(tmp_path / "nb" / "calc.ipynb", "calc", *CALC)
    out = tmp_path / "out.ipynb"
    pool = kernel_pool.acquire(PoolSettings(size=1, fork=False))
    assert pool is not None
    try:
        pool.warm(("calc",))
        pool.wait_full("calc", timeout=120)
        assert pool.ready_count("calc") == 0
        papermill.execute_notebook(str(calc), str(out), engine_name="lpstudio", progress_bar=False)
    finally:
        kernel_pool.release(pool)
    assert shown(nbformat.read(out, as_version=4)) == CALC_RUN


def test_a_failed_bootstrap_quotes_no_job_context_and_runs_no_cell(kernels: Path, ws: Path) -> None:
    """A kernel that says it is Python and is not refuses lpstudio's bootstrap, quoting
    it: the job's context (its store's URL, its connections) stays out of the job's error."""
    recipe = write_recipe(ws, "p/liar", parameters="n = 2", cells=("n*3",))
    nb = nbformat.read(recipe, as_version=4)
    nb.metadata.kernelspec = {"name": "pycalc", "display_name": "Py", "language": "python"}
    nbformat.write(nb, recipe)

    with Studio.open(ws, user="alice") as studio:
        job = studio.run("p/liar")

    assert job.status == "failed"
    error = json.dumps(job.error)
    assert "pycalc" in error
    for context in ("store_url", "sqlite", str(ws), "_bind"):
        assert context not in error
    out = nbformat.read(ws / job.output_path, as_version=4)
    statuses = [c.metadata.papermill["status"] for c in out.cells if c.cell_type == "code"]
    assert statuses == ["pending", "pending"]
    assert "store_url" not in (ws / job.output_path).read_text()


@pytest.fixture
def stopped_pool() -> Iterator[tuple[KernelPool, int]]:
    """A pool whose one python3 kernel (forked, ready) is stopped (SIGSTOP): it looks alive
    and never answers."""
    pool = kernel_pool.acquire(PoolSettings(size=1))
    assert pool is not None
    pid = None
    try:
        assert pool.wait_full("python3", timeout=120)
        pid = pool._ready["python3"][0].km.provisioner.pid
        os.kill(pid, signal.SIGSTOP)
        yield pool, pid
    finally:
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):  # the engine killed it already
                os.kill(pid, signal.SIGKILL)
        kernel_pool.release(pool)


def test_a_pooled_kernel_that_never_answers_fails_clearly_and_runs_no_cell(
    stopped_pool: tuple[KernelPool, int], tmp_path: Path
) -> None:
    _, pid = stopped_pool
    plain = notebook(tmp_path / "nb" / "plain.ipynb", "python3", "x = 1", "print(x)")
    out = tmp_path / "out.ipynb"

    with pytest.raises(LpstudioError) as failed:
        papermill.execute_notebook(
            str(plain),
            str(out),
            engine_name="lpstudio",
            progress_bar=False,
            start_timeout=2,
            execution_timeout=5,
        )

    assert "python3" in failed.value.message and str(pid) in failed.value.message
    assert "2 s" in failed.value.message
    assert failed.value.fix is not None and "--start-timeout" in failed.value.fix
    nb = nbformat.read(out, as_version=4)
    assert [status for _, status, _ in shown(nb)] == ["pending", "pending"]
    assert nb.metadata.papermill["exception"] is True


@pytest.fixture
def two_second_start(ws: Path) -> None:
    """Jobs give their kernels a start timeout of 2 s, as an admin sets it in lpstudio.toml."""
    config = ws / "lpstudio.toml"
    config.write_text(config.read_text().replace("start_timeout = 60", "start_timeout = 2"))


@pytest.mark.usefixtures("two_second_start")
def test_a_job_on_a_pooled_kernel_that_never_answers_fails(ws: Path) -> None:
    """A job's kernel that is not forked on the prepared shell gets a bootstrap request; a
    kernel that never answers it fails the job (in a final state, with a clear error)."""
    config = ws / "lpstudio.toml"
    config.write_text(config.read_text().replace("fork = true", "fork = false"))
    write_recipe(ws, "p/plain")
    with Studio.open(ws, user="alice") as studio:
        pool = studio.executor.kernels
        assert pool is not None
        pool.warm()
        assert pool.wait_full("python3", timeout=120)
        pid = pool._ready["python3"][0].km.provisioner.pid
        os.kill(pid, signal.SIGSTOP)
        try:
            job = studio.run("p/plain")
        finally:
            with contextlib.suppress(ProcessLookupError):  # the job killed it already
                os.kill(pid, signal.SIGKILL)

    assert job.status == "failed", job
    assert job.error["cell"] is None
    assert "did not answer in 2 s" in job.error["evalue"]
    assert job.cells_done == 0


@pytest.mark.usefixtures("two_second_start")
def test_a_job_on_a_stopped_forked_kernel_fails_at_the_start_timeout(ws: Path) -> None:
    """A kernel forked on the prepared shell takes its job from the job's first cell: one
    that never acknowledges that cell fails the job at the start timeout, before any cell,
    naming the kernel and its process, and is killed (the recipe's own timeout, 60 s, is
    only the test's guard)."""
    write_recipe(ws, "p/plain", metadata={"title": "plain", "timeout": 60})
    with full_pool(ws) as studio:
        kernels = studio.executor.kernels
        assert kernels is not None
        pid = kernels._ready["python3"][0].km.provisioner.pid
        os.kill(pid, signal.SIGSTOP)
        try:
            job = studio.run("p/plain")
            wait_for(lambda: gone(pid), timeout=10, what="the stopped kernel killed")
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    assert job.status == "failed", job
    assert job.error["cell"] is None and job.cells_done == 0
    assert "did not answer in 2 s" in job.error["evalue"]
    assert "python3" in job.error["evalue"] and f"process {pid}" in job.error["evalue"]
    assert "`start_timeout` under [kernels]" in job.error["evalue"]  # the setting, named
    nb = nbformat.read(ws / job.output_path, as_version=4)
    statuses = {c.metadata.papermill["status"] for c in nb.cells if c.cell_type == "code"}
    assert statuses == {"pending"} and nb.metadata.papermill["exception"] is True


@pytest.mark.usefixtures("two_second_start")
def test_a_first_cell_longer_than_the_start_timeout_runs_on_a_forked_kernel(ws: Path) -> None:
    """The start timeout bounds the kernel's acknowledgement of the first cell, not its run."""
    write_recipe(ws, "p/slow", parameters="x: int = 1  # a number\nimport time\ntime.sleep(3)")
    with full_pool(ws) as studio:
        job = studio.run("p/slow")
    assert job.status == "succeeded", job.error
    assert job.cells_done == 3


def test_a_relative_notebook_is_the_one_papermill_read_not_the_one_in_cwd(
    ws: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`cd a && papermill --engine lpstudio nb.ipynb out --cwd ../b`, in a workspace:
    papermill reads a's notebook and runs it in b; the kernel is told a's notebook, never
    b's namesake."""
    told = "import os\nprint(os.environ.get('JPY_SESSION_NAME'))"
    mine = notebook(ws / "a" / "nb.ipynb", "python3", told)
    notebook(ws / "b" / "nb.ipynb", "python3", "print('the other notebook')")
    out = tmp_path / "out.ipynb"
    monkeypatch.chdir(mine.parent)

    papermill.execute_notebook(
        "nb.ipynb", str(out), engine_name="lpstudio", progress_bar=False, cwd="../b"
    )

    assert printed(nbformat.read(out, as_version=4).cells[0]) == f"{mine}\n"


def test_papermills_command_with_cwd_tells_the_kernel_the_notebook_it_read(
    ws: Path, tmp_path: Path
) -> None:
    told = "import os\nprint(os.environ.get('JPY_SESSION_NAME'), os.getcwd())"
    mine = notebook(ws / "a" / "nb.ipynb", "python3", told)
    notebook(ws / "b" / "nb.ipynb", "python3", "print('the other notebook')")
    out = tmp_path / "out.ipynb"
    env = {**os.environ, "PWD": str(mine.parent)}
    env.pop("LPSTUDIO_WORKSPACE", None)

    ran = subprocess.run(
        [PAPERMILL, "--engine", "lpstudio", "nb.ipynb", str(out), "--cwd", "../b"],
        capture_output=True,
        text=True,
        cwd=mine.parent,
        env=env,
        timeout=120,
    )

    assert ran.returncode == 0, ran.stderr
    shown = printed(nbformat.read(out, as_version=4).cells[0])
    assert shown == f"{mine} {ws / 'b'}\n"


def test_a_kernel_that_does_not_start_in_the_start_timeout_names_the_setting(
    ws: Path, tmp_path: Path
) -> None:
    """A kernel started for the job (no pool for its spec) that never answers failed it with
    jupyter_client's bare `RuntimeError: Kernel didn't respond in 2 seconds` (rv), while a
    pooled one named the setting that gives kernels longer."""
    from .test_kernel_orphans import hanging_kernel

    config = ws / "lpstudio.toml"
    config.write_text(config.read_text().replace("start_timeout = 60", "start_timeout = 2"))
    path = write_recipe(ws, "p/hangs", cells=("print('never')",))
    nb = nbformat.read(path, as_version=4)
    nb.metadata.kernelspec = {"name": "hangs", "display_name": "hangs", "language": "python"}
    nbformat.write(nb, path)
    env = hanging_kernel(tmp_path, tmp_path / "pids")

    done = subprocess.run(
        [LPSTUDIO, "run", "p/hangs", "--json", "--workspace", str(ws)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 1, done.stderr
    job = json.loads(done.stdout)
    assert job["status"] == "failed" and job["error"]["cell"] is None, job
    said = job["error"]["evalue"]
    assert "hangs kernel" in said and "did not answer in 2 s" in said, said
    assert "`start_timeout` under [kernels]" in said, said
