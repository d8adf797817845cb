"""What a job's kernel writes below Python (a shell command, a subprocess that inherits the
kernel's output, a C library: file descriptors 1 and 2) is shown in its cell's output,
masked as printed text is, as JupyterLab shows it; and never on the studio's own stdout
(`lpstudio run --json`'s answer) or stderr, where ipykernel copied it unmasked."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from lpstudio.studio import Studio

from .conftest import full_pool, printed, run_cli, write_recipe

TOKEN = "crm-token-31337"

SHELL = """\
import os, subprocess, sys
import lpstudio.kernel as lp
os.environ["CRM_TOKEN"] = lp.connection("crm").connection.config["token"]
os.system("echo shell $CRM_TOKEN; echo shell-err $CRM_TOKEN >&2")
subprocess.run(["echo", "child", os.environ["CRM_TOKEN"]])
"""

#: A subprocess given the kernel's stdout: its descriptor is the watched one.
GIVEN = 'subprocess.run(["echo", "given", os.environ["CRM_TOKEN"]], stdout=sys.stdout)'

#: The cells' output, masked, in the order it was written.
SHOWN = {"stdout": "shell ****\nchild ****\ngiven ****\n", "stderr": "shell-err ****\n"}


@pytest.fixture
def shell_ws(ws: Path) -> Path:
    """The workspace with a recipe `t/shell` whose shell commands echo its `crm` token,
    and `t/shell-only` without the subprocess given the kernel's stdout."""
    with Studio.open(ws, user="alice") as studio:
        values = {"auth_type": "bearer", "token": TOKEN, "base_url": "https://crm.example"}
        studio.connections.add("crm", "http", values, "alice")
    metadata = {"title": "shell", "connections": {"crm": {"type": "http"}}}
    write_recipe(ws, "t/shell", "x: int = 1", (SHELL, GIVEN), metadata)
    write_recipe(ws, "t/shell-only", "x: int = 1", (SHELL,), metadata)
    return ws


def outside_pytest(monkeypatch: pytest.MonkeyPatch) -> None:
    """Kernels started from now on capture their descriptors as outside pytest: ipykernel
    leaves them alone in a process whose environment names a pytest test (which pytest
    sets again as each phase of a test begins: called in the test itself)."""
    monkeypatch.delenv("PYTEST_CURRENT_TEST", raising=False)


def shown(root: Path, output_path: str) -> dict[str, str]:
    """The recipe's cells' stream outputs, joined per stream as JupyterLab shows them."""
    nb = nbformat.read(root / output_path, as_version=4)
    cells = [c for c in nb.cells if "CRM_TOKEN" in c.source]
    err = "".join(o.text for c in cells for o in c.outputs if o.get("name") == "stderr")
    return {"stdout": "".join(printed(c) for c in cells), "stderr": err}


def test_a_cold_kernels_shell_output_is_in_its_cell_masked_not_on_the_clis_stdout(
    shell_ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`lpstudio run` starts its one job's kernel the normal way (the pool fills later)."""
    outside_pytest(monkeypatch)
    ran = run_cli("run", "t/shell", "--workspace", str(shell_ws), "--json")

    assert ran.returncode == 0, ran.stderr
    assert TOKEN not in ran.stdout + ran.stderr
    job = json.loads(ran.stdout)  # nothing but the job
    assert job["status"] == "succeeded"
    assert shown(shell_ws, job["output_path"]) == SHOWN


def test_a_forked_kernels_shell_output_is_in_its_cell_masked_not_on_the_studios_output(
    shell_ws: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    outside_pytest(monkeypatch)
    with full_pool(shell_ws) as studio:
        job = studio.run("t/shell")

    said = capfd.readouterr()  # this process's descriptors, which the fork server shares
    assert TOKEN not in said.out + said.err
    assert job.status == "succeeded", job.error
    assert job.output_path is not None
    assert shown(shell_ws, job.output_path) == SHOWN


def test_output_no_reader_watches_is_dropped_not_shown(shell_ws: Path) -> None:
    """Under pytest ipykernel does not watch its descriptors (nor with `capture_fd_output`
    off): the job's shell output cannot reach its notebook, and goes nowhere else either."""
    ran = run_cli("run", "t/shell-only", "--workspace", str(shell_ws), "--json")

    assert ran.returncode == 0, ran.stderr
    assert TOKEN not in ran.stdout + ran.stderr
    job = json.loads(ran.stdout)
    assert job["status"] == "succeeded"
    assert "shell" not in shown(shell_ws, job["output_path"])["stdout"]
