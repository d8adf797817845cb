"""The Settings form after a connection is deleted elsewhere, Start and Stop there from the
keyboard, and a job's view of skipped recipients and of an error naming a CLI command, in a
real JupyterLab in chromium.

A Save naming a connection deleted meanwhile (in another tab) was refused with a fix to test
it, and the form went on offering it. Start and Stop there dropped the keyboard's focus to
the page. A job's skipped entries said why without saying whom; a failed job's error gave a
CLI command as its fix.

One JupyterLab and one sandbox serve the module's tests (each opens its own page).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lpstudio.sandbox import Sandbox
from lpstudio.studio import Studio

from .test_lab_keyboard_and_fixes import press
from .test_studio_bad_input import RECIPE, said, settings_of
from .test_studio_job_view import view_of
from .test_studio_ui import admin_pages, command

SKIPPED = [
    {"invoice_id": "INV-1006", "phone": "0612345678", "reason": "phone is not in E.164 form"},
    {"checkout_id": 3, "reason": "no phone on the checkout"},
    {"email": "ana@example.com", "reason": "no phone"},
]
# A batch a killed job may have sent, as its rerun's result reports it (rv: named "job 6").
UNCERTAIN = {
    "batch": 1,
    "recipients": 2,
    "addresses": ["+14155550111", "+14155550112"],
    "job_id": 6,
    "reason": "sent by an earlier attempt: it may have been accepted",
}
# What the payment reminder raises when its invoices_csv is no file.
MISSING_CSV = (
    "invoices_csv: 'nofile.csv' is no file in the recipe's folder (nothing there); put the "
    "CSV of invoices at projects/billing/nofile.csv, or give another CSV of invoices, from "
    "the recipe's folder projects/billing/: `lpstudio settings billing/reminder -p "
    "invoices_csv PATH`"
)
#: A recipe whose name the shell quotes (a space, an accent): the lab's rule took no such name.
QUOTED = "campañas été/rappel été.ipynb"
QUOTED_CSV = (
    "invoices_csv: 'nofile.csv' is no file; give another CSV of invoices, from the recipe's "
    "folder projects/campañas été/: `lpstudio settings 'campañas été/rappel été' -p "
    "invoices_csv PATH`"
)


def seed_jobs(studio: Studio) -> dict[str, int]:
    """A reminder job that skipped recipients, and one of it and one of QUOTED that failed on
    a missing CSV (ended by hand: no kernel); returns their ids."""

    def job(status: str, name: str = RECIPE, **fields: Any) -> int:
        recipe = studio.recipe(name)
        version = studio.store.snapshot(name, recipe.canonical_json, {}, "alice")
        made = studio.store.create_job(
            recipe=name, version_id=version, trigger="manual", parameters={}, user="alice"
        )
        studio.store.finish_job(made.id, status, cells_done=3, cells_total=9, **fields)
        return made.id

    def error(said: str) -> dict[str, Any]:
        return {
            "ename": "FileNotFoundError",
            "evalue": said,
            "traceback": [f"FileNotFoundError: {said}"],
            "cell": 3,
            "execution_count": 4,
        }

    return {
        "skipped": job(
            "succeeded", result={"accepted": 0, "skipped": SKIPPED, "uncertain": [UNCERTAIN]}
        ),
        "failed": job("failed", error=error(MISSING_CSV)),
        "quoted": job("failed", QUOTED, error=error(QUOTED_CSV)),
    }


def focused_button(page: Any) -> str | None:
    """What the button holding the keyboard's focus shows (the Settings panel's are one of
    each, named by what they show); None when the focus is elsewhere (the page)."""
    return page.evaluate(  # type: ignore[no-any-return]
        "() => { const e = document.activeElement;"
        " return e?.tagName === 'BUTTON' ? e.textContent.trim() : null; }"
    )


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, int], Any]]:
    """The payment reminder tried as billing/reminder on the sandbox, with a second
    liveperson connection lp2 and two finished jobs; yields its root, the jobs' ids and
    `admin_page()`, a fresh page of the admin alice's."""
    tmp = tmp_path_factory.mktemp("stale-focus")
    root = tmp / "ws"
    with Sandbox() as sandbox:
        Studio.init(root, accept_terms=True, admin="alice", sandbox=sandbox.url).close()
        with Studio.open(root, user="alice") as studio:
            studio.try_template("payment_reminder", "billing", "reminder")
            studio.try_template("payment_reminder", "campañas été", "rappel été")
            fields = {
                "account_id": "1",
                "client_id": "c",
                "base_url": sandbox.url,
                "client_secret": "s3cret-app-secret",
            }
            studio.connections.add("lp2", "liveperson_proactive", fields, "alice")
            ids = seed_jobs(studio)
        with admin_pages(root, tmp / "jupyter") as admin_page:
            yield root, ids, admin_page


def test_a_connection_deleted_elsewhere_is_said_gone_and_no_longer_offered(
    lab: tuple[Path, dict[str, int], Any],
) -> None:
    root, _, admin_page = lab
    with admin_page() as page:
        form = settings_of(page)
        slot = form.locator("select[name=connection-liveperson]")
        slot.select_option("lp2")
        with Studio.open(root, user="alice") as studio:
            studio.connections.remove("lp2")  # as another tab's Delete does
        text = said(form.locator(".lps-message"), form.locator(".lps-save"))
        assert "lp2" in text and "does not exist" in text, text
        assert "fix: create lp2 in the Connections panel, or choose another" in text, text
        assert "test lp2" not in text, text
        offered = slot.locator("option").evaluate_all("os => os.map(o => o.value)")
        assert "lp2" not in offered and "liveperson" in offered, offered


def test_start_and_stop_in_settings_keep_the_focus_on_their_counterpart(
    lab: tuple[Path, dict[str, int], Any],
) -> None:
    _, _, admin_page = lab
    with admin_page() as page:
        form = settings_of(page)
        press(page, form.get_by_role("button", name="Start", exact=True))
        form.locator("[data-state=started]").wait_for()
        assert focused_button(page) == "Stop"
        press(page, form.get_by_role("button", name="Stop", exact=True))
        form.locator("[data-state=stopped]").wait_for()
        assert focused_button(page) == "Start"


def test_a_jobs_view_names_each_skipped_recipient_and_says_an_errors_fix_in_studio_terms(
    lab: tuple[Path, dict[str, int], Any],
) -> None:
    _, ids, admin_page = lab
    with admin_page() as page:
        command(page, "lpstudio:open-jobs", {"recipe": RECIPE})
        jobs = page.locator(".lps-jobs:visible")
        jobs.get_by_role("button", name=f"Details of job {ids['skipped']}", exact=True).click()
        problems = view_of(jobs, ids["skipped"]).locator(".lps-result-problems li")
        problems.first.wait_for()
        assert sorted(problems.all_inner_texts()) == sorted(
            [
                "0612345678 (invoice INV-1006): phone is not in E.164 form",
                "checkout 3: no phone on the checkout",
                "ana@example.com: no phone",
                # the addresses to check in LivePerson, not the job that sent them
                "+14155550111, +14155550112 (batch 1): sent by an earlier attempt: it may "
                "have been accepted",
            ]
        )

        fix = "set invoices_csv to its path in the Settings of billing/reminder, then Save"
        jobs.get_by_role("button", name=f"Details of job {ids['failed']}", exact=True).click()
        step = view_of(jobs, ids["failed"]).locator(".lps-failed-step")
        step.wait_for()
        text = step.inner_text()
        assert f"projects/billing/: {fix}" in text and "lpstudio settings" not in text, text
        jobs.get_by_role("button", name=f"Error job {ids['failed']}", exact=True).click()
        text = jobs.locator(".lps-details .lps-error-message").inner_text()
        assert f"projects/billing/: {fix}" in text and "lpstudio settings" not in text, text

    with admin_page() as page:  # a name the fix's command quotes: said as the lab shows it
        command(page, "lpstudio:open-jobs", {"recipe": QUOTED})
        jobs = page.locator(".lps-jobs:visible")
        jobs.get_by_role("button", name=f"Error job {ids['quoted']}", exact=True).click()
        text = jobs.locator(".lps-details .lps-error-message").inner_text()
        assert (
            "projects/campañas été/: set invoices_csv to its path in the Settings of campañas "
            "été/rappel été, then Save"
        ) in text, text
