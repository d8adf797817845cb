"""The form of a notebook renamed in JupyterLab while its kernel runs: the kernel follows the
notebook's path as JupyterLab's server has it now (`lpstudio.server.sessions`), not the
path it was told when it started (`JPY_SESSION_NAME`), in a real Jupyter server on loopback
with a real kernel."""

from __future__ import annotations

import html
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.asynchronous.client import AsyncKernelClient

from lpstudio.settings import saved_settings
from lpstudio.widgets import RecipeForm
from lpstudio.workspace import session_file

from .conftest import write_recipe

#: What the kernel's form cell, and `notebook_recipe` (which `lp.latest_events` and the
#: connections run by hand read), take for the notebook it runs.
WHICH = """\
from lpstudio.kernel.runtime import notebook_recipe
from lpstudio.widgets import RecipeForm
form = RecipeForm.here()
recipe = notebook_recipe()[1]
print("form:", form.recipe.name if form else None, form.shown["title"] if form else None)
print("recipe:", recipe.name if recipe else None)
"""


@pytest.fixture
def jp_root_dir(ws: Path) -> Path:
    """JupyterLab's server serves the workspace, as `make studio` starts it."""
    return ws


async def request(jp_fetch: Any, method: str, *path: str, body: Any = None) -> Any:
    """A request of JupyterLab's to Jupyter's own API (sessions, contents)."""
    options = {"body": json.dumps(body)} if body is not None else {}
    answer = await jp_fetch("api", *path, method=method, **options)
    return json.loads(answer.body) if answer.body else None


@asynccontextmanager
async def opened(
    jp_fetch: Any, jp_serverapp: Any, notebook: str
) -> AsyncIterator[tuple[dict[str, Any], AsyncKernelClient]]:
    """`notebook` opened in JupyterLab: its session as JupyterLab makes it (a real kernel,
    started by the server) and a client of that kernel."""
    body = {"path": notebook, "name": Path(notebook).name, "type": "notebook", "kernel": {}}
    session = await request(jp_fetch, "POST", "sessions", body=body)
    kernel = jp_serverapp.kernel_manager.get_kernel(session["kernel"]["id"])
    client = AsyncKernelClient()
    client.load_connection_info(kernel.get_connection_info())
    client.start_channels()
    try:
        await client.wait_for_ready(timeout=60)
        yield session, client
    finally:
        client.stop_channels()


async def printed(client: AsyncKernelClient, code: str) -> str:
    """What a cell run in the kernel prints; fails on its error."""
    out: list[str] = []

    def hook(message: dict[str, Any]) -> None:
        if message["msg_type"] == "stream":
            out.append(message["content"]["text"])

    reply = await client.execute_interactive(code, output_hook=hook, timeout=60)
    assert reply["content"]["status"] == "ok", reply["content"]
    return "".join(out)


async def test_a_renamed_notebook_s_form_is_its_own_not_the_one_made_at_its_old_path(
    jp_fetch: Any, jp_serverapp: Any, ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """File > Rename Notebook keeps the kernel, which took the path it started with for its
    notebook: the form cell said "Open this recipe in JupyterLab", and once another recipe
    was made at the old path, showed that one's form (its Save, Test, Run now and Start
    acting on it)."""
    monkeypatch.setenv("LPSTUDIO_USER", "alice")  # the kernel's user, as the server's
    write_recipe(ws, "lab/a", metadata={"title": "A"})
    async with opened(jp_fetch, jp_serverapp, "projects/lab/a.ipynb") as (session, client):
        assert await printed(client, WHICH) == "form: lab/a.ipynb A\nrecipe: lab/a.ipynb\n"
        kept = session_file(ws, session["kernel"]["id"])
        assert kept.stat().st_mode & 0o777 == 0o600  # the server's user's alone

        # As JupyterLab renames a notebook: the file, then its session's path, then its name.
        renamed = "projects/lab/b.ipynb"
        await request(jp_fetch, "PATCH", "contents", "projects/lab/a.ipynb", body={"path": renamed})
        await request(jp_fetch, "PATCH", "sessions", session["id"], body={"path": renamed})
        await request(jp_fetch, "PATCH", "sessions", session["id"], body={"name": "b.ipynb"})
        assert await printed(client, WHICH) == "form: lab/b.ipynb A\nrecipe: lab/b.ipynb\n"

        write_recipe(ws, "lab/a", metadata={"title": "Another recipe at the old path"})
        assert await printed(client, WHICH) == "form: lab/b.ipynb A\nrecipe: lab/b.ipynb\n"

        await request(jp_fetch, "DELETE", "sessions", session["id"])  # the notebook closed
        assert not kept.exists()


def test_a_form_shown_before_its_notebook_was_renamed_acts_on_no_recipe(
    ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A form shown before File > Rename Notebook held the old path's name: its Save said
    the recipe was not found (with a CLI command and the server's folder), and once a recipe
    was made at the old path, its Save, Run now and Start acted on that one. Each button,
    and Refresh lists, now says where the notebook is and to run the form's cell again."""
    monkeypatch.setenv("LPSTUDIO_USER", "alice")
    monkeypatch.setenv("LPSTUDIO_WORKSPACE", str(ws))
    old = write_recipe(ws, "billing/ra")
    monkeypatch.setenv("JPY_SESSION_NAME", str(old))  # the path the kernel is told
    form = RecipeForm.here()
    assert form is not None and form.recipe.name == "billing/ra.ipynb"
    renamed = old.rename(old.with_name("rb.ipynb"))
    monkeypatch.setenv("JPY_SESSION_NAME", str(renamed))  # as the server keeps it now
    write_recipe(ws, "billing/ra")  # another recipe, made at the old path since
    try:
        form.fields["x"].input.value = "5"
        clicks = {
            "save": form.save,
            "run": form.run_now,
            "start": lambda: form._lifecycle("start"),
            "stop": lambda: form._lifecycle("stop"),
            "refresh": form.refresh,
        }
        for button, click in clicks.items():
            form.status.value = ""
            click()
            form.wait()
            said = html.unescape(form.status.value)
            assert (
                "this notebook was renamed or moved to projects/billing/rb.ipynb since the form "
                "showed the settings of projects/billing/ra.ipynb: nothing was saved or run\n"
                "fix: run the form's cell again to show the form of projects/billing/rb.ipynb"
            ) in said, (button, said)
            assert "lpstudio" not in said and str(ws) not in said, said
        assert form.last_job is None and form.fields["x"].input.value == "5"
        for name in ("billing/ra.ipynb", "billing/rb.ipynb"):
            assert saved_settings(form.studio.store, name) == {}, name
            assert form.studio.store.list_jobs(recipe=name) == []

        form.studio.recipe("billing/ra").path.unlink()  # ...and deleted: the old path, and no file
        monkeypatch.setenv("JPY_SESSION_NAME", str(old))
        assert form.save() is False
        assert html.unescape(form.status.value).endswith(
            "this notebook is no longer at projects/billing/ra.ipynb, where the form showed it: "
            "nothing was saved or run\nfix: run the form's cell again (a notebook deleted "
            "since: File > Save Notebook first)</span>"
        ), form.status.value
    finally:
        form.close()
        form.studio.close()
