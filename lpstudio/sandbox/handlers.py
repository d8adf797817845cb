"""What every sandbox endpoint shares: JSON answers, faults and the request log.

Each emulated API has its own error body, so subclasses name it in `error_body`; raising
`ApiError` anywhere in a handler answers with that shape. Faults are drawn once per
request in `prepare` (latency and injected errors before any work) and a drop is carried
out in `finish`, i.e. after the work is done, which is how an answer gets lost for real.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, ClassVar

from tornado.concurrent import Future
from tornado.web import HTTPError, RequestHandler

from .. import strictjson
from .state import SandboxState


class ApiError(HTTPError):
    """An answer other than success, in the emulated API's own shape.

    `body` replaces the API's usual error body when the real API answers something else
    (LivePerson's 401 carries only code and message).
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status)
        self.message = message
        self.body = body
        self.headers = headers or {}


class SandboxHandler(RequestHandler):
    """Base of all sandbox endpoints; `scope` is the fault scope (None: never faulted)."""

    scope: ClassVar[str | None] = None

    def initialize(self, state: SandboxState) -> None:
        self.state = state
        self._dropping = False

    async def prepare(self) -> None:
        if self.scope is None:
            return
        decision = self.state.fault_for(self.scope)
        if decision.latency_ms:
            await asyncio.sleep(decision.latency_ms / 1000)
        if decision.error_status is not None:
            raise ApiError(decision.error_status, "Injected fault (sandbox)")
        self._dropping = decision.drop

    @property
    def dropping(self) -> bool:
        """True when this request's answer will be lost: handlers record that it was."""
        return self._dropping

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        return {"code": status, "message": message}

    def compute_etag(self) -> None:
        """No ETags: the emulated APIs send none, and a 304 would surprise their clients."""
        return None

    def send_json(self, body: Any, headers: dict[str, str] | None = None) -> None:
        for name, value in (headers or {}).items():
            self.set_header(name, value)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(json.dumps(body))

    def json_body(self) -> Any:
        """The request body as JSON; a 400 in the API's shape when it is not JSON, NaN,
        Infinity and a number past a float's range (1e400) included: Python's reader takes
        them, which the real APIs refuse, and held they broke later sums and answers."""
        try:
            body = json.loads(self.request.body or b"null")
        except ValueError as error:
            raise ApiError(400, f"Request body is not valid JSON: {error}") from error
        found = strictjson.non_finite(body)
        if found is not None:
            path, number = found
            where = ".".join(map(str, path)) or "the body"
            raise ApiError(
                400,
                f"Request body is not valid JSON: {where} is {json.dumps(number)}, "
                "not a finite number",
            )
        return body

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        error = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(error, ApiError):
            body = error.body or self.error_body(status_code, error.message)
            self.send_json(body, error.headers)
        else:
            self.send_json(self.error_body(status_code, self._reason))

    def finish(self, chunk: Any = None) -> Future[None]:
        if not self._dropping:
            return super().finish(chunk)
        self._dropping = False
        self._record(dropped=True)
        self.detach().close()
        done: Future[None] = Future()
        done.set_result(None)
        return done

    def on_finish(self) -> None:
        self._record(dropped=False)

    def _record(self, *, dropped: bool) -> None:
        """Method, path and status only: headers, bodies and queries may hold secrets."""
        self.state.log_request(
            {
                "time": time.time(),
                "method": self.request.method,
                "path": self.request.path,
                "status": None if dropped else self.get_status(),
                "scope": self.scope,
                "dropped": dropped,
            }
        )


class NotFoundHandler(SandboxHandler):
    """Any path the sandbox does not emulate: a JSON 404 rather than tornado's HTML."""

    async def prepare(self) -> None:
        raise ApiError(404, f"No such endpoint in the sandbox: {self.request.path}")
