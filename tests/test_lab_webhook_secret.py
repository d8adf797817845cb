"""A webhook recipe cannot start without a connection for each of its slots, nor with one
lacking the secret its deliveries are signed with: the lab's Settings says so with the fix
in its own terms (the Connections panel, and what each connection must be given), not the
REST routes the API's fix names."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import expect

from lpstudio.studio import Studio

from .test_studio_ui import alice_lab, command

LIVEPERSON = {"account_id": "1", "client_id": "c", "client_secret": "s3cret-app-secret"}


def test_the_settings_of_a_webhook_recipe_say_what_each_connection_needs_in_the_panel(
    tmp_path: Path,
) -> None:
    root = tmp_path / "ws"
    Studio.init(root, accept_terms=True, admin="alice").close()
    with Studio.open(root, user="alice") as studio:
        studio.try_template("new_lead", "leads")
    with alice_lab(root, tmp_path / "jupyter") as page:
        command(page, "lpstudio:open-settings", {"recipe": "leads/new_lead.ipynb"})
        form = page.locator(".lps-settings-body:visible")
        problem = form.locator(".lps-settings-problem")
        problem.wait_for()
        # Its header names the trigger's plain settings, not its input schema's JSON.
        chip = form.locator(".lps-recipe-meta .lps-chip").inner_text()
        assert chip.startswith("trigger ") and "connection: http" in chip, chip
        assert "input_schema" not in chip and "{" not in chip, chip
        # No connection for either slot: the fix said to create a http one, which made so
        # (without its token) was refused again, then for the liveperson slot. Each one to
        # create is named, with the fields it must be given.
        fix = (
            "create a http connection with its token, and a liveperson_proactive connection "
            "with its account_id, client_id and client_secret, in the Connections panel; "
            "then choose each for its slot (http, liveperson) under Connections {} and Save"
        )
        said = problem.inner_text()
        assert fix.format("below") in said, said
        form.locator(".lps-start").click()
        refused = form.locator(".lps-message .lps-error")
        refused.wait_for()
        said = refused.inner_text()
        assert "nor a liveperson_proactive connection for slot 'liveperson'" in said, said
        assert fix.format("above") in said, said
        assert "POST /lpstudio" not in said and "lpstudio connections" not in said, said

        # A http connection made without its token all the same.
        with Studio.open(root, user="alice") as studio:
            studio.connections.add("hooks", "http", {}, "alice")
            studio.connections.add("liveperson", "liveperson_proactive", LIVEPERSON, "alice")
        form.locator(".lps-refresh").click()
        expect(problem).to_contain_text("connection 'hooks' has no token")
        said = problem.inner_text()
    assert "give hooks its token with Edit in the Connections panel" in said, said
    assert "PUT /lpstudio" not in said and "lpstudio connections" not in said, said
