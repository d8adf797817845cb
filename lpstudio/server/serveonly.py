"""The Jupyter server of `lpstudio serve`: lpstudio's API, and none of Jupyter's own services.

`lpstudio serve` is how people who must not hold the workspace's secrets reach it (operators
over the REST API, bots): Jupyter's contents, files, view and nbconvert routes would hand
them its `secret.key` and store, and its kernels, sessions and terminals would run any code
as the server's user, whatever their lpstudio role. lpstudio runs its jobs' kernels itself,
so this server serves none of them (404, as routes that do not exist), and any path no route
takes is answered as one under lpstudio's API is (`handlers.NotFoundHandler`): JSON, to a
POST too. JupyterLab's server, where the extension also runs, is made by JupyterLab and
keeps all of Jupyter.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from jupyter_server.base.handlers import Template404
from jupyter_server.serverapp import ServerApp
from tornado.routing import Rule


class ServeOnlyServerApp(ServerApp):
    """A Jupyter server with only lpstudio, and bodies bounded by what lpstudio takes."""

    #: Jupyter's services kept: `api` (`/api/status`, `/api/me`, Jupyter's API spec) and
    #: `auth` (the token login). `/api/status` wants the server's full token: a load
    #: balancer checks lpstudio's own `/health`, which wants none (`HealthHandler`). Not
    #: contents, files, view, nbconvert, kernels, kernelspecs, sessions, config, events,
    #: security or shutdown.
    default_services = ("api", "auth")

    def init_configurables(self) -> None:
        super().init_configurables()
        # The contents manager serves `/files/` by itself, besides the services.
        self.contents_manager.files_handler_class = None

    def init_webapp(self) -> None:
        """Jupyter's, its handler of the paths no route takes (`Template404`) lpstudio's JSON
        404 naming the path and where the routes are: a bot that called `/call/optin`,
        outside the API, was answered an HTML page, and for a POST Jupyter's XSRF refusal
        ("'_xsrf' argument missing"), as if it had to log in."""
        super().init_webapp()
        from .handlers import NotFoundHandler

        rules = self.web_app.wildcard_router.rules
        for index, rule in enumerate(rules):
            if rule.target is Template404:
                name = {"name": self.starter_app.name}
                rules[index] = Rule(rule.matcher, NotFoundHandler, name, rule.name)

    def init_signal(self) -> None:
        """Jupyter's, and a SIGINT without a terminal (a service manager, a script, a
        container's stop) stops the server as SIGTERM does, as JupyterHub has it: Jupyter
        leaves Python's own, whose KeyboardInterrupt ended the server without stopping
        lpstudio (the calls it had accepted were failed as worker lost, not put back in the
        queue; its scheduler's lease held). With a terminal, Jupyter asks first."""
        super().init_signal()
        if not (sys.stdin and sys.stdin.isatty()):
            signal.signal(signal.SIGINT, self._signal_stop)

    def _signal_stop(self, sig: Any, frame: Any) -> None:
        """Jupyter's stop on the first signal, graceful within `LpstudioApp.stop_timeout`;
        on a second, the process ends by that signal at once, as without a handler: the
        requests in progress lose their connections, and the jobs still running are ended
        by the schedulers on the store as their worker is lost. Jupyter's own second stop
        waited for the first."""
        if not self._stopping:
            super()._signal_stop(sig, frame)
            return
        self.log.critical(
            "received signal %s again: stopping at once, without waiting for the requests "
            "in progress and the running jobs",
            sig,
        )
        signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)

    def running_server_info(self, kernel_count: bool = True) -> str:
        """Jupyter's start-up lines without "Serving notebooks from local directory" and its
        count of kernels: this server serves neither."""
        info = super().running_server_info(kernel_count=False)
        return info.removeprefix(f"{self.contents_manager.info_string()}\n")

    def init_httpserver(self) -> None:
        """Bounds bodies by the largest that any lpstudio route takes (a smaller
        `--ServerApp.max_body_size` stays): a larger one is refused from its Content-Length
        (chunked: once it grows past it), before it is read into memory. Jupyter's own
        bound, 512 MB, let a caller without credentials make the server hold that much."""
        self.max_body_size = min(self.max_body_size, self.starter_app.largest_body_bytes)
        super().init_httpserver()
