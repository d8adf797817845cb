"""The studio's Jobs panel says what became of each job, in a real JupyterLab in chromium.

A cancelled job's error is headed as cancelled, not failed; a job that timed out is failed
(its exception is Timeout). A job purged after the retention period offers nothing that
needs its erased data (no Rerun, no output), its row says it was purged, and its error says
its details were purged, keeping the exception's kind and cell.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from lpstudio.kernel.runtime import StoreLedger
from lpstudio.studio import Studio

from .browser import screenshot
from .conftest import write_recipe
from .test_studio_ui import alice_lab, command

RECIPE = "lab/report.ipynb"
TRACEBACK = ["Traceback (most recent call last)", "ValueError: customer 4711 has no phone"]


def _job(studio: Studio, version: str) -> int:
    """A queued job of alice's (no kernel: the jobs below are ended by hand)."""
    job = studio.store.create_job(
        recipe=RECIPE, version_id=version, trigger="manual", parameters={"x": 2}, user="alice"
    )
    return job.id


def seed(root: Path) -> dict[str, int]:
    """A failed and a succeeded job purged after the retention period, then a cancelled job
    and one that timed out, not purged; returns their ids by what became of them."""
    write_recipe(root, "lab/report")
    with Studio.open(root, user="alice") as studio:
        version = studio.store.snapshot(RECIPE, studio.recipe(RECIPE).canonical_json, {}, "alice")
        ids = {"purged failed": _job(studio, version), "purged succeeded": _job(studio, version)}
        error = {
            "ename": "ValueError",
            "evalue": "customer 4711 has no phone",
            "traceback": TRACEBACK,
            "cell": 1,
            "execution_count": 2,
        }
        studio.store.finish_job(ids["purged failed"], "failed", error=error, cells_done=1)
        studio.store.finish_job(ids["purged succeeded"], "succeeded", cells_done=2)
        assert sorted(studio.purge(older_than_days=0)) == sorted(ids.values())
        ids["cancelled"] = _job(studio, version)
        assert studio.store.claim_job(ids["cancelled"], running_limit=1)  # started
        # As the runner ends a job cancelled in its second cell (runner.execute_job's stop).
        stop = {"ename": "Cancelled", "evalue": "cancelled by request", "cell": 1}
        studio.store.finish_job(ids["cancelled"], "cancelled", error=stop, cells_done=1)
        ids["timed out"] = _job(studio, version)
        timeout = {"ename": "Timeout", "evalue": "timed out after 5 s", "cell": 1}  # likewise
        studio.store.finish_job(ids["timed out"], "failed", error=timeout, cells_done=1)
        ids["cancelled queued"] = _job(studio, version)
        studio.store.request_cancel(ids["cancelled queued"])  # before any worker took it
    return ids


def error_of(jobs: Any, job_id: int) -> Any:
    """Clicks the job's Error; returns the details it shows."""
    jobs.get_by_role("button", name=f"Error job {job_id}", exact=True).click()
    details = jobs.locator(".lps-details")
    details.locator("h3", has_text=f"Job {job_id} ").wait_for()
    return details


def test_the_jobs_panel_heads_an_error_with_the_jobs_status_and_says_what_was_purged(
    tmp_path: Path,
) -> None:
    root = tmp_path / "ws"
    Studio.init(root, accept_terms=True, admin="alice").close()
    ids = seed(root)
    with alice_lab(root, tmp_path / "jupyter") as page:
        command(page, "lpstudio:open-jobs", {"recipe": RECIPE})
        jobs = page.locator(".lps-jobs:visible")
        row = {what: jobs.locator(f"tr.lps-job[data-job='{i}']") for what, i in ids.items()}
        row["cancelled"].wait_for()
        rerun = {
            what: jobs.get_by_role("button", name=f"Rerun job {i}", exact=True)
            for what, i in ids.items()
        }

        # Cancelled: said so in its row and above its error, never "failed".
        assert row["cancelled"].get_attribute("data-status") == "cancelled"
        details = error_of(jobs, ids["cancelled"])
        assert details.locator("h3").inner_text() == f"Job {ids['cancelled']} cancelled"
        # Drawn below the list, it is brought into view and focused: a click on a row high
        # in a full page otherwise seemed to do nothing.
        assert details.locator("h3").evaluate("h => h === document.activeElement")
        message = details.locator(".lps-error-message").inner_text()
        assert message == "Cancelled: cancelled by request", message
        assert "failed" not in details.inner_text()
        assert rerun["cancelled"].count() == 1  # its data is there: it can run again

        # A job that never started says when it was queued, not a start it never had.
        queued = row["cancelled queued"].locator("td").nth(3).inner_text()
        assert re.fullmatch(r"queued \S.*", queued), queued
        started = row["cancelled"].locator("td").nth(3).inner_text()
        assert started and "queued" not in started, started

        # Timed out: the job failed, its exception says why.
        details = error_of(jobs, ids["timed out"])
        assert details.locator("h3").inner_text() == f"Job {ids['timed out']} failed"
        message = details.locator(".lps-error-message").inner_text()
        assert message == "Timeout: timed out after 5 s", message

        # Purged: its row says so, and offers nothing that needs what was erased.
        for what in ("purged failed", "purged succeeded"):
            assert "purged" in row[what].inner_text(), row[what].inner_text()
            assert rerun[what].count() == 0, what
            assert row[what].locator(".lps-output").count() == 0, what
        assert "purged" not in row["cancelled"].inner_text()
        assert jobs.locator("tr.lps-job[data-purged]").count() == 2
        screenshot(page, "studio-jobs-purged")

        # Its error keeps the exception's kind and cell, and says the rest was purged.
        details = error_of(jobs, ids["purged failed"])
        assert details.locator("h3").inner_text() == f"Job {ids['purged failed']} failed"
        message = details.locator(".lps-error-message").inner_text()
        assert message.startswith("ValueError") and not message.startswith("ValueError:")
        text = details.inner_text()
        assert "in cell 2 (In [2])" in text, text
        assert "purged after the retention period" in text, text
        assert "no phone" not in text and "Traceback" not in text
        screenshot(page, "studio-jobs-purged-error")


PAGED = "lab/paged.ipynb"
PAGE = 20


def _finished(studio: Studio, count: int, **fields: Any) -> list[int]:
    """`count` jobs of lab/paged ended as `fields` say (succeeded unless told), oldest first."""
    version = studio.store.snapshot(PAGED, studio.recipe(PAGED).canonical_json, {}, "alice")
    ids = []
    for _ in range(count):
        job = studio.store.create_job(
            recipe=PAGED, version_id=version, trigger="manual", parameters={}, user="alice"
        )
        studio.store.finish_job(job.id, fields.pop("status", "succeeded"), cells_done=1, **fields)
        ids.append(job.id)
    return ids


def shown(jobs: Any) -> list[int]:
    return [
        int(i) for i in jobs.locator("tr.lps-job").evaluate_all("r => r.map(x => x.dataset.job)")
    ]


def refreshed(page: Any) -> Any:
    """Waits for the panel's next refresh (its timer's) to be drawn; returns its request."""
    listing = re.compile(r"/lpstudio/api/v1/jobs\?")
    with page.expect_response(listing) as answer:
        pass
    answer.value.finished()
    page.evaluate("() => new Promise(done => setTimeout(done))")  # the page handled it
    return answer.value.request


def test_the_jobs_panel_pages_stay_put_while_jobs_arrive_and_work_from_the_keyboard(
    tmp_path: Path,
) -> None:
    root = tmp_path / "ws"
    Studio.init(root, accept_terms=True, admin="alice").close()
    write_recipe(root, "lab/paged")
    (root / "history" / "lab").mkdir(parents=True, exist_ok=True)
    there = root / "history/lab/there.ipynb"  # and none at history/lab/gone.ipynb
    there.write_text('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    error = {"ename": "ValueError", "evalue": "no phone", "traceback": [], "cell": 0}
    with Studio.open(root, user="alice") as studio:
        oldest = _finished(studio, 2 * PAGE + 5)
        failed = _finished(studio, 1, status="failed", error=error)[0]
        missing = _finished(studio, 1, output_path="history/lab/gone.ipynb")[0]
        removed = _finished(studio, 1, output_path="history/lab/there.ipynb")[0]
    with alice_lab(root, tmp_path / "jupyter") as page:
        command(page, "lpstudio:open-jobs", {"recipe": PAGED})
        jobs = page.locator(".lps-jobs:visible")
        jobs.locator("tr.lps-job").nth(PAGE - 1).wait_for()

        # A job's notebook moved out of history/: said with the fix, no dead Open output.
        row = jobs.locator(f"tr.lps-job[data-job='{missing}']")
        assert row.locator(".lps-output").count() == 0
        assert "put it back in history/" in row.locator(".lps-output-missing").get_attribute(
            "title"
        )
        # One removed after the list was drawn: Open output says so, where it did nothing.
        there.unlink()
        jobs.get_by_role("button", name=f"Open output job {removed}", exact=True).click()
        notice = jobs.locator(".lps-notice", has_text="lab/there.ipynb is missing")
        notice.wait_for()
        assert "put it back in history/ to open it" in notice.inner_text()

        # The error view from the keyboard: Escape closes it, the focus back on its Error.
        opener = jobs.get_by_role("button", name=f"Error job {failed}", exact=True)
        opener.focus()
        page.keyboard.press("Enter")
        jobs.locator(".lps-details h3", has_text=f"Job {failed} failed").wait_for()
        page.keyboard.press("Escape")
        assert jobs.locator(".lps-details").inner_text() == ""
        assert opener.evaluate("b => b === document.activeElement")
        page.keyboard.press("Enter")  # and its Close, reached with Tab
        jobs.get_by_role("button", name="Close", exact=True).focus()
        page.keyboard.press("Enter")
        assert jobs.locator(".lps-details").inner_text() == ""
        assert opener.evaluate("b => b === document.activeElement")

        # A recipe typed is not applied until Enter: the timer's refresh keeps the list.
        recipe = jobs.locator("input[name=recipe]")
        recipe.fill("lab/pag")
        request = refreshed(page)
        assert "recipe=lab%2Fpaged.ipynb" in request.url, request.url
        refusal = jobs.locator(".lps-message:not(.lps-notice) .lps-error")
        assert refusal.count() == 0 and len(shown(jobs)) == PAGE
        recipe.press("Enter")
        refusal.filter(has_text="lab/pag").wait_for()
        recipe.fill(PAGED)
        recipe.press("Enter")
        jobs.locator("tr.lps-job").nth(PAGE - 1).wait_for()

        # Page 2 stays put as jobs arrive, and Next goes on after its last row.
        jobs.get_by_role("button", name="Next").click()
        jobs.locator(".lps-pager", has_text=f"jobs {PAGE + 1}–{2 * PAGE}").wait_for()
        second = shown(jobs)
        with Studio.open(root, user="alice") as studio:
            _finished(studio, 6)
        assert "before=" in refreshed(page).url
        assert shown(jobs) == second
        jobs.get_by_role("button", name="Next").click()
        jobs.locator(".lps-pager", has_text=f"jobs {2 * PAGE + 1}–").wait_for()
        third = shown(jobs)
        assert third == oldest[: len(third)][::-1] and not set(third) & set(second), third

        # A rerun from a later page names the job it queued, and where it is.
        target = third[0]
        jobs.get_by_role("button", name=f"Rerun job {target}", exact=True).click()
        page.locator(".jp-Dialog").get_by_role("button", name="Rerun").click()
        said = jobs.locator(".lps-notice .lps-ok", has_text=f"rerun of job {target}: job ")
        said.wait_for()
        assert "first on page 1" in said.inner_text(), said.inner_text()

        # Page 1 is live; a job whose Details is open stays shown when newer ones push it off.
        jobs.get_by_role("button", name="Previous").click()
        jobs.locator(".lps-pager", has_text=f"jobs {PAGE + 1}–").wait_for()
        jobs.get_by_role("button", name="Previous").click()
        jobs.locator(".lps-pager", has_text="jobs 1–").wait_for()
        last = shown(jobs)[-1]
        jobs.get_by_role("button", name=f"Details of job {last}", exact=True).click()
        view = jobs.locator(f"section.lps-job-view[data-job='{last}']")
        view.wait_for()
        with Studio.open(root, user="alice") as studio:
            _finished(studio, 2)
        view.locator(".lps-kept").wait_for()
        assert "no longer on this page" in view.inner_text().lower()
        assert shown(jobs).count(last) == 1 and len(shown(jobs)) == PAGE + 1
        screenshot(page, "studio-jobs-kept-view")

        # The Dashboard's periods: UTC calendar days, today included.
        since = jobs.locator("select[name=since]")
        midnight = "%Y-%m-%dT00:00:00.000Z"
        before = datetime.now(UTC).strftime(midnight)
        with page.expect_request(re.compile(r"/lpstudio/api/v1/jobs\?.*since=")) as asked:
            since.select_option(label="today (UTC)")
        after = datetime.now(UTC).strftime(midnight)  # the browser's clock read in between
        given = parse_qs(urlsplit(asked.value.url).query)["since"]
        assert given in ([before], [after]), asked.value.url
        jobs.locator("tr.lps-job").nth(PAGE - 1).wait_for()
        assert refusal.count() == 0


def test_a_running_job_s_details_count_its_sends_as_they_move(tmp_path: Path) -> None:
    """A campaign of 100,000 recipients runs for minutes in one cell: its Details said only
    "8 of 9 cells done", and its row does not change while the cell runs."""
    root = tmp_path / "ws"
    Studio.init(root, accept_terms=True, admin="alice").close()
    write_recipe(root, "lab/report")
    with Studio.open(root, user="alice") as studio:
        version = studio.store.snapshot(RECIPE, studio.recipe(RECIPE).canonical_json, {}, "alice")
        job_id = _job(studio, version)
        assert studio.store.claim_job(job_id, running_limit=1)  # running, in this process
        ledger = StoreLedger("", f"job:{job_id}", job_id, store=studio.store)
        ledger.claim_many([f"k{i}" for i in range(5)])
        ledger.settle_many({"k0": "accepted", "k1": "accepted"}, {})
        with alice_lab(root, tmp_path / "jupyter") as page:
            command(page, "lpstudio:open-jobs", {"recipe": RECIPE})
            jobs = page.locator(".lps-jobs:visible")
            jobs.get_by_role("button", name=f"Details of job {job_id}", exact=True).click()
            view = jobs.locator(f"#lps-job-view-{job_id}")
            view.locator("dd", has_text="accepted 2, sending 3").wait_for()
            assert "sent so far" in view.inner_text()
            ledger.settle_many({"k2": "accepted", "k3": "rejected"}, {"message": "INVALID"})
            # The next refresh fetches the running job again: its count moves on screen.
            view.locator("dd", has_text="accepted 3, refused 1, sending 1").wait_for()
            screenshot(page, "studio-jobs-sends-so-far")
        studio.store.finish_job(job_id, "succeeded", cells_done=1)


def test_an_open_running_job_is_refreshed_without_its_event_which_its_details_keep(
    tmp_path: Path,
) -> None:
    """Its Details fetched the whole job at every refresh (every 2 s) for its "sent so far":
    a webhook's delivery of up to a megabyte each time. Only what moves is fetched while it
    runs; its event stays as first fetched, and its result shows once it ends."""
    root = tmp_path / "ws"
    Studio.init(root, accept_terms=True, admin="alice").close()
    write_recipe(root, "lab/report")
    with Studio.open(root, user="alice") as studio:
        version = studio.store.snapshot(RECIPE, studio.recipe(RECIPE).canonical_json, {}, "alice")
        job_id = studio.store.create_job(
            recipe=RECIPE,
            version_id=version,
            trigger="webhook",
            event={"order": "A-1001"},
            user="alice",
        ).id
        assert studio.store.claim_job(job_id, running_limit=1)  # running, in this process
        ledger = StoreLedger("", f"job:{job_id}", job_id, store=studio.store)
        ledger.claim_many(["k0", "k1"])
        with alice_lab(root, tmp_path / "jupyter") as page:
            asked: list[str] = []
            job_url = re.compile(rf"/lpstudio/api/v1/jobs/{job_id}(?:\?.*)?$")
            page.on("request", lambda request: asked.extend(job_url.findall(request.url)))
            command(page, "lpstudio:open-jobs", {"recipe": RECIPE})
            jobs = page.locator(".lps-jobs:visible")
            jobs.get_by_role("button", name=f"Details of job {job_id}", exact=True).click()
            view = jobs.locator(f"#lps-job-view-{job_id}")
            view.locator("dd", has_text="sending 2").wait_for()
            ledger.settle_many({"k0": "accepted"}, {})
            view.locator("dd", has_text="accepted 1, sending 1").wait_for()
            assert "A-1001" in view.inner_text()  # its event, as the Details first fetched it
            opened, *refreshed = asked
            assert "listed" not in opened and refreshed, asked
            assert all("listed=true" in url for url in refreshed), asked

            ledger.settle_many({"k1": "accepted"}, {})
            studio.store.finish_job(job_id, "succeeded", result={"accepted": 2}, cells_done=2)
            view.locator(".lps-result-summary", has_text="accepted 2").wait_for()
            assert "A-1001" in view.inner_text() and "sent so far" not in view.inner_text()
            assert "listed" not in asked[-1], asked  # ended: fetched whole, its result with it


def test_a_job_s_big_parameter_stays_whole_in_its_details_and_out_of_each_refresh(
    tmp_path: Path,
) -> None:
    """A 5 MB parameter rode in every row of the panel's list (11 MB every 2 s). The rows
    bound it now; an open job's Details show it whole through the refreshes, without
    fetching an ended job again (its bounded row is not news) nor taking a running one's
    bounded parameters for its own."""
    root = tmp_path / "ws"
    Studio.init(root, accept_terms=True, admin="alice").close()
    write_recipe(root, "lab/report")
    payload = [f"row {i:05d}" for i in range(2000)]  # 24,000 characters of JSON
    with Studio.open(root, user="alice") as studio:
        version = studio.store.snapshot(RECIPE, studio.recipe(RECIPE).canonical_json, {}, "alice")
        ids = [
            studio.store.create_job(
                recipe=RECIPE,
                version_id=version,
                trigger="manual",
                parameters={"x": 1, "payload": payload},
                user="alice",
            ).id
            for _ in range(2)
        ]
        ended, running = ids
        studio.store.finish_job(ended, "succeeded", cells_done=2)
        assert studio.store.claim_job(running, running_limit=1)  # running, in this process
        with alice_lab(root, tmp_path / "jupyter") as page:
            asked: list[tuple[str, str]] = []
            job_url = re.compile(r"/lpstudio/api/v1/jobs/(\d+)(\?.*)?$")
            page.on("request", lambda request: asked.extend(job_url.findall(request.url)))
            command(page, "lpstudio:open-jobs", {"recipe": RECIPE})
            jobs = page.locator(".lps-jobs:visible")
            for job_id in ids:
                jobs.get_by_role("button", name=f"Details of job {job_id}", exact=True).click()
                params = jobs.locator(f"#lps-job-view-{job_id} [data-box='parameters']")
                params.get_by_text("row 01999").wait_for()
            for _ in range(2):  # two refreshes of the list after both views opened
                with page.expect_request(re.compile(r"/lpstudio/api/v1/jobs\?")):
                    pass
            of_ended = [query for job, query in asked if job == str(ended)]
            assert len(of_ended) == 1 and "listed" not in of_ended[0], asked  # whole, as it
            # opened, once
            first, *refreshed = [query for job, query in asked if job == str(running)]
            assert "listed" not in first and refreshed, asked
            assert all("listed=true" in query for query in refreshed), asked
            view = jobs.locator(f"#lps-job-view-{running} [data-box='parameters']")
            assert "row 01999" in view.inner_text()  # not the row's bounded parameters
        studio.store.finish_job(running, "succeeded", cells_done=1)
