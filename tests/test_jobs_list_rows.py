"""A list of jobs leaves out each job's trigger event and result, which have no bound in size:
the lab's Jobs panel lists 20 jobs every 2 s, and with 1 MB webhook deliveries a page of 50
was 21 MB. GET /jobs/{id} still gives the whole job (the panel's Details fetches it). The
other lists do the same: `lpstudio jobs --json` (`show --json` gives the whole job), the
notebook's `Studio.jobs_frame` (`Studio.job` gives one whole) and `JobsView`'s rows.

Jobs are written through the store: no kernel runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from click.testing import Result

from lpstudio.models import Job
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


@contextmanager
def statements(studio: Studio) -> Iterator[list[str]]:
    """The SQL statements the studio's store runs within the block, in order."""
    from sqlalchemy import event

    said: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        said.append(statement)

    event.listen(studio.store.engine, "before_cursor_execute", seen)
    try:
        yield said
    finally:
        event.remove(studio.store.engine, "before_cursor_execute", seen)


async def _get(jp_fetch: Any, *path: str, **params: str) -> Any:
    answer = await jp_fetch(
        "lpstudio", "api", "v1", *path, params=params, headers={"X-Test-User": "alice"}
    )
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


def test_poll_json_lists_its_jobs_as_rest_s_poll_now_does(
    ws: Path, tmp_path: Path, cli: Callable[..., Result]
) -> None:
    """`lpstudio poll --json` printed each job whole, a poll of 500 orders each with its
    order, where REST's Poll now answers list rows."""
    from lpstudio.jobviews import LISTED_COLUMNS
    from tests.test_poll_killed import rows_recipe

    rows_recipe(ws, tmp_path)  # two new rows: two jobs, queued (--no-run: no kernel)
    polled = cli("poll", "p/rows", "--no-run", "--json")
    assert polled.exit_code == 0, polled.output
    rows = json.loads(polled.stdout)
    assert [row["trigger"] for row in rows] == ["poll", "poll"], rows
    assert all(list(row) == LISTED_COLUMNS for row in rows), rows
    with Studio.open(ws, user="alice") as studio:  # the job itself keeps its event
        assert studio.job(rows[0]["id"]).event is not None


async def test_a_recipe_s_last_job_is_a_list_row(jp_fetch: Any, ws: Path) -> None:
    """GET /recipes/{recipe} gave its last job whole: a webhook recipe's Settings fetched
    its last delivery and result each time it was shown."""
    job_id = _big_job(ws)
    answer, detail = await _get(jp_fetch, "recipes", "hooks", "big.ipynb")
    last = detail["last_job"]
    assert last["id"] == job_id and last["status"] == "succeeded", last
    assert "event" not in last and "result" not in last, sorted(last)
    assert len(answer.body) < 20_000, len(answer.body)


def test_a_list_of_jobs_reads_no_event_or_result_from_the_store(ws: Path) -> None:
    """A page of jobs read each job's event and result (a million webhook jobs, 1 MB each)
    only to drop them; a job by itself, and `Studio.jobs` by default, still have them."""
    job_id = _big_job(ws)
    with Studio.open(ws, user="alice") as studio:
        with statements(studio) as said:
            [listed] = studio.jobs(listed=True)
            assert list(studio.jobs_frame().index) == [job_id]
            last = studio.store.last_jobs(["hooks/big.ipynb"])["hooks/big.ipynb"]
        reads = [s for s in said if "FROM jobs" in s]
        assert len(reads) >= 3, said
        for read in reads:
            assert "jobs.event" not in read and "jobs.result" not in read, read
            assert "sealed_event" not in read and "jobs.given" not in read, read
        assert listed.id == last.id == job_id
        for job in (studio.job(job_id), *studio.jobs()):
            assert job.event == EVENT and job.result == RESULT
        moving = studio.job(job_id, listed=True)
        assert moving.status == "succeeded"


async def test_a_job_asked_for_listed_gives_what_moves_without_its_event_and_result(
    jp_fetch: Any, ws: Path
) -> None:
    """The Jobs panel fetched an open running job whole every 2 s for its "sent so far":
    its megabyte event each time. `?listed=true` gives its row, `waits` and `sends`."""
    job_id = _big_job(ws)
    answer, job = await _get(jp_fetch, "jobs", str(job_id), listed="true")
    assert job["id"] == job_id and job["status"] == "succeeded", job
    assert "event" not in job and "result" not in job, sorted(job)
    assert "sends" in job and "waits" in job, sorted(job)
    assert len(answer.body) < 2_000, len(answer.body)
    _answer, whole = await _get(jp_fetch, "jobs", str(job_id))
    assert whole["event"] == EVENT and whole["result"] == RESULT


#: A run's 5 MB parameter (the Jobs panel's case): `parameters` and `given` each hold it.
BIG = {"payload": {"rows": ["x" * 100] * 50_000}, "note": "a run by hand"}


def _big_param_job(studio: Studio, **more: Any) -> Job:
    """A queued Run now of big/param with `BIG` as its parameters, and `more` fields."""
    write_recipe(studio.workspace.root, "big/param")
    version = studio.store.snapshot("big/param.ipynb", "{}", {}, "alice")
    return studio.store.create_job(
        recipe="big/param.ipynb",
        version_id=version,
        trigger="manual",
        parameters=BIG,
        given=BIG,
        user="alice",
        **more,
    )


def listing_holds_one_copy(root: Path) -> None:
    """A list of jobs with a 5 MB parameter read each job's parameters twice, as run
    (`parameters`) and as given (`given`), though a row shows neither whole: the memory
    a listing's read took per job was the whole job's. A row now reads one copy, and the
    job by itself gives both (a rerun gives `given` again)."""
    import tracemalloc

    with Studio.open(root, user="alice") as studio:
        made = _big_param_job(studio)

        def peak(read: Callable[[], Any]) -> int:
            tracemalloc.start()
            try:
                read()
                return tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()

        whole = peak(lambda: studio.job(made.id))
        assert peak(studio.jobs) > whole * 3 / 4  # `jobs` gives whole jobs by default
        listings = {
            "jobs": lambda: studio.jobs(listed=True),
            "last_job": lambda: studio.store.last_jobs(["big/param.ipynb"]),
            "one job listed": lambda: studio.job(made.id, listed=True),
        }
        for name, listing in listings.items():
            held = peak(listing)
            assert held < whole * 3 / 4, (name, held, whole)  # one copy of two, and its parse
        [row] = studio.listed_jobs(studio.jobs(listed=True))
        assert row["parameters"] == {"note": "a run by hand"}, row["parameters"]
        assert list(row["parameters_cut"]) == ["payload"], row["parameters_cut"]
        job = studio.job(made.id)
        assert job.parameters == job.given == BIG


def test_a_listing_reads_one_copy_of_a_big_parameter_where_the_job_has_both(ws: Path) -> None:
    listing_holds_one_copy(ws)


def test_the_jobs_a_stopping_server_names_are_read_without_their_parameters_event_or_result(
    ws: Path,
) -> None:
    """A stopping server's log names the jobs it holds (`Store.held_jobs`, read again when
    its stop is cut short): it read each whole, a 5 MB parameter and a 1 MB event too."""
    from lpstudio.server.app import named_jobs
    from lpstudio.store import worker_id

    with Studio.open(ws, user="alice") as studio:
        made = _big_param_job(studio, event=EVENT, worker=worker_id())  # queued for itself
        with statements(studio) as said:
            held = studio.store.held_jobs()
    [read] = [s for s in said if "FROM jobs" in s]
    for column in ("parameters", "given", "event", "result", "error"):
        assert f"jobs.{column}" not in read, read
    assert named_jobs(held) == f"job {made.id} (big/param.ipynb, manual by alice)"
    assert [job.status for job in held] == ["queued"]
