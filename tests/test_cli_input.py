"""Numbers and fields the command line refuses before anything starts or is written."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lpstudio.models import Job
from lpstudio.studio import Studio

from .conftest import write_recipe


def finished_job(ws: Path, minutes_ago: float) -> int:
    """A job that ended a few minutes ago, written straight to the store (no kernel)."""
    write_recipe(ws, "p/done")
    with Studio.open(ws, user="alice") as studio:
        version = studio.store.snapshot("p/done.ipynb", "{}", {}, "alice")
        job = studio.store.create_job(
            recipe="p/done.ipynb", version_id=version, trigger="manual", user="alice"
        )
        ended = datetime.now(UTC) - timedelta(minutes=minutes_ago)
        studio.store.update_job(job.id, status="succeeded", finished_at=ended)
        return job.id


def purged(ws: Path, job_id: int) -> bool:
    with Studio.open(ws, user="alice") as studio, studio.store.read() as s:
        return bool(s.get(Job, job_id).purged)


@pytest.mark.parametrize("days", ["-1", "nan", "inf", "1e12"])
def test_purge_refuses_a_retention_that_is_not_a_number_of_days(ws: Path, cli, days: str) -> None:
    job_id = finished_job(ws, minutes_ago=5)
    result = cli("purge", "--older-than", days)
    assert result.exit_code == 2, result.output
    assert "--older-than" in result.output and "0<=x<=36500" in result.output
    assert "Traceback" not in result.output
    assert not purged(ws, job_id)


def test_purge_keeps_recent_jobs_and_erases_old_ones(ws: Path, cli) -> None:
    job_id = finished_job(ws, minutes_ago=5)
    assert json.loads(cli("purge", "--older-than", "1", "--json").stdout) == {"purged": []}
    assert json.loads(cli("purge", "--older-than", "0", "--json").stdout) == {"purged": [job_id]}


@pytest.mark.parametrize("grace", ["-1", "nan", "1e12"])
def test_scheduler_refuses_a_bad_grace_period_before_it_starts(
    ws: Path, cli, monkeypatch: pytest.MonkeyPatch, grace: str
) -> None:
    started: list[object] = []
    monkeypatch.setattr("lpstudio.scheduler.Scheduler.run_forever", started.append)
    result = cli("scheduler", "--grace", grace)
    assert result.exit_code == 2, result.output
    assert "--grace" in result.output and "0<=x<=86400" in result.output
    assert started == []


@pytest.mark.parametrize("command", ["show", "rerun", "cancel"])
def test_a_job_id_too_large_for_the_store_is_refused(ws: Path, cli, command: str) -> None:
    result = cli(command, "99999999999999999999")
    assert result.exit_code == 2, result.output
    assert "JOB_ID" in result.output and "Traceback" not in result.output


def test_a_missing_secret_says_it_is_required_and_how_to_give_it(ws: Path, cli) -> None:
    result = cli(
        "connections",
        "add",
        "x1",
        "--type",
        "liveperson_proactive",
        "--field",
        "account_id=1",
        "--field",
        "client_id=a",
        "--json",
        input="",
    )
    assert result.exit_code == 2, result.output
    error = json.loads(result.stdout)["error"]
    assert error["field"] == "client_secret"
    assert "is required" in error["message"]
    assert "--secret client_secret" in error["fix"]
    assert "$LPSTUDIO_SECRET_CLIENT_SECRET" in error["fix"]
    assert json.loads(cli("connections", "list", "--json").stdout) == []


def test_a_missing_plain_field_says_which_option_gives_it(ws: Path, cli) -> None:
    result = cli(
        "connections",
        "add",
        "x1",
        "--type",
        "liveperson_proactive",
        "--field",
        "account_id=1",
        "--secret",
        "client_secret",
        "--json",
        input="s3cret\n",
    )
    assert result.exit_code == 2, result.output
    error = json.loads(result.stdout)["error"]
    assert error["field"] == "client_id" and "is required" in error["message"]
    assert "--field client_id=" in error["fix"]
    assert "s3cret" not in result.output
    assert json.loads(cli("connections", "list", "--json").stdout) == []


def test_rerunning_a_job_that_does_not_exist_names_it_without_a_warning(ws: Path, cli) -> None:
    result = cli("rerun", "4242")
    assert result.exit_code == 2, result.output
    assert "4242" in result.output and "warning" not in result.output
