"""`lpstudio serve` is lpstudio's API and nothing of Jupyter's own (README: Bots and other
systems), while JupyterLab's server, where the extension also runs, keeps all of Jupyter.

People who must not hold the workspace's secrets get the operator role over the REST API of
`lpstudio serve`: Jupyter's contents, files, kernels and the rest would hand them the
workspace's `secret.key`, its store and a kernel that runs any code. A body larger than any
lpstudio route takes is refused from its Content-Length, before the server reads it.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from lpstudio.studio import Studio
from tests.conftest import wait_for, write_recipe
from tests.servers import API, Served, serving
from tests.test_server import assert_error, wait_job

#: `--LpstudioApp.max_package_bytes` of the server here: the largest body any route takes.
PACKAGE_BYTES = 3_000_000
NOTEBOOK = "projects/lab/double.ipynb"

#: Jupyter's own services, as an operator would reach them on a server with the workspace
#: as its root: each would read or write the workspace's files or run code.
JUPYTERS_OWN = [
    ("GET", "/api/contents/secret.key?content=1&type=file&format=text", None),
    ("GET", "/api/contents", None),
    ("PUT", "/api/contents/projects/evil.txt", {"type": "file", "format": "text", "content": "x"}),
    ("GET", "/files/lpstudio.db", None),
    ("GET", "/view/secret.key", None),
    ("GET", f"/nbconvert/html/{NOTEBOOK}", None),
    ("GET", "/api/nbconvert", None),
    ("POST", "/api/kernels", {}),
    ("GET", "/api/kernels", None),
    ("GET", "/api/sessions", None),
    ("POST", "/api/sessions", {"path": NOTEBOOK, "type": "notebook", "kernel": {}}),
    ("GET", "/api/kernelspecs", None),
    ("GET", "/kernelspecs/python3/kernel.json", None),
    ("GET", "/api/config/notebook", None),
    ("PATCH", "/api/config/notebook", {"x": 1}),
    ("GET", "/api/terminals", None),
    ("POST", "/api/terminals", {}),
    ("GET", "/terminals/1", None),
    ("GET", "/lab", None),
    ("GET", "/tree", None),
    ("GET", f"/edit/{NOTEBOOK}", None),
    ("POST", "/api/events", {"schema_id": "x", "version": "1", "data": {}}),
    ("POST", "/api/shutdown", None),  # last: a server that has it stops here
]


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """alice (admin) and otto (operator); a plain recipe; no kernels kept ready."""
    root = tmp_path_factory.mktemp("serve-only") / "ws"
    with Studio.init(root, accept_terms=True, admin="alice") as studio:
        studio.store.ensure_user("otto", "operator")
    write_recipe(root, "lab/double")
    toml = root / "lpstudio.toml"
    toml.write_text(toml.read_text().replace("pool_size = 2", "pool_size = 0"))
    return root


@pytest.fixture(scope="module")
def served(ws: Path) -> Iterator[Served]:
    with serving(
        ws, f"--LpstudioApp.max_package_bytes={PACKAGE_BYTES}", "--LpstudioApp.scheduler=False"
    ) as running:
        yield running


def jupyter(served: Served, method: str, path: str, body: Any = None) -> httpx.Response:
    """A request to one of Jupyter's own routes, as the operator otto."""
    return httpx.request(
        method, f"{served.url}{path}", json=body, headers={"X-Test-User": "otto"}, timeout=30
    )


def peak_memory(pid: int) -> int:
    """The process's peak resident memory, in bytes (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc")


def answer_to_headers(served: Served, headers: str) -> bytes:
    """What the server answers to a request's head alone, its body never sent: a server
    that waits for the body first answers nothing (the socket's timeout fails the test)."""
    port = int(served.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(headers.encode() + b"\r\n")
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received


def test_lpstudio_serve_serves_lpstudio_and_none_of_jupyters_own(served: Served, ws: Path) -> None:
    assert served.api("otto", "GET", "/me").json()["role"] == "operator"
    for path in ("/api/status", "/api/me"):  # health checks and who one is: nothing else
        assert jupyter(served, "GET", path).status_code == 200
    started = served.api("alice", "POST", "/recipes/lab/double.ipynb/run", json={})
    assert started.status_code == 202, started.text
    assert wait_job(served.url, started.json()["id"])["status"] == "succeeded"

    answers = {f"{m} {p}": jupyter(served, m, p, body).status_code for m, p, body in JUPYTERS_OWN}

    assert answers == {route: 404 for route in answers}
    assert not (ws / "projects" / "evil.txt").exists()
    assert jupyter(served, "GET", "/api/status").json()["kernels"] == 0
    assert served.proc.poll() is None


def test_a_path_outside_the_api_is_a_json_404_naming_it(served: Served) -> None:
    """A bot that called /call/optin, outside the API, was answered Jupyter's HTML: to a
    POST "403 ... '_xsrf' argument missing", as if it had to log in; to a GET a 404 page."""
    made = served.api(
        "alice", "POST", "/api-clients", json={"name": "lost-bot", "endpoints": ["*"]}
    )
    assert made.status_code == 201, made.text
    bot = {"API-TOKEN": made.json()["token"]}
    for path in ("/call/optin", "/lpstudio/call/optin", "/api/v1/call/optin", "/nowhere"):
        for method in ("POST", "GET"):
            answer = httpx.request(method, f"{served.url}{path}", json={}, headers=bot, timeout=30)
            error = assert_error(answer, 404, "path")
            assert error["code"] == "NotFoundError", error
            assert error["message"] == f"no route {path}", error
            assert error["fix"] == f"the routes are in {API}/openapi.json", error
    # Jupyter's own that stay, as they were.
    assert jupyter(served, "GET", "/api/status").status_code == 200


def test_lpstudio_s_own_lines_are_the_server_s_log_lines(ws: Path) -> None:
    """The hosted scheduler's lines (its lease, a line per job start and end) had no
    handler: Python dropped the info lines and printed the warnings bare."""
    with serving(ws, name="own-lines") as server:
        said = wait_for(
            lambda: re.search(
                r"^\[I \S+ \S+ lpstudio\.scheduler\] took the scheduler lease",
                server.log.read_text(),
                re.MULTILINE,
            ),
            timeout=30,
            what="the scheduler's lease line",
        )
    assert said is not None


def test_a_body_larger_than_any_route_takes_is_refused_before_it_is_read(
    served: Served,
) -> None:
    head = "POST {api}/hooks/abc HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {length}\r\n"
    for length in (400_000_000, PACKAGE_BYTES + 1):
        answer = answer_to_headers(served, head.format(api=API, length=length))
        assert answer.startswith(b"HTTP/1.1 400 "), answer

    # Below that, each route's own limit answers as before, naming its setting.
    below = served.api("otto", "POST", "/hooks/abc", content=b"a" * (2 << 20))
    assert "--LpstudioApp.max_body_bytes" in assert_error(below, 413, "body")["fix"]

    # Without a Content-Length the server stops reading at the same size: its memory
    # stays flat whatever the client goes on sending.
    before = peak_memory(served.proc.pid)
    port = int(served.url.rsplit(":", 1)[1])
    chunk = b"%x\r\n%s\r\n" % (1 << 20, b"a" * (1 << 20))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            f"POST {API}/hooks/abc HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Transfer-Encoding: chunked\r\n\r\n".encode()
        )
        with pytest.raises(OSError):  # refused and closed: the rest is never taken
            for _ in range(64):
                sock.sendall(chunk)
    assert peak_memory(served.proc.pid) - before < 32 << 20
    assert jupyter(served, "GET", "/api/status").status_code == 200  # and serves on


@pytest.fixture
def lab_ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    Studio.init(root, accept_terms=True, admin="alice").close()
    return root


@pytest.fixture
def served_workspace(lab_ws: Path) -> Path:
    return lab_ws


@pytest.fixture
def jp_root_dir(lab_ws: Path) -> Path:
    return lab_ws


async def test_jupyterlab_servers_keep_all_of_jupyter(jp_fetch: Any, jp_serverapp: Any) -> None:
    headers = {"X-Test-User": "alice"}
    listed = await jp_fetch("api", "contents", headers=headers)
    assert {item["name"] for item in json.loads(listed.body)["content"]} >= {
        "projects",
        "lpstudio.toml",
    }
    kernels = await jp_fetch("api", "kernelspecs", headers=headers)
    assert kernels.code == 200
    me = await jp_fetch("lpstudio", "api", "v1", "me", headers=headers)
    assert me.code == 200
    assert jp_serverapp.max_body_size == 512 * 1024 * 1024  # Jupyter's, unchanged
