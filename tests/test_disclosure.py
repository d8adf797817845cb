"""What the REST API's answers disclose: nothing of the store or the server's folders to a
caller without credentials, and the workspace's files by their path in it to everyone."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from lpstudio.errors import InputError
from lpstudio.registry import get_connector
from lpstudio.sdk import Connection, inside_workspace
from lpstudio.studio import Studio
from lpstudio.workspace import SQLITE_SIDE_FILES
from tests.browser import free_port
from tests.postgres import postgres_server, server_down
from tests.servers import API, Served, serving

PASSWORD = "St0reP4ss-Qq"


def _anonymous(server: Served, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """A request without a Jupyter login (a bot's token at most)."""
    return httpx.request(method, f"{server.url}{API}{path}", timeout=30, **kwargs)


def _outsiders_learn_nothing(server: Served, *kept: str) -> None:
    """A caller without credentials is told what it is told when the workspace serves: 401
    on a user's route; on a bot's or a webhook sender's, whose token or signature cannot be
    checked, that the service is unavailable for now. None of `kept` is in any answer."""
    answers = {
        "user": _anonymous(server, "GET", "/jobs"),
        "openapi": _anonymous(server, "GET", "/openapi.json"),
        "call": _anonymous(server, "POST", "/call/optin", headers={"API-TOKEN": "lps_x"}, json={}),
        "bearer": _anonymous(
            server, "GET", "/openapi.json", headers={"Authorization": "Bearer lps_x"}
        ),
        "hook": _anonymous(server, "POST", "/hooks/h1", json={"phone": "+14155550100"}),
    }
    for name, answer in answers.items():
        error = answer.json()["error"]
        if name in ("user", "openapi"):
            assert answer.status_code == 401 and error["code"] == "Unauthenticated", answer.text
        else:
            assert answer.status_code == 503, (name, answer.text)
            assert answer.headers["Retry-After"] == "5", (name, answer.headers)
            assert error["code"] == "ServiceUnavailable", (name, error)
            assert "unavailable" in error["message"] and "try again" in error["fix"], error
        for text in ("store", *kept):
            assert text not in answer.text, (name, text, answer.text)


def _down_store(ws: Path) -> str:
    """Points the workspace at a PostgreSQL store on a loopback port nothing listens on."""
    url = f"postgresql+psycopg://lpstudio:{PASSWORD}@127.0.0.1:{free_port()}/brand"
    config = ws / "lpstudio.toml"
    config.write_text(config.read_text().replace('url = "sqlite:///lpstudio.db"', f'url = "{url}"'))
    return url


def test_a_store_that_cannot_be_reached_is_named_to_jupyter_users_only(ws: Path) -> None:
    """An outsider was answered `cannot open the store postgresql+psycopg://lpstudio:***@
    127.0.0.1:PORT/brand: ...`, before any credential was looked at."""
    url = _down_store(ws)
    port = url.rsplit(":", 1)[1].split("/")[0]
    with serving(ws) as server:
        _outsiders_learn_nothing(server, port, "brand", "lpstudio:", "127.0.0.1", str(ws))
        told = server.api("alice", "GET", "/jobs")
        assert told.status_code == 503 and told.headers["Retry-After"] == "5", told.text
        error = told.json()["error"]
        assert (error["code"], error["field"]) == ("StoreUnavailable", "store.url"), error
        assert f"127.0.0.1:{port}/brand" in error["message"] and PASSWORD not in told.text
        assert "database server runs" in error["fix"], error


def test_a_workspace_never_activated_is_named_to_jupyter_users_only(ws: Path) -> None:
    """A workspace's folder without its store (copied without it) is one to activate."""
    for side in SQLITE_SIDE_FILES:
        (ws / f"lpstudio.db{side}").unlink(missing_ok=True)
    with serving(ws) as server:
        _outsiders_learn_nothing(server, "activated", "init", str(ws))
        told = server.api("alice", "GET", "/jobs")
        assert told.status_code == 503, told.text
        error = told.json()["error"]
        assert (error["code"], error["field"]) == ("NoWorkspace", "workspace"), error
        assert error["message"] == "the workspace was never activated: no admin accepted its terms"
        assert error["fix"] == "an admin runs `lpstudio init . --accept-terms` in the workspace"


def test_a_store_that_goes_down_while_serving_is_named_to_jupyter_users_only(
    tmp_path: Path,
) -> None:
    """The store's own reason (its host and port) reached a bot too."""
    with postgres_server() as url:
        root = tmp_path / "ws"
        root.mkdir()
        (root / "lpstudio.toml").write_text(f'[store]\nurl = "{url}"\n')
        Studio.init(root, accept_terms=True, admin="alice").close()
        with serving(root) as server:
            token = server.client_token()
            assert server.api("alice", "GET", "/jobs").status_code == 200
            with server_down(url):
                port = url.rsplit(":", 1)[1].split("/")[0]
                answer = _anonymous(server, "POST", "/call/optin", headers={"API-TOKEN": token})
                assert answer.status_code == 503, answer.text
                assert answer.headers["Retry-After"] == "5", answer.text
                assert answer.json()["error"]["code"] == "ServiceUnavailable", answer.text
                for text in ("store", port, "127.0.0.1", "connection"):
                    assert text not in answer.text, (text, answer.text)
                told = server.api("alice", "GET", "/jobs")
                assert told.json()["error"]["code"] == "StoreUnavailable", told.text


# -- the server's folders, and paths that are no paths ------------------------------------


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Served]]:
    ws = tmp_path_factory.mktemp("disclosure") / "ws"
    Studio.init(ws, accept_terms=True, admin="alice").close()
    with serving(ws) as server:
        yield ws, server


@pytest.mark.parametrize("exists", [False, True], ids=["missing", "existing"])
def test_a_recipe_outside_projects_is_quoted_as_typed(
    served: tuple[Path, Served], exists: bool
) -> None:
    """`?recipe=../../x.ipynb` was answered `recipe /tmp/.../x.ipynb is outside projects`."""
    ws, server = served
    typed = f"../../{'there' if exists else 'nowhere'}.ipynb"
    if exists:
        (ws.parent / "there.ipynb").write_text("{}")
    answer = server.api("bob", "GET", "/jobs", params={"recipe": typed})
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["field"] == "recipe" and f"recipe {typed} is outside projects" in error["message"]
    assert str(ws.parent) not in answer.text, answer.text


def test_a_csv_file_s_test_names_it_by_its_path_in_the_workspace(
    served: tuple[Path, Served],
) -> None:
    ws, server = served
    made = server.api(
        "alice",
        "POST",
        "/connections",
        json={"name": "c16", "type": "csv_file", "fields": {"path": "file:secret.key"}},
    )
    assert made.status_code == 201, made.text
    said = "file:secret.key does not exist yet: it will be created on the first append_row"
    tested = server.api("alice", "POST", "/connections/c16/test")
    assert tested.json()["status_message"] == said, tested.text
    assert server.api("alice", "GET", "/connections/c16").json()["status_message"] == said
    (ws / "empty.csv").write_text("")
    server.api("alice", "PUT", "/connections/c16", json={"fields": {"path": "./empty.csv"}})
    tested = server.api("alice", "POST", "/connections/c16/test")
    assert tested.json()["status_message"].startswith("empty.csv is empty"), tested.text


def test_a_csv_path_holding_a_nul_is_refused_when_saved(served: tuple[Path, Served]) -> None:
    """It was saved, listed as binary, and its test failed with `embedded null byte`."""
    _, server = served
    body = {"name": "c17", "type": "csv_file", "fields": {"path": "secret.key\u0000"}}
    refused = server.api("alice", "POST", "/connections", json=body)
    assert refused.status_code == 400, refused.text
    error = refused.json()["error"]
    assert error["field"] == "path" and error["fix"], error
    assert server.api("alice", "GET", "/connections/c17").status_code == 404


def test_a_path_holding_a_nul_is_refused_where_a_connector_opens_it(tmp_path: Path) -> None:
    """A connector of a brand's own that does not pattern its path field."""
    conn = Connection("files", get_connector("csv_file"), {"root": str(tmp_path)})
    with pytest.raises(InputError) as caught:
        inside_workspace(conn, "data/leads.json\0", "file", "the JSON file", "data/leads.json")
    assert caught.value.field == "file", caught.value
    assert "data/leads.json" in (caught.value.fix or "")
    assert "embedded null byte" not in json.dumps(caught.value.to_dict())
