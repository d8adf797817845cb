"""Recipe names that name no file, or a file by the server's own path: each is refused at
the edge naming the field `recipe`, not answered 500 (or a traceback from the CLI)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from jupyter_server.utils import url_path_join

from tests.conftest import write_recipe
from tests.servers import API

#: A name longer than any file system takes (255 bytes a name on ext4, APFS, NTFS).
LONG = "a" * 300 + ".ipynb"


async def call(
    http_server_client: Any, jp_base_url: str, method: str, path: str
) -> tuple[int, dict[str, Any]]:
    """`method` on the API's `path`, sent as it is (`%2F` stays `%2F`), as alice."""
    answer = await http_server_client.fetch(
        f"{jp_base_url.rstrip('/')}{API}{path}",
        method=method,
        body="{}" if method == "POST" else None,
        headers={"X-Test-User": "alice"},
        raise_error=False,
    )
    return answer.code, json.loads(answer.body)


def assert_refused(code: int, answer: dict[str, Any], what: Any) -> dict[str, Any]:
    error = answer.get("error", {})
    assert code == 400 and error.get("field") == "recipe" and error.get("fix"), (what, answer)
    return dict(error)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"/recipes/{LONG}"),
        ("POST", f"/recipes/{LONG}/run"),
        ("POST", f"/recipes/{LONG}/start"),
        ("GET", f"/recipes/{LONG}/versions"),
        ("GET", f"/jobs?recipe={LONG}"),
        ("GET", "/jobs?recipe=a%00b"),
        ("GET", "/recipes/a%00b.ipynb"),
    ],
)
async def test_a_name_no_file_can_have_is_refused_naming_the_field(
    http_server_client: Any, jp_base_url: str, method: str, path: str
) -> None:
    """A name too long for the file system, or with a NUL, was a 500 (`OSError: [Errno 36]
    File name too long`, `ValueError: embedded null byte` in the server's log)."""
    code, answer = await call(http_server_client, jp_base_url, method, path)
    error = assert_refused(code, answer, path)
    assert error["message"].startswith("invalid recipe name"), error
    assert f"GET {url_path_join(jp_base_url, API)}/recipes" in error["fix"], error
    assert error["code"] == "WorkspaceError", error  # one code by every route, jobs' too


async def test_the_rest_api_refuses_a_recipe_named_by_its_server_path(
    http_server_client: Any, jp_base_url: str, ws: Path
) -> None:
    """The README: the REST API names a recipe by its path under projects/ only. Its
    absolute path on the server was answered 200 with the recipe, by every route."""
    path = write_recipe(ws, "leads/new_lead")
    code, found = await call(
        http_server_client, jp_base_url, "GET", "/recipes/leads/new_lead.ipynb"
    )
    assert code == 200 and found["recipe"] == "leads/new_lead.ipynb", found
    absolute = quote(str(path), safe="")
    for method, route in (
        ("GET", f"/recipes/{absolute}"),
        ("POST", f"/recipes/{absolute}/run"),
        ("GET", f"/recipes/{absolute}/versions"),
        ("GET", f"/jobs?recipe={absolute}"),
    ):
        code, answer = await call(http_server_client, jp_base_url, method, route)
        error = assert_refused(code, answer, route)
        assert "under projects/" in error["fix"] and "leads/new_lead.ipynb" in error["fix"], error
        assert str(ws) not in json.dumps(error), error  # the server's folders stay unsaid
        assert error["code"] == "WorkspaceError", error  # one code by every route
    code, listed = await call(http_server_client, jp_base_url, "GET", "/jobs")
    assert code == 200 and listed["jobs"] == [], listed  # nothing ran


@pytest.mark.parametrize("command", [("run",), ("jobs", "--recipe"), ("versions",)])
def test_the_cli_refuses_a_name_too_long_with_exit_2(cli: Any, command: tuple[str, ...]) -> None:
    result = cli(*command, "a" * 300)
    assert result.exit_code == 2, (result.output, result.exception)
    assert "invalid recipe name" in result.output and "Traceback" not in result.output
    assert "`lpstudio recipes`" in result.output, result.output


def test_the_cli_still_takes_a_recipe_s_absolute_path(cli: Any, ws: Path) -> None:
    path = write_recipe(ws, "leads/new_lead")
    listed = cli("jobs", "--recipe", str(path), "--json")
    assert listed.exit_code == 0 and json.loads(listed.stdout) == [], listed.output
    stopped = cli("stop", str(path))
    assert stopped.exit_code == 0, stopped.output


async def test_a_folder_named_like_a_notebook_is_told_as_the_cli_tells_it(
    http_server_client: Any, jp_base_url: str, ws: Path, cli: Any
) -> None:
    """`projects/p/x.ipynb/`, a folder: REST said `recipe p/x.ipynb does not exist` (404)
    where the CLI said it is a folder and named one of its recipes."""
    write_recipe(ws, "p/x.ipynb/inner")
    said = json.loads(cli("settings", "p/x.ipynb", "--json").stdout)["error"]
    assert said["message"] == "recipe p/x.ipynb is a folder, not a recipe", said
    assert said["fix"] == "give one of its recipes, e.g. p/x.ipynb/inner.ipynb", said
    for method, path in (
        ("GET", "/recipes/p%2Fx.ipynb"),
        ("GET", "/recipes/p/x.ipynb"),
        ("POST", "/recipes/p/x.ipynb/run"),
        ("POST", "/recipes/p%2Fx.ipynb/start"),
    ):
        code, answer = await call(http_server_client, jp_base_url, method, path)
        error = assert_refused(code, answer, path)
        assert (error["message"], error["fix"]) == (said["message"], said["fix"]), error
    code, inner = await call(
        http_server_client, jp_base_url, "GET", "/recipes/p/x.ipynb/inner.ipynb"
    )
    assert code == 200 and inner["recipe"] == "p/x.ipynb/inner.ipynb", inner


async def test_a_name_holding_a_percent_escape_is_listed_with_the_path_that_reaches_it(
    http_server_client: Any, jp_base_url: str, ws: Path, cli: Any
) -> None:
    """With `a/b/r.ipynb` and `a%2Fb/r.ipynb` on disk, the second's path as `GET /recipes`
    listed it, put in the route as README says, ran the first (the route decodes `%2F`)."""
    write_recipe(ws, "a/b/r")
    write_recipe(ws, "a%2Fb/r")
    code, listed = await call(http_server_client, jp_base_url, "GET", "/recipes")
    rows = {row["recipe"]: row for row in listed["recipes"]}
    assert code == 200 and rows["a/b/r.ipynb"]["name_problem"] is None, rows
    problem = rows["a%2Fb/r.ipynb"]["name_problem"]
    assert problem == {
        "message": "recipe a%2Fb/r.ipynb holds '%2F', which a URL reads as '/': the REST API "
        "reads a%2Fb/r.ipynb as a/b/r.ipynb, and this recipe only as a%252Fb/r.ipynb",
        "field": "recipe",
        "fix": "rename it without a % before two hex digits (in JupyterLab's file browser, or "
        "with mv), e.g. a2Fb/r.ipynb",
    }, problem
    for path, recipe in (("a%2Fb/r.ipynb", "a/b/r.ipynb"), ("a%252Fb/r.ipynb", "a%2Fb/r.ipynb")):
        code, found = await call(http_server_client, jp_base_url, "GET", f"/recipes/{path}")
        assert code == 200 and found["recipe"] == recipe, (path, found)
    shown = cli("recipes")
    assert problem["message"] in shown.output and problem["fix"] in shown.output, shown.output


async def test_try_refuses_a_name_holding_a_percent_escape_naming_its_field(
    http_server_client: Any, jp_base_url: str, ws: Path, cli: Any
) -> None:
    """Try took `--project 'x%2Fy' --name 'r%2Fs'`: a recipe no route names as listed."""
    refused = {
        ("x%2Fy", "r"): ("project", "invalid project folder 'x%2Fy'", "e.g. 'x2Fy'"),
        ("p", "r%2Fs"): ("name", "invalid recipe name 'r%2Fs'", "e.g. 'r2Fs'"),
        ("p", "100%41"): ("name", "invalid recipe name '100%41'", "e.g. '10041'"),
    }
    for (project, name), (field, message, example) in refused.items():
        answer = await http_server_client.fetch(
            f"{jp_base_url.rstrip('/')}{API}/gallery/try",
            method="POST",
            body=json.dumps({"template": "payment_reminder", "project": project, "name": name}),
            headers={"X-Test-User": "alice"},
            raise_error=False,
        )
        error = json.loads(answer.body)["error"]
        assert answer.code == 400 and error["field"] == field, error
        assert error["message"].startswith(message), error
        assert "which a URL reads as" in error["message"], error
        assert error["fix"] == f"write it without a % before two hex digits, {example}", error
        said = cli("gallery", "try", "payment_reminder", "--project", project, "--name", name)
        assert said.exit_code == 2 and message in said.output, said.output
        assert f"fix: {error['fix']}" in said.output, said.output
    assert not (ws / "projects").exists() or not any((ws / "projects").iterdir())
    tried = cli("gallery", "try", "payment_reminder", "--project", "p", "--name", "100%")
    assert tried.exit_code == 0, tried.output  # a % before no escape: its path as listed
    assert cli("export", "p", "-o", str(ws / "p.zip")).exit_code == 0
    into = cli("import", str(ws / "p.zip"), "--into", "x%2Fy")
    assert into.exit_code == 2 and "invalid project folder 'x%2Fy'" in into.output, into.output
