"""A stop of `lpstudio serve` (SIGTERM) answers every call on the line before the server
exits: a call whose job runs gets the job's answer once it ends (or, past its call timeout,
the 504 naming its job, as without a stop); a call, or a repeat of one, whose job has not
started and goes back to the queue gets 202 with the job to poll. The stop lost the first:
its threads were shut and its store closed while the call waited, and the caller had a 500
without its job, or no answer at all. A real server, real kernels, the real store; every
wait is on job rows, answers, or a file the cell waits for."""

from __future__ import annotations

import json
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from lpstudio.models import Job
from lpstudio.studio import Studio
from tests.conftest import wait_for
from tests.servers import API, Served, serving
from tests.test_serve_stop_requeues import jobs_of, post, slow_callable


def call_on(line: httpx.Client, token: str, key: str, body: dict[str, Any]) -> httpx.Response:
    """A synchronous call of /call/slow on `line`, a connection the server already holds
    open: a stopping server takes no new connection."""
    return line.post(
        f"{API}/call/slow",
        content=json.dumps(body).encode(),
        headers={"API-TOKEN": token, "Idempotency-Key": key},
        timeout=180,
    )


def running_alone(ws: Path, recipe: str) -> Job | None:
    """The recipe's one job, once it runs (held by its gate)."""
    jobs = jobs_of(ws, recipe)
    return jobs[0] if [job.status for job in jobs] == ["running"] else None


def stopped_cleanly(served: Served) -> None:
    """The server exits once its running job ended, having answered every request."""
    assert served.proc.wait(timeout=120) == 0
    said = served.log.read_text()
    assert "Uncaught exception" not in said and "Traceback" not in said, said
    assert "request(s) in progress before stopping" in said, said  # what the stop waits for


def test_calls_on_the_line_when_the_server_stops_are_answered(ws: Path, tmp_path: Path) -> None:
    recipe = slow_callable(ws)
    folder = tmp_path / "calls"
    folder.mkdir()
    body = {"folder": str(folder)}
    with (
        ThreadPoolExecutor(3) as background,
        serving(ws, name="stopping") as served,
        httpx.Client(base_url=served.url) as line,
    ):
        token = served.client_token()
        running = background.submit(post, served, token, "g1", {**body, "n": 1}, "sync")
        first = wait_for(lambda: running_alone(ws, recipe), what="the first call's job running")
        second = {**body, "n": 2}
        waiting = background.submit(post, served, token, "g2", second, "sync")

        def waits_its_turn() -> Job | None:
            jobs = jobs_of(ws, recipe)
            held = len(jobs) == 2 and jobs[1].status == "queued" and jobs[1].worker is not None
            return jobs[1] if held else None

        queued = wait_for(waits_its_turn, what="the second call waiting for its turn")
        polled = line.get(f"{API}/calls/{queued.id}", headers={"API-TOKEN": token})
        assert polled.status_code == 202, polled.text  # the line is open
        repeat = background.submit(call_on, line, token, "g2", second)
        served.proc.send_signal(signal.SIGTERM)

        handed = {"job": queued.id, "status": "queued", "poll": f"{API}/calls/{queued.id}"}
        for told in (waiting.result(timeout=120), repeat.result(timeout=120)):
            assert (told.status_code, told.json()) == (202, handed), told.text
            assert told.headers["Lpstudio-Job"] == str(queued.id)
        assert not running.done()  # its job still runs: the stop waits for it
        (folder / "gate").touch()
        answered = running.result(timeout=120)
        assert (answered.status_code, answered.json()) == (200, {"n": 1}), answered.text
        assert answered.headers["Lpstudio-Job"] == str(first.id)
        stopped_cleanly(served)

    ended = [(job.id, job.status) for job in jobs_of(ws, recipe)]
    assert ended == [(first.id, "succeeded"), (queued.id, "queued")]  # for a scheduler to run


def test_a_call_whose_job_outlives_its_timeout_in_a_stop_is_answered_504_with_its_job(
    ws: Path, tmp_path: Path
) -> None:
    recipe = slow_callable(ws)
    with Studio.open(ws, user="alice") as studio:
        studio.save_settings(recipe, call_timeout=10)
    folder = tmp_path / "calls"
    folder.mkdir()
    body = {"folder": str(folder)}
    with ThreadPoolExecutor(1) as background, serving(ws, name="stopping") as served:
        token = served.client_token()
        running = background.submit(post, served, token, "g1", {**body, "n": 1}, "sync")
        job = wait_for(lambda: running_alone(ws, recipe), what="the call's job running")
        assert not running.done()
        served.proc.send_signal(signal.SIGTERM)
        told = running.result(timeout=120)
        assert told.status_code == 504, told.text
        assert (told.json()["error"]["code"], told.json()["error"]["job"]) == ("Timeout", job.id)
        assert told.headers["Lpstudio-Job"] == str(job.id)
        assert served.proc.poll() is None  # running jobs end as before
        (folder / "gate").touch()
        stopped_cleanly(served)

    assert [(each.id, each.status) for each in jobs_of(ws, recipe)] == [(job.id, "succeeded")]
