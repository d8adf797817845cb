"""What the lab's panels show stays true to what the server holds, in a real JupyterLab in
chromium: a poll's since moved in the Settings panel after its first start is kept in the
form until Start polls from it (a Save does not drop it), and a Start refusing it names and
marks Since; a pick list LivePerson cannot give says why beside its text box; the Recipes
sidebar's Poll now report does not go on saying "running now" once its jobs ended; a
Settings tab that could not show its recipe (its notebook broken) shows it once mended.

One JupyterLab and one sandbox serve the module's tests (each opens its own page).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from lpstudio.sandbox import Sandbox
from lpstudio.settings import saved_settings
from lpstudio.studio import Studio

from .conftest import write_recipe
from .test_studio_bad_input import marked, open_settings, said
from .test_studio_consistency import rows_recipe
from .test_studio_ui import admin_pages, command

CART = "shop/cart2.ipynb"
BOOM = "lab/boom.ipynb"
PRICED = "lab/priced.ipynb"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str, Any]]:
    """A workspace on the sandbox with the gallery's cart abandonment tried as shop/cart2,
    started once and stopped (its since fixed), and lab/boom, a poll on a table of one new
    row whose job fails; served by one JupyterLab. Yields its root, the sandbox's URL and
    `admin_page`, which opens a page of the admin alice."""
    tmp = tmp_path_factory.mktemp("panel-states")
    root = tmp / "ws"
    with Sandbox() as sandbox:
        Studio.init(root, accept_terms=True, admin="alice", sandbox=sandbox.url).close()
        rows_recipe(root, "lab/boom", cells=("raise ValueError('boom')",), rows=1)
        with Studio.open(root, user="alice") as studio:
            studio.try_template("cart_abandonment", "shop", "cart2")
            studio.start(CART)
            studio.stop(CART)
        with admin_pages(root, tmp / "jupyter") as admin_page:
            yield root, sandbox.url, admin_page


def saved_since(root: Path) -> str:
    with Studio.open(root, user="alice") as studio:
        return saved_settings(studio.store, CART)["since"]


def cart_settings(page: Any) -> Any:
    """The Settings panel of shop/cart2, shown."""
    return open_settings(page, CART, "since")


def test_a_since_moved_after_the_first_start_is_kept_until_start_polls_from_it(
    lab: tuple[Path, str, Any],
) -> None:
    root, _, admin_page = lab
    fixed = saved_since(root)
    # A minute-exact moment in the past, as the user types it (local time, no seconds).
    typed = (datetime.now() - timedelta(minutes=3)).strftime("%Y-%m-%d %H:%M")
    with admin_page() as page:
        form = cart_settings(page)
        message, since = form.locator(".lps-message"), form.locator("input[name=since]")
        since.fill(typed)
        text = said(message, form.locator(".lps-save"))
        # Saved, but not the since: the Save says where the next Start polls from.
        assert "Settings saved." in text and "next Start" in text and typed in text, text
        assert since.input_value() == typed
        assert saved_since(root) == fixed
        # The next Start polls again from there.
        wanted = page.evaluate("t => new Date(t.replace(' ', 'T')).toISOString()", typed)
        form.locator(".lps-start").click()
        form.locator("[data-state=started]").wait_for()
        assert form.locator(".lps-message .lps-error").count() == 0
        moved = datetime.fromisoformat(saved_since(root))
        assert moved == datetime.fromisoformat(wanted.replace("Z", "+00:00")), (moved, wanted)
        # Shown as the start now in force; stopped again for the module's other tests.
        form.locator(".lps-stop").click()
        form.locator("[data-state=stopped]").wait_for()
        assert since.input_value() == typed + ":00"


def test_a_since_start_refuses_names_and_marks_since_and_keeps_the_text(
    lab: tuple[Path, str, Any],
) -> None:
    root, _, admin_page = lab
    fixed = saved_since(root)
    with admin_page() as page:
        form = cart_settings(page)
        message, since = form.locator(".lps-message"), form.locator("input[name=since]")
        since.fill("3x")
        message.evaluate("m => m.replaceChildren()")
        form.locator(".lps-start").click()
        message.locator(".lps-error").wait_for()
        text = message.inner_text()
        assert "since '3x' is neither a date nor a duration" in text, text
        assert "field: since" in text and "reset_since" not in text, text
        assert marked(form) == ["since"]
        assert since.input_value() == "3x"
        assert form.locator("[data-state=stopped]").count() == 1
        assert saved_since(root) == fixed


def test_a_pick_list_liveperson_cannot_give_says_why_beside_its_text_box(
    lab: tuple[Path, str, Any],
) -> None:
    _, sandbox, admin_page = lab
    fault = {"error_rate": 1.0, "error_status": 500, "scope": "liveperson"}
    httpx.post(f"{sandbox}/_sandbox/faults", json=fault, timeout=10).raise_for_status()
    try:
        with admin_page() as page:
            form = cart_settings(page)
            for name in ("skill", "handoff"):
                field = form.locator(f"[data-field={name}]")
                note = field.locator(".lps-picklist-error")
                note.wait_for()
                text = note.inner_text()
                assert text.startswith("could not load the list: connection liveperson"), text
                assert f"could not list {name}s" in text and "HTTP 500" in text, text
                assert (
                    "fix: check that LivePerson answers (a Test of liveperson in the Connections "
                    "panel), then click Refresh)" in text
                ), text
                assert "POST " not in text and "lpstudio" not in text, text
                assert text.endswith("then click Refresh)"), text
                # A known id can still be typed: the text box stays.
                assert field.locator(f"input[name={name}]").is_editable()
            assert form.locator("input[name=skill]").input_value() == "sales"
    finally:
        httpx.delete(f"{sandbox}/_sandbox/faults", timeout=10).raise_for_status()


def test_poll_nows_report_does_not_say_running_once_its_jobs_ended(
    lab: tuple[Path, str, Any],
) -> None:
    ws, _, admin_page = lab
    with admin_page() as page:
        command(page, "lpstudio:open-recipes")
        recipes = page.locator(".lps-recipes")
        row = recipes.locator(f".lps-recipe[data-recipe='{BOOM}']")
        row.get_by_role("button", name="Poll now recipe lab/boom", exact=True).click()
        report = recipes.locator(".lps-message")
        # Said while it runs (the job fails within a second or two: not read back after).
        report.get_by_text("1 new job from the poll, running now: #").wait_for()
        with Studio.open(ws, user="alice") as studio:
            job = studio.jobs(recipe=BOOM, limit=1)[0].id
        command(page, "lpstudio:open-recipes")  # the sidebar in front of the Jobs panel opened
        row.locator(".lps-status-failed").wait_for(timeout=120_000)
        assert row.locator(".lps-hint", has_text=f"#{job}").count() == 1
        # The next refreshes (every 4 s) say how it ended, and no longer "running now".
        report.get_by_text(f"1 new job from the poll: #{job} failed").wait_for(timeout=20_000)
        # A Refresh clears the report: the rows say the rest.
        recipes.locator(".lps-toolbar .lps-refresh").click()
        report.locator("[role=status]").wait_for(state="detached")


def test_poll_nows_report_says_the_events_its_condition_could_not_compare(
    lab: tuple[Path, str, Any],
) -> None:
    """A row whose total is "n/a" against `total >= 50` starts no job: the report said only
    the other row's job, the warning why being in the server's log alone. It is said with
    its fix (as an alert), and stays said once the job's end is."""
    ws, _, admin_page = lab
    with sqlite3.connect(ws / "prices.db") as db:
        db.execute("CREATE TABLE prices (id integer primary key, total text)")
        db.executemany("INSERT INTO prices VALUES (?, ?)", [(1, "126.00"), (2, "n/a")])
    db.close()
    rule = {"field": "total", "op": ">=", "value": 50}
    write_recipe(
        ws,
        "lab/priced",
        cells=("pass",),
        metadata={
            "title": "priced",
            "trigger": {
                "kind": "poll",
                "connection": "prices",
                "trigger": "new_rows",
                "conditions": {"match": "all", "rules": [rule]},
            },
            "connections": {"prices": {"type": "sql"}},
        },
    )
    with Studio.open(ws, user="alice") as studio:
        table = {"url": "sqlite:///prices.db", "poll_table": "prices", "poll_column": "id"}
        studio.connections.add("prices", "sql", table, "alice")
    with admin_page() as page:
        command(page, "lpstudio:open-recipes")
        recipes = page.locator(".lps-recipes")
        row = recipes.locator(f".lps-recipe[data-recipe='{PRICED}']")
        row.get_by_role("button", name="Poll now recipe lab/priced", exact=True).click()
        report = recipes.locator(".lps-message")
        warning = report.locator(".lps-warning[role=alert]")
        warning.wait_for()
        said, fix = warning.inner_text().splitlines()
        assert said.startswith(
            f"warning: poll of {PRICED}: its condition total >= 50 cannot compare the value "
            "of 1 event (not a number, nor a text that reads as one), which did not pass: 2|"
        ), said  # the row's key: its column value, and a digest of the row
        assert fix == (
            "fix: compare a field that holds numbers in metadata.lpstudio.trigger.conditions"
        )
        with Studio.open(ws, user="alice") as studio:
            (job,) = studio.jobs(recipe=PRICED)
        command(page, "lpstudio:open-recipes")  # the sidebar in front of the Jobs panel opened
        report.get_by_text(f"1 new job from the poll: #{job.id} succeeded").wait_for(
            timeout=120_000
        )
        assert warning.count() == 1


def test_a_settings_tab_that_showed_an_error_shows_the_recipe_once_it_is_mended(
    lab: tuple[Path, str, Any],
) -> None:
    """A notebook broken while its Settings tab was open left the tab on the error with no
    button at all: neither a Refresh nor showing the tab again showed the mended recipe."""
    root, _, admin_page = lab
    path = write_recipe(root, "lab/mended")
    good = path.read_text()
    with admin_page() as page:
        panel = open_settings(page, "lab/mended.ipynb", "x").locator("xpath=..")
        refresh = panel.get_by_role("button", name="Refresh", exact=True)
        path.write_text("{ not a notebook")
        refresh.click()
        panel.locator(".lps-error", has_text="lab/mended").wait_for()
        assert panel.locator("input[name=x]").count() == 0
        path.write_text(good)
        refresh.click()  # the error offers it
        panel.locator("input[name=x]").wait_for()

        # Broken again, and mended while another tab is in front: shown again, it is shown.
        path.write_text("{ not a notebook")
        refresh.click()
        panel.locator(".lps-error", has_text="lab/mended").wait_for()
        command(page, "lpstudio:open-jobs")
        panel.wait_for(state="hidden")
        path.write_text(good)
        command(page, "lpstudio:open-settings", {"recipe": "lab/mended.ipynb"})
        panel.locator("input[name=x]").wait_for()
