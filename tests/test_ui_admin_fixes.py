"""What an admin met in the studio's panels, in a real JupyterLab in chromium.

A poll's Since that cannot be read is refused at Save, naming Since, once the poll's first
start fixed it (then it is not sent, and only the next Start read it). A job's Details count
a campaign's recipients, not its result's entries, and name the rejected addresses. A whole
number in the Settings form is saved as typed, past what JavaScript's numbers hold exactly
too (as `lpstudio settings -p` saves it), and a Save of another field keeps it. A Save of
what will fail as it is says so with the fix, as the CLI warns.

One JupyterLab and one sandbox serve the module's tests (each opens its own page).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lpstudio.sandbox import Sandbox
from lpstudio.settings import saved_settings
from lpstudio.studio import Studio

from .conftest import write_recipe
from .test_studio_bad_input import marked, open_settings, retype, said, writes
from .test_studio_job_view import view_of
from .test_studio_ui import admin_pages, command

CART = "shop/cart.ipynb"
REMINDER = "billing/reminder.ipynb"
BIG = "lab/big.ipynb"
# Beyond 2**53: JavaScript's numbers read them rounded (9007199254740992, 1e+23).
PAST_EXACT = 9007199254740993
HUGE = 99999999999999999999999
SINCE_FIX = "give an ISO date such as 2026-11-01 or a duration such as 2h or 7d"
ADDRESSES = [f"+1415555{n:04d}" for n in range(111, 118)]
# A campaign job's result, as the campaign reports it: 9 recipients of 2 requests refused
# whole, 2 sent by an earlier attempt, 1 refused by LivePerson, and 3 sent without an answer
# as the ledger accounts for them (a job that ended early: counted, not named).
RESULT = {
    "campaigns": [{"proactiveCampaignId": "6c1691ef", "batch": 3, "accepted": 1, "failed": 1}],
    "accepted": 1,
    "failed": [{"address": "0612345678", "errorMessage": "INVALID_NUMBER", "batch": 3}],
    "uncertain": [{"recipients": 3, "reason": "sent; no answer"}],
    "already_sent": [{"batch": 1, "recipients": 2, "job_id": 4, "proactiveCampaignId": "5b0580de"}],
    "rejected": [
        {
            "batch": 1,
            "recipients": 2,
            "addresses": ADDRESSES[:2],
            "status": 400,
            "message": "invalid template",
        },
        {"batch": 2, "recipients": 7, "addresses": ADDRESSES, "message": "invalid template"},
    ],
    "not_sent": 0,
    "batches": 3,
}


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Any, int]]:
    """A workspace on the sandbox with the gallery's cart abandonment tried as shop/cart,
    started once and stopped (its since fixed); lab/big, whose `x` and `y` are ints, with a
    campaign job; served by one JupyterLab. Yields its root, `admin_page` (a fresh page of
    the admin alice) and the job's id."""
    tmp = tmp_path_factory.mktemp("admin-fixes")
    root = tmp / "ws"
    with Sandbox() as sandbox:
        Studio.init(root, accept_terms=True, admin="alice", sandbox=sandbox.url).close()
        write_recipe(root, "lab/big", parameters="x: int = 1  # how many\ny: int = 2  # how often")
        with Studio.open(root, user="alice") as studio:
            studio.try_template("cart_abandonment", "shop", "cart")
            studio.try_template("payment_reminder", "billing", "reminder")
            studio.start(CART)
            studio.stop(CART)
            version = studio.store.snapshot(BIG, studio.recipe(BIG).canonical_json, {}, "alice")
            job = studio.store.create_job(
                recipe=BIG, version_id=version, trigger="poll", user="alice"
            )
            job_id = job.id
            studio.store.finish_job(job_id, "failed", result=RESULT)
        with admin_pages(root, tmp / "jupyter") as admin_page:
            yield root, admin_page, job_id


def settings(root: Path, recipe: str) -> dict[str, Any]:
    with Studio.open(root, user="alice") as studio:
        return saved_settings(studio.store, recipe)


def test_a_since_it_cannot_read_is_refused_at_save_once_fixed(
    lab: tuple[Path, Any, int],
) -> None:
    root, admin_page, _ = lab
    before = settings(root, CART)
    with admin_page() as page:
        form = open_settings(page, CART, "since")
        message, since = form.locator(".lps-message"), form.locator("input[name=since]")
        sent = writes(page)
        # A word, and a day the calendar has not (read in local time, as the form reads it).
        for typed in ("yesterday-ish", "2026-02-30 09:00"):
            since.fill(typed)
            for button in (".lps-save", ".lps-start"):  # a Start saves first
                text = said(message, form.locator(button))
                assert "Settings saved" not in text and "next Start" not in text, text
                assert f"since '{typed}' is neither a date nor a duration" in text, text
                assert "field: since" in text and f"fix: {SINCE_FIX}" in text, text
                assert marked(form) == ["since"]
                assert since.input_value() == typed
        assert sent == []
        assert form.locator("[data-state=stopped]").count() == 1
    assert settings(root, CART) == before


def test_a_jobs_details_count_recipients_and_name_the_rejected_ones(
    lab: tuple[Path, Any, int],
) -> None:
    _, admin_page, job = lab
    with admin_page() as page:
        command(page, "lpstudio:open-jobs", {"recipe": BIG})
        jobs = page.locator(".lps-jobs:visible")
        jobs.get_by_role("button", name=f"Details of job {job}", exact=True).click()
        view = view_of(jobs, job)
        view.wait_for()
        summary = view.locator(".lps-result-summary").inner_text()
        counts = summary.split(" · ")
        assert "rejected 9" in counts and "already sent 2" in counts, summary
        assert "failed 1" in counts and "uncertain 3" in counts, summary
        assert "batches 3" in counts and "campaigns 1" in counts, summary
        problems = view.locator(".lps-result-problems li").all_inner_texts()
        assert problems == [
            "0612345678: INVALID_NUMBER",
            "3 recipients: sent; no answer",
            f"{ADDRESSES[0]}, {ADDRESSES[1]} (batch 1): invalid template",
            f"{', '.join(ADDRESSES[:5])} and 2 more (batch 2): invalid template",
        ], problems


def test_a_whole_number_is_saved_as_typed_and_kept_by_other_saves(
    lab: tuple[Path, Any, int],
) -> None:
    root, admin_page, _ = lab
    with admin_page() as page:
        form = open_settings(page, BIG, "x")
        message, save = form.locator(".lps-message"), form.locator(".lps-save")
        x, y = form.locator("input[name=x]"), form.locator("input[name=y]")
        for typed in (PAST_EXACT, HUGE):
            retype(x, str(typed))
            assert said(message, save) == "Settings saved."
            assert settings(root, BIG)["parameters"] == {"x": typed}
            assert x.input_value() == str(typed)
        # Saved again with x left as shown: still exact.
        retype(y, "5")
        assert said(message, save) == "Settings saved."
        assert settings(root, BIG)["parameters"] == {"x": HUGE, "y": 5}

        # Shown again (read back rounded by the browser), another field's Save keeps it.
        form.locator(".lps-refresh").click()
        message.locator(".lps-ok").wait_for(state="detached")  # drawn again
        retype(y, "6")
        assert said(message, save) == "Settings saved."
        assert settings(root, BIG)["parameters"] == {"x": HUGE, "y": 6}

        # Text the CLI's -p refuses for an int is refused here too, naming the field.
        sent = writes(page)
        for typed in ("1.5", "1e-1"):
            retype(x, typed)
            text = said(message, save)
            assert "x: give a whole number" in text and "field: x" in text, text
            assert marked(form) == ["x"]
        # A browser that cannot send such a number exactly refuses it, naming the field.
        page.evaluate("() => { delete JSON.rawJSON; }")
        retype(x, str(PAST_EXACT))
        text = said(message, save)
        assert "field: x" in text and "lpstudio settings" in text, text
        assert sent == []
        # A whole number written as a float is the int `lpstudio settings -p` reads.
        for typed, read in (("1e3", 1000), ("7.0", 7)):
            retype(x, typed)
            assert said(message, save) == "Settings saved."
            assert settings(root, BIG)["parameters"] == {"x": read, "y": 6}


def test_a_save_that_will_fail_as_it_is_says_so_with_the_fix(lab: tuple[Path, Any, int]) -> None:
    """A handoff whose message has {{2}} too, which the reminder's template leaves empty:
    saved, the form said only "Settings saved." where the CLI warned that LivePerson would
    refuse every recipient."""
    root, admin_page, _ = lab
    with admin_page() as page:
        form = open_settings(page, REMINDER, "days_ahead")
        message, save = form.locator(".lps-message"), form.locator(".lps-save")
        handoff = form.locator("select[name=handoff]")
        handoff.locator("option[value=H1000000003]").wait_for(state="attached")
        handoff.select_option("H1000000003")
        text = said(message, save)
        assert text.startswith("Settings saved.\nwarning: "), text
        assert "INSUFFICIENT_VARIABLES" in text and "fix: choose a handoff" in text, text
        assert "lpstudio " not in text and "/api/v1" not in text, text
        assert message.locator(".lps-warning").get_attribute("role") == "alert"
    assert settings(root, REMINDER)["parameters"]["handoff"] == "H1000000003"
