"""`make studio` prints the studio's URL once JupyterLab answers there, and says so when it
never does (it printed the URL at once, a minute before JupyterLab answered on a loaded
machine: the newcomer who clicked it got "connection refused")."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.browser import free_port
from tests.conftest import PortTaken, on_a_free_port
from tests.test_launch import PORT_IN_USE, launched

#: A JupyterLab whose start never ends (a machine too loaded), and one that ends at once.
HANGS = "import threading\nthreading.Event().wait()\n"
ENDS = "raise SystemExit(3)\n"


def answers(url: str) -> bool:
    """Whether anything answers at `url` now."""
    try:
        httpx.get(url, timeout=2)
    except httpx.TransportError:
        return False
    return True


def test_the_url_printed_answers_at_once(tmp_path: Path) -> None:
    proc, port, _, lines = launched(tmp_path / "ws", tmp_path / "launch.log")
    try:
        url = lines[2].split()[-1]
        assert lines[2].startswith("studio:") and url.startswith(f"http://127.0.0.1:{port}/lab")
        token = url.split("token=")[1]
        # Clicked at once, as a newcomer does: it answers, no wait.
        status = httpx.get(f"http://127.0.0.1:{port}/api/status", params={"token": token})
        assert status.status_code == 200, status.text
        assert "starting JupyterLab" in (tmp_path / "launch.log").read_text()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)


@pytest.mark.parametrize(
    ("config", "timeout", "said"),
    [
        (HANGS, "2", "did not answer at http://127.0.0.1:{port} within 2 s; stopped it"),
        (ENDS, "120", "ended (exit code 3) before it answered at http://127.0.0.1:{port}"),
    ],
)
def test_a_jupyterlab_that_never_answers_is_told_with_its_log_and_stopped(
    tmp_path: Path, config: str, timeout: str, said: str
) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "jupyter_server_config.py").write_text(config)
    command = [sys.executable, "-m", "lpstudio.launch", "--workspace", str(tmp_path / "ws")]
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "config")}

    def run(port: int) -> tuple[int, int, subprocess.CompletedProcess[str]]:
        """The launch on `port` and a free sandbox port; `PortTaken` if either was taken
        before the launcher bound it (its own check or the sandbox's bind says so, and it
        ends before JupyterLab, which binds none here, could)."""
        sandbox_port = free_port()
        ports = ["--port", str(port), "--sandbox-port", str(sandbox_port)]
        done = subprocess.run(
            [*command, *ports, "--start-timeout", timeout],
            capture_output=True,
            text=True,
            env=env,
            timeout=180,
        )
        if "error: JupyterLab" not in done.stderr and PORT_IN_USE.search(done.stderr):
            raise PortTaken(f"{port} or {sandbox_port}")
        return port, sandbox_port, done

    port, sandbox_port, done = on_a_free_port(run)
    assert done.returncode == 1, done.stderr
    assert "studio:" not in done.stdout, done.stdout  # no URL that leads nowhere
    error = done.stderr[done.stderr.index("error: JupyterLab") :]
    assert error.startswith(f"error: JupyterLab {said.format(port=port)}"), error
    assert "its log is above" in error, error
    # The fix names the way to give it longer from `make studio` and from the module.
    assert "make studio START_TIMEOUT=SECONDS, --start-timeout SECONDS" in error, error
    assert "token" not in error
    # Neither JupyterLab nor the sandbox it started is left running.
    assert not answers(f"http://127.0.0.1:{port}/api/status")
    assert not answers(f"http://127.0.0.1:{sandbox_port}/_sandbox/settings")


@pytest.mark.parametrize("value", ["-5", "0", "nan", "soon"])
def test_a_start_timeout_no_wait_can_keep_is_refused_before_anything_starts(
    value: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`--start-timeout -5` started the sandbox and JupyterLab, then gave up on JupyterLab
    at once and blamed it (rv)."""
    from lpstudio import launch

    workspace = tmp_path / "ws"
    with pytest.raises(SystemExit) as ended:
        launch.main(["--workspace", str(workspace), "--start-timeout", value])

    assert ended.value.code == 2
    said = capsys.readouterr().err
    assert "--start-timeout" in said and "from 1 to 3600" in said, said
    assert not workspace.exists()  # nothing made, nothing started
