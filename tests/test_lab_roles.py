"""An operator in a real JupyterLab in chromium: the lab offers what `lpstudio.roles` lets an
operator do (view and operate) and nothing that needs build, and what it offers works.

The lab leaves out a control a role may not use (it does not show it disabled): so an
operator sees no Run now, Save, Test, Try recipe, Import package, connection New, Test,
Edit or Delete, and no Restore (the lab offers none to anyone). Every control it does offer
(Start, Stop, Poll now, Rerun, Cancel) is clicked once, and the server refuses none (no 403).
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import httpx

from lpstudio.studio import Studio

from .browser import chromium
from .conftest import write_recipe
from .servers import API
from .test_lab_keyboard_and_fixes import poll_recipe
from .test_studio_ui import command, seed_finished_jobs, studio_lab

QUICK, SLOW, ROWS = "lab/quick.ipynb", "lab/slow.ipynb", "lab/rows.ipynb"


def workspace(root: Path) -> None:
    """lab/quick (a manual recipe) with a finished job, lab/slow (runs until cancelled),
    lab/rows (a poll on an empty table); olga an operator."""
    Studio.init(root, accept_terms=True, admin="alice").close()
    with sqlite3.connect(root / "rows.db") as db:
        db.execute("CREATE TABLE rows (id integer primary key)")
    db.close()
    poll_recipe(root, "lab/rows")
    write_recipe(root, "lab/quick")
    write_recipe(root, "lab/slow", cells=("import threading\nthreading.Event().wait()",))
    with Studio.open(root, user="olga"):
        pass  # seen once, then made an operator
    with Studio.open(root, user="alice") as studio:
        studio.set_role("olga", "operator")
        table = {"url": "sqlite:///rows.db", "poll_table": "rows", "poll_column": "id"}
        studio.connections.add("rows", "sql", table, "alice")
        seed_finished_jobs(studio, QUICK, 1)


def test_an_operator_is_offered_what_operating_allows_and_each_of_it_works(
    tmp_path: Path,
) -> None:
    root = tmp_path / "ws"
    workspace(root)
    with studio_lab(root, tmp_path / "jupyter") as (url, token), chromium() as browser:
        page = browser.new_context(
            viewport={"width": 1280, "height": 900}, extra_http_headers={"X-Test-User": "olga"}
        ).new_page()
        page.set_default_timeout(60_000)
        refused: list[str] = []
        page.on(
            "response",
            lambda r: refused.append(f"{r.request.method} {r.url}") if r.status == 403 else None,
        )
        page.goto(f"{url}/lab?reset&token={token}")
        assert page.locator(".lps-gallery-popup").count() == 0  # the pop-up is an admin's

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

        # No Restore anywhere: the lab offers it to no one.
        assert page.get_by_role("button", name=re.compile("Restore")).count() == 0
        assert refused == [], refused
