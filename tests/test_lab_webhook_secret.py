"""A webhook recipe whose connection lacks the secret its deliveries are signed with cannot
start: the lab's Settings says so with the fix in its own terms (the Connections panel), not
the REST route the API's fix names."""

from __future__ import annotations

from pathlib import Path

from lpstudio.sandbox import Sandbox
from lpstudio.studio import Studio

from .test_studio_ui import alice_lab, command


def test_the_settings_of_a_webhook_without_its_secret_say_to_give_it_in_the_panel(
    tmp_path: Path,
) -> None:
    root = tmp_path / "ws"
    with Sandbox() as sandbox:
        Studio.init(root, accept_terms=True, admin="alice", sandbox=sandbox.url).close()
        with Studio.open(root, user="alice") as studio:
            studio.connections.add("hooks", "http", {}, "alice")
            studio.try_template("new_lead", "leads")
            studio.save_settings("leads/new_lead", connections={"http": "hooks"})
        with alice_lab(root, tmp_path / "jupyter") as page:
            command(page, "lpstudio:open-settings", {"recipe": "leads/new_lead.ipynb"})
            problem = page.locator(".lps-settings-body:visible .lps-settings-problem")
            problem.wait_for()
            said = problem.inner_text()
    assert "connection 'hooks' has no token" in said, said
    assert "give hooks its token with Edit in the Connections panel" in said, said
    assert "PUT /lpstudio" not in said and "lpstudio connections" not in said, said
