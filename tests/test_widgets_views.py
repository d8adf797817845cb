"""The job history, dashboard and gallery views, driven like a user: values and clicks."""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import update

from lpstudio.errors import InputError, NotFoundError
from lpstudio.failures import describe_error
from lpstudio.models import Job, User
from lpstudio.store import FINAL_STATES, MAX_LISTED
from lpstudio.studio import Studio
from lpstudio.widgets.common import THEME_COLOURS
from lpstudio.widgets.dashboard import MAX_DAYS, Dashboard
from lpstudio.widgets.gallery import GalleryView
from lpstudio.widgets.jobs import RERUN_WARNING, JobsView, projects_of

from .conftest import wait_for, write_recipe

PNG = b"\x89PNG\r\n\x1a\n"
OK = "p/ok.ipynb"
BOOM = "<b>bold/boom.ipynb"


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, int]]]:
    """A workspace with one succeeded job and one failed job whose names and error carry
    HTML: (root, job ids by recipe)."""
    root = tmp_path_factory.mktemp("views") / "ws"
    with Studio.init(root, accept_terms=True, admin="alice") as studio:
        write_recipe(root, "p/ok")
        write_recipe(root, "<b>bold/boom", cells=("raise ValueError('<script>alert(1)</script>')",))
        ok = studio.run("p/ok")
        boom = studio.run("<b>bold/boom")
    assert (ok.status, boom.status) == ("succeeded", "failed")
    yield root, {OK: ok.id, BOOM: boom.id}


@pytest.fixture
def opened(ran: tuple[Path, dict[str, int]]) -> Iterator[Studio]:
    with Studio.open(ran[0], user="alice") as studio:
        yield studio


def test_jobs_view_shows_jobs_with_colours_links_and_escaped_text(
    opened: Studio, ran, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, _ids = ran
    monkeypatch.chdir(root)  # a notebook at the workspace root: links are workspace paths
    view = JobsView(opened)
    try:
        shown = {row["recipe"]: row for row in view.rows}
        assert {OK, BOOM} <= set(shown)
        assert shown[OK]["status"] == "succeeded" and shown[BOOM]["status"] == "failed"
        table = view.table.value
        assert f'color:{THEME_COLOURS["success"]};font-weight:bold">succeeded' in table
        assert f'color:{THEME_COLOURS["error"]};font-weight:bold">failed' in table
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in table and "<script>" not in table
        assert "&lt;b&gt;bold/boom.ipynb" in table and "<b>bold" not in table
        for row in shown.values():
            output = row["output_path"]
            assert not Path(output).is_absolute() and (root / output).is_file()
            assert f'href="{quote(output)}"' in table
        assert set(view.recipe.options) >= {"all", OK, BOOM}
        assert view.rerun_warning.value.count("side effects") == 1
        assert "delivery ledger" in RERUN_WARNING
    finally:
        view.close()


def test_jobs_view_filters_by_status_recipe_and_since(opened: Studio, ran) -> None:
    _root, ids = ran
    view = JobsView(opened)
    try:
        view.status.value = "failed"
        assert view.rows and {row["status"] for row in view.rows} == {"failed"}
        assert ids[BOOM] in [row["id"] for row in view.rows]
        view.recipe.value = OK
        assert view.rows == []
        assert "no jobs match" in view.table.value
        assert view.rerun_button.disabled
        view.status.value = "all"
        assert {row["recipe"] for row in view.rows} == {OK}
        view.since.value = "1h"
        assert [row["id"] for row in view.rows][-1] == ids[OK]
        view.recipe.value = "all"
        view.status.value = "running"
        assert view.rows == []
    finally:
        view.close()


def test_jobs_view_filters_by_project_as_the_lab_s_jobs_panel(opened: Studio, ran) -> None:
    """Project lists the jobs of the recipes in a folder under projects/, its sub-folders'
    too, and narrows Recipe to them; a recipe of another project chosen before is let go
    rather than listing nothing."""
    _root, ids = ran
    view = JobsView(opened)
    try:
        assert {"all", "p", "<b>bold"} <= set(view.project.options)
        view.recipe.value = BOOM
        view.project.value = "p"
        assert view.recipe.value == "all" and "all" in view.recipe.options
        assert OK in view.recipe.options and BOOM not in view.recipe.options
        assert view.rows and {row["recipe"] for row in view.rows} == {OK}
        assert ids[OK] in [row["id"] for row in view.rows]
        view.project.value = "<b>bold"
        assert {row["recipe"] for row in view.rows} == {BOOM}
        view.project.value = "all"
        assert {OK, BOOM} <= {row["recipe"] for row in view.rows}
    finally:
        view.close()


def test_a_project_s_sub_folders_are_projects_too() -> None:
    assert projects_of(["shop/eu/cart.ipynb", "shop/x.ipynb", "ops/a.ipynb"]) == [
        "ops",
        "shop",
        "shop/eu",
    ]


def test_jobs_view_offers_the_dashboard_s_utc_days(tmp_path: Path) -> None:
    """Since offers the lab's choices, the Dashboard's UTC calendar days among them: today
    (UTC) lists the jobs of today's chart, not one of 1 minute before UTC midnight that the
    last 24 hours hold."""
    root = tmp_path / "ws"
    with Studio.init(root, accept_terms=True, admin="alice") as studio:
        write_recipe(root, "p/ok")
        late, today = studio.run("p/ok").id, studio.run("p/ok").id
        midnight = datetime.combine(datetime.now(UTC).date(), time(), UTC)
        with studio.store.write() as s:
            s.execute(
                update(Job).where(Job.id == late).values(created_at=midnight - timedelta(minutes=1))
            )
        view = JobsView(studio)
        try:
            labels = [label for label, _ in view.since.options]
            assert labels == [
                "any time",
                "last hour",
                "last 24 hours",
                "last 7 days",
                "last 30 days",
                "today (UTC)",
                "last 7 days (UTC)",
                "last 30 days (UTC)",
                "last 90 days (UTC)",
                "last 366 days (UTC)",
            ], labels
            view.since.value = "24h"
            assert [row["id"] for row in view.rows] == [today, late]
            view.since.value = "utc1"
            assert [row["id"] for row in view.rows] == [today]
            view.since.value = "utc7"
            assert [row["id"] for row in view.rows] == [today, late]
        finally:
            view.close()


def test_rerun_of_a_failed_job_runs_it_again_in_the_background(opened: Studio, ran) -> None:
    _root, ids = ran
    view = JobsView(opened)
    view.status.value = "failed"
    assert view.rerun_job.value == ids[BOOM] and not view.rerun_button.disabled

    def rerun_done() -> list:
        return [
            job
            for job in opened.jobs(limit=1000)
            if job.rerun_of == ids[BOOM] and job.status in FINAL_STATES
        ]

    try:
        view.rerun_button.click()
        view.rerun_button.click()  # a second click while it runs starts nothing
        assert "being rerun already" in view.notice.value
        (rerun,) = wait_for(rerun_done, timeout=120, what="the rerun to finish")
        # The rerun's thread refreshes the table after the job ends in the store; close()
        # before that refresh skips it (a closed view redraws nothing).
        wait_for(lambda: rerun.id in [row["id"] for row in view.rows], what="the table")
    finally:
        view.close()  # waits for the rerun thread
    assert rerun.trigger == "rerun" and rerun.status == "failed"
    assert f"rerun of job {ids[BOOM]}: job {rerun.id} failed" in view.notice.value
    assert rerun.id in [row["id"] for row in view.rows]


def test_jobs_view_refreshes_itself_until_closed(studio: Studio) -> None:
    write_recipe(studio.workspace.root, "p/ok")
    view = JobsView(studio, refresh_seconds=0.05)
    assert view.rows == []
    recipe = studio.recipe("p/ok")
    version = studio.store.snapshot(recipe.name, recipe.canonical_json, {}, "alice")
    job = studio.store.create_job(recipe=recipe.name, version_id=version, user="alice")
    wait_for(lambda: [row["id"] for row in view.rows] == [job.id], what="the auto-refresh")
    view.close()
    assert not view._timer.is_alive()
    assert view.recipe.options == ("all", recipe.name)
    for every in (0, -1, float("nan"), float("inf"), "5"):  # nan made a busy loop, inf a crash
        with pytest.raises(InputError, match="refresh_seconds") as refused:
            JobsView(studio, refresh_seconds=every)
        assert refused.value.field == "refresh_seconds"


def test_dashboard_figures_match_the_jobs_and_charts_are_pngs(opened: Studio) -> None:
    dashboard = Dashboard(opened)
    jobs = opened.jobs(limit=1000)
    per_status = Counter()
    for row in dashboard.metrics["jobs_per_day"]:
        per_status[row["status"]] += row["count"]
    assert per_status == Counter(job.status for job in jobs)
    outcomes = {row["recipe"]: row for row in dashboard.metrics["recipes"]}
    for recipe in (OK, BOOM):
        mine = [job for job in jobs if job.recipe == recipe]
        assert outcomes[recipe]["succeeded"] == sum(job.status == "succeeded" for job in mine)
        assert outcomes[recipe]["failed"] == sum(job.status == "failed" for job in mine)
        assert outcomes[recipe]["latest_job"]["id"] == max(job.id for job in mine)
    assert dashboard.metrics["connections"] == dict.fromkeys(
        ("connected", "disconnected", "untested", "placeholder"), 0
    )
    for image in (dashboard.jobs_image, dashboard.recipes_image, dashboard.proactive_image):
        assert bytes(image.value).startswith(PNG)
    assert "<b>bold" not in dashboard.summary.value
    first = dashboard.metrics
    dashboard.range.value = 30
    assert dashboard.metrics is not first
    assert dashboard.metrics["start"] < first["start"]
    assert dashboard.metrics["jobs_per_day"] == first["jobs_per_day"]


def test_dashboard_draws_proactive_recipients(studio: Studio) -> None:
    write_recipe(studio.workspace.root, "shop/cart")
    recipe = studio.recipe("shop/cart")
    version = studio.store.snapshot(recipe.name, recipe.canonical_json, {}, "alice")
    job = studio.store.create_job(recipe=recipe.name, version_id=version, user="alice")
    studio.store.finish_job(job.id, "succeeded", result={"accepted": 4, "failed": [{}, {}]})
    dashboard = Dashboard(studio, days=90)
    (day,) = dashboard.metrics["proactive"]
    assert (day["accepted"], day["failed"]) == (4, 2)
    assert "4 accepted, 2 failed" in dashboard.summary.value
    assert bytes(dashboard.proactive_image.value).startswith(PNG)


def test_gallery_try_recipe_creates_the_notebook(
    studio: Studio, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = studio.workspace.root
    monkeypatch.chdir(root)  # a notebook at the workspace root: links are workspace paths
    gallery = GalleryView(studio)
    card = gallery.cards["payment_reminder"]
    assert card.form.layout.display == "none"
    card.try_button.click()
    assert card.form.layout.display != "none"
    assert card.new_name.value == "payment_reminder"
    card.project.value = "billing"
    card.create_button.click()
    created = root / "projects" / "billing" / "payment_reminder.ipynb"
    assert created.is_file()
    assert 'href="projects/billing/payment_reminder.ipynb"' in card.result.value
    card.create_button.click()  # a second copy is refused
    assert "already exists" in card.result.value


def test_gallery_shows_errors_escaped_and_writes_nothing(studio: Studio) -> None:
    root = studio.workspace.root
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    card = GalleryView(studio).cards["payment_reminder"]
    card.try_button.click()
    card.project.value = "../x"
    card.create_button.click()
    assert "outside" in card.result.value and "fix:" in card.result.value
    card.project.value = "../<i>x"
    card.create_button.click()
    assert "&lt;i&gt;x" in card.result.value and "<i>" not in card.result.value
    card.project.value = "billing"
    card.new_name.value = ".hidden"
    card.create_button.click()
    assert "invalid recipe name" in card.result.value
    card.new_name.value = " "  # blank: refused as the CLI and REST API do, not taken as empty
    card.create_button.click()
    assert "the recipe name &#x27; &#x27; is blank" in card.result.value, card.result.value
    assert "none at all for the template&#x27;s name (payment_reminder)" in card.result.value
    assert card.new_name.placeholder == "payment_reminder"  # what an emptied name gives
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before
    card.new_name.value = ""
    card.create_button.click()
    assert (root / "projects" / "billing" / "payment_reminder.ipynb").is_file()


def _rest_query(path: str, name: str) -> dict:
    """The REST API's schema of one query parameter of a GET route."""
    from lpstudio.server.routes import ROUTES

    (route,) = [r for r in ROUTES if r.path == path]
    return route.operations["GET"].query[name]


def test_jobs_view_refuses_a_limit_the_api_refuses(studio: Studio) -> None:
    schema = _rest_query("/jobs", "limit")
    assert (schema["minimum"], schema["maximum"]) == (1, MAX_LISTED)
    for bad in (0, -1, 2.5, MAX_LISTED + 1, True, "50"):  # -1 was "no limit" to SQLite
        with pytest.raises(InputError, match=f"limit must be .*1 to {MAX_LISTED}") as caught:
            JobsView(studio, limit=bad)
        assert caught.value.field == "limit"
    JobsView(studio, limit=MAX_LISTED).close()


def test_dashboard_refuses_days_the_api_refuses(studio: Studio) -> None:
    schema = _rest_query("/dashboard", "days")
    assert (schema["minimum"], schema["maximum"]) == (1, MAX_DAYS)
    for bad in (2.5, 0, -3, MAX_DAYS + 1, 10**9, True, "7", float("nan")):
        with pytest.raises(InputError, match=f"days must be .*1 to {MAX_DAYS}") as caught:
            Dashboard(studio, days=bad)  # 2.5 drew 2 days labelled "last 2.5 days"
        assert caught.value.field == "days"
    longest = Dashboard(studio, days=MAX_DAYS)
    start, end = (datetime.fromisoformat(longest.metrics[k]) for k in ("start", "end"))
    assert (end - start).days == MAX_DAYS
    assert longest.range.label == f"last {MAX_DAYS} days (UTC)"


def test_gallery_refuses_try_recipe_to_an_operator(studio: Studio) -> None:
    """REST refuses an operator's Try recipe (it creates a recipe): so does the gallery."""
    root = studio.workspace.root
    with studio.store.write() as s:
        s.add(User(name="otto", role="operator"))
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    with Studio.open(root, user="otto") as otto:
        gallery = GalleryView(otto)
        assert "an operator cannot create recipes" in gallery.notice.value
        card = gallery.cards["payment_reminder"]
        for button in (card.try_button, card.create_button):
            assert button.disabled and "an operator cannot create recipes" in button.tooltip
        card.try_button.click()  # from code, past the disabled button
        assert card.form.layout.display == "none"
        card.project.value = "billing"
        card.create_button.click()
        assert "an operator cannot create recipes" in card.result.value
        assert card.submit() is None
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before


def test_jobs_view_says_why_a_refresh_failed_until_one_succeeds(
    studio: Studio, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failing Refresh click or filter change reached only JupyterLab's log console, and
    the auto-refresh's "refresh failed" stayed under a table refreshed since."""
    view = JobsView(studio)
    try:
        real = studio.store.list_jobs

        def broken(**_filters: object) -> list:
            raise InputError("the store is locked", field="store", fix="try again")

        monkeypatch.setattr(studio.store, "list_jobs", broken)
        view.refresh_button.click()
        assert "refresh failed: the store is locked" in view.notice.value
        assert "fix: try again" in view.notice.value
        view.status.value = "failed"  # a filter change refreshes too
        assert "refresh failed" in view.notice.value
        monkeypatch.setattr(studio.store, "list_jobs", real)
        view.refresh_button.click()
        assert view.notice.value == ""
    finally:
        view.close()


def test_dashboard_says_why_a_refresh_failed(
    studio: Studio, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failing range change or Refresh click reached only JupyterLab's log console."""
    dashboard = Dashboard(studio)

    def broken(*_args: object) -> dict:
        raise InputError("the store is locked", field="store", fix="try again")

    monkeypatch.setattr(studio, "dashboard", broken)
    dashboard.range.value = 30
    assert "refresh failed: the store is locked" in dashboard.notice.value
    assert "fix: try again" in dashboard.notice.value
    monkeypatch.undo()
    dashboard.refresh_button.click()
    assert dashboard.notice.value == ""


def test_jobs_view_names_each_rerun_s_origin_and_offers_no_purged_job(studio: Studio) -> None:
    """As in Workato's job history: a rerun is listed with the job it reran, and a job whose
    data the retention period erased is shown as purged and no longer offered for rerun
    (its parameters and event are gone): no output link to a deleted notebook either."""
    write_recipe(studio.workspace.root, "p/down", cells=("raise RuntimeError('down')",))
    first = studio.run("p/down")
    again = studio.rerun(first.id)
    view = JobsView(studio)
    try:
        assert f"<td>rerun of job {first.id}</td>" in view.table.value
        assert f"<td>{again.trigger}</td>" not in view.table.value
        assert [value for _label, value in view.rerun_job.options] == [again.id, first.id]
        said = describe_error(again.error, again.cells_total)  # as `lpstudio show` says it
        assert f" of {again.cells_total} " in said and f"<td>{said}</td>" in view.table.value

        assert studio.purge(older_than_days=0) == [first.id, again.id]
        view.refresh_button.click()
        assert view.rerun_job.options == () and view.rerun_button.disabled
        assert view.table.value.count("<td>purged</td>") == 2
        assert "<a href" not in view.table.value
        assert f"<td>rerun of job {first.id}</td>" in view.table.value  # the outline stays
        assert f"<td>{said.removesuffix(': down')}</td>" in view.table.value  # the kind stays
    finally:
        view.close()


def test_dashboard_says_its_days_are_utc_days_and_offers_the_studio_s_ranges(
    studio: Studio,
) -> None:
    """The studio's dashboard offers today, 7, 30, 90 days and a year, labelled UTC as its
    days are: the widget's range and summary say the same, with the dates they cover."""
    dashboard = Dashboard(studio)
    assert [value for _label, value in dashboard.range.options] == [1, 7, 30, 90, MAX_DAYS]
    assert dashboard.range.label == "last 7 days (UTC)"
    start, end = (datetime.fromisoformat(dashboard.metrics[k]) for k in ("start", "end"))
    last = (end - timedelta(days=1)).date()
    assert f"{start.date()} to {last} (UTC days)" in dashboard.summary.value
    dashboard.range.value = 1
    assert dashboard.range.label == "today (UTC)"
    assert f"{last} to {last} (UTC days)" in dashboard.summary.value


def test_dashboard_lists_each_recipe_with_its_counts_and_latest_job(opened: Studio) -> None:
    """The figures held `latest_job` per recipe, but the dashboard showed none of it: the
    per-recipe outcomes were only bars, with no number and no latest job."""
    dashboard = Dashboard(opened)
    table = dashboard.recipes_table.value
    for row in dashboard.metrics["recipes"]:
        latest = row["latest_job"]
        assert opened.store.job(latest["id"]).status == latest["status"]
        cells = (
            f"<td>{html.escape(row['recipe'])}</td><td>{row['succeeded']}</td>"
            f"<td>{row['failed']}</td><td>job {latest['id']} "
        )
        assert cells in table, table
    assert "<b>bold" not in table and "&lt;b&gt;bold/boom.ipynb" in table


def test_jobs_view_pages_through_older_jobs(studio: Studio) -> None:
    """Only the newest `limit` jobs were reachable, and nothing said that more existed."""
    write_recipe(studio.workspace.root, "p/many")
    recipe = studio.recipe("p/many")
    version = studio.store.snapshot(recipe.name, recipe.canonical_json, {}, "alice")
    ids = [
        studio.store.create_job(recipe=recipe.name, version_id=version, user="alice").id
        for _ in range(5)
    ]
    view = JobsView(studio, limit=2)
    try:
        assert [row["id"] for row in view.rows] == ids[:-3:-1]
        assert view.newer_button.disabled and not view.older_button.disabled
        assert "jobs 1 to 2" in view.page.value and "older" in view.page.value
        view.older_button.click()
        assert [row["id"] for row in view.rows] == ids[2:0:-1]
        view.older_button.click()
        assert [row["id"] for row in view.rows] == ids[:1]
        assert view.older_button.disabled and "jobs 5 to 5" in view.page.value
        view.newer_button.click()
        assert [row["id"] for row in view.rows] == ids[2:0:-1]
        view.status.value = "queued"  # a filter starts again from the newest
        assert [row["id"] for row in view.rows] == ids[:-3:-1]
        assert view.newer_button.disabled
    finally:
        view.close()


def test_jobs_view_older_pages_stay_put_as_jobs_arrive(studio: Studio) -> None:
    """Paged by offset, an older page shifted by each job queued meanwhile, and Older showed
    rows already seen: it now goes on after the last row shown, the newest page stays live."""
    write_recipe(studio.workspace.root, "p/busy")
    recipe = studio.recipe("p/busy")
    version = studio.store.snapshot(recipe.name, recipe.canonical_json, {}, "alice")

    def queue(count: int) -> list[int]:
        return [
            studio.store.create_job(recipe=recipe.name, version_id=version, user="alice").id
            for _ in range(count)
        ]

    ids = queue(6)[::-1]  # newest first
    view = JobsView(studio, limit=2)
    view.recipe.value = recipe.name
    try:
        view.older_button.click()
        assert [row["id"] for row in view.rows] == ids[2:4]
        newer = queue(3)[::-1]
        view.refresh()  # the timer's: the page shown does not shift
        assert [row["id"] for row in view.rows] == ids[2:4]
        view.older_button.click()
        assert [row["id"] for row in view.rows] == ids[4:6]  # none seen before
        assert "jobs 5 to 6" in view.page.value
        view.newer_button.click()
        view.newer_button.click()
        assert [row["id"] for row in view.rows] == newer[:2]  # the newest page is live
    finally:
        view.close()


def test_jobs_listed_after_a_job_are_those_older_than_it_and_a_job_not_there_is_refused(
    studio: Studio,
) -> None:
    write_recipe(studio.workspace.root, "p/cursor")
    recipe = studio.recipe("p/cursor")
    version = studio.store.snapshot(recipe.name, recipe.canonical_json, {}, "alice")
    ids = [
        studio.store.create_job(recipe=recipe.name, version_id=version, user="alice").id
        for _ in range(4)
    ][::-1]
    listed = studio.jobs(recipe=recipe.name, limit=2, before=ids[1])
    assert [job.id for job in listed] == ids[2:4]
    for wrong in (0, True, "3"):
        with pytest.raises(InputError) as refused:
            studio.jobs(before=wrong)  # type: ignore[arg-type]
        assert refused.value.field == "before"
    with pytest.raises(NotFoundError) as missing:
        studio.jobs(before=ids[0] + 1000)
    assert missing.value.field == "before" and "without before" in (missing.value.fix or "")


def test_jobs_view_reruns_a_timed_out_job_with_the_longer_timeout_its_fix_names(
    tmp_path: Path,
) -> None:
    """A job that timed out says to rerun it with a longer Timeout (seconds), as the lab's
    Rerun dialog takes one: the view's Rerun had none, so its fix named a field it lacked.
    Its Timeout (seconds) is checked as a run's, and empty keeps the job's own."""
    root = tmp_path / "ws"
    with Studio.init(root, accept_terms=True, admin="alice") as studio:
        write_recipe(root, "p/slow", cells=("import time\ntime.sleep(4)",))
        first = studio.run("p/slow", timeout=1)
        assert first.status == "failed" and first.error["ename"] == "Timeout", first.error
        view = JobsView(studio)
        try:
            error = html.unescape(view.table.value)
            assert f"Rerun of job {first.id} in the Jobs panel, with a longer Timeout" in error
            assert view.rerun_job.value == first.id
            assert view.rerun_timeout.description == "Timeout (seconds)"
            for bad in ("soon", "0", "nan", "2e9"):
                view.rerun_timeout.value = bad
                thread = view.rerun()
                if thread is not None:
                    thread.join()
                notice = html.unescape(view.notice.value)
                assert f"rerun of job {first.id} refused: timeout must be" in notice, notice
                assert "give the timeout as a number of seconds above 0" in notice, notice
            assert [row["id"] for row in view.rows] == [first.id]  # nothing queued

            view.rerun_timeout.value = "120"
            thread = view.rerun()
            assert thread is not None
            thread.join()
            again = studio.job(view.rows[0]["id"])
            assert again.rerun_of == first.id and again.timeout == 120, again
            assert again.status == "succeeded", again.error
        finally:
            view.close()
