"""What a recipe stored with `set_result` before a send failed stays in its job's result,
with the failure's accounting beside it: the cart template's `skipped` checkouts were in
no bucket of a failed job's result (its campaign's accounting alone), while its output
notebook said "2 to message, 1 skipped". And what a rerun of a job left uncertain by an
HTTP 500 says of those recipients and of a retry.

Real kernels, the sandbox over loopback with its fault injection, real SQLite; each test
waits on state, never on sleeps.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import nbformat
import pytest
from click.testing import CliRunner

from lpstudio.cli import main
from lpstudio.client import ConnectionClient
from lpstudio.kernel import RESULT_MIME
from lpstudio.models import Job
from lpstudio.registry import get_connector
from lpstudio.sandbox import Sandbox, sandbox_connections
from lpstudio.sdk import Connection, ConnectorError, MemoryLedger
from lpstudio.studio import Studio

from .conftest import wait_for, write_recipe
from .test_daily_limit_faults import mid_request

RECIPE = "shop/carts"
SKIPPED = [{"checkout_id": 3, "reason": "no phone on the checkout"}]
PEOPLE = [{"phone": f"+1415555{n:04d}", "checkout_id": n} for n in range(4)]

#: What the cart template knows before it sends: its checkouts, and those it skips.
STORED = f"""\
import lpstudio.kernel as lp
lp.set_result({{"checkouts": 1, "stage": "read"}})  # replaced whole by the next
lp.set_result({{"checkouts": 5, "skipped": {SKIPPED!r}, "accepted": None}})
"""
#: Takes a token first, so that the 500 the sandbox is told to give hits the campaign POST.
SEND_INTO_A_500 = """\
import httpx
lp.connection("liveperson").test()
fault = {{"error_rate": 1.0, "error_status": 500, "scope": "liveperson", "count": 1}}
httpx.post({control!r} + "/_sandbox/faults", json=fault).raise_for_status()
"""
SEND = f"""\
lp.connection("liveperson").send_campaign(
    handoff="H1000000001", campaign_name="carts", skill="sales", consumer_id="phone",
    recipients={PEOPLE!r}, channels=["sms"], variables={{"1": "Hi"}},
)
"""


def cart_recipe(ws: Path, *cells: str) -> None:
    """A recipe of `cells` on the sandbox's LivePerson, 2 recipients a request."""
    write_recipe(
        ws,
        RECIPE,
        cells=cells,
        metadata={
            "title": "carts",
            "connections": {"liveperson": {"type": "liveperson_proactive"}},
        },
    )
    with Studio.open(ws, user="alice") as studio:
        studio.connections.update("liveperson", {"recipients_per_request": 2})


def notebook_result(ws: Path, job: Job) -> Any:
    """The last result the job's output notebook shows."""
    assert job.output_path is not None
    nb = nbformat.read(ws / job.output_path, as_version=4)
    shown = [
        output["data"][RESULT_MIME]
        for cell in nb.cells
        for output in cell.get("outputs", [])
        if RESULT_MIME in output.get("data", {})
    ]
    return shown[-1]


def shown_by_cli(ws: Path, job: Job) -> Any:
    """The result `lpstudio show --json` gives."""
    answer = CliRunner().invoke(main, ["show", str(job.id), "--json", "--workspace", str(ws)])
    assert answer.exit_code == 0, answer.output
    return json.loads(answer.output)["result"]


def test_a_failed_send_keeps_what_the_recipe_stored_before_it(
    sandbox_ws: Path, sandbox: Any
) -> None:
    """The reviewer's cart job: `skipped` (and `checkouts`) were stored before the send
    that failed on an HTTP 500, and the job's result was the campaign's accounting alone."""
    cart_recipe(sandbox_ws, STORED, SEND_INTO_A_500.format(control=sandbox.url) + SEND)
    with Studio.open(sandbox_ws, user="alice") as studio:
        job = studio.run(RECIPE)

    assert (job.status, job.error["ename"]) == ("failed", "ServiceTrouble")
    result = job.result
    # The recipe's last set_result, whole (its earlier one replaced, as documented)...
    assert result["checkouts"] == 5 and result["skipped"] == SKIPPED
    assert "stage" not in result
    # ...with the failure's accounting beside it, its keys winning.
    assert result["accepted"] == 0 and result["not_sent"] == 2
    [uncertain] = result["uncertain"]
    assert uncertain["addresses"] == [p["phone"] for p in PEOPLE[:2]]
    # `show`, and so the REST API and the dashboard (which read the job's row), agree with
    # the notebook.
    assert notebook_result(sandbox_ws, job) == result
    assert shown_by_cli(sandbox_ws, job) == result


def test_a_job_cut_off_mid_send_keeps_what_the_recipe_stored_and_its_ledger_s_count(
    sandbox_ws: Path, control: httpx.Client
) -> None:
    """Cancelled with a batch out: its result was the recipe's alone, counting nobody its
    campaign may have reached (the ledger's accounting is read only for a job without one)."""
    cart_recipe(sandbox_ws, STORED, SEND)
    # Each answer 10 s away: the cancel, seen at the job's next heartbeat, comes first even
    # on a loaded machine (at 1.5 s the batch was answered first once, and the job succeeded).
    assert control.post("/_sandbox/faults", json={"latency_ms": 10_000}).status_code == 200
    with Studio.open(sandbox_ws, user="alice") as studio:
        job, finished = studio.dispatch(RECIPE)
        wait_for(lambda: mid_request(studio), timeout=120, what="a batch out")
        studio.cancel(job.id)
        job = finished.result(timeout=120)

    assert job.status == "cancelled"
    result = job.result
    assert result["checkouts"] == 5 and result["skipped"] == SKIPPED
    assert result["from_ledger"] is True
    assert result["accepted"] == 2  # the first batch, answered before the cancel
    assert sum(entry["recipients"] for entry in result["uncertain"]) == 2  # the one out
    assert shown_by_cli(sandbox_ws, job) == result


def test_reruns_of_a_job_answered_500_say_what_the_earlier_attempt_got(
    sandbox_ws: Path, sandbox: Any
) -> None:
    """The reviewer's job 11, rerun twice: its uncertain recipients were said to have got
    "no answer" (they got an HTTP 500), and each rerun's error advised a retry to send "the
    rejected recipients again" when none was rejected."""
    cart_recipe(
        sandbox_ws,
        "import lpstudio.kernel as lp",
        SEND_INTO_A_500.format(control=sandbox.url) + SEND,
    )
    with Studio.open(sandbox_ws, user="alice") as studio:
        first = studio.run(RECIPE)
    cart_recipe(sandbox_ws, "import lpstudio.kernel as lp", SEND)  # reruns meet no 500
    with Studio.open(sandbox_ws, user="alice") as studio:
        reruns = [studio.rerun(first.id), studio.rerun(first.id)]

    assert first.error["ename"] == "ServiceTrouble"
    assert [job.result["accepted"] for job in reruns] == [2, 0]
    for job in reruns:
        assert job.error["ename"] == "CampaignIncomplete"
        assert "rejected 0" in job.error["evalue"]
        assert "rejected recipients again" not in job.error["evalue"]
        assert job.error["evalue"].endswith(". Uncertain ones are never resent")
        assert f"while job {first.id} ran; UTC)" in job.error["fix"], job.error
        [uncertain] = job.result["uncertain"]
        assert uncertain["job_id"] == first.id
        assert uncertain["reason"].startswith(
            "sent by an earlier attempt: LivePerson answered HTTP 500"
        )
        assert "no answer" not in uncertain["reason"]


def test_a_campaign_with_rejected_recipients_still_advises_a_retry(
    sandbox: Sandbox, control: httpx.Client
) -> None:
    """The advice the reruns above no longer give is kept where it holds: a request
    refused whole (HTTP 413) leaves its recipients to send again."""
    values = {**sandbox_connections(sandbox.url)["liveperson"][1], "recipients_per_request": 2}
    conn = Connection("lp", get_connector("liveperson_proactive"), values, ledger=MemoryLedger())
    data = {
        "handoff": "H1000000001",
        "campaign_name": "carts",
        "skill": "sales",
        "consumer_id": "phone",
        "recipients": PEOPLE,
        "channels": ["sms"],
        "variables": {"1": "Hi"},
    }
    fault = {"error_rate": 1.0, "error_status": 413, "scope": "liveperson", "count": 1}
    try:
        ConnectionClient(conn).test()  # a token in hand: the fault hits the campaign request
        assert control.post("/_sandbox/faults", json=fault).status_code == 200
        with pytest.raises(ConnectorError) as refused:
            ConnectionClient(conn).send_campaign(**data)
    finally:
        conn.close()

    assert type(refused.value).__name__ == "CampaignIncomplete"
    assert "accepted 2, rejected 2" in str(refused.value)
    assert "A retry or rerun sends the rejected recipients again" in str(refused.value)
