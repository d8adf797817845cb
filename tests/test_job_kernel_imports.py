"""The settings form's cell, which every template opens with, costs a job next to nothing.

In a job `RecipeForm.here()` shows nothing; still, its cell loaded every widget (the
dashboard's matplotlib, the gallery's studio) and the store (SQLAlchemy): 0.5-0.75 s in
each job's fresh kernel, against about 0.07 s for the other cells of the opt-in template,
so that 30 bots calling it at once got 22 answers of 504. Loading the form now loads only
what a form needs to be defined (ipywidgets), whatever runs it: a pooled kernel, a cold
one, or papermill's own engine. Real kernels and a real store.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat

from .conftest import full_pool, printed, write_recipe
from .test_killed_before_acting import FORM

#: What only a shown form, or another widget, needs: the studio (SQLAlchemy's store with
#: it), the dashboard's matplotlib, the other views.
SHOWN_ONLY = (
    "lpstudio.studio",
    "matplotlib",
    "lpstudio.widgets.dashboard",
    "lpstudio.widgets.gallery",
    "lpstudio.widgets.jobs",
)


def loaded(names: tuple[str, ...]) -> str:
    """A cell printing which of `names` its kernel holds."""
    return f"import sys\nprint(sorted(m for m in {names!r} if m in sys.modules))"


def test_a_fresh_interpreter_runs_the_form_cell_without_the_store_or_the_other_widgets() -> None:
    """As a cold kernel, or plain papermill's, runs the form's cell (outside a job and
    JupyterLab, `here()` says so in a line and loads no studio either)."""
    ran = subprocess.run(
        [sys.executable, "-c", f"{FORM}\n{loaded((*SHOWN_ONLY, 'sqlalchemy'))}"],
        capture_output=True,
        text=True,
    )

    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.splitlines()[-1] == "[]"  # after the line `here()` may print


def test_a_jobs_form_cell_shows_nothing_and_loads_no_studio(ws: Path) -> None:
    """Through the pool, as every job runs: the form's cell is kept in the output notebook
    as it ran (no output), and the next cell finds nothing of a shown form loaded (the
    store may be: the fork server imports it for every job's connections)."""
    path = write_recipe(ws, "p/form", cells=(loaded(SHOWN_ONLY),))
    nb = nbformat.read(path, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(FORM))
    nbformat.write(nb, path)

    with full_pool(ws) as studio:
        job = studio.run("p/form")

    assert job.status == "succeeded", job.error
    cells = [c for c in nbformat.read(job.output_file, as_version=4).cells if c.cell_type == "code"]
    assert cells[0].source == FORM and cells[0].outputs == []
    assert printed(cells[-1]) == "[]\n"


def test_a_pooled_jobs_kernel_starts_with_the_store_loaded(ws: Path) -> None:
    """A job's first connection call opens its delivery ledger in the store: SQLAlchemy's
    import (about 0.3 s) was paid by every callable's job, in its first lookup; the fork
    server pays it once, before any kernel, as it pays pandas'."""
    write_recipe(ws, "p/fresh", cells=(loaded(("lpstudio.store",)),))

    with full_pool(ws) as studio:
        job = studio.run("p/fresh")

    assert job.status == "succeeded", job.error
    cells = nbformat.read(job.output_file, as_version=4).cells
    assert printed(cells[-1]) == "['lpstudio.store']\n"
