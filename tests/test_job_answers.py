"""What `lpstudio show` and the REST API say of a job's output notebook and of a rerun: a
notebook moved away or never written is said so (not shown as if there), a 404's fix
follows the job's state, a fix names the surface's own way (a route, not a CLI command),
a rerun's answer carries the warning the CLI prints, and a cancel's says what it did.

One real `lpstudio serve` on loopback (its scheduler off, so a queued job stays queued),
real kernels and SQLite: job `moved` ran and its notebook was moved out of history/, `lost`
was queued by a process that died before starting it, `purged` is past the retention
period, `waiting` is queued.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import openapi_spec_validator
import pytest
from click.testing import CliRunner, Result

from lpstudio.cli import main
from lpstudio.kernel.runtime import StoreLedger
from lpstudio.store import worker_id
from lpstudio.studio import Studio
from tests.conftest import set_job, wait_for, write_recipe
from tests.servers import API, Served, serving
from tests.test_openapi_contract import assert_fits


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("answers") / "ws"


@pytest.fixture(scope="module")
def jobs(ws: Path) -> dict[str, int]:
    """The jobs by what became of their output notebook."""
    with Studio.init(ws, accept_terms=True, admin="alice") as studio:
        studio.store.ensure_user("otto", "operator")
        write_recipe(ws, "p/x")
        ran = studio.run("p/x", {"x": 2})
        assert ran.status == "succeeded" and ran.output_path
        shutil.move(ws / ran.output_path, ws.parent / "elsewhere.ipynb")
        gone = subprocess.Popen(["true"])
        gone.wait()  # a process id on this host that no longer runs
        made = {
            name: studio.store.create_job(
                recipe="p/x.ipynb",
                version_id=ran.version_id,
                trigger="poll" if name == "waiting" else "manual",
                user="alice",
                **({"worker": f"{socket.gethostname()}:{gone.pid}"} if name == "lost" else {}),
            ).id
            for name in ("lost", "purged", "waiting", "dropped")
        }
        studio.cancel(made["dropped"])  # before it started
        made["due"] = studio.store.create_job(  # a retry, its interval not yet passed
            recipe="p/x.ipynb",
            version_id=ran.version_id,
            trigger="retry",
            user="alice",
            rerun_of=ran.id,
            not_before=datetime(2999, 1, 1, 9, tzinfo=UTC),
        ).id
        set_job(
            studio.store,
            made["purged"],
            status="succeeded",
            finished_at=datetime.now(UTC),
            purged=True,
            parameters={},
        )
    with Studio.open(ws, user="alice"):  # any opening reaps the lost job
        pass
    return {"moved": ran.id, **made}


@pytest.fixture(scope="module")
def server(ws: Path, jobs: dict[str, int]) -> Iterator[Served]:
    with serving(ws, "--LpstudioApp.scheduler=False") as served:
        yield served


@pytest.fixture(scope="module")
def doc(server: Served) -> dict[str, Any]:
    served = server.api("alice", "GET", "/openapi.json").json()
    openapi_spec_validator.validate(served)
    return served


def cli(ws: Path, *args: str) -> Result:
    return CliRunner().invoke(main, [*args, "--workspace", str(ws)])


def ended(server: Served, job_id: int) -> dict[str, Any]:
    """The job once it ended, as the API answers it (polled: its row, not a clock)."""

    def final() -> dict[str, Any] | None:
        job = dict(server.api("otto", "GET", f"/jobs/{job_id}").json())
        return job if job["status"] in ("succeeded", "failed", "cancelled") else None

    return dict(wait_for(final, what=f"job {job_id}'s end"))


def error_of(answer: httpx.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    return dict(answer.json()["error"])


# -- a notebook moved or deleted -------------------------------------------------------------


def test_a_moved_output_notebook_is_said_missing_by_show_and_the_api(
    ws: Path, jobs: dict[str, int], server: Served, doc: dict[str, Any]
) -> None:
    job = jobs["moved"]
    shown = cli(ws, "show", str(job))
    line = next(x for x in shown.output.splitlines() if x.strip().startswith("output:"))
    assert line.endswith(".ipynb (missing: moved or deleted from history/)"), shown.output

    answer = server.api("otto", "GET", f"/jobs/{job}")
    assert answer.json()["output_missing"] is True
    assert_fits(doc, "/jobs/{job_id}", "get", answer)

    error = error_of(server.api("otto", "GET", f"/jobs/{job}/output.ipynb"), 404)
    assert "missing" in error["message"] and "history/" in error["message"]
    assert "moved or deleted from history/" in error["fix"]
    assert "wait until the job runs" not in error["fix"]


def test_a_present_output_notebook_is_not_said_missing(ws: Path, server: Served) -> None:
    started = server.api("alice", "POST", "/recipes/p/x.ipynb/run", json={"parameters": {"x": 3}})
    assert started.status_code == 202, started.text
    done = ended(server, started.json()["id"])
    assert done["status"] == "succeeded" and done["output_missing"] is False
    shown = cli(ws, "show", str(done["id"]))
    assert f"output:   {done['output_path']}\n" in shown.output
    assert server.api("otto", "GET", f"/jobs/{done['id']}/output.ipynb").status_code == 200


# -- no notebook ever written, or not yet ------------------------------------------------------


def test_a_job_lost_while_queued_says_it_wrote_no_notebook_and_why(
    ws: Path, jobs: dict[str, int], server: Served
) -> None:
    job = jobs["lost"]
    shown = cli(ws, "show", str(job))
    assert "output:   none written (it ended before its notebook ran)" in shown.output

    answer = server.api("otto", "GET", f"/jobs/{job}").json()
    assert answer["status"] == "failed" and answer["output_path"] is None
    assert answer["output_missing"] is False  # none was written: nothing went missing

    error = error_of(server.api("otto", "GET", f"/jobs/{job}/output.ipynb"), 404)
    assert "ended before its notebook ran" in error["message"]
    assert "the process that queued this job is gone before it started" in error["message"]
    assert "wait until the job runs" not in error["fix"] and "purged" not in error["fix"]
    assert f"POST {API}/jobs/{job}/rerun" in error["fix"]


def test_a_job_cancelled_while_queued_says_so(
    ws: Path, jobs: dict[str, int], server: Served
) -> None:
    """It had no error: `show` said it ended before its notebook ran, and nothing said why."""
    job = jobs["dropped"]
    shown = cli(ws, "show", str(job)).output
    assert "output:   none written (it ended before its notebook ran)" in shown, shown
    assert "cancelled by request while it was queued" in shown, shown
    answer = server.api("otto", "GET", f"/jobs/{job}").json()
    assert answer["status"] == "cancelled", answer
    assert answer["error"]["evalue"] == "cancelled by request while it was queued", answer
    error = error_of(server.api("otto", "GET", f"/jobs/{job}/output.ipynb"), 404)
    said = "it ended before its notebook ran (cancelled by request while it was queued)"
    assert said in error["message"], error


def test_a_404_for_a_queued_or_purged_job_s_notebook_follows_its_state(
    jobs: dict[str, int], server: Served
) -> None:
    due = error_of(server.api("otto", "GET", f"/jobs/{jobs['due']}/output.html"), 404)
    assert "(queued: a retry due at 2999-01-01T09:00:00+00:00)" in due["message"], due
    assert due["fix"].startswith("wait until the job runs") and "purged" not in due["fix"]
    # Held by its stopped recipe: waiting is in vain, what starts it or drops it is said.
    held = jobs["waiting"]
    queued = error_of(server.api("otto", "GET", f"/jobs/{held}/output.html"), 404)
    assert "(queued: its recipe p/x.ipynb is stopped)" in queued["message"], queued
    assert queued["fix"] == (
        f"POST {API}/recipes/p/x.ipynb/start runs its queued jobs, "
        f"POST {API}/jobs/{held}/cancel drops this one"
    ), queued

    purged = error_of(server.api("otto", "GET", f"/jobs/{jobs['purged']}/output.ipynb"), 404)
    assert "purged" in purged["message"] and "retention period" in purged["fix"]
    assert "wait until" not in purged["fix"]


# -- why a queued job waits -----------------------------------------------------------------


def test_show_and_the_api_say_why_a_queued_job_waits(
    ws: Path, jobs: dict[str, int], server: Served, doc: dict[str, Any]
) -> None:
    """A trigger's job (a retry too) of a recipe stopped since is held until it is started
    again, and a retry waits out its interval: both showed only "queued"."""
    held = jobs["waiting"]
    said = (
        "its recipe p/x.ipynb is stopped: `lpstudio start p/x.ipynb` runs its queued jobs, "
        f"`lpstudio cancel {held}` drops this one"
    )
    assert f"job {held} queued (-)\n  waits:    {said}\n" in cli(ws, "show", str(held)).output
    answer = server.api("otto", "GET", f"/jobs/{held}")
    assert answer.json()["waits"] == (  # in the API's terms: a REST caller has no CLI
        f"its recipe p/x.ipynb is stopped: POST {API}/recipes/p/x.ipynb/start runs its "
        f"queued jobs, POST {API}/jobs/{held}/cancel drops this one"
    )
    assert_fits(doc, "/jobs/{job_id}", "get", answer)

    due = server.api("otto", "GET", f"/jobs/{jobs['due']}").json()
    assert due["waits"] == "a retry due at 2999-01-01T09:00:00+00:00"
    ran = server.api("otto", "GET", f"/jobs/{jobs['moved']}").json()
    assert ran["waits"] is None


def test_show_says_a_retry_s_due_time_in_the_machine_s_time_as_its_other_times(
    ws: Path, jobs: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """In Tokyo, `show -v` said `created: 2026-12-07 08:49:01` and `waits: a retry due at
    2026-12-06T23:59:01+00:00`; `--json` and the REST API keep ISO form in UTC."""
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        shown = cli(ws, "show", str(jobs["due"])).output
        answer = json.loads(cli(ws, "show", str(jobs["due"]), "--json").output)
    finally:
        monkeypatch.undo()
        time.tzset()
    assert "\n  waits:    a retry due at 2999-01-01 18:00:00\n" in shown, shown
    assert answer["waits"] == "a retry due at 2999-01-01T09:00:00+00:00", answer


def test_a_retry_s_trigger_and_the_job_it_retried_are_documented(
    jobs: dict[str, int], server: Served, doc: dict[str, Any]
) -> None:
    """A retry is a job of its own, `trigger` "retry" and `rerun_of` the job it ran again;
    the document typed `trigger` as a bare string, naming none of its values."""
    answer = server.api("alice", "GET", f"/jobs/{jobs['due']}")
    assert_fits(doc, "/jobs/{job_id}", "get", answer)
    job = answer.json()
    assert (job["trigger"], job["rerun_of"]) == ("retry", jobs["moved"])
    documented = doc["paths"]["/jobs/{job_id}"]["get"]["responses"]["200"]["content"]
    trigger = documented["application/json"]["schema"]["properties"]["trigger"]
    assert set(trigger["enum"]) == {
        "manual", "test", "schedule", "poll", "webhook", "callable", "rerun", "retry"
    }  # fmt: skip
    assert "rerun_of" in trigger["description"]
    listed = server.api("alice", "GET", "/jobs").json()["jobs"]
    assert {row["trigger"] for row in listed} <= set(trigger["enum"])


def test_show_and_the_api_count_a_running_job_s_sends_so_far(
    ws: Path, jobs: dict[str, int], server: Served, doc: dict[str, Any]
) -> None:
    """A campaign of 100,000 recipients runs for minutes in one cell: its job showed only
    "8 of 9 cells done", nothing of how far its sends had come."""
    with Studio.open(ws, user="alice") as studio:
        job = studio.store.create_job(
            recipe="p/x.ipynb",
            version_id=studio.job(jobs["moved"]).version_id,
            trigger="manual",
            user="alice",
        )
        set_job(studio.store, job.id, status="running", worker=worker_id())
        ledger = StoreLedger("", f"job:{job.id}", job.id, store=studio.store)
        ledger.claim_many([f"k{i}" for i in range(6)])
        ledger.settle_many({"k0": "accepted", "k1": "accepted", "k2": "accepted"}, {})
        ledger.settle_many({"k3": "rejected"}, {"message": "INVALID_NUMBER"})
    try:
        shown = cli(ws, "show", str(job.id)).output
        assert "  sent:     accepted 3, refused 1, sending 2 so far\n" in shown, shown
        answer = server.api("otto", "GET", f"/jobs/{job.id}")
        sends = answer.json()["sends"]
        assert sends == {"accepted": 3, "refused": 1, "sending": 2, "uncertain": 0}, sends
        assert_fits(doc, "/jobs/{job_id}", "get", answer)
        listed = server.api("otto", "GET", "/jobs").json()["jobs"]
        (row,) = [j for j in listed if j["id"] == job.id]
        assert "sends" not in row, row  # a count per job: one job's route has it
    finally:  # its recipe's turn to the later tests' jobs
        with Studio.open(ws, user="alice") as studio:
            set_job(studio.store, job.id, status="failed", finished_at=datetime.now(UTC))
    assert server.api("otto", "GET", f"/jobs/{jobs['moved']}").json()["sends"] is None


# -- fixes in each surface's terms -------------------------------------------------------------


def test_the_api_s_fixes_name_its_routes_and_the_cli_its_commands(
    ws: Path, jobs: dict[str, int], server: Served
) -> None:
    for method, path in (
        ("GET", "/jobs/999999"),
        ("GET", "/jobs/999999/output.ipynb"),
        ("POST", "/jobs/999999/rerun"),
        ("POST", "/jobs/999999/cancel"),
    ):
        fix = error_of(server.api("otto", method, path), 404)["fix"]
        assert fix == f"GET {API}/jobs lists jobs", (method, path)
    purged = error_of(server.api("otto", "POST", f"/jobs/{jobs['purged']}/rerun"), 400)
    assert purged["fix"] == (  # otto, an operator, may not run it: asked of who may
        f"ask an analyst or admin to run the recipe anew with POST {API}/recipes/p/x.ipynb/run"
    )

    assert "list jobs with `lpstudio jobs`" in cli(ws, "show", "999999").output
    refused = cli(ws, "rerun", str(jobs["purged"]))
    # It said `lpstudio run` alone, where the API's route names the recipe.
    assert refused.exit_code == 2, refused.output
    assert "fix: run the recipe anew with `lpstudio run p/x`" in refused.output


# -- a rerun's warning ----------------------------------------------------------------------


def test_a_rerun_s_answer_warns_as_the_cli_does(
    ws: Path, jobs: dict[str, int], server: Served, doc: dict[str, Any]
) -> None:
    job = jobs["moved"]
    answer = server.api("otto", "POST", f"/jobs/{job}/rerun")
    assert answer.status_code == 202, answer.text
    assert answer.json()["rerun_of"] == job
    assert answer.json()["warning"].startswith(f"rerunning job {job} runs every cell again")
    assert_fits(doc, "/jobs/{job_id}/rerun", "post", answer)
    schema = doc["paths"]["/jobs/{job_id}/rerun"]["post"]["responses"]["202"]["content"]
    assert "warning" in schema["application/json"]["schema"]["required"]
    assert ended(server, answer.json()["id"])["status"] == "succeeded"

    said = CliRunner().invoke(main, ["rerun", str(job), "--workspace", str(ws)])
    assert said.exit_code == 0, said.output
    assert f"warning: {answer.json()['warning']}\n" in said.output


# -- what a cancel did ----------------------------------------------------------------------


def made_job(ws: Path, jobs: dict[str, int], **fields: Any) -> int:
    """A job of p/x set as `fields` say, which no worker runs (the scheduler is off)."""
    with Studio.open(ws, user="alice") as studio:
        version = studio.job(jobs["moved"]).version_id
        job = studio.store.create_job(
            recipe="p/x.ipynb", version_id=version, trigger="manual", user="alice"
        )
        if fields:
            set_job(studio.store, job.id, **fields)
    return job.id


@pytest.mark.parametrize("surface", ["cli", "api"])
def test_a_cancel_says_what_it_did(
    ws: Path, jobs: dict[str, int], server: Served, doc: dict[str, Any], surface: str
) -> None:
    """`cancel --json` and REST gave the job alone: a running job asked to stop showed
    `running`, as one never asked would, and an ended one its status, as if cancelled."""
    now = datetime.now(UTC)
    running = made_job(  # its worker is this process, alive and beating: not reaped
        ws,
        jobs,
        status="running",
        started_at=now,
        heartbeat_at=now,
        worker=f"{socket.gethostname()}:{os.getpid()}",
    )
    queued = made_job(ws, jobs)
    expected = {
        running: ("requested", "running"),
        queued: ("cancelled", "cancelled"),
        jobs["moved"]: ("nothing", "succeeded"),
    }
    try:
        for job, (outcome, status) in expected.items():
            if surface == "cli":
                done = cli(ws, "cancel", str(job), "--json")
                assert done.exit_code == 0, done.output
                answer = json.loads(done.output)
            else:
                asked = server.api("otto", "POST", f"/jobs/{job}/cancel")
                assert_fits(doc, "/jobs/{job_id}/cancel", "post", asked)
                answer = asked.json()
            assert (answer["id"], answer["cancel"], answer["status"]) == (job, outcome, status)
            assert (
                answer.keys() - {"cancel"}
                == server.api("otto", "GET", f"/jobs/{job}").json().keys()
            )
    finally:
        with Studio.open(ws, user="alice") as studio:
            set_job(studio.store, running, status="cancelled", finished_at=datetime.now(UTC))
    said = cli(ws, "cancel", str(queued)).output
    assert said == f"job {queued} had already ended (cancelled): nothing to cancel\n"


def test_a_job_id_past_the_store_s_integers_is_no_job_not_an_overflow(tmp_path: Path) -> None:
    # `Studio.job(2**63)` (and `cancel`, `rerun`, which look it up) raised the driver's
    # OverflowError where a job that does not exist raises NotFoundError.
    from lpstudio.errors import NotFoundError

    with Studio.init(tmp_path, accept_terms=True, admin="alice") as studio:
        for job_id in (2**63, -(2**63) - 1, 10**20):
            for act in (studio.job, studio.cancel):
                with pytest.raises(NotFoundError, match=f"^job {job_id} does not exist") as e:
                    act(job_id)
                assert e.value.field == "job", e.value
