"""A job whose output notebook cannot be saved (a full disk, a folder in its place) ends in a
true final state saying so, with no half-written file beside it: the notebook's save raised
out of the job's end, which left the job running until it was taken for lost."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from lpstudio.cli import main
from lpstudio.jobviews import job_to_dict
from lpstudio.runner import execute_job, output_path_for
from lpstudio.studio import Studio
from tests.conftest import read_only, write_recipe
from tests.test_job_faults import queue_webhook_job
from tests.test_run import run_json

#: Puts a folder where the job's output notebook is saved: its every save then fails.
BLOCK = """\
import pathlib
import lpstudio.kernel as lp
out = next(pathlib.Path('../../history').glob(f'*/{lp.context().job_id}-full.ipynb'))
out.unlink()
(out / 'in-the-way').mkdir(parents=True)"""

#: Puts a file where the job's day's folder was (moved away): its every save then fails.
MOVE_DAY = """\
import pathlib, time
import lpstudio.kernel as lp
day = next(pathlib.Path('../../history').glob(f'*/{lp.context().job_id}-late.ipynb')).parent
day.rename(day.with_name(day.name + '-moved'))
day.write_text("a file where the day's folder was")
time.sleep(1.1)  # the cell outlasts a save's second: the job's next save is due"""


def test_a_job_whose_notebook_cannot_be_saved_ends_failed_saying_why(ws: Path) -> None:
    write_recipe(ws, "p/full", cells=(BLOCK, "print('after')"))
    code, job = run_json("run", "p/full", "--workspace", str(ws))
    assert code == 1, job
    assert job["status"] == "failed", job
    said = json.dumps(job["error"])
    assert "could not be saved" in said, job["error"]
    out = next((ws / "history").glob(f"*/{job['id']}-full.ipynb")).relative_to(ws)
    assert job["error"]["fix"] == (  # what is in the way, then this job's own rerun
        f"mend what stops the save of {out} (Is a directory); then "
        f"`lpstudio rerun {job['id']}` if its notebook is needed"
    )
    assert list((ws / "history").glob("*/.*.tmp")) == []


def test_a_job_whose_history_folder_goes_unwritable_runs_on_and_blames_no_cell(
    ws: Path, tmp_path: Path
) -> None:
    """A save that failed while the job ran raised out of papermill's cell loop: the job
    stopped there, failed as `NotADirectoryError in cell 2`, its later cells never ran."""
    ran = tmp_path / "ran"
    write_recipe(ws, "p/late", cells=(MOVE_DAY, f"open({str(ran)!r}, 'w').write('ran')", "1"))
    code, job = run_json("run", "p/late", "--workspace", str(ws))
    assert (code, job["status"]) == (1, "failed"), job
    assert job["error"]["ename"] == "OutputNotSaved", job["error"]
    assert job["error"].get("cell") is None, job["error"]  # no cell did anything wrong
    moved = next((ws / "history").glob("*-moved")).relative_to(ws)
    out = moved.with_name(moved.name.removesuffix("-moved")) / f"{job['id']}-late.ipynb"
    assert job["error"]["fix"] == (
        f"mend what stops the save of {out} (Not a directory); then "
        f"`lpstudio rerun {job['id']}` if its notebook is needed"
    )
    assert job["progress"]["done"] == job["progress"]["total"], job["progress"]
    assert ran.read_text() == "ran"  # its cells after the failed save ran all the same


def file_for_day(output: Path) -> str:
    """The job's day's folder cannot be made: a file is in its place."""
    output.parent.parent.mkdir(parents=True, exist_ok=True)
    output.parent.write_text("a file where the day's folder goes")
    return "File exists"


def folder_for_notebook(output: Path) -> str:
    """The day's folder is there, but the job's notebook cannot be written in it."""
    (output / "in-the-way").mkdir(parents=True)
    return "Is a directory"


@pytest.mark.parametrize("block", [file_for_day, folder_for_notebook])
def test_a_job_whose_history_folder_is_unwritable_runs_no_cell_and_says_none_written(
    ws: Path, tmp_path: Path, block: Callable[[Path], str]
) -> None:
    """It failed as a bare `FileExistsError` or `IsADirectoryError` with no fix, the second
    naming its output notebook as moved or deleted from history/ (put it back to open it:
    it was never written)."""
    ran = tmp_path / "ran"
    write_recipe(ws, "p/early", cells=(f"open({str(ran)!r}, 'w').write('ran')",))
    with Studio.open(ws, user="alice") as studio:
        job = queue_webhook_job(studio, "p/early")
        output = output_path_for(studio.workspace, job)
        said = block(output)
        done = execute_job(studio.workspace, studio.store, job.id)
        shown = job_to_dict(done, studio.workspace)
    assert (shown["status"], shown["progress"]["done"]) == ("failed", 0), shown
    assert (shown["output_path"], shown["output_missing"]) == (None, False), shown
    assert shown["error"]["ename"] == "OutputNotSaved", shown["error"]
    assert shown["error"]["evalue"].endswith(", so none of its cells ran"), shown["error"]
    assert shown["error"]["fix"] == (  # the system's word, its notebook named as in history/
        f"mend what stops the save of {output.relative_to(ws)} ({said}); then "
        f"`lpstudio rerun {job.id}`"
    ), shown["error"]
    assert not ran.exists()
    said = CliRunner().invoke(main, ["show", str(job.id), "--workspace", str(ws)]).output
    assert "output:   none written (it ended before its notebook ran)" in said, said


def test_a_job_whose_history_folder_may_not_be_written_says_to_give_write_access(
    ws: Path,
) -> None:
    """The fix said for every failed save was "free space in (or give write access to)":
    for a folder its user may not write, room on the disk was no cure."""
    write_recipe(ws, "p/early", cells=("1",))
    with Studio.open(ws, user="alice") as studio:
        job = queue_webhook_job(studio, "p/early")
        day = output_path_for(studio.workspace, job).parent
        day.mkdir(parents=True)
        with read_only(day):
            done = execute_job(studio.workspace, studio.store, job.id)
    assert done.error is not None and done.error["ename"] == "OutputNotSaved", done.error
    assert done.error["fix"] == (
        "give the user lpstudio runs as write access to the workspace's history/ folder; "
        f"then `lpstudio rerun {job.id}`"
    ), done.error
