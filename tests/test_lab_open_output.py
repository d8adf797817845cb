"""Open output in a real JupyterLab, in chromium: a job's output notebook opens read-only
with no kernel, unchanged, and closes without asking (each one opened left a live
ipykernel, its tab marked changed, and closing it asked to save); one over the server's
bound (`LpstudioApp.max_output_view_bytes`) asks first, saying its size, and offers its
download (a 46 MB one froze the tab for minutes)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lpstudio.studio import Studio

from .browser import dialog_shown
from .conftest import write_recipe
from .test_studio_ui import alice_lab, command

#: The bound the lab's server sets: the big job's notebook is over it, the small one's not.
BOUND = 30_000
PRINTED = "row " * 20_000


def seed(root: Path, home: Path) -> None:
    """Jobs 1 (small) and 2 (big) run for real; the server's bound set in its config."""
    with Studio.init(root, accept_terms=True, admin="alice") as studio:
        write_recipe(root, "lab/small")
        write_recipe(root, "lab/big", cells=(f"print({PRINTED!r})",))
        for recipe in ("lab/small", "lab/big"):
            assert studio.run(recipe).status == "succeeded"
    config = home / "config"
    config.mkdir(parents=True)
    settings = {"LpstudioApp": {"max_output_view_bytes": BOUND}}
    (config / "jupyter_server_config.json").write_text(json.dumps(settings))


def running(page: Any, what: str) -> list[Any]:
    """The server's kernels or sessions, as it lists them."""
    return page.evaluate("async w => (await fetch(`/api/${w}`)).json()", what)


def open_output(page: Any, job: int) -> None:
    jobs = page.locator(".lps-jobs:visible")
    jobs.get_by_role("button", name=f"Open output job {job}", exact=True).click()


def shown(page: Any, name: str) -> Any:
    """The notebook tab of `name` once drawn, its kernel settled: none."""
    panel = page.locator(".jp-NotebookPanel:visible")
    panel.locator(".jp-Notebook .jp-Cell").first.wait_for()
    panel.locator(".jp-Toolbar-kernelName", has_text="No Kernel").wait_for()
    page.locator(".lm-TabBar-tab.lm-mod-current", has_text=name).first.wait_for()
    return panel


#: The current tab's session once set up (the toolbar says "No Kernel", and the document's
#: `context.ready` resolves, before the session is even asked for): its id and whether it
#: would start a kernel.
SETTLED = """async () => {
    const s = window.jupyterapp.shell.currentWidget.sessionContext;
    await s.ready;
    return [s.session?.id ?? null, s.kernelPreference.shouldStart ?? true];
}"""


def no_kernel(page: Any) -> None:
    """The current tab's session is set up with none, and the server runs no kernel."""
    assert page.evaluate(SETTLED) == [None, False]
    assert running(page, "kernels") == [] and running(page, "sessions") == []


def close_current(page: Any, name: str) -> None:
    """Closes the notebook tab of `name`; it goes without a dialog (one would keep it)."""
    # Not awaited: a dialog would hold its promise, and the tab, until answered.
    page.evaluate("() => { window.jupyterapp.commands.execute('application:close'); }")
    page.wait_for_function(
        "n => ![...window.jupyterapp.shell.widgets('main')].some(w => w.title.label === n)",
        arg=name,
    )
    assert page.locator(".jp-Dialog").count() == 0


def test_open_output_starts_no_kernel_and_a_big_one_asks_first(tmp_path: Path) -> None:
    root, home = tmp_path / "ws", tmp_path / "jupyter"
    seed(root, home)
    big = next((root / "history").glob("*/2-big.ipynb"))
    with alice_lab(root, home) as page:
        command(page, "lpstudio:open-jobs")
        assert running(page, "kernels") == []

        # A small one: opened at once, no kernel, not changed; closing it asks nothing.
        open_output(page, 1)
        shown(page, "1-small.ipynb")
        # Once loaded (a model is "changed" until its contents are in).
        dirty = "async () => { const c = window.jupyterapp.shell.currentWidget.context;"
        dirty += " await c.ready; return c.model.dirty; }"
        assert page.evaluate(dirty) is False
        assert page.locator(".lm-TabBar-tab.jp-mod-dirty").count() == 0
        no_kernel(page)
        close_current(page, "1-small.ipynb")

        # A big one asks first, saying its size; Download saves it as it is.
        open_output(page, 2)
        dialog = dialog_shown(page)
        header = dialog.locator(".jp-Dialog-header").inner_text()
        assert header == f"Open 2-big.ipynb? It is {big.stat().st_size / 1000:.0f} KB", header
        assert f"({big.stat().st_size} bytes)" in dialog.inner_text()
        assert page.locator(".jp-NotebookPanel").count() == 0  # nothing loaded yet
        with page.expect_download() as download:
            dialog.get_by_role("button", name="Download").click()
        assert download.value.suggested_filename == "2-big.ipynb"
        # What it saves, fetched as the user (the test's user rides in a header, which the
        # browser's own download does not carry).
        assert page.request.get(download.value.url).body() == big.read_bytes()
        assert page.locator(".jp-NotebookPanel").count() == 0  # and nothing opened

        # Cancel opens nothing; Open anyway opens it as a small one opens.
        open_output(page, 2)
        dialog.get_by_role("button", name="Cancel").click()
        dialog.wait_for(state="detached")
        assert page.locator(".jp-NotebookPanel").count() == 0
        open_output(page, 2)
        dialog.get_by_role("button", name="Open anyway").click()
        shown(page, "2-big.ipynb")
        assert page.evaluate(dirty) is False
        no_kernel(page)
        close_current(page, "2-big.ipynb")
