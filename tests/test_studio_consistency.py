"""One meaning for each operation, wherever a user meets it.

`--prepare-only` writes the notebook its run executes (saved settings, given values, a date
default injected as text); a purge erases prepared notebooks too, as they hold parameter
values; why saved settings cannot run never quotes a connection's secret; a person's Poll
now runs the jobs it queued even while the recipe is stopped, as `lpstudio poll` does; the
REST API and the Jobs panel read a recipe filter as the CLI does (the path JupyterLab's file
browser shows), and name a filter that matches no recipe instead of listing no jobs.

Real kernels, the real store, a real Jupyter server and JupyterLab in chromium; waits on
job rows and the page, never on sleeps.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nbformat
import pytest
from click.testing import Result
from jupyter_server.utils import url_path_join
from sqlalchemy import select

from lpstudio.errors import InputError
from lpstudio.models import DailyCount
from lpstudio.studio import Studio
from tests.browser import screenshot
from tests.conftest import wait_for, write_recipe
from tests.servers import API
from tests.test_endpoint_conflicts import _two_started
from tests.test_studio_ui import alice_lab, command

TYPES = """from datetime import date
n: int = 1  # a number
name: str = 'x'  # a name
day: date = date(2026, 11, 1)  # a day"""
SECRET = "mytoken999"


async def api(jp_fetch: Any, method: str, *path: str, **params: str) -> tuple[int, Any]:
    """alice's request to the REST API of the server inside this test."""
    answer = await jp_fetch(
        "lpstudio",
        "api",
        "v1",
        *path,
        method=method,
        params=params,
        body=b"{}" if method == "POST" else None,
        headers={"X-Test-User": "alice"},
        raise_error=False,
    )
    return answer.code, json.loads(answer.body)


# -- --prepare-only ------------------------------------------------------------------------


def prepared(cli: Callable[..., Result], *args: str) -> Any:
    """The notebook `lpstudio run t/types --prepare-only` writes."""
    result = cli("run", "t/types", "--prepare-only", *args, "--json")
    assert result.exit_code == 0, result.output
    return nbformat.read(json.loads(result.stdout)["output_path"], as_version=4)


def injected(nb: Any) -> str:
    cells = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, nb.cells
    return str(cells[0].source)


def test_prepare_only_writes_the_notebook_its_run_executes(
    ws: Path, cli: Callable[..., Result]
) -> None:
    """It wrote the notebook with the given values only: the saved settings a run merges
    were missing (no injected cell at all without `-p`), and so was the date default that a
    job injects as text."""
    write_recipe(ws, "t/types", parameters=TYPES, cells=("print(n, name, day)",))
    saved = cli("settings", "t/types", "-p", "n", "5", "-p", "name", "saved")
    assert saved.exit_code == 0, saved.output
    with Studio.open(ws, user="alice") as studio:
        job = studio.run("t/types")
    assert job.status == "succeeded", job.error
    ran = nbformat.read(ws / job.output_path, as_version=4)
    expected = {"n": 5, "name": "saved", "day": "2026-11-01"}
    assert job.parameters == ran.metadata.papermill.parameters == expected

    plain = prepared(cli)
    assert plain.metadata.papermill.parameters == expected
    assert injected(plain) == injected(ran)
    given = prepared(cli, "-p", "n", "-5")  # a given value over the saved one
    assert given.metadata.papermill.parameters == {**expected, "n": -5}
    assert "n = -5\n" in injected(given) and 'name = "saved"\n' in injected(given)


# -- purge -----------------------------------------------------------------------------------


def test_purge_erases_prepared_notebooks_older_than_the_retention_period(
    ws: Path, cli: Callable[..., Result]
) -> None:
    """Prepared notebooks hold parameter values (personal data, maybe): they outlived every
    purge."""
    write_recipe(ws, "t/plain")
    old, new = (Path(prepared_path(cli)) for _ in range(2))
    month_ago = time.time() - 40 * 86400
    os.utime(old, (month_ago, month_ago))
    with Studio.open(ws, user="alice") as studio:
        assert studio.purge() == []  # the daemon's daily purge: 30 days, no job that old
        assert [path.name for path in studio.purge_prepared()] == [old.name]  # and then this
        assert not old.exists() and new.exists()
        said = studio.audit_entries()[0]
        assert (said["action"], said["target"]) == ("purge", "1 prepared notebooks")
    purged = cli("purge", "--older-than", "0")
    assert purged.exit_code == 0, purged.output
    assert purged.output.strip() == "purged 0 job(s) and 1 prepared notebook(s)"
    assert not new.exists()
    assert list((ws / "history" / "prepared").iterdir()) == []


def test_purge_forgets_daily_counts_past_the_retention_but_today_s_and_yesterday_s(
    ws: Path,
) -> None:
    """The counts of each day's sends under LivePerson's daily limit were kept for ever, a
    row a day and channel; a purge with no retention at all must still keep the counts of
    a campaign sending across midnight, or the day's limit could be passed."""
    today = datetime.now(UTC).date()
    days = [(today - timedelta(days=n)).isoformat() for n in (0, 1, 2, 40)]
    with Studio.open(ws, user="alice") as studio:
        with studio.store.write() as s:
            s.add_all(DailyCount(scope="acct/sms", day=day, used=5) for day in days)

        def kept() -> list[str]:
            with studio.store.read() as s:
                return sorted(s.scalars(select(DailyCount.day)), reverse=True)

        studio.purge()  # 30 days
        assert kept() == days[:3]
        studio.purge(older_than_days=0)
        assert kept() == days[:2]


def prepared_path(cli: Callable[..., Result]) -> str:
    result = cli("run", "t/plain", "--prepare-only", "--json")
    assert result.exit_code == 0, result.output
    return str(json.loads(result.stdout)["output_path"])


# -- a secret in why saved settings cannot run ------------------------------------------------


async def test_why_saved_settings_cannot_run_never_quotes_a_connections_secret(
    jp_fetch: Any, ws: Path, cli: Callable[..., Result]
) -> None:
    """A value saved before a connection's secret came to equal it, then refused by the
    notebook's new type: the refusal quoted it in `settings_problem` (REST), the "not
    ready" line of `lpstudio settings`, and wherever the settings are read."""
    path = write_recipe(ws, "t/types", parameters="name: str = 'x'  # a name")
    assert cli("settings", "t/types", "-p", "name", SECRET).exit_code == 0
    with Studio.open(ws, user="alice") as studio:
        fields = {"base_url": "http://127.0.0.1:9", "token": SECRET}
        studio.connections.add("crm", "http", fields, "alice")
    path.write_text(path.read_text().replace("name: str = 'x'", "name: int = 0"))

    code, detail = await api(jp_fetch, "GET", "recipes", "t", "types.ipynb")
    assert code == 200, detail
    problem = detail["settings_problem"]
    assert problem["field"] == "name" and '"****"' in problem["message"], problem
    assert SECRET not in json.dumps(detail)
    for args in (("settings", "t/types"), ("settings", "t/types", "--json"), ("run", "t/types")):
        result = cli(*args)
        assert '"****"' in result.output and SECRET not in result.output, result.output
    with Studio.open(ws, user="alice") as studio, pytest.raises(InputError) as refused:
        studio.settings(studio.recipe("t/types"))  # what runs, starts and triggers read
    assert SECRET not in str(refused.value) and '"****"' in str(refused.value)


# -- Poll now ----------------------------------------------------------------------------------


def rows_recipe(
    ws: Path, name: str = "p/rows", cells: tuple[str, ...] = ("y = x + 1",), rows: int = 2
) -> None:
    """`name`: a poll trigger on a table of `rows` new rows (a job each), stopped."""
    with sqlite3.connect(ws / "rows.db") as db:
        db.execute("CREATE TABLE rows (id integer primary key)")
        db.executemany("INSERT INTO rows (id) VALUES (?)", [(n,) for n in range(1, rows + 1)])
    db.close()
    write_recipe(
        ws,
        name,
        cells=cells,
        metadata={
            "title": "rows",
            "trigger": {"kind": "poll", "connection": "rows", "trigger": "new_rows"},
            "connections": {"rows": {"type": "sql"}},
        },
    )
    with Studio.open(ws, user="alice") as studio:
        table = {"url": "sqlite:///rows.db", "poll_table": "rows", "poll_column": "id"}
        studio.connections.add("rows", "sql", table, "alice")


def ended(ws: Path, ids: list[int]) -> bool:
    with Studio.open(ws, user="alice") as studio:
        return all(studio.job(i).status == "succeeded" for i in ids)


async def test_a_persons_poll_now_runs_its_jobs_while_the_recipe_is_stopped(
    jp_fetch: Any, ws: Path
) -> None:
    """REST's Poll now queued the jobs and left them queued, unsaid, until someone started
    the recipe (the scheduler holds a stopped recipe's jobs), while `lpstudio poll` ran them
    at once: the poll's cursor had moved past their events either way."""
    rows_recipe(ws)
    code, polled = await api(jp_fetch, "POST", "recipes", "p", "rows.ipynb", "poll")
    assert code == 202, polled
    ids = [job["id"] for job in polled["jobs"]]
    assert len(ids) == 2 and {job["trigger"] for job in polled["jobs"]} == {"poll"}
    await asyncio.to_thread(wait_for, lambda: ended(ws, ids), 120, "the polled jobs")
    with Studio.open(ws, user="alice") as studio:
        assert studio.recipe_detail("p/rows")["state"] == "stopped"


# -- the jobs filter ---------------------------------------------------------------------------


def recorded_job(ws: Path, name: str) -> int:
    """A finished job of the recipe `name`, written straight to the store (no kernel)."""
    write_recipe(ws, name)
    with Studio.open(ws, user="alice") as studio:
        version = studio.store.snapshot(f"{name}.ipynb", "{}", {}, "alice")
        job = studio.store.create_job(
            recipe=f"{name}.ipynb", version_id=version, trigger="manual", user="alice"
        )
        studio.store.finish_job(job.id, "succeeded", cells_done=1)
        return job.id


async def test_the_rest_api_reads_a_recipe_filter_as_the_cli_does(
    jp_fetch: Any, jp_base_url: str, ws: Path
) -> None:
    """`GET /jobs?recipe=projects/lab/ok.ipynb` (as JupyterLab's file browser shows it)
    answered 200 with no jobs, and so did a misspelt recipe: the CLI lists the first, and
    names the second."""
    ok, gone = recorded_job(ws, "lab/ok"), recorded_job(ws, "lab/gone")
    (ws / "projects" / "lab" / "gone.ipynb").unlink()  # its jobs outlive it
    for typed, job in [
        ("lab/ok.ipynb", ok),
        ("lab/ok", ok),
        ("projects/lab/ok.ipynb", ok),
        ("projects/lab/ok", ok),
        ("lab/gone", gone),
        ("projects/lab/gone.ipynb", gone),
    ]:
        code, listed = await api(jp_fetch, "GET", "jobs", recipe=typed)
        assert code == 200 and [j["id"] for j in listed["jobs"]] == [job], (typed, listed)
    with Studio.open(ws, user="alice") as studio:  # the Python API reads it so too
        assert [j.id for j in studio.jobs(recipe="projects/lab/ok.ipynb")] == [ok]

    code, refused = await api(jp_fetch, "GET", "jobs", recipe="lab/okk")
    error = refused["error"]
    assert code == 400 and error["field"] == "recipe", refused
    assert "lab/okk" in error["message"] and str(ws) not in json.dumps(error)
    assert f"GET {url_path_join(jp_base_url, API)}/recipes" in error["fix"], error

    # With a project named `projects`, the path JupyterLab shows may be either recipe.
    write_recipe(ws, "projects/lab/ok")
    code, refused = await api(jp_fetch, "GET", "jobs", recipe="projects/lab/ok.ipynb")
    error = refused["error"]
    assert code == 400 and error["field"] == "recipe", refused
    assert error["fix"] == (
        "give projects/projects/lab/ok.ipynb for projects/lab/ok.ipynb, "
        "or lab/ok.ipynb for lab/ok.ipynb"
    ), error
    code, listed = await api(jp_fetch, "GET", "jobs", recipe="lab/ok.ipynb")
    assert code == 200 and [j["id"] for j in listed["jobs"]] == [ok], listed
    code, listed = await api(jp_fetch, "GET", "jobs", recipe="projects/projects/lab/ok.ipynb")
    assert code == 200 and listed["jobs"] == [], listed  # the other recipe has no job


# -- in the studio ---------------------------------------------------------------------------


def test_the_jobs_filter_and_poll_now_in_the_studio(tmp_path: Path) -> None:
    """The Jobs panel found no job for `projects/lab/ok.ipynb` and said "No jobs." for a
    misspelt recipe; the Recipes sidebar's Poll now on a stopped recipe left its jobs
    queued, unsaid; it showed nothing of a started callable that serves nothing, another
    holding its path."""
    root = tmp_path / "ws"
    Studio.init(root, accept_terms=True, admin="alice").close()
    ok = recorded_job(root, "lab/ok")
    recorded_job(root, "lab/other")  # listed until the filter applies
    rows_recipe(root)
    _two_started(root, "ok", "echo")  # t/echo edited onto /call/ok, which t/ok holds
    with alice_lab(root, tmp_path / "jupyter") as page:
        command(page, "lpstudio:open-jobs")
        jobs = page.locator(".lps-jobs:visible")
        recipe = jobs.get_by_role("textbox", name="Recipe")
        recipe.fill("projects/lab/ok.ipynb")
        recipe.press("Enter")
        listed = jobs.locator("tr.lps-job")
        wait_for(lambda: listed.count() == 1, 30, "the recipe's jobs only")
        assert listed.get_attribute("data-job") == str(ok)

        recipe.fill("lab/okk")
        recipe.press("Enter")
        error = jobs.locator(".lps-message .lps-error")
        error.wait_for()
        assert "lab/okk" in error.inner_text() and "field: recipe" in error.inner_text()
        # The fix in the panel's terms (lab_terms.json's rule for its `where`), not the API's.
        assert "as the jobs' rows name it" in error.inner_text(), error.inner_text()
        assert "/lpstudio/api/v1" not in error.inner_text()
        assert listed.count() == 0  # not the jobs of the filter before
        assert "No jobs." not in jobs.inner_text()
        screenshot(page, "studio-jobs-unknown-recipe")

        command(page, "lpstudio:open-recipes")
        recipes = page.locator(".lps-recipes")
        conflict = recipes.locator(".lps-recipe[data-recipe='t/echo.ipynb'] .lps-endpoint-problem")
        assert "/call/ok of t/ok.ipynb" in conflict.inner_text(), conflict.inner_text()
        assert "stop one of them" in conflict.inner_text()
        ok_row = recipes.locator(".lps-recipe[data-recipe='t/ok.ipynb']")
        assert ok_row.locator(".lps-endpoint-problem").count() == 0
        row = recipes.locator(".lps-recipe[data-recipe='p/rows.ipynb']")
        assert row.get_attribute("data-state") == "stopped"
        row.get_by_role("button", name="Poll now recipe p/rows", exact=True).click()
        said = recipes.locator(".lps-message .lps-ok")
        said.wait_for()
        assert "2 new jobs" in said.inner_text(), said.inner_text()
        done = page.locator(".lps-jobs:visible tr.lps-job[data-status=succeeded]")
        wait_for(lambda: done.count() == 2, 120, "the polled jobs")
        assert page.locator(".lps-jobs:visible tr.lps-job").count() == 2
        screenshot(page, "studio-poll-now-stopped")
