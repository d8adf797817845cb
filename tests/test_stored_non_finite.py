"""A job kept with NaN in its event, from before polls refused it: its answers stay JSON,
the number as null, where `show --json` printed NaN and GET /jobs answered 500 for
everybody whose Jobs list held it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lpstudio.studio import Studio
from tests.conftest import run_cli, write_recipe


def _nan_job(ws: Path) -> int:
    """A job whose event holds NaN, written straight to the store (SQLite keeps it)."""
    write_recipe(ws, "p/priced")
    with Studio.open(ws, user="alice") as studio:
        version = studio.store.snapshot("p/priced.ipynb", "{}", {}, "alice")
        job = studio.store.create_job(
            recipe="p/priced.ipynb",
            version_id=version,
            trigger="poll",
            user="alice",
            event={"id": 1, "amount": float("nan")},
        )
        return job.id


def _strict(text: str | bytes) -> Any:
    return json.loads(text, parse_constant=pytest.fail)


def test_show_json_gives_the_nan_of_a_stored_event_as_null(ws: Path) -> None:
    job_id = _nan_job(ws)

    done = run_cli("show", str(job_id), "--json", "--workspace", str(ws), timeout=60)

    assert done.returncode == 0, done.stderr
    assert _strict(done.stdout)["event"] == {"id": 1, "amount": None}
    # Read by a person too (`show`), as the REST API and --json say it: null, not NaN.
    shown = run_cli("show", str(job_id), "--workspace", str(ws), timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert '  event:    {"id": 1, "amount": null}\n' in shown.stdout, shown.stdout


async def test_the_jobs_list_and_the_job_answer_with_the_nan_as_null(
    jp_fetch: Any, ws: Path
) -> None:
    job_id = _nan_job(ws)

    for path in (["jobs"], ["jobs", str(job_id)]):
        answer = await jp_fetch(
            "lpstudio", "api", "v1", *path, headers={"X-Test-User": "alice"}, raise_error=False
        )
        assert answer.code == 200, (path, answer.body)
        found = _strict(answer.body)
        if path == ["jobs"]:  # listed without its event (it has no bound in size)
            assert "event" not in next(j for j in found["jobs"] if j["id"] == job_id), found
        else:
            assert found["event"] == {"id": 1, "amount": None}, found
