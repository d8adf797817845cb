"""A real JupyterLab on loopback and Debian's chromium driven by Playwright, for UI tests."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lpstudio.launch import jupyterlab_command
from tests.conftest import free_port as free_port  # re-exported: tests import it from here
from tests.conftest import on_a_free_port
from tests.servers import answering

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


@contextmanager
def jupyterlab(
    root: Path, home: Path, env: dict[str, str] | None = None, args: Sequence[str] = ()
) -> Iterator[tuple[str, str]]:
    """Starts JupyterLab on 127.0.0.1 serving `root`; yields its base URL and token.

    `args` are more Jupyter options, e.g. an identity provider for several users."""
    token = secrets.token_hex(16)
    home.mkdir(parents=True, exist_ok=True)
    (home / "token").write_text(token)
    environ = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_TOKEN_FILE": str(home / "token"),  # as `make studio` gives it
        **(env or {}),
    }
    log = home / "jupyterlab.log"

    def start(port: int) -> tuple[subprocess.Popen[bytes], str]:
        # Its layout is kept in the workspace's `.runtime/`, as `make studio` has it.
        command = [*jupyterlab_command(root, port), *args]
        with log.open("w") as out:
            process = subprocess.Popen(command, env=environ, stdout=out, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        answering(process, url, token, log)
        return process, url

    process, url = on_a_free_port(start)
    try:
        yield url, token
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


@contextmanager
def chromium() -> Iterator[Any]:
    """A Playwright browser: Debian's chromium (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        except Exception as failure:
            for page in (p for c in browser.contexts for p in c.pages):
                failure.add_note(what_the_page_showed(page))
            raise
        finally:
            browser.close()


def what_the_page_showed(page: Any) -> str:
    """A failed wait's context: the dialogs open (a dialog queued behind another never
    shows) and what the page's console said, so a flaky failure says why."""
    try:
        dialogs = page.locator(".jp-Dialog .jp-Dialog-header").all_inner_texts()
        said = [f"{m.type}: {m.text}" for m in page.console_messages() if m.type != "log"]
        errors = [str(e) for e in page.page_errors()]
    except Exception as e:  # the page itself gone: say so rather than hide the failure
        return f"page {page.url}: cannot be read ({e})"
    lines = [f"page {page.url}", f"  dialogs open: {dialogs}"]
    lines += [f"  console {line}" for line in said[-30:]]
    lines += [f"  page error: {line}" for line in errors[-10:]]
    return "\n".join(lines)


def dialog_shown(page: Any) -> Any:
    """JupyterLab's open dialog once its title is drawn: the header is a React widget that
    draws its text a frame after the dialog is attached, so a read at once can find it empty."""
    dialog = page.locator(".jp-Dialog")
    dialog.locator(".jp-Dialog-header").filter(has_text=re.compile(r"\S")).wait_for()
    return dialog


@contextmanager
def user_page(user: str, url: str | None = None, token: str | None = None) -> Iterator[Any]:
    """A new page of `user`'s (the test servers' `X-Test-User`), in a chromium of its own (one
    kept across tests holds an event loop running, which pytest-jupyter's loop fixture then
    cannot close); with `url` and `token`, showing JupyterLab there, its layout reset."""
    with chromium() as browser:
        page = browser.new_context(
            viewport={"width": 1280, "height": 900}, extra_http_headers={"X-Test-User": user}
        ).new_page()
        page.set_default_timeout(60_000)
        if url is not None:
            page.goto(f"{url}/lab?reset&token={token}")
        yield page


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
