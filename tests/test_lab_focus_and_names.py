"""The lab's keyboard focus and what a screen reader is told, in a real JupyterLab in chromium.

The Jobs panel's Next and Previous keep the keyboard's focus (they dropped it to the page on
every press). A field an error is about is marked for a screen reader too (only its colour
said so): its control invalid, described by the error. The Recipes sidebar's Import package
form takes the focus and closes on Escape, as the connection editor does, the focus back on
Import package (its Close dropped it to the page). The Dashboard's four Figures are each
named for their chart, and each table is captioned with it.

One JupyterLab serves the module's tests (each opens its own page).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from lpstudio.studio import Studio

from .browser import user_page
from .conftest import write_recipe
from .test_studio_ui import command, seed_finished_jobs, studio_lab

PAGED, COUNTED = "lab/paged.ipynb", "lab/counted.ipynb"
PAGE = 20  # the Jobs panel's page (ui/src/jobs.ts)
CHARTS = [
    "Jobs per day (UTC), by status",
    "Per recipe: succeeded and failed",
    "Proactive recipients per day (UTC)",
    "Connections",
]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Any]]:
    """A workspace whose lab/paged has two pages and a half of finished jobs and lab/counted
    a whole number and a text parameter, alice having dismissed the gallery pop-up. Yields
    its root and `open_page()`, a page of alice's."""
    tmp = tmp_path_factory.mktemp("focus")
    root, home = tmp / "ws", tmp / "jupyter"
    Studio.init(root, accept_terms=True, admin="alice").close()
    write_recipe(root, PAGED.removesuffix(".ipynb"))
    parameters = "count: int = 1  # how many\nnote: str = ''  # a note"
    write_recipe(root, COUNTED.removesuffix(".ipynb"), parameters=parameters)
    with Studio.open(root, user="alice") as studio:
        studio.store.dismiss_gallery_popup("alice")
        seed_finished_jobs(studio, PAGED, 2 * PAGE + 5)
    with studio_lab(root, home) as (url, token):

        def open_page() -> AbstractContextManager[Any]:
            return user_page("alice", url, token)

        yield root, open_page


def test_next_and_previous_keep_the_keyboards_focus(lab: tuple[Path, Any]) -> None:
    """Pressed, each keeps the focus; the last page's Next (the first's Previous) disabled
    gives it to the other."""
    _, open_page = lab
    with open_page() as page:
        command(page, "lpstudio:open-jobs")
        jobs = page.locator(".lps-jobs:visible")
        pager = jobs.locator(".lps-pager")
        next_, previous = (pager.get_by_role("button", name=n) for n in ("Next", "Previous"))
        pager.get_by_text("jobs 1–").wait_for()
        next_.focus()
        steps = [
            ("Next", f"jobs {PAGE + 1}–{2 * PAGE}", next_),
            ("Next", f"jobs {2 * PAGE + 1}–{2 * PAGE + 5}", previous),
            ("Previous", f"jobs {PAGE + 1}–{2 * PAGE}", previous),
            ("Previous", f"jobs 1–{PAGE}", next_),
        ]
        for pressed, shown, holder in steps:
            expect(pager.get_by_role("button", name=pressed)).to_be_focused()
            page.keyboard.press("Enter")
            pager.get_by_text(shown, exact=True).wait_for()
            expect(holder).to_be_focused()


def test_a_refused_field_is_invalid_for_a_screen_reader_described_by_its_error(
    lab: tuple[Path, Any],
) -> None:
    """Refused, the field's control is `aria-invalid` and described by the error (the others
    not); saved, both go."""
    _, open_page = lab
    with open_page() as page:
        command(page, "lpstudio:open-settings", {"recipe": COUNTED})
        form = page.locator(".lps-settings-body:visible")
        count, note = form.locator("input[name=count]"), form.locator("input[name=note]")
        count.fill("1.5")
        form.locator(".lps-save").click()
        form.locator(".lps-message .lps-error").wait_for()
        expect(count).to_have_attribute("aria-invalid", "true")
        expect(count).to_have_accessible_description(re.compile("count: give a whole number"))
        expect(note).not_to_have_attribute("aria-invalid", re.compile(".*"))
        count.fill("4")
        form.locator(".lps-save").click()
        form.locator(".lps-message .lps-ok").wait_for()
        for attribute in ("aria-invalid", "aria-describedby"):
            expect(count).not_to_have_attribute(attribute, re.compile(".*"))


def test_the_import_package_form_closes_on_escape_or_close_back_to_import_package(
    lab: tuple[Path, Any],
) -> None:
    _, open_page = lab
    with open_page() as page:
        command(page, "lpstudio:open-recipes")
        panel = page.locator(".lps-recipes:visible")
        opener = panel.get_by_role("button", name="Import package", exact=True)
        form = panel.locator(".lps-importer")

        def open_form() -> None:
            """Import package pressed: the focus goes to the form's first field."""
            opener.focus()
            page.keyboard.press("Enter")
            expect(form.get_by_label("Package (.zip)")).to_be_focused()

        open_form()
        page.keyboard.press("Escape")
        expect(form.locator("h3")).to_have_count(0)
        expect(opener).to_be_focused()
        open_form()
        form.get_by_role("button", name="Close").focus()
        page.keyboard.press("Enter")
        expect(form.locator("h3")).to_have_count(0)
        expect(opener).to_be_focused()


def test_the_dashboard_s_figures_are_each_named_for_their_chart(lab: tuple[Path, Any]) -> None:
    _, open_page = lab
    with open_page() as page:
        command(page, "lpstudio:open-dashboard")
        charts = page.locator(".lps-dashboard .lps-chart")
        expect(charts.locator("summary")).to_have_text([f"Figures: {c}" for c in CHARTS])
        # Opened from the keyboard, a table is named by its caption, its chart's title.
        for title in CHARTS[:2]:
            charts.locator("summary", has_text=title).focus()
            page.keyboard.press("Enter")
            expect(page.get_by_role("table", name=title, exact=True)).to_be_visible()
