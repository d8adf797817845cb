"""Running the sandbox: in a background thread (tests, demos) or in the foreground (CLI).

Both bind 127.0.0.1 only: the control API has no authentication, so the sandbox must never
be reachable from another machine. Sockets are bound before the server thread starts, so
`start()` returns a URL that already accepts connections (port 0 picks a free port).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import threading
from collections.abc import Callable
from types import TracebackType

from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application, RequestHandler

from . import control, liveperson, shopify
from .handlers import NotFoundHandler
from .settings import SandboxSettings
from .state import SandboxState

HOST = "127.0.0.1"


#: The sandbox's access log (tornado's).
ACCESS = logging.getLogger("tornado.access")


def _log_request(handler: RequestHandler) -> None:
    """One line a request, as tornado logs it, but a 4xx at INFO: an emulated API's refusal
    is what it is there to answer (a connection's test asks for a campaign that does not
    exist to see the host answer 404), not a warning for whoever runs the sandbox (Python's
    last-resort handler printed it in the middle of `make demo`'s output). Its request log
    (`/_sandbox/requests`) keeps every request; a 5xx (an injected fault) stays an error."""
    status = handler.get_status()
    level = logging.ERROR if status >= 500 else logging.WARNING if status == 429 else logging.INFO
    request = handler.request
    ACCESS.log(
        level,
        "%d %s %s (%s) %.2fms",
        status,
        request.method,
        request.uri,
        request.remote_ip,
        1000.0 * request.request_time(),
    )


def make_app(state: SandboxState) -> Application:
    """One application for every emulated service, so one port serves them all."""
    handlers = [*liveperson.routes(state), *shopify.routes(state), *control.routes(state)]
    return Application(
        handlers,
        default_handler_class=NotFoundHandler,
        default_handler_args={"state": state},
        log_function=_log_request,
    )


async def _serve_until(
    sockets: list[socket.socket],
    settings: SandboxSettings,
    stop: asyncio.Event,
    on_ready: Callable[[], None],
) -> None:
    server = HTTPServer(make_app(SandboxState(settings)))
    server.add_sockets(sockets)
    on_ready()
    try:
        await stop.wait()
    finally:
        server.stop()
        await server.close_all_connections()


def _url(sockets: list[socket.socket]) -> str:
    return f"http://{HOST}:{sockets[0].getsockname()[1]}"


class Sandbox:
    """The sandbox server on a thread of its own, with its own event loop.

    with Sandbox() as sandbox:
        httpx.get(f"{sandbox.url}/_sandbox/settings")
    """

    def __init__(self, settings: SandboxSettings | None = None) -> None:
        self.settings = settings or SandboxSettings()
        self._url: str | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None

    @property
    def url(self) -> str:
        """The base URL, e.g. `http://127.0.0.1:8765`; RuntimeError when not started."""
        if self._url is None:
            raise RuntimeError("the sandbox is not running: call start() first")
        return self._url

    def start(self, port: int = 0) -> str:
        """Listen on `port` (0: any free one) and return the base URL."""
        if self._thread is not None:
            raise RuntimeError("the sandbox is already running")
        sockets = bind_sockets(port, HOST)
        ready = threading.Event()
        failure: list[BaseException] = []

        async def main() -> None:
            self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
            await _serve_until(sockets, self.settings, self._stop, ready.set)

        def run() -> None:
            try:
                asyncio.run(main())
            except BaseException as error:
                failure.append(error)
                raise
            finally:
                ready.set()
                for sock in sockets:
                    sock.close()

        self._thread = threading.Thread(target=run, name="lpstudio-sandbox", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread = None
            raise RuntimeError("the sandbox failed to start") from failure[0]
        self._url = _url(sockets)
        return self._url

    def stop(self) -> None:
        """Stop serving and wait for the server thread; a no-op when not running."""
        if self._thread is None:
            return
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join()
        self._thread = self._loop = self._stop = self._url = None

    def __enter__(self) -> Sandbox:
        if self._thread is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def serve(port: int, settings: SandboxSettings | None = None) -> None:
    """Serve in the foreground until SIGINT or SIGTERM (the `lpstudio sandbox` command)."""
    sockets = bind_sockets(port, HOST)

    def announce() -> None:
        print(f"lpstudio sandbox listening on {_url(sockets)}", flush=True)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await _serve_until(sockets, settings or SandboxSettings(), stop, announce)

    try:
        asyncio.run(main())
    finally:
        for sock in sockets:
            sock.close()
