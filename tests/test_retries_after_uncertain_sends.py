"""A job that leaves sends uncertain (a POST answered 5xx or nothing, a kill mid-send) is
reported at once to its failure contacts, and retried only for what it has left to send:
the ledger keeps every retry from sending the uncertain ones again, so a campaign with
nothing else left was retried to fail on them anew, its contacts told only after the last.
A job that failed before any send is retried as its recipe says, unreported.

Real kernels, the scheduler's own loop, the sandbox over loopback; waits on state only.
"""

from __future__ import annotations

import json
import socket
import subprocess
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from lpstudio.failures import after_failure
from lpstudio.kernel.runtime import StoreLedger
from lpstudio.models import Job, utcnow
from lpstudio.scheduler import Scheduler
from lpstudio.studio import Studio

from .conftest import scheduler_running, set_job, wait_for, write_recipe

RETRIES = {"count": 2, "interval": 0}


class _Hook(BaseHTTPRequestHandler):
    """A failure contact's webhook: keeps each report POSTed to it."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.posts.append(json.loads(body))  # type: ignore[attr-defined]
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def webhook(serve: Any) -> Any:
    server = serve(ThreadingHTTPServer(("127.0.0.1", 0), _Hook))
    server.posts = []  # type: ignore[attr-defined]
    server.url = f"http://127.0.0.1:{server.server_address[1]}/hook"  # type: ignore[attr-defined]
    return server


def queue_unattended(studio: Studio, recipe: str) -> Job:
    """A job of a webhook delivery, queued for the scheduler as a schedule's is: on a
    version holding the recipe's settings (its bound connections)."""
    found = studio.recipe(recipe)
    settings = studio.settings(found)
    bound = {key: settings[key] for key in ("parameters", "connections")}
    version = studio.store.snapshot(found.name, found.canonical_json, bound, "alice")
    return studio.store.create_job(
        recipe=found.name, version_id=version, trigger="webhook", user="alice", attempt=1
    )


def jobs_of(studio: Studio, recipe: str) -> list[Job]:
    with studio.store.read() as s:
        return list(s.scalars(select(Job).where(Job.recipe == recipe).order_by(Job.id)))


#: Takes a token first, so that the 500 the sandbox is told to give hits the campaign POST.
SEND_INTO_A_500 = """\
import httpx
import lpstudio.kernel as lp
lp.connection("liveperson").test()
fault = {{"error_rate": 1.0, "error_status": 500, "scope": "liveperson", "count": 1}}
httpx.post({control!r} + "/_sandbox/faults", json=fault).raise_for_status()
lp.connection("liveperson").send_campaign(
    handoff="H1000000001", campaign_name="t", skill="sales", consumer_id="phone",
    recipients=[{{"phone": "+14155550100"}}, {{"phone": "+14155550101"}}],
    channels=["sms"], variables={{"1": "Hi"}},
)
"""


def test_a_campaign_answered_500_is_reported_at_once_and_not_retried(
    sandbox_ws: Path, sandbox: Any, webhook: Any
) -> None:
    """The reviewer's job 13: `ServiceTrouble ... HTTP 500 ... uncertain 2 are never resent`
    was retried twice (each retry failing on the same 2), and reported only after the last."""
    write_recipe(
        sandbox_ws,
        "ops/minute",
        cells=(SEND_INTO_A_500.format(control=sandbox.url),),
        metadata={
            "title": "minute",
            "connections": {"liveperson": {"type": "liveperson_proactive"}},
            "retries": RETRIES,
        },
    )
    with Studio.open(sandbox_ws, user="alice") as studio:
        studio.start("ops/minute")
        studio.save_settings("ops/minute.ipynb", notify={"webhook": webhook.url})
        job = queue_unattended(studio, "ops/minute")
        with scheduler_running(studio):
            wait_for(lambda: webhook.posts, timeout=120, what="the failure report")
        ended = jobs_of(studio, "ops/minute.ipynb")

    assert [post["job"] for post in webhook.posts] == [job.id]  # at once, by the job itself
    assert [j.id for j in ended] == [job.id]  # no retry queued
    error = ended[0].error
    assert (error["ename"], error["uncertain"]) == ("ServiceTrouble", True)
    assert "HTTP 500" in error["evalue"] and "uncertain 2 are never resent" in error["evalue"]
    # The answer's status is kept, and the output notebook's note says it ("no HTTP status").
    assert error["status"] == 500, error
    assert "lpstudio: it may have been carried out: neither sent again nor retried (HTTP 500)" in (
        (sandbox_ws / str(ended[0].output_path)).read_text()
    )
    assert webhook.posts[0]["error"]["ename"] == "ServiceTrouble"
    # Nobody was sent twice: the sandbox did not act on the request it answered 500.
    answer = httpx.get(f"{sandbox.url}/_sandbox/liveperson/recipients").json()
    assert answer["recipients"] == []


@pytest.mark.parametrize("sending", [True, False], ids=["killed-mid-send", "before-any-send"])
def test_a_job_killed_mid_send_is_reported_at_once_and_retried_for_the_rest(
    ws: Path, webhook: Any, sending: bool
) -> None:
    """A `kill -9` while its request was out: the reaper fails it as "worker lost" with its
    sends uncertain; it is retried (for what it never sent: the ledger holds the uncertain
    ones back), and its contacts hear of it at once. One killed before it sent anything is
    retried, unreported."""
    write_recipe(ws, "p/lost", metadata={"title": "lost", "retries": RETRIES})
    gone = subprocess.Popen(["true"])
    gone.wait()  # a process id of this host that no longer runs
    with Studio.open(ws, user="alice") as studio:
        studio.save_settings("p/lost.ipynb", notify={"webhook": webhook.url})
        job = queue_unattended(studio, "p/lost")
        assert studio.store.start_job(job.id, 2, "out.ipynb")
        if sending:  # its request is out; its answer never comes
            StoreLedger(studio.store.url, f"job:{job.id}", job.id).claim_many(["a", "b"])
        set_job(
            studio.store,
            job.id,
            cells_done=1,
            acted=True,  # a cell of its own started
            worker=f"{socket.gethostname()}:{gone.pid}",
            started_at=utcnow(),
        )

        Scheduler(studio).tick()  # reaps it, then retries or reports it

        lost, *retries = jobs_of(studio, "p/lost.ipynb")
    assert (lost.status, lost.error["ename"]) == ("failed", "WorkerLost")
    assert [r.trigger for r in retries] == ["retry"]
    if not sending:
        assert webhook.posts == []
    else:
        assert lost.error["uncertain_sends"] == 2
        assert [post["job"] for post in webhook.posts] == [lost.id]
        assert "2 sends it began got no answer" in webhook.posts[0]["error"]["evalue"]


def test_the_last_retry_s_report_says_no_retry_follows_and_how_to_send_the_rest(
    ws: Path, webhook: Any
) -> None:
    """The campaign's error said "a retry sends those": on the last attempt none came, and
    neither the report nor the log said so."""
    write_recipe(ws, "p/cart", metadata={"title": "cart", "retries": RETRIES})
    left = {
        "ename": "CampaignIncomplete",
        "evalue": "The campaign stopped at batch 2: accepted 2 before, 2 not sent; a retry "
        "sends those",
        "retryable": True,
    }
    with Studio.open(ws, user="alice") as studio:
        studio.save_settings("p/cart.ipynb", notify={"webhook": webhook.url})
        found = studio.recipe("p/cart")
        version = studio.store.snapshot(found.name, found.canonical_json, {}, "alice")
        last = studio.store.create_job(
            recipe=found.name, version_id=version, trigger="retry", user="alice", attempt=3
        )
        studio.store.finish_job(last.id, "failed", error=left)
        assert after_failure(studio, studio.job(last.id)) is None
        assert [j.id for j in jobs_of(studio, found.name)] == [last.id]  # no retry queued
    (report,) = webhook.posts
    assert report["job"] == last.id and report["error"]["evalue"] == left["evalue"]
    assert report["next"] == (
        f"its 2 retries are used up, so no retry follows: `lpstudio rerun {last.id}` runs it "
        "again once the cause is fixed"
    )


NO_LEDGER = """
from pathlib import Path

from lpstudio.sdk import Connector, ConnectorError

connector = Connector("noledger", title="No ledger")


@connector.action("create", title="Create")
def create(conn, data):
    with open(data["log"], "a") as log:  # the app's side: what it was asked to do
        log.write("created\\n")
    raise ConnectorError("may exist", uncertain=True, retryable=True, status=500)
"""


def test_an_uncertain_send_no_ledger_guards_is_not_retried_even_if_retryable(
    ws: Path, webhook: Any
) -> None:
    """A connector's error `uncertain=True, retryable=True` (some sent, some in doubt, some
    left) was retried, and ran its request again: only a send the delivery ledger keeps
    (`uncertain_sends`, the LivePerson campaign's) lets a retry pass it by."""
    (ws / "connectors").mkdir(exist_ok=True)
    (ws / "connectors" / "noledger.py").write_text(NO_LEDGER)
    log = ws / "created.log"
    write_recipe(
        ws,
        "ops/create",
        cells=(f"import lpstudio.kernel as lp\nlp.connection('app').create(log={str(log)!r})",),
        metadata={
            "title": "create",
            "connections": {"app": {"type": "noledger"}},
            "retries": RETRIES,
        },
    )
    with Studio.open(ws, user="alice") as studio:
        studio.connections.add("app", "noledger", {}, "alice")
        studio.start("ops/create")
        studio.save_settings("ops/create.ipynb", notify={"webhook": webhook.url})
        job = queue_unattended(studio, "ops/create")
        with scheduler_running(studio):
            wait_for(lambda: webhook.posts, timeout=120, what="the failure report")
        ended = jobs_of(studio, "ops/create.ipynb")

    assert [j.id for j in ended] == [job.id], [(j.id, j.trigger) for j in ended]  # no retry
    assert log.read_text() == "created\n"  # asked once
    assert "no retry follows" in json.dumps(webhook.posts[0]), webhook.posts[0]


@pytest.mark.parametrize(("ran", "now", "retried"), [(RETRIES, None, True), (None, RETRIES, False)])
def test_a_failed_job_is_retried_as_the_version_that_ran_it_says(
    ws: Path, ran: dict[str, Any] | None, now: dict[str, Any] | None, retried: bool
) -> None:
    """The notebook's retries were read as it is now: an edit saved after the job ran
    (retries turned off, or on) decided whether that job was retried."""
    metadata: dict[str, Any] = {"title": "t", **({"retries": ran} if ran else {})}
    write_recipe(ws, "p/edited", metadata=metadata)
    with Studio.open(ws, user="alice") as studio:
        found = studio.recipe("p/edited")
        version = studio.store.snapshot(found.name, found.canonical_json, {}, "alice")
        job = studio.store.create_job(
            recipe=found.name, version_id=version, trigger="webhook", user="alice", attempt=1
        )
        studio.store.finish_job(job.id, "failed", error={"ename": "ValueError", "evalue": "x"})
        write_recipe(ws, "p/edited", metadata={"title": "t", **({"retries": now} if now else {})})
        retry = after_failure(studio, studio.job(job.id))
        queued = jobs_of(studio, found.name)
    assert (retry is not None) is retried
    assert [(j.trigger, j.version_id) for j in queued[1:]] == (
        [("retry", version)] if retried else []
    )
