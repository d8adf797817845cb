"""A recipe that catches a connector's error and goes on: a send the connector left in
doubt (an answer lost, a 5xx) is uncertain all the same, so the job does not succeed, and
its error says how many of its sends may have gone out (`uncertain_sends`). The job's
end counted only the sends still "sending": one the connector had settled uncertain let
the job succeed, and nobody heard of it. Its rerun, which sends nothing in doubt itself,
is not failed for what the job before it left; nor is a job whose connector found out what
became of its send.

Real kernels, the sandbox and a server that never answers, on loopback; real SQLite.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from lpstudio.cli import main
from lpstudio.kernel.runtime import StoreLedger
from lpstudio.studio import Studio

from .conftest import write_recipe
from .test_stopped_job_accounting import recipients
from .test_uncertain_sends_fix import CHECK, WINDOW

CAMPAIGN = """\
import httpx
import lpstudio.kernel as lp
campaign = dict(
    handoff="H1000000001", campaign_name="t", skill="sales", consumer_id="phone",
    channels=["sms"], variables={{"1": "Hi"}},{once}
)
first = [{{"phone": "+14155550800", "checkout_id": 1}}]
lp.connection("liveperson").send_campaign(recipients=first, **campaign)
fault = {{{fault}, "scope": "liveperson", "count": 1}}
httpx.post({control!r} + "/_sandbox/faults", json=fault).raise_for_status()
try:
    lp.connection("liveperson").send_campaign(
        recipients=[{{"phone": "+14155550801", "checkout_id": 2}}], **campaign
    )
except Exception as e:
    lp.log(f"{{type(e).__name__}}: {{e}}")
lp.set_result({{"ok": True}})
"""

#: The fault the campaign's second send meets (`CAMPAIGN`): its answer lost, sent.
DROP = '"drop_rate": 1.0'

POST_CAUGHT = """\
import lpstudio.kernel as lp
try:
    lp.connection("crm").request(method="POST", url="/orders", json={"order": 1})
except Exception as e:
    lp.log(f"{type(e).__name__}: {e}")
lp.set_result({"ok": True})
"""


class _Silent(BaseHTTPRequestHandler):
    """An app that takes a POST and never answers it (until the test ends)."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.posts.append(self.path)  # type: ignore[attr-defined]
        self.server.release.wait(30)  # type: ignore[attr-defined]

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def silent(serve: Callable[[ThreadingHTTPServer], ThreadingHTTPServer]) -> Iterator[Any]:
    server = serve(ThreadingHTTPServer(("127.0.0.1", 0), _Silent))
    server.daemon_threads = True
    server.posts = []  # type: ignore[attr-defined]
    server.release = threading.Event()  # type: ignore[attr-defined]
    yield server
    server.release.set()  # type: ignore[attr-defined]


def run_cli(ws: Path, *args: str) -> tuple[int, Any]:
    """`lpstudio ... --json` in this process: its exit code and its answer."""
    done = CliRunner().invoke(main, [*args, "--json", "--workspace", str(ws)])
    return done.exit_code, json.loads(done.stdout)


def test_a_campaign_left_in_doubt_and_caught_fails_the_job(sandbox_ws: Path, sandbox: Any) -> None:
    """The analyst's recipe: `lpstudio run` said succeeded, result {"ok": true}, though its
    log said `uncertain 1 are never resent`. Its rerun sends nothing in doubt itself (the
    ledger holds the uncertain one back), and is not failed for the job before it, even
    once its recipe sends `once_per` (the rerun records in the recipe's ledger what the job
    before it left in doubt)."""
    metadata = {"title": "caught", "connections": {"liveperson": {"type": "liveperson_proactive"}}}
    recipe = CAMPAIGN.format(control=sandbox.url, once="", fault=DROP)
    write_recipe(sandbox_ws, "ops/caught", cells=(recipe,), metadata=metadata)
    code, job = run_cli(sandbox_ws, "run", "ops/caught")
    once = CAMPAIGN.format(control=sandbox.url, once=' once_per="checkout_id",', fault=DROP)
    write_recipe(sandbox_ws, "ops/caught", cells=(once,), metadata=metadata)

    assert (code, job["status"]) == (1, "failed"), job
    assert job["error"]["uncertain_sends"] == 1, job["error"]
    assert "1 send it began" in job["error"]["evalue"]
    assert "check" not in job["error"]["evalue"]  # the fix's, said once
    # How to check it, as the campaign said when it claimed it (its settle kept that).
    assert job["error"]["fix"].startswith(CHECK), job["error"]
    # The recipe's own result stays, and what its ledger says it sent is added to it: the
    # recipient accepted counts in `show` and on the dashboard, the one in doubt is named.
    assert job["result"]["ok"] is True and job["result"]["from_ledger"] is True, job["result"]
    assert job["result"]["accepted"] == 1, job["result"]
    assert sum(e["recipients"] for e in job["result"]["uncertain"]) == 1, job["result"]
    with Studio.open(sandbox_ws, user="alice") as studio:
        rerun = studio.rerun(job["id"])
    assert rerun.status == "succeeded", rerun.error
    sent = httpx.get(f"{sandbox.url}/_sandbox/liveperson/recipients").json()["recipients"]
    assert {row["address"]: row["count"] for row in sent} == {
        "+14155550800": 1,
        "+14155550801": 1,  # a dropped answer: the sandbox acted on it, once
    }


def test_a_campaign_s_500_caught_by_its_recipe_says_the_campaign_s_check_in_the_job_s_window(
    sandbox_ws: Path, sandbox: Any, control: httpx.Client
) -> None:
    """A recipe that caught the campaign's error (a 500 to its second send) and went on:
    the job failed saying "check in the app they went to", though the campaign had said
    how to check it as it claimed it; its settle as uncertain overwrote that."""
    metadata = {"title": "caught", "connections": {"liveperson": {"type": "liveperson_proactive"}}}
    fault = '"error_rate": 1.0, "error_status": 500'
    recipe = CAMPAIGN.format(control=sandbox.url, once="", fault=fault)
    write_recipe(sandbox_ws, "ops/caught", cells=(recipe,), metadata=metadata)
    code, job = run_cli(sandbox_ws, "run", "ops/caught")

    assert (code, job["status"], job["error"]["uncertain_sends"]) == (1, "failed", 1), job
    fix = job["error"]["fix"]
    assert fix.startswith(CHECK) and "check in the app" not in fix, fix
    assert re.search(WINDOW.format(job=job["id"]), fix), fix
    assert fix.endswith(
        f"then `lpstudio rerun {job['id']}` sends only those it never reached, never the "
        "uncertain ones"
    ), fix
    assert recipients(control) == {"+14155550800": 1}  # the 500's was not carried out


def test_a_post_left_unanswered_and_caught_fails_the_job(ws: Path, silent: Any) -> None:
    """An http connection's POST that got no answer within `timeout_seconds`, caught: the
    job succeeded. Its rerun refuses the same POST rather than send it again, and is not
    failed for the job before it."""
    metadata = {"title": "Post", "connections": {"crm": {"type": "http"}}}
    write_recipe(ws, "p/post", cells=(POST_CAUGHT,), metadata=metadata)
    url = f"http://127.0.0.1:{silent.server_address[1]}"
    with Studio.open(ws, user="alice") as studio:
        studio.connections.add("crm", "http", {"base_url": url, "timeout_seconds": 0.5}, "alice")
        job = studio.run("p/post")
        rerun = studio.rerun(job.id)

    assert job.status == "failed" and job.error["uncertain_sends"] == 1, job.error
    assert job.error["uncertain"] is True  # not retried: its cells would all run again
    assert rerun.status == "succeeded" and not (rerun.error or {}).get("uncertain_sends")
    assert silent.posts == ["/orders"]  # sent once, by the first job


def test_a_send_whose_fate_the_connector_found_out_fails_nothing(ws: Path) -> None:
    """A custom connector that looks in the app after a lost answer, and settles the send
    accepted there: nothing is left in doubt, and the job succeeds."""
    write_recipe(ws, "p/found")
    with Studio.open(ws, user="alice") as studio:
        found = studio.recipe("p/found")
        version = studio.store.snapshot(found.name, found.canonical_json, {}, "alice")
        job = studio.store.create_job(
            recipe=found.name, version_id=version, trigger="manual", user="alice", attempt=1
        )
        assert studio.store.start_job(job.id, 2, "out.ipynb")
        ledger = StoreLedger(studio.store.url, f"job:{job.id}", job.id)
        ledger.claim_many(["lead"])
        ledger.settle_many({"lead": "uncertain"}, {"reason": "no answer"})
        ledger.settle_many({"lead": "accepted"}, {"id": 7})  # found in the app
        ended = studio.store.finish_job(job.id, "succeeded")
    assert ended is not None and (ended.status, ended.error) == ("succeeded", None)


def test_a_job_put_back_in_the_queue_reports_what_its_first_run_left_in_doubt(
    ws: Path,
) -> None:
    """A run that caught a send in doubt, then was put back in the queue (its scheduler
    stopped): no end reported it. Its next run's end does."""
    write_recipe(ws, "p/again")
    with Studio.open(ws, user="alice") as studio:
        found = studio.recipe("p/again")
        version = studio.store.snapshot(found.name, found.canonical_json, {}, "alice")
        job = studio.store.create_job(
            recipe=found.name, version_id=version, trigger="webhook", user="alice", attempt=1
        )
        assert studio.store.start_job(job.id, 2, "out.ipynb")
        ledger = StoreLedger(studio.store.url, f"job:{job.id}", job.id)
        ledger.claim_many(["a", "b"])
        ledger.settle_many({"a": "uncertain"}, {"reason": "no answer"})
        ledger.settle_many({"b": "accepted"}, {})
        studio.store.requeue(job.id)
        assert studio.store.start_job(job.id, 2, "out.ipynb")
        ended = studio.store.finish_job(job.id, "succeeded")
    assert ended is not None and ended.status == "failed"
    assert ended.error["uncertain_sends"] == 1, ended.error
