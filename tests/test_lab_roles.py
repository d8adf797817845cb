"""An operator in a real JupyterLab in chromium: the lab offers what `lpstudio.roles` lets an
operator do (view and operate) and nothing that needs build, and what it offers works.

The lab leaves out a control a role may not use (it does not show it disabled): so an
operator sees no Run now, Save, Test, Try recipe, Import package, connection New, Test,
Edit or Delete, and no Restore (a recipe's Versions offer it to those who may build). Every
control it does offer (Start, Stop, Poll now, Rerun, Cancel, Open) is clicked once, and the
server refuses none (no 403). A recipe opens read-only (the server's contents API says so to
an operator): the lab's Save says so, and a Save As into projects/ is refused in lpstudio's
words. A fix that needs what an operator is not offered (a connection made, edited or tested,
the settings saved) asks an analyst or admin to carry it out.

One JupyterLab and one sandbox serve the module's tests (each opens its own page).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from lpstudio.sandbox import Sandbox
from lpstudio.studio import Studio

from .browser import user_page
from .conftest import write_recipe
from .servers import API
from .test_lab_gallery_and_recipes_focus import path_of
from .test_lab_keyboard_and_fixes import poll_recipe
from .test_studio_bad_input import open_settings
from .test_studio_ui import command, seed_finished_jobs, studio_lab

QUICK, SLOW, ROWS = "lab/quick.ipynb", "lab/slow.ipynb", "lab/rows.ipynb"
#: The new-lead template, whose http slot no connection fills; a poll of the shop through a
#: connection whose token the shop refuses.
LEAD, SHOP = "leads/new_lead.ipynb", "shop/bad.ipynb"
COPY = "lab/quick-copy.ipynb"  # where the operator tries to save a copy


def workspace(root: Path, sandbox: str) -> None:
    """lab/quick (a manual recipe) with a finished job, lab/slow (runs until cancelled),
    lab/rows (a poll on an empty table), leads/new_lead and shop/bad (`LEAD`, `SHOP`), on
    the sandbox; olga an operator."""
    Studio.init(root, accept_terms=True, admin="alice", sandbox=sandbox).close()
    with sqlite3.connect(root / "rows.db") as db:
        db.execute("CREATE TABLE rows (id integer primary key)")
    db.close()
    poll_recipe(root, "lab/rows")
    write_recipe(root, "lab/quick")
    write_recipe(root, "lab/slow", cells=("import threading\nthreading.Event().wait()",))
    checkouts = "new_or_updated_abandoned_checkout"
    trigger = {"kind": "poll", "connection": "shopify", "trigger": checkouts}
    metadata = {"title": "bad", "trigger": trigger, "connections": {"shopify": {"type": "shopify"}}}
    write_recipe(root, SHOP.removesuffix(".ipynb"), cells=("print(1)",), metadata=metadata)
    with Studio.open(root, user="olga"):
        pass  # seen once, then made an operator
    with Studio.open(root, user="alice") as studio:
        studio.set_role("olga", "operator")
        table = {"url": "sqlite:///rows.db", "poll_table": "rows", "poll_column": "id"}
        studio.connections.add("rows", "sql", table, "alice")
        seed_finished_jobs(studio, QUICK, 1)
        studio.try_template("new_lead", "leads")
        kind, config = studio.connections.values("shopify")
        wrong = {**config, "access_token": "shpat_wrong-4711"}
        studio.connections.add("shop-bad", kind, wrong, "alice")
        studio.save_settings(SHOP, connections={"shopify": "shop-bad"})


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path]]:
    """The workspace in JupyterLab: its URL and token, and its folder."""
    tmp = tmp_path_factory.mktemp("roles")
    with Sandbox() as sandbox:
        workspace(tmp / "ws", sandbox.url)
        with studio_lab(tmp / "ws", tmp / "jupyter") as (url, token):
            yield url, token, tmp / "ws"


def test_an_operator_is_offered_what_operating_allows_and_each_of_it_works(
    lab: tuple[str, str, Path],
) -> None:
    url, token, root = lab
    with user_page("olga") as page:
        refused: list[str] = []
        page.on(
            "response",
            lambda r: refused.append(f"{r.request.method} {r.url}") if r.status == 403 else None,
        )
        # The pop-up is an admin's: the lab shows it only when `/me` says so (read at once
        # after `goto`, the page would find none whatever the server said).
        with page.expect_response(lambda r: path_of(r) == f"{API}/me") as me:
            page.goto(f"{url}/lab?reset&token={token}")
        assert me.value.json()["gallery_popup"] is False

        # Jobs: Rerun (asked first) and Cancel offered, and both done.
        command(page, "lpstudio:open-jobs")
        jobs = page.locator(".lps-jobs:visible")
        finished = jobs.locator("tr.lps-job[data-status=succeeded]").first
        finished.wait_for()
        done = finished.get_attribute("data-job")
        jobs.get_by_role("button", name=f"Rerun job {done}", exact=True).click()
        page.locator(".jp-Dialog").get_by_role("button", name="Rerun").click()
        jobs.locator(f"tr.lps-job:not([data-job='{done}'])").first.wait_for()  # the rerun
        slow = httpx.post(
            f"{url}{API}/recipes/{SLOW}/run",
            headers={"X-Test-User": "alice"},
            params={"token": token},
            json={},
        ).json()["id"]
        cancel = jobs.get_by_role("button", name=f"Cancel job {slow}", exact=True)
        cancel.click()
        jobs.locator(f"tr.lps-job[data-job='{slow}'][data-status=cancelled]").wait_for(
            timeout=120_000
        )

        # Recipes: Start (then Stop) and Poll now offered; Run now and Import package not.
        command(page, "lpstudio:open-recipes")
        sidebar = page.locator(".lps-recipes")
        quick = sidebar.locator(f".lps-recipe[data-recipe='{QUICK}']")
        quick.wait_for()
        assert sidebar.locator(".lps-run, .lps-import").count() == 0
        assert quick.locator(".lps-open-settings").inner_text() == "View settings"
        quick.get_by_role("button", name="Start").click()
        sidebar.locator(f".lps-recipe[data-recipe='{QUICK}'][data-state=started]").wait_for()
        quick.get_by_role("button", name="Stop").click()
        sidebar.locator(f".lps-recipe[data-recipe='{QUICK}'][data-state=stopped]").wait_for()
        sidebar.get_by_role("button", name="Poll now recipe lab/rows").click()
        sidebar.locator("[role=status]", has_text="No new events.").wait_for()

        # Settings: read-only, with Start but no Save, Test or Run now.
        command(page, "lpstudio:open-settings", {"recipe": QUICK})
        form = page.locator(".lps-settings-body:visible")
        form.locator("input[name=x]").wait_for()
        assert form.locator("input[name=x]").is_disabled()
        assert form.locator(".lps-save, .lps-test, .lps-run").count() == 0
        form.locator(".lps-start").wait_for()

        # The recipe's notebook opens (Open notebook) read-only: Save says so, Save As
        # into projects/ is refused, in lpstudio's words, and writes nothing.
        form.locator(".lps-open").click()
        notebook = page.locator(".jp-NotebookPanel:visible")
        notebook.locator(".jp-NotebookPanel-toolbar", has_text="notebook is read-only").wait_for()
        notebook.locator(".jp-Cell").first.click()
        page.keyboard.press("Control+s")
        page.get_by_text(f'projects/{QUICK} is read-only. Use "Save as…" instead.').wait_for()
        command(page, "docmanager:save-as")
        page.locator(".jp-Dialog input").fill(f"projects/{COPY}")
        page.locator(".jp-Dialog").get_by_role("button", name="Save").click()
        error = page.locator(".jp-Dialog", has_text="File Save Error")
        error.get_by_text(
            f"projects/{COPY} is in projects/: an operator cannot create recipes. "
            "fix: ask an admin; this needs the role admin or analyst"
        ).wait_for()
        error.get_by_role("button", name="Close").click()
        assert not (root / "projects" / COPY).exists()
        saved_as = [r for r in refused if r.startswith(f"PUT {url}/api/contents/projects/{COPY}")]
        assert len(saved_as) == 1, refused
        refused.remove(saved_as[0])
        # The Recipes sidebar's Open too.
        sidebar.locator(f".lps-recipe[data-recipe='{SLOW}'] .lps-open").click()
        page.locator(".lm-TabBar-tab.jp-mod-current", has_text="slow.ipynb").wait_for()
        shown = page.locator(".jp-NotebookPanel:visible")
        shown.locator(".jp-NotebookPanel-toolbar", has_text="notebook is read-only").wait_for()
        shown.locator(".jp-Cell", has_text="threading.Event().wait()").wait_for()

        # Connections: listed, with no New, Test, Edit or Delete.
        command(page, "lpstudio:open-connections")
        connections = page.locator(".lps-connections:visible")
        connections.locator("tr[data-connection=rows]").wait_for()
        assert (
            connections.locator(".lps-new-connection, .lps-test, .lps-edit, .lps-delete").count()
            == 0
        )

        # The gallery's cards, with no Try recipe.
        command(page, "lpstudio:open-gallery")
        gallery = page.locator(".lps-gallery:visible")
        gallery.locator(".lps-card").first.wait_for()
        assert gallery.locator(".lps-try").count() == 0

        # The dashboard.
        command(page, "lpstudio:open-dashboard")
        page.locator(".lps-dashboard [data-total] .lps-total-count").first.wait_for()

        # No Restore anywhere: only a role that may build is offered it (`test_lab_versions`).
        assert page.get_by_role("button", name=re.compile("Restore")).count() == 0
        assert refused == [], refused


def test_an_operator_s_fixes_ask_an_analyst_or_admin_for_what_only_they_can_do(
    lab: tuple[str, str, Path],
) -> None:
    """A connection made, tested or given its token, and the settings saved, are not an
    operator's to do (the lab offers them no New connection, Edit, Test or Save): the fix
    asks who can, the lab's own words for a slot and the API's fix alike."""
    url, token, _ = lab
    with user_page("olga") as page:
        page.goto(f"{url}/lab?reset&token={token}")
        command(page, "lpstudio:open-recipes")
        sidebar = page.locator(".lps-recipes")
        message = sidebar.locator(".lps-message")

        # Start of a recipe whose slot no connection fills.
        lead = sidebar.locator(f".lps-recipe[data-recipe='{LEAD}']")
        lead.get_by_role("button", name="Start").click()
        fix = message.locator(".lps-error-fix")
        assert fix.inner_text() == (
            "fix: ask an analyst or admin to create a http connection with its token in the "
            f"Connections panel, then choose it for http in the Settings of {LEAD} and Save"
        )

        # Poll now through a connection whose token the shop refuses: the API's fix.
        message.evaluate("m => m.replaceChildren()")
        sidebar.get_by_role("button", name="Poll now recipe shop/bad").click()
        text = message.locator(".lps-error-fix").inner_text()
        assert text.startswith("fix: ask an analyst or admin to give connection shop-bad an"), text
        assert text.endswith("give shop-bad its access_token with Edit in the Connections panel")

        # The Settings, read-only: the problem of the saved settings, and a Start's refusal.
        form = open_settings(page, LEAD, "campaign_name")
        problem = form.locator(".lps-settings-problem .lps-error-fix")
        assert problem.inner_text() == (
            "fix: ask an analyst or admin to create a http connection with its token in the "
            "Connections panel, then choose it for http below and Save"
        )
        form = open_settings(page, SHOP, "x")
        form.locator(".lps-start").click()
        refusal = form.locator(".lps-message .lps-error-fix")
        assert refusal.inner_text() == (
            "fix: ask an analyst or admin to test shop-bad in the Connections panel (and "
            "correct its fields there if the test fails), then try again"
        )
