"""`make studio`: JupyterLab with the studio, on the sandbox, in one command.

Starts the sandbox on `--sandbox-port` (or uses one already answering there), creates the
workspace the first time (its connections point at the sandbox; later runs reuse it), and
runs JupyterLab on 127.0.0.1 with the workspace as its root, printing the URL to open once
JupyterLab answers there (it can take a minute on a loaded machine). A reused workspace's
sandbox connections follow the sandbox of each launch. Ctrl-C (or SIGTERM, SIGHUP) stops
JupyterLab and the sandbox it started, and so does the launcher's death on Linux (`kill -9`:
`ends_with_launcher`). The same steps by hand:

    lpstudio sandbox --port 8765 &
    lpstudio init studio-workspace --accept-terms --sandbox http://127.0.0.1:8765
    LPSTUDIO_WORKSPACE=studio-workspace jupyter lab --ServerApp.root_dir=studio-workspace
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

from .forkserver import death_signal
from .sandbox import Sandbox, sandbox_answers, sandbox_connections
from .studio import Studio
from .workspace import CONFIG_NAME, ENV_VAR, RUNTIME


@contextlib.contextmanager
def sandbox_at(port: int) -> Iterator[str]:
    """The sandbox on `port`: one already answering there, else one started here."""
    url = f"http://127.0.0.1:{port}"
    if sandbox_answers(url):
        yield url
        return
    sandbox = Sandbox()
    sandbox.start(port)
    try:
        yield sandbox.url
    finally:
        sandbox.stop()


def follow_sandbox(workspace: Path, url: str) -> list[str]:
    """Points a reused workspace's sandbox connections at the sandbox of this launch (a
    run with another `--sandbox-port` left them on the old one, refused at every test);
    connections pointed elsewhere than this machine are left alone. Returns their names."""
    moved = []
    with Studio.open(workspace) as studio:
        known = {info.name: info for info in studio.connections.list()}
        for name, (type_, values) in sandbox_connections(url).items():
            info = known.get(name)
            urls = {key: value for key, value in values.items() if value == url.rstrip("/")}
            if info is None or info.type != type_:
                continue
            now = {key: info.fields.get(key) for key in urls}
            local = all(str(value).startswith("http://127.0.0.1:") for value in now.values())
            if local and now != urls:
                studio.connections.update(name, urls)
                moved.append(name)
    return moved


def port_taken(port: int) -> bool:
    """Whether something listens on 127.0.0.1:`port` already."""
    with contextlib.closing(socket.socket()) as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def jupyterlab_command(root: Path, port: int) -> list[str]:
    """JupyterLab's command line: every local user can read it (`ps`), so its token is
    given in a file only its user reads (`token_file`). Its layout (the tabs open again
    after a reload) is kept in the workspace's `.runtime/`: JupyterLab keeps one per OS
    user by default, and two studios of one user (a production workspace and a sandbox
    one) each opened the other's tabs, whose notebooks it does not hold (404)."""
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={root}",
        f"--LabApp.workspaces_dir={root / RUNTIME / 'lab-workspaces'}",
    ]
    if os.geteuid() == 0:
        command.append("--allow-root")  # a container running as root
    return command


@contextlib.contextmanager
def token_file(root: Path, token: str) -> Iterator[Path]:
    """JupyterLab's token in a file of the workspace's `.runtime/` that only its user
    reads, removed once JupyterLab answers (`main`), or ends. Not `JUPYTER_TOKEN`: it
    would stay in the environment of JupyterLab's process (`/proc/PID/environ`) for the
    user's processes to read. lpstudio's server extension drops `JUPYTER_TOKEN_FILE` from
    it once read, before any kernel starts (`LpstudioApp._forget_token_source`)."""
    runtime = root / RUNTIME
    runtime.mkdir(mode=0o700, exist_ok=True)
    path = runtime / f"lab-token-{os.getpid()}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def lab_answers(lab: subprocess.Popen[bytes], url: str, token: str, timeout: float) -> bool:
    """Whether JupyterLab answers its own token at `url` within `timeout` seconds (before it
    ends). An authenticated route, so another server that took the port meanwhile does not
    count; the token goes in a header, never in a URL an error could quote."""
    deadline = time.monotonic() + timeout
    headers = {"Authorization": f"token {token}"}
    while lab.poll() is None and time.monotonic() < deadline:
        try:
            answer = httpx.get(f"{url}/api/status", headers=headers, timeout=2)
            if answer.status_code == 200:
                return True
        except httpx.TransportError:
            pass
        with contextlib.suppress(subprocess.TimeoutExpired):  # returns at once if it ends
            lab.wait(timeout=0.25)
    return False


def run_jupyterlab(
    command: list[str],
    env: dict[str, str],
    answering: Callable[[subprocess.Popen[bytes]], bool] | None = None,
) -> int:
    """Runs JupyterLab until it ends, or until Ctrl-C, SIGTERM or SIGHUP stops it. A stop
    signal that comes while it is being started is acted on once it has: raised inside
    `Popen`, it left JupyterLab running alone, no process holding it; so did a launcher
    killed (`ends_with_launcher`). `answering` waits for it to answer: false, it is stopped
    and the launch fails (1)."""
    caught: list[int] = []
    stops = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    before = {stop: signal.signal(stop, lambda signum, _: caught.append(signum)) for stop in stops}
    try:
        lab = subprocess.Popen(command, env=env, preexec_fn=ends_with_launcher())
    finally:
        for stop, handler in before.items():
            signal.signal(stop, handler)
    try:
        if caught:
            raise KeyboardInterrupt
        if answering is not None and not answering(lab):
            lab.terminate()  # a JupyterLab that ended already is left as it is
            lab.wait()
            return 1
        code = lab.wait()
    except KeyboardInterrupt:
        lab.terminate()
        return lab.wait()
    if code != 0:  # ended by itself, not stopped here: the launch ended without a word
        print(ended(code), file=sys.stderr)
        return 1
    return 0


def ends_with_launcher() -> Callable[[], None] | None:
    """JupyterLab's `preexec_fn` on Linux: it is sent SIGTERM, its stop, as the launcher
    dies. Killed (`kill -9`, the OOM killer), the launcher left JupyterLab running headless
    with its hosted scheduler, and no terminal to stop it. The sandbox is a thread of the
    launcher, and ends with it. Elsewhere, none."""
    if not sys.platform.startswith("linux"):
        return None
    return death_signal(signal.SIGTERM, os.getpid())


def ended(code: int) -> str:
    """Why the launcher ends when its JupyterLab ended by itself (killed, crashed), with the
    fix: the studio's URL no longer answers, and the sandbox started with it stops too."""
    how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
    return (
        f"error: JupyterLab ended ({how}); the studio's URL no longer answers and the sandbox "
        "started with it stops too\n"
        "  fix: its log above says why it ended; start the studio again with `make studio` "
        "(`python -m lpstudio.launch` without a checkout)"
    )


def not_answering(lab: subprocess.Popen[bytes], url: str, timeout: float) -> str:
    """Why no URL was printed, with the fix: JupyterLab's log (on stderr, above) says why
    it ended or what it was doing."""
    code = lab.poll()
    said = (
        f"did not answer at {url} within {timeout:g} s; stopped it"
        if code is None
        else f"ended (exit code {code}) before it answered at {url}"
    )
    return (
        f"error: JupyterLab {said}; its log is above\n"
        "  fix: mend what its log names; if it was only slow to start (a loaded machine), "
        "give it longer (make studio START_TIMEOUT=SECONDS, --start-timeout SECONDS)"
    )


def seconds(text: str) -> float:
    """`--start-timeout`'s value: seconds from 1 to 3600, refused before anything starts
    (a wait of 0 or less gave up on JupyterLab at once, and blamed it)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 1 <= value <= 3600:  # NaN too
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number of seconds from 1 to 3600 (e.g. --start-timeout 300)"
        )
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lpstudio.launch",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--workspace", type=Path, default=Path("studio-workspace"))
    parser.add_argument("--port", type=int, default=8888, help="JupyterLab's port")
    parser.add_argument("--sandbox-port", type=int, default=8765)
    parser.add_argument(
        "--start-timeout",
        type=seconds,
        default=300,
        metavar="SECONDS",
        help="how long JupyterLab has to answer before the launch gives up (default: 300)",
    )
    args = parser.parse_args(argv)
    if port_taken(args.port):  # else the URL printed would lead to whatever holds it
        print(
            f"error: port {args.port} is in use on 127.0.0.1\n"
            "  fix: stop what listens there, or choose another port "
            f"(make studio STUDIO_PORT=..., --port)",
            file=sys.stderr,
        )
        return 2
    # SIGTERM and SIGHUP (a supervisor, a closed terminal) stop it as Ctrl-C does: JupyterLab
    # and its hosted scheduler were left running on a sandbox that was gone.
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.default_int_handler)
    with sandbox_at(args.sandbox_port) as sandbox:
        print(f"sandbox:   {sandbox} (LivePerson and Shopify emulators)", flush=True)
        if not (args.workspace / CONFIG_NAME).exists():
            Studio.init(args.workspace, accept_terms=True, sandbox=sandbox).close()
        else:
            for name in follow_sandbox(args.workspace, sandbox):
                print(f"connection {name} now uses this sandbox", flush=True)
        root = args.workspace.resolve()
        token = secrets.token_hex(16)
        print(f"workspace: {root}", flush=True)
        url = f"http://127.0.0.1:{args.port}"
        # On stderr, among JupyterLab's log: stdout's lines are the ones to read.
        print(f"starting JupyterLab at {url}: its URL follows once it answers", file=sys.stderr)

        with token_file(root, token) as path:

            def announce(lab: subprocess.Popen[bytes]) -> bool:
                """Prints the studio's URL once it opens the studio, else why not. Its token
                file goes as soon as JupyterLab answers: it has read it, and every process of
                the user could read it meanwhile (a recipe's kernel among them)."""
                if lab_answers(lab, url, token, args.start_timeout):
                    path.unlink(missing_ok=True)
                    print(f"studio:    {url}/lab?token={token}", flush=True)
                    return True
                print(not_answering(lab, url, args.start_timeout), file=sys.stderr)
                return False

            # Without a JUPYTER_TOKEN of the caller's: it would win over the file, and the
            # URL printed would not open the studio.
            env = {k: v for k, v in os.environ.items() if k != "JUPYTER_TOKEN"}
            env.update({ENV_VAR: str(root), "JUPYTER_TOKEN_FILE": str(path)})
            return run_jupyterlab(jupyterlab_command(root, args.port), env, announce)


if __name__ == "__main__":
    sys.exit(main())
