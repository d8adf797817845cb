"""`papermill --engine lpstudio`: a workspace's notebook run by papermill itself, outside any
lpstudio job, keeps the workspace's secrets out of its output notebook and uses the
connections its recipe's settings bind, as in JupyterLab."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nbformat
import papermill
import pytest

from lpstudio.studio import Studio

from .conftest import full_pool, printed, write_recipe

PAPERMILL = str(Path(sys.executable).parent / "papermill")

ACME = """\
from lpstudio.sdk import Connector, Field

connector = Connector("acme", title="Acme", fields=[Field("api_key", "API key", secret=True)])


@connector.action("whoami", title="Who am I")
def whoami(conn, data):
    print("calling with", conn.config["api_key"])  # a careless connector
    return {"connection": conn.name, "key": conn.config["api_key"]}
"""
KEY = "acme-K3y/5ecret"


def papermill_cli(
    notebook: Path,
    output: Path,
    *options: str,
    where: Path | None = None,
    pwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """`papermill --engine lpstudio [OPTIONS] NOTEBOOK OUTPUT` run in the notebook's folder
    (or `where`, the notebook then named relative to it), as a user types it there, with no
    workspace named in the environment; `pwd` is a `$PWD` that is not that folder, as
    `subprocess.run(cwd=...)` leaves it."""
    where = where or notebook.parent
    env = {k: v for k, v in os.environ.items() if k != "LPSTUDIO_WORKSPACE"}
    env["PWD"] = str(pwd or where)  # as the user's shell sets it
    named = os.path.relpath(notebook, where)
    return subprocess.run(
        [PAPERMILL, "--engine", "lpstudio", *options, named, str(output)],
        capture_output=True,
        text=True,
        cwd=where,
        env=env,
        timeout=120,
    )


@pytest.fixture
def acme_ws(ws: Path) -> Path:
    """A workspace with the acme connector and two acme connections, `crm` and `acme2`."""
    (ws / "connectors").mkdir(exist_ok=True)
    (ws / "connectors" / "acme.py").write_text(ACME)
    with Studio.open(ws, user="alice") as studio:
        studio.connections.add("crm", "acme", {"api_key": "crm-" + KEY}, "alice")
        studio.connections.add("acme2", "acme", {"api_key": KEY}, "alice")
    return ws


@pytest.fixture
def slotcrm(acme_ws: Path) -> Path:
    """A recipe with an acme slot `crm`, whose saved settings bind it to `acme2`."""
    path = write_recipe(
        acme_ws,
        "crm/slotcrm",
        cells=("import lpstudio.kernel as lp", 'print(lp.connection("crm").connection.name)'),
        metadata={"title": "Slot", "connections": {"crm": {"type": "acme"}}},
    )
    with Studio.open(acme_ws, user="alice") as studio:
        studio.save_settings("crm/slotcrm", connections={"crm": "acme2"})
    return path


def test_the_output_notebook_is_scrubbed_of_the_workspaces_secrets(
    acme_ws: Path, tmp_path: Path
) -> None:
    """The connector prints the key, returns it, the recipe shows it upper-cased and fails
    with it: papermill writes the notebook as it runs and once more with its error banner,
    and each write masks every form, as `lpstudio run` does."""
    cells = (
        "import lpstudio.kernel as lp",
        'answer = lp.connection("acme2").whoami()\nprint(answer["key"].upper())\nanswer',
        'raise RuntimeError("refused " + answer["key"])',
    )
    metadata = {"title": "Leaky", "connections": {"acme2": {"type": "acme"}}}
    leaky = write_recipe(acme_ws, "p/leaky", cells=cells, metadata=metadata)
    out = tmp_path / "out.ipynb"

    ran = papermill_cli(leaky, out)

    assert ran.returncode == 1, ran.stderr  # the recipe's own error, reported by papermill
    text = out.read_text()
    for form in (KEY, KEY.upper(), KEY.replace("/", "\\/")):
        assert form not in text
        assert form not in ran.stderr
    nb = nbformat.read(out, as_version=4)
    shown = "".join(str(output) for cell in nb.cells for output in cell.get("outputs", []))
    assert "calling with ****" in shown and "'key': '****'" in shown
    assert "RuntimeError" in shown and "refused ****" in shown
    assert "papermill-error-cell-tag" in nb.cells[0].metadata.get("tags", [])


def test_logged_and_copied_cell_output_is_scrubbed_too(acme_ws: Path, tmp_path: Path) -> None:
    """`--log-output`, `--stdout-file` and `--stderr-file` pass each cell's output on as it
    comes: masked as in the notebook, on every stream."""
    cells = (
        "import sys\nimport lpstudio.kernel as lp",
        'key = lp.connection("acme2").whoami()["key"]\nprint("out", key)',
        'print("err", key.upper(), file=sys.stderr)\nkey',
    )
    metadata = {"title": "Chatty", "connections": {"acme2": {"type": "acme"}}}
    chatty = write_recipe(acme_ws, "p/chatty", cells=cells, metadata=metadata)
    stdout, stderr = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    options = ("--log-output", "--stdout-file", str(stdout), "--stderr-file", str(stderr))

    ran = papermill_cli(chatty, tmp_path / "out.ipynb", *options)

    assert ran.returncode == 0, ran.stderr
    logged, out, err = ran.stderr, stdout.read_text(), stderr.read_text()
    assert "out ****" in logged and "err ****" in logged and "'****'" in logged
    assert "out ****" in out and "err ****" in err
    for form in (KEY, KEY.upper()):
        assert form not in logged + ran.stdout + out + err


def test_a_relative_notebook_with_cwd_is_run_as_its_workspaces(
    slotcrm: Path, tmp_path: Path
) -> None:
    """`papermill --cwd elsewhere crm/slotcrm.ipynb out`: papermill reads the notebook
    relative to where it was typed, and runs the kernel in `--cwd`; the engine finds the
    notebook's workspace as papermill found the notebook."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "out.ipynb"

    ran = papermill_cli(slotcrm, out, "--cwd", str(elsewhere), where=slotcrm.parent.parent)

    assert ran.returncode == 0, ran.stderr
    assert printed(nbformat.read(out, as_version=4).cells[-1]) == "acme2\n"


def test_a_relative_notebook_with_cwd_is_found_whatever_pwd_says(
    slotcrm: Path, tmp_path: Path
) -> None:
    """A script's `subprocess.run([...papermill...], cwd=folder)` keeps its own `$PWD`: the
    engine, called in `--cwd`, looked for the notebook there and in `$PWD`, found none, and
    ran a workspace's recipe as a plain notebook (unscrubbed, without its connections)."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "out.ipynb"

    ran = papermill_cli(
        slotcrm, out, "--cwd", str(elsewhere), where=slotcrm.parent.parent, pwd=tmp_path
    )

    assert ran.returncode == 0, ran.stderr
    assert printed(nbformat.read(out, as_version=4).cells[-1]) == "acme2\n"


def test_outside_a_workspace_the_output_notebook_is_papermills(tmp_path: Path) -> None:
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    notebook = write_recipe(folder, "plain", cells=(f"print({KEY!r})",))
    out = tmp_path / "out.ipynb"

    ran = papermill_cli(notebook, out)

    assert ran.returncode == 0, ran.stderr
    assert printed(nbformat.read(out, as_version=4).cells[-1]) == KEY + "\n"


def test_a_script_importing_lpstudios_engine_first_runs_with_it(tmp_path: Path) -> None:
    """`from lpstudio.engine import StudioEngine` as a script's first import failed with a
    circular import (papermill loads its engines while it is imported, this one among them)."""
    notebook = write_recipe(tmp_path, "plain", cells=("print(6 * 7)",))
    script = (
        "from lpstudio.engine import StudioEngine\n"
        "import papermill\n"
        "from papermill.engines import papermill_engines\n"
        "assert papermill_engines.get_engine('lpstudio') is StudioEngine\n"
        f"papermill.execute_notebook({str(notebook)!r}, {str(tmp_path / 'out.ipynb')!r},"
        " engine_name='lpstudio', progress_bar=False)\n"
    )
    ran = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path
    )
    assert ran.returncode == 0, ran.stderr
    out = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    assert printed(out.cells[-1]) == "42\n"


def test_a_recipe_uses_the_connection_its_settings_bind(slotcrm: Path, tmp_path: Path) -> None:
    """`lpstudio settings crm/slotcrm --connection crm=acme2`: papermill's run of the recipe
    uses acme2 for the slot, not the connection named like it, as `lpstudio run` does."""
    out = tmp_path / "out.ipynb"

    ran = papermill_cli(slotcrm, out)

    assert ran.returncode == 0, ran.stderr
    assert printed(nbformat.read(out, as_version=4).cells[-1]) == "acme2\n"


@pytest.fixture
def pooled(acme_ws: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Studio]:
    """A studio of this process whose pool (python3 kernels forked, prepared) is full: the
    engine takes its kernels for `papermill.execute_notebook` too."""
    monkeypatch.delenv("LPSTUDIO_WORKSPACE", raising=False)
    with full_pool(acme_ws) as studio:
        yield studio


def test_a_pooled_kernel_knows_the_notebook_it_runs(
    pooled: Studio, slotcrm: Path, tmp_path: Path
) -> None:
    """A kernel of the pool was started before anyone knew the notebook: it is told, and
    finds the recipe's workspace and settings from it (this process's folder is none)."""
    out = tmp_path / "out.ipynb"

    papermill.execute_notebook(str(slotcrm), str(out), engine_name="lpstudio", progress_bar=False)

    assert printed(nbformat.read(out, as_version=4).cells[-1]) == "acme2\n"
