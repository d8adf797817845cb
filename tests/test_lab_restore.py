"""lpstudio's main-area panels come back after the browser reloads JupyterLab, as notebooks
do: only the Recipes sidebar did, and the Jobs, Dashboard, Connections and Settings tabs an
admin had open were gone. In a real JupyterLab in chromium.
"""

from __future__ import annotations

from pathlib import Path

from lpstudio.studio import Studio

from .conftest import wait_for, write_recipe
from .test_studio_ui import alice_lab, command

PANELS = ("lps-jobs", "lps-dashboard", "lps-connections")


def saved_layout(root: Path) -> str:
    """JupyterLab's saved workspaces (its layout, as its restorer writes it) in the
    workspace's `.runtime/`, where `make studio` keeps them, as text."""
    saved = (root / ".runtime" / "lab-workspaces").glob("*.jupyterlab-workspace")
    return "".join(p.read_text() for p in saved)


def test_the_studio_s_tabs_are_open_again_after_a_reload(tmp_path: Path) -> None:
    root, home = tmp_path / "ws", tmp_path / "jupyter"
    Studio.init(root, accept_terms=True, admin="alice").close()
    write_recipe(root, "p/nightly")
    with alice_lab(root, home) as page:
        for name in ("lpstudio:open-jobs", "lpstudio:open-dashboard", "lpstudio:open-connections"):
            command(page, name)
        command(page, "lpstudio:open-settings", {"recipe": "p/nightly.ipynb"})
        page.locator(".lps-settings-body:visible").wait_for()
        # The layout is saved a moment after it changes: the reload waits for it, not a time.
        wait_for(
            lambda: "lpstudio:settings:p/nightly.ipynb" in saved_layout(root),
            what="JupyterLab to save the layout with the studio's tabs",
        )
        page.reload()
        for cls in PANELS:
            page.locator(f".jp-MainAreaWidget .{cls}").wait_for(state="attached")
        assert page.locator(".lps-settings-body").count() == 1
        tabs = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tabLabel").all_inner_texts()
        assert {"Jobs", "Dashboard", "Connections"} <= set(tabs), tabs
