"""A job that leaves sends uncertain says how to check them, and no fix promises what a rerun
cannot do (on-call reviewer): a payment reminder whose campaign got a 500 or no answer
failed with "check them in LivePerson" and "check them in the app" and no fix at all (no
campaign id to report on: the answer was lost); a job whose worker was lost mid-send had
the fix `lpstudio rerun N` (a send its ledger holds is not sent again), and its rerun, and
every rerun after, failed on the uncertain send with no fix.

Real kernels, the sandbox over loopback with its fault injection, SQLite; one `lpstudio
serve` for the REST answer. Nothing is ever sent twice (the sandbox's recipient counts).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import httpx
import pytest
from sqlalchemy import update

from lpstudio.client import ConnectionClient
from lpstudio.models import Delivery, as_utc
from lpstudio.registry import get_connector
from lpstudio.sandbox import Sandbox
from lpstudio.sdk import Connection, Ledger, MemoryLedger
from lpstudio.store import _stamp
from lpstudio.studio import Studio
from lpstudio.widgets.common import lab_text
from tests.conftest import run_json, set_job, write_recipe
from tests.servers import serving
from tests.test_liveperson import SECRET, DyingLedger, send
from tests.test_output_unsaved import BLOCK
from tests.test_reminder_stopped_mid_send import shown
from tests.test_stopped_job_accounting import REMINDER, recipients

#: The sandbox's account and the reminder template's handoff, as its ledger keys them.
ACCOUNT, HANDOFF = "12345678", "H1000000001"
#: A window of the job's run, in the form a report takes it (ISO 8601, UTC, to the second).
WINDOW = r"from (\S+Z) to (\S+Z), while job {job} ran; UTC"
#: The windows of a job that ran over 24 hours: a report takes 24 hours at most.
LONG_WINDOW = r"from (\S+Z) to (\S+Z), from (\S+Z) to (\S+Z), while job {job} ran; UTC"
#: The sample invoices' reminders that go out.
SENT = ("+14155550101", "+14155550102", "+4915112345678", "+61412345678")
#: How to check them: the README's way to read an action, in a recipe run as a job.
CHECK = (
    "find what LivePerson did with them: `lp.connection(SLOT).reporting_transactions("
    f'start=..., end=..., handoff_ids=["{HANDOFF}"])` (SLOT: the recipe\'s slot of the '
    "connection that sent them), in a cell of a recipe run as a job, `lpstudio run REPORT` "
    "(REPORT: that recipe; run by hand, a cell is a dry run and reads nothing), lists each "
    "recipient it attempted ("
)
#: The same in the REST API's terms (GET /jobs/ID) and in the lab's.
RUN_REPORT = "`lpstudio run REPORT`"
REST_RUN_REPORT = "POST /lpstudio/api/v1/recipes/REPORT/run"
LAB_CHECK = "in a cell of a recipe run as a job (its Run now in the Recipes sidebar; run by hand"


@contextmanager
def lp(sandbox: Sandbox, ledger: Ledger) -> Iterator[Connection]:
    """A connection to the sandbox's LivePerson account, keeping its sends in `ledger`."""
    config = {"account_id": ACCOUNT, "client_id": "sandbox-client", "client_secret": SECRET}
    conn = Connection(
        "liveperson",
        get_connector("liveperson_proactive"),
        {**config, "base_url": sandbox.url},
        ledger=ledger,
    )
    try:
        yield conn
    finally:
        conn.close()


def parsed(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp)


def reminder(ws: Path) -> None:
    with Studio.open(ws, user="alice") as studio:
        studio.try_template("payment_reminder", "billing", "reminder")


@pytest.mark.parametrize(
    ("fault", "recipients_after"),
    [
        ({"error_rate": 0.5, "error_status": 500}, {}),  # not carried out
        ({"drop_rate": 0.5}, dict.fromkeys(SENT, 1)),  # carried out, once
    ],
    ids=["answered-500", "no-answer"],
)
def test_a_reminder_left_uncertain_says_once_how_to_check_them_on_show_and_rest(
    sandbox_ws: Path, control: httpx.Client, fault: dict[str, Any], recipients_after: Any
) -> None:
    """The reviewer's reminder: `... uncertain 4 are never resent: check them in LivePerson;
    4 sends it began got no answer or a server error: ... check them in the app`, no fix."""
    reminder(sandbox_ws)
    plan = {**fault, "seed": 0, "scope": "liveperson", "count": 2}
    assert control.post("/_sandbox/faults", json=plan).status_code == 200
    code, job = run_json("run", REMINDER, "--workspace", str(sandbox_ws))

    assert code == 1 and job["error"]["ename"] == "ServiceTrouble", job["error"]
    error = job["error"]
    said, fix = error["evalue"], error["fix"]
    assert "uncertain 4 are never resent" in said, said
    # Said once: the job's end does not tell them again, and how to check is the fix's.
    assert said.count("never") == 1 and "check" not in said, said
    assert fix.startswith(CHECK), fix
    window = re.search(WINDOW.format(job=job["id"]), fix)
    assert window is not None, fix
    start, end = window.groups()
    assert start <= job["started_at"][:19] + "Z" and end > job["finished_at"][:19] + "Z"
    # The job reached every recipient: a rerun is promised nothing.
    assert fix.endswith("a rerun would send nothing: none is left to send but the uncertain ones")
    assert f"fix: {fix}" in shown(sandbox_ws, job["id"])
    assert recipients(control) == recipients_after
    with serving(sandbox_ws, "--LpstudioApp.scheduler=False") as server:
        answer = server.api("alice", "GET", f"/jobs/{job['id']}").json()
    assert answer["error"]["fix"] == fix.replace(RUN_REPORT, REST_RUN_REPORT), answer["error"]
    assert LAB_CHECK in lab_text(answer["error"]["fix"]), answer["error"]
    assert LAB_CHECK in lab_text(fix), fix  # a notebook's widgets show the store's words


def test_a_lost_job_s_uncertain_send_is_checked_and_its_rerun_sends_only_the_rest(
    sandbox_ws: Path, sandbox: Sandbox, control: httpx.Client
) -> None:
    """Job 21's `WorkerLost ... 1 send it began got no answer` had the fix `lpstudio rerun
    21 runs it again`; followed, each rerun failed `CampaignIncomplete ... uncertain 1` with
    no fix. The lost job's fix says what its rerun sends, and the rerun's how to check the
    one the lost job left, in the lost job's window; nobody is sent twice.

    Then the lost job said "check in the app they went to" where its rerun named
    `reporting_transactions`, and gave its 30 hours as one window, which that report
    refuses: both say the campaign's check, in windows of at most 24 hours it takes.

    Then the rerun's window for the lost job ran to the rerun's own time: queuing it and
    claiming the send again dated the send anew. It ends where the lost job did."""
    reminder(sandbox_ws)
    with Studio.open(sandbox_ws, user="alice") as studio:
        found = studio.recipe(REMINDER)
        settings = studio.settings(found)
        bound = {key: settings[key] for key in ("parameters", "connections")}
        version = studio.store.snapshot(found.name, found.canonical_json, bound, "alice")
        lost = studio.store.create_job(
            recipe=found.name, version_id=version, trigger="manual", user="alice"
        )
        now = studio.store.now()
        set_job(
            studio.store,
            lost.id,
            status="running",
            worker="gone/0123abcd:4242",
            started_at=now - timedelta(hours=30),
            heartbeat_at=now - timedelta(minutes=2),
            cells_done=8,
            cells_total=9,
        )
        # Its campaign claimed the first reminder; its process died before the request.
        dying = DyingLedger(studio.store.url, f"job:{lost.id}", lost.id, store=studio.store)
        with pytest.raises(SystemExit), lp(sandbox, dying) as conn:
            send(conn, [{"phone": SENT[0], "name": "Ada"}])
        [reaped] = studio.reap_lost_jobs()
        lost = studio.job(reaped.id)
        # Reaped an hour before its rerun: its end and its send in doubt dated then.
        ended = as_utc(lost.finished_at) - timedelta(hours=1)
        set_job(studio.store, lost.id, finished_at=ended)
        with studio.store.write() as s:
            s.execute(update(Delivery).where(Delivery.job_id == lost.id).values(updated_at=ended))
        rerun = studio.rerun(lost.id)

    assert lost.error["ename"] == "WorkerLost" and lost.error["uncertain_sends"] == 1
    fix = lost.error["fix"]
    assert fix.startswith(CHECK), fix
    windows = re.search(LONG_WINDOW.format(job=lost.id), fix)
    assert windows is not None, fix
    first, cut, again, last = windows.groups()
    assert cut == again and first < cut < last  # one after another, without a gap
    assert parsed(cut) - parsed(first) == timedelta(hours=24) >= parsed(last) - parsed(cut)
    with lp(sandbox, MemoryLedger()) as conn:  # each window is one the report takes
        for start, end in ((first, cut), (cut, last)):
            assert ConnectionClient(conn).reporting_transactions(start=start, end=end) == {
                "data": []
            }
    assert fix.endswith(
        f"then `lpstudio rerun {lost.id}` sends only those it never reached, never the "
        "uncertain ones"
    ), fix
    assert "runs it again" not in fix

    # Followed: it sends the 3 the lost job never reached, never the uncertain one.
    assert rerun.error["ename"] == "CampaignIncomplete", rerun.error
    assert "accepted 3, rejected 0, uncertain 1" in rerun.error["evalue"], rerun.error
    assert rerun.error["fix"].startswith(CHECK), rerun.error
    # Checked in the lost job's windows, the one that sent it, to its own end (its rerun,
    # which claimed it again, dated it anew); a rerun sends nothing more.
    own = f"(from {first} to {cut}, from {cut} to {_stamp(ended + timedelta(seconds=1))}, "
    assert f"{own}while job {lost.id} ran; UTC)" in rerun.error["fix"], rerun.error
    assert "`lpstudio rerun" not in rerun.error["fix"]
    assert recipients(control) == dict.fromkeys(SENT[1:], 1)


#: A cell that claims a send and never settles it, with a connector's check: the job ends
#: with it unanswered (`claim_many`, as a connector calls it).
CLAIMS = (
    "import lpstudio.kernel as lp\n"
    "lp._runtime._shared()[0].claim_many(['acme:lead:1'], check='find it in Acme\\'s log')"
)


def test_a_job_timed_out_mid_send_says_its_connector_s_check_its_fix_and_its_rerun_once(
    ws: Path,
) -> None:
    """A recipe's timeout that cut a send short said `...; raise the recipe's timeout ...;
    then \\`lpstudio rerun N\\`; then \\`lpstudio rerun N\\` sends only those ...`: its fix was
    told apart from a rerun by its words. The connector's check, given as it claimed the
    send, is said of it too (any connector's, not a campaign's alone)."""
    write_recipe(
        ws,
        "p/slow",
        cells=(CLAIMS, "import threading\nthreading.Event().wait()"),
        metadata={"title": "slow", "timeout": 15},  # time to claim, on a busy machine
    )
    with Studio.open(ws, user="alice") as studio:
        job, ended = studio.dispatch("p/slow", {})
        try:
            done = ended.result(timeout=90)
        finally:
            studio.cancel(job.id)
    code, shown_json = run_json("show", str(job.id), "--workspace", str(ws))

    assert done.error["ename"] == "Timeout" and done.error.get("uncertain_sends") == 1, done.error
    fix = done.error["fix"]
    assert fix.startswith("find it in Acme's log ("), fix
    assert re.search(WINDOW.format(job=job.id), fix), fix
    assert fix.endswith(
        "; raise the recipe's timeout (metadata.lpstudio.timeout, in seconds) or make its slow "
        f"cell faster; then `lpstudio rerun {job.id}` sends only those it never reached, "
        "never the uncertain ones"
    ), fix
    assert fix.count("`lpstudio rerun") == 1, fix
    assert code == 0 and shown_json["error"] == {**done.error, "traceback": ANY}, shown_json


def test_a_job_whose_notebook_was_not_saved_says_its_rerun_once_with_its_sends_in_doubt(
    ws: Path,
) -> None:
    """Its cells ran, its output notebook could not be saved, and a send it began got no
    answer: its fix said `...; then \\`lpstudio rerun N\\` if its notebook is needed; then
    \\`lpstudio rerun N\\` sends only those ...`, the rerun twice."""
    write_recipe(ws, "p/full", cells=(CLAIMS, BLOCK))
    code, job = run_json("run", "p/full", "--workspace", str(ws))

    assert code == 1 and job["error"]["ename"] == "OutputNotSaved", job["error"]
    assert job["error"]["uncertain_sends"] == 1, job["error"]
    fix = job["error"]["fix"]
    assert fix.startswith("find it in Acme's log ("), fix
    assert re.search(WINDOW.format(job=job["id"]), fix), fix
    assert fix.endswith(
        "-full.ipynb (Is a directory); then "
        f"`lpstudio rerun {job['id']}` sends only those it never reached, never the uncertain "
        "ones"
    ), fix
    assert fix.count("`lpstudio rerun") == 1, fix
