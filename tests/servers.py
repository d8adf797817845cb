"""Real `lpstudio serve` processes on loopback for tests, with test identities."""

from __future__ import annotations

import json
import os
import secrets
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

from tests.conftest import LPSTUDIO, PortTaken, on_a_free_port, wait_for

REPO = Path(__file__).resolve().parent.parent
#: Jupyter's own server, of this environment, where lpstudio's extension is enabled.
JUPYTER_SERVER = str(Path(LPSTUDIO).parent / "jupyter-server")
API = "/lpstudio/api/v1"
#: Jupyter's token for the servers of this test process: its own, so that another worker's
#: server, holding a port chosen here before our server bound it, refuses it.
JUPYTER_TOKEN = secrets.token_hex(16)


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


async def rest(jp_fetch: Any, method: str, *path: str, body: Any = None) -> tuple[int, Any]:
    """A request of the admin (alice) to the REST API inside jupyter_server's test server."""
    options: dict[str, Any] = {"method": method, "headers": {"X-Test-User": "alice"}}
    if body is not None:
        options["body"] = json.dumps(body)
    answer = await jp_fetch("lpstudio", "api", "v1", *path, raise_error=False, **options)
    return answer.code, json.loads(answer.body)


async def call_recipe(jp_fetch: Any, path: str, body: Any, token: str) -> tuple[int, str]:
    """A bot's call of the callable recipe at `path` (pytest-jupyter's `jp_fetch`): the
    answer's status and its text, as the bot reads them."""
    answer = await jp_fetch(
        "lpstudio",
        "api",
        "v1",
        "call",
        path,
        method="POST",
        body=json.dumps(body),
        headers={"API-TOKEN": token},
        raise_error=False,
    )
    return answer.code, answer.body.decode()


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


def answering(proc: subprocess.Popen[bytes], url: str, token: str, log: Path) -> None:
    """Waits until the Jupyter server `proc` answers at `url` to its own `token` (on an
    authenticated route: another server holding the port refuses it). Raises `PortTaken`
    if it found its port taken; stops it if it does not start."""

    def up() -> bool:
        if proc.poll() is not None:
            said = log.read_text()
            if "is already in use" in said:
                raise PortTaken(url)
            raise AssertionError(f"the server for {url} exited:\n{said}")
        try:
            status = httpx.get(f"{url}/api/status", params={"token": token}, timeout=2)
        except httpx.TransportError:
            return False
        return status.status_code == 200

    try:
        wait_for(up, timeout=90, what=f"the server at {url}")
    except BaseException:
        proc.kill()
        proc.wait()
        raise


@contextmanager
def serving(
    ws: Path,
    *extra: str,
    name: str = "server",
    environ: dict[str, str] | None = None,
    jupyter: bool = False,
) -> Iterator[Served]:
    """`lpstudio serve` on a free port, with Jupyter's options after lpstudio's; yields once
    it answers. Its `url` holds the base URL an option gives (`--ServerApp.base_url=/u/ada/`).
    `environ` adds to its environment: a token given there as a service gives it (this
    module's `JUPYTER_TOKEN`, in `JUPYTER_TOKEN` or `JUPYTER_TOKEN_FILE`) takes the place
    of the command line's. With `jupyter`, Jupyter's own `jupyter server` serving `ws`, the
    extension enabled by this environment's config (as JupyterLab's server has it)."""
    given = (a.partition("=")[2] for a in extra if a.startswith("--ServerApp.base_url="))
    base = next(given, "/").rstrip("/")
    environ = environ or {}
    in_environ = {"JUPYTER_TOKEN", "JUPYTER_TOKEN_FILE"} & set(environ)
    token = [] if in_environ else [f"--IdentityProvider.token={JUPYTER_TOKEN}"]

    def start(port: int) -> Served:
        if jupyter:  # as JupyterLab runs it: Jupyter's options only
            head = [
                JUPYTER_SERVER,
                f"--ServerApp.root_dir={ws}",
                f"--LpstudioApp.workspace={ws}",
                "--ServerApp.port_retries=0",
                "--ServerApp.open_browser=False",
            ]
        else:
            head = [LPSTUDIO, "serve", f"--workspace={ws}"]
        command = [
            *head,
            f"--port={port}",
            "--allow-root",
            *token,
            "--ServerApp.identity_provider_class=tests.servers.HeaderIdentityProvider",
            *extra,
        ]
        log = ws.parent / f"{name}-{port}.log"
        with log.open("w") as out:
            proc = subprocess.Popen(
                command,
                cwd=REPO,
                env={**os.environ, "PYTHONPATH": str(REPO), **environ},
                stdin=subprocess.DEVNULL,  # as a service runs it: no terminal to ask
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        served = Served(f"http://127.0.0.1:{port}{base}", proc, log)
        answering(proc, served.url, JUPYTER_TOKEN, log)
        return served

    served = on_a_free_port(start)
    try:
        yield served
    finally:
        if served.proc.poll() is None:
            served.proc.terminate()
            try:
                served.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                served.proc.kill()
