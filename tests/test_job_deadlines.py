"""How a job ends when nobody ends it: the workspace's default deadline, and a kernel that
dies under a cell.

A recipe without a `timeout`, run without one, had no deadline: a cell that hangs kept its
job running (heartbeating) and its recipe's queue blocked for ever. `[jobs] timeout_seconds`
(an hour by default) stops it, and its error names the deadline and how to change it. A
kernel that died said nbclient's "Kernel died" twice, on stderr and in the job's error, with
no cause and no fix.

Real kernels, the real store and CLI; the tests wait on the jobs' ends, never on sleeps.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner

from lpstudio.cli import main
from lpstudio.errors import RERUN_FIRST, WorkspaceError
from lpstudio.models import Job
from lpstudio.runner import deadline
from lpstudio.studio import Studio

from .conftest import job_rows, run_cli, run_json, set_setting, write_recipe


def test_a_hung_cell_of_a_recipe_without_a_timeout_ends_at_the_workspace_deadline(
    ws: Path,
) -> None:
    """The hung job ends failed at the workspace's deadline, its error naming that deadline
    and the fix, and the job queued behind it (the recipe's concurrency is 1) runs."""
    set_setting(ws, "timeout_seconds", "3")
    # A cell that never ends by itself (x 1), holding no GIL: only a deadline ends it.
    hangs = "if x == 1:\n    threading.Event().wait()"
    write_recipe(ws, "p/hangs", cells=("import threading", hangs, "y = x"))
    with Studio.open(ws, user="alice") as studio:
        hung, hung_end = studio.dispatch("p/hangs", {"x": 1})
        after, after_end = studio.dispatch("p/hangs", {"x": 2})
        try:  # without a deadline neither ever ends: these raise TimeoutError
            ended = hung_end.result(timeout=90)
            next_one = after_end.result(timeout=90)
        finally:  # and the test fails, not hangs as its studio waits for its jobs to end
            for job in (hung, after):
                studio.cancel(job.id)
        shown = CliRunner().invoke(main, ["show", str(hung.id), "--workspace", str(ws)])
    _, as_json = run_json("show", str(hung.id), "--workspace", str(ws))

    assert ended.status == "failed" and ended.finished_at is not None
    # What its fix asks before the rerun is kept apart for lpstudio alone.
    assert as_json["error"]["fix"] == ended.error["fix"] and RERUN_FIRST in ended.error
    assert RERUN_FIRST not in as_json["error"], as_json["error"]
    error = ended.error
    assert error["ename"] == "Timeout" and error["cell"] == 3, error  # the hung cell
    said, fix = error["evalue"], error["fix"]
    assert said == (
        "timed out after 3 s (the workspace's deadline for a recipe without a timeout of its "
        "own, [jobs] timeout_seconds in lpstudio.toml)"
    )
    assert fix == (
        "give the recipe a timeout of its own (metadata.lpstudio.timeout, in seconds), or "
        "raise [jobs] timeout_seconds in the workspace's lpstudio.toml (0: no deadline); "
        f"then `lpstudio rerun {hung.id}`"
    )
    assert ended.cells_done == 3  # the cells before the hung one (parameters injected too)
    assert next_one.status == "succeeded", next_one.error
    assert next_one.started_at >= ended.finished_at  # it waited for the hung job's turn

    assert shown.exit_code == 0, shown.output
    # The hung cell's In [N], when nbclient had read it before its kernel was killed.
    assert re.search(
        rf"\n  error:    Timeout in cell 4 of 5( \(In \[4\]\))?: {re.escape(said)}\n"
        rf"  fix: {re.escape(fix)}\n",
        shown.output,
    ), shown.output
    banner = nbformat.read(ws / ended.output_path, as_version=4).cells[0]
    assert banner.source.startswith(f'<span style="color:red; font-size:2em;">lpstudio: {said}')
    assert f"<br>fix: {fix}</span>" in banner.source


def test_the_deadline_in_effect_is_the_job_s_else_the_recipe_s_else_the_workspace_s(
    ws: Path,
) -> None:
    set_setting(ws, "timeout_seconds", "90")
    write_recipe(ws, "p/own", metadata={"title": "own", "timeout": 30})
    write_recipe(ws, "p/none")
    with Studio.open(ws, user="alice") as studio:
        own, none = studio.recipe("p/own"), studio.recipe("p/none")
        workspace = studio.workspace
        given = deadline(workspace, Job(id=6, timeout=5.0), own)
        recipe_s = deadline(workspace, Job(id=7, timeout=None), own)
        workspace_s = deadline(workspace, Job(timeout=None), none)
    assert given.seconds == 5 and given.whose == "the job's own timeout"
    assert given.fixed["fix"].endswith("`lpstudio rerun 6 --timeout SECONDS`")  # its ledger shared
    assert recipe_s.seconds == 30 and "metadata.lpstudio.timeout" in recipe_s.whose
    assert recipe_s.fixed["fix"].endswith("; then `lpstudio rerun 7`")  # the job's own rerun
    assert workspace_s.seconds == 90 and "[jobs] timeout_seconds" in workspace_s.whose

    set_setting(ws, "timeout_seconds", "0")  # no deadline, as the README says
    with Studio.open(ws, user="alice") as studio:
        assert deadline(studio.workspace, Job(timeout=None), none).seconds is None


@pytest.mark.parametrize("value", ["-1", '"1h"', '"none"', "nan", "inf", "true", "2e9"])
def test_a_bad_workspace_deadline_is_refused_naming_the_field_and_the_fix(
    ws: Path, value: str
) -> None:
    set_setting(ws, "timeout_seconds", value)
    write_recipe(ws, "p/x")
    config = ws / "lpstudio.toml"
    with pytest.raises(WorkspaceError) as refused:
        Studio.open(ws, user="alice")
    assert refused.value.field == "jobs.timeout_seconds"
    assert refused.value.message.startswith(
        f"{config} [jobs] timeout_seconds must be a number of seconds from 0 to 1e+09, not "
    )
    assert refused.value.fix == (
        f"set it to a number such as `timeout_seconds = 3600` under [jobs] in {config}"
    )

    ran = CliRunner().invoke(main, ["run", "p/x", "--workspace", str(ws), "--json"])
    assert ran.exit_code == 2, ran.output
    said = json.loads(ran.stdout)["error"]
    assert said["field"] == "jobs.timeout_seconds" and said["fix"] == refused.value.fix
    set_setting(ws, "timeout_seconds", "3600")
    assert job_rows(ws) == 0  # refused before any job was queued


#: What `lpstudio run` and `lpstudio show` print of a job whose kernel was killed under its
#: third cell (the parameters cell is the first), with its In [N] when nbclient had read it
#: before the kernel died.
KILLED = re.compile(
    re.escape("\n  error:    DeadKernelError in cell 3 of 4")
    + r"( \(In \[3\]\))?"
    + re.escape(
        ": the recipe's kernel died while the cell ran: it may have run out of memory (the "
        "system's out-of-memory killer ends the largest process), been killed from outside "
        "(a `kill -9`), or ended its own process (os._exit, a crash in a native library)\n"
        "  fix: find what the cell does that can end its process (with large data: read it "
        "in chunks, or give the machine more memory); the output notebook keeps what the "
        "cells before it did; then `lpstudio rerun "
    )
    + r"(\d+)`\n"  # the job's own id
)


def test_a_kernel_killed_mid_job_is_said_once_with_its_cause_and_fix(ws: Path) -> None:
    write_recipe(ws, "p/killed", cells=("import os", "os.kill(os.getpid(), 9)", "never = 1"))
    ran = run_cli("run", "p/killed", "--workspace", str(ws), timeout=120)
    assert ran.returncode == 1, ran.stderr
    assert KILLED.search(ran.stdout), ran.stdout
    # nbclient's own "Kernel died while waiting for execute reply." is not printed beside it
    assert ran.stderr == "", ran.stderr
    assert ran.stdout.lower().count("kernel died") == 1, ran.stdout

    with Studio.open(ws, user="alice") as studio:
        (job,) = studio.jobs()
    assert job.status == "failed" and job.error["cell"] == 2 and job.cells_done == 2
    said = {"ename", "evalue", "fix", "cell", "execution_count", "traceback"}
    assert set(job.error) == {*said, RERUN_FIRST}  # what its fix asks before its rerun
    shown = run_cli("show", str(job.id), "--workspace", str(ws))
    said_shown = KILLED.search(shown.stdout)
    assert said_shown and shown.stderr == "", shown.stdout + shown.stderr
    assert said_shown[2] == str(job.id), shown.stdout
    nb = nbformat.read(ws / job.output_path, as_version=4)
    banner = nb.cells[0].source
    said, fix = job.error["evalue"], job.error["fix"]
    count = job.error["execution_count"]
    # below the banner and papermill's anchor, which it links to
    where = f"at {linked(f'In [{count}]')}" if count is not None else f"in {linked('cell 5')}"
    assert f"lpstudio: {said} {where}<br>fix: {fix}</span>" in banner, banner
    (died,) = [out for out in nb.cells[4].outputs if out.output_type == "error"]
    assert (died.ename, died.evalue) == ("DeadKernelError", said)  # the cell's own error


def linked(mark: str) -> str:
    """A banner's mark of its cell, linked to papermill's anchor before the cell."""
    return f'<a href="#papermill-error-cell">{mark}</a>'
