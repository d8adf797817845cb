"""A real JupyterLab on loopback and Debian's chromium driven by Playwright, for UI tests."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from lpstudio.launch import jupyterlab_command

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def jupyterlab(
    root: Path, home: Path, env: dict[str, str] | None = None, args: Sequence[str] = ()
) -> Iterator[tuple[str, str]]:
    """Starts JupyterLab on 127.0.0.1 serving `root`; yields its base URL and token.

    `args` are more Jupyter options, e.g. an identity provider for several users. A port
    taken between `free_port` and the server's bind (by a kernel or another test's server:
    a server given its port tries no other) is replaced by a new one."""
    token = secrets.token_hex(16)
    home.mkdir(parents=True, exist_ok=True)
    environ = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
        **(env or {}),
    }
    logged = home / "jupyterlab.log"
    for _attempt in range(5):
        port = free_port()
        log = logged.open("w")
        process = subprocess.Popen(
            [
                *jupyterlab_command(root, port, token),
                f"--LabApp.workspaces_dir={home / 'workspaces'}",
                *args,
            ],
            env=environ,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 90
            while True:
                if process.poll() is not None:
                    break
                try:
                    if httpx.get(f"{url}/api/status", params={"token": token}).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("JupyterLab did not start within 90 s")
                time.sleep(0.2)
        except BaseException:
            process.kill()
            log.close()
            raise
        if process.poll() is None:
            break
        log.close()
        if "is already in use" not in logged.read_text():
            raise RuntimeError(f"JupyterLab exited: see {logged}")
    else:
        raise RuntimeError(f"JupyterLab found no free port in 5 tries: see {logged}")
    try:
        yield url, token
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@contextmanager
def chromium() -> Iterator[Any]:
    """A Playwright browser: Debian's chromium (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def browser_page() -> Iterator[Any]:
    """A Playwright page in Debian's chromium (never a downloaded browser)."""
    with chromium() as browser:
        yield browser.new_page(viewport={"width": 1400, "height": 1000})


def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def open_notebook(page: Any, url: str, token: str, path: str) -> None:
    """Opens a notebook in JupyterLab and waits until its kernel is idle."""
    page.goto(f"{url}/lab/tree/{path}?token={token}")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    page.wait_for_selector("text=| Idle", timeout=90_000)
    news = page.get_by_role("button", name="No")
    if news.count():
        news.first.click()
