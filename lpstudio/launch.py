"""`make studio`: JupyterLab with the studio, on the sandbox, in one command.

Starts the sandbox on `--sandbox-port` (or uses one already answering there), creates the
workspace the first time (its connections point at the sandbox; later runs reuse it), and
runs JupyterLab on 127.0.0.1 with the workspace as its root, printing the URL to open.
Ctrl-C stops JupyterLab and the sandbox it started. The same steps by hand:

    lpstudio sandbox --port 8765 &
    lpstudio init studio-workspace --accept-terms --sandbox http://127.0.0.1:8765
    LPSTUDIO_WORKSPACE=studio-workspace jupyter lab --ServerApp.root_dir=studio-workspace
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx

from .sandbox import Sandbox
from .studio import Studio
from .workspace import CONFIG_NAME, ENV_VAR


@contextlib.contextmanager
def sandbox_at(port: int) -> Iterator[str]:
    """The sandbox on `port`: one already answering there, else one started here."""
    url = f"http://127.0.0.1:{port}"
    try:
        httpx.get(f"{url}/_sandbox/settings", timeout=2).raise_for_status()
        yield url
        return
    except httpx.HTTPError:
        pass
    sandbox = Sandbox()
    sandbox.start(port)
    try:
        yield sandbox.url
    finally:
        sandbox.stop()


def jupyterlab_command(root: Path, port: int, token: str) -> list[str]:
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
    ]
    if os.geteuid() == 0:
        command.append("--allow-root")  # a container running as root
    return command


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lpstudio.launch",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--workspace", type=Path, default=Path("studio-workspace"))
    parser.add_argument("--port", type=int, default=8888, help="JupyterLab's port")
    parser.add_argument("--sandbox-port", type=int, default=8765)
    args = parser.parse_args(argv)
    with sandbox_at(args.sandbox_port) as sandbox:
        print(f"sandbox:   {sandbox} (LivePerson and Shopify emulators)", flush=True)
        if not (args.workspace / CONFIG_NAME).exists():
            Studio.init(args.workspace, accept_terms=True, sandbox=sandbox).close()
        root = args.workspace.resolve()
        token = secrets.token_hex(16)
        print(f"workspace: {root}", flush=True)
        print(f"studio:    http://127.0.0.1:{args.port}/lab?token={token}", flush=True)
        lab = subprocess.Popen(
            jupyterlab_command(root, args.port, token), env={**os.environ, ENV_VAR: str(root)}
        )
        try:
            return lab.wait()
        except KeyboardInterrupt:
            lab.terminate()
            return lab.wait()


if __name__ == "__main__":
    sys.exit(main())
