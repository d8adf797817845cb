"""Job history is read-only through Jupyter's contents API.

JupyterLab's autosave wrote an opened output notebook back into `history/` (kernel
metadata, or a stale snapshot over a job that was still writing it). Inside a real Jupyter
server serving the workspace (tests/servers.py): history's models say `"writable": false`,
which JupyterLab's autosave respects, and a save sent anyway is refused, the file untouched.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat
import pytest

from lpstudio.studio import Studio
from tests.conftest import write_recipe

ALICE = {"X-Test-User": "alice"}


@pytest.fixture
def output_path(ws: Path) -> str:
    """The output notebook of a finished job, from the workspace's folder."""
    write_recipe(ws, "t/probe")
    with Studio.open(ws, user="alice") as studio:
        job = studio.run("t/probe")
    assert job.status == "succeeded", job.error
    return Path(job.output_path).as_posix()


@pytest.fixture
def jp_root_dir(ws: Path, output_path: str) -> Path:
    """Jupyter serves the workspace, its job run first."""
    return ws


@pytest.fixture
def served_workspace(jp_root_dir: Path) -> Path:
    return jp_root_dir


async def read(jp_fetch: Any, path: str) -> dict[str, Any]:
    answer = await jp_fetch("api", "contents", *path.split("/"), headers=ALICE)
    return json.loads(answer.body)


async def save(jp_fetch: Any, path: str, model: dict[str, Any]) -> Any:
    """Saves `model` at `path` as JupyterLab does."""
    return await jp_fetch(
        "api",
        "contents",
        *path.split("/"),
        method="PUT",
        body=json.dumps(model),
        headers=ALICE,
        raise_error=False,
    )


def edited(model: dict[str, Any]) -> dict[str, Any]:
    """The model as JupyterLab saves it after its kernel filled some metadata."""
    content = model["content"]
    content["metadata"]["kernel_info"] = {"name": "python3"}
    return {"type": "notebook", "format": "json", "content": content}


async def test_history_says_it_is_not_writable(jp_fetch: Any, output_path: str) -> None:
    assert output_path.startswith("history/")
    assert (await read(jp_fetch, output_path))["writable"] is False
    assert (await read(jp_fetch, "projects/t/probe.ipynb"))["writable"] is True


async def test_a_save_into_history_is_refused(jp_fetch: Any, ws: Path, output_path: str) -> None:
    before = (ws / output_path).read_bytes()
    model = edited(await read(jp_fetch, output_path))

    answer = await save(jp_fetch, output_path, model)

    assert answer.code == 403
    message = json.loads(answer.body)["message"]
    assert "job history" in message and "read-only" in message, message
    assert "File > Save Notebook As..." in message and "projects/" in message, message
    assert (ws / output_path).read_bytes() == before
    fresh = await save(jp_fetch, output_path.replace(".ipynb", "-new.ipynb"), model)
    assert fresh.code == 403  # nor a new file there
    assert not (ws / output_path.replace(".ipynb", "-new.ipynb")).exists()


async def test_a_recipe_still_saves(jp_fetch: Any, ws: Path, output_path: str) -> None:
    model = edited(await read(jp_fetch, "projects/t/probe.ipynb"))
    answer = await save(jp_fetch, "projects/t/probe.ipynb", model)
    assert answer.code == 200
    saved = nbformat.read(ws / "projects/t/probe.ipynb", as_version=4)
    assert saved.metadata.kernel_info == {"name": "python3"}
