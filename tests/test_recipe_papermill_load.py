"""A parsed recipe's notebook is the one papermill's `load_notebook_node` gives, though the
parse no longer calls it (papermill sends the node through JSON and back, validating it twice
more, most of a cold parse's cost): tags and `papermill` metadata on every cell, the
notebook's `papermill` metadata, nbformat's transient keys gone, upgraded to v4.5. Compared
with papermill's own on every template and on odd notebooks, so that a papermill that
normalises otherwise fails here, not in a job."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from typing import Any

import nbformat
import pytest
from papermill.iorw import load_notebook_node

from lpstudio.errors import RecipeError
from lpstudio.gallery import templates_dir
from lpstudio.recipe import Recipe, _add_cell_ids

TEMPLATES = ("cart_abandonment", "cb_optin", "new_lead", "payment_reminder")


def papermills_own(text: str) -> nbformat.NotebookNode:
    """What a parse gave when it called papermill: the notebook read, validated and given
    ids by position if it had none (`_add_cell_ids`), then `load_notebook_node`."""
    nb = nbformat.reads(text, as_version=nbformat.NO_CONVERT)
    held_ids = nb.nbformat == 4 and nb.nbformat_minor >= 5
    nb = nbformat.convert(nb, 4)
    if not held_ids:
        _add_cell_ids(nb)
    return load_notebook_node(nb)


def kinds(value: Any) -> Any:
    """The type of every value in `value`: papermill's nodes are NotebookNodes all the way
    down, which a plain dict among them would not be (`cell.metadata.tags` fails on one)."""
    kind = f"{type(value).__module__}.{type(value).__qualname__}"
    if isinstance(value, dict):
        return kind, {key: kinds(item) for key, item in value.items()}
    if isinstance(value, list):
        return [kinds(item) for item in value]
    return kind


def assert_as_papermill_loads(text: str) -> None:
    ours = Recipe.parse(text, "p/odd").notebook
    theirs = papermills_own(text)
    assert ours == theirs
    assert kinds(ours) == kinds(theirs)
    assert nbformat.writes(ours) == nbformat.writes(theirs)  # as a job's output stores it


@pytest.mark.parametrize("template", TEMPLATES)
def test_a_template_parses_to_papermills_own_notebook(template: str) -> None:
    assert_as_papermill_loads((templates_dir() / f"{template}.ipynb").read_text(encoding="utf-8"))


def recipe() -> dict[str, Any]:
    """A small recipe notebook as JSON, v4.5, for the odd ones below to change."""
    nb = nbformat.v4.new_notebook()
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata.lpstudio = {"title": "Odd"}
    params = nbformat.v4.new_code_cell("x: int = 1  # a number", id="params")
    params.metadata.tags = ["parameters"]
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Odd", id="heading"),
        params,
        nbformat.v4.new_code_cell("print(x)", id="run"),
    ]
    return json.loads(nbformat.writes(nb))


def without_ids(minor: int) -> Callable[[dict[str, Any]], None]:
    def change(nb: dict[str, Any]) -> None:
        nb["nbformat_minor"] = minor
        for cell in nb["cells"]:
            del cell["id"]

    return change


def holding_papermill(nb: dict[str, Any]) -> None:
    nb["metadata"]["papermill"] = {"parameters": {"x": 2}, "version": "2.0.0"}
    nb["cells"][2]["metadata"]["papermill"] = {"duration": 1.5, "status": "completed"}
    nb["cells"][2]["metadata"]["tags"] = ["slow"]


def untagged(nb: dict[str, Any]) -> None:
    nb["cells"][0]["metadata"] = {}
    nb["cells"][2]["metadata"] = {"collapsed": True}


def transient(nb: dict[str, Any]) -> None:
    """The keys nbformat strips on reading and writing, written anyway."""
    nb["metadata"].update(signature="sha256:0", orig_nbformat=3, orig_nbformat_minor=0)
    nb["cells"][2]["metadata"]["trusted"] = True


def with_outputs(nb: dict[str, Any]) -> None:
    """Outputs whose text is split into lines on disk, and a JSON output left as a list."""
    nb["cells"][2]["execution_count"] = 1
    nb["cells"][2]["outputs"] = [
        {"output_type": "stream", "name": "stdout", "text": ["1\n", "2\n"]},
        {
            "output_type": "display_data",
            "metadata": {},
            "data": {
                "text/plain": ["a\n", "b"],
                "text/html": "<b>\u2028</b>\f",
                "application/json": ["x\n", "y"],
                "image/png": ["iVBOR\n", "w0KG"],
            },
        },
    ]
    nb["cells"][0]["attachments"] = {"a.png": {"image/png": ["iVBOR\n", "w0KG"]}}


def newer_minor(nb: dict[str, Any]) -> None:
    """A minor version past nbformat's own, which its upgrade steps down and notes."""
    nb["nbformat_minor"] = 6


def duplicate_ids(nb: dict[str, Any]) -> None:
    nb["cells"][2]["id"] = "params"


ODD: dict[str, Callable[[dict[str, Any]], None]] = {
    **{f"v4.{minor} without ids": without_ids(minor) for minor in range(5)},
    "a notebook and a cell already holding papermill metadata": holding_papermill,
    "cells without tags or without metadata": untagged,
    "transient keys": transient,
    "outputs and attachments": with_outputs,
    "v4.6": newer_minor,
}


@pytest.mark.parametrize("odd", ODD)
def test_an_odd_notebook_parses_to_papermills_own_notebook(odd: str) -> None:
    nb = recipe()
    ODD[odd](nb)
    assert_as_papermill_loads(json.dumps(nb, indent=1))


def test_duplicate_cell_ids_are_repaired_as_papermill_saw_them() -> None:
    """nbformat's validation gives a repeated cell id a new random one: the parse keeps that
    repair, and papermill's normalisation of the repaired notebook."""
    nb = recipe()
    duplicate_ids(nb)
    parsed = Recipe.parse(json.dumps(nb), "p/odd").notebook
    ids = [cell.id for cell in parsed.cells]
    assert ids[:2] == ["heading", "params"] and ids[2] != "params"
    expected = copy.deepcopy(parsed)
    assert load_notebook_node(expected) == parsed


def test_a_cell_id_that_is_no_string_makes_an_unreadable_recipe() -> None:
    """nbformat's validation fails on an id that is a list before its schema says so
    (`unhashable type`): still a recipe that is not a valid notebook, said so, not a
    TypeError escaping to whatever read it."""
    nb = recipe()
    nb["cells"][1]["id"] = ["params"]
    with pytest.raises(RecipeError) as caught:
        Recipe.parse(json.dumps(nb), "p/odd")
    assert str(caught.value).startswith("recipe p/odd is not a valid notebook: unhashable")
    assert caught.value.field == "recipe"
    assert caught.value.fix == "open it in JupyterLab and save it again"
    assert caught.value.restorable


def test_a_parameters_cell_of_thousands_of_parameters_parses_in_a_moment() -> None:
    """Each parameter's annotation and default were cut from the cell with
    `ast.get_source_segment`, which splits the whole cell into lines, a character at a time,
    on every call: 3,000 parameters took some 20 s of CPU to list."""
    nb = recipe()
    lines = [f"p{n}: int = {n}  # number {n}\r\n" for n in range(3000)]
    lines.insert(10, 'text: str = """two\r\nlines"""  # a string over lines\r\n')
    nb["cells"][1]["source"] = lines
    started = time.process_time()
    parameters = Recipe.parse(json.dumps(nb), "p/odd").parameters
    assert time.process_time() - started < 3
    assert len(parameters) == 3001
    assert parameters["p2999"].default == 2999 and parameters["p2999"].help == "number 2999"
    assert parameters["text"].default == "two\nlines"
    assert parameters["text"].help == "a string over lines"


def test_a_v3_notebook_is_read_into_the_nodes_papermill_takes() -> None:
    """A notebook of IPython 2 (nbformat 3) is upgraded to v4 in nodes of v3's own class,
    which papermill's `load_notebook_node` did not take for a notebook (a TypeError
    escaped the parse): read into nbformat's nodes, it is a recipe papermill runs."""
    v3 = nbformat.v3
    params = v3.new_code_cell(input="x: int = 1  # a number", metadata={"tags": ["parameters"]})
    cells = [v3.new_text_cell("markdown", source="# Old"), params, v3.new_code_cell("print(x)")]
    nb = v3.new_notebook(worksheets=[v3.new_worksheet(cells=cells)], metadata=recipe()["metadata"])
    parsed = Recipe.parse(nbformat.writes(nb, version=3), "p/old")
    assert parsed.parameters["x"].default == 1
    assert "nbformat.v3" not in str(kinds(parsed.notebook))
    assert load_notebook_node(copy.deepcopy(parsed.notebook)) == parsed.notebook


def _template(name: str) -> dict[str, Any]:
    return json.loads((templates_dir() / f"{name}.ipynb").read_text(encoding="utf-8"))


def test_a_recipe_s_metadata_is_read_in_the_order_papermill_s_round_trip_left() -> None:
    """Its keys sorted, as papermill's JSON round trip left them: a recipe's connection
    slots are listed, and checked, in that order whatever order the file has them in."""
    nb = _template("cart_abandonment")
    slots = nb["metadata"]["lpstudio"]["connections"]
    nb["metadata"]["lpstudio"]["connections"] = dict(reversed(list(slots.items())))
    text = json.dumps(nb)
    ours = Recipe.parse(text, "p/odd").notebook.metadata
    assert list(ours.lpstudio.connections) == sorted(slots) != list(reversed(sorted(slots)))
    assert list(ours.lpstudio.connections) == list(
        papermills_own(text).metadata.lpstudio.connections
    )


def test_a_cell_without_an_id_or_with_another_s_is_given_one_by_position() -> None:
    """A 4.5 notebook written by a script (a cell without its id) or merged by hand (two
    cells with one id): nbformat's repair draws random ids, so the unchanged file was a new
    version on every read. Ids from the position make one version."""
    nb = _template("cb_optin")
    del nb["cells"][1]["id"]
    nb["cells"][3]["id"] = nb["cells"][2]["id"]
    text = json.dumps(nb)
    first, again = Recipe.parse(text, "p/odd"), Recipe.parse(text, "p/odd")
    assert first.canonical_json == again.canonical_json
    ids = [cell.id for cell in first.notebook.cells]
    assert ids[1] == "cell-1" and ids[3] == f"{nb['cells'][2]['id']}-3", ids
    assert len(set(ids)) == len(ids)
