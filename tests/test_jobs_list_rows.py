"""A list of jobs leaves out each job's trigger event and result, which have no bound in size:
the lab's Jobs panel lists 20 jobs every 2 s, and with 1 MB webhook deliveries a page of 50
was 21 MB. GET /jobs/{id} still gives the whole job (the panel's Details fetches it). The
other lists do the same: `lpstudio jobs --json` (`show --json` gives the whole job), the
notebook's `Studio.jobs_frame` (`Studio.job` gives one whole) and `JobsView`'s rows.

Jobs are written through the store: no kernel runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from click.testing import Result

from lpstudio.studio import Studio
from lpstudio.widgets.jobs import JobsView
from tests.conftest import write_recipe

#: A webhook delivery near `max_body_bytes`, and a large campaign's result.
EVENT = {"orders": [{"id": i, "note": "x" * 100} for i in range(5000)]}
RESULT = {"sent": [{"address": f"+1415555{i:04d}"} for i in range(5000)]}


def _big_job(ws: Path) -> int:
    """A succeeded job with a large event and a large result."""
    write_recipe(ws, "hooks/big")
    with Studio.open(ws, user="alice") as studio:
        version = studio.store.snapshot("hooks/big.ipynb", "{}", {}, "alice")
        job = studio.store.create_job(
            recipe="hooks/big.ipynb",
            version_id=version,
            trigger="webhook",
            event=EVENT,
            user="webhook",
        )
        studio.store.finish_job(job.id, "succeeded", result=RESULT)
        return job.id


async def _get(jp_fetch: Any, *path: str) -> Any:
    answer = await jp_fetch("lpstudio", "api", "v1", *path, headers={"X-Test-User": "alice"})
    assert answer.code == 200, answer.body
    return answer, json.loads(answer.body)


async def test_a_jobs_list_leaves_out_the_event_and_result_which_the_job_route_keeps(
    jp_fetch: Any, ws: Path
) -> None:
    job_id = _big_job(ws)

    listing, listed = await _get(jp_fetch, "jobs")
    [row] = listed["jobs"]
    assert row["id"] == job_id and row["status"] == "succeeded" and row["trigger"] == "webhook"
    assert "event" not in row and "result" not in row, sorted(row)
    assert len(listing.body) < 2_000, len(listing.body)  # the event alone is over 500 kB

    _answer, job = await _get(jp_fetch, "jobs", str(job_id))
    assert job["event"] == EVENT and job["result"] == RESULT


def test_jobs_json_lists_rows_as_get_jobs_and_show_json_gives_the_whole_job(
    ws: Path, cli: Callable[..., Result]
) -> None:
    job_id = _big_job(ws)

    listing = cli("jobs", "--json")
    assert listing.exit_code == 0, listing.output
    [row] = json.loads(listing.stdout)
    assert row["id"] == job_id and row["status"] == "succeeded" and row["trigger"] == "webhook"
    assert "event" not in row and "result" not in row, sorted(row)
    assert len(listing.stdout) < 2_000, len(listing.stdout)

    shown = cli("show", str(job_id), "--json")
    assert shown.exit_code == 0, shown.output
    job = json.loads(shown.stdout)
    assert job["event"] == EVENT and job["result"] == RESULT


def test_jobs_frame_has_no_event_or_result_column_and_job_gives_them(ws: Path) -> None:
    job_id = _big_job(ws)
    with Studio.open(ws, user="alice") as studio:
        frame = studio.jobs_frame()
        assert list(frame.index) == [job_id]
        assert frame.loc[job_id, "status"] == "succeeded"
        assert frame.loc[job_id, "trigger"] == "webhook"
        assert "event" not in frame.columns and "result" not in frame.columns, list(frame)
        assert "event" not in studio.jobs_frame(status="failed").columns  # an empty one too
        job = studio.job(job_id)
        assert job.event == EVENT and job.result == RESULT


def test_jobs_view_rows_leave_out_the_event_and_result(ws: Path) -> None:
    job_id = _big_job(ws)
    with Studio.open(ws, user="alice") as studio:
        view = JobsView(studio)
        try:
            [row] = view.rows
            assert row["id"] == job_id and row["status"] == "succeeded"
            assert "event" not in row and "result" not in row, sorted(row)
            assert len(json.dumps(view.rows)) < 2_000
        finally:
            view.close()
