"""Project packages over the REST API: `GET /packages?project=FOLDER` answers the zip that
`lpstudio export` writes, `POST /packages` imports one sent as the raw body. Through real
`lpstudio serve` processes on loopback: the server of tests/test_server.py, and a second,
empty workspace (whose package limit is small) that lacks the first one's connections.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import nbformat
import openapi_spec_validator
import pytest

from lpstudio.packages import OUTPUTS_REMOVED, export_project
from lpstudio.studio import Studio
from tests import test_server
from tests.conftest import run_cli, write_recipe
from tests.servers import Served, serving
from tests.test_server import HOOK_SECRET, api, assert_error, state

MANIFEST = "lpstudio-package.json"
ZIP = {"Content-Type": "application/zip"}
LIMIT = 200_000  # the second server's --LpstudioApp.max_package_bytes

# The sandbox, workspace and server of tests/test_server.py, as this module's own.
sandbox, ws, server = test_server.sandbox, test_server.ws, test_server.server


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """An empty workspace of its own (bob, admin; otto, operator), served with a small
    package limit: it has none of the first workspace's connections."""
    root = tmp_path_factory.mktemp("target") / "ws"
    with Studio.init(root, accept_terms=True, admin="bob") as studio:
        studio.store.ensure_user("otto", "operator")
    with serving(root, f"--LpstudioApp.max_package_bytes={LIMIT}", name="target") as served:
        yield served


def export(url: str, user: str, project: str) -> bytes:
    answer = api(url, user, "GET", "/packages", params={"project": project})
    assert answer.status_code == 200, answer.text
    return answer.content


def members(package: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(package)) as zipped:
        return {name: zipped.read(name) for name in zipped.namelist()}


def test_an_operator_downloads_a_project_as_the_zip_the_cli_writes(server: str) -> None:
    answer = api(server, "otto", "GET", "/packages", params={"project": "bots"})

    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"] == "application/zip"
    assert answer.headers["Content-Disposition"] == 'attachment; filename="bots.zip"'
    files = members(answer.content)
    manifest = json.loads(files[MANIFEST])
    assert manifest["folder"] == "bots" and manifest["exported_by"] == "otto"
    assert {"cb_optin.ipynb", "slow.ipynb"} <= set(manifest["recipes"])
    assert "project/cb_optin.ipynb" in files
    assert manifest["connections"]["optins"]["type"] == "csv_file"
    assert not any(HOOK_SECRET.encode() in data for data in files.values())

    everything = members(export(server, "otto", "."))
    assert {"bots/cb_optin.ipynb", "lab/double.ipynb"} <= set(
        json.loads(everything[MANIFEST])["recipes"]
    )
    # Named as the query names them, not as the CLI's FOLDER.
    for project in ("nope", "../etc"):
        answer = api(server, "otto", "GET", "/packages", params={"project": project})
        assert_error(answer, 400, "project")


def test_a_package_imports_under_another_folder_stopped_and_bound(server: str) -> None:
    package = export(server, "alice", "bots")

    answer = api(
        server,
        "ana",
        "POST",
        "/packages",
        params={"into": "bots-copy"},
        content=package,
        headers=ZIP,
    )

    assert answer.status_code == 201, answer.text
    done = answer.json()
    assert done["into"] == "bots-copy"
    assert {"bots-copy/cb_optin.ipynb", "bots-copy/slow.ipynb"} <= {
        r["recipe"] for r in done["recipes"]
    }
    assert not any(r["replaced"] for r in done["recipes"])
    optins = {c["name"]: c for c in done["connections"]}["optins"]
    assert optins["status"] == "bound" and not optins["created"]
    rows = api(server, "ana", "GET", "/recipes", params={"project": "bots-copy"}).json()["recipes"]
    assert rows and {r["state"] for r in rows} == {"stopped"}
    copy = api(server, "ana", "GET", "/recipes/bots-copy/cb_optin.ipynb").json()
    assert copy["settings"]["connections"] == {"optins": "optins"}

    again = api(
        server,
        "ana",
        "POST",
        "/packages",
        params={"into": "bots-copy"},
        content=package,
        headers=ZIP,
    )
    error = assert_error(again, 400)
    assert error["field"].startswith("recipes.bots-copy/")
    # The API's parameters, not the CLI's options.
    assert error["fix"] == (
        "post it again with replace=true to replace it, or into=FOLDER (another folder)"
    ), error["fix"]
    replaced = api(
        server,
        "ana",
        "POST",
        "/packages",
        params={"into": "bots-copy", "replace": "true"},
        content=package,
        headers=ZIP,
    )
    assert replaced.status_code == 201, replaced.text
    assert all(r["replaced"] for r in replaced.json()["recipes"])


def test_a_folder_is_read_as_the_file_browser_shows_it(server: str) -> None:
    """`into=projects/eu9` nested the recipes in projects/projects/eu9; `project=projects/bots`
    was refused. As Try recipe reads it, `projects/` is the file browser's folder of projects."""
    package = export(server, "alice", "projects/bots")

    answer = api(
        server,
        "ana",
        "POST",
        "/packages",
        params={"into": "projects/bots-eu9"},
        content=package,
        headers=ZIP,
    )

    assert answer.status_code == 201, answer.text
    done = answer.json()
    assert done["into"] == "bots-eu9"
    assert "bots-eu9/cb_optin.ipynb" in {r["recipe"] for r in done["recipes"]}
    found = api(server, "ana", "GET", "/recipes/bots-eu9/cb_optin.ipynb")
    assert found.status_code == 200, found.text


def _zip(**files: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zipped:
        for name, data in files.items():
            zipped.writestr(name, data)
    return out.getvalue()


def test_a_bad_package_or_query_is_refused_and_nothing_is_written(server: str, ws: Path) -> None:
    package = export(server, "alice", "lab")
    before = state(ws)
    for body, field in (
        (b"", "package"),
        (b"no zip at all", "package"),
        (_zip(**{"project/x.ipynb": b"{}"}), "package"),  # no manifest
        (_zip(**{MANIFEST: b"{", "project/x.ipynb": b"{}"}), MANIFEST),
    ):
        error = assert_error(
            api(server, "alice", "POST", "/packages", content=body, headers=ZIP), 400, field
        )
        assert error["fix"], error
    maybe = api(server, "alice", "POST", "/packages", params={"replace": "maybe"}, content=package)
    assert "true or false" in assert_error(maybe, 400, "replace")["fix"]
    outside = api(server, "alice", "POST", "/packages", params={"into": "../x"}, content=package)
    assert_error(outside, 400, "into")
    absolute = api(server, "alice", "POST", "/packages", params={"into": "/etc"}, content=package)
    error = assert_error(absolute, 400, "into")
    assert error["message"] == "`into`: project folder /etc is outside projects/", error
    assert "under projects/ such as shop" in error["fix"]
    assert state(ws) == before


def test_a_recipe_s_saved_value_holding_a_secret_is_refused_naming_the_recipe(
    server: str, ws: Path, tmp_path: Path
) -> None:
    """A package (of a workspace where it was no secret) whose recipe f429 saved the server
    workspace's connection secret as its campaign_name: the answer's message names the
    recipe, as its field does, and its fix fits an import, said with the API's route."""
    root = tmp_path / "source"
    Studio.init(root, accept_terms=True, admin="alice").close()
    write_recipe(root, "shop/f429", parameters="campaign_name: str = 'Spring'  # its name")
    with Studio.open(root, user="alice") as studio:
        studio.save_settings("shop/f429", {"campaign_name": HOOK_SECRET})
        buffer = io.BytesIO()
        export_project(studio, "shop", buffer)
    before = state(ws)

    answer = api(
        server,
        "alice",
        "POST",
        "/packages",
        params={"into": "newshop"},
        content=buffer.getvalue(),
        headers=ZIP,
    )

    error = assert_error(answer, 400, "recipes.newshop/f429.settings.parameters.campaign_name")
    assert error["message"] == (
        "recipe newshop/f429: parameter 'campaign_name' holds the secret of a connection"
    ), error
    assert error["fix"].startswith(
        "the package must not carry it: remove campaign_name from recipes.f429.ipynb."
        "settings.parameters in its lpstudio-package.json"
    ), error
    assert error["fix"].endswith(
        '/recipes/newshop/f429/settings {"parameters": {"campaign_name": ...}}'
    ), error
    assert HOOK_SECRET not in answer.text
    assert state(ws) == before


def test_an_operator_may_not_import_a_package(server: str, ws: Path) -> None:
    package = export(server, "otto", "lab")
    before = state(ws)

    answer = api(
        server, "otto", "POST", "/packages", params={"into": "lab2"}, content=package, headers=ZIP
    )

    error = assert_error(answer, 403, "role")
    assert error["message"] == "an operator cannot import project packages"
    assert "admin or analyst" in error["fix"]
    assert state(ws) == before


def test_connections_a_workspace_lacks_arrive_as_placeholders(server: str, target: Served) -> None:
    package = export(server, "alice", "hooks")

    answer = target.api("bob", "POST", "/packages", content=package, headers=ZIP)

    assert answer.status_code == 201, answer.text
    assert answer.json()["into"] == "hooks"
    created = {c["name"]: c for c in answer.json()["connections"]}
    assert created["liveperson"]["created"] and created["liveperson"]["status"] == "placeholder"
    # In the API's terms, as its error answers say it: a REST caller has no command line.
    fix = created["liveperson"]["fix"]
    assert 'PUT /lpstudio/api/v1/connections/liveperson {"fields": {"client_secret"' in fix
    assert "`lpstudio " not in fix, fix
    listed = {c["name"]: c for c in target.api("otto", "GET", "/connections").json()["connections"]}
    assert listed["liveperson"]["status"] == "placeholder"
    assert listed["liveperson"]["status_message"] == created["liveperson"]["fix"]


def test_an_import_removes_cells_outputs_as_an_export_does(server: str, target: Served) -> None:
    # A package altered after its export kept its cells' outputs (a script a later "Trust
    # Notebook" ran with the admin's session, another workspace's customers' data) and saved
    # widget state, which no export carries.
    files = members(export(server, "alice", "lab"))
    notebook = nbformat.reads(files["project/double.ipynb"].decode(), as_version=4)
    script = "<img src=x onerror=\"fetch('/lpstudio/api/v1/api-clients')\">"
    notebook.cells[1].outputs = [
        nbformat.v4.new_output("display_data", {"text/html": script}),
        nbformat.v4.new_output("stream", text="ada@example.com +14155550188\n"),
    ]
    notebook.cells[1].execution_count = 3
    notebook.metadata.widgets = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    files["project/double.ipynb"] = nbformat.writes(notebook).encode()
    package = _zip(**files)
    root = target.log.parent / "ws"

    answer = target.api("bob", "POST", "/packages?into=outs", content=package, headers=ZIP)
    (root.parent / "outs.zip").write_bytes(package)
    by_cli = run_cli("import", str(root.parent / "outs.zip"), "--into", "outs_cli", "-w", str(root))

    assert answer.status_code == 201, answer.text
    [recipe] = answer.json()["recipes"]
    assert OUTPUTS_REMOVED in recipe["notes"], recipe
    for folder in ("outs", "outs_cli"):
        written = nbformat.read(root / "projects" / folder / "double.ipynb", as_version=4)
        assert "widgets" not in written.metadata
        for cell in written.cells:
            assert cell.outputs == [] and cell.execution_count is None, cell
    assert by_cli.returncode == 0, by_cli.stderr
    assert f"note: {OUTPUTS_REMOVED}" in by_cli.stdout, by_cli.stdout


def test_a_package_larger_than_the_server_takes_is_refused_413(target: Served) -> None:
    answer = target.api("bob", "POST", "/packages", content=b"x" * (LIMIT + 1), headers=ZIP)

    error = assert_error(answer, 413, "body")
    assert f"at most {LIMIT} bytes (--LpstudioApp.max_package_bytes)" in error["fix"]
    assert "lpstudio import" in error["fix"]


def test_the_openapi_document_lists_export_and_import(server: str) -> None:
    doc = api(server, "otto", "GET", "/openapi.json").json()
    openapi_spec_validator.validate(doc)
    get = doc["paths"]["/packages"]["get"]
    assert set(get["responses"]["200"]["content"]) == {"application/zip"}
    assert get["x-lpstudio-permission"] == "view"
    post = doc["paths"]["/packages"]["post"]
    assert set(post["requestBody"]["content"]) == {"application/zip"}
    assert {"201", "400", "403", "413"} <= set(post["responses"])
    assert post["x-lpstudio-permission"] == "build"
    assert {p["name"] for p in post["parameters"]} == {"into", "replace"}
    assert post["responses"]["201"]["content"]["application/json"]["schema"]["properties"][
        "into"
    ] == {"type": "string"}
