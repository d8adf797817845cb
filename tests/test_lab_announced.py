"""What the lab's actions did, said to a screen reader and marked on the field they name, in a
real JupyterLab in chromium.

A Save's result is a status and a Test's failure an alert, the slot whose connection failed
marked invalid and described by it; a connection's Test in the Connections panel is said
above its table, once (not again in its row); Import package's and Try recipe's refusals (a
package not chosen too) name the field by the label the user sees (not the REST API's `into`,
`name`), mark it and put the keyboard's focus on it.

One JupyterLab serves the module's tests (each opens its own page), to spare the machine.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from lpstudio.packages import export_project
from lpstudio.studio import Studio

from .conftest import write_recipe
from .test_studio_bad_input import open_settings
from .test_studio_ui import admin_pages, command

CRM = "lab/crm.ipynb"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Any]]:
    """A workspace whose lab/crm fills its slot crm with the http connection crm, whose host
    never answers; lab/ exported as a package; served by one JupyterLab. Yields the
    package's path and `admin_page`, a page of the admin alice's."""
    tmp = tmp_path_factory.mktemp("announced")
    root = tmp / "ws"
    Studio.init(root, accept_terms=True, admin="alice").close()
    slots = {"crm": {"type": "http"}}
    write_recipe(root, "lab/crm", metadata={"title": "crm", "connections": slots})
    package = tmp / "lab.zip"
    with Studio.open(root, user="alice") as studio:
        studio.connections.add("crm", "http", {"base_url": "http://127.0.0.1:9/"}, "alice")
        studio.save_settings(CRM, connections={"crm": "crm"})
        out = io.BytesIO()
        export_project(studio, "lab", out, field="project")
        package.write_bytes(out.getvalue())
    with admin_pages(root, tmp / "jupyter") as admin_page:
        yield package, admin_page


def settled(page: Any) -> None:
    """Once the launcher JupyterLab opens has taken the focus (once, from whatever held it)."""
    page.wait_for_function("() => document.activeElement?.closest('.jp-Launcher')")


def import_package(page: Any, package: Path | None, into: str | None) -> Any:
    """The Recipes panel's import form, given `package` and `into` (each left empty when
    None) and submitted: the form, to read what it says."""
    settled(page)
    command(page, "lpstudio:open-recipes")
    panel = page.locator(".lps-recipes:visible")
    panel.get_by_role("button", name="Import package", exact=True).click()
    form = panel.locator(".lps-importer")
    if package is not None:
        form.locator("input[name=package]").set_input_files(package)
    if into is not None:
        form.get_by_label("Into folder").fill(into)
    form.locator(".lps-import-submit").click()
    return form


def test_a_save_is_a_status_and_a_failed_test_an_alert_on_the_slot_it_names(
    lab: tuple[Path, Any],
) -> None:
    _, admin_page = lab
    with admin_page() as page:
        form = open_settings(page, CRM, "x")
        form.locator(".lps-save").click()
        expect(form.locator(".lps-message").get_by_role("status")).to_have_text("Settings saved.")

        # Its connection does not answer: said as an alert, and its slot marked by it.
        form.locator(".lps-test").click()
        alert = form.locator(".lps-test-results li[data-connection=crm]").get_by_role("alert")
        expect(alert).to_contain_text("crm: disconnected")
        slot = form.locator("select[name='connection-crm']")
        expect(slot).to_have_attribute("aria-invalid", "true")
        expect(slot).to_have_accessible_description(re.compile("crm: disconnected"))
        # Its run ends (a test sends nothing, and the slot's connection is not called),
        # said as a status.
        ended = form.locator(".lps-test-run[data-status]")
        ended.wait_for(timeout=120_000)
        expect(ended.get_by_role("status")).to_contain_text("succeeded")


def test_a_connection_s_test_is_said_above_the_table(lab: tuple[Path, Any]) -> None:
    _, admin_page = lab
    with admin_page() as page:
        command(page, "lpstudio:open-connections")
        panel = page.locator(".lps-connections:visible")
        panel.get_by_role("button", name="Test connection crm", exact=True).click()
        said = panel.locator(".lps-message").get_by_role("alert")
        expect(said).to_contain_text("Test of crm: disconnected")
        expect(said).to_contain_text("Connection refused")
        # Said there once: its row, where nothing is said to a screen reader, leaves it out.
        expect(panel.get_by_text("Connection refused")).to_have_count(1)
        expect(panel.locator("tr[data-connection=crm]")).to_contain_text("disconnected")


def test_an_import_into_a_bad_folder_names_and_marks_into_folder(lab: tuple[Path, Any]) -> None:
    package, admin_page = lab
    with admin_page() as page:
        form = import_package(page, package, "/etc")
        into = form.get_by_label("Into folder")
        refused = form.locator(".lps-import-result").get_by_role("alert")
        expect(refused).to_contain_text("Into folder: project folder /etc is outside projects/")
        expect(refused).to_contain_text("field: Into folder")
        expect(refused).not_to_contain_text("into")
        expect(into).to_have_attribute("aria-invalid", "true")
        expect(into).to_have_accessible_description(re.compile("Into folder: project folder"))
        expect(into).to_be_focused()


def test_an_import_s_fix_for_a_saved_secret_says_where_the_lab_sets_it(
    lab: tuple[Path, Any],
) -> None:
    """A package whose saved parameter holds a secret of this workspace: its fix ended "then
    give it its value here with PUT /lpstudio/api/v1/recipes/lab/ps/reminder/settings {...}",
    a REST route in JupyterLab."""
    package, admin_page = lab
    root, secret = package.parent / "ws", "tok-7e1c9a4f-secret"
    write_recipe(root, "ps/reminder", "skill: str = 'sales'  # the skill")
    with Studio.open(root, user="alice") as studio:
        studio.save_settings("ps/reminder", {"skill": secret})
        out = io.BytesIO()
        export_project(studio, "ps", out, field="project")
        studio.connections.add("vault", "http", {"token": secret}, "alice")
    secreted = package.with_name("ps.zip")
    secreted.write_bytes(out.getvalue())
    with admin_page() as page:
        form = import_package(page, secreted, "lab/ps")
        refused = form.locator(".lps-import-result").get_by_role("alert")
        expect(refused).to_contain_text("parameter 'skill' holds the secret of a connection")
        expect(refused).to_contain_text(
            "import it again; then set skill in the Settings of lab/ps/reminder and Save"
        )
        expect(refused).not_to_contain_text("/lpstudio/api/v1")


def test_an_import_without_a_package_marks_and_focuses_the_package_field(
    lab: tuple[Path, Any],
) -> None:
    _, admin_page = lab
    with admin_page() as page:
        form = import_package(page, None, None)
        refused = form.locator(".lps-import-result").get_by_role("alert")
        expect(refused).to_contain_text("Package (.zip): none chosen")
        expect(refused).to_contain_text("field: Package (.zip)")
        package = form.get_by_label("Package (.zip)")
        expect(package).to_have_attribute("aria-invalid", "true")
        expect(package).to_have_accessible_description(
            re.compile("Package \\(.zip\\): none chosen")
        )
        expect(package).to_be_focused()


def test_try_recipe_s_refusal_names_marks_and_focuses_its_field(lab: tuple[Path, Any]) -> None:
    _, admin_page = lab
    with admin_page() as page:
        settled(page)
        command(page, "lpstudio:open-gallery")
        page.locator(".lps-gallery .lps-card[data-template='new_lead'] .lps-try").first.click()
        dialog = page.locator(".lps-try-dialog")
        project, name = dialog.get_by_label("Project folder"), dialog.get_by_label("Recipe name")
        expect(project).to_be_focused()  # the first field, when it opens
        project.fill("lab")
        name.fill("  ")
        page.get_by_role("button", name="Create recipe").click()
        refused = dialog.get_by_role("alert")
        expect(refused).to_contain_text("field: Recipe name")
        expect(name).to_have_attribute("aria-invalid", "true")
        expect(name).to_have_accessible_description(re.compile("is blank"))
        expect(project).not_to_have_attribute("aria-invalid", re.compile(".*"))
        expect(name).to_be_focused()
