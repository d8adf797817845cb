"""The server's log masks the workspace's secrets and the server's token in every request's
line and in what Jupyter's handlers say of a request, through real servers: lpstudio's
routes were logged masked (`?t=****`) while the rest were logged as sent
(`404 GET /api/nothere?x=SECRET`, JupyterLab's `404 GET /nothing?x=shpat_...`, the contents
API's `No such file or directory: SECRET.txt`).
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from lpstudio.redaction import MASK
from lpstudio.studio import Studio
from tests.conftest import wait_for
from tests.servers import JUPYTER_TOKEN, Served, serving
from tests.test_launch import launched
from tests.test_webhook_answers import _decodings as decodings

#: The secrets of the workspace's connections: an http connection's token, and a Shopify
#: access token.
SECRET = "SEKRET-lpclient-abc123"
SHOP_TOKEN = "shpat_0a1b2c3d4e5f60718293"


def logged(log: Path, *lines: str) -> str:
    """The log once it holds each of `lines` (it is written as the server goes)."""

    def holding() -> str | None:
        text = log.read_text()
        return text if all(line in text for line in lines) else None

    return str(wait_for(holding, what=f"the log lines {lines}"))


def assert_nowhere(log: str, *hidden: str) -> None:
    for text in decodings(log):
        for value in hidden:
            assert value not in text, value


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    with Studio.init(root, accept_terms=True) as studio:  # its admin: this OS user
        studio.connections.add("crm", "http", {"token": SECRET}, studio.user)
        shop = {"shop": "http://127.0.0.1:9", "access_token": SHOP_TOKEN}
        studio.connections.add("shop", "shopify", shop, studio.user)
    return root


def test_jupyterlab_s_log_masks_secrets_outside_lpstudio_s_routes(ws: Path, tmp_path: Path) -> None:
    log = tmp_path / "lab.log"
    proc, port, _, lines = launched(ws, log)
    try:
        token = lines[2].split("token=")[1].strip()
        lab, auth = f"http://127.0.0.1:{port}", {"Authorization": f"token {token}"}
        sent = {
            f"/api/nothere?x={SECRET}": f"404 GET /api/nothere?x={MASK} (",
            f"/{SECRET}-page": f"404 GET /{MASK}-page (",
            f"/nothing?x={SHOP_TOKEN}": f"404 GET /nothing?x={MASK} (",
            f"/files/{SECRET}.txt?x={token}": f"404 GET /files/{MASK}.txt?x={MASK} (",
            f"/api/contents/{SECRET}.txt": f"No such file or directory: {MASK}.txt",
            f"/lpstudio/api/v1/jobs?t={SECRET}": f"GET /lpstudio/api/v1/jobs?t={MASK} (",
        }
        referer = {**auth, "Referer": f"{lab}/lab?q={SHOP_TOKEN}"}
        for path in sent:
            answer = httpx.get(f"{lab}{path}", headers=referer, timeout=30)
            assert answer.status_code in (400, 404), (path, answer.status_code)
        text = logged(log, *sent.values(), f"referer={lab}/lab?q={MASK}")
        assert_nowhere(text, SECRET, SHOP_TOKEN, token)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=120)


@pytest.fixture
def served(ws: Path) -> Iterator[Served]:
    with serving(ws, "--LpstudioApp.scheduler=False") as running:
        yield running


def test_lpstudio_serve_s_log_masks_secrets_in_requests_no_route_takes(served: Served) -> None:
    auth = {"Authorization": f"token {JUPYTER_TOKEN}"}
    sent = {
        f"/api/nothere?x={SECRET}": f"404 GET /api/nothere?x={MASK} (",
        f"/{SECRET}": f"404 GET /{MASK} (",
        f"/api/contents/{SHOP_TOKEN}.txt": f"404 GET /api/contents/{MASK}.txt (",
        f"/nothing?x={JUPYTER_TOKEN}": f"404 GET /nothing?x={MASK} (",
    }
    for path in sent:
        assert httpx.get(f"{served.url}{path}", headers=auth, timeout=30).status_code == 404
    text = logged(served.log, *sent.values())
    assert_nowhere(text, SECRET, SHOP_TOKEN, JUPYTER_TOKEN)
