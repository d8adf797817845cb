"""The Recipes sidebar says when a started recipe cannot run, with the fix in the lab's terms,
and its Settings mend it; and when two recipes' names look the same. A real JupyterLab in
chromium.

A started schedule whose saved value its notebook, edited since, now refuses, and a webhook
started by an older lpstudio with a connection lacking its signing secret, looked fine in
the lab while every run and delivery was refused: `lpstudio recipes` and `GET /recipes` said
so (`settings_problem`), the lab's rows did not. Their fix is the API's, naming its routes:
the row says the lab's (its Settings, the Connections panel), as the Settings panel does.
"""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import expect

from lpstudio.studio import Studio

from .conftest import set_settings, write_recipe
from .test_lab_webhook_secret import LIVEPERSON
from .test_studio_ui import alice_lab, command

TRIGGER = {"kind": "schedule", "cron": "0 9 * * *", "timezone": "UTC"}
DAILY, WEEKLY, HOOK = "ops/daily.ipynb", "ops/weekly.ipynb", "leads/new_lead.ipynb"
PARAMETERS = "days: int = 7  # days to look back"
#: The same name on screen, its accent written composed (NFC) and decomposed (NFD, a Mac's).
COMPOSED, DECOMPOSED = "ops/caf\u00e9.ipynb", "ops/cafe\u0301.ipynb"


def _daily(root: Path, **refined: object) -> None:
    """ops/daily, a schedule with a `days` parameter, its notebook refining it as given."""
    metadata = {"title": "daily", "trigger": TRIGGER, "parameters": {"days": refined}}
    write_recipe(root, DAILY.removesuffix(".ipynb"), parameters=PARAMETERS, metadata=metadata)


def _in_lab_terms(said: str) -> None:
    assert "lpstudio " not in said and "/api/v1" not in said and "PUT " not in said, said


def test_a_started_recipe_that_cannot_run_says_so_on_its_row_and_its_settings_mend_it(
    tmp_path: Path,
) -> None:
    root = tmp_path / "ws"
    Studio.init(root, accept_terms=True, admin="alice").close()
    _daily(root)
    write_recipe(root, "ops/weekly", metadata={"title": "weekly", "trigger": TRIGGER})
    for name in (COMPOSED, DECOMPOSED):
        write_recipe(root, name.removesuffix(".ipynb"), metadata={"title": name})
    with Studio.open(root, user="alice") as studio:
        studio.store.dismiss_gallery_popup("alice")
        studio.save_settings(DAILY, {"days": 30})
        studio.start(DAILY)
        studio.start(WEEKLY)
        studio.try_template("new_lead", "leads")
        studio.connections.add("crm2", "http", {}, "alice")  # no token to check signatures
        studio.connections.add("liveperson", "liveperson_proactive", LIVEPERSON, "alice")
        # Started by an older lpstudio, which did not ask for the token.
        set_settings(studio.store, HOOK, state="started", connections={"http": "crm2"})
    _daily(root, maximum=14)  # the notebook edited since: 30 days no longer pass
    # Edited since to read a file through a connection, of a type no connection is.
    slots = {"files": {"type": "csv_file"}}
    metadata = {"title": "weekly", "trigger": TRIGGER, "connections": slots}
    write_recipe(root, "ops/weekly", metadata=metadata)

    with alice_lab(root, tmp_path / "jupyter", close_gallery=False) as page:
        command(page, "lpstudio:open-recipes")
        daily = page.locator(f".lps-recipe[data-recipe='{DAILY}']")
        problem = daily.locator(".lps-settings-problem")
        expect(problem).to_contain_text("started but cannot run: parameter 'days' is invalid")
        said = problem.inner_text()
        assert "30 is greater than the maximum of 14" in said, said
        assert f"fix: correct days in the Settings of {DAILY}, then Save" in said, said
        _in_lab_terms(said)

        hook = page.locator(f".lps-recipe[data-recipe='{HOOK}']")
        said = hook.locator(".lps-settings-problem").inner_text()
        assert "started but cannot run: connection 'crm2' has no token" in said, said
        fix = "give it the secret the sender signs with: give crm2 its token with Edit"
        assert f"\nfix: {fix} in the Connections panel" in said, said
        _in_lab_terms(said)

        # A slot no connection fills: the Connections panel makes one, its Settings choose it.
        said = page.locator(
            f".lps-recipe[data-recipe='{WEEKLY}'] .lps-settings-problem"
        ).inner_text()
        assert "started but cannot run: no csv_file connection for slot 'files'" in said, said
        fix = "create a csv_file connection with its path in the Connections panel, then choose it"
        assert f"\nfix: {fix} for files in the Settings of {WEEKLY} and Save" in said, said
        _in_lab_terms(said)

        # Each row says which of the two look-alike names to rename, and where.
        for name, which in ((DECOMPOSED, "this one"), (COMPOSED, "the other")):
            said = page.locator(f".lps-recipe[data-recipe='{name}'] .lps-name-problem").inner_text()
            assert "has the same name on screen as another recipe" in said, said
            assert f"rename {which} in JupyterLab's file browser" in said, said
        assert page.locator(".lps-recipe .lps-settings-problem").count() == 3

        # Its Settings, the row's button marked as the way to mend it, show the problem on
        # the field and mend it: a value the notebook takes saved, the row says no more.
        settings = daily.locator(".lps-open-settings.lps-primary")
        expect(settings).to_have_accessible_name(f"Settings recipe {DAILY.removesuffix('.ipynb')}")
        settings.click()
        form = page.locator(".lps-settings-body:visible")
        days = form.locator("input[name=days]")
        expect(days).to_have_attribute("aria-invalid", "true")
        days.fill("10")
        form.locator(".lps-save").click()
        form.locator(".lps-message .lps-ok").wait_for()
        expect(problem).to_have_count(0)
        expect(daily.locator(".lps-open-settings")).not_to_have_class(
            re.compile(r"\blps-primary\b")
        )
        expect(hook.locator(".lps-settings-problem")).to_have_count(1)
