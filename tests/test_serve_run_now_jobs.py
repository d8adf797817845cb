"""Run nows on `lpstudio serve`, as its admin reads them in the server's log and its
people in the Jobs panel: each job the server's executor runs says its start and its end
(its state, its seconds, what went wrong), as the scheduler daemon's do; they said
nothing, so no one could tell which job ran when. A stop (SIGTERM) starts no Run now that
waits for a free worker: it is cancelled, as README says a Run now not yet started is (a
person's run: its person sees it and may run it again), while the running job ends as
before; it started once the running job freed the worker, in the middle of the stop. A
real server, real kernels, the real store; every wait is on job rows, the server's log,
or a file the cell waits for."""

from __future__ import annotations

import re
import signal
from pathlib import Path

from tests.conftest import wait_for, write_recipe
from tests.servers import serving
from tests.test_serve_stop_requeues import jobs_of

#: Waits for `folder/gate`, then writes `folder/<name>`: a job's run, seen from outside.
CELL = """\
import os, time
while not os.path.exists(os.path.join(folder, "gate")):
    time.sleep(0.01)
open(os.path.join(folder, name), "w").close()
"""


def test_a_run_now_waiting_for_a_worker_when_the_server_stops_never_starts(
    ws: Path, tmp_path: Path
) -> None:
    with (ws / "lpstudio.toml").open("a") as config:
        config.write("\n[executor]\nworkers = 1\n")
    for name in ("slow", "next"):
        write_recipe(ws, f"ops/{name}", f"folder: str = ''\nname: str = '{name}'", (CELL,))
    folder = tmp_path / "runs"
    folder.mkdir()
    with serving(ws, name="stopping") as served:

        def run_now(name: str) -> int:
            run = served.api(
                "alice",
                "POST",
                f"/recipes/ops/{name}.ipynb/run",
                json={"parameters": {"folder": str(folder)}},
            )
            assert run.status_code == 202, run.text
            return int(run.json()["id"])

        slow = run_now("slow")
        wait_for(
            lambda: [job.status for job in jobs_of(ws, "ops/slow.ipynb")] == ["running"],
            what="the first Run now running",
        )
        waiting = run_now("next")  # the one worker is busy: it waits for it, queued here
        (queued,) = jobs_of(ws, "ops/next.ipynb")
        assert (queued.status, queued.worker is not None) == ("queued", True)
        served.proc.send_signal(signal.SIGTERM)
        wait_for(
            lambda: "waiting up to" in served.log.read_text(),
            what="the stop naming the job it waits for",
        )
        (folder / "gate").touch()  # the worker frees: the waiting Run now may take it
        assert served.proc.wait(timeout=120) == 0
    said = served.log.read_text()
    (ran,) = jobs_of(ws, "ops/slow.ipynb")
    assert (ran.id, ran.status) == (slow, "succeeded")
    (ended,) = jobs_of(ws, "ops/next.ipynb")
    assert (ended.id, ended.status, ended.started_at) == (waiting, "cancelled", None), said
    assert (
        ended.error["evalue"]
        == "cancelled as its process stopped, while it waited for a free worker"
    )
    assert not (folder / "next").exists()
    assert (
        f"not started, queued here: job {waiting} (ops/next.ipynb, manual by alice): each is "
        "cancelled, not started" in said
    ), said


def test_the_jobs_a_server_runs_say_their_start_and_end_in_its_log(ws: Path) -> None:
    write_recipe(ws, "ops/divide", "x: int = 1  # a divisor\nnote: str = ''", ("y = 6 // x",))
    recipe = "ops/divide.ipynb"
    typed = "a-note-only-its-person-reads"
    with serving(ws, name="logging") as served:
        ids = []
        for x in (2, 0):
            run = served.api(
                "alice",
                "POST",
                f"/recipes/{recipe}/run",
                json={"parameters": {"x": x, "note": typed}},
            )
            assert run.status_code == 202, run.text
            ids.append(run.json()["id"])
            wait_for(
                lambda: jobs_of(ws, recipe)[-1].status in ("succeeded", "failed"),
                what="the Run now's end",
            )
        ok, failed = ids
        ended = f"job {failed} failed ({recipe}, manual by alice) in "
        wait_for(lambda: ended in served.log.read_text(), what="the failed job's end line")
    said = served.log.read_text()
    for job in (ok, failed):
        assert f"job {job} started ({recipe}, manual by alice)" in said, said
    assert re.search(rf"job {ok} succeeded \({recipe}, manual by alice\) in \d+\.\d s\n", said)
    assert re.search(
        rf"job {failed} failed \({recipe}, manual by alice\) in \d+\.\d s: "
        r"ZeroDivisionError in cell \d+ of \d+ \(In \[\d+\]\): integer division or modulo by zero",
        said,
    ), said
    assert typed not in said, said  # no parameter in a line
