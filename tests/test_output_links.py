"""A job's output notebook over REST, through a real `lpstudio serve` on loopback: a link
put in its place in history/ is not followed (an operator read secret.key and /etc/passwd
through it), a file that is no notebook is said so (the HTML page answered 500), and Try
recipe into a project of any script answers 201 (a recipe's path in `Location` answered 500
after the recipe was written)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lpstudio.studio import Studio
from tests.conftest import write_recipe
from tests.servers import API, Served, serving


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("links") / "ws"
    with Studio.init(root, accept_terms=True, admin="alice") as studio:
        studio.set_role("otto", "operator")
        write_recipe(root, "p/one")
        for _ in range(2):
            assert studio.run("p/one").status == "succeeded"
    return root


@pytest.fixture(scope="module")
def served(ws: Path) -> Iterator[Served]:
    with serving(ws) as running:
        yield running


def output_of(ws: Path, job_id: int) -> Path:
    (found,) = (ws / "history").glob(f"*/{job_id}-one.ipynb")
    return found


def test_a_link_in_place_of_an_output_notebook_is_not_followed(served: Served, ws: Path) -> None:
    notebook = output_of(ws, 1)
    notebook.unlink()
    notebook.symlink_to(ws / "secret.key")
    key = (ws / "secret.key").read_text().strip()
    for kind in ("ipynb", "html"):
        answer = served.api("otto", "GET", f"/jobs/1/output.{kind}")
        assert answer.status_code == 404 and key not in answer.text, answer.text
        error = answer.json()["error"]
        assert error["field"] == "job" and "leads out of the history folder" in error["message"]
        assert "not a link" in error["fix"], error


@pytest.mark.parametrize(
    "content",
    [
        b"not a notebook: sk-12345",
        b'{"a": 1, "sk": "sk-12345"}',
        b'[1, 2, "sk-12345"]',
        b'{"nbformat": 4, "nbformat_minor": 5, "metadata": {"sk": "sk-12345"}, '
        b'"cells": [{"cell_type": "code"}]}',
        b"\xff\xfe sk-12345 \x00\x81",
    ],
    ids=["text", "object", "list", "invalid", "binary"],
)
def test_an_output_file_that_is_no_notebook_is_said_so(
    served: Served, ws: Path, content: bytes
) -> None:
    output_of(ws, 2).write_bytes(content)
    for kind in ("ipynb", "html"):  # served as a notebook, or a 500
        answer = served.api("otto", "GET", f"/jobs/2/output.{kind}")
        assert answer.status_code == 404 and "sk-12345" not in answer.text, answer.text
        assert "is no notebook nbformat can read" in answer.json()["error"]["message"]


def test_try_recipe_into_a_project_of_any_script_answers_where_it_is(served: Served) -> None:
    body = {"template": "payment_reminder", "project": "営業", "name": "reminder"}
    answer = served.api("alice", "POST", "/gallery/try", json=body)
    assert answer.status_code == 201, answer.text
    location = answer.headers["Location"]
    assert location == f"{API}/recipes/%E5%96%B6%E6%A5%AD/reminder.ipynb", location
    assert served.api("alice", "GET", location.removeprefix(API)).status_code == 200
