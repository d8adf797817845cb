"""A failed job's error, as the REST API and `--json` give it out, names the workspace's
files by their path in it (`projects/shop/data.csv`) and the workspace itself as "the
workspace", as REST error answers do: a bot or a browser app learns nothing of the server's
folders. The job's stored row and its output notebook keep the full paths, for its admin."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
from click.testing import Result

from lpstudio.studio import Studio
from tests.conftest import run_cli, run_json, set_job, write_recipe


async def get(jp_fetch: Any, *path: str) -> Any:
    answer = await jp_fetch("lpstudio", "api", "v1", *path, headers={"X-Test-User": "alice"})
    return json.loads(answer.body)


def assert_no_server_folder(error: dict[str, Any], ws: Path) -> None:
    shown = json.dumps(error)
    assert str(ws) not in shown and str(ws.resolve()) not in shown, error


async def test_a_job_that_opens_a_missing_file_names_it_by_its_path_in_the_workspace(
    jp_fetch: Any, ws: Path
) -> None:
    write_recipe(
        ws, "shop/reader", cells=("from pathlib import Path", "Path('data.csv').resolve().open()")
    )
    code, ran = run_json("run", "shop/reader", "--workspace", str(ws))
    assert code == 1 and ran["status"] == "failed", ran
    _, shown = run_json("show", str(ran["id"]), "--workspace", str(ws))
    _, listed = run_json("jobs", "--workspace", str(ws))
    answered = await get(jp_fetch, "jobs", str(ran["id"]))
    paged = (await get(jp_fetch, "jobs"))["jobs"]
    said = "No such file or directory: 'projects/shop/data.csv'"
    for job in (ran, shown, listed[0], answered, paged[0]):
        assert job["id"] == ran["id"] and said in job["error"]["evalue"], job["error"]
        assert said in job["error"]["traceback"][-1], job["error"]
        assert_no_server_folder(job["error"], ws)
    full = str(ws.resolve() / "projects" / "shop" / "data.csv")
    text = run_cli("show", str(ran["id"]), "--workspace", str(ws)).stdout
    assert text.count(full) == 2, text  # at the server's terminal: its error and traceback
    with Studio.open(ws, user="alice") as studio:  # for the server's log and its admin
        assert full in studio.job(ran["id"]).error["evalue"]
    nb = nbformat.read(ran["output_path"], as_version=4)
    outputs = [o for c in nb.cells for o in c.get("outputs", ()) if o.output_type == "error"]
    assert full in outputs[0]["evalue"]


def test_every_text_of_a_job_s_error_is_shown_in_the_workspace(
    ws: Path, cli: Callable[..., Result]
) -> None:
    """A kernel's death is told in `detail`; the workspace's own folder is "the workspace"."""
    write_recipe(ws, "p/done")
    with Studio.open(ws, user="alice") as studio:
        version = studio.store.snapshot("p/done.ipynb", "{}", {}, "alice")
        job = studio.store.create_job(
            recipe="p/done.ipynb", version_id=version, trigger="manual", user="alice"
        )
        error = {
            "ename": "DeadKernelError",
            "evalue": "kernel died",
            "detail": f"kernel died in {ws} running {ws.resolve()}/projects/p/x.py",
            "traceback": [f"File {ws}/projects/p/x.py", "line 2"],
        }
        set_job(studio.store, job.id, status="failed", error=error)
    for command in (("show", str(job.id)), ("jobs",)):
        result = cli(*command, "--json")
        assert result.exit_code == 0, result.output
        shown = json.loads(result.stdout)
        assert (shown if command[0] == "show" else shown[0])["error"] == {
            "ename": "DeadKernelError",
            "evalue": "kernel died",
            "detail": "kernel died in the workspace running projects/p/x.py",
            "traceback": ["File projects/p/x.py", "line 2"],
        }


def test_only_whole_paths_in_the_workspace_are_shortened(ws: Path) -> None:
    """The workspace's folder inside a longer name, another path or a URL is not one of its
    paths: the error shows it as it is (a file beside the workspace read "the
    workspace-archive/...", a URL lost its folder)."""
    beside = f"{ws}-archive/data.csv"
    write_recipe(ws, "shop/beside", cells=(f"open({beside!r})",))
    code, ran = run_json("run", "shop/beside", "--workspace", str(ws))
    assert code == 1 and f"No such file or directory: '{beside}'" in ran["error"]["evalue"]

    from lpstudio.workspace import Workspace

    shown = Workspace.load(ws).shown_paths
    for kept in (f"https://shop.example.com{ws}/orders/7", f"{ws}ication/data.csv", f"/x{ws}"):
        assert shown(kept) == kept
    said = shown(f"open('{ws}/projects/a.csv') in {ws}. {ws}.old")
    assert said == f"open('projects/a.csv') in the workspace. {ws}.old"


def test_a_library_s_frames_name_its_module_not_the_server_s_install_folder(ws: Path) -> None:
    """Frames in Python's library, the installed packages and lpstudio itself named the
    server's folders (`/srv/venv/lib/python3.11/site-packages/httpx/_client.py`): they are
    shown by the module's path (`httpx/_client.py`), as a workspace file is by its own."""
    import httpx

    import lpstudio

    cells = ("import json, httpx", "json.loads('{')")
    write_recipe(ws, "p/stdlib", cells=cells)
    write_recipe(ws, "p/package", cells=(cells[0], "httpx.get('http://127.0.0.1:1/')"))
    write_recipe(ws, "p/own", cells=("import lpstudio.kernel as lp", "lp.connection('nope')"))
    folders = {
        str(Path(json.__file__).parent.parent),
        str(Path(httpx.__file__).parent.parent),
        str(Path(lpstudio.__file__).parent.parent),
    }
    for recipe, module in (
        ("stdlib", "json/decoder.py"),
        ("package", "httpx/_"),
        ("own", "lpstudio/kernel/"),
    ):
        code, ran = run_json("run", f"p/{recipe}", "--workspace", str(ws))
        assert code == 1 and ran["status"] == "failed", ran
        shown = json.dumps(ran["error"])
        assert module in shown, ran["error"]["traceback"]
        assert not [folder for folder in folders if folder in shown], ran["error"]["traceback"]
        assert_no_server_folder(ran["error"], ws)
