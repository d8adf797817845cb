"""A job's outputs are capped (`[jobs] max_output_mb`), as JupyterLab's server caps what
reaches a browser: a cell printing in a loop grew the output notebook, the memory of the
process running the job and each save of the notebook without end. Past the cap the cells
run on, their outputs dropped, and the cell where it was passed says so once; a job under
the cap keeps its outputs as papermill's own engine keeps them.

Real kernels, the real store; a cap of 1 MB keeps each test short.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import papermill
import pytest

from lpstudio.errors import WorkspaceError
from lpstudio.studio import Studio

from .conftest import set_setting, write_recipe

#: What the note in the cell where the cap was passed begins with.
NOTE = "lpstudio: output stopped here: this job's outputs passed jobs.max_output_mb (1 MB)"
#: A cell printing 5 MB in a loop.
NOISY = "for i in range(5_000):\n    print('x' * 999)"


def outputs(path: Path) -> list[list[Any]]:
    """Each cell's outputs in the notebook at `path`."""
    return [cell.get("outputs", []) for cell in nbformat.read(path, as_version=4).cells]


def test_a_job_printing_past_the_cap_runs_to_its_end_its_notebook_capped_and_saying_so(
    ws: Path,
) -> None:
    """5 MB printed in a loop under a 1 MB cap: the job succeeds, its notebook holds the
    first megabyte of the lines and the note once, and the cell after it still ran (its
    file written) though what it printed was dropped."""
    set_setting(ws, "max_output_mb", "1")
    line = "x" * 999
    write_recipe(
        ws,
        "p/noisy",
        cells=(
            NOISY,
            "import pathlib\npathlib.Path('after.txt').write_text('ran')\nprint('after')\n1 + 1",
        ),
    )
    with Studio.open(ws, user="alice") as studio:
        job = studio.run("p/noisy")

    assert job.status == "succeeded", job.error
    output = ws / job.output_path
    assert output.stat().st_size < 1_000_000 + 50_000  # the cap, and the notebook around it
    assert (ws / "projects" / "p" / "after.txt").read_text() == "ran"
    _, noisy, after = outputs(output)
    notes = [
        out for cell in outputs(output) for out in cell if out.get("text", "").startswith(NOTE)
    ]
    assert len(notes) == 1 and noisy[-1] == notes[0], noisy[-1]
    assert notes[0].name == "stderr"
    assert "raise max_output_mb under [jobs] in lpstudio.toml" in notes[0].text
    kept = "".join(out.text for out in noisy[:-1])
    assert 900_000 < len(kept) <= 1_000_000 and kept == f"{line}\n" * (len(kept) // 1000)
    assert after == []  # its print and its value dropped


# Each line written whole (a `print` writes its end apart: two outputs, or one, as the
# kernel's stream flushes fall).
PROGRESS = """\
import sys
from IPython.display import clear_output, display
for i in range(120):  # 1.2 MB drawn in all, one line kept
    clear_output(wait=True)
    sys.stdout.write(f"{i:04d} " + "y" * 9_995 + "\\n")"""

DISPLAYS = """\
import sys
handle = display({"text/plain": "first", "text/html": "<b>first</b>"}, raw=True, display_id=True)
handle.update({"text/plain": "second"}, raw=True)
sys.stdout.write("to stdout\\n"); sys.stdout.flush()
sys.stderr.write("to stderr\\n")
{"a": 1}"""


def test_a_job_under_the_cap_keeps_its_outputs_as_papermill_does(ws: Path, tmp_path: Path) -> None:
    """A progress line redrawn in place over more than the cap in all, a display updated,
    both streams and a value: byte for byte what papermill's own engine keeps."""
    set_setting(ws, "max_output_mb", "1")
    path = write_recipe(ws, "p/tidy", cells=(PROGRESS, DISPLAYS))
    theirs = tmp_path / "theirs.ipynb"
    papermill.execute_notebook(str(path), str(theirs), progress_bar=False)
    with Studio.open(ws, user="alice") as studio:
        job = studio.run("p/tidy")

    assert job.status == "succeeded", job.error
    ours = outputs(ws / job.output_path)
    assert ours == outputs(theirs)
    last = "0119 " + "y" * 9_995 + "\n"
    assert ours[1] == [{"name": "stdout", "output_type": "stream", "text": last}]


@pytest.mark.parametrize("value", ["0", "0.5", "10001", '"50"', "nan"])
def test_a_bad_cap_is_refused_naming_the_setting_and_the_fix(ws: Path, value: str) -> None:
    set_setting(ws, "max_output_mb", value)
    with pytest.raises(WorkspaceError) as refused:
        Studio.open(ws, user="alice")
    error = refused.value
    assert error.field == "jobs.max_output_mb"
    assert "[jobs] max_output_mb must be a number of megabytes of outputs from 1 to 10000" in (
        error.message
    )
    assert error.fix == (
        f"set it to a number such as `max_output_mb = 50` under [jobs] in {ws / 'lpstudio.toml'}"
    )


def test_papermill_caps_a_notebook_of_the_workspace_as_its_jobs_are(
    ws: Path, tmp_path: Path
) -> None:
    """`papermill --engine lpstudio` runs a workspace's notebook as in its workspace: under
    its cap, the note saying whose outputs passed it."""
    set_setting(ws, "max_output_mb", "1")
    path = write_recipe(ws, "p/noisy", cells=(NOISY,))
    out = tmp_path / "out.ipynb"
    papermill.execute_notebook(str(path), str(out), engine_name="lpstudio", progress_bar=False)

    assert out.stat().st_size < 1_000_000 + 50_000
    *_, note = outputs(out)[1]
    assert note.text.startswith(
        "lpstudio: output stopped here: this notebook's outputs passed jobs.max_output_mb (1 MB)"
    )
