"""A stop of `lpstudio serve` (SIGTERM) loses no call it accepted: the calls whose jobs had
not started (waiting for their recipe's turn, or for a worker) go back to the queue, and the
server restarted on the workspace runs each once; a repeat of a call, with its
Idempotency-Key, answers its job. A real server, real kernels, the real store; every wait is
on job rows or files a cell waits for."""

from __future__ import annotations

import json
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from lpstudio.models import Job
from lpstudio.studio import Studio
from tests.conftest import wait_for, write_recipe
from tests.servers import API, Served, serving

#: Each call appends its `n` to `folder/runs` once `folder/gate` exists, and answers it.
CELL = """\
import os, time
import lpstudio.kernel as lp
folder = lp.event["folder"]
while not os.path.exists(os.path.join(folder, "gate")):
    time.sleep(0.01)
with open(os.path.join(folder, "runs"), "a") as runs:
    runs.write(f"{lp.event['n']}\\n")
lp.respond({"n": lp.event["n"]})
"""


def slow_callable(ws: Path) -> str:
    """`bots/slow`, started, serving /call/slow: one job at a time (concurrency 1)."""
    write_recipe(
        ws,
        "bots/slow",
        parameters="unused: int = 0  # the call's input is its event",
        cells=(CELL,),
        metadata={
            "title": "slow",
            "concurrency": 1,
            "trigger": {
                "kind": "callable",
                "path": "slow",
                "input_schema": {
                    "type": "object",
                    "required": ["n", "folder"],
                    "properties": {"n": {"type": "integer"}, "folder": {"type": "string"}},
                },
            },
        },
    )
    with Studio.open(ws, user="alice") as studio:
        studio.start("bots/slow.ipynb")
        studio.save_settings("bots/slow.ipynb", call_timeout=60)
    return "bots/slow.ipynb"


def post(served: Served, token: str, key: str, body: dict[str, Any], mode: str) -> httpx.Response:
    return httpx.post(
        f"{served.url}{API}/call/slow",
        content=json.dumps(body).encode(),
        headers={"API-TOKEN": token, "Idempotency-Key": key},
        params={"mode": mode},
        timeout=180,
    )


def poll(served: Served, token: str, job: int) -> httpx.Response:
    return httpx.get(f"{served.url}{API}/calls/{job}", headers={"API-TOKEN": token}, timeout=60)


def jobs_of(ws: Path, recipe: str) -> list[Job]:
    with Studio.open(ws, user="alice") as studio:
        return sorted(studio.jobs(recipe=recipe), key=lambda job: job.id)


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_calls_waiting_when_the_server_stops_run_once_after_its_restart(
    ws: Path, tmp_path: Path, stop: signal.Signals
) -> None:
    """SIGINT too, without a terminal (a service manager's stop): Jupyter's default ended
    the server without stopping lpstudio, and the waiting calls were failed as worker
    lost."""
    recipe = slow_callable(ws)
    folder = tmp_path / "calls"
    folder.mkdir()
    body = {"folder": str(folder)}
    with ThreadPoolExecutor(1) as background, serving(ws, name="first") as first:
        token = first.client_token()
        accepted = [post(first, token, f"g{n}", {**body, "n": n}, "async") for n in (1, 2, 3)]
        assert [answer.status_code for answer in accepted] == [202] * 3, accepted[0].text
        ids = [answer.json()["job"] for answer in accepted]
        # A synchronous call too, its caller waiting for its answer when the server stops.
        waiting = background.submit(post, first, token, "g4", {**body, "n": 4}, "sync")
        wait_for(lambda: len(jobs_of(ws, recipe)) == 4, what="the fourth call's job")
        ids.append(jobs_of(ws, recipe)[-1].id)

        def held() -> bool:  # the first runs, held by its gate; the others wait in the server
            jobs = jobs_of(ws, recipe)
            return jobs[0].status == "running" and all(
                job.status == "queued" and job.worker is not None for job in jobs[1:]
            )

        wait_for(held, what="the first call running, the others waiting")
        first.proc.send_signal(stop)

        def let_go() -> list[Job] | None:  # by the stop, before the running job ends
            jobs = jobs_of(ws, recipe)[1:]
            return None if any(job.status == "queued" and job.worker for job in jobs) else jobs

        unstarted = wait_for(let_go, what="the waiting calls to leave the stopping server")
        assert [(job.status, job.started_at) for job in unstarted] == [("queued", None)] * 3
        assert jobs_of(ws, recipe)[0].status == "running"  # running jobs end as before
        # Its log names the calls it put back, then the job its stop waits for.
        waits = f"running job(s): job {ids[0]} ({recipe}, callable by "
        wait_for(lambda: waits in first.log.read_text(), what="the stop naming its job")
        said = first.log.read_text()
        assert f"put job(s) {', '.join(map(str, ids[1:]))} back in the queue" in said, said
        (folder / "gate").touch()
        first.proc.wait(timeout=120)
        try:  # answered as the server stopped (its job goes on), or cut off with it
            told = waiting.result(timeout=120)
        except httpx.TransportError:
            told = None
        if told is not None:
            assert told.status_code == 202, told.text
            assert told.json() == {
                "job": ids[3],
                "status": "queued",
                "poll": f"{API}/calls/{ids[3]}",
            }

    with serving(ws, name="restarted") as restarted:
        # A repeat of an accepted call (its key) answers its job, once it ran.
        again = post(restarted, token, "g2", {**body, "n": 2}, "sync")
        assert (again.status_code, again.json()) == (200, {"n": 2}), again.text
        assert again.headers["Lpstudio-Job"] == str(ids[1])
        polled = wait_for(
            lambda: (answer := poll(restarted, token, ids[2])).status_code == 200 and answer,
            timeout=120,
            what="the third call's answer",
        )
        assert polled.json() == {"n": 3}
        repeated = post(restarted, token, "g4", {**body, "n": 4}, "sync")
        assert (repeated.status_code, repeated.json()) == (200, {"n": 4}), repeated.text

    jobs = jobs_of(ws, recipe)
    assert [(job.id, job.status) for job in jobs] == [(i, "succeeded") for i in ids]
    assert sorted((folder / "runs").read_text().split()) == ["1", "2", "3", "4"]  # each once
