"""Job history is read-only through Jupyter's contents API.

JupyterLab's autosave wrote an opened output notebook back into `history/` (kernel
metadata, or a stale snapshot over a job that was still writing it). Inside a real Jupyter
server serving the workspace (tests/servers.py): history's models say `"writable": false`,
which JupyterLab's autosave respects, and a save sent anyway is refused, the file untouched.
The file browser's other changes (rename, move in or out, delete, new file or folder, upload,
copy into history, a checkpoint made or restored) are refused the same way, under an async
contents manager (Jupyter's default) and a sync one; copying out of history still works.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat
import pytest
from traitlets.config import Config

from lpstudio.studio import Studio
from tests.conftest import write_recipe
from tests.servers import extension_config

ALICE = {"X-Test-User": "alice"}


@pytest.fixture
def history_folder(request: pytest.FixtureRequest) -> str:
    """The workspace's `[history] path`: `history`, unless a test names another (`indirect`)."""
    return getattr(request, "param", "history")


@pytest.fixture
def output_path(ws: Path, history_folder: str) -> str:
    """The output notebook of a finished job, from the workspace's folder."""
    config = ws / "lpstudio.toml"
    config.write_text(config.read_text().replace('path = "history"', f'path = "{history_folder}"'))
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


@pytest.fixture
def contents_manager(request: pytest.FixtureRequest) -> str:
    """Jupyter's contents manager: its default, async one, unless a test names the sync
    one (`indirect`): the server awaits either."""
    return getattr(request, "param", "AsyncLargeFileManager")


@pytest.fixture
def jp_server_config(served_workspace: Path, contents_manager: str) -> Config:
    config = extension_config(served_workspace)
    config.ServerApp.contents_manager_class = (
        f"jupyter_server.services.contents.largefilemanager.{contents_manager}"
    )
    return config


both_managers = pytest.mark.parametrize(
    "contents_manager",
    [
        "AsyncLargeFileManager",
        pytest.param(  # deprecated by Jupyter Server, still one a brand may configure
            "LargeFileManager",
            marks=pytest.mark.filterwarnings("ignore:The synchronous ContentsManager"),
        ),
    ],
    indirect=True,
)


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


async def contents(
    jp_fetch: Any, method: str, path: str, body: dict[str, Any] | None = None, *more: str
) -> Any:
    """A request of JupyterLab's file browser to the contents API at `path` (and `more`)."""
    options: dict[str, Any] = {"method": method, "headers": ALICE, "raise_error": False}
    if body is not None or method == "POST":  # tornado sends no POST without a body
        options["body"] = json.dumps(body) if body is not None else ""
    return await jp_fetch("api", "contents", *path.split("/"), *more, **options)


def files(folder: Path) -> dict[str, bytes]:
    """Every file under `folder`, by its path there, with its bytes."""
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in folder.rglob("*")
        if path.is_file()
    }


def refused(answer: Any, path: str, *fix: str) -> None:
    """The answer is a 403 whose message, as JupyterLab shows it, names `path`, says only
    jobs write history, and gives the `fix`."""
    assert answer.code == 403, answer.body
    message = json.loads(answer.body)["message"]
    assert message.startswith(f"{path} is in job history"), message
    assert "only its jobs write it" in message, message
    for words in fix:
        assert words in message, message


#: A move's or an edit's fix: a copy under projects/.
COPY_IT = ("fix: copy it to a folder under projects/", "File > Save Notebook As...", "Paste")


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
    refused(answer, output_path, "read-only", *COPY_IT)
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


@both_managers
async def test_a_rename_or_move_out_of_history_is_refused(
    jp_fetch: Any, ws: Path, output_path: str
) -> None:
    before = files(ws / "history")
    for to in (output_path.replace(".ipynb", "-renamed.ipynb"), "projects/t/moved.ipynb"):
        answer = await contents(jp_fetch, "PATCH", output_path, {"path": to})
        refused(answer, output_path, *COPY_IT)
    assert files(ws / "history") == before
    assert not (ws / "projects/t/moved.ipynb").exists()


@both_managers
async def test_a_move_into_history_is_refused(jp_fetch: Any, ws: Path, output_path: str) -> None:
    before, recipe = files(ws / "history"), (ws / "projects/t/probe.ipynb").read_bytes()
    into = f"{Path(output_path).parent.as_posix()}/probe.ipynb"

    answer = await contents(jp_fetch, "PATCH", "projects/t/probe.ipynb", {"path": into})

    refused(answer, into, "fix: put it in a folder under projects/ instead")
    assert files(ws / "history") == before
    assert (ws / "projects/t/probe.ipynb").read_bytes() == recipe


async def test_a_refused_name_holding_a_percent_is_said_as_written(
    jp_fetch: Any, ws: Path, output_path: str
) -> None:
    """JupyterLab showed a move to `50%off.ipynb` in history refused as `50%%off.ipynb`."""
    into = f"{Path(output_path).parent.as_posix()}/50%off.ipynb"

    answer = await contents(jp_fetch, "PATCH", "projects/t/probe.ipynb", {"path": into})

    refused(answer, into, "fix: put it in a folder under projects/ instead")
    assert (ws / "projects/t/probe.ipynb").exists()


@both_managers
async def test_a_delete_in_history_is_refused_with_the_retention(
    jp_fetch: Any, ws: Path, output_path: str
) -> None:
    before = files(ws / "history")

    answer = await contents(jp_fetch, "DELETE", output_path)

    refused(answer, output_path, "jobs.retention_days", "lpstudio purge --older-than DAYS")
    assert files(ws / "history") == before


async def test_the_history_folder_is_neither_deleted_nor_renamed(
    jp_fetch: Any, ws: Path, output_path: str
) -> None:
    before = files(ws / "history")
    day = Path(output_path).parent.as_posix()
    for folder in ("history", day):
        refused(await contents(jp_fetch, "DELETE", folder), folder, "jobs.retention_days")
        moved = await contents(jp_fetch, "PATCH", folder, {"path": "projects/old"})
        refused(moved, folder, *COPY_IT)
    assert files(ws / "history") == before
    assert not (ws / "projects/old").exists()
    assert (await read(jp_fetch, "history"))["writable"] is False


@pytest.mark.parametrize("history_folder", ["data/history"], indirect=True)
async def test_a_folder_holding_history_is_neither_deleted_nor_moved(
    jp_fetch: Any, ws: Path, output_path: str
) -> None:
    assert output_path.startswith("data/history/")
    before = files(ws / "data")

    deleted = await contents(jp_fetch, "DELETE", "data")
    moved = await contents(jp_fetch, "PATCH", "data", {"path": "projects/data"})

    for answer, fix in ((deleted, "lpstudio purge"), (moved, COPY_IT[0])):
        assert answer.code == 403, answer.body
        message = json.loads(answer.body)["message"]
        assert message.startswith("data holds job history"), message
        assert "only its jobs write it" in message and fix in message, message
    assert files(ws / "data") == before
    assert not (ws / "projects/data").exists()


@both_managers
async def test_nothing_new_is_made_or_uploaded_in_history(
    jp_fetch: Any, ws: Path, output_path: str
) -> None:
    before = files(ws / "history")
    folders = sorted(path for path in (ws / "history").rglob("*") if path.is_dir())
    day = Path(output_path).parent.as_posix()
    made = {
        day: await contents(jp_fetch, "POST", day, {"type": "notebook"}),  # New Notebook
        "history": await contents(jp_fetch, "POST", "history", {"type": "directory"}),
        f"{day}/data.csv": await contents(  # an upload (the file browser's PUT)
            jp_fetch,
            "PUT",
            f"{day}/data.csv",
            {"type": "file", "format": "text", "content": "a,b\n"},
        ),
    }
    for path, answer in made.items():
        refused(answer, path, "fix: put it in a folder under projects/ instead")
    assert files(ws / "history") == before
    assert sorted(path for path in (ws / "history").rglob("*") if path.is_dir()) == folders


@both_managers
async def test_a_copy_into_history_is_refused(jp_fetch: Any, ws: Path, output_path: str) -> None:
    before = files(ws / "history")
    day = Path(output_path).parent.as_posix()
    for copy_from in ("projects/t/probe.ipynb", output_path):  # Paste there, Duplicate
        answer = await contents(jp_fetch, "POST", day, {"copy_from": copy_from})
        refused(answer, day, "fix: put it in a folder under projects/ instead")
    assert files(ws / "history") == before


@both_managers
async def test_checkpoints_neither_made_nor_restored_in_history(
    jp_fetch: Any, ws: Path, output_path: str
) -> None:
    made = await contents(jp_fetch, "POST", output_path, None, "checkpoints")
    refused(made, output_path, *COPY_IT)
    assert not list((ws / "history").rglob(".ipynb_checkpoints"))
    # One the lab made before history was read-only, holding an old edit.
    old = ws / output_path
    stale = old.parent / ".ipynb_checkpoints" / f"{old.stem}-checkpoint.ipynb"
    stale.parent.mkdir()
    stale.write_text(json.dumps(edited(await read(jp_fetch, output_path))["content"]))
    before = files(ws / "history")

    restored = await contents(jp_fetch, "POST", output_path, None, "checkpoints", "checkpoint")

    refused(restored, output_path, *COPY_IT)
    assert files(ws / "history") == before


@both_managers
async def test_a_copy_out_of_history_and_projects_still_change(
    jp_fetch: Any, ws: Path, output_path: str
) -> None:
    before = files(ws / "history")

    copied = await contents(jp_fetch, "POST", "projects/t", {"copy_from": output_path})

    assert copied.code == 201, copied.body
    copy = json.loads(copied.body)["path"]
    assert copy.startswith("projects/t/") and copy.endswith(".ipynb"), copy
    assert (ws / copy).read_bytes() == (ws / output_path).read_bytes()
    assert (await read(jp_fetch, copy))["writable"] is True
    renamed = await contents(jp_fetch, "PATCH", copy, {"path": "projects/t/kept.ipynb"})
    assert renamed.code == 200, renamed.body
    assert (ws / "projects/t/kept.ipynb").exists() and not (ws / copy).exists()
    deleted = await contents(jp_fetch, "DELETE", "projects/t/kept.ipynb")
    assert deleted.code == 204, deleted.body
    assert not (ws / "projects/t/kept.ipynb").exists()
    assert (await read(jp_fetch, output_path))["content"]["cells"]  # still read
    assert files(ws / "history") == before
