"""A running job's output notebook keeps up with its progress (a second behind at most),
so that what Open output shows while it runs, and what is left of it after a `kill -9`,
holds the cells it finished; a reaped job's error names the cell it died in, and one that
died before its notebook was first written names no notebook.

Each test waits on the store's state or on the notebook's file, never on sleeps.
"""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import subprocess
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import nbformat

from lpstudio.runner import output_path_for
from lpstudio.studio import Studio

from .conftest import LPSTUDIO, run_cli, run_json, set_job, wait_for, write_recipe


def wait_file(path: Path) -> str:
    """A cell that runs until the test creates `path`."""
    return f"import os, time\nwhile not os.path.exists({str(path)!r}):\n    time.sleep(0.01)"


def saved(path: Path) -> Any:
    """The output notebook as last written (each write replaces it whole), or None."""
    return nbformat.read(path, as_version=4) if path.exists() else None


def printed(cell: Any) -> str:
    return "".join(out.get("text", "") for out in cell.get("outputs", []))


def statuses(nb: Any) -> list[str]:
    return [cell.metadata.papermill["status"] for cell in nb.cells if "papermill" in cell.metadata]


def test_a_running_job_s_output_notebook_holds_the_cells_it_finished(
    studio: Studio, ws: Path, tmp_path: Path
) -> None:
    """Cells that end within a second of the last save were written only with the next
    save after that second: a long cell after them left the file with none of them, for as
    long as it ran."""
    gate = tmp_path / "gate"
    write_recipe(ws, "p/long", cells=("print('before')", wait_file(gate), "print('after')"))
    job, finished = studio.dispatch("p/long")
    try:
        wait_for(lambda: studio.job(job.id).output_path, timeout=60, what="the job to start")
        path = ws / studio.job(job.id).output_path

        def caught_up() -> Any:
            nb = saved(path)
            return nb if nb is not None and printed(nb.cells[1]) == "before\n" else None

        nb = wait_for(caught_up, timeout=20, what="the output notebook to show 'before'")
        assert statuses(nb) == ["completed", "completed", "running", "pending"]
    finally:
        gate.touch()
    done = finished.result(timeout=120)
    assert done.status == "succeeded", done.error
    assert printed(saved(path).cells[3]) == "after\n"


def test_what_a_long_cell_prints_is_in_its_output_notebook_while_it_runs(
    studio: Studio, ws: Path, tmp_path: Path
) -> None:
    """What a cell printed after its start was written only by papermill's autosave, 30 s
    later: Open output showed a long cell's progress that far behind."""
    started, gate = tmp_path / "started", tmp_path / "gate"
    long = f"{wait_file(started)}\nprint('half way', flush=True)\n{wait_file(gate)}"
    write_recipe(ws, "p/long", cells=("print('before')", long))
    job, finished = studio.dispatch("p/long")
    try:
        wait_for(lambda: studio.job(job.id).output_path, timeout=60, what="the job to start")
        path = ws / studio.job(job.id).output_path
        wait_for(
            lambda: (nb := saved(path)) is not None and printed(nb.cells[1]) == "before\n",
            timeout=20,
            what="the output notebook to show 'before'",
        )
        started.touch()  # the cell prints now, a save or more after its start
        nb = wait_for(
            lambda: (nb := saved(path)) is not None and printed(nb.cells[2]) == "half way\n" and nb,
            timeout=20,
            what="the output notebook to show what the running cell printed",
        )
        assert statuses(nb) == ["completed", "completed", "running"]
    finally:
        started.touch()
        gate.touch()
    assert finished.result(timeout=120).status == "succeeded"


def test_a_run_killed_in_a_long_cell_leaves_its_finished_cells_and_names_that_cell(
    ws: Path, tmp_path: Path
) -> None:
    """After a `kill -9` the notebook held only the reaper's banner over cells that never
    showed as run, and the error named no cell. Its `cell` counts as other errors' do:
    papermill's 0-based index into the notebook that ran, its injected parameters cell
    included, and it names the cell's In [N] as a stopped job's does (`describe_error`). The
    cell cut off was left "running" in a notebook whose job had ended: it is failed, as
    papermill marks a cell cut off, and the notebook marked with an exception."""
    gate = tmp_path / "gate"  # never created: the cell runs until the process dies
    # The long cell prints first: a save then holds the In [N] the kernel gave it.
    long = "print('during')\n" + wait_file(gate)
    write_recipe(ws, "p/long", parameters="n: int = 1", cells=("print('before')", long))
    with (tmp_path / "log").open("w") as log:
        proc = subprocess.Popen(
            [LPSTUDIO, "run", "p/long", "-p", "n", "2", "--workspace", str(ws)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        with Studio.open(ws, user="alice") as studio:

            def in_the_long_cell() -> Any:
                jobs = studio.jobs(status="running")
                return jobs[0] if jobs and jobs[0].cells_done == 3 else None

            job = wait_for(in_the_long_cell, timeout=60, what="the job in its long cell")
            path = ws / job.output_path
            wait_for(
                lambda: (nb := saved(path)) is not None and printed(nb.cells[3]) == "during\n",
                timeout=20,
                what="the output notebook to show 'during'",
            )
    finally:
        proc.kill()
        proc.wait(timeout=60)
    shown_text = run_cli("show", str(job.id), "--workspace", str(ws))  # any command reaps
    assert shown_text.returncode == 0, shown_text.stderr
    assert "error:    WorkerLost in cell 4 of 4 (In [4]): worker lost:" in shown_text.stdout
    code, shown = run_json("show", str(job.id), "--workspace", str(ws))
    assert code == 0 and shown["status"] == "failed", shown
    error = shown["error"]
    assert (error["ename"], error["cell"], error["execution_count"]) == ("WorkerLost", 3, 4)
    assert shown["progress"] == {"done": 3, "total": 4}
    nb = saved(path)
    banner, anchor, cells = nb.cells[0], nb.cells[4], nb.cells[1:4] + nb.cells[5:]
    assert "lpstudio: worker lost: the process running this job is gone" in banner.source
    assert banner.source.endswith(
        f' at <a href="#papermill-error-cell">In [4]</a><br>fix: `lpstudio rerun {job.id}` runs '
        "it again (a send its delivery ledger holds is not sent again)</span>"
    ), banner.source
    assert 'id="papermill-error-cell"' in anchor.source  # papermill's, before the cut-off cell
    assert printed(cells[2]) == "before\n"
    assert statuses(nb) == ["completed"] * 3 + ["failed"]
    assert cells[3].outputs[-1].ename == "WorkerLost"
    cut = cells[3].metadata.papermill
    assert (cut["exception"], cut["end_time"] is not None) == (True, True), cut
    assert cut["duration"] >= 0, cut
    ran = nb.metadata.papermill
    assert (ran["exception"], ran["end_time"] is not None) == (True, True), ran


def test_a_job_lost_before_its_notebook_was_written_names_no_notebook(ws: Path) -> None:
    """A process that died before papermill first wrote the job's notebook (while it read
    the job's secrets, say) left the job's `output_path` set: the job was then said to have
    lost its notebook, "moved or deleted from history/"."""
    write_recipe(ws, "p/early")
    gone = subprocess.Popen(["true"])
    gone.wait()  # a process id on this host that no longer runs
    with Studio.open(ws, user="alice") as studio:
        found = studio.recipe("p/early")
        version = studio.store.snapshot(found.name, found.canonical_json, {}, "alice")
        job = studio.store.create_job(
            recipe=found.name, version_id=version, trigger="manual", user="alice"
        )
        assert studio.store.start_job(job.id, 3, f"history/{job.id}-early.ipynb")
        set_job(studio.store, job.id, worker=f"{socket.gethostname()}:{gone.pid}")
    code, shown = run_json("show", str(job.id), "--workspace", str(ws))  # any command reaps
    assert code == 0 and shown["status"] == "failed", shown
    assert shown["error"]["cell"] is None  # no cell had run
    assert (shown["output_path"], shown["output_missing"]) == (None, False)


def test_a_store_restored_from_its_backup_writes_over_no_job_s_notebook(ws: Path) -> None:
    """README's backup, copied back after jobs ran on the upgraded store: job ids start again
    from the backup's last, and the next job of a reused id replaced the output notebook of
    the job that had it, without a word. It goes beside it now, named by its row."""
    write_recipe(ws, "misc/echo", "msg: str = 'hi'", ("print(msg)",))
    database, backup = ws / "lpstudio.db", ws / "lpstudio.db.bak"
    with closing(sqlite3.connect(database)) as live, closing(sqlite3.connect(backup)) as kept:
        live.backup(kept)  # README: Upgrading
    workspace, as_alice = ("--workspace", str(ws)), {"LPSTUDIO_USER": "alice"}

    code, first = run_json("run", "misc/echo", "-p", "msg", "upgraded", *workspace, env=as_alice)
    assert code == 0 and first["status"] == "succeeded", first
    written = (ws / first["output_path"]).read_bytes()
    hour_ago = time.time() - 3600  # a restore comes later than a second after (`_written_before`)
    os.utime(ws / first["output_path"], (hour_ago, hour_ago))
    shutil.copy(backup, database)  # the restore
    code, second = run_json("run", "misc/echo", "-p", "msg", "restored", *workspace, env=as_alice)
    assert code == 0 and second["id"] == first["id"], second

    assert (ws / first["output_path"]).read_bytes() == written
    mine = Path(second["output_path"])
    assert (
        mine.name == f"{first['id']}-echo.2.ipynb"
        and mine.parent == Path(first["output_path"]).parent
    ), second
    assert printed(saved(ws / mine).cells[-1]) == "restored\n", second
    code, shown = run_json("show", str(second["id"]), *workspace)
    assert code == 0 and shown["output_path"] == str(mine) and not shown["output_missing"], shown
    # Its own notebook, left by a run a stop interrupted (requeued), is written over.
    with Studio.open(ws, user="alice") as studio:
        assert output_path_for(studio.workspace, studio.store.job(second["id"])) == ws / mine
