"""A recipe run outside lpstudio's own doors, in real kernels: by papermill (through
lpstudio's engine, or papermill's own), by nbconvert, as VS Code runs it. A run no person
is at builds no form; a kernel that was not told which notebook it runs never takes a slot
for a connection's name where a recipe in its folder binds the slot otherwise."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat
import papermill
import pytest
from nbconvert.preprocessors import CellExecutionError, ExecutePreprocessor

from lpstudio.studio import Studio

from .conftest import printed, write_recipe

#: What a cell of the recipes below prints: the connection filling the slot.
NAMED = 'import lpstudio.kernel as lp\nprint(lp.connection("optins").connection.name)'

UNTOLD = "this kernel was not told which notebook it runs"


@pytest.fixture(autouse=True)
def _no_workspace_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """Kernels find the workspace from their folder, as a user's shell starts them."""
    monkeypatch.delenv("LPSTUDIO_WORKSPACE", raising=False)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)


def slotted(ws: Path, *cells: str) -> Path:
    """A recipe `p/optin` with a csv_file slot `optins`, which `lpstudio settings p/optin
    --connection optins=optfile` binds."""
    with Studio.open(ws, user="alice") as studio:
        studio.connections.add("optfile", "csv_file", {"path": "optfile.csv"}, "alice")
    path = write_recipe(
        ws,
        "p/optin",
        cells=cells or (NAMED,),
        metadata={"title": "Opt-in", "connections": {"optins": {"type": "csv_file"}}},
    )
    with Studio.open(ws, user="alice") as studio:
        studio.save_settings("p/optin", connections={"optins": "optfile"})
    return path


def nbconvert(notebook: Path, *cells: str, errors: bool = False) -> nbformat.NotebookNode:
    """`jupyter nbconvert --to notebook --execute NOTEBOOK [--allow-errors]`: its kernel
    runs in the notebook's folder and is told nothing else; `cells` run first (as VS Code
    runs its own before the notebook's)."""
    nb = nbformat.read(notebook, as_version=4)
    nb.cells[:0] = [nbformat.v4.new_code_cell(cell) for cell in cells]
    ExecutePreprocessor(timeout=60, kernel_name="python3", allow_errors=errors).preprocess(
        nb, {"metadata": {"path": str(notebook.parent)}}
    )
    return nb


def widget_models(nb: dict[str, Any]) -> int:
    state = nb.get("metadata", {}).get("widgets", {})
    return len(state.get("application/vnd.jupyter.widget-state+json", {}).get("state", {}))


def test_papermill_through_lpstudios_engine_builds_no_form(
    sandbox_ws: Path, control: Any, tmp_path: Path
) -> None:
    """`papermill --engine lpstudio payment_reminder.ipynb out.ipynb -p days_ahead 30`: the
    form asked LivePerson for a token and its skill and handoff lists on every run (the
    rate limits count them), and the output notebook kept its 213 widget models (250 KB
    against 28 KB), showing the saved settings, not the parameters papermill injected. As
    in a job, the form's cell shows nothing."""
    with Studio.open(sandbox_ws, user="alice") as studio:
        notebook = studio.try_template("payment_reminder", "p", "payment_reminder")
    out = tmp_path / "out.ipynb"

    papermill.execute_notebook(
        str(notebook),
        str(out),
        parameters={"days_ahead": 30},
        engine_name="lpstudio",
        cwd=str(notebook.parent),
        progress_bar=False,
    )

    paths = [entry["path"] for entry in control.get("/_sandbox/requests").json()["requests"]]
    assert not [path for path in paths if path.endswith("/skills")], paths
    assert len([path for path in paths if path.endswith("/handoffs/list")]) == 1, paths  # its own
    nb = json.loads(out.read_text())
    (form,) = [c for c in nb["cells"] if "lpstudio-form" in c["metadata"].get("tags", [])]
    assert form["outputs"] == []
    assert widget_models(nb) == 0
    assert out.stat().st_size < 80_000


def test_lpstudios_engine_clears_a_session_name_its_starter_inherited(
    ws: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`!papermill --engine lpstudio scratch.ipynb out.ipynb` in a recipe's kernel in
    JupyterLab: papermill's kernel inherits `JPY_SESSION_NAME` naming that recipe, and a
    notebook outside any workspace took the recipe's connections for its own."""
    recipe = slotted(ws)
    monkeypatch.setenv("JPY_SESSION_NAME", str(recipe))
    scratch = write_recipe(tmp_path / "elsewhere", "scratch", cells=(NAMED,))

    with pytest.raises(papermill.PapermillExecutionError) as raised:
        papermill.execute_notebook(
            str(scratch),
            str(tmp_path / "out.ipynb"),
            engine_name="lpstudio",
            cwd=str(scratch.parent),
            progress_bar=False,
        )

    assert raised.value.ename == "WorkspaceError", raised.value.evalue


def test_papermills_own_engine_refuses_a_slot_bound_by_settings(ws: Path, tmp_path: Path):
    """Plain `papermill` tells the kernel nothing: the bound slot was read as a connection's
    name and said missing, with the fix to create it (it is bound already). The form's cell
    said to open the recipe "inside a workspace", which it is."""
    notebook = slotted(ws)
    nb = nbformat.read(notebook, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell("from lpstudio.widgets import RecipeForm"))
    nb.cells.insert(1, nbformat.v4.new_code_cell("RecipeForm.here()"))
    nbformat.write(nb, notebook)
    out = tmp_path / "out.ipynb"

    with pytest.raises(papermill.PapermillExecutionError) as raised:
        papermill.execute_notebook(
            str(notebook), str(out), cwd=str(notebook.parent), progress_bar=False
        )

    said = raised.value.evalue
    assert raised.value.ename == "InputError"
    assert f"connection slot 'optins': {UNTOLD}" in said, said
    assert "recipe p/optin.ipynb in its folder binds the slot to 'optfile'" in said, said
    assert "papermill --engine lpstudio" in said and "JPY_SESSION_NAME" in said
    assert "lpstudio connections add" not in said
    (cell,) = [c for c in nbformat.read(out, as_version=4).cells if c.source == "RecipeForm.here()"]
    form = printed(cell)
    assert form.startswith(f"No form: {UNTOLD}") and "inside a workspace" not in form, form


def test_nbconvert_never_takes_a_same_named_connection_for_a_bound_slot(ws: Path) -> None:
    """A connection named like the slot (another CSV file, another Shopify store) and the
    settings binding another: a run by hand used the one named like it, without a word."""
    notebook = slotted(ws)
    with Studio.open(ws, user="alice") as studio:
        studio.connections.add("optins", "csv_file", {"path": "other.csv"}, "alice")

    with pytest.raises(CellExecutionError) as raised:
        nbconvert(notebook)

    assert "InputError" in str(raised.value) and UNTOLD in str(raised.value)
    assert "binds the slot to 'optfile', not to a connection named 'optins'" in str(raised.value)


def test_a_kernel_told_by_vs_code_or_papermills_path_uses_the_bound_connection(
    ws: Path, tmp_path: Path
) -> None:
    """VS Code names the notebook in `__vsc_ipynb_file__`; `papermill --inject-paths`
    gives it as the parameter `PAPERMILL_INPUT_PATH`: the slot is the settings'."""
    notebook = slotted(ws)
    with Studio.open(ws, user="alice") as studio:
        studio.connections.add("optins", "csv_file", {"path": "other.csv"}, "alice")

    vscode = nbconvert(notebook, f"__vsc_ipynb_file__ = {str(notebook)!r}")
    assert printed(vscode.cells[-1]) == "optfile\n"

    out = tmp_path / "out.ipynb"
    papermill.execute_notebook(
        str(notebook),
        str(out),
        parameters={"PAPERMILL_INPUT_PATH": notebook.name},  # as typed in the folder
        cwd=str(notebook.parent),
        progress_bar=False,
    )
    assert printed(nbformat.read(out, as_version=4).cells[-1]) == "optfile\n"


def test_a_slot_named_like_the_connection_every_recipe_there_binds_still_runs(ws: Path):
    """Where every recipe of the folder binds the slot to the connection named like it, a
    kernel told nothing runs as before."""
    notebook = slotted(ws)
    with Studio.open(ws, user="alice") as studio:
        studio.connections.add("optins", "csv_file", {"path": "other.csv"}, "alice")
        studio.save_settings("p/optin", connections={"optins": "optins"})

    assert printed(nbconvert(notebook).cells[-1]) == "optins\n"


def test_an_unreachable_store_is_said_by_hand_as_the_form_says_it(
    ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`[store] url` naming a missing file: `lp.connection` raised SQLAlchemy's raw
    OperationalError, where the form cell said "No form: no lpstudio store at ..."."""
    notebook = slotted(ws)
    (ws / "lpstudio.toml").write_text('[store]\nurl = "sqlite:///missing/lpstudio.db"\n')
    monkeypatch.setenv("JPY_SESSION_NAME", str(notebook))  # as JupyterLab tells its kernel
    form = "from lpstudio.widgets import RecipeForm\nRecipeForm.here()"

    nb = nbconvert(notebook, form, errors=True)

    missing = f"no lpstudio store at sqlite:///{ws / 'missing' / 'lpstudio.db'}"
    assert printed(nb.cells[0]).startswith(f"No form: {missing}")
    (error,) = [o for o in nb.cells[-1].outputs if o.output_type == "error"]
    assert error.ename == "WorkspaceError" and error.evalue.startswith(missing), error.evalue
    assert "[store] url" in error.evalue  # the fix, as the form gives it
