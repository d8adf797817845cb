"""Real `lpstudio serve` processes on loopback for tests, with test identities."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from jupyter_server.auth.identity import IdentityProvider, User
from traitlets.config import Config

from tests.browser import free_port
from tests.conftest import LPSTUDIO, wait_for

REPO = Path(__file__).resolve().parent.parent
API = "/lpstudio/api/v1"
JUPYTER_TOKEN = "test-server-token"


def extension_config(ws: Path) -> Config:
    """pytest-jupyter's `jp_server_config` for lpstudio's extension on `ws`: users named by a
    header, and no hosted scheduler (tests run jobs themselves)."""
    return Config(
        {
            "ServerApp": {
                "jpserver_extensions": {"lpstudio.server": True},
                "identity_provider_class": "tests.servers.HeaderIdentityProvider",
            },
            "LpstudioApp": {"workspace": str(ws), "scheduler": False},
        }
    )


class HeaderIdentityProvider(IdentityProvider):
    """Test identities: the user named by `X-Test-User` (else Jupyter's token or cookie)."""

    def get_user(self, handler: Any) -> Any:
        name = handler.request.headers.get("X-Test-User")
        if name:
            handler._token_authenticated = True  # a header, like a token: no XSRF cookie
            return User(username=name)
        return super().get_user(handler)


@dataclass
class Served:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    def api(self, user: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"X-Test-User": user, **kwargs.pop("headers", {})}
        return httpx.request(
            method, f"{self.url}{API}{path}", headers=headers, timeout=30, **kwargs
        )

    def client_token(self, name: str = "bot", rate: int = 1000) -> str:
        """A new API client's token, made by the admin alice, for every callable endpoint."""
        made = self.api(
            "alice",
            "POST",
            "/api-clients",
            json={"name": name, "endpoints": ["*"], "rate_per_minute": rate},
        )
        assert made.status_code == 201, made.text
        return str(made.json()["token"])

    def kill(self, sig: int = signal.SIGKILL) -> None:
        self.proc.send_signal(sig)
        self.proc.wait(timeout=60)


@contextmanager
def serving(ws: Path, *extra: str, name: str = "server") -> Iterator[Served]:
    """`lpstudio serve` on a free port, with Jupyter's options after lpstudio's; yields once
    it answers."""
    port = free_port()
    command = [
        LPSTUDIO,
        "serve",
        f"--port={port}",
        "--allow-root",
        f"--workspace={ws}",
        f"--IdentityProvider.token={JUPYTER_TOKEN}",
        "--ServerApp.identity_provider_class=tests.servers.HeaderIdentityProvider",
        *extra,
    ]
    log_path = ws.parent / f"{name}-{port}.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            command,
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"

        def up() -> bool:
            assert proc.poll() is None, log_path.read_text()
            try:
                status = httpx.get(f"{url}/api/status", params={"token": JUPYTER_TOKEN}, timeout=2)
                return status.status_code == 200
            except httpx.TransportError:
                return False

        try:
            wait_for(up, timeout=60, what="the server")
            yield Served(url, proc, log_path)
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    proc.kill()
