"""A job stopped from outside (a cancel, its timeout, its kernel's death, its worker lost)
never returns its campaign's accounting: its result then comes from its delivery ledger, in
the campaign's shape, so `show`, REST and the dashboard count the recipients it sent, once
across the job and its rerun.

Each test waits on the store's state, never on sleeps.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from lpstudio.cli import main
from lpstudio.errors import LpstudioError
from lpstudio.kernel.runtime import StoreLedger
from lpstudio.metrics import dashboard_metrics
from lpstudio.models import Delivery, Job
from lpstudio.store import UNANSWERED
from lpstudio.studio import Studio
from lpstudio.widgets.dashboard import day_range

from .conftest import set_job, wait_for, write_recipe
from .postgres import create_database, postgres_server
from .test_job_faults import configure

REMINDER = "billing/reminder"
#: The sample invoices' reminders that go out (open, due within the week, a number in E.164).
SENDABLE = 4


def proactive(studio: Studio) -> tuple[int, int]:
    """Recipients accepted and failed today, as the dashboard (and its REST route) shows."""
    days = dashboard_metrics(studio.store, *day_range(1))["proactive"]
    return sum(day["accepted"] for day in days), sum(day["failed"] for day in days)


def ledger_statuses(studio: Studio, job_id: int) -> list[str]:
    """How the sends a job claimed in its ledger stand now."""
    with studio.store.read() as s:
        return list(
            s.scalars(
                select(Delivery.status).where(
                    Delivery.ledger == f"job:{job_id}", Delivery.job_id == job_id
                )
            )
        )


def recipients(control: httpx.Client) -> dict[str, int]:
    rows = control.get("/_sandbox/liveperson/recipients").json()["recipients"]
    return {row["address"]: row["count"] for row in rows}


def test_a_campaign_cancelled_mid_request_keeps_what_it_sent_and_its_rerun_adds_the_rest(
    sandbox_ws: Path, control: httpx.Client
) -> None:
    """A recipient a batch at a time, each answer slow: the job is cancelled once a batch was
    accepted and the next is out. It kept no result: neither it, `show` nor the dashboard
    said anyone was reached. Its rerun sends the rest, never the ones it accepted or left
    uncertain, and the dashboard counts each accepted recipient once."""
    configure(sandbox_ws, heartbeat_seconds=0.2)  # the cancel lands while the answer is due
    with Studio.open(sandbox_ws, user="alice") as studio:
        studio.try_template("payment_reminder", "billing", "reminder")
        studio.connections.update("liveperson", {"recipients_per_request": 1})
        assert control.post("/_sandbox/faults", json={"latency_ms": 2000}).status_code == 200
        job, finished = studio.dispatch(REMINDER)

        def mid_request() -> bool:
            sent = ledger_statuses(studio, job.id)
            return "accepted" in sent and "sending" in sent

        wait_for(mid_request, timeout=120, what="a batch accepted and the next one out")
        studio.cancel(job.id)
        done = finished.result(timeout=120)
        control.delete("/_sandbox/faults")

        accepted = ledger_statuses(studio, job.id).count("accepted")
        assert done.status == "cancelled" and done.error["uncertain_sends"] == 1, done.error
        assert done.result is not None, "the cancelled job kept no accounting"
        assert done.result["accepted"] == accepted >= 1
        assert sum(c["accepted"] for c in done.result["campaigns"]) == accepted
        assert [(e["recipients"], e["reason"]) for e in done.result["uncertain"]] == [
            (1, UNANSWERED)
        ]
        assert (done.result["failed"], done.result["rejected"]) == ([], [])
        shown = CliRunner().invoke(
            main, ["show", str(job.id), "--json", "--workspace", str(sandbox_ws)]
        )
        assert shown.exit_code == 0 and json.loads(shown.stdout)["result"] == done.result
        assert proactive(studio) == (accepted, 0)

        rerun = studio.rerun(job.id)  # its own accounting: the ledger is not read for it
        assert rerun.status == "failed", rerun.error  # the one in flight stays uncertain
        assert rerun.result["accepted"] == SENDABLE - accepted - 1, rerun.result
        assert sum(e["recipients"] for e in rerun.result["already_sent"]) == accepted
        assert sum(e["recipients"] for e in rerun.result["uncertain"]) == 1
        assert "from_ledger" not in rerun.result
        assert proactive(studio) == (SENDABLE - 1, 0)
    # The request in flight was carried out all the same: each reminder went once.
    wait_for(lambda: len(recipients(control)) == SENDABLE, what="the sandbox's recipients")
    assert set(recipients(control).values()) == {1}


def key(n: int) -> str:
    """A recipient's key as a campaign writes it: a hash, no address in clear."""
    return hashlib.sha256(f"recipient {n}".encode()).hexdigest()


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def any_ws(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """A workspace on each kind of store: the ledger's details are read by each one's JSON
    functions. Its database is the test's own (the server is the module's)."""
    root = tmp_path / "ws"
    root.mkdir()
    if request.param == "postgresql":
        name = request.node.originalname.removeprefix("test_")[:63]
        url = create_database(request.getfixturevalue("postgres"), name)
        (root / "lpstudio.toml").write_text(f'[store]\nurl = "{url}"\n')
    Studio.init(root, accept_terms=True, admin="alice").close()
    return root


def running_job(studio: Studio, name: str, trigger: str, **running: Any) -> tuple[Job, StoreLedger]:
    """A job of the recipe `name` marked running (as `running` says), with its ledger, for
    a test to claim and settle its sends as a campaign does."""
    found = studio.recipe(name)
    version = studio.store.snapshot(found.name, found.canonical_json, {}, "alice")
    job = studio.store.create_job(
        recipe=found.name, version_id=version, trigger=trigger, user="alice"
    )
    set_job(studio.store, job.id, status="running", **running)
    return job, StoreLedger(studio.store.url, f"job:{job.id}", job.id, store=studio.store)


def test_a_job_whose_worker_was_lost_keeps_what_its_ledger_says_it_sent(any_ws: Path) -> None:
    """Its process died (kill -9, a reboot) mid-campaign, and the reaper failed it as
    "worker lost" with no result: the recipients LivePerson accepted or refused before it
    died were on no dashboard. An `http` request it had out is an uncertain send of the
    job, but no recipient."""
    write_recipe(any_ws, "p/lost")
    with Studio.open(any_ws, user="alice") as studio:
        beat = studio.store.now() - timedelta(minutes=2)
        job, ledger = running_job(
            studio,
            "p/lost",
            "manual",
            worker="rebooted-host/0123abcd:4242",
            started_at=beat,
            heartbeat_at=beat,
            cells_done=3,
        )
        ledger.claim_many([key(n) for n in range(5)] + ["http:crm:1f2e"])
        ledger.settle_many({key(0): "accepted", key(1): "accepted"}, {"proactiveCampaignId": "c-1"})
        ledger.settle_many({key(2): "rejected"}, {"proactiveCampaignId": "c-1"})  # one by one
        ledger.settle_many({key(3): "rejected"}, {"status": 400, "message": "HTTP 400: no"})
        # key(4) and the http request were out when the process died.

        assert studio.store.reap_lost_jobs(timedelta(seconds=60)) == [job.id]
        ended = studio.job(job.id)
        assert (ended.status, ended.error["ename"]) == ("failed", "WorkerLost")
        assert ended.error["uncertain_sends"] == 2
        result: dict[str, Any] = ended.result or {}
        assert result.get("from_ledger") is True, ended.result
        assert result["accepted"] == 2 and len(result["failed"]) == 1
        assert result["campaigns"] == [{"proactiveCampaignId": "c-1", "accepted": 2, "failed": 1}]
        assert result["rejected"] == [{"recipients": 1, "message": "HTTP 400: no"}]
        assert result["uncertain"] == [{"recipients": 1, "reason": UNANSWERED}]
        assert proactive(studio) == (2, 2)  # refused one by one, and in a request refused whole


def test_a_job_asked_to_cancel_as_its_scheduler_stopped_keeps_what_it_sent(ws: Path) -> None:
    """A stopping scheduler puts its running jobs back in the queue, but cancels one
    someone asked to cancel: it ended with no result, its recipients on no dashboard."""
    write_recipe(ws, "p/asked")
    with Studio.open(ws, user="alice") as studio:
        job, ledger = running_job(studio, "p/asked", "schedule", worker="w", cells_done=2)
        ledger.claim_many([key(n) for n in range(3)])
        ledger.settle_many({key(0): "accepted", key(1): "accepted"}, {"proactiveCampaignId": "c"})
        set_job(studio.store, job.id, cancel_requested=True)

        studio.store.requeue(job.id)  # as the scheduler's SIGTERM does

        ended = studio.job(job.id)
        assert ended.status == "cancelled" and ended.error["uncertain_sends"] == 1
        assert (ended.result or {}).get("accepted") == 2, ended.result
        assert proactive(studio) == (2, 0)


def test_a_job_put_back_in_the_queue_then_cancelled_keeps_what_it_sent(ws: Path) -> None:
    """Cancelled while it waited to run again, it ended with no result."""
    write_recipe(ws, "p/back")
    with Studio.open(ws, user="alice") as studio:
        job, ledger = running_job(studio, "p/back", "schedule", worker="w", cells_done=2)
        ledger.claim_many([key(n) for n in range(2)])
        ledger.settle_many({key(0): "accepted"}, {"proactiveCampaignId": "c"})
        studio.store.requeue(job.id)  # its scheduler stopped: queued again
        assert studio.job(job.id).status == "queued"

        studio.cancel(job.id)

        ended = studio.job(job.id)
        assert ended.status == "cancelled" and ended.error["uncertain_sends"] == 1
        assert (ended.result or {}).get("accepted") == 1, ended.result
        assert proactive(studio) == (1, 0)


def test_a_campaign_whose_recipe_keeps_no_counts_still_counts_what_it_sent(
    sandbox_ws: Path, control: httpx.Client
) -> None:
    """A recipe an analyst wrote sends a campaign and stores a result of its own, without
    the campaign's counts: the job succeeded, yet `show` said nobody was reached and the
    dashboard counted none of its recipients. Its result now holds what its ledger says it
    sent, over what the recipe stored."""
    with Studio.open(sandbox_ws, user="alice") as studio:
        path = studio.try_template("payment_reminder", "billing", "reminder")
        notebook = json.loads(path.read_text())
        last = notebook["cells"][-1]
        source = "".join(last["source"])
        last["source"] = source[: source.index("# The accounting")] + (
            'lp.set_result({"note": "reminded"})\n'
        )
        path.write_text(json.dumps(notebook))
        ended = studio.run(REMINDER)
        assert ended.status == "succeeded", ended.error
        assert ended.result["note"] == "reminded"  # the recipe's own, kept
        assert ended.result["accepted"] == SENDABLE, ended.result
        assert sum(c["accepted"] for c in ended.result["campaigns"]) == SENDABLE
        assert proactive(studio) == (SENDABLE, 0)
    assert len(recipients(control)) == SENDABLE


def test_a_job_failed_as_lost_while_its_process_was_frozen_claims_no_more_sends(
    ws: Path,
) -> None:
    """A worker frozen (SIGSTOP, a stalled VM) past the heartbeat was failed as lost, its
    result taken from its ledger; thawed, its kernel sent on for about a heartbeat, and those
    recipients were on no count. Its ledger now refuses it, so nothing more goes out."""
    write_recipe(ws, "p/frozen")
    with Studio.open(ws, user="alice") as studio:
        beat = studio.store.now() - timedelta(minutes=2)
        job, ledger = running_job(
            studio, "p/frozen", "manual", worker="w", started_at=beat, heartbeat_at=beat
        )
        ledger.claim_many([key(0)])
        ledger.settle_many({key(0): "accepted"}, {"proactiveCampaignId": "c-1"})
        assert studio.store.reap_lost_jobs(timedelta(seconds=60)) == [job.id]

        with pytest.raises(LpstudioError) as refused:
            ledger.claim_many([key(1)])
        assert f"job {job.id} has ended (failed): it sends nothing more" in str(refused.value)
        assert ledger_statuses(studio, job.id) == ["accepted"]  # key(1) never claimed
        assert (studio.job(job.id).result or {}).get("accepted") == 1


def frozen_job(studio: Studio, name: str) -> tuple[Job, StoreLedger]:
    """A job of `name` whose worker froze (SIGSTOP, a stalled VM) with two recipients of
    campaign c-1 out, after one was accepted: the reaper has failed it as lost, and its
    ledger is the thawed process's, about to settle them."""
    write_recipe(studio.workspace.root, name)
    beat = studio.store.now() - timedelta(minutes=2)
    job, ledger = running_job(
        studio, name, "manual", worker="w", started_at=beat, heartbeat_at=beat, cells_done=2
    )
    ledger.claim_many([key(n) for n in range(3)])
    ledger.settle_many({key(0): "accepted"}, {"proactiveCampaignId": "c-1"})
    assert studio.store.reap_lost_jobs(timedelta(seconds=60)) == [job.id]
    reaped = studio.job(job.id)
    assert reaped.error["uncertain_sends"] == 2 and reaped.result["uncertain"] == [
        {"recipients": 2, "reason": UNANSWERED}
    ], (reaped.error, reaped.result)
    return job, ledger


async def rest_job(jp_fetch: Any, job_id: int) -> dict[str, Any]:
    """GET /jobs/ID, as a bot or the lab reads the job."""
    answer = await jp_fetch(
        "lpstudio", "api", "v1", "jobs", str(job_id), headers={"X-Test-User": "alice"}
    )
    return dict(json.loads(answer.body))


async def test_a_send_accepted_after_its_job_was_reaped_counts_accepted(
    ws: Path, jp_fetch: Any
) -> None:
    """Thawed, the process of a job failed as lost got the answer to a request it had out:
    accepted. The job's result, fixed at the reap, still called that recipient uncertain
    and its error told to check it in the app, where a person might send it again. Now the
    job counts it accepted, in `show`, REST and on the dashboard; it stays failed, and its
    error names only the send still unanswered."""
    with Studio.open(ws, user="alice") as studio:
        job, ledger = frozen_job(studio, "p/thawed")

        ledger.settle_many({key(1): "accepted"}, {"proactiveCampaignId": "c-1"})

        ended = studio.job(job.id)
        assert (ended.status, ended.error["ename"]) == ("failed", "WorkerLost")
        result = ended.result or {}
        assert result["accepted"] == 2, result
        assert result["campaigns"] == [{"proactiveCampaignId": "c-1", "accepted": 2, "failed": 0}]
        assert result["uncertain"] == [{"recipients": 1, "reason": UNANSWERED}]
        assert ended.error["uncertain_sends"] == 1
        said, _, fix = ended.error["evalue"].partition("; 1 send it began got no answer before")
        assert said.startswith("worker lost: ") and "they may have gone out" in fix, ended.error
        assert proactive(studio) == (2, 0)
    shown = CliRunner().invoke(main, ["show", str(job.id), "--workspace", str(ws)])
    assert "accepted 2 · failed 0 · rejected 0 · uncertain 1" in shown.stdout, shown.stdout
    assert "needs attention (1):" in shown.stdout and "; 1 send it began" in shown.stdout
    answered = await rest_job(jp_fetch, job.id)
    assert answered["result"] == ended.result, answered["result"]
    # Its fix said as REST says it (`POST .../jobs/ID/rerun`), the rest as stored.
    assert {**answered["error"], "fix": None} == {**ended.error, "fix": None}


def test_sends_refused_after_their_job_was_reaped_count_refused(any_ws: Path) -> None:
    """Both recipients out at the reap were refused once the process thawed: one by the
    campaign, one whole (HTTP 400). The job counts them refused, and its error, no send
    left in doubt, is the worker's loss alone, as a lost job's with none out."""
    with Studio.open(any_ws, user="alice") as studio:
        job, ledger = frozen_job(studio, "p/refused")

        ledger.settle_many({key(1): "rejected"}, {"proactiveCampaignId": "c-1"})
        ledger.settle_many({key(2): "rejected"}, {"status": 400, "message": "HTTP 400: no"})

        ended = studio.job(job.id)
        assert (ended.status, ended.error["ename"]) == ("failed", "WorkerLost")
        result = ended.result or {}
        assert result["accepted"] == 1 and len(result["failed"]) == 1, result
        assert result["campaigns"] == [{"proactiveCampaignId": "c-1", "accepted": 1, "failed": 1}]
        assert result["rejected"] == [{"recipients": 1, "message": "HTTP 400: no"}]
        assert result["uncertain"] == []
        assert "uncertain_sends" not in ended.error, ended.error
        assert ended.error["evalue"].startswith("worker lost: ") and "send" not in (
            ended.error["evalue"].removesuffix("writes or sends nothing more")
        ), ended.error
        assert proactive(studio) == (1, 2)  # failed and rejected: LivePerson's refusals
