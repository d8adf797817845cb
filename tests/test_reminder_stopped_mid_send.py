"""A campaign owner's payment reminder that ends mid-send (reviewer, a 3000-row CSV): its
skipped invoices were in no result of a failed or cancelled job (the template stored its
result only after sending), the recipients it never reached were counted nowhere (`not
sent 0`), and a CSV with one row too long failed it with a bare pandas `ParserError`.

Real kernels, the sandbox over loopback with its fault injection; each test waits on state,
never on sleeps.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
import nbformat
from click.testing import CliRunner

from lpstudio.cli import main
from lpstudio.kernel import RESULT_MIME
from lpstudio.kernel.runtime import StoreLedger
from lpstudio.studio import Studio

from .conftest import run_json, set_job, wait_for, write_recipe
from .test_daily_limit_faults import mid_request
from .test_stopped_job_accounting import (
    REMINDER,
    SENDABLE,
    key,
    ledger_statuses,
    recipients,
    running_job,
)

#: The sample invoice a reminder skips: its phone is not in E.164 form.
SKIPPED = {
    "invoice_id": "INV-1006",
    "phone": "0612345678",
    "reason": "phone is not in E.164 form",
}


def shown(ws: Path, job_id: int) -> str:
    """`lpstudio show JOB`, as the campaign owner reads it."""
    answer = CliRunner().invoke(main, ["show", str(job_id), "--workspace", str(ws)])
    assert answer.exit_code == 0, answer.output
    return answer.stdout


def test_a_reminder_cancelled_mid_send_keeps_its_skipped_and_counts_the_unreached(
    sandbox_ws: Path, control: httpx.Client
) -> None:
    """Cancelled with its first reminder out: its result held the ledger's counts alone,
    no `skipped`, and `not sent 0` where the 3 reminders it never reached went unsent."""
    with Studio.open(sandbox_ws, user="alice") as studio:
        studio.try_template("payment_reminder", "billing", "reminder")
        studio.connections.update("liveperson", {"recipients_per_request": 1})
        # Each answer 10 s away: the cancel lands while the first reminder is out.
        assert control.post("/_sandbox/faults", json={"latency_ms": 10_000}).status_code == 200
        job, finished = studio.dispatch(REMINDER)
        wait_for(
            lambda: "sending" in ledger_statuses(studio, job.id), timeout=120, what="a batch out"
        )
        studio.cancel(job.id)
        done = finished.result(timeout=120)
        control.delete("/_sandbox/faults")

        claimed = len(ledger_statuses(studio, job.id))
    assert done.status == "cancelled", done.error
    result = done.result
    assert result["skipped"] == [SKIPPED], result
    assert result["recipients"] == SENDABLE
    assert result["not_sent"] == SENDABLE - claimed == 3, result
    said = shown(sandbox_ws, job.id)
    assert "not sent 3" in said, said
    assert "skipped: 0612345678 (invoice INV-1006): phone is not in E.164 form" in said, said


def test_a_reminder_failed_mid_send_by_a_server_error_keeps_its_skipped(
    sandbox_ws: Path, control: httpx.Client
) -> None:
    """LivePerson answered 500 after a reminder was accepted: the failed job's result was the
    campaign's accounting alone, and its skipped invoice was named nowhere."""
    with Studio.open(sandbox_ws, user="alice") as studio:
        studio.try_template("payment_reminder", "billing", "reminder")
        studio.connections.update("liveperson", {"recipients_per_request": 1})
        assert control.post("/_sandbox/faults", json={"latency_ms": 1500}).status_code == 200
        _, finished = studio.dispatch(REMINDER)
        wait_for(lambda: mid_request(studio), timeout=120, what="a batch accepted, one out")
        fault = {"error_rate": 1.0, "error_status": 500, "scope": "liveperson"}
        assert control.post("/_sandbox/faults", json=fault).status_code == 200
        done = finished.result(timeout=120)
        control.delete("/_sandbox/faults")

    assert (done.status, done.error["ename"]) == ("failed", "ServiceTrouble"), done.error
    result = done.result
    assert result["skipped"] == [SKIPPED], result
    uncertain = sum(entry["recipients"] for entry in result["uncertain"])
    assert result["accepted"] >= 1 and uncertain == 1, result
    assert result["not_sent"] == SENDABLE - result["accepted"] - uncertain, result
    assert len(recipients(control)) == result["accepted"]  # the 500 was not carried out


def test_a_rerun_stopped_mid_send_counts_unsent_only_what_no_earlier_try_holds(
    ws: Path,
) -> None:
    """A rerun meets the recipients its first try accepted as `already_sent`: stopped
    itself, it counts them under neither its sends nor `not_sent`."""
    write_recipe(ws, "p/chain")
    with Studio.open(ws, user="alice") as studio:
        first, ledger = running_job(studio, "p/chain", "manual", worker="w")
        ledger.claim_many([key(n) for n in range(4)])
        ledger.settle_many({key(n): "accepted" for n in range(3)}, {"proactiveCampaignId": "c"})
        ledger.settle_many({key(3): "rejected"}, {"status": 400, "message": "HTTP 400: no"})
        set_job(studio.store, first.id, status="failed")
        rerun, _ = running_job(studio, "p/chain", "manual", worker="w", rerun_of=first.id)
        rerun = studio.job(rerun.id)
        again = StoreLedger(studio.store.url, f"job:{first.id}", rerun.id, store=studio.store)
        again.claim_many([key(3), key(4)])  # the refused one again, and one more
        again.settle_many({key(3): "accepted"}, {"proactiveCampaignId": "d"})

        # 10 to send: 3 held by the first try, 2 claimed by the rerun, 5 never reached.
        result = studio.store.ledger_result(rerun, {"recipients": 10}) or {}
        assert (result["accepted"], result["not_sent"]) == (1, 5), result
        # Without a count stored before sending, nothing more is said.
        assert (studio.store.ledger_result(rerun) or {})["not_sent"] == 0
        # A job that claimed none yet counts every recipient it was to send.
        idle, _ = running_job(studio, "p/chain", "manual", worker="w")
        assert studio.store.ledger_result(studio.job(idle.id)) is None
        nobody = studio.store.ledger_result(studio.job(idle.id), {"recipients": 7}) or {}
        assert (nobody.get("accepted"), nobody.get("not_sent")) == (0, 7), nobody


def test_a_reminder_whose_worker_was_lost_keeps_what_its_recipe_stored_before_sending(
    ws: Path,
) -> None:
    """Reaped as "worker lost" (its process killed mid-send), its result was its ledger's
    alone: the invoices it skipped and the recipients it never reached, which its partial
    output notebook holds, were counted nowhere, as a cancelled job's were before."""
    write_recipe(ws, "p/lost")
    stored = {"campaign": "reminder", "recipients": 5, "skipped": [SKIPPED]}
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell(
            "lp.set_result(...)",
            outputs=[nbformat.v4.new_output("display_data", data={RESULT_MIME: stored})],
        ),
        nbformat.v4.new_code_cell("lp.send_campaign(...)"),
    ]
    nbformat.write(notebook, ws / "out.ipynb")
    with Studio.open(ws, user="alice") as studio:
        beat = studio.store.now() - timedelta(minutes=2)
        job, ledger = running_job(
            studio, "p/lost", "manual", worker="gone/0123abcd:4242", heartbeat_at=beat
        )
        set_job(studio.store, job.id, output_path="out.ipynb", cells_total=2, cells_done=1)
        ledger.claim_many([key(n) for n in range(3)])
        ledger.settle_many({key(0): "accepted", key(1): "accepted"}, {"proactiveCampaignId": "c"})

        [lost] = studio.reap_lost_jobs()

    result = lost.result or {}
    assert (lost.status, lost.error["ename"]) == ("failed", "WorkerLost")
    assert result["skipped"] == [SKIPPED] and result["campaign"] == "reminder", result
    # 5 to send: 2 accepted, 1 out when it died (uncertain), 2 never reached.
    assert (result["accepted"], result["not_sent"]) == (2, 2), result
    said = shown(ws, lost.id)
    assert "not sent 2" in said and "skipped: 0612345678 (invoice INV-1006)" in said, said


def test_a_ragged_invoices_csv_fails_before_any_send_naming_its_line_and_the_fix(
    sandbox_ws: Path, control: httpx.Client
) -> None:
    """An extra field on one line failed the job with pandas's bare `ParserError ... Expected
    9 fields in line 57, saw 10`, no fix."""
    with Studio.open(sandbox_ws, user="alice") as studio:
        folder = studio.try_template("payment_reminder", "billing", "reminder").parent
    header = "invoice_id,first_name,phone,amount,currency,due_date,status"
    rows = [f"INV-{n},Ada,+1415555{n:04d},5.00,USD,2026-12-02,open" for n in range(60)]
    rows[55] = "INV-55,Ada,+14155550055,1,200.00,USD,2026-12-02,open"  # line 57: a comma
    (folder / "ragged.csv").write_text("\n".join([header, *rows]) + "\n")
    args = ("-p", "invoices_csv", "ragged.csv", "-p", "today", "2026-12-01")
    code, job = run_json("run", REMINDER, *args, "--workspace", str(sandbox_ws))

    assert code == 1 and job["status"] == "failed", job
    said = job["error"]["evalue"]
    assert "ragged.csv cannot be read as CSV: line 57 has 8 fields, the header 7" in said, said
    assert 'fix: quote the field that holds a comma ("1,200.00"), or remove the extra one' in (
        said
    ), said
    assert "ParserError" not in said and job["error"]["ename"] == "InputError"
    assert recipients(control) == {}
    assert job["result"] is None or "accepted" not in job["result"]
    shown_error = shown(sandbox_ws, job["id"])
    assert "fix: quote the field that holds a comma" in shown_error, shown_error
