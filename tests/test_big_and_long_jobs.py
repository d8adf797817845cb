"""Big parameters and slow callables, through a real server (reviewer W's report): a job
list bounds each job's parameters (the Jobs panel fetched 11 MB every 2 s for one job's
5 MB parameter) and one job has them whole; a run's body has the calls' size limit; and a
callable's 504 says true: a repeat while its job still waits or runs gets that job, however
long after the repeat window, and runs nothing twice.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from lpstudio.jobviews import LISTED_PARAMETERS
from lpstudio.models import IdempotentCall, Job, utcnow
from lpstudio.studio import Studio
from tests.conftest import run_cli, wait_for, write_recipe
from tests.servers import API, Served, serving

#: The repeat window of the server under test: shorter than the callable's call timeout
#: (1 s), so a repeat sent after its 504 comes after the window of the call it repeats.
WINDOW = 0.5
#: A parameter far over what a list's row gives (`LISTED_PARAMETERS`).
PAYLOAD = {"rows": [f"row {i:05d} " + "x" * 90 for i in range(200)]}


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A recipe taking a big parameter, and a callable that answers once its gate file
    exists (the test opens it), with a call timeout of 1 s."""
    root = tmp_path_factory.mktemp("big") / "ws"
    gate = root.parent / "gate"
    with Studio.init(root, accept_terms=True, admin="alice") as studio:
        write_recipe(root, "big/param", parameters='payload: dict = {}\nnote: str = ""')
        write_recipe(
            root,
            "bots/gated",
            parameters="unused: int = 0  # the call's input is its event",
            cells=(
                "import pathlib, time\nimport lpstudio.kernel as lp",
                f"while not pathlib.Path({str(gate)!r}).exists():\n    time.sleep(0.05)\n"
                "lp.respond({'double': 2 * lp.event['n']})",
            ),
            metadata={
                "title": "gated",
                "trigger": {
                    "kind": "callable",
                    "path": "gated",
                    "input_schema": {
                        "type": "object",
                        "required": ["n"],
                        "properties": {"n": {"type": "integer"}},
                    },
                },
            },
        )
        studio.start("bots/gated.ipynb")
        studio.save_settings("bots/gated.ipynb", call_timeout=1)
    return root


@pytest.fixture(scope="module")
def served(ws: Path) -> Iterator[Served]:
    with serving(ws, f"--LpstudioApp.repeat_window={WINDOW}") as running:
        yield running


def _run(served: Served, body: bytes) -> httpx.Response:
    return served.api(
        "alice",
        "POST",
        "/recipes/big%2Fparam.ipynb/run",
        content=body,
        headers={"Content-Type": "application/json"},
    )


def test_a_list_bounds_a_job_s_parameters_and_one_job_has_them_whole(
    served: Served, ws: Path
) -> None:
    # GET /jobs?limit=1 answered 6.2 MB for one job's 5 MB parameter.
    given = {"payload": PAYLOAD, "note": "n"}
    queued = _run(served, json.dumps({"parameters": given}).encode())
    assert queued.status_code == 202, queued.text
    job = queued.json()["id"]
    size = len(json.dumps(PAYLOAD, ensure_ascii=False))
    assert size > 10 * LISTED_PARAMETERS

    listed = served.api("alice", "GET", "/jobs", params={"limit": 1})
    [row] = listed.json()["jobs"]
    assert row["id"] == job and row["parameters"] == {"note": "n"}, row
    assert row["parameters_cut"] == {"payload": size}, row
    assert len(listed.content) < 3 * LISTED_PARAMETERS, len(listed.content)
    refreshed = served.api("alice", "GET", f"/jobs/{job}", params={"listed": "true"}).json()
    assert refreshed["parameters_cut"] == {"payload": size}, refreshed
    whole = served.api("alice", "GET", f"/jobs/{job}").json()
    assert whole["parameters"] == given and "parameters_cut" not in whole

    with Studio.open(ws, user="alice") as studio:
        frame = studio.jobs_frame(recipe="big/param")
        assert frame.loc[job, "parameters_cut"] == {"payload": size}
        assert studio.job(job).parameters == given

    # `lpstudio show` printed the parameters on one line of 6.2 MB.
    shown = run_cli("show", str(job), "--workspace", str(ws), env={"LPSTUDIO_USER": "alice"})
    assert shown.returncode == 0, shown.stderr
    [params] = [line for line in shown.stdout.splitlines() if line.startswith("  params:")]
    assert len(params) < 500, params
    assert f"characters; `lpstudio show {job} --json` gives the whole parameters)" in params
    as_json = run_cli(
        "show", str(job), "--json", "--workspace", str(ws), env={"LPSTUDIO_USER": "alice"}
    )
    assert json.loads(as_json.stdout)["parameters"] == given


def test_a_run_s_body_over_the_limit_is_refused_before_any_job(served: Served) -> None:
    # A 5.2 MB body was accepted (202) where a call's or a webhook's over 1 MiB is 413.
    before = served.api("alice", "GET", "/jobs", params={"recipe": "big/param"}).json()["jobs"]
    body = json.dumps({"parameters": {"note": "n" * (1 << 20)}}).encode()
    refused = _run(served, body)
    assert refused.status_code == 413, refused.text
    error = refused.json()["error"]
    assert error["field"] == "body" and f"{len(body)} bytes" in error["message"], error
    assert "--LpstudioApp.max_body_bytes" in error["fix"], error
    after = served.api("alice", "GET", "/jobs", params={"recipe": "big/param"}).json()["jobs"]
    assert after == before


def _call(served: Served, token: str, body: Any) -> httpx.Response:
    return httpx.post(
        f"{served.url}{API}/call/gated",
        content=json.dumps(body).encode(),
        headers={"API-TOKEN": token},
        timeout=60,
    )


def test_a_repeat_after_the_window_while_the_job_waits_joins_it(served: Served, ws: Path) -> None:
    # A 504 said "send the same request again: it gets this job's answer", but the claim
    # lapsed 60 s after the call, however long its job waited or ran: a repeat then ran the
    # recipe a second time (a second opt-in).
    token = served.client_token()
    first = _call(served, token, {"n": 7})
    assert first.status_code == 504, first.text
    error = first.json()["error"]
    job = error["job"]
    assert f"within {WINDOW:g} s of its end (--LpstudioApp.repeat_window)" in error["fix"]
    # Said to a bot, which knows the endpoint alone: the recipe and its admin's way are the
    # server log's.
    assert error["fix"].endswith(
        "its own call timeout by the studio's admin, up to 18 s for a caller that gives up at "
        "20 s, as a Conversation Builder bot does (for longer work it calls with ?mode=async "
        "and polls), up to 600 s for others"
    )
    assert "gated" not in error["fix"] and "/recipes/" not in error["fix"], error
    logged = wait_for(lambda: "gave its caller no answer" in served.log.read_text())
    assert logged, served.log.read_text()[-2000:]
    assert "`lpstudio settings bots/gated.ipynb --call-timeout SECONDS`" in (served.log.read_text())

    repeat = _call(served, token, {"n": 7})  # its claim is older than the window: 1 s
    assert repeat.status_code == 504, repeat.text
    assert repeat.json()["error"]["job"] == job
    assert repeat.headers["Idempotent-Replayed"] == "true"
    assert repeat.headers["Lpstudio-Job"] == str(job)

    (ws.parent / "gate").touch()

    def ended() -> str | None:
        status = served.api("alice", "GET", f"/jobs/{job}").json()["status"]
        return status if status in ("succeeded", "failed", "cancelled") else None

    assert wait_for(ended, timeout=120, what=f"job {job}") == "succeeded"
    polled = httpx.get(f"{served.url}{API}/calls/{job}", headers={"API-TOKEN": token}, timeout=60)
    assert polled.status_code == 200 and polled.json() == {"double": 14}, polled.text
    listed = served.api("alice", "GET", "/jobs", params={"recipe": "bots/gated"}).json()["jobs"]
    assert [j["id"] for j in listed] == [job]


def test_a_keyless_claim_lapses_a_window_after_its_job_s_end(served: Served, ws: Path) -> None:
    """The window counts from the job's end: a job that ran past it (or waited in the queue)
    is still its request's for a window after it ended, then the request is a new call."""
    token = served.client_token(name="timed")
    (ws.parent / "gate").touch()
    answered = _call(served, token, {"n": 8})
    assert answered.status_code == 200, answered.text
    job = int(answered.headers["Lpstudio-Job"])
    with Studio.open(ws, user="alice") as studio:
        claim = wait_for(lambda: studio.calls.for_job("repeat:timed", job, utcnow()))
        now = utcnow()
        with studio.store.write() as s:
            s.execute(
                update(IdempotentCall)
                .where(IdempotentCall.id == claim["id"])
                .values(created_at=now - timedelta(minutes=3), status=None, answer=None)
            )
            s.execute(
                update(Job).where(Job.id == job).values(finished_at=now - timedelta(seconds=30))
            )

        def claim_again() -> bool:
            claimed = studio.calls.claim(
                "repeat:timed",
                claim["key"],
                claim["endpoint"],
                claim["request_sha256"],
                renew_before=utcnow() - timedelta(minutes=1),
            )
            return claimed[1]

        assert not claim_again()  # claimed 3 minutes ago, its job ended 30 s ago: a retry
        with studio.store.write() as s:
            s.execute(
                update(Job).where(Job.id == job).values(finished_at=now - timedelta(minutes=2))
            )
        assert claim_again()  # its job ended 2 minutes ago: a new call
