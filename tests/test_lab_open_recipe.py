"""Open of a recipe in a real JupyterLab, in chromium: a recipe listed whose notebook was
moved or deleted since is said in JupyterLab's error dialog, naming it and the fix (the
lab's `docmanager:open` only rejected, a 404 in the console, and nothing opened)."""

from __future__ import annotations

from pathlib import Path

from lpstudio.studio import Studio

from .browser import dialog_shown
from .conftest import write_recipe
from .test_studio_ui import alice_lab, command


def test_open_of_a_recipe_gone_since_it_was_listed_says_so_with_the_fix(tmp_path: Path) -> None:
    root, home = tmp_path / "ws", tmp_path / "jupyter"
    Studio.init(root, accept_terms=True, admin="alice").close()
    notebook = write_recipe(root, "lab/gone")
    with alice_lab(root, home) as page:
        command(page, "lpstudio:open-recipes")
        row = page.locator(".lps-recipes .lps-recipe[data-recipe='lab/gone.ipynb']")
        opened = row.get_by_role("button", name="Open recipe lab/gone", exact=True)
        opened.wait_for()
        notebook.unlink()  # moved or deleted by a terminal: the list still shows it
        opened.click()

        dialog = dialog_shown(page)
        assert dialog.locator(".jp-Dialog-header").inner_text() == "Cannot open gone.ipynb"
        said = dialog.locator(".jp-Dialog-body").inner_text()
        assert said == (
            "projects/lab/gone.ipynb is not there: it was moved or deleted since the list was "
            "shown. Refresh the list to see where it is now, or whether it is gone."
        ), said
        dialog.get_by_role("button", name="Close").click()
        dialog.wait_for(state="detached")
        assert page.locator(".jp-NotebookPanel").count() == 0  # no empty tab was left
