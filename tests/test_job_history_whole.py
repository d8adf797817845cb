"""Job history as an analyst reads it: a period's frame has every job of the period, a list
cut at its limit says more follow and how to read them (`lpstudio jobs --before`, REST's
`next` and `Link`), a held job says why in every list, a job's notebook opens from any
folder, and a naive datetime is read one way by the whole Python API.

Jobs are written through the store, except the one whose notebook is read.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import nbformat
import pandas
import pytest
from click.testing import Result
from sqlalchemy import event

from lpstudio.studio import Studio
from tests.conftest import write_recipe

JOBS = 120


def _queue(ws: Path, count: int, recipe: str = "hooks/a", trigger: str = "webhook") -> list[int]:
    """`count` jobs of a stopped recipe, queued by its trigger (held), in one write."""
    write_recipe(ws, recipe)
    with Studio.open(ws, user="alice") as studio:
        version = studio.store.snapshot(f"{recipe}.ipynb", "{}", {}, "alice")
        row = {"recipe": f"{recipe}.ipynb", "version_id": version, "trigger": trigger}
        jobs = studio.store.create_jobs([{**row, "user": trigger} for _ in range(count)])
        return [job.id for job in jobs]


def test_a_period_s_frame_has_every_job_of_it_and_a_limit_when_given(ws: Path) -> None:
    ids = _queue(ws, JOBS)
    with Studio.open(ws, user="alice") as studio:
        frame = studio.jobs_frame(since="7d")  # the README's example: the newest 50 were all
        assert len(frame) == JOBS and sorted(frame.index) == ids
        assert list(frame.index) == sorted(ids, reverse=True)  # newest first
        assert len(studio.jobs_frame(status="queued", since=datetime.now() - timedelta(1))) == JOBS
        assert len(studio.jobs_frame(limit=5)) == 5
        # Read a page at a time, after the last one's id: no gap, no repeat.
        pages = list(studio.job_pages(since="7d", page=50))
        assert [len(page) for page in pages] == [50, 50, 20]
        assert sorted(job.id for page in pages for job in page) == ids
        assert [len(page) for page in studio.job_pages(limit=70, page=50)] == [50, 20]


def test_jobs_past_one_page_of_the_store_are_every_job_in_order(ws: Path) -> None:
    """`jobs` is `job_pages` joined: past `MAX_LISTED` (one page) it gives what one query
    gave, with `offset` and `before` as they were, and each job whole unless `listed`."""
    from lpstudio.store import MAX_LISTED

    ids = sorted(_queue(ws, MAX_LISTED + 5), reverse=True)  # newest first
    with Studio.open(ws, user="alice") as studio:
        assert [job.id for job in studio.jobs(limit=None)] == ids
        assert [job.id for job in studio.jobs(limit=MAX_LISTED + 2, offset=1)] == ids[1:-2]
        assert [job.id for job in studio.jobs(limit=None, before=ids[2])] == ids[3:]
        assert [job.id for job in studio.jobs(limit=None, listed=True)] == ids
        assert studio.jobs(limit=MAX_LISTED + 1)[-1].event is None  # whole: its event read


def test_jobs_pages_with_before_say_on_stderr_that_more_follow(
    ws: Path, cli: Callable[..., Result]
) -> None:
    ids = _queue(ws, JOBS)
    seen: list[int] = []
    args: tuple[str, ...] = ("jobs", "--json", "--limit", "50")
    while True:
        page = cli(*args)
        assert page.exit_code == 0, page.output
        rows = json.loads(page.stdout)  # stdout is the page's JSON alone
        seen += [row["id"] for row in rows]
        if len(seen) == JOBS:
            assert page.stderr == "", page.stderr  # the last page: nothing follows
            break
        last = rows[-1]["id"]
        assert page.stderr == (
            f"more jobs follow: add --before {last} to list the next 50 (the same filters)\n"
        )
        args = ("jobs", "--json", "--limit", "50", "--before", str(last))
    assert seen == sorted(ids, reverse=True)  # no gap, no repeat

    table = cli("jobs")  # the default page of 20, as the README says
    assert table.exit_code == 0, table.output
    assert len(table.stdout.splitlines()) == 1 + 20
    assert f"--before {ids[-20]} to list the next 20" in table.stderr


async def test_get_jobs_says_where_the_next_page_is_until_the_last(jp_fetch: Any, ws: Path) -> None:
    ids = _queue(ws, JOBS)
    params = {"limit": "50", "since": "7d"}
    seen: list[int] = []
    while True:
        answer = await jp_fetch(
            "lpstudio", "api", "v1", "jobs", params=params, headers={"X-Test-User": "alice"}
        )
        assert answer.code == 200, answer.body
        page = json.loads(answer.body)
        seen += [row["id"] for row in page["jobs"]]
        if page["next"] is None:
            assert "Link" not in answer.headers
            break
        assert answer.headers["Link"] == f'<{page["next"]}>; rel="next"'
        path, query = urlsplit(page["next"])[2:4]
        assert path.endswith("/lpstudio/api/v1/jobs"), page["next"]
        params = dict(parse_qsl(query))
        assert params["before"] == str(page["jobs"][-1]["id"]) and params["limit"] == "50"
        assert params["since"].endswith("+00:00")  # the moment `7d` was read, kept
    assert seen == sorted(ids, reverse=True) and len(seen) == JOBS


async def test_a_held_job_s_waits_is_in_every_list(
    jp_fetch: Any, ws: Path, cli: Callable[..., Result]
) -> None:
    [held] = _queue(ws, 1)
    [manual] = _queue(ws, 1, "hooks/a", "manual")  # queued in its turn: nothing holds it
    why = "its recipe hooks/a.ipynb is stopped: `lpstudio start hooks/a.ipynb` runs its"
    with Studio.open(ws, user="alice") as studio:
        frame = studio.jobs_frame()
        assert frame.loc[held, "waits"].startswith(why), frame.loc[held, "waits"]
        assert pandas.isna(frame.loc[manual, "waits"])  # pandas' missing value

    listing = cli("jobs", "--json")
    assert listing.exit_code == 0, listing.output
    rows = {row["id"]: row for row in json.loads(listing.stdout)}
    assert rows[held]["waits"].startswith(why) and rows[manual]["waits"] is None

    answer = await jp_fetch("lpstudio", "api", "v1", "jobs", headers={"X-Test-User": "alice"})
    rows = {row["id"]: row for row in json.loads(answer.body)["jobs"]}
    assert rows[held]["waits"].startswith("its recipe hooks/a.ipynb is stopped"), rows[held]
    assert rows[manual]["waits"] is None

    [last] = _queue(ws, 1, "hooks/b")  # a recipe's last job, as its page shows it
    answer = await jp_fetch(
        "lpstudio", "api", "v1", "recipes", "hooks/b.ipynb", headers={"X-Test-User": "alice"}
    )
    shown = json.loads(answer.body)["last_job"]
    assert shown["id"] == last and shown["waits"].startswith("its recipe hooks/b.ipynb is stopped")


def test_a_page_s_waits_are_read_in_one_query(ws: Path) -> None:
    """A page of 50 held jobs of five recipes: their settings read at once, not per row."""
    for number in range(5):
        _queue(ws, 10, f"p/r{number}")
    with Studio.open(ws, user="alice") as studio:
        page = studio.jobs(limit=50, listed=True)
        statements: list[str] = []
        event.listen(
            studio.store.engine,
            "before_cursor_execute",
            lambda _c, _cur, statement, *_: statements.append(statement),
        )
        rows = studio.listed_jobs(page)
    assert all(row["waits"] for row in rows)
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 1 and "recipe_settings" in selects[0], statements


def test_a_job_s_notebook_opens_from_another_folder(
    ws: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_recipe(ws, "demo/double")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    with Studio.open(ws, user="alice") as studio:
        ran = studio.run("demo/double", {"x": 21})
        job = studio.job(ran.id)
        assert ran.output_file == job.output_file
        notebook = nbformat.read(job.output_file, as_version=4)
        assert notebook.cells[-1].outputs[0]["text"] == "42\n"
        [row] = studio.jobs_frame().itertuples()
        assert row.output_path == job.output_file  # one path, whichever API gives it
        assert row.duration == job.duration > 0  # and one duration, in seconds


@pytest.fixture
def honolulu(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This machine in UTC-10, where a naive time read as UTC is ten hours away."""
    monkeypatch.setenv("TZ", "Pacific/Honolulu")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("honolulu")
def test_a_naive_datetime_is_read_alike_by_the_dashboard_and_the_frame(ws: Path) -> None:
    _queue(ws, 3)
    start, end = datetime.now() - timedelta(hours=1), datetime.now() + timedelta(hours=1)
    with Studio.open(ws, user="alice") as studio:
        assert len(studio.jobs_frame(since=start)) == 3
        figures = studio.dashboard(start, end)
    assert sum(day["count"] for day in figures["jobs_per_day"]) == 3
    assert datetime.fromisoformat(figures["start"]) == start.astimezone()  # said in UTC
