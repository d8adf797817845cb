"""`make studio` (`python -m lpstudio.launch`): the sandbox, a workspace and JupyterLab."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.browser import free_port
from tests.conftest import wait_for


def test_make_studio_opens_jupyterlab_with_the_studio_on_the_sandbox(tmp_path: Path) -> None:
    port, sandbox_port = free_port(), free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lpstudio.launch",
            "--workspace",
            str(tmp_path / "ws"),
            "--port",
            str(port),
            "--sandbox-port",
            str(sandbox_port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(3)]
        assert lines[0].startswith(f"sandbox:   http://127.0.0.1:{sandbox_port}"), lines
        assert lines[1].strip() == f"workspace: {tmp_path / 'ws'}"
        url = lines[2].split()[-1]
        assert url.startswith(f"http://127.0.0.1:{port}/lab?token=")
        token = url.split("token=")[1]
        api = f"http://127.0.0.1:{port}/lpstudio/api/v1"

        def studio() -> httpx.Response | None:
            assert proc.poll() is None
            try:
                answer = httpx.get(f"{api}/me", params={"token": token}, timeout=5)
            except httpx.TransportError:
                return None
            return answer if answer.status_code == 200 else None

        assert wait_for(studio, timeout=120, what="JupyterLab").json()["role"] == "admin"
        connections = httpx.get(f"{api}/connections", params={"token": token}).json()
        fields = {c["name"]: c["fields"] for c in connections["connections"]}
        assert fields["liveperson"]["base_url"] == f"http://127.0.0.1:{sandbox_port}"
        page = httpx.get(f"http://127.0.0.1:{port}/lab", params={"token": token})
        assert "lpstudio-studio" in page.text  # the studio is among JupyterLab's extensions
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C: JupyterLab and the sandbox stop
        assert proc.wait(timeout=60) is not None
    with httpx.Client() as client:
        try:
            client.get(f"http://127.0.0.1:{sandbox_port}/_sandbox/settings", timeout=2)
            still_up = True
        except httpx.TransportError:
            still_up = False
    assert not still_up
