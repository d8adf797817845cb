"""A scheduler's job whose worker is killed (`kill -9`) before any code cell of its recipe's
own started goes back to the queue and runs once; killed once one had started, it fails as
"worker lost" and is never run again whole (it might send twice). Every template opens with
a markdown title, which its progress counts done, and the settings form's cell: a poll job
killed there was failed, and its event's recipients were never sent.

The worker is a real process, killed with SIGKILL where it holds itself: papermill's start
of a chosen cell, where it waits for ever. Waits on job rows and files, never on sleeps;
real kernels and the real store.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from papermill.engines import NotebookExecutionManager

from lpstudio.models import Job
from lpstudio.runner import RunningJobs, execute_job
from lpstudio.studio import Studio

from .conftest import wait_for, write_recipe
from .test_job_faults import append, queue_webhook_job

#: A worker that claims and runs job argv[2] of the workspace argv[1], and holds (for the
#: test to kill it) as papermill starts the first cell whose source holds argv[3], once it
#: touched the file argv[4].
WORKER = """
import pathlib, sys, threading
from papermill.engines import NotebookExecutionManager
from lpstudio.runner import execute_job
from lpstudio.studio import Studio

ws, job_id, hold, held = sys.argv[1], int(sys.argv[2]), sys.argv[3], pathlib.Path(sys.argv[4])
start = NotebookExecutionManager.cell_start

def cell_start(self, cell, *args, **kwargs):
    if hold in cell.source:
        held.touch()
        threading.Event().wait()
    start(self, cell, *args, **kwargs)

NotebookExecutionManager.cell_start = cell_start
studio = Studio.open(ws, user="alice")
assert studio.store.claim_job(job_id, 1)
execute_job(studio.workspace, studio.store, job_id)
"""

#: The settings form's cell, as every template has it.
FORM = "from lpstudio.widgets import RecipeForm\n\nRecipeForm.here()  # the settings form"


@pytest.fixture
def sent(ws: Path, tmp_path: Path) -> Path:
    """Writes p/cart, laid out as a template: a markdown title, the settings form's cell,
    its parameters, then a cell that "sends" (appends a line to the file it returns) and
    one after it."""
    sent = tmp_path / "sent"
    path = write_recipe(ws, "p/cart", cells=(append(sent, "sent"), "after_the_send = True"))
    nb = nbformat.read(path, as_version=4)
    form = nbformat.v4.new_code_cell(FORM)
    form.metadata.tags = ["lpstudio-form"]
    nb.cells[:0] = [nbformat.v4.new_markdown_cell("# Proactive cart abandonment"), form]
    nbformat.write(nb, path)
    return sent


def killed_at(studio: Studio, hold: str, tmp_path: Path) -> Job:
    """Queues a webhook job of p/cart, runs it in a worker process and kills that with
    SIGKILL where it holds: as the first cell holding `hold` starts, once its progress is
    stored. Returns the job as it was left."""
    job_id, held = queue_webhook_job(studio, "p/cart").id, tmp_path / "held"
    ws = studio.workspace.root
    worker = subprocess.Popen([sys.executable, "-c", WORKER, str(ws), str(job_id), hold, str(held)])
    try:
        wait_for(held.exists, timeout=120, what="the worker holding")
        wait_for(lambda: studio.job(job_id).cells_done >= 1, what="its progress stored")
    finally:
        worker.kill()
        worker.wait(timeout=60)
    return studio.job(job_id)


def test_a_job_killed_before_its_first_code_cell_is_requeued_and_runs_once(
    studio: Studio, sent: Path, tmp_path: Path
) -> None:
    job = killed_at(studio, "RecipeForm.here()", tmp_path)
    assert (job.status, job.cells_done) == ("running", 1)  # its title counted done

    assert studio.reap_lost_jobs() == []
    requeued = studio.job(job.id)
    assert (requeued.status, requeued.error, requeued.worker) == ("queued", None, None)

    assert studio.store.claim_job(job.id, 1)  # a scheduler's turn
    done = execute_job(studio.workspace, studio.store, job.id)
    assert (done.status, done.error) == ("succeeded", None)
    assert sent.read_text() == "sent\n"


def test_a_job_killed_once_a_code_cell_of_its_own_ran_fails_as_worker_lost(
    studio: Studio, sent: Path, tmp_path: Path
) -> None:
    job = killed_at(studio, "after_the_send", tmp_path)
    assert sent.read_text() == "sent\n"

    (lost,) = studio.reap_lost_jobs()
    assert (lost.id, lost.status, lost.error["ename"]) == (job.id, "failed", "WorkerLost")
    assert "the process running this job is gone" in lost.error["evalue"]
    assert sent.read_text() == "sent\n"  # never run again


def test_a_job_its_stopping_scheduler_cut_off_in_the_form_s_cell_is_requeued(
    studio: Studio, sent: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The daemon's SIGTERM grace ran out as the job started its settings form's cell: its
    kernel killed under that cell, it goes back to the queue (it was failed `WorkerStopped`)."""
    claimed = RunningJobs()
    start = NotebookExecutionManager.cell_start

    def stop_at_the_form(nb_man: NotebookExecutionManager, cell: Any, *args: Any, **kw: Any) -> Any:
        if "RecipeForm.here()" in cell.source:
            claimed.interrupt("scheduler stopped before the job finished", reason="requeue")
        return start(nb_man, cell, *args, **kw)

    monkeypatch.setattr(NotebookExecutionManager, "cell_start", stop_at_the_form)
    job = queue_webhook_job(studio, "p/cart")
    assert studio.store.claim_job(job.id, 1)
    ended = execute_job(studio.workspace, studio.store, job.id, group=claimed)
    assert (ended.status, ended.error, ended.worker) == ("queued", None, None)
    assert not sent.exists()
