"""A run never inherits what an earlier run left in its notebook.

An output notebook kept as a recipe (the lab's form says to copy one under projects/ with
File > Save Notebook As; `papermill in.ipynb projects/p/out.ipynb` writes one there) holds
that run's `injected-parameters` cell, and, when the run was cut off, lpstudio's banner.
papermill replaces the injected cell only when it injects: a job given no values ran the old
cell, its stale values over the recipe's defaults and saved settings, while `show` said
`params: {}`. lpstudio's banner stayed above the new results and was counted as a cell
("cell 6 of 7"). A cut-off cell had no error output nor papermill's `papermill-error-cell`
anchor: papermill-aware tools, and a reader scrolling to the error, found nothing there.

Real kernels and the real store; each job is waited on, never slept for.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
from papermill.execute import ERROR_MARKER_TAG

from lpstudio.studio import Studio

from .conftest import set_settings, write_recipe

#: A recipe that tells what it ran with.
TELLS = "import lpstudio.kernel as lp\nlp.set_result({'name': name})"


def tagged(nb: nbformat.NotebookNode, tag: str) -> list[nbformat.NotebookNode]:
    return [cell for cell in nb.cells if tag in cell.metadata.get("tags", [])]


def kept_as_recipe(ws: Path, output_path: str, name: str) -> None:
    """An output notebook copied under projects/, as File > Save Notebook As does."""
    shutil.copy(ws / output_path, ws / "projects" / f"{name}.ipynb")


def test_a_recipe_kept_from_an_output_runs_its_defaults_not_the_old_values(ws: Path) -> None:
    write_recipe(ws, "p/tell", parameters='name: str = "default"', cells=(TELLS,))
    with Studio.open(ws, user="alice") as studio:
        first = studio.run("p/tell", {"name": "OLD NAME"})
        assert first.result == {"name": "OLD NAME"}, first.error
        kept_as_recipe(ws, first.output_path, "p/copy")

        plain = studio.run("p/copy")
        prepared = nbformat.read(studio.prepare("p/copy"), as_version=4)
        set_settings(studio.store, "p/copy.ipynb", parameters={"name": "saved"})
        saved = studio.run("p/copy")

    assert plain.status == "succeeded" and plain.parameters == {}, plain.error
    assert plain.result == {"name": "default"}  # the recipe's default, as `settings` shows it
    ran = nbformat.read(ws / plain.output_path, as_version=4)
    assert tagged(ran, "injected-parameters") == []  # nothing injected: nothing to see
    assert ran.metadata.papermill.parameters == {}  # what this run was given
    assert not any("OLD NAME" in cell.source for cell in ran.cells)
    assert (plain.cells_done, plain.cells_total) == (len(ran.cells),) * 2
    # --prepare-only writes what a job would run
    assert tagged(prepared, "injected-parameters") == []
    assert prepared.metadata.papermill.parameters == {}

    assert saved.result == {"name": "saved"}, saved.error  # the settings saved
    (injected,) = tagged(nbformat.read(ws / saved.output_path, as_version=4), "injected-parameters")
    assert "OLD NAME" not in injected.source


def stopped_cell(gate: Path) -> str:
    """A cell that waits for `gate`, never created: only the job's timeout ends it."""
    return f"import os, time\nwhile not os.path.exists({str(gate)!r}):\n    time.sleep(0.05)"


def test_a_cut_off_cell_holds_its_error_under_papermill_s_anchor(ws: Path, tmp_path: Path) -> None:
    """The cell a timeout cut off shows the job's error as its own output, below the
    anchor papermill puts before a failing cell, which the banner's In [N] links to."""
    write_recipe(ws, "p/slow", cells=("print('before')", stopped_cell(tmp_path / "gate")))
    with Studio.open(ws, user="alice") as studio:
        job = studio.run("p/slow", timeout=2)
    assert job.status == "failed" and job.error["ename"] == "Timeout", job.error
    assert job.error["cell"] == 2  # the parameters cell, 'before', then the cut-off one
    nb = nbformat.read(ws / job.output_path, as_version=4)
    banner, cells = nb.cells[0], nb.cells[1:]
    (anchor,) = tagged(nb, ERROR_MARKER_TAG)  # papermill's own marker: its next run drops it
    assert cells.index(anchor) == job.error["cell"]  # just before the cut-off cell
    assert 'id="papermill-error-cell"' in anchor.source
    cut = cells[job.error["cell"] + 1]
    (error,) = [out for out in cut.outputs if out.output_type == "error"]
    assert (error.ename, error.evalue) == ("Timeout", job.error["evalue"])
    assert error.evalue.startswith("timed out after 2 s"), error.evalue
    count = job.error.get("execution_count")
    mark = f"In [{count}]" if count is not None else "cell 4"  # below the banner and anchor
    assert f' <a href="#papermill-error-cell">{mark}</a>' in banner.source, banner.source


def test_a_cut_off_output_kept_as_a_recipe_runs_without_its_old_banner(
    ws: Path, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    write_recipe(ws, "p/slow", cells=("print('before')", stopped_cell(gate)))
    with Studio.open(ws, user="alice") as studio:
        cut = studio.run("p/slow", timeout=2)
        assert cut.error["ename"] == "Timeout", cut.error
        kept_as_recipe(ws, cut.output_path, "p/again")
        gate.touch()  # its cell ends at once now
        again = studio.run("p/again")

    assert again.status == "succeeded", again.error
    nb = nbformat.read(ws / again.output_path, as_version=4)
    assert tagged(nb, "lpstudio-error") == [] and tagged(nb, ERROR_MARKER_TAG) == []
    assert not any("timed out" in cell.source for cell in nb.cells)
    # the recipe's own cells: parameters, 'before' and the one that waited
    assert (again.cells_done, again.cells_total) == (3, 3)
    assert len(nb.cells) == 3
