"""`make studio` (`python -m lpstudio.launch`): the sandbox, a workspace and JupyterLab."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, NamedTuple

import httpx

from lpstudio import launch as launch_module
from tests.browser import free_port
from tests.conftest import PortTaken, on_a_free_port, wait_for


def launch(
    ws: Path,
    port: int,
    sandbox_port: int,
    stderr: int = subprocess.DEVNULL,
    env: dict[str, str] | None = None,
) -> subprocess.Popen[str]:
    """`make studio` as its Makefile line runs it, its output read by the test (its
    errors too with `stderr=PIPE`: JupyterLab's log, unread, would fill the pipe)."""
    options = ["--port", str(port), "--sandbox-port", str(sandbox_port)]
    return subprocess.Popen(
        [sys.executable, "-m", "lpstudio.launch", "--workspace", str(ws), *options],
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        env=env,
    )


#: What the launcher's log says when a port it was given is taken: its own check of
#: JupyterLab's port, JupyterLab's bind after it, the sandbox's bind.
PORT_IN_USE = re.compile(r"port \d+ is (already )?in use|Address already in use")


class Launched(NamedTuple):
    """A launcher `launched` started, its two ports, and the lines it printed first."""

    proc: subprocess.Popen[str]
    port: int
    sandbox_port: int
    lines: list[str]


def launched(ws: Path, log: Path, lines: int = 3, env: dict[str, str] | None = None) -> Launched:
    """`make studio` on free ports, once it printed its first `lines` (3: its URL last),
    its errors in `log`; again on new ports while it found one taken (free when chosen, a
    port may be taken before the launcher binds it: `on_a_free_port`), from the same start:
    a workspace it made is removed first (reused, it says more lines)."""
    made = not ws.exists()

    def start(port: int) -> Launched:
        sandbox_port = free_port()
        with log.open("w") as out:
            proc = launch(ws, port, sandbox_port, stderr=out.fileno(), env=env)
        assert proc.stdout is not None
        printed = [proc.stdout.readline() for _ in range(lines)]
        if not printed[-1]:  # it ended before printing them all
            proc.wait(timeout=60)
            if PORT_IN_USE.search(log.read_text()):
                if made:
                    shutil.rmtree(ws, ignore_errors=True)
                raise PortTaken(f"{port} or {sandbox_port}")
        return Launched(proc, port, sandbox_port, printed)

    return on_a_free_port(start)


def studio_answer(proc: subprocess.Popen[str], port: int, token: str, path: str) -> httpx.Response:
    """The studio API's answer to GET `path`, once JupyterLab serves it."""
    api = f"http://127.0.0.1:{port}/lpstudio/api/v1"

    def answered() -> httpx.Response | None:
        assert proc.poll() is None
        try:
            answer = httpx.get(f"{api}{path}", params={"token": token}, timeout=5)
        except httpx.TransportError:
            return None
        return answer if answer.status_code == 200 else None

    return wait_for(answered, timeout=120, what="JupyterLab")


def command_lines() -> list[str]:
    """Every process's command line, as `ps` shows them to any user."""
    lines = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            lines.append(cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:  # ended meanwhile
            continue
    return lines


def children(pid: int) -> list[Path]:
    """The command line files of the processes `pid` started."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if parent == pid:
            found.append(stat.parent / "cmdline")
    return found


def test_make_studio_opens_jupyterlab_with_the_studio_on_the_sandbox(tmp_path: Path) -> None:
    # A token of the caller's own environment does not take over: the URL printed opens it.
    env = {**os.environ, "JUPYTER_TOKEN": "x"}
    proc, port, sandbox_port, lines = launched(tmp_path / "ws", tmp_path / "launch.log", env=env)
    try:
        assert lines[0].startswith(f"sandbox:   http://127.0.0.1:{sandbox_port}"), lines
        assert lines[1].strip() == f"workspace: {tmp_path / 'ws'}"
        url = lines[2].split()[-1]
        assert url.startswith(f"http://127.0.0.1:{port}/lab?token=")
        token = url.split("token=")[1]
        assert studio_answer(proc, port, token, "/me").json()["role"] == "admin"
        # Not on a command line, which every local user reads: it made them the admin.
        assert [line for line in command_lines() if token in line] == []
        # Nor in the environment its kernels inherit (a recipe printing os.environ).
        lab = [p for p in children(proc.pid) if "jupyterlab" in p.read_text(errors="replace")]
        assert lab and all(token.encode() not in (p.parent / "environ").read_bytes() for p in lab)
        connections = studio_answer(proc, port, token, "/connections").json()
        fields = {c["name"]: c["fields"] for c in connections["connections"]}
        assert fields["liveperson"]["base_url"] == f"http://127.0.0.1:{sandbox_port}"
        page = httpx.get(f"http://127.0.0.1:{port}/lab", params={"token": token})
        assert "lpstudio-studio" in page.text  # the studio is among JupyterLab's extensions
        # Its layout, as the browser saves it, is the workspace's own (`jupyterlab_command`).
        layout = {"data": {}, "metadata": {"id": "default"}}
        saved = httpx.put(
            f"http://127.0.0.1:{port}/lab/api/workspaces/default",
            params={"token": token},
            json=layout,
        )
        assert saved.status_code == 204, saved.text
        assert list((tmp_path / "ws" / ".runtime" / "lab-workspaces").iterdir()), "no layout"
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


def test_a_reused_studio_follows_its_new_sandbox_and_sigterm_stops_it_all(tmp_path: Path) -> None:
    """Launched again on another sandbox port, its connections stayed on the first (every
    test refused); SIGTERM left JupyterLab and its scheduler running alone; a port in use
    got a login URL to whatever held it."""
    ws, log = tmp_path / "ws", tmp_path / "launch.log"
    first = launched(ws, log, lines=2)
    assert first.lines[0].startswith("sandbox:")
    assert first.lines[1].startswith("workspace:")  # made: its connections too
    first.proc.send_signal(signal.SIGINT)
    first.proc.communicate(timeout=60)

    # On new ports (the sandbox's is what it follows; JupyterLab's, reused, might be taken).
    second, port, sandbox_port, lines = launched(ws, log, lines=5)
    try:
        assert lines[1:3] == [
            "connection liveperson now uses this sandbox\n",
            "connection shopify now uses this sandbox\n",
        ], lines
        token = lines[4].split("token=")[1].strip()
        shown = studio_answer(second, port, token, "/connections").json()["connections"]
        fields = {c["name"]: c["fields"] for c in shown}
        assert fields["liveperson"]["base_url"] == f"http://127.0.0.1:{sandbox_port}"
        assert fields["shopify"]["shop"] == f"http://127.0.0.1:{sandbox_port}"

        busy = launch(ws, port, free_port(), stderr=subprocess.PIPE)
        out, err = busy.communicate(timeout=60)
        assert busy.returncode == 2 and out == "", out
        assert f"port {port} is in use" in err and "STUDIO_PORT" in err, err
    finally:
        second.send_signal(signal.SIGTERM)  # a supervisor's stop: JupyterLab goes too
        second.communicate(timeout=60)
    wait_for(lambda: stopped(port), timeout=60, what="JupyterLab to stop with the launcher")


def stopped(port: int) -> bool:
    """Whether nothing answers on 127.0.0.1:`port` any more."""
    try:
        httpx.get(f"http://127.0.0.1:{port}/api/status", timeout=2)
    except httpx.TransportError:
        return True
    return False


def test_a_launcher_killed_takes_jupyterlab_with_it(tmp_path: Path) -> None:
    """`kill -9` of the launcher (`python -m lpstudio.launch`) left JupyterLab running
    headless with its hosted scheduler, and no terminal to stop it."""
    ws = tmp_path / "ws"
    proc, port, sandbox_port, lines = launched(ws, tmp_path / "launch.log")
    lab: list[Path] = []
    try:
        assert lines[2].startswith("studio:"), lines
        lab = children(proc.pid)
        proc.kill()
        proc.wait()
        wait_for(lambda: stopped(port), timeout=90, what="JupyterLab to stop with its launcher")
        assert stopped(sandbox_port)  # a thread of the launcher
        assert list((ws / ".runtime").glob("lab-token-*")) == []
    finally:
        for cmdline in lab:  # this test's JupyterLab, should it be left running
            with contextlib.suppress(OSError):
                if b"jupyterlab" in cmdline.read_bytes():
                    os.kill(int(cmdline.parent.name), signal.SIGKILL)


def test_two_studios_keep_their_own_jupyterlab_layout(tmp_path: Path) -> None:
    """Two studios of one OS user (production, a sandbox test) shared JupyterLab's layout
    (`~/.jupyter/lab/workspaces/`): a reload opened the other's tabs, their notebooks 404."""
    production, sandbox = tmp_path / "production", tmp_path / "sandbox"
    first = launch_module.jupyterlab_command(production, 8888)
    second = launch_module.jupyterlab_command(sandbox, 8889)
    assert f"--LabApp.workspaces_dir={production / '.runtime' / 'lab-workspaces'}" in first
    assert f"--LabApp.workspaces_dir={sandbox / '.runtime' / 'lab-workspaces'}" in second


def test_ctrl_c_while_jupyterlab_is_being_started_stops_it(monkeypatch: Any) -> None:
    """A Ctrl-C inside `Popen` (JupyterLab's process made, `Popen` not yet returned) left
    JupyterLab running alone: nothing held its process to stop it."""
    started: list[subprocess.Popen[bytes]] = []
    real_popen = subprocess.Popen

    def popen_interrupted(*args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        started.append(real_popen(*args, **kwargs))
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C, before Popen returns
        return started[0]

    monkeypatch.setattr(launch_module.subprocess, "Popen", popen_interrupted)
    before = signal.getsignal(signal.SIGINT)
    code = launch_module.run_jupyterlab(
        [sys.executable, "-c", "import time; time.sleep(120)"], dict(os.environ)
    )
    assert code == -signal.SIGTERM  # stopped, not waited out
    assert started[0].poll() is not None
    assert signal.getsignal(signal.SIGINT) is before  # Ctrl-C acts as before once started


def test_a_jupyterlab_killed_under_the_launcher_is_said_with_the_fix(capsys: Any) -> None:
    """Killed (-9, the OOM killer), JupyterLab took the launcher and its sandbox with it
    without a word: the terminal showed a prompt again, the URL no longer answering."""
    kill_itself = "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"
    again = "python -m lpstudio.launch --workspace '/srv/my brand' --port 9999 --sandbox-port 9998"
    code = launch_module.run_jupyterlab(
        [sys.executable, "-c", kill_itself], dict(os.environ), again=again
    )
    assert code == 1
    err = capsys.readouterr().err
    assert "error: JupyterLab ended (killed by SIGKILL)" in err, err
    assert (
        "fix: its log above says why it ended; start the studio again with `make studio` "
        f"in its checkout, or `{again}`"  # its own workspace: the defaults make another one
    ) in err
    crash = launch_module.run_jupyterlab(
        [sys.executable, "-c", "raise SystemExit(3)"], dict(os.environ)
    )
    assert code == crash == 1
    assert "JupyterLab ended (exit code 3)" in capsys.readouterr().err
