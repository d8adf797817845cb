"""A job that hit its own timeout is rerun from the lab's Jobs panel with a longer one, in a
real JupyterLab in chromium.

Its fix said to run `lpstudio rerun N --timeout SECONDS` in a terminal: the panel's Rerun
kept the job's timeout. Its Rerun now asks for an optional Timeout (seconds): Enter reruns
with the job's own, a longer one runs the rerun with it, and one the REST API refuses (`0`,
`abc`) is refused in the dialog, its field marked and focused, no job queued. The fix names
that Rerun.

The timed-out job is written to the store as the runner ends one (no kernel, no wait);
its reruns run in JupyterLab's own scheduler.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from lpstudio.studio import Studio

from .conftest import wait_for, write_recipe
from .test_studio_ui import alice_lab, command

RECIPE = "lab/slow.ipynb"
OWN = 2  # the timed-out job's own timeout, in seconds


def timed_out_job(root: Path) -> int:
    """A job of alice's run with a timeout of its own that it hit in its second cell, ended
    as the runner ends it (`runner.deadline`'s evalue and fix)."""
    write_recipe(root, "lab/slow")
    with Studio.open(root, user="alice") as studio:
        version = studio.store.snapshot(RECIPE, studio.recipe(RECIPE).canonical_json, {}, "alice")
        job = studio.store.create_job(
            recipe=RECIPE,
            version_id=version,
            trigger="manual",
            parameters={},
            user="alice",
            timeout=OWN,
        )
        assert studio.store.claim_job(job.id, running_limit=1)
        error = {
            "ename": "Timeout",
            "evalue": f"timed out after {OWN} s (the job's own timeout)",
            "cell": 1,
            "fix": "rerun it with a longer timeout, in seconds, which sends nothing its "
            f"delivery ledger holds again: `lpstudio rerun {job.id} --timeout SECONDS`",
        }
        studio.store.finish_job(job.id, "failed", error=error, cells_done=1)
        return job.id


def reruns(root: Path, job_id: int) -> list[Any]:
    """The jobs rerunning `job_id`, oldest first."""
    with Studio.open(root, user="alice") as studio:
        return sorted(
            (j for j in studio.jobs(limit=100) if j.rerun_of == job_id), key=lambda j: j.id
        )


def test_a_timed_out_job_is_rerun_from_the_jobs_panel_with_a_longer_timeout(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    Studio.init(root, accept_terms=True, admin="alice").close()
    first = timed_out_job(root)
    with alice_lab(root, tmp_path / "jupyter") as page:
        command(page, "lpstudio:open-jobs", {"recipe": RECIPE})
        jobs = page.locator(".lps-jobs")
        # Its fix names the panel's Rerun and its timeout, not a terminal.
        jobs.get_by_role("button", name=f"Error job {first}", exact=True).click()
        expect(jobs.locator(".lps-details .lps-error-fix")).to_have_text(
            "fix: rerun it with a longer timeout, in seconds, which sends nothing its delivery "
            f"ledger holds again: Rerun of job {first} in the Jobs panel, with a longer "
            "Timeout (seconds)"
        )
        rerun = jobs.get_by_role("button", name=f"Rerun job {first}", exact=True)
        dialog = page.locator(".jp-Dialog")
        field = dialog.get_by_label("Timeout (seconds)")

        rerun.click()
        for bad in ("0", "abc"):  # as REST refuses a rerun's timeout
            field.fill(bad)
            dialog.get_by_role("button", name="Rerun").click()
            # Asked again, the value kept, the field marked by the refusal and focused.
            expect(field).to_have_value(bad)
            expect(field).to_have_attribute("aria-invalid", "true")
            expect(field).to_be_focused()
            expect(field).to_have_accessible_description(re.compile("Timeout \\(seconds\\)"))
            expect(dialog.get_by_role("alert")).to_contain_text("field: Timeout (seconds)")
            assert reruns(root, first) == []  # nothing queued
        field.fill(str(OWN * 30))
        page.keyboard.press("Enter")
        said = jobs.locator(".lps-notice").get_by_role("status")
        expect(said).to_contain_text(re.compile(f"rerun of job {first}: job \\d+ "))
        longer = reruns(root, first)
        assert [j.timeout for j in longer] == [OWN * 30]
        # It runs with it: its view shows it, and it ends as the recipe does.
        row = jobs.locator(f"tr.lps-job[data-job='{longer[0].id}']")
        row.get_by_role("button", name="Details").click()
        view = jobs.locator(f".lps-job-view[data-job='{longer[0].id}']")
        expect(view).to_contain_text(f"timeout{OWN * 30} s, its own")
        expect(row).to_have_attribute("data-status", "succeeded", timeout=120_000)

        # The plain Rerun is one Enter away, with the job's own timeout.
        rerun.click()
        expect(dialog.get_by_role("button", name="Rerun")).to_be_focused()
        page.keyboard.press("Enter")
        wait_for(lambda: len(reruns(root, first)) == 2, what="the plain rerun")
        assert [j.timeout for j in reruns(root, first)] == [OWN * 30, OWN]
