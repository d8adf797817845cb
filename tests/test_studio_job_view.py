"""The Jobs panel's job view and its rerun warning, in a real JupyterLab in chromium.

A job's row opens (Details, from the keyboard too) onto what `lpstudio show` says of it:
the recipe version, the trigger, the parameters, the trigger event, the result (a
campaign's counts and each recipient that failed), progress and the failing cell with its
error. It stays open through the panel's live refresh. A purged job's view says so and
shows no data. A Rerun asks first (its side effects repeat); a test job's rerun, again a
test that sends nothing, does not.

One JupyterLab serves the module's tests (each opens its own page).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lpstudio.models import Job
from lpstudio.studio import Studio

from .browser import dialog_shown, screenshot
from .conftest import run_cli, write_recipe
from .test_lab_keyboard_and_fixes import focused, press
from .test_studio_ui import admin_pages, command

RECIPE = "lab/view.ipynb"
DOOMED = "lab/doomed.ipynb"
TRACEBACK = ["Traceback (most recent call last)", "KeyError: 'phone'"]
# A poll's batch of checkouts: a long event, scrolled in its box.
EVENT = {
    "checkouts": [
        {"id": 30000000001 + i, "phone": f"+1415555{i:04d}", "email": f"c{i}@example.com"}
        for i in range(40)
    ]
}
# What the cart-abandonment template's campaign reports: 1 accepted, 2 failed.
RESULT = {
    "checkouts": 3,
    "skipped": [],
    "campaigns": [{"proactiveCampaignId": "6c1691ef", "batch": 1, "accepted": 1, "failed": 0}],
    "accepted": 1,
    "failed": [
        {"address": "0612345678", "errorMessage": "INVALID_NUMBER"},
        {"address": "(415) 555-0199", "errorMessage": "INVALID_NUMBER"},
    ],
    "uncertain": [],
    "already_sent": [],
    "rejected": [],
    "not_sent": 0,
    "batches": 1,
}
#: A result whose `accepted` is no count of recipients and whose `failed` is a whole float.
ODD = {"accepted": 2.5, "failed": 2.0, "rows": 7}
JOBS = re.compile(r"/lpstudio/api/v1/jobs\?")
RERUN = re.compile(r"/lpstudio/api/v1/jobs/\d+/rerun(\?|$)")


def seed(root: Path) -> tuple[str, dict[str, int]]:
    """A purged job, then a poll's campaign job, a failed job, a rerun of the campaign and
    a test run (ended by hand: no kernel); returns the version and their ids."""
    write_recipe(root, "lab/view")
    with Studio.open(root, user="alice") as studio:
        studio.store.dismiss_gallery_popup("alice")
        version = studio.store.snapshot(RECIPE, studio.recipe(RECIPE).canonical_json, {}, "alice")

        def job(trigger: str, status: str, **fields: Any) -> int:
            start = {k: fields.pop(k) for k in ("parameters", "event", "rerun_of") if k in fields}
            made = studio.store.create_job(
                recipe=RECIPE, version_id=version, trigger=trigger, user="alice", **start
            )
            studio.store.finish_job(made.id, status, **fields)
            return made.id

        done = {"cells_done": 3, "cells_total": 3}
        ids = {"purged": job("poll", "succeeded", event=EVENT, result=RESULT, **done)}
        assert studio.purge(older_than_days=0) == [ids["purged"]]
        ids["campaign"] = job(
            "poll", "succeeded", parameters={"x": 2}, event=EVENT, result=RESULT, **done
        )
        error = {
            "ename": "KeyError",
            "evalue": "'phone'",
            "traceback": TRACEBACK,
            "cell": 2,
            "execution_count": 3,
        }
        ids["failed"] = job("manual", "failed", error=error, cells_done=2, cells_total=3)
        ids["rerun"] = job("rerun", "succeeded", rerun_of=ids["campaign"], **done)
        dry = {"dry_run": True, "recipients": 3, "accepted": 0}
        ids["test"] = job("test", "succeeded", event={"id": 1}, result=dry, **done)
        # Counts no recipients are (2.5) and one written as a float (a pandas sum's 2.0).
        ids["odd"] = job("manual", "succeeded", result=ODD, **done)
        # A job of a recipe deleted since (its versions kept): its rerun says how to restore it.
        doomed = write_recipe(root, "lab/doomed")
        kept = studio.store.snapshot(DOOMED, doomed.read_text(), {}, "alice")
        made = studio.store.create_job(
            recipe=DOOMED, version_id=kept, trigger="manual", user="alice"
        )
        studio.store.finish_job(made.id, "succeeded")
        ids["doomed"] = made.id
        doomed.unlink()
    return version, ids


@pytest.fixture(scope="module")
def lab(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Path, str, dict[str, int], Any]]:
    """The seeded workspace in one JupyterLab; yields its root, the recipe's version, the
    jobs' ids and `admin_page()`, a fresh page of the admin alice's."""
    tmp = tmp_path_factory.mktemp("jobview")
    root = tmp / "ws"
    Studio.init(root, accept_terms=True, admin="alice").close()
    version, ids = seed(root)
    with admin_pages(root, tmp / "jupyter") as admin_page:
        yield root, version, ids, admin_page


def jobs_panel(page: Any) -> Any:
    command(page, "lpstudio:open-jobs", {"recipe": RECIPE})
    jobs = page.locator(".lps-jobs:visible")
    jobs.locator("tr.lps-job").first.wait_for()
    return jobs


def view_of(jobs: Any, job: int) -> Any:
    return jobs.locator(f".lps-job-view[data-job='{job}']")


def refreshed(page: Any) -> None:
    """Waits for the panel's next live refresh, handled."""
    with page.expect_response(JOBS) as answer:
        pass
    answer.value.finished()
    page.evaluate("() => new Promise(done => setTimeout(done))")


def test_a_jobs_details_show_its_version_trigger_data_result_and_failing_cell(
    lab: tuple[Path, str, dict[str, int], Any],
) -> None:
    root, version, ids, admin_page = lab
    with admin_page() as page:
        jobs = jobs_panel(page)
        campaign = ids["campaign"]
        details = jobs.get_by_role("button", name=f"Details of job {campaign}", exact=True)
        assert details.get_attribute("aria-expanded") == "false"
        assert view_of(jobs, campaign).count() == 0
        # Listed without its event and result (they have no bound in size)...
        with page.expect_response(JOBS) as listing:
            pass
        [row] = [j for j in listing.value.json()["jobs"] if j["id"] == campaign]
        assert "event" not in row and "result" not in row, row

        # Opened from the keyboard: the view under its row, the focus kept on its toggle; it
        # shows the whole job, which Details fetched.
        with page.expect_response(re.compile(rf"/lpstudio/api/v1/jobs/{campaign}(\?|$)")):
            press(page, details)
        view = view_of(jobs, campaign)
        view.wait_for()
        assert details.get_attribute("aria-expanded") == "true"
        assert focused(page) == f"Details of job {campaign}"
        text = view.inner_text()
        assert version[:12] in text and version not in text, text
        assert "poll by alice" in text, text
        assert '{"x":2}' in text.replace(" ", ""), text
        event = view.locator(".lps-json[data-box='event']")
        assert "30000000040" in event.inner_text()
        assert event.evaluate("e => e.scrollHeight > e.clientHeight")  # long: scrolled
        summary = view.locator(".lps-result-summary").inner_text()
        assert "accepted 1" in summary and "failed 2" in summary, summary
        failures = view.locator(".lps-result-problems").inner_text()
        assert "0612345678" in failures and "INVALID_NUMBER" in failures, failures
        assert "(415) 555-0199" in failures, failures
        assert "3 of 3 cells" in text, text

        # The live refresh keeps it open, where it was scrolled, and the focus on its toggle.
        event.evaluate("e => { e.scrollTop = 120; }")
        refreshed(page)
        refreshed(page)
        assert view_of(jobs, campaign).count() == 1
        assert details.get_attribute("aria-expanded") == "true"
        assert event.evaluate("e => e.scrollTop") == 120
        assert focused(page) == f"Details of job {campaign}"
        # The job changes (as a running job's progress does): its row and view are drawn
        # again, still open, scrolled and focused alike.
        with Studio.open(root, user="alice") as studio, studio.store.write() as s:
            s.get_one(Job, campaign).cells_done = 2
        view.locator("dd", has_text="2 of 3 cells done").wait_for()
        assert details.get_attribute("aria-expanded") == "true"
        assert event.evaluate("e => e.scrollTop") == 120
        assert focused(page) == f"Details of job {campaign}"

        # A failed job: the failing cell, counted from 1 of the cells, its error and traceback.
        failed = ids["failed"]
        jobs.get_by_role("button", name=f"Details of job {failed}", exact=True).click()
        view = view_of(jobs, failed)
        view.wait_for()
        step = view.locator(".lps-failed-step").inner_text()
        assert step == "KeyError in cell 3 of 3 (In [3]): 'phone'", step
        assert "KeyError: 'phone'" in view.locator(".lps-traceback").inner_text()
        assert "2 of 3 cells" in view.inner_text()
        screenshot(page, "studio-job-view")

        # A rerun names the job it ran again.
        rerun = ids["rerun"]
        jobs.get_by_role("button", name=f"Details of job {rerun}", exact=True).click()
        assert f"rerun of job {campaign}" in view_of(jobs, rerun).inner_text()

        # A purged job: said so, no data.
        purged = ids["purged"]
        jobs.get_by_role("button", name=f"Details of job {purged}", exact=True).click()
        view = view_of(jobs, purged)
        view.wait_for()
        text = view.inner_text()
        assert "purged" in text, text
        assert "30000000001" not in text and "INVALID_NUMBER" not in text, text
        assert view.locator(".lps-json").count() == 0

        # Closed again: its view goes, the others stay.
        press(page, details)
        view_of(jobs, campaign).wait_for(state="detached")
        assert details.get_attribute("aria-expanded") == "false"
        assert view_of(jobs, failed).count() == 1


def test_a_job_s_recipients_are_counted_as_lpstudio_show_counts_them(
    lab: tuple[Path, str, dict[str, int], Any],
) -> None:
    """The panel counted every number itself: `accepted 2.5`, where `show` and the
    dashboard count no recipient accepted. It shows the server's count (`recipients`)."""
    root, _, ids, admin_page = lab
    odd = ids["odd"]
    shown = run_cli("show", str(odd), "--workspace", str(root)).stdout
    assert "result:   failed 2 · rows 7\n" in shown, shown
    with admin_page() as page:
        jobs = jobs_panel(page)
        jobs.get_by_role("button", name=f"Details of job {odd}", exact=True).click()
        view = view_of(jobs, odd)
        view.wait_for()
        assert view.locator(".lps-result-summary").inner_text() == "failed 2 · rows 7"
        assert '"accepted":2.5' in view.locator(".lps-json[data-box='result']").inner_text()


def test_a_rerun_of_a_deleted_recipe_s_job_says_how_to_restore_it_in_lab_terms(
    lab: tuple[Path, str, dict[str, int], Any],
) -> None:
    _root, _, ids, admin_page = lab
    doomed = ids["doomed"]
    with admin_page() as page:
        command(page, "lpstudio:open-jobs")
        jobs = page.locator(".lps-jobs:visible")
        rerun = jobs.get_by_role("button", name=f"Rerun job {doomed}", exact=True)
        rerun.click()
        page.locator(".jp-Dialog").get_by_role("button", name="Rerun").click()
        said = jobs.locator(".lps-notice .lps-error")
        said.wait_for()
        text = said.inner_text()
        assert f"job {doomed}'s recipe {DOOMED} is gone" in text, text
        assert f"`lpstudio restore {DOOMED} VERSION` writes one back" in text, text
        assert f"then Rerun of job {doomed} in the Jobs panel" in text, text
        assert "POST" not in text and "/api/" not in text, text


def test_a_rerun_warns_that_side_effects_repeat_unless_it_is_a_test(
    lab: tuple[Path, str, dict[str, int], Any],
) -> None:
    root, _, ids, admin_page = lab
    with admin_page() as page:
        jobs = jobs_panel(page)
        sent: list[str] = []
        page.on("request", lambda r: sent.append(r.url) if RERUN.search(r.url) else None)
        campaign = ids["campaign"]
        rerun = jobs.get_by_role("button", name=f"Rerun job {campaign}", exact=True)
        dialog = page.locator(".jp-Dialog")

        # Cancel: nothing is rerun.
        rerun.click()
        dialog_shown(page)
        assert "side effects" in dialog.inner_text(), dialog.inner_text()
        screenshot(page, "studio-rerun-warning")
        dialog.get_by_role("button", name="Cancel").click()
        dialog.wait_for(state="detached")
        refreshed(page)
        assert sent == []

        # Escape, from the keyboard: nothing either, and the focus back on the Rerun.
        press(page, rerun)
        dialog.wait_for()
        page.keyboard.press("Escape")
        dialog.wait_for(state="detached")
        refreshed(page)
        assert sent == []
        assert focused(page) == f"Rerun job {campaign}"

        # Enter reruns it.
        newest = max(ids.values())
        press(page, rerun)
        dialog.wait_for()
        with page.expect_response(RERUN) as answer:
            page.keyboard.press("Enter")
        assert answer.value.status == 202
        again = jobs.locator(f"tr.lps-job[data-job='{newest + 1}']")
        again.wait_for()
        assert f"Rerun job {campaign}" == focused(page)

        # A test job's rerun is a test again, sending nothing: no warning.
        with page.expect_response(RERUN) as answer:
            jobs.get_by_role("button", name=f"Rerun job {ids['test']}", exact=True).click()
        assert answer.value.status == 202
        assert dialog.count() == 0
        tested = jobs.locator(f"tr.lps-job[data-job='{newest + 2}']")
        for row in (again, tested):  # they run in the lab's server: ended before it stops
            row.locator(".lps-status-succeeded").wait_for(timeout=120_000)
    with Studio.open(root, user="alice") as studio:
        assert studio.job(newest + 1).trigger == "rerun"
        assert studio.job(newest + 1).rerun_of == campaign
        assert studio.job(newest + 2).trigger == "test"
