"""The studio's generated forms (ui/src/form.ts) refuse what the browser cannot read, in a real
JupyterLab in chromium: a number input holding `3e` or a date input missing its day has no
value (`validity.badInput`), and read as an emptied field it would forget the saved value.
Refused before anything is sent, the field is named and marked with the fix, and the saved
value stays; a field emptied on purpose still goes back to the default.

One JupyterLab serves the module's tests (each opens its own page), to spare the machine.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lpstudio.settings import saved_settings
from lpstudio.studio import Studio

from .test_studio_ui import admin_pages, command

RECIPE = "billing/reminder.ipynb"
WRITES = re.compile(r"/lpstudio/api/v1/(recipes|connections)/")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Any]]:
    """A workspace with the gallery's payment reminder tried as billing/reminder and an http
    connection `http` retrying twice, served by one JupyterLab; yields its root and
    `admin_page`, which opens a page of the admin alice in a chromium of its own."""
    tmp = tmp_path_factory.mktemp("bad-input")
    root = tmp / "ws"
    Studio.init(root, accept_terms=True, admin="alice").close()
    with Studio.open(root, user="alice") as studio:
        studio.try_template("payment_reminder", "billing", "reminder")
        studio.connections.add("http", "http", {"retries": 2}, "alice")
    with admin_pages(root, tmp / "jupyter") as admin_page:
        yield root, admin_page


def saved(root: Path) -> dict[str, Any]:
    with Studio.open(root, user="alice") as studio:
        return saved_settings(studio.store, RECIPE).get("parameters", {})


def writes(page: Any) -> list[str]:
    """The writes the page sends to the studio's API from now on (filled as they go)."""
    sent: list[str] = []
    page.on(
        "request",
        lambda r: (
            sent.append(f"{r.method} {r.url}")
            if r.method != "GET" and WRITES.search(r.url)
            else None
        ),
    )
    return sent


def retype(input_: Any, text: str) -> None:
    """Selects all the input holds and types `text` over it, key by key, as a user does (a
    number input takes `e`, as in 3e5, and then holds no value)."""
    input_.click()
    input_.press("Control+A")
    input_.press_sequentially(text)


def bad_input(input_: Any) -> bool:
    return input_.evaluate("i => i.validity.badInput")


def said(box: Any, button: Any) -> str:
    """Clicks `button` and returns what the message `box` then says."""
    box.evaluate("m => m.replaceChildren()")
    button.click()
    box.locator(".lps-ok, .lps-error").first.wait_for()
    return box.inner_text()


def marked(form: Any) -> list[str]:
    return form.locator(".lps-field-invalid").evaluate_all("ls => ls.map(l => l.dataset.field)")


def open_settings(page: Any, recipe: str, field: str) -> Any:
    """The Settings panel of `recipe`, shown once its input `field` is."""
    command(page, "lpstudio:open-settings", {"recipe": recipe})
    form = page.locator(".lps-settings-body:visible")
    form.locator(f"input[name={field}]").wait_for()
    return form


def settings_of(page: Any) -> Any:
    """The Settings panel of billing/reminder, shown."""
    return open_settings(page, RECIPE, "days_ahead")


def test_a_number_the_browser_cannot_read_is_refused_and_the_saved_one_kept(
    lab: tuple[Path, Any],
) -> None:
    root, admin_page = lab
    with Studio.open(root, user="alice") as studio:
        studio.save_settings(RECIPE, {"days_ahead": 30})
    with admin_page() as page:
        form = settings_of(page)
        message, save = form.locator(".lps-message"), form.locator(".lps-save")
        days = form.locator("input[name=days_ahead]")
        assert days.input_value() == "30"
        retype(days, "3e")
        assert bad_input(days) and days.input_value() == ""
        sent = writes(page)
        text = said(message, save)
        assert "days_ahead: not a number" in text, text
        assert "field: days_ahead" in text and "fix: type a whole number" in text, text
        assert marked(form) == ["days_ahead"]
        assert sent == [] and saved(root) == {"days_ahead": 30}
        # Test and Run now save first: refused the same way, nothing run.
        text = said(message, form.locator(".lps-test"))
        assert "days_ahead: not a number" in text and sent == [], (text, sent)

        # Emptied on purpose, the field still forgets the saved value: the default again.
        days.fill("")
        assert not bad_input(days)
        assert said(message, save) == "Settings saved."
        assert saved(root) == {} and days.input_value() == "7"
        assert "days_ahead" not in marked(form)  # (the empty liveperson slot is marked)


def test_a_date_missing_a_part_is_refused_and_the_saved_one_kept(lab: tuple[Path, Any]) -> None:
    root, admin_page = lab
    with admin_page() as page:
        form = settings_of(page)
        message, save = form.locator(".lps-message"), form.locator(".lps-save")
        today = form.locator("input[name=today]")
        today.fill("2026-05-12")
        assert said(message, save) == "Settings saved."
        assert saved(root).get("today") == "2026-05-12"
        today.focus()  # its first part (the month, in chromium's en-US)
        today.press("Backspace")
        assert bad_input(today) and today.input_value() == ""
        sent = writes(page)
        text = said(message, save)
        assert "today: not a whole date" in text and "field: today" in text, text
        assert marked(form) == ["today"]
        assert sent == [] and saved(root).get("today") == "2026-05-12"


def test_a_connections_number_the_browser_cannot_read_is_refused(lab: tuple[Path, Any]) -> None:
    root, admin_page = lab
    with admin_page() as page:
        command(page, "lpstudio:open-connections")
        panel = page.locator(".lps-connections:visible")
        panel.get_by_role("button", name="Edit connection http", exact=True).click()
        editor = panel.locator(".lps-editor")
        retries = editor.locator("input[name=retries]")
        assert retries.input_value() == "2"
        retype(retries, "2e")
        assert bad_input(retries)
        sent = writes(page)
        editor.locator(".lps-save").click()
        # Refused, the editor says why; saved, it closes.
        editor.locator(".lps-message .lps-error").or_(panel.locator(".lps-editor:empty")).wait_for(
            state="attached"
        )
        text = editor.inner_text()
        assert "not a number" in text and "field: retries" in text, text
        assert "fix: type a whole number" in text, text
        assert marked(editor) == ["retries"]
        assert sent == []
        with Studio.open(root, user="alice") as studio:
            assert studio.connections.values("http") == ("http", {"retries": 2})


def test_a_field_set_to_the_notebooks_default_stores_nothing(lab: tuple[Path, Any]) -> None:
    """Typed back to the notebook's default, a field was saved as a copy of it, pinned: a
    later change of the default did not apply (the notebook's form stored nothing)."""
    root, admin_page = lab
    with Studio.open(root, user="alice") as studio:
        studio.save_settings(RECIPE, {"campaign_name": "Other", "days_ahead": 30})
    with admin_page() as page:
        form = settings_of(page)
        message, save = form.locator(".lps-message"), form.locator(".lps-save")
        retype(form.locator("input[name=campaign_name]"), "Payment reminder")
        retype(form.locator("input[name=days_ahead]"), "7")
        assert said(message, save) == "Settings saved."
    assert "campaign_name" not in saved(root) and "days_ahead" not in saved(root), saved(root)
