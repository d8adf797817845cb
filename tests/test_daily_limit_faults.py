"""LivePerson's recipients per day per channel across faults: a send that may have gone out
(accepted, or uncertain however it became so: a kill, a cancel, a scheduler that stopped)
counts against the day it was sent, so the job run again stops before the cap instead of
sending recipients LivePerson then never delivers (`NOT_SENT`) while the ledger keeps them
accepted for good. And what a daily-limit stop, or a template id sent without its number,
says to the person who reads it.

Real kernels, the sandbox over loopback, real SQLite; each test waits on state, never on
sleeps.
"""

from __future__ import annotations

import logging
import signal
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from lpstudio.client import ConnectionClient
from lpstudio.failures import after_failure
from lpstudio.kernel.runtime import StoreLedger
from lpstudio.models import Delivery
from lpstudio.registry import get_connector
from lpstudio.sandbox import Sandbox, sandbox_connections
from lpstudio.sdk import Connection, ConnectorError, MemoryLedger
from lpstudio.store import FINAL_STATES
from lpstudio.studio import Studio

from .conftest import LPSTUDIO, scheduler_running, wait_for, write_recipe
from .test_job_faults import configure
from .test_retries_after_uncertain_sends import queue_unattended

#: The day's cap, in the sandbox and on the connection, and the recipients of the campaign.
CAP, PEOPLE, PER_REQUEST = 5, 12, 2
RECIPE = "ops/blast"
SEND = """\
import lpstudio.kernel as lp
lp.connection("liveperson").send_campaign(
    handoff="H1000000001", campaign_name="blast", skill="sales", consumer_id="phone",
    recipients=[{{"phone": f"+1415555{{n:04d}}"}} for n in range({people})],
    channels=["sms"], variables={{"1": "Hi"}},
)
"""


def capped_recipe(ws: Path, control: httpx.Client, **metadata: Any) -> None:
    """A recipe sending PEOPLE recipients, PER_REQUEST a request, on a connection and a
    sandbox whose day allows CAP; each answer of the sandbox is slow, so that a run can be
    stopped with a request out."""
    write_recipe(
        ws,
        RECIPE,
        cells=(SEND.format(people=PEOPLE),),
        metadata={
            "title": "blast",
            "connections": {"liveperson": {"type": "liveperson_proactive"}},
            **metadata,
        },
    )
    with Studio.open(ws, user="alice") as studio:
        studio.connections.update(
            "liveperson",
            {"recipients_per_request": PER_REQUEST, "recipients_per_day_per_channel": CAP},
        )
    settings = {"recipients_per_day_per_channel": CAP}
    assert control.patch("/_sandbox/settings", json=settings).status_code == 200
    assert control.post("/_sandbox/faults", json={"latency_ms": 1500}).status_code == 200


def ledger(studio: Studio) -> list[str]:
    """How every send of the recipe's jobs stands in their ledgers."""
    with studio.store.read() as s:
        return list(s.scalars(select(Delivery.status).where(Delivery.ledger.like("job:%"))))


def mid_request(studio: Studio) -> bool:
    """A batch accepted and the next one out, its answer due."""
    sent = ledger(studio)
    return "accepted" in sent and "sending" in sent


def accepted_by_the_sandbox(control: httpx.Client) -> int:
    """Recipients LivePerson took today: past the cap it takes them, and never sends them."""
    rows = control.get("/_sandbox/liveperson/recipients").json()["recipients"]
    return sum(row["count"] for row in rows)


@pytest.mark.parametrize("stop", ["kill -9", "cancel"])
def test_a_rerun_after_a_run_stopped_mid_request_stops_at_the_daily_limit(
    sandbox_ws: Path, control: httpx.Client, stop: str
) -> None:
    """The reported run: `lpstudio run` killed (-9), or the job cancelled, with a batch out
    that LivePerson took; its rerun counted only the accepted ones and sent past the cap,
    the recipients past it kept accepted in the ledger for good."""
    capped_recipe(sandbox_ws, control)
    configure(sandbox_ws, heartbeat_seconds=0.2)  # a cancel lands while the answer is due
    if stop == "kill -9":
        proc = subprocess.Popen(
            [LPSTUDIO, "run", RECIPE, "--workspace", str(sandbox_ws)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        with Studio.open(sandbox_ws, user="alice") as studio:
            wait_for(lambda: mid_request(studio), timeout=120, what="a batch out")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    else:
        with Studio.open(sandbox_ws, user="alice") as studio:
            job, finished = studio.dispatch(RECIPE)
            wait_for(lambda: mid_request(studio), timeout=120, what="a batch out")
            studio.cancel(job.id)
            finished.result(timeout=120)
    control.delete("/_sandbox/faults")

    with Studio.open(sandbox_ws, user="alice") as studio:  # reaps the killed run
        (stopped,) = studio.jobs(recipe=f"{RECIPE}.ipynb")
        assert stopped.error["uncertain_sends"] == PER_REQUEST, stopped.error
        rerun = studio.rerun(stopped.id)

    assert rerun.error["ename"] == "DailyLimitReached", rerun.error
    # The batch out may have reached LivePerson or not (killed in flight): either way it
    # counts, and nothing is sent past the cap (7 were).
    assert CAP - PER_REQUEST <= accepted_by_the_sandbox(control) <= CAP
    result = rerun.result
    earlier = sum(e["recipients"] for e in result["already_sent"] + result["uncertain"])
    assert result["accepted"] == CAP - earlier, result
    assert result["not_sent"] == PEOPLE - CAP


def test_a_job_run_again_after_its_scheduler_stopped_mid_request_stops_at_the_daily_limit(
    sandbox_ws: Path, control: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    """A scheduler stopped with no grace ends the job, a batch out (`WorkerStopped`); its
    retry took that batch for uncertain but counted it against no day, and sent past the
    cap. Not retried again, its log said "a retry would have nothing else to send" with 7
    left, and its error told of the sends left in doubt after the fix."""
    caplog.set_level(logging.INFO, logger="lpstudio.failures")
    capped_recipe(sandbox_ws, control, retries={"count": 2, "interval": 0})
    with Studio.open(sandbox_ws, user="alice") as studio:
        studio.start(RECIPE)
        job = queue_unattended(studio, RECIPE)
        with scheduler_running(studio, grace=0):
            wait_for(lambda: mid_request(studio), timeout=120, what="a batch out")
        stopped = studio.job(job.id)
        assert (stopped.status, stopped.error["ename"]) == ("failed", "WorkerStopped")
        control.delete("/_sandbox/faults")
        [retry] = [j for j in studio.jobs(recipe=f"{RECIPE}.ipynb") if j.id != job.id]
        assert (retry.trigger, retry.rerun_of) == ("retry", job.id)
        with scheduler_running(studio):
            wait_for(lambda: studio.job(retry.id).status in FINAL_STATES, timeout=120, what="it")
        ended = studio.job(retry.id)
        assert len(studio.jobs(recipe=f"{RECIPE}.ipynb")) == 2  # no retry of the retry

    assert ended.error["ename"] == "DailyLimitReached", ended.error
    assert ended.error["not_today"] is True  # what keeps it from being retried
    # The batch out may have reached LivePerson or not (killed in flight): either way it
    # counts, and nothing is sent past the cap (7 were).
    assert CAP - PER_REQUEST <= accepted_by_the_sandbox(control) <= CAP
    message, fix = ended.error["evalue"], ended.error["fix"]
    assert "uncertain 2 are never resent" in message and "check" not in message, message
    # How to check them, in the window of the job that sent them, then the limit's fix.
    assert fix.startswith("find what LivePerson did with them: `lp.connection(SLOT)."), fix
    assert f"while job {stopped.id} ran; UTC); send the rest tomorrow (UTC)" in fix, fix
    assert "sends only the recipients neither accepted nor uncertain" in fix, fix
    assert stopped.error.get("uncertain_sends"), stopped.error  # said by the stopped job too
    said = [
        r.getMessage() for r in caplog.records if f"job {retry.id} is not retried" in r.getMessage()
    ]
    assert said == [
        f"job {retry.id} is not retried: it stopped at a daily limit, which a retry today "
        "would meet again: run it again tomorrow, which sends only the rest"
    ]


def test_a_daily_limit_stop_with_nothing_in_doubt_is_not_retried_either(
    ws: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Its retry, minutes later, met the same limit and sent nothing, once per retry."""
    caplog.set_level(logging.INFO, logger="lpstudio.failures")
    write_recipe(ws, "p/capped", metadata={"title": "capped", "retries": {"count": 2}})
    stopped = {
        "ename": "DailyLimitReached",
        "evalue": "The campaign stopped before batch 3: sending it would pass 5 recipients a "
        "day on sms",
        "retryable": False,
        "uncertain": False,
        "not_today": True,
    }
    with Studio.open(ws, user="alice") as studio:
        job = queue_unattended(studio, "p/capped")
        studio.store.finish_job(job.id, "failed", error=stopped)

        assert after_failure(studio, studio.job(job.id)) is None
        assert [j.id for j in studio.jobs(recipe="p/capped.ipynb")] == [job.id]
    assert f"job {job.id} is not retried: it stopped at a daily limit" in caplog.text


def test_a_value_an_earlier_attempt_sent_counts_for_the_recipe_s_other_jobs_that_day(
    ws: Path, sandbox: Sandbox, control: httpx.Client
) -> None:
    """Job 1 sent two checkouts before its recipe said `once_per`; its rerun recorded their
    values for the recipe, with no day: another job of the recipe that day, meeting them,
    counted them against no day and sent three more past a cap of 3."""
    with Studio.open(ws, user="alice") as studio:
        url = studio.store.url
    people = [{"phone": f"+1415555{n:04d}", "checkout_id": f"c{n}"} for n in range(5)]
    once = {"once_per": "checkout_id"}

    def send(job_id: int, chain: int, recipients: list[dict[str, Any]], **more: Any) -> Any:
        ledger = StoreLedger(url, f"job:{chain}", job_id, "recipe:p/cart.ipynb")
        values = {
            **sandbox_connections(sandbox.url)["liveperson"][1],
            "recipients_per_day_per_channel": 3,
        }
        conn = Connection("lp", get_connector("liveperson_proactive"), values, ledger=ledger)
        try:
            return ConnectionClient(conn).send_campaign(
                handoff="H1000000001",
                campaign_name="cart",
                skill="sales",
                consumer_id="phone",
                recipients=recipients,
                channels=["sms"],
                variables={"1": "Hi"},
                **more,
            )
        finally:
            conn.close()

    assert send(1, 1, people[:2])["accepted"] == 2
    assert send(2, 1, people[:2], **once)["accepted"] == 0  # its rerun: nothing new
    with pytest.raises(ConnectorError) as stopped:
        send(3, 3, people, **once)  # another job of the recipe, the same day

    assert stopped.value.field == "recipients_per_day_per_channel"
    assert stopped.value.result["not_sent"] == 2, stopped.value.result
    assert accepted_by_the_sandbox(control) == 3


# -- a template id without the number it is sent from -----------------------------------------


def test_a_template_id_without_outbound_number_is_refused_naming_it(
    sandbox: Sandbox, control: httpx.Client
) -> None:
    """LivePerson's 400 "Fields missing in request: outboundNumber" got the fix for a bad
    handoff, skill or campaign name: none of them."""
    values = {**sandbox_connections(sandbox.url)["liveperson"][1], "recipients_per_request": 2}
    conn = Connection("lp", get_connector("liveperson_proactive"), values, ledger=MemoryLedger())
    data = {
        "handoff": "sms_text_v1",
        "campaign_name": "t",
        "skill": "sales",
        "consumer_id": "phone",
        "recipients": [{"phone": "+14155550100"}, {"phone": "+14155550101"}],
        "channels": ["sms"],
        "variables": {"1": "Hi"},
    }
    try:
        with pytest.raises(ConnectorError) as refused:
            ConnectionClient(conn).send_campaign(**data)
        sent = ConnectionClient(conn).send_campaign(**data, outbound_number="+14155550000")
    finally:
        conn.close()

    assert refused.value.field == "outbound_number"
    assert refused.value.fix == (
        "choose a handoff from the handoff pick list rather than a WhatsApp or SMS template id: "
        "a handoff carries the number it is sent from; or, in the recipe, give "
        "`send_campaign(outbound_number=...)` the number a template id is sent from"
    )
    assert "Fields missing in request: outboundNumber" in refused.value.message
    assert sent["accepted"] == 2 and accepted_by_the_sandbox(control) == 2
