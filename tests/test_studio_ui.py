"""The studio (the JupyterLab extension built from ui/) in a real JupyterLab, in chromium.

The admin's journey of the seed: the gallery pop-up, Try recipe into a new project, the
settings form, Test, Start, abandoned checkouts in the sandbox, jobs succeeding in the Jobs
panel, an output notebook, the dashboard's counts; then an operator sees no edit controls.
Identities come from `X-Test-User` (tests.servers.HeaderIdentityProvider).
"""

from __future__ import annotations

import json
import os
import re
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from lpstudio.models import Connection as ConnectionRow
from lpstudio.sandbox import Sandbox
from lpstudio.settings import saved_settings
from lpstudio.studio import Studio

from .browser import chromium, jupyterlab, screenshot
from .conftest import wait_for, write_recipe
from .servers import API, serving

REPO = Path(__file__).resolve().parent.parent
RECIPE = "shop/cart_abandonment.ipynb"
SECRET = "tok-secret-4711"
MARKUP = "<img src=x onerror=window.__lpsxss=1>"
BOOM = "the CRM is down <b>bold</b>"
PAGE = 20  # jobs per page in the studio's Jobs panel (ui/src/jobs.ts)
PIXEL = (  # a PNG of one pixel, base64
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
# What a recipe's cell displayed: its own styles, and markup that would act if it could.
DISPLAYED = (
    "<p id='lps-styled' style='color: rgb(10, 120, 30)'>styled by the recipe</p>"
    "<p id='lps-target'>untouched</p>"
    "<script>document.getElementById('lps-target').textContent = 'script ran';"
    "fetch('/lpstudio/api/v1/recipes/lab/report.ipynb/run', {method: 'POST'})</script>"
    "<img id='lps-broken' src='data:,' "
    "onerror=\"document.getElementById('lps-target').textContent = 'handler ran'\">"
)


@pytest.fixture(scope="module", autouse=True)
def studio_is_built() -> None:
    """The extension is built by the package install (`pip install -e .` runs npm)."""
    from jupyter_core.paths import jupyter_path

    assert any(
        (Path(p) / "lpstudio-studio" / "package.json").is_file()
        for p in jupyter_path("labextensions")
    ), "the studio is not built: `make setup` (pip install -e .) builds it with npm"


def command(page: Any, name: str, args: dict[str, Any] | None = None) -> None:
    """Runs a JupyterLab command, as the palette or the launcher would: once the lab has
    restored its layout, which would otherwise put its own sidebar panel back in front of
    one the command showed (the file browser over the Recipes sidebar)."""
    page.wait_for_function("n => window.jupyterapp?.commands.hasCommand(n)", arg=name)
    page.evaluate(
        "async ([n, a]) => { await window.jupyterapp.restored;"
        " await window.jupyterapp.commands.execute(n, a); }",
        [name, args or {}],
    )


@contextmanager
def studio_lab(root: Path, home: Path) -> Iterator[tuple[str, str]]:
    """JupyterLab serving the workspace at `root`, its users named by `X-Test-User`, its app
    exposed to the page for `command`; yields its URL and token."""
    # No "official Jupyter news?" toast over the screenshots.
    news = home / "config/lab/user-settings/@jupyterlab/apputils-extension"
    news.mkdir(parents=True)
    (news / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
    env = {
        "LPSTUDIO_WORKSPACE": str(root),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    args = [
        "--ServerApp.identity_provider_class=tests.servers.HeaderIdentityProvider",
        "--LabApp.expose_app_in_browser=True",
    ]
    with jupyterlab(root, home, env, args) as served:
        yield served


@contextmanager
def admin_pages(root: Path, home: Path) -> Iterator[Any]:
    """JupyterLab on `root` whose gallery popped up once already (it stays away), shared by
    a module's tests; yields a context manager opening a fresh page of the admin alice's,
    with no panel of an earlier test."""
    with Studio.open(root, user="alice") as studio:
        studio.store.dismiss_gallery_popup("alice")
    with studio_lab(root, home) as (url, token):

        @contextmanager
        def admin_page() -> Iterator[Any]:
            with chromium() as browser:
                page = browser.new_context(
                    viewport={"width": 1280, "height": 800},
                    extra_http_headers={"X-Test-User": "alice"},
                ).new_page()
                page.set_default_timeout(60_000)
                page.goto(f"{url}/lab?reset&token={token}")
                yield page

        yield admin_page


@contextmanager
def alice_lab(root: Path, home: Path, close_gallery: bool = True) -> Iterator[Any]:
    """The admin alice's JupyterLab on `root` in chromium, the gallery an admin sees first
    closed (unless not asked); yields the page."""
    with studio_lab(root, home) as (url, token), chromium() as browser:
        page = browser.new_context(
            viewport={"width": 1400, "height": 1000}, extra_http_headers={"X-Test-User": "alice"}
        ).new_page()
        page.set_default_timeout(60_000)
        page.goto(f"{url}/lab?token={token}")
        if close_gallery:
            page.locator(".lps-gallery-popup").get_by_role("button", name="Close").click()
        yield page


def seed_finished_jobs(studio: Studio, recipe: str, count: int) -> None:
    """Job rows of earlier runs (no kernel needed): enough history to page through."""
    version = studio.store.snapshot(recipe, studio.recipe(recipe).canonical_json, {}, "alice")
    for _ in range(count):
        job = studio.store.create_job(
            recipe=recipe, version_id=version, trigger="manual", parameters={}, user="alice"
        )
        studio.store.finish_job(job.id, "succeeded", cells_done=1)


def total(page: Any, label: str) -> int:
    return int(page.locator(f".lps-dashboard [data-total='{label}'] .lps-total-count").inner_text())


def test_the_admin_journey_and_an_operator_in_the_studio(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    with Sandbox() as sandbox:
        Studio.init(root, accept_terms=True, admin="alice", sandbox=sandbox.url).close()
        with Studio.open(root, user="olga"):
            pass  # olga is seen once, then made an operator
        with Studio.open(root, user="alice") as studio:
            studio.set_role("olga", "operator")
        write_recipe(root, "lab/boom", cells=(f"raise ValueError({BOOM!r})",))
        # A recipe that runs until it is cancelled: its cell after the parameters never ends.
        write_recipe(root, "lab/slow", cells=("import threading\nthreading.Event().wait()",))
        write_recipe(
            root,
            "lab/dated",
            parameters="from datetime import date\n\nday: date = date(2026, 11, 1)  # first day"
            "\nchannel = pick_channel()  # a choice with no literal default",
            cells=("print(day)",),
            # A slot with no connection of its type yet (and no label): values save anyway.
            metadata={
                "title": "lab/dated",
                "connections": {"files": {"type": "csv_file"}},
                "parameters": {"channel": {"enum": ["sms", "whatsapp"]}},
            },
        )
        with Studio.open(root, user="alice") as studio:
            seed_finished_jobs(studio, "lab/boom.ipynb", PAGE + 5)
        with studio_lab(root, tmp_path / "jupyter") as (url, token), chromium() as browser:
            admin = browser.new_context(
                viewport={"width": 1400, "height": 1000},
                extra_http_headers={"X-Test-User": "alice"},
            ).new_page()
            _admin_journey(admin, url, token, sandbox.url, root)

            # The pop-up was dismissed once: remembered in the workspace, for alice.
            me = httpx.get(
                f"{url}{API}/me", headers={"X-Test-User": "alice"}, params={"token": token}
            ).json()
            assert me["gallery_popup"] is False, me

            operator = browser.new_context(
                viewport={"width": 1400, "height": 1000},
                extra_http_headers={"X-Test-User": "olga"},
            ).new_page()
            _operator_session(operator, url, token)


def _admin_journey(page: Any, url: str, token: str, sandbox_url: str, root: Path) -> None:
    page.set_default_timeout(60_000)  # two JupyterLabs and their kernels share a small machine
    page.goto(f"{url}/lab?token={token}")

    # The gallery pops up the first time an admin opens the studio; Try recipe from it.
    popup = page.locator(".lps-gallery-popup")
    popup.locator(".lps-card[data-template='cart_abandonment']").wait_for(timeout=60_000)
    assert popup.locator(".lps-card").count() >= 4
    screenshot(page, "studio-gallery-popup")
    popup.locator(".lps-card[data-template='cart_abandonment'] .lps-try").click()
    dialog = page.locator(".jp-Dialog", has=page.locator(".lps-try-dialog"))
    dialog.get_by_role("button", name="Create recipe").click()  # no project: refused, asked again
    dialog.locator(".lps-error", has_text="project").wait_for()
    dialog.locator("input[name=project]").fill("shop")
    dialog.locator("input[name=name]").fill("cart_abandonment")
    dialog.get_by_role("button", name="Create recipe").click()
    page.locator(".lm-TabBar-tab", has_text="cart_abandonment.ipynb").first.wait_for()
    page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for(timeout=60_000)
    assert (root / "projects" / RECIPE).is_file()

    # The launcher's section.
    command(page, "launcher:create")
    section = page.locator(".jp-Launcher-section:visible", has_text="lpstudio").first
    section.locator(".jp-LauncherCard", has_text="Proactive cart abandonment").wait_for()
    section.locator(".jp-LauncherCard", has_text="Jobs").first.wait_for()
    screenshot(page, "studio-launcher")

    # The Recipes sidebar: the new recipe, stopped, with no job yet.
    command(page, "lpstudio:open-recipes")
    row = page.locator(f".lps-recipe[data-recipe='{RECIPE}']")
    row.wait_for()
    assert row.get_attribute("data-state") == "stopped"
    assert "poll" in row.inner_text()
    screenshot(page, "studio-recipes")

    # The settings form: fill it, save, test its connections, start it.
    row.locator(".lps-open-settings").click()
    form = page.locator(".lps-settings-body").first
    form.locator("input[name=campaign_name]").wait_for()
    form.locator("input[name=campaign_name]").fill("Cart recovery (studio)")
    form.locator("select[name=skill] option[value=support]").wait_for(state="attached")  # live
    form.locator("select[name=skill]").select_option("support")  # not the default (sales)
    form.locator("input[name=since]").fill("1m")
    form.locator(".lps-save").click()
    form.locator("text=Settings saved.").wait_for()
    form.locator(".lps-test").click()
    for name in ("liveperson", "shopify"):
        form.locator(f"li[data-connection={name}] .lps-status-connected").wait_for(timeout=30_000)
        # The slot's picker says what the test found, not the "(untested)" it showed.
        picked = form.locator(f"select[name=connection-{name}] option[value={name}]")
        assert picked.inner_text() == f"{name} (connected)", picked.inner_text()
    tested = form.locator(".lps-test-run[data-status]")
    tested.wait_for(timeout=120_000)  # a test run on a recent checkout: nothing is sent
    assert tested.get_attribute("data-status") == "succeeded", tested.inner_text()
    screenshot(page, "studio-settings")
    form.locator(".lps-start").click()
    page.locator(".lps-settings-body [data-state=started]").first.wait_for()
    row.locator("text=started").wait_for()
    # Saved again once started: its since, fixed by the start, is not sent (it would be refused).
    form.locator(".lps-save").click()
    form.locator(".lps-message .lps-ok, .lps-message .lps-error").first.wait_for()
    assert form.locator(".lps-message").inner_text() == "Settings saved."
    assert form.locator("input[name=since]").is_disabled()  # where the poll started

    # The dashboard before any job.
    command(page, "lpstudio:open-dashboard")
    page.locator(".lps-dashboard [data-total=succeeded]").wait_for()
    before = total(page, "succeeded")

    # New abandoned checkouts in the sandbox; Poll now queues their jobs.
    added = httpx.post(
        f"{sandbox_url}/_sandbox/shopify/checkouts", json=[{}, {}, {}], timeout=10
    ).raise_for_status()
    assert len(added.json()["checkouts"]) == 3
    command(page, "lpstudio:open-recipes")
    # Poll now (JupyterLab's own scheduler runs the jobs); each row's buttons name their recipe.
    recipes = page.locator(".lps-recipes")
    recipes.get_by_role("button", name="Poll now recipe shop/cart_abandonment", exact=True).click()
    command(page, "lpstudio:open-jobs", {"recipe": RECIPE})
    done = page.locator(".lps-jobs tr.lps-job[data-status=succeeded]").first
    done.wait_for(timeout=120_000)
    jobs = page.locator(".lps-jobs")
    assert RECIPE in done.inner_text()
    assert jobs.locator("tr.lps-job[data-status=failed]").count() == 0
    screenshot(page, "studio-jobs")

    # The output notebook opens as a notebook.
    done.locator(".lps-output").click()
    page.locator(".lm-TabBar-tab", has_text="-cart_abandonment.ipynb").first.wait_for()
    page.locator(".jp-NotebookPanel:visible .jp-Cell").first.wait_for(timeout=60_000)
    screenshot(page, "studio-output-notebook")

    # The dashboard counts the new jobs (it refreshes itself).
    command(page, "lpstudio:open-dashboard")
    page.wait_for_function(
        "n => Number(document.querySelector("
        "\".lps-dashboard [data-total='succeeded'] .lps-total-count\")?.textContent) > n",
        arg=before,
        timeout=30_000,
    )
    assert total(page, "recipients accepted") >= 3
    screenshot(page, "studio-dashboard")

    # Rerun a job: a new job on the latest version, its sends kept from going out twice.
    command(page, "lpstudio:open-jobs", {"recipe": RECIPE})
    jobs = page.locator(".lps-jobs:visible")
    tested = page.locator("td:nth-child(6)", has_text=re.compile(r"^test"))  # a rerun asks not
    done = jobs.locator("tr.lps-job[data-status=succeeded]", has_not=tested).first
    done_id = done.get_attribute("data-job")
    jobs.get_by_role("button", name=f"Rerun job {done_id}", exact=True).click()
    page.locator(".jp-Dialog").get_by_role("button", name="Rerun").click()  # side effects repeat
    rerun_row = page.locator("td:nth-child(6)", has_text=re.compile(r"^rerun$"))
    jobs.locator("tr.lps-job[data-status=succeeded]", has=rerun_row).first.wait_for(timeout=120_000)

    # A failing recipe, run now: the failed job's error and traceback, shown as text.
    command(page, "lpstudio:open-recipes")
    recipes.get_by_role("button", name="Run now recipe lab/boom", exact=True).click()
    failed = page.locator(".lps-jobs:visible tr.lps-job[data-status=failed]").first
    failed.wait_for(timeout=120_000)
    assert "lab/boom.ipynb" in failed.inner_text()
    failed.locator(".lps-error-button").click()
    details = page.locator(".lps-jobs:visible .lps-details")
    message = details.locator(".lps-error-message")
    message.wait_for()
    assert message.inner_text() == f"ValueError: {BOOM}"  # markup shown, never rendered
    assert details.locator("b").count() == 0
    # Where, counted from 1 as JupyterLab counts: papermill's parameters cell, then this one.
    assert "\nin cell 2 of 2 (In [2])\n" in details.inner_text()
    assert "ValueError" in details.locator(".lps-traceback").inner_text()
    screenshot(page, "studio-failed-job")

    # A long job: its progress while it runs, then Cancel stops it.
    command(page, "lpstudio:open-recipes")
    page.locator(".lps-recipe[data-recipe='lab/slow.ipynb'] .lps-run").click()
    running = page.locator(".lps-jobs:visible tr.lps-job[data-status=running]", has_text="lab/slow")
    running.locator(".lps-progress").wait_for(timeout=120_000)
    job_id = running.get_attribute("data-job")
    page.wait_for_function(  # its parameters cell is done, the next one runs
        "id => document.querySelector(`.lps-jobs tr.lps-job[data-job='${id}'] .lps-progress`)"
        "?.value === 1",
        arg=job_id,
        timeout=60_000,
    )
    screenshot(page, "studio-running-job")
    page.get_by_role("button", name=f"Cancel job {job_id}", exact=True).click()
    cancelled = page.locator(f".lps-jobs:visible tr.lps-job[data-job='{job_id}']")
    page.locator(
        f".lps-jobs:visible tr.lps-job[data-job='{job_id}'][data-status=cancelled]"
    ).wait_for(timeout=60_000)
    # Its parameters cell ran; the interrupted one is not counted as done.
    assert cancelled.locator(".lps-cancel").count() == 0 and "1/2 cells" in cancelled.inner_text()
    cancelled.locator(".lps-error-button").click()  # why it stopped, and where
    details.locator(".lps-error-message", has_text="cancelled by request").wait_for()

    # Paging through the history: 20 jobs a page, newest first.
    jobs = page.locator(".lps-jobs:visible")
    recipe_filter = jobs.locator("input[name=recipe]")
    if recipe_filter.input_value():
        recipe_filter.fill("")
        recipe_filter.dispatch_event("change")
        jobs.locator("tr.lps-job", has_text="lab/boom").first.wait_for()  # refreshed, unfiltered
    jobs.locator("tr.lps-job").nth(PAGE - 1).wait_for()
    first_page = jobs.locator("tr.lps-job").evaluate_all("rows => rows.map(r => r.dataset.job)")
    assert len(first_page) == PAGE
    # A refresh of page 1 whose answer comes late (held here) never replaces the page asked
    # for after it: the panel's timer, filters and pager race like this on a busy server.
    held: list[Any] = []
    page_one = re.compile(r"/lpstudio/api/v1/jobs\?(?!(.*&)?before=)")
    page.route(page_one, lambda route: held.append(route))
    with page.expect_request(page_one):
        recipe_filter.dispatch_event("change")  # refreshes page 1
    jobs.get_by_role("button", name="Next").click()
    second = jobs.locator(".lps-pager", has_text=f"jobs {PAGE + 1}–")
    second.wait_for()
    assert jobs.get_by_role("button", name="Next").is_disabled()  # the last page
    assert held
    for route in held:
        with page.expect_response(page_one) as late:
            route.continue_()
        late.value.finished()
    page.unroute(page_one)
    page.evaluate("() => new Promise(done => setTimeout(done))")  # the page handled the answer
    second_page = jobs.locator("tr.lps-job").evaluate_all("rows => rows.map(r => r.dataset.job)")
    assert second_page and not set(second_page) & set(first_page)
    # A screen reader tells the rows' Reruns apart: each names its job.
    for job in second_page:
        jobs.get_by_role("button", name=f"Rerun job {job}", exact=True).wait_for()
    assert max(map(int, second_page)) < min(map(int, first_page))
    jobs.get_by_role("button", name="Previous").click()
    jobs.locator(f"tr.lps-job[data-job='{first_page[0]}']").wait_for()

    # Connections: a form from the connector's fields; the secret is write-only; data is text.
    command(page, "lpstudio:open-connections")
    panel = page.locator(".lps-connections")
    panel.locator("tr[data-connection=liveperson]").wait_for()
    panel.locator(".lps-new-connection").click()
    panel.locator("select[name=type]").select_option("http")
    panel.locator("input[name=name]").fill("crm")
    panel.locator("select[name=auth_type]").select_option("bearer")
    panel.locator("input[name=username]").fill(MARKUP)
    panel.locator("input[name=token]").fill(SECRET)
    assert panel.locator("input[name=token]").get_attribute("type") == "password"
    panel.locator(".lps-save").click()
    crm = panel.locator("tr[data-connection=crm]")
    crm.wait_for()
    assert "token: ****" in crm.inner_text()
    assert f"username: {MARKUP}" in crm.inner_text()  # shown as text, never as markup
    assert page.evaluate("window.__lpsxss") is None
    assert SECRET not in page.content()
    panel.get_by_role("button", name="Edit connection crm", exact=True).click()
    assert panel.locator("input[name=token]").input_value() == ""  # never filled in
    screenshot(page, "studio-connections")
    # Editing: a changed field is saved, the secret left empty keeps the stored one.
    panel.locator("input[name=username]").fill("crm-bot")
    panel.locator(".lps-save").click()
    panel.locator("tr[data-connection=crm]", has_text="username: crm-bot").wait_for()
    with Studio.open(root, user="alice") as studio:
        kind, config = studio.connections.values("crm")
    assert kind == "http" and config["username"] == "crm-bot" and config["token"] == SECRET

    # A date parameter gets a date input; what is picked is saved as ISO text.
    command(page, "lpstudio:open-recipes")
    page.locator(".lps-recipe[data-recipe='lab/dated.ipynb'] .lps-open-settings").click()
    dated = page.locator(".lps-settings-body", has=page.locator("input[name=day]"))
    day = dated.locator("input[name=day]")
    day.wait_for()
    assert day.get_attribute("type") == "date" and day.input_value() == "2026-11-01"
    # Its settings cannot run yet: why, the fix, and the slot's input marked.
    problem = dated.locator(".lps-settings-problem")
    assert "no csv_file connection for slot 'files'" in problem.inner_text()
    assert "fix: create a csv_file connection with its path in the Connections panel" in (
        problem.inner_text()
    )
    slot = dated.locator("[data-field=connection-files]")
    assert "lps-field-invalid" in (slot.get_attribute("class") or "")
    assert slot.locator(".lps-field-label").inner_text() == "files"
    day.fill("2026-11-29")  # the channel left unchosen: not sent, the notebook's value stands
    dated.locator(".lps-save").click()
    dated.locator("text=Settings saved.").wait_for()
    with Studio.open(root, user="alice") as studio:
        assert saved_settings(studio.store, "lab/dated.ipynb")["parameters"] == {
            "day": "2026-11-29"
        }
        # Cleared, the saved date is forgotten (the notebook's default again), not kept.
        day.fill("")
        dated.locator(".lps-save").click()
        wait_for(
            lambda: saved_settings(studio.store, "lab/dated.ipynb")["parameters"] == {},
            what="the cleared date forgotten",
        )
    dated.locator("text=Settings saved.").wait_for()
    assert day.input_value() == "2026-11-01"  # the notebook's default, which applies again
    # An optional drop-down offers the notebook's value as its empty choice: chosen, the
    # saved value is forgotten, as a cleared text field's is.
    channel = dated.locator("select[name=channel]")
    assert channel.locator("option:checked").inner_text() == "(notebook default)"
    channel.select_option("whatsapp")
    dated.locator(".lps-save").click()
    with Studio.open(root, user="alice") as studio:
        wait_for(
            lambda: (
                saved_settings(studio.store, "lab/dated.ipynb")["parameters"]
                == {"channel": "whatsapp"}
            ),
            what="the chosen channel saved",
        )
        # The panel has shown the answer (a choice made before would be reset by it).
        dated.locator("text=Settings saved.").wait_for()
        channel.select_option("")
        dated.locator(".lps-save").click()
        wait_for(
            lambda: saved_settings(studio.store, "lab/dated.ipynb")["parameters"] == {},
            what="the channel forgotten",
        )
    # Shown from the save's answer, not the choice the test made (the click empties it).
    dated.locator("text=Settings saved.").wait_for()
    expect(channel.locator("option:checked")).to_have_text("(notebook default)")

    # Its first start fixed the poll's since: changed while stopped, Start polls from there.
    command(page, "lpstudio:open-settings", {"recipe": RECIPE})
    form = page.locator(".lps-settings-body:visible")
    form.locator(".lps-stop").click()
    since = form.locator("input[name=since]")
    since.fill("0s")  # now: after every checkout, nothing to poll again (a future one is refused)
    form.locator(".lps-start").click()
    form.locator("[data-state=started]").wait_for()
    assert form.locator(".lps-message .lps-error").count() == 0
    with Studio.open(root, user="alice") as studio:
        moved = datetime.fromisoformat(saved_settings(studio.store, RECIPE)["since"])
    assert abs(datetime.now(UTC) - moved) < timedelta(minutes=5)

    # The skill picked from the live list goes back to the notebook's: the list's empty
    # choice names that default, and choosing it forgets the saved value.
    skill = form.locator("select[name=skill]")
    assert skill.input_value() == "support"
    default = skill.locator("option[value='']").inner_text()
    assert default.startswith("(default: ") and "sales" in default, default
    skill.select_option("")
    form.locator(".lps-save").click()
    with Studio.open(root, user="alice") as studio:
        wait_for(
            lambda: "skill" not in saved_settings(studio.store, RECIPE)["parameters"],
            what="the skill forgotten",
        )
    # Shown afresh, the form shows the default standing, not a saved value.
    skill.evaluate("select => { select.dataset.before = 'refresh'; }")
    form.get_by_role("button", name="Refresh").click()
    shown = form.locator("select[name=skill]:not([data-before])")
    shown.wait_for()
    assert shown.input_value() == ""
    assert shown.locator("option:checked").inner_text() == default


def _operator_session(page: Any, url: str, token: str) -> None:
    page.set_default_timeout(60_000)
    page.goto(f"{url}/lab?token={token}")
    command(page, "lpstudio:open-recipes")
    row = page.locator(f".lps-recipe[data-recipe='{RECIPE}']")
    row.wait_for(timeout=60_000)
    # An operator may start and stop, but not build: no Run now, no settings to save.
    row.locator(".lps-stop").wait_for()
    assert row.locator(".lps-run").count() == 0
    row.locator(".lps-open-settings", has_text="View settings").click()
    form = page.locator(".lps-settings-body").first
    form.locator("input[name=campaign_name]").wait_for()
    assert form.locator("input[name=campaign_name]").is_disabled()
    assert form.locator(".lps-save, .lps-test, .lps-run").count() == 0
    screenshot(page, "studio-operator-settings")

    command(page, "lpstudio:open-connections")
    panel = page.locator(".lps-connections")
    panel.locator("tr[data-connection=crm]").wait_for()
    assert panel.locator(".lps-new-connection, .lps-edit, .lps-delete, .lps-test").count() == 0

    command(page, "lpstudio:open-gallery")
    gallery = page.locator(".lps-gallery").first
    gallery.locator(".lps-card[data-template='cart_abandonment']").wait_for()
    assert gallery.locator(".lps-try").count() == 0
    assert page.locator(".lps-gallery-popup").count() == 0  # the pop-up is for admins

    command(page, "lpstudio:open-jobs")
    page.locator(".lps-jobs tr.lps-job[data-status=succeeded]").first.wait_for()
    assert page.locator(".lps-jobs .lps-rerun").count() >= 1  # operating is allowed
    screenshot(page, "studio-operator")


def test_the_lab_recovers_from_a_failed_page_and_never_acts_on_stale_settings(
    tmp_path: Path,
) -> None:
    """A failed page leaves the pager usable; a poll's since typed without a zone is the
    user's local time, as the lab shows times; a settings problem's fix points at what the lab
    offers; a Settings panel shows a start, stop or save made elsewhere once re-shown or
    refreshed, and a Save or Start on what it showed before is not carried out."""
    root = tmp_path / "ws"
    Studio.init(root, accept_terms=True, admin="alice").close()
    write_recipe(root, "lab/plain")
    write_recipe(
        root,
        "lab/polled",
        metadata={
            "title": "lab/polled",
            "trigger": {
                "kind": "poll",
                "connection": "shop",
                "trigger": "new_or_updated_abandoned_checkout",
            },
            "connections": {"shop": {"type": "shopify"}},
        },
    )
    with Studio.open(root, user="alice") as studio:
        seed_finished_jobs(studio, "lab/plain.ipynb", PAGE + 5)
    with studio_lab(root, tmp_path / "jupyter") as (url, token), chromium() as browser:
        page = browser.new_context(
            viewport={"width": 1400, "height": 1000},
            extra_http_headers={"X-Test-User": "alice"},
            timezone_id="Asia/Tokyo",  # UTC+9 all year
        ).new_page()
        page.set_default_timeout(60_000)
        page.goto(f"{url}/lab?token={token}")
        page.locator(".lps-gallery-popup").get_by_role("button", name="Close").click()

        # Page 2 fails: the error is shown, page 1 stays, and the pager can be used again.
        command(page, "lpstudio:open-jobs")
        jobs = page.locator(".lps-jobs:visible")
        jobs.locator("tr.lps-job").nth(PAGE - 1).wait_for()
        page_two = re.compile(r"/lpstudio/api/v1/jobs\?(.*&)?before=")
        page.route(page_two, lambda route: route.fulfill(status=500, body="down"))
        jobs.get_by_role("button", name="Next").click()
        page.wait_for_function(
            "() => { const p = document.querySelector('.lps-jobs .lps-pager');"
            " return document.querySelector('.lps-jobs .lps-message .lps-error')"
            " && !p.children[2].disabled && p.textContent.includes('jobs 1–20'); }"
        )
        # Said until the next click: the timer's refreshes of page 1 do not wipe it.
        page_one = re.compile(r"/lpstudio/api/v1/jobs\?(?!(.*&)?before=)")
        with page.expect_response(page_one) as refreshed:
            pass
        refreshed.value.finished()
        page.evaluate("() => new Promise(done => setTimeout(done))")  # the page handled it
        assert "500" in jobs.locator(".lps-notice").inner_text()
        # So does a Rerun the server refused.
        rerun = re.compile(r"/lpstudio/api/v1/jobs/\d+/rerun(\?|$)")
        page.route(rerun, lambda route: route.fulfill(status=503, body="busy"))
        jobs.locator(".lps-rerun").first.click()
        page.locator(".jp-Dialog").get_by_role("button", name="Rerun").click()
        jobs.locator(".lps-notice", has_text="503").wait_for()
        with page.expect_response(page_one) as refreshed:
            pass
        refreshed.value.finished()
        page.evaluate("() => new Promise(done => setTimeout(done))")
        assert "503" in jobs.locator(".lps-notice").inner_text()
        page.unroute(rerun)
        page.unroute(page_two)
        jobs.get_by_role("button", name="Next").click()
        jobs.locator(".lps-pager", has_text=f"jobs {PAGE + 1}–").wait_for()
        assert jobs.locator(".lps-message .lps-error").count() == 0

        # A Rerun the recipe as it is now refuses says its fix in the lab's terms, as the
        # Recipes sidebar does: no REST call to make.
        write_recipe(root, "lab/plain", parameters="days: int  # now required")
        jobs.locator(".lps-rerun").first.click()
        page.locator(".jp-Dialog").get_by_role("button", name="Rerun").click()
        fix = jobs.locator(".lps-notice .lps-error-fix", has_text="days")
        fix.wait_for()
        assert fix.inner_text() == "fix: set days in the Settings of lab/plain.ipynb, then Save"
        write_recipe(root, "lab/plain")  # as the rest of the test has it

        # A settings problem's fix, in the lab's terms: the Connections panel, no CLI command.
        command(page, "lpstudio:open-settings", {"recipe": "lab/polled.ipynb"})
        polled = page.locator(".lps-settings-body:visible")
        problem = polled.locator(".lps-settings-problem")
        problem.wait_for()
        assert "no shopify connection for slot 'shop'" in problem.inner_text()
        assert "Connections panel" in problem.inner_text()
        assert "lpstudio connections" not in problem.inner_text()
        # The since, typed without a zone, is local time, as the jobs list shows times.
        since = polled.locator("[data-field=since]")
        assert "local time (Asia/Tokyo)" in since.inner_text()
        since.locator("input").fill("2026-01-01T09:00")
        polled.locator(".lps-save").click()
        polled.locator("text=Settings saved.").wait_for()
        with Studio.open(root, user="alice") as studio:
            saved = saved_settings(studio.store, "lab/polled.ipynb")
        assert saved["since"] == "2026-01-01T00:00:00+00:00", saved
        assert since.locator("input").input_value() == "2026-01-01 09:00:00"
        # Failure contacts of a poll recipe: checked by the API, saved, shown without the
        # webhook's token, kept when left as shown.
        webhook = polled.locator("input[name='notify.webhook']")
        webhook.fill("https://hooks.example.com/T0/s3cr3t")
        polled.locator("input[name='notify.email']").fill("ops@brand.example")
        polled.locator(".lps-save").click()
        polled.locator("text=Settings saved.").wait_for()
        assert webhook.input_value() == "https://hooks.example.com/****"
        polled.locator("input[name='notify.email']").fill("")
        polled.locator(".lps-save").click()
        polled.locator("text=Settings saved.").wait_for()
        with Studio.open(root, user="alice") as studio:
            notify = saved_settings(studio.store, "lab/polled.ipynb")["notify"]
        assert notify == {"webhook": "https://hooks.example.com/T0/s3cr3t"}, notify
        problem.get_by_role("button", name="Open Connections").click()
        page.locator(".lps-connections:visible").wait_for()

        # Started, with another value, elsewhere: the panel's Save is not carried out.
        command(page, "lpstudio:open-settings", {"recipe": "lab/plain.ipynb"})
        plain = page.locator(".lps-settings-body:visible")
        plain.locator("[data-state=stopped]").wait_for()
        with Studio.open(root, user="alice") as studio:
            studio.save_settings("lab/plain.ipynb", {"x": 5})
            studio.start("lab/plain.ipynb")
        plain.locator(".lps-save").click()
        refused = plain.locator(".lps-message", has_text="changed elsewhere")
        refused.wait_for()
        assert ": x, state changed" in refused.inner_text(), refused.inner_text()
        assert "fix: the panel shows them as they are saved now" in refused.inner_text()
        plain.locator("[data-state=started]").wait_for()
        assert plain.locator("input[name=x]").input_value() == "5"
        with Studio.open(root, user="alice") as studio:
            assert saved_settings(studio.store, "lab/plain.ipynb")["parameters"] == {"x": 5}
        plain.locator("input[name=x]").fill("7")
        plain.locator(".lps-save").click()
        plain.locator("text=Settings saved.").wait_for()
        # Saved elsewhere while the panel's Save is on its way: the API refuses it (409).
        put = re.compile(r"/lpstudio/api/v1/recipes/lab/plain\.ipynb/settings(\?|$)")

        def saved_elsewhere_first(route: Any) -> None:
            with Studio.open(root, user="alice") as studio:
                studio.save_settings("lab/plain.ipynb", {"x": 8})
            route.continue_()

        page.route(put, saved_elsewhere_first)
        plain.locator("input[name=x]").fill("6")
        plain.locator(".lps-save").click()
        refused = plain.locator(".lps-message", has_text="changed elsewhere")
        refused.wait_for()
        page.unroute(put)
        # What changed there is named, and what was typed here is kept (as in the notebook).
        assert ": x changed" in refused.inner_text(), refused.inner_text()
        assert "with your own changes kept" in refused.inner_text()
        assert plain.locator("input[name=x]").input_value() == "6"
        with Studio.open(root, user="alice") as studio:
            assert saved_settings(studio.store, "lab/plain.ipynb")["parameters"] == {"x": 8}
        plain.locator(".lps-save").click()
        plain.locator("text=Settings saved.").wait_for()
        with Studio.open(root, user="alice") as studio:
            assert saved_settings(studio.store, "lab/plain.ipynb")["parameters"] == {"x": 6}
        # Stopped elsewhere: Refresh shows it; started again: re-shown, the panel shows it.
        with Studio.open(root, user="alice") as studio:
            studio.stop("lab/plain.ipynb")
        plain.get_by_role("button", name="Refresh").click()
        plain.locator("[data-state=stopped]").wait_for()
        command(page, "lpstudio:open-jobs")
        with Studio.open(root, user="alice") as studio:
            studio.start("lab/plain.ipynb")
        command(page, "lpstudio:open-settings", {"recipe": "lab/plain.ipynb"})
        plain.locator("[data-state=started]").wait_for()
        # A Stop shown before a stop made elsewhere: not sent again, the panel shows it stopped.
        with Studio.open(root, user="alice") as studio:
            studio.stop("lab/plain.ipynb")
        plain.locator(".lps-stop").click()
        plain.locator(".lps-message", has_text="changed elsewhere").wait_for()
        plain.locator(".lps-start").wait_for()

        # The Connections panel, shown again, lists a connection added elsewhere meanwhile.
        with Studio.open(root, user="alice") as studio:
            studio.connections.add("rows", "csv_file", {"path": "rows.csv"}, "alice")
        command(page, "lpstudio:open-connections")
        page.locator(".lps-connections:visible tr[data-connection=rows]").wait_for()


def keeps_focus(page: Any, button: Any, refresh: re.Pattern[str]) -> None:
    """`button` has the keyboard's focus after the panel's next periodic refresh."""
    with page.expect_response(refresh) as refreshed:
        pass
    refreshed.value.finished()
    page.evaluate("() => new Promise(done => setTimeout(done))")  # the page handled it
    assert button.evaluate("b => b === document.activeElement")


def test_the_lab_runs_what_the_form_shows_and_says_fixes_in_its_own_terms(tmp_path: Path) -> None:
    """The Recipes sidebar says why a Run now is refused with the fix in the lab's terms, and
    offers no Run now a webhook recipe cannot use; a settings form shown again offers a
    connection created meanwhile and drops the problem it fixed, keeping what was typed; its
    Run now runs what the form shows (saved first, as Test does), and the typed value stays."""
    root = tmp_path / "ws"
    Studio.init(root, accept_terms=True, admin="alice").close()
    slot = {"title": "lab/filed", "connections": {"files": {"type": "csv_file"}}}
    write_recipe(root, "lab/filed", metadata=slot)
    write_recipe(root, "lab/hook", metadata={"title": "Hook", "trigger": {"kind": "webhook"}})
    with alice_lab(root, tmp_path / "jupyter") as page:
        command(page, "lpstudio:open-recipes")
        sidebar = page.locator(".lps-recipes")
        sidebar.locator(".lps-recipe[data-recipe='lab/filed.ipynb'] .lps-run").click()
        refused = sidebar.locator(".lps-message .lps-error")
        refused.wait_for()
        text = refused.inner_text()
        assert "no csv_file connection for slot 'files'" in text, text
        assert "fix: create a csv_file connection with its path in the Connections panel" in text
        assert "lpstudio connections" not in text, text
        hook = sidebar.locator(".lps-recipe[data-recipe='lab/hook.ipynb'] .lps-run")
        assert hook.is_disabled() and "Test" in (hook.get_attribute("title") or "")

        command(page, "lpstudio:open-settings", {"recipe": "lab/filed.ipynb"})
        filed = page.locator(".lps-settings-body:visible")
        problem = filed.locator(".lps-settings-problem")
        problem.wait_for()
        filed.locator("input[name=x]").fill("9")
        # The fix carried out in the Connections panel (here by the CLI's Studio), then back.
        with Studio.open(root, user="alice") as studio:
            studio.connections.add("rows", "csv_file", {"path": "rows.csv"}, "alice")
        problem.get_by_role("button", name="Open Connections").click()
        page.locator(".lps-connections:visible tr[data-connection=rows]").wait_for()
        command(page, "lpstudio:open-settings", {"recipe": "lab/filed.ipynb"})
        filed.locator("select[name=connection-files] option[value=rows]").wait_for(state="attached")
        problem.wait_for(state="hidden")
        # Filled by the automatic choice, which the slot shows (named), not as its own choice.
        files = filed.locator("select[name=connection-files]")
        assert files.input_value() == "", files.input_value()
        assert files.locator("option:checked").inner_text() == "(automatic: rows)"
        assert filed.locator("input[name=x]").input_value() == "9"  # not shown afresh
        assert "changed elsewhere" not in filed.locator(".lps-message").inner_text()
        files.select_option("rows")  # chosen: a recipe that uses a connection holds it

        # Run now on what the form shows: saved first; the form shows it after.
        filed.locator(".lps-run").click()
        with Studio.open(root, user="alice") as studio:
            job = wait_for(
                lambda: next(iter(studio.jobs(recipe="lab/filed.ipynb", limit=1)), None),
                what="the job of Run now",
            )
            assert job.parameters == {"x": 9}, job.parameters
            saved = saved_settings(studio.store, "lab/filed.ipynb")
            assert saved["parameters"] == {"x": 9} and saved["connections"] == {"files": "rows"}
        jobs = page.locator(".lps-jobs:visible")
        output = jobs.locator(f"tr.lps-job[data-job='{job.id}'][data-status=succeeded] .lps-output")
        output.focus()
        keeps_focus(page, output, re.compile(r"/lpstudio/api/v1/jobs\?"))
        jobs.get_by_label("Status").select_option("failed")  # the filters have names
        jobs.locator(".lps-hint", has_text="No jobs.").wait_for()
        # The connection the recipe now uses cannot be deleted: the fix in the lab's terms.
        command(page, "lpstudio:open-connections")
        panel = page.locator(".lps-connections:visible")
        panel.get_by_role("button", name="Delete connection rows").click()
        page.locator(".jp-Dialog").get_by_role("button", name="Delete").click()
        in_use = panel.locator(".lps-error")
        in_use.wait_for()
        said = in_use.inner_text()
        assert "is used by 1 recipe: lab/filed.ipynb (slot files)" in said, said
        assert "in the recipe's Settings" in said and "lpstudio settings" not in said, said
        command(page, "lpstudio:open-settings", {"recipe": "lab/filed.ipynb"})
        assert filed.locator("input[name=x]").input_value() == "9"
        # The slot's empty choice forgets the saved connection: the automatic choice again.
        slot = filed.locator("select[name=connection-files]")
        slot.select_option("")
        filed.locator(".lps-save").click()
        with Studio.open(root, user="alice") as studio:
            wait_for(
                lambda: saved_settings(studio.store, "lab/filed.ipynb")["connections"] == {},
                what="the slot's connection forgotten",
            )
        # Saved, the slot is the automatic choice, naming the connection it picks; shown
        # again too, and a later Save keeps it so (it saved the picked connection as a
        # choice of its own).
        filed.locator("text=Settings saved.").wait_for()
        assert slot.locator("option:checked").inner_text() == "(automatic: rows)"
        drawn = filed.locator("input[name=x]").element_handle()
        filed.get_by_role("button", name="Refresh").click()
        drawn.wait_for_element_state("hidden")  # the form drawn again: typing goes there
        slot.locator("option:checked", has_text="(automatic: rows)").wait_for(state="attached")
        assert slot.input_value() == ""
        filed.locator("input[name=x]").fill("10")
        filed.locator(".lps-save").click()
        filed.locator("text=Settings saved.").wait_for()
        with Studio.open(root, user="alice") as studio:
            saved = saved_settings(studio.store, "lab/filed.ipynb")
        assert saved["parameters"] == {"x": 10} and saved["connections"] == {}, saved

        # Refreshed unchanged, the sidebar is not drawn again: a keyboard's focus stays put.
        command(page, "lpstudio:open-recipes")
        opener = sidebar.locator(".lps-recipe[data-recipe='lab/hook.ipynb'] .lps-open-jobs")
        opener.focus()
        keeps_focus(page, opener, re.compile(r"/lpstudio/api/v1/recipes(\?|$)"))


def test_the_settings_panel_keeps_the_apis_fix_and_points_to_its_fields_the_right_way(
    tmp_path: Path,
) -> None:
    """A connection's secret typed into a parameter and saved was answered `fix: correct
    name below, then Save`: the API's fix (give the secret to a connection) was lost, and
    the field is above the message. The settings problem, above the fields, points down."""
    root = tmp_path / "ws"
    Studio.init(root, accept_terms=True, admin="alice").close()
    with Studio.open(root, user="alice") as studio:
        studio.connections.add("crm", "http", {"token": SECRET}, "alice")
    slot = {"title": "lab/greet", "connections": {"files": {"type": "csv_file"}}}
    write_recipe(root, "lab/greet", 'name: str = "world"  # who', metadata=slot)
    with alice_lab(root, tmp_path / "jupyter") as page:
        command(page, "lpstudio:open-settings", {"recipe": "lab/greet.ipynb"})
        panel = page.locator(".lps-settings-body:visible")
        problem = panel.locator(".lps-settings-problem")
        expect(problem).to_contain_text(
            "fix: create a csv_file connection with its path in the Connections panel, "
            "then choose it for files below and Save"
        )
        panel.locator("input[name=name]").fill(SECRET)
        panel.locator(".lps-save").click()
        refused = panel.locator(".lps-message .lps-error")
        expect(refused).to_contain_text("parameter 'name' holds the secret of a connection")
        said = refused.inner_text()
        assert "fix: give the secret to a connection" in said, said
        assert "lpstudio.kernel.connection" in said and "correct name" not in said, said
        assert SECRET not in said, said
        # Below the fields too, a slot's fix points up to them.
        panel.locator("input[name=name]").fill("ada")
        panel.locator(".lps-run").click()
        expect(refused).to_contain_text("then choose it for files above and Save")
        screenshot(page, "studio-settings-fixes")


CRM_HEAD = "from lpstudio.sdk import Connector, Field\n"
CRM = CRM_HEAD + 'connector = Connector("crm", title="CRM", fields=[Field("site", "Site")])\n'
CRM_BROKEN = CRM_HEAD + 'connector = Connector("crm", title="CRM"\n'  # never closed: line 2


def crm_workspace(root: Path, source: str) -> Path:
    """A workspace whose own `connectors/crm.py` holds `source`; returns that file."""
    Studio.init(root, accept_terms=True, admin="alice").close()
    (root / "connectors").mkdir()
    path = root / "connectors" / "crm.py"
    path.write_text(source)
    return path


@contextmanager
def connections_page(root: Path, home: Path) -> Iterator[Any]:
    """The admin alice's JupyterLab on `root`, its Connections panel open; yields the page."""
    with alice_lab(root, home) as page:
        command(page, "lpstudio:open-connections")
        yield page


def test_the_connections_panel_says_why_a_workspace_connector_is_missing(tmp_path: Path) -> None:
    """A connector an admin wrote in the workspace that does not load is shown as a notice
    naming its file, the line and the fix, and offered as no type; once corrected, Refresh
    offers it. A connection whose connector broke since is shown that notice when edited,
    not an empty form whose Save would clear its fields."""
    root = tmp_path / "ws"
    source = crm_workspace(root, CRM_BROKEN)
    bad = 'connector = Connector("badfield", title="B", fields=[Field("base url", "URL")])\n'
    (root / "connectors" / "badfield.py").write_text(CRM_HEAD + bad)
    with connections_page(root, tmp_path / "jupyter") as page:
        panel = page.locator(".lps-connections:visible")
        notice = panel.locator(".lps-connector-problem[data-connector=crm]")
        notice.wait_for()
        text = notice.inner_text()
        assert "crm" in text and "connectors/crm.py failed" in text and "line 2" in text, text
        assert "fix: correct the connector's code: line 2 of connectors/crm.py" in text, text
        # How a field is given, said by the API in its terms, is the form's business here.
        named = panel.locator(".lps-connector-problem[data-connector=badfield]").inner_text()
        assert named.endswith("starting with a letter, e.g. api_key"), named
        screenshot(page, "studio-connections-broken-connector")
        panel.locator(".lps-new-connection").click()
        offered = panel.locator("select[name=type] option").evaluate_all(
            "options => options.map(o => o.value)"
        )
        assert "http" in offered and "crm" not in offered, offered

        # Corrected in JupyterLab: Refresh drops the notice and offers the connector.
        source.write_text(CRM)
        panel.get_by_role("button", name="Refresh").click()
        notice.wait_for(state="detached")
        panel.locator(".lps-new-connection").click()
        panel.locator("select[name=type]").select_option("crm")
        panel.locator("input[name=name]").fill("crm-prod")
        panel.locator("input[name=site]").fill("brand")
        panel.locator(".lps-save").click()
        panel.locator("tr[data-connection=crm-prod]").wait_for()

        # Broken again: its connection's Edit shows why, and nothing to save.
        source.write_text(CRM_BROKEN)
        panel.get_by_role("button", name="Refresh").click()
        notice.wait_for()
        panel.locator("tr[data-connection=crm-prod] .lps-edit").click()
        editor = panel.locator(".lps-editor")
        editor.locator(".lps-connector-problem[data-connector=crm]", has_text="line 2").wait_for()
        assert editor.locator(".lps-save").count() == 0
    with Studio.open(root, user="alice") as studio:
        assert studio.connections.values("crm-prod") == ("crm", {"site": "brand"})


def test_editing_a_connection_whose_connector_was_removed_says_so(tmp_path: Path) -> None:
    """A connection whose workspace connector file was deleted keeps its row; its Edit names
    the missing type and the fix, with nothing to save (an empty form's Save would clear
    its fields)."""
    root = tmp_path / "ws"
    source = crm_workspace(root, CRM)
    with Studio.open(root, user="alice") as studio:
        studio.connections.add("crm-prod", "crm", {"site": "brand"}, "alice")
        with studio.store.write() as session:  # a test passed before the file was removed
            session.get_one(ConnectionRow, "crm-prod").status = "connected"
    source.unlink()
    with connections_page(root, tmp_path / "jupyter") as page:
        panel = page.locator(".lps-connections:visible")
        # Not connected: nothing could run it (its row says why, as the CLI and REST do).
        row = panel.locator("tr[data-connection=crm-prod]")
        row.locator(".lps-status-disconnected").wait_for()
        assert "unknown connector type 'crm'" in row.inner_text()
        panel.locator("tr[data-connection=crm-prod] .lps-edit").click()
        notice = panel.locator(".lps-editor .lps-connector-problem[data-connector=crm]")
        notice.wait_for()
        text = notice.inner_text()
        assert "install again the connector package, or restore the connectors/ file" in text, text
        assert "that provided crm" in text, text
        assert "delete this connection" in text, text
        assert panel.locator(".lps-editor .lps-save").count() == 0
        panel.locator(".lps-editor").get_by_role("button", name="Cancel").click()
        notice.wait_for(state="detached")
    with Studio.open(root, user="alice") as studio:
        assert studio.connections.values("crm-prod") == ("crm", {"site": "brand"})


def test_a_project_is_exported_from_the_sidebar_and_imported_under_another_folder(
    tmp_path: Path,
) -> None:
    """The Recipes sidebar's Export downloads the project's package; Import package takes it
    back under another folder and says what it wrote; a second import is refused with the
    fix in the form's terms. A connection imported without its secrets shows as a
    placeholder in the Connections panel, with how to give them."""
    root = tmp_path / "ws"
    with Studio.init(root, accept_terms=True, admin="alice") as studio, studio.store.write() as s:
        studio.connections.add_placeholder("hooks-eu", "http", {}, ["token"], "alice", s)
    write_recipe(root, "shop/report")
    write_recipe(root, "shop/eu/digest")
    package = tmp_path / "downloaded.zip"
    with studio_lab(root, tmp_path / "jupyter") as (url, token), chromium() as browser:
        page = browser.new_context(
            viewport={"width": 1400, "height": 1000},
            extra_http_headers={"X-Test-User": "alice"},
            accept_downloads=True,
        ).new_page()
        page.set_default_timeout(60_000)
        page.goto(f"{url}/lab?token={token}")
        page.locator(".lps-gallery-popup").get_by_role("button", name="Close").click()
        command(page, "lpstudio:open-recipes")
        panel = page.locator(".lps-recipes")
        panel.locator(".lps-recipe[data-recipe='shop/eu/digest.ipynb']").wait_for()

        with page.expect_download() as caught:
            panel.get_by_role("button", name="Export project shop", exact=True).click()
        assert caught.value.suggested_filename == "shop.zip"
        caught.value.save_as(package)
        with zipfile.ZipFile(package) as zipped:
            manifest = json.loads(zipped.read("lpstudio-package.json"))
        assert manifest["folder"] == "shop"
        assert set(manifest["recipes"]) == {"report.ipynb", "eu/digest.ipynb"}

        panel.get_by_role("button", name="Import package").click()
        panel.locator("input[name=package]").set_input_files(package)
        panel.locator("input[name=into]").fill("shop-copy")
        panel.locator(".lps-import-submit").click()
        summary = panel.locator(".lps-import-summary")
        summary.wait_for()
        assert "Imported 2 recipes into shop-copy, stopped." in summary.inner_text()
        copied = panel.locator(".lps-recipe[data-recipe='shop-copy/eu/digest.ipynb']")
        copied.wait_for()
        assert copied.get_attribute("data-state") == "stopped"
        screenshot(page, "studio-import-package")

        panel.locator(".lps-import-submit").click()  # again: the recipes exist now
        refused = panel.locator(".lps-import-result .lps-error")
        refused.wait_for()
        assert 'tick "Replace existing recipes"' in refused.inner_text(), refused.inner_text()

        command(page, "lpstudio:open-connections")
        row = page.locator(".lps-connections:visible tr[data-connection=hooks-eu]")
        assert row.locator(".lps-status-placeholder").inner_text() == "placeholder"
        assert "give them with Edit, then Test" in row.inner_text()
        assert "lpstudio connections update" not in row.inner_text()  # the lab's terms only
    with Studio.open(root, user="alice") as studio:
        assert {r["recipe"] for r in studio.recipes()} >= {
            "shop-copy/report.ipynb",
            "shop-copy/eu/digest.ipynb",
        }


def test_an_output_notebook_opened_as_html_looks_like_a_notebook_and_cannot_act(
    ws: Path,
) -> None:
    """`GET /jobs/<id>/output.html` in a browser: nbconvert's page styled as in JupyterLab
    (its inline styles allowed), its images shown; the markup a cell displayed cannot run,
    nor reach the API as the user, and nothing is fetched from elsewhere (a CDN)."""
    write_recipe(
        ws,
        "lab/report",
        cells=(
            "print('accepted: 42 <b>recipients</b>')",
            f"from IPython.display import HTML, display\ndisplay(HTML({DISPLAYED!r}))",
            "import base64\nfrom IPython.display import Image, display\n"
            f"display(Image(base64.b64decode({PIXEL!r})))",
        ),
    )
    with Studio.open(ws, user="alice") as studio:
        job = studio.run("lab/report.ipynb")
        assert job.status == "succeeded", job.error
    with serving(ws) as server, chromium() as browser:
        page = browser.new_context(
            viewport={"width": 1400, "height": 1000}, extra_http_headers={"X-Test-User": "alice"}
        ).new_page()
        console: list[str] = []
        page.on("console", lambda message: console.append(message.text))
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        answer = page.goto(f"{server.url}{API}/jobs/{job.id}/output.html")
        assert answer is not None and answer.status == 200
        page.locator(".jp-Cell").nth(3).wait_for()
        screenshot(page, "output-notebook-html")

        # Styled like the notebook: JupyterLab's look, and the styles a cell displayed. The
        # page itself breaks no rule of its policy (no style refused, no CDN script tried).
        refused = [text for text in console if "Security Policy" in text]
        assert refused == [], refused
        editor = page.locator(".jp-InputArea-editor").first
        assert editor.evaluate("e => getComputedStyle(e).backgroundColor") != "rgba(0, 0, 0, 0)"
        assert page.locator(".jp-InputPrompt").first.evaluate(
            "e => getComputedStyle(e).fontFamily"
        ) == page.locator(".jp-InputArea-editor pre").first.evaluate(
            "e => getComputedStyle(e).fontFamily"
        )
        assert page.locator("#lps-styled").evaluate("e => getComputedStyle(e).color") == (
            "rgb(10, 120, 30)"
        )
        assert "accepted: 42 <b>recipients</b>" in page.locator(".jp-RenderedText").inner_text()
        assert page.locator(".jp-RenderedImage img").evaluate("e => e.naturalWidth") == 1

        # The displayed markup stays inert: no script, no handler, in an origin of its own.
        assert page.locator("#lps-target").inner_text() == "untouched"
        assert page.evaluate("() => window.origin") == "null"
        elsewhere = [url for url in requested if not url.startswith(server.url)]
        assert elsewhere == [], elsewhere
        assert not any("/recipes/" in url for url in requested), requested
    with Studio.open(ws, user="alice") as studio:
        assert [j.id for j in studio.jobs(limit=10)] == [job.id]  # the script's run never came


def test_a_nullable_boolean_is_a_drop_down_that_keeps_none(tmp_path: Path) -> None:
    """`flag: bool | None = None` offers its default (None), True and False, and one whose
    default is True offers None as well, as the notebook's form does (a checkbox could show
    or keep no None): what is chosen is saved, None too; an untouched default is not."""
    root = tmp_path / "ws"
    Studio.init(root, accept_terms=True, admin="alice").close()
    parameters = "flag: bool | None = None  # maybe\nsure: bool | None = True\nplain: bool = False"
    write_recipe(root, "lab/flags", parameters, cells=("print(flag, sure, plain)",))

    def saved() -> dict[str, Any]:
        with Studio.open(root, user="alice") as studio:
            return saved_settings(studio.store, "lab/flags.ipynb").get("parameters", {})

    with alice_lab(root, tmp_path / "jupyter") as page:
        command(page, "lpstudio:open-settings", {"recipe": "lab/flags.ipynb"})
        form = page.locator(".lps-settings-body:visible")
        flag, sure = form.locator("select[name=flag]"), form.locator("select[name=sure]")
        flag.wait_for()
        options = flag.locator("option").all_text_contents()
        assert options == ["(notebook default)", "True", "False"], options
        options = sure.locator("option").all_text_contents()
        assert options == ["(default: True)", "True", "False", "None"], options
        assert flag.input_value() == "" and sure.input_value() == ""
        assert form.locator("input[name=plain][type=checkbox]").count() == 1  # never None
        flag.select_option(label="False")
        sure.select_option(label="None")
        form.locator(".lps-save").click()
        wait_for(lambda: saved() == {"flag": False, "sure": None}, what="False and None saved")

        # None saved elsewhere shows as the empty choice, the notebook's default; None
        # chosen where the default is True shows as None.
        with Studio.open(root, user="alice") as studio:
            studio.save_settings("lab/flags.ipynb", {"flag": None})
        form.get_by_role("button", name="Refresh").click()
        expect(flag.locator("option:checked")).to_have_text("(notebook default)")
        expect(sure.locator("option:checked")).to_have_text("None")
        flag.select_option(label="True")
        form.locator(".lps-save").click()
        wait_for(lambda: saved() == {"flag": True, "sure": None}, what="True saved, None kept")
        # The form shows what applies once the save's answer is back: choose after that.
        expect(form.locator(".lps-ok")).to_have_text("Settings saved.")
        # The empty choice forgets the saved None: the notebook's True stands again.
        sure.select_option("")
        form.locator(".lps-save").click()
        wait_for(lambda: saved() == {"flag": True}, what="the saved None forgotten")
        expect(sure.locator("option:checked")).to_have_text("(default: True)")
        screenshot(page, "studio-nullable-boolean")


def test_try_recipe_in_the_studio_takes_the_project_as_the_file_browser_shows_it(
    tmp_path: Path,
) -> None:
    """Try recipe into `projects/eu` makes eu/cb_optin.ipynb (not projects/projects/eu); the
    opt-in template tried a second time gets an endpoint of its own, and the studio says it."""
    root = tmp_path / "ws"
    Studio.init(root, accept_terms=True, admin="alice").close()
    with Studio.open(root, user="alice") as studio:
        studio.try_template("cb_optin", "bots")  # serves /call/optin
    with alice_lab(root, tmp_path / "jupyter", close_gallery=False) as page:
        page.locator(".lps-gallery-popup .lps-card[data-template='cb_optin'] .lps-try").click()
        dialog = page.locator(".jp-Dialog", has=page.locator(".lps-try-dialog"))
        dialog.locator("input[name=project]").fill("projects/eu")
        dialog.get_by_role("button", name="Create recipe").click()
        said = "eu/cb_optin.ipynb receives: POST /lpstudio/api/v1/call/optin-2"
        page.get_by_text(said).wait_for()
        screenshot(page, "studio-try-callable")
        # A webhook's try says its hook too (it said nothing: the hook was in its Settings).
        command(page, "lpstudio:open-gallery")  # the pop-up closed as the recipe opened
        page.locator(".lps-gallery .lps-card[data-template='new_lead'] .lps-try").first.click()
        dialog.locator("input[name=project]").fill("eu")
        dialog.get_by_role("button", name="Create recipe").click()
        page.get_by_text("eu/new_lead.ipynb receives: POST /lpstudio/api/v1/hooks/").wait_for()
    assert (root / "projects/eu/cb_optin.ipynb").is_file()
    assert not (root / "projects/projects").exists()
