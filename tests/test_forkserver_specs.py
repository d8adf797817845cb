"""Kernel specs a fork of the fork server cannot stand in for: options on the launcher's
command line, or an environment that only a new interpreter reads. A kernel of such a spec
from the pool behaves as one started cold; the standard spec is still forked."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nbformat
import papermill
import pytest

from lpstudio import pool as kernel_pool
from lpstudio.pool import KernelPool, PoolSettings

from .conftest import printed

LAUNCHER = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
PROBE = (
    "import os, sys\n"
    "import extramod\n"
    "print(globals().get('EXECLINE'), hash('abc'), extramod.X, os.environ.get('SPECVAR'))"
)


@pytest.fixture
def specs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Kernel specs of this interpreter: `execline` (an option after the connection file),
    `pythonpath` (PYTHONPATH and PYTHONHASHSEED in its environment), `specvar` (an
    environment variable the kernel reads as it runs, no more). Returns the folder of a
    module, `extramod`, on PYTHONPATH in the second and in the process for the others."""
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "extramod.py").write_text("X = 'extra'\n")
    defined = {
        "execline": {"argv": [*LAUNCHER, "--IPKernelApp.exec_lines=['EXECLINE=42']"]},
        "pythonpath": {
            "argv": LAUNCHER,
            "env": {"PYTHONPATH": str(extra), "PYTHONHASHSEED": "0"},
        },
        "specvar": {"argv": LAUNCHER, "env": {"SPECVAR": "from-spec"}},
    }
    for name, fields in defined.items():
        folder = tmp_path / "jupyter" / "kernels" / name
        folder.mkdir(parents=True)
        spec = {"display_name": name, "language": "python", **fields}
        (folder / "kernel.json").write_text(json.dumps(spec))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.delenv("PYTHONHASHSEED", raising=False)
    monkeypatch.delenv("PYTHONPATH", raising=False)
    return extra


@pytest.fixture
def pool(specs: Path) -> Iterator[KernelPool]:
    """This process's pool (a fork server), full of kernels of every spec."""
    names = ("python3", "execline", "pythonpath", "specvar")
    pool = kernel_pool.acquire(PoolSettings(size=1, warm=names))
    assert pool is not None
    try:
        pool.warm()
        for name in names:
            assert pool.wait_full(name, timeout=120), name
        yield pool
    finally:
        kernel_pool.release(pool)


def run(notebook_folder: Path, kernel: str, extra: Path) -> str:
    """What PROBE prints on a kernel of `kernel`, run by `papermill --engine lpstudio` in
    this process (whose pool serves it); `extra` is importable however the spec says."""
    nb = nbformat.v4.new_notebook()
    nb.metadata.kernelspec = {"name": kernel, "display_name": kernel, "language": "python"}
    source = PROBE if kernel == "pythonpath" else f"sys.path.append({str(extra)!r})\n" + PROBE
    nb.cells = [nbformat.v4.new_code_cell("import sys"), nbformat.v4.new_code_cell(source)]
    path = notebook_folder / f"{kernel}.ipynb"
    nbformat.write(nb, path)
    out = papermill.execute_notebook(
        str(path), None, engine_name="lpstudio", progress_bar=False, kernel_name=kernel
    )
    return printed(out.cells[-1])


def seeded_hash() -> str:
    """hash('abc') in an interpreter started with PYTHONHASHSEED=0."""
    code = "print(hash('abc'))"
    env = {"PYTHONHASHSEED": "0", "PATH": ""}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    ).stdout.strip()


def test_a_spec_with_launcher_options_or_start_environment_runs_as_if_started_cold(
    pool: KernelPool, specs: Path, tmp_path: Path
) -> None:
    assert pool.ready_count("execline") == pool.ready_count("pythonpath") == 1
    execline = run(tmp_path, "execline", specs).split()
    assert execline[0] == "42", "the spec's exec_lines ran"
    pythonpath = run(tmp_path, "pythonpath", specs).split()
    assert pythonpath[1:3] == [seeded_hash(), "extra"], "PYTHONHASHSEED and PYTHONPATH held"


def test_the_standard_spec_and_a_plain_environment_are_still_forked(
    pool: KernelPool, specs: Path, tmp_path: Path
) -> None:
    for name in ("python3", "specvar"):
        (ready,) = pool._ready[name]
        assert type(ready.km.provisioner).__name__ == "ForkProvisioner", name
        assert ready.prepared, name
    for name in ("execline", "pythonpath"):
        (ready,) = pool._ready[name]
        assert type(ready.km.provisioner).__name__ == "GuardedProvisioner", name
    assert run(tmp_path, "specvar", specs).split()[-1] == "from-spec"
