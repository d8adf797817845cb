"""Repeats of callable recipes' calls, through a real server: which repeat is its first
request's retry (it gets that call's answer, however the call's job or recipe is now) and
which is a new call; and calls on a store too busy to write them within their call timeout.
"""

from __future__ import annotations

import asyncio
import csv
import functools
import json
import sqlite3
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import nbformat
import pytest
from sqlalchemy import select, update

from lpstudio.models import IdempotentCall, Job, utcnow
from lpstudio.server.calls import call
from lpstudio.studio import API_PATH, Studio
from lpstudio.times import as_utc
from tests.conftest import wait_for, write_recipe
from tests.servers import API, Served, serving

OPTIN = {"consumer_id": "c-replay", "phone": "+14155550100", "channel": "sms", "opt_in": True}
#: Each callable of the workspace answers {"double": 2n} after `pause` seconds (or fails
#: when asked to), within a call timeout of 1 s.
CALLABLES = ("paced", "stopping", "breaking", "busy", "purging")


def _paced(root: Path, name: str) -> Path:
    return write_recipe(
        root,
        f"bots/{name}",
        parameters="unused: int = 0  # the call's input is its event",
        cells=(
            "import time\nimport lpstudio.kernel as lp",
            "time.sleep(lp.event.get('pause', 0))\n"
            "if lp.event.get('fail'):\n"
            "    raise RuntimeError('asked to fail')\n"
            "lp.respond({'double': 2 * lp.event['n']})",
        ),
        metadata={
            "title": name,
            "trigger": {
                "kind": "callable",
                "path": name,
                "input_schema": {
                    "type": "object",
                    "required": ["n"],
                    "properties": {
                        "n": {"type": "integer"},
                        "pause": {"type": "number"},
                        "fail": {"type": "boolean"},
                    },
                },
                "response_schema": {
                    "type": "object",
                    "required": ["double"],
                    "properties": {"double": {"type": "integer"}},
                },
            },
        },
    )


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The opt-in template on its CSV file, and the paced callables, all started."""
    root = tmp_path_factory.mktemp("replays") / "ws"
    with Studio.init(root, accept_terms=True, admin="alice") as studio:
        studio.try_template("cb_optin", "bots")
        studio.connections.add("optins", "csv_file", {"path": "optins.csv"}, "alice")
        studio.start("bots/cb_optin.ipynb")
        for name in CALLABLES:
            _paced(root, name)
            studio.start(f"bots/{name}.ipynb")
            studio.save_settings(f"bots/{name}.ipynb", call_timeout=1)
        _paced(root, "patient")  # the server's call timeout: a bot gives up first
        studio.start("bots/patient.ipynb")
    return root


@pytest.fixture(scope="module")
def served(ws: Path) -> Iterator[Served]:
    with serving(ws) as running:
        yield running


@pytest.fixture(scope="module")
def token(served: Served) -> str:
    return served.client_token(rate=10000)


def post(
    served: Served, token: str, path: str, body: Any, key: str | None = None, mode: str = "sync"
) -> httpx.Response:
    headers = {"API-TOKEN": token, **({"Idempotency-Key": key} if key else {})}
    return httpx.post(
        f"{served.url}{API}/call/{path}",
        content=json.dumps(body).encode(),
        headers=headers,
        params={"mode": mode},
        timeout=60,
    )


def poll(served: Served, token: str, job: int) -> httpx.Response:
    return httpx.get(f"{served.url}{API}/calls/{job}", headers={"API-TOKEN": token}, timeout=60)


def job_of(answer: httpx.Response) -> int:
    return int(answer.headers["Lpstudio-Job"])


def wait_job(served: Served, job: int) -> str:
    """The job's final status, once it has one."""

    def final() -> str | None:
        status = served.api("alice", "GET", f"/jobs/{job}").json()["status"]
        return status if status in ("succeeded", "failed", "cancelled") else None

    return str(wait_for(final, timeout=120, what=f"job {job}"))


def events(served: Served, recipe: str) -> list[Any]:
    """The events of the recipe's jobs, oldest first (each job's own: a list leaves it out)."""
    found = served.api("alice", "GET", "/jobs", params={"recipe": recipe, "limit": 1000})
    jobs = reversed(found.json()["jobs"])
    return [served.api("alice", "GET", f"/jobs/{j['id']}").json()["event"] for j in jobs]


def error_of(answer: httpx.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["fix"], error
    return dict(error)


# -- defect 1: a call whose recipe answered is over, however its caller learned the answer --


def test_a_consumer_who_opts_in_out_and_in_by_async_calls_is_recorded_three_times(
    served: Served, token: str, ws: Path
) -> None:
    # The third request repeated the first, whose job had succeeded: it was answered
    # "queued" as a replay of that job, ran nothing, and the consumer stayed opted out.
    choices = [OPTIN, {**OPTIN, "opt_in": False}, OPTIN]
    jobs = []
    for choice in choices:
        queued = post(served, token, "optin", choice, mode="async")
        assert queued.status_code == 202, queued.text
        assert "Idempotent-Replayed" not in queued.headers
        jobs.append(queued.json()["job"])
        assert wait_job(served, jobs[-1]) == "succeeded"
    assert len(set(jobs)) == 3
    with open(ws / "optins.csv", newline="", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if r["consumer_id"] == OPTIN["consumer_id"]]
    assert [r["opt_in"].lower() for r in rows] == ["true", "false", "true"]


def test_a_keyed_async_repeat_shows_its_job_as_it_is_now(served: Served, token: str) -> None:
    # A repeat after the job succeeded was answered {"status": "queued"}, as the first.
    first = post(served, token, "paced", {"n": 5}, key="async-5", mode="async")
    assert first.status_code == 202 and first.json()["status"] == "queued", first.text
    job = first.json()["job"]
    assert wait_job(served, job) == "succeeded"
    again = post(served, token, "paced", {"n": 5}, key="async-5", mode="async")
    assert again.status_code == 200 and again.json() == {"double": 10}, again.text
    assert again.headers["Idempotent-Replayed"] == "true" and job_of(again) == job
    assert events(served, "bots/paced").count({"n": 5}) == 1


def test_a_keyless_call_told_504_is_a_new_call_once_its_answer_was_polled(
    served: Served, token: str
) -> None:
    # After a 504, GET /calls/<job> gave the answer; the same request a moment later was
    # answered that job's answer again, as a replay, and ran nothing.
    body = {"n": 6, "pause": 1.5}
    late = error_of(post(served, token, "paced", body), 504)
    assert wait_job(served, late["job"]) == "succeeded"
    polled = poll(served, token, late["job"])
    assert polled.status_code == 200 and polled.json() == {"double": 12}, polled.text
    again = post(served, token, "paced", body)
    assert "Idempotent-Replayed" not in again.headers
    assert job_of(again) != late["job"]
    assert events(served, "bots/paced").count(body) == 2


def test_a_keyless_call_told_504_gets_its_job_s_answer_once_then_is_a_new_call(
    served: Served, token: str
) -> None:
    # The 504 says: send the same request again, it gets this job's answer. Once it had
    # that answer, the bot has it: the same request again is a new call.
    body = {"n": 7, "pause": 1.5}
    late = error_of(post(served, token, "paced", body), 504)
    assert wait_job(served, late["job"]) == "succeeded"
    retried = post(served, token, "paced", body)
    assert retried.status_code == 200 and retried.json() == {"double": 14}, retried.text
    assert retried.headers["Idempotent-Replayed"] == "true" and job_of(retried) == late["job"]
    anew = post(served, token, "paced", body)
    assert "Idempotent-Replayed" not in anew.headers and job_of(anew) != late["job"]


def test_a_keyless_call_whose_bot_hung_up_gets_its_job_s_answer_on_its_retry(
    served: Served, token: str
) -> None:
    """Conversation Builder gives up on a request within its 20 s and sends it again. One
    whose answer came after the bot hung up was recorded as had all the same, so its retry
    ran the recipe a second time. Its retry gets the job's answer (and then the bot has
    it: the same request again is a new call)."""
    body = {"n": 8, "pause": 1.5}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            f"{served.url}{API}/call/patient",
            content=json.dumps(body).encode(),
            headers={"API-TOKEN": token},
            timeout=httpx.Timeout(10, read=0.3),
        )
    listed = served.api("alice", "GET", "/jobs", params={"recipe": "bots/patient"}).json()
    [job] = [
        j["id"]
        for j in listed["jobs"]
        if served.api("alice", "GET", f"/jobs/{j['id']}").json()["event"] == body
    ]
    assert wait_job(served, job) == "succeeded"
    # The server has answered the hung-up request by the time it answers one sent after.
    assert served.api("alice", "GET", f"/jobs/{job}").status_code == 200

    retried = post(served, token, "patient", body)
    anew = post(served, token, "patient", body)

    assert retried.status_code == 200 and retried.json() == {"double": 16}, retried.text
    assert retried.headers["Idempotent-Replayed"] == "true" and job_of(retried) == job
    assert "Idempotent-Replayed" not in anew.headers and job_of(anew) != job
    assert events(served, "bots/patient").count(body) == 2


# -- defect 2: a retry after a 504 gets its job's answer, though the recipe stopped or broke --


def _break(path: Path) -> None:
    broken = nbformat.read(path, as_version=4)
    broken.cells[0].source = "unused: int = ("
    nbformat.write(broken, path)


@pytest.mark.parametrize("key", ["stop-1", None], ids=["keyed", "keyless"])
def test_a_retry_after_a_504_is_answered_once_the_recipe_stopped(
    served: Served, token: str, key: str | None
) -> None:
    # Its job went on and succeeded, but the retry was told 404 "no started callable recipe".
    body = {"n": 11 if key else 12, "pause": 1.5}
    late = error_of(post(served, token, "stopping", body, key=key), 504)
    stopped = served.api("alice", "POST", "/recipes/bots/stopping.ipynb/stop")
    assert stopped.status_code == 200, stopped.text
    try:
        assert wait_job(served, late["job"]) == "succeeded"
        again = post(served, token, "stopping", body, key=key)
        assert again.status_code == 200 and again.json() == {"double": 2 * body["n"]}, again.text
        assert again.headers["Idempotent-Replayed"] == "true" and job_of(again) == late["job"]
        if key:  # the first answer, for good
            queued = post(served, token, "stopping", body, key=key, mode="async")
            assert queued.status_code == 200 and job_of(queued) == late["job"], queued.text
        else:  # answered: the same request is a new call now, of a recipe that is not started
            assert error_of(post(served, token, "stopping", body), 404)["field"] == "path"
        other = post(served, token, "stopping", {"n": 13}, key=f"{key}-other" if key else None)
        assert error_of(other, 404)["field"] == "path"
    finally:
        started = served.api("alice", "POST", "/recipes/bots/stopping.ipynb/start")
        assert started.status_code == 200, started.text
    assert events(served, "bots/stopping").count(body) == 1


def test_a_retry_after_a_504_is_answered_once_the_recipe_broke(
    served: Served, token: str, ws: Path
) -> None:
    path = ws / "projects" / "bots" / "breaking.ipynb"
    good = path.read_bytes()
    body = {"n": 21, "pause": 1.5}
    late = error_of(post(served, token, "breaking", body, key="broke-1"), 504)
    _break(path)
    try:
        assert wait_job(served, late["job"]) == "succeeded"
        again = post(served, token, "breaking", body, key="broke-1")
        assert again.status_code == 200 and again.json() == {"double": 42}, again.text
        assert again.headers["Idempotent-Replayed"] == "true" and job_of(again) == late["job"]
        other = post(served, token, "breaking", {"n": 22}, key="broke-2")
        assert error_of(other, 503)["code"] == "RecipeNotReady"
    finally:
        path.write_bytes(good)


# -- defect 3: the call timeout holds while the store is busy -------------------------------


def _store_lock(ws: Path) -> sqlite3.Connection:
    """The store's write lock, held as another process's write transaction holds it."""
    lock = sqlite3.connect(
        ws / "lpstudio.db", isolation_level=None, timeout=60, check_same_thread=False
    )
    lock.execute("BEGIN IMMEDIATE")
    return lock


def test_a_call_on_a_busy_store_answers_503_within_its_timeout_and_queues_nothing(
    served: Served, token: str, ws: Path
) -> None:
    # It answered 200 after 39 s: the claim waited for the store up to its busy timeout.
    body = {"n": 31}
    lock = _store_lock(ws)
    try:
        began = time.monotonic()
        busy = post(served, token, "busy", body)
        took = time.monotonic() - began
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    error = error_of(busy, 503)
    assert took < 5, took  # its call timeout is 1 s; the store's busy timeout 60 s
    assert error["code"] == "StoreBusy" and "nothing was queued" in error["message"]
    assert busy.headers["Retry-After"]
    retried = post(served, token, "busy", body)
    assert retried.status_code == 200 and retried.json() == {"double": 62}, retried.text
    assert "Idempotent-Replayed" not in retried.headers
    assert events(served, "bots/busy").count(body) == 1


class _App:
    """What a call uses of the server's app, on a workspace of this process; `busy` is
    called as the call turns to queue its job (after its claim)."""

    call_timeout = 1.0
    repeat_window = 60.0
    api_root = API_PATH

    def __init__(self, root: Path, busy: Any) -> None:
        self.service = Studio.open(root, user="lpstudio:server")
        self.caller = Studio.open(root, user="api:bot")
        self.lpstudio_workspace = self.service.workspace
        self.pool = ThreadPoolExecutor(4)
        self.busy = busy

    async def blocking(self, func: Any, *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, functools.partial(func, *args, **kwargs))

    def studio_for(self, user: str) -> Studio:
        assert user == "api:bot"
        self.busy()
        return self.caller


def test_a_job_whose_queueing_waited_past_the_call_timeout_is_never_queued(
    tmp_path: Path,
) -> None:
    """The store's writes cannot be stopped once started: the write that would queue the
    job of a call answered 503 ("nothing was queued") must not commit when it gets its turn,
    and the call's claim must go, so that its retry runs it."""
    root = tmp_path / "ws"
    Studio.init(root, accept_terms=True, admin="alice").close()
    _paced(root, "late")
    with Studio.open(root, user="alice") as studio:
        studio.start("bots/late.ipynb")
    held: list[sqlite3.Connection] = []
    app = _App(root, lambda: held.append(_store_lock(root)))
    client = {"name": "bot", "endpoints": ["*"]}

    async def scenario() -> tuple[int, Any, dict[str, str]]:
        answer = await call(app, client, "late", b'{"n": 41}', "late-41", "sync")
        held[0].execute("ROLLBACK")  # the store's turn comes: the late write runs now
        await asyncio.get_running_loop().run_in_executor(None, app.pool.shutdown)
        return answer

    try:
        status, body, headers = asyncio.run(scenario())
        with app.service.store.read() as s:
            jobs = s.scalars(select(Job).where(Job.recipe == "bots/late.ipynb")).all()
            claims = s.scalars(select(IdempotentCall).where(IdempotentCall.key == "late-41")).all()
    finally:
        for lock in held:
            lock.close()
        app.caller.close()
        app.service.close()
    assert status == 503 and body["error"]["code"] == "StoreBusy", body
    assert headers["Retry-After"]
    assert (jobs, claims) == ([], [])


# -- defect 4: a purged job's answer is gone, and its caller is told so ---------------------


def test_the_answer_of_a_purged_call_is_gone_410(served: Served, token: str, ws: Path) -> None:
    # It answered 502 "succeeded without an answer" (blaming the recipe) and 422 "failed:
    # RuntimeError: None".
    jobs = []
    for body in ({"n": 51}, {"n": 52, "fail": True}):
        queued = post(served, token, "purging", body, mode="async")
        assert queued.status_code == 202, queued.text
        jobs.append(queued.json()["job"])
    assert [wait_job(served, job) for job in jobs] == ["succeeded", "failed"]
    with Studio.open(ws, user="alice") as studio:
        with studio.store.write() as s:  # ended past the retention period (30 days)
            old = utcnow() - timedelta(days=31)
            s.execute(update(Job).where(Job.id.in_(jobs)).values(finished_at=old))
        assert set(jobs) <= set(studio.purge())
    for job, status in zip(jobs, ("succeeded", "failed"), strict=True):
        error = error_of(poll(served, token, job), 410)
        assert error["code"] == "AnswerPurged" and error["field"] == "job", error
        assert error["job"] == job and f"job {job} {status}" in error["message"], error
        assert "purged" in error["message"] and "retention" in error["fix"], error
        # Its end in ISO form in UTC, as the REST API gives times (not "... UTC").
        ended = as_utc(old).isoformat(timespec="seconds")
        assert f"job {job} {status} at {ended}; its answer was purged" in error["message"]


def test_a_repeat_of_a_call_whose_request_died_unstarted_is_told_the_real_wait(
    ws: Path, served: Served, token: str
) -> None:
    """A keyed call whose first request died before starting its job (its server killed)
    leaves a claim taken over once 5 minutes old: a repeat was told `Retry-After: 1` and
    "retry in a moment" all that while."""
    first = post(served, token, "paced", {"n": 4}, key="left-claim")
    assert first.status_code == 200, first.text
    with Studio.open(ws, user="alice") as studio, studio.store.write() as s:
        # As a request killed after its claim and before its job leaves it, 2 minutes ago.
        s.execute(
            update(IdempotentCall)
            .where(IdempotentCall.key == "left-claim")
            .values(
                job_id=None, status=None, answer=None, created_at=utcnow() - timedelta(minutes=2)
            )
        )

    repeat = post(served, token, "paced", {"n": 4}, key="left-claim")

    assert repeat.status_code == 409, repeat.text
    wait = int(repeat.headers["Retry-After"])
    assert 170 <= wait <= 180, wait
    assert f"in {wait} s" in repeat.json()["error"]["fix"], repeat.text
