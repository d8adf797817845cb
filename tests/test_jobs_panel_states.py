"""The studio's Jobs panel says what became of each job, in a real JupyterLab in chromium.

A cancelled job's error is headed as cancelled, not failed; a job that timed out is failed
(its exception is Timeout). A job purged after the retention period offers nothing that
needs its erased data (no Rerun, no output), its row says it was purged, and its error says
its details were purged, keeping the exception's kind and cell.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

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
