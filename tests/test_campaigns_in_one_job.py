"""Several `send_campaign`s in one job: each accounts for its own recipients, and the job
keeps them all.

A recipient an earlier campaign of the same run accepted is not messaged again (the
ledger's scope) and is reported under `already_sent`, not counted as accepted once more;
a job whose later campaign fails keeps in its result what every campaign before it reached,
so `show` and the dashboard count them. Real jobs, real kernels, the real sandbox.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from click.testing import CliRunner

from lpstudio.cli import main
from lpstudio.studio import Studio

from .conftest import write_recipe
from .test_stopped_job_accounting import proactive

PHONE = "+14155550321"
OTHER = "+14155550322"
SEND = """
import lpstudio.kernel as k
c = k.connection("liveperson")

def send(handoff, name, phones, variables):
    return c.send_campaign(
        handoff=handoff, campaign_name=name, skill="sales", consumer_id="phone",
        recipients=[{{"phone": p}} for p in phones], variables=variables,
    )

first = send("H1000000001", "One", [{phone!r}], {{"1": "first"}})
k.set_result(send({handoff!r}, "Reminder", {phones!r}, {variables!r}))
"""


def run_job(ws: Path, handoff: str, phones: list[str], variables: dict[str, str]) -> Any:
    """Runs a recipe that sends `PHONE` a campaign on H1000000001, then `phones` another."""
    cell = SEND.format(phone=PHONE, handoff=handoff, phones=phones, variables=variables)
    write_recipe(
        ws,
        "ops/twice",
        cells=(cell,),
        metadata={
            "title": "twice",
            "connections": {"liveperson": {"type": "liveperson_proactive"}},
        },
    )
    with Studio.open(ws, user="alice") as studio:
        return studio.run("ops/twice")


def shown_result(ws: Path, job_id: int) -> dict[str, Any]:
    """The job's result as `lpstudio show --json` gives it."""
    shown = CliRunner().invoke(main, ["show", str(job_id), "--json", "--workspace", str(ws)])
    assert shown.exit_code == 0, shown.output
    return json.loads(shown.stdout)["result"]


def received(control: httpx.Client) -> dict[str, list[str]]:
    """Each campaign request the sandbox received: its name and the phones it held."""
    return {
        c["request"]["campaignName"]: [
            p["consumerContent"]["sms"] for p in c["request"]["consumers"]
        ]
        for c in control.get("/_sandbox/liveperson/campaigns").json()["campaigns"]
    }


def test_a_second_campaign_reports_whom_the_first_sent_as_already_sent_not_accepted(
    sandbox_ws: Path, control: httpx.Client
) -> None:
    """The analyst's job: the Reminder's result said `accepted: 2, already_sent: []`, with a
    campaign marked `earlier_run`, for a request that held one of the two."""
    job = run_job(sandbox_ws, "H1000000001", [PHONE, OTHER], {"1": "second message"})

    assert job.status == "succeeded", job.error
    result = shown_result(sandbox_ws, job.id)
    assert received(control) == {"One": [PHONE], "Reminder": [OTHER]}
    assert result["accepted"] == 1, result
    assert [(c["accepted"], c.get("earlier_run")) for c in result["campaigns"]] == [(1, None)]
    [again] = result["already_sent"]
    assert (again["recipients"], again["job_id"]) == (1, job.id), again
    with Studio.open(sandbox_ws, user="alice") as studio:
        assert proactive(studio) == (1, 0)  # the result set: the Reminder, its one recipient


def test_a_job_whose_later_campaign_fails_keeps_what_the_earlier_one_reached(
    sandbox_ws: Path, control: httpx.Client
) -> None:
    """The analyst's job: H1000000002 needs a WhatsApp address, so its campaign failed with
    `HandoffMismatch`; the job's result held that campaign alone (`accepted: 0`), and the
    dashboard did not count the recipient the first campaign had reached."""
    job = run_job(sandbox_ws, "H1000000002", [PHONE], {"1": "Ann", "2": "A-1"})

    assert job.status == "failed" and job.error["ename"] == "HandoffMismatch", job.error
    result = shown_result(sandbox_ws, job.id)
    assert [(c["accepted"], c["failed"]) for c in result["campaigns"]] == [(1, 0), (0, 1)]
    assert result["accepted"] == 1, result
    assert [f["address"] for f in result["failed"]] == [PHONE]
    assert sorted(received(control)) == ["One", "Reminder"]
    with Studio.open(sandbox_ws, user="alice") as studio:
        assert proactive(studio) == (1, 1)
