"""A running cell's output, saved while it runs (Open output, and what a `kill -9` leaves),
never shows a secret whose line the cell has not ended yet: each save masked a stream's
text as it stood, and a secret printed but for its last character is no secret yet. The
finished notebook is masked as before.

Each test waits on the output notebook's file or on a file the test creates, never on
sleeps (a cell's own loop polls for the test's file).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat

from lpstudio.redaction import scrub_unfinished
from lpstudio.studio import Studio

from .conftest import wait_for, write_recipe

PAPERMILL = str(Path(sys.executable).parent / "papermill")
TOKEN = "bearer-SECRET-9876xyz"


def add_api(ws: Path) -> None:
    """An http connection `api` whose bearer token is `TOKEN`, given as a secret."""
    with Studio.open(ws, user="alice") as studio:
        values = {"auth_type": "bearer", "token": TOKEN, "base_url": "https://api.example"}
        studio.connections.add("api", "http", values, "alice")


def half_printed(ws: Path, gate: Path) -> Path:
    """A recipe printing the token but for its last character, then the rest once the test
    creates `gate`; meanwhile it ticks on stderr, so that papermill's autosave, which runs
    as output comes, has messages to run on."""
    cells = (
        "import os, sys, time\nimport lpstudio.kernel as lp\n"
        'tok = lp.connection("api").connection.config["token"]',
        'sys.stdout.write("B:" + tok[:-1]); sys.stdout.flush()\n'
        f"while not os.path.exists({str(gate)!r}):\n"
        '    sys.stderr.write("."); sys.stderr.flush(); time.sleep(0.1)\n'
        'sys.stdout.write(tok[-1:] + "\\n")',
    )
    metadata = {"title": "Partial", "connections": {"api": {"type": "http"}}}
    return write_recipe(ws, "p/partial", cells=cells, metadata=metadata)


def stdout_of_running(path: Path) -> str | None:
    """What the output notebook's running cell shows on stdout, once it shows any (papermill
    writes its file in place: a read may find it part-written)."""
    try:
        nb = nbformat.read(path, as_version=4)
    except (OSError, ValueError):  # not there yet, or part-written
        return None
    for cell in nb.cells:
        if cell.metadata.get("papermill", {}).get("status") == "running":
            return printed(cell) or None
    return None


def printed(cell: Any) -> str:
    """A cell's stdout, its outputs joined."""
    outputs = cell.get("outputs", [])
    return "".join(out.get("text", "") for out in outputs if out.get("name") == "stdout")


def assert_no_part_of_the_token(text: str) -> None:
    for piece in (TOKEN[:-1], "SECRET-9876", "bearer-SE", TOKEN[5:]):
        assert piece not in text


def test_a_running_jobs_output_notebook_masks_a_secret_its_line_has_not_ended(
    studio: Studio, ws: Path, tmp_path: Path
) -> None:
    """The job's periodic save (`NotebookWriter`) showed "B:bearer-SECRET-9876xy", 20 of
    the token's 21 characters, until the cell ended its line."""
    add_api(ws)
    gate = tmp_path / "gate"
    half_printed(ws, gate)
    job, finished = studio.dispatch("p/partial")
    try:
        wait_for(lambda: studio.job(job.id).output_path, timeout=60, what="the job to start")
        path = ws / studio.job(job.id).output_path
        shown = wait_for(
            lambda: stdout_of_running(path), timeout=60, what="the running cell's stdout"
        )
        assert shown == "B:****"
        assert_no_part_of_the_token(path.read_text())
    finally:
        gate.touch()
    done = finished.result(timeout=120)
    assert done.status == "succeeded", done.error
    nb = nbformat.read(path, as_version=4)
    assert printed(nb.cells[-1]) == "B:****\n"  # the finished cell, masked as before
    assert_no_part_of_the_token(path.read_text())


def test_papermills_own_saves_mask_it_too(ws: Path, tmp_path: Path) -> None:
    """`papermill --engine lpstudio` in a workspace: papermill's autosave of the running
    cell (`scrub_saves`) showed the token but for its last character."""
    add_api(ws)
    gate, out = tmp_path / "gate", tmp_path / "out.ipynb"
    notebook = half_printed(ws, gate)
    env = {k: v for k, v in os.environ.items() if k != "LPSTUDIO_WORKSPACE"}
    env["PWD"] = str(notebook.parent)
    command = [PAPERMILL, "--engine", "lpstudio", "--autosave-cell-every", "1"]
    proc = subprocess.Popen(
        [*command, "--no-progress-bar", notebook.name, str(out)],
        cwd=notebook.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        shown = wait_for(lambda: stdout_of_running(out), timeout=60, what="the running cell")
        assert shown == "B:****"
        assert_no_part_of_the_token(out.read_text())
    finally:
        gate.touch()
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    nb = nbformat.read(out, as_version=4)
    assert printed(nb.cells[-1]) == "B:****\n"
    assert_no_part_of_the_token(out.read_text() + err)


def test_only_a_beginning_long_enough_to_tell_is_masked() -> None:
    """Fewer than 4 characters of a long secret give nothing away, and ordinary text ends
    in as few often; a short secret's beginning is masked from half of it. A beginning in
    another form (hex, any case) counts too, and a whole secret is masked as ever."""
    secrets = {TOKEN, "pin42"}
    assert scrub_unfinished("B:bea", secrets) == "B:bea"
    assert scrub_unfinished("B:bear", secrets) == "B:****"
    assert scrub_unfinished("B:BEARER-sec", secrets) == "B:****"
    assert scrub_unfinished("hex " + TOKEN.encode().hex()[:10], secrets) == "hex ****"
    assert scrub_unfinished("n=pi", secrets) == "n=pi"
    assert scrub_unfinished("n=pin", secrets) == "n=****"
    assert scrub_unfinished(f"{TOKEN} {TOKEN[:8]}", secrets) == "**** ****"
    assert scrub_unfinished(f"{TOKEN}\nline done", secrets) == "****\nline done"
