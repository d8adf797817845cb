"""`lpstudio poll` runs the jobs it queued as `lpstudio run` runs its one: a job that waits
for its recipe's turn (its `concurrency`) says so on stderr, once, instead of nothing.

Waits on job rows, files a cell waits for and the command's stderr, never on sleeps; real
kernels, the real store.
"""

from __future__ import annotations

from pathlib import Path

from lpstudio.studio import Studio

from .conftest import wait_for
from .test_concurrency import released, saying_it_waits
from .test_job_faults import configure
from .test_poll_killed import rows_recipe


def test_lpstudio_poll_says_once_that_a_job_it_runs_waits_for_its_turn(
    ws: Path, tmp_path: Path
) -> None:
    configure(ws, heartbeat_seconds=0.1)  # the waiting job looks for its turn often
    gates = tmp_path / "gates"
    gates.mkdir()
    rows_recipe(ws, gates)  # two new rows: two jobs, run one by one
    stderr = tmp_path / "stderr"
    with Studio.open(ws, user="alice") as studio, released(gates):
        holder, held = studio.dispatch("p/rows", {"folder": str(gates)})
        wait_for(lambda: studio.job(holder.id).status == "running", what="the turn's holder")
        command, said = saying_it_waits(["poll", "p/rows", "--workspace", str(ws)], stderr)
        try:
            first = min(job.id for job in studio.jobs(recipe="p/rows") if job.trigger == "poll")
            assert (
                f"lpstudio: job {first} waits for the turn of recipe p/rows.ipynb "
                "(1 running, concurrency 1)" in said
            )
            (gates / "gate-1").touch()
            out, _ = command.communicate(timeout=120)
        finally:
            if command.poll() is None:
                command.kill()
        assert command.returncode == 0, out
        assert held.result(timeout=120).status == "succeeded"
        polled = [job for job in studio.jobs(recipe="p/rows") if job.trigger == "poll"]
        assert [job.status for job in polled] == ["succeeded", "succeeded"]
        # Once, for the one job that waited: the second ran as soon as the first ended.
        assert stderr.read_text().count("waits for the turn") == 1, stderr.read_text()
