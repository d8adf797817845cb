"""A recipe's versions, and their restore, in a real JupyterLab in chromium.

The lab had no way to list a recipe's versions or restore one: a notebook broken on disk,
whose fix says to restore an earlier version, was mended only by `lpstudio restore` in a
terminal. Its Versions view (from its Settings, the `lpstudio:open-versions` command, and
the Recipes sidebar's row of a recipe whose notebook no longer loads) lists them newest
first, with Restore for a role that may build; a restore asks first, then writes the
version's notebook and settings back, reloads an open tab of the notebook, and keeps the
keyboard's focus.

One JupyterLab serves the module's tests (each opens its own page).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest

from lpstudio.settings import saved_settings
from lpstudio.studio import Studio

from .browser import dialog_shown, user_page
from .conftest import wait_for, write_recipe
from .test_studio_ui import command, studio_lab

OLD, BROKEN = "lab/versioned.ipynb", "lab/broken.ipynb"
SLOT = {"data": {"type": "csv_file"}}
#: A broken notebook's restore, as the lab says it (`lab_terms.json`).
FIX = (
    "restore an earlier version: Versions (in the recipe's Settings, or its row in the Recipes "
    "sidebar), then Restore on the version"
)


def versioned(root: Path) -> tuple[str, str]:
    """lab/versioned, saved twice: first doubling x (x=3, its slot bound to csv-a), then
    tripling it (x=5, csv-b). Returns the two versions' ids, older first."""
    made = []
    with Studio.open(root, user="alice") as studio:
        for cell, x, connection in (("y = x * 2", 3, "csv-a"), ("y = x * 3", 5, "csv-b")):
            write_recipe(
                root, "lab/versioned", cells=(cell,), metadata={"title": "v", "connections": SLOT}
            )
            studio.save_settings(OLD, {"x": x}, connections={"data": connection})
            made.append(studio.versions(OLD)[0]["id"])
    assert made[0] != made[1]
    return made[0], made[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Any]]:
    """A workspace with two csv_file connections, lab/versioned (`versioned`) and
    lab/broken (a version of it saved, then its file cut short: no JSON); olga an operator.
    Yields its root and `open_page(user)`, a page of that user's."""
    tmp = tmp_path_factory.mktemp("versions")
    root, home = tmp / "ws", tmp / "jupyter"
    Studio.init(root, accept_terms=True, admin="alice").close()
    with Studio.open(root, user="olga"):
        pass  # seen once, then made an operator
    with Studio.open(root, user="alice") as studio:
        studio.set_role("olga", "operator")
        studio.store.dismiss_gallery_popup("alice")
        for name in ("csv-a", "csv-b"):
            studio.connections.add(name, "csv_file", {"path": f"{name}.csv"}, "alice")
    with studio_lab(root, home) as (url, token):

        def open_page(user: str = "alice") -> AbstractContextManager[Any]:
            return user_page(user, url, token)

        yield root, open_page


def restore_from_the_keyboard(page: Any, panel: Any, version: str, tab: bool = False) -> None:
    """Restores `version` from the keyboard: Enter on its Restore, then the dialog's Restore
    (the dialog says what a restore does, and, with a `tab` of the notebook open, that the
    tab is reloaded)."""
    restore = panel.get_by_role("button", name=f"Restore version {version[:12]}", exact=True)
    restore.focus()
    page.keyboard.press("Enter")
    dialog = dialog_shown(page)
    said = dialog.inner_text()
    assert f"Restore version {version[:12]}" in said, said
    assert "written back over projects/" in said and "kept as a version first" in said, said
    assert ("reloaded with the restored notebook" in said) == tab, said
    dialog.get_by_role("button", name="Restore").click()


def test_an_analyst_restores_an_older_version_and_the_open_notebook_shows_it(
    lab: tuple[Path, Any],
) -> None:
    root, open_page = lab
    older, newer = versioned(root)
    with Studio.open(root, user="alice") as studio:
        was = studio.store.version_notebook(older)
    with open_page() as page:
        # Its notebook open in a tab, showing the newer cell.
        command(page, "docmanager:open", {"path": f"projects/{OLD}"})
        page.locator(".jp-Notebook .jp-Cell", has_text="y = x * 3").wait_for()
        command(page, "lpstudio:open-settings", {"recipe": OLD})
        page.locator(".lps-settings-body:visible").get_by_role("button", name="Versions").click()

        panel = page.locator(".lps-versions:visible")
        rows = panel.locator("tr.lps-version")
        rows.nth(1).wait_for()
        assert [rows.nth(i).get_attribute("data-version") for i in range(2)] == [newer, older]
        first = rows.nth(0).inner_text()
        assert "newest" in first and "alice" in first, first
        assert "parameters: x=5; connections: data=csv-b" in first, first
        assert "parameters: x=3; connections: data=csv-a" in rows.nth(1).inner_text()

        restore_from_the_keyboard(page, panel, older, tab=True)
        panel.locator(
            "[role=status]", has_text=f"Restored {OLD} to version {older[:12]}"
        ).wait_for()
        # The list is refreshed: the version restored is the newest again.
        panel.locator(f"tr.lps-version[data-version='{older}'] .lps-chip").wait_for()
        focused = page.evaluate("document.activeElement.getAttribute('aria-label')")
        assert focused == f"Restore version {older[:12]}", focused
        # The open tab shows the restored notebook (it had no unsaved changes).
        # The open tab shows the restored notebook (its unsaved changes, a started kernel's
        # metadata, were said to be lost).
        page.get_by_role("tab", name="versioned.ipynb", exact=True).click()
        page.locator(".jp-Notebook .jp-Cell", has_text="y = x * 2").wait_for()
        assert page.locator(".jp-Notebook .jp-Cell", has_text="y = x * 3").count() == 0

    with Studio.open(root, user="alice") as studio:
        assert studio.recipe(OLD).canonical_json == was  # it reads back as the version
        settings = saved_settings(studio.store, OLD)
    assert settings["parameters"] == {"x": 3}
    assert settings["connections"] == {"data": "csv-a"}


def test_an_operator_sees_the_versions_without_restore(lab: tuple[Path, Any]) -> None:
    root, open_page = lab
    write_recipe(root, "lab/watched")
    with Studio.open(root, user="alice") as studio:
        studio.save_settings("lab/watched.ipynb", {"x": 2})
    with open_page("olga") as page:
        command(page, "lpstudio:open-settings", {"recipe": "lab/watched.ipynb"})
        page.locator(".lps-settings-body:visible").get_by_role("button", name="Versions").click()
        panel = page.locator(".lps-versions:visible")
        panel.locator("tr.lps-version", has_text="parameters: x=2").wait_for()
        assert panel.locator(".lps-restore").count() == 0


def test_a_notebook_that_is_not_json_is_restored_from_the_recipes_sidebar(
    lab: tuple[Path, Any],
) -> None:
    root, open_page = lab
    path = write_recipe(root, "lab/broken")
    good = path.read_text()
    with Studio.open(root, user="alice") as studio:
        version = studio.store.snapshot(BROKEN, good, {}, "alice")
    path.write_text(good[: len(good) // 2])  # cut short: no JSON
    with open_page() as page:
        command(page, "lpstudio:open-recipes")
        row = page.locator(f".lps-recipes .lps-recipe[data-recipe='{BROKEN}']")
        problem = row.locator(".lps-problem").inner_text()
        assert "its JSON is broken at line" in problem, problem
        assert FIX in problem, problem
        assert "lpstudio " not in problem and "/api/v1" not in problem, problem
        # Its Settings cannot show it: they say why, with the same fix, and offer Versions.
        command(page, "lpstudio:open-settings", {"recipe": BROKEN})
        settings = page.locator(".lps-settings-body:visible")
        assert FIX in settings.locator(".lps-error-fix").inner_text()
        settings.get_by_role("button", name="Versions").wait_for()
        command(page, "lpstudio:open-recipes")
        row.get_by_role("button", name="Versions recipe lab/broken", exact=True).focus()
        page.keyboard.press("Enter")

        panel = page.locator(".lps-versions:visible")
        panel.locator(f"tr.lps-version[data-version='{version}']").wait_for()
        restore_from_the_keyboard(page, panel, version)
        panel.locator("[role=status]", has_text=f"Restored {BROKEN}").wait_for()
        # Mended: the sidebar's row loads it again, with no problem and no Versions.
        command(page, "lpstudio:open-recipes")
        page.locator(
            f".lps-recipes .lps-recipe[data-recipe='{BROKEN}'] .lps-open-settings"
        ).wait_for()
        wait_for(lambda: row.locator(".lps-problem").count() == 0, what="the row's problem gone")
        assert row.locator(".lps-open-versions").count() == 0
    assert path.read_text() == good


def test_a_broken_recipe_with_no_version_offers_no_versions(lab: tuple[Path, Any]) -> None:
    """A notebook cut short that was never versioned has no version to restore: its row in
    the Recipes sidebar and its Settings said why, but offered Versions, which listed
    nothing to restore."""
    root, open_page = lab
    name = "lab/never-versioned.ipynb"
    path = write_recipe(root, "lab/never-versioned")
    path.write_text(path.read_text()[:40])  # cut short: no JSON, and no version of it
    with open_page() as page:
        command(page, "lpstudio:open-recipes")
        row = page.locator(f".lps-recipes .lps-recipe[data-recipe='{name}']")
        problem = row.locator(".lps-problem").inner_text()
        assert "its JSON is broken at line" in problem, problem
        assert "restore" not in problem, problem  # its fix is the text editor's alone
        row.get_by_role("button", name="Open recipe lab/never-versioned", exact=True).wait_for()
        assert row.locator(".lps-open-versions").count() == 0
        # Its Settings say why as the row does, offering Refresh, not Versions.
        command(page, "lpstudio:open-settings", {"recipe": name})
        settings = page.locator(".lps-settings-body:visible")
        settings.get_by_role("button", name="Refresh").wait_for()
        assert "its JSON is broken at line" in settings.locator(".lps-error").inner_text()
        assert settings.get_by_role("button", name="Versions").count() == 0
