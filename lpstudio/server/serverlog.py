"""The server's log, masked of the workspace's secrets and of the server's token, whoever writes
it.

lpstudio's routes masked the lines they log; a request outside them was logged as it was sent
(`404 GET /api/nothere?x=SECRET`, JupyterLab's own routes' too), and so was what Jupyter's
handlers say of it (the contents API's `No such file or directory: SECRET.txt`). Both are
masked with `redaction`'s masking, as lpstudio's routes mask theirs:

- `log_requests`: every handler's request line (tornado's `log_function`, Jupyter's
  `log_request` inside it), its URI and headers masked of what the request's own error answer
  would be (`handlers.request_secrets`), read only when the line is written (`written_at`);
  an answer of lpstudio's saying it cannot serve the request now, and when to retry, is a
  warning, not the server's fault (`retry_later`);
- `MaskingFilter`: every record the server's log handlers write, its message and traceback
  masked: of the request's secrets within its line, else of the workspace's secrets and the
  server's token (`LpstudioApp.held_secrets`), read for each record written. lpstudio's own
  loggers and its extension's mask what they write (a job's lines with the job's secrets, a
  route's with its request's) and are left to it: the scheduler's threads write when the
  store they would read may be down.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

from jupyter_server.auth import User
from jupyter_server.log import _scrub_uri
from jupyter_server.prometheus.log_functions import prometheus_log_method
from tornado.log import access_log

from ..redaction import scrub_text
from .handlers import BaseHandler, request_secrets

if TYPE_CHECKING:
    from tornado.web import RequestHandler

    from .app import LpstudioApp

LogFunction = Callable[["RequestHandler"], None]

#: The secrets of the request whose line is being written (`log_requests`), for the records
#: of that line (`MaskingFilter`); None outside one.
_request_hidden: contextvars.ContextVar[Collection[str] | None] = contextvars.ContextVar(
    "lpstudio_request_hidden", default=None
)
#: Whether `MaskingFilter` is reading the workspace's secrets: a record the reading logs is
#: masked of the server's token alone, rather than read them again, and again.
_reading = contextvars.ContextVar("lpstudio_reading_secrets", default=False)
#: Set on a record once masked: a record that several handlers write is masked once.
MASKED = "lpstudio_masked"


#: The request headers Jupyter's `log_request` writes: the Referer of a refusal, and of a
#: 5xx these four. A caller may put a secret in any (`User-Agent: probe/<token>`).
LOGGED_HEADERS = ("Host", "Accept", "Referer", "User-Agent")


def mask_request_lines(app: LpstudioApp) -> None:
    """Has every request's line of the server go through `log_requests`: in the extension's
    settings, which hold the server's while it loads, and go into the server's once loaded."""
    app.settings["log_function"] = log_requests(app, app.settings["log_function"])


def log_requests(app: LpstudioApp, inner: LogFunction) -> LogFunction:
    """`inner` (Jupyter's `log_request`) with the request's URI and headers masked, as
    lpstudio's routes had theirs: a caller may put a secret in its path (`/call/<secret>`,
    a file of the contents API) or its query (`/jobs?recipe=<secret>` lists nothing, and
    succeeds), escaped as it likes (`redaction._escapes_masked`); Jupyter masks only the
    values of query fields named like a token."""

    def log_request(handler: RequestHandler) -> None:
        hidden = _hidden(app, handler) if _written(handler) else None
        if hidden:
            request = handler.request
            request.uri = scrub_text(request.uri or "", hidden)
            for name in LOGGED_HEADERS:
                if name in request.headers:
                    request.headers[name] = scrub_text(request.headers[name], hidden)
        token = _request_hidden.set(hidden)
        try:
            if retry_later(handler):
                _log_retry_later(app, handler)
            else:
                inner(handler)
        finally:
            _request_hidden.reset(token)

    return log_request


def retry_later(handler: RequestHandler) -> bool:
    """Whether lpstudio answered that it cannot serve the request now, expectedly: 503 with
    `Retry-After` (a store busy or out of reach, a recipe not ready, the server stopping)
    or 504 (a call whose recipe is slower than its call timeout: its job goes on)."""
    if not isinstance(handler, BaseHandler):
        return False
    status = handler.get_status()
    return status == 504 or (status == 503 and "Retry-After" in handler._headers)


def _log_retry_later(app: LpstudioApp, handler: RequestHandler) -> None:
    """The line of a `retry_later` answer, as Jupyter's `log_request` writes a refusal's (its
    format, the Referer) at WARNING, and its metric. Jupyter's wrote it at ERROR with a dump
    of the request's headers, as the server's own fault: every call of a slow recipe filled
    the error log, where the server's real faults (500) are to be found."""
    request = handler.request
    scrubbed = handler.settings.get("extra_log_scrub_param_keys", [])
    try:
        user = handler.current_user
    except Exception:  # as Jupyter's: an identity provider's failure breaks no line
        user = None
    name = (user.username if isinstance(user, User) else "unknown") if user else ""
    handler.log.warning(
        "%d %s %s (%s@%s) %.2fms referer=%s",
        handler.get_status(),
        request.method,
        _scrub_uri(request.uri or "", scrubbed),
        name,
        request.remote_ip,
        1000.0 * request.request_time(),
        _scrub_uri(request.headers.get("Referer", "None"), scrubbed),
    )
    if app.serverapp.record_http_request_metrics:
        prometheus_log_method(handler)


def _hidden(app: LpstudioApp, handler: RequestHandler) -> Collection[str]:
    """The request's secrets: those its lpstudio route read for its error answer already
    (`BaseHandler.hidden`, which holds less where the store is down), else read now."""
    if isinstance(handler, BaseHandler):
        return handler.hidden
    return request_secrets(app, handler.request)


def _written(handler: RequestHandler) -> bool:
    """Whether the request's line is written: Jupyter logs successes at debug level, and
    the secrets are read for them only when a handler writes that level."""
    status = handler.get_status()
    if status >= 300 and status != 304:
        return True
    return written_at(getattr(handler, "log", access_log), logging.DEBUG)


def written_at(log: logging.Logger | logging.LoggerAdapter[Any], level: int) -> bool:
    """Whether a record of `level` sent to `log` is written by some handler. traitlets sets
    its applications' loggers to DEBUG and leaves the level to their handlers (the server's
    `--log-level`, INFO by default), so `isEnabledFor(DEBUG)` is true of every server: the
    workspace's secrets were read from the store for each successful request's line, which
    no handler wrote."""
    logger = log.logger if isinstance(log, logging.LoggerAdapter) else log
    if not logger.isEnabledFor(level):
        return False
    current: logging.Logger | None = logger
    found = False  # with no handler at all, Python writes through `logging.lastResort`
    while current is not None:
        if any(level >= handler.level for handler in current.handlers):
            return True
        found = found or bool(current.handlers)
        current = current.parent if current.propagate else None
    resort = logging.lastResort
    return not found and resort is not None and level >= resort.level


class MaskingFilter(logging.Filter):
    """Masks the secrets in each record a handler of the server's log writes (`mask_records`).
    A filter of the handlers, not of the loggers: tornado's loggers write through the
    server's handlers, and a logger's filters leave the records of its children alone."""

    def __init__(self, app: LpstudioApp) -> None:
        super().__init__()
        self.app = app

    def filter(self, record: logging.LogRecord) -> bool:
        if self._masked_by_lpstudio(record) or getattr(record, MASKED, False):
            return True
        hidden = _request_hidden.get()
        masked(record, self._held() if hidden is None else hidden)
        setattr(record, MASKED, True)
        return True

    def _masked_by_lpstudio(self, record: logging.LogRecord) -> bool:
        """A record of lpstudio's own loggers, or of its extension's (its routes' lines,
        masked of the request's secrets, unless it is the server's own): masked as written,
        not read again."""
        own = self.app.log.name
        return record.name.partition(".")[0] == "lpstudio" or (
            record.name == own != self.app.serverapp.log.name
        )

    def _held(self) -> Collection[str]:
        """The workspace's secrets and the server's token, read for each record: a record
        the reading itself logs gets the token alone (`_reading`)."""
        if _reading.get():
            return {self.app.server_token} - {""}
        reading = _reading.set(True)
        try:
            return self.app.held_secrets()
        finally:
            _reading.reset(reading)


def masked(record: logging.LogRecord, hidden: Collection[str]) -> None:
    """Masks `hidden` in `record`'s message, traceback and stack, as a handler would write
    them (its formatter takes the traceback as set here)."""
    if not hidden:
        return
    try:
        text = record.getMessage()
    except Exception:  # arguments that do not fit the message: the handler says so
        return
    shown = scrub_text(text, hidden)
    if shown != text:
        record.msg, record.args = shown, None
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = scrub_text(record.exc_text, hidden)
    if record.stack_info:
        record.stack_info = scrub_text(record.stack_info, hidden)


def mask_records(app: LpstudioApp) -> None:
    """Puts a `MaskingFilter` on every handler of the server's log and of its extensions'
    (JupyterLab's handlers log through LabApp's), in place of one a server of this process
    put there before (a test's)."""
    server = app.serverapp
    apps = (each for found in server.extension_manager.extension_apps.values() for each in found)
    logs = [server.log, *(each.log for each in apps)]
    handlers = {h for log in logs for h in getattr(log, "logger", log).handlers}
    for handler in handlers:
        for old in [f for f in handler.filters if isinstance(f, MaskingFilter)]:
            handler.removeFilter(old)
        handler.addFilter(MaskingFilter(app))
