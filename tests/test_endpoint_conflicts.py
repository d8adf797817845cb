"""A started callable recipe edited onto a path another started recipe serves: the holder
keeps it, and the one that moved is said to be in conflict wherever a user looks (the CLI,
the REST API, a call to it, the server's log). And a request from an origin Jupyter does not
allow is told so (403 naming the Origin header and the fix), not a bare 404."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from lpstudio.errors import NotFoundError
from lpstudio.studio import Studio
from tests.conftest import write_recipe
from tests.servers import API, Served, serving


def _callable(root: Path, name: str, path: str) -> None:
    """A callable recipe at /call/`path` that answers which recipe it is."""
    write_recipe(
        root,
        name,
        parameters="pause: float = 0  # seconds",
        cells=("import lpstudio.kernel as lp", f"lp.respond({{'who': {name!r}}})"),
        metadata={"title": name, "trigger": {"kind": "callable", "path": path}},
    )


def _move(root: Path, name: str, old: str, new: str) -> None:
    """Edits a recipe's trigger path as `sed -i` would, after it was started."""
    notebook = root / "projects" / f"{name}.ipynb"
    text = notebook.read_text()
    assert f'"path": "{old}"' in text
    notebook.write_text(text.replace(f'"path": "{old}"', f'"path": "{new}"'))


def _two_started(root: Path, first: str, then: str) -> None:
    """t/ok at /call/ok and t/echo at /call/echo, started in this order; then t/echo is
    edited to /call/ok."""
    with Studio.open(root, user="alice") as studio:
        _callable(root, "t/ok", "ok")
        _callable(root, "t/echo", "echo")
        studio.start(f"t/{first}.ipynb")
        studio.start(f"t/{then}.ipynb")
    _move(root, "t/echo", "echo", "ok")


@pytest.mark.parametrize("first", ["echo", "ok"])
def test_the_recipe_that_held_the_path_keeps_it_and_the_other_is_shown_in_conflict(
    ws: Path, cli: Any, first: str
) -> None:
    """Neither name order (t/echo < t/ok) nor who started first (t/echo, here, once) may hand
    /call/ok to the recipe edited onto it."""
    _two_started(ws, first, "ok" if first == "echo" else "echo")
    with Studio.open(ws, user="alice") as studio:
        assert [(e["path"], e["recipe"]) for e in studio.endpoints()] == [("ok", "t/ok.ipynb")]
        assert studio.endpoint("ok")["recipe"] == "t/ok.ipynb"
        with pytest.raises(NotFoundError) as old_path:
            studio.endpoint("echo")
        said = str(old_path.value)  # told to a bot: its path alone
        assert "ipynb" not in said and "trigger.path" not in said, said
        problem = studio.recipe_detail("t/echo.ipynb")["endpoint_problem"]
        assert problem["field"] == "trigger.path"
        assert "t/ok.ipynb" in problem["message"] and "/call/ok" in problem["message"]
        assert "stop" in problem["fix"] and "trigger.path" in problem["fix"]
        assert studio.recipe_detail("t/ok.ipynb")["endpoint_problem"] is None

    listed = cli("recipes")
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    echo = next(i for i, line in enumerate(lines) if line.strip().startswith("echo.ipynb"))
    assert "t/ok.ipynb" in lines[echo + 1] and "/call/ok" in lines[echo + 1], listed.output
    assert "fix:" in listed.output
    rows = {r["recipe"]: r for r in json.loads(cli("recipes", "--json").output)}
    assert rows["t/echo.ipynb"]["endpoint_problem"]["field"] == "trigger.path"
    assert rows["t/ok.ipynb"]["endpoint_problem"] is None

    shown = cli("settings", "t/echo")
    assert shown.exit_code == 0, shown.output
    assert "t/ok.ipynb" in shown.output and "fix:" in shown.output, shown.output
    assert "receives:" not in shown.output  # t/ok answers at /call/ok
    as_json = json.loads(cli("settings", "t/echo", "--json").output)
    assert as_json["endpoint_problem"]["field"] == "trigger.path"

    # Either fix named ends the conflict: stopping the holder hands the path over.
    assert cli("stop", "t/ok").exit_code == 0
    with Studio.open(ws, user="alice") as studio:
        assert studio.endpoint("ok")["recipe"] == "t/echo.ipynb"
        assert studio.recipe_detail("t/echo.ipynb")["endpoint_problem"] is None


def test_a_path_changed_back_serves_both_again(ws: Path) -> None:
    _two_started(ws, "ok", "echo")
    _move(ws, "t/echo", "ok", "echo")
    with Studio.open(ws, user="alice") as studio:
        assert {e["path"]: e["recipe"] for e in studio.endpoints()} == {
            "ok": "t/ok.ipynb",
            "echo": "t/echo.ipynb",
        }
        assert studio.recipe_detail("t/echo.ipynb")["endpoint_problem"] is None


# -- through a real server -------------------------------------------------------------------


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, str]]:
    """A server on t/ok and t/echo, both started (t/echo first), then t/echo edited onto
    /call/ok; an API client that may call every endpoint."""
    root = tmp_path_factory.mktemp("conflicts") / "ws"
    Studio.init(root, accept_terms=True, admin="alice").close()
    _two_started(root, "echo", "ok")
    with Studio.open(root, user="alice") as studio:
        _, token = studio.api_clients.create("bot", ["*"], 1000)
    with serving(root, name="conflicts") as server:
        yield server, token


def _call(server: Served, token: str, path: str, **headers: str) -> httpx.Response:
    return httpx.post(
        f"{server.url}{API}/call/{path}",
        json={},
        headers={"API-TOKEN": token, **headers},
        timeout=60,
    )


def _job_ids(server: Served) -> list[int]:
    return [job["id"] for job in server.api("alice", "GET", "/jobs").json()["jobs"]]


def test_calls_reach_the_holder_and_the_moved_recipe_s_admin_is_told_why(
    served: tuple[Served, str],
) -> None:
    server, token = served
    answered = _call(server, token, "ok")
    assert answered.status_code == 200, answered.text
    assert answered.json() == {"who": "t/ok"}
    for _ in range(2):
        # A bot was told of t/ok.ipynb and to stop it, which its token may not: it is told
        # of its path alone, and asks the recipe's admin.
        gone = _call(server, token, "echo")
        assert gone.status_code == 404, gone.text
        error = gone.json()["error"]
        assert error["message"] == "no started callable recipe at 'echo'", error
        assert "ask the recipe's admin" in error["fix"] and "ipynb" not in error["fix"], error
    detail = server.api("alice", "GET", "/recipes/t/echo.ipynb").json()
    assert "t/ok.ipynb" in detail["endpoint_problem"]["message"], detail
    # Its fix in the API's terms, in the recipe's detail and in the list alike: it named
    # the CLI's `lpstudio stop t/ok.ipynb` to REST users.
    rows = {r["recipe"]: r for r in server.api("alice", "GET", "/recipes").json()["recipes"]}
    for problem in (detail["endpoint_problem"], rows["t/echo.ipynb"]["endpoint_problem"]):
        assert f"POST {API}/recipes/t/ok.ipynb/stop hands /call/ok" in problem["fix"], problem
        assert "lpstudio stop" not in problem["fix"], problem
    assert server.api("alice", "GET", "/openapi.json").status_code == 200
    # The server's log says it once, however often it is met.
    assert server.log.read_text().count("callable recipes in conflict:") == 1


def test_a_refused_origin_is_told_which_header_and_how_to_allow_it(
    served: tuple[Served, str],
) -> None:
    server, token = served
    before = _job_ids(server)
    refused = _call(server, token, "ok", Origin="https://evil.example")
    assert refused.status_code == 403, refused.text
    error = refused.json()["error"]
    assert error["field"] == "Origin", error
    assert "https://evil.example" in error["message"], error
    assert "--ServerApp.allow_origin" in error["fix"], error
    assert "Access-Control-Allow-Origin" not in refused.headers  # still refused, unreadable
    preflight = httpx.options(
        f"{server.url}{API}/call/ok",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        timeout=30,
    )
    assert preflight.status_code == 403 and preflight.json()["error"]["field"] == "Origin"
    assert "Access-Control-Allow-Origin" not in preflight.headers
    assert _job_ids(server) == before  # nothing ran
