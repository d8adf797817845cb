"""A campaign job that hit its own timeout is rerun with a longer one, never run anew.

Its fix said to run the recipe again with a longer timeout (`lpstudio run --timeout`): that
new job had a delivery ledger of its own, and messaged every recipient the first one had
reached a second time. Its rerun, which shares the ledger, kept the job's timeout and timed
out again. `lpstudio rerun JOB --timeout SECONDS`, and `{"timeout": SECONDS}` in a REST
rerun's body, run it with a longer one, and the timeout's fix names that rerun in each
surface's terms: the sandbox then holds each recipient once.

Real kernels, the real sandbox, the real `lpstudio` command and `lpstudio serve`; the tests
wait on the jobs' ends. The recipe's own sleep is its slow work, which the first timeout
cuts off once its first campaign went out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from lpstudio.errors import InputError
from lpstudio.studio import Studio
from lpstudio.widgets.common import lab_text

from .conftest import job_rows, run_cli, run_json, wait_for, write_recipe
from .servers import API, Served, serving
from .test_stopped_job_accounting import recipients

RECIPE = "ops/slow_campaign"
REACHED = ["+14155550401", "+14155550402"]
LATER = ["+14155550403", "+14155550404"]
#: The recipe's slow cell, and the first run's timeout that cuts it off: by then its kernel
#: started and the sandbox, on loopback, accepted the first campaign.
SLOW, FIRST_TIMEOUT = 15, 7
SEND = """
import lpstudio.kernel as k
c = k.connection("liveperson")

def send(name, phones):
    return c.send_campaign(
        handoff="H1000000001", campaign_name=name, skill="sales", consumer_id="phone",
        recipients=[{"phone": p} for p in phones], variables={"1": "hello"},
    )
"""


def write_slow_campaign(ws: Path) -> None:
    """A recipe that reaches `REACHED`, works `SLOW` seconds, then reaches `LATER`."""
    write_recipe(
        ws,
        RECIPE,
        cells=(
            SEND,
            f"first = send('First', {REACHED!r})",
            f"import time\ntime.sleep({SLOW})",
            f"k.set_result(send('Later', {LATER!r}))",
        ),
        metadata={
            "title": "slow campaign",
            "connections": {"liveperson": {"type": "liveperson_proactive"}},
        },
    )


def fix_of_timeout(job: dict[str, Any]) -> str:
    """The fix of a job that timed out in the slow cell (index 3: the parameters cell is 0),
    its first campaign sent."""
    assert job["status"] == "failed", job
    error = job["error"]
    assert error["ename"] == "Timeout" and error["cell"] == 3, error
    assert error["evalue"] == f"timed out after {FIRST_TIMEOUT} s (the job's own timeout)"
    return str(error["fix"])


def test_a_timed_out_campaign_rerun_with_a_longer_timeout_sends_only_the_rest(
    sandbox_ws: Path, control: httpx.Client
) -> None:
    write_slow_campaign(sandbox_ws)
    ws = str(sandbox_ws)
    code, first = run_json("run", RECIPE, "--timeout", str(FIRST_TIMEOUT), "--workspace", ws)
    assert code == 1, first
    assert fix_of_timeout(first) == (
        "rerun it with a longer timeout, in seconds, which sends nothing its delivery ledger "
        f"holds again: `lpstudio rerun {first['id']} --timeout SECONDS`"
    )
    assert recipients(control) == dict.fromkeys(REACHED, 1)

    rows = job_rows(sandbox_ws)
    for bad in ("0", "-1", "nan", "2e9", "soon"):  # as `run --timeout` refuses them
        refused = run_cli("rerun", str(first["id"]), "--timeout", bad, "--workspace", ws)
        assert refused.returncode == 2 and "'--timeout'" in refused.stderr, refused.stderr
    with Studio.open(sandbox_ws, user="alice") as studio, pytest.raises(InputError) as not_seconds:
        studio.rerun(first["id"], timeout=0)
    assert not_seconds.value.field == "timeout" and not_seconds.value.fix
    assert job_rows(sandbox_ws) == rows  # no job queued

    code, again = run_json(
        "rerun", str(first["id"]), "--timeout", str(SLOW * 8), "--workspace", ws, timeout=240
    )
    assert code == 0 and again["status"] == "succeeded", again
    assert again["rerun_of"] == first["id"] and again["result"]["accepted"] == len(LATER)
    assert recipients(control) == dict.fromkeys(REACHED + LATER, 1)  # each reached once


def ended(server: Served, job_id: int) -> dict[str, Any]:
    """The job once it ended, as GET /jobs/{id} gives it."""

    def final() -> dict[str, Any] | None:
        job = server.api("alice", "GET", f"/jobs/{job_id}").json()
        return job if job["status"] in ("succeeded", "failed", "cancelled") else None

    return dict(wait_for(final, timeout=240, what=f"job {job_id}"))


def test_a_timed_out_campaign_rerun_over_rest_with_a_longer_timeout_sends_only_the_rest(
    sandbox_ws: Path, control: httpx.Client
) -> None:
    write_slow_campaign(sandbox_ws)
    with serving(sandbox_ws, "--LpstudioApp.scheduler=False") as server:
        ran = server.api(
            "alice", "POST", f"/recipes/{RECIPE}.ipynb/run", json={"timeout": FIRST_TIMEOUT}
        )
        assert ran.status_code == 202, ran.text
        first = ended(server, ran.json()["id"])
        rerun = f"{API}/jobs/{first['id']}/rerun"
        fix = fix_of_timeout(first)
        assert fix == (
            "rerun it with a longer timeout, in seconds, which sends nothing its delivery "
            f'ledger holds again: POST {rerun} {{"timeout": ...}}'
        )
        # The lab's Rerun takes a timeout: its fix names it.
        assert lab_text(fix).endswith(
            f": Rerun of job {first['id']} in the Jobs panel, with a longer Timeout (seconds)"
        ), lab_text(fix)
        assert recipients(control) == dict.fromkeys(REACHED, 1)

        for bad in (0, -1, 2e9, "600", None, True):  # as a run's `timeout` is refused
            refused = server.api(
                "alice", "POST", f"/jobs/{first['id']}/rerun", json={"timeout": bad}
            )
            assert refused.status_code == 400, (bad, refused.text)
            error = refused.json()["error"]
            assert error["field"] == "timeout" and error["fix"], (bad, error)

        doc = server.api("alice", "GET", "/openapi.json").json()
        body = doc["paths"]["/jobs/{job_id}/rerun"]["post"]["requestBody"]
        timeout = body["content"]["application/json"]["schema"]["properties"]["timeout"]
        assert "instead of the job's own timeout" in timeout["description"], timeout

        again = server.api("alice", "POST", f"/jobs/{first['id']}/rerun", json={"timeout": 120})
        assert again.status_code == 202, again.text
        done = ended(server, again.json()["id"])
    assert done["status"] == "succeeded", done["error"]
    assert done["rerun_of"] == first["id"] and done["result"]["accepted"] == len(LATER)
    assert recipients(control) == dict.fromkeys(REACHED + LATER, 1)  # each reached once
