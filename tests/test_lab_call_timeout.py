"""The lab's Settings of a callable recipe give its own call timeout (how long its caller
waits for its answer), saved with the rest as `lpstudio settings --call-timeout` and the
REST API save it; a value the API refuses is marked on its field; emptied, the server's
applies again, shown as its number (15 s by default). One past what a Conversation
Builder bot waits is warned of, by its Save and whenever the Settings show it, its field
marked as warned (not invalid). Other recipes show no such field.
In a real JupyterLab in chromium."""

from __future__ import annotations

import json
import re
from pathlib import Path

from click.testing import CliRunner
from playwright.sync_api import Locator, expect

from lpstudio.cli import main
from lpstudio.studio import Studio

from .conftest import write_recipe
from .test_studio_ui import alice_lab, command

BOT, PLAIN = "b/bot.ipynb", "b/plain.ipynb"
CALLABLE = {
    "title": "bot",
    "trigger": {"kind": "callable", "path": "bot", "input_schema": {"type": "object"}},
}


def settings_of(root: Path, recipe: str) -> dict:
    """`lpstudio settings RECIPE --json`, as a script reads it."""
    said = CliRunner().invoke(main, ["settings", recipe, "--json", "--workspace", str(root)])
    assert said.exit_code == 0, said.output
    return json.loads(said.stdout)


def warned(form: Locator, field: Locator) -> None:
    """The Call timeout field pointed at by its warning, as a warning: its own mark and its
    description, neither "invalid" to a screen reader nor taking the focus as a refusal."""
    label = form.locator("[data-field=call_timeout]")
    expect(label).to_have_class(re.compile(r"\blps-field-warned\b"))
    expect(label).not_to_have_class(re.compile("lps-field-invalid"))
    expect(field).not_to_have_attribute("aria-invalid", re.compile(".*"))
    expect(field).to_have_accessible_description(re.compile("outlasts a Conversation Builder"))
    expect(field).not_to_be_focused()


def test_a_callable_s_call_timeout_is_set_refused_and_reset_in_its_settings(
    tmp_path: Path,
) -> None:
    root = tmp_path / "ws"
    Studio.init(root, accept_terms=True, admin="alice").close()
    write_recipe(root, BOT.removesuffix(".ipynb"), metadata=CALLABLE)
    write_recipe(root, PLAIN.removesuffix(".ipynb"))
    with alice_lab(root, tmp_path / "jupyter") as page:
        command(page, "lpstudio:open-settings", {"recipe": BOT})
        form = page.locator(".lps-settings-body:visible")
        field = form.locator("input[name=call_timeout]")
        message, save = form.locator(".lps-message"), form.locator(".lps-save")
        expect(form.locator("[data-field=call_timeout]")).to_contain_text("Call timeout (seconds)")
        expect(field).to_have_value("")
        # The number the server's caller waits: 15 s unless it is configured otherwise.
        expect(field).to_have_attribute("placeholder", "15 s, the server's default")
        expect(form.locator("[data-field=call_timeout] .lps-field-help")).to_contain_text(
            "empty: 15 s, the server's default"
        )

        field.fill("601")
        save.click()
        expect(message.locator(".lps-error")).to_contain_text(
            "call_timeout: 601 is greater than the maximum of 600"
        )
        expect(field).to_have_attribute("aria-invalid", "true")
        assert "call_timeout" not in settings_of(root, BOT)  # nothing saved

        field.fill("45")  # saved, and said past a Conversation Builder bot's 20 s
        save.click()
        expect(message.locator(".lps-warning")).to_contain_text("outlasts a Conversation Builder")
        assert settings_of(root, BOT)["call_timeout"] == 45
        expect(field).to_have_value("45")
        warned(form, field)
        # Shown again (opened, Refresh): said as it stands, not only by the Save that made it.
        form.locator(".lps-refresh").click()
        expect(message.locator(".lps-warning[role=status]")).to_contain_text(
            "a call timeout of 45 s outlasts a Conversation Builder caller"
        )
        warned(form, field)

        field.fill("12")
        save.click()
        expect(message.locator(".lps-ok")).to_be_visible()
        expect(field).not_to_have_attribute("aria-invalid", re.compile(".*"))
        assert settings_of(root, BOT)["call_timeout"] == 12
        expect(field).to_have_value("12")
        expect(message.locator(".lps-warning")).to_have_count(0)
        expect(form.locator("[data-field=call_timeout]")).not_to_have_class(
            re.compile("lps-field-warned")
        )
        expect(field).not_to_have_attribute("aria-describedby", re.compile(".*"))

        field.fill("")  # the server's again
        save.click()
        expect(message.locator(".lps-ok")).to_be_visible()
        expect(field).to_have_value("")
        assert "call_timeout" not in settings_of(root, BOT)

        command(page, "lpstudio:open-settings", {"recipe": PLAIN})
        plain = page.locator(".lps-settings-body:visible")
        expect(plain.locator(".lps-hint").first).to_have_text(PLAIN)
        expect(plain.locator("input[name=call_timeout]")).to_have_count(0)
