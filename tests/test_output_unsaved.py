"""A job whose output notebook cannot be saved (a full disk, a folder in its place) ends in a
true final state saying so, with no half-written file beside it: the notebook's save raised
out of the job's end, which left the job running until it was taken for lost."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import write_recipe
from tests.test_run import run_json

#: Puts a folder where the job's output notebook is saved: its every save then fails.
BLOCK = """\
import pathlib
import lpstudio.kernel as lp
out = next(pathlib.Path('../../history').glob(f'*/{lp.context().job_id}-full.ipynb'))
out.unlink()
(out / 'in-the-way').mkdir(parents=True)"""


def test_a_job_whose_notebook_cannot_be_saved_ends_failed_saying_why(ws: Path) -> None:
    write_recipe(ws, "p/full", cells=(BLOCK, "print('after')"))
    code, job = run_json("run", "p/full", "--workspace", str(ws))
    assert code == 1, job
    assert job["status"] == "failed", job
    said = json.dumps(job["error"])
    assert "could not be saved" in said, job["error"]
    assert job["error"]["fix"] == (  # this job's own rerun, once there is room again
        "free space in (or give write access to) the workspace's history/ folder; then "
        f"`lpstudio rerun {job['id']}` if its notebook is needed"
    )
    assert list((ws / "history").glob("*/.*.tmp")) == []
