"""A list of jobs leaves out each job's trigger event and result, which have no bound in size:
the lab's Jobs panel lists 20 jobs every 2 s, and with 1 MB webhook deliveries a page of 50
was 21 MB. GET /jobs/{id} still gives the whole job (the panel's Details fetches it).

Jobs are written through the store: no kernel runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lpstudio.studio import Studio
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
