"""A stopped recipe processes nothing until it starts again: the calls it had accepted and
not started when it stopped (waiting for its turn behind a running one, or for a worker)
never start. Each ends cancelled, saying its recipe was stopped, and its caller, on the line
or polling, is answered 422 with the job; the job that runs at the stop ends as before (a
stop is no cancel), and a person's Run now of the stopped recipe still runs. A real server
or executor, real kernels, the real store; every wait is on job rows or files a cell waits
for."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from lpstudio.executor import LocalExecutor
from lpstudio.store import Store
from lpstudio.studio import Studio
from lpstudio.workspace import Workspace
from tests.conftest import wait_for, write_recipe
from tests.servers import serving
from tests.test_job_faults import configure
from tests.test_serve_stop_requeues import jobs_of, poll, post, slow_callable


@contextmanager
def released(folder: Path) -> Iterator[None]:
    """Opens the gate when the test ends, even failed: the server can then stop."""
    try:
        yield
    finally:
        (folder / "gate").touch()


#: What a call's job says, and its caller is told, when its recipe stopped before it started.
STOPPED = "cancelled as its recipe was stopped"


def test_calls_waiting_for_their_turn_never_start_once_their_recipe_stops(
    ws: Path, tmp_path: Path
) -> None:
    configure(ws, heartbeat_seconds=0.2)  # the server looks at its waiting calls this often
    recipe = slow_callable(ws)
    folder = tmp_path / "calls"
    folder.mkdir()
    body = {"folder": str(folder)}
    with ThreadPoolExecutor(3) as background, serving(ws) as served, released(folder):
        token = served.client_token()
        on_the_line = []
        for n in (1, 2, 3):  # one after the other: their jobs in this order
            on_the_line.append(
                background.submit(post, served, token, f"s{n}", {**body, "n": n}, "sync")
            )
            wait_for(lambda n=n: len(jobs_of(ws, recipe)) == n, what=f"call {n}'s job")
        handed = post(served, token, "s4", {**body, "n": 4}, "async")
        assert handed.status_code == 202, handed.text

        def held() -> bool:  # the first runs, held by its gate; the others wait their turn
            jobs = jobs_of(ws, recipe)
            return jobs[0].status == "running" and all(
                job.status == "queued" and job.worker is not None for job in jobs[1:]
            )

        wait_for(held, what="the first call running, the others waiting for their turn")
        stopped = served.api("alice", "POST", f"/recipes/{recipe}/stop")
        assert stopped.status_code == 200, stopped.text

        def ended() -> bool:  # at the stop, not once the running call lets go of the turn
            jobs = jobs_of(ws, recipe)
            return all(job.status == "cancelled" for job in jobs[1:])

        wait_for(ended, timeout=30, what="the waiting calls to end as their recipe stopped")
        assert jobs_of(ws, recipe)[0].status == "running"
        (folder / "gate").touch()
        answers = [call.result(timeout=120) for call in on_the_line]
        polled = poll(served, token, handed.json()["job"])

    ran = answers[0]
    assert (ran.status_code, ran.json()) == (200, {"n": 1}), ran.text
    jobs = jobs_of(ws, recipe)
    assert [job.status for job in jobs] == ["succeeded"] + ["cancelled"] * 3
    assert [job.started_at for job in jobs[1:]] == [None] * 3  # none of them ever started
    assert (folder / "runs").read_text() == "1\n"
    for answer, job in zip([*answers[1:], polled], jobs[1:], strict=True):
        assert answer.status_code == 422, answer.text
        assert answer.headers["Lpstudio-Job"] == str(job.id)
        error = answer.json()["error"]
        assert (error["code"], error["job"]) == ("JobFailed", job.id)
        assert STOPPED in error["message"], error
        assert STOPPED in job.error["evalue"]
        # A new key would be answered 404 while the recipe is stopped: the fix says so.
        assert error["fix"].startswith(
            "its recipe was stopped before the call ran: send it again with a new "
            "Idempotency-Key once the recipe's admin starts the recipe again"
        ), error


def test_a_call_waiting_for_a_worker_never_starts_once_its_recipe_stops(
    ws: Path, tmp_path: Path
) -> None:
    """One worker, held by another recipe's job: the call queued behind it, its recipe
    stopped meanwhile, is cancelled when the worker comes free; a Run now of the stopped
    recipe queued after it runs, as a person's run of a stopped recipe does."""
    recipe = slow_callable(ws)
    write_recipe(ws, "p/hold", parameters="folder: str = ''", cells=(HOLD,))
    folder = tmp_path / "calls"
    folder.mkdir()
    workspace = Workspace.load(ws)
    store = Store(workspace.store_url)
    studio = Studio(workspace, user="alice", executor=LocalExecutor(workspace, store, 1))
    try:
        with released(folder):
            holding, held = studio.dispatch("p/hold", {"folder": str(folder)})
            wait_for(lambda: studio.job(holding.id).status == "running", what="the worker held")
            event = {"folder": str(folder), "n": 1}
            _, called = studio.dispatch(recipe, event=event, trigger="callable")
            _, ran = studio.dispatch(recipe, event={**event, "n": 2})
            studio.stop(recipe)
            (folder / "gate").touch()
            assert held.result(timeout=120).status == "succeeded"
            ended = called.result(timeout=120)
            assert (ended.status, ended.started_at) == ("cancelled", None), ended.error
            assert STOPPED in ended.error["evalue"]
            assert ran.result(timeout=120).status == "succeeded"
            assert (folder / "runs").read_text() == "2\n"
    finally:
        studio.close()
        store.close()


#: The other recipe's cell: holds the only worker until the test creates `folder/gate`.
HOLD = """\
import os, time
while not os.path.exists(os.path.join(folder, "gate")):
    time.sleep(0.01)
"""
