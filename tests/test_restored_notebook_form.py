"""A restored version's notebook is written as JupyterLab saves it, not in papermill's form.

Versions are stored (and hashed) as papermill's loader reads a notebook: `metadata.papermill`
on the notebook and on every cell, `tags` on every cell, each source one string. A restore
wrote that text: restoring a version identical to the file in git showed 39 insertions and
258 deletions in `git diff`. Now it writes nbformat's form without papermill's additions
(`without_papermill`), which reads back as the same version.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import pytest
from click.testing import Result
from papermill.iorw import load_notebook_node

from lpstudio.gallery import read_gallery
from lpstudio.recipe import notebook_file, without_papermill
from lpstudio.studio import Studio
from tests.conftest import write_recipe
from tests.test_versions_on_save import api, notebook, save, versions

TEMPLATES = sorted(template.name for template in read_gallery().templates)
#: What papermill's own output notebooks hold: a user's papermill metadata, kept.
USERS_PAPERMILL = {"parameters": {"x": 3}, "input_path": "in.ipynb", "version": "2.6.0"}
#: The notebook's papermill metadata papermill's loader adds.
LOADERS = load_notebook_node(nbformat.v4.new_notebook()).metadata.papermill


def odd(kind: str) -> nbformat.NotebookNode:
    """Notebooks beside the templates: `users` holds a user's papermill metadata and tags
    (and a cell's papermill metadata, as an output notebook has), `older` the metadata an
    older papermill's loader added, `loaders` all this papermill's loader adds, `empty` no
    cell at all."""
    nb = nbformat.v4.new_notebook(metadata={"lpstudio": {"title": kind}})
    if kind == "empty":
        return nb
    code = nbformat.v4.new_code_cell("x: int = 1", id="params")
    code.metadata.tags = ["parameters", "keep"]
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Notes\n\nsome text", id="notes"),
        code,
        nbformat.v4.new_raw_cell("raw", id="raw", metadata={"format": "text/plain"}),
    ]
    if kind == "users":
        nb.metadata.papermill = USERS_PAPERMILL
        nb.cells[1].metadata.papermill = {"duration": 0.5, "status": "completed"}
    if kind == "older":
        nb.metadata.papermill = {**LOADERS, "version": "2.6.0"}
    if kind == "loaders":
        nb = load_notebook_node(nb)
    return nb


def notebooks() -> dict[str, nbformat.NotebookNode]:
    """Every template's notebook, then the odd ones, by name."""
    gallery = {t.name: t.path for t in read_gallery().templates}
    read = {name: nbformat.read(gallery[name], as_version=4) for name in TEMPLATES}
    return read | {kind: odd(kind) for kind in ("users", "older", "loaders", "empty")}


NOTEBOOKS = notebooks()
#: Those that hold nothing papermill's loader adds.
PLAIN = {name: nb for name, nb in NOTEBOOKS.items() if name != "loaders"}


@pytest.mark.parametrize("nb", NOTEBOOKS.values(), ids=NOTEBOOKS.keys())
def test_papermill_s_loader_reads_without_papermill_s_result_as_it_read_the_notebook(
    nb: nbformat.NotebookNode,
) -> None:
    loaded = load_notebook_node(nb)
    assert load_notebook_node(without_papermill(loaded)) == loaded


@pytest.mark.parametrize("nb", PLAIN.values(), ids=PLAIN.keys())
def test_without_papermill_gives_back_a_notebook_that_had_nothing_of_papermill_s_loader(
    nb: nbformat.NotebookNode,
) -> None:
    """A user's papermill metadata (as papermill's output notebooks hold), a cell's, and
    tags stay."""
    assert without_papermill(load_notebook_node(nb)) == nb


def test_without_papermill_takes_off_what_papermill_s_loader_added() -> None:
    kept = without_papermill(odd("loaders"))
    assert "papermill" not in kept.metadata
    expected = [{}, {"tags": ["parameters", "keep"]}, {"format": "text/plain"}]
    assert [cell.metadata for cell in kept.cells] == expected


def test_a_stored_text_that_is_no_canonical_notebook_is_written_as_it_is() -> None:
    """A notebook that did not load is kept as its file's text: restored, the same text."""
    for text in (
        '{"half": ',
        "[]",
        "{}",
        '{\n "cells": 1\n}',
        nbformat.writes(odd("users")) + "\n",
    ):
        assert notebook_file(text) == text


def first_version(ws: Path, cli: Callable[..., Result], recipe: str) -> str:
    """Makes a version of the recipe as it is, by a settings save of one of its parameters
    (its default, a text): the version's id."""
    with Studio.open(ws, user="alice") as studio:
        schema = studio.recipe(recipe).schema["properties"]
    name, default = next(
        (k, v["default"]) for k, v in schema.items() if isinstance(v.get("default"), str)
    )
    saved = cli("settings", recipe, "-p", name, default)
    assert saved.exit_code == 0, saved.output
    listed = cli("versions", recipe, "--json")
    assert listed.exit_code == 0, listed.output
    return str(json.loads(listed.stdout)[0]["id"])


def edit(path: Path) -> None:
    """The user's edit since: the last cell changed, saved as JupyterLab saves it."""
    nb = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    nb.cells[-1].source = "print('edited')"
    nbformat.write(nb, path)


def restore(cli: Callable[..., Result], recipe: str, version: str) -> dict[str, Any]:
    result = cli("restore", recipe, version[:12], "--json")
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


@pytest.mark.parametrize("template", TEMPLATES)
def test_a_template_restored_to_its_first_version_is_byte_for_byte_the_file_it_was(
    ws: Path, cli: Callable[..., Result], template: str
) -> None:
    """`git diff` of it is empty; it reads back as that version: a restore of it again
    keeps no other (`kept` is the version itself)."""
    tried = cli("gallery", "try", template, "--project", "p")
    assert tried.exit_code == 0, tried.output
    recipe, path = f"p/{template}", ws / "projects" / "p" / f"{template}.ipynb"
    as_tried = path.read_bytes()
    version = first_version(ws, cli, recipe)

    edit(path)
    restored = restore(cli, recipe, version)
    assert restored["id"] == version and restored["kept"] != version
    assert path.read_bytes() == as_tried
    again = restore(cli, recipe, version)
    assert again["id"] == again["kept"] == version
    assert path.read_bytes() == as_tried


@pytest.mark.parametrize("minor", [4, 5])
def test_a_user_s_papermill_metadata_and_tags_stay(
    ws: Path, cli: Callable[..., Result], minor: int
) -> None:
    """A notebook holding its own papermill metadata and a cell's tags comes back as it was
    written, and reads back as the version restored. One written before nbformat 4.5 (no
    cell ids) comes back with the ids lpstudio gave its cells as it read it (`cell-0`...),
    as nbformat 4.5, the version restored too."""
    path = write_recipe(ws, "p/own", parameters='x: str = "a"  # a text')
    nb = nbformat.read(path, as_version=4)
    nb.metadata.papermill = USERS_PAPERMILL
    nb.cells[1].metadata.tags = ["keep"]
    if minor == 4:
        nb.nbformat_minor = 4
        for cell in nb.cells:
            del cell["id"]
    nbformat.write(nb, path)
    version = first_version(ws, cli, "p/own")
    if minor == 4:  # as lpstudio read it
        nb.nbformat_minor = 5
        for index, cell in enumerate(nb.cells):
            cell.id = f"cell-{index}"
    written = nbformat.writes(nb) + "\n"

    edit(path)
    assert restore(cli, "p/own", version)["kept"] != version
    assert path.read_text(encoding="utf-8") == written
    assert restore(cli, "p/own", version)["kept"] == version


@pytest.fixture
def jp_root_dir(ws: Path) -> Path:
    """Jupyter serves the workspace, which holds a copy of the payment reminder."""
    with Studio.open(ws, user="alice") as studio:
        studio.try_template("payment_reminder", "p")
    return ws


@pytest.fixture
def served_workspace(jp_root_dir: Path) -> Path:
    return jp_root_dir


async def test_the_versions_panel_s_restore_writes_the_file_as_jupyterlab_saved_it(
    jp_fetch: Any, jp_root_dir: Path
) -> None:
    """Saved in JupyterLab, edited and saved again, then restored through the REST route the
    Versions panel calls: the file is the bytes the first save wrote, and it is that
    version (the panel lists no other)."""
    ws, recipe = jp_root_dir, "p/payment_reminder"
    path = ws / "projects" / f"{recipe}.ipynb"
    route = f"projects/{recipe}.ipynb"
    assert await save(jp_fetch, "alice", route, notebook(ws, recipe, "print('first')")) == 200
    (first,) = await versions(jp_fetch, recipe, lambda listed: len(listed) == 1)
    saved = path.read_bytes()
    assert await save(jp_fetch, "alice", route, notebook(ws, recipe, "print('second')")) == 200
    listed = await versions(jp_fetch, recipe, lambda listed: len(listed) == 2)

    body = {"version": first["id"]}
    restored = await api(jp_fetch, "POST", f"/recipes/{recipe}.ipynb/restore", body)
    assert restored["id"] == first["id"], restored
    assert path.read_bytes() == saved
    again = await api(jp_fetch, "POST", f"/recipes/{recipe}.ipynb/restore", body)
    assert again["kept"] == first["id"], again
    now = await versions(jp_fetch, recipe, lambda listed: True)
    assert sorted(v["id"] for v in now) == sorted(v["id"] for v in listed)
