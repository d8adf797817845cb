"""Under a Jupyter base URL (JupyterHub's `/user/NAME/`, `--ServerApp.base_url=/u/ada/`),
every link the REST API hands out leads somewhere, through a real `lpstudio serve` on
loopback: each is followed as a client follows it, from the server's origin. They named
`/lpstudio/api/v1/...` without the base URL, and led to 404 (README: Bots and other systems).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from lpstudio.store import FINAL_STATES
from lpstudio.studio import Studio
from tests.conftest import run_cli, run_json, wait_for, write_recipe
from tests.servers import Served, serving

BASE = "/u/ada/"
#: Where every link must lead: the API under the base URL.
ROOT = "/u/ada/lpstudio/api/v1/"
ECHO_INPUT = {"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}}


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The started callable bots/echo (at /call/echo), the started webhook recipe
    hooks/orders, and the manual recipe t/double."""
    root = tmp_path_factory.mktemp("base_url") / "ws"
    with Studio.init(root, accept_terms=True, admin="alice") as studio:
        write_recipe(
            root,
            "bots/echo",
            parameters="unused: int = 0  # the call's input is its event",
            cells=("import lpstudio.kernel as lp", "lp.respond({'event': lp.event})"),
            metadata={
                "title": "echo",
                "trigger": {"kind": "callable", "path": "echo", "input_schema": ECHO_INPUT},
            },
        )
        studio.start("bots/echo.ipynb")
        write_recipe(
            root, "hooks/orders", metadata={"title": "orders", "trigger": {"kind": "webhook"}}
        )
        studio.start("hooks/orders.ipynb")
        write_recipe(root, "t/double")
    return root


@pytest.fixture(scope="module")
def served(ws: Path) -> Iterator[Served]:
    with serving(ws, f"--ServerApp.base_url={BASE}") as running:
        yield running


@pytest.fixture(scope="module")
def token(served: Served) -> str:
    return served.client_token()


def follow(served: Served, link: str, method: str = "GET", **kwargs: Any) -> httpx.Response:
    """`link`, a path the API handed out, requested from the server's origin as a client
    resolves it; it must lead under the base URL."""
    assert link.startswith(ROOT), link
    url = httpx.URL(served.url).join(link)
    return httpx.request(method, url, timeout=60, **kwargs)


def endpoint(served: Served, recipe: str, link: str) -> str:
    detail = served.api("alice", "GET", f"/recipes/{recipe}")
    assert detail.status_code == 200, detail.text
    return str(detail.json()["trigger"][link])


def test_an_async_call_s_poll_link_answers_the_call(served: Served, token: str) -> None:
    bot = {"API-TOKEN": token}
    called = follow(
        served,
        endpoint(served, "bots/echo.ipynb", "endpoint"),
        "POST",
        json={"n": 7},
        params={"mode": "async"},
        headers=bot,
    )
    assert called.status_code == 202, called.text
    poll = called.json()["poll"]
    assert poll == f"{ROOT}calls/{called.json()['job']}"
    answers: list[httpx.Response] = []

    def answered() -> bool:
        answers.append(follow(served, poll, headers=bot))
        return answers[-1].status_code != 202

    wait_for(answered, timeout=120, what="the call's answer")
    assert answers[-1].status_code == 200, answers[-1].text
    assert answers[-1].json() == {"event": {"n": 7}}


def test_a_recipe_s_endpoint_takes_a_call(served: Served, token: str) -> None:
    link = endpoint(served, "bots/echo.ipynb", "endpoint")
    assert link == f"{ROOT}call/echo"
    called = follow(served, link, "POST", json={"n": 3}, headers={"API-TOKEN": token})
    assert called.status_code == 200, called.text
    assert called.json() == {"event": {"n": 3}}


def test_a_recipe_s_hook_takes_a_delivery(served: Served) -> None:
    link = endpoint(served, "hooks/orders.ipynb", "hook")
    delivered = follow(served, link, "POST", json={"order": 1})
    assert delivered.status_code == 202, delivered.text


def test_the_location_of_a_run_and_of_its_rerun_answers_the_job(served: Served) -> None:
    user = {"X-Test-User": "alice"}
    run = served.api("alice", "POST", "/recipes/t/double.ipynb/run", json={})
    assert run.status_code == 202, run.text
    jobs: list[dict[str, Any]] = []

    def ended() -> bool:
        shown = follow(served, run.headers["Location"], headers=user)
        assert shown.status_code == 200, shown.text
        jobs.append(shown.json())
        return jobs[-1]["status"] in FINAL_STATES

    wait_for(ended, timeout=120, what="the run's job")
    assert jobs[-1]["id"] == run.json()["id"]
    rerun = served.api("alice", "POST", f"/jobs/{run.json()['id']}/rerun")
    assert rerun.status_code == 202, rerun.text
    shown = follow(served, rerun.headers["Location"], headers=user)
    assert shown.status_code == 200, shown.text
    assert shown.json()["id"] == rerun.json()["id"] != run.json()["id"]


def test_a_fix_names_the_route_that_works(served: Served) -> None:
    missing = served.api("alice", "GET", "/recipes/t/missing.ipynb")
    assert missing.status_code == 404, missing.text
    fix = missing.json()["error"]["fix"]
    route = re.search(r"GET (\S+)", fix)
    assert route, fix
    listed = follow(served, route[1], headers={"X-Test-User": "alice"})
    assert listed.status_code == 200, listed.text
    assert "recipes" in listed.json()


def test_the_command_line_names_a_recipe_s_link_under_the_server_s_base_url(
    served: Served, ws: Path, token: str
) -> None:
    """`lpstudio gallery try` and `lpstudio settings` said `receives: POST
    /lpstudio/api/v1/call/...` while the server running on the workspace serves under
    /u/ada/: the link led to 404. They read the base URL from the running server's info."""
    workspace = ("--workspace", str(ws))
    shown = run_cli("settings", "bots/echo", *workspace)
    assert shown.returncode == 0, shown.stderr
    said = re.search(r"receives: +POST (\S+)  \(on the server at (\S+)\)", shown.stdout)
    assert said, shown.stdout
    assert said[1] == f"{ROOT}call/echo" and said[2] == served.url + "/", shown.stdout
    called = follow(served, said[1], "POST", json={"n": 4}, headers={"API-TOKEN": token})
    assert called.status_code == 200 and called.json() == {"event": {"n": 4}}, called.text
    code, settings = run_json("settings", "hooks/orders", *workspace)
    assert code == 0 and settings["url"].startswith(f"{ROOT}hooks/"), settings
    assert follow(served, settings["url"], "POST", json={"order": 2}).status_code == 202

    tried = run_cli("gallery", "try", "cb_optin", "--project", "base", *workspace)
    assert tried.returncode == 0, tried.stderr
    assert f"receives: POST {ROOT}call/optin  (on the server at {served.url}/)" in tried.stdout
    code, again = run_json("gallery", "try", "cb_optin", "--project", "base2", *workspace)
    assert code == 0 and again["url"] == f"{ROOT}call/optin-2", again


def test_with_no_server_running_the_command_line_says_its_link_is_under_a_base_url(
    tmp_path: Path,
) -> None:
    """Nothing tells the base URL of a server that is not running: the link is said to be
    under it, not as if a server at / served it."""
    root = tmp_path / "ws"
    Studio.init(root, accept_terms=True, admin="alice").close()
    tried = run_cli("gallery", "try", "cb_optin", "--project", "bots", "--workspace", str(root))
    assert tried.returncode == 0, tried.stderr
    assert (
        "receives: POST /lpstudio/api/v1/call/optin  (under the base URL of the server serving "
        "this workspace: `lpstudio serve`, or JupyterLab)"
    ) in tried.stdout, tried.stdout
