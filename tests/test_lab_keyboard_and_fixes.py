"""The lab used from the keyboard, and its fixes said in its own terms, in a real JupyterLab
in chromium.

A poll's since fixed by a Poll now (never started) is shown where it polls from, and a Save
keeps a Since typed for the next Start instead of being refused in full. Acting in the
Connections and Jobs panels leaves the keyboard's focus on the control acted on (or its
row's replacement), not on the page; the connection editor takes the focus and gives it
back on Escape; Tab reaches every Try recipe of the gallery pop-up. Fixes the API words for
the CLI (`lpstudio connections update ...`, `--name`, `--reset-since`) or the REST API (a
test's event) are said as the lab does them.

One JupyterLab and one sandbox serve the module's tests (each opens its own page).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from lpstudio.models import TriggerState
from lpstudio.sandbox import Sandbox
from lpstudio.settings import saved_settings
from lpstudio.studio import Studio

from .browser import user_page
from .conftest import write_recipe
from .test_studio_bad_input import open_settings, said
from .test_studio_ui import command, seed_finished_jobs, studio_lab

ROWS, ROWS2, SLOW = "lab/rows.ipynb", "lab/rows2.ipynb", "lab/slow.ipynb"
SHOP = "lab/shop.ipynb"
#: The last of two failed polls of lab/shop, as the store keeps it: the shop's refusal, with
#: the CLI's command as its fix.
SHOP_ERROR = (
    'ConnectorError: Shopify answered HTTP 401: {"errors": "[API] Invalid API key or access '
    'token (unrecognized login or wrong password)"}\n  fix: give connection shopify an Admin '
    "API access token from the shop's custom app: `lpstudio connections update shopify "
    "--secret access_token`"
)
WRONG = "wrong-secret-4711-xyz"  # liveperson's client secret, which the sandbox refuses
CLI = ("lpstudio ", "--name", "--reset-since", "--secret")


def poll_recipe(root: Path, name: str) -> None:
    """`name`: a stopped poll recipe on the table `rows` (empty: a poll queues nothing),
    with a text parameter."""
    write_recipe(
        root,
        name,
        parameters="note: str = ''  # a note",
        cells=("print(note)",),
        metadata={
            "title": name,
            "trigger": {"kind": "poll", "connection": "rows", "trigger": "new_rows"},
            "connections": {"rows": {"type": "sql"}},
        },
    )


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Any]]:
    """A workspace on the sandbox, its liveperson connection given a wrong secret; lp-eu a
    placeholder (imported without its secret), spare a connection to delete; lab/rows
    polled once (its since fixed, never started) and lab/rows2 never polled; lab/shop, whose
    two polls failed (`SHOP_ERROR`) before it was stopped; lab/slow, which
    runs until cancelled, with two finished jobs; olga an operator; adam an admin, who
    has not dismissed the gallery pop-up (alice has). Yields its root and `open_page(user)`,
    a page of that user's."""
    tmp = tmp_path_factory.mktemp("keyboard")
    root, home = tmp / "ws", tmp / "jupyter"
    with Sandbox() as sandbox:
        Studio.init(root, accept_terms=True, admin="alice", sandbox=sandbox.url).close()
        with sqlite3.connect(root / "rows.db") as db:
            db.execute("CREATE TABLE rows (id integer primary key)")
        db.close()
        for name in ("lab/rows", "lab/rows2"):
            poll_recipe(root, name)
        write_recipe(root, "lab/slow", cells=("import threading\nthreading.Event().wait()",))
        with Studio.open(root, user="olga"):
            pass  # seen once, then made an operator
        with Studio.open(root, user="alice") as studio:
            studio.set_role("olga", "operator")
            studio.set_role("adam", "admin")
            studio.store.dismiss_gallery_popup("alice")
            table = {"url": "sqlite:///rows.db", "poll_table": "rows", "poll_column": "id"}
            studio.connections.add("rows", "sql", table, "alice")
            studio.connections.add("spare", "csv_file", {"path": "spare.csv"}, "alice")
            studio.connections.update("liveperson", {"client_secret": WRONG})
            with studio.store.write() as s:
                fields = {"account_id": "1", "client_id": "c", "base_url": sandbox.url}
                studio.connections.add_placeholder(
                    "lp-eu", "liveperson_proactive", fields, ["client_secret"], "alice", s
                )
            assert studio.poll(ROWS) == []  # its since fixed now, as a Poll now fixes it
            failed_polls(studio, root)
            seed_finished_jobs(studio, SLOW, 2)
        with studio_lab(root, home) as (url, token):

            def open_page(user: str = "alice") -> AbstractContextManager[Any]:
                return user_page(user, url, token)

            yield root, open_page


def failed_polls(studio: Studio, root: Path) -> None:
    """lab/shop, a poll of the shop, stopped with the run of trigger errors that stopped it,
    as an auto-stop leaves it."""
    metadata = {
        "title": "shop",
        "trigger": {
            "kind": "poll",
            "connection": "shopify",
            "trigger": "new_or_updated_abandoned_checkout",
        },
        "connections": {"shopify": {"type": "shopify"}},
    }
    write_recipe(root, SHOP.removesuffix(".ipynb"), cells=("print(1)",), metadata=metadata)
    since = "2024-01-01T00:00:00+00:00"
    with studio.store.write() as s:
        s.add(TriggerState(recipe=SHOP, since=since, seen=[], errors=2, last_error=SHOP_ERROR))


def polled_from(root: Path, recipe: str) -> str | None:
    with Studio.open(root, user="alice") as studio, studio.store.read() as s:
        state = s.get(TriggerState, recipe)
        return state.since if state else None


def local(iso: str) -> str:
    """A moment as the lab shows it in an input: local time, to the second."""
    return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def focused(page: Any) -> str:
    """What has the keyboard's focus: a control's accessible name, else its tag."""
    return page.evaluate(  # type: ignore[no-any-return]
        "() => { const e = document.activeElement;"
        " return e?.getAttribute('aria-label') || e?.getAttribute('name') || e?.tagName; }"
    )


def stored_connections(root: Path) -> list[str]:
    """The connections' names the store holds now."""
    with Studio.open(root, user="alice") as studio:
        return [info.name for info in studio.connections.list()]


def press(page: Any, control: Any, key: str = "Enter") -> None:
    """`key` pressed on `control`, which has the focus as if tabbed to."""
    control.focus()
    page.keyboard.press(key)


def test_the_recipe_detail_says_where_a_fixed_since_polls_from(tmp_path: Path) -> None:
    """Fixed by a poll as much as by a start: the detail says from when, else null."""
    root = tmp_path / "ws"
    Studio.init(root, accept_terms=True, admin="alice").close()
    with sqlite3.connect(root / "rows.db") as db:
        db.execute("CREATE TABLE rows (id integer primary key)")
    db.close()
    poll_recipe(root, "lab/rows")
    write_recipe(root, "lab/plain")
    with Studio.open(root, user="alice") as studio:
        table = {"url": "sqlite:///rows.db", "poll_table": "rows", "poll_column": "id"}
        studio.connections.add("rows", "sql", table, "alice")
        assert studio.recipe_detail(ROWS)["since_fixed"] is None
        assert studio.recipe_detail("lab/plain")["since_fixed"] is None
        studio.poll(ROWS)
        detail = studio.recipe_detail(ROWS)
    assert detail["since_fixed"] == polled_from(root, ROWS) is not None
    assert "since" not in detail["settings"]  # never saved, never started


def test_a_since_a_poll_fixed_is_shown_and_save_keeps_a_typed_one_for_the_next_start(
    lab: tuple[Path, Any],
) -> None:
    root, open_page = lab
    fixed = polled_from(root, ROWS)
    assert fixed
    typed = (datetime.now() - timedelta(minutes=3)).strftime("%Y-%m-%d %H:%M")
    with open_page() as page:
        form = open_settings(page, ROWS, "since")
        since, message = form.locator("input[name=since]"), form.locator(".lps-message")
        # Shown where it polls from, as fixed by the poll.
        assert since.input_value() == local(fixed)
        help_text = form.locator("[data-field=since] .lps-field-help").inner_text()
        assert "fixed by its first start or poll" in help_text, help_text
        since.fill(typed)
        form.locator("input[name='notify.email']").fill("ops@brand.example")
        text = said(message, form.locator(".lps-save"))
        # The rest saved, the since kept in the form for the next Start, which says so.
        assert "Settings saved." in text and "next Start" in text and typed in text, text
        assert since.input_value() == typed
        with Studio.open(root, user="alice") as studio:
            saved = saved_settings(studio.store, ROWS)
        assert saved.get("notify") == {"email": "ops@brand.example"}, saved
        assert "since" not in saved and polled_from(root, ROWS) == fixed
        # The next Start polls from there.
        wanted = datetime.strptime(typed, "%Y-%m-%d %H:%M").astimezone()
        form.locator(".lps-start").click()
        form.locator("[data-state=started]").wait_for()
        assert form.locator(".lps-message .lps-error").count() == 0
        assert datetime.fromisoformat(polled_from(root, ROWS) or "") == wanted
        form.locator(".lps-stop").click()
        form.locator("[data-state=stopped]").wait_for()

        # Fixed by a Poll now while its form was shown (never polled before): the Save
        # still saves the rest and keeps the since for the next Start.
        form = open_settings(page, ROWS2, "since")
        since, message = form.locator("input[name=since]"), form.locator(".lps-message")
        assert since.input_value() == ""
        with Studio.open(root, user="alice") as studio:
            studio.poll(ROWS2)
        polled = polled_from(root, ROWS2)
        since.fill(typed)
        form.locator("input[name='notify.email']").fill("ops@brand.example")
        text = said(message, form.locator(".lps-save"))
        assert "Settings saved." in text and "next Start" in text, text
        assert since.input_value() == typed
        with Studio.open(root, user="alice") as studio:
            saved = saved_settings(studio.store, ROWS2)
        assert saved.get("notify") == {"email": "ops@brand.example"}, saved
        assert polled_from(root, ROWS2) == polled

        # A secret typed into a parameter: the fix says where a secret goes, in the lab.
        form.locator("input[name=note]").fill(WRONG)
        text = said(message, form.locator(".lps-save"))
        assert "holds the secret of a connection" in text, text
        assert "fix: give the secret to a connection (create one in the Connections panel)" in text
        assert not any(cli in text for cli in CLI), text


def test_a_test_with_no_event_says_its_fix_in_lab_terms(lab: tuple[Path, Any]) -> None:
    """Its fix gave the REST route (`POST .../recipes/lab/rows2.ipynb/test {"event": ...}`),
    which the lab's Test has no way to send."""
    _, open_page = lab
    with open_page() as page:
        form = open_settings(page, ROWS2, "since")
        form.locator(".lps-test").click()
        error = form.locator(".lps-test-run .lps-error")
        error.wait_for()
        text = error.inner_text()
        assert "a test would run it on nothing" in text, text
        assert (
            "fix: test it on an event you give from the command line or the REST API, or click "
            "Test again once such an event has come"
        ) in text, text
        assert not any(cli in text for cli in CLI) and "POST" not in text, text


def settings_test_ended(page: Any, recipe: str, status: str) -> Any:
    """The run of `recipe`'s Test in its Settings panel once it ended, asserted `status`."""
    form = open_settings(page, recipe, "x")
    form.locator(".lps-test").click()
    tested = form.locator(".lps-test-run[data-status]")
    tested.wait_for(timeout=120_000)
    assert tested.get_attribute("data-status") == status, tested.inner_text()
    return tested


def test_a_test_that_times_out_shows_its_fix_as_the_jobs_panel_does(
    lab: tuple[Path, Any],
) -> None:
    """The Settings panel's Test showed a failed job's error without its own fix (a
    timeout's, a dead kernel's), which the Jobs panel shows below it."""
    root, open_page = lab
    write_recipe(
        root,
        "lab/sleepy",
        cells=("import time", "time.sleep(60)"),
        metadata={"title": "sleepy", "timeout": 1},
    )
    with open_page() as page:
        tested = settings_test_ended(page, "lab/sleepy.ipynb", "failed")
        text = tested.inner_text()
        assert "Timeout: timed out after 1 s" in text, text
        assert "fix: raise the recipe's timeout" in text, text


def test_a_test_s_output_removed_since_says_so_with_its_fix(lab: tuple[Path, Any]) -> None:
    """The Settings panel's Open output of a test run whose notebook is gone from history/
    did nothing a user could see (an uncaught error in the console); the Jobs panel says it."""
    root, open_page = lab
    write_recipe(root, "lab/outgone", metadata={"title": "outgone"})
    with open_page() as page:
        tested = settings_test_ended(page, "lab/outgone.ipynb", "succeeded")
        job = int(tested.inner_text().split("job ")[1].split(")")[0])
        with Studio.open(root, user="alice") as studio:
            output = root / studio.job(job).output_path
        output.unlink()
        tested.get_by_role("button", name="Open output").click()
        refused = tested.locator(".lps-output-refused .lps-error")
        refused.wait_for()
        text = refused.inner_text()
        assert "is missing" in text and "put it back in history/ to open it" in text, text


def test_a_start_with_two_connections_that_fail_says_each_ones_fix_in_lab_terms(
    lab: tuple[Path, Any],
) -> None:
    """Start names every connection that does not answer; the lab's fix covered only the
    first slot's, so the second was met only at the next Start."""
    root, open_page = lab
    slots = {"liveperson": {"type": "liveperson_proactive"}, "crm": {"type": "http"}}
    notebook = write_recipe(
        root,
        "lab/two",
        parameters="note: str = ''  # a note",
        metadata={"title": "two", "connections": slots},
    )
    # Its own connections (the module's are other tests'): lp2 with a wrong secret, and crm
    # whose host never answers.
    with Studio.open(root, user="alice") as studio:
        kind, config = studio.connections.values("liveperson")
        studio.connections.add("lp2", kind, {**config, "client_secret": WRONG}, "alice")
        studio.connections.add("crm", "http", {"base_url": "http://127.0.0.1:9/"}, "alice")
        studio.save_settings("lab/two", connections={"liveperson": "lp2", "crm": "crm"})
    with open_page() as page:
        form = open_settings(page, "lab/two.ipynb", "note")
        form.locator(".lps-start").click()  # its save says so first, then the refusal
        error = form.locator(".lps-message .lps-error")
        error.wait_for()
        text = error.inner_text()
        assert "connection 'lp2' (slot 'liveperson') is disconnected" in text, text
        assert "connection 'crm' (slot 'crm') is disconnected" in text, text
        assert "give them with Edit of lp2 in the Connections panel" in text, text
        assert "crm: test crm in the Connections panel (and correct its fields there" in text
        assert not any(cli in text for cli in CLI) and WRONG not in text, text
    with Studio.open(root, user="alice") as studio:
        assert saved_settings(studio.store, "lab/two.ipynb").get("state") != "started"
    notebook.unlink()  # and its connections: the other tests' lab is as was
    with Studio.open(root, user="alice") as studio:
        for name in ("lp2", "crm"):
            studio.connections.remove(name)


def test_the_connections_panel_keeps_the_keyboards_place_and_says_fixes_in_lab_terms(
    lab: tuple[Path, Any],
) -> None:
    root, open_page = lab
    with open_page() as page:
        command(page, "lpstudio:open-connections")
        panel = page.locator(".lps-connections:visible")
        button = lambda name: panel.get_by_role("button", name=name, exact=True)  # noqa: E731
        placeholder = panel.locator("tr[data-connection=lp-eu]")
        placeholder.wait_for()
        text = placeholder.inner_text()
        assert "give them with Edit, then Test" in text and "lpstudio" not in text, text

        # Its Test: refused, with the lab's fix; the focus stays on the Test.
        press(page, button("Test connection lp-eu"))
        error = panel.locator(".lps-message .lps-error")
        error.wait_for()
        text = error.inner_text()
        assert "give lp-eu its secrets with Edit in the Connections panel, then Test" in text
        assert not any(cli in text for cli in CLI), text
        assert focused(page) == "Test connection lp-eu"

        # A wrong secret: said above the table in the lab's terms (not again in its row),
        # and the focus is on the Test of the row that replaced it.
        press(page, button("Test connection liveperson"))
        row = panel.locator("tr[data-connection=liveperson][data-status=disconnected]")
        row.wait_for()
        said = panel.locator(".lps-message .lps-error", has_text="Test of liveperson")
        said.wait_for()
        text = said.inner_text()
        assert "check the client id" not in row.inner_text(), row.inner_text()
        assert "check the client id and secret of the connection liveperson" in text, text
        # What to do next where Test was just clicked: give them again, then Test.
        fix = "give them with Edit of liveperson in the Connections panel, then Test liveperson"
        assert fix in text, text
        assert "tries them" not in text, text
        assert "lpstudio" not in text, text
        assert focused(page) == "Test connection liveperson"

        # Edit takes the focus to the form's first field; Escape closes it, back to Edit.
        editor = panel.locator(".lps-editor")
        press(page, button("Edit connection rows"))
        editor.locator("input[name=url]").wait_for()
        assert focused(page) == "url"
        page.keyboard.press("Escape")
        editor.locator("h3").wait_for(state="detached")
        assert focused(page) == "Edit connection rows"
        # Saved: back to its Edit. Nothing changed, so its status stays what it was (another
        # test of this module may have polled through it).
        status = panel.locator("tr[data-connection=rows]").get_attribute("data-status")
        page.keyboard.press("Enter")
        press(page, editor.get_by_role("button", name="Save connection"))
        panel.locator(f"tr[data-connection=rows][data-status={status}]").wait_for()
        editor.locator("h3").wait_for(state="detached")
        assert focused(page) == "Edit connection rows"

        # Delete asks in JupyterLab's dialog, saying what deleting does. Cancel keeps the
        # connection (in the panel and the store), the focus back on its Delete.
        press(page, button("Delete connection spare"))
        dialog = page.locator(".jp-Dialog")
        dialog.get_by_text("cannot run until another connection fills its slot").wait_for()
        press(page, dialog.get_by_role("button", name="Cancel"))
        dialog.wait_for(state="detached")
        expect(button("Delete connection spare")).to_be_focused()
        assert panel.locator("tr[data-connection=spare]").count() == 1
        assert "spare" in stored_connections(root)
        # Deleted: the focus goes to the same control of the row in its place. Its Edit form,
        # open, goes with it: its Save would answer that no such connection exists.
        press(page, button("Edit connection shopify"))
        editor.locator("h3", has_text="Edit connection shopify").wait_for()
        press(page, button("Delete connection shopify"))
        press(page, dialog.get_by_role("button", name="Delete"))
        panel.locator("tr[data-connection=shopify]").wait_for(state="detached")
        expect(button("Delete connection spare")).to_be_focused()
        assert editor.locator("h3").count() == 0
        assert "shopify" not in stored_connections(root)
        # Deleted elsewhere (the command line, another tab) while its form is open: Save
        # says so in the lab's terms, where it named a REST call.
        press(page, button("Edit connection spare"))
        editor.locator("h3", has_text="Edit connection spare").wait_for()
        with Studio.open(root, user="alice") as studio:
            studio.connections.remove("spare")
        press(page, editor.get_by_role("button", name="Save connection"))
        error = editor.locator(".lps-message .lps-error")
        error.wait_for()
        said = error.inner_text()
        assert "no connection named 'spare'" in said and "GET" not in said, said
        assert "one deleted meanwhile is made again with New connection" in said, said

    with open_page("olga") as page:
        command(page, "lpstudio:open-connections")
        panel = page.locator(".lps-connections:visible")
        placeholder = panel.locator("tr[data-connection=lp-eu]")
        placeholder.wait_for()
        text = panel.locator("tbody").inner_text()
        assert (
            "ask an analyst or admin to give them with Edit, then Test" in text
            and "lpstudio" not in text
        )


def test_the_recipes_sidebar_says_a_trigger_errors_fix_in_lab_terms(
    lab: tuple[Path, Any],
) -> None:
    """The API words the fix the store keeps as its route (`PUT .../connections/shopify`):
    the row says where the lab does that."""
    _, open_page = lab
    with open_page() as page:
        command(page, "lpstudio:open-recipes")
        row = page.locator(f".lps-recipes .lps-recipe[data-recipe='{SHOP}']")
        problem = row.locator(".lps-problem", has_text="trigger error(s)")
        problem.wait_for()
        text = problem.inner_text()
        assert text.startswith("2 trigger error(s): ConnectorError: Shopify answered"), text
        assert "give shopify its access_token with Edit in the Connections panel" in text, text
        assert "lpstudio" not in text and "PUT " not in text, text


def test_cancel_in_the_jobs_panel_keeps_the_focus_in_its_row_and_redraws_no_other(
    lab: tuple[Path, Any],
) -> None:
    root, open_page = lab
    with open_page() as page:
        command(page, "lpstudio:open-recipes")
        page.get_by_role("button", name="Run now recipe lab/slow", exact=True).click()
        jobs = page.locator(".lps-jobs:visible")
        running = jobs.locator("tr.lps-job[data-status=running]")
        running.wait_for(timeout=120_000)
        job = running.get_attribute("data-job")
        finished = jobs.locator("tr.lps-job[data-status=succeeded]")
        assert finished.count() == 2
        finished.evaluate_all("rows => rows.forEach(r => r.lpsProbe = true)")
        press(page, jobs.get_by_role("button", name=f"Cancel job {job}", exact=True))
        jobs.locator(f"tr.lps-job[data-job='{job}'][data-status=cancelled]").wait_for()
        where = page.evaluate(
            "() => { const e = document.activeElement;"
            " return [e.tagName, e.closest('tr')?.dataset.job]; }"
        )
        assert where == ["BUTTON", job], where
        # The rows that did not change are the ones drawn before.
        assert finished.evaluate_all("rows => rows.map(r => r.lpsProbe === true)") == [True, True]
    with Studio.open(root, user="alice") as studio:
        assert studio.job(int(job or 0)).status == "cancelled"


def test_tab_reaches_every_try_recipe_of_the_gallery_pop_up_and_a_taken_name_says_the_fix(
    lab: tuple[Path, Any],
) -> None:
    _, open_page = lab
    with open_page("adam") as page:  # an admin's first page: the gallery pops up
        popup = page.locator(".lps-gallery-popup")
        tries = popup.locator(".lps-try")
        popup.locator(".lps-cards[data-loaded]").wait_for()
        wanted = tries.evaluate_all("bs => bs.map(b => b.getAttribute('aria-label'))")
        assert len(wanted) == 4, wanted
        page.wait_for_function(
            "() => document.querySelector('.lps-gallery-popup').contains(document.activeElement)"
        )
        reached = []
        for _ in range(len(wanted) + 3):  # from Close, round to it again
            page.keyboard.press("Tab")
            reached.append(focused(page))
        assert list(dict.fromkeys(n for n in reached if n in wanted)) == wanted, reached

        # Try recipe, from the keyboard, onto a recipe that exists: the fix in the form's terms.
        press(page, popup.get_by_role("button", name=wanted[0], exact=True))
        dialog = page.locator(".lps-try-dialog")
        dialog.locator("input[name=project]").fill("lab")
        dialog.locator("input[name=name]").fill("rows")
        page.get_by_role("button", name="Create recipe").click()
        error = page.locator(".lps-try-dialog .lps-error")
        error.wait_for()
        text = error.inner_text()
        assert "fix: choose another recipe name or project folder" in text, text
        assert not any(cli in text for cli in CLI), text
