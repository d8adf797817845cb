"""A job that a run again may pass says how, by its own id, in the CLI's terms, the REST
API's and the lab's; a killed campaign's recipients that never reached LivePerson are
counted not sent, not rejected."""

from __future__ import annotations

from lpstudio.runner import Deadline, Stop, _explained
from lpstudio.sdk import NOT_SENT
from lpstudio.server.fixes import in_rest_terms
from lpstudio.store import _ledger_accounting
from lpstudio.widgets.common import lab_text

NO_LIMIT = Deadline(None, "none", "none")
TEST = "check that LivePerson answers (`lpstudio connections test liveperson`)"


def test_a_job_its_scheduler_stopped_is_rerun_by_its_own_id() -> None:
    error = {"ename": "WorkerStopped", "evalue": "scheduler stopped before the job finished"}
    _explained(error, Stop("requeue", error["evalue"]), NO_LIMIT, 5)
    assert error["fix"].startswith("`lpstudio rerun 5` runs it again"), error


def test_an_app_error_a_rerun_may_pass_gives_its_check_then_the_rerun() -> None:
    error = {
        "ename": "ServiceTrouble",
        "evalue": f"LivePerson's token server answered HTTP 500\n  fix: {TEST}",
        "retryable": True,
        "status": 500,
    }
    _explained(error, None, NO_LIMIT, 4)
    assert error["evalue"] == "LivePerson's token server answered HTTP 500"
    assert error["fix"] == f"{TEST}; then `lpstudio rerun 4`"
    rest = in_rest_terms(error["fix"], "billing/reminder")
    assert rest == (
        "check that LivePerson answers (POST /lpstudio/api/v1/connections/liveperson/test); "
        "then POST /lpstudio/api/v1/jobs/4/rerun"
    )
    assert lab_text(rest).endswith("; then Rerun of job 4 in the Jobs panel"), lab_text(rest)


def test_an_app_error_no_rerun_can_pass_gets_no_rerun() -> None:
    error = {"ename": "ConnectorError", "evalue": "HTTP 400: bad", "retryable": False}
    _explained(error, None, NO_LIMIT, 4)
    assert "fix" not in error


def test_recipients_a_killed_job_never_sent_are_not_sent_not_rejected() -> None:
    rows = [
        ("accepted", "c-1", None, 160),
        ("rejected", None, f"{NOT_SENT}: refused whole, to be tried again", 10),
        ("rejected", None, "HTTP 400: no", 2),
    ]
    result = _ledger_accounting(rows)
    assert result["accepted"] == 160 and result["not_sent"] == 10
    assert result["rejected"] == [{"recipients": 2, "message": "HTTP 400: no"}]
