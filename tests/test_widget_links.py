"""Links the widgets put in a notebook's output lead to their notebook from any notebook of
the workspace: JupyterLab resolves them against the notebook's folder (its kernel's working
folder), and the jobs view's links led nowhere from a recipe under projects/ (rj)."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from urllib.parse import quote, unquote, urljoin

import pytest

from lpstudio.studio import Studio
from lpstudio.widgets import GalleryView, JobsView, RecipeForm

from .conftest import write_recipe

#: Where JupyterLab serves the workspace's files from (`jupyter lab <workspace>`).
LAB = "http://127.0.0.1:8888/lab/tree/"

#: A notebook at the workspace root, in projects/, and a recipe two folders deep.
NOTEBOOKS = ("rootcopy.ipynb", "projects/scratch.ipynb", "projects/promo/blast.ipynb")


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace whose recipe promo/blast ran twice, and a folder name to be quoted."""
    made = tmp_path_factory.mktemp("links") / "ws"
    with Studio.init(made, accept_terms=True, admin="alice") as studio:
        write_recipe(made, "promo/blast")
        write_recipe(made, "a b#c/one")
        for recipe in ("promo/blast", "promo/blast", "a b#c/one"):
            assert studio.run(recipe).status == "succeeded"
    return made


@pytest.fixture(params=NOTEBOOKS)
def notebook(request: pytest.FixtureRequest, root: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A notebook's workspace path, with this process working in its folder, as the
    notebook's kernel does in JupyterLab."""
    monkeypatch.chdir(root / PurePosixPath(request.param).parent)
    return request.param


@pytest.fixture
def studio(root: Path) -> Iterator[Studio]:
    with Studio.open(root, user="alice") as opened:
        yield opened


def followed(shown: str, notebook: str) -> list[str]:
    """The workspace paths the links in `shown` open when clicked in `notebook`'s output."""
    page = urljoin(LAB, quote(notebook))
    hrefs = re.findall(r'href="([^"]*)"', shown)
    assert hrefs, shown
    opened = [urljoin(page, html.unescape(href)) for href in hrefs]
    assert all(url.startswith(LAB) for url in opened), (notebook, hrefs)
    return [unquote(url.removeprefix(LAB)) for url in opened]


def test_the_jobs_views_output_links_open_each_jobs_notebook(studio: Studio, notebook: str) -> None:
    view = JobsView(studio, limit=3)
    try:
        outputs = [row["output_path"] for row in view.rows]
        assert len(outputs) == 3 and all(outputs), view.rows
        assert followed(view.table.value, notebook) == outputs
    finally:
        view.close()


def test_the_forms_output_link_opens_the_new_jobs_notebook(studio: Studio, notebook: str) -> None:
    form = RecipeForm("promo/blast", studio)
    try:
        form.buttons["run"].click()
        form.wait()
        job = form.last_job
        assert job is not None and job.status == "succeeded", form.status.value
        assert followed(form.status.value, notebook) == [job.output_path]
    finally:
        form.close()


def test_the_gallerys_link_opens_the_recipe_it_made(
    studio: Studio, root: Path, notebook: str
) -> None:
    card = GalleryView(studio).cards["payment_reminder"]
    card.project.value = f"made from {Path(notebook).stem}"
    card.create_button.click()
    (made,) = followed(card.result.value, notebook)
    assert made == f"projects/made from {Path(notebook).stem}/payment_reminder.ipynb"
    assert (root / made).is_file()
